//! `kind = "http"`: each instance lives on a hosting platform and is changed through its
//! HTTP API: a deploy request, then a status request polled until the configured fields
//! say the instance runs the release, healthy. The generic form names every request and
//! field; a preset (`preset = "fly-machines"`) fills them in for one platform's published
//! API. See docs/http-runtime.md.
//!
//! ```toml
//! [environments.production.runtime]
//! kind = "http"
//! token = { env = "PLATFORM_TOKEN" }   # sent as `Authorization: Bearer …`; env or file only
//! timeout = "5m"
//! [environments.production.runtime.deploy]
//! method = "POST"
//! url = "https://api.example.com/v1/apps/{{ tenant }}/deploys"
//! body = '{"image": {{ image_ref }}, "version": {{ version }}}'
//! [environments.production.runtime.status]
//! url = "https://api.example.com/v1/apps/{{ tenant }}"
//! image = "/image"          # JSON pointers into the answer
//! state = "/state"
//! running = ["running"]
//! healthy = "/healthy"
//! failure = "/error"
//!
//! [environments.fly.runtime]
//! kind = "http"
//! preset = "fly-machines"
//! app = "clinic-{{ tenant }}"          # the Fly app; default "{{ app }}"
//! machine = "{{ name }}"               # the Machine id; default the instance's name
//! token = { env = "FLY_API_TOKEN" }
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use hoist_secrets::SecretSource;
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::runtime::{HumanDuration, RawRuntime, RuntimeConfig};

/// The keys of kind "http", in the order the reference documents them.
pub const HTTP_KEYS: [&str; 14] = [
    "preset",
    "api",
    "app",
    "machine",
    "token",
    "token_header",
    "token_scheme",
    "headers",
    "poll",
    "deploy",
    "status",
    "wait",
    "rollback",
    "task",
];

/// The presets `preset` accepts.
pub const PRESETS: [&str; 1] = ["fly-machines"];

/// Fly.io's Machines API, the preset's default `api`.
pub const FLY_API: &str = "https://api.machines.dev";

/// `timeout` when not set: a platform pulls the image and starts the instance.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// `poll` when not set: Fly allows a few reads of a Machine per second; one every two
/// seconds leaves room for many tenants.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// One request: method, URL template, JSON body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub body: Option<String>,
}

/// The credential: where its value is, and the header it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpToken {
    /// An environment variable or a file; never a literal in the file.
    pub source: SecretSource,
    pub header: String,
    /// `Bearer` by default; `None` sends the value alone.
    pub scheme: Option<String>,
}

/// JSON pointers into the status answer (see the runtime's docs for each).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpFields {
    pub image: String,
    pub digest: Option<String>,
    pub release: Option<String>,
    pub image_id: Option<String>,
    pub spec: Option<String>,
    pub state: Option<String>,
    pub running: Vec<String>,
    pub failed: Vec<String>,
    pub healthy: Option<String>,
    pub failure: Option<String>,
}

/// How release tasks run on the platform (docs/http-runtime.md, "Release tasks"): the
/// requests, and the JSON pointers into their answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTask {
    pub start: HttpRequest,
    /// The run's id in the start answer (`{{ task_id }}`).
    pub id: String,
    /// The run's version in the start answer (`{{ task_instance }}`).
    pub instance: Option<String>,
    pub wait: Option<HttpRequest>,
    pub status: HttpRequest,
    pub state: String,
    /// States that mean the run ended.
    pub done: Vec<String>,
    pub exit_code: String,
    pub logs: Option<HttpRequest>,
    pub lines: Option<String>,
    pub stop: Option<HttpRequest>,
    pub remove: Option<HttpRequest>,
    /// Without `logs`: where the output is, for people (the preset's `fly logs` line).
    pub output_hint: Option<String>,
}

/// `kind = "http"`, resolved (a preset expanded into the generic form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `http`, or the preset's name: named in messages.
    pub platform: String,
    pub deploy: HttpRequest,
    pub status: HttpRequest,
    pub wait: Option<HttpRequest>,
    pub rollback: Option<HttpRequest>,
    pub headers: BTreeMap<String, String>,
    pub token: Option<HttpToken>,
    pub fields: HttpFields,
    /// `app`: the platform's app, a template (`{{ platform_app }}` in the others).
    pub platform_app: Option<String>,
    pub timeout: Duration,
    pub poll: Duration,
    /// Release tasks' requests; `None`: tasks cannot run on this platform.
    pub task: Option<HttpTask>,
}

impl HttpConfig {
    /// What an instance's `host` reads as for this kind: the platform and its API.
    pub fn place(&self) -> String {
        let url = &self.status.url;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        format!(
            "{} {}",
            self.platform,
            rest.split('/').next().unwrap_or(rest)
        )
    }
}

/// `deploy`, `wait`, `rollback` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    #[serde(default)]
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    #[serde(default)]
    body: Option<Spanned<String>>,
}

/// `status` as written: the request and the fields of its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatus {
    #[serde(default)]
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    image: Spanned<String>,
    #[serde(default)]
    digest: Option<Spanned<String>>,
    #[serde(default)]
    release: Option<Spanned<String>>,
    #[serde(default)]
    image_id: Option<Spanned<String>>,
    #[serde(default)]
    spec: Option<Spanned<String>>,
    #[serde(default)]
    state: Option<Spanned<String>>,
    #[serde(default)]
    running: Option<Vec<String>>,
    #[serde(default)]
    failed: Option<Vec<String>>,
    #[serde(default)]
    healthy: Option<Spanned<String>>,
    #[serde(default)]
    failure: Option<Spanned<String>>,
}

/// `task` as written: the requests that run a release task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    #[serde(default)]
    start: Option<Spanned<RawTaskStart>>,
    #[serde(default)]
    wait: Option<Spanned<RawRequest>>,
    #[serde(default)]
    status: Option<Spanned<RawTaskStatus>>,
    #[serde(default)]
    logs: Option<Spanned<RawTaskLogs>>,
    #[serde(default)]
    stop: Option<Spanned<RawRequest>>,
    #[serde(default)]
    remove: Option<Spanned<RawRequest>>,
}

/// `task.start`: the request, and where the run's id is in its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskStart {
    #[serde(default)]
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    #[serde(default)]
    body: Option<Spanned<String>>,
    id: Spanned<String>,
    #[serde(default)]
    instance: Option<Spanned<String>>,
}

/// `task.status`: the request, and the fields of its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskStatus {
    #[serde(default)]
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    state: Spanned<String>,
    done: Spanned<Vec<String>>,
    exit_code: Spanned<String>,
}

/// `task.logs`: the request, and where the lines are in its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskLogs {
    #[serde(default)]
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    #[serde(default)]
    lines: Option<Spanned<String>>,
}

/// The http keys written in `raw`, first in the file first.
fn written(raw: &RawRuntime) -> Vec<(&'static str, Range<usize>)> {
    let given = [
        raw.preset.as_ref().map(Spanned::span),
        raw.api.as_ref().map(Spanned::span),
        raw.app.as_ref().map(Spanned::span),
        raw.machine.as_ref().map(Spanned::span),
        raw.token.as_ref().map(Spanned::span),
        raw.token_header.as_ref().map(Spanned::span),
        raw.token_scheme.as_ref().map(Spanned::span),
        raw.headers.as_ref().map(Spanned::span),
        raw.poll.as_ref().map(Spanned::span),
        raw.deploy.as_ref().map(Spanned::span),
        raw.status.as_ref().map(Spanned::span),
        raw.wait.as_ref().map(Spanned::span),
        raw.rollback.as_ref().map(Spanned::span),
        raw.task.as_ref().map(Spanned::span),
    ];
    let mut written: Vec<_> = HTTP_KEYS
        .iter()
        .zip(given)
        .filter_map(|(field, span)| span.map(|s| (*field, s)))
        .collect();
    written.sort_by_key(|(_, span)| span.start);
    written
}

/// The kind-"http" keys written in a table of another kind: the first one in the file.
pub(crate) fn first_http_key(raw: &RawRuntime) -> Option<(&'static str, Range<usize>)> {
    written(raw).into_iter().next()
}

type Fail<'a> = &'a dyn Fn(Range<usize>, &str, String, String) -> ConfigError;

/// Checks the kind-"http" table. `other_keys` are the other kinds' keys written in it,
/// first one first; `timeout` is the shared `timeout` key; `table_span` is where to point
/// when a required key is missing.
pub(crate) fn resolve(
    raw: &RawRuntime,
    other_keys: Option<(&'static str, Range<usize>)>,
    timeout: Option<&Spanned<HumanDuration>>,
    table_span: Range<usize>,
    path: &Path,
    fail: Fail<'_>,
) -> Result<RuntimeConfig, ConfigError> {
    if let Some((field, span)) = other_keys {
        return Err(fail(
            span,
            field,
            format!("`{field}` does not apply to kind \"http\""),
            format!("kind \"http\" takes {} and timeout", HTTP_KEYS.join(", ")),
        ));
    }
    let root = path.parent().unwrap_or(Path::new("."));
    let token = match &raw.token {
        None => None,
        Some(table) => {
            let source = table
                .get_ref()
                .source(root)
                .map_err(|p| fail(table.span(), "token", p.message, p.help))?;
            if matches!(source, SecretSource::Command { .. }) {
                return Err(fail(
                    table.span(),
                    "token",
                    "a platform token is read from an environment variable or a file, not a command".into(),
                    "write token = { env = \"PLATFORM_TOKEN\" } or token = { file = \"/run/secrets/platform-token\" }".into(),
                ));
            }
            let header = match &raw.token_header {
                Some(h) => header_name(h, "token_header", fail)?,
                None => "Authorization".to_string(),
            };
            let scheme = match &raw.token_scheme {
                Some(s) if s.get_ref().trim().is_empty() => None,
                Some(s) => Some(s.get_ref().trim().to_string()),
                None => Some("Bearer".to_string()),
            };
            Some(HttpToken {
                source,
                header,
                scheme,
            })
        }
    };
    if raw.token.is_none()
        && let Some((field, span)) = [
            ("token_header", &raw.token_header),
            ("token_scheme", &raw.token_scheme),
        ]
        .into_iter()
        .find_map(|(f, v)| v.as_ref().map(|v| (f, v.span())))
    {
        return Err(fail(
            span,
            field,
            format!("`{field}` without `token`"),
            "add token = { env = \"PLATFORM_TOKEN\" }, or remove the key".into(),
        ));
    }
    let mut headers = BTreeMap::new();
    if let Some(written) = &raw.headers {
        for (name, value) in written.get_ref() {
            let lower = name.to_ascii_lowercase();
            if ["authorization", "proxy-authorization", "cookie"].contains(&lower.as_str())
                || lower.contains("token")
                || lower.contains("key")
                || lower.contains("secret")
            {
                return Err(fail(
                    written.span(),
                    "headers",
                    format!("`{name}` looks like a credential, and hoist.toml is committed"),
                    "put the credential in `token` (with token_header = \"NAME\" for another header than Authorization): it is read from an environment variable or a file".into(),
                ));
            }
            if !is_token(name) || value.chars().any(|c| c.is_control()) {
                return Err(fail(
                    written.span(),
                    "headers",
                    format!("`{name}: {value}` is not a valid header"),
                    "use a header name of letters, digits and `-`, and a value on one line".into(),
                ));
            }
            headers.insert(name.clone(), value.clone());
        }
    }
    let timeout = match timeout {
        Some(t) if t.get_ref().0.is_zero() => {
            return Err(fail(
                t.span(),
                "timeout",
                "a timeout of 0 would fail every deploy before it started".into(),
                "give the time one instance has to run the release, e.g. \"5m\"".into(),
            ));
        }
        Some(t) => t.get_ref().0,
        None => DEFAULT_TIMEOUT,
    };
    let poll = match &raw.poll {
        Some(p) if p.get_ref().0.is_zero() => {
            return Err(fail(
                p.span(),
                "poll",
                "a poll interval of 0 would send status requests without pause".into(),
                "give the time between two status requests, e.g. \"2s\"".into(),
            ));
        }
        Some(p) => p.get_ref().0,
        None => DEFAULT_POLL,
    };
    let platform_app = raw.app.as_ref().map(|a| a.get_ref().clone());
    let (platform, deploy, status, wait, rollback, fields, task) = match &raw.preset {
        Some(preset) => {
            if preset.get_ref() != "fly-machines" {
                return Err(fail(
                    preset.span(),
                    "preset",
                    format!("`{}` is not a preset", preset.get_ref()),
                    format!(
                        "use one of {}, or describe the platform's requests with `deploy` and `status`",
                        PRESETS.join(", ")
                    ),
                ));
            }
            if let Some((field, span)) = [
                ("deploy", raw.deploy.as_ref().map(Spanned::span)),
                ("status", raw.status.as_ref().map(Spanned::span)),
                ("wait", raw.wait.as_ref().map(Spanned::span)),
                ("rollback", raw.rollback.as_ref().map(Spanned::span)),
            ]
            .into_iter()
            .find_map(|(f, s)| s.map(|s| (f, s)))
            {
                return Err(fail(
                    span,
                    field,
                    format!("`{field}` does not apply with a preset: the preset sets the requests"),
                    "remove it, or remove `preset` and describe every request yourself".into(),
                ));
            }
            if token.is_none() {
                return Err(fail(
                    preset.span(),
                    "token",
                    "the fly-machines preset needs a token".into(),
                    "add token = { env = \"FLY_API_TOKEN\" } (a token from `fly tokens create deploy`)".into(),
                ));
            }
            let api = match &raw.api {
                Some(api) => base_url(api, "api", fail)?,
                None => FLY_API.to_string(),
            };
            let machine = raw
                .machine
                .as_ref()
                .map_or("{{ name }}".to_string(), |m| m.get_ref().clone());
            let fly = fly_machines(&api, &machine);
            let mut task = fly_task(&api);
            if let Some(written) = &raw.task {
                let written = written.get_ref();
                if let Some((field, span)) = [
                    ("task.start", written.start.as_ref().map(Spanned::span)),
                    ("task.wait", written.wait.as_ref().map(Spanned::span)),
                    ("task.status", written.status.as_ref().map(Spanned::span)),
                    ("task.stop", written.stop.as_ref().map(Spanned::span)),
                    ("task.remove", written.remove.as_ref().map(Spanned::span)),
                ]
                .into_iter()
                .find_map(|(f, s)| s.map(|s| (f, s)))
                {
                    return Err(fail(
                        span,
                        field,
                        format!("`{field}` does not apply with a preset: the preset sets the task's requests"),
                        "remove it (a preset takes only `task.logs`, for a log service of your own), or remove `preset` and describe every request yourself".into(),
                    ));
                }
                if let Some(logs) = &written.logs {
                    let (request, lines) = task_logs(logs.get_ref(), fail)?;
                    task.logs = Some(request);
                    task.lines = lines;
                }
            }
            (
                "fly-machines".to_string(),
                fly.0,
                fly.1,
                Some(fly.2),
                None,
                fly.3,
                Some(task),
            )
        }
        None => {
            if let Some((field, span)) = [("api", &raw.api), ("machine", &raw.machine)]
                .into_iter()
                .find_map(|(f, v)| v.as_ref().map(|v| (f, v.span())))
            {
                return Err(fail(
                    span,
                    field,
                    format!("`{field}` applies only with a preset"),
                    "write the full URLs in `deploy.url` and `status.url`, or set preset = \"fly-machines\"".into(),
                ));
            }
            let Some(deploy) = &raw.deploy else {
                return Err(fail(
                    table_span,
                    "deploy",
                    "kind \"http\" needs a `deploy` request (or a `preset`)".into(),
                    "add [environments.NAME.runtime.deploy] with url (and method, body), or set preset = \"fly-machines\"".into(),
                ));
            };
            let Some(status) = &raw.status else {
                return Err(fail(
                    table_span,
                    "status",
                    "kind \"http\" needs a `status` request (or a `preset`)".into(),
                    "add [environments.NAME.runtime.status] with url and image (a JSON pointer such as \"/image\")".into(),
                ));
            };
            let deploy = request(deploy.get_ref(), "deploy", "POST", fail)?;
            let wait = match &raw.wait {
                Some(w) => Some(request(w.get_ref(), "wait", "GET", fail)?),
                None => None,
            };
            let rollback = match &raw.rollback {
                Some(r) => Some(request(r.get_ref(), "rollback", "POST", fail)?),
                None => None,
            };
            let s = status.get_ref();
            let status_request = request(
                &RawRequest {
                    method: s.method.clone(),
                    url: s.url.clone(),
                    body: None,
                },
                "status",
                "GET",
                fail,
            )?;
            let pointer =
                |p: &Option<Spanned<String>>, field: &str| -> Result<Option<String>, ConfigError> {
                    match p {
                        None => Ok(None),
                        Some(p) => json_pointer(p, &format!("status.{field}"), fail).map(Some),
                    }
                };
            let fields = HttpFields {
                image: json_pointer(&s.image, "status.image", fail)?,
                digest: pointer(&s.digest, "digest")?,
                release: pointer(&s.release, "release")?,
                image_id: pointer(&s.image_id, "image_id")?,
                spec: pointer(&s.spec, "spec")?,
                state: pointer(&s.state, "state")?,
                running: s.running.clone().unwrap_or_else(|| vec!["running".into()]),
                failed: s.failed.clone().unwrap_or_else(|| vec!["failed".into()]),
                healthy: pointer(&s.healthy, "healthy")?,
                failure: pointer(&s.failure, "failure")?,
            };
            let task = match &raw.task {
                Some(written) => Some(task(written, fail)?),
                None => None,
            };
            (
                "http".to_string(),
                deploy,
                status_request,
                wait,
                rollback,
                fields,
                task,
            )
        }
    };
    Ok(RuntimeConfig::Http(Box::new(HttpConfig {
        platform,
        deploy,
        status,
        wait,
        rollback,
        headers,
        token,
        fields,
        platform_app,
        timeout,
        poll,
        task,
    })))
}

/// The generic `task` table: `start` and `status` required, the rest optional.
fn task(written: &Spanned<RawTask>, fail: Fail<'_>) -> Result<HttpTask, ConfigError> {
    let raw = written.get_ref();
    let Some(start) = &raw.start else {
        return Err(fail(
            written.span(),
            "task.start",
            "`task` needs a `start` request: the one that starts a run of the release's image".into(),
            "add [environments.NAME.runtime.task.start] with url, body and id (a JSON pointer to the run's id in the answer, e.g. \"/id\")".into(),
        ));
    };
    let Some(status) = &raw.status else {
        return Err(fail(
            written.span(),
            "task.status",
            "`task` needs a `status` request: the one that says whether the run ended, and its exit code".into(),
            "add [environments.NAME.runtime.task.status] with url, state, done and exit_code".into(),
        ));
    };
    let s = start.get_ref();
    let start_request = request(
        &RawRequest {
            method: s.method.clone(),
            url: s.url.clone(),
            body: s.body.clone(),
        },
        "task.start",
        "POST",
        fail,
    )?;
    let st = status.get_ref();
    let status_request = request(
        &RawRequest {
            method: st.method.clone(),
            url: st.url.clone(),
            body: None,
        },
        "task.status",
        "GET",
        fail,
    )?;
    if st.done.get_ref().iter().all(|d| d.trim().is_empty()) {
        return Err(fail(
            st.done.span(),
            "task.status.done",
            "no state is listed as the end of a run, so every task would wait for its timeout"
                .into(),
            "list the states that mean the run ended, e.g. done = [\"exited\", \"failed\"]".into(),
        ));
    }
    let optional = |r: &Option<Spanned<RawRequest>>, key: &str, method: &str| match r {
        Some(r) => request(r.get_ref(), key, method, fail).map(Some),
        None => Ok(None),
    };
    let (logs, lines) = match &raw.logs {
        Some(logs) => {
            let (request, lines) = task_logs(logs.get_ref(), fail)?;
            (Some(request), lines)
        }
        None => (None, None),
    };
    Ok(HttpTask {
        start: start_request,
        id: json_pointer(&s.id, "task.start.id", fail)?,
        instance: match &s.instance {
            Some(p) => Some(json_pointer(p, "task.start.instance", fail)?),
            None => None,
        },
        wait: optional(&raw.wait, "task.wait", "GET")?,
        status: status_request,
        state: json_pointer(&st.state, "task.status.state", fail)?,
        done: st.done.get_ref().clone(),
        exit_code: json_pointer(&st.exit_code, "task.status.exit_code", fail)?,
        logs,
        lines,
        stop: optional(&raw.stop, "task.stop", "POST")?,
        remove: optional(&raw.remove, "task.remove", "DELETE")?,
        output_hint: None,
    })
}

fn task_logs(
    raw: &RawTaskLogs,
    fail: Fail<'_>,
) -> Result<(HttpRequest, Option<String>), ConfigError> {
    let request = request(
        &RawRequest {
            method: raw.method.clone(),
            url: raw.url.clone(),
            body: None,
        },
        "task.logs",
        "GET",
        fail,
    )?;
    let lines = match &raw.lines {
        Some(p) => Some(json_pointer(p, "task.logs.lines", fail)?),
        None => None,
    };
    Ok((request, lines))
}

/// The fly-machines preset's release tasks, following Fly.io's Machines API reference
/// (docs/http-runtime.md names each endpoint):
///
/// - start: `POST /v1/apps/{app}/machines`: a new Machine in the tenant's app with the
///   release's image, `init.cmd` = the task's command, the instance Machine's env with the
///   instance's env and secrets over it, its region and size, `auto_destroy: true` and
///   `restart: {"policy": "no"}`;
/// - wait: `GET /v1/apps/{app}/machines/{id}/wait?instance_id=…&state=stopped&timeout=…`
///   (`instance_id` is required to wait for `stopped`), sent again until the timeout;
/// - status: `GET /v1/apps/{app}/machines/{id}`: `state`, and the exit code in the newest
///   `exit` event's `request.exit_event.exit_code`;
/// - stop: `POST /v1/apps/{app}/machines/{id}/stop` at the timeout;
/// - remove: `DELETE /v1/apps/{app}/machines/{id}?force=true` (gone already: fine).
///
/// Fly's Machines API has no endpoint for a Machine's output: `logs` stays unset unless
/// written, and the output says where to look instead.
fn fly_task(api: &str) -> HttpTask {
    let machines = format!("{api}/v1/apps/{{{{ platform_app }}}}/machines");
    let machine = format!("{machines}/{{{{ task_id }}}}");
    HttpTask {
        start: HttpRequest {
            method: "POST".into(),
            url: machines,
            body: Some(
                r#"{"region": {{ current.region | default(none) }}, "config": {"image": {{ image_ref }}, "init": {"cmd": {{ task_command }}}, "env": {{ (current.config.env | default({})) | merge(env) }}, "guest": {{ current.config.guest | default(none) }}, "auto_destroy": true, "restart": {"policy": "no"}, "metadata": {"hoist_task": {{ task_name }}, "hoist_release": {{ version }}, "hoist_instance": {{ name }}}}}"#
                    .into(),
            ),
        },
        id: "/id".into(),
        instance: Some("/instance_id".into()),
        wait: Some(HttpRequest {
            method: "GET".into(),
            url: format!(
                "{machine}/wait?instance_id={{{{ task_instance }}}}&state=stopped&timeout={{{{ wait_seconds }}}}"
            ),
            body: None,
        }),
        status: HttpRequest {
            method: "GET".into(),
            url: machine.clone(),
            body: None,
        },
        state: "/state".into(),
        done: vec!["stopped".into(), "destroyed".into(), "failed".into()],
        exit_code: "/events/*/request/exit_event/exit_code".into(),
        logs: None,
        lines: None,
        stop: Some(HttpRequest {
            method: "POST".into(),
            url: format!("{machine}/stop"),
            body: None,
        }),
        remove: Some(HttpRequest {
            method: "DELETE".into(),
            url: format!("{machine}?force=true"),
            body: None,
        }),
        output_hint: Some("fly logs -a {{ platform_app }} -i {{ task_id }}".into()),
    }
}

/// The fly-machines preset: deploy, status, wait and fields, following Fly.io's Machines
/// API reference (docs/http-runtime.md names each endpoint).
///
/// - status: `GET /v1/apps/{app}/machines/{id}`: the Machine, with `state`,
///   `config.image`, `config.metadata`, `image_ref.digest` and `checks`;
/// - deploy: `POST /v1/apps/{app}/machines/{id}` with `{"config": …}`, the Machine's whole
///   config (an update replaces it) with `image` and hoist's metadata changed;
/// - wait: `GET /v1/apps/{app}/machines/{id}/wait?state=started&timeout=60`.
fn fly_machines(api: &str, machine: &str) -> (HttpRequest, HttpRequest, HttpRequest, HttpFields) {
    let machine_url = format!("{api}/v1/apps/{{{{ platform_app }}}}/machines/{machine}");
    let deploy = HttpRequest {
        method: "POST".into(),
        url: machine_url.clone(),
        body: Some(
            r#"{"config": {{ current.config | merge({"image": image_ref, "metadata": {"hoist_release": version, "hoist_image_id": image_id, "hoist_spec": spec}}) }}}"#
                .into(),
        ),
    };
    let status = HttpRequest {
        method: "GET".into(),
        url: machine_url.clone(),
        body: None,
    };
    let wait = HttpRequest {
        method: "GET".into(),
        url: format!("{machine_url}/wait?state=started&timeout=60"),
        body: None,
    };
    let fields = HttpFields {
        image: "/config/image".into(),
        digest: Some("/image_ref/digest".into()),
        release: Some("/config/metadata/hoist_release".into()),
        image_id: Some("/config/metadata/hoist_image_id".into()),
        spec: Some("/config/metadata/hoist_spec".into()),
        state: Some("/state".into()),
        running: vec!["started".into()],
        failed: vec!["failed".into(), "destroyed".into()],
        healthy: Some("/checks".into()),
        failure: None,
    };
    (deploy, status, wait, fields)
}

fn request(
    raw: &RawRequest,
    key: &str,
    default_method: &str,
    fail: Fail<'_>,
) -> Result<HttpRequest, ConfigError> {
    let method = match &raw.method {
        Some(m) => {
            let upper = m.get_ref().to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&upper.as_str()) {
                return Err(fail(
                    m.span(),
                    &format!("{key}.method"),
                    format!("`{}` is not a method hoist sends", m.get_ref()),
                    "use GET, POST, PUT, PATCH or DELETE".into(),
                ));
            }
            upper
        }
        None => default_method.to_string(),
    };
    let url = base_url(&raw.url, &format!("{key}.url"), fail)?;
    if let Some(body) = &raw.body
        && method == "GET"
    {
        return Err(fail(
            body.span(),
            &format!("{key}.body"),
            "a GET request carries no body".into(),
            "remove `body`, or set method = \"POST\" (or PUT, PATCH)".into(),
        ));
    }
    Ok(HttpRequest {
        method,
        url,
        body: raw.body.as_ref().map(|b| b.get_ref().clone()),
    })
}

fn base_url(url: &Spanned<String>, key: &str, fail: Fail<'_>) -> Result<String, ConfigError> {
    let text = url.get_ref().trim();
    if !(text.starts_with("https://") || text.starts_with("http://")) {
        return Err(fail(
            url.span(),
            key,
            format!("`{text}` is not an http(s) URL"),
            "write it like \"https://api.example.com/v1/apps/{{ tenant }}\"".into(),
        ));
    }
    if text.contains('@') && text.split('/').nth(2).is_some_and(|h| h.contains('@')) {
        return Err(fail(
            url.span(),
            key,
            "a URL with credentials in it would be committed with hoist.toml".into(),
            "remove the user:password@ part and use `token`".into(),
        ));
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn json_pointer(p: &Spanned<String>, key: &str, fail: Fail<'_>) -> Result<String, ConfigError> {
    let text = p.get_ref();
    if !text.is_empty() && !text.starts_with('/') {
        return Err(fail(
            p.span(),
            key,
            format!("`{text}` is not a JSON pointer"),
            "write a JSON pointer (RFC 6901) into the status answer, e.g. \"/config/image\" or \"/checks/0/status\"".into(),
        ));
    }
    Ok(text.clone())
}

fn header_name(h: &Spanned<String>, key: &str, fail: Fail<'_>) -> Result<String, ConfigError> {
    if is_token(h.get_ref()) {
        Ok(h.get_ref().clone())
    } else {
        Err(fail(
            h.span(),
            key,
            format!("`{}` is not a header name", h.get_ref()),
            "use letters, digits and `-`, e.g. \"X-Api-Key\"".into(),
        ))
    }
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_!#$%&'*+.^`|~".contains(c))
}
