//! The store's behaviour, one function per behaviour, for any database: each takes a
//! [`Backend`] that opens handles to one fresh database, SQLite or PostgreSQL.

use std::time::Duration;

use hoist_core::Release;
use hoist_core::jobs::{Cancel, Enqueued, JobRequest, JobState, JobStore, NewJob};
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, InstanceStep,
    LockAttempt, LockHolder, Store,
};
use hoist_core::task::{TaskOutcome, TaskRunRecord};
use hoist_core::tokens::{TokenRecord, TokenStore};

/// Everything a store implements.
pub trait AnyStore: Store + JobStore + TokenStore {}
impl<T: Store + JobStore + TokenStore> AnyStore for T {}

/// One fresh database of one kind.
pub trait Backend {
    /// A new handle to the database (as another process, or a restart, would open it).
    fn open(&self) -> Box<dyn AnyStore>;
    /// Runs `sql` on the database behind the store's back; the error's text if it fails.
    fn execute_raw(&self, sql: &str) -> Result<(), String>;
}

fn release(version: &str, image_id: &str) -> Release {
    release_of("clinic", version, image_id)
}

fn release_of(app: &str, version: &str, image_id: &str) -> Release {
    Release {
        app: app.into(),
        version: version.into(),
        commit: "abc".into(),
        image: format!("{app}:{version}"),
        image_id: image_id.into(),
        digest: None,
        fingerprint: "fp".into(),
        base_image: format!("{app}-base:fp-1"),
        created_by: "ada".into(),
        created_at: "2026-11-23T10:00:00Z".into(),
    }
}

fn begin(store: &dyn AnyStore, env: &str, r: &Release, actor: &str) -> i64 {
    store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: r.app.clone(),
            environment: env.into(),
            kind: DeploymentKind::Deploy,
            version: r.version.clone(),
            image_id: r.image_id.clone(),
            actor: actor.into(),
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

fn deploy(store: &dyn AnyStore, env: &str, r: &Release, outcome: DeploymentOutcome) -> i64 {
    let id = begin(store, env, r, "ada");
    store
        .record_instance(
            id,
            &InstanceOutcome {
                tenant: "acme".into(),
                container: format!("clinic-{env}-acme"),
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

pub fn history_survives_reopening_and_lists_newest_first(db: &dyn Backend) {
    {
        let store = db.open();
        for (v, id) in [("v1.0.0", "sha256:1"), ("v1.1.0", "sha256:2")] {
            let r = release(v, id);
            store.save_release(&r).unwrap();
            deploy(&*store, "staging", &r, DeploymentOutcome::Succeeded);
        }
    }
    let store = db.open();
    let history = store.deployments("clinic", "staging", 10).unwrap();
    let versions: Vec<&str> = history.iter().map(|d| d.version.as_str()).collect();
    assert_eq!(versions, ["v1.1.0", "v1.0.0"]);
    assert_eq!(history[0].instances.len(), 1);
    assert_eq!(history[0].instances[0].duration_ms, 12);
    assert_eq!(history[0].outcome, DeploymentOutcome::Succeeded);
    assert_eq!(history[0].message, "done");
    assert!(history[0].duration_ms.is_some());
    assert!(history[0].finished_at.is_some());
    assert_eq!(store.deployments("clinic", "staging", 1).unwrap().len(), 1);
    assert_eq!(
        store
            .find_release("clinic", "v1.0.0")
            .unwrap()
            .unwrap()
            .image_id,
        "sha256:1"
    );
    assert_eq!(store.find_release("clinic", "v9").unwrap(), None);
    let releases: Vec<String> = store
        .releases("clinic")
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(releases, ["v1.1.0", "v1.0.0"]);
}

pub fn one_deployment_is_found_by_id_for_its_app_only(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let staging = deploy(&*store, "staging", &r, DeploymentOutcome::Succeeded);
    let production = deploy(&*store, "production", &r, DeploymentOutcome::Failed);
    let other = release_of("billing", "v1", "sha256:b");
    store.save_release(&other).unwrap();
    let billing = deploy(&*store, "staging", &other, DeploymentOutcome::Succeeded);

    let store = db.open();
    for (id, env) in [(staging, "staging"), (production, "production")] {
        let listed = store.deployments("clinic", env, 1).unwrap().pop().unwrap();
        assert_eq!(store.deployment("clinic", id).unwrap(), Some(listed));
    }
    // Another app's id, and one nobody has, find nothing.
    assert_eq!(store.deployment("clinic", billing).unwrap(), None);
    assert_eq!(store.deployment("clinic", billing + 1).unwrap(), None);
    assert_eq!(
        store
            .deployment("billing", billing)
            .unwrap()
            .unwrap()
            .instances
            .len(),
        1
    );
}

pub fn instances_are_listed_by_tenant_and_rerecorded_in_place(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let id = begin(&*store, "staging", &r, "ada");
    for (tenant, outcome) in [
        ("zeta", "healthy"),
        ("Acme", "failed"),
        ("acme", "healthy"),
        ("Acme", "healthy"),
    ] {
        store
            .record_instance(
                id,
                &InstanceOutcome {
                    tenant: tenant.into(),
                    container: format!("clinic-staging-{tenant}"),
                    outcome: outcome.into(),
                    message: String::new(),
                    started_at: "2026-11-23T10:00:00Z".into(),
                    duration_ms: 5,
                    spec: Some(r#"{"image":"sha256:a"}"#.into()),
                },
            )
            .unwrap();
    }
    let record = &store.deployments("clinic", "staging", 1).unwrap()[0];
    let seen: Vec<(&str, &str)> = record
        .instances
        .iter()
        .map(|i| (i.tenant.as_str(), i.outcome.as_str()))
        .collect();
    // Byte order (upper case first), as SQLite sorts: the same on both databases.
    assert_eq!(
        seen,
        [
            ("Acme", "healthy"),
            ("acme", "healthy"),
            ("zeta", "healthy")
        ]
    );
    assert_eq!(
        record.instances[0].spec.as_deref(),
        Some(r#"{"image":"sha256:a"}"#)
    );
    assert_eq!(record.outcome, DeploymentOutcome::Running);
}

fn step(tenant: &str, second: u32, state: &str, message: &str) -> InstanceStep {
    InstanceStep {
        tenant: tenant.into(),
        at: format!("2026-11-23T10:00:{second:02}Z"),
        state: state.into(),
        message: message.into(),
    }
}

pub fn instance_steps_come_back_per_deployment_in_the_order_recorded(db: &dyn Backend) {
    let r = release("v1", "sha256:a");
    let (id, other) = {
        let store = db.open();
        store.save_release(&r).unwrap();
        let id = begin(&*store, "staging", &r, "ada");
        let other = begin(&*store, "staging", &r, "ada");
        // Two instances end one after the other; the first is written again later (a
        // rollback by policy), and the other deployment has steps of its own.
        let zeta = [
            step("zeta", 1, "waiting", ""),
            step("zeta", 2, "starting", "starting clinic-staging-zeta"),
            step("zeta", 5, "healthy", "answers 200 on /"),
        ];
        let acme = [
            step("acme", 1, "waiting", ""),
            step("acme", 6, "rolled_back", "health check: 503 ünïcode"),
        ];
        store.record_steps(id, &zeta).unwrap();
        store.record_steps(id, &acme).unwrap();
        store
            .record_steps(other, &[step("acme", 9, "skipped", "not attempted")])
            .unwrap();
        store
            .record_steps(
                id,
                &[step("zeta", 7, "rolled_back_by_policy", "back on v0")],
            )
            .unwrap();
        store.record_steps(id, &[]).unwrap();
        (id, other)
    };
    let store = db.open();
    let seen: Vec<(String, String, String)> = store
        .instance_steps(id)
        .unwrap()
        .into_iter()
        .map(|s| (s.tenant, s.state, s.at))
        .collect();
    let expected = [
        ("zeta", "waiting", 1),
        ("zeta", "starting", 2),
        ("zeta", "healthy", 5),
        ("acme", "waiting", 1),
        ("acme", "rolled_back", 6),
        ("zeta", "rolled_back_by_policy", 7),
    ]
    .map(|(t, s, at)| {
        (
            t.to_string(),
            s.to_string(),
            format!("2026-11-23T10:00:{at:02}Z"),
        )
    });
    assert_eq!(seen, expected);
    let steps = store.instance_steps(id).unwrap();
    assert_eq!(steps[4].message, "health check: 503 ünïcode");
    assert_eq!(steps[1].message, "starting clinic-staging-zeta");
    assert_eq!(
        store.instance_steps(other).unwrap(),
        [step("acme", 9, "skipped", "not attempted")]
    );
    assert!(store.instance_steps(other + 1).unwrap().is_empty());
    // Steps belong to a recorded deployment.
    assert!(
        store
            .record_steps(other + 1, &[step("acme", 1, "waiting", "")])
            .is_err()
    );
}

pub fn a_deployment_to_some_tenants_keeps_them_and_does_not_verify_the_version(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let partial = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: "production".into(),
            kind: DeploymentKind::Promote,
            version: "v1".into(),
            image_id: "sha256:a".into(),
            actor: "ada".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec!["acme".into(), "globex".into()],
        })
        .unwrap();
    store
        .finish_deployment(partial, DeploymentOutcome::Succeeded, "")
        .unwrap();
    deploy(&*store, "staging", &r, DeploymentOutcome::Succeeded);
    let production = &store.deployments("clinic", "production", 1).unwrap()[0];
    assert_eq!(production.subset, ["acme", "globex"]);
    assert_eq!(production.kind, DeploymentKind::Promote);
    let staging = &store.deployments("clinic", "staging", 1).unwrap()[0];
    assert!(staging.subset.is_empty());
    assert_eq!(
        store
            .verified_in("clinic", "v1")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["staging"]
    );
}

pub fn deployed_releases_skip_failures_and_repeat_versions(db: &dyn Backend) {
    let store = db.open();
    let (a, b, c) = (
        release("v1", "sha256:a"),
        release("v2", "sha256:b"),
        release("v3", "sha256:c"),
    );
    for r in [&a, &b, &c] {
        store.save_release(r).unwrap();
    }
    deploy(&*store, "staging", &a, DeploymentOutcome::Succeeded);
    deploy(&*store, "staging", &b, DeploymentOutcome::Succeeded);
    deploy(&*store, "staging", &a, DeploymentOutcome::Succeeded);
    deploy(&*store, "staging", &c, DeploymentOutcome::Failed);
    deploy(&*store, "production", &c, DeploymentOutcome::Succeeded);
    let versions: Vec<String> = store
        .deployed_releases("clinic", "staging")
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, ["v1", "v2"]);
}

pub fn audit_log_is_append_only(db: &dyn Backend) {
    let store = db.open();
    for (env, action) in [
        (Some("staging"), "deploy.started"),
        (Some("staging"), "deploy.succeeded"),
        (None, "token.created"),
    ] {
        store
            .append_audit(&AuditEntry {
                at: jiff::Timestamp::now().to_string(),
                actor: "ada".into(),
                app: "clinic".into(),
                environment: env.map(String::from),
                action: action.into(),
                version: env.map(|_| "v1".into()),
                detail: String::new(),
            })
            .unwrap();
    }
    let log = store.audit_log("clinic", Some("staging"), 10).unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["deploy.succeeded", "deploy.started"]
    );
    assert_eq!(store.audit_log("clinic", None, 10).unwrap().len(), 3);
    assert_eq!(
        store.audit_log("clinic", None, 1).unwrap()[0].action,
        "token.created"
    );
    assert!(
        store
            .audit_log("clinic", Some("production"), 10)
            .unwrap()
            .is_empty()
    );
    // Tampering is refused by the database itself.
    let err = db.execute_raw("DELETE FROM audit_log").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = db
        .execute_raw("UPDATE audit_log SET actor = 'mallory'")
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    assert_eq!(store.audit_log("clinic", None, 10).unwrap().len(), 3);
}

pub fn a_live_holder_keeps_the_lock(db: &dyn Backend) {
    let store = db.open();
    let me = LockHolder::this_process("ada");
    assert_eq!(
        store
            .try_lock("clinic", "staging", &me, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired {
            reclaimed_from: None
        }
    );
    assert_eq!(
        store.lock_holder("clinic", "staging").unwrap(),
        Some(me.clone())
    );
    let mut other = LockHolder::this_process("bob");
    other.pid = 1; // pid 1 is alive on every Linux host
    other.process_start = 0;
    // Another handle (another process would have its own) sees the same lock.
    let elsewhere = db.open();
    match elsewhere
        .try_lock("clinic", "staging", &other, Duration::from_secs(60))
        .unwrap()
    {
        LockAttempt::HeldBy(h) => assert_eq!(h.actor, "ada"),
        other => panic!("expected the lock to be held, got {other:?}"),
    }
    // Other environments are independent.
    assert!(matches!(
        elsewhere
            .try_lock("clinic", "production", &other, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));
    // Unlocking someone else's lock does nothing.
    elsewhere.unlock("clinic", "staging", &other).unwrap();
    assert!(store.lock_holder("clinic", "staging").unwrap().is_some());
    store.unlock("clinic", "staging", &me).unwrap();
    assert_eq!(store.lock_holder("clinic", "staging").unwrap(), None);
    assert!(matches!(
        elsewhere
            .try_lock("clinic", "staging", &other, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));
}

pub fn a_heartbeat_records_the_deployment_the_lock_covers(db: &dyn Backend) {
    let store = db.open();
    let mut me = LockHolder::this_process("ada");
    store
        .try_lock("clinic", "staging", &me, Duration::from_secs(60))
        .unwrap();
    me.deployment = Some(42);
    store.heartbeat("clinic", "staging", &me).unwrap();
    assert_eq!(
        store
            .lock_holder("clinic", "staging")
            .unwrap()
            .unwrap()
            .deployment,
        Some(42)
    );
    // Another process's heartbeat does not take the lock over.
    let mut other = LockHolder::this_process("bob");
    other.pid = 1;
    other.deployment = Some(7);
    store.heartbeat("clinic", "staging", &other).unwrap();
    assert_eq!(
        store
            .lock_holder("clinic", "staging")
            .unwrap()
            .unwrap()
            .actor,
        "ada"
    );
}

pub fn a_dead_holders_lock_is_reclaimed_and_its_deployment_marked_interrupted(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let id = begin(&*store, "staging", &r, "ghost");
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
    assert_eq!(
        store
            .lock_holder("clinic", "staging")
            .unwrap()
            .unwrap()
            .actor,
        "ada"
    );
}

pub fn a_holder_on_another_host_expires_by_heartbeat_only(db: &dyn Backend) {
    let store = db.open();
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

pub fn force_unlock_returns_the_holder_and_interrupts_its_deployment(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let id = begin(&*store, "staging", &r, "ada");
    let mut me = LockHolder::this_process("ada");
    me.deployment = Some(id);
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
    let record = &store.deployments("clinic", "staging", 1).unwrap()[0];
    assert_eq!(record.outcome, DeploymentOutcome::Interrupted);
    assert!(
        record.message.contains("hoist unlock"),
        "{}",
        record.message
    );
}

pub fn a_release_saved_with_a_digest_comes_back_with_it(db: &dyn Backend) {
    let pushed = Release {
        digest: Some("sha256:d1".into()),
        ..release("v1", "sha256:a")
    };
    {
        let store = db.open();
        store.save_release(&pushed).unwrap();
        deploy(&*store, "staging", &pushed, DeploymentOutcome::Succeeded);
    }
    let store = db.open();
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

pub fn a_digest_belongs_to_its_image(db: &dyn Backend) {
    let store = db.open();
    let local = release("v1", "sha256:a");
    store.save_release(&local).unwrap();
    deploy(&*store, "staging", &local, DeploymentOutcome::Succeeded);
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
    deploy(&*store, "production", &pushed, DeploymentOutcome::Succeeded);
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
    let staging = &store.deployed_releases("clinic", "staging").unwrap()[0];
    assert_eq!(
        (staging.image_id.as_str(), staging.digest.as_deref()),
        ("sha256:a", None)
    );
    deploy(&*store, "staging", &rebuilt, DeploymentOutcome::Succeeded);
    assert_eq!(
        store.deployed_releases("clinic", "staging").unwrap(),
        [rebuilt]
    );
}

pub fn a_rebuild_by_an_older_hoist_drops_the_stale_digest(db: &dyn Backend) {
    let store = db.open();
    let pushed = Release {
        digest: Some("sha256:d1".into()),
        ..release("v1", "sha256:a")
    };
    store.save_release(&pushed).unwrap();
    // What a schema-1 hoist writes when it rebuilds a version: the image id only.
    db.execute_raw("UPDATE releases SET image_id = 'sha256:b' WHERE version = 'v1'")
        .unwrap();
    let found = store.find_release("clinic", "v1").unwrap().unwrap();
    assert_eq!((found.image_id.as_str(), found.digest), ("sha256:b", None));
}

pub fn deployment_summaries_list_every_environment_newest_first_for_one_app(db: &dyn Backend) {
    let store = db.open();
    let mut v1 = release_of("clinic", "v1", "sha256:one");
    v1.digest = Some("sha256:manifest-one".into());
    let v2 = release_of("clinic", "v2", "sha256:two");
    let other = release_of("billing", "v1", "sha256:billing");
    for r in [&v1, &v2, &other] {
        store.save_release(r).unwrap();
    }
    deploy(&*store, "staging", &v1, DeploymentOutcome::Succeeded);
    deploy(&*store, "production", &v1, DeploymentOutcome::Succeeded);
    deploy(&*store, "staging", &other, DeploymentOutcome::Succeeded);
    deploy(&*store, "staging", &v2, DeploymentOutcome::Failed);
    begin(&*store, "production", &v2, "ada");

    let found = store.deployment_summaries("clinic").unwrap();
    let seen: Vec<(&str, &str, &str, DeploymentOutcome)> = found
        .iter()
        .map(|d| {
            (
                d.environment.as_str(),
                d.version.as_str(),
                d.image_id.as_str(),
                d.outcome,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("production", "v2", "sha256:two", DeploymentOutcome::Running),
            ("staging", "v2", "sha256:two", DeploymentOutcome::Failed),
            (
                "production",
                "v1",
                "sha256:one",
                DeploymentOutcome::Succeeded
            ),
            ("staging", "v1", "sha256:one", DeploymentOutcome::Succeeded),
        ]
    );
    assert_eq!(found[2].digest.as_deref(), Some("sha256:manifest-one"));
    assert_eq!(found[0].digest, None);
    assert!(found.windows(2).all(|w| w[0].id > w[1].id));
}

fn task_run(deployment: i64, tenant: &str, outcome: TaskOutcome) -> TaskRunRecord {
    TaskRunRecord {
        deployment,
        app: "clinic".into(),
        environment: "staging".into(),
        version: "v1".into(),
        tenant: tenant.into(),
        task: "migrate".into(),
        outcome,
        exit_code: (outcome != TaskOutcome::TimedOut).then_some(
            if outcome == TaskOutcome::Succeeded {
                0
            } else {
                2
            },
        ),
        started_at: "2026-12-05T21:00:00Z".into(),
        duration_ms: 12,
        output: vec!["line 1".into(), "line 2".into()],
    }
}

pub fn only_a_successful_task_run_counts_as_done(db: &dyn Backend) {
    let store = db.open();
    let r = release("v1", "sha256:a");
    store.save_release(&r).unwrap();
    let d = begin(&*store, "staging", &r, "ada");
    let runs = [
        task_run(d, "t0", TaskOutcome::Failed),
        task_run(d, "t1", TaskOutcome::TimedOut),
        task_run(d, "t0", TaskOutcome::Succeeded),
    ];
    for run in &runs {
        store.record_task_run(run).unwrap();
    }
    assert!(
        store
            .task_succeeded("clinic", "staging", "v1", "t0", "migrate")
            .unwrap()
    );
    for (env, version, tenant, task) in [
        ("staging", "v1", "t1", "migrate"),
        ("staging", "v2", "t0", "migrate"),
        ("production", "v1", "t0", "migrate"),
        ("staging", "v1", "t0", "seed"),
    ] {
        assert!(
            !store
                .task_succeeded("clinic", env, version, tenant, task)
                .unwrap(),
            "{env} {version} {tenant} {task}"
        );
    }
    assert_eq!(store.task_runs(d).unwrap(), runs);
}

fn queue_deploy(env: &str) -> NewJob {
    NewJob {
        app: "clinic".into(),
        request: JobRequest::Deploy {
            environment: env.into(),
            version: None,
        },
        actor: "ada".into(),
        source: "token:ci".into(),
        dedupe_key: None,
    }
}

fn new_id(e: Enqueued) -> i64 {
    match e {
        Enqueued::New(id) => id,
        other => panic!("not a new job: {other:?}"),
    }
}

fn queue_release(git_ref: &str, commit: &str, delivery: &str) -> NewJob {
    NewJob {
        request: JobRequest::Release {
            git_ref: git_ref.into(),
            commit: commit.into(),
            clone_url: "https://example.com/clinic.git".into(),
        },
        dedupe_key: Some(format!("github:{delivery}")),
        actor: "octocat".into(),
        source: "webhook:github".into(),
        ..queue_deploy("staging")
    }
}

const C1: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const C2: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

pub fn a_second_delivery_of_a_release_queued_or_running_is_coalesced_into_it(db: &dyn Backend) {
    let store = db.open();
    let first = new_id(
        store
            .enqueue(&queue_release("refs/tags/v1.0.0", C1, "a"))
            .unwrap(),
    );

    // Queued: another delivery id of the same push is recorded, cancelled, not run.
    let Enqueued::Coalesced { id: dup, into } = store
        .enqueue(&queue_release("refs/tags/v1.0.0", C1, "b"))
        .unwrap()
    else {
        panic!("not coalesced")
    };
    assert_eq!(into, first);
    let recorded = store.job(dup).unwrap().unwrap();
    assert_eq!(recorded.state, JobState::Cancelled);
    assert!(
        recorded.message.contains(&format!("job {first}")),
        "{}",
        recorded.message
    );
    assert!(recorded.finished_at.is_some());
    // Its delivery id is remembered like any other.
    assert_eq!(
        store
            .enqueue(&queue_release("refs/tags/v1.0.0", C1, "b"))
            .unwrap(),
        Enqueued::Duplicate(dup)
    );

    // Another commit or another ref is another release.
    new_id(
        store
            .enqueue(&queue_release("refs/tags/v1.0.0", C2, "c"))
            .unwrap(),
    );
    new_id(
        store
            .enqueue(&queue_release("refs/tags/v1.0.1", C1, "d"))
            .unwrap(),
    );

    // Running: still coalesced.
    assert_eq!(store.claim_next("clinic", &[]).unwrap().unwrap().id, first);
    assert!(matches!(
        store.enqueue(&queue_release("refs/tags/v1.0.0", C1, "e")).unwrap(),
        Enqueued::Coalesced { into, .. } if into == first
    ));
    // Only the live jobs are claimed: the coalesced ones never run.
    let mut claimed = vec![];
    while let Some(j) = store.claim_next("clinic", &[]).unwrap() {
        claimed.push(j.id);
    }
    assert_eq!(claimed.len(), 2, "{claimed:?}");

    // Ended: the same ref and commit release again (a retry after a failure).
    store.finish_job(first, JobState::Failed, "boom").unwrap();
    new_id(
        store
            .enqueue(&queue_release("refs/tags/v1.0.0", C1, "f"))
            .unwrap(),
    );
}

pub fn deploy_jobs_are_never_coalesced(db: &dyn Backend) {
    let store = db.open();
    new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    new_id(store.enqueue(&queue_deploy("staging")).unwrap());
}

pub fn lead_time_counts_from_the_commit_time_recorded_with_the_release(db: &dyn Backend) {
    let store = db.open();
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
    deploy(&*store, "production", &older, DeploymentOutcome::Succeeded);
    deploy(&*store, "production", &known, DeploymentOutcome::Succeeded);

    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let since = until - jiff::SignedDuration::from_hours(24);
    let environments = ["production".to_string()];
    let store: &dyn Store = &*store;
    // No repository to ask: the recorded time alone gives the lead time.
    let m =
        hoist_core::metrics::from_store(store, "clinic", &environments, since, until, &|_| None)
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
        hoist_core::metrics::from_store(store, "clinic", &environments, since, until, &fallback)
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

pub fn jobs_are_claimed_oldest_first_one_per_busy_environment(db: &dyn Backend) {
    let store = db.open();
    let a = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    let b = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    let c = new_id(store.enqueue(&queue_deploy("production")).unwrap());

    let first = store.claim_next("clinic", &[]).unwrap().unwrap();
    assert_eq!(first.id, a);
    assert_eq!(first.state, JobState::Running);
    assert!(first.started_at.is_some());
    // staging is busy: the next claim skips b for c.
    let second = store
        .claim_next("clinic", &["staging".to_string()])
        .unwrap()
        .unwrap();
    assert_eq!(second.id, c);
    assert!(
        store
            .claim_next("clinic", &["staging".into(), "production".into()])
            .unwrap()
            .is_none()
    );
    // Another app's queue is its own.
    assert!(store.claim_next("other", &[]).unwrap().is_none());

    store
        .finish_job(a, JobState::Succeeded, "deployed v1")
        .unwrap();
    let done = store.job(a).unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.message, "deployed v1");
    assert!(done.finished_at.is_some());
    assert_eq!(store.claim_next("clinic", &[]).unwrap().unwrap().id, b);
    let listed: Vec<i64> = store
        .jobs("clinic", 10)
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, vec![c, b, a]);
    assert_eq!(store.jobs("clinic", 1).unwrap().len(), 1);
}

pub fn a_dedupe_key_queues_once(db: &dyn Backend) {
    let store = db.open();
    let job = NewJob {
        request: JobRequest::Release {
            git_ref: "v1.0.0".into(),
            commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            clone_url: "https://example.com/clinic.git".into(),
        },
        dedupe_key: Some("github:72d3162e".into()),
        ..queue_deploy("staging")
    };
    let first = new_id(store.enqueue(&job).unwrap());
    // Also from another handle, as a second server would see it.
    assert_eq!(db.open().enqueue(&job).unwrap(), Enqueued::Duplicate(first));
    let stored = store.job(first).unwrap().unwrap();
    assert_eq!(stored.request, job.request);
    assert_eq!(stored.environment, None);
    // Jobs without a key never collide.
    new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    new_id(store.enqueue(&queue_deploy("staging")).unwrap());
}

pub fn only_a_queued_job_can_be_cancelled(db: &dyn Backend) {
    let store = db.open();
    let a = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    let b = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
    store.claim_next("clinic", &[]).unwrap();
    assert_eq!(
        store.cancel(a).unwrap(),
        Cancel::NotQueued(JobState::Running)
    );
    assert_eq!(store.cancel(b).unwrap(), Cancel::Cancelled);
    assert_eq!(store.job(b).unwrap().unwrap().state, JobState::Cancelled);
    assert_eq!(
        store.cancel(b).unwrap(),
        Cancel::NotQueued(JobState::Cancelled)
    );
    assert_eq!(store.cancel(999).unwrap(), Cancel::NotFound);
    assert!(store.claim_next("clinic", &[]).unwrap().is_none());
}

pub fn jobs_survive_reopening_and_running_ones_become_interrupted(db: &dyn Backend) {
    let (running, queued) = {
        let store = db.open();
        let running = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
        let queued = new_id(store.enqueue(&queue_deploy("staging")).unwrap());
        store.claim_next("clinic", &[]).unwrap();
        (running, queued)
    };
    let store = db.open();
    let interrupted = store.interrupt_running("clinic").unwrap();
    assert_eq!(
        interrupted.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![running]
    );
    assert_eq!(
        store.job(running).unwrap().unwrap().state,
        JobState::Interrupted
    );
    assert_eq!(store.job(queued).unwrap().unwrap().state, JobState::Queued);
    // A job handed back before it changed anything runs again.
    let again = store.claim_next("clinic", &[]).unwrap().unwrap();
    assert_eq!(again.id, queued);
    store.requeue(queued).unwrap();
    assert_eq!(store.job(queued).unwrap().unwrap().state, JobState::Queued);
}

pub fn two_handles_claiming_at_once_never_take_the_same_job(db: &dyn Backend) {
    let setup = db.open();
    let ids: Vec<i64> = (0..20)
        .map(|i| new_id(setup.enqueue(&queue_deploy(&format!("env-{i}"))).unwrap()))
        .collect();
    let stores: Vec<Box<dyn AnyStore>> = (0..4).map(|_| db.open()).collect();
    let mut claimed: Vec<i64> = std::thread::scope(|s| {
        let workers: Vec<_> = stores
            .iter()
            .map(|store| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(job) = store.claim_next("clinic", &[]).unwrap() {
                        mine.push(job.id);
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "each job claimed exactly once");
}

pub fn tokens_are_found_by_hash_listed_and_revoked(db: &dyn Backend) {
    let store = db.open();
    let ci = TokenRecord {
        name: "ci".into(),
        owner: "ada".into(),
        scopes: vec!["deploy:staging".into()],
        created_at: "2026-12-05T10:00:00Z".into(),
        revoked_at: None,
    };
    let admin = TokenRecord {
        name: "Admin".into(),
        scopes: vec!["admin".into()],
        ..ci.clone()
    };
    assert!(store.create_token(&ci, "hash-of-ci").unwrap());
    assert!(store.create_token(&admin, "hash-of-admin").unwrap());
    assert!(
        !store.create_token(&ci, "another-hash").unwrap(),
        "a name is one token"
    );
    assert_eq!(store.token_by_hash("hash-of-ci").unwrap(), Some(ci.clone()));
    assert_eq!(store.token_by_hash("nope").unwrap(), None);
    assert_eq!(store.tokens().unwrap(), vec![admin, ci]);
    assert!(store.revoke_token("ci").unwrap());
    assert!(!store.revoke_token("ci").unwrap());
    assert!(!store.revoke_token("nobody").unwrap());
    assert!(
        store
            .token_by_hash("hash-of-ci")
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

pub fn the_store_names_where_it_keeps_its_state(db: &dyn Backend) {
    let location = db.open().location().expect("a location");
    assert!(!location.is_empty());
}
