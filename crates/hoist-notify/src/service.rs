//! The three services as plain data: what request a notice becomes for each. Sending,
//! retrying and reporting live in `deliver`, so every service gets the same guarantees.

use std::fmt;

use crate::notice::Notice;
use crate::render::Renderer;
use crate::secret::Secret;
use crate::signature::WebhookSecret;

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
        secret: WebhookSecret,
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
    /// Signed as Standard Webhooks do, afresh for each attempt (a new timestamp).
    pub(crate) signing: Option<Signing<'a>>,
}

/// What each attempt of a webhook delivery signs with.
pub(crate) struct Signing<'a> {
    pub(crate) secret: &'a WebhookSecret,
    /// `webhook-id`: the notice's delivery id, the same in every attempt.
    pub(crate) id: &'a str,
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

    /// The request for `notice`.
    pub(crate) fn request<'a>(&'a self, notice: &'a Notice) -> Result<Outgoing<'a>, String> {
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
                    // accepts it, while `channel` needs Zulip 9. `to` is JSON, as the API
                    // documents it: Zulip reads a bare `2024` as the channel with id 2024,
                    // `"2024"` as the channel named 2024.
                    body: Body::Form(vec![
                        ("type", "stream".to_string()),
                        ("to", serde_json::Value::String(stream.clone()).to_string()),
                        ("topic", topic),
                        ("content", content),
                    ]),
                    headers: Vec::new(),
                    basic_auth: Some((bot_email, api_key)),
                    expects_zulip_result: true,
                    signing: None,
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
                    signing: None,
                })
            }
            Service::Webhook { endpoint, secret } => {
                let body = serde_json::to_vec(notice)
                    .map_err(|e| format!("cannot encode the notice: {e}"))?;
                Ok(Outgoing {
                    endpoint,
                    body: Body::Json(body),
                    headers: Vec::new(),
                    basic_auth: None,
                    expects_zulip_result: false,
                    signing: Some(Signing {
                        secret,
                        id: &notice.delivery_id,
                    }),
                })
            }
        }
    }
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
