//! The environment lock in the cluster: a `coordination.k8s.io/v1` Lease named
//! `hoist-lock-<app>-<environment>` in each namespace the instances live in.
//!
//! The API server keeps names unique, so of two concurrent creates exactly one succeeds
//! (409 AlreadyExists for the other), wherever each deployer runs. The holder (JSON) and
//! the heartbeat are annotations, the heartbeat refreshed by a patch that carries the
//! `resourceVersion` it read; the Lease's own `holderIdentity` and `renewTime` say the same
//! for `kubectl get lease`. Release and reclaim delete the Lease with a `uid` precondition,
//! never by name alone, so a late release never removes a successor's lock.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::InstanceSpec;
use hoist_core::backend::BackendError;
use hoist_core::store::LockHolder;
use hoist_core::target_lock::{
    FoundLock, HEARTBEAT_LABEL, HOLDER_LABEL, LockKey, LockObjects, TargetAttempt, TargetLock,
    acquire, lock_labels, now_secs,
};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;

use crate::KubernetesRuntime;
use crate::api::{self, FIELD_MANAGER};
use crate::settings::KubernetesSettings;

/// One Lease per namespace the instances live in, in name order.
pub(crate) fn places(
    runtime: &KubernetesRuntime,
    instances: &[InstanceSpec],
) -> Vec<Arc<dyn TargetLock>> {
    let namespaces: BTreeSet<String> = instances
        .iter()
        .map(|i| runtime.settings().namespace_of(i))
        .collect();
    namespaces
        .into_iter()
        .map(|namespace| {
            Arc::new(LeaseLock {
                settings: runtime.settings().clone(),
                namespace,
            }) as Arc<dyn TargetLock>
        })
        .collect()
}

/// An environment's lock in one namespace.
pub(crate) struct LeaseLock {
    settings: KubernetesSettings,
    namespace: String,
}

/// `key`'s object name as a Kubernetes name: lowercase, `[a-z0-9-]`.
pub fn lease_name(key: &LockKey) -> String {
    let name: String = key
        .object_name()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(253)
        .collect();
    name.trim_end_matches('-').to_string()
}

impl LeaseLock {
    /// A client of its own per call: `release` runs on a Tokio runtime of its own, where a
    /// connection made on another runtime cannot be used.
    async fn leases(&self) -> Result<Api<Lease>, BackendError> {
        let client: Client = api::connect(&self.settings).await?;
        Ok(Api::namespaced(client, &self.namespace))
    }

    fn failed(&self, what: &str, name: &str, e: kube::Error) -> BackendError {
        let what_ = format!("the lock Lease {name:?} in namespace {:?}", self.namespace);
        api::KubeError::from_kube(e, what, &what_).into()
    }
}

fn annotation(lease: &Lease, key: &str) -> Option<String> {
    lease.metadata.annotations.as_ref()?.get(key).cloned()
}

fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

#[async_trait]
impl LockObjects for LeaseLock {
    async fn create(
        &self,
        key: &LockKey,
        holder: &LockHolder,
    ) -> Result<Option<String>, BackendError> {
        let name = lease_name(key);
        let leases = self.leases().await?;
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(lock_labels(key, holder)?.into_iter().collect()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(format!("{}@{}", holder.actor, holder.hostname)),
                renew_time: Some(MicroTime(k8s_openapi::chrono::Utc::now())),
                ..Default::default()
            }),
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match leases.create(&params, &lease).await {
            Ok(created) => Ok(created.metadata.uid),
            Err(e) if is_code(&e, 409) => Ok(None),
            Err(e) => Err(self.failed("create", &name, e)),
        }
    }

    async fn find(&self, key: &LockKey) -> Result<Option<FoundLock>, BackendError> {
        let name = lease_name(key);
        let leases = self.leases().await?;
        let Some(lease) = leases
            .get_opt(&name)
            .await
            .map_err(|e| self.failed("read", &name, e))?
        else {
            return Ok(None);
        };
        let holder = annotation(&lease, HOLDER_LABEL)
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| LockHolder {
                actor: "(unknown: the Lease has no holder annotation)".into(),
                hostname: String::new(),
                pid: 0,
                process_start: 0,
                acquired_at: String::new(),
                deployment: None,
                state: None,
            });
        Ok(Some(FoundLock {
            token: lease.metadata.uid.clone().unwrap_or_default(),
            heartbeat_at: annotation(&lease, HEARTBEAT_LABEL)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            holder,
        }))
    }

    async fn remove(&self, token: &str) -> Result<(), BackendError> {
        // The token is the uid; the name is the same for every holder of one key, so the
        // precondition is what makes this remove only the Lease the token names.
        let leases = self.leases().await?;
        let list = leases
            .list(&Default::default())
            .await
            .map_err(|e| self.failed("list", "hoist-lock-*", e))?;
        let Some(name) = list
            .items
            .into_iter()
            .find(|l| l.metadata.uid.as_deref() == Some(token))
            .and_then(|l| l.metadata.name)
        else {
            return Ok(());
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(token.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match leases.delete(&name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, 404) || is_code(&e, 409) => Ok(()),
            Err(e) => Err(self.failed("delete", &name, e)),
        }
    }
}

#[async_trait]
impl TargetLock for LeaseLock {
    fn place(&self) -> String {
        format!(
            "the namespace {} of {}",
            self.namespace,
            self.settings
                .context
                .as_deref()
                .map_or("the current context".to_string(), |c| format!(
                    "context {c}"
                ))
        )
    }

    async fn acquire(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<TargetAttempt, BackendError> {
        acquire(self, key, holder, stale_after).await
    }

    async fn refresh(&self, key: &LockKey, token: &str) -> Result<(), BackendError> {
        let name = lease_name(key);
        let leases = self.leases().await?;
        let lease = leases
            .get_opt(&name)
            .await
            .map_err(|e| self.failed("read", &name, e))?
            .filter(|l| l.metadata.uid.as_deref() == Some(token))
            .ok_or_else(|| {
                BackendError::new(format!(
                    "the lock Lease {name:?} in namespace {:?} is no longer this deploy's (removed by `hoist unlock --force`?)",
                    self.namespace
                ))
            })?;
        let patch = json!({
            "metadata": {
                "resourceVersion": lease.metadata.resource_version,
                "annotations": { HEARTBEAT_LABEL: now_secs().to_string() },
            },
            "spec": { "renewTime": MicroTime(k8s_openapi::chrono::Utc::now()) },
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        leases
            .patch(&name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| self.failed("refresh", &name, e))
    }

    async fn release(&self, _key: &LockKey, token: &str) -> Result<(), BackendError> {
        self.remove(token).await
    }

    async fn force_release(&self, key: &LockKey) -> Result<Option<LockHolder>, BackendError> {
        let Some(found) = self.find(key).await? else {
            return Ok(None);
        };
        self.remove(&found.token).await?;
        Ok(Some(found.holder))
    }
}
