//! The forms that change something: deploy, rollback, cancel a queued job. Each checks
//! the session's CSRF token first (403 and audited when missing or wrong), then the scope
//! the API would ask of the same token (`deploy:ENV`; 403 and audited), and goes through
//! the same job queue: the job runs as the token's owner, so the environment's policy
//! decides as it would for them on the command line.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hoist_core::jobs::{Cancel, JobRequest};
use hoist_core::tokens::Need;
use serde::Deserialize;

use super::render::{plain, store_failed};
use super::session::{Viewer, check_csrf, viewer};
use crate::http::{Shared, cancel_need};

#[derive(Deserialize)]
pub(crate) struct DeployForm {
    csrf: Option<String>,
    #[serde(default)]
    environment: String,
    /// Empty: the newest release.
    version: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RollbackForm {
    csrf: Option<String>,
    #[serde(default)]
    environment: String,
    /// Empty: the release before the current one.
    to: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct CancelForm {
    csrf: Option<String>,
}

fn given(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn deploy(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<DeployForm>,
) -> Response {
    let request = JobRequest::Deploy {
        environment: form.environment,
        version: given(form.version),
    };
    queue(&shared, &headers, form.csrf.as_deref(), request, "deploy")
}

pub(crate) async fn rollback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<RollbackForm>,
) -> Response {
    let request = JobRequest::Rollback {
        environment: form.environment,
        to: given(form.to),
    };
    queue(&shared, &headers, form.csrf.as_deref(), request, "rollback")
}

/// 403, audited as `dashboard.forbidden`.
fn forbidden(shared: &Shared, viewer: &Viewer, need: &Need, what: &str) -> Response {
    let environment = match need {
        Need::Deploy(env) => Some(env.as_str()),
        _ => None,
    };
    shared.audit(
        &viewer.owner,
        environment,
        "dashboard.forbidden",
        format!("{what}: token `{}` lacks `{need}`", viewer.token_name),
    );
    plain(
        StatusCode::FORBIDDEN,
        &format!(
            "the token you signed in with (`{}`) lacks the scope `{need}`",
            viewer.token_name
        ),
    )
}

fn queue(
    shared: &Shared,
    headers: &HeaderMap,
    csrf: Option<&str>,
    request: JobRequest,
    what: &str,
) -> Response {
    let viewer = match viewer(shared, headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(shared, &viewer, csrf, what) {
        return r;
    }
    let environment = request.environment().unwrap_or_default().to_string();
    if !shared.environments.contains(&environment) {
        return plain(
            StatusCode::NOT_FOUND,
            &format!(
                "no environment `{environment}`; defined: {}",
                shared.environments.join(", ")
            ),
        );
    }
    let need = Need::Deploy(environment);
    if !viewer.may(&need) {
        return forbidden(shared, &viewer, &need, what);
    }
    let source = format!("dashboard:{}", viewer.token_name);
    match shared.enqueue(request, &viewer.owner, source) {
        Ok(_) => Redirect::to("/jobs").into_response(),
        Err(e) => store_failed(e),
    }
}

pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CancelForm>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&shared, &viewer, form.csrf.as_deref(), "cancel") {
        return r;
    }
    let job = match shared.store.job(id) {
        Ok(Some(j)) if j.app == shared.app => j,
        Ok(_) => return plain(StatusCode::NOT_FOUND, &format!("no job {id}")),
        Err(e) => return store_failed(e),
    };
    let need = cancel_need(&job);
    if !viewer.may(&need) {
        return forbidden(&shared, &viewer, &need, "cancel");
    }
    match shared.cancel(&job, &viewer.owner, &viewer.token_name) {
        Ok(Cancel::Cancelled) => Redirect::to("/jobs").into_response(),
        Ok(Cancel::NotFound) => plain(StatusCode::NOT_FOUND, &format!("no job {id}")),
        Ok(Cancel::NotQueued(state)) => plain(
            StatusCode::CONFLICT,
            &format!(
                "job {id} is {}: only a queued job can be cancelled",
                state.as_str()
            ),
        ),
        Err(e) => store_failed(e),
    }
}
