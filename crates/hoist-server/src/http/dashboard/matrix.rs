//! The landing page: tenants by environment, each cell the release the instance runs (as
//! the store's deployments last left it), how its last deployment ended for it, and its
//! drift from the environment's newest release.
//!
//! What runs is worked out from the recorded outcomes, oldest deployment first: an
//! instance that ended `healthy` or `unchanged` runs the deployment's release; one that
//! failed, was rolled back or was skipped still runs what it ran before. The page does
//! not probe the instances (`hoist status` does): it shows what hoist recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use hoist_core::store::{DeploymentOutcome, DeploymentRecord};
use hoist_core::tokens::Need;
use serde::Serialize;

use super::render::{page, store_failed};
use super::session::viewer;
use crate::http::Shared;

/// Deployments read per environment to find what each instance runs.
const HISTORY: usize = 500;

/// How a tenant's release compares with its environment's newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Drift {
    /// Runs the newest release.
    Current,
    /// Runs an older release.
    Behind,
    /// Runs a newer release than the environment's newest successful deployment (a deploy
    /// to some tenants, or a halted rollout that left it on the new release).
    Ahead,
    /// Nothing recorded runs there, or the environment has no successful deployment.
    Unknown,
}

/// One tenant in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Cell {
    pub release: Option<String>,
    /// The instance's outcome in the last deployment that reached it (`healthy`,
    /// `rolled_back`, ...).
    pub outcome: Option<String>,
    pub message: String,
    /// That deployment.
    pub deployment: Option<i64>,
    pub drift: Drift,
}

/// Each tenant's cell, in `tenants`' order. `history` is the environment's deployments
/// in any order; `newest` its newest successfully deployed release; `created` each known
/// release's creation time, to tell ahead from behind.
pub(crate) fn cells(
    tenants: &[String],
    history: &[DeploymentRecord],
    newest: Option<&str>,
    created: &HashMap<String, jiff::Timestamp>,
) -> Vec<Cell> {
    let mut oldest_first: Vec<&DeploymentRecord> = history.iter().collect();
    oldest_first.sort_by_key(|d| d.id);
    let mut cells: Vec<Cell> = tenants
        .iter()
        .map(|_| Cell {
            release: None,
            outcome: None,
            message: String::new(),
            deployment: None,
            drift: Drift::Unknown,
        })
        .collect();
    for d in oldest_first {
        for i in &d.instances {
            let Some(at) = tenants.iter().position(|t| *t == i.tenant) else {
                continue;
            };
            let cell = &mut cells[at];
            if matches!(i.outcome.as_str(), "healthy" | "unchanged") {
                cell.release = Some(d.version.clone());
            }
            cell.outcome = Some(i.outcome.clone());
            cell.message = i.message.clone();
            cell.deployment = Some(d.id);
        }
    }
    for cell in &mut cells {
        cell.drift = drift(cell.release.as_deref(), newest, created);
    }
    cells
}

fn drift(
    release: Option<&str>,
    newest: Option<&str>,
    created: &HashMap<String, jiff::Timestamp>,
) -> Drift {
    let (Some(release), Some(newest)) = (release, newest) else {
        return Drift::Unknown;
    };
    if release == newest {
        return Drift::Current;
    }
    match (created.get(release), created.get(newest)) {
        (Some(r), Some(n)) if r > n => Drift::Ahead,
        _ => Drift::Behind,
    }
}

#[derive(Serialize)]
struct Column {
    environment: String,
    newest: Option<String>,
    /// A deployment recorded as running.
    running: Option<i64>,
    may_deploy: bool,
}

#[derive(Serialize)]
struct Row {
    tenant: String,
    /// One per environment; `None` where the tenant has no instance.
    cells: Vec<Option<Cell>>,
}

pub(crate) async fn index(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let created: HashMap<String, jiff::Timestamp> = match shared.store.releases(&shared.app) {
        Ok(r) => r
            .into_iter()
            .filter_map(|r| Some((r.version, r.created_at.parse().ok()?)))
            .collect(),
        Err(e) => return store_failed(e),
    };
    let tenants = &shared.dashboard.tenants;
    let mut all_tenants: Vec<String> = Vec::new();
    for (_, ts) in tenants {
        for t in ts {
            if !all_tenants.contains(t) {
                all_tenants.push(t.clone());
            }
        }
    }
    let mut columns = Vec::new();
    let mut by_env: Vec<HashMap<String, Cell>> = Vec::new();
    for (env, env_tenants) in tenants {
        let history = match shared.store.deployments(&shared.app, env, HISTORY) {
            Ok(h) => h,
            Err(e) => return store_failed(e),
        };
        let newest = match shared.store.deployed_releases(&shared.app, env) {
            Ok(r) => r.into_iter().next().map(|r| r.version),
            Err(e) => return store_failed(e),
        };
        let env_cells = cells(env_tenants, &history, newest.as_deref(), &created);
        by_env.push(env_tenants.iter().cloned().zip(env_cells).collect());
        columns.push(Column {
            environment: env.clone(),
            running: history
                .iter()
                .find(|d| d.outcome == DeploymentOutcome::Running)
                .map(|d| d.id),
            newest,
            may_deploy: viewer.may(&Need::Deploy(env.clone())),
        });
    }
    let rows: Vec<Row> = all_tenants
        .into_iter()
        .map(|tenant| Row {
            cells: by_env
                .iter()
                .map(|cells| cells.get(&tenant).cloned())
                .collect(),
            tenant,
        })
        .collect();
    page(
        &shared,
        Some(&viewer),
        "matrix.html",
        minijinja::context! { columns => columns, rows => rows },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::store::{DeploymentKind, InstanceOutcome};

    fn deployment(id: i64, version: &str, outcomes: &[(&str, &str)]) -> DeploymentRecord {
        DeploymentRecord {
            id,
            app: "clinic".into(),
            environment: "production".into(),
            kind: DeploymentKind::Deploy,
            version: version.into(),
            image_id: "sha256:x".into(),
            actor: "ada".into(),
            started_at: "2026-12-01T10:00:00Z".into(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Succeeded,
            message: String::new(),
            instances: outcomes
                .iter()
                .map(|(tenant, outcome)| InstanceOutcome {
                    tenant: tenant.to_string(),
                    container: format!("clinic-production-{tenant}"),
                    outcome: outcome.to_string(),
                    message: format!("{tenant} {outcome}"),
                    started_at: "2026-12-01T10:00:00Z".into(),
                    duration_ms: 1,
                    spec: None,
                })
                .collect(),
            subset: vec![],
        }
    }

    fn tenants() -> Vec<String> {
        ["northside", "riverside", "lakeside", "hillside"]
            .map(String::from)
            .to_vec()
    }

    fn created() -> HashMap<String, jiff::Timestamp> {
        [
            ("v1", "2026-11-01T00:00:00Z"),
            ("v2", "2026-11-02T00:00:00Z"),
            ("v3", "2026-11-03T00:00:00Z"),
        ]
        .into_iter()
        .map(|(v, t)| (v.to_string(), t.parse().unwrap()))
        .collect()
    }

    #[test]
    fn each_instance_runs_what_its_last_healthy_outcome_says_and_drift_is_marked() {
        let history = vec![
            // Newest first, as the store answers.
            deployment(3, "v3", &[("lakeside", "healthy")]),
            deployment(
                2,
                "v2",
                &[
                    ("northside", "healthy"),
                    ("riverside", "rolled_back"),
                    ("lakeside", "unchanged"),
                ],
            ),
            deployment(
                1,
                "v1",
                &[
                    ("northside", "healthy"),
                    ("riverside", "healthy"),
                    ("lakeside", "healthy"),
                ],
            ),
        ];
        let cells = cells(&tenants(), &history, Some("v2"), &created());
        let summary: Vec<_> = cells
            .iter()
            .map(|c| (c.release.as_deref(), c.outcome.as_deref(), c.drift))
            .collect();
        assert_eq!(
            summary,
            [
                (Some("v2"), Some("healthy"), Drift::Current),
                // v2 failed there and was rolled back: it still runs v1.
                (Some("v1"), Some("rolled_back"), Drift::Behind),
                // A deploy of v3 to lakeside only: ahead of the environment's newest.
                (Some("v3"), Some("healthy"), Drift::Ahead),
                // Never deployed.
                (None, None, Drift::Unknown),
            ]
        );
        assert_eq!(cells[1].deployment, Some(2));
        assert_eq!(cells[1].message, "riverside rolled_back");
    }

    #[test]
    fn a_first_deploy_that_failed_leaves_nothing_running() {
        let history = vec![deployment(1, "v1", &[("northside", "failed")])];
        let cells = cells(&tenants(), &history, None, &created());
        assert_eq!(cells[0].release, None);
        assert_eq!(cells[0].outcome.as_deref(), Some("failed"));
        assert_eq!(cells[0].drift, Drift::Unknown);
    }

    #[test]
    fn a_release_the_store_does_not_know_counts_as_behind() {
        let history = vec![deployment(1, "v0", &[("northside", "healthy")])];
        let cells = cells(&tenants(), &history, Some("v2"), &created());
        assert_eq!(cells[0].drift, Drift::Behind);
    }
}
