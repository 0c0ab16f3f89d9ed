//! A FAKE hosting platform, in the test process: no real platform can be reached from this
//! machine. It serves two APIs over one store of instances:
//!
//! - **Fly.io's Machines API**, request by request as its published reference describes
//!   (https://fly.io/docs/machines/api/machines-resource/):
//!   `GET /v1/apps/{app}/machines/{id}` answers the Machine object (`id`, `state`,
//!   `instance_id`, `config` with `image` and `metadata`, `image_ref` with `digest`,
//!   `checks`); `POST /v1/apps/{app}/machines/{id}` with `{"config": …}` replaces the
//!   Machine's config (an update replaces the whole config), gives it a new `instance_id`
//!   and moves it through `replacing` to `started`; `GET
//!   /v1/apps/{app}/machines/{id}/wait?state=started&timeout=N` answers `{"ok": true}` once
//!   the Machine is in that state, or 408 (`deadline_exceeded`) when it is not; errors
//!   are `{"error": "…"}`; every request needs `Authorization: Bearer <token>`.
//! - **A generic platform**, of the shape hoist's generic `kind = "http"` form is written
//!   for: `POST /api/apps/{tenant}/deploys` with `{"image", "metadata"}`, `GET
//!   /api/apps/{tenant}` answering `{"image", "digest", "state", "healthy", "error",
//!   "metadata"}` (`deploying`, then `running`), `POST /api/apps/{tenant}/rollback` with
//!   `{"image"}`.
//!
//! Each read of an instance that is changing moves it one step, as a platform that pulls
//! and starts an image would. A digest is given to each image reference (the one in the
//! reference, else a made-up one). [`Scenario`] makes one image fail, one never become
//! healthy, the first requests answer 500 or 429, or every request 401.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The fake takes the first free port of this suite's range (20550-20589; 20590-20599 are
/// the CLI tests' instance ports).
const PORTS: std::ops::RangeInclusive<u16> = 20550..=20589;
/// The token the fake demands.
pub const TOKEN: &str = "hoist-http-test-token-9f4e1b7c";

/// How the fake misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Deploys of a reference containing this text fail: the instance ends `failed` (Fly)
    /// or reports an `error` (generic).
    pub fail_image: Option<String>,
    /// Instances running a reference containing this text never pass their health checks.
    pub unhealthy_image: Option<String>,
    /// The first this many requests are answered 500.
    pub server_errors: u32,
    /// The first request is answered 429 with `Retry-After: 1`.
    pub rate_limit_first: bool,
    /// Every request is answered 401, the body echoing the Authorization header it got
    /// (as a careless platform might), so a test sees that hoist never repeats it.
    pub unauthorized: bool,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub authorization: String,
    pub body: Value,
    pub at: Instant,
}

struct Machine {
    /// The Fly Machine object (or the generic app) as stored.
    object: Value,
    /// Reads left before the next step of a change.
    steps: u32,
}

struct State {
    scenario: Scenario,
    /// By (app, id) for Fly, by ("api", tenant) for the generic platform.
    machines: BTreeMap<(String, String), Machine>,
    requests: u32,
    instance_ids: u32,
    seen: Vec<Seen>,
}

/// The running fake; stops when dropped.
pub struct FakePlatform {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The digest the fake's registry gives `reference`.
pub fn digest_of(reference: &str) -> String {
    if let Some((_, digest)) = reference.split_once('@') {
        return digest.to_string();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in reference.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("sha256:{hash:016x}{hash:016x}{hash:016x}{hash:016x}")
}

impl FakePlatform {
    pub async fn start(scenario: Scenario) -> FakePlatform {
        let mut bound = None;
        for port in PORTS {
            if let Ok(listener) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
            {
                bound = Some((port, listener));
                break;
            }
        }
        let (port, listener) = bound.expect("a free port in 20550-20589");
        let state = Arc::new(Mutex::new(State {
            scenario,
            machines: BTreeMap::new(),
            requests: 0,
            instance_ids: 0,
            seen: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakePlatform { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A started Fly Machine `id` of app `app` running `image`, with one passing check.
    pub fn add_machine(&self, app: &str, id: &str, image: &str) {
        let object = json!({
            "id": id,
            "name": format!("{app}-{id}"),
            "state": "started",
            "region": "ams",
            "instance_id": "01H0000000000000000000000",
            "private_ip": "fdaa:0:1::2",
            "config": {
                "image": image,
                "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
                "services": [{"protocol": "tcp", "internal_port": 8080,
                              "ports": [{"port": 443, "handlers": ["tls", "http"]}]}],
                "env": {"APP_ENV": "production"},
                "metadata": {}
            },
            "image_ref": image_ref(image),
            "checks": [{"name": "servicecheck-00-http-8080", "status": "passing", "output": "OK"}],
            "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-01T10:00:00Z"
        });
        self.state.lock().unwrap().machines.insert(
            (app.to_string(), id.to_string()),
            Machine { object, steps: 0 },
        );
    }

    /// A running app of the generic platform for `tenant`, running `image`.
    pub fn add_app(&self, tenant: &str, image: &str) {
        let object = json!({
            "image": image, "digest": digest_of(image), "state": "running",
            "healthy": true, "error": null, "metadata": {}
        });
        self.state.lock().unwrap().machines.insert(
            ("api".to_string(), tenant.to_string()),
            Machine { object, steps: 0 },
        );
    }

    /// The Machine (or generic app) as stored now.
    pub fn machine(&self, app: &str, id: &str) -> Value {
        self.state.lock().unwrap().machines[&(app.to_string(), id.to_string())]
            .object
            .clone()
    }

    pub fn app(&self, tenant: &str) -> Value {
        self.machine("api", tenant)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn image_ref(image: &str) -> Value {
    let (name, _) = image.split_once('@').unwrap_or((image, ""));
    let (repository, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let (registry, repository) = repository
        .split_once('/')
        .unwrap_or(("docker-hub-mirror.fly.io", repository));
    json!({"registry": registry, "repository": repository, "tag": tag,
           "digest": digest_of(image), "labels": {}})
}

fn respond(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn error(status: u16, message: &str) -> Response<Full<Bytes>> {
    respond(status, json!({"error": message}))
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        method: method.to_string(),
        path_and_query: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
        authorization: authorization.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    state.requests += 1;
    if state.scenario.unauthorized {
        return error(401, &format!("unauthorized: bad header {authorization:?}"));
    }
    if authorization != format!("Bearer {TOKEN}") {
        return error(401, "unauthorized");
    }
    if state.requests <= state.scenario.server_errors {
        return error(500, "internal error, please retry");
    }
    if state.scenario.rate_limit_first && state.requests == 1 {
        return Response::builder()
            .status(429)
            .header("retry-after", "1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(r#"{"error":"rate limited"}"#)))
            .unwrap();
    }
    let scenario = state.scenario.clone();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        // ---- Fly.io Machines ----
        (Method::GET, ["v1", "apps", app, "machines", id]) => {
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    step_machine(m, &scenario);
                    respond(200, m.object.clone())
                }
                None => error(404, "machine not found"),
            }
        }
        (Method::POST, ["v1", "apps", app, "machines", id]) => {
            let Some(config) = body.get("config").filter(|c| c.is_object()).cloned() else {
                return error(400, "config is required");
            };
            let Some(image) = config
                .get("image")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                return error(400, "config.image is required");
            };
            state.instance_ids += 1;
            let instance_id = format!("01H{:022}", state.instance_ids);
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    m.object["config"] = config;
                    m.object["image_ref"] = image_ref(&image);
                    m.object["instance_id"] = json!(instance_id);
                    m.object["state"] = json!("replacing");
                    m.object["checks"] = json!([]);
                    m.steps = 2;
                    respond(200, m.object.clone())
                }
                None => error(404, "machine not found"),
            }
        }
        (Method::GET, ["v1", "apps", app, "machines", id, "wait"]) => {
            let wanted = query_param(&query, "state").unwrap_or_else(|| "started".into());
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    step_machine(m, &scenario);
                    if m.object["state"] == json!(wanted) {
                        respond(200, json!({"ok": true}))
                    } else {
                        error(408, "deadline_exceeded: machine did not reach the state")
                    }
                }
                None => error(404, "machine not found"),
            }
        }
        // ---- the generic platform ----
        (Method::GET, ["api", "apps", tenant]) => {
            match state
                .machines
                .get_mut(&("api".to_string(), tenant.to_string()))
            {
                Some(m) => {
                    step_app(m, &scenario);
                    respond(200, m.object.clone())
                }
                None => error(404, "no such app"),
            }
        }
        (Method::POST, ["api", "apps", tenant, "deploys" | "rollback"]) => {
            let Some(image) = body
                .get("image")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                return error(422, "image is required");
            };
            match state
                .machines
                .get_mut(&("api".to_string(), tenant.to_string()))
            {
                Some(m) => {
                    m.object["image"] = json!(image);
                    m.object["digest"] = Value::Null;
                    m.object["state"] = json!("deploying");
                    m.object["healthy"] = json!(false);
                    m.object["error"] = Value::Null;
                    if let Some(meta) = body.get("metadata") {
                        m.object["metadata"] = meta.clone();
                    }
                    m.steps = 2;
                    respond(202, json!({"accepted": true}))
                }
                None => error(404, "no such app"),
            }
        }
        _ => error(404, "not found"),
    }
}

/// One step of a Fly Machine's update: `replacing` → `started` (checks passing, or
/// `failed` for the failing image).
fn step_machine(m: &mut Machine, scenario: &Scenario) {
    if m.steps == 0 {
        return;
    }
    m.steps -= 1;
    if m.steps > 0 {
        return;
    }
    let image = m.object["config"]["image"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if scenario
        .fail_image
        .as_deref()
        .is_some_and(|f| image.contains(f))
    {
        m.object["state"] = json!("failed");
        return;
    }
    m.object["state"] = json!("started");
    let status = if scenario
        .unhealthy_image
        .as_deref()
        .is_some_and(|u| image.contains(u))
    {
        "critical"
    } else {
        "passing"
    };
    m.object["checks"] =
        json!([{"name": "servicecheck-00-http-8080", "status": status, "output": ""}]);
}

/// One step of a generic deploy: `deploying` → `running` with its digest (healthy, or
/// not for the unhealthy image), or an `error` for the failing one.
fn step_app(m: &mut Machine, scenario: &Scenario) {
    if m.steps == 0 {
        return;
    }
    m.steps -= 1;
    if m.steps > 0 {
        return;
    }
    let image = m.object["image"].as_str().unwrap_or("").to_string();
    if scenario
        .fail_image
        .as_deref()
        .is_some_and(|f| image.contains(f))
    {
        m.object["state"] = json!("crashed");
        m.object["error"] = json!("the release exited with code 1");
        return;
    }
    m.object["state"] = json!("running");
    m.object["digest"] = json!(digest_of(&image));
    m.object["healthy"] = json!(
        !scenario
            .unhealthy_image
            .as_deref()
            .is_some_and(|u| image.contains(u))
    );
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}
