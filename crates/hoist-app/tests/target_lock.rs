//! The pipeline's side of the lock on targets, against in-memory lock places: two deployers
//! with their own state databases exclude each other through the target; places are taken
//! in one order and given back in reverse; what was taken is released when a later place
//! is held, when the lock is dropped (on a current-thread runtime too), and by
//! `force_unlock`. The real places (a Docker engine's lock container, a swarm's config) are
//! tested against the real engine in `crates/hoist/tests/target_lock.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::backend::{BackendError, BuildRequest, Endpoint, ProbeResult};
use hoist_core::pipeline::{Deployer, LockWait, PipelineError, Runtimes};
use hoist_core::runtime::{
    Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime, WorkloadState,
};
use hoist_core::store::{LockAttempt, LockHolder};
use hoist_core::target_lock::{LockKey, TargetAttempt, TargetLock};
use hoist_core::{Builder, Event, EventKind, EventSink, Prober, Release, Store};
use hoist_store::SqliteStore;

type Calls = Arc<Mutex<Vec<String>>>;

/// One lock object slot, named `name`; records what was done to it in `calls`.
struct MemoryLock {
    name: String,
    held: Mutex<Option<(String, LockHolder)>>,
    tokens: Mutex<u32>,
    calls: Calls,
}

impl MemoryLock {
    fn new(name: &str, calls: &Calls) -> Arc<MemoryLock> {
        Arc::new(MemoryLock {
            name: name.into(),
            held: Mutex::new(None),
            tokens: Mutex::new(0),
            calls: calls.clone(),
        })
    }
    fn holder(&self) -> Option<LockHolder> {
        self.held.lock().unwrap().as_ref().map(|(_, h)| h.clone())
    }
    fn log(&self, what: &str) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{what} {}", self.name));
    }
}

#[async_trait]
impl TargetLock for MemoryLock {
    fn place(&self) -> String {
        format!("the fake engine {}", self.name)
    }
    async fn acquire(
        &self,
        _key: &LockKey,
        holder: &LockHolder,
        _stale_after: Duration,
    ) -> Result<TargetAttempt, BackendError> {
        self.log("acquire");
        let mut held = self.held.lock().unwrap();
        if let Some((_, other)) = held.as_ref() {
            return Ok(TargetAttempt::HeldBy(other.clone()));
        }
        let mut n = self.tokens.lock().unwrap();
        *n += 1;
        let token = format!("{}-{n}", self.name);
        *held = Some((token.clone(), holder.clone()));
        Ok(TargetAttempt::Acquired {
            token,
            reclaimed_from: None,
        })
    }
    async fn refresh(&self, _key: &LockKey, _token: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn release(&self, _key: &LockKey, token: &str) -> Result<(), BackendError> {
        self.log("release");
        let mut held = self.held.lock().unwrap();
        if held.as_ref().is_some_and(|(t, _)| t == token) {
            *held = None;
        }
        Ok(())
    }
    async fn force_release(&self, _key: &LockKey) -> Result<Option<LockHolder>, BackendError> {
        self.log("force_release");
        Ok(self.held.lock().unwrap().take().map(|(_, h)| h))
    }
}

/// A runtime whose instances never change; it locks `places`, in the order given.
struct Places(Vec<Arc<MemoryLock>>);

#[async_trait]
impl Runtime for Places {
    fn kind(&self) -> &'static str {
        "fake"
    }
    async fn recover(&self, _: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        Ok(Observed {
            workload: WorkloadState::Missing,
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
        _: &InstanceSpec,
        _: &Release,
        _: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        Err(InstanceFailure::failed("these tests roll nothing out"))
    }
    fn spec_settings(&self) -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
    async fn applied_spec(
        &self,
        _: &InstanceSpec,
    ) -> Result<Option<hoist_core::spec_digest::SpecDigest>, BackendError> {
        Ok(None)
    }
    async fn list(
        &self,
        _: &str,
        _: &str,
        _: &[String],
    ) -> Result<Vec<hoist_core::runtime::Workload>, BackendError> {
        Ok(Vec::new())
    }
    async fn retire(&self, _: &hoist_core::runtime::Workload) -> Result<(), BackendError> {
        Ok(())
    }
    fn lock_places(&self, _: &[InstanceSpec]) -> Vec<Arc<dyn TargetLock>> {
        self.0
            .iter()
            .map(|p| p.clone() as Arc<dyn TargetLock>)
            .collect()
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

const CONFIG: &str = r#"
[app]
name = "clinic"
image = "registry.example/clinic"
port = 8080

[build]
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 19901
"#;

/// A deployer acting as `actor`, with a state database of its own (a checkout of its own).
struct Checkout {
    deployer: Deployer,
    store: Arc<dyn Store>,
    events: Arc<Mutex<Vec<Event>>>,
    _dir: tempfile::TempDir,
}

fn checkout(actor: &str, places: &[Arc<MemoryLock>]) -> Checkout {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = Arc::new(hoist_config::load(&path).unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let deployer = Deployer {
        config,
        builder: Arc::new(NoBuilds),
        runtimes: Runtimes::uniform(Arc::new(Places(places.to_vec()))),
        prober: Arc::new(Healthy),
        store: store.clone(),
        notifier: Arc::new(hoist_core::notify::Silent),
        events: EventSink::new(move |e| seen.lock().unwrap().push(e.clone())),
        actor: actor.into(),
        interrupt: Default::default(),
        force_tasks: false,
    };
    Checkout {
        deployer,
        store,
        events,
        _dir: dir,
    }
}

fn calls(calls: &Calls) -> Vec<String> {
    std::mem::take(&mut *calls.lock().unwrap())
}

fn foreign() -> LockHolder {
    LockHolder {
        actor: "carol".into(),
        hostname: "elsewhere".into(),
        pid: 4242,
        process_start: 7,
        acquired_at: "2026-12-05T09:00:00Z".into(),
        deployment: None,
        state: None,
    }
}

#[tokio::test]
async fn a_deployer_with_another_state_database_is_refused_by_the_target_lock() {
    let log = Calls::default();
    let engine = MemoryLock::new("one", &log);
    let alice = checkout("alice", std::slice::from_ref(&engine));
    let bob = checkout("bob", std::slice::from_ref(&engine));

    let held = alice
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();
    assert_eq!(held.places(), ["the fake engine one"]);
    assert_eq!(engine.holder().unwrap().actor, "alice");

    let refused = bob.deployer.lock("staging", LockWait::Refuse).await;
    let Err(e @ PipelineError::Locked { .. }) = refused else {
        panic!("bob must be refused");
    };
    assert!(
        e.to_string()
            .starts_with("staging is locked on the fake engine one by alice (pid "),
        "{e}"
    );
    // The refusal gave back bob's own state database lock.
    let mine = LockHolder::this_process("bob");
    assert!(matches!(
        bob.store
            .try_lock("clinic", "staging", &mine, Duration::from_secs(60))
            .unwrap(),
        LockAttempt::Acquired { .. }
    ));
    bob.store.unlock("clinic", "staging", &mine).unwrap();

    // Dropped (here, on a current-thread runtime): the target is free again.
    drop(held);
    assert_eq!(engine.holder(), None);
    let taken = bob
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();
    assert_eq!(engine.holder().unwrap().actor, "bob");
    drop(taken);
}

#[tokio::test]
async fn places_are_taken_in_one_order_and_given_back_when_a_later_one_is_held() {
    let log = Calls::default();
    let (z, a) = (MemoryLock::new("z", &log), MemoryLock::new("a", &log));
    let alice = checkout("alice", &[z.clone(), a.clone()]);
    *z.held.lock().unwrap() = Some(("theirs".into(), foreign()));

    let refused = alice.deployer.lock("staging", LockWait::Refuse).await;
    let Err(PipelineError::Locked { holder, place, .. }) = refused else {
        panic!("z is held");
    };
    assert_eq!(holder.actor, "carol");
    assert_eq!(place.as_deref(), Some("the fake engine z"));
    assert_eq!(calls(&log), ["acquire a", "acquire z", "release a"]);
    assert_eq!(a.holder(), None, "a was given back");

    *z.held.lock().unwrap() = None;
    let held = alice
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();
    assert_eq!(calls(&log), ["acquire a", "acquire z"]);
    drop(held);
    assert_eq!(calls(&log), ["release z", "release a"]);
}

#[tokio::test]
async fn a_waiting_deployer_says_where_the_lock_is_and_runs_once_it_is_free() {
    let log = Calls::default();
    let engine = MemoryLock::new("one", &log);
    let alice = checkout("alice", std::slice::from_ref(&engine));
    let bob = checkout("bob", std::slice::from_ref(&engine));
    let held = alice
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();

    let waiting = {
        let deployer = bob.deployer.clone();
        tokio::spawn(async move {
            deployer
                .lock("staging", LockWait::Wait(Duration::from_secs(30)))
                .await
                .map(drop)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "bob waits while alice holds the lock"
    );
    drop(held);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("bob gets the lock")
        .unwrap()
        .unwrap();
    let events = bob.events.lock().unwrap();
    let waited = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::LockWaiting { holder, .. } => Some(holder.clone()),
            _ => None,
        })
        .expect("a lock_waiting event");
    assert_eq!(waited.actor, "alice");
    assert_eq!(waited.place.as_deref(), Some("the fake engine one"));
}

#[tokio::test]
async fn force_unlock_removes_the_lock_on_every_target() {
    let log = Calls::default();
    let engine = MemoryLock::new("one", &log);
    let alice = checkout("alice", std::slice::from_ref(&engine));
    let bob = checkout("bob", std::slice::from_ref(&engine));
    let held = alice
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();

    let forced = bob.deployer.force_unlock("staging").await.unwrap();
    assert_eq!(forced.store, None, "bob's own database had no lock");
    assert_eq!(forced.targets.len(), 1);
    let (place, removed) = &forced.targets[0];
    assert_eq!(place, "the fake engine one");
    assert_eq!(removed.as_ref().unwrap().as_ref().unwrap().actor, "alice");
    assert_eq!(engine.holder(), None);
    // Alice's late release does not remove a successor's lock.
    let taken = bob
        .deployer
        .lock("staging", LockWait::Refuse)
        .await
        .unwrap();
    drop(held);
    assert_eq!(engine.holder().unwrap().actor, "bob");
    drop(taken);
}
