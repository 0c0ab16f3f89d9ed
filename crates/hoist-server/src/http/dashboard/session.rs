//! Dashboard sessions: signing in with an API token, the session cookie, and the CSRF
//! token every state-changing form carries.
//!
//! The cookie holds a random session id, never the token; the session keeps the token's
//! hash, so revoking the token ends every session made with it at the next request.
//! Sessions live in the server's memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use hoist_core::tokens::{Need, Scope, TokenRecord, allows};
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::render::{page, plain};
use crate::http::Shared;
use crate::tokens::hash;

pub(crate) const COOKIE: &str = "hoist_session";
/// How long a session lasts after sign-in, used or not.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

struct Session {
    token_hash: String,
    csrf: String,
    expires: Instant,
}

/// The sessions of this server, in memory.
#[derive(Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for the token with hash `token_hash`: its id and CSRF token.
    fn create(&self, token_hash: String) -> Result<(String, String), getrandom::Error> {
        let id = random()?;
        let csrf = random()?;
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                token_hash,
                csrf: csrf.clone(),
                expires: now + LIFETIME,
            },
        );
        Ok((id, csrf))
    }

    /// The token hash and CSRF token of a live session.
    fn get(&self, id: &str) -> Option<(String, String)> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(s) if s.expires > Instant::now() => Some((s.token_hash.clone(), s.csrf.clone())),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// 256 bits from the operating system, in hex.
fn random() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Who is looking at a page: the owner of the token they signed in with.
pub(crate) struct Viewer {
    pub owner: String,
    pub token_name: String,
    pub scopes: Vec<Scope>,
    pub csrf: String,
}

impl Viewer {
    pub fn may(&self, need: &Need) -> bool {
        allows(&self.scopes, need)
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The signed-in viewer, or a redirect to the sign-in page.
pub(crate) fn viewer(shared: &Shared, headers: &HeaderMap) -> Result<Viewer, Response> {
    let to_signin = || Redirect::to("/signin").into_response();
    let id = session_id(headers).ok_or_else(to_signin)?;
    let (token_hash, csrf) = shared.dashboard.sessions.get(&id).ok_or_else(to_signin)?;
    let record = match shared.store.token_by_hash(&token_hash) {
        Ok(Some(r)) if r.revoked_at.is_none() => r,
        Ok(_) => {
            // Revoked (or deleted) since sign-in: the session ends with it.
            shared.dashboard.sessions.remove(&id);
            return Err(to_signin());
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read API tokens");
            return Err(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state database cannot be read",
            ));
        }
    };
    Ok(Viewer {
        owner: record.owner.clone(),
        scopes: record.parsed_scopes(),
        token_name: record.name,
        csrf,
    })
}

/// Checks a form's CSRF token against the session's, in constant time. A missing or
/// wrong one is 403 and audited as `dashboard.csrf_refused`.
pub(crate) fn check_csrf(
    shared: &Shared,
    viewer: &Viewer,
    sent: Option<&str>,
    what: &str,
) -> Result<(), Response> {
    let ok = sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(viewer.csrf.as_bytes())));
    if ok {
        return Ok(());
    }
    let reason = if sent.is_none() { "no" } else { "a wrong" };
    shared.audit(
        &viewer.owner,
        None,
        "dashboard.csrf_refused",
        format!(
            "{what}: {reason} CSRF token (session of token `{}`)",
            viewer.token_name
        ),
    );
    Err(plain(
        StatusCode::FORBIDDEN,
        "this form is stale or was not sent by the dashboard (CSRF token missing or wrong); reload the page and try again",
    ))
}

pub(crate) async fn signin_form(State(shared): State<Arc<Shared>>) -> Response {
    page(
        &shared,
        None,
        "signin.html",
        minijinja::context! { error => None::<String> },
    )
}

#[derive(Deserialize)]
pub(crate) struct SignIn {
    #[serde(default)]
    token: String,
}

pub(crate) async fn signin(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let refused = |status: StatusCode, message: &str| {
        let mut r = page(
            &shared,
            None,
            "signin.html",
            minijinja::context! { error => message },
        );
        *r.status_mut() = status;
        r
    };
    let token = form.token.trim();
    let record: TokenRecord = match shared.store.token_by_hash(&hash(token)) {
        Ok(Some(r)) if r.revoked_at.is_none() => r,
        Ok(found) => {
            let reason = match found {
                Some(r) => format!("token `{}` is revoked", r.name),
                None => "unknown token".to_string(),
            };
            shared.audit(
                "unknown",
                None,
                "dashboard.unauthenticated",
                format!("sign-in: {reason}"),
            );
            return refused(
                StatusCode::UNAUTHORIZED,
                "sign-in failed: that token is unknown or revoked",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read API tokens");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state database cannot be read",
            );
        }
    };
    if !allows(&record.parsed_scopes(), &Need::Read) {
        shared.audit(
            &record.owner,
            None,
            "dashboard.forbidden",
            format!("sign-in: token `{}` lacks `read`", record.name),
        );
        return refused(
            StatusCode::FORBIDDEN,
            "sign-in failed: that token may not read",
        );
    }
    let (id, _) = match shared.dashboard.sessions.create(hash(token)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the operating system's random source failed");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot start a session; try again",
            );
        }
    };
    shared.audit(
        &record.owner,
        None,
        "dashboard.signed_in",
        format!("with token `{}`", record.name),
    );
    let cookie = Cookie::build((COOKIE, id))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(behind_https(&headers))
        .build();
    with_cookie(Redirect::to("/").into_response(), &cookie.to_string())
}

#[derive(Deserialize)]
pub(crate) struct SignOut {
    csrf: Option<String>,
}

pub(crate) async fn signout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&shared, &viewer, form.csrf.as_deref(), "sign-out") {
        return r;
    }
    if let Some(id) = session_id(&headers) {
        shared.dashboard.sessions.remove(&id);
    }
    let cleared = Cookie::build((COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    with_cookie(
        Redirect::to("/signin").into_response(),
        &cleared.to_string(),
    )
}

/// A reverse proxy that terminates TLS says so; the cookie is then sent over HTTPS only.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_have_random_ids_and_csrf_tokens_and_can_end() {
        let sessions = Sessions::default();
        let (a, csrf_a) = sessions.create("h1".into()).unwrap();
        let (b, csrf_b) = sessions.create("h1".into()).unwrap();
        assert_ne!(a, b);
        assert_ne!(csrf_a, csrf_b);
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.get(&a), Some(("h1".to_string(), csrf_a)));
        sessions.remove(&a);
        assert_eq!(sessions.get(&a), None);
        assert!(sessions.get(&b).is_some());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; hoist_session=abc123; other=1"),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("abc123"));
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
