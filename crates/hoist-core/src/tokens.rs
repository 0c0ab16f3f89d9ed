//! API tokens of `hoist serve`: a name, an owner (the actor of every call made with it, so
//! the policy's `deployers` applies to them) and scopes. The store keeps only a hash of
//! each token; the token itself is shown once, when it is created.
//!
//! Scopes:
//!
//! - `read`: status, history, audit, jobs.
//! - `deploy:ENV`: start deploys, rollbacks and promotions into ENV, cancel its queued
//!   jobs, and read (a CI job that starts a deploy wants to follow it).
//! - `admin`: everything.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// One thing a token may do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Deploy(String),
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a scope; write `read`, `deploy:ENV` (an environment's name) or `admin`")]
pub struct BadScope(pub String);

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, BadScope> {
        match text {
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            _ => match text.strip_prefix("deploy:") {
                Some(env)
                    if !env.is_empty()
                        && env
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    Ok(Scope::Deploy(env.to_string()))
                }
                _ => Err(BadScope(text.to_string())),
            },
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Read => f.write_str("read"),
            Scope::Deploy(env) => write!(f, "deploy:{env}"),
            Scope::Admin => f.write_str("admin"),
        }
    }
}

/// What an API call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Read,
    /// To change this environment.
    Deploy(String),
    Admin,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Read => f.write_str("read"),
            Need::Deploy(env) => write!(f, "deploy:{env}"),
            Need::Admin => f.write_str("admin"),
        }
    }
}

/// Whether `scopes` grant `need`.
pub fn allows(scopes: &[Scope], need: &Need) -> bool {
    scopes.iter().any(|s| match (s, need) {
        (Scope::Admin, _) => true,
        (Scope::Read | Scope::Deploy(_), Need::Read) => true,
        (Scope::Deploy(have), Need::Deploy(want)) => have == want,
        _ => false,
    })
}

/// A token as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub owner: String,
    /// As written (`read`, `deploy:staging`, `admin`).
    pub scopes: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl TokenRecord {
    /// The scopes that parse; a scope this hoist does not know grants nothing.
    pub fn parsed_scopes(&self) -> Vec<Scope> {
        self.scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect()
    }
}

/// Tokens, persisted by their hash.
pub trait TokenStore: Send + Sync {
    /// Adds a token; false when a token of that name exists (revoked ones too: a name
    /// names one token in the audit log forever).
    fn create_token(&self, record: &TokenRecord, hash: &str) -> Result<bool, StoreError>;
    /// The token whose hash this is, revoked or not.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes the token; false when there is no live token of that name.
    fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    #[test]
    fn scopes_parse_and_print_back() {
        for s in ["read", "admin", "deploy:staging", "deploy:eu_prod-2"] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "deploy:", "deploy", "write", "deploy:a b", "Admin"] {
            assert_eq!(Scope::parse(bad), Err(BadScope(bad.to_string())), "{bad}");
        }
    }

    #[test]
    fn deploy_scope_grants_its_environment_and_reading_only() {
        let ci = scopes(&["deploy:staging"]);
        assert!(allows(&ci, &Need::Read));
        assert!(allows(&ci, &Need::Deploy("staging".into())));
        assert!(!allows(&ci, &Need::Deploy("production".into())));
        assert!(!allows(&ci, &Need::Admin));
    }

    #[test]
    fn read_grants_reading_only_and_admin_everything() {
        let read = scopes(&["read"]);
        assert!(allows(&read, &Need::Read));
        assert!(!allows(&read, &Need::Deploy("staging".into())));
        let admin = scopes(&["admin"]);
        assert!(allows(&admin, &Need::Deploy("production".into())));
        assert!(allows(&admin, &Need::Admin));
        assert!(!allows(&[], &Need::Read));
    }
}
