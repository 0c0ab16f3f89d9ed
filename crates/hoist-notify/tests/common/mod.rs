//! Local receivers on 127.0.0.1 for checking the exact requests hoist sends, without a real
//! Zulip or Slack:
//!
//! - [`Receiver::start`] answers from a script and records each request;
//! - [`FakeZulip`] follows Zulip's `POST /api/v1/messages` as its API documentation
//!   describes it: basic auth, the form fields, how `to` is read, its error answers
//!   (`{"result": "error", "msg", "code"}` with 400 or 401) and its rate limit (429 with
//!   `retry-after` in the JSON body), and reports the mentions Zulip would find;
//! - [`FakeSlack`] follows Slack's incoming webhooks: JSON `text` at the secret URL, its
//!   error answers (`400 invalid_payload`, `404 no_service`), its rate limit (429 with
//!   `Retry-After` in seconds), and the mentions Slack would find.
//!
//! And [`notifiers`], which builds notifiers from a `hoist.toml` text as hoist does.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hoist_config::notify::{NotifierConfig, NotifierSpec, NotifyRoute, Route, validate_notify};
use hoist_notify::{Notifiers, NotifyError};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use toml::Spanned;

#[derive(Deserialize)]
struct Doc {
    notifiers: BTreeMap<String, Spanned<NotifierConfig>>,
    environments: BTreeMap<String, Env>,
}

#[derive(Deserialize)]
struct Env {
    notify: Vec<NotifyRoute>,
}

/// Validates `text` like hoist.toml and builds production's notifiers, with `vars` as the
/// environment.
pub fn notifiers(text: &str, vars: &[(&str, &str)], root: &Path) -> Result<Notifiers, NotifyError> {
    let doc: Doc = toml::from_str(text).expect("test config parses");
    validate_notify(
        Path::new("hoist.toml"),
        text,
        &doc.notifiers,
        doc.environments
            .iter()
            .map(|(name, env)| (name.as_str(), env.notify.as_slice())),
    )
    .expect("test config is valid");
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // What hoist.toml's loader hands on: each notifier's checked spec, span-free routes.
    let specs: BTreeMap<String, NotifierSpec> = doc
        .notifiers
        .iter()
        .map(|(name, n)| (name.clone(), n.get_ref().spec().expect("valid notifier")))
        .collect();
    let routes: Vec<Route> = doc.environments["production"]
        .notify
        .iter()
        .map(NotifyRoute::resolve)
        .collect();
    Notifiers::from_config_with_env(&specs, &routes, root, &|name| vars.get(name).cloned())
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request exactly as it came over the wire.
    pub raw: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as form fields (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// How to answer a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Answer(u16, Vec<(String, String)>, String),
    /// Status, with the whole raw request echoed back as the body (a careless server).
    Echo(u16),
    /// Read the request and never answer.
    Hang,
}

pub fn answer(status: u16, body: impl Into<String>) -> Reply {
    Reply::Answer(status, Vec::new(), body.into())
}

pub fn answer_with(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Reply {
    Reply::Answer(
        status,
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body.into(),
    )
}

type Handler = Arc<dyn Fn(&Request, usize) -> Reply + Send + Sync>;

pub struct Receiver {
    pub base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    /// Starts a receiver answering the n-th request with `replies[n]`, and every request
    /// after the last reply with the last one.
    pub async fn start(replies: Vec<Reply>) -> Receiver {
        Receiver::serve(move |_, index| {
            replies
                .get(index)
                .or(replies.last())
                .cloned()
                .unwrap_or(Reply::Hang)
        })
        .await
    }

    /// Starts a receiver answering each request with `handler(request, its index)`.
    pub async fn serve(
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let handler: Handler = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let _ = handle(socket, &seen, &handler).await;
                });
            }
        });
        Receiver { base, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn handle(
    mut socket: TcpStream,
    seen: &Mutex<Vec<Request>>,
    handler: &Handler,
) -> std::io::Result<()> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let request = Request {
        method,
        path,
        headers,
        body: raw[head_end..].to_vec(),
        raw: raw.clone(),
    };
    let index = {
        let mut seen = seen.lock().expect("lock");
        seen.push(request.clone());
        seen.len() - 1
    };
    let (status, extra, body) = match handler(&request, index) {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        Reply::Answer(status, extra, body) => (status, extra, body.into_bytes()),
        Reply::Echo(status) => (status, Vec::new(), raw),
    };
    let mut response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    socket.write_all(response.as_bytes()).await?;
    socket.write_all(&body).await?;
    socket.shutdown().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// A message a fake accepted, as its service would store it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Zulip: the channel's id; Slack: none.
    pub channel_id: Option<u64>,
    pub topic: Option<String>,
    pub content: String,
    /// What the content would mention, in the service's syntax (`@**all**`, `<!here>`).
    pub mentions: Vec<String>,
}

/// A fake Zulip server: one organization with a bot and some channels.
pub struct FakeZulip {
    pub receiver: Receiver,
    posted: Arc<Mutex<Vec<Posted>>>,
}

/// How a [`FakeZulip`] is set up.
#[derive(Clone)]
pub struct ZulipSetup {
    pub bot_email: String,
    pub api_key: String,
    /// Channel id and name.
    pub channels: Vec<(u64, String)>,
    /// Answer this many requests with Zulip's rate-limit error first.
    pub rate_limited: usize,
    /// The `retry-after` of that error, in seconds.
    pub retry_after: f64,
}

impl FakeZulip {
    pub async fn start(setup: ZulipSetup) -> FakeZulip {
        let posted = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&posted);
        let receiver =
            Receiver::serve(move |request, index| zulip_answer(&setup, request, index, &store))
                .await;
        FakeZulip { receiver, posted }
    }

    /// The organization's URL, for `site`.
    pub fn site(&self) -> &str {
        &self.receiver.base
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.posted.lock().expect("lock").clone()
    }
}

fn zulip_error(status: u16, code: &str, msg: &str) -> Reply {
    let body = serde_json::json!({ "result": "error", "msg": msg, "code": code });
    answer_with(
        status,
        &[("Content-Type", "application/json")],
        body.to_string(),
    )
}

/// `POST /api/v1/messages` as Zulip's API documentation describes it.
fn zulip_answer(
    setup: &ZulipSetup,
    request: &Request,
    index: usize,
    posted: &Mutex<Vec<Posted>>,
) -> Reply {
    if request.path != "/api/v1/messages" || request.method != "POST" {
        return zulip_error(404, "BAD_REQUEST", "Invalid endpoint");
    }
    // "Invalid API key" is answered with 401 (the common errors of rest-error-handling).
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", setup.bot_email, setup.api_key))
    );
    if request.header("authorization") != Some(expected.as_str()) {
        return zulip_error(401, "INVALID_API_KEY", "Invalid API key");
    }
    if index < setup.rate_limited {
        let body = serde_json::json!({
            "result": "error",
            "msg": "API usage exceeded rate limit",
            "code": "RATE_LIMIT_HIT",
            "retry-after": setup.retry_after,
        });
        return answer_with(
            429,
            &[
                ("Content-Type", "application/json"),
                ("X-RateLimit-Limit", "200"),
                ("X-RateLimit-Remaining", "0"),
            ],
            body.to_string(),
        );
    }
    let form = request.form();
    for field in ["type", "to", "content"] {
        if !form.contains_key(field) {
            let body = serde_json::json!({
                "result": "error",
                "msg": format!("Missing '{field}' argument"),
                "code": "REQUEST_VARIABLE_MISSING",
                "var_name": field,
            });
            return answer_with(
                400,
                &[("Content-Type", "application/json")],
                body.to_string(),
            );
        }
    }
    if !matches!(form["type"].as_str(), "stream" | "channel") {
        return zulip_error(400, "BAD_REQUEST", "Invalid message type");
    }
    // `to` is a channel's name or integer id, JSON-encoded; a value that is not JSON is
    // taken as a name (what older clients send). So `to=2024` is the channel with id 2024,
    // and `to="2024"` the channel named 2024.
    let channel = match serde_json::from_str::<serde_json::Value>(&form["to"]) {
        Ok(serde_json::Value::Number(n)) => match n
            .as_u64()
            .and_then(|id| setup.channels.iter().find(|(i, _)| *i == id))
        {
            Some(channel) => channel.clone(),
            None => return zulip_error(400, "BAD_REQUEST", "Invalid channel ID"),
        },
        Ok(serde_json::Value::String(name)) => match channel_named(setup, &name) {
            Some(channel) => channel,
            None => return stream_does_not_exist(&name),
        },
        Ok(_) => return zulip_error(400, "BAD_REQUEST", "Invalid 'to' argument"),
        Err(_) => match channel_named(setup, &form["to"]) {
            Some(channel) => channel,
            None => return stream_does_not_exist(&form["to"]),
        },
    };
    let content = form["content"].clone();
    if content.trim().is_empty() {
        return zulip_error(400, "BAD_REQUEST", "Message must not be empty");
    }
    let topic = form.get("topic").cloned();
    let mentions = zulip_mentions(&content);
    let id = {
        let mut posted = posted.lock().expect("lock");
        posted.push(Posted {
            channel_id: Some(channel.0),
            topic,
            content,
            mentions,
        });
        posted.len()
    };
    let body = serde_json::json!({ "result": "success", "msg": "", "id": id });
    answer_with(
        200,
        &[("Content-Type", "application/json")],
        body.to_string(),
    )
}

fn channel_named(setup: &ZulipSetup, name: &str) -> Option<(u64, String)> {
    setup.channels.iter().find(|(_, n)| n == name).cloned()
}

fn stream_does_not_exist(name: &str) -> Reply {
    let body = serde_json::json!({
        "result": "error",
        "msg": format!("Channel '{name}' does not exist"),
        "code": "STREAM_DOES_NOT_EXIST",
        "stream": name,
    });
    answer_with(
        400,
        &[("Content-Type", "application/json")],
        body.to_string(),
    )
}

/// The mentions Zulip finds in `content`: `@**name**`, `@_**name**` (silent), `@*group*`
/// and `@_*group*`, where the `@` starts the text or follows whitespace or one of
/// `'"(,:<` (the syntax of Zulip's mention patterns).
pub fn zulip_mentions(content: &str) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    let mut found = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if *c != '@' {
            continue;
        }
        if i > 0 {
            let before = chars[i - 1];
            if !(before.is_whitespace() || "'\"(,:<".contains(before)) {
                continue;
            }
        }
        let mut j = i + 1;
        if chars.get(j) == Some(&'_') {
            j += 1;
        }
        let stars = if chars.get(j) == Some(&'*') && chars.get(j + 1) == Some(&'*') {
            2
        } else if chars.get(j) == Some(&'*') {
            1
        } else {
            continue;
        };
        let start = j + stars;
        let Some(len) = chars[start..].iter().position(|c| *c == '*') else {
            continue;
        };
        let end = start + len;
        let closed = (0..stars).all(|k| chars.get(end + k) == Some(&'*'));
        if len > 0 && closed {
            found.push(chars[i..end + stars].iter().collect());
        }
    }
    found
}

/// A fake Slack incoming webhook.
pub struct FakeSlack {
    pub receiver: Receiver,
    /// The path of the webhook URL: `/services/T.../B.../<token>`.
    pub path: String,
    posted: Arc<Mutex<Vec<Posted>>>,
}

impl FakeSlack {
    /// A webhook at `/services/T0000000/B0000000/{token}` that answers its first
    /// `rate_limited` requests with 429 and `Retry-After: {retry_after}`.
    pub async fn start(token: &str, rate_limited: usize, retry_after: u64) -> FakeSlack {
        let path = format!("/services/T0000000/B0000000/{token}");
        let posted = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&posted);
        let webhook = path.clone();
        let receiver = Receiver::serve(move |request, index| {
            slack_answer(&webhook, rate_limited, retry_after, request, index, &store)
        })
        .await;
        FakeSlack {
            receiver,
            path,
            posted,
        }
    }

    /// The webhook URL (the secret).
    pub fn url(&self) -> String {
        format!("{}{}", self.receiver.base, self.path)
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.posted.lock().expect("lock").clone()
    }
}

fn slack_answer(
    webhook: &str,
    rate_limited: usize,
    retry_after: u64,
    request: &Request,
    index: usize,
    posted: &Mutex<Vec<Posted>>,
) -> Reply {
    if request.method != "POST" || request.path != webhook {
        return answer(404, "no_service");
    }
    if index < rate_limited {
        return answer_with(
            429,
            &[("Retry-After", &retry_after.to_string())],
            "rate_limited",
        );
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
        return answer(400, "invalid_payload");
    };
    let Some(text) = body.get("text").and_then(|t| t.as_str()) else {
        return answer(400, "no_text");
    };
    posted.lock().expect("lock").push(Posted {
        channel_id: None,
        topic: None,
        content: text.to_string(),
        mentions: slack_mentions(text),
    });
    answer(200, "ok")
}

/// The mentions Slack finds in `text`: its control sequences `<!here>`, `<!channel>`,
/// `<!everyone>`, `<!subteam^ID>` and `<@U...>` (only `<`, `>` and `&` are markup; the
/// escaped `&lt;!here&gt;` is plain text).
pub fn slack_mentions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            break;
        };
        let inner = &after[..end];
        if inner.starts_with('!') || inner.starts_with('@') {
            found.push(format!("<{inner}>"));
        }
        rest = &after[end + 1..];
    }
    found
}
