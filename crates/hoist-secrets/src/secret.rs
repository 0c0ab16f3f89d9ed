//! A secret's value once read, and the fingerprint that stands for it everywhere else.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// Hex digits of a [`fingerprint`].
pub const FINGERPRINT_LEN: usize = 8;

/// A short fingerprint of a secret's value: the first 8 hex digits (32 bits) of
/// SHA-256 over a domain tag, the app, the secret's name and its value.
///
/// It shows that a value changed (drift) without showing the value: 32 bits of a hash
/// cannot be inverted, and about four billion values share each fingerprint, so it
/// narrows nothing down for a random secret. App and name are hashed in, so one password
/// used by two apps or under two names does not show up as the same fingerprint. What it
/// cannot hide is a guess: someone holding the fingerprint can test candidate values
/// offline, so a guessable secret (a dictionary word) stays guessable, as with any
/// checksum of it. Use generated secrets.
pub fn fingerprint(app: &str, name: &str, value: &str) -> String {
    let mut hash = Sha256::new();
    for part in ["hoist-secret-fingerprint-v1", app, name, value] {
        hash.update(part.as_bytes());
        // A separator no part can forge: lengths differ, so ("ab","c") != ("a","bc").
        hash.update((part.len() as u64).to_be_bytes());
    }
    hex::encode(hash.finalize())[..FINGERPRINT_LEN].to_string()
}

/// A secret's value, read for one deploy. `Debug` and `Serialize` show its fingerprint
/// only, and it has no `Display`: [`Secret::expose`] is the one way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    fingerprint: String,
}

impl Secret {
    /// `value` as the secret `name` of `app`.
    pub fn new(app: &str, name: &str, value: String) -> Secret {
        let fingerprint = fingerprint(app, name, &value);
        Secret { value, fingerprint }
    }

    /// The value, for the runtime that hands it to the app. Never format it into text
    /// that leaves the process any other way.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// See [`fingerprint`].
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(fingerprint {})", self.fingerprint)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.fingerprint)
    }
}

/// An instance's secrets by variable name, read for one deploy. Empty until a deploy
/// reads them. `Debug` and `Serialize` show names and fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Secrets(BTreeMap<String, Secret>);

impl Secrets {
    pub fn insert(&mut self, name: impl Into<String>, secret: Secret) {
        self.0.insert(name.into(), secret);
    }
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// By name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Each name's fingerprint: what labels carry and a spec hash may include.
    pub fn fingerprints(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.fingerprint.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_short_stable_and_scoped() {
        let fp = fingerprint("clinic", "DB_PASSWORD", "s3cr3t");
        assert_eq!(fp.len(), FINGERPRINT_LEN);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fp, fingerprint("clinic", "DB_PASSWORD", "s3cr3t"));
        assert_ne!(fp, fingerprint("clinic", "DB_PASSWORD", "s3cr3t2"));
        assert_ne!(fp, fingerprint("other", "DB_PASSWORD", "s3cr3t"));
        assert_ne!(fp, fingerprint("clinic", "API_KEY", "s3cr3t"));
        assert_ne!(fingerprint("a", "bc", "d"), fingerprint("ab", "c", "d"));
    }

    #[test]
    fn a_secret_formats_as_its_fingerprint_only() {
        let secret = Secret::new("clinic", "DB_PASSWORD", "s3cr3t-VALUE-123".into());
        let mut all = Secrets::default();
        all.insert("DB_PASSWORD", secret.clone());
        let debug = format!("{all:?} {secret:?}");
        let json = serde_json_like(&all);
        for shown in [debug, json] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains(secret.fingerprint()), "{shown}");
        }
        assert_eq!(secret.expose(), "s3cr3t-VALUE-123");
    }

    /// `Serialize` through toml (the crate has no JSON dependency).
    fn serde_json_like(secrets: &Secrets) -> String {
        toml::to_string(secrets).unwrap()
    }
}
