//! Release tasks before an instance switches ([`crate::task`]): each configured task runs
//! once per tenant with the new release's image, in the order written. A task that already
//! succeeded for this release and tenant is skipped unless forced (`--force-tasks`); a task
//! that fails, times out or cannot run stops the tenant before anything changed, so it keeps
//! its previous release and counts as a failed instance.

use std::time::Instant;

use super::{Deployer, millis};
use crate::InstanceSpec;
use crate::events::InstanceState;
use crate::runtime::{InstanceFailure, Rollout, Runtime};
use crate::task::{TaskOutcome, TaskRunRecord, TaskSpec, redact, tail};
use crate::{Release, StopSignal};

impl Deployer {
    /// Runs `spec`'s environment's release tasks for `release`; an error means the
    /// instance must not switch.
    pub(super) async fn run_release_tasks(
        &self,
        runtime: &dyn Runtime,
        spec: &InstanceSpec,
        release: &Release,
        deployment: i64,
        rollout: &Rollout<'_>,
    ) -> Result<(), InstanceFailure> {
        let tasks = self
            .environment(&spec.environment)
            .map_err(|e| InstanceFailure::failed(e.to_string()))?
            .tasks
            .clone();
        let stays = |what: String| {
            InstanceFailure::failed(format!(
                "{what}; {} stays on its previous release",
                spec.tenant
            ))
        };
        for task in tasks {
            let name = &task.name;
            if !self.force_tasks
                && self
                    .store
                    .task_succeeded(
                        self.app_name(),
                        &spec.environment,
                        &release.version,
                        &spec.tenant,
                        name,
                    )
                    .map_err(|e| stays(format!("cannot tell whether task {name} ran: {e}")))?
            {
                rollout.progress(
                    InstanceState::Starting,
                    format!(
                        "task {name}: already succeeded for {}, not run again (--force-tasks runs it)",
                        release.version
                    ),
                );
                continue;
            }
            if let Some(signal) = rollout.interrupted() {
                return Err(not_attempted(signal));
            }
            rollout.progress(
                InstanceState::Starting,
                format!("task {name}: running `{}`", task.command.join(" ")),
            );
            let started = Instant::now();
            let started_at = jiff::Timestamp::now().to_string();
            let run = runtime
                .run_task(
                    spec,
                    release,
                    &TaskSpec {
                        name: name.clone(),
                        command: task.command.clone(),
                        timeout: task.timeout,
                    },
                )
                .await
                .map_err(|e| {
                    stays(format!("task {name} could not run: {}", e.message))
                        .with_log(redact(spec, &e.log_tail))
                })?;
            let output = tail(redact(spec, &run.output));
            let outcome = run.outcome();
            let record = TaskRunRecord {
                deployment,
                app: self.app_name().to_string(),
                environment: spec.environment.clone(),
                version: release.version.clone(),
                tenant: spec.tenant.clone(),
                task: name.clone(),
                outcome,
                exit_code: run.exit_code,
                started_at,
                duration_ms: millis(started.elapsed()),
                output: output.clone(),
            };
            if let Err(e) = self.store.record_task_run(&record) {
                rollout.warn(format!("recording task {name}: {e}"));
            }
            let took = format!("{:.1}s", started.elapsed().as_secs_f64());
            match outcome {
                TaskOutcome::Succeeded => rollout.progress(
                    InstanceState::Starting,
                    format!("task {name}: succeeded in {took}"),
                ),
                TaskOutcome::Failed => {
                    let code = run
                        .exit_code
                        .map_or_else(|| "no exit code".to_string(), |c| format!("exit {c}"));
                    return Err(
                        stays(format!("task {name} failed ({code}) after {took}")).with_log(output)
                    );
                }
                TaskOutcome::TimedOut => {
                    return Err(stays(format!(
                        "task {name} did not finish within its timeout of {}s and was stopped",
                        task.timeout.as_secs()
                    ))
                    .with_log(output));
                }
            }
        }
        Ok(())
    }
}

fn not_attempted(signal: StopSignal) -> InstanceFailure {
    InstanceFailure {
        state: InstanceState::Skipped,
        message: format!("not attempted: stopped by {}", signal.name()),
        log_tail: Vec::new(),
    }
}
