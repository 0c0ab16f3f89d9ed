//! What a loaded `hoist.toml` means: validated once, span-free, with every default applied
//! and every derived value computed (release rules and policies, each environment's
//! runtime, each instance's resolved name, engine, env, health and version paths). This is
//! the only view of the config the rest of hoist gets, so no consumer validates again and
//! no error after loading is about the file.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoist_hooks::Hooks;
use hoist_policy::ReleaseSettings;
use hoist_scan::ScanSettings;

use crate::notify::{NotifierSpec, Route};
use crate::runtime::RuntimeConfig;
use crate::schema::{Config, SecretScan};

/// A loaded, validated `hoist.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file, for messages.
    pub path: PathBuf,
    /// The directory holding it; relative paths in the file are relative to it.
    pub root: PathBuf,
    pub app: AppSettings,
    pub build: BuildSettings,
    /// The SQLite state database (`[state] path`, default `.hoist/state.db`), resolved.
    pub state_path: PathBuf,
    /// In name order.
    pub environments: BTreeMap<String, EnvironmentSettings>,
    /// Every environment's ref rules, policy and promotion requirements, ready to evaluate.
    pub release: ReleaseSettings,
    /// `[hooks]`, the app-wide hook commands.
    pub hooks: Hooks,
    /// `[scan]`.
    pub scan: ScanSettings,
    /// `[notifiers.NAME]`, checked and resolved (secrets are named, not read: they are
    /// read when an environment that routes to the notifier is deployed).
    pub notifiers: BTreeMap<String, NotifierSpec>,
    /// `[prune]`.
    pub prune: crate::prune::PruneSettings,
    /// `[server]`.
    pub server: crate::server::ServerSettings,
    /// `[hosts.NAME]`, by name; instances' `host` is already resolved to the address.
    pub hosts: BTreeMap<String, crate::hosts::HostSettings>,
    /// `[registry]`, when images go through one.
    pub registry: Option<crate::registry::RegistrySettings>,
}

/// `[app]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    pub name: String,
    /// Image repository of release images; the base image is `<image>-base`.
    pub image: String,
    /// Port the app listens on inside its container.
    pub port: u16,
}

/// `[build]`, with paths resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSettings {
    /// `build.context` as written (`.` or `app/`), for messages.
    pub context: PathBuf,
    /// The app build context, resolved.
    pub context_dir: PathBuf,
    pub dockerfile: PathBuf,
    pub base_dockerfile: PathBuf,
    /// Globs, relative to the context, of the files the base image depends on.
    pub dependencies: Vec<String>,
    pub base_args: BTreeMap<String, String>,
    pub args: BTreeMap<String, String>,
    pub platform: String,
}

/// `[environments.NAME]`.
#[derive(Debug, Clone)]
pub struct EnvironmentSettings {
    pub name: String,
    pub rollout: RolloutSettings,
    /// Canary and waves (`rollout.canary`, `batch`, ...); `None`: every instance in one go.
    pub waves: Option<crate::rollout::WaveSettings>,
    /// In the order the file lists them.
    pub instances: Vec<InstanceSettings>,
    pub runtime: RuntimeConfig,
    /// `[environments.NAME.runtimes.LABEL]`: runtimes instances name with `runtime`.
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    pub secret_scan: SecretScan,
    /// The app's hooks followed by this environment's, per stage.
    pub hooks: Hooks,
    /// Which notices go to which notifier.
    pub notify: Vec<Route>,
    /// Release tasks, in the order written, run per tenant before it switches.
    pub tasks: Vec<crate::TaskSettings>,
}

/// `[environments.NAME.rollout]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutSettings {
    /// How many instances change at once.
    pub concurrency: NonZeroUsize,
    /// How long an instance has to verify after each change.
    pub health_timeout: Duration,
    /// How long an old workload has to exit after its stop signal before it is killed;
    /// whole seconds, default 10 s. The Docker runtime gets it in its [`DockerConfig`].
    ///
    /// [`DockerConfig`]: crate::DockerConfig
    pub stop_timeout: Duration,
}

/// One tenant's instance, everything resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSettings {
    pub tenant: String,
    /// The engine that runs it: the instance's `host` (docker) or the swarm's manager.
    pub host: String,
    /// The workload's name: container (docker) or service (swarm).
    pub name: String,
    /// Published port.
    pub port: u16,
    /// The environment's env with the instance's on top.
    pub env: BTreeMap<String, String>,
    /// The environment's secrets with the instance's on top, by variable name: where each
    /// value comes from. Read at deploy time, never at load.
    pub secrets: BTreeMap<String, hoist_secrets::SecretSource>,
    pub health_path: String,
    pub version_path: Option<String>,
    /// The label of the named runtime it runs on; `None`: the environment's runtime.
    pub runtime: Option<String>,
    /// `tags = ["eu", "gold"]`: what `--tag` and `rollout.canary_tags` select by.
    pub tags: Vec<String>,
    /// The environment's `volumes` with the instance's on top, `{tenant}` replaced, in the
    /// order written.
    pub volumes: Vec<crate::Mount>,
}

impl EnvironmentSettings {
    /// The runtime `instance` runs on: its named one, else the environment's.
    pub fn runtime_of(&self, instance: &InstanceSettings) -> &RuntimeConfig {
        instance
            .runtime
            .as_ref()
            .and_then(|label| self.runtimes.get(label))
            .unwrap_or(&self.runtime)
    }
}

impl Settings {
    /// The environment called `name`, if the file defines it.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentSettings> {
        self.environments.get(name)
    }

    /// Builds the settings from a parsed and validated config. `release` was computed by
    /// validation, which is what made sure it could be.
    pub(crate) fn from_config(config: Config, release: ReleaseSettings) -> Settings {
        let root = config.root.clone();
        let app_name = config.app.name.get_ref().clone();
        let environments = config
            .environments
            .iter()
            .map(|(name, env)| {
                let env = env.get_ref();
                let engine_of = |runtime: &RuntimeConfig| match runtime {
                    RuntimeConfig::Swarm(swarm) => Some(swarm.host.clone()),
                    RuntimeConfig::Docker(_) => None,
                    RuntimeConfig::Kubernetes(k) => Some(k.cluster()),
                    RuntimeConfig::Http(h) => Some(h.place()),
                };
                let instances = env
                    .instances
                    .get_ref()
                    .iter()
                    .map(|i| {
                        let i = i.get_ref();
                        let mut vars = env.env.clone();
                        vars.extend(i.env.clone());
                        // Validation built every source already, so none fails here.
                        let secrets = env
                            .secrets
                            .iter()
                            .chain(&i.secrets)
                            .filter_map(|(name, table)| {
                                Some((name.clone(), table.get_ref().source(&root).ok()?))
                            })
                            .collect();
                        let label = i.runtime.as_ref().map(|l| l.get_ref().clone());
                        let runtime = label
                            .as_ref()
                            .and_then(|l| env.runtimes.get(l))
                            .unwrap_or(&env.runtime);
                        InstanceSettings {
                            tenant: i.tenant.get_ref().clone(),
                            host: engine_of(runtime)
                                .unwrap_or_else(|| crate::hosts::resolve(&config.hosts, &i.host)),
                            runtime: label,
                            name: i.workload_name(&app_name, name),
                            port: *i.port.get_ref(),
                            env: vars,
                            secrets,
                            health_path: i
                                .health_path
                                .clone()
                                .unwrap_or_else(|| config.app.health_path.clone()),
                            version_path: i
                                .version_path
                                .clone()
                                .or_else(|| config.app.version_path.clone()),
                            tags: i.tags.iter().map(|t| t.get_ref().clone()).collect(),
                            volumes: crate::volumes::resolve(
                                &env.volumes,
                                &i.volumes,
                                i.tenant.get_ref(),
                            ),
                        }
                    })
                    .collect();
                let settings = EnvironmentSettings {
                    name: name.clone(),
                    rollout: RolloutSettings {
                        // Validation refuses 0.
                        concurrency: NonZeroUsize::new(*env.rollout.concurrency.get_ref())
                            .unwrap_or(NonZeroUsize::MIN),
                        health_timeout: env.rollout.health_timeout,
                        stop_timeout: env.rollout.stop_timeout,
                    },
                    waves: env.rollout.wave_settings(),
                    instances,
                    runtime: env.runtime.clone(),
                    runtimes: env.runtimes.clone(),
                    secret_scan: env.secret_scan,
                    hooks: Hooks::merged(&config.hooks, Some(&env.hooks)),
                    notify: env.notify.iter().map(|r| r.resolve()).collect(),
                    tasks: env.tasks.iter().map(|t| t.get_ref().settings()).collect(),
                };
                (name.clone(), settings)
            })
            .collect();
        let resolve = |p: &Path| root.join(p);
        Settings {
            path: config.path.clone(),
            state_path: config.state_path(),
            app: AppSettings {
                name: app_name,
                // With a registry, release images (and `<image>-base`) live there.
                image: match &config.registry {
                    Some(registry) => registry.image.get_ref().clone(),
                    None => config.app.image.get_ref().clone(),
                },
                port: config.app.port,
            },
            build: BuildSettings {
                context: config.build.context.clone(),
                context_dir: config.context_dir(),
                dockerfile: resolve(&config.build.dockerfile),
                base_dockerfile: resolve(&config.build.base_dockerfile),
                dependencies: config.build.dependencies.get_ref().clone(),
                base_args: config.build.base_args.clone(),
                args: config.build.args.clone(),
                platform: config.build.platform.clone(),
            },
            environments,
            release,
            hooks: config.hooks.clone(),
            scan: config.scan.clone(),
            prune: config.prune.settings(),
            server: config.server.settings(&root),
            hosts: crate::hosts::settings(&config.hosts, &root),
            registry: config.registry.as_ref().map(|r| r.settings(&config.root)),
            // Validation built every spec already, so none fails here.
            notifiers: config
                .notifiers
                .iter()
                .filter_map(|(name, n)| Some((name.clone(), n.get_ref().spec().ok()?)))
                .collect(),
            root,
        }
    }
}
