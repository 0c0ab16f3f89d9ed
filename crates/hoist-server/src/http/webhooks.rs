//! `POST /webhooks/github` and `POST /webhooks/gitlab`: a verified push becomes a release
//! job, unless a release of the same ref and commit is already queued or running (202
//! with `duplicate_of`). Refusals: 401 (bad or missing signature, audited), 409 (a delivery seen before),
//! 400 (malformed), 503 (no secret configured); bodies over the limit get 413 from the
//! router's body limit before this code runs. Other events are answered 202 and ignored.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hoist_core::jobs::{Enqueued, JobRequest, NewJob};

use super::{Shared, error};
use crate::webhook::{self, Delivery, Headers, Provider, PushedRef, Refusal};

struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(super) async fn github(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&shared, Provider::GitHub, &headers, &body)
}

pub(super) async fn gitlab(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&shared, Provider::GitLab, &headers, &body)
}

fn receive(shared: &Shared, provider: Provider, headers: &HeaderMap, body: &[u8]) -> Response {
    let delivery = match webhook::receive(
        provider,
        &HttpHeaders(headers),
        body,
        &shared.secrets,
        jiff::Timestamp::now(),
    ) {
        Ok(d) => d,
        Err(refusal) => return refused(shared, provider, &refusal),
    };
    // Keyed by provider: two providers' ids never collide.
    let key = format!("{provider}:{}", delivery.id());
    if !shared.seen.first_time(&key) {
        return replayed(shared, provider, delivery.id());
    }
    let push = match delivery {
        Delivery::Ignored { event, reason, .. } => {
            tracing::info!(%provider, %event, %reason, "webhook ignored");
            return (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "ignored": reason, "event": event })),
            )
                .into_response();
        }
        Delivery::Push(push) => push,
    };
    let git_ref = match &push.pushed {
        PushedRef::Tag(t) => format!("refs/tags/{t}"),
        PushedRef::Branch(b) => format!("refs/heads/{b}"),
    };
    let job = NewJob {
        app: shared.app.clone(),
        request: JobRequest::Release {
            git_ref,
            commit: push.commit.clone(),
            clone_url: push.clone_url.clone(),
        },
        actor: push.pusher.clone(),
        source: format!("webhook:{provider}"),
        dedupe_key: Some(key),
    };
    match shared.store.enqueue(&job) {
        Ok(Enqueued::New(id)) => {
            tracing::info!(%provider, job = id, pushed = push.pushed.name(), commit = %push.commit, actor = %push.pusher, "release job queued");
            shared.wake.notify_one();
            (StatusCode::ACCEPTED, Json(serde_json::json!({ "job": id }))).into_response()
        }
        // Another delivery of the same push (a second hook, a mirror): recorded, not run.
        Ok(Enqueued::Coalesced { id, into }) => {
            tracing::info!(%provider, job = id, duplicate_of = into, pushed = push.pushed.name(), commit = %push.commit, "release already queued or running: not queued twice");
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "job": id, "duplicate_of": into })),
            )
                .into_response()
        }
        // The store remembers deliveries across restarts; memory only since the start.
        Ok(Enqueued::Duplicate(_)) => replayed(shared, provider, &push.delivery),
        Err(e) => {
            tracing::error!(error = %e, "cannot queue a release job");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the job could not be queued; the sender may retry",
            )
        }
    }
}

fn refused(shared: &Shared, provider: Provider, refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Malformed { .. } => StatusCode::BAD_REQUEST,
        _ if refusal.is_unauthenticated() => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    tracing::warn!(%provider, status = status.as_u16(), reason = %refusal, "webhook refused");
    if refusal.is_unauthenticated() {
        shared.audit(
            &format!("{provider}-webhook"),
            None,
            "webhook.unauthenticated",
            refusal.to_string(),
        );
    }
    error(status, refusal.to_string())
}

fn replayed(shared: &Shared, provider: Provider, delivery: &str) -> Response {
    tracing::warn!(%provider, delivery, "webhook delivery seen before: refused");
    shared.audit(
        &format!("{provider}-webhook"),
        None,
        "webhook.replayed",
        format!("{provider} delivery {delivery} was received before; not queued again"),
    );
    error(
        StatusCode::CONFLICT,
        format!("delivery {delivery} was received before; it is not queued twice"),
    )
}
