//! The job queue of `hoist serve` in SQLite (schema step 4, table `jobs`).

use hoist_core::jobs::{Cancel, Enqueued, Job, JobRequest, JobState, JobStore, NewJob};
use hoist_core::store::StoreError;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::{SqliteStore, err};

const COLUMNS: &str = "id, app, request, environment, actor, source, state, created_at, started_at, finished_at, message";

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let request: String = row.get("request")?;
    let state: String = row.get("state")?;
    let bad = |what: String| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::<dyn std::error::Error + Send + Sync>::from(what),
        )
    };
    Ok(Job {
        id: row.get("id")?,
        app: row.get("app")?,
        request: serde_json::from_str::<JobRequest>(&request)
            .map_err(|e| bad(format!("job request {request:?}: {e}")))?,
        environment: row.get("environment")?,
        actor: row.get("actor")?,
        source: row.get("source")?,
        state: JobState::parse(&state).ok_or_else(|| bad(format!("job state {state:?}")))?,
        created_at: row.get("created_at")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        message: row.get("message")?,
    })
}

/// The queued or running release job of `app` that releases what `request` does, if any.
fn active_release(
    tx: &rusqlite::Transaction<'_>,
    app: &str,
    request: &JobRequest,
) -> Result<Option<i64>, StoreError> {
    if !matches!(request, JobRequest::Release { .. }) {
        return Ok(None);
    }
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE app = ?1 AND kind = 'release' AND state IN ('queued', 'running') ORDER BY id"
        ))
        .map_err(err)?;
    let active = stmt
        .query_map(params![app], job_from_row)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(active
        .into_iter()
        .find(|j| j.request.same_release(request))
        .map(|j| j.id))
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl JobStore for SqliteStore {
    fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some(key) = &job.dedupe_key {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE dedupe_key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if let Some(id) = existing {
                return Ok(Enqueued::Duplicate(id));
            }
        }
        let request = serde_json::to_string(&job.request).map_err(err)?;
        // A delivery of a release already queued or running is recorded as ended, joined to it.
        let into = active_release(&tx, &job.app, &job.request)?;
        let at = now();
        let (state, finished_at, message) = match into {
            Some(into) => (
                "cancelled",
                Some(at.as_str()),
                format!(
                    "a duplicate of job {into}, which releases the same ref at the same commit"
                ),
            ),
            None => ("queued", None, String::new()),
        };
        tx.execute(
            "INSERT INTO jobs (app, kind, request, environment, actor, source, dedupe_key, state, created_at, finished_at, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                job.app,
                job.request.kind(),
                request,
                job.request.environment(),
                job.actor,
                job.source,
                job.dedupe_key,
                state,
                at,
                finished_at,
                message
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(err)?;
        Ok(match into {
            Some(into) => Enqueued::Coalesced { id, into },
            None => Enqueued::New(id),
        })
    }

    fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                job_from_row,
            )
            .optional()
            .map_err(err)
    }

    fn jobs(&self, app: &str, limit: usize) -> Result<Vec<Job>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE app = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app, limit as i64], job_from_row)
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn claim_next(&self, app: &str, busy: &[String]) -> Result<Option<Job>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let queued = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE app = ?1 AND state = 'queued' ORDER BY id"
                ))
                .map_err(err)?;
            stmt.query_map(params![app], job_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?
        };
        let Some(mut job) = queued
            .into_iter()
            .find(|j| j.environment.as_ref().is_none_or(|env| !busy.contains(env)))
        else {
            return Ok(None);
        };
        let started = now();
        tx.execute(
            "UPDATE jobs SET state = 'running', started_at = ?2 WHERE id = ?1",
            params![job.id, started],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        job.state = JobState::Running;
        job.started_at = Some(started);
        Ok(Some(job))
    }

    fn finish_job(&self, id: i64, state: JobState, message: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE jobs SET state = ?2, message = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), message, now()],
            )
            .map_err(err)?;
        Ok(())
    }

    fn requeue(&self, id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = ?1 AND state = 'running'",
                params![id],
            )
            .map_err(err)?;
        Ok(())
    }

    fn cancel(&self, id: i64) -> Result<Cancel, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let state: Option<String> = tx
            .query_row("SELECT state FROM jobs WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let outcome = match state.as_deref().map(JobState::parse) {
            None => Cancel::NotFound,
            Some(Some(JobState::Queued)) => {
                tx.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?2, message = 'cancelled while queued' WHERE id = ?1",
                    params![id, now()],
                )
                .map_err(err)?;
                Cancel::Cancelled
            }
            Some(Some(other)) => Cancel::NotQueued(other),
            Some(None) => return Err(err(format!("job {id} has an unknown state"))),
        };
        tx.commit().map_err(err)?;
        Ok(outcome)
    }

    fn interrupt_running(&self, app: &str) -> Result<Vec<Job>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let running = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE app = ?1 AND state = 'running' ORDER BY id"
                ))
                .map_err(err)?;
            stmt.query_map(params![app], job_from_row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?
        };
        tx.execute(
            "UPDATE jobs SET state = 'interrupted', finished_at = ?2,
                 message = 'the server stopped while this job ran; the environment is recovered by its next deploy'
             WHERE app = ?1 AND state = 'running'",
            params![app, now()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(running)
    }
}
