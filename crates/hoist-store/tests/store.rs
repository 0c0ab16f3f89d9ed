//! The SQLite store against a real database file.

use std::time::Duration;

use hoist_core::Release;
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, LockAttempt,
    LockHolder, Store,
};
use hoist_store::SqliteStore;

fn release(version: &str, image_id: &str) -> Release {
    Release {
        app: "clinic".into(),
        version: version.into(),
        commit: "abc".into(),
        image: format!("clinic:{version}"),
        image_id: image_id.into(),
        digest: None,
        fingerprint: "fp".into(),
        base_image: "clinic-base:fp-1".into(),
        created_by: "ada".into(),
        created_at: "2026-11-23T10:00:00Z".into(),
    }
}

fn deploy(store: &SqliteStore, env: &str, r: &Release, outcome: DeploymentOutcome) -> i64 {
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: env.into(),
            kind: DeploymentKind::Deploy,
            version: r.version.clone(),
            image_id: r.image_id.clone(),
            actor: "ada".into(),
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
        .record_instance(
            id,
            &InstanceOutcome {
                tenant: "acme".into(),
                container: "clinic-staging-acme".into(),
                outcome: "healthy".into(),
                message: "ok".into(),
                started_at: jiff::Timestamp::now().to_string(),
                duration_ms: 12,
                spec: None,
            },
        )
        .unwrap();
    store.finish_deployment(id, outcome, "done").unwrap();
    id
}

#[test]
fn history_survives_reopening_and_lists_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for (v, id) in [("v1.0.0", "sha256:1"), ("v1.1.0", "sha256:2")] {
            let r = release(v, id);
            store.save_release(&r).unwrap();
            deploy(&store, "staging", &r, DeploymentOutcome::Succeeded);
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let history = store.deployments("clinic", "staging", 10).unwrap();
    assert_eq!(
        history
            .iter()
            .map(|d| d.version.as_str())
            .collect::<Vec<_>>(),
        ["v1.1.0", "v1.0.0"]
    );
    assert_eq!(history[0].instances.len(), 1);
    assert_eq!(history[0].instances[0].duration_ms, 12);
    assert!(history[0].duration_ms.is_some());
    assert_eq!(
        store
            .find_release("clinic", "v1.0.0")
            .unwrap()
            .unwrap()
            .image_id,
        "sha256:1"
    );
}

#[test]
fn deployed_releases_skip_failures_and_repeat_versions() {
    let store = SqliteStore::in_memory().unwrap();
    let (a, b, c) = (
        release("v1", "sha256:a"),
        release("v2", "sha256:b"),
        release("v3", "sha256:c"),
    );
    for r in [&a, &b, &c] {
        store.save_release(r).unwrap();
    }
    deploy(&store, "staging", &a, DeploymentOutcome::Succeeded);
    deploy(&store, "staging", &b, DeploymentOutcome::Succeeded);
    deploy(&store, "staging", &a, DeploymentOutcome::Succeeded);
    deploy(&store, "staging", &c, DeploymentOutcome::Failed);
    deploy(&store, "production", &c, DeploymentOutcome::Succeeded);
    let versions: Vec<String> = store
        .deployed_releases("clinic", "staging")
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, ["v1", "v2"]);
}

#[test]
fn audit_log_is_append_only() {
    let store = SqliteStore::in_memory().unwrap();
    for action in ["deploy.started", "deploy.succeeded"] {
        store
            .append_audit(&AuditEntry {
                at: jiff::Timestamp::now().to_string(),
                actor: "ada".into(),
                app: "clinic".into(),
                environment: Some("staging".into()),
                action: action.into(),
                version: Some("v1".into()),
                detail: String::new(),
            })
            .unwrap();
    }
    let log = store.audit_log("clinic", Some("staging"), 10).unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["deploy.succeeded", "deploy.started"]
    );
    assert!(
        store
            .audit_log("clinic", Some("production"), 10)
            .unwrap()
            .is_empty()
    );
    // Tampering is refused by the database itself.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let file_store = SqliteStore::open(&path).unwrap();
    file_store.append_audit(&log[0]).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn
        .execute("UPDATE audit_log SET actor = 'mallory'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn a_live_holder_keeps_the_lock() {
    let store = SqliteStore::in_memory().unwrap();
    let me = LockHolder::this_process("ada");
    assert_eq!(
        store
            .try_lock("clinic", "staging", &me, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired {
            reclaimed_from: None
        }
    );
    let mut other = LockHolder::this_process("bob");
    other.pid = 1; // pid 1 is alive on every Linux host
    other.process_start = 0;
    match store
        .try_lock("clinic", "staging", &other, Duration::from_secs(60))
        .unwrap()
    {
        LockAttempt::HeldBy(h) => assert_eq!(h.actor, "ada"),
        other => panic!("expected the lock to be held, got {other:?}"),
    }
    // Other environments are independent.
    assert!(matches!(
        store
            .try_lock("clinic", "production", &other, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));
    store.unlock("clinic", "staging", &me).unwrap();
    assert!(matches!(
        store
            .try_lock("clinic", "staging", &other, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));
}

#[test]
fn a_dead_holders_lock_is_reclaimed_and_its_deployment_marked_interrupted() {
    let store = SqliteStore::in_memory().unwrap();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v1".into(),
            image_id: "sha256:a".into(),
            actor: "ghost".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        })
        .unwrap();
    // A process that has exited: spawn one and wait for it.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut dead = LockHolder::this_process("ghost");
    dead.pid = dead_pid;
    dead.deployment = Some(id);
    assert!(matches!(
        store
            .try_lock("clinic", "staging", &dead, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));

    let me = LockHolder::this_process("ada");
    match store
        .try_lock("clinic", "staging", &me, Duration::from_secs(60))
        .unwrap()
    {
        LockAttempt::Acquired {
            reclaimed_from: Some(h),
        } => assert_eq!(h.actor, "ghost"),
        other => panic!("expected a reclaim, got {other:?}"),
    }
    let history = store.deployments("clinic", "staging", 1).unwrap();
    assert_eq!(history[0].outcome, DeploymentOutcome::Interrupted);
}

#[test]
fn a_holder_on_another_host_expires_by_heartbeat_only() {
    let store = SqliteStore::in_memory().unwrap();
    let mut remote = LockHolder::this_process("ci");
    remote.hostname = "runner-7".into();
    remote.pid = 999_999;
    store
        .try_lock("clinic", "staging", &remote, Duration::from_secs(60))
        .unwrap();
    let me = LockHolder::this_process("ada");
    assert!(matches!(
        store
            .try_lock("clinic", "staging", &me, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::HeldBy(_)
    ));
    // With a zero staleness window, any heartbeat older than this second is stale.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(matches!(
        store
            .try_lock("clinic", "staging", &me, Duration::from_secs(0))
            .unwrap(),
        LockAttempt::Acquired {
            reclaimed_from: Some(_)
        }
    ));
}

#[test]
fn force_unlock_returns_the_holder() {
    let store = SqliteStore::in_memory().unwrap();
    let me = LockHolder::this_process("ada");
    store
        .try_lock("clinic", "staging", &me, Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        store
            .force_unlock("clinic", "staging")
            .unwrap()
            .unwrap()
            .actor,
        "ada"
    );
    assert_eq!(store.force_unlock("clinic", "staging").unwrap(), None);
}

#[test]
fn a_release_saved_with_a_digest_comes_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let pushed = Release {
        digest: Some("sha256:d1".into()),
        ..release("v1", "sha256:a")
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        store.save_release(&pushed).unwrap();
        deploy(&store, "staging", &pushed, DeploymentOutcome::Succeeded);
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.find_release("clinic", "v1").unwrap(),
        Some(pushed.clone())
    );
    assert_eq!(
        store.releases("clinic").unwrap(),
        std::slice::from_ref(&pushed)
    );
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap(),
        std::slice::from_ref(&pushed)
    );
    // A local-only release has none.
    let local = release("v2", "sha256:b");
    store.save_release(&local).unwrap();
    assert_eq!(
        store.find_release("clinic", "v2").unwrap().unwrap().digest,
        None
    );
}

#[test]
fn a_digest_belongs_to_its_image() {
    let store = SqliteStore::in_memory().unwrap();
    let local = release("v1", "sha256:a");
    store.save_release(&local).unwrap();
    deploy(&store, "staging", &local, DeploymentOutcome::Succeeded);
    // Pushed after it was deployed: the deployment of the same image now has the digest.
    let pushed = Release {
        digest: Some("sha256:d1".into()),
        ..local.clone()
    };
    store.save_release(&pushed).unwrap();
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap()[0].digest,
        pushed.digest
    );
    deploy(&store, "production", &pushed, DeploymentOutcome::Succeeded);
    // Saving the same image again without a digest does not forget it.
    store.save_release(&local).unwrap();
    assert_eq!(
        store.find_release("clinic", "v1").unwrap().unwrap().digest,
        pushed.digest
    );
    // A rebuild of the version is another image: it has no digest, and the deployments of
    // the old image still say what they rolled out.
    let rebuilt = release("v1", "sha256:b");
    store.save_release(&rebuilt).unwrap();
    assert_eq!(
        store.find_release("clinic", "v1").unwrap(),
        Some(rebuilt.clone())
    );
    let production = &store.deployed_releases("clinic", "production").unwrap()[0];
    assert_eq!(
        (production.image_id.as_str(), production.digest.as_deref()),
        ("sha256:a", Some("sha256:d1"))
    );
    // The staging deployment began before the digest was known and the release row is
    // another image now, so nothing says which digest it ran.
    let staging = &store.deployed_releases("clinic", "staging").unwrap()[0];
    assert_eq!(
        (staging.image_id.as_str(), staging.digest.as_deref()),
        ("sha256:a", None)
    );
    deploy(&store, "staging", &rebuilt, DeploymentOutcome::Succeeded);
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap(),
        [rebuilt]
    );
}

#[test]
fn lead_time_counts_from_the_commit_time_recorded_with_the_release() {
    let store = SqliteStore::in_memory().unwrap();
    let committed = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let known = release("v2.0.0", "sha256:20");
    store.save_release(&known).unwrap();
    store
        .set_commit_time("clinic", "v2.0.0", Some(&committed.to_string()))
        .unwrap();
    // Recorded before hoist kept commit times: no time in the store.
    let older = release("v1.9.0", "sha256:19");
    store.save_release(&older).unwrap();
    assert_eq!(
        store.commit_times("clinic").unwrap(),
        std::collections::BTreeMap::from([("v2.0.0".to_string(), committed.to_string())])
    );
    deploy(&store, "production", &older, DeploymentOutcome::Succeeded);
    deploy(&store, "production", &known, DeploymentOutcome::Succeeded);

    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let since = until - jiff::SignedDuration::from_hours(24);
    let environments = ["production".to_string()];
    // No repository to ask: the recorded time alone gives the lead time.
    let m =
        hoist_core::metrics::from_store(&store, "clinic", &environments, since, until, &|_| None)
            .unwrap();
    let lead = m[0].lead_time_secs.expect("a lead time");
    assert!((7195..=7210).contains(&lead), "{lead}");
    assert_eq!(m[0].lead_time_unknown, 1, "v1.9.0 has no commit time");

    // The fallback answers for the release without one.
    let asked = std::sync::Mutex::new(Vec::new());
    let fallback = |commit: &str| {
        asked.lock().unwrap().push(commit.to_string());
        Some(committed)
    };
    let m =
        hoist_core::metrics::from_store(&store, "clinic", &environments, since, until, &fallback)
            .unwrap();
    assert_eq!(m[0].lead_time_unknown, 0);
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["abc".to_string()],
        "asked once, for v1.9.0"
    );

    // Forgetting it (a rebuild without a known commit) takes it out again.
    store.set_commit_time("clinic", "v2.0.0", None).unwrap();
    assert!(store.commit_times("clinic").unwrap().is_empty());
}
