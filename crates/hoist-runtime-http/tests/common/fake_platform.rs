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
//!   `{"image"}`; and, for one-off runs (the task Machines below), `GET
//!   /api/apps/{app}/runs/{id}/logs` answering `{"entries": [{"message"}]}`: what the run
//!   printed, once it has ended (none before).
//!
//! Release tasks use Fly's one-off Machines (same reference): `POST /v1/apps/{app}/machines`
//! with `{"config": …}` creates and boots a Machine (`created`, then `started`); `GET
//! …/machines/{id}/wait?instance_id=…&state=stopped&timeout=N` blocks until it stopped or N
//! seconds passed (408), and needs `instance_id` for `stopped`; `POST …/machines/{id}/stop`
//! stops it; `DELETE …/machines/{id}?force=true` destroys it (a started one only with
//! `force`); a Machine read shows its `events`, newest first, an `exit` event carrying
//! `request.exit_event` whose `exit_code` is left out when 0 (as Fly's Go types do). With
//! `auto_destroy` a stopped Machine is destroyed, and stays readable as `destroyed`. Fly
//! keeps no output a client can read, and neither does the fake's Fly API (the generic
//! API's logs read above is how a test gives a task run output).
//!
//! THE FAKE DOES NOT RUN IMAGES: it runs a task Machine's `init.cmd` (or `init.exec`) with
//! a tiny interpreter of `sh -c` scripts (`echo` with `$VAR` from the Machine's `env`,
//! `sleep N` by the wall clock, `exit N`, `true`, `false`; anything else exits 127), and keeps
//! what it printed for the test to read ([`FakePlatform::task_machines`]).
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
    /// A one-off Machine's run of its command; `None` for an app's Machines.
    run: Option<Run>,
}

/// What a one-off Machine's command does, decided when it is created.
#[derive(Debug, Clone)]
pub struct Run {
    /// When its process exits on its own (the `sleep`s of its script).
    pub ends_at: Instant,
    pub exit_code: i64,
    /// What it printed, for the test: Fly keeps no output a client reads.
    pub output: Vec<String>,
}

/// A one-off Machine as the test sees it.
#[derive(Debug, Clone)]
pub struct TaskMachine {
    pub app: String,
    pub id: String,
    /// The create request's body.
    pub created_with: Value,
    pub state: String,
    pub output: Vec<String>,
    pub exit_code: i64,
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
        Self::start_in(scenario, PORTS).await
    }

    /// Like [`FakePlatform::start`], on the first free port of `ports` (a suite's range).
    pub async fn start_in(
        scenario: Scenario,
        ports: std::ops::RangeInclusive<u16>,
    ) -> FakePlatform {
        let mut bound = None;
        for port in ports.clone() {
            if let Ok(listener) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
            {
                bound = Some((port, listener));
                break;
            }
        }
        let (port, listener) = bound.unwrap_or_else(|| panic!("a free port in {ports:?}"));
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
            Machine {
                object,
                steps: 0,
                run: None,
            },
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
            Machine {
                object,
                steps: 0,
                run: None,
            },
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

    /// Changes which image's deploys fail from now on.
    pub fn set_fail_image(&self, image: Option<&str>) {
        self.state.lock().unwrap().scenario.fail_image = image.map(str::to_string);
    }

    /// Every one-off Machine created, in the order created.
    pub fn task_machines(&self) -> Vec<TaskMachine> {
        let state = self.state.lock().unwrap();
        let mut found: Vec<(u64, TaskMachine)> = state
            .machines
            .iter()
            .filter_map(|((app, id), m)| {
                let run = m.run.as_ref()?;
                Some((
                    m.object["hoist_fake_order"].as_u64().unwrap_or(0),
                    TaskMachine {
                        app: app.clone(),
                        id: id.clone(),
                        created_with: m.object["hoist_fake_created_with"].clone(),
                        state: m.object["state"].as_str().unwrap_or("").to_string(),
                        output: run.output.clone(),
                        exit_code: run.exit_code,
                    },
                ))
            })
            .collect();
        found.sort_by_key(|(order, _)| *order);
        found.into_iter().map(|(_, m)| m).collect()
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

async fn handle(shared: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
    // Fly's wait for `stopped` blocks until the Machine stops or its timeout passes.
    if let (&Method::GET, ["v1", "apps", app, "machines", id, "wait"]) = (
        &method,
        path.trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice(),
    ) && query_param(&query, "state").as_deref() == Some("stopped")
    {
        let timeout = query_param(&query, "timeout")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(60)
            .min(60);
        let until = {
            let state = shared.lock().unwrap();
            state
                .machines
                .get(&(app.to_string(), id.to_string()))
                .and_then(|m| m.run.as_ref())
                .map(|r| {
                    r.ends_at
                        .min(Instant::now() + std::time::Duration::from_secs(timeout))
                })
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
    let mut state = shared.lock().unwrap();
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
        // ---- The generic platform's output of a one-off run ----
        (Method::GET, ["api", "apps", app, "runs", id, "logs"]) => {
            match state.machines.get(&(app.to_string(), id.to_string())) {
                Some(Machine { run: Some(run), .. }) => {
                    let ended = Instant::now() >= run.ends_at;
                    let entries: Vec<Value> = run
                        .output
                        .iter()
                        .filter(|_| ended)
                        .map(|line| json!({"message": line}))
                        .collect();
                    respond(200, json!({ "entries": entries }))
                }
                _ => error(404, "run not found"),
            }
        }
        // ---- Fly.io Machines ----
        (Method::GET, ["v1", "apps", app, "machines", id]) => {
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    step_any(m, &scenario);
                    respond(200, public(&m.object))
                }
                None => error(404, "machine not found"),
            }
        }
        (Method::POST, ["v1", "apps", app, "machines"]) => {
            let Some(config) = body.get("config").filter(|c| c.is_object()).cloned() else {
                return error(400, "config is required");
            };
            if config.get("image").and_then(Value::as_str).is_none() {
                return error(400, "config.image is required");
            }
            let command: Vec<String> = config["init"]["exec"]
                .as_array()
                .or(config["init"]["cmd"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let env: BTreeMap<String, String> = config["env"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let script = shell(&command, &env);
            state.instance_ids += 1;
            let order = state.instance_ids;
            let id = format!("e28{order:011x}");
            let instance_id = format!("01J{order:022}");
            let image = config["image"].as_str().unwrap_or("").to_string();
            let object = json!({
                "id": id,
                "name": format!("{app}-task-{order}"),
                "state": "created",
                "region": body.get("region").cloned().filter(|r| r.is_string()).unwrap_or(json!("ams")),
                "instance_id": instance_id,
                "private_ip": "fdaa:0:1::9",
                "config": config,
                "image_ref": image_ref(&image),
                "events": [{"type": "launch", "status": "created", "source": "user",
                            "timestamp": epoch_ms()}],
                "checks": [],
                "created_at": "2026-12-06T07:00:00Z",
                "updated_at": "2026-12-06T07:00:00Z",
                "hoist_fake_order": order,
                "hoist_fake_created_with": body.clone(),
            });
            let answer = public(&object);
            state.machines.insert(
                (app.to_string(), id),
                Machine {
                    object,
                    steps: 0,
                    run: Some(Run {
                        ends_at: Instant::now() + script.duration,
                        exit_code: script.exit_code,
                        output: script.output,
                    }),
                },
            );
            respond(200, answer)
        }
        (Method::POST, ["v1", "apps", app, "machines", id, "stop"]) => {
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    step_any(m, &scenario);
                    if m.object["state"] == "started" || m.object["state"] == "created" {
                        // Stopped by request: SIGINT, no exit code of its own.
                        push_event(
                            m,
                            json!({"type": "exit", "status": "stopped", "source": "flyd",
                                   "request": {"exit_event": {"requested_stop": true, "signal": 2,
                                                              "exited_at": "2026-12-06T07:00:02Z"}}}),
                        );
                        m.object["state"] = json!("stopped");
                    }
                    respond(200, json!({"ok": true}))
                }
                None => error(404, "machine not found"),
            }
        }
        (Method::DELETE, ["v1", "apps", app, "machines", id]) => {
            let force = query_param(&query, "force").as_deref() == Some("true");
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) if m.object["state"] == "destroyed" => error(404, "machine not found"),
                Some(m) if m.object["state"] == "started" && !force => error(
                    412,
                    "machine is still running; stop it first or use force=true",
                ),
                Some(m) => {
                    destroy(m);
                    respond(200, json!({"ok": true}))
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
            if wanted == "stopped" && query_param(&query, "instance_id").is_none() {
                return error(
                    400,
                    "instance_id is required when waiting for the stopped state",
                );
            }
            match state.machines.get_mut(&(app.to_string(), id.to_string())) {
                Some(m) => {
                    step_any(m, &scenario);
                    let past_stopped = wanted == "stopped" && m.object["state"] == "destroyed";
                    if m.object["state"] == json!(wanted) || past_stopped {
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

/// What a read of a Machine shows: its object without the fake's own notes.
fn public(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.retain(|k, _| !k.starts_with("hoist_fake_"));
    }
    object
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Adds an event, newest first as Fly lists them.
fn push_event(m: &mut Machine, mut event: Value) {
    event["timestamp"] = json!(epoch_ms());
    if let Some(events) = m.object["events"].as_array_mut() {
        events.insert(0, event);
    }
}

fn destroy(m: &mut Machine) {
    push_event(
        m,
        json!({"type": "destroy", "status": "destroyed", "source": "user"}),
    );
    m.object["state"] = json!("destroyed");
}

/// A read moves an app's Machine one step of its update, and a one-off Machine along its
/// run by the clock: booted, exited (its exit event), then destroyed with `auto_destroy`.
fn step_any(m: &mut Machine, scenario: &Scenario) {
    let Some(run) = m.run.clone() else {
        step_machine(m, scenario);
        return;
    };
    let state = m.object["state"].as_str().unwrap_or("").to_string();
    match state.as_str() {
        "created" => {
            push_event(
                m,
                json!({"type": "start", "status": "started", "source": "flyd"}),
            );
            m.object["state"] = json!("started");
            if Instant::now() >= run.ends_at {
                step_any(m, scenario);
            }
        }
        "started" if Instant::now() >= run.ends_at => {
            let mut exit_event =
                json!({"requested_stop": false, "exited_at": "2026-12-06T07:00:01Z"});
            // Fly's Go types leave a zero exit code out.
            if run.exit_code != 0 {
                exit_event["exit_code"] = json!(run.exit_code);
            }
            push_event(
                m,
                json!({"type": "exit", "status": "stopped", "source": "flyd",
                       "request": {"exit_event": exit_event}}),
            );
            m.object["state"] = json!("stopped");
        }
        "stopped" if m.object["config"]["auto_destroy"] == json!(true) => destroy(m),
        _ => {}
    }
}

/// What a script does: its output, its exit code, how long its `sleep`s take.
struct Script {
    output: Vec<String>,
    exit_code: i64,
    duration: std::time::Duration,
}

/// Runs `argv` in the fake's tiny shell: `sh -c SCRIPT` (statements split on `;`, `&&`
/// stopping at a failure) or one program; `echo` (with `$VAR` and `${VAR}` from `env`),
/// `sleep N`, `exit N`, `true`, `false`; anything else is not found (127).
fn shell(argv: &[String], env: &BTreeMap<String, String>) -> Script {
    let mut script = Script {
        output: Vec::new(),
        exit_code: 0,
        duration: std::time::Duration::ZERO,
    };
    let text = match argv {
        [sh, flag, text, ..] if sh.ends_with("sh") && flag == "-c" => text.clone(),
        [] => {
            script.output.push("no command".into());
            script.exit_code = 127;
            return script;
        }
        words => words.join(" "),
    };
    let mut skip_rest_of_chain = false;
    for part in text.split(';') {
        for (i, statement) in part.split("&&").enumerate() {
            if i > 0 && script.exit_code != 0 {
                skip_rest_of_chain = true;
            }
            if skip_rest_of_chain {
                continue;
            }
            let words: Vec<String> = statement
                .split_whitespace()
                .map(|w| expand(w, env))
                .collect();
            let Some((program, args)) = words.split_first() else {
                continue;
            };
            match program.as_str() {
                "echo" => {
                    script.output.push(args.join(" "));
                    script.exit_code = 0;
                }
                "sleep" => {
                    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0.0);
                    script.duration += std::time::Duration::from_secs_f64(secs);
                    script.exit_code = 0;
                }
                "exit" => {
                    script.exit_code = args.first().and_then(|a| a.parse().ok()).unwrap_or(0);
                    return script;
                }
                "true" => script.exit_code = 0,
                "false" => script.exit_code = 1,
                other => {
                    script.output.push(format!("sh: {other}: not found"));
                    script.exit_code = 127;
                }
            }
        }
        skip_rest_of_chain = false;
    }
    script
}

/// `$VAR` and `${VAR}` in one word, from `env` (unset: empty); quotes dropped.
fn expand(word: &str, env: &BTreeMap<String, String>) -> String {
    let word = word.replace(['"', '\''], "");
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced && chars.peek() == Some(&'}') {
            chars.next();
        }
        out.push_str(env.get(&name).map(String::as_str).unwrap_or(""));
    }
    out
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
