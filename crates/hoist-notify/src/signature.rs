//! The generic webhook's signature, as the Standard Webhooks specification defines it
//! (<https://www.standardwebhooks.com/>), so that any of its libraries verifies hoist's
//! requests:
//!
//! - `webhook-id`: the event's id, the same in every retry (receivers drop repeats);
//! - `webhook-timestamp`: when this attempt was signed, in Unix seconds;
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
//!   keyed with the decoded secret.
//!
//! Signing the id with the timestamp and the body is what makes a captured request useless
//! to an attacker: replayed later, its timestamp is stale; replayed under a new id to pass
//! de-duplication, its signature no longer matches.
//!
//! Secrets are written as the specification serialises them: `whsec_` followed by the
//! base64 of 24 to 64 random bytes, e.g. `echo "whsec_$(openssl rand -base64 32)"`.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a serialised symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest and most bytes a secret may decode to (the specification's 192 to 512 bits).
pub const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// The signature scheme's identifier: HMAC-SHA256.
const VERSION: &str = "v1";

/// Header names, lowercase as the specification writes them (HTTP headers are
/// case-insensitive).
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

fn engine() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// A webhook signing key, decoded from its `whsec_...` form.
///
/// `Debug` prints no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

/// Why a configured secret is not a Standard Webhooks secret. The messages describe the
/// shape expected and never quote any part of the value (not even the offending
/// character, which base64 errors would).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error(
        "it does not start with `whsec_`; a Standard Webhooks secret is `whsec_` followed by the base64 of 24 to 64 random bytes (generate one with `echo \"whsec_$(openssl rand -base64 32)\"` and give the receiver the same)"
    )]
    MissingPrefix,
    #[error(
        "what follows `whsec_` is not base64 (standard alphabet `A-Z a-z 0-9 + /`, with `=` padding)"
    )]
    NotBase64,
    #[error("it decodes to {0} bytes; the Standard Webhooks specification asks for 24 to 64")]
    Length(usize),
}

impl WebhookSecret {
    /// Reads a secret in its serialised form: `whsec_` and standard, padded base64 (the
    /// form every Standard Webhooks library decodes alike) of 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretFormatError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretFormatError::MissingPrefix)?;
        let key = engine()
            .decode(encoded)
            .map_err(|_| SecretFormatError::NotBase64)?;
        if !SECRET_BYTES.contains(&key.len()) {
            return Err(SecretFormatError::Length(key.len()));
        }
        Ok(WebhookSecret { key })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    fn signed_content(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({})", crate::secret::REDACTED)
    }
}

/// The `webhook-signature` value for one attempt: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = secret.signed_content(id, &timestamp.to_string(), body);
    format!("{VERSION},{}", engine().encode(mac.finalize().into_bytes()))
}

/// Why a webhook request does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is {0} s away from now: too old (or a replay)")]
    Stale(i64),
    #[error("the webhook-signature holds no `v1,<base64>` signature")]
    BadHeader,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a request as a receiver should: the timestamp is within `tolerance_secs` of
/// `now`, and one of the space-separated `v1` signatures of `signatures` (the
/// `webhook-signature` header) matches, compared in constant time. Receivers should also
/// drop a `webhook-id` they have handled already.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(sent);
    if skew.abs() > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, encoded)| engine().decode(encoded).ok())
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::BadHeader);
    }
    let expected = secret.signed_content(id, timestamp.trim(), body);
    if candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid")
    }

    #[test]
    fn signs_as_the_reference_library_does() {
        // From PyPI's `standardwebhooks` 1.1.0: Webhook(secret).sign(id, timestamp, body).
        assert_eq!(
            sign(
                &secret(),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_and_rejects_tampering_new_ids_and_stale_timestamps() {
        let s = secret();
        let body = br#"{"kind":"failed"}"#;
        let sig = sign(&s, "id-1", 1700000000, body);
        let ok = |id: &str, ts: &str, body: &[u8], sigs: &str, now: i64| {
            verify(&s, id, ts, body, sigs, now, 300)
        };
        assert_eq!(ok("id-1", "1700000000", body, &sig, 1700000100), Ok(()));
        // Several signatures (a key rotation) and other schemes are fine.
        let several = format!("v1a,AAAA v1,bm90IGl0 {sig}");
        assert_eq!(ok("id-1", "1700000000", body, &several, 1700000000), Ok(()));
        assert_eq!(
            ok("id-1", "1700000000", b"{}", &sig, 1700000000),
            Err(VerifyError::Mismatch)
        );
        // The id is signed: a capture replayed under a new id does not verify.
        assert_eq!(
            ok("id-2", "1700000000", body, &sig, 1700000000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            ok("id-1", "1700009000", body, &sig, 1700009000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            ok("id-1", "1700000000", body, &sig, 1700009000),
            Err(VerifyError::Stale(9000))
        );
        assert_eq!(
            ok("id-1", "soon", body, &sig, 1700000000),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            ok("id-1", "1700000000", body, "sha256=abc", 1700000000),
            Err(VerifyError::BadHeader)
        );
        let other = WebhookSecret::parse("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY").expect("valid");
        assert_eq!(
            verify(&other, "id-1", "1700000000", body, &sig, 1700000000, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        let b64 = |n: usize| engine().encode(vec![7u8; n]);
        assert!(WebhookSecret::parse(&format!("whsec_{}", b64(32))).is_ok());
        assert!(WebhookSecret::parse(&format!("whsec_{}", b64(64))).is_ok());
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", b64(16))),
            Err(SecretFormatError::Length(16))
        );
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", b64(65))),
            Err(SecretFormatError::Length(65))
        );
        assert_eq!(
            WebhookSecret::parse("whsec-0123456789-shared-secret"),
            Err(SecretFormatError::MissingPrefix)
        );
        assert_eq!(
            WebhookSecret::parse(&b64(32)),
            Err(SecretFormatError::MissingPrefix),
            "bare base64 is refused: the prefix says which scheme the key is for"
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64 at all!"),
            Err(SecretFormatError::NotBase64)
        );
        // 32 bytes are 44 characters with one `=`; without it some libraries refuse.
        let unpadded = format!("whsec_{}", b64(32).trim_end_matches('='));
        assert_eq!(
            WebhookSecret::parse(&unpadded),
            Err(SecretFormatError::NotBase64)
        );
        let shown = SecretFormatError::NotBase64.to_string();
        assert!(!shown.contains("not base64 at all"), "{shown}");
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(<redacted>)");
    }
}
