//! A state database written by the schema-1 store (commit cffbadd, see
//! `tests/fixtures/README.md`) opened by today's code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoist_core::Release;
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, LockAttempt,
    LockHolder, Store,
};
use hoist_store::{SCHEMA_VERSION, SqliteStore};
use serde::Deserialize;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-v1.db");
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-v1.json");

/// Long enough that the fixture's lock never goes stale during a test.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What the cffbadd code read back from the fixture right after writing it.
#[derive(Deserialize)]
struct Expected {
    releases: Vec<Release>,
    deployments: BTreeMap<String, Vec<DeploymentRecord>>,
    deployed_releases: BTreeMap<String, Vec<Release>>,
    audit_log: Vec<AuditEntry>,
    lock: ExpectedLock,
}

#[derive(Deserialize)]
struct ExpectedLock {
    app: String,
    environment: String,
    holder: LockHolder,
}

fn expected() -> Expected {
    serde_json::from_str(&std::fs::read_to_string(EXPECTED).unwrap()).unwrap()
}

/// A copy of the fixture in a directory of its own (the store writes beside it).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::copy(FIXTURE, &path).unwrap();
    (dir, path)
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn columns(path: &Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The releases as the fixture's maker wrote them.
fn written_release(version: &str, commit: &str, id: char, created_at: &str) -> Release {
    Release {
        app: "clinic".into(),
        version: version.into(),
        commit: commit.into(),
        image: format!("registry.example/clinic:{version}"),
        image_id: format!("sha256:{}", id.to_string().repeat(64)),
        digest: None,
        fingerprint: "9f2c1e0b7a5d".into(),
        base_image: "registry.example/clinic-base:9f2c1e0b7a5d".into(),
        created_by: "ada".into(),
        created_at: created_at.into(),
    }
}

fn v100() -> Release {
    written_release("v1.0.0", "1a2b3c4", '1', "2026-11-20T09:00:00Z")
}
fn v110() -> Release {
    written_release("v1.1.0", "5d6e7f8", '2', "2026-11-21T09:00:00Z")
}
fn v120() -> Release {
    written_release("v1.2.0", "9a0b1c2", '3', "2026-11-22T09:00:00Z")
}

#[test]
fn the_fixture_is_a_schema_1_database() {
    let (_dir, path) = fixture();
    assert_eq!(user_version(&path), 1);
    for table in ["releases", "deployments"] {
        assert!(!columns(&path, table).contains(&"digest".to_string()));
    }
}

#[test]
fn opening_a_v1_database_migrates_it_to_the_current_version() {
    let (_dir, path) = fixture();
    drop(SqliteStore::open(&path).unwrap());
    const { assert!(SCHEMA_VERSION >= 3) };
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert!(
        columns(&path, "task_runs").contains(&"output".to_string()),
        "the release tasks' step created task_runs"
    );
    for table in ["releases", "deployments"] {
        let cols = columns(&path, table);
        assert!(cols.contains(&"digest".to_string()), "{table}: {cols:?}");
        assert!(cols.contains(&"image_id".to_string()), "{table}: {cols:?}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let digests: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM releases WHERE digest IS NOT NULL)
                  + (SELECT count(*) FROM deployments WHERE digest IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        digests, 0,
        "rows written before the migration know no digest"
    );
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn every_release_deployment_instance_and_audit_entry_survives() {
    let (_dir, path) = fixture();
    let store = SqliteStore::open(&path).unwrap();
    let expected = expected();

    // Releases: as written, with no digest.
    assert_eq!(store.releases("clinic").unwrap(), [v120(), v110(), v100()]);
    assert_eq!(store.releases("clinic").unwrap(), expected.releases);
    for r in [v100(), v110(), v120()] {
        assert_eq!(store.find_release("clinic", &r.version).unwrap(), Some(r));
    }

    // Deployments and their instances: as the old code read them, field by field.
    for env in ["staging", "production"] {
        assert_eq!(
            store.deployments("clinic", env, 100).unwrap(),
            expected.deployments[env],
            "{env}"
        );
    }
    let staging = store.deployments("clinic", "staging", 100).unwrap();
    let summary: Vec<_> = staging
        .iter()
        .map(|d| (d.id, d.kind, d.version.as_str(), d.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (
                5,
                DeploymentKind::Rollback,
                "v1.0.0",
                DeploymentOutcome::Succeeded
            ),
            (
                4,
                DeploymentKind::Deploy,
                "v1.2.0",
                DeploymentOutcome::Failed
            ),
            (
                3,
                DeploymentKind::Deploy,
                "v1.1.0",
                DeploymentOutcome::Succeeded
            ),
            (
                1,
                DeploymentKind::Deploy,
                "v1.0.0",
                DeploymentOutcome::Succeeded
            ),
        ]
    );
    assert_eq!(staging[1].image_id, v120().image_id);
    assert_eq!(
        staging[1].instances,
        [
            InstanceOutcome {
                tenant: "acme".into(),
                container: "clinic-staging-acme".into(),
                outcome: "rolled_back".into(),
                message: "GET /health answered 500 three times; v1.1.0 restored".into(),
                started_at: "2026-11-23T10:05:00Z".into(),
                duration_ms: 31000,
                spec: None,
            },
            InstanceOutcome {
                tenant: "globex".into(),
                container: "clinic-staging-globex".into(),
                outcome: "unchanged".into(),
                message: "not attempted: an earlier instance failed".into(),
                started_at: "2026-11-23T10:05:00Z".into(),
                duration_ms: 0,
                spec: None,
            },
        ]
    );
    let production = store.deployments("clinic", "production", 100).unwrap();
    assert_eq!(
        production
            .iter()
            .map(|d| (d.id, d.kind, d.outcome, d.instances.len()))
            .collect::<Vec<_>>(),
        [
            (6, DeploymentKind::Deploy, DeploymentOutcome::Running, 1),
            (2, DeploymentKind::Promote, DeploymentOutcome::Succeeded, 1),
        ]
    );
    assert_eq!(production[0].finished_at, None);

    // The audit log: every entry, in order.
    let log = store.audit_log("clinic", None, 100).unwrap();
    assert_eq!(log, expected.audit_log);
    assert_eq!(log.len(), 10);
    assert_eq!(
        store
            .audit_log("clinic", Some("staging"), 100)
            .unwrap()
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        [
            "rollback.succeeded",
            "deploy.failed",
            "deploy.succeeded",
            "deploy.succeeded",
            "deploy.started"
        ]
    );

    assert_eq!(store.verified_in("clinic", "v1.0.0").unwrap().len(), 2);
}

#[test]
fn old_releases_come_back_without_a_digest() {
    let (_dir, path) = fixture();
    let store = SqliteStore::open(&path).unwrap();
    let expected = expected();
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap(),
        [v100(), v110()]
    );
    assert_eq!(
        store.deployed_releases("clinic", "production").unwrap(),
        [v100()]
    );
    for env in ["staging", "production"] {
        let deployed = store.deployed_releases("clinic", env).unwrap();
        assert_eq!(deployed, expected.deployed_releases[env], "{env}");
        assert!(deployed.iter().all(|r| r.digest.is_none()), "{deployed:?}");
    }
}

#[test]
fn rollback_to_a_release_recorded_before_the_migration() {
    let (_dir, path) = fixture();
    let store = SqliteStore::open(&path).unwrap();
    // After the migration, staging gets a release that was pushed.
    let v130 = Release {
        digest: Some(format!("sha256:{}", "d".repeat(64))),
        ..written_release("v1.3.0", "3c4d5e6", '4', "2026-11-24T09:00:00Z")
    };
    store.save_release(&v130).unwrap();
    let deploy = |r: &Release, kind| {
        let id = store
            .begin_deployment(&DeploymentRecord {
                id: 0,
                app: "clinic".into(),
                environment: "staging".into(),
                kind,
                version: r.version.clone(),
                image_id: r.image_id.clone(),
                actor: "bob".into(),
                started_at: jiff::Timestamp::now().to_string(),
                finished_at: None,
                duration_ms: None,
                outcome: DeploymentOutcome::Running,
                message: String::new(),
                instances: vec![],
                subset: vec![],
            })
            .unwrap();
        store
            .finish_deployment(id, DeploymentOutcome::Succeeded, "ok")
            .unwrap();
    };
    deploy(&v130, DeploymentKind::Deploy);
    let deployed = store.deployed_releases("clinic", "staging").unwrap();
    assert_eq!(deployed, [v130.clone(), v100(), v110()]);

    // Rolling back goes to the one before the current: recorded before the migration, it
    // is identified by its image id.
    let target = deployed[1].clone();
    assert_eq!(
        (target.image_id.as_str(), target.digest.as_deref()),
        (v100().image_id.as_str(), None)
    );
    deploy(&target, DeploymentKind::Rollback);
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap(),
        [v100(), v130, v110()]
    );
    let latest = &store.deployments("clinic", "staging", 1).unwrap()[0];
    assert_eq!(
        (
            latest.kind,
            latest.version.as_str(),
            latest.image_id.as_str()
        ),
        (DeploymentKind::Rollback, "v1.0.0", v100().image_id.as_str())
    );
}

#[test]
fn a_release_saved_after_the_migration_keeps_its_digest() {
    let (_dir, path) = fixture();
    let pushed = Release {
        digest: Some(format!("sha256:{}", "e".repeat(64))),
        ..written_release("v2.0.0", "7f8a9b0", '5', "2026-11-25T09:00:00Z")
    };
    SqliteStore::open(&path)
        .unwrap()
        .save_release(&pushed)
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.find_release("clinic", "v2.0.0").unwrap(),
        Some(pushed.clone())
    );
    assert_eq!(
        store.releases("clinic").unwrap(),
        [pushed, v120(), v110(), v100()]
    );
}

#[test]
fn the_lock_survives_the_migration() {
    let (_dir, path) = fixture();
    let store = SqliteStore::open(&path).unwrap();
    let lock = expected().lock;
    let me = LockHolder::this_process("bob");
    assert_eq!(
        store
            .try_lock(&lock.app, &lock.environment, &me, NEVER)
            .unwrap(),
        LockAttempt::HeldBy(lock.holder.clone())
    );
    // Removing it closes the deployment it covered, as for a lock taken today.
    assert_eq!(
        store.force_unlock(&lock.app, &lock.environment).unwrap(),
        Some(lock.holder)
    );
    let latest = &store.deployments("clinic", "production", 1).unwrap()[0];
    assert_eq!(
        (latest.id, latest.outcome),
        (6, DeploymentOutcome::Interrupted)
    );
}

#[test]
fn opening_a_migrated_database_again_changes_nothing() {
    let (_dir, path) = fixture();
    drop(SqliteStore::open(&path).unwrap());
    let migrated = std::fs::read(&path).unwrap();
    let schema = |path: &Path| -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let migrated_schema = schema(&path);
    for _ in 0..2 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.releases("clinic").unwrap().len(), 3);
        drop(store);
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        assert_eq!(schema(&path), migrated_schema);
        assert!(
            std::fs::read(&path).unwrap() == migrated,
            "opening an up-to-date database wrote to it"
        );
    }
}

#[test]
fn processes_opening_an_old_database_at_once_migrate_it_once() {
    let (_dir, path) = fixture();
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        let opened: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    SqliteStore::open(&path).map(|store| store.releases("clinic").unwrap().len())
                })
            })
            .collect();
        for o in opened {
            assert_eq!(o.join().unwrap().unwrap(), 3);
        }
    });
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_database_from_a_newer_hoist_is_refused() {
    let (_dir, path) = fixture();
    drop(SqliteStore::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = SqliteStore::open(&path)
        .err()
        .expect("a newer schema is refused");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!(
            "schema is version {newer}, newer than this hoist knows (version {SCHEMA_VERSION})"
        )),
        "{message}"
    );
    assert!(message.contains("written by a newer hoist"), "{message}");
    // Refused before anything was written.
    assert_eq!(user_version(&path), newer);
    assert!(std::fs::read(&path).unwrap() == before);
}

#[test]
fn the_audit_log_stays_append_only_after_the_migration() {
    let (_dir, path) = fixture();
    let store = SqliteStore::open(&path).unwrap();
    let entry = AuditEntry {
        at: "2026-11-24T09:00:00Z".into(),
        actor: "bob".into(),
        app: "clinic".into(),
        environment: Some("staging".into()),
        action: "deploy.started".into(),
        version: Some("v1.3.0".into()),
        detail: String::new(),
    };
    store.append_audit(&entry).unwrap();
    let log = store.audit_log("clinic", None, 100).unwrap();
    assert_eq!(log.len(), 11);
    assert_eq!(log[0], entry);
    assert_eq!(&log[1..], expected().audit_log);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn
        .execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(store.audit_log("clinic", None, 100).unwrap(), log);
}

#[test]
fn an_older_hoist_rebuilding_a_release_does_not_leave_it_a_stale_digest() {
    let (_dir, path) = fixture();
    let pushed = Release {
        digest: Some(format!("sha256:{}", "f".repeat(64))),
        ..v110()
    };
    SqliteStore::open(&path)
        .unwrap()
        .save_release(&pushed)
        .unwrap();
    // What the schema-1 store (cffbadd) runs to save a rebuilt v1.1.0: it knows no digest.
    let rebuilt = Release {
        image_id: format!("sha256:{}", "9".repeat(64)),
        ..v110()
    };
    let r = &rebuilt;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO releases (app, version, commit_sha, image, image_id, fingerprint, base_image, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (app, version) DO UPDATE SET commit_sha = excluded.commit_sha, image = excluded.image,
               image_id = excluded.image_id, fingerprint = excluded.fingerprint, base_image = excluded.base_image,
               created_by = excluded.created_by, created_at = excluded.created_at",
            rusqlite::params![r.app, r.version, r.commit, r.image, r.image_id, r.fingerprint, r.base_image, r.created_by, r.created_at],
        )
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.find_release("clinic", "v1.1.0").unwrap(),
        Some(rebuilt)
    );
    // The deployment of the old image (made before the push) still names that image.
    let deployed = store.deployed_releases("clinic", "staging").unwrap();
    assert_eq!(
        (deployed[1].image_id.as_str(), deployed[1].digest.as_deref()),
        (v110().image_id.as_str(), None)
    );
}

/// Version 2's step, as released: the state a hoist of schema 2 leaves a v1 database in.
const STEP_2: &str = r#"
ALTER TABLE releases ADD COLUMN digest TEXT;
ALTER TABLE deployments ADD COLUMN digest TEXT;
CREATE TRIGGER releases_digest_follows_image AFTER UPDATE OF image_id ON releases
WHEN NEW.image_id IS NOT OLD.image_id AND NEW.digest IS OLD.digest AND NEW.digest IS NOT NULL
BEGIN UPDATE releases SET digest = NULL WHERE id = NEW.id; END;
PRAGMA user_version = 2;
"#;

#[test]
fn a_v2_database_gains_instance_specs_and_keeps_its_outcomes() {
    let (_dir, path) = fixture();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(STEP_2)
        .unwrap();
    assert_eq!(user_version(&path), 2);
    assert!(!columns(&path, "deployment_instances").contains(&"spec".to_string()));
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert!(columns(&path, "deployment_instances").contains(&"spec".to_string()));
    // Outcomes recorded before the step come back as they were, with no spec.
    let before = expected();
    let staging = store.deployments("clinic", "staging", 100).unwrap();
    let recorded: Vec<&InstanceOutcome> = staging.iter().flat_map(|d| &d.instances).collect();
    let expected_outcomes: Vec<&InstanceOutcome> = before.deployments["staging"]
        .iter()
        .flat_map(|d| &d.instances)
        .collect();
    assert_eq!(recorded, expected_outcomes);
    assert!(recorded.iter().all(|o| o.spec.is_none()));
    // A new outcome keeps its spec digest.
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: v120().version,
            image_id: v120().image_id,
            actor: "bob".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        })
        .unwrap();
    let spec = r#"{"env.DB_HOST":"sha256:0123456789abcdef","port":"8080"}"#;
    let outcome = InstanceOutcome {
        tenant: "acme".into(),
        container: "clinic-staging-acme".into(),
        outcome: "healthy".into(),
        message: "redeployed: env DB_HOST changed".into(),
        started_at: jiff::Timestamp::now().to_string(),
        duration_ms: 5,
        spec: Some(spec.into()),
    };
    store.record_instance(id, &outcome).unwrap();
    let latest = store.deployments("clinic", "staging", 1).unwrap();
    assert_eq!(latest[0].instances, [outcome]);
}

/// Version 3's step, as released.
const STEP_3: &str = r#"
ALTER TABLE deployment_instances ADD COLUMN spec TEXT;
PRAGMA user_version = 3;
"#;

#[test]
fn a_v3_database_gains_task_runs_and_keeps_its_history() {
    let (_dir, path) = fixture();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(STEP_2).unwrap();
    conn.execute_batch(STEP_3).unwrap();
    drop(conn);
    assert_eq!(user_version(&path), 3);
    assert!(columns(&path, "task_runs").is_empty());
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert!(columns(&path, "task_runs").contains(&"exit_code".to_string()));
    let before = expected();
    let staging = store.deployments("clinic", "staging", 100).unwrap();
    assert_eq!(staging.len(), before.deployments["staging"].len());
    // No task ran before the step; one recorded now counts as done for its release.
    let deployment = staging[0].id;
    assert!(store.task_runs(deployment).unwrap().is_empty());
    let run = hoist_core::task::TaskRunRecord {
        deployment,
        app: "clinic".into(),
        environment: "staging".into(),
        version: staging[0].version.clone(),
        tenant: "northside".into(),
        task: "migrate".into(),
        outcome: hoist_core::task::TaskOutcome::Succeeded,
        exit_code: Some(0),
        started_at: "2026-12-05T21:00:00Z".into(),
        duration_ms: 5,
        output: vec!["ok".into()],
    };
    store.record_task_run(&run).unwrap();
    assert!(
        store
            .task_succeeded("clinic", "staging", &run.version, "northside", "migrate")
            .unwrap()
    );
    assert_eq!(store.task_runs(deployment).unwrap(), [run]);
}

#[test]
fn a_v3_database_gains_deployment_subsets_and_its_deployments_read_as_full() {
    let (_dir, path) = fixture();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(STEP_2).unwrap();
    conn.execute_batch(STEP_3).unwrap();
    drop(conn);
    assert_eq!(user_version(&path), 3);
    assert!(!columns(&path, "deployments").contains(&"subset".to_string()));
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert!(columns(&path, "deployments").contains(&"subset".to_string()));
    // Deployments recorded before the step were to every instance.
    let before = expected();
    assert_eq!(
        store.deployments("clinic", "staging", 100).unwrap(),
        before.deployments["staging"]
    );
    let verified_before = store.verified_in("clinic", "v1.1.0").unwrap();
    assert!(verified_before.contains("staging"), "{verified_before:?}");

    // A deployment to some tenants keeps them, and does not make its release verified in
    // the environment.
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: "production".into(),
            kind: DeploymentKind::Deploy,
            version: v120().version,
            image_id: v120().image_id,
            actor: "bob".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec!["acme".into()],
        })
        .unwrap();
    store
        .finish_deployment(
            id,
            DeploymentOutcome::Succeeded,
            "v1.2.0 verified on 1 instance(s)",
        )
        .unwrap();
    let latest = store.deployments("clinic", "production", 1).unwrap();
    assert_eq!(latest[0].subset, ["acme"]);
    assert!(
        !store
            .verified_in("clinic", "v1.2.0")
            .unwrap()
            .contains("production")
    );
}
