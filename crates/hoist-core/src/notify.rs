//! What chat and webhooks hear. The pipeline builds a [`Notice`] at start, success,
//! failure, refusal and rollback and hands it to a [`Notifier`]; `hoist-notify` implements
//! it for Zulip, Slack and signed webhooks. A notifier can never fail or stall a deploy:
//! it returns what it could not deliver, and the pipeline logs and audits that.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// Which notice this is (the `events` a route in `hoist.toml` selects).
pub use hoist_config::notify::EventKind as NoticeKind;

use crate::InstanceState;

/// One thing worth telling people about.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub environment: String,
    pub version: String,
    pub image: Option<String>,
    pub actor: String,
    pub duration: Option<Duration>,
    /// Why it failed or was refused.
    pub reason: Option<String>,
    pub tenants: Vec<TenantReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    pub state: InstanceState,
    pub detail: String,
}

/// A delivery that did not happen, already free of secrets.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryFailure {
    pub notifier: String,
    pub reason: String,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `notice` to every notifier routed for its environment and kind, within a
    /// bounded time. Never fails; returns the deliveries that did not succeed.
    async fn notify(&self, notice: &Notice) -> Vec<DeliveryFailure>;

    /// Whether notices for `environment` can be sent: its notifiers' credentials were
    /// found and their templates render. The pipeline asks before it changes anything, so
    /// a missing secret stops the deploy (as bad configuration) instead of silencing it,
    /// and only the environment being deployed needs its credentials. The message names
    /// the notifier and the variable or file, never a secret.
    fn ready(&self, environment: &str) -> Result<(), String> {
        let _ = environment;
        Ok(())
    }
}

/// For setups without notifications.
pub struct Silent;

#[async_trait]
impl Notifier for Silent {
    async fn notify(&self, _: &Notice) -> Vec<DeliveryFailure> {
        Vec::new()
    }
}
