//! `WWW-Authenticate` challenges and the token flow of the distribution spec
//! (<https://distribution.github.io/distribution/spec/auth/token/>).

use std::collections::BTreeMap;
use std::time::Duration;

/// What a `401` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Send the credentials as basic auth.
    Basic,
    /// Fetch a token from `realm` (for `service` and `scope`) and send it as a bearer.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value; `None` for schemes hoist does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="value", key2=value2`; quoted values may hold commas (scopes do).
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// The scope a request to `repository` needs: pull, or pull and push.
pub fn scope(repository: &str, push: bool) -> String {
    if push {
        format!("repository:{repository}:pull,push")
    } else {
        format!("repository:{repository}:pull")
    }
}

/// How long a token lives when its answer does not say: the token spec's default.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The most hoist fetches a token ahead of its expiry.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// A token endpoint's answer: `token`, or `access_token` (OAuth2 style), with its
/// optional `expires_in` (seconds) and `issued_at` (RFC 3339).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    /// A number; some servers send a float, and `null` counts as absent.
    expires_in: Option<f64>,
    issued_at: Option<String>,
}

impl TokenAnswer {
    /// The token and how long after `now` (the wall clock) hoist should use it before it
    /// fetches the next one; `None` when the answer carries no token.
    pub(crate) fn into_token(self, now: jiff::Timestamp) -> Option<(String, Duration)> {
        let expires_in = self
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64);
        let left = token_lifetime(expires_in, self.issued_at.as_deref(), now);
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        Some((token, use_for(left)))
    }
}

/// How long a token answered at `now` stays valid: `expires_in` (default 60 s) counted
/// from `issued_at`. A registry's clock may differ from ours, so an `issued_at` that puts
/// the token in the future or already past its expiry (a fresh answer cannot be) is taken
/// as skew and the lifetime counts from `now`; one a little in the past (a token server
/// that hands out a cached token) shortens it.
pub fn token_lifetime(
    expires_in: Option<Duration>,
    issued_at: Option<&str>,
    now: jiff::Timestamp,
) -> Duration {
    let lifetime = expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME);
    let elapsed = issued_at
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|issued| Duration::try_from(now.duration_since(issued)).ok());
    match elapsed {
        Some(elapsed) if elapsed < lifetime => lifetime - elapsed,
        _ => lifetime,
    }
}

/// How long to use a token with `left` to live: until a quarter of it (at most 10 s)
/// remains, so a request never carries a token that expires on its way.
pub fn use_for(left: Duration) -> Duration {
    left - (left / 4).min(MAX_REFRESH_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_as_registries_send_them() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            }
        );
        // GHCR and GitLab send the same shape; unquoted values and spaces after commas too.
        let c = parse_challenge(
            "bearer realm=https://gitlab.example/jwt/auth, service=container_registry",
        )
        .unwrap();
        assert!(
            matches!(c, Challenge::Bearer { ref realm, ref service, scope: None }
            if realm == "https://gitlab.example/jwt/auth" && service.as_deref() == Some("container_registry"))
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(
            parse_challenge("Bearer service=x"),
            None,
            "no realm, no token"
        );
    }

    #[test]
    fn scopes_name_the_repository_and_actions() {
        assert_eq!(scope("clinic/app", true), "repository:clinic/app:pull,push");
        assert_eq!(scope("clinic/app", false), "repository:clinic/app:pull");
    }

    fn answer(json: &str, now: &str) -> Option<(String, Duration)> {
        serde_json::from_str::<TokenAnswer>(json)
            .unwrap()
            .into_token(now.parse().unwrap())
    }

    #[test]
    fn tokens_are_used_until_shortly_before_they_expire() {
        let now = "2026-12-06T06:00:00Z";
        // No expires_in: the spec's 60 s, fetched again 10 s early.
        assert_eq!(
            answer(r#"{"token": "t"}"#, now),
            Some(("t".into(), Duration::from_secs(50)))
        );
        // A short token: a quarter early.
        assert_eq!(
            answer(r#"{"access_token": "a", "expires_in": 2}"#, now),
            Some(("a".into(), Duration::from_millis(1500)))
        );
        // A long one: at most 10 s early.
        assert_eq!(
            answer(r#"{"token": "t", "expires_in": 3600.0}"#, now)
                .unwrap()
                .1,
            Duration::from_secs(3590)
        );
        // Issued 40 s ago (a cached token): 20 s left of 60, used for 15.
        assert_eq!(
            answer(
                r#"{"token": "t", "expires_in": 60, "issued_at": "2026-12-06T05:59:20Z"}"#,
                now
            )
            .unwrap()
            .1,
            Duration::from_secs(15)
        );
        // Clock skew either way, odd values and null: counted from now.
        for issued in [
            r#""2026-12-06T06:05:00Z""#,
            r#""2026-12-06T05:00:00Z""#,
            r#""yesterday""#,
            "null",
        ] {
            let json = format!(r#"{{"token": "t", "expires_in": 60, "issued_at": {issued}}}"#);
            assert_eq!(
                answer(&json, now).unwrap().1,
                Duration::from_secs(50),
                "{issued}"
            );
        }
        for expires_in in ["0", "-5", "null"] {
            let json = format!(r#"{{"token": "t", "expires_in": {expires_in}}}"#);
            assert_eq!(
                answer(&json, now).unwrap().1,
                Duration::from_secs(50),
                "{expires_in}"
            );
        }
        assert_eq!(answer(r#"{"token": "", "expires_in": 60}"#, now), None);
    }
}
