//! The job queue `hoist serve` works from: a verified push or an API call becomes a job,
//! a worker claims it, runs the pipeline and records how it ended. Jobs live in the store,
//! so a restart of the server loses none: a queued job is still queued, and a job that was
//! running when the server died is marked interrupted (its environment's lock is
//! reclaimed by the next deploy, as after any crash).
//!
//! `hoist-store` implements [`JobStore`] in SQLite; a PostgreSQL store implements the same
//! trait.

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Cancelled while queued, or a duplicate of a release already queued or running
    /// (see [`Enqueued::Coalesced`]); it never ran.
    Cancelled,
    /// The server stopped (or died) while it ran.
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        Some(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "interrupted" => Self::Interrupted,
            _ => return None,
        })
    }

    /// Whether the job has ended (it will not change any more).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// What a job does: the same operations as the CLI's commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobRequest {
    /// `hoist release --ref REF` on the repository fetched at `commit`.
    Release {
        git_ref: String,
        /// The commit the pushed ref must point at (40 hex).
        commit: String,
        /// Where to fetch the repository from.
        clone_url: String,
    },
    /// `hoist deploy ENV [--version V]` from the server's checkout.
    Deploy {
        environment: String,
        version: Option<String>,
    },
    /// `hoist rollback ENV [--to V]`.
    Rollback {
        environment: String,
        to: Option<String>,
    },
    /// `hoist promote FROM TO [--version V]`.
    Promote {
        from: String,
        to: String,
        version: Option<String>,
    },
}

impl JobRequest {
    /// Whether two requests release the same ref at the same commit (wherever fetched).
    pub fn same_release(&self, other: &JobRequest) -> bool {
        match (self, other) {
            (
                JobRequest::Release {
                    git_ref: a,
                    commit: c,
                    ..
                },
                JobRequest::Release {
                    git_ref: b,
                    commit: d,
                    ..
                },
            ) => a == b && c == d,
            _ => false,
        }
    }

    /// The environment the job changes, when known before it runs (a release is routed by
    /// the rules of the commit it fetches).
    pub fn environment(&self) -> Option<&str> {
        match self {
            JobRequest::Release { .. } => None,
            JobRequest::Deploy { environment, .. } | JobRequest::Rollback { environment, .. } => {
                Some(environment)
            }
            JobRequest::Promote { to, .. } => Some(to),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            JobRequest::Release { .. } => "release",
            JobRequest::Deploy { .. } => "deploy",
            JobRequest::Rollback { .. } => "rollback",
            JobRequest::Promote { .. } => "promote",
        }
    }
}

/// A job to add to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub app: String,
    pub request: JobRequest,
    /// Who the pipeline runs as: the pusher of a webhook, the owner of an API token.
    pub actor: String,
    /// Where it came from: `webhook:github`, `token:ci`, ...
    pub source: String,
    /// A key that may be queued once only (`github:<delivery id>`): a replayed delivery
    /// finds the job it made before, even after a restart.
    pub dedupe_key: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub app: String,
    pub request: JobRequest,
    pub environment: Option<String>,
    pub actor: String,
    pub source: String,
    pub state: JobState,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// How it ended, for people (empty while queued or running).
    pub message: String,
}

/// The result of [`JobStore::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(i64),
    /// A job with the same dedupe key exists: this one.
    Duplicate(i64),
    /// A release of the same ref at the same commit is already queued or running (job
    /// `into`): this one was recorded as job `id`, already `cancelled`, and runs nothing.
    /// N deliveries of one push (two hooks on one repository, a mirror) make one release.
    Coalesced {
        id: i64,
        into: i64,
    },
}

/// The result of [`JobStore::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    Cancelled,
    NotFound,
    /// Only a queued job can be cancelled; this one is in this state.
    NotQueued(JobState),
}

/// The queue, persisted.
pub trait JobStore: Send + Sync {
    /// Queues `job`, atomically: a job whose `dedupe_key` is known is
    /// [`Enqueued::Duplicate`]; a release whose ref and commit equal those of a release job
    /// still queued or running is recorded already cancelled and [`Enqueued::Coalesced`]
    /// into it. Once that job has ended, the same ref and commit queue a new release.
    fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError>;
    fn job(&self, id: i64) -> Result<Option<Job>, StoreError>;
    /// Newest first.
    fn jobs(&self, app: &str, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// Marks the oldest queued job of `app` whose environment is not in `busy` running and
    /// returns it, atomically (two workers never claim the same job).
    fn claim_next(&self, app: &str, busy: &[String]) -> Result<Option<Job>, StoreError>;
    /// Records how a running job ended.
    fn finish_job(&self, id: i64, state: JobState, message: &str) -> Result<(), StoreError>;
    /// Puts a running job back in the queue (a server stopping before it could start
    /// changing anything).
    fn requeue(&self, id: i64) -> Result<(), StoreError>;
    fn cancel(&self, id: i64) -> Result<Cancel, StoreError>;
    /// Marks every job of `app` still running as interrupted and returns them: called when
    /// a server starts, since the only server that could have run them is gone.
    fn interrupt_running(&self, app: &str) -> Result<Vec<Job>, StoreError>;
}
