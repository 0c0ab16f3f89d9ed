//! The environment lock where the instances are. The store's lock keeps out deploys that
//! share its database; a lock on the target itself (an object on the Docker engine, in the
//! swarm) keeps out every other deploy of the environment too: another checkout with its
//! own state file, another CI runner, another machine.
//!
//! A runtime hands out one [`TargetLock`] per place its instances live
//! ([`crate::Runtime::lock_places`]); the pipeline takes them after the store's lock, in
//! the order of [`TargetLock::place`], so two deployers never wait on each other in a
//! circle. The reclaim rule is the store's ([`is_reclaimable`]), so a crash is recovered
//! the same way wherever the lock lives.

use std::time::Duration;

use async_trait::async_trait;

use crate::backend::BackendError;
use crate::store::LockHolder;

/// Which lock: one per app and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockKey {
    pub app: String,
    pub environment: String,
}

impl LockKey {
    pub fn new(app: impl Into<String>, environment: impl Into<String>) -> Self {
        LockKey {
            app: app.into(),
            environment: environment.into(),
        }
    }

    /// The lock object's name on a target: `hoist-lock-<app>-<environment>`. App and
    /// environment names are validated as `[A-Za-z0-9][A-Za-z0-9_.-]*`, which every
    /// target accepts as an object name.
    pub fn object_name(&self) -> String {
        format!("hoist-lock-{}-{}", self.app, self.environment)
    }
}

/// The outcome of trying to take a target's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAttempt {
    Acquired {
        /// Names this holding of the lock (the lock object's id), for refresh and release:
        /// an object recreated by someone else has another token, so a late release
        /// never removes a successor's lock.
        token: String,
        /// A dead holder's lock that was taken over.
        reclaimed_from: Option<LockHolder>,
    },
    HeldBy(LockHolder),
}

/// One place an environment's lock is held on a target (an engine, a swarm).
#[async_trait]
pub trait TargetLock: Send + Sync {
    /// Where the lock lives, for messages and ordering: `the engine
    /// unix:///var/run/docker.sock`, `the swarm managed at tcp://10.0.0.5:2375`.
    fn place(&self) -> String;

    /// Takes the lock unless a live holder has it; a holder for which [`is_reclaimable`]
    /// says so is replaced. Atomic on the target: of two callers, one gets it.
    async fn acquire(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<TargetAttempt, BackendError>;

    /// Refreshes the heartbeat of the lock `token` names. An error says the lock is no
    /// longer ours (removed by `hoist unlock --force`, or by a prune).
    async fn refresh(&self, key: &LockKey, token: &str) -> Result<(), BackendError>;

    /// Releases the lock `token` names; a lock already gone is not an error. Called on a
    /// Tokio runtime of its own (a held lock is released when dropped), so it must not use
    /// a connection made on another runtime.
    async fn release(&self, key: &LockKey, token: &str) -> Result<(), BackendError>;

    /// Removes the lock whoever holds it (`hoist unlock --force`); returns the holder.
    async fn force_release(&self, key: &LockKey) -> Result<Option<LockHolder>, BackendError>;
}

/// A lock object as found on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLock {
    /// The object's id: what [`TargetAttempt::Acquired`]'s token names.
    pub token: String,
    pub holder: LockHolder,
    /// Its last heartbeat, unix seconds.
    pub heartbeat_at: i64,
}

/// The three operations on a target's lock objects that [`acquire`] is made of. `create`
/// must be atomic: of two concurrent creates of one name, one succeeds.
#[async_trait]
pub trait LockObjects: Send + Sync {
    /// Creates the lock object for `holder`; `Ok(None)` when one of that name exists.
    async fn create(
        &self,
        key: &LockKey,
        holder: &LockHolder,
    ) -> Result<Option<String>, BackendError>;
    /// The lock object of `key`, if there is one (and it is visible yet).
    async fn find(&self, key: &LockKey) -> Result<Option<FoundLock>, BackendError>;
    /// Removes the object `token` names; one already gone is not an error.
    async fn remove(&self, token: &str) -> Result<(), BackendError>;
}

/// Takes before giving up when the lock keeps changing hands.
const ATTEMPTS: usize = 40;
/// A name taken by an object not yet visible (an engine reserves a container's name before
/// it can be inspected) is tried again after this.
const SETTLE: Duration = Duration::from_millis(100);

/// Takes `key`'s lock with `objects`: create it; when it exists, take over a holder that
/// [`is_reclaimable`] says is gone, by removing its object *by id* and creating again. Two
/// reclaimers cannot both win: the second one's remove finds nothing (the id is gone) and
/// its create meets the first one's new object.
pub async fn acquire(
    objects: &dyn LockObjects,
    key: &LockKey,
    holder: &LockHolder,
    stale_after: Duration,
) -> Result<TargetAttempt, BackendError> {
    let mut reclaimed_from = None;
    for _ in 0..ATTEMPTS {
        if let Some(token) = objects.create(key, holder).await? {
            return Ok(TargetAttempt::Acquired {
                token,
                reclaimed_from,
            });
        }
        let Some(found) = objects.find(key).await? else {
            tokio::time::sleep(SETTLE).await;
            continue;
        };
        if !is_reclaimable(&found.holder, found.heartbeat_at, now_secs(), stale_after) {
            return Ok(TargetAttempt::HeldBy(found.holder));
        }
        objects.remove(&found.token).await?;
        reclaimed_from = Some(found.holder);
    }
    Err(BackendError::new(format!(
        "the lock {} kept changing hands; try again",
        key.object_name()
    )))
}

/// Whether a target's lock may be taken over: its holder ran on this host and its process
/// is gone, or its heartbeat (unix seconds) is older than `stale_after`. A lock of this
/// very process is no exception: two deploys in one process (a server's jobs) exclude each
/// other like any two, and a lock it failed to release goes stale like any other.
pub fn is_reclaimable(
    holder: &LockHolder,
    heartbeat_at: i64,
    now: i64,
    stale_after: Duration,
) -> bool {
    holder.is_dead_on_this_host() || now - heartbeat_at > stale_after.as_secs() as i64
}

/// The label naming a lock object's holder (JSON of [`LockHolder`]).
pub const HOLDER_LABEL: &str = "dev.hoist.lock.holder";
/// The label holding a lock object's heartbeat (unix seconds) where the object keeps it.
pub const HEARTBEAT_LABEL: &str = "dev.hoist.lock.heartbeat";

/// The labels a new lock object carries, whatever the runtime: which environment it locks,
/// who holds it, and a first heartbeat. Never `dev.hoist.app`, so that nothing takes a lock
/// for one of the app's workloads.
pub fn lock_labels(
    key: &LockKey,
    holder: &LockHolder,
) -> Result<std::collections::HashMap<String, String>, BackendError> {
    let holder_json = serde_json::to_string(holder)
        .map_err(|e| BackendError::new(format!("cannot record the lock holder: {e}")))?;
    Ok(std::collections::HashMap::from([
        ("dev.hoist.lock.app".to_string(), key.app.clone()),
        (
            "dev.hoist.lock.environment".to_string(),
            key.environment.clone(),
        ),
        (HOLDER_LABEL.to_string(), holder_json),
        (HEARTBEAT_LABEL.to_string(), now_secs().to_string()),
    ]))
}

/// Now, in unix seconds: the clock heartbeats are written and judged by.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(hostname: &str, pid: u32, start: u64) -> LockHolder {
        LockHolder {
            actor: "alice".into(),
            hostname: hostname.into(),
            pid,
            process_start: start,
            acquired_at: "2026-12-05T10:00:00Z".into(),
            deployment: None,
            state: None,
        }
    }

    const STALE: Duration = Duration::from_secs(60);

    #[test]
    fn a_fresh_lock_of_a_live_process_elsewhere_is_kept() {
        let other = holder("another-machine", 1, 1);
        assert!(!is_reclaimable(&other, 1000, 1030, STALE));
    }

    #[test]
    fn a_stale_heartbeat_is_reclaimed() {
        let other = holder("another-machine", 1, 1);
        assert!(is_reclaimable(&other, 1000, 1061, STALE));
    }

    #[test]
    fn a_dead_process_on_this_host_is_reclaimed_at_once() {
        let me = LockHolder::this_process("alice");
        // pid 0 is never a user process: /proc/0 does not exist.
        let dead = holder(&me.hostname, 0, 1);
        assert!(is_reclaimable(&dead, 1000, 1000, STALE));
    }

    #[test]
    fn a_live_process_on_this_host_keeps_its_lock() {
        let me = LockHolder::this_process("alice");
        // pid 1 always runs and is not this process; start time 0 means "unknown".
        let live = holder(&me.hostname, 1, 0);
        assert!(!is_reclaimable(&live, 1000, 1000, STALE));
    }

    #[test]
    fn a_fresh_lock_of_this_very_process_is_kept() {
        let me = LockHolder::this_process("alice");
        assert!(!is_reclaimable(&me, 1000, 1000, STALE));
    }

    /// One lock object slot, like an engine's container name; every call yields first, so
    /// concurrent acquirers interleave.
    #[derive(Default)]
    struct Slot {
        object: std::sync::Mutex<Option<FoundLock>>,
        created: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl LockObjects for Slot {
        async fn create(
            &self,
            _key: &LockKey,
            holder: &LockHolder,
        ) -> Result<Option<String>, BackendError> {
            tokio::task::yield_now().await;
            let mut object = self.object.lock().unwrap();
            if object.is_some() {
                return Ok(None);
            }
            let n = self
                .created
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let token = format!("id-{n}");
            *object = Some(FoundLock {
                token: token.clone(),
                holder: holder.clone(),
                heartbeat_at: now_secs(),
            });
            Ok(Some(token))
        }
        async fn find(&self, _key: &LockKey) -> Result<Option<FoundLock>, BackendError> {
            tokio::task::yield_now().await;
            Ok(self.object.lock().unwrap().clone())
        }
        async fn remove(&self, token: &str) -> Result<(), BackendError> {
            tokio::task::yield_now().await;
            let mut object = self.object.lock().unwrap();
            if object.as_ref().is_some_and(|o| o.token == token) {
                *object = None;
            }
            Ok(())
        }
    }

    fn key() -> LockKey {
        LockKey::new("shop", "staging")
    }

    #[tokio::test]
    async fn a_free_lock_is_taken_and_a_live_holder_keeps_it() {
        let slot = Slot::default();
        let first = acquire(&slot, &key(), &holder("a", 1, 1), STALE)
            .await
            .unwrap();
        assert!(matches!(
            first,
            TargetAttempt::Acquired {
                reclaimed_from: None,
                ..
            }
        ));
        let second = acquire(&slot, &key(), &holder("b", 2, 2), STALE)
            .await
            .unwrap();
        assert_eq!(second, TargetAttempt::HeldBy(holder("a", 1, 1)));
    }

    #[tokio::test]
    async fn a_stale_holder_is_taken_over_and_named() {
        let slot = Slot::default();
        *slot.object.lock().unwrap() = Some(FoundLock {
            token: "old".into(),
            holder: holder("gone", 9, 9),
            heartbeat_at: now_secs() - 120,
        });
        let attempt = acquire(&slot, &key(), &holder("b", 2, 2), STALE)
            .await
            .unwrap();
        let TargetAttempt::Acquired {
            token,
            reclaimed_from,
        } = attempt
        else {
            panic!("expected the stale lock to be reclaimed: {attempt:?}");
        };
        assert_eq!(reclaimed_from, Some(holder("gone", 9, 9)));
        assert_eq!(slot.object.lock().unwrap().as_ref().unwrap().token, token);
    }

    #[tokio::test]
    async fn of_two_reclaimers_of_one_stale_lock_exactly_one_wins() {
        let slot = Slot::default();
        *slot.object.lock().unwrap() = Some(FoundLock {
            token: "old".into(),
            holder: holder("gone", 9, 9),
            heartbeat_at: now_secs() - 120,
        });
        let (key, first, second) = (key(), holder("a", 1, 1), holder("b", 2, 2));
        let (a, b) = tokio::join!(
            acquire(&slot, &key, &first, STALE),
            acquire(&slot, &key, &second, STALE),
        );
        let won = [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(|r| matches!(r, TargetAttempt::Acquired { .. }))
            .count();
        assert_eq!(won, 1);
    }

    #[test]
    fn the_object_name_names_app_and_environment() {
        assert_eq!(
            LockKey::new("shop", "staging").object_name(),
            "hoist-lock-shop-staging"
        );
    }
}
