//! The prune after a deploy, in the pipeline, against fakes of the engine side (the real
//! engine's pruning is tested in crates/hoist/tests/prune.rs): it runs after a successful
//! rollout, keeps the release just rolled out, and its failures only warn.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hoist_core::backend::{BackendError, BuildRequest, Endpoint, ProbeResult};
use hoist_core::pipeline::{Deployer, LockWait, Override, Runtimes};
use hoist_core::prune::{EngineInventory, EnginePruner, ImageInfo, PruneItem};
use hoist_core::runtime::{
    Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord};
use hoist_core::{Builder, Event, EventKind, EventSink, Prober, Release, Store};
use hoist_store::SqliteStore;

/// Runs each tenant's image id in memory.
#[derive(Default)]
struct FakeRuntime {
    running: Mutex<BTreeMap<String, String>>,
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
            Some(image_id) => WorkloadState::Running {
                image_id: image_id.clone(),
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
        _: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        self.running
            .lock()
            .unwrap()
            .insert(instance.tenant.clone(), release.image_id.clone());
        Ok(Applied {
            message: format!("runs {}", release.version),
        })
    }
    fn spec_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    async fn applied_spec(&self, _: &InstanceSpec) -> Result<Option<SpecDigest>, BackendError> {
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

/// An engine holding every recorded release's image, which refuses every removal (or,
/// with `unreadable`, cannot even be listed).
#[derive(Default)]
struct RefusingEngine {
    unreadable: bool,
    removals: Mutex<Vec<String>>,
    inventories: Mutex<usize>,
}

#[async_trait]
impl EnginePruner for RefusingEngine {
    async fn inventory(&self, engine: &str, app: &str) -> Result<EngineInventory, BackendError> {
        *self.inventories.lock().unwrap() += 1;
        if self.unreadable {
            return Err(BackendError::new("connection refused"));
        }
        let images = ["v0", "v1", "v2"]
            .iter()
            .map(|v| ImageInfo {
                id: format!("sha256:{v}"),
                tags: vec![format!("clinic:{v}")],
                digests: vec![],
                labels: BTreeMap::from([
                    (hoist_core::labels::APP.to_string(), app.to_string()),
                    (hoist_core::labels::VERSION.to_string(), v.to_string()),
                    (hoist_core::labels::FINGERPRINT.to_string(), "fp".into()),
                ]),
                size: 100,
            })
            .collect();
        Ok(EngineInventory {
            engine: engine.to_string(),
            images,
            containers: Vec::new(),
        })
    }
    async fn remove(&self, _: &str, item: &PruneItem) -> Result<(), BackendError> {
        self.removals.lock().unwrap().push(item.name());
        Err(BackendError::new("conflict: the image is in use"))
    }
}

const CONFIG: &str = r#"
[app]
name = "clinic"
image = "clinic"
port = 8080

[build]
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 20260
"#;

fn release(version: &str) -> Release {
    Release {
        app: "clinic".into(),
        version: version.into(),
        commit: "c0ffee".into(),
        image: format!("clinic:{version}"),
        image_id: format!("sha256:{version}"),
        digest: None,
        fingerprint: "fp".into(),
        base_image: "clinic-base:fp-0".into(),
        created_by: "tester".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
    }
}

/// A deployer whose store has v0, v1, v2 deployed to staging, in that order.
fn deployer(
    prune: &str,
    engine: Arc<RefusingEngine>,
) -> (Deployer, Arc<Mutex<Vec<Event>>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, format!("{CONFIG}\n{prune}\n")).unwrap();
    let config = Arc::new(hoist_config::load(&path).unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    for version in ["v0", "v1", "v2"] {
        let r = release(version);
        store.save_release(&r).unwrap();
        let id = store
            .begin_deployment(&DeploymentRecord {
                id: 0,
                app: "clinic".into(),
                environment: "staging".into(),
                kind: DeploymentKind::Deploy,
                version: r.version.clone(),
                image_id: r.image_id.clone(),
                actor: "tester".into(),
                started_at: "2026-12-01T00:00:00Z".into(),
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
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut runtimes = Runtimes::uniform(Arc::new(FakeRuntime::default()));
    runtimes.set_pruner(engine, Some("unix:///var/run/docker.sock".into()));
    let deployer = Deployer {
        config,
        builder: Arc::new(NoBuilds),
        runtimes,
        prober: Arc::new(Healthy),
        store,
        notifier: Arc::new(hoist_core::notify::Silent),
        events: EventSink::new(move |e| seen.lock().unwrap().push(e.clone())),
        actor: "tester".into(),
        interrupt: Default::default(),
        force_tasks: false,
    };
    (deployer, events, dir)
}

fn warnings(events: &Mutex<Vec<Event>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn refused_removals_after_a_rollback_warn_and_the_rollback_succeeds() {
    let engine = Arc::new(RefusingEngine::default());
    let (d, events, _dir) = deployer("[prune]\nkeep = 1\n", engine.clone());
    // Back to v1: it is the current release, v2 the environment's newest success, v0 old.
    let report = d
        .rollback(
            "staging",
            Some("v1"),
            LockWait::Refuse,
            &Override::default(),
        )
        .await
        .expect("the rollback succeeds whatever the prune does");
    assert!(report.succeeded());
    // keep = 1 keeps v1 (current, and now the newest success); v0 and v2 go.
    let mut tried = engine.removals.lock().unwrap().clone();
    tried.sort();
    assert_eq!(tried, ["clinic:v0", "clinic:v2"]);
    let pruned: Vec<Event> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Pruned { .. }))
        .cloned()
        .collect();
    assert_eq!(pruned.len(), 1);
    match &pruned[0].kind {
        EventKind::Pruned {
            removed, failed, ..
        } => {
            assert!(removed.is_empty(), "{removed:?}");
            assert_eq!(failed.len(), 2, "{failed:?}");
        }
        other => unreachable!("{other:?}"),
    }
    assert_eq!(pruned[0].environment.as_deref(), Some("staging"));
    let text = hoist_core::events::describe(&pruned[0]).expect("shown");
    assert_eq!(text.tone, hoist_core::events::text::Tone::Warning);
    assert!(text.text.contains("in use"), "{}", text.text);
    let audit = d.store.audit_log("clinic", Some("staging"), 50).unwrap();
    assert!(
        audit.iter().any(|a| a.action == "prune.failed"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_unreadable_engine_warns_and_the_rollback_succeeds() {
    let engine = Arc::new(RefusingEngine {
        unreadable: true,
        ..Default::default()
    });
    let (d, events, _dir) = deployer("", engine.clone());
    let report = d
        .rollback("staging", None, LockWait::Refuse, &Override::default())
        .await
        .expect("the rollback succeeds");
    assert!(report.succeeded());
    assert_eq!(*engine.inventories.lock().unwrap(), 1);
    let warnings = warnings(&events);
    assert!(
        warnings.iter().any(|w| w.contains("connection refused")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn after_deploy_false_prunes_nothing() {
    let engine = Arc::new(RefusingEngine::default());
    let (d, events, _dir) = deployer("[prune]\nafter_deploy = false\nkeep = 1\n", engine.clone());
    d.rollback("staging", None, LockWait::Refuse, &Override::default())
        .await
        .expect("the rollback succeeds");
    assert_eq!(*engine.inventories.lock().unwrap(), 0);
    assert!(
        !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Pruned { .. }))
    );
}
