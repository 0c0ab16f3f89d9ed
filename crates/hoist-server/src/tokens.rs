//! Making and checking API tokens.
//!
//! A token is `hoist_` and 64 hex digits: 256 bits from the operating system's random
//! source. The store keeps its sha256 only. A slow password hash (argon2, bcrypt) protects
//! secrets people choose, which are guessable; 256 random bits cannot be guessed, so a
//! fast hash is as strong here and costs nothing per request, and it lets a token be looked
//! up by its hash (no per-token salt to try one by one).

use hoist_core::store::StoreError;
use hoist_core::tokens::{BadScope, Scope, TokenRecord, TokenStore};
use sha2::{Digest, Sha256};

const PREFIX: &str = "hoist_";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Scope(#[from] BadScope),
    #[error("a token needs at least one --scope (`read`, `deploy:ENV` or `admin`)")]
    NoScope,
    #[error(
        "`{0}` is not a token name; use letters, digits, `-`, `_` and `.` (at most 64 characters)"
    )]
    BadName(String),
    #[error(
        "a token named `{0}` exists already (revoked tokens keep their name); choose another name"
    )]
    Exists(String),
    #[error("no live token named `{0}` (see `hoist token list`)")]
    NotFound(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sha256 of a token, as stored.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// Creates a token and returns it: the only time it is ever shown.
pub fn create(
    store: &dyn TokenStore,
    name: &str,
    owner: &str,
    scopes: &[String],
) -> Result<(TokenRecord, String), TokenError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(TokenError::BadName(name.to_string()));
    }
    if scopes.is_empty() {
        return Err(TokenError::NoScope);
    }
    let mut parsed = scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    let token = generate()?;
    let record = TokenRecord {
        name: name.to_string(),
        owner: owner.to_string(),
        scopes: parsed.iter().map(Scope::to_string).collect(),
        created_at: jiff::Timestamp::now().to_string(),
        revoked_at: None,
    };
    if !store.create_token(&record, &hash(&token))? {
        return Err(TokenError::Exists(name.to_string()));
    }
    Ok((record, token))
}

pub fn revoke(store: &dyn TokenStore, name: &str) -> Result<(), TokenError> {
    if store.revoke_token(name)? {
        Ok(())
    } else {
        Err(TokenError::NotFound(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[PREFIX.len()..]));
    }
}
