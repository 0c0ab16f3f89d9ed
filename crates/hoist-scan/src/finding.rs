//! Findings, redaction and fingerprints.
//!
//! A [`Finding`] never holds the secret: the engine redacts it and hashes it
//! the moment it is confirmed, so no Debug impl, log line, error, JSON or
//! SARIF document can ever contain it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many leading characters of a secret a redaction may show, at most.
pub const REDACT_PREFIX_MAX: usize = 4;

/// What replaces the hidden part of a secret.
pub const REDACTION_MARK: &str = "*****";

/// One confirmed secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The id of the rule that matched.
    pub rule_id: String,
    /// The rule's description, for humans.
    pub description: String,
    /// Path relative to the scan root, with `/` separators.
    pub path: String,
    /// 1-based line of the start of the secret.
    pub line: usize,
    /// 1-based column (in characters) of the start of the secret.
    pub column: usize,
    /// The secret with all but (at most) its first four characters hidden.
    pub redacted: String,
    /// Hex SHA-256 of rule id and secret: stable across line moves, renames
    /// and rebases, so a baseline keeps accepting a known secret.
    pub fingerprint: String,
    /// The commit that added the line, for history scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Redact a secret: show at most [`REDACT_PREFIX_MAX`] leading characters,
/// and fewer for short secrets (a quarter of the length, rounded down), so
/// that what is shown is never a meaningful share of the secret.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let chars = text.chars().count();
    let shown = (chars / 4).min(REDACT_PREFIX_MAX);
    let mut out: String = text
        .chars()
        .take(shown)
        // Never echo control characters (e.g. newlines in a key block).
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    out.push_str(REDACTION_MARK);
    out
}

/// Fingerprint of a secret for a rule: `sha256(rule_id || 0x00 || secret)`
/// in lowercase hex. Path and line are deliberately not part of it.
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0u8]);
    h.update(secret);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_shows_at_most_four_chars() {
        assert_eq!(redact(b"abcdefghijklmnopqrstuvwxyz"), "abcd*****");
        assert_eq!(redact(b"abcdefgh"), "ab*****");
        assert_eq!(redact(b"abc"), "*****");
        assert_eq!(redact(b""), "*****");
        assert_eq!(redact("ééééééééé".as_bytes()), "éé*****");
        assert_eq!(redact(b"\n\nabcdefgh"), "??*****");
    }

    #[test]
    fn fingerprint_depends_on_rule_and_secret_only() {
        let a = fingerprint("r", b"s1");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("r", b"s1"));
        assert_ne!(a, fingerprint("r", b"s2"));
        assert_ne!(a, fingerprint("q", b"s1"));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(fingerprint("ab", b"c"), fingerprint("a", b"bc"));
    }
}
