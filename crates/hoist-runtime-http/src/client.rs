//! Sending one configured request: the credential added, 5xx, 429 and connection errors
//! retried (a `Retry-After` honoured up to a bound), other 4xx answered at once, and every
//! error's text cleared of the credential before it leaves this module.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use tokio::sync::OnceCell;
use tracing::{debug, warn};

use crate::settings::{Credential, HttpSettings, RetryPolicy};

/// The most of an error answer's body an error message quotes.
const BODY_EXCERPT: usize = 300;

/// Why a request got no usable answer. No variant holds the credential: texts that came
/// from the platform pass through [`Api::redact`] first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {url} answered {status}: {excerpt}{hint}")]
    Status {
        method: String,
        url: String,
        status: u16,
        excerpt: String,
        hint: String,
    },
    #[error("{method} {url} failed: {reason}")]
    Transport {
        method: String,
        url: String,
        reason: String,
    },
    #[error("{method} {url}: the answer is not JSON ({reason})")]
    NotJson {
        method: String,
        url: String,
        reason: String,
    },
    #[error("the platform credential ({place}) could not be read: {reason}")]
    Credential { place: String, reason: String },
    #[error("`{header}` is not a valid header: {reason}")]
    Header { header: String, reason: String },
}

impl ApiError {
    /// The answer's status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An answer worth reading.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: serde_json::Value,
}

/// The platform's API as one runtime sees it.
pub struct Api {
    http: reqwest::Client,
    headers: Vec<(String, String)>,
    credential: Option<Credential>,
    /// The credential's header value, read once.
    secret: OnceCell<Option<String>>,
    retry: RetryPolicy,
}

impl Api {
    pub fn new(settings: &HttpSettings) -> Self {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            headers: settings.headers.clone(),
            credential: settings.credential.clone(),
            secret: OnceCell::new(),
            retry: settings.retry,
        }
    }

    /// The credential's header value (`Bearer …`), read from its source on first use.
    async fn secret(&self) -> Result<Option<&str>, ApiError> {
        let value = self
            .secret
            .get_or_try_init(|| async {
                let Some(credential) = &self.credential else {
                    return Ok(None);
                };
                let mut resolver = hoist_secrets::Resolver::new("hoist", ".");
                let secret = resolver
                    .resolve("credential", "platform", &credential.source)
                    .await
                    .map_err(|e| ApiError::Credential {
                        place: credential.source.describe(),
                        reason: e.problem,
                    })?;
                let value = secret.expose().trim().to_string();
                Ok(Some(match &credential.scheme {
                    Some(scheme) => format!("{scheme} {value}"),
                    None => value,
                }))
            })
            .await?;
        Ok(value.as_deref())
    }

    /// `text` with the credential (and its bare value) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let Some(Some(header)) = self.secret.get() else {
            return text.to_string();
        };
        let mut text = text.replace(header.as_str(), "***");
        if let Some((_, bare)) = header.split_once(' ')
            && bare.len() >= 4
        {
            text = text.replace(bare, "***");
        }
        text
    }

    /// Sends `method url` (with `body` as JSON), retrying as [`RetryPolicy`] says.
    /// `accept` are statuses other than 2xx that are answers, not errors (a `/wait` that
    /// timed out answers 408).
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&serde_json::Value>,
        accept: &[u16],
    ) -> Result<Answer, ApiError> {
        let secret = self.secret().await?;
        let method_value =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| ApiError::Transport {
                method: method.to_string(),
                url: url.to_string(),
                reason: "not an HTTP method".into(),
            })?;
        let mut attempt = 1;
        loop {
            let mut request = self.http.request(method_value.clone(), url);
            for (name, value) in &self.headers {
                request = request.header(header_name(name)?, header_value(name, value)?);
            }
            if let (Some(credential), Some(secret)) = (&self.credential, secret) {
                let mut value =
                    header_value(&credential.header, secret).map_err(|_| ApiError::Header {
                        header: credential.header.clone(),
                        reason: "the credential holds characters a header cannot".into(),
                    })?;
                value.set_sensitive(true);
                request = request.header(header_name(&credential.header)?, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            debug!(%method, %url, attempt, "platform request");
            let wait = match request.send().await {
                Err(e) => {
                    let reason = self.redact(&transport_reason(&e));
                    if attempt >= self.retry.attempts || !(e.is_connect() || e.is_timeout()) {
                        return Err(ApiError::Transport {
                            method: method.to_string(),
                            url: url.to_string(),
                            reason,
                        });
                    }
                    warn!(%method, %url, attempt, %reason, "platform unreachable; retrying");
                    self.backoff(attempt)
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers().get(RETRY_AFTER));
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() || accept.contains(&status.as_u16()) {
                        let body = if text.trim().is_empty() {
                            serde_json::Value::Null
                        } else {
                            serde_json::from_str(&text).map_err(|e| ApiError::NotJson {
                                method: method.to_string(),
                                url: url.to_string(),
                                reason: e.to_string(),
                            })?
                        };
                        return Ok(Answer { body });
                    }
                    let retryable =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    let wait = match retry_after {
                        Some(wait) if retryable => wait,
                        _ => self.backoff(attempt),
                    };
                    if !retryable || attempt >= self.retry.attempts || wait > self.retry.max_wait {
                        return Err(self.status_error(method, url, status, &text, wait));
                    }
                    warn!(%method, %url, status = status.as_u16(), attempt, wait_ms = wait.as_millis() as u64, "platform busy or failing; retrying");
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.retry
            .backoff
            .saturating_mul(factor)
            .min(self.retry.max_wait)
    }

    fn status_error(
        &self,
        method: &str,
        url: &str,
        status: StatusCode,
        text: &str,
        wait: Duration,
    ) -> ApiError {
        let excerpt: String = self
            .redact(text.trim())
            .chars()
            .take(BODY_EXCERPT)
            .collect();
        let place = self
            .credential
            .as_ref()
            .map(|c| c.source.describe())
            .unwrap_or_else(|| "no credential is configured".into());
        let hint = match status.as_u16() {
            401 => format!(
                " (the platform did not accept the credential from {place}: check that it is set, current and meant for this API)"
            ),
            403 => format!(
                " (the credential from {place} is not allowed to do this: give its token access to the app)"
            ),
            404 => " (check the URL templates and the instance's name)".into(),
            429 if wait > self.retry.max_wait => format!(
                " (it asked to wait {}s, more than the {}s hoist waits)",
                wait.as_secs(),
                self.retry.max_wait.as_secs()
            ),
            429 | 500..=599 => format!(" (after {} tries)", self.retry.attempts),
            _ => String::new(),
        };
        ApiError::Status {
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            excerpt: if excerpt.is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                excerpt
            },
            hint,
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, ApiError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|e| ApiError::Header {
        header: name.to_string(),
        reason: e.to_string(),
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(|e| ApiError::Header {
        header: name.to_string(),
        reason: e.to_string(),
    })
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The innermost cause ("Connection refused") rather than reqwest's chain.
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut last = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let secs = HeaderValue::from_static("2");
        assert_eq!(retry_after(Some(&secs)), Some(Duration::from_secs(2)));
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(retry_after(Some(&past)), Some(Duration::ZERO));
        let junk = HeaderValue::from_static("soon");
        assert_eq!(retry_after(Some(&junk)), None);
    }
}
