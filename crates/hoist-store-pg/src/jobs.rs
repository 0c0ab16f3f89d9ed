//! The job queue of `hoist serve` (schema step 4, table `jobs`). Claiming runs under an
//! advisory lock per app, so two servers sharing the database never start the same job.

use hoist_core::jobs::{Cancel, Enqueued, Job, JobRequest, JobState, JobStore, NewJob};
use hoist_core::store::StoreError;
use postgres::Row;

use crate::{Fail, PgStore};

const COLUMNS: &str = "id, app, request, environment, actor, source, state, created_at, started_at, finished_at, message";

fn job_from_row(row: &Row) -> Result<Job, Fail> {
    let request: &str = row.try_get("request")?;
    let state: &str = row.try_get("state")?;
    Ok(Job {
        id: row.try_get("id")?,
        app: row.try_get("app")?,
        request: serde_json::from_str::<JobRequest>(request)
            .map_err(|e| Fail(format!("job request {request:?}: {e}")))?,
        environment: row.try_get("environment")?,
        actor: row.try_get("actor")?,
        source: row.try_get("source")?,
        state: JobState::parse(state).ok_or_else(|| Fail(format!("job state {state:?}")))?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        message: row.try_get("message")?,
    })
}

/// The queued or running release job of `app` that releases what `request` does, if any.
fn active_release(
    tx: &mut postgres::Transaction<'_>,
    app: &str,
    request: &JobRequest,
) -> Result<Option<i64>, Fail> {
    if !matches!(request, JobRequest::Release { .. }) {
        return Ok(None);
    }
    let rows = tx.query(
        &format!(
            "SELECT {COLUMNS} FROM jobs WHERE app = $1 AND kind = 'release' AND state IN ('queued', 'running') ORDER BY id"
        ),
        &[&app],
    )?;
    for row in &rows {
        let job = job_from_row(row)?;
        if job.request.same_release(request) {
            return Ok(Some(job.id));
        }
    }
    Ok(None)
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl JobStore for PgStore {
    fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        self.call(|c| {
            let request = serde_json::to_string(&job.request)?;
            // Enqueues of one app are serialised (as claims are), so two deliveries of
            // one push cannot both find no active release and both queue one.
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('hoist.jobs'), hashtext($1))",
                &[&job.app],
            )?;
            if let Some(key) = &job.dedupe_key
                && let Some(row) =
                    tx.query_opt("SELECT id FROM jobs WHERE dedupe_key = $1", &[key])?
            {
                return Ok(Enqueued::Duplicate(row.try_get(0)?));
            }
            // A delivery of a release already queued or running is recorded as ended, joined to it.
            let into = active_release(&mut tx, &job.app, &job.request)?;
            let at = now();
            let (state, finished_at, message) = match into {
                Some(into) => (
                    "cancelled",
                    Some(at.as_str()),
                    format!("a duplicate of job {into}, which releases the same ref at the same commit"),
                ),
                None => ("queued", None, String::new()),
            };
            let row = tx.query_one(
                "INSERT INTO jobs (app, kind, request, environment, actor, source, dedupe_key, state, created_at, finished_at, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                &[&job.app, &job.request.kind(), &request, &job.request.environment(), &job.actor,
                  &job.source, &job.dedupe_key, &state, &at, &finished_at, &message],
            )?;
            let id: i64 = row.try_get(0)?;
            tx.commit()?;
            Ok(match into {
                Some(into) => Enqueued::Coalesced { id, into },
                None => Enqueued::New(id),
            })
        })
    }

    fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        self.call(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])?
                .map(|row| job_from_row(&row))
                .transpose()
        })
    }

    fn jobs(&self, app: &str, limit: usize) -> Result<Vec<Job>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM jobs WHERE app = $1 ORDER BY id DESC LIMIT $2"),
                &[&app, &limit],
            )?
            .iter()
            .map(job_from_row)
            .collect()
        })
    }

    fn claim_next(&self, app: &str, busy: &[String]) -> Result<Option<Job>, StoreError> {
        self.call(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('hoist.jobs'), hashtext($1))",
                &[&app],
            )?;
            let queued = tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM jobs WHERE app = $1 AND state = 'queued' ORDER BY id"
                ),
                &[&app],
            )?;
            let mut next = None;
            for row in &queued {
                let job = job_from_row(row)?;
                if job
                    .environment
                    .as_ref()
                    .is_none_or(|env| !busy.contains(env))
                {
                    next = Some(job);
                    break;
                }
            }
            let Some(mut job) = next else {
                return Ok(None);
            };
            let started = now();
            tx.execute(
                "UPDATE jobs SET state = 'running', started_at = $2 WHERE id = $1",
                &[&job.id, &started],
            )?;
            tx.commit()?;
            job.state = JobState::Running;
            job.started_at = Some(started);
            Ok(Some(job))
        })
    }

    fn finish_job(&self, id: i64, state: JobState, message: &str) -> Result<(), StoreError> {
        self.call(|c| {
            c.execute(
                "UPDATE jobs SET state = $2, message = $3, finished_at = $4 WHERE id = $1",
                &[&id, &state.as_str(), &message, &now()],
            )?;
            Ok(())
        })
    }

    fn requeue(&self, id: i64) -> Result<(), StoreError> {
        self.call(|c| {
            c.execute(
                "UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = $1 AND state = 'running'",
                &[&id],
            )?;
            Ok(())
        })
    }

    fn cancel(&self, id: i64) -> Result<Cancel, StoreError> {
        self.call(|c| {
            let mut tx = c.transaction()?;
            let state: Option<String> = tx
                .query_opt("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", &[&id])?
                .map(|row| row.try_get(0))
                .transpose()?;
            let outcome = match state.as_deref().map(JobState::parse) {
                None => Cancel::NotFound,
                Some(Some(JobState::Queued)) => {
                    tx.execute(
                        "UPDATE jobs SET state = 'cancelled', finished_at = $2, message = 'cancelled while queued' WHERE id = $1",
                        &[&id, &now()],
                    )?;
                    Cancel::Cancelled
                }
                Some(Some(other)) => Cancel::NotQueued(other),
                Some(None) => return Err(Fail(format!("job {id} has an unknown state"))),
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn interrupt_running(&self, app: &str) -> Result<Vec<Job>, StoreError> {
        self.call(|c| {
            let mut tx = c.transaction()?;
            let running = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs WHERE app = $1 AND state = 'running' ORDER BY id FOR UPDATE"
                    ),
                    &[&app],
                )?
                .iter()
                .map(job_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            tx.execute(
                "UPDATE jobs SET state = 'interrupted', finished_at = $2,
                     message = 'the server stopped while this job ran; the environment is recovered by its next deploy'
                 WHERE app = $1 AND state = 'running'",
                &[&app, &now()],
            )?;
            tx.commit()?;
            Ok(running)
        })
    }
}
