//! The seam between the pipeline and wherever instances run: containers on a Docker engine,
//! services on a Swarm, and (later) Kubernetes Deployments or a hosting platform's API.
//!
//! A [`Runtime`] owns *how* one instance changes: Docker swaps containers (candidate, then
//! switch), Swarm updates a service and lets the swarm roll it out. The pipeline owns
//! *which* instances change, in what order, with what concurrency, and what happens when
//! one fails; it never asks which kind a runtime is. Polling and timeouts live once, in
//! [`Rollout::wait_verified`], and the verdict on what was observed is the pure
//! [`crate::verify::verify`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

use crate::backend::{BackendError, Endpoint, Prober};
use crate::events::{EventSink, InstanceState};
use crate::spec_digest::SpecDigest;
use crate::target_lock::TargetLock;
use crate::task::{TaskRun, TaskSpec};
use crate::verify::{Expectation, Observation, Verdict, verify};
use crate::{Interrupt, Release, StopSignal};

/// A mount of an instance's containers, as the config resolved it.
pub use hoist_config::{Mount, MountSource};

/// How often a changing instance is probed: short, because every poll is a possible wait
/// added to a switch.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// One tenant's running copy of the app, as every runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSpec {
    pub app: String,
    pub environment: String,
    pub tenant: String,
    /// Where the runtime reaches this instance: a Docker engine address for `docker` and
    /// `swarm` (`unix:///var/run/docker.sock`, `tcp://host:2375`).
    pub host: String,
    /// The workload's name on its runtime: the container name (docker), the service name
    /// (swarm). Default `<app>-<environment>-<tenant>`.
    pub name: String,
    /// Published port, where the instance answers.
    pub port: u16,
    /// Port the app listens on inside its container.
    pub container_port: u16,
    pub env: BTreeMap<String, String>,
    pub health_path: String,
    pub version_path: Option<String>,
    /// The instance's secrets, read for this deploy (empty until the pipeline reads them,
    /// and in commands that only look). Formats and serialises as fingerprints only; a
    /// runtime gives the values to the app (plain env, or its native secrets).
    pub secrets: hoist_secrets::Secrets,
    /// What its containers (and its release tasks) mount: named volumes and host paths,
    /// `{tenant}` already replaced. Only the docker and swarm runtimes mount them (the
    /// config refuses volumes on the others). hoist never removes a volume.
    pub volumes: Vec<Mount>,
}

impl InstanceSpec {
    /// The labels every runtime puts on what it runs for this instance: app, environment,
    /// tenant, release, and each secret's fingerprint (`dev.hoist.secret.NAME`).
    pub fn labels(&self, release: &Release) -> BTreeMap<String, String> {
        use crate::labels;
        let mut labels = BTreeMap::from([
            (labels::APP.to_string(), self.app.clone()),
            (labels::ENVIRONMENT.to_string(), self.environment.clone()),
            (labels::TENANT.to_string(), self.tenant.clone()),
            (labels::RELEASE.to_string(), release.version.clone()),
        ]);
        for (name, fingerprint) in self.secret_fingerprints() {
            labels.insert(format!("{}{name}", labels::SECRET_PREFIX), fingerprint);
        }
        labels
    }

    /// Each secret's fingerprint by name ([`hoist_secrets::fingerprint`]): what the
    /// workload's labels carry, and what a hash of the instance's spec can include so a
    /// changed secret changes the spec without the hash depending on the value itself.
    pub fn secret_fingerprints(&self) -> BTreeMap<String, String> {
        self.secrets.fingerprints()
    }
}

impl InstanceSpec {
    /// The labels that tie a workload to this instance, without the release: app,
    /// environment, tenant. [`InstanceSpec::labels`] adds the release.
    pub fn base_labels(&self) -> BTreeMap<String, String> {
        use crate::labels;
        BTreeMap::from([
            (labels::APP.to_string(), self.app.clone()),
            (labels::ENVIRONMENT.to_string(), self.environment.clone()),
            (labels::TENANT.to_string(), self.tenant.clone()),
        ])
    }
}

/// Something a runtime runs for an app and environment, found by its labels
/// ([`Runtime::list`]) whether or not the config still names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    /// Its `dev.hoist.tenant` label.
    pub tenant: String,
    /// Its name on the runtime (container, service).
    pub name: String,
    /// The instance name it belongs to: `name` without a rollout suffix (Docker's
    /// `--prev`/`--next` containers belong to the instance named without it).
    pub instance: String,
    /// The engine it was found on.
    pub host: String,
    /// Its `dev.hoist.release` label.
    pub release: Option<String>,
    /// In the runtime's words: `running`, `exited (137)`, `1/1 tasks`.
    pub state: String,
}

/// What runs for an instance at one moment, reduced by its runtime to one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkloadState {
    /// Nothing runs for this instance.
    Missing,
    /// It runs `image_id` (labelled as `release`).
    Running {
        image_id: String,
        release: Option<String>,
        /// The registry digests the engine knows the running image by
        /// (`repo@sha256:…`, Docker's `RepoDigests`); empty when the runtime cannot tell
        /// or the image was never pulled or pushed.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        digests: Vec<String>,
    },
    /// It stopped.
    Exited {
        image_id: String,
        release: Option<String>,
        exit_code: i64,
    },
    /// The runtime is still converging (e.g. "1 of 2 tasks run the new image"); waiting
    /// may help.
    Converging { message: String },
    /// The runtime gave up (e.g. a Swarm update paused or rolled back); waiting will not
    /// help.
    Failed { message: String },
}

impl WorkloadState {
    pub fn image_id(&self) -> Option<&str> {
        match self {
            Self::Running { image_id, .. } | Self::Exited { image_id, .. } => Some(image_id),
            _ => None,
        }
    }
    pub fn release(&self) -> Option<&str> {
        match self {
            Self::Running { release, .. } | Self::Exited { release, .. } => release.as_deref(),
            _ => None,
        }
    }
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running { .. })
    }

    /// Whether it runs `release`'s image. By the registry digest when the release has one
    /// and the runtime shows digest evidence (a `repo@sha256:…` it runs, or the image's
    /// repo digests): what a registry serves is the release, whatever id an engine gives
    /// it. Otherwise by the engine's image id.
    pub fn runs_image_of(&self, image_id: &str, digest: Option<&str>) -> bool {
        let (running, digests) = match self {
            Self::Running {
                image_id, digests, ..
            } => (image_id, digests.as_slice()),
            // A stopped container shows no digests; its id still says what it ran.
            Self::Exited { image_id: id, .. } => (id, &[][..]),
            _ => return false,
        };
        match digest {
            Some(digest) if running.contains('@') || !digests.is_empty() => {
                let pinned = format!("@{digest}");
                running.ends_with(&pinned) || digests.iter().any(|d| d.ends_with(&pinned))
            }
            _ => running == image_id,
        }
    }
}

/// What a runtime observed of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub workload: WorkloadState,
    /// Where its HTTP endpoints answer.
    pub endpoint: Endpoint,
    /// Facts worth showing in `hoist status`, in the runtime's words ("2/2 tasks
    /// running", "a `--prev` container left by an interrupted rollout").
    pub notes: Vec<String>,
    /// The fingerprints of the secrets the workload was given, by name (from its
    /// `dev.hoist.secret.*` labels); empty when it has none or nothing runs.
    pub secrets: BTreeMap<String, String>,
}

/// An instance that now runs the release, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub message: String,
}

/// Why an instance did not take the release, and what it runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFailure {
    /// [`InstanceState::RolledBack`] when the previous release serves again (or never
    /// stopped serving), else [`InstanceState::Failed`].
    pub state: InstanceState,
    pub message: String,
    /// The failing workload's last lines of output, oldest first.
    pub log_tail: Vec<String>,
}

impl InstanceFailure {
    pub fn failed(message: impl Into<String>) -> Self {
        InstanceFailure {
            state: InstanceState::Failed,
            message: message.into(),
            log_tail: Vec::new(),
        }
    }
    pub fn rolled_back(message: impl Into<String>) -> Self {
        InstanceFailure {
            state: InstanceState::RolledBack,
            message: message.into(),
            log_tail: Vec::new(),
        }
    }
    pub fn with_log(mut self, log_tail: Vec<String>) -> Self {
        self.log_tail = log_tail;
        self
    }
}

impl From<BackendError> for InstanceFailure {
    /// A backend error before anything changed.
    fn from(e: BackendError) -> Self {
        InstanceFailure {
            state: InstanceState::Failed,
            message: e.message,
            log_tail: e.log_tail,
        }
    }
}

/// Runs instances of one kind. Every operation is idempotent where it can be, so that a
/// run of hoist interrupted at any point can be recovered by the next.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The kind's name in messages: `docker`, `swarm`.
    fn kind(&self) -> &'static str;

    /// Puts the instance back into a known state after an interrupted run, and says what
    /// was done (for the log).
    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError>;

    /// What the instance runs now and where it answers.
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError>;

    /// Rolls `release` out to the instance and verifies it with `rollout`. On failure the
    /// runtime leaves the previous release serving where it can, and the failure's state
    /// says whether it does.
    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure>;

    /// Returns the instance to `previous`, the release it ran before. Runtimes with a
    /// native rollback (Swarm's previous spec) may use it; by default this is a roll-out of
    /// `previous`.
    async fn roll_back(
        &self,
        instance: &InstanceSpec,
        previous: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        self.roll_out(instance, previous, rollout).await
    }

    /// Whether a workload this runtime reports as running has passed the platform's own
    /// health checks (a hosting platform's status, a Deployment's readiness), so that hoist
    /// does not probe `health_path` from outside. False by default: hoist probes.
    fn reports_health(&self) -> bool {
        false
    }

    /// Whether this runtime gives the instance's workload its secrets and reports their
    /// fingerprints in [`Observed::secrets`], so that a changed secret redeploys. False for
    /// a runtime that leaves env and secrets to the platform (kind `http`): no fingerprint
    /// ever comes back, and comparing would redeploy every time.
    fn applies_secrets(&self) -> bool {
        true
    }

    /// Where this runtime holds the environment's lock for `instances`: one
    /// [`TargetLock`] per engine or cluster they live on, so that deploys with other state
    /// databases cannot change them at the same time. None by default (a runtime without a
    /// shared place to lock relies on the store's lock alone).
    fn lock_places(&self, instances: &[InstanceSpec]) -> Vec<Arc<dyn TargetLock>> {
        let _ = instances;
        Vec::new()
    }
    /// This runtime's own settings that shape every instance it runs (stop timeout, bind
    /// address, Swarm's update settings), rendered as text: part of each instance's
    /// [`SpecDigest`], so that changing one redeploys. Never secret.
    fn spec_settings(&self) -> BTreeMap<String, String>;

    /// The spec digest recorded on the instance's workload when it was started
    /// ([`crate::labels::SPEC`]); `None` when nothing runs or it carries none.
    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError>;

    /// Everything this runtime runs for `app` in `environment`, found by the labels
    /// [`InstanceSpec::base_labels`] puts on it, configured or not. `hosts` are the
    /// engines the environment's instances name: a runtime whose workloads live on
    /// several engines asks each.
    async fn list(
        &self,
        app: &str,
        environment: &str,
        hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError>;

    /// Stops and removes one workload that [`Runtime::list`] found. Idempotent: one
    /// already gone is no error.
    async fn retire(&self, workload: &Workload) -> Result<(), BackendError>;

    /// Runs a release task ([`crate::task`]) once for `instance` with `release`'s image and
    /// the instance's env and secrets, waits for it to end or for its timeout (then stops
    /// it), and removes what ran it. An error says the task could not be run at all; a task
    /// that ran and failed is a [`TaskRun`] with its exit code. Not every runtime can.
    async fn run_task(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        task: &TaskSpec,
    ) -> Result<TaskRun, BackendError> {
        let _ = (release, task);
        Err(BackendError::new(format!(
            "release tasks are not supported on the {kind} runtime yet (environment {env}): \
             remove [[environments.{env}.tasks]], or run the environment on the docker, swarm \
             or kubernetes runtime",
            kind = self.kind(),
            env = instance.environment,
        )))
    }
}

/// The digest of `instance` as `runtime` runs it.
pub fn spec_digest(runtime: &dyn Runtime, instance: &InstanceSpec) -> SpecDigest {
    SpecDigest::of(instance, &runtime.spec_settings())
}

/// What a runtime is given to roll one instance out: the probes, the timeout, and a way to
/// tell the user what it is doing. Built by the pipeline.
pub struct Rollout<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) prober: &'a dyn Prober,
    pub(crate) events: &'a EventSink,
    /// How long the instance has to verify after each change.
    pub timeout: Duration,
    /// A request to stop: verification gives up at once, so the runtime undoes its change.
    interrupt: Option<&'a Interrupt>,
    /// The instance whose env and secret values are masked in what this reports.
    masked_for: Option<&'a InstanceSpec>,
}

impl<'a> Rollout<'a> {
    pub fn new(
        tenant: &'a str,
        prober: &'a dyn Prober,
        events: &'a EventSink,
        timeout: Duration,
    ) -> Self {
        Rollout {
            tenant,
            prober,
            events,
            timeout,
            interrupt: None,
            masked_for: None,
        }
    }

    /// Masks `instance`'s env and secret values in every step and warning reported (a
    /// runtime may quote what the engine or the app said).
    pub fn masking(mut self, instance: &'a InstanceSpec) -> Self {
        self.masked_for = Some(instance);
        self
    }

    fn masked(&self, message: String) -> String {
        match self.masked_for {
            Some(instance) => crate::task::redact_text(instance, &message),
            None => message,
        }
    }

    /// Lets `interrupt` cut verification short (see [`Rollout::interrupted`]).
    pub fn interruptible(mut self, interrupt: &'a Interrupt) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    /// The signal that asked hoist to stop, if one did. A runtime asks before each step
    /// that changes the instance and, when stopped, undoes what it changed instead of going
    /// on; [`Rollout::wait_verified`] fails at once.
    pub fn interrupted(&self) -> Option<StopSignal> {
        self.interrupt.and_then(Interrupt::signal)
    }

    /// Reports where the instance is: `hoist` shows it, the store and notifiers see it.
    pub fn progress(&self, state: InstanceState, message: impl Into<String>) {
        self.events
            .instance(self.tenant, state, self.masked(message.into()));
    }

    /// A warning about this instance that does not stop its rollout.
    pub fn warn(&self, message: impl Into<String>) {
        let message = self.masked(message.into());
        self.events.warning(format!("{}: {message}", self.tenant));
    }

    /// Adds health and version probes to what a runtime observed.
    pub async fn probe(&self, instance: &InstanceSpec, observed: Observed) -> Observation {
        probe(self.prober, instance, observed).await
    }

    /// Polls `observe` (and the instance's endpoints) until the instance verifies as
    /// running `release`, fails for good, or [`Rollout::timeout`] passes. Each new pending
    /// message is reported under `state`, so the user sees what is awaited.
    pub async fn wait_verified<F, Fut>(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        state: InstanceState,
        mut observe: F,
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<Observed, BackendError>> + Send,
    {
        let expect = Expectation::of(release, instance);
        let deadline = Instant::now() + self.timeout;
        let mut last = String::new();
        loop {
            if let Some(signal) = self.interrupted() {
                return Err(format!("stopped by {} before it verified", signal.name()));
            }
            let observed = observe().await.map_err(|e| e.to_string())?;
            let observation = self.probe(instance, observed).await;
            match verify(&observation, &expect) {
                Verdict::Verified => return Ok(()),
                Verdict::Failed(why) => return Err(why),
                Verdict::Pending(why) => {
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "not verified within {}s: {why}",
                            self.timeout.as_secs()
                        ));
                    }
                    if why != last {
                        self.progress(state, &why);
                        last = why;
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    }
}

/// [`probe`], or for a runtime that [`Runtime::reports_health`], the runtime's word: a
/// running workload is healthy and reports the release it is labelled with.
pub async fn probe_runtime(
    runtime: &dyn Runtime,
    prober: &dyn Prober,
    instance: &InstanceSpec,
    observed: Observed,
) -> Observation {
    if !runtime.reports_health() {
        return probe(prober, instance, observed).await;
    }
    let running = observed.workload.is_running();
    let release = observed.workload.release().unwrap_or("").to_string();
    Observation {
        health: running.then(|| Ok((200, format!("healthy as {} reports", runtime.kind())))),
        version: (running && instance.version_path.is_some()).then_some(Ok((200, release))),
        workload: observed.workload,
    }
}

/// Adds health and version probes to an observation; nothing is probed unless the
/// workload runs.
pub async fn probe(
    prober: &dyn Prober,
    instance: &InstanceSpec,
    observed: Observed,
) -> Observation {
    let endpoint = &observed.endpoint;
    let (health, version) = if observed.workload.is_running() {
        let health = prober.get(endpoint, &instance.health_path).await;
        let version = match &instance.version_path {
            Some(path) if health.as_ref().is_ok_and(|(s, _)| (200..300).contains(s)) => {
                Some(prober.get(endpoint, path).await)
            }
            _ => None,
        };
        (Some(health), version)
    } else {
        (None, None)
    };
    Observation {
        workload: observed.workload,
        health,
        version,
    }
}
