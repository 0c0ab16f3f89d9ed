//! GitHub: `X-Hub-Signature-256` over the raw body, `push` events.
//! (docs.github.com: "Validating webhook deliveries", "Webhook events and payloads: push")

use hmac::Mac;
use serde::Deserialize;

use super::{
    Delivery, Headers, HookSecret, Provider, Push, PushedRef, Refusal, live_commit, malformed,
};

pub(super) type Hmac = hmac::Hmac<sha2::Sha256>;

const SIGNATURE: &str = "x-hub-signature-256";
const EVENT: &str = "x-github-event";
const DELIVERY: &str = "x-github-delivery";

pub(super) fn verify(
    headers: &dyn Headers,
    body: &[u8],
    secret: &HookSecret,
) -> Result<(), Refusal> {
    let provider = Provider::GitHub;
    let header = headers.get(SIGNATURE).ok_or(Refusal::MissingSignature {
        provider,
        header: "X-Hub-Signature-256",
    })?;
    let bad = Refusal::BadSignature {
        provider,
        header: "X-Hub-Signature-256",
    };
    let sent = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h.trim()).ok())
        .ok_or_else(|| bad.clone())?;
    let mut mac = Hmac::new_from_slice(secret.bytes()).map_err(|_| bad.clone())?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sent).map_err(|_| bad)
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: Option<String>,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    pusher: Option<Pusher>,
    sender: Option<Sender>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    clone_url: String,
}

#[derive(Deserialize)]
struct Pusher {
    name: String,
}

#[derive(Deserialize)]
struct Sender {
    login: String,
}

pub(super) fn read(headers: &dyn Headers, body: &[u8]) -> Result<Delivery, Refusal> {
    let provider = Provider::GitHub;
    let delivery = headers
        .get(DELIVERY)
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| malformed(provider, "no X-GitHub-Delivery header"))?
        .to_string();
    let event = headers
        .get(EVENT)
        .ok_or_else(|| malformed(provider, "no X-GitHub-Event header"))?;
    let ignored = |reason: &str| Delivery::Ignored {
        provider,
        delivery: delivery.clone(),
        event: event.to_string(),
        reason: reason.to_string(),
    };
    if event != "push" {
        return Ok(ignored("only push events trigger releases"));
    }
    let payload: PushPayload = serde_json::from_slice(body)
        .map_err(|e| malformed(provider, format!("push payload: {e}")))?;
    let Some(pushed) = PushedRef::parse(&payload.git_ref) else {
        return Ok(ignored("the ref is neither a tag nor a branch"));
    };
    let commit = match live_commit(payload.after.as_deref()) {
        Some(c) if !payload.deleted => c.to_string(),
        _ => return Ok(ignored("the ref was deleted")),
    };
    // GitHub's `pusher` is the git identity; `sender` is the account. The account is what a
    // policy's `deployers` names, so prefer it.
    let pusher = payload
        .sender
        .map(|s| s.login)
        .or(payload.pusher.map(|p| p.name))
        .unwrap_or_else(|| "unknown".into());
    Ok(Delivery::Push(Push {
        provider,
        delivery,
        pushed,
        commit,
        clone_url: payload.repository.clone_url,
        repository: payload.repository.full_name,
        pusher,
    }))
}
