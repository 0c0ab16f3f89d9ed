//! The HTTP side of `hoist serve`: `/healthz`, the webhook endpoints and the JSON API.

// Handlers' helpers return the refusal `Response` itself as their error: it is built once
// per refused request and sent as is, so its size does not matter.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hoist_core::store::AuditEntry;
use tokio::sync::Notify;

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
}

pub(crate) fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .nest("/api/v1", api::routes())
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
