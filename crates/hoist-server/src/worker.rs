//! The worker loop: claims queued jobs from the store, at most `workers` at once and never
//! two for the same environment, runs them, records how they ended.
//!
//! On stop it claims nothing more and waits for the running jobs, up to a grace period;
//! then it interrupts them (each restores its instances as a SIGTERM'd CLI deploy does)
//! and hands them back to the queue, so the next start runs them again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::jobs::{Job, JobState};
use hoist_core::store::AuditEntry;
use hoist_core::{Interrupt, StopSignal};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::run::{Ended, Runner};
use crate::store::ServerStore;

/// How often the loop looks at the queue without being woken (jobs queued by another
/// process sharing the store).
const POLL: Duration = Duration::from_secs(2);

pub struct Worker {
    pub store: Arc<dyn ServerStore>,
    pub app: String,
    pub runner: Runner,
    pub workers: usize,
    /// Notified when a job is queued.
    pub wake: Arc<Notify>,
    pub grace: Duration,
}

struct Running {
    environment: Option<String>,
    interrupt: Interrupt,
}

impl Worker {
    /// Runs until `stop` turns true, then drains as the module says.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tasks: JoinSet<(Job, Ended)> = JoinSet::new();
        let mut running: HashMap<i64, Running> = HashMap::new();
        // Which job each task runs, to record a job whose task panicked.
        let mut by_task: HashMap<tokio::task::Id, i64> = HashMap::new();
        loop {
            if *stop.borrow() {
                break;
            }
            if running.len() < self.workers {
                let busy: Vec<String> = running
                    .values()
                    .filter_map(|r| r.environment.clone())
                    .collect();
                match self.store.claim_next(&self.app, &busy) {
                    Ok(Some(job)) => {
                        let id = job.id;
                        let task = self.start(job, &mut tasks, &mut running);
                        by_task.insert(task, id);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "cannot read the job queue"),
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    self.ended(done, &mut running, &mut by_task, false);
                }
                _ = stop.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        if !tasks.is_empty() {
            tracing::info!(
                jobs = tasks.len(),
                grace = ?self.grace,
                "stopping: waiting for running jobs"
            );
        }
        let deadline = tokio::time::sleep(self.grace);
        tokio::pin!(deadline);
        let mut interrupted = false;
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next() => {
                    self.ended(done, &mut running, &mut by_task, interrupted);
                }
                _ = &mut deadline, if !interrupted => {
                    tracing::warn!("grace period over: interrupting running jobs");
                    for r in running.values() {
                        r.interrupt.request(StopSignal::Terminate);
                    }
                    interrupted = true;
                }
            }
        }
    }

    fn start(
        &self,
        job: Job,
        tasks: &mut JoinSet<(Job, Ended)>,
        running: &mut HashMap<i64, Running>,
    ) -> tokio::task::Id {
        tracing::info!(
            job = job.id,
            kind = job.request.kind(),
            actor = %job.actor,
            source = %job.source,
            "job started"
        );
        let interrupt = Interrupt::default();
        running.insert(
            job.id,
            Running {
                environment: job.environment.clone(),
                interrupt: interrupt.clone(),
            },
        );
        let runner = self.runner.clone();
        let handle = tokio::runtime::Handle::current();
        // The pipeline's futures are not `Send` (a borrow across an await in the rollout
        // defeats the compiler's proof), so a job runs on a blocking thread of its own,
        // driving its future on this runtime.
        tasks
            .spawn_blocking(move || {
                let ended = handle.block_on(runner.run(&job, interrupt));
                (job, ended)
            })
            .id()
    }

    fn ended(
        &self,
        done: Result<(Job, Ended), tokio::task::JoinError>,
        running: &mut HashMap<i64, Running>,
        by_task: &mut HashMap<tokio::task::Id, i64>,
        stopping: bool,
    ) {
        let (job, ended) = match done {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "a job's task failed");
                if let Some(id) = by_task.remove(&e.id()) {
                    running.remove(&id);
                    let _ = self.store.finish_job(
                        id,
                        JobState::Failed,
                        &format!("the job's task failed: {e}"),
                    );
                }
                return;
            }
        };
        by_task.retain(|_, id| *id != job.id);
        running.remove(&job.id);
        if ended.refused {
            self.audit(&job, "webhook.refused", &ended.message);
        }
        let result = if stopping && ended.state == JobState::Interrupted {
            tracing::info!(
                job = job.id,
                "job interrupted by the stop: handed back to the queue"
            );
            self.audit(
                &job,
                "job.requeued",
                "the server stopped while it ran; it runs again at the next start",
            );
            self.store.requeue(job.id)
        } else {
            tracing::info!(job = job.id, state = ended.state.as_str(), message = %ended.message, "job ended");
            self.store.finish_job(job.id, ended.state, &ended.message)
        };
        if let Err(e) = result {
            tracing::error!(job = job.id, error = %e, "cannot record how the job ended");
        }
    }

    fn audit(&self, job: &Job, action: &str, detail: &str) {
        let entry = AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            actor: job.actor.clone(),
            app: self.app.clone(),
            environment: job.environment.clone(),
            action: action.to_string(),
            version: None,
            detail: format!("job {} ({}): {detail}", job.id, job.source),
        };
        if let Err(e) = self.store.append_audit(&entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}
