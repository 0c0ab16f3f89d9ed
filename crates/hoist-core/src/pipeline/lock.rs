//! One deploy per environment. The lock lives in the store, so it holds across processes
//! and machines sharing the store; a heartbeat keeps it fresh while the holder runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Deployer, LOCK_STALE_AFTER, LockWait, PipelineError};
use crate::Stage;
use crate::events::{EventKind, Holder, ms};
use crate::store::{LockAttempt, LockHolder, Store};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// A held environment lock. Dropping it releases the lock.
pub struct EnvLock {
    store: Arc<dyn Store>,
    app: String,
    environment: String,
    holder: Arc<Mutex<LockHolder>>,
    heartbeat: tokio::task::JoinHandle<()>,
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
        let _ = self.store.heartbeat(&self.app, &self.environment, &holder);
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        self.heartbeat.abort();
        let holder = self
            .holder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Err(e) = self.store.unlock(&self.app, &self.environment, &holder) {
            tracing::warn!(environment = %self.environment, "could not release the lock: {e}");
        }
    }
}

impl Deployer {
    /// Takes `environment`'s lock, waiting or refusing as `wait` says.
    pub async fn lock(&self, environment: &str, wait: LockWait) -> Result<EnvLock, PipelineError> {
        self.scoped(environment).lock_here(environment, wait).await
    }

    async fn lock_here(&self, environment: &str, wait: LockWait) -> Result<EnvLock, PipelineError> {
        let app = self.app_name().to_string();
        let holder = LockHolder::this_process(&self.actor);
        let started = Instant::now();
        let mut announced = false;
        self.events.emit(EventKind::StageStarted {
            stage: Stage::Lock,
            subject: Some(environment.to_string()),
        });
        loop {
            match self
                .store
                .try_lock(&app, environment, &holder, LOCK_STALE_AFTER)?
            {
                LockAttempt::Acquired { reclaimed_from } => {
                    self.events.emit(EventKind::LockAcquired {
                        took_ms: ms(started.elapsed()),
                    });
                    if let Some(dead) = reclaimed_from {
                        self.note(EventKind::LockReclaimed {
                            holder: Holder::from(&dead),
                        });
                    }
                    let holder = Arc::new(Mutex::new(holder));
                    let heartbeat = tokio::spawn(heartbeat(
                        self.store.clone(),
                        app.clone(),
                        environment.to_string(),
                        holder.clone(),
                    ));
                    return Ok(EnvLock {
                        store: self.store.clone(),
                        app,
                        environment: environment.to_string(),
                        holder,
                        heartbeat,
                    });
                }
                LockAttempt::HeldBy(other) => {
                    let waited = started.elapsed();
                    match wait {
                        LockWait::Wait(limit) if waited < limit => {
                            if !announced {
                                announced = true;
                                self.events.emit(EventKind::LockWaiting {
                                    holder: Holder::from(&other),
                                    limit_secs: limit.as_secs(),
                                });
                            }
                            tokio::time::sleep(RETRY_EVERY).await;
                        }
                        _ => {
                            self.note(EventKind::LockRefused {
                                holder: Holder::from(&other),
                            });
                            return Err(PipelineError::Locked {
                                environment: environment.to_string(),
                                holder: Box::new(other),
                            });
                        }
                    }
                }
            }
        }
    }
}

async fn heartbeat(
    store: Arc<dyn Store>,
    app: String,
    environment: String,
    holder: Arc<Mutex<LockHolder>>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        let h = holder.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Err(e) = store.heartbeat(&app, &environment, &h) {
            tracing::warn!(%environment, "lock heartbeat failed: {e}");
        }
    }
}
