//! Sending with bounded patience: a timeout per attempt, retries with exponential backoff
//! for what may pass (network errors, timeouts, 429, 5xx) and none for what will not (other
//! 4xx), all inside an overall deadline. A server that asks for a wait (`Retry-After` in
//! seconds, fractions included, or as an HTTP date; Zulip's `retry-after` in its JSON) is
//! never retried sooner; if the wait would end past the deadline, hoist gives up at once.
//! The result is a [`DeliveryReport`], never an error: a notification is worth a warning,
//! not a failed deploy.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::notice::EventKind;
use crate::secret::Redactor;
use crate::service::{Body, Outgoing};
use crate::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign};

/// Wait before the second attempt; doubles for each one after.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Response bytes read: enough for an error message or Zulip's JSON answer.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// Response text quoted in a failure reason.
const REASON_SNIPPET_CHARS: usize = 200;

/// How one notifier's delivery of one notice went. Serialisable for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// The notifier's name in `hoist.toml`.
    pub notifier: String,
    /// `zulip`, `slack` or `webhook`.
    pub service: &'static str,
    pub event: EventKind,
    pub delivery_id: String,
    /// Requests made (0 if the message could not even be built).
    pub attempts: u32,
    pub elapsed_ms: u64,
    #[serde(flatten)]
    pub status: DeliveryStatus,
}

/// Delivered, or why not. The reason holds no URL and no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    Failed { reason: String },
}

impl DeliveryReport {
    pub fn is_delivered(&self) -> bool {
        self.status == DeliveryStatus::Delivered
    }

    /// The failure reason, if it failed.
    pub fn reason(&self) -> Option<&str> {
        match &self.status {
            DeliveryStatus::Delivered => None,
            DeliveryStatus::Failed { reason } => Some(reason),
        }
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        match &self.status {
            DeliveryStatus::Delivered => write!(
                f,
                "{} notice to {} ({}) delivered after {} attempt{plural}",
                self.event, self.notifier, self.service, self.attempts
            ),
            DeliveryStatus::Failed { reason } => write!(
                f,
                "{} notice to {} ({}) not delivered after {} attempt{plural}: {reason}",
                self.event, self.notifier, self.service, self.attempts
            ),
        }
    }
}

/// Attempts and per-attempt timeout of one notifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) timeout: Duration,
    pub(crate) attempts: u32,
}

/// What one attempt came to.
enum Attempt {
    Done,
    /// Worth another try, after at least this long if the server said so.
    Retry(String, Option<Duration>),
    Fatal(String),
}

/// Sends `out` until it is delivered, fails for good, runs out of attempts or meets the
/// `deadline`. Returns the outcome (reason redacted) and the number of requests made.
pub(crate) async fn send(
    client: &reqwest::Client,
    out: &Outgoing<'_>,
    policy: Policy,
    deadline: Instant,
    redactor: &Redactor,
) -> (Result<(), String>, u32) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            let reason = "the overall notification deadline passed before an attempt could be made";
            return (Err(reason.to_string()), attempts);
        }
        let limit = policy.timeout.min(deadline - now);
        attempts += 1;
        let outcome = match tokio::time::timeout(limit, attempt(client, out)).await {
            Ok(outcome) => outcome,
            Err(_) => Attempt::Retry(format!("no answer within {}", show(limit)), None),
        };
        let (reason, wait) = match outcome {
            Attempt::Done => return (Ok(()), attempts),
            Attempt::Fatal(reason) => return (Err(redactor.scrub(&reason)), attempts),
            Attempt::Retry(reason, retry_after) => (reason, retry_after),
        };
        let reason = redactor.scrub(&reason);
        tracing::debug!(attempt = attempts, %reason, "notification attempt failed");
        if attempts >= policy.attempts {
            return (Err(reason), attempts);
        }
        let wait = match wait {
            // Retrying sooner than asked would only be refused again.
            Some(asked) if Instant::now() + asked >= deadline => {
                return (
                    Err(format!(
                        "{reason} (the server asked to wait {} before retrying, past the notification deadline: given up)",
                        seconds(asked)
                    )),
                    attempts,
                );
            }
            Some(asked) => asked.max(backoff),
            None => backoff,
        };
        if Instant::now() + wait >= deadline {
            return (
                Err(format!(
                    "{reason} (no time left to retry before the deadline)"
                )),
                attempts,
            );
        }
        tokio::time::sleep(wait).await;
        backoff = backoff.saturating_mul(2);
    }
}

/// A `Retry-After` value as servers send it: seconds (Slack's `30`, or with a fraction,
/// `2.7`), or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), which is taken relative to
/// `now`. `None` for anything else.
fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = now.duration_until(at);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

async fn attempt(client: &reqwest::Client, out: &Outgoing<'_>) -> Attempt {
    let mut request = client.post(out.endpoint.url.clone());
    request = match &out.body {
        Body::Form(fields) => request.form(fields),
        Body::Json(bytes) => request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone()),
    };
    for (name, value) in &out.headers {
        request = request.header(*name, value);
    }
    if let Some(signing) = &out.signing {
        // Signed now, not when the notice was made: every attempt carries its own
        // timestamp (so a slow retry is not refused as stale) under the same id.
        let timestamp = jiff::Timestamp::now().as_second();
        let body = match &out.body {
            Body::Json(bytes) => bytes.as_slice(),
            Body::Form(_) => &[],
        };
        request = request
            .header(HEADER_ID, signing.id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                HEADER_SIGNATURE,
                sign(signing.secret, signing.id, timestamp, body),
            );
    }
    if let Some((user, key)) = out.basic_auth {
        request = request.basic_auth(user, Some(key.expose()));
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return from_reqwest(e),
    };
    let status = response.status();
    let header_wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    let body = read_bounded(response).await;
    if status.is_success() {
        if out.expects_zulip_result {
            return zulip_result(&body);
        }
        return Attempt::Done;
    }
    // Zulip answers every error with JSON (`msg`, `code`, and for 429 `retry-after`).
    let zulip = out
        .expects_zulip_result
        .then(|| ZulipError::read(&body))
        .flatten();
    let reason = match &zulip {
        Some(error) => format!("HTTP {status}: {error}"),
        None => format!("HTTP {status}{}", snippet(&body)),
    };
    let wait = header_wait.max(zulip.and_then(|e| e.retry_after));
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Attempt::Retry(reason, wait)
    } else if status.is_redirection() {
        Attempt::Fatal(format!(
            "{reason}: the endpoint redirects; configure the URL it redirects to"
        ))
    } else if status == reqwest::StatusCode::GONE {
        Attempt::Fatal(format!(
            "{reason}: the receiver wants no more deliveries; remove the notifier or fix its URL"
        ))
    } else {
        Attempt::Fatal(reason)
    }
}

/// An error as Zulip's API answers it: `{"result": "error", "msg": ..., "code": ...}`,
/// with `retry-after` (seconds, a float) when rate-limited.
struct ZulipError {
    msg: String,
    code: Option<String>,
    retry_after: Option<Duration>,
}

impl ZulipError {
    fn read(body: &[u8]) -> Option<ZulipError> {
        let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
        if answer.get("result").and_then(|r| r.as_str()) != Some("error") {
            return None;
        }
        Some(ZulipError {
            msg: answer
                .get("msg")
                .and_then(|m| m.as_str())
                .unwrap_or("no message")
                .to_string(),
            code: answer
                .get("code")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            retry_after: answer
                .get("retry-after")
                .and_then(|r| r.as_f64())
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
        })
    }
}

impl fmt::Display for ZulipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Zulip refused the message")?;
        if let Some(code) = &self.code {
            write!(f, " ({})", first_chars(code))?;
        }
        write!(f, ": {}", first_chars(&self.msg))
    }
}

/// Zulip says `{"result": "success", ...}` or `{"result": "error", "msg": ...}`.
fn zulip_result(body: &[u8]) -> Attempt {
    let answer: serde_json::Value = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(_) => {
            return Attempt::Fatal(format!(
                "the answer is not Zulip's JSON{}; is `site` a Zulip server?",
                snippet(body)
            ));
        }
    };
    match answer.get("result").and_then(|r| r.as_str()) {
        Some("success") => Attempt::Done,
        _ => match ZulipError::read(body) {
            Some(error) => Attempt::Fatal(error.to_string()),
            None => Attempt::Fatal("Zulip refused the message: no message".to_string()),
        },
    }
}

/// Network-level failures. The URL is stripped from the error (Slack's holds the token);
/// the reason is the error and its causes, which name kinds of failure, not addresses.
fn from_reqwest(error: reqwest::Error) -> Attempt {
    let retry = error.is_connect() || error.is_timeout() || error.is_request() || error.is_body();
    let error = error.without_url();
    let reason = hoist_core::error_chain::with_causes(&error);
    if retry {
        Attempt::Retry(reason, None)
    } else {
        Attempt::Fatal(reason)
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_RESPONSE_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    body
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", first_chars(text))
    }
}

fn first_chars(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > REASON_SNIPPET_CHARS {
        let cut: String = one_line.chars().take(REASON_SNIPPET_CHARS).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// A wait as a person reads it: `30s`, `2.7s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let text = format!("{:.1}", d.as_secs_f64());
        format!("{}s", text.trim_end_matches(".0"))
    }
}

fn show(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_servers_send_it() {
        let now: jiff::Timestamp = "2015-10-21T07:27:30Z".parse().expect("time");
        let read = |v: &str| parse_retry_after(v, now);
        assert_eq!(read("30"), Some(Duration::from_secs(30)));
        assert_eq!(read(" 2.7 "), Some(Duration::from_millis(2700)));
        assert_eq!(read("0"), Some(Duration::ZERO));
        assert_eq!(
            read("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            read("Wed, 21 Oct 2015 07:27:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past: retry now"
        );
        for bad in ["-1", "soon", "", "inf", "NaN"] {
            assert_eq!(read(bad), None, "{bad}");
        }
        assert_eq!(seconds(Duration::from_secs(30)), "30s");
        assert_eq!(seconds(Duration::from_millis(2700)), "2.7s");
    }

    #[test]
    fn zulip_errors_are_read_from_the_json() {
        assert!(matches!(
            zulip_result(br#"{"result":"success","id":42}"#),
            Attempt::Done
        ));
        match zulip_result(br#"{"result":"error","msg":"Stream 'deploys' does not exist","code":"STREAM_DOES_NOT_EXIST"}"#) {
            Attempt::Fatal(reason) => assert_eq!(reason, "Zulip refused the message (STREAM_DOES_NOT_EXIST): Stream 'deploys' does not exist"),
            _ => panic!("expected a fatal failure"),
        }
        let limited = ZulipError::read(
            br#"{"result":"error","msg":"API usage exceeded rate limit","code":"RATE_LIMIT_HIT","retry-after":2.7}"#,
        )
        .expect("an error");
        assert_eq!(limited.retry_after, Some(Duration::from_millis(2700)));
        assert!(ZulipError::read(br#"{"result":"success"}"#).is_none());
        assert!(matches!(zulip_result(b"<html>"), Attempt::Fatal(_)));
    }

    #[test]
    fn report_reads_as_a_log_line() {
        let report = DeliveryReport {
            notifier: "ops-webhook".into(),
            service: "webhook",
            event: EventKind::Failed,
            delivery_id: "id".into(),
            attempts: 3,
            elapsed_ms: 4100,
            status: DeliveryStatus::Failed {
                reason: "HTTP 500 Internal Server Error".into(),
            },
        };
        assert_eq!(
            report.to_string(),
            "failed notice to ops-webhook (webhook) not delivered after 3 attempts: HTTP 500 Internal Server Error"
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["reason"], "HTTP 500 Internal Server Error");
        assert_eq!(json["event"], "failed");
    }
}
