//! The dashboard's templates (minijinja, compiled into the binary) and how a page is sent.
//! Every template escapes for HTML, whatever its name: a tenant, an actor or a message
//! from the store is text, never markup.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{AutoEscape, Environment, Value, context};

use super::session::Viewer;
use crate::http::Shared;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("matrix.html", include_str!("templates/matrix.html")),
    ("history.html", include_str!("templates/history.html")),
    ("deployment.html", include_str!("templates/deployment.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("metrics.html", include_str!("templates/metrics.html")),
];

/// The small script that follows the event stream and updates the page.
pub(crate) const SCRIPT: &str = include_str!("templates/live.js");

pub(crate) fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in TEMPLATES {
        // The templates are part of the binary and a unit test renders each: a syntax
        // error cannot reach a running server.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// Renders `name` with `ctx` and what every page shows (the viewer, the app, the
/// environments).
pub(crate) fn page(shared: &Shared, viewer: Option<&Viewer>, name: &str, ctx: Value) -> Response {
    let me = viewer.map(|v| {
        context! {
            owner => v.owner,
            token => v.token_name,
            csrf => v.csrf,
        }
    });
    let full = context! {
        me => me,
        app => shared.app,
        environments => shared.environments,
        ..ctx
    };
    let rendered = shared
        .dashboard
        .templates
        .get_template(name)
        .and_then(|t| t.render(full));
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "cannot render a dashboard page");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page cannot be shown",
            )
        }
    }
}

/// A plain-text answer (a refusal, an error).
pub(crate) fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// The answer when the store cannot be read.
pub(crate) fn store_failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "state database");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "the state database cannot be read",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let env = templates();
        assert_eq!(env.templates().count(), TEMPLATES.len());
        let t = env
            .template_from_str("{{ name }}")
            .unwrap()
            .render(context! { name => "<b>&\"" })
            .unwrap();
        assert_eq!(t, "&lt;b&gt;&amp;&quot;");
    }
}
