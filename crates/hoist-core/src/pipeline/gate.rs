//! The checks before anything changes: may this actor deploy this ref here now (policy),
//! and has this release been verified where this environment requires (promotion). Every
//! decision goes to the audit log; refusals are also notified.

use std::collections::BTreeSet;

use hoist_policy::{GitRef, ReleaseFacts, ReleaseSettings, Request};

use super::{Deployer, PipelineError};
use crate::events::EventKind;

/// What an operator asked for around a deploy: overriding windows, and why.
#[derive(Debug, Clone, Default)]
pub struct Override {
    pub window: bool,
    pub reason: Option<String>,
}

impl Deployer {
    pub(crate) fn release_settings(&self) -> Result<ReleaseSettings, PipelineError> {
        hoist_config::release::release_settings(&self.config)
            .map_err(|e| PipelineError::Config(e.to_string()))
    }

    /// Asks the environment's policy; records the decision; refuses with its reasons.
    pub(crate) async fn authorize(
        &self,
        action: &'static str,
        environment: &str,
        git_ref: &GitRef,
        version: &str,
        overrides: &Override,
    ) -> Result<(), PipelineError> {
        let settings = self.release_settings()?;
        let decision = settings.decide(
            environment,
            &Request {
                actor: self.actor.clone(),
                git_ref: git_ref.clone(),
                now: jiff::Timestamp::now(),
                override_window: overrides.window,
                reason: overrides.reason.clone(),
            },
        );
        self.note(EventKind::PolicyDecided {
            action: action.to_string(),
            version: version.to_string(),
            allowed: decision.allowed,
            overridden: decision.overridden,
            decision: serde_json::to_value(&decision).unwrap_or_default(),
        });
        if decision.allowed {
            return Ok(());
        }
        self.refused(action, environment, version, decision.reasons)
            .await
    }

    /// Refuses unless `version` was verified in every environment `environment` requires.
    pub(crate) async fn check_promotion(
        &self,
        action: &'static str,
        environment: &str,
        version: &str,
    ) -> Result<(), PipelineError> {
        let settings = self.release_settings()?;
        let verified_in: BTreeSet<String> = self.store.verified_in(self.app_name(), version)?;
        let facts = ReleaseFacts {
            release: version.to_string(),
            verified_in,
        };
        match settings.check_promotion(&facts, environment) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                let reason = refusal.message();
                self.note(EventKind::PromotionRefused {
                    version: Some(version.to_string()),
                    reason: reason.clone(),
                });
                self.refused(action, environment, version, vec![reason])
                    .await
            }
        }
    }

    pub(crate) async fn refused<T>(
        &self,
        action: &'static str,
        environment: &str,
        version: &str,
        reasons: Vec<String>,
    ) -> Result<T, PipelineError> {
        self.record(EventKind::Refused {
            action: action.to_string(),
            version: version.to_string(),
            reasons: reasons.clone(),
        })
        .await;
        Err(PipelineError::Refused {
            action,
            environment: environment.to_string(),
            reasons,
        })
    }

    /// Refuses to start when `environment`'s notifiers cannot be used (a credential is
    /// missing): bad configuration, found before anything changes.
    pub(crate) fn check_notifiers(&self, environment: &str) -> Result<(), PipelineError> {
        self.notifier
            .ready(environment)
            .map_err(PipelineError::Config)
    }
}
