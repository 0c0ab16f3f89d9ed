//! What the pipeline reports while it runs, as facts: an envelope (which run, which
//! environment and tenant, when) around a structured [`EventKind`]. Stages never print and
//! never write audit entries or send notices by hand: the CLI renders events
//! ([`describe`] is the one place that turns one into text), `--json` streams them, and the
//! pipeline's observer turns them into audit entries and notices.
//!
//! The JSON form of [`Event`] is a documented, stable schema (docs/events.md): fields are
//! only ever added.

pub mod text;

use std::sync::Arc;

use serde::Serialize;

pub use text::describe;

use crate::store::{DeploymentKind, DeploymentOutcome, LockHolder};

/// The version of the JSON event schema; bumped only for a change that is not an
/// addition.
pub const SCHEMA_VERSION: u32 = 1;

/// Pipeline stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lock,
    Version,
    Fingerprint,
    /// The secret scan of the build context, before anything is built.
    Scan,
    BaseImage,
    AppImage,
    Rollout,
    /// Removing old images and stopped containers (`hoist prune`, or after a deploy).
    Prune,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Lock => "lock",
            Stage::Version => "version",
            Stage::Fingerprint => "fingerprint",
            Stage::Scan => "secret scan",
            Stage::BaseImage => "base image",
            Stage::AppImage => "app image",
            Stage::Rollout => "rollout",
            Stage::Prune => "prune",
        }
    }
}

/// Where one instance is in its rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Waiting,
    /// Already runs the release and answers its health check: nothing to do.
    Unchanged,
    /// The runtime is starting the release (a candidate container, a service update).
    Starting,
    /// Waiting for the release to verify (before and after a switch).
    Verifying,
    /// Moving traffic to the new release (Docker's port switch).
    Switching,
    Healthy,
    RollingBack,
    /// Failed; the previous release serves again.
    RolledBack,
    /// Took the release, then was returned to the one it ran before because another
    /// instance failed and the environment's `rollout.on_failure` is `rollback`.
    RolledBackByPolicy,
    Failed,
    /// Not attempted because another instance failed first.
    Skipped,
}

impl InstanceState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Unchanged
                | Self::Healthy
                | Self::RolledBack
                | Self::RolledBackByPolicy
                | Self::Failed
                | Self::Skipped
        )
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Unchanged => "unchanged",
            Self::Starting => "starting",
            Self::Verifying => "verifying",
            Self::Switching => "switching",
            Self::Healthy => "healthy",
            Self::RollingBack => "rolling back",
            Self::RolledBack => "rolled back",
            Self::RolledBackByPolicy => "rolled back by policy",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
    /// The name used in JSON and in the store (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Unchanged => "unchanged",
            Self::Starting => "starting",
            Self::Verifying => "verifying",
            Self::Switching => "switching",
            Self::Healthy => "healthy",
            Self::RollingBack => "rolling_back",
            Self::RolledBack => "rolled_back",
            Self::RolledBackByPolicy => "rolled_back_by_policy",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// Whether the base image was found or had to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    Hit,
    Miss,
}

/// Who holds a lock, as events and messages name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub actor: String,
    pub pid: u32,
    pub hostname: String,
    pub since: String,
    /// Where the lock was found when it is held on a target (`the engine
    /// unix:///var/run/docker.sock`); absent for the state database's lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

impl Holder {
    /// The holder of a lock held at `place` on a target.
    pub fn at(holder: &LockHolder, place: Option<&str>) -> Self {
        Holder {
            place: place.map(str::to_string),
            ..Holder::from(holder)
        }
    }

    /// ` on the engine ...` when the lock is on a target, else nothing.
    pub fn where_(&self) -> String {
        self.place
            .as_deref()
            .map(|p| format!(" on {p}"))
            .unwrap_or_default()
    }
}

impl From<&LockHolder> for Holder {
    fn from(h: &LockHolder) -> Self {
        Holder {
            actor: h.actor.clone(),
            pid: h.pid,
            hostname: h.hostname.clone(),
            since: h.acquired_at.clone(),
            place: None,
        }
    }
}

/// How one instance ended, as reported with the end of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantOutcome {
    pub tenant: String,
    pub state: InstanceState,
    pub message: String,
}

/// How the secret scan's findings were treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanVerdict {
    Clean,
    /// Findings (or an incomplete scan), and the environment only warns.
    Warned,
    /// Findings, and the environment blocks.
    Blocked,
}

/// One secret-scan finding as events and the audit log keep it: where and which rule,
/// never the secret, not even redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingLocation {
    pub rule: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub fingerprint: String,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A stage began; `subject` is what it works on (an image reference, an environment).
    StageStarted {
        stage: Stage,
        subject: Option<String>,
    },
    VersionResolved {
        version: String,
        commit: String,
        dirty: bool,
        took_ms: u64,
    },
    FingerprintComputed {
        fingerprint: String,
        files: usize,
        took_ms: u64,
    },
    LockAcquired {
        took_ms: u64,
    },
    LockWaiting {
        holder: Holder,
        limit_secs: u64,
    },
    /// A dead holder's lock was taken over; its deployment is marked interrupted.
    LockReclaimed {
        holder: Holder,
    },
    /// Another deploy holds the environment, and this one does not wait.
    LockRefused {
        holder: Holder,
    },
    ScanFinished {
        files: u64,
        findings: usize,
        baselined: usize,
        skipped_binary: u64,
        skipped_large: u64,
        skipped_allowlisted: u64,
        /// Files that could not be read.
        unreadable: usize,
        verdict: ScanVerdict,
        took_ms: u64,
    },
    /// Findings that warn or block, for the audit log.
    SecretsFound {
        version: String,
        verdict: ScanVerdict,
        context: String,
        files: u64,
        baselined: usize,
        findings: Vec<FindingLocation>,
    },
    /// The scan could not run or could not read the whole context.
    ScanIncomplete {
        version: String,
        verdict: ScanVerdict,
        reason: String,
    },
    BaseImage {
        reference: String,
        cache: CacheOutcome,
    },
    BaseImageBuilt {
        reference: String,
        took_ms: u64,
    },
    /// A line of build output.
    BuildOutput {
        stage: Stage,
        image: String,
        line: String,
    },
    AppImageBuilt {
        reference: String,
        image_id: String,
        took_ms: u64,
    },
    /// An image went to a registry: what crossed the wire, blob by blob counted.
    ImagePushed {
        /// `repo@sha256:...`.
        reference: String,
        blobs_uploaded: usize,
        bytes_uploaded: u64,
        blobs_mounted: usize,
        blobs_present: usize,
    },
    /// The release was built before and its image is still there: nothing is built.
    ReleaseReused {
        version: String,
        reference: String,
    },
    /// A new release was recorded.
    ReleaseBuilt {
        version: String,
        image: String,
        image_id: String,
    },
    /// The policy's decision on a deploy, rollback or promotion.
    PolicyDecided {
        action: String,
        version: String,
        allowed: bool,
        overridden: bool,
        /// The whole decision as the policy explains it.
        decision: serde_json::Value,
    },
    /// Nothing changed, for these reasons (policy, promotion, lock).
    Refused {
        action: String,
        version: String,
        reasons: Vec<String>,
    },
    /// The release was not verified where this environment requires.
    PromotionRefused {
        version: Option<String>,
        reason: String,
    },
    /// `hoist release --ref` found a ref it may not release as it is checked out.
    RefRefused {
        git_ref: String,
        reason: String,
    },
    /// `hoist release --ref` matched no environment's rules.
    NothingToDeploy {
        git_ref: String,
        explanation: String,
    },
    HookFailed {
        version: String,
        hook: String,
        reason: String,
    },
    /// Something failed before a rollout began (a build, a hook, the scan).
    Failed {
        version: String,
        reason: String,
        took_ms: u64,
    },
    RolloutStarted {
        deployment: i64,
        #[serde(rename = "deployment_kind")]
        kind: DeploymentKind,
        version: String,
        image: String,
        instances: usize,
        concurrency: usize,
    },
    /// Where one instance is; `tenant` is set in the envelope.
    InstanceProgress {
        state: InstanceState,
        message: String,
    },
    RolloutFinished {
        deployment: i64,
        #[serde(rename = "deployment_kind")]
        kind: DeploymentKind,
        version: String,
        image: String,
        outcome: DeploymentOutcome,
        message: String,
        took_ms: u64,
        tenants: Vec<TenantOutcome>,
    },
    /// A wave of a rollout with `rollout.canary`/`batch` set begins (1-based `wave`).
    WaveStarted {
        wave: usize,
        waves: usize,
        canary: bool,
        tenants: Vec<String>,
    },
    /// `rollout.pause` before wave `wave` starts.
    WavePaused {
        wave: usize,
        pause_ms: u64,
    },
    /// A wave failed, so no later wave started; `policy` (`rollout.on_failure`) says what
    /// happened to the instances already switched.
    WavesStopped {
        /// `rollback` or `halt`.
        policy: String,
        /// The wave that failed (1-based).
        failed_wave: usize,
        waves: usize,
        /// Returned to the release they ran before.
        rolled_back_by_policy: Vec<String>,
        /// Switched and left on the new release (`halt`, or nothing to return to).
        kept_new_release: Vec<String>,
        /// Not attempted.
        untouched: Vec<String>,
    },
    /// Something of this app and environment runs that the config no longer names (a
    /// tenant removed from `hoist.toml`); `hoist retire` removes it.
    OrphanFound {
        tenant: String,
        /// The workload's name (container, service).
        name: String,
        host: String,
        release: Option<String>,
    },
    /// `hoist retire` stopped and removed a tenant's workloads; `error` says why it
    /// stopped before all were removed.
    Retired {
        tenant: String,
        release: Option<String>,
        workloads: Vec<String>,
        error: Option<String>,
    },
    /// A prune went over one engine (`hoist prune`, or after a deploy): the names of what
    /// it removed (with `dry_run`, would remove), how many of the app's items stay, the
    /// removed images' sizes (an upper bound of the bytes freed), and removals the engine
    /// refused.
    Pruned {
        engine: String,
        dry_run: bool,
        removed: Vec<String>,
        kept: usize,
        bytes: u64,
        failed: Vec<String>,
    },
    /// A notification could not be delivered.
    NotifyFailed {
        version: String,
        notifier: String,
        reason: String,
    },
    Warning {
        message: String,
    },
    /// A deploy waits for its time (`--at-next-window`, `--at`) without holding the lock.
    Scheduled {
        /// What waits: `deploy`, or `release <ref>`.
        command: String,
        /// When it will start: a timestamp, and the same time in the policy's zone.
        at: jiff::Timestamp,
        local: String,
    },
    /// A scheduled deploy was cancelled by a signal before its time.
    ScheduleCancelled {
        command: String,
        at: jiff::Timestamp,
        signal: String,
    },
}

/// One thing that happened, in one run of hoist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Schema version of this JSON form.
    pub v: u32,
    /// Identifies one command's run (one `hoist deploy`), so a stream can be followed.
    pub run: String,
    pub environment: Option<String>,
    pub tenant: Option<String>,
    /// RFC 3339, UTC.
    pub at: jiff::Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

type Deliver = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where events go, scoped to a run (and an environment and tenant once known). Cheap to
/// clone; safe to call from any task.
#[derive(Clone)]
pub struct EventSink {
    deliver: Deliver,
    run: Arc<str>,
    environment: Option<Arc<str>>,
    tenant: Option<Arc<str>>,
}

impl EventSink {
    /// A sink for a new run.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        EventSink {
            deliver: Arc::new(f),
            run: new_run_id().into(),
            environment: None,
            tenant: None,
        }
    }
    /// A sink that drops everything.
    pub fn discard() -> Self {
        EventSink::new(|_| {})
    }
    /// The same run, about `environment`.
    pub fn for_environment(&self, environment: &str) -> Self {
        EventSink {
            environment: Some(environment.into()),
            tenant: None,
            ..self.clone()
        }
    }
    /// The same run and environment, about `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> Self {
        EventSink {
            tenant: Some(tenant.into()),
            ..self.clone()
        }
    }
    /// The same run, environment and tenant, whose events also go to `also` (after
    /// where this sink delivers them): how the pipeline keeps each instance's steps.
    pub fn also(&self, also: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        let deliver = self.deliver.clone();
        EventSink {
            deliver: Arc::new(move |event| {
                deliver(event);
                also(event);
            }),
            ..self.clone()
        }
    }
    pub fn run(&self) -> &str {
        &self.run
    }
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }
    /// Wraps `kind` in this sink's envelope, stamped now.
    pub fn envelope(&self, kind: EventKind) -> Event {
        Event {
            v: SCHEMA_VERSION,
            run: self.run.to_string(),
            environment: self.environment.as_deref().map(str::to_string),
            tenant: self.tenant.as_deref().map(str::to_string),
            at: jiff::Timestamp::now(),
            kind,
        }
    }
    /// Delivers an event that is already wrapped.
    pub fn deliver(&self, event: &Event) {
        (self.deliver)(event);
    }
    pub fn emit(&self, kind: EventKind) {
        self.deliver(&self.envelope(kind));
    }
    pub fn warning(&self, message: impl Into<String>) {
        self.emit(EventKind::Warning {
            message: message.into(),
        });
    }
    pub fn instance(&self, tenant: &str, state: InstanceState, message: impl Into<String>) {
        self.for_tenant(tenant).emit(EventKind::InstanceProgress {
            state,
            message: message.into(),
        });
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").field("run", &self.run).finish()
    }
}

/// A run id: the time in ms and a random part, so ids sort by start and do not collide.
fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let ms = jiff::Timestamp::now().as_millisecond();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{ms:x}-{:08x}", h.finish() as u32)
}

/// A duration in milliseconds, for events and reports.
pub fn ms(d: std::time::Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
