//! GitLab: the secret token in `X-Gitlab-Token`, and where a signing token is configured,
//! a Standard Webhooks signature over `{webhook-id}.{webhook-timestamp}.{body}`.
//! `Push Hook` and `Tag Push Hook` events (docs.gitlab.com: "Webhooks", "Webhook events").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::github::Hmac;
use super::{
    Delivery, Headers, HookSecret, Provider, Push, PushedRef, Refusal, live_commit, malformed,
};

const TOKEN: &str = "x-gitlab-token";
const EVENT: &str = "x-gitlab-event";
/// Standard Webhooks allow five minutes of clock difference either way.
const TOLERANCE_SECS: i64 = 5 * 60;

pub(super) fn verify(
    headers: &dyn Headers,
    body: &[u8],
    token: &HookSecret,
    signing: Option<&HookSecret>,
    now: jiff::Timestamp,
) -> Result<(), Refusal> {
    let provider = Provider::GitLab;
    let sent = headers.get(TOKEN).ok_or(Refusal::MissingSignature {
        provider,
        header: "X-Gitlab-Token",
    })?;
    // Compare digests, so that neither the content nor the length of the token leaks
    // through timing.
    let equal: bool = Sha256::digest(sent.as_bytes())
        .ct_eq(&Sha256::digest(token.bytes()))
        .into();
    if !equal {
        return Err(Refusal::BadSignature {
            provider,
            header: "X-Gitlab-Token",
        });
    }
    if let Some(signing) = signing {
        verify_signed(headers, body, signing, now)?;
    }
    Ok(())
}

fn verify_signed(
    headers: &dyn Headers,
    body: &[u8],
    secret: &HookSecret,
    now: jiff::Timestamp,
) -> Result<(), Refusal> {
    let provider = Provider::GitLab;
    let missing = |header| Refusal::MissingSignature { provider, header };
    let id = headers.get("webhook-id").ok_or(missing("webhook-id"))?;
    let timestamp = headers
        .get("webhook-timestamp")
        .ok_or(missing("webhook-timestamp"))?;
    let signatures = headers
        .get("webhook-signature")
        .ok_or(missing("webhook-signature"))?;
    let bad = Refusal::BadSignature {
        provider,
        header: "webhook-signature",
    };
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| bad.clone())?;
    if (now.as_second() - timestamp).abs() > TOLERANCE_SECS {
        return Err(Refusal::Stale { provider });
    }
    let key = signing_key(secret);
    let mut mac = Hmac::new_from_slice(&key).map_err(|_| bad.clone())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    // The header may carry several space-separated signatures (key rotation); one valid
    // `v1` signature is enough.
    let any_valid = signatures.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|b64| BASE64.decode(b64).ok())
            .is_some_and(|sent| bool::from(sent.ct_eq(expected.as_slice())))
    });
    if any_valid { Ok(()) } else { Err(bad) }
}

/// A Standard Webhooks secret is `whsec_` plus base64 of the key bytes; a token without the
/// prefix is used as it is.
fn signing_key(secret: &HookSecret) -> Vec<u8> {
    let raw = secret.bytes();
    raw.strip_prefix(b"whsec_")
        .and_then(|b64| BASE64.decode(b64).ok())
        .unwrap_or_else(|| raw.to_vec())
}

pub(super) fn sign(secret: &HookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::new_from_slice(&signing_key(secret)).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[derive(Deserialize)]
struct PushPayload {
    object_kind: String,
    #[serde(rename = "ref")]
    git_ref: String,
    checkout_sha: Option<String>,
    after: Option<String>,
    user_username: Option<String>,
    user_name: Option<String>,
    project: Project,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
    git_http_url: String,
}

pub(super) fn read(headers: &dyn Headers, body: &[u8]) -> Result<Delivery, Refusal> {
    let provider = Provider::GitLab;
    // A delivery id that stays the same when GitLab retries: the Standard Webhooks id when
    // signed, else `Idempotency-Key`, else the event's UUID.
    let delivery = ["webhook-id", "idempotency-key", "x-gitlab-event-uuid"]
        .iter()
        .find_map(|h| headers.get(h).filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| malformed(provider, "no X-Gitlab-Event-UUID header"))?
        .to_string();
    let event = headers
        .get(EVENT)
        .ok_or_else(|| malformed(provider, "no X-Gitlab-Event header"))?;
    let ignored = |reason: &str| Delivery::Ignored {
        provider,
        delivery: delivery.clone(),
        event: event.to_string(),
        reason: reason.to_string(),
    };
    let expected_kind = match event {
        "Push Hook" => "push",
        "Tag Push Hook" => "tag_push",
        _ => return Ok(ignored("only Push Hook and Tag Push Hook trigger releases")),
    };
    let payload: PushPayload = serde_json::from_slice(body)
        .map_err(|e| malformed(provider, format!("{event} payload: {e}")))?;
    if payload.object_kind != expected_kind {
        return Err(malformed(
            provider,
            format!(
                "{event} carries object_kind `{}`, expected `{expected_kind}`",
                payload.object_kind
            ),
        ));
    }
    let Some(pushed) = PushedRef::parse(&payload.git_ref) else {
        return Ok(ignored("the ref is neither a tag nor a branch"));
    };
    if matches!(pushed, PushedRef::Tag(_)) != (expected_kind == "tag_push") {
        return Err(malformed(
            provider,
            format!("{event} for ref {}", payload.git_ref),
        ));
    }
    // A deletion has `checkout_sha: null` and `after` all zeros.
    let Some(commit) =
        live_commit(payload.checkout_sha.as_deref()).or(live_commit(payload.after.as_deref()))
    else {
        return Ok(ignored("the ref was deleted"));
    };
    Ok(Delivery::Push(Push {
        provider,
        delivery,
        pushed,
        commit: commit.to_string(),
        clone_url: payload.project.git_http_url,
        repository: payload.project.path_with_namespace,
        pusher: payload
            .user_username
            .or(payload.user_name)
            .unwrap_or_else(|| "unknown".into()),
    }))
}
