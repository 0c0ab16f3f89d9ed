//! Which refs deploy where, who may deploy them when, and what must be verified first.
//!
//! Everything here is a pure function of its inputs (config already parsed, the clock
//! passed in), so each decision is a fixture test and the pipeline, CLI and server share
//! one answer:
//!
//! - [`refs`] and [`version`]: `refs/tags/v1.2.0`, `v1.2.0`, `main` into a [`GitRef`];
//!   malformed versions explained (`v1.2` has no patch number).
//! - [`rules`]: a ref resolves to environments ([`Resolution`]), "nothing to deploy" being
//!   an answer rather than an error; overlapping rules of different environments are
//!   found exactly, with an example ref.
//! - [`promotion`]: a release must have been verified elsewhere first.
//! - [`policy`] and [`window`]: deployers and groups, release-tags-only, deploy windows
//!   and blackout dates in an IANA time zone (DST-correct), overrides with a reason; a
//!   serialisable [`Decision`] for the audit log.
//!
//! [`ReleaseSettings`] bundles them per environment; `hoist-config` builds it from
//! `hoist.toml`.

use std::collections::BTreeMap;

pub mod at;
mod overlap;
pub mod policy;
pub mod promotion;
pub mod refs;
pub mod rules;
pub mod version;
pub mod window;

pub use policy::{Decision, Policy, Principal, Principals, Request, decide};
pub use promotion::{Refusal, ReleaseFacts, check_promotion};
pub use refs::{GitRef, RefError, RefKind};
pub use rules::{
    EnvironmentRules, NotAdmitted, Overlap, Resolution, Rule, RuleError, RuleSet, Target,
};
pub use version::{VersionError, parse_version};
pub use window::{ClockTime, Schedule, Weekdays, Window, WindowError};

/// Every environment's rules, policy and promotion requirements.
#[derive(Debug, Clone, Default)]
pub struct ReleaseSettings {
    pub rules: RuleSet,
    /// One per environment (an open policy where the config sets none).
    pub policies: BTreeMap<String, Policy>,
    /// Environment -> environments a release must be verified in first.
    pub requires_verified_in: BTreeMap<String, Vec<String>>,
}

impl ReleaseSettings {
    /// Where `git_ref` deploys, in the order to deploy: an environment comes after the
    /// ones among the targets it requires verification in, so that one release of a ref
    /// both take (staging `{ semver = "any" }` overlapping production, which requires
    /// staging) verifies it in staging before production checks. Otherwise config order.
    pub fn resolve(&self, git_ref: &GitRef) -> Resolution {
        match self.rules.resolve(git_ref) {
            Resolution::Deploy { targets } => Resolution::Deploy {
                targets: self.in_promotion_order(targets),
            },
            nothing => nothing,
        }
    }

    /// `targets` with every environment after the targets it requires; stable otherwise.
    /// Requirements never form a cycle (the config refuses them); should one slip through,
    /// the rest keep their order rather than being dropped.
    fn in_promotion_order(&self, mut targets: Vec<Target>) -> Vec<Target> {
        let mut ordered: Vec<Target> = Vec::with_capacity(targets.len());
        while !targets.is_empty() {
            let pending: Vec<&str> = targets.iter().map(|t| t.environment.as_str()).collect();
            let ready = targets.iter().position(|t| {
                self.requires_verified_in
                    .get(&t.environment)
                    .is_none_or(|required| required.iter().all(|r| !pending.contains(&r.as_str())))
            });
            ordered.push(targets.remove(ready.unwrap_or(0)));
        }
        ordered
    }

    /// The policy decision for deploying to `environment`; refused for an unknown one.
    pub fn decide(&self, environment: &str, request: &Request) -> Decision {
        match self.policies.get(environment) {
            Some(policy) => decide(policy, request),
            None => {
                let known: Vec<&str> = self.policies.keys().map(String::as_str).collect();
                Decision {
                    environment: environment.to_string(),
                    actor: request.actor.clone(),
                    git_ref: request.git_ref.name.clone(),
                    at: request.now,
                    allowed: false,
                    reasons: vec![format!(
                        "there is no environment named {environment} (hoist.toml defines {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )],
                    overridden: false,
                    override_reason: None,
                    notes: Vec::new(),
                }
            }
        }
    }

    /// Whether the release in `facts` has been verified where `environment` requires.
    pub fn check_promotion(&self, facts: &ReleaseFacts, environment: &str) -> Result<(), Refusal> {
        let required = self
            .requires_verified_in
            .get(environment)
            .map_or(&[][..], Vec::as_slice);
        check_promotion(facts, environment, required)
    }
}
