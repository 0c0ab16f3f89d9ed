//! The web dashboard of `hoist serve`, rendered on the server (minijinja templates
//! compiled into the binary, escaping HTML), with one small script that follows a
//! running deployment over server-sent events.
//!
//! | page | what |
//! |---|---|
//! | `GET /signin`, `POST /signin`, `POST /signout` | a session from an API token ([`session`]) |
//! | `GET /` | tenants by environment ([`matrix`]) |
//! | `GET /events` | the running jobs' events, as server-sent events ([`live`]) |
//! | `GET /history/{env}`, `GET /deployments/{id}`, `GET /audit`, `GET /jobs` | [`pages`] |
//! | `POST /deploy`, `POST /rollback`, `POST /jobs/{id}/cancel` | CSRF-checked forms ([`actions`]) |
//! | `GET /metrics` | DORA metrics with bar charts ([`metrics`]) |
//!
//! Every page needs a session whose token may `read`; a form that changes something
//! needs the session's CSRF token and the same scope the API asks for.

mod actions;
mod live;
mod matrix;
mod metrics;
mod pages;
mod render;
mod session;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hoist_config::Settings;

use super::Shared;

/// What the dashboard keeps beside the rest of the server.
pub(crate) struct Dashboard {
    pub sessions: session::Sessions,
    pub templates: minijinja::Environment<'static>,
    /// Each environment's tenants, in the config's order.
    pub tenants: Vec<(String, Vec<String>)>,
    /// The app's repository, where commit times are read for the lead time.
    pub root: PathBuf,
}

impl Dashboard {
    pub fn new(config: &Settings) -> Dashboard {
        Dashboard {
            sessions: session::Sessions::default(),
            templates: render::templates(),
            tenants: config
                .environments
                .iter()
                .map(|(name, env)| {
                    (
                        name.clone(),
                        env.instances.iter().map(|i| i.tenant.clone()).collect(),
                    )
                })
                .collect(),
            root: config.root.clone(),
        }
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(matrix::index))
        .route("/signin", get(session::signin_form).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/events", get(live::events))
        .route("/history/{environment}", get(pages::history))
        .route("/deployments/{id}", get(pages::deployment))
        .route("/audit", get(pages::audit))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/deploy", post(actions::deploy))
        .route("/rollback", post(actions::rollback))
        .route("/metrics", get(metrics::page))
        .route("/static/dashboard.js", get(script))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        render::SCRIPT,
    )
}
