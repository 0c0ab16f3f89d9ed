//! The read-only pages: an environment's history, one deployment (each instance's steps,
//! outcome and timings, the run's log tail), the audit log and the job list.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hoist_core::jobs::JobState;
use hoist_core::store::{DeploymentOutcome, DeploymentRecord, InstanceStep};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::render::{page, plain, store_failed};
use super::session::viewer;
use crate::http::{Shared, cancel_need};
use crate::live::Step;

/// Rows a list page shows.
const LIST: usize = 200;

#[derive(Deserialize)]
pub(crate) struct Filter {
    environment: Option<String>,
}

pub(crate) async fn history(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(environment): Path<String>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !shared.environments.contains(&environment) {
        return plain(
            StatusCode::NOT_FOUND,
            &format!(
                "no environment `{environment}`; defined: {}",
                shared.environments.join(", ")
            ),
        );
    }
    let deployments = match shared.store.deployments(&shared.app, &environment, LIST) {
        Ok(d) => d,
        Err(e) => return store_failed(e),
    };
    page(
        &shared,
        Some(&viewer),
        "history.html",
        context! { environment => environment, deployments => deployments },
    )
}

/// One instance's row on a deployment's page.
#[derive(Serialize)]
struct InstanceRow {
    tenant: String,
    container: String,
    /// The recorded outcome; `None` while it is still rolling out.
    outcome: Option<String>,
    message: String,
    started_at: Option<String>,
    duration_ms: Option<u64>,
    /// The states it went through: as this server saw them, or as the store kept them.
    steps: Vec<Step>,
}

fn instance_rows(record: &DeploymentRecord, steps: Vec<(String, Vec<Step>)>) -> Vec<InstanceRow> {
    let mut rows: Vec<InstanceRow> = record
        .instances
        .iter()
        .map(|i| InstanceRow {
            tenant: i.tenant.clone(),
            container: i.container.clone(),
            outcome: Some(i.outcome.clone()),
            message: i.message.clone(),
            started_at: Some(i.started_at.clone()),
            duration_ms: Some(i.duration_ms),
            steps: Vec::new(),
        })
        .collect();
    for (tenant, steps) in steps {
        match rows.iter_mut().find(|r| r.tenant == tenant) {
            Some(row) => row.steps = steps,
            // Not recorded yet: it is rolling out now.
            None => rows.push(InstanceRow {
                message: steps.last().map(|s| s.message.clone()).unwrap_or_default(),
                tenant,
                container: String::new(),
                outcome: None,
                started_at: steps.first().map(|s| s.at.clone()),
                duration_ms: None,
                steps,
            }),
        }
    }
    rows
}

/// Stored steps grouped by tenant, each tenant where its first step is.
fn by_tenant(steps: Vec<InstanceStep>) -> Vec<(String, Vec<Step>)> {
    let mut grouped: Vec<(String, Vec<Step>)> = Vec::new();
    for s in steps {
        let step = Step {
            at: s.at,
            // The stored form (`rolled_back`) as the hub labels it (`rolled back`).
            state: s.state.replace('_', " "),
            message: s.message,
        };
        match grouped.iter_mut().find(|(tenant, _)| *tenant == s.tenant) {
            Some((_, steps)) => steps.push(step),
            None => grouped.push((s.tenant, vec![step])),
        }
    }
    grouped
}

pub(crate) async fn deployment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let found = match shared.store.deployment(&shared.app, id) {
        Ok(found) => found,
        Err(e) => return store_failed(e),
    };
    let Some(record) = found else {
        return plain(StatusCode::NOT_FOUND, &format!("no deployment {id}"));
    };
    // The hub sees a deployment of this server's as it happens; anything else (the CLI's,
    // one from before a restart) has the steps the store kept.
    let (steps, tail) = match shared.hub.journal(id) {
        Some(journal) => (journal.steps, journal.tail),
        None => match shared.store.instance_steps(id) {
            Ok(steps) => (by_tenant(steps), Default::default()),
            Err(e) => return store_failed(e),
        },
    };
    let tasks = match shared.store.task_runs(id) {
        Ok(t) => t,
        Err(e) => return store_failed(e),
    };
    let running = record.outcome == DeploymentOutcome::Running;
    let instances = instance_rows(&record, steps);
    page(
        &shared,
        Some(&viewer),
        "deployment.html",
        context! {
            d => record,
            running => running,
            instances => instances,
            tail => tail,
            tasks => tasks,
        },
    )
}

pub(crate) async fn audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let environment = filter.environment.filter(|e| !e.is_empty());
    match shared
        .store
        .audit_log(&shared.app, environment.as_deref(), LIST)
    {
        Ok(entries) => page(
            &shared,
            Some(&viewer),
            "audit.html",
            context! { entries => entries, filter => environment },
        ),
        Err(e) => store_failed(e),
    }
}

#[derive(Serialize)]
struct JobRow {
    #[serde(flatten)]
    job: hoist_core::jobs::Job,
    kind: &'static str,
    /// What it asks for, in words.
    what: String,
    may_cancel: bool,
}

pub(crate) async fn jobs(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let jobs = match shared.store.jobs(&shared.app, LIST) {
        Ok(j) => j,
        Err(e) => return store_failed(e),
    };
    let rows: Vec<JobRow> = jobs
        .into_iter()
        .map(|job| JobRow {
            kind: job.request.kind(),
            what: describe(&job.request),
            may_cancel: job.state == JobState::Queued && viewer.may(&cancel_need(&job)),
            job,
        })
        .collect();
    page(
        &shared,
        Some(&viewer),
        "jobs.html",
        context! { jobs => rows },
    )
}

fn describe(request: &hoist_core::jobs::JobRequest) -> String {
    use hoist_core::jobs::JobRequest as R;
    let or_newest = |v: &Option<String>| v.clone().unwrap_or_else(|| "the newest release".into());
    match request {
        R::Release {
            git_ref, commit, ..
        } => format!(
            "release {git_ref} at {}",
            commit.chars().take(12).collect::<String>()
        ),
        R::Deploy {
            environment,
            version,
        } => format!("deploy {} to {environment}", or_newest(version)),
        R::Rollback { environment, to } => match to {
            Some(v) => format!("roll {environment} back to {v}"),
            None => format!("roll {environment} back to its previous release"),
        },
        R::Promote { from, to, version } => {
            format!("promote {} from {from} to {to}", or_newest(version))
        }
    }
}
