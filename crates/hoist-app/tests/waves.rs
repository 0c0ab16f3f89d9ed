//! Canary, waves and `on_failure` in the pipeline, against a fake runtime (a stand-in for
//! the `Runtime` trait only, in memory): which instances are attempted in which order,
//! what a rollback by policy asks the runtime, and what is recorded, audited and emitted.
//! The same behaviour on the real Docker engine is tested in crates/hoist/tests/waves.rs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hoist_core::backend::{BackendError, BuildRequest, Endpoint, ProbeResult};
use hoist_core::pipeline::{Deployer, LockWait, Runtimes, Subset};
use hoist_core::runtime::{
    Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::store::{DeploymentKind, DeploymentOutcome};
use hoist_core::{Builder, Event, EventKind, EventSink, InstanceState, Prober, Release, Store};
use hoist_store::SqliteStore;

/// Each tenant's (image id, release); tenants in `failing` refuse `bad_version` and keep
/// what they ran.
#[derive(Default)]
struct FakeRuntime {
    running: Mutex<BTreeMap<String, (String, String)>>,
    failing: Vec<String>,
    bad_version: String,
    calls: Mutex<Vec<String>>,
}

impl FakeRuntime {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn version(&self, tenant: &str) -> Option<String> {
        self.running
            .lock()
            .unwrap()
            .get(tenant)
            .map(|(_, v)| v.clone())
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn kind(&self) -> &'static str {
        "fake"
    }
    async fn recover(&self, _: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let workload = match self.running.lock().unwrap().get(&instance.tenant) {
            Some((image_id, version)) => WorkloadState::Running {
                image_id: image_id.clone(),
                release: Some(version.clone()),
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
        if self.failing.contains(&instance.tenant) && release.version == self.bad_version {
            return Err(InstanceFailure::rolled_back("health check never answered"));
        }
        self.running.lock().unwrap().insert(
            instance.tenant.clone(),
            (release.image_id.clone(), release.version.clone()),
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
        _: &InstanceSpec,
    ) -> Result<Option<hoist_core::spec_digest::SpecDigest>, BackendError> {
        Ok(None)
    }
    async fn list(&self, _: &str, _: &str, _: &[String]) -> Result<Vec<Workload>, BackendError> {
        Ok(Vec::new())
    }
    async fn retire(&self, _: &Workload) -> Result<(), BackendError> {
        Ok(())
    }
}

struct Healthy;

#[async_trait]
impl Prober for Healthy {
    async fn get(&self, _: &Endpoint, _: &str) -> ProbeResult {
        Ok((200, "ok".into()))
    }
}

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

/// Five tenants: `a` is the canary by name, `b` wears the `eu` tag; `rollout` is the
/// environment's rollout table.
fn config(rollout: &str) -> String {
    let mut text = format!(
        "[app]\nname = \"hoist-wave-app\"\nimage = \"registry.example/hoist-wave-app\"\nport = 8080\n\n\
         [build]\ndependencies = [\"requirements.txt\"]\n\n\
         [environments.staging]\nrollout = {{ {rollout} }}\n"
    );
    for (i, tenant) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let tags = if *tenant == "b" {
            "tags = [\"eu\"]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n[[environments.staging.instances]]\ntenant = \"{tenant}\"\nport = {}\n{tags}",
            20130 + i
        ));
    }
    text
}

struct Setup {
    deployer: Deployer,
    runtime: Arc<FakeRuntime>,
    events: Arc<Mutex<Vec<Event>>>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn release(version: &str) -> Release {
    Release {
        app: "hoist-wave-app".into(),
        version: version.into(),
        commit: "c0ffee".into(),
        image: format!("registry.example/hoist-wave-app:{version}"),
        image_id: format!("sha256:{version}"),
        digest: None,
        fingerprint: "fp".into(),
        base_image: "registry.example/hoist-wave-app-base:fp-0".into(),
        created_by: "tester".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
    }
}

/// Every tenant on v1 (recorded), v2 recorded, `c` failing v2.
fn setup(rollout: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, config(rollout)).unwrap();
    let config = Arc::new(hoist_config::load(&path).unwrap());
    let v1 = release("v1");
    let runtime = Arc::new(FakeRuntime {
        running: Mutex::new(
            ["a", "b", "c", "d", "e"]
                .iter()
                .map(|t| (t.to_string(), (v1.image_id.clone(), v1.version.clone())))
                .collect(),
        ),
        failing: vec!["c".into()],
        bad_version: "v2".into(),
        ..Default::default()
    });
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    store.save_release(&v1).unwrap();
    store.save_release(&release("v2")).unwrap();
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
        interrupt: Default::default(),
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

async fn deploy_v2(s: &Setup) -> hoist_core::pipeline::DeploymentReport {
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    s.deployer
        .roll_out("staging", &release("v2"), DeploymentKind::Deploy, &lock)
        .await
        .unwrap()
}

fn states(report: &hoist_core::pipeline::DeploymentReport) -> Vec<(&str, InstanceState)> {
    report
        .instances
        .iter()
        .map(|i| (i.tenant.as_str(), i.state))
        .collect()
}

#[tokio::test]
async fn a_rollback_by_policy_adds_its_steps_to_those_kept_of_the_instance() {
    let s = setup("concurrency = 1, canary = [\"a\"], batch = 2, on_failure = \"rollback\"");
    let report = deploy_v2(&s).await;

    // The canary's steps: its rollout to v2, then the policy's return to v1, in order.
    let kept: Vec<(String, String)> = s
        .store
        .instance_steps(report.deployment)
        .unwrap()
        .into_iter()
        .filter(|step| step.tenant == "a")
        .map(|step| (step.state, step.message))
        .collect();
    let emitted: Vec<(String, String)> = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.tenant.as_deref() == Some("a"))
        .filter_map(|e| match &e.kind {
            EventKind::InstanceProgress { state, message } => {
                Some((state.as_str().to_string(), message.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(kept, emitted);
    let states: Vec<&str> = kept.iter().map(|(state, _)| state.as_str()).collect();
    let healthy = states
        .iter()
        .position(|s| *s == "healthy")
        .expect("took v2");
    let back = states
        .iter()
        .position(|s| *s == "rolling_back")
        .expect("returned");
    assert!(healthy < back, "{states:?}");
    assert_eq!(states.last(), Some(&"rolled_back_by_policy"));
}

#[tokio::test]
async fn rollback_policy_returns_the_canary_and_the_first_batch_and_leaves_the_third_untouched() {
    let s = setup("concurrency = 1, canary = [\"a\"], batch = 2, on_failure = \"rollback\"");
    let report = deploy_v2(&s).await;

    assert_eq!(
        states(&report),
        [
            ("a", InstanceState::RolledBackByPolicy),
            ("b", InstanceState::RolledBackByPolicy),
            ("c", InstanceState::RolledBack),
            ("d", InstanceState::Skipped),
            ("e", InstanceState::Skipped),
        ]
    );
    assert_eq!(report.outcome, DeploymentOutcome::Failed);
    assert!(
        report.message.contains("failed on c")
            && report
                .message
                .contains("the rollback policy returned 2 instance(s)"),
        "{}",
        report.message
    );
    // The canary alone, then [b, c]; the policy rolls v1 out again to a and b; d and e
    // are never touched.
    assert_eq!(
        s.runtime.calls(),
        [
            "roll_out a v2",
            "roll_out b v2",
            "roll_out c v2",
            "roll_out a v1",
            "roll_out b v1"
        ]
    );
    for tenant in ["a", "b", "c", "d", "e"] {
        assert_eq!(s.runtime.version(tenant).as_deref(), Some("v1"), "{tenant}");
    }

    let recorded = &s.store.deployments("hoist-wave-app", "staging", 1).unwrap()[0];
    let outcomes: Vec<(&str, &str)> = recorded
        .instances
        .iter()
        .map(|i| (i.tenant.as_str(), i.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a", "rolled_back_by_policy"),
            ("b", "rolled_back_by_policy"),
            ("c", "rolled_back"),
            ("d", "skipped"),
            ("e", "skipped"),
        ]
    );
    assert!(recorded.subset.is_empty());

    let audit: Vec<String> = s
        .store
        .audit_log("hoist-wave-app", Some("staging"), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        audit.contains(&"rollout.rolled_back_by_policy".to_string()),
        "{audit:?}"
    );

    let events = s.events.lock().unwrap();
    let waves: Vec<(usize, bool, Vec<String>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WaveStarted {
                wave,
                canary,
                tenants,
                ..
            } => Some((*wave, *canary, tenants.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        waves,
        [
            (1, true, vec!["a".to_string()]),
            (2, false, vec!["b".to_string(), "c".to_string()])
        ]
    );
    let stopped = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::WavesStopped {
                policy,
                failed_wave,
                rolled_back_by_policy,
                untouched,
                ..
            } => Some((
                policy.clone(),
                *failed_wave,
                rolled_back_by_policy.clone(),
                untouched.clone(),
            )),
            _ => None,
        })
        .expect("a waves_stopped event");
    assert_eq!(
        stopped,
        (
            "rollback".to_string(),
            2,
            vec!["a".to_string(), "b".to_string()],
            vec!["d".to_string(), "e".to_string()]
        )
    );
}

#[tokio::test]
async fn halt_policy_leaves_the_canary_and_the_first_batch_on_the_new_release() {
    let s =
        setup("concurrency = 2, canary_tags = [\"eu\"], batch = \"50%\", on_failure = \"halt\"");
    let report = deploy_v2(&s).await;
    // Canary b (by its tag); then 50% of the four others, rounded up: [a, c], [d, e].
    assert_eq!(
        states(&report),
        [
            ("a", InstanceState::Healthy),
            ("b", InstanceState::Healthy),
            ("c", InstanceState::RolledBack),
            ("d", InstanceState::Skipped),
            ("e", InstanceState::Skipped),
        ]
    );
    assert_eq!(s.runtime.version("a").as_deref(), Some("v2"));
    assert_eq!(s.runtime.version("b").as_deref(), Some("v2"));
    assert_eq!(s.runtime.version("d").as_deref(), Some("v1"));
    assert!(
        s.runtime.calls().iter().all(|c| !c.ends_with(" v1")),
        "{:?}",
        s.runtime.calls()
    );
    let audit: Vec<String> = s
        .store
        .audit_log("hoist-wave-app", Some("staging"), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(audit.contains(&"rollout.halted".to_string()), "{audit:?}");
}

#[tokio::test]
async fn without_wave_keys_a_deploy_halts_as_before_and_emits_no_wave_events() {
    let s = setup("concurrency = 1");
    let report = deploy_v2(&s).await;
    assert_eq!(
        states(&report),
        [
            ("a", InstanceState::Healthy),
            ("b", InstanceState::Healthy),
            ("c", InstanceState::RolledBack),
            ("d", InstanceState::Skipped),
            ("e", InstanceState::Skipped),
        ]
    );
    assert!(s.events.lock().unwrap().iter().all(|e| !matches!(
        e.kind,
        EventKind::WaveStarted { .. } | EventKind::WavesStopped { .. }
    )));
}

#[tokio::test]
async fn a_pause_is_announced_before_every_wave_after_the_first() {
    let s = setup("concurrency = 1, batch = 2, pause = \"10ms\"");
    s.runtime.running.lock().unwrap().clear();
    let lock = s.deployer.lock("staging", LockWait::Refuse).await.unwrap();
    let report = s
        .deployer
        .roll_out("staging", &release("v1"), DeploymentKind::Deploy, &lock)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeploymentOutcome::Succeeded);
    let seen: Vec<String> = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WavePaused { wave, .. } => Some(format!("pause {wave}")),
            EventKind::WaveStarted { wave, .. } => Some(format!("wave {wave}")),
            _ => None,
        })
        .collect();
    assert_eq!(seen, ["wave 1", "pause 2", "wave 2", "pause 3", "wave 3"]);
}

#[test]
fn a_subset_names_its_tenants_in_file_order_and_refuses_unknown_names() {
    let s = setup("concurrency = 1");
    let env = s.deployer.config.environment("staging").unwrap();
    let subset = Subset {
        tenants: vec!["d".into()],
        tags: vec!["eu".into()],
    };
    assert_eq!(
        subset.select(env).unwrap(),
        Some(vec!["b".to_string(), "d".to_string()])
    );
    assert_eq!(Subset::all().select(env).unwrap(), None);
    let err = Subset {
        tenants: vec!["zed".into()],
        tags: vec!["us".into()],
    }
    .select(env)
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "staging has no tenant `zed`; its tenants are: a, b, c, d, e; no instance of staging has the tag `us`; its tags are: eu"
    );
}
