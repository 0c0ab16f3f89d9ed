//! The checks before anything changes: may this actor deploy this ref here now (policy),
//! and has this release been verified where this environment requires (promotion). Every
//! decision goes to the audit log; refusals are also notified.

use std::collections::BTreeSet;

use hoist_policy::{GitRef, ReleaseFacts, ReleaseSettings, Request};

use crate::Release;

use super::{Deployer, PipelineError};
use crate::events::EventKind;

/// What an operator asked for around a deploy: overriding windows, and why; rolling back
/// to a release that was never verified anywhere (`rollback --to V --force`).
#[derive(Debug, Clone, Default)]
pub struct Override {
    pub window: bool,
    pub reason: Option<String>,
    pub unverified: bool,
}

/// The ref a release version stands for, for policy checks of releases named by hand.
pub(crate) fn ref_for_version(version: &str) -> GitRef {
    let tag = GitRef::tag(version);
    if tag.version.is_some() {
        tag
    } else {
        GitRef::branch(version)
    }
}

impl Deployer {
    /// The release rules and policies, evaluated once when the config was loaded.
    pub(crate) fn release_settings(&self) -> Result<&ReleaseSettings, PipelineError> {
        Ok(&self.config.release)
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
                let reason = format!(
                    "{}; {}",
                    refusal.message(),
                    self.promotion_hint(settings, environment, version, &refusal.missing)?
                );
                self.note(EventKind::PromotionRefused {
                    version: Some(version.to_string()),
                    reason: reason.clone(),
                });
                self.refused(action, environment, version, vec![reason])
                    .await
            }
        }
    }

    /// Refuses a release named by hand (`promote`, `rollback --to`, `deploy --version`)
    /// that `environment`'s `deploy_from` rules do not take: no command ships what
    /// `hoist release` would refuse. `candidates` are other releases (newest first) for
    /// the hint, which names a command that would be allowed, built by `command`.
    pub(crate) async fn check_rules(
        &self,
        action: &'static str,
        environment: &str,
        version: &str,
        candidates: &[Release],
        command: impl Fn(&str) -> String,
    ) -> Result<(), PipelineError> {
        let settings = self.release_settings()?;
        let Err(not_taken) = settings
            .rules
            .admits(environment, &ref_for_version(version))
        else {
            return Ok(());
        };
        let hint = match candidates
            .iter()
            .find(|r| r.version != version && self.would_take(settings, environment, &r.version))
        {
            Some(r) => format!("`{}` would be allowed", command(&r.version)),
            None => {
                format!("tag a version that {environment} takes and run `hoist release --ref TAG`")
            }
        };
        let reason = format!("{not_taken}; {hint}");
        self.note(EventKind::PolicyDecided {
            action: action.to_string(),
            version: version.to_string(),
            allowed: false,
            overridden: false,
            decision: serde_json::json!({
                "environment": environment,
                "actor": self.actor,
                "git_ref": version,
                "allowed": false,
                "reasons": [reason],
            }),
        });
        self.refused(action, environment, version, vec![reason])
            .await
    }

    /// Whether `environment` would take `version` from this actor now: by its rules and
    /// its policy.
    fn would_take(&self, settings: &ReleaseSettings, environment: &str, version: &str) -> bool {
        let git_ref = ref_for_version(version);
        settings.rules.admits(environment, &git_ref).is_ok()
            && settings
                .decide(
                    environment,
                    &Request {
                        actor: self.actor.clone(),
                        git_ref,
                        now: jiff::Timestamp::now(),
                        override_window: false,
                        reason: None,
                    },
                )
                .allowed
    }

    /// What to do about a release not yet verified where `environment` requires: a
    /// command that would be allowed.
    pub(crate) fn promotion_hint(
        &self,
        settings: &ReleaseSettings,
        environment: &str,
        version: &str,
        missing: &[String],
    ) -> Result<String, PipelineError> {
        let [first] = missing else {
            return Ok("deploy it to each of them first".to_string());
        };
        if self.would_take(settings, first, version) {
            return Ok(format!(
                "deploy it there first (`hoist deploy {first} --version {version}`), then \
                 `hoist promote {first} {environment} --version {version}`"
            ));
        }
        let verified = self.store.deployed_releases(self.app_name(), first)?;
        if let Some(r) = verified
            .iter()
            .find(|r| self.would_take(settings, environment, &r.version))
        {
            return Ok(format!(
                "{first} does not take {version}, so it cannot be verified there; \
                 `hoist promote {first} {environment} --version {}` would ship {}, which is verified there",
                r.version, r.version
            ));
        }
        Ok(format!(
            "{first} does not take {version}, so it cannot be verified there; let {first}'s \
             deploy_from take it (README: \"Promotion\")"
        ))
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
