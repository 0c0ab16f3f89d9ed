//! The HTTP side of `hoist serve`: `/healthz`, the webhook endpoints, the JSON API and the
//! web dashboard.

// Handlers' helpers return the refusal `Response` itself as their error: it is built once
// per refused request and sent as is, so its size does not matter.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
pub(crate) mod dashboard;
mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hoist_core::jobs::{Cancel, Enqueued, Job, JobRequest, NewJob};
use hoist_core::store::{AuditEntry, StoreError};
use hoist_core::tokens::Need;
use tokio::sync::Notify;

use crate::live::Hub;
use crate::store::ServerStore;
use crate::webhook::{HookSecrets, SeenDeliveries};

/// What every handler shares.
pub(crate) struct Shared {
    pub store: Arc<dyn ServerStore>,
    pub app: String,
    /// The environments of the server's config, for checking API requests.
    pub environments: Vec<String>,
    pub secrets: HookSecrets,
    pub seen: SeenDeliveries,
    /// Wakes the worker when a job is queued.
    pub wake: Arc<Notify>,
    /// The running jobs' events.
    pub hub: Arc<Hub>,
    pub dashboard: dashboard::Dashboard,
}

impl Shared {
    /// Appends to the audit log; a failure is logged, never turned into a 500 for the
    /// caller whose request was already decided.
    pub fn audit(&self, actor: &str, environment: Option<&str>, action: &str, detail: String) {
        let entry = AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            actor: actor.to_string(),
            app: self.app.clone(),
            environment: environment.map(str::to_string),
            action: action.to_string(),
            version: None,
            detail,
        };
        if let Err(e) = self.store.append_audit(&entry) {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
    }

    /// Queues `request` to run as `actor` and wakes the worker; the job's id (an existing
    /// job's for a duplicate).
    pub fn enqueue(
        &self,
        request: JobRequest,
        actor: &str,
        source: String,
    ) -> Result<i64, StoreError> {
        let job = NewJob {
            app: self.app.clone(),
            request,
            actor: actor.to_string(),
            source,
            dedupe_key: None,
        };
        let (Enqueued::New(id) | Enqueued::Duplicate(id) | Enqueued::Coalesced { id, .. }) =
            self.store.enqueue(&job)?;
        tracing::info!(
            job = id,
            kind = job.request.kind(),
            environment = job.request.environment().unwrap_or("-"),
            actor,
            "job queued"
        );
        self.wake.notify_one();
        Ok(id)
    }

    /// Cancels a queued job for `actor` (with token `token`), audited when it is.
    pub fn cancel(&self, job: &Job, actor: &str, token: &str) -> Result<Cancel, StoreError> {
        let cancelled = self.store.cancel(job.id)?;
        if cancelled == Cancel::Cancelled {
            self.audit(
                actor,
                job.environment.as_deref(),
                "job.cancelled",
                format!(
                    "job {} ({}) cancelled with token `{token}`",
                    job.id,
                    job.request.kind(),
                ),
            );
        }
        Ok(cancelled)
    }
}

/// What cancelling `job` takes: the deploy scope of its environment; a release goes where
/// the rules of its commit say, so only an admin may stop it.
pub(crate) fn cancel_need(job: &Job) -> Need {
    match &job.environment {
        Some(env) => Need::Deploy(env.clone()),
        None => Need::Admin,
    }
}

pub(crate) fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .nest("/api/v1", api::routes())
        .merge(dashboard::routes())
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}
