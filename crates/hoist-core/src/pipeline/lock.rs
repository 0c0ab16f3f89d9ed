//! One deploy per environment. The lock is held in two places: a row in the store, so it
//! holds across processes and machines sharing the store, and an object on every target
//! the environment's instances live on ([`crate::target_lock`]), so it also holds against
//! deploys with another state database (another checkout, runner or machine). A heartbeat
//! keeps both fresh while the holder runs; a dead holder's lock is reclaimed in both.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Deployer, LOCK_STALE_AFTER, LockWait, PipelineError};
use crate::Stage;
use crate::backend::BackendError;
use crate::events::{EventKind, EventSink, Holder, ms};
use crate::store::{LockAttempt, LockHolder, Store};
use crate::target_lock::{LockKey, TargetAttempt, TargetLock};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How long dropping a lock waits for its targets to be released.
const RELEASE_LIMIT: Duration = Duration::from_secs(20);

/// A lock held on one target, named by the token its acquisition returned.
#[derive(Clone)]
struct HeldTarget {
    place: Arc<dyn TargetLock>,
    token: String,
}

/// A held environment lock. Dropping it releases the lock: the targets' first (in the
/// reverse of the order taken), then the store's.
pub struct EnvLock {
    store: Arc<dyn Store>,
    key: LockKey,
    holder: Arc<Mutex<LockHolder>>,
    targets: Vec<HeldTarget>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl EnvLock {
    /// Records which deployment the lock covers, so a successor that reclaims it can mark
    /// that deployment interrupted.
    pub fn set_deployment(&self, deployment: i64) {
        let holder = {
            let mut h = self.holder.lock().unwrap_or_else(|p| p.into_inner());
            h.deployment = Some(deployment);
            h.clone()
        };
        let _ = self
            .store
            .heartbeat(&self.key.app, &self.key.environment, &holder);
    }

    /// Releases the lock now, on the targets and in the store: what dropping it does, for
    /// code about to leave the process (`std::process::exit` runs no destructors).
    pub fn release(self) {
        drop(self);
    }

    /// Where the lock is held besides the store, in the order taken.
    pub fn places(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.place.place()).collect()
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        release_targets(&self.key, std::mem::take(&mut self.targets));
        let holder = self
            .holder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Err(e) = self
            .store
            .unlock(&self.key.app, &self.key.environment, &holder)
        {
            tracing::warn!(environment = %self.key.environment, "could not release the lock: {e}");
        }
    }
}

/// Releases target locks from a synchronous `drop`, on every exit path. The release runs on
/// a thread with a Tokio runtime of its own: blocking the caller's runtime on its own
/// futures could deadlock (a current-thread runtime cannot drive them while it waits).
fn release_targets(key: &LockKey, targets: Vec<HeldTarget>) {
    if targets.is_empty() {
        return;
    }
    let environment = key.environment.clone();
    let key = key.clone();
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("hoist-unlock".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(async {
                    for target in targets.iter().rev() {
                        if let Err(e) = target.place.release(&key, &target.token).await {
                            tracing::warn!(
                                environment = %key.environment,
                                "could not release the lock on {}: {e}",
                                target.place.place()
                            );
                        }
                    }
                }),
                Err(e) => tracing::warn!("could not release the target locks: {e}"),
            }
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => {
            if finished.recv_timeout(RELEASE_LIMIT).is_err() {
                tracing::warn!(%environment, "releasing the target locks did not finish in time");
            }
        }
        Err(e) => tracing::warn!("could not release the target locks: {e}"),
    }
}

/// What `hoist unlock ENV --force` removed.
#[derive(Debug)]
pub struct ForcedUnlock {
    /// The store's lock holder, if there was one.
    pub store: Option<LockHolder>,
    /// Per target place: the holder whose lock was removed (`None`: not locked there), or
    /// why it could not be removed.
    pub targets: Vec<(String, Result<Option<LockHolder>, String>)>,
}

/// One try at every lock of an environment.
enum Attempt {
    Acquired(EnvLock),
    /// Held by `holder`, at `place` (`None`: the store).
    HeldBy(LockHolder, Option<String>),
}

impl Deployer {
    /// Takes `environment`'s lock, waiting or refusing as `wait` says.
    pub async fn lock(&self, environment: &str, wait: LockWait) -> Result<EnvLock, PipelineError> {
        self.scoped(environment).lock_here(environment, wait).await
    }

    /// Removes `environment`'s lock in the store and on every target, whoever holds it
    /// (`hoist unlock --force`). A target that cannot be reached is reported, not fatal.
    pub async fn force_unlock(&self, environment: &str) -> Result<ForcedUnlock, PipelineError> {
        let key = LockKey::new(self.app_name(), environment);
        let places = self.lock_places(environment)?;
        let mut targets = Vec::new();
        for place in &places {
            let removed = place.force_release(&key).await.map_err(|e| e.to_string());
            targets.push((place.place(), removed));
        }
        let store = self.store.force_unlock(&key.app, environment)?;
        Ok(ForcedUnlock { store, targets })
    }

    /// The environment's lock places on its targets, in the one order every deployer takes
    /// them.
    fn lock_places(&self, environment: &str) -> Result<Vec<Arc<dyn TargetLock>>, PipelineError> {
        let instances = self.instances(environment)?;
        let mut places = Vec::new();
        for (runtime, on_it) in self.runtimes_of(environment, &instances)? {
            places.extend(runtime.lock_places(&on_it));
        }
        places.sort_by_key(|p| p.place());
        places.dedup_by_key(|p| p.place());
        Ok(places)
    }

    async fn lock_here(&self, environment: &str, wait: LockWait) -> Result<EnvLock, PipelineError> {
        let key = LockKey::new(self.app_name(), environment);
        let mut holder = LockHolder::this_process(&self.actor);
        holder.state = self.store.location();
        let places = self.lock_places(environment)?;
        let started = Instant::now();
        let mut announced = false;
        self.events.emit(EventKind::StageStarted {
            stage: Stage::Lock,
            subject: Some(environment.to_string()),
        });
        loop {
            match self.try_lock_all(&key, &holder, &places).await? {
                Attempt::Acquired(mut lock) => {
                    self.events.emit(EventKind::LockAcquired {
                        took_ms: ms(started.elapsed()),
                    });
                    lock.heartbeat = Some(tokio::spawn(heartbeat(
                        self.store.clone(),
                        key.clone(),
                        lock.holder.clone(),
                        lock.targets.clone(),
                        self.events.clone(),
                    )));
                    return Ok(lock);
                }
                Attempt::HeldBy(other, place) => {
                    let waited = started.elapsed();
                    let named = Holder::at(&other, place.as_deref());
                    match wait {
                        LockWait::Wait(limit) if waited < limit => {
                            if !announced {
                                announced = true;
                                self.events.emit(EventKind::LockWaiting {
                                    holder: named,
                                    limit_secs: limit.as_secs(),
                                });
                            }
                            tokio::time::sleep(RETRY_EVERY).await;
                        }
                        _ => {
                            self.note(EventKind::LockRefused { holder: named });
                            return Err(PipelineError::Locked {
                                environment: environment.to_string(),
                                holder: Box::new(other),
                                place,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Takes the store's lock, then each target's in order. When any is held, what was
    /// taken is released (by dropping it) before the holder is reported, so a waiting
    /// deployer never sits on a lock another needs.
    async fn try_lock_all(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        places: &[Arc<dyn TargetLock>],
    ) -> Result<Attempt, PipelineError> {
        match self
            .store
            .try_lock(&key.app, &key.environment, holder, LOCK_STALE_AFTER)?
        {
            LockAttempt::HeldBy(other) => return Ok(Attempt::HeldBy(other, None)),
            LockAttempt::Acquired { reclaimed_from } => {
                if let Some(dead) = reclaimed_from {
                    self.note(EventKind::LockReclaimed {
                        holder: Holder::from(&dead),
                    });
                }
            }
        }
        let mut lock = EnvLock {
            store: self.store.clone(),
            key: key.clone(),
            holder: Arc::new(Mutex::new(holder.clone())),
            targets: Vec::new(),
            heartbeat: None,
        };
        for place in places {
            let attempt = place
                .acquire(key, holder, LOCK_STALE_AFTER)
                .await
                .map_err(|e| {
                    PipelineError::Backend(BackendError::new(format!(
                        "cannot take {}'s lock on {}: {}",
                        key.environment,
                        place.place(),
                        e.message
                    )))
                })?;
            match attempt {
                TargetAttempt::Acquired {
                    token,
                    reclaimed_from,
                } => {
                    if let Some(dead) = reclaimed_from {
                        self.note(EventKind::LockReclaimed {
                            holder: Holder::at(&dead, Some(&place.place())),
                        });
                    }
                    lock.targets.push(HeldTarget {
                        place: place.clone(),
                        token,
                    });
                }
                TargetAttempt::HeldBy(other) => {
                    return Ok(Attempt::HeldBy(other, Some(place.place())));
                }
            }
        }
        Ok(Attempt::Acquired(lock))
    }
}

/// Refreshes the store's lock and every target's until aborted. A target lock that can no
/// longer be refreshed was removed by someone (`hoist unlock --force`, a prune): said once,
/// as a warning, since the deploy in flight is no longer protected there.
async fn heartbeat(
    store: Arc<dyn Store>,
    key: LockKey,
    holder: Arc<Mutex<LockHolder>>,
    targets: Vec<HeldTarget>,
    events: EventSink,
) {
    let mut lost = vec![false; targets.len()];
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        let h = holder.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Err(e) = store.heartbeat(&key.app, &key.environment, &h) {
            tracing::warn!(environment = %key.environment, "lock heartbeat failed: {e}");
        }
        for (target, lost) in targets.iter().zip(lost.iter_mut()) {
            match target.place.refresh(&key, &target.token).await {
                Ok(()) => *lost = false,
                Err(e) if !*lost => {
                    *lost = true;
                    events.warning(format!(
                        "the lock of {} on {} could not be refreshed: {e}",
                        key.environment,
                        target.place.place()
                    ));
                }
                Err(_) => {}
            }
        }
    }
}
