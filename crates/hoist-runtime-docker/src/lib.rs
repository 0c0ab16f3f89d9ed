//! hoist's Docker runtime: each instance is a container on the Docker engine its `host`
//! names, changed by Docker's own strategy ([`switch`]): a verified candidate, a port
//! switch, and a restore of the previous container on failure; or, with a proxy in front,
//! the zero-downtime switch of [`proxy`].

mod containers;
mod inventory;
mod lock;
mod proxy;
mod prune;
mod stop;
mod switch;
mod task;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::Release;
use hoist_core::backend::BackendError;
use hoist_core::runtime::{
    Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime, Workload,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::target_lock::TargetLock;

use containers::{Containers, Role, container_name};
use hoist_engine::{Engines, ImageDelivery};
pub use proxy::ProxySettings;
pub use prune::DockerPruner;

/// What an environment's settings tell the Docker runtime (hoist-config's `DockerConfig`,
/// which `hoist-app` hands over). The defaults are what hoist did before they were settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DockerSettings {
    /// How long a container has to exit after its stop signal before the engine kills it
    /// (`[environments.NAME.rollout] stop_timeout`); whole seconds. Default 10 s.
    pub stop_timeout: Duration,
    /// The host address instances' ports are published on (`[environments.NAME] bind`).
    /// Default `0.0.0.0`: every address of the engine's host.
    pub bind: IpAddr,
    /// The proxy switch (`switch = "proxy"`); `None`: the port switch.
    pub proxy: Option<ProxySettings>,
}

/// [`DockerSettings::stop_timeout`] when not set: Docker's own default.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            proxy: None,
        }
    }
}

/// The settings that shape every container, as they enter an instance's spec digest.
pub(crate) fn spec_settings(settings: &DockerSettings) -> BTreeMap<String, String> {
    let mut spec = BTreeMap::from([
        ("bind".to_string(), settings.bind.to_string()),
        (
            "stop_timeout".to_string(),
            format!("{}s", settings.stop_timeout.as_secs()),
        ),
    ]);
    // Only when set, so instances of the port switch keep the digest they had.
    if settings.proxy.is_some() {
        spec.insert("switch".to_string(), "proxy".to_string());
    }
    spec
}

/// Runs instances as containers on the Docker engines their config names.
#[derive(Clone, Default)]
pub struct DockerRuntime {
    containers: Containers,
}

impl DockerRuntime {
    /// A runtime with the default [`DockerSettings`].
    pub fn new() -> Self {
        DockerRuntime::default()
    }

    /// A runtime whose connections use `engines` (with its hosts' TLS or ssh options) and
    /// that puts each release's image on an instance's engine through `delivery` first.
    pub fn with_engines(engines: Engines, delivery: Option<Arc<dyn ImageDelivery>>) -> Self {
        DockerRuntime {
            containers: Containers {
                engines,
                delivery,
                ..Containers::default()
            },
        }
    }

    /// This runtime with an environment's settings. The engine connections stay shared,
    /// so one runtime per environment still keeps one connection per engine.
    pub fn with_settings(&self, settings: DockerSettings) -> Self {
        DockerRuntime {
            containers: self.containers.with_settings(settings),
        }
    }

    /// The settings this runtime applies.
    pub fn settings(&self) -> DockerSettings {
        self.containers.settings
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        match &self.containers.settings.proxy {
            Some(proxy) => proxy::recover(&self.containers, proxy, instance).await,
            None => self.containers.recover(instance).await,
        }
    }

    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let endpoint = self.containers.live_endpoint(instance);
        let mut observed = self
            .containers
            .observe_role(instance, Role::Live, &endpoint)
            .await?;
        // Leftovers say a rollout was interrupted; the next deploy undoes them.
        // Through a proxy the stopped previous container is kept on purpose.
        let proxied = self.containers.settings.proxy.is_some();
        for (role, what) in [
            (
                Role::Previous,
                "the previous container of an interrupted switch",
            ),
            (
                Role::Candidate,
                "a candidate container of an interrupted rollout",
            ),
        ] {
            if !(proxied && role == Role::Previous)
                && self.containers.inspect(instance, role).await?
                    != hoist_core::runtime::WorkloadState::Missing
            {
                observed.notes.push(format!(
                    "{} is left: {what}; the next deploy or rollback undoes it",
                    container_name(instance, role)
                ));
            }
        }
        Ok(observed)
    }

    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        match &self.containers.settings.proxy {
            Some(proxy) => proxy::switch(&self.containers, proxy, instance, release, rollout).await,
            None => switch::switch(&self.containers, instance, release, rollout).await,
        }
    }

    fn spec_settings(&self) -> BTreeMap<String, String> {
        spec_settings(&self.containers.settings)
    }

    async fn run_task(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        task: &hoist_core::task::TaskSpec,
    ) -> Result<hoist_core::task::TaskRun, BackendError> {
        task::run(&self.containers, instance, release, task).await
    }

    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        self.containers.applied_spec(instance).await
    }

    async fn list(
        &self,
        app: &str,
        environment: &str,
        hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError> {
        inventory::list(&self.containers, app, environment, hosts).await
    }

    async fn retire(&self, workload: &Workload) -> Result<(), BackendError> {
        // Through a proxy, the instance's server in it goes with its live container: the
        // configured proxy, else the one the container was started behind (the
        // environment may have left `switch = "proxy"` since).
        let proxy = if workload.name != workload.instance {
            None
        } else if let Some(proxy) = self.containers.settings.proxy {
            Some(proxy)
        } else {
            self.containers
                .proxy_admin(&workload.host, &workload.name)
                .await?
                .map(ProxySettings::named_by_label)
        };
        inventory::retire(&self.containers, workload).await?;
        match proxy {
            Some(proxy) => proxy::forget(&proxy, &workload.instance).await,
            None => Ok(()),
        }
    }

    /// A lock container on every engine the instances run on (the `lock` module).
    fn lock_places(&self, instances: &[InstanceSpec]) -> Vec<Arc<dyn TargetLock>> {
        let engines: BTreeSet<String> = instances.iter().map(|i| engine_address(&i.host)).collect();
        engines
            .into_iter()
            .map(|address| {
                Arc::new(lock::EngineLock {
                    engines: self.containers.engines.clone(),
                    address,
                }) as Arc<dyn TargetLock>
            })
            .collect()
    }
}

/// An engine address as one spelling: `unix:///run/docker.sock` is the same socket as
/// `unix:///var/run/docker.sock` on Debian, and a trailing `/` changes nothing.
fn engine_address(host: &str) -> String {
    host.trim_end_matches('/')
        .replace("unix:///run/", "unix:///var/run/")
}
