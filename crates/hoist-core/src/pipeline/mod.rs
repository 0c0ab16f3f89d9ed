//! The deploy pipeline: version → fingerprint → base image → app image → rollout, with the
//! environment lock held throughout and everything recorded in the store.

mod build;
mod deploy;
mod drift;
mod gate;
mod lock;
mod observer;
mod orphans;
mod prune;
mod release;
mod rollout;
mod scan;
mod schedule;
mod secrets;
mod ship;
mod status;
mod steps;
mod subset;
mod tasks;
mod waves;

use std::sync::Arc;
use std::time::Duration;

use hoist_config::Settings;
use serde::Serialize;

pub use build::{BuildOutcome, BuildPlan};
pub use deploy::DeployOptions;
pub use drift::{Drift, ReleaseGroup, drift_of};
pub use gate::Override;
pub use lock::{EnvLock, ForcedUnlock};
pub use observer::{audit_of, notice_of};
pub use orphans::{RetireOptions, RetireReport, orphans_among};
pub use prune::{
    EngineReport, FailedRemoval, PruneOptions, PruneReport, PruneWiring, RegistryTagWiring,
};
pub use release::{EnvironmentResult, ReleaseOutcome};
pub use rollout::{DeploymentReport, InstanceReport};
pub use schedule::{Slot, StartAt, time_left};
pub use status::{EnvironmentStatus, InstanceStatus, SecretStatus};
pub use subset::Subset;
pub use waves::{Wave, plan_waves};

use crate::backend::BackendError;
use crate::fingerprint::FingerprintError;
use crate::runtime::Runtime;
use crate::store::{LockHolder, StoreError};
use crate::version::VersionError;
use crate::{Builder, EventSink, InstanceSpec, Interrupt, Notifier, Prober, StopSignal, Store};

/// Everything a pipeline run needs. Cheap to clone.
#[derive(Clone)]
pub struct Deployer {
    pub config: Arc<Settings>,
    pub builder: Arc<dyn Builder>,
    /// Where each environment's instances run.
    pub runtimes: Runtimes,
    pub prober: Arc<dyn Prober>,
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub events: EventSink,
    /// Who is deploying, as recorded in history and audit.
    pub actor: String,
    /// A request to stop (a signal): nothing new starts, steps in flight end or are
    /// undone, and the deployment is recorded as interrupted.
    pub interrupt: Interrupt,
    /// Run release tasks even where they already succeeded for the release and tenant
    /// (`--force-tasks`).
    pub force_tasks: bool,
}

/// The runtime of each environment, chosen by the wiring from the config. The pipeline
/// asks for an environment's runtime and never for its kind.
#[derive(Clone, Default)]
pub struct Runtimes {
    by_environment: std::collections::BTreeMap<String, Arc<dyn Runtime>>,
    /// Instances that run on another runtime than their environment's, by (environment,
    /// tenant): an environment may hold instances of several kinds.
    by_instance: std::collections::BTreeMap<(String, String), Arc<dyn Runtime>>,
    /// For environments not named: tests and benchmarks that use one runtime for all.
    fallback: Option<Arc<dyn Runtime>>,
    /// The engine side of `hoist prune` and the build host; `None`: pruning is off.
    prune: Option<PruneWiring>,
    /// The registry's tags as a prune source, with the release and base repositories;
    /// `None` without a registry.
    registry_tags: Option<RegistryTagWiring>,
}

impl Runtimes {
    /// One runtime for every environment.
    pub fn uniform(runtime: Arc<dyn Runtime>) -> Self {
        Runtimes {
            by_environment: Default::default(),
            by_instance: Default::default(),
            fallback: Some(runtime),
            prune: None,
            registry_tags: None,
        }
    }
    /// Sets what prunes engines (`hoist prune`, the prune after a deploy), and the engine
    /// images are built on, which is pruned with the environments' own.
    pub fn set_pruner(
        &mut self,
        pruner: Arc<dyn crate::prune::EnginePruner>,
        build_host: Option<String>,
    ) {
        self.prune = Some(PruneWiring { pruner, build_host });
    }
    /// The engine pruner and the build host, when set.
    pub fn pruner(&self) -> Option<(Arc<dyn crate::prune::EnginePruner>, Option<String>)> {
        self.prune
            .as_ref()
            .map(|w| (w.pruner.clone(), w.build_host.clone()))
    }
    /// Sets the registry whose tags `[prune] registry_tags` prunes: `releases` is the
    /// release repository (`[registry] image`), `bases` its `-base` repository, both as
    /// the source names them.
    pub fn set_registry_tags(
        &mut self,
        source: Arc<dyn crate::prune::RegistryTagSource>,
        releases: String,
        bases: String,
    ) {
        self.registry_tags = Some(RegistryTagWiring {
            source,
            releases,
            bases,
        });
    }
    /// The registry tag source, when set.
    pub fn registry_tags(&self) -> Option<&RegistryTagWiring> {
        self.registry_tags.as_ref()
    }
    /// Sets `environment`'s runtime.
    pub fn insert(&mut self, environment: impl Into<String>, runtime: Arc<dyn Runtime>) {
        self.by_environment.insert(environment.into(), runtime);
    }
    pub fn get(&self, environment: &str) -> Option<&Arc<dyn Runtime>> {
        self.by_environment
            .get(environment)
            .or(self.fallback.as_ref())
    }
    /// Sets the runtime of `tenant`'s instance in `environment`, instead of the
    /// environment's.
    pub fn insert_instance(
        &mut self,
        environment: impl Into<String>,
        tenant: impl Into<String>,
        runtime: Arc<dyn Runtime>,
    ) {
        self.by_instance
            .insert((environment.into(), tenant.into()), runtime);
    }
    /// The runtime `tenant`'s instance in `environment` runs on.
    pub fn of_instance(&self, environment: &str, tenant: &str) -> Option<&Arc<dyn Runtime>> {
        self.by_instance
            .get(&(environment.to_string(), tenant.to_string()))
            .or_else(|| self.get(environment))
    }
}

/// A runtime and the instances of an environment that run on it.
pub type RuntimeGroup = (Arc<dyn Runtime>, Vec<InstanceSpec>);

/// How to behave when another deploy holds the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Refuse at once, naming the holder.
    Refuse,
    /// Wait up to this long for the holder to finish.
    Wait(Duration),
}

/// A lock unrefreshed for this long belongs to a holder that is gone (another host's, or
/// one whose process cannot be checked).
pub const LOCK_STALE_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no environment `{name}` in {config}; defined: {}", known.join(", "))]
    UnknownEnvironment {
        name: String,
        config: String,
        known: Vec<String>,
    },
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
    #[error("building {image} failed: {source}")]
    Build {
        image: String,
        #[source]
        source: BackendError,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{environment} is locked{} by {} (pid {} on {}, since {}{}); wait with --wait, or if that deploy is gone run `hoist unlock {environment} --force`",
        place.as_deref().map(|p| format!(" on {p}")).unwrap_or_default(),
        holder.actor, holder.pid, holder.hostname, holder.acquired_at,
        holder.state.as_deref().map(|s| format!(", state {s}")).unwrap_or_default()
    )]
    Locked {
        environment: String,
        holder: Box<LockHolder>,
        /// Where the lock is held when it is on a target (`the engine unix:///...`);
        /// `None` for the state database's lock.
        place: Option<String>,
    },
    #[error(
        "{environment} has no earlier successful release to roll back to; name one with --to VERSION (see `hoist history {environment}`)"
    )]
    NothingToRollBack { environment: String },
    #[error("no release {version} is recorded; `hoist history` lists the known releases")]
    UnknownRelease { version: String },
    #[error(
        "the image of {version} ({image}) is no longer on the engine; rebuild it with `hoist deploy --version {version}` from its commit"
    )]
    ImageGone { version: String, image: String },
    #[error("{action} to {environment} refused: {}", reasons.join("; "))]
    Refused {
        action: &'static str,
        environment: String,
        reasons: Vec<String>,
    },
    #[error("{0}")]
    BadRef(String),
    /// `hoist retire` was asked for a tenant it may not or cannot retire.
    #[error("{0}")]
    Retire(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Hook(#[from] hoist_hooks::HookError),
    /// The secret scan found secrets in the build context and the environment blocks.
    /// Holds only rule ids and locations, never secret material.
    #[error(
        "deploy to {environment} refused: the secret scan found {} in the build context ({}); \
         see them with `hoist scan` (secrets are shown redacted), remove and rotate real secrets, \
         and accept false positives with `hoist scan --update-baseline` (writes {baseline}; commit it) \
         or a `hoist:allow` comment on the line",
        scan::count(locations.len()),
        scan::summary(locations)
    )]
    SecretsFound {
        environment: String,
        /// `rule-id at path:line`, one per finding.
        locations: Vec<String>,
        /// The baseline file that accepts findings.
        baseline: String,
    },
    /// A signal asked hoist to stop before anything on the instances changed.
    #[error(
        "stopped by {}: nothing was changed on the instances{}",
        signal.name(),
        if *locked { "; the lock was released" } else { "" }
    )]
    Interrupted { signal: StopSignal, locked: bool },
    /// The secret scan could not run or not read the whole build context.
    #[error("secret scan: {0}")]
    Scan(String),
    /// A tenant secret could not be read; names the secret, never its value.
    #[error(transparent)]
    Secret(#[from] hoist_secrets::SecretError),
    /// `--at` or `--at-next-window` asked for a time a deploy cannot be scheduled for.
    #[error("cannot schedule the deploy: {0}")]
    Schedule(String),
}

impl PipelineError {
    /// The documented exit code: 2 for bad input or configuration, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            PipelineError::UnknownEnvironment { .. }
            | PipelineError::Version(_)
            | PipelineError::Fingerprint(_)
            | PipelineError::UnknownRelease { .. }
            | PipelineError::BadRef(_)
            | PipelineError::Retire(_)
            | PipelineError::Config(_)
            | PipelineError::Scan(_)
            | PipelineError::Secret(_)
            | PipelineError::Schedule(_) => 2,
            PipelineError::Interrupted { signal, .. } => i32::from(signal.exit_code()),
            _ => 1,
        }
    }
}

impl Deployer {
    pub(crate) fn environment(
        &self,
        name: &str,
    ) -> Result<&hoist_config::EnvironmentSettings, PipelineError> {
        self.config
            .environment(name)
            .ok_or_else(|| PipelineError::UnknownEnvironment {
                name: name.to_string(),
                config: self.config.path.display().to_string(),
                known: self.config.environments.keys().cloned().collect(),
            })
    }

    /// The instances of `environment`, as its runtime sees them.
    pub fn instances(&self, environment: &str) -> Result<Vec<InstanceSpec>, PipelineError> {
        let env = self.environment(environment)?;
        Ok(env
            .instances
            .iter()
            .map(|i| InstanceSpec {
                app: self.config.app.name.clone(),
                environment: environment.to_string(),
                tenant: i.tenant.clone(),
                host: i.host.clone(),
                name: i.name.clone(),
                port: i.port,
                container_port: self.config.app.port,
                env: i.env.clone(),
                health_path: i.health_path.clone(),
                version_path: i.version_path.clone(),
                // Read by a deploy ([`Deployer::instances_with_secrets`]), not here.
                secrets: Default::default(),
                volumes: i.volumes.clone(),
            })
            .collect())
    }

    /// The runtime `environment`'s instances run on.
    pub fn runtime(&self, environment: &str) -> Result<Arc<dyn Runtime>, PipelineError> {
        self.runtimes.get(environment).cloned().ok_or_else(|| {
            PipelineError::Config(format!(
                "no runtime is set up for environment `{environment}`"
            ))
        })
    }

    /// The runtime `instance` runs on: its own, else its environment's.
    pub fn instance_runtime(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Arc<dyn Runtime>, PipelineError> {
        self.runtimes
            .of_instance(&instance.environment, &instance.tenant)
            .cloned()
            .ok_or_else(|| {
                PipelineError::Config(format!(
                    "no runtime is set up for {} in environment `{}`",
                    instance.tenant, instance.environment
                ))
            })
    }

    /// Each runtime `environment`'s instances run on, once, with the instances on it; the
    /// environment's own runtime first, even when no instance uses it.
    pub fn runtimes_of(
        &self,
        environment: &str,
        instances: &[InstanceSpec],
    ) -> Result<Vec<RuntimeGroup>, PipelineError> {
        let mut groups: Vec<RuntimeGroup> = vec![(self.runtime(environment)?, Vec::new())];
        for instance in instances {
            let runtime = self.instance_runtime(instance)?;
            match groups.iter_mut().find(|(r, _)| Arc::ptr_eq(r, &runtime)) {
                Some((_, group)) => group.push(instance.clone()),
                None => groups.push((runtime, vec![instance.clone()])),
            }
        }
        Ok(groups)
    }

    /// Fails with [`PipelineError::Interrupted`] when a stop was requested: called between
    /// stages that change nothing on the instances.
    pub(crate) fn checkpoint(&self, locked: bool) -> Result<(), PipelineError> {
        match self.interrupt.signal() {
            Some(signal) => Err(PipelineError::Interrupted { signal, locked }),
            None => Ok(()),
        }
    }

    /// Runs `stage` unless a stop is requested first or meanwhile; `stage` must be safe to
    /// drop half-way (it changes nothing on the instances: a build, a wait for the lock).
    pub(crate) async fn unless_interrupted<T>(
        &self,
        locked: bool,
        stage: impl std::future::Future<Output = Result<T, PipelineError>>,
    ) -> Result<T, PipelineError> {
        self.checkpoint(locked)?;
        tokio::select! {
            result = stage => result,
            signal = self.interrupt.requested() => Err(PipelineError::Interrupted { signal, locked }),
        }
    }

    pub(crate) fn app_name(&self) -> &str {
        &self.config.app.name
    }

    /// This deployer with its events about `environment`.
    pub(crate) fn scoped(&self, environment: &str) -> Deployer {
        let mut scoped = self.clone();
        if scoped.events.environment() != Some(environment) {
            scoped.events = scoped.events.for_environment(environment);
        }
        scoped
    }
}

/// Who the actor is: `--actor`, else the CI's user variable, else the OS user.
pub fn resolve_actor(explicit: Option<&str>) -> String {
    let from_env = |var: &str| {
        std::env::var(var)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    explicit
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .or_else(|| from_env("GITHUB_ACTOR"))
        .or_else(|| from_env("GITLAB_USER_LOGIN"))
        .or_else(|| Some(whoami::username()).filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

pub(crate) use crate::events::ms as millis;

/// Serialises a report's duration as milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Millis(pub u64);
