//! Release task runs in `hoist history`: which task ran for which tenant in each
//! deployment, how it ended, and the output tail of those that failed.

use hoist_core::Store;
use hoist_core::store::DeploymentRecord;
use hoist_core::task::{TaskOutcome, TaskRunRecord};

use crate::context::Setup;

/// The task runs of `deployments`, in deployment order (newest first) and run order.
pub fn of(
    store: &dyn Store,
    deployments: &[DeploymentRecord],
) -> Result<Vec<TaskRunRecord>, Setup> {
    let mut runs = Vec::new();
    for d in deployments {
        runs.extend(store.task_runs(d.id).map_err(super::history::failed)?);
    }
    Ok(runs)
}

/// `release tasks:` then one line per run; a failed run's output tail under it.
pub fn print(runs: &[TaskRunRecord]) {
    if runs.is_empty() {
        return;
    }
    println!("release tasks:");
    for r in runs {
        let ended = match (r.outcome, r.exit_code) {
            (TaskOutcome::Succeeded, _) => "succeeded".to_string(),
            (TaskOutcome::TimedOut, _) => "timed out".to_string(),
            (TaskOutcome::Failed, Some(code)) => format!("failed (exit {code})"),
            (TaskOutcome::Failed, None) => "failed".to_string(),
        };
        println!(
            "  #{} {} {} {}: {ended} in {:.1}s",
            r.deployment,
            r.version,
            r.tenant,
            r.task,
            r.duration_ms as f64 / 1000.0
        );
        if r.outcome != TaskOutcome::Succeeded {
            for line in &r.output {
                println!("    | {line}");
            }
        }
    }
}
