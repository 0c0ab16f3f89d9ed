//! Bearer tokens on the API: who is calling, and may they do this. A wrong or revoked
//! token is 401, a missing scope 403; both are audited, never with the token.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use hoist_core::tokens::{Need, TokenRecord, allows};

use super::{Shared, error};
use crate::tokens::hash;

/// The caller's token, if it may do `need`; else the response to send. `what` names the
/// request for the audit log (`POST /api/v1/deploy`).
pub(crate) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    need: &Need,
    what: &str,
) -> Result<TokenRecord, Response> {
    let unauthenticated = |reason: &str| {
        shared.audit(
            "unknown",
            None,
            "api.unauthenticated",
            format!("{what}: {reason}"),
        );
        error(
            StatusCode::UNAUTHORIZED,
            format!(
                "{reason}; send `Authorization: Bearer <token>` with a token from `hoist token create`"
            ),
        )
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated("no token"));
    };
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Err(unauthenticated(
            "the Authorization header is not a bearer token",
        ));
    };
    let record = match shared.store.token_by_hash(&hash(token)) {
        Ok(Some(record)) => record,
        Ok(None) => return Err(unauthenticated("unknown token")),
        Err(e) => {
            tracing::error!(error = %e, "cannot read API tokens");
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state database cannot be read",
            ));
        }
    };
    if record.revoked_at.is_some() {
        shared.audit(
            &record.owner,
            None,
            "api.unauthenticated",
            format!("{what}: token `{}` is revoked", record.name),
        );
        return Err(error(
            StatusCode::UNAUTHORIZED,
            format!("token `{}` is revoked", record.name),
        ));
    }
    if !allows(&record.parsed_scopes(), need) {
        let environment = match need {
            Need::Deploy(env) => Some(env.as_str()),
            _ => None,
        };
        shared.audit(
            &record.owner,
            environment,
            "api.forbidden",
            format!(
                "{what}: token `{}` (scopes {}) lacks `{need}`",
                record.name,
                record.scopes.join(", ")
            ),
        );
        return Err(error(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` lacks the scope `{need}` (it has: {})",
                record.name,
                record.scopes.join(", ")
            ),
        ));
    }
    Ok(record)
}
