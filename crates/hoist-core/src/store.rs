//! What hoist remembers: releases, deployments with one outcome and the steps of each
//! instance, an append-only audit log, and one lock per environment. `hoist-store`
//! implements it in SQLite, `hoist-store-pg` in PostgreSQL; the pipeline only sees this
//! trait.

use serde::{Deserialize, Serialize};

use crate::Release;

#[derive(Debug, thiserror::Error)]
#[error("state database: {message}")]
pub struct StoreError {
    pub message: String,
}

/// Why a deployment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Deploy,
    Rollback,
    /// A release verified in one environment, rolled out to another without building.
    Promote,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
            Self::Promote => "promote",
        }
    }

    /// The kind a store wrote with [`DeploymentKind::as_str`]; anything else reads as a
    /// deploy (the first kind there was).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "rollback" => Self::Rollback,
            "promote" => Self::Promote,
            _ => Self::Deploy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentOutcome {
    Running,
    Succeeded,
    Failed,
    /// The process running it died; found and closed by the next run.
    Interrupted,
}

impl DeploymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// The outcome a store wrote with [`DeploymentOutcome::as_str`]; anything else reads
    /// as interrupted (it did not end as recorded).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "running" => Self::Running,
            _ => Self::Interrupted,
        }
    }
}

/// One instance's part in a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceOutcome {
    pub tenant: String,
    pub container: String,
    /// Final [`crate::InstanceState`] label: `healthy`, `unchanged`, `rolled_back`,
    /// `rolled_back_by_policy`, ...
    pub outcome: String,
    pub message: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// The spec the instance runs after the deployment, when it took the release: a
    /// [`crate::spec_digest::SpecDigest`] in its label form (JSON, secrets only as
    /// digests). `None` otherwise, and for deployments recorded before schema version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
}

/// At most this many steps are kept of one instance in one deployment: the first ones and
/// the last, so that a flapping health check cannot fill the database and the final state
/// is always there.
pub const MAX_STEPS_PER_INSTANCE: usize = 200;
/// A step's message is cut to this many characters before it is kept.
pub const MAX_STEP_MESSAGE_CHARS: usize = 1000;

/// One state an instance reached during a deployment, and when: what the CLI printed of
/// its progress, its secrets masked ([`crate::task::redact`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStep {
    pub tenant: String,
    /// RFC 3339, as the event was stamped.
    pub at: String,
    /// The [`crate::InstanceState`] in its stored form (`starting`, `rolled_back`).
    pub state: String,
    pub message: String,
}

/// A deployment as stored, with its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: i64,
    pub app: String,
    pub environment: String,
    pub kind: DeploymentKind,
    pub version: String,
    pub image_id: String,
    pub actor: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub outcome: DeploymentOutcome,
    pub message: String,
    pub instances: Vec<InstanceOutcome>,
    /// The tenants of a deployment to some of the environment's instances (`hoist deploy
    /// --tenant/--tag`); empty for a deployment to all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subset: Vec<String>,
}

/// One line of the audit log: who did what, where, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub app: String,
    pub environment: Option<String>,
    /// e.g. `deploy.started`, `deploy.succeeded`, `lock.reclaimed`.
    pub action: String,
    pub version: Option<String>,
    pub detail: String,
}

/// Who holds (or wants) an environment's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub actor: String,
    pub hostname: String,
    pub pid: u32,
    /// Start time of the process (clock ticks since boot, from /proc), so that a reused pid
    /// is not mistaken for the holder.
    pub process_start: u64,
    pub acquired_at: String,
    pub deployment: Option<i64>,
    /// The state database the holder records its deployment in (its path), so a lock
    /// found on a target says which checkout or runner holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl LockHolder {
    /// The holder record for this process.
    pub fn this_process(actor: &str) -> LockHolder {
        let pid = std::process::id();
        LockHolder {
            actor: actor.to_string(),
            hostname: hostname(),
            pid,
            process_start: process_start(pid).unwrap_or(0),
            acquired_at: jiff::Timestamp::now().to_string(),
            deployment: None,
            state: None,
        }
    }

    /// Whether the holder certainly no longer runs: it was on this host and its process is
    /// gone (or the pid now belongs to a younger process). Holders on other hosts cannot be
    /// checked; their locks expire by heartbeat instead.
    pub fn is_dead_on_this_host(&self) -> bool {
        if self.hostname != hostname() {
            return false;
        }
        match process_start(self.pid) {
            None => true,
            Some(start) => self.process_start != 0 && start != self.process_start,
        }
    }
}

/// The outcome of trying to take a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    Acquired {
        /// A dead holder's lock that was taken over.
        reclaimed_from: Option<LockHolder>,
    },
    HeldBy(LockHolder),
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Field 22 of /proc/PID/stat; `None` if the process does not exist.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// History, audit and locks.
pub trait Store: Send + Sync {
    /// Records a release. A release with the same app and version is replaced (a dirty
    /// tree's version can be rebuilt; deployments keep the image they rolled out). Saving
    /// the same image (`image_id`) without a digest keeps the digest already recorded for
    /// it; saving a different image drops it.
    fn save_release(&self, release: &Release) -> Result<(), StoreError>;
    fn find_release(&self, app: &str, version: &str) -> Result<Option<Release>, StoreError>;
    fn releases(&self, app: &str) -> Result<Vec<Release>, StoreError>;
    /// Records when the commit a saved release was built from was committed (RFC 3339),
    /// or that it is not known (`None`). DORA's lead time counts from it, so metrics need
    /// no repository (a server's work directories are gone by then).
    fn set_commit_time(&self, app: &str, version: &str, at: Option<&str>)
    -> Result<(), StoreError>;
    /// The recorded commit times of `app`'s releases, by version.
    fn commit_times(
        &self,
        app: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError>;

    /// Records a running deployment of `record.image_id`; it also records the image's
    /// digest if the stored release of that version is that image and has one.
    fn begin_deployment(&self, record: &DeploymentRecord) -> Result<i64, StoreError>;
    fn record_instance(&self, deployment: i64, outcome: &InstanceOutcome)
    -> Result<(), StoreError>;
    fn finish_deployment(
        &self,
        deployment: i64,
        outcome: DeploymentOutcome,
        message: &str,
    ) -> Result<(), StoreError>;
    /// Appends steps of `deployment`'s instances, all or none: the pipeline writes one
    /// instance's at its end, capped and redacted (see [`InstanceStep`]).
    fn record_steps(&self, deployment: i64, steps: &[InstanceStep]) -> Result<(), StoreError>;
    /// The steps of `deployment`, in the order they were recorded: each instance's in the
    /// order they happened, instances in the order they ended.
    fn instance_steps(&self, deployment: i64) -> Result<Vec<InstanceStep>, StoreError>;
    /// Newest first.
    fn deployments(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StoreError>;
    /// One deployment of `app` by its id, with its instances; `None` if `app` has none
    /// with that id.
    fn deployment(&self, app: &str, id: i64) -> Result<Option<DeploymentRecord>, StoreError>;

    /// Releases that were successfully deployed to `environment`, newest deployment first,
    /// each once. The first is the environment's current release. Each carries the
    /// `image_id` and `digest` its deployment rolled out (`digest: None` if none was
    /// known, as for deployments recorded before digests were).
    fn deployed_releases(&self, app: &str, environment: &str) -> Result<Vec<Release>, StoreError>;

    /// Every deployment of `app` in every environment, any outcome, newest first, with
    /// the image (and digest) it rolled out: what `hoist prune` needs to know which
    /// environment an image belongs to and each environment's last successful releases.
    fn deployment_summaries(
        &self,
        app: &str,
    ) -> Result<Vec<crate::prune::DeploymentSummary>, StoreError>;

    /// Environments where a deployment of `version` to every instance succeeded (each one
    /// verified); a deployment to some tenants only (`--tenant`/`--tag`) does not count.
    fn verified_in(
        &self,
        app: &str,
        version: &str,
    ) -> Result<std::collections::BTreeSet<String>, StoreError>;

    fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    fn audit_log(
        &self,
        app: &str,
        environment: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Takes `environment`'s lock unless a live holder has it. A holder that is dead (see
    /// [`LockHolder::is_dead_on_this_host`]) or whose heartbeat is older than
    /// `stale_after` is replaced, and its running deployment is marked interrupted.
    fn try_lock(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
        stale_after: std::time::Duration,
    ) -> Result<LockAttempt, StoreError>;
    /// Refreshes the heartbeat and the deployment the lock covers.
    fn heartbeat(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
    ) -> Result<(), StoreError>;
    fn unlock(&self, app: &str, environment: &str, holder: &LockHolder) -> Result<(), StoreError>;
    /// Who holds `environment`'s lock now, if anyone, without touching it.
    fn lock_holder(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError>;
    /// Removes the lock whoever holds it (`hoist unlock --force`); returns the holder.
    fn force_unlock(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError>;

    /// Records one run of a release task ([`crate::task`]); its output is already redacted.
    fn record_task_run(&self, run: &crate::task::TaskRunRecord) -> Result<(), StoreError>;
    /// Whether `task` ever succeeded for `tenant` of `environment` with release `version`:
    /// a retried deploy does not run it again.
    fn task_succeeded(
        &self,
        app: &str,
        environment: &str,
        version: &str,
        tenant: &str,
        task: &str,
    ) -> Result<bool, StoreError>;
    /// The task runs of one deployment, in the order they were recorded.
    fn task_runs(&self, deployment: i64) -> Result<Vec<crate::task::TaskRunRecord>, StoreError>;

    /// Where this store keeps its state (a file path), as a lock holder names it.
    fn location(&self) -> Option<String> {
        None
    }
}
