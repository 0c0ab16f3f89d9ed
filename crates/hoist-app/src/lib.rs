//! hoist's one wiring: loaded [`Settings`] plus what the command line overrides become a
//! ready [`Deployer`], with each environment's runtime chosen from its
//! `[environments.NAME.runtime]` table. The CLI, the benchmark and the tests use it, so
//! every caller runs the same pipeline with the same components.
//!
//! Adding a runtime kind means one arm in [`runtime_for`] and nothing else here.

mod kubernetes;

use std::path::PathBuf;
use std::sync::Arc;

use hoist_build::DockerBuilder;
use std::num::NonZeroU32;

use hoist_config::{
    LOCAL_DOCKER_HOST, PublishMode, RuntimeConfig, Settings, SwarmConfig, UpdateOrder,
};
use hoist_core::pipeline::{Deployer, Runtimes, resolve_actor};
use hoist_core::{EventSink, Notifier, Runtime, Store};
use hoist_probe::HttpProber;
use hoist_runtime_docker::{DockerPruner, DockerRuntime, DockerSettings, ProxySettings};
use hoist_runtime_swarm::{
    FailureAction, Order, Publish, SwarmRuntime, SwarmSettings, UpdateSettings,
};
use hoist_store::SqliteStore;

/// What the caller decides instead of the config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--state`: the state database, instead of the config's `[state]`.
    pub state: Option<PathBuf>,
    /// Keep history in memory only (benchmarks, tests).
    pub in_memory_state: bool,
    /// `--build-host`: the engine images are built on; default the local engine.
    pub build_host: Option<String>,
    /// `--actor`; default from CI variables or the OS user.
    pub actor: Option<String>,
    /// Read-only commands send nothing, so they need no notifier credentials.
    pub notifications: Notifications,
}

/// Whether a command sends notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Notifications {
    #[default]
    On,
    Off,
}

/// Why the pipeline could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The config asks for something this build cannot do; exit 2.
    #[error("{0}")]
    Config(String),
    /// A component could not be reached or opened; exit 1.
    #[error("{0}")]
    Unavailable(String),
}

/// The full set of real components for `config`.
pub async fn deployer(
    config: Arc<Settings>,
    overrides: &Overrides,
    events: EventSink,
) -> Result<Deployer, WiringError> {
    let notifier: Arc<dyn Notifier> = match overrides.notifications {
        // Credentials are checked per environment when it is deployed (exit 2 there).
        Notifications::On => Arc::new(hoist_notify::AppNotifiers::from_config(&config)),
        Notifications::Off => Arc::new(hoist_core::notify::Silent),
    };
    let build_host = overrides
        .build_host
        .clone()
        .unwrap_or_else(|| LOCAL_DOCKER_HOST.to_string());
    check_single_engine(&config, &build_host)?;
    let builder = DockerBuilder::connect(&build_host)
        .await
        .map_err(|e| WiringError::Unavailable(e.to_string()))?;
    let store = open_store(&config, overrides)?;
    let mut runtimes = runtimes(&config, &resolve_actor(overrides.actor.as_deref()));
    runtimes.set_pruner(Arc::new(DockerPruner::new()), Some(build_host.clone()));
    Ok(Deployer {
        runtimes,
        builder: Arc::new(builder),
        prober: Arc::new(HttpProber::default()),
        store,
        notifier,
        events,
        actor: resolve_actor(overrides.actor.as_deref()),
        interrupt: Default::default(),
        config,
    })
}

/// The state database the config (or `--state`) names.
pub fn open_store(config: &Settings, overrides: &Overrides) -> Result<Arc<dyn Store>, WiringError> {
    let store = if overrides.in_memory_state {
        SqliteStore::in_memory()
    } else {
        let path = overrides
            .state
            .clone()
            .unwrap_or_else(|| config.state_path.clone());
        SqliteStore::open(&path)
    };
    store
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| WiringError::Unavailable(e.to_string()))
}

/// Each environment's runtime, from its `runtime` table.
/// `actor` is who deploys, for runtimes that record it on what they change.
fn runtimes(config: &Settings, actor: &str) -> Runtimes {
    // One Docker runtime serves every docker environment (it keeps one connection per
    // engine).
    let docker = DockerRuntime::new();
    let mut runtimes = Runtimes::default();
    for (name, env) in &config.environments {
        runtimes.insert(name.clone(), runtime_for(&env.runtime, &docker, actor));
    }
    runtimes
}

/// The one place that knows which crate runs which kind.
fn runtime_for(runtime: &RuntimeConfig, docker: &DockerRuntime, actor: &str) -> Arc<dyn Runtime> {
    match runtime {
        RuntimeConfig::Docker(settings) => Arc::new(docker.with_settings(DockerSettings {
            stop_timeout: settings.stop_timeout,
            bind: settings.bind,
            proxy: proxy_settings(settings.switch),
        })),
        RuntimeConfig::Swarm(swarm) => Arc::new(SwarmRuntime::new(swarm_settings(swarm))),
        RuntimeConfig::Kubernetes(k8s) => Arc::new(kubernetes::runtime(k8s, actor)),
    }
}

/// The config's `switch` as the Docker runtime's proxy settings (`None`: the port switch).
fn proxy_settings(switch: hoist_config::DockerSwitch) -> Option<ProxySettings> {
    match switch {
        hoist_config::DockerSwitch::Port => None,
        hoist_config::DockerSwitch::Proxy(p) => Some(ProxySettings {
            admin: p.admin,
            drain_timeout: p.drain_timeout,
        }),
    }
}

/// The config's swarm table as the Swarm runtime's settings (the same values, typed for
/// the Engine API).
fn swarm_settings(config: &SwarmConfig) -> SwarmSettings {
    let update = &config.update;
    SwarmSettings {
        host: config.host.clone(),
        replicas: u32::try_from(config.replicas.get())
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MAX),
        publish: match config.publish {
            PublishMode::Host => Publish::Host,
            PublishMode::Ingress => Publish::Ingress,
        },
        update: UpdateSettings {
            parallelism: u32::try_from(update.parallelism).unwrap_or(u32::MAX),
            delay: update.delay,
            order: match update.order {
                UpdateOrder::StopFirst => Order::StopFirst,
                UpdateOrder::StartFirst => Order::StartFirst,
            },
            monitor: update.monitor,
            failure_action: match update.failure_action {
                hoist_config::FailureAction::Rollback => FailureAction::Rollback,
                hoist_config::FailureAction::Pause => FailureAction::Pause,
                hoist_config::FailureAction::Continue => FailureAction::Continue,
            },
        },
    }
}

/// Images are built into the build engine's image store and run from there; an instance
/// on another engine would need a registry in between, which hoist does not drive yet.
fn check_single_engine(config: &Settings, build_host: &str) -> Result<(), WiringError> {
    for (env_name, env) in &config.environments {
        // A cluster pulls the release's image reference itself (from the registry the
        // app's `image` names); no engine of its own holds hoist's builds.
        if matches!(env.runtime, RuntimeConfig::Kubernetes(_)) {
            continue;
        }
        for instance in &env.instances {
            let host = &instance.host;
            if !same_engine(host, build_host) {
                return Err(WiringError::Config(format!(
                    "{}: environments.{env_name} instance `{}` runs on {host}, but images are built on {build_host}; \
                     hoist does not yet push images through a registry, so build on that engine (--build-host {host}) \
                     or run the instance on {build_host}",
                    config.path.display(),
                    instance.tenant
                )));
            }
        }
    }
    Ok(())
}

fn same_engine(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim_end_matches('/')
            .replace("unix:///run/", "unix:///var/run/")
    };
    norm(a) == norm(b)
}
