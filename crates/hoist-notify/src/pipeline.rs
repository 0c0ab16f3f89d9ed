//! hoist's pipeline talks to [`hoist_core::Notifier`]; this is that trait for the notifiers
//! of every environment of an app.

use std::collections::BTreeMap;

use async_trait::async_trait;
use hoist_core::InstanceState;
use hoist_core::notify::{DeliveryFailure, Notice as PipelineNotice};

use crate::{Notice, Notifiers, NotifyError, TenantStatus};

/// Each environment's routed notifiers.
pub struct AppNotifiers {
    app: String,
    /// Per environment with routes: its notifiers, or why they cannot be used.
    by_environment: BTreeMap<String, Result<Notifiers, NotifyError>>,
}

impl AppNotifiers {
    /// Sets up every environment's routes now, reading credentials and rendering
    /// templates. An environment whose notifiers cannot be used is not an error here but
    /// when it is deployed ([`hoist_core::Notifier::ready`]): a staging deploy must not
    /// need production's credentials, which CI rightly hands only to production's jobs.
    pub fn from_config(config: &hoist_config::Settings) -> AppNotifiers {
        let by_environment = config
            .environments
            .iter()
            .filter(|(_, env)| !env.notify.is_empty())
            .map(|(name, env)| {
                let notifiers =
                    Notifiers::from_config(&config.notifiers, &env.notify, &config.root);
                (name.clone(), notifiers)
            })
            .collect();
        AppNotifiers {
            app: config.app.name.clone(),
            by_environment,
        }
    }
}

fn tenant_status(state: InstanceState) -> TenantStatus {
    match state {
        InstanceState::Healthy => TenantStatus::Succeeded,
        InstanceState::Unchanged => TenantStatus::Unchanged,
        InstanceState::RolledBack => TenantStatus::RolledBack,
        InstanceState::RolledBackByPolicy => TenantStatus::RolledBackByPolicy,
        InstanceState::Failed => TenantStatus::Failed,
        InstanceState::Skipped => TenantStatus::Skipped,
        _ => TenantStatus::Pending,
    }
}

#[async_trait]
impl hoist_core::Notifier for AppNotifiers {
    fn ready(&self, environment: &str) -> Result<(), String> {
        match self.by_environment.get(environment) {
            Some(Err(e)) => Err(format!("{environment}'s notifications cannot be sent: {e}")),
            _ => Ok(()),
        }
    }

    async fn notify(&self, notice: &PipelineNotice) -> Vec<DeliveryFailure> {
        let notifiers = match self.by_environment.get(&notice.environment) {
            None => return Vec::new(),
            Some(Ok(notifiers)) => notifiers,
            // The pipeline asks `ready` first; should a notice come anyway, say why it
            // went nowhere rather than dropping it silently.
            Some(Err(e)) => {
                return vec![DeliveryFailure {
                    notifier: notice.environment.clone(),
                    reason: e.to_string(),
                }];
            }
        };
        let mut message = Notice::new(
            notice.kind,
            &self.app,
            &notice.version,
            &notice.environment,
            &notice.actor,
        );
        if let Some(d) = notice.duration {
            message = message.with_duration(d);
        }
        if let Some(image) = &notice.image {
            message = message.with_image(image);
        }
        if let Some(reason) = &notice.reason {
            message = message.with_reason(reason);
        }
        for t in &notice.tenants {
            let detail = (!t.detail.is_empty()).then(|| t.detail.clone());
            message = message.with_tenant(&t.tenant, tenant_status(t.state), detail);
        }
        notifiers
            .notify(&message)
            .await
            .into_iter()
            .filter(|r| !r.is_delivered())
            .map(|r| DeliveryFailure {
                notifier: r.notifier.clone(),
                reason: r.reason().unwrap_or("not delivered").to_string(),
            })
            .collect()
    }
}
