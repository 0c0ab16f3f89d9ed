//! `GET /events`: the running jobs' rollout events as server-sent events, for the page's
//! script to update instance rows as they change. Each message is named after the event's
//! kind (`rollout_started`, `instance_progress`, `rollout_finished`, ...) and carries the
//! event's JSON (docs/events.md) with the job and deployment it belongs to. A subscriber
//! that fell behind gets a `lagged` message and reloads.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use hoist_core::EventKind;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::render::plain;
use super::session::viewer;
use crate::http::Shared;
use crate::live::LiveEvent;

/// The events a page shows: where a rollout and its instances are. Build output and
/// policy details stay in the log and the audit log.
fn shown(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::StageStarted { .. }
            | EventKind::LockWaiting { .. }
            | EventKind::RolloutStarted { .. }
            | EventKind::InstanceProgress { .. }
            | EventKind::RolloutFinished { .. }
            | EventKind::WaveStarted { .. }
            | EventKind::WavesStopped { .. }
            | EventKind::Refused { .. }
            | EventKind::PromotionRefused { .. }
            | EventKind::Failed { .. }
    )
}

fn message(event: &LiveEvent) -> Option<SseEvent> {
    let json = serde_json::to_value(event).ok()?;
    let kind = json.get("kind")?.as_str()?.to_string();
    Some(SseEvent::default().event(kind).data(json.to_string()))
}

pub(crate) async fn events(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // An EventSource cannot follow a redirect to a form: refuse plainly.
    if viewer(&shared, &headers).is_err() {
        return plain(StatusCode::UNAUTHORIZED, "sign in first");
    }
    Sse::new(follow(shared.hub.subscribe(), shared.hub.stopping()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The stream ends when the server stops: an open stream would hold its graceful
/// shutdown forever.
fn follow(
    receiver: broadcast::Receiver<Arc<LiveEvent>>,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(
        (receiver, stopping),
        |(mut receiver, mut stopping)| async move {
            let message = next(&mut receiver, &mut stopping).await?;
            Some((Ok(message), (receiver, stopping)))
        },
    )
}

/// The next message to send; `None` once the server stops.
async fn next(
    receiver: &mut broadcast::Receiver<Arc<LiveEvent>>,
    stopping: &mut watch::Receiver<bool>,
) -> Option<SseEvent> {
    loop {
        let received = tokio::select! {
            r = receiver.recv() => r,
            _ = stopping.wait_for(|stop| *stop) => return None,
        };
        match received {
            Ok(event) if shown(&event.event.kind) => {
                if let Some(m) = message(&event) {
                    return Some(m);
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                return Some(SseEvent::default().event("lagged").data(missed.to_string()));
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
