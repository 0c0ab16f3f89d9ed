//! hoist's one wiring: loaded [`Settings`] plus what the command line overrides become a
//! ready [`Deployer`], with each environment's runtime chosen from its
//! `[environments.NAME.runtime]` table. The CLI, the benchmark and the tests use it, so
//! every caller runs the same pipeline with the same components.
//!
//! Adding a runtime kind means one arm in [`runtime_for`] and nothing else here.

mod engines;
mod http;
mod kubernetes;
pub mod registry;

use std::path::PathBuf;
use std::sync::Arc;

use bollard::auth::DockerCredentials;
use hoist_build::DockerBuilder;
use std::num::NonZeroU32;

use hoist_config::{
    LOCAL_DOCKER_HOST, PublishMode, RuntimeConfig, Settings, SwarmConfig, UpdateOrder,
};
use hoist_core::pipeline::{Deployer, Runtimes, resolve_actor};
use hoist_core::{EventSink, Notifier, Runtime, Store};
use hoist_engine::{Engines, ImageDelivery};
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
    let engines = engines::engines(&config);
    let build_engine = engines
        .get(&build_host)
        .await
        .map_err(|e| WiringError::Unavailable(e.to_string()))?;
    let registry_client = match &config.registry {
        Some(settings) => Some(Arc::new(
            registry::client(settings, &config.app.name, &config.root).await?,
        )),
        None => None,
    };
    let builder: Arc<dyn hoist_core::backend::Builder> = match &registry_client {
        Some(client) => Arc::new(registry::builder(client.clone(), build_engine)),
        None => Arc::new(DockerBuilder::new(build_engine)),
    };
    let store = open_store(&config, overrides)?;
    let registry_auth = registry_client
        .as_deref()
        .map(hoist_build::engine_credentials);
    let delivery = engines::image_delivery(&build_host, &engines, registry_auth.clone());
    let mut runtimes = runtimes(
        &config,
        &resolve_actor(overrides.actor.as_deref()),
        &engines,
        &delivery,
        &registry_auth.flatten(),
    );
    runtimes.set_pruner(
        Arc::new(DockerPruner::with_engines(engines)),
        Some(build_host.clone()),
    );
    if let (Some(client), Some(settings)) = (&registry_client, &config.registry) {
        runtimes.set_registry_tags(
            Arc::new(registry::RegistryTags(client.clone())),
            settings.image.clone(),
            format!("{}-base", settings.image),
        );
    }
    Ok(Deployer {
        runtimes,
        builder,
        prober: Arc::new(HttpProber::default()),
        store,
        notifier,
        events,
        actor: resolve_actor(overrides.actor.as_deref()),
        interrupt: Default::default(),
        force_tasks: false,
        config,
    })
}

/// The state database: PostgreSQL if `HOIST_DATABASE_URL` is set, else the SQLite file
/// the config (or `--state`) names.
pub fn open_store(config: &Settings, overrides: &Overrides) -> Result<Arc<dyn Store>, WiringError> {
    let store = if overrides.in_memory_state {
        SqliteStore::in_memory().map(|s| StateStore::Sqlite(Arc::new(s)))
    } else {
        let path = overrides
            .state
            .clone()
            .unwrap_or_else(|| config.state_path.clone());
        open_state(&path)
    };
    store
        .map(|s| match s {
            StateStore::Sqlite(s) => s as Arc<dyn Store>,
            StateStore::Postgres(s) => s,
        })
        .map_err(|e| WiringError::Unavailable(e.to_string()))
}

/// The store `open_state` chose; each caller keeps it behind the traits it needs (the
/// pipeline [`Store`], the server also the job queue and tokens).
pub enum StateStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<hoist_store_pg::PgStore>),
}

/// Opens the PostgreSQL database `HOIST_DATABASE_URL` names (its password never shown),
/// or else the SQLite file at `sqlite_path`: the one place that choice is made.
pub fn open_state(sqlite_path: &std::path::Path) -> Result<StateStore, hoist_core::StoreError> {
    match hoist_store_pg::url_from_env() {
        Some(url) => Ok(StateStore::Postgres(Arc::new(
            hoist_store_pg::PgStore::connect(&url)?,
        ))),
        None => SqliteStore::open(sqlite_path).map(|s| StateStore::Sqlite(Arc::new(s))),
    }
}

/// Each environment's runtime, from its `runtime` table.
/// `actor` is who deploys, for runtimes that record it on what they change.
fn runtimes(
    config: &Settings,
    actor: &str,
    engines: &Engines,
    delivery: &Arc<dyn ImageDelivery>,
    registry_auth: &Option<DockerCredentials>,
) -> Runtimes {
    // One Docker runtime serves every docker environment (it keeps one connection per
    // engine).
    let docker = DockerRuntime::with_engines(engines.clone(), Some(delivery.clone()));
    let mut runtimes = Runtimes::default();
    for (name, env) in &config.environments {
        runtimes.insert(
            name.clone(),
            runtime_for(
                &env.runtime,
                &docker,
                actor,
                engines,
                delivery,
                registry_auth,
            ),
        );
        // Instances on a named runtime share it (one client, one credential read).
        let named: std::collections::BTreeMap<&String, Arc<dyn Runtime>> = env
            .runtimes
            .iter()
            .map(|(label, runtime)| {
                (
                    label,
                    runtime_for(runtime, &docker, actor, engines, delivery, registry_auth),
                )
            })
            .collect();
        for instance in &env.instances {
            if let Some(runtime) = instance.runtime.as_ref().and_then(|l| named.get(l)) {
                runtimes.insert_instance(name.clone(), instance.tenant.clone(), runtime.clone());
            }
        }
    }
    runtimes
}

/// The one place that knows which crate runs which kind.
fn runtime_for(
    runtime: &RuntimeConfig,
    docker: &DockerRuntime,
    actor: &str,
    engines: &Engines,
    delivery: &Arc<dyn ImageDelivery>,
    registry_auth: &Option<DockerCredentials>,
) -> Arc<dyn Runtime> {
    match runtime {
        RuntimeConfig::Docker(settings) => Arc::new(docker.with_settings(DockerSettings {
            stop_timeout: settings.stop_timeout,
            bind: settings.bind,
            proxy: proxy_settings(settings.switch),
        })),
        RuntimeConfig::Swarm(swarm) => Arc::new(
            SwarmRuntime::new(swarm_settings(swarm))
                .with_engines(engines.clone(), Some(delivery.clone()))
                .with_registry_auth(registry_auth.clone()),
        ),
        RuntimeConfig::Kubernetes(k8s) => Arc::new(kubernetes::runtime(k8s, actor)),
        RuntimeConfig::Http(platform) => Arc::new(http::runtime(platform)),
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
