//! The pipeline against a fake runtime: what every runtime kind shares (recovery first,
//! `unchanged` detection, halt after the first failure, records, events, audit entries and
//! notices through the observer), without an engine. The fake is a stand-in for the
//! `Runtime` trait only; the real runtimes have their own tests against a real engine
//! and swarm.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hoist_core::backend::{BackendError, BuildRequest, Endpoint, ProbeResult};
use hoist_core::pipeline::{
    Deployer, DeploymentReport, LockWait, Override, PipelineError, RetireOptions, Runtimes,
};
use hoist_core::runtime::{
    Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::store::{DeploymentKind, DeploymentOutcome};
use hoist_core::{
    Builder, Event, EventKind, EventSink, InstanceState, Interrupt, Prober, Release, StopSignal,
    Store,
};
use hoist_store::SqliteStore;

/// Runs "instances" in memory: each tenant's image id. Tenants in `failing` fail their
/// roll-out and keep what they ran.
#[derive(Default)]
struct FakeRuntime {
    running: Mutex<BTreeMap<String, String>>,
    failing: Vec<String>,
    /// A release no tenant takes.
    bad_release: Option<String>,
    calls: Mutex<Vec<String>>,
    /// A stop is requested (as the CLI does on SIGTERM) while this tenant rolls out.
    stop_during: Option<(String, Interrupt)>,
    /// The spec digest each tenant was started with.
    specs: Mutex<BTreeMap<String, SpecDigest>>,
    /// Workloads the config does not name (a removed tenant's), until retired.
    extra: Mutex<Vec<Workload>>,
}

impl FakeRuntime {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn running(&self, tenant: &str) -> Option<String> {
        self.running.lock().unwrap().get(tenant).cloned()
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn kind(&self) -> &'static str {
        "fake"
    }
    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("recover {}", instance.tenant));
        Ok(Vec::new())
    }
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let workload = match self.running(&instance.tenant) {
            Some(image_id) => WorkloadState::Running {
                image_id,
                release: None,
                digests: Vec::new(),
            },
            None => WorkloadState::Missing,
        };
        Ok(Observed {
            workload,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: instance.port,
            },
            notes: Vec::new(),
            secrets: Default::default(),
        })
    }
    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("roll_out {} {}", instance.tenant, release.version));
        rollout.progress(InstanceState::Starting, "starting");
        if let Some(echoed) = instance.env.get("ECHOED") {
            // A runtime quoting what the engine or the app said.
            rollout.progress(InstanceState::Starting, format!("the engine said {echoed}"));
            rollout.warn(format!("the engine said {echoed}"));
        }
        if let Some((tenant, interrupt)) = &self.stop_during
            && *tenant == instance.tenant
        {
            interrupt.request(StopSignal::Terminate);
        }
        if self.failing.contains(&instance.tenant)
            || self.bad_release.as_deref() == Some(release.version.as_str())
        {
            // An app may print what it was given (`ECHOED` stands for such a value).
            let echoed = instance
                .env
                .get("ECHOED")
                .map(|v| format!("; the app printed {v}"))
                .unwrap_or_default();
            return Err(InstanceFailure::rolled_back(format!(
                "health check never answered{echoed}"
            )));
        }
        self.running
            .lock()
            .unwrap()
            .insert(instance.tenant.clone(), release.image_id.clone());
        self.specs.lock().unwrap().insert(
            instance.tenant.clone(),
            SpecDigest::of(instance, &self.spec_settings()),
        );
        rollout
            .wait_verified(instance, release, InstanceState::Verifying, || {
                self.observe(instance)
            })
            .await
            .map_err(InstanceFailure::failed)?;
        Ok(Applied {
            message: format!("runs {}", release.version),
        })
    }
    fn spec_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        Ok(self.specs.lock().unwrap().get(&instance.tenant).cloned())
    }
    /// Configured tenants are listed by name; `extra` holds the rest.
    async fn list(
        &self,
        _app: &str,
        _environment: &str,
        _hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError> {
        Ok(self.extra.lock().unwrap().clone())
    }
    async fn retire(&self, workload: &Workload) -> Result<(), BackendError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("retire {}", workload.name));
        self.extra.lock().unwrap().retain(|w| w != workload);
        Ok(())
    }
}

/// Every endpoint answers 200.
struct Healthy;

#[async_trait]
impl Prober for Healthy {
    async fn get(&self, _: &Endpoint, _: &str) -> ProbeResult {
        Ok((200, "ok".into()))
    }
}

/// Knows every image; builds nothing (these tests roll out recorded releases).
struct NoBuilds;

#[async_trait]
impl Builder for NoBuilds {
    async fn image_id(&self, reference: &str) -> Result<Option<String>, BackendError> {
        Ok(Some(reference.to_string()))
    }
    async fn build(&self, _: &BuildRequest, _: &EventSink) -> Result<String, BackendError> {
        Err(BackendError::new("these tests build nothing"))
    }
}

const CONFIG: &str = r#"
[app]
name = "clinic"
image = "registry.example/clinic"
port = 8080

[build]
dependencies = ["requirements.txt"]

[environments.staging]
rollout = { concurrency = 1 }
[[environments.staging.instances]]
tenant = "acme"
port = 19901
[[environments.staging.instances]]
tenant = "globex"
port = 19902
[[environments.staging.instances]]
tenant = "initech"
port = 19903
"#;

struct Setup {
    deployer: Deployer,
    runtime: Arc<FakeRuntime>,
    events: Arc<Mutex<Vec<Event>>>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn setup(runtime: FakeRuntime, store: Arc<dyn Store>) -> Setup {
    setup_with(CONFIG, runtime, store)
}

fn setup_with(config: &str, runtime: FakeRuntime, store: Arc<dyn Store>) -> Setup {
    let interrupt = runtime
        .stop_during
        .as_ref()
        .map(|(_, i)| i.clone())
        .unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, config).unwrap();
    let config = Arc::new(hoist_config::load(&path).unwrap());
    let runtime = Arc::new(runtime);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let deployer = Deployer {
        config,
        builder: Arc::new(NoBuilds),
        runtimes: Runtimes::uniform(runtime.clone()),
        prober: Arc::new(Healthy),
        store: store.clone(),
        notifier: Arc::new(hoist_core::notify::Silent),
        events: EventSink::new(move |e| seen.lock().unwrap().push(e.clone())),
        actor: "tester".into(),
        interrupt,
        force_tasks: false,
    };
    Setup {
        deployer,
        runtime,
        events,
        store,
        _dir: dir,
    }
}

/// Saves `release` and rolls it out to staging under its lock, as a deploy does.
async fn deploy(s: &Setup, release: &Release) -> DeploymentReport {
    s.store.save_release(release).unwrap();
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    s.deployer
        .roll_out("staging", release, DeploymentKind::Deploy, &lock)
        .await
        .unwrap()
}

fn release(version: &str) -> Release {
    Release {
        app: "clinic".into(),
        version: version.into(),
        commit: "c0ffee".into(),
        image: format!("registry.example/clinic:{version}"),
        image_id: format!("sha256:{version}"),
        digest: None,
        fingerprint: "fp".into(),
        base_image: "registry.example/clinic-base:fp-0".into(),
        created_by: "tester".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
    }
}

fn in_memory() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().unwrap())
}

#[tokio::test]
async fn a_stop_request_undoes_the_instance_in_flight_skips_the_rest_and_records_interrupted() {
    let interrupt = Interrupt::default();
    let s = setup(
        FakeRuntime {
            stop_during: Some(("globex".into(), interrupt.clone())),
            ..Default::default()
        },
        in_memory(),
    );
    let v1 = release("v1.0.0");
    let report = deploy(&s, &v1).await;

    let states: Vec<(String, InstanceState, String)> = report
        .instances
        .iter()
        .map(|i| (i.tenant.clone(), i.state, i.message.clone()))
        .collect();
    assert_eq!(states[0].1, InstanceState::Healthy);
    // The verification in flight gave up at once, so the runtime undid its step.
    assert_eq!(states[1].1, InstanceState::Failed);
    assert!(states[1].2.contains("stopped by SIGTERM"), "{states:?}");
    assert_eq!(states[2].1, InstanceState::Skipped);
    assert_eq!(states[2].2, "not attempted: stopped by SIGTERM");
    assert_eq!(report.outcome, DeploymentOutcome::Interrupted);
    assert!(
        report
            .message
            .starts_with("stopped by SIGTERM: v1.0.0 runs on 1 of 3 instance(s)"),
        "{}",
        report.message
    );
    let history = s.store.deployments("clinic", "staging", 1).unwrap();
    assert_eq!(history[0].outcome, DeploymentOutcome::Interrupted);
    assert!(s.runtime.calls().iter().all(|c| !c.contains("initech")));
    // The lock was released: the next run takes it without reclaiming anything.
    assert_eq!(s.store.lock_holder("clinic", "staging").unwrap(), None);
}

#[tokio::test]
async fn a_stop_request_before_the_rollout_changes_nothing_and_exits_with_the_signal() {
    let s = setup(FakeRuntime::default(), in_memory());
    let v1 = release("v1.0.0");
    s.store.save_release(&v1).unwrap();
    s.deployer.interrupt.request(StopSignal::Interrupt);
    let err = s
        .deployer
        .rollback(
            "staging",
            Some("v1.0.0"),
            LockWait::Refuse,
            &Override {
                unverified: true,
                ..Override::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 130);
    assert!(err.to_string().starts_with("stopped by SIGINT"), "{err}");
    assert!(s.runtime.calls().is_empty());
    assert!(
        s.store
            .deployments("clinic", "staging", 5)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failure_halts_the_rollout_and_every_instance_is_recorded() {
    let s = setup(
        FakeRuntime {
            failing: vec!["globex".into()],
            ..Default::default()
        },
        in_memory(),
    );
    let v1 = release("v1.0.0");
    let report = deploy(&s, &v1).await;

    let states: Vec<(String, InstanceState)> = report
        .instances
        .iter()
        .map(|i| (i.tenant.clone(), i.state))
        .collect();
    assert_eq!(
        states,
        [
            ("acme".to_string(), InstanceState::Healthy),
            ("globex".to_string(), InstanceState::RolledBack),
            ("initech".to_string(), InstanceState::Skipped),
        ]
    );
    assert_eq!(report.outcome, DeploymentOutcome::Failed);
    assert!(
        report.message.contains("failed on globex"),
        "{}",
        report.message
    );
    // Recovery runs before each attempted instance; nothing is attempted after the failure.
    assert_eq!(
        s.runtime.calls(),
        [
            "recover acme",
            "roll_out acme v1.0.0",
            "recover globex",
            "roll_out globex v1.0.0"
        ]
    );

    let history = s.store.deployments("clinic", "staging", 5).unwrap();
    let outcomes: Vec<&str> = history[0]
        .instances
        .iter()
        .map(|i| i.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["healthy", "rolled_back", "skipped"]);

    // The observer wrote the audit entries from the events.
    let actions: Vec<String> = s
        .store
        .audit_log("clinic", Some("staging"), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["deploy.failed", "deploy.started"]);

    // Every event carries the run and the environment; progress names its tenant.
    let events = s.events.lock().unwrap();
    let run = &events[0].run;
    assert!(events.iter().all(|e| &e.run == run));
    assert!(
        events
            .iter()
            .all(|e| e.environment.as_deref() == Some("staging"))
    );
    assert!(events.iter().any(|e| e.tenant.as_deref() == Some("globex")
        && matches!(
            e.kind,
            hoist_core::EventKind::InstanceProgress {
                state: InstanceState::RolledBack,
                ..
            }
        )));
}

/// One instance's steps: (state, message, time), in their stored form.
type Steps = BTreeMap<String, Vec<(String, String, String)>>;

/// Each tenant's progress as the events reported it (what the CLI printed).
fn progress_of(events: &[Event]) -> Steps {
    let mut steps = Steps::new();
    for e in events {
        if let (EventKind::InstanceProgress { state, message }, Some(tenant)) = (&e.kind, &e.tenant)
        {
            steps.entry(tenant.clone()).or_default().push((
                state.as_str().to_string(),
                message.clone(),
                e.at.to_string(),
            ));
        }
    }
    steps
}

/// Each tenant's steps as the store kept them for `deployment`.
fn stored_steps(store: &dyn Store, deployment: i64) -> Steps {
    let mut steps = Steps::new();
    for s in store.instance_steps(deployment).unwrap() {
        steps
            .entry(s.tenant)
            .or_default()
            .push((s.state, s.message, s.at));
    }
    steps
}

#[tokio::test]
async fn a_deploy_keeps_every_instances_steps_as_the_events_reported_them() {
    let s = setup(
        FakeRuntime {
            failing: vec!["globex".into()],
            ..Default::default()
        },
        in_memory(),
    );
    let report = deploy(&s, &release("v1.0.0")).await;

    let stored = stored_steps(&*s.store, report.deployment);
    assert_eq!(stored, progress_of(&s.events.lock().unwrap()));
    let states = |tenant: &str| -> Vec<&str> {
        stored[tenant]
            .iter()
            .map(|(state, _, _)| state.as_str())
            .collect()
    };
    assert_eq!(states("acme").first(), Some(&"waiting"));
    assert!(states("acme").contains(&"starting"), "{:?}", states("acme"));
    assert_eq!(states("acme").last(), Some(&"healthy"));
    assert_eq!(states("globex"), ["waiting", "starting", "rolled_back"]);
    assert_eq!(states("initech"), ["waiting", "skipped"]);
    // Another deployment's page shows none of these.
    assert!(
        s.store
            .instance_steps(report.deployment + 1)
            .unwrap()
            .is_empty()
    );
}

/// What the state database keeps of a failed instance (its outcome, its steps, the
/// deployment's message) and what the events and the report say have the instance's env
/// and secret values masked, even when the app echoed one.
#[tokio::test]
async fn a_failed_instances_record_masks_what_the_app_echoed() {
    let config = CONFIG.replace(
        "tenant = \"globex\"\n",
        "tenant = \"globex\"\nenv = { ECHOED = \"hunter2-correct-horse\" }\n",
    );
    let s = setup_with(
        &config,
        FakeRuntime {
            failing: vec!["globex".into()],
            ..Default::default()
        },
        in_memory(),
    );
    let report = deploy(&s, &release("v1.0.0")).await;

    let record = s
        .store
        .deployments("clinic", "staging", 1)
        .unwrap()
        .pop()
        .expect("the deployment is recorded");
    let globex = record
        .instances
        .iter()
        .find(|i| i.tenant == "globex")
        .expect("globex is recorded");
    assert_eq!(
        globex.message,
        "health check never answered; the app printed *****"
    );
    let steps = s.store.instance_steps(report.deployment).unwrap();
    let last = steps
        .iter()
        .rfind(|step| step.tenant == "globex")
        .expect("globex's steps");
    assert_eq!(last.state, "rolled_back");
    assert!(last.message.contains("printed *****"), "{last:?}");
    let stored = format!("{record:?}{steps:?}");
    assert!(!stored.contains("hunter2"), "{stored}");
    let told = format!("{:?}{report:?}", s.events.lock().unwrap());
    assert!(!told.contains("hunter2"), "{told}");
    assert!(told.contains("the engine said *****"), "{told}");
}

/// Steps that cannot be written (here: their table is gone) are a warning; the deploy
/// and every other record go on.
#[tokio::test]
async fn steps_that_cannot_be_kept_do_not_fail_the_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE instance_steps")
        .unwrap();
    let s = setup(FakeRuntime::default(), store);
    let report = deploy(&s, &release("v1.0.0")).await;

    assert!(report.succeeded(), "{report:?}");
    let record = s.store.deployments("clinic", "staging", 1).unwrap().pop();
    let record = record.expect("the deployment is recorded");
    assert_eq!(record.outcome, DeploymentOutcome::Succeeded);
    assert_eq!(record.instances.len(), 3);
    let warnings: Vec<String> = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    for tenant in ["acme", "globex", "initech"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("recording {tenant}'s steps: "))),
            "{warnings:?}"
        );
    }
}

#[tokio::test]
async fn an_instance_already_on_the_release_is_left_alone() {
    let runtime = FakeRuntime::default();
    for tenant in ["acme", "globex", "initech"] {
        runtime
            .running
            .lock()
            .unwrap()
            .insert(tenant.into(), "sha256:v1.0.0".into());
    }
    let s = setup(runtime, in_memory());
    // Started with the settings the config has now.
    for spec in s.deployer.instances("staging").unwrap() {
        s.runtime
            .specs
            .lock()
            .unwrap()
            .insert(spec.tenant.clone(), SpecDigest::of(&spec, &BTreeMap::new()));
    }
    let v1 = release("v1.0.0");
    s.store.save_release(&v1).unwrap();
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    let report = s
        .deployer
        .roll_out("staging", &v1, DeploymentKind::Deploy, &lock)
        .await
        .unwrap();
    assert!(report.succeeded());
    assert!(
        report
            .instances
            .iter()
            .all(|i| i.state == InstanceState::Unchanged)
    );
    assert!(!s.runtime.calls().iter().any(|c| c.starts_with("roll_out")));
}

#[tokio::test]
async fn the_release_with_other_settings_is_redeployed_naming_them() {
    let runtime = FakeRuntime::default();
    for tenant in ["acme", "globex", "initech"] {
        runtime
            .running
            .lock()
            .unwrap()
            .insert(tenant.into(), "sha256:v1.0.0".into());
    }
    let s = setup(runtime, in_memory());
    for mut spec in s.deployer.instances("staging").unwrap() {
        // acme ran with another port; globex with no recorded spec; initech as configured.
        match spec.tenant.as_str() {
            "acme" => spec.port += 1,
            "globex" => continue,
            _ => {}
        }
        s.runtime
            .specs
            .lock()
            .unwrap()
            .insert(spec.tenant.clone(), SpecDigest::of(&spec, &BTreeMap::new()));
    }
    let ports: BTreeMap<String, u16> = s
        .deployer
        .instances("staging")
        .unwrap()
        .into_iter()
        .map(|i| (i.tenant, i.port))
        .collect();
    let v1 = release("v1.0.0");
    s.store.save_release(&v1).unwrap();
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    let report = s
        .deployer
        .roll_out("staging", &v1, DeploymentKind::Deploy, &lock)
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", report.message);
    let by_tenant = |t: &str| report.instances.iter().find(|i| i.tenant == t).unwrap();
    assert_eq!(by_tenant("acme").state, InstanceState::Healthy);
    let acme_port = ports["acme"];
    assert!(
        by_tenant("acme")
            .message
            .contains(&format!("port {} → {acme_port}", acme_port + 1)),
        "{}",
        by_tenant("acme").message
    );
    assert_eq!(by_tenant("globex").state, InstanceState::Healthy);
    assert!(
        by_tenant("globex").message.contains("not recorded"),
        "{}",
        by_tenant("globex").message
    );
    assert_eq!(by_tenant("initech").state, InstanceState::Unchanged);
    let recorded = &s.store.deployments("clinic", "staging", 1).unwrap()[0].instances;
    assert!(recorded.iter().all(|o| o.spec.is_some()), "{recorded:?}");
}

#[tokio::test]
async fn status_reports_each_instance_through_its_runtime() {
    let runtime = FakeRuntime::default();
    runtime
        .running
        .lock()
        .unwrap()
        .insert("acme".into(), "sha256:v1.0.0".into());
    let s = setup(runtime, in_memory());
    let status = s.deployer.status("staging").await.unwrap();
    let acme = &status.instances[0];
    assert_eq!(acme.runtime, "fake");
    assert!(acme.healthy, "{}", acme.message);
    let globex = &status.instances[1];
    assert!(!globex.healthy);
    assert_eq!(globex.message, "nothing runs");
}

#[tokio::test]
async fn rollback_works_on_a_state_database_written_before_the_schema_migration() {
    // A copy of the database today's predecessor wrote (see hoist-store's fixtures): staging
    // runs v1.0.0 (a rollback), with v1.1.0 deployed before it.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hoist-store/tests/fixtures/state-v1.db");
    std::fs::copy(&fixture, &db).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let s = setup(FakeRuntime::default(), store);

    let report = s
        .deployer
        .rollback("staging", None, LockWait::Refuse, &Override::default())
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", report.message);
    assert_eq!(report.release.version, "v1.1.0");
    assert_eq!(report.release.digest, None);
    let v110 = s.store.find_release("clinic", "v1.1.0").unwrap().unwrap();
    assert_eq!(s.runtime.running("acme"), Some(v110.image_id.clone()));
    assert_eq!(s.runtime.running("initech"), Some(v110.image_id));
    // The old history is still there, under the new deployment.
    let history = s.store.deployments("clinic", "staging", 10).unwrap();
    assert_eq!(history.len(), 5);
    assert_eq!(history[0].kind, DeploymentKind::Rollback);
}

const STAGED: &str = r#"
[app]
name = "clinic"
image = "registry.example/clinic"
port = 8080

[build]
dependencies = ["requirements.txt"]

[environments.staging]
deploy_from = [{ semver = "prerelease", pre = ["beta"] }]
[[environments.staging.instances]]
tenant = "acme"
port = 19911

[environments.production]
deploy_from = [{ semver = "release" }]
requires_verified_in = ["staging"]
[[environments.production.instances]]
tenant = "acme"
port = 19912
"#;

/// Records `release` as verified in `environment`, as a deploy there would.
async fn verified_in(s: &Setup, environment: &str, release: &Release) {
    s.store.save_release(release).unwrap();
    let lock = s
        .deployer
        .lock(environment, LockWait::Refuse)
        .await
        .unwrap();
    let report = s
        .deployer
        .roll_out(environment, release, DeploymentKind::Deploy, &lock)
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", report.message);
}

fn refusal(e: hoist_core::pipeline::PipelineError) -> String {
    match e {
        hoist_core::pipeline::PipelineError::Refused { reasons, .. } => reasons.join("; "),
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test]
async fn promote_and_rollback_to_pass_the_target_environments_rules() {
    let s = setup_with(STAGED, FakeRuntime::default(), in_memory());
    let beta = release("v1.0.0-beta.1");
    verified_in(&s, "staging", &beta).await;

    // Staging's current release is a pre-release; production takes release tags only.
    let refused = s
        .deployer
        .promote(
            "staging",
            "production",
            None,
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(refused),
        "production takes only semver release tags, and the tag `v1.0.0-beta.1` is not one \
         (its deploy_from rules); tag a version that production takes and run `hoist release --ref TAG`"
    );
    assert_eq!(
        s.runtime.running("acme").as_deref(),
        Some("sha256:v1.0.0-beta.1")
    );

    // With a release tag verified in staging too, the hint names the promotion that works.
    let good = release("v0.9.0");
    verified_in(&s, "staging", &good).await;
    let refused = s
        .deployer
        .promote(
            "staging",
            "production",
            Some("v1.0.0-beta.1"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap_err();
    assert!(
        refusal(refused)
            .ends_with("`hoist promote staging production --version v0.9.0` would be allowed")
    );
    let promoted = s
        .deployer
        .promote(
            "staging",
            "production",
            Some("v0.9.0"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap();
    assert!(promoted.succeeded());

    // Rollback --to is held to the same rules.
    let refused = s
        .deployer
        .rollback(
            "production",
            Some("v1.0.0-beta.1"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap_err();
    assert!(refusal(refused).starts_with("production takes only semver release tags"));

    // A release staging's rules do not take can never be verified there: the hint says so
    // and names what would work instead.
    let refused = s
        .deployer
        .promote(
            "staging",
            "production",
            Some("v1.1.0"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(refused),
        "v1.1.0 has not been verified in staging; staging does not take v1.1.0, so it cannot be \
         verified there; `hoist promote staging production --version v0.9.0` would ship v0.9.0, \
         which is verified there"
    );
    let actions: Vec<String> = s
        .store
        .audit_log("clinic", Some("production"), 20)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.iter().filter(|a| *a == "policy.refused").count() >= 3,
        "{actions:?}"
    );
}

#[tokio::test]
async fn rollback_to_a_release_never_verified_needs_force() {
    let s = setup(FakeRuntime::default(), in_memory());
    let v1 = release("v1.0.0");
    verified_in(&s, "staging", &v1).await;
    // Built and recorded, but never verified anywhere.
    let untried = release("v0.5.0");
    s.store.save_release(&untried).unwrap();

    let refused = s
        .deployer
        .rollback(
            "staging",
            Some("v0.5.0"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .unwrap_err();
    let reason = refusal(refused);
    assert!(
        reason.starts_with("v0.5.0 was never verified in any environment"),
        "{reason}"
    );
    assert!(
        reason.contains("`hoist rollback staging --to v0.5.0 --force`"),
        "{reason}"
    );
    assert_eq!(s.runtime.running("acme").as_deref(), Some("sha256:v1.0.0"));

    let forced = Override {
        unverified: true,
        ..Override::default()
    };
    let report = s
        .deployer
        .rollback("staging", Some("v0.5.0"), LockWait::Refuse, &forced)
        .await
        .unwrap();
    assert!(report.succeeded(), "{}", report.message);
    assert_eq!(s.runtime.running("acme").as_deref(), Some("sha256:v0.5.0"));
}

#[tokio::test]
async fn a_rollback_after_a_deploy_that_switched_nothing_says_so() {
    let s = setup(
        FakeRuntime {
            bad_release: Some("v2.0.0".into()),
            ..Default::default()
        },
        in_memory(),
    );
    verified_in(&s, "staging", &release("v1.0.0")).await;
    let v2 = release("v2.0.0");
    s.store.save_release(&v2).unwrap();
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    let failed = s
        .deployer
        .roll_out("staging", &v2, DeploymentKind::Deploy, &lock)
        .await
        .unwrap();
    drop(lock);
    assert!(!failed.succeeded());

    let report = s
        .deployer
        .rollback("staging", None, LockWait::Refuse, &Override::default())
        .await
        .unwrap();
    assert!(report.succeeded());
    assert_eq!(report.release.version, "v1.0.0");
    assert_eq!(
        report.message,
        "staging already runs v1.0.0 on every instance (3); nothing was rolled back"
    );
}

/// A tenant removed from the config that still runs: `delta`, one live workload and one
/// rollout leftover.
fn with_delta() -> FakeRuntime {
    let runtime = FakeRuntime::default();
    for name in ["clinic-staging-delta", "clinic-staging-delta--prev"] {
        runtime.extra.lock().unwrap().push(Workload {
            tenant: "delta".into(),
            name: name.into(),
            instance: "clinic-staging-delta".into(),
            host: "unix:///var/run/docker.sock".into(),
            release: Some("v1.0.0".into()),
            state: "running".into(),
        });
    }
    runtime
}

fn retire_options() -> RetireOptions {
    RetireOptions {
        dry_run: false,
        wait: LockWait::Refuse,
        overrides: Override::default(),
    }
}

#[tokio::test]
async fn retire_removes_an_orphaned_tenant_under_the_lock_and_audits_it() {
    let s = setup(with_delta(), in_memory());
    let orphans = s.deployer.orphans("staging").await.unwrap();
    assert_eq!(orphans.len(), 2);
    let dry = s
        .deployer
        .retire(
            "staging",
            "delta",
            &RetireOptions {
                dry_run: true,
                ..retire_options()
            },
        )
        .await
        .unwrap();
    assert_eq!(dry.workloads.len(), 2);
    assert!(!s.runtime.calls().iter().any(|c| c.starts_with("retire")));

    // Another holder of the lock makes retire refuse, like a deploy.
    let held = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    let locked = s
        .deployer
        .retire("staging", "delta", &retire_options())
        .await
        .unwrap_err();
    assert!(matches!(locked, PipelineError::Locked { .. }), "{locked}");
    drop(held);

    let report = s
        .deployer
        .retire("staging", "delta", &retire_options())
        .await
        .unwrap();
    assert_eq!(report.workloads.len(), 2);
    assert_eq!(
        s.runtime.calls(),
        [
            "retire clinic-staging-delta",
            "retire clinic-staging-delta--prev"
        ]
    );
    assert!(s.deployer.orphans("staging").await.unwrap().is_empty());
    let audit = s.store.audit_log("clinic", Some("staging"), 10).unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "retire.succeeded")
        .expect("audited");
    assert_eq!(
        entry.detail,
        "tenant delta: stopped and removed clinic-staging-delta, clinic-staging-delta--prev"
    );
    assert_eq!(entry.version.as_deref(), Some("v1.0.0"));
    assert!(s.events.lock().unwrap().iter().any(
        |e| matches!(&e.kind, EventKind::Retired { tenant, error: None, .. } if tenant == "delta")
    ));
}

#[tokio::test]
async fn retire_follows_the_deployers_policy_and_refuses_configured_tenants() {
    let config = format!(
        "{CONFIG}\n[environments.staging.policy]\ndeployers = [\"alice\"]\nrelease_tags_only = true\n"
    );
    let s = setup_with(&config, with_delta(), in_memory());
    let refused = s
        .deployer
        .retire("staging", "delta", &retire_options())
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains("tester is not among staging's deployers"),
        "{text}"
    );
    // release_tags_only is about refs; a retire ships none.
    assert!(!text.contains("release_tags_only"), "{text}");
    assert!(!s.runtime.calls().iter().any(|c| c.starts_with("retire")));

    let configured = s
        .deployer
        .retire("staging", "acme", &retire_options())
        .await
        .unwrap_err();
    assert_eq!(configured.exit_code(), 2);
    assert!(
        configured
            .to_string()
            .contains("tenant acme is still configured"),
        "{configured}"
    );
    let unknown = s
        .deployer
        .retire("staging", "nobody", &retire_options())
        .await
        .unwrap_err();
    assert_eq!(unknown.exit_code(), 2);
    assert!(
        unknown
            .to_string()
            .contains("orphaned tenants there: delta"),
        "{unknown}"
    );
}

#[tokio::test]
async fn a_runtime_without_release_tasks_fails_the_instance_before_changing_it() {
    let config = format!(
        "{CONFIG}\n[[environments.staging.tasks]]\nname = \"migrate\"\ncommand = [\"migrate\"]\n"
    );
    let s = setup_with(&config, FakeRuntime::default(), in_memory());
    let report = deploy(&s, &release("v1.0.0")).await;

    assert_eq!(report.outcome, DeploymentOutcome::Failed);
    let acme = &report.instances[0];
    assert_eq!(acme.state, InstanceState::Failed);
    assert!(
        acme.message
            .contains("release tasks are not supported on the fake runtime yet")
            && acme.message.contains("acme stays on its previous release"),
        "{}",
        acme.message
    );
    // Nothing was rolled out, and the tenants after the failure were not attempted.
    assert_eq!(s.runtime.calls(), ["recover acme"]);
    assert!(
        report.instances[1..]
            .iter()
            .all(|i| i.state == InstanceState::Skipped)
    );
    assert!(s.store.task_runs(report.deployment).unwrap().is_empty());
}
