//! The shape of `hoist.toml`. Every table denies unknown keys, so a typo is an error with
//! the list of valid keys rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The whole file, after defaults are applied. Paths are as written (relative to the
/// directory holding `hoist.toml`); [`Config::root`] says where that is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub app: App,
    pub build: Build,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub environments: BTreeMap<String, Spanned<Environment>>,
    /// `[groups]`: named lists of people, referenced as `@name` in policies.
    #[serde(default)]
    pub groups: crate::release::Groups,
    /// `[notifiers.NAME]`: where notifications can go (Zulip, Slack, signed webhook).
    #[serde(default)]
    pub notifiers: BTreeMap<String, Spanned<crate::notify::NotifierConfig>>,
    /// `[hooks]`: commands run before the build, before and after every deploy.
    #[serde(default)]
    pub hooks: hoist_hooks::Hooks,
    /// `[scan]`: the secret scan that gates every deploy and `hoist scan` (rules,
    /// allowlists, baseline, size limit; see docs/scanning.md). Relative paths are
    /// relative to the directory holding `hoist.toml`.
    #[serde(default)]
    pub scan: hoist_scan::ScanSettings,
    /// `[prune]`: what `hoist prune` and the prune after each deploy keep.
    #[serde(default)]
    pub prune: crate::prune::PruneTable,
    /// `[server]`: how `hoist serve` listens, runs jobs and checks webhooks.
    #[serde(default)]
    pub server: crate::server::ServerTable,
    /// `[hosts.NAME]`: remote Docker engines by name (address, TLS or ssh settings).
    #[serde(default)]
    pub hosts: crate::hosts::Hosts,
    /// `[registry]`: the OCI registry images go through (none: the local engine only).
    #[serde(default)]
    pub registry: Option<crate::registry::RegistryTable>,
    /// Directory holding the config file; set by [`crate::load`], not read from the file.
    #[serde(skip)]
    pub root: PathBuf,
    /// The config file itself, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[app]`: what is deployed and how it is reached inside its container.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Short name, used in container names, labels and messages.
    pub name: Spanned<String>,
    /// Image repository for release images, e.g. `registry.example.com/clinic`. The base
    /// image goes to `<image>-base`.
    pub image: Spanned<String>,
    /// Port the app listens on inside its container.
    pub port: u16,
    /// Health path every instance answers with 2xx when ready (instances may override).
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Path whose body contains the running version (instances may override).
    #[serde(default)]
    pub version_path: Option<String>,
}

fn default_health_path() -> String {
    "/healthz".to_string()
}

/// `[build]`: the two Dockerfiles and what feeds the dependency fingerprint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Build context of the app image, relative to the config's directory.
    #[serde(default = "default_context")]
    pub context: PathBuf,
    /// App Dockerfile. It receives the base image reference as build arg `HOIST_BASE`
    /// (`ARG HOIST_BASE` then `FROM ${HOIST_BASE}`) and the version as `HOIST_VERSION`.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: PathBuf,
    /// Dockerfile of the dependency base image.
    #[serde(default = "default_base_dockerfile")]
    pub base_dockerfile: PathBuf,
    /// Globs (relative to the context) of the files the base image depends on. Only
    /// these files, plus the base Dockerfile, are sent to the base build.
    pub dependencies: Spanned<Vec<String>>,
    /// Build args of the base image; they are part of the fingerprint.
    #[serde(default)]
    pub base_args: BTreeMap<String, String>,
    /// Build args of the app image.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// Target platform, e.g. `linux/amd64`; part of the fingerprint.
    #[serde(default = "default_platform")]
    pub platform: String,
}

fn default_context() -> PathBuf {
    PathBuf::from(".")
}
fn default_dockerfile() -> PathBuf {
    PathBuf::from("Dockerfile")
}
fn default_base_dockerfile() -> PathBuf {
    PathBuf::from("Dockerfile.base")
}

/// The platform hoist builds for when `build.platform` is not set: the host's.
pub fn default_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

/// `[state]`: where history, audit log and locks live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// SQLite file, relative to the config's directory. Default `.hoist/state.db`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `[environments.NAME]`: where releases run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Environment variables every instance of this environment gets.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `[environments.NAME.secrets]`: variables every instance gets whose values come from
    /// hoist's environment, a file or a command at deploy time, never from this file.
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<hoist_secrets::SecretTable>>,
    #[serde(default)]
    pub rollout: Rollout,
    pub instances: Spanned<Vec<Spanned<Instance>>>,
    /// Which refs deploy here: see [`crate::release::RefRule`].
    #[serde(default)]
    pub deploy_from: Vec<Spanned<crate::release::RefRule>>,
    /// Environments that may knowingly receive the same refs as this one: see
    /// [`crate::release`].
    #[serde(default)]
    pub overlaps_with: Vec<Spanned<String>>,
    /// Environments a release must have been verified in before it may deploy here.
    #[serde(default)]
    pub requires_verified_in: Vec<Spanned<String>>,
    /// Who may deploy here, which refs, and when: see [`crate::release::Policy`].
    #[serde(default)]
    pub policy: Option<Spanned<crate::release::Policy>>,
    /// `[[environments.NAME.notify]]`: which events go to which notifier.
    #[serde(default)]
    pub notify: Vec<crate::notify::NotifyRoute>,
    /// `[environments.NAME.hooks]`: run after the app's hooks of the same stage.
    #[serde(default)]
    pub hooks: hoist_hooks::Hooks,
    /// What a secret found by the scan before the build does to a deploy here.
    #[serde(default)]
    pub secret_scan: SecretScan,
    /// `[[environments.NAME.tasks]]`: release tasks run per tenant before it switches.
    #[serde(default)]
    pub tasks: Vec<Spanned<crate::tasks::TaskTable>>,
    /// The host address the instances' ports are published on (kind "docker"), e.g.
    /// `"127.0.0.1"` when a proxy on the same host fronts them. Default: every address.
    /// Checked (an IP address) and resolved into the Docker runtime's settings.
    #[serde(default)]
    pub bind: Option<Spanned<String>>,
    /// `volumes = ["clinic-{tenant}-data:/data"]`: what every instance's containers mount
    /// (kinds "docker" and "swarm"); see [`crate::volumes`].
    #[serde(default)]
    pub volumes: Vec<Spanned<String>>,
    /// `[environments.NAME.runtime]`: what runs the instances. Without the table, Docker
    /// containers on each instance's `host`. Checked and resolved when the file is parsed.
    #[serde(skip)]
    pub runtime: crate::runtime::RuntimeConfig,
    /// The runtime table as written, with spans; `crate::runtime::resolve` turns it into
    /// `runtime` during validation.
    #[serde(default, rename = "runtime")]
    pub(crate) runtime_table: Option<Spanned<crate::runtime::RawRuntime>>,
    /// `[environments.NAME.runtimes.LABEL]`: further runtimes, each like `runtime`, that
    /// instances name with `runtime = "LABEL"` (see `crate::named_runtimes`).
    #[serde(skip)]
    pub runtimes: BTreeMap<String, crate::runtime::RuntimeConfig>,
    #[serde(default, rename = "runtimes")]
    pub(crate) runtimes_table: BTreeMap<String, Spanned<crate::runtime::RawRuntime>>,
}

/// `environments.NAME.secret_scan`: how the secret scan gates a deploy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretScan {
    /// Refuse the deploy (the default): audited, notified, exit 1.
    #[default]
    Block,
    /// Deploy anyway, with a warning per finding (audited).
    Warn,
}

impl SecretScan {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretScan::Block => "block",
            SecretScan::Warn => "warn",
        }
    }
}

/// `[environments.NAME.rollout]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// How many instances are switched at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: Spanned<usize>,
    /// How long a new container has to answer its health check, e.g. `"30s"`, `"2m"`.
    #[serde(default = "default_health_timeout", with = "duration")]
    pub health_timeout: Duration,
    /// How long an instance's old workload has to exit after its stop signal before it is
    /// killed, e.g. `"10s"`; whole seconds.
    #[serde(default = "default_stop_timeout", with = "duration")]
    pub stop_timeout: Duration,
    /// Waves: see [`crate::rollout`].
    #[serde(default)]
    pub canary: Vec<Spanned<String>>,
    #[serde(default)]
    pub canary_tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub batch: Option<Spanned<crate::rollout::RawBatch>>,
    #[serde(default)]
    pub pause: Option<Spanned<String>>,
    #[serde(default)]
    pub on_failure: Option<crate::rollout::OnFailure>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            concurrency: default_concurrency(),
            health_timeout: default_health_timeout(),
            stop_timeout: default_stop_timeout(),
            canary: Vec::new(),
            canary_tags: Vec::new(),
            batch: None,
            pause: None,
            on_failure: None,
        }
    }
}

/// `rollout.stop_timeout` when not set (Docker's own default).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `rollout.stop_timeout` accepted.
pub const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(3600);

fn default_stop_timeout() -> Duration {
    DEFAULT_STOP_TIMEOUT
}

fn default_concurrency() -> Spanned<usize> {
    Spanned::new(0..0, 2)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(60)
}

/// `[[environments.NAME.instances]]`: one tenant's running copy of the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub tenant: Spanned<String>,
    /// Docker engine address: `unix:///path/to/docker.sock` or `tcp://host:2375`. Only
    /// kind "docker" reads it (a swarm's engine is the runtime's `host`).
    #[serde(default = "default_docker_host")]
    pub host: String,
    /// The workload's name on its runtime: the container for kind "docker", the service
    /// for kind "swarm". Default `<app>-<environment>-<tenant>`; read it through
    /// [`Instance::workload_name`]. `container`, the key's former name, is still accepted.
    #[serde(default, alias = "container")]
    pub name: Option<String>,
    /// Host port the app is published on.
    pub port: Spanned<u16>,
    /// Environment variables for this tenant (override the environment's).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets for this tenant (override the environment's of the same name).
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<hoist_secrets::SecretTable>>,
    #[serde(default)]
    pub health_path: Option<String>,
    #[serde(default)]
    pub version_path: Option<String>,
    /// The label of one of the environment's `[environments.NAME.runtimes.LABEL]` tables
    /// this instance runs on; default the environment's `runtime`.
    #[serde(default)]
    pub runtime: Option<Spanned<String>>,
    /// Labels for choosing instances: `hoist deploy --tag eu`, `rollout.canary_tags`.
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    /// Mounts added to the environment's `volumes` (one of the same container path
    /// replaces the environment's); see [`crate::volumes`].
    #[serde(default)]
    pub volumes: Vec<Spanned<String>>,
}

/// The local engine's socket, the default `host` of an instance.
pub const LOCAL_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

fn default_docker_host() -> String {
    LOCAL_DOCKER_HOST.to_string()
}

pub(crate) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!(
                "`{text}` is not a duration ({e}); write it like \"30s\", \"2m\" or \"1m 30s\""
            ))
        })
    }
}

impl Config {
    /// Where the state database lives, resolved against the config's directory.
    pub fn state_path(&self) -> PathBuf {
        let rel = self
            .state
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(".hoist/state.db"));
        self.root.join(rel)
    }

    /// The app build context, resolved against the config's directory.
    pub fn context_dir(&self) -> PathBuf {
        self.root.join(&self.build.context)
    }
}

impl Instance {
    /// The workload's name (container or service), defaulted from app, environment and
    /// tenant: `<app>-<environment>-<tenant>`.
    pub fn workload_name(&self, app: &str, environment: &str) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{app}-{environment}-{}", self.tenant.get_ref()))
    }
}
