//! The JSON API under `/api/v1`, every call with a bearer token:
//!
//! | request | scope | answer |
//! |---|---|---|
//! | `GET /status` | `read` | each environment's current release, last deployment and lock |
//! | `GET /history/{env}?limit=N` | `read` | deployments, newest first |
//! | `GET /history/{env}/{id}` | `read` | one deployment, the steps kept of each instance that ended, its release tasks |
//! | `GET /audit?environment=ENV&limit=N` | `read` | audit entries, newest first |
//! | `GET /jobs?limit=N`, `GET /jobs/{id}` | `read` | jobs |
//! | `GET /metrics?environment=ENV&since=30d` | `read` | DORA metrics per environment |
//! | `POST /jobs/{id}/cancel` | `deploy:ENV` of the job (`admin` for a release job) | the job |
//! | `POST /deploy` `{"environment", "version"?}` | `deploy:ENV` | 202 and the queued job |
//! | `POST /rollback` `{"environment", "to"?}` | `deploy:ENV` | 202 and the queued job |
//! | `POST /promote` `{"from", "to", "version"?}` | `deploy:TO` | 202 and the queued job |
//!
//! A queued job runs as the token's owner, so the environment's policy (`deployers`,
//! windows, promotion) decides as it would for that person on the command line.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hoist_core::jobs::{Cancel, JobRequest};
use hoist_core::tokens::Need;
use serde::Deserialize;

use super::auth::authorize;
use super::{Shared, cancel_need, error};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/status", get(status))
        .route("/history/{environment}", get(history))
        .route("/history/{environment}/{id}", get(deployment))
        .route("/audit", get(audit))
        .route("/jobs", get(jobs))
        .route("/metrics", get(metrics))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/deploy", post(deploy))
        .route("/rollback", post(rollback))
        .route("/promote", post(promote))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
    environment: Option<String>,
}

impl Limit {
    fn get(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

fn store_failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "state database");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the state database cannot be read",
    )
}

fn unknown_environment(shared: &Shared, name: &str) -> Option<Response> {
    (!shared.environments.iter().any(|e| e == name)).then(|| {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "no environment `{name}`; defined: {}",
                shared.environments.join(", ")
            ),
        )
    })
}

async fn status(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/status") {
        return r;
    }
    let mut environments = Vec::new();
    for env in &shared.environments {
        let current = match shared.store.deployed_releases(&shared.app, env) {
            Ok(r) => r.into_iter().next(),
            Err(e) => return store_failed(e),
        };
        let last = match shared.store.deployments(&shared.app, env, 1) {
            Ok(d) => d.into_iter().next(),
            Err(e) => return store_failed(e),
        };
        let lock = match shared.store.lock_holder(&shared.app, env) {
            Ok(l) => l,
            Err(e) => return store_failed(e),
        };
        environments.push(serde_json::json!({
            "environment": env,
            "current": current,
            "last_deployment": last,
            "lock": lock,
        }));
    }
    Json(serde_json::json!({ "app": shared.app, "environments": environments })).into_response()
}

async fn history(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(environment): Path<String>,
    Query(q): Query<Limit>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/history") {
        return r;
    }
    if let Some(r) = unknown_environment(&shared, &environment) {
        return r;
    }
    match shared.store.deployments(&shared.app, &environment, q.get()) {
        Ok(d) => Json(d).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn deployment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((environment, id)): Path<(String, i64)>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/history") {
        return r;
    }
    if let Some(r) = unknown_environment(&shared, &environment) {
        return r;
    }
    let found = match shared.store.deployment(&shared.app, id) {
        Ok(d) => d.filter(|d| d.environment == environment),
        Err(e) => return store_failed(e),
    };
    let Some(record) = found else {
        return error(
            StatusCode::NOT_FOUND,
            format!("{environment} has no deployment {id}"),
        );
    };
    let steps = match shared.store.instance_steps(id) {
        Ok(steps) => steps,
        Err(e) => return store_failed(e),
    };
    let tasks = match shared.store.task_runs(id) {
        Ok(tasks) => tasks,
        Err(e) => return store_failed(e),
    };
    Json(serde_json::json!({ "deployment": record, "steps": steps, "tasks": tasks }))
        .into_response()
}

async fn audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<Limit>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/audit") {
        return r;
    }
    match shared
        .store
        .audit_log(&shared.app, q.environment.as_deref(), q.get())
    {
        Ok(a) => Json(a).into_response(),
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
struct MetricsQuery {
    environment: Option<String>,
    since: Option<String>,
}

/// The DORA metrics of `hoist metrics`, from the store alone: lead time counts from the
/// commit times recorded with each release (the server keeps no repository).
async fn metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<MetricsQuery>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/metrics") {
        return r;
    }
    let window = match hoist_core::metrics::parse_window(q.since.as_deref().unwrap_or("30d")) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("since: {e}")),
    };
    let environments = match q.environment {
        Some(env) => match unknown_environment(&shared, &env) {
            Some(r) => return r,
            None => vec![env],
        },
        None => shared.environments.clone(),
    };
    let until = jiff::Timestamp::now();
    match hoist_core::metrics::from_store(
        &*shared.store,
        &shared.app,
        &environments,
        until - window,
        until,
        &|_| None,
    ) {
        Ok(m) => Json(m).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn jobs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<Limit>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/jobs") {
        return r;
    }
    match shared.store.jobs(&shared.app, q.get()) {
        Ok(j) => Json(j).into_response(),
        Err(e) => store_failed(e),
    }
}

async fn job(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = authorize(&shared, &headers, &Need::Read, "GET /api/v1/jobs/{id}") {
        return r;
    }
    match shared.store.job(id) {
        Ok(Some(j)) if j.app == shared.app => Json(j).into_response(),
        Ok(_) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e) => store_failed(e),
    }
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let job = match shared.store.job(id) {
        Ok(Some(j)) if j.app == shared.app => j,
        Ok(_) => return error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e) => return store_failed(e),
    };
    let need = cancel_need(&job);
    let token = match authorize(&shared, &headers, &need, "POST /api/v1/jobs/{id}/cancel") {
        Ok(t) => t,
        Err(r) => return r,
    };
    match shared.cancel(&job, &token.owner, &token.name) {
        Ok(Cancel::Cancelled) => match shared.store.job(id) {
            Ok(Some(j)) => Json(j).into_response(),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
            Err(e) => store_failed(e),
        },
        Ok(Cancel::NotFound) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Ok(Cancel::NotQueued(state)) => error(
            StatusCode::CONFLICT,
            format!(
                "job {id} is {}: only a queued job can be cancelled",
                state.as_str()
            ),
        ),
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    environment: String,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    environment: String,
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    from: String,
    to: String,
    version: Option<String>,
}

/// Reads a JSON body, with a 400 that says what is wrong.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))
}

async fn deploy(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let b: DeployBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request = JobRequest::Deploy {
        environment: b.environment,
        version: b.version,
    };
    queue(&shared, &headers, request, "POST /api/v1/deploy")
}

async fn rollback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let b: RollbackBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request = JobRequest::Rollback {
        environment: b.environment,
        to: b.to,
    };
    queue(&shared, &headers, request, "POST /api/v1/rollback")
}

async fn promote(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let b: PromoteBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(r) = unknown_environment(&shared, &b.from) {
        return r;
    }
    let request = JobRequest::Promote {
        from: b.from,
        to: b.to,
        version: b.version,
    };
    queue(&shared, &headers, request, "POST /api/v1/promote")
}

/// Checks the token against the job's environment and queues the job as its owner.
fn queue(shared: &Shared, headers: &HeaderMap, request: JobRequest, what: &str) -> Response {
    let environment = request.environment().unwrap_or_default().to_string();
    let token = match authorize(shared, headers, &Need::Deploy(environment.clone()), what) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(r) = unknown_environment(shared, &environment) {
        return r;
    }
    let source = format!("token:{}", token.name);
    match shared.enqueue(request, &token.owner, source) {
        Ok(id) => match shared.store.job(id) {
            Ok(Some(j)) => (StatusCode::ACCEPTED, Json(j)).into_response(),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
            Err(e) => store_failed(e),
        },
        Err(e) => store_failed(e),
    }
}
