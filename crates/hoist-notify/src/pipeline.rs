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
    by_environment: BTreeMap<String, Notifiers>,
}

impl AppNotifiers {
    /// Reads every environment's routes and their credentials now, so that a missing
    /// secret or a broken template fails before the deploy starts, not in its middle.
    pub fn from_config(config: &hoist_config::Config) -> Result<AppNotifiers, NotifyError> {
        let mut by_environment = BTreeMap::new();
        for (name, env) in &config.environments {
            let routes = &env.get_ref().notify;
            if routes.is_empty() {
                continue;
            }
            by_environment.insert(
                name.clone(),
                Notifiers::from_config(&config.notifiers, routes, &config.root)?,
            );
        }
        Ok(AppNotifiers {
            app: config.app.name.get_ref().clone(),
            by_environment,
        })
    }
}

fn tenant_status(state: InstanceState) -> TenantStatus {
    match state {
        InstanceState::Healthy => TenantStatus::Succeeded,
        InstanceState::Unchanged => TenantStatus::Unchanged,
        InstanceState::RolledBack => TenantStatus::RolledBack,
        InstanceState::Failed => TenantStatus::Failed,
        InstanceState::Skipped => TenantStatus::Skipped,
        _ => TenantStatus::Pending,
    }
}

#[async_trait]
impl hoist_core::Notifier for AppNotifiers {
    async fn notify(&self, notice: &PipelineNotice) -> Vec<DeliveryFailure> {
        let Some(notifiers) = self.by_environment.get(&notice.environment) else {
            return Vec::new();
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
