//! Webhook deliveries from GitHub and GitLab, written from their published documentation:
//!
//! - GitHub signs the raw body with HMAC-SHA256 under the hook's secret and sends
//!   `X-Hub-Signature-256: sha256=<hex>`; the event is `X-GitHub-Event`, the delivery
//!   `X-GitHub-Delivery` (a GUID, kept on redelivery).
//! - GitLab sends the hook's secret token itself in `X-Gitlab-Token`; where a signing token
//!   is configured it also signs `{webhook-id}.{webhook-timestamp}.{body}` with
//!   HMAC-SHA256 as the Standard Webhooks specification says (`webhook-signature:
//!   v1,<base64>`). The event is `X-Gitlab-Event` (`Push Hook`, `Tag Push Hook`), the
//!   delivery `X-Gitlab-Event-UUID` (or `Idempotency-Key` / `webhook-id` where sent).
//!
//! [`receive`] turns headers and body into a [`Delivery`] or a [`Refusal`]; it never
//! parses a body whose signature did not hold. Every comparison of a secret or a MAC is
//! constant-time.

mod github;
mod gitlab;
mod replay;

use std::fmt;

pub use replay::SeenDeliveries;

/// Which sender a delivery claims to come from, by the path it was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    GitHub,
    GitLab,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
        })
    }
}

/// A webhook secret. Never printed.
#[derive(Clone)]
pub struct HookSecret(Vec<u8>);

impl HookSecret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookSecret(<redacted>)")
    }
}

/// The secrets a server checks deliveries with, per provider. A provider without a secret
/// is refused outright: an unsigned hook would let anyone trigger a release.
#[derive(Debug, Clone, Default)]
pub struct HookSecrets {
    /// GitHub's webhook secret.
    pub github: Option<HookSecret>,
    /// GitLab's secret token (`X-Gitlab-Token`).
    pub gitlab_token: Option<HookSecret>,
    /// GitLab's signing token; when set, `webhook-signature` is required as well.
    pub gitlab_signing: Option<HookSecret>,
}

/// Request headers by lower-case name, as the HTTP layer hands them over.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

/// A ref that was pushed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum PushedRef {
    Tag(String),
    Branch(String),
}

impl PushedRef {
    /// `refs/tags/v1.2.0` or `refs/heads/main`; anything else is not a release trigger.
    fn parse(full: &str) -> Option<Self> {
        if let Some(tag) = full.strip_prefix("refs/tags/") {
            Some(Self::Tag(tag.to_string()))
        } else {
            full.strip_prefix("refs/heads/")
                .map(|b| Self::Branch(b.to_string()))
        }
    }

    /// The name as `hoist release --ref` takes it.
    pub fn name(&self) -> &str {
        match self {
            PushedRef::Tag(n) | PushedRef::Branch(n) => n,
        }
    }
}

/// A verified push of a tag or branch: what a release job is made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Push {
    pub provider: Provider,
    pub delivery: String,
    pub pushed: PushedRef,
    /// The commit the ref points at after the push (40 hex).
    pub commit: String,
    /// Where to fetch the repository from (HTTPS clone URL).
    pub clone_url: String,
    /// `owner/name` (GitHub) or `group/project` (GitLab).
    pub repository: String,
    /// Who pushed: the deploy's actor, so the policy's `deployers` applies to them.
    pub pusher: String,
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// A tag or branch was pushed: a release job.
    Push(Push),
    /// Verified, but nothing to do (a ping, another event, a deleted ref): answered 202.
    Ignored {
        provider: Provider,
        delivery: String,
        event: String,
        reason: String,
    },
}

impl Delivery {
    pub fn id(&self) -> &str {
        match self {
            Delivery::Push(p) => &p.delivery,
            Delivery::Ignored { delivery, .. } => delivery,
        }
    }
}

/// Why a delivery was refused. The HTTP layer maps these to status codes; none carries a
/// secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No secret is configured for this provider (503: the server is not set up for it).
    #[error("{0} webhooks are not configured on this server (no secret set)")]
    NotConfigured(Provider),
    /// 401.
    #[error("{provider} delivery has no {header} header")]
    MissingSignature {
        provider: Provider,
        header: &'static str,
    },
    /// 401.
    #[error("{provider} delivery's {header} does not match the configured secret")]
    BadSignature {
        provider: Provider,
        header: &'static str,
    },
    /// 401: a Standard Webhooks timestamp too far from now (a replay of an old delivery).
    #[error("{provider} delivery's webhook-timestamp is outside the accepted window")]
    Stale { provider: Provider },
    /// 400: signed, but not what the documented schema says.
    #[error("{provider} delivery is malformed: {message}")]
    Malformed { provider: Provider, message: String },
}

impl Refusal {
    /// Whether this is an authentication failure (401, audited).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            Refusal::MissingSignature { .. } | Refusal::BadSignature { .. } | Refusal::Stale { .. }
        )
    }
}

/// Checks a delivery's signature, then reads what it asks for. `now` is for the Standard
/// Webhooks timestamp check (GitLab's signing token).
pub fn receive(
    provider: Provider,
    headers: &dyn Headers,
    body: &[u8],
    secrets: &HookSecrets,
    now: jiff::Timestamp,
) -> Result<Delivery, Refusal> {
    match provider {
        Provider::GitHub => {
            let secret = secrets
                .github
                .as_ref()
                .ok_or(Refusal::NotConfigured(provider))?;
            github::verify(headers, body, secret)?;
            github::read(headers, body)
        }
        Provider::GitLab => {
            let token = secrets
                .gitlab_token
                .as_ref()
                .ok_or(Refusal::NotConfigured(provider))?;
            gitlab::verify(headers, body, token, secrets.gitlab_signing.as_ref(), now)?;
            gitlab::read(headers, body)
        }
    }
}

/// A 40-hex commit id other than the all-zero one a deletion carries.
fn live_commit(sha: Option<&str>) -> Option<&str> {
    sha.filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|s| s.bytes().any(|b| b != b'0'))
}

fn malformed(provider: Provider, message: impl Into<String>) -> Refusal {
    Refusal::Malformed {
        provider,
        message: message.into(),
    }
}

/// The signature a sender computes: hex HMAC-SHA256 of `body` (GitHub's form, without the
/// `sha256=` prefix). For tests and `hoist` tooling that signs test deliveries.
pub fn github_signature(secret: &HookSecret, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = github::Hmac::new_from_slice(secret.bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The Standard Webhooks signature GitLab sends with a signing token, `v1,<base64>`.
pub fn standard_webhooks_signature(
    secret: &HookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    gitlab::sign(secret, id, timestamp, body)
}
