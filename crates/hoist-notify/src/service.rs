//! The three services as plain data: what request a notice becomes for each. Sending,
//! retrying and reporting live in `deliver`, so every service gets the same guarantees.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::notice::Notice;
use crate::render::Renderer;
use crate::secret::Secret;

/// Zulip refuses longer topics (its default `max_topic_length`).
const ZULIP_TOPIC_CHARS: usize = 60;
/// Zulip refuses longer messages (its default `max_message_length`, in bytes).
const ZULIP_CONTENT_BYTES: usize = 10_000;
/// Slack truncates `text` past 40,000 characters; hoist cuts first, visibly.
const SLACK_TEXT_CHARS: usize = 39_000;

/// A URL to post to. When it is a credential (Slack's, or a webhook's from `url_env`),
/// `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: reqwest::Url,
    pub(crate) secret: bool,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str(crate::secret::REDACTED)
        } else {
            write!(f, "{}", self.url)
        }
    }
}

#[derive(Debug)]
pub(crate) enum Service {
    Zulip {
        /// `{site}/api/v1/messages`.
        endpoint: Endpoint,
        bot_email: String,
        api_key: Secret,
        stream: String,
        renderer: Renderer,
    },
    Slack {
        endpoint: Endpoint,
        renderer: Renderer,
    },
    Webhook {
        endpoint: Endpoint,
        secret: Secret,
    },
}

/// One request, ready to be sent as many times as the retry policy allows.
pub(crate) struct Outgoing<'a> {
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) body: Body,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) basic_auth: Option<(&'a str, &'a Secret)>,
    /// Zulip answers errors in a JSON `result`; the others say all in the status.
    pub(crate) expects_zulip_result: bool,
}

pub(crate) enum Body {
    Form(Vec<(&'static str, String)>),
    Json(Vec<u8>),
}

impl Service {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Service::Zulip { .. } => "zulip",
            Service::Slack { .. } => "slack",
            Service::Webhook { .. } => "webhook",
        }
    }

    /// The request for `notice`; `now` is the Unix time the webhook signs.
    pub(crate) fn request(&self, notice: &Notice, now: i64) -> Result<Outgoing<'_>, String> {
        match self {
            Service::Zulip {
                endpoint,
                bot_email,
                api_key,
                stream,
                renderer,
            } => {
                let topic = cut_chars(&renderer.topic(notice)?, ZULIP_TOPIC_CHARS, "…");
                let content = cut_bytes(&renderer.message(notice)?, ZULIP_CONTENT_BYTES);
                Ok(Outgoing {
                    endpoint,
                    // `type=stream` rather than the newer `channel`: every Zulip server
                    // accepts it, while `channel` needs Zulip 9.
                    body: Body::Form(vec![
                        ("type", "stream".to_string()),
                        ("to", stream.clone()),
                        ("topic", topic),
                        ("content", content),
                    ]),
                    headers: Vec::new(),
                    basic_auth: Some((bot_email, api_key)),
                    expects_zulip_result: true,
                })
            }
            Service::Slack { endpoint, renderer } => {
                let text = cut_chars(&renderer.message(notice)?, SLACK_TEXT_CHARS, CUT_MARK);
                let body = serde_json::to_vec(&serde_json::json!({ "text": text }))
                    .map_err(|e| format!("cannot encode the message: {e}"))?;
                Ok(Outgoing {
                    endpoint,
                    body: Body::Json(body),
                    headers: Vec::new(),
                    basic_auth: None,
                    expects_zulip_result: false,
                })
            }
            Service::Webhook { endpoint, secret } => {
                let body = serde_json::to_vec(notice)
                    .map_err(|e| format!("cannot encode the notice: {e}"))?;
                let timestamp = now.to_string();
                let signature = sign(secret.expose().as_bytes(), &timestamp, &body);
                Ok(Outgoing {
                    endpoint,
                    body: Body::Json(body),
                    headers: vec![
                        ("X-Hoist-Event", notice.kind.as_str().to_string()),
                        ("X-Hoist-Delivery", notice.delivery_id.clone()),
                        ("X-Hoist-Timestamp", timestamp),
                        ("X-Hoist-Signature", signature),
                    ],
                    basic_auth: None,
                    expects_zulip_result: false,
                })
            }
        }
    }
}

/// The `X-Hoist-Signature` value: `sha256=` and the hex HMAC-SHA256, keyed with the shared
/// secret, of the timestamp, a `.`, and the raw body. Signing the timestamp with the body
/// is what lets a receiver refuse a captured request replayed later.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mac = mac(secret, timestamp, body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a webhook request does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now: too old (or a replay)")]
    Stale(i64),
    #[error("the signature header is not `sha256=<hex>`")]
    BadHeader,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a webhook request as a receiver should (see docs/notifications.md): the
/// timestamp is within `tolerance_secs` of `now` and the signature matches, compared in
/// constant time. Receivers should also drop a repeated `X-Hoist-Delivery`.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(sent);
    if skew.abs() > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let hex_part = signature
        .strip_prefix("sha256=")
        .ok_or(VerifyError::BadHeader)?;
    let expected = hex::decode(hex_part).map_err(|_| VerifyError::BadHeader)?;
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

const CUT_MARK: &str = "\n… (cut)";

/// `text` in at most `max` characters, `mark` included when it had to be cut.
fn cut_chars(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(mark.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(mark);
    cut
}

/// `text` in at most `max` bytes, cut on a character boundary.
fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_tampering_and_replays() {
        let body = br#"{"kind":"failed"}"#;
        let sig = sign(b"shared", "1700000000", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        assert_eq!(
            verify(b"shared", "1700000000", body, &sig, 1700000100, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"shared", "1700000000", b"{}", &sig, 1700000000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", "1700000000", body, &sig, 1700000000, 300),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it forward breaks the signature...
        assert_eq!(
            verify(b"shared", "1700009000", body, &sig, 1700009000, 300),
            Err(VerifyError::Mismatch)
        );
        // ...and keeping it makes an old capture stale.
        assert_eq!(
            verify(b"shared", "1700000000", body, &sig, 1700009000, 300),
            Err(VerifyError::Stale(9000))
        );
    }

    #[test]
    fn signature_matches_the_documented_python() {
        // hmac.new(b"shared", b"1700000000" + b"." + body, hashlib.sha256).hexdigest(),
        // as docs/notifications.md tells receivers to compute it.
        assert_eq!(
            sign(b"shared", "1700000000", br#"{"kind":"failed"}"#),
            "sha256=841da76e1f2d031091b97ec2b6b32573e5178d01b1bafd180e91858b9b6e8b66"
        );
    }

    #[test]
    fn cuts_respect_limits_and_characters() {
        let long = "é".repeat(6000); // 12,000 bytes
        let cut = cut_bytes(&long, ZULIP_CONTENT_BYTES);
        assert!(cut.len() <= ZULIP_CONTENT_BYTES && cut.ends_with("(cut)"));
        let topic = cut_chars(&"x".repeat(100), ZULIP_TOPIC_CHARS, "…");
        assert_eq!(topic.chars().count(), ZULIP_TOPIC_CHARS);
        assert!(topic.ends_with("x…"));
        assert_eq!(cut_chars("short", 60, "…"), "short");
    }
}
