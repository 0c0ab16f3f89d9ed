//! The environment lock in a swarm: a Swarm config object named
//! `hoist-lock-<app>-<environment>`.
//!
//! The managers keep config names unique through their replicated store, so of two
//! concurrent creates exactly one succeeds (409 for the other), whichever manager each
//! deployer talks to; a container on one node's engine would lock that node only. A config's
//! labels are the one part of it that can be updated, and an update carries the version it
//! read (a stale one is refused), so the holder and the heartbeat are labels, refreshed by
//! a versioned update. Release and reclaim remove the config by id, never by name.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::ConfigSpec;
use bollard::query_parameters::UpdateConfigOptions;
use hoist_core::backend::BackendError;
use hoist_core::store::LockHolder;
use hoist_core::target_lock::{
    FoundLock, HEARTBEAT_LABEL, HOLDER_LABEL, LockKey, LockObjects, TargetAttempt, TargetLock,
    acquire, lock_labels, now_secs,
};
use hoist_engine::{Engines, is_not_found, message};

const HOLDER: &str = HOLDER_LABEL;
const HEARTBEAT: &str = HEARTBEAT_LABEL;
/// The config's content, base64: "hoist environment lock". Nothing reads it.
const DATA: &str = "aG9pc3QgZW52aXJvbm1lbnQgbG9jaw==";

/// An environment's lock in the swarm `host` manages.
pub(crate) struct SwarmLock {
    pub(crate) engines: Engines,
    pub(crate) host: String,
}

fn failed(what: &str, name: &str, e: &bollard::errors::Error) -> BackendError {
    BackendError::new(format!(
        "cannot {what} the lock config {name}: {}",
        message(e)
    ))
}

fn is_status(e: &bollard::errors::Error, status: u16) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == status
    )
}

impl SwarmLock {
    async fn remove(&self, docker: &Docker, id: &str) -> Result<(), BackendError> {
        match docker.delete_config(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(failed("remove", id, &e)),
        }
    }

    async fn find(
        &self,
        docker: &Docker,
        key: &LockKey,
    ) -> Result<Option<FoundLock>, BackendError> {
        let name = key.object_name();
        let config = match docker.inspect_config(&name).await {
            Ok(config) => config,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(failed("inspect", &name, &e)),
        };
        let labels = config.spec.and_then(|s| s.labels).unwrap_or_default();
        let holder = labels
            .get(HOLDER)
            .and_then(|json| serde_json::from_str::<LockHolder>(json).ok())
            .ok_or_else(|| {
                BackendError::new(format!(
                    "a config named {name} in the swarm is not a hoist lock (it has no {HOLDER} label); remove it"
                ))
            })?;
        Ok(Some(FoundLock {
            token: config.id.unwrap_or_default(),
            holder,
            heartbeat_at: labels
                .get(HEARTBEAT)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        }))
    }
}

/// The swarm's lock configs, as [`acquire`] works them.
struct Objects<'a> {
    lock: &'a SwarmLock,
    docker: Docker,
}

#[async_trait]
impl LockObjects for Objects<'_> {
    async fn create(
        &self,
        key: &LockKey,
        holder: &LockHolder,
    ) -> Result<Option<String>, BackendError> {
        let name = key.object_name();
        let spec = ConfigSpec {
            name: Some(name.clone()),
            labels: Some(lock_labels(key, holder)?),
            data: Some(DATA.into()),
            ..Default::default()
        };
        match self.docker.create_config(spec).await {
            Ok(created) => Ok(Some(created.id)),
            Err(e) if is_status(&e, 409) => Ok(None),
            Err(e) => Err(failed("create", &name, &e)),
        }
    }
    async fn find(&self, key: &LockKey) -> Result<Option<FoundLock>, BackendError> {
        self.lock.find(&self.docker, key).await
    }
    async fn remove(&self, token: &str) -> Result<(), BackendError> {
        self.lock.remove(&self.docker, token).await
    }
}

#[async_trait]
impl TargetLock for SwarmLock {
    fn place(&self) -> String {
        format!("the swarm managed at {}", self.host)
    }

    async fn acquire(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<TargetAttempt, BackendError> {
        let objects = Objects {
            lock: self,
            docker: self.engines.get(&self.host).await?,
        };
        acquire(&objects, key, holder, stale_after).await
    }

    async fn refresh(&self, key: &LockKey, token: &str) -> Result<(), BackendError> {
        let docker = self.engines.get(&self.host).await?;
        let name = key.object_name();
        let config = docker.inspect_config(token).await.map_err(|e| {
            if is_not_found(&e) {
                BackendError::new(format!(
                    "the lock config {name} is gone (removed by `hoist unlock --force`)"
                ))
            } else {
                failed("inspect", &name, &e)
            }
        })?;
        let version = config
            .version
            .and_then(|v| v.index)
            .and_then(|i| i64::try_from(i).ok())
            .unwrap_or(0);
        let mut spec = config.spec.unwrap_or_default();
        spec.labels
            .get_or_insert_with(HashMap::new)
            .insert(HEARTBEAT.to_string(), now_secs().to_string());
        docker
            .update_config(token, spec, UpdateConfigOptions { version })
            .await
            .map_err(|e| failed("refresh", &name, &e))
    }

    async fn release(&self, _key: &LockKey, token: &str) -> Result<(), BackendError> {
        // A connection of its own: this runs on a runtime of its own (see the trait).
        let docker = self.engines.connect_new(&self.host).await?;
        self.remove(&docker, token).await
    }

    async fn force_release(&self, key: &LockKey) -> Result<Option<LockHolder>, BackendError> {
        let docker = self.engines.get(&self.host).await?;
        let Some(found) = self.find(&docker, key).await? else {
            return Ok(None);
        };
        self.remove(&docker, &found.token).await?;
        Ok(Some(found.holder))
    }
}
