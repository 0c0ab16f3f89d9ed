//! `[environments.NAME.runtime]`: what runs an environment's instances.
//!
//! ```toml
//! [environments.staging.runtime]
//! kind = "docker"          # the default: one container per instance, on the instance's `host`
//!
//! [environments.production.runtime]
//! kind = "swarm"           # one Docker Swarm service per instance
//! host = "unix:///var/run/docker.sock"   # the swarm manager's engine
//! replicas = 1
//! publish = "host"
//! [environments.production.runtime.update]
//! parallelism = 1
//! delay = "0s"
//! order = "stop-first"
//! monitor = "5s"
//! failure_action = "rollback"
//! ```
//!
//! An environment without the table runs on Docker, as every `hoist.toml` did before the
//! table existed.
//!
//! Like `[notifiers.NAME]`, one flat table serves every kind rather than a serde-tagged
//! enum: a tagged enum buffers its content, which loses the spans and key paths that
//! `file:line:col` errors need. Serde reads `RawRuntime` (every kind's keys, unknown keys
//! rejected); `resolve` checks that the keys fit the kind and that the values work
//! together, and returns the typed, span-free [`RuntimeConfig`] that consumers use. It runs
//! once, while the file is validated, and the result is stored in
//! [`crate::Environment::runtime`], so no consumer checks these settings again.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::{ConfigError, LOCAL_DOCKER_HOST};

/// Which runtime an environment's instances run on: the `kind` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// One container per instance on the instance's Docker engine (`host`).
    Docker,
    /// One Docker Swarm service per instance, on the swarm of the runtime's `host`.
    Swarm,
    /// One existing Kubernetes Deployment per instance ([`crate::kubernetes`]).
    Kubernetes,
    /// One instance on a hosting platform, changed through its HTTP API ([`crate::http`]).
    Http,
}

impl RuntimeKind {
    /// Every kind, as `kind` accepts them.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Docker,
        RuntimeKind::Swarm,
        RuntimeKind::Kubernetes,
        RuntimeKind::Http,
    ];

    /// The value of `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Swarm => "swarm",
            RuntimeKind::Kubernetes => "kubernetes",
            RuntimeKind::Http => "http",
        }
    }
}

/// `[environments.NAME.runtime]`, resolved: the runtime and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeConfig {
    /// `kind = "docker"` (the default).
    Docker(DockerConfig),
    /// `kind = "swarm"`.
    Swarm(SwarmConfig),
    /// `kind = "kubernetes"`.
    Kubernetes(crate::kubernetes::KubernetesConfig),
    /// `kind = "http"` (boxed: its requests and fields make it many times the others).
    Http(Box<crate::http::HttpConfig>),
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::Docker(DockerConfig::default())
    }
}

impl RuntimeConfig {
    pub fn kind(&self) -> RuntimeKind {
        match self {
            RuntimeConfig::Docker(_) => RuntimeKind::Docker,
            RuntimeConfig::Swarm(_) => RuntimeKind::Swarm,
            RuntimeConfig::Kubernetes(_) => RuntimeKind::Kubernetes,
            RuntimeConfig::Http(_) => RuntimeKind::Http,
        }
    }
}

/// `kind = "docker"`: each instance is a container on its own `host` engine (see
/// [`crate::Instance::host`]), switched by hoist. The runtime table takes no other keys
/// for this kind; these are the environment's settings the Docker runtime applies, taken
/// from where the file sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// `[environments.NAME.rollout] stop_timeout`: how long an old container has to exit
    /// after its stop signal before the engine kills it. Default 10 s.
    pub stop_timeout: Duration,
    /// `[environments.NAME] bind`: the host address instances' ports are published on,
    /// and where hoist probes them. Default `0.0.0.0`: every address of the engine's host
    /// (probed at the engine's address).
    pub bind: IpAddr,
    /// `[environments.NAME.runtime] switch`: through the instance's port (the default) or
    /// a reverse proxy ([`crate::proxy_switch`]).
    pub switch: crate::DockerSwitch,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            stop_timeout: crate::schema::DEFAULT_STOP_TIMEOUT,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            switch: crate::DockerSwitch::Port,
        }
    }
}

/// `kind = "swarm"`: each instance is a Docker Swarm service, named by
/// [`crate::Instance::workload_name`], that Swarm updates and rolls back itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmConfig {
    /// Engine address of the swarm manager: `unix:///path/to/docker.sock` or
    /// `tcp://host:2375`. Default: the local engine ([`LOCAL_DOCKER_HOST`]).
    pub host: String,
    /// Tasks per service (`Mode.Replicated.Replicas`). Default 1.
    pub replicas: NonZeroU64,
    /// How each instance's `port` is published. Default [`PublishMode::Host`].
    pub publish: PublishMode,
    /// How Swarm replaces a service's tasks with the release's (`UpdateConfig`).
    pub update: UpdateConfig,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            host: LOCAL_DOCKER_HOST.to_string(),
            replicas: NonZeroU64::MIN,
            publish: PublishMode::default(),
            update: UpdateConfig::default(),
        }
    }
}

/// `[environments.NAME.runtime.update]`: Swarm's `UpdateConfig` for every service of the
/// environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConfig {
    /// Tasks updated at once; 0 updates all at once (Swarm's meaning). Default 1.
    pub parallelism: u64,
    /// Wait between updating one batch of tasks and the next. Default 0.
    pub delay: Duration,
    /// Stop the old task before starting its replacement, or the other way round.
    /// Default [`UpdateOrder::StopFirst`].
    pub order: UpdateOrder,
    /// How long Swarm watches each updated task for failure; never zero (the Engine API
    /// reads 0 as "Swarm's default"). Default 5 s.
    pub monitor: Duration,
    /// What Swarm does when an updated task fails. Default [`FailureAction::Rollback`].
    pub failure_action: FailureAction,
}

/// `update.monitor` when not set (Swarm's own default too).
pub const DEFAULT_MONITOR: Duration = Duration::from_secs(5);

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay: Duration::ZERO,
            order: UpdateOrder::default(),
            monitor: DEFAULT_MONITOR,
            failure_action: FailureAction::default(),
        }
    }
}

/// `publish`: how a service's port is published (`EndpointSpec.Ports[].PublishMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// `mode=host`: the port is bound on the node that runs the task (the default).
    #[default]
    Host,
    /// The routing mesh: the port answers on every node and is balanced over the tasks.
    Ingress,
}

impl PublishMode {
    /// The value of `publish`, which is also the Engine API's.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishMode::Host => "host",
            PublishMode::Ingress => "ingress",
        }
    }
}

/// `update.order` (`UpdateConfig.Order`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old task, then start the new one (the default).
    #[default]
    StopFirst,
    /// Start the new task, then stop the old one once the new one runs.
    StartFirst,
}

impl UpdateOrder {
    /// The value of `order`, which is also the Engine API's.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateOrder::StopFirst => "stop-first",
            UpdateOrder::StartFirst => "start-first",
        }
    }
}

/// `update.failure_action` (`UpdateConfig.FailureAction`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// Swarm rolls the service back to its previous spec (the default).
    #[default]
    Rollback,
    /// Swarm pauses the update, leaving updated and old tasks as they are.
    Pause,
    /// Swarm goes on updating the other tasks.
    Continue,
}

impl FailureAction {
    /// The value of `failure_action`, which is also the Engine API's.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
        }
    }
}

/// The table as written: every kind's keys, each optional except `kind`, spans kept for
/// [`resolve`]'s errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntime {
    kind: Spanned<RuntimeKind>,
    #[serde(default)]
    host: Option<Spanned<String>>,
    #[serde(default)]
    replicas: Option<Spanned<u64>>,
    #[serde(default)]
    publish: Option<Spanned<PublishMode>>,
    #[serde(default)]
    update: Option<Spanned<RawUpdate>>,
    // Kind "kubernetes"'s keys, read by `crate::kubernetes`.
    #[serde(default)]
    pub(crate) kubeconfig: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) context: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) namespace: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) deployment: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) container: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) timeout: Option<Spanned<HumanDuration>>,
    // Kind "http"'s keys (`timeout` above too), read by `crate::http`.
    #[serde(default)]
    pub(crate) preset: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) api: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) app: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) machine: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) token: Option<Spanned<hoist_secrets::SecretTable>>,
    #[serde(default)]
    pub(crate) token_header: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) token_scheme: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) headers: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    #[serde(default)]
    pub(crate) poll: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) deploy: Option<Spanned<crate::http::RawRequest>>,
    #[serde(default)]
    pub(crate) status: Option<Spanned<crate::http::RawStatus>>,
    #[serde(default)]
    pub(crate) wait: Option<Spanned<crate::http::RawRequest>>,
    #[serde(default)]
    pub(crate) rollback: Option<Spanned<crate::http::RawRequest>>,
    #[serde(default)]
    pub(crate) task: Option<Spanned<crate::http::RawTask>>,
    // Kind "docker"'s proxy switch, read by `crate::proxy_switch`.
    #[serde(default)]
    pub(crate) switch: Option<Spanned<crate::proxy_switch::SwitchKey>>,
    #[serde(default)]
    pub(crate) proxy_admin: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) drain_timeout: Option<Spanned<HumanDuration>>,
}

/// `[environments.NAME.runtime.update]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdate {
    #[serde(default)]
    parallelism: Option<Spanned<u64>>,
    #[serde(default)]
    delay: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    order: Option<Spanned<UpdateOrder>>,
    #[serde(default)]
    monitor: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    failure_action: Option<Spanned<FailureAction>>,
}

/// A duration written like `health_timeout`: `"30s"`, `"2m"`, `"1m 30s"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::schema::duration::deserialize(d).map(HumanDuration)
    }
}

/// The keys of kind "swarm", in the order the reference documents them.
const SWARM_KEYS: [&str; 4] = ["host", "replicas", "publish", "update"];

/// The first key of kind "swarm" written in the table (by position in the file, so an
/// error names the one a reader meets first), for the kinds that take none of them.
fn first_swarm_key(raw: &RawRuntime) -> Option<(&'static str, Range<usize>)> {
    let given = [
        raw.host.as_ref().map(Spanned::span),
        raw.replicas.as_ref().map(Spanned::span),
        raw.publish.as_ref().map(Spanned::span),
        raw.update.as_ref().map(Spanned::span),
    ];
    SWARM_KEYS
        .iter()
        .zip(given)
        .filter_map(|(field, span)| span.map(|s| (*field, s)))
        .min_by_key(|(_, span)| span.start)
}

/// Checks `raw` (the table at `table_key`, such as `environments.NAME.runtime`; absent:
/// the default) and returns the runtime it describes. `env_span` is where to point when a
/// defaulted value is at fault.
pub(crate) fn resolve(
    raw: Option<&Spanned<RawRuntime>>,
    table_key: &str,
    env_span: Range<usize>,
    path: &Path,
    text: &str,
) -> Result<RuntimeConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(RuntimeConfig::default());
    };
    let table_span = if raw.span().is_empty() {
        env_span
    } else {
        raw.span()
    };
    let key = |field: &str| format!("{table_key}.{field}");
    let fail = |span: Range<usize>, field: &str, message: String, help: String| {
        ConfigError::invalid(path, text, span, key(field), message, Some(help))
    };
    let raw = raw.get_ref();
    let kind = *raw.kind.get_ref();
    // `timeout` is kind "http"'s too.
    let kubernetes_key = crate::kubernetes::first_kubernetes_key(raw)
        .filter(|(field, _)| !(kind == RuntimeKind::Http && *field == "timeout"));
    // Another kind's keys are refused, naming the kind they belong to.
    let foreign = [
        (
            RuntimeKind::Docker,
            crate::proxy_switch::first_proxy_key(raw),
            "it is a key of kind \"docker\" (the proxy switch); remove it",
        ),
        (
            RuntimeKind::Http,
            crate::http::first_http_key(raw),
            "it is a key of kind \"http\"; remove it, or set kind = \"http\"",
        ),
        (
            RuntimeKind::Kubernetes,
            kubernetes_key,
            "it is a key of kind \"kubernetes\"; remove it, or set kind = \"kubernetes\"",
        ),
    ];
    for (owner, key, help) in foreign {
        if kind != owner
            && let Some((field, span)) = key
        {
            return Err(fail(
                span,
                field,
                format!("`{field}` does not apply to kind \"{}\"", kind.as_str()),
                help.into(),
            ));
        }
    }
    match kind {
        RuntimeKind::Http => {
            let other = first_swarm_key(raw);
            crate::http::resolve(
                raw,
                other,
                raw.timeout.as_ref(),
                table_span,
                path,
                &|span, field, message, help| fail(span, field, message, help),
            )
        }
        RuntimeKind::Kubernetes => {
            let other = first_swarm_key(raw);
            crate::kubernetes::resolve(raw, other, path, |span, field, message, help| {
                fail(span, field, message, help)
            })
        }
        RuntimeKind::Docker => match first_swarm_key(raw) {
            Some((field, span)) => Err(fail(
                span,
                field,
                format!("`{field}` does not apply to kind \"docker\""),
                format!(
                    "kind \"docker\" runs each instance as a container on the instance's own `host` and takes no other keys; {} are keys of kind \"swarm\"",
                    SWARM_KEYS.join(", ")
                ),
            )),
            None => Ok(RuntimeConfig::Docker(DockerConfig {
                switch: crate::proxy_switch::resolve(raw, fail)?,
                ..DockerConfig::default()
            })),
        },
        RuntimeKind::Swarm => {
            let mut swarm = SwarmConfig::default();
            if let Some(host) = &raw.host {
                if let Some(problem) = engine_address_problem(host.get_ref()) {
                    return Err(fail(
                        host.span(),
                        "host",
                        problem,
                        "write the swarm manager's engine: `unix:///var/run/docker.sock`, `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`".into(),
                    ));
                }
                swarm.host = host.get_ref().clone();
            }
            if let Some(replicas) = &raw.replicas {
                swarm.replicas = NonZeroU64::new(*replicas.get_ref()).ok_or_else(|| {
                    fail(
                        replicas.span(),
                        "replicas",
                        "replicas 0 would run no task of the service".into(),
                        "set it to 1 or more (the default is 1)".into(),
                    )
                })?;
            }
            if let Some(publish) = &raw.publish {
                swarm.publish = *publish.get_ref();
            }
            let mut order_span = None;
            if let Some(update) = &raw.update {
                let update = update.get_ref();
                let u = &mut swarm.update;
                if let Some(p) = &update.parallelism {
                    u.parallelism = *p.get_ref();
                }
                if let Some(d) = &update.delay {
                    u.delay = d.get_ref().0;
                }
                if let Some(o) = &update.order {
                    u.order = *o.get_ref();
                    order_span = Some(o.span());
                }
                if let Some(m) = &update.monitor {
                    if m.get_ref().0.is_zero() {
                        return Err(fail(
                            m.span(),
                            "update.monitor",
                            "a monitor period of 0 would be read by Swarm as its default (5s), not as \"do not watch\"".into(),
                            "give the time Swarm watches each updated task for failure, e.g. \"5s\" or \"30s\"".into(),
                        ));
                    }
                    u.monitor = m.get_ref().0;
                }
                if let Some(f) = &update.failure_action {
                    u.failure_action = *f.get_ref();
                }
            }
            if swarm.publish == PublishMode::Host {
                // Host-mode publishing binds the instance's port on the node that runs the
                // task, and hoist's services run on one node (the images are the engine's
                // own, not pulled from a registry): two tasks of one service can never run
                // at once there.
                let publish_said = if raw.publish.is_some() {
                    "publish = \"host\""
                } else {
                    "publish = \"host\" (the default)"
                };
                if let Some(replicas) = &raw.replicas
                    && swarm.replicas.get() > 1
                {
                    return Err(fail(
                        replicas.span(),
                        "replicas",
                        format!(
                            "with {publish_said}, every task binds the instance's port on its node, so on hoist's one-node swarm a second task could never start"
                        ),
                        "set replicas = 1, or publish = \"ingress\" to publish through the routing mesh".into(),
                    ));
                }
                if swarm.update.order == UpdateOrder::StartFirst {
                    return Err(fail(
                        order_span.unwrap_or(table_span),
                        "update.order",
                        format!(
                            "with {publish_said}, a start-first update starts the new task while the old one still holds the instance's port, so on hoist's one-node swarm the update could never proceed"
                        ),
                        "use order = \"stop-first\" (the default), or publish = \"ingress\" to publish through the routing mesh".into(),
                    ));
                }
            }
            Ok(RuntimeConfig::Swarm(swarm))
        }
    }
}

/// Why `address` is not a Docker engine address, if it is not.
pub(crate) fn engine_address_problem(address: &str) -> Option<String> {
    crate::hosts::address_problem(address)
}
