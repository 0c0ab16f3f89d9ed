//! The `task_runs` table: one row per run of a release task for a tenant, so a retried
//! deploy skips what already succeeded and history shows each run's output tail.

use hoist_core::StoreError;
use hoist_core::task::{TaskOutcome, TaskRunRecord};
use rusqlite::{Connection, params};

use crate::err;

pub(crate) fn record(conn: &Connection, r: &TaskRunRecord) -> Result<(), StoreError> {
    let output = serde_json::to_string(&r.output).map_err(err)?;
    conn.execute(
        "INSERT INTO task_runs (deployment_id, app, environment, version, tenant, task, outcome, exit_code, started_at, duration_ms, output)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            r.deployment,
            r.app,
            r.environment,
            r.version,
            r.tenant,
            r.task,
            r.outcome.as_str(),
            r.exit_code,
            r.started_at,
            i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
            output
        ],
    )
    .map_err(err)?;
    Ok(())
}

pub(crate) fn succeeded(
    conn: &Connection,
    app: &str,
    environment: &str,
    version: &str,
    tenant: &str,
    task: &str,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM task_runs WHERE app = ?1 AND environment = ?2 AND version = ?3
         AND tenant = ?4 AND task = ?5 AND outcome = ?6)",
        params![
            app,
            environment,
            version,
            tenant,
            task,
            TaskOutcome::Succeeded.as_str()
        ],
        |row| row.get(0),
    )
    .map_err(err)
}

pub(crate) fn of_deployment(
    conn: &Connection,
    deployment: i64,
) -> Result<Vec<TaskRunRecord>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT deployment_id, app, environment, version, tenant, task, outcome, exit_code, started_at, duration_ms, output
             FROM task_runs WHERE deployment_id = ?1 ORDER BY id",
        )
        .map_err(err)?;
    let rows = statement
        .query_map(params![deployment], |row| {
            let outcome: String = row.get(6)?;
            let output: String = row.get(10)?;
            let duration: i64 = row.get(9)?;
            Ok(TaskRunRecord {
                deployment: row.get(0)?,
                app: row.get(1)?,
                environment: row.get(2)?,
                version: row.get(3)?,
                tenant: row.get(4)?,
                task: row.get(5)?,
                // Only this code writes the column; an unknown word reads as a failure.
                outcome: TaskOutcome::parse(&outcome).unwrap_or(TaskOutcome::Failed),
                exit_code: row.get(7)?,
                started_at: row.get(8)?,
                duration_ms: u64::try_from(duration).unwrap_or(0),
                output: serde_json::from_str(&output).unwrap_or_default(),
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

#[cfg(test)]
mod tests {
    use hoist_core::Store;
    use hoist_core::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord};

    use super::*;
    use crate::SqliteStore;

    fn deployment(store: &SqliteStore) -> i64 {
        store
            .begin_deployment(&DeploymentRecord {
                id: 0,
                app: "app".into(),
                environment: "staging".into(),
                kind: DeploymentKind::Deploy,
                version: "v1".into(),
                image_id: "sha256:1".into(),
                actor: "a".into(),
                started_at: jiff::Timestamp::now().to_string(),
                finished_at: None,
                duration_ms: None,
                outcome: DeploymentOutcome::Running,
                message: String::new(),
                instances: vec![],
                subset: vec![],
            })
            .unwrap()
    }

    fn run(deployment: i64, tenant: &str, outcome: TaskOutcome) -> TaskRunRecord {
        TaskRunRecord {
            deployment,
            app: "app".into(),
            environment: "staging".into(),
            version: "v1".into(),
            tenant: tenant.into(),
            task: "migrate".into(),
            outcome,
            exit_code: Some(if outcome == TaskOutcome::Succeeded {
                0
            } else {
                2
            }),
            started_at: "2026-12-05T21:00:00Z".into(),
            duration_ms: 12,
            output: vec!["line 1".into(), "line 2".into()],
        }
    }

    #[test]
    fn only_a_success_counts_as_done_for_its_release_tenant_and_task() {
        let store = SqliteStore::in_memory().unwrap();
        let d = deployment(&store);
        store
            .record_task_run(&run(d, "t0", TaskOutcome::Failed))
            .unwrap();
        assert!(
            !store
                .task_succeeded("app", "staging", "v1", "t0", "migrate")
                .unwrap()
        );
        store
            .record_task_run(&run(d, "t0", TaskOutcome::Succeeded))
            .unwrap();
        assert!(
            store
                .task_succeeded("app", "staging", "v1", "t0", "migrate")
                .unwrap()
        );
        assert!(
            !store
                .task_succeeded("app", "staging", "v2", "t0", "migrate")
                .unwrap()
        );
        assert!(
            !store
                .task_succeeded("app", "staging", "v1", "t1", "migrate")
                .unwrap()
        );
        assert!(
            !store
                .task_succeeded("app", "production", "v1", "t0", "migrate")
                .unwrap()
        );
        assert!(
            !store
                .task_succeeded("app", "staging", "v1", "t0", "seed")
                .unwrap()
        );
        let runs = store.task_runs(d).unwrap();
        assert_eq!(
            runs,
            [
                run(d, "t0", TaskOutcome::Failed),
                run(d, "t0", TaskOutcome::Succeeded)
            ]
        );
    }
}
