//! `hoist jobs` and `hoist job cancel`: the job queue of `hoist serve`, read and changed in
//! the state database directly (the same store the server works from), so a queued job
//! can be looked at or stopped without a token or a running server.

use hoist_core::jobs::{Cancel, Job, JobState};

use super::print_json;
use crate::cli::{Global, JobAction, JobStateArg};
use crate::context::{Setup, load_config};
use crate::exit;

/// Jobs read before filtering by state: far more than a queue holds.
const READ_LIMIT: usize = 100_000;

fn failed(e: hoist_core::StoreError) -> Setup {
    Setup::new(exit::FAILED, format!("error: {e}"))
}

fn open(
    global: &Global,
) -> Result<(String, std::sync::Arc<dyn hoist_server::store::ServerStore>), Setup> {
    let config = load_config(global)?;
    let state = global
        .state
        .clone()
        .unwrap_or_else(|| config.state_path.clone());
    let store = hoist_server::store::open(&state).map_err(failed)?;
    Ok((config.app.name.clone(), store))
}

/// `hoist jobs [--only STATE]... [--limit N] [--json]`: newest first.
pub fn list(global: &Global, only: &[JobStateArg], limit: usize, json: bool) -> Result<u8, Setup> {
    let (app, store) = open(global)?;
    let wanted: Vec<JobState> = only.iter().map(|s| s.state()).collect();
    let jobs: Vec<Job> = store
        .jobs(&app, READ_LIMIT)
        .map_err(failed)?
        .into_iter()
        .filter(|j| wanted.is_empty() || wanted.contains(&j.state))
        .take(limit)
        .collect();
    if json {
        print_json(&jobs)?;
        return Ok(exit::OK);
    }
    if jobs.is_empty() {
        println!("no jobs");
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = jobs.iter().map(row).collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "ID", "STATE", "KIND", "WHAT", "ACTOR", "SOURCE", "CREATED", "MESSAGE"
            ],
            &rows
        )
    );
    Ok(exit::OK)
}

fn row(j: &Job) -> Vec<String> {
    use hoist_core::jobs::JobRequest as R;
    let what = match &j.request {
        R::Release {
            git_ref, commit, ..
        } => format!(
            "{git_ref} @ {}",
            commit.chars().take(12).collect::<String>()
        ),
        R::Deploy {
            environment,
            version,
        } => format!("{environment} {}", version.as_deref().unwrap_or("(newest)")),
        R::Rollback { environment, to } => {
            format!("{environment} to {}", to.as_deref().unwrap_or("(previous)"))
        }
        R::Promote { from, to, version } => format!(
            "{from} -> {to} {}",
            version.as_deref().unwrap_or("(current)")
        ),
    };
    vec![
        j.id.to_string(),
        j.state.as_str().to_string(),
        j.request.kind().to_string(),
        what,
        j.actor.clone(),
        j.source.clone(),
        j.created_at
            .chars()
            .take(19)
            .collect::<String>()
            .replace('T', " "),
        j.message.lines().next().unwrap_or_default().to_string(),
    ]
}

pub fn job(global: &Global, action: JobAction) -> Result<u8, Setup> {
    match action {
        JobAction::Cancel { id } => cancel(global, id),
    }
}

/// Cancels a queued job; any other state is refused with what the job is doing (a running
/// job is a deploy under way: stopping it is the server's business, by its shutdown).
fn cancel(global: &Global, id: i64) -> Result<u8, Setup> {
    let (app, store) = open(global)?;
    let job = match store.job(id).map_err(failed)? {
        Some(j) if j.app == app => j,
        _ => {
            return Err(Setup::new(
                exit::BAD_INPUT,
                format!("error: no job {id} (see `hoist jobs`)"),
            ));
        }
    };
    match store.cancel(id).map_err(failed)? {
        Cancel::Cancelled => {
            let actor = hoist_core::pipeline::resolve_actor(global.actor.as_deref());
            let entry = hoist_core::store::AuditEntry {
                at: jiff::Timestamp::now().to_string(),
                actor: actor.clone(),
                app,
                environment: job.environment.clone(),
                action: "job.cancelled".into(),
                version: None,
                detail: format!(
                    "job {id} ({}) cancelled from the command line",
                    job.request.kind()
                ),
            };
            if let Err(e) = store.append_audit(&entry) {
                eprintln!("warning: cannot write the audit log: {e}");
            }
            println!("job {id} cancelled");
            Ok(exit::OK)
        }
        Cancel::NotFound => Err(Setup::new(
            exit::BAD_INPUT,
            format!("error: no job {id} (see `hoist jobs`)"),
        )),
        Cancel::NotQueued(JobState::Running) => Err(Setup::new(
            exit::FAILED,
            format!(
                "error: job {id} is running: a running job cannot be cancelled (it is changing instances; \
                 stopping `hoist serve` interrupts it, restores the instances and queues it again)"
            ),
        )),
        Cancel::NotQueued(state) => Err(Setup::new(
            exit::FAILED,
            format!(
                "error: job {id} is {}: only a queued job can be cancelled",
                state.as_str()
            ),
        )),
    }
}
