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
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

use crate::Release;
use crate::backend::{BackendError, Endpoint, Prober};
use crate::events::{EventSink, InstanceState};
use crate::verify::{Expectation, Observation, Verdict, verify};

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
}

/// What a runtime is given to roll one instance out: the probes, the timeout, and a way to
/// tell the user what it is doing. Built by the pipeline.
pub struct Rollout<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) prober: &'a dyn Prober,
    pub(crate) events: &'a EventSink,
    /// How long the instance has to verify after each change.
    pub timeout: Duration,
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
        }
    }

    /// Reports where the instance is: `hoist` shows it, the store and notifiers see it.
    pub fn progress(&self, state: InstanceState, message: impl Into<String>) {
        self.events.instance(self.tenant, state, message);
    }

    /// A warning about this instance that does not stop its rollout.
    pub fn warn(&self, message: impl Into<String>) {
        self.events
            .warning(format!("{}: {}", self.tenant, message.into()));
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
