//! The one observer of the pipeline's events: every fact goes to the event sink (progress,
//! `--json`), and the facts worth a record or a message become audit entries and notices
//! here — by the pure [`audit_of`] and [`notice_of`] — instead of by hand at each stage.

use std::time::Duration;

use super::Deployer;
use crate::events::{Event, EventKind, ScanVerdict};
use crate::notify::{Notice, NoticeKind, TenantReport};
use crate::store::{AuditEntry, DeploymentKind, DeploymentOutcome};

impl Deployer {
    /// Reports a fact that people may need to hear about: to the sink, the audit log and,
    /// when [`notice_of`] says so, the notifiers (bounded in time; failures are reported
    /// and audited, never fatal).
    pub(crate) async fn record(&self, kind: EventKind) {
        let event = self.events.envelope(kind);
        self.observe(&event);
        if let Some(notice) = notice_of(&event, &self.actor) {
            for failure in self.notifier.notify(&notice).await {
                tracing::warn!(
                    notifier = %failure.notifier,
                    "notification not delivered: {}",
                    failure.reason
                );
                self.note(EventKind::NotifyFailed {
                    version: notice.version.clone(),
                    notifier: failure.notifier,
                    reason: failure.reason,
                });
            }
        }
    }

    /// Reports a fact that never makes a notice: to the sink and, when [`audit_of`] says
    /// so, the audit log.
    pub(crate) fn note(&self, kind: EventKind) {
        let event = self.events.envelope(kind);
        debug_assert!(
            notice_of(&event, &self.actor).is_none(),
            "{event:?} notifies"
        );
        self.observe(&event);
    }

    fn observe(&self, event: &Event) {
        self.events.deliver(event);
        let Some(entry) = audit_of(event, &self.actor, self.app_name()) else {
            return;
        };
        // The audit log must not make a deploy fail half-way; a failed write is reported.
        if let Err(e) = self.store.append_audit(&entry) {
            self.events.warning(format!("audit log: {e}"));
        }
    }
}

/// The audit entry an event makes, if it is one the log keeps: who did what, where, with
/// what result. Secret material never reaches an event, so it cannot reach the log.
pub fn audit_of(event: &Event, actor: &str, app: &str) -> Option<AuditEntry> {
    use EventKind as K;
    let mut environment = event.environment.clone();
    let (action, version, detail): (String, Option<&str>, String) = match &event.kind {
        K::LockReclaimed { holder } => (
            "lock.reclaimed".into(),
            None,
            format!(
                "reclaimed the lock{} of {} (pid {} on {}, since {}), whose process is gone",
                holder.where_(),
                holder.actor,
                holder.pid,
                holder.hostname,
                holder.since
            ),
        ),
        K::Scheduled { command, at, local } => (
            "deploy.scheduled".into(),
            None,
            format!("{command} scheduled for {local} ({at})"),
        ),
        K::ScheduleCancelled {
            command,
            at,
            signal,
        } => (
            "deploy.schedule_cancelled".into(),
            None,
            format!("{command} scheduled for {at} cancelled by {signal}"),
        ),
        K::LockRefused { holder } => (
            "deploy.refused".into(),
            None,
            format!(
                "locked{} by {} (pid {} on {})",
                holder.where_(),
                holder.actor,
                holder.pid,
                holder.hostname
            ),
        ),
        K::PolicyDecided {
            version,
            allowed,
            overridden,
            decision,
            ..
        } => {
            let action = match (allowed, overridden) {
                (false, _) => "policy.refused",
                (true, true) => "policy.overridden",
                (true, false) => "policy.allowed",
            };
            (action.into(), Some(version), decision.to_string())
        }
        K::PromotionRefused { version, reason } => (
            "promotion.refused".into(),
            version.as_deref(),
            reason.clone(),
        ),
        K::SecretsFound {
            version,
            verdict,
            context,
            files,
            baselined,
            findings,
        } => {
            let (action, mode) = match verdict {
                ScanVerdict::Blocked => ("scan.blocked", "block"),
                _ => ("scan.warned", "warn"),
            };
            let detail = serde_json::json!({
                "mode": mode,
                "context": context,
                "files_scanned": files,
                "baselined": baselined,
                "findings": findings,
            });
            (action.into(), Some(version), detail.to_string())
        }
        K::ScanIncomplete {
            version,
            verdict,
            reason,
        } => {
            let action = match verdict {
                ScanVerdict::Warned => "scan.warned",
                _ => "scan.failed",
            };
            (action.into(), Some(version), reason.clone())
        }
        K::ReleaseBuilt {
            version,
            image,
            image_id,
        } => {
            // A release belongs to the app, not to the environment that built it first.
            environment = None;
            (
                "release.built".into(),
                Some(version),
                format!("{image} {image_id}"),
            )
        }
        K::NothingToDeploy {
            git_ref,
            explanation,
        } => (
            "release.nothing_to_deploy".into(),
            None,
            format!("{git_ref}: {explanation}"),
        ),
        K::RefRefused { git_ref, reason } => {
            ("release.refused".into(), Some(git_ref), reason.clone())
        }
        K::HookFailed {
            version, reason, ..
        } => ("hook.failed".into(), Some(version), reason.clone()),
        K::NotifyFailed {
            version,
            notifier,
            reason,
        } => (
            "notify.failed".into(),
            Some(version),
            format!("notification to {notifier} not delivered: {reason}"),
        ),
        K::RolloutStarted {
            kind,
            version,
            image,
            instances,
            ..
        } => (
            format!("{}.started", kind.as_str()),
            Some(version),
            format!("{image} to {instances} instance(s)"),
        ),
        K::RolloutFinished {
            kind,
            version,
            outcome,
            message,
            ..
        } => (
            format!("{}.{}", kind.as_str(), outcome.as_str()),
            Some(version),
            message.clone(),
        ),
        K::Retired {
            tenant,
            release,
            workloads,
            error,
        } => {
            let removed = if workloads.is_empty() {
                "nothing".to_string()
            } else {
                workloads.join(", ")
            };
            match error {
                None => (
                    "retire.succeeded".into(),
                    release.as_deref(),
                    format!("tenant {tenant}: stopped and removed {removed}"),
                ),
                Some(e) => (
                    "retire.failed".into(),
                    release.as_deref(),
                    format!("tenant {tenant}: removed {removed}, then: {e}"),
                ),
            }
        }
        K::Pruned {
            engine,
            dry_run: false,
            removed,
            bytes,
            failed,
            ..
        } if !removed.is_empty() || !failed.is_empty() => {
            let detail = format!(
                "{engine}: removed {} (up to {} bytes){}",
                if removed.is_empty() {
                    "nothing".to_string()
                } else {
                    removed.join(", ")
                },
                bytes,
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; could not remove {}", failed.join("; "))
                }
            );
            let action = if failed.is_empty() {
                "prune.succeeded"
            } else {
                "prune.failed"
            };
            (action.into(), None, detail)
        }
        K::WavesStopped { policy, .. } => (
            if policy == "rollback" {
                "rollout.rolled_back_by_policy".into()
            } else {
                "rollout.halted".into()
            },
            None,
            crate::events::describe(event)
                .map(|d| d.text)
                .unwrap_or_default(),
        ),
        _ => return None,
    };
    Some(AuditEntry {
        at: event.at.to_string(),
        actor: actor.to_string(),
        app: app.to_string(),
        environment,
        action,
        version: version.map(str::to_string),
        detail,
    })
}

/// The notice an event makes, if people should hear about it: a rollout's start and end,
/// a refusal, a failure before the rollout.
pub fn notice_of(event: &Event, actor: &str) -> Option<Notice> {
    use EventKind as K;
    let environment = event.environment.clone().unwrap_or_default();
    let notice = |kind, version: &str, image: Option<&str>, reason, took_ms: Option<u64>| Notice {
        kind,
        environment: environment.clone(),
        version: version.to_string(),
        image: image.map(str::to_string),
        actor: actor.to_string(),
        duration: took_ms.map(Duration::from_millis),
        reason,
        tenants: Vec::new(),
    };
    Some(match &event.kind {
        K::RolloutStarted { version, image, .. } => {
            notice(NoticeKind::Started, version, Some(image), None, None)
        }
        K::RolloutFinished {
            kind,
            version,
            image,
            outcome,
            message,
            took_ms,
            tenants,
            ..
        } => {
            let succeeded = *outcome == DeploymentOutcome::Succeeded;
            let notice_kind = match (succeeded, kind) {
                (true, DeploymentKind::Rollback) => NoticeKind::RolledBack,
                (true, _) => NoticeKind::Succeeded,
                (false, _) => NoticeKind::Failed,
            };
            let mut n = notice(
                notice_kind,
                version,
                Some(image),
                (!succeeded).then(|| message.clone()),
                Some(*took_ms),
            );
            n.tenants = tenants
                .iter()
                .map(|t| TenantReport {
                    tenant: t.tenant.clone(),
                    state: t.state,
                    detail: t.message.clone(),
                })
                .collect();
            n
        }
        K::Refused {
            version, reasons, ..
        } => notice(
            NoticeKind::Refused,
            version,
            None,
            Some(reasons.join("; ")),
            None,
        ),
        K::Failed {
            version,
            reason,
            took_ms,
        } => notice(
            NoticeKind::Failed,
            version,
            None,
            Some(reason.clone()),
            Some(*took_ms),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventSink, Holder, InstanceState, TenantOutcome};

    fn sink() -> EventSink {
        EventSink::discard().for_environment("staging")
    }

    fn finished(kind: DeploymentKind, outcome: DeploymentOutcome) -> Event {
        sink().envelope(EventKind::RolloutFinished {
            deployment: 7,
            kind,
            version: "v1.2.0".into(),
            image: "clinic:v1.2.0".into(),
            outcome,
            message: "v1.2.0 failed on t1: 404".into(),
            took_ms: 1500,
            tenants: vec![TenantOutcome {
                tenant: "t1".into(),
                state: InstanceState::RolledBack,
                message: "404".into(),
            }],
        })
    }

    #[test]
    fn a_finished_rollout_is_audited_and_notified_with_its_tenants() {
        let e = finished(DeploymentKind::Deploy, DeploymentOutcome::Failed);
        let entry = audit_of(&e, "alice", "clinic").unwrap();
        assert_eq!(entry.action, "deploy.failed");
        assert_eq!(entry.environment.as_deref(), Some("staging"));
        assert_eq!(entry.version.as_deref(), Some("v1.2.0"));
        let notice = notice_of(&e, "alice").unwrap();
        assert_eq!(notice.kind, NoticeKind::Failed);
        assert_eq!(notice.reason.as_deref(), Some("v1.2.0 failed on t1: 404"));
        assert_eq!(notice.tenants.len(), 1);
        assert_eq!(notice.duration, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_successful_rollback_notifies_rolled_back() {
        let e = finished(DeploymentKind::Rollback, DeploymentOutcome::Succeeded);
        assert_eq!(audit_of(&e, "a", "c").unwrap().action, "rollback.succeeded");
        let notice = notice_of(&e, "a").unwrap();
        assert_eq!(notice.kind, NoticeKind::RolledBack);
        assert_eq!(notice.reason, None);
    }

    #[test]
    fn a_refusal_is_notified_and_its_cause_audited() {
        let refused = sink().envelope(EventKind::Refused {
            action: "deploy".into(),
            version: "v1".into(),
            reasons: vec!["outside the window".into(), "not a deployer".into()],
        });
        assert!(audit_of(&refused, "a", "c").is_none());
        assert_eq!(
            notice_of(&refused, "a").unwrap().reason.as_deref(),
            Some("outside the window; not a deployer")
        );
        let locked = sink().envelope(EventKind::LockRefused {
            holder: Holder {
                actor: "bob".into(),
                pid: 9,
                hostname: "ci".into(),
                since: "t".into(),
                place: None,
            },
        });
        let entry = audit_of(&locked, "a", "c").unwrap();
        assert_eq!(entry.action, "deploy.refused");
        assert_eq!(entry.detail, "locked by bob (pid 9 on ci)");
        assert!(notice_of(&locked, "a").is_none());
    }

    #[test]
    fn a_release_is_audited_for_the_app_not_the_environment() {
        let e = sink().envelope(EventKind::ReleaseBuilt {
            version: "v1".into(),
            image: "clinic:v1".into(),
            image_id: "sha256:ab".into(),
        });
        let entry = audit_of(&e, "a", "clinic").unwrap();
        assert_eq!(entry.environment, None);
        assert_eq!(entry.detail, "clinic:v1 sha256:ab");
    }

    #[test]
    fn progress_is_neither_audited_nor_notified() {
        let e = sink()
            .for_tenant("t1")
            .envelope(EventKind::InstanceProgress {
                state: InstanceState::Verifying,
                message: "waiting".into(),
            });
        assert!(audit_of(&e, "a", "c").is_none());
        assert!(notice_of(&e, "a").is_none());
    }
}
