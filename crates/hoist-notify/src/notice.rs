//! What a notification says happened: one [`Notice`] per deployment event, serialised as
//! the webhook's JSON body and rendered into chat messages.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use hoist_config::notify::EventKind;

/// One deployment event, as told to people and machines.
///
/// The JSON form (the generic webhook's body) is a contract: fields are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Random id of this event (a UUID v4), the same in every retry and every notifier, so
    /// a receiver can drop duplicates. Sent as `X-Hoist-Delivery`.
    pub delivery_id: String,
    pub kind: EventKind,
    pub app: String,
    /// The release's version: a semver tag or a commit sha.
    pub version: String,
    pub environment: String,
    /// Who deployed: the CI user who pushed the tag, or the local user.
    pub actor: String,
    /// When it happened.
    pub at: jiff::Timestamp,
    /// How long the deployment took so far, in milliseconds (absent for `started`).
    pub duration_ms: Option<u64>,
    /// The release image reference, if one was built.
    pub image: Option<String>,
    /// Where to read more, e.g. the CI job's URL.
    pub link: Option<String>,
    /// Why it failed, was refused or was rolled back.
    pub reason: Option<String>,
    /// Per-instance outcomes. Failing tenants are those with outcome `failed`.
    pub tenants: Vec<TenantOutcome>,
}

/// What happened on one tenant's instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantOutcome {
    pub tenant: String,
    pub outcome: TenantStatus,
    /// A short explanation, e.g. the verification error.
    pub detail: Option<String>,
}

/// The state of one tenant's instance when the notice was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Not switched yet (a `started` notice lists the plan this way).
    Pending,
    /// Runs the release and passed verification.
    Succeeded,
    /// Already ran the release and was healthy: left alone.
    Unchanged,
    /// The rollout or verification failed there.
    Failed,
    /// Put back on the previous release.
    RolledBack,
    /// Took the release, then was put back on the previous one because another tenant
    /// failed and the environment's rollout policy is `rollback`.
    RolledBackByPolicy,
    /// Not touched, e.g. because an earlier instance failed.
    Skipped,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Pending => "pending",
            TenantStatus::Succeeded => "succeeded",
            TenantStatus::Unchanged => "unchanged",
            TenantStatus::Failed => "failed",
            TenantStatus::RolledBack => "rolled_back",
            TenantStatus::RolledBackByPolicy => "rolled_back_by_policy",
            TenantStatus::Skipped => "skipped",
        }
    }
}

impl Notice {
    /// A notice of `kind` happening now, with a fresh delivery id and nothing optional set.
    pub fn new(
        kind: EventKind,
        app: impl Into<String>,
        version: impl Into<String>,
        environment: impl Into<String>,
        actor: impl Into<String>,
    ) -> Notice {
        Notice {
            delivery_id: uuid::Uuid::new_v4().to_string(),
            kind,
            app: app.into(),
            version: version.into(),
            environment: environment.into(),
            actor: actor.into(),
            at: jiff::Timestamp::now(),
            duration_ms: None,
            image: None,
            link: None,
            reason: None,
            tenants: Vec::new(),
        }
    }

    pub fn with_duration(mut self, duration: Duration) -> Notice {
        self.duration_ms = Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self
    }

    pub fn with_image(mut self, image: impl Into<String>) -> Notice {
        self.image = Some(image.into());
        self
    }

    pub fn with_link(mut self, link: impl Into<String>) -> Notice {
        self.link = Some(link.into());
        self
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Notice {
        self.reason = Some(reason.into());
        self
    }

    /// Adds one tenant's outcome.
    pub fn with_tenant(
        mut self,
        tenant: impl Into<String>,
        outcome: TenantStatus,
        detail: Option<String>,
    ) -> Notice {
        self.tenants.push(TenantOutcome {
            tenant: tenant.into(),
            outcome,
            detail,
        });
        self
    }

    /// The tenants where the release failed: `failed`, and `rolled_back` (it failed there
    /// and the previous release serves again), the most common way a rollout fails. Both
    /// count, so that "failed on t1" is said whether or not t1 could be restored.
    pub fn failed_tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants
            .iter()
            .filter(|t| matches!(t.outcome, TenantStatus::Failed | TenantStatus::RolledBack))
            .map(|t| t.tenant.as_str())
    }

    /// A notice with every field set, for checking templates before they are needed.
    pub(crate) fn sample(kind: EventKind) -> Notice {
        Notice::new(kind, "clinic", "1.4.2", "production", "amitav")
            .with_duration(Duration::from_secs(72))
            .with_image("registry.example.com/clinic:1.4.2")
            .with_link("https://ci.example.com/jobs/42")
            .with_reason("verification failed on 1 instance")
            .with_tenant("acme", TenantStatus::Succeeded, None)
            .with_tenant(
                "globex",
                TenantStatus::Failed,
                Some("health check timed out after 60s".into()),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_snake_case_names_and_keeps_absent_fields() {
        let notice = Notice::new(EventKind::RolledBack, "clinic", "1.4.2", "production", "ci")
            .with_tenant("acme", TenantStatus::RolledBack, None);
        let json = serde_json::to_value(&notice).expect("serialise");
        assert_eq!(json["kind"], "rolled_back");
        assert_eq!(json["tenants"][0]["outcome"], "rolled_back");
        assert!(json["reason"].is_null());
        assert_eq!(json["delivery_id"].as_str().map(str::len), Some(36));
        let back: Notice = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, notice);
    }

    #[test]
    fn failed_tenants_include_those_put_back_on_the_previous_release() {
        let notice = Notice::new(EventKind::Failed, "clinic", "1.4.2", "production", "ci")
            .with_tenant("acme", TenantStatus::Succeeded, None)
            .with_tenant("globex", TenantStatus::RolledBack, Some("404".into()))
            .with_tenant("initech", TenantStatus::Failed, None)
            .with_tenant("umbrella", TenantStatus::Skipped, None);
        assert_eq!(
            notice.failed_tenants().collect::<Vec<_>>(),
            ["globex", "initech"]
        );
    }

    #[test]
    fn every_notice_gets_its_own_delivery_id() {
        let a = Notice::new(EventKind::Started, "a", "1", "e", "x");
        let b = Notice::new(EventKind::Started, "a", "1", "e", "x");
        assert_ne!(a.delivery_id, b.delivery_id);
    }
}
