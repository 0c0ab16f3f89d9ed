//! Promotion requirements: an environment may take only releases already verified in
//! others (`requires_verified_in = ["staging"]` on production).
//!
//! "Verified" is the store's fact: a deployment of that release to the environment ended
//! with every instance verified (digest and health). The check is pure: the caller reads
//! the facts from history and passes them in.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What history says about one release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFacts {
    /// The release's version as people say it: `v2.3.0`, or a short commit.
    pub release: String,
    /// Environments where a deployment of this release was verified.
    pub verified_in: BTreeSet<String>,
}

/// A release that may not go to an environment yet, and where it must go first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{}", self.message())]
pub struct Refusal {
    pub release: String,
    pub environment: String,
    /// The required environments the release has not been verified in, in config order.
    pub missing: Vec<String>,
}

impl Refusal {
    /// "v2.3.0 has not been verified in staging, which production requires first". The
    /// caller adds what to do, which depends on history and the other environments' rules.
    pub fn message(&self) -> String {
        let Refusal {
            release,
            environment,
            missing,
        } = self;
        format!(
            "{release} has not been verified in {}, which {environment} requires first",
            join_or(missing)
        )
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Whether `facts.release` may deploy to `environment`, which requires verification in
/// each of `requires_verified_in`.
pub fn check_promotion(
    facts: &ReleaseFacts,
    environment: &str,
    requires_verified_in: &[String],
) -> Result<(), Refusal> {
    let missing: Vec<String> = requires_verified_in
        .iter()
        .filter(|env| !facts.verified_in.contains(*env))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refusal {
            release: facts.release.clone(),
            environment: environment.to_string(),
            missing,
        })
    }
}
