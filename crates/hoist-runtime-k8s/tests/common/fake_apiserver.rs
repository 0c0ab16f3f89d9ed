//! A FAKE Kubernetes API server, in the test process: no real API server can run on this
//! machine. It answers the requests hoist's Kubernetes runtime makes, as the real one does
//! (paths, content types, `Status` objects for errors), and plays the Deployment
//! controller's part one step per read of the Deployment:
//!
//! - a strategic-merge patch (`application/strategic-merge-patch+json`) that changes the
//!   spec bumps `metadata.generation`; one that changes the pod template makes a new
//!   ReplicaSet (a `pod-template-hash`, the next `deployment.kubernetes.io/revision`), or
//!   revives the old one whose template it is, as the controller does on a rollback;
//! - each GET of the Deployment then moves its status one step: generation observed, new
//!   replicas created, updated, old ones scaled down, available;
//! - ReplicaSets and pods are listed by label selector, pods labelled with their
//!   ReplicaSet's `pod-template-hash` and reporting `imageID` as a kubelet does
//!   (`docker.io/REPO@sha256:…`);
//! - `batch/v1` Jobs (release tasks): created, read, deleted; the Job controller's and
//!   kubelet's part is played by [`job_controller`], which makes one pod per Job and
//!   DECIDES ITS OUTCOME FROM THE COMMAND instead of running an image: a `sh -c` script of
//!   `echo`, `sleep N`, `exit N`, `true` and `false` statements (`;`-separated, `$VAR` from
//!   the container's env). A pod's log (`pods/NAME/log`) is what the `echo`s printed;
//!   `activeDeadlineSeconds` is enforced against the wall clock, `backoffLimit: 0` fails
//!   the Job on the first failed pod, and a delete with `propagationPolicy: Background`
//!   removes the Job's pods (without one, they are orphaned, as the API's default is);
//! - [`Scenario`] makes one image stall until its progress deadline, makes one image's
//!   pods run another digest, answers the first patch 409, or every request 401/403.
//!
//! It checks the bearer token of the kubeconfig the test wrote, records every request,
//! and keeps its objects as JSON.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The Kubernetes suites' port range (20500-20549); the fake takes the first free one.
/// Another suite passes its own to [`FakeApiServer::start_in`].
const PORTS: std::ops::RangeInclusive<u16> = 20500..=20549;
/// The token the kubeconfig carries and the fake demands.
pub const TOKEN: &str = "hoist-k8s-test-token-5c1e0a";

/// How the fake misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Rollouts to this image never progress; after a few reads the Deployment reports
    /// `Progressing=False`, reason `ProgressDeadlineExceeded`.
    pub stall_image: Option<String>,
    /// Pods of this image report this other digest as their `imageID`.
    pub wrong_digest_for: Option<(String, String)>,
    /// The first PATCH is answered 409 Conflict (someone else wrote the object).
    pub conflict_first_patch: bool,
    /// Every request is answered 401.
    pub unauthorized: bool,
    /// Every PATCH is answered 403.
    pub forbidden_patch: bool,
}

/// One request as the fake saw it: `PATCH /apis/... application/strategic-merge-patch+json`.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub content_type: String,
    pub body: Value,
}

struct ReplicaSetState {
    hash: String,
    revision: u64,
    template: Value,
    /// Pods it has now.
    replicas: i64,
    /// Of those, ready (and available: the fake has no minReadySeconds).
    ready: i64,
}

struct DeploymentState {
    object: Value,
    observed: i64,
    sets: Vec<ReplicaSetState>,
    /// Reads left before the controller takes its next step.
    step: u32,
    stalled_reads: u32,
}

/// A Job, with the pod the fake's Job controller made for it.
pub struct JobRecord {
    object: Value,
    created: std::time::Instant,
    /// Reads of the Job so far: its pod starts on the first.
    reads: u32,
    /// What the command does, decided once at creation.
    plan: job_controller::Plan,
    /// Its pod, until deleted (with the Job, in the background).
    pod: Option<Value>,
}

struct State {
    scenario: Scenario,
    deployments: BTreeMap<(String, String), DeploymentState>,
    jobs: BTreeMap<(String, String), JobRecord>,
    /// Pods whose Job was deleted without propagation: orphans, as on a real cluster.
    orphan_pods: Vec<Value>,
    /// `coordination.k8s.io/v1` Leases, as stored objects.
    leases: BTreeMap<(String, String), Value>,
    uids: u64,
    resource_version: u64,
    patches: u32,
    seen: Vec<Seen>,
}

/// The running fake; stops when dropped.
pub struct FakeApiServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    pub async fn start(scenario: Scenario) -> FakeApiServer {
        Self::start_in(scenario, PORTS).await
    }

    /// The fake on the first free port of `ports` (each suite has its own range).
    pub async fn start_in(
        scenario: Scenario,
        ports: std::ops::RangeInclusive<u16>,
    ) -> FakeApiServer {
        let range = format!("{ports:?}");
        let mut bound = None;
        for port in ports {
            if let Ok(listener) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
            {
                bound = Some((port, listener));
                break;
            }
        }
        let (port, listener) = bound.unwrap_or_else(|| panic!("no free port in {range}"));
        let state = Arc::new(Mutex::new(State {
            scenario,
            deployments: BTreeMap::new(),
            jobs: BTreeMap::new(),
            orphan_pods: Vec::new(),
            leases: BTreeMap::new(),
            uids: 0,
            resource_version: 1000,
            patches: 0,
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
        FakeApiServer { port, state, task }
    }

    /// A kubeconfig for this fake, with context `hoist-k8s-fake` and its bearer token.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: hoist-k8s-fake\n  context:\n    cluster: fake\n    user: ci\n    namespace: default\ncurrent-context: hoist-k8s-fake\nusers:\n- name: ci\n  user:\n    token: {TOKEN}\n",
            self.port
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Adds a Deployment that has rolled out `image` as revision 1 (`replicas` pods).
    pub fn add_deployment(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        image: &str,
        replicas: i64,
    ) {
        let mut state = self.state.lock().unwrap();
        state.resource_version += 1;
        let template = json!({
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": container, "image": image, "imagePullPolicy": "IfNotPresent"}]},
        });
        let object = json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": format!("uid-{namespace}-{name}"),
                "resourceVersion": state.resource_version.to_string(),
                "generation": 1,
                "labels": {"app": name},
                "annotations": {"deployment.kubernetes.io/revision": "1"},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": template,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "progressDeadlineSeconds": 600,
            },
        });
        let set = ReplicaSetState {
            hash: template_hash(&template),
            revision: 1,
            template,
            replicas,
            ready: replicas,
        };
        state.deployments.insert(
            (namespace.into(), name.into()),
            DeploymentState {
                object,
                observed: 1,
                sets: vec![set],
                step: 0,
                stalled_reads: 0,
            },
        );
    }

    /// The Deployment as the API would return it now (without moving it on).
    pub fn deployment(&self, namespace: &str, name: &str) -> Value {
        let state = self.state.lock().unwrap();
        let d = &state.deployments[&(namespace.to_string(), name.to_string())];
        render_deployment(d, &state.scenario)
    }

    /// The Lease `name` in `namespace`, if there is one.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .leases
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Sets the env of the Deployment's first container (what its pods, and so its task
    /// Jobs, get): `[{"name": "TENANT", "value": "north"}]`.
    pub fn set_env(&self, namespace: &str, name: &str, env: Value) {
        let mut state = self.state.lock().unwrap();
        let d = state
            .deployments
            .get_mut(&(namespace.to_string(), name.to_string()))
            .expect("the deployment");
        d.object["spec"]["template"]["spec"]["containers"][0]["env"] = env;
    }

    /// Changes which image's rollouts stall from now on.
    pub fn set_stall_image(&self, image: Option<String>) {
        self.state.lock().unwrap().scenario.stall_image = image;
    }

    /// Creates a Job as a client would (what a hoist killed mid-task leaves behind).
    pub fn add_job(&self, namespace: &str, job: Value) {
        let mut state = self.state.lock().unwrap();
        let response = create_job(&mut state, namespace, "application/json", &job);
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// The Jobs that exist now, by namespace and name.
    pub fn jobs(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().jobs.keys().cloned().collect()
    }

    /// Pods of Jobs that remain: a Job's own, and orphans of Jobs deleted without
    /// propagation.
    pub fn job_pods(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .jobs
            .values()
            .filter_map(|j| j.pod.clone())
            .chain(state.orphan_pods.iter().cloned())
            .collect()
    }

    /// The bodies of the Jobs hoist created, in order.
    pub fn created_jobs(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path_and_query.contains("/apis/batch/v1/"))
            .map(|s| s.body)
            .collect()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header("content-type");
    let authorization = header("authorization");
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
        content_type: content_type.clone(),
        body: body.clone(),
    });
    if state.scenario.unauthorized || authorization != format!("Bearer {TOKEN}") {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let selector = query_param(&query, "labelSelector").unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (Method::GET, ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            let scenario = state.scenario.clone();
            match state
                .deployments
                .get_mut(&(ns.to_string(), name.to_string()))
            {
                Some(d) => {
                    // What the controller had done by this read; it goes on afterwards.
                    let object = render_deployment(d, &scenario);
                    advance(d, &scenario);
                    ok(object)
                }
                None => not_found("deployments.apps", name),
            }
        }
        (Method::PATCH, ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            patch(&mut state, ns, name, &content_type, &query, &body)
        }
        (Method::GET, ["apis", "apps", "v1", "namespaces", ns, "deployments"]) => {
            ok(list_deployments(&state, Some(ns), &selector))
        }
        (Method::GET, ["apis", "apps", "v1", "deployments"]) => {
            ok(list_deployments(&state, None, &selector))
        }
        (Method::GET, ["apis", "apps", "v1", "namespaces", ns, "replicasets"]) => {
            let items: Vec<Value> = state
                .deployments
                .iter()
                .filter(|((n, _), _)| n == ns)
                .flat_map(|(_, d)| render_replica_sets(d))
                .filter(|rs| matches_selector(rs, &selector))
                .collect();
            ok(
                json!({"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": state.resource_version.to_string()}, "items": items}),
            )
        }
        (
            Method::POST,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
            ],
        ) => {
            let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
            let key = (ns.to_string(), name.clone());
            if state.leases.contains_key(&key) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("leases.coordination.k8s.io \"{name}\" already exists"),
                );
            }
            state.uids += 1;
            state.resource_version += 1;
            let mut lease = body.clone();
            lease["kind"] = json!("Lease");
            lease["apiVersion"] = json!("coordination.k8s.io/v1");
            lease["metadata"]["uid"] = json!(format!("lease-uid-{}", state.uids));
            lease["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
            lease["metadata"]["namespace"] = json!(ns);
            state.leases.insert(key, lease.clone());
            respond(StatusCode::CREATED, lease)
        }
        (
            Method::GET,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
            ],
        ) => {
            let items: Vec<Value> = state
                .leases
                .iter()
                .filter(|((n, _), _)| n == ns)
                .map(|(_, l)| l.clone())
                .collect();
            ok(
                json!({"kind": "LeaseList", "apiVersion": "coordination.k8s.io/v1", "metadata": {}, "items": items}),
            )
        }
        (
            Method::GET,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
                name,
            ],
        ) => match state.leases.get(&(ns.to_string(), name.to_string())) {
            Some(lease) => ok(lease.clone()),
            None => not_found("leases.coordination.k8s.io", name),
        },
        (
            Method::PATCH,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
                name,
            ],
        ) => {
            if content_type != "application/merge-patch+json" {
                return status(
                    415,
                    "UnsupportedMediaType",
                    "the fake takes merge patches of Leases",
                );
            }
            state.resource_version += 1;
            let rv = state.resource_version;
            let Some(lease) = state.leases.get_mut(&(ns.to_string(), name.to_string())) else {
                return not_found("leases.coordination.k8s.io", name);
            };
            if let Some(sent) = body["metadata"]["resourceVersion"].as_str()
                && Some(sent) != lease["metadata"]["resourceVersion"].as_str()
            {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
            }
            strategic_merge(lease, &body);
            lease["metadata"]["resourceVersion"] = json!(rv.to_string());
            ok(lease.clone())
        }
        (
            Method::DELETE,
            [
                "apis",
                "coordination.k8s.io",
                "v1",
                "namespaces",
                ns,
                "leases",
                name,
            ],
        ) => {
            let key = (ns.to_string(), name.to_string());
            let Some(lease) = state.leases.get(&key) else {
                return not_found("leases.coordination.k8s.io", name);
            };
            let uid = lease["metadata"]["uid"].as_str().unwrap_or("").to_string();
            if let Some(wanted) = body["preconditions"]["uid"].as_str()
                && wanted != uid
            {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"
                    ),
                );
            }
            state.leases.remove(&key);
            ok(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases", "uid": uid}}),
            )
        }
        (Method::POST, ["apis", "batch", "v1", "namespaces", ns, "jobs"]) => {
            create_job(&mut state, ns, &content_type, &body)
        }
        (Method::GET, ["apis", "batch", "v1", "namespaces", ns, "jobs", name]) => {
            match state.jobs.get_mut(&(ns.to_string(), name.to_string())) {
                Some(job) => {
                    job_controller::sync(job);
                    ok(job.object.clone())
                }
                None => not_found("jobs.batch", name),
            }
        }
        (Method::DELETE, ["apis", "batch", "v1", "namespaces", ns, "jobs", name]) => {
            let Some(mut job) = state.jobs.remove(&(ns.to_string(), name.to_string())) else {
                return not_found("jobs.batch", name);
            };
            // The REST API's default for Jobs orphans their pods; kubectl and hoist ask for
            // Background (the garbage collector deletes them).
            match body["propagationPolicy"].as_str() {
                Some("Background") | Some("Foreground") => {}
                _ => state.orphan_pods.extend(job.pod.take()),
            }
            let mut object = job.object;
            object["metadata"]["deletionTimestamp"] = json!("2026-12-06T00:00:00Z");
            ok(object)
        }
        (Method::GET, ["api", "v1", "namespaces", ns, "pods", pod, "log"]) => {
            let container = query_param(&query, "container").unwrap_or_default();
            let tail = query_param(&query, "tailLines").and_then(|t| t.parse::<usize>().ok());
            let Some(job) = state
                .jobs
                .values()
                .filter(|j| j.object["metadata"]["namespace"] == *ns)
                .find(|j| {
                    j.pod
                        .as_ref()
                        .is_some_and(|p| p["metadata"]["name"] == *pod)
                })
            else {
                return not_found("pods", pod);
            };
            let pod_container = job.object["spec"]["template"]["spec"]["containers"][0]["name"]
                .as_str()
                .unwrap_or("");
            if !container.is_empty() && container != pod_container {
                return status(
                    400,
                    "BadRequest",
                    &format!("container {container} is not valid for pod {pod}"),
                );
            }
            let lines = job_controller::log(job);
            let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
            let text: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from(text)))
                .unwrap()
        }
        (Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => {
            let scenario = state.scenario.clone();
            let items: Vec<Value> = state
                .deployments
                .iter()
                .filter(|((n, _), _)| n == ns)
                .flat_map(|(_, d)| render_pods(d, &scenario))
                .chain(
                    state
                        .jobs
                        .values()
                        .filter_map(|j| j.pod.clone())
                        .chain(state.orphan_pods.iter().cloned())
                        .filter(|p| p["metadata"]["namespace"] == *ns),
                )
                .filter(|p| matches_selector(p, &selector))
                .collect();
            ok(
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": state.resource_version.to_string()}, "items": items}),
            )
        }
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

fn create_job(
    state: &mut State,
    ns: &str,
    content_type: &str,
    body: &Value,
) -> Response<Full<Bytes>> {
    if content_type != "application/json" {
        return status(
            415,
            "UnsupportedMediaType",
            &format!("the fake takes Jobs as application/json; got {content_type}"),
        );
    }
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
    if let Err(why) = job_controller::validate(body) {
        return status(
            422,
            "Invalid",
            &format!("Job.batch \"{name}\" is invalid: {why}"),
        );
    }
    let key = (ns.to_string(), name.clone());
    if state.jobs.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("jobs.batch \"{name}\" already exists"),
        );
    }
    state.uids += 1;
    state.resource_version += 1;
    let mut object = body.clone();
    object["kind"] = json!("Job");
    object["apiVersion"] = json!("batch/v1");
    object["metadata"]["namespace"] = json!(ns);
    object["metadata"]["uid"] = json!(format!("job-uid-{}", state.uids));
    object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
    object["metadata"]["creationTimestamp"] = json!("2026-12-06T00:00:00Z");
    object["status"] = json!({});
    let plan = job_controller::plan(&object);
    state.jobs.insert(
        key,
        JobRecord {
            object: object.clone(),
            created: std::time::Instant::now(),
            reads: 0,
            plan,
            pod: None,
        },
    );
    respond(StatusCode::CREATED, object)
}

/// The Job controller's and the kubelet's part, for the fake's Jobs: one pod per Job,
/// whose outcome is decided from its command (no image runs).
pub mod job_controller {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::JobRecord;

    /// What a Job's command does.
    #[derive(Debug, Clone)]
    pub struct Plan {
        pub output: Vec<String>,
        pub exit_code: i64,
        pub runs_for: Duration,
    }

    /// What the real API server refuses of a Job that hoist could send.
    pub fn validate(job: &Value) -> Result<(), String> {
        let pod = &job["spec"]["template"]["spec"];
        match pod["restartPolicy"].as_str() {
            Some("Never") | Some("OnFailure") => {}
            other => {
                return Err(format!(
                    "spec.template.spec.restartPolicy: Unsupported value: {other:?}: supported values: \"OnFailure\", \"Never\""
                ));
            }
        }
        let name = job["metadata"]["name"].as_str().unwrap_or("");
        if name.is_empty() || name.len() > 63 {
            return Err(format!(
                "metadata.name: Invalid value: {name:?}: must be no more than 63 characters"
            ));
        }
        if pod["containers"].as_array().is_none_or(|c| c.is_empty()) {
            return Err("spec.template.spec.containers: Required value".into());
        }
        Ok(())
    }

    /// Reads the container's command as a tiny shell: `sh -c SCRIPT` with `;`-separated
    /// `echo WORDS`, `sleep N`, `exit N`, `true`, `false`; or one such statement as argv.
    pub fn plan(job: &Value) -> Plan {
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        let argv: Vec<String> = container["command"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(container["args"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let name = e["name"].as_str().unwrap_or("").to_string();
                let value = match e["value"].as_str() {
                    Some(v) => v.to_string(),
                    // The fake has no Secrets: it shows where the value would come from.
                    None => format!(
                        "<secret {}/{}>",
                        e["valueFrom"]["secretKeyRef"]["name"]
                            .as_str()
                            .unwrap_or("?"),
                        e["valueFrom"]["secretKeyRef"]["key"]
                            .as_str()
                            .unwrap_or("?")
                    ),
                };
                (name, value)
            })
            .collect();
        let script = match argv.as_slice() {
            [sh, c, script, ..] if sh == "sh" && c == "-c" => script.clone(),
            words => words.join(" "),
        };
        let mut plan = Plan {
            output: Vec::new(),
            exit_code: 0,
            runs_for: Duration::ZERO,
        };
        for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let expanded = expand(statement, &env);
            let (word, rest) = expanded.split_once(' ').unwrap_or((&expanded, ""));
            match word {
                "echo" => plan.output.push(rest.trim().trim_matches('"').to_string()),
                "sleep" => {
                    plan.runs_for += Duration::from_secs_f64(rest.trim().parse().unwrap_or(0.0))
                }
                "true" => {}
                "false" => {
                    plan.exit_code = 1;
                    return plan;
                }
                "exit" => {
                    plan.exit_code = rest.trim().parse().unwrap_or(0);
                    return plan;
                }
                other => {
                    plan.output.push(format!("sh: {other}: not found"));
                    plan.exit_code = 127;
                    return plan;
                }
            }
        }
        plan
    }

    fn expand(text: &str, env: &[(String, String)]) -> String {
        let mut out = text.to_string();
        let mut sorted: Vec<&(String, String)> = env.iter().collect();
        sorted.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (k, v) in sorted {
            out = out
                .replace(&format!("${{{k}}}"), v)
                .replace(&format!("${k}"), v);
        }
        out
    }

    /// The controller's view on a read: the pod starts on the first read; the Job ends
    /// once the command has run for its time, or fails at `activeDeadlineSeconds`
    /// (deleting its running pod), or when the pod failed and `backoffLimit` is 0.
    pub fn sync(job: &mut JobRecord) {
        job.reads += 1;
        if job.object["status"]["conditions"].is_array() {
            return;
        }
        let name = job.object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let ns = job.object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let container = job.object["spec"]["template"]["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let elapsed = job.created.elapsed();
        if job.pod.is_none() {
            let mut labels = job.object["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["job-name"] = json!(name);
            labels["batch.kubernetes.io/job-name"] = json!(name);
            labels["controller-uid"] = job.object["metadata"]["uid"].clone();
            job.pod = Some(json!({
                "kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": format!("{name}-x7k2p"), "namespace": ns, "labels": labels,
                             "creationTimestamp": "2026-12-06T00:00:01Z",
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job.object["metadata"]["uid"], "controller": true}]},
                "spec": job.object["spec"]["template"]["spec"].clone(),
                "status": {"phase": "Running", "containerStatuses": [
                    {"name": container, "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}
                ]},
            }));
            job.object["status"] =
                json!({"active": 1, "ready": 1, "startTime": "2026-12-06T00:00:01Z"});
            return;
        }
        let deadline = job.object["spec"]["activeDeadlineSeconds"]
            .as_u64()
            .map(Duration::from_secs);
        if let Some(deadline) = deadline
            && elapsed >= deadline
            && job.plan.runs_for > deadline
        {
            job.pod = None;
            job.object["status"] = json!({"failed": 1, "conditions": [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline"}
            ]});
            return;
        }
        if elapsed < job.plan.runs_for || job.reads < 2 {
            return;
        }
        let code = job.plan.exit_code;
        if let Some(pod) = job.pod.as_mut() {
            pod["status"]["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
            pod["status"]["containerStatuses"][0]["ready"] = json!(false);
            pod["status"]["containerStatuses"][0]["state"] = json!({"terminated": {
                "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}});
        }
        job.object["status"] = if code == 0 {
            json!({"succeeded": 1, "conditions": [
                {"type": "Complete", "status": "True"}
            ]})
        } else {
            let limit = job.object["spec"]["backoffLimit"].as_i64().unwrap_or(6);
            if limit > 0 {
                // hoist sends 0; a Job with retries would start another pod here.
                json!({"failed": 1, "active": 1})
            } else {
                json!({"failed": 1, "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"}
                ]})
            }
        };
    }

    /// What the pod's container printed so far.
    pub fn log(job: &JobRecord) -> Vec<String> {
        if job.reads == 0 {
            return Vec::new();
        }
        job.plan.output.clone()
    }
}

fn patch(
    state: &mut State,
    ns: &str,
    name: &str,
    content_type: &str,
    query: &str,
    body: &Value,
) -> Response<Full<Bytes>> {
    if content_type != "application/strategic-merge-patch+json" {
        return status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {content_type}"
            ),
        );
    }
    if state.scenario.forbidden_patch {
        return status(
            403,
            "Forbidden",
            &format!(
                "deployments.apps \"{name}\" is forbidden: User \"ci\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"{ns}\""
            ),
        );
    }
    if query_param(query, "fieldManager").is_none() {
        return status(
            422,
            "Invalid",
            "the fake demands a fieldManager: hoist's patches carry one",
        );
    }
    state.patches += 1;
    let first = state.patches == 1;
    state.resource_version += 1;
    let rv = state.resource_version;
    let scenario = state.scenario.clone();
    let Some(d) = state
        .deployments
        .get_mut(&(ns.to_string(), name.to_string()))
    else {
        return not_found("deployments.apps", name);
    };
    if scenario.conflict_first_patch && first {
        // Someone else wrote the object meanwhile: its resourceVersion moved on.
        d.object["metadata"]["resourceVersion"] = json!(rv.to_string());
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on deployments.apps \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    if let Some(sent) = body["metadata"]["resourceVersion"].as_str()
        && sent
            != d.object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on deployments.apps \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        );
    }
    let before_spec = d.object["spec"].clone();
    strategic_merge(&mut d.object, body);
    d.object["metadata"]["resourceVersion"] = json!(rv.to_string());
    if d.object["spec"] != before_spec {
        let generation = d.object["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        d.object["metadata"]["generation"] = json!(generation);
        let template = d.object["spec"]["template"].clone();
        if template != before_spec["template"] {
            let hash = template_hash(&template);
            let revision = d.sets.iter().map(|s| s.revision).max().unwrap_or(0) + 1;
            match d.sets.iter_mut().find(|s| s.hash == hash) {
                Some(old) => old.revision = revision,
                None => d.sets.push(ReplicaSetState {
                    hash,
                    revision,
                    template,
                    replicas: 0,
                    ready: 0,
                }),
            }
            d.object["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!(revision.to_string());
        }
        d.step = 0;
        d.stalled_reads = 0;
    }
    ok(render_deployment(d, &scenario))
}

/// kubectl's strategic merge, for what hoist sends: maps merge key by key, `containers`
/// merge by `name`, everything else is replaced.
fn strategic_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (key, value) in p {
                if key == "containers" {
                    let list = t.entry(key.clone()).or_insert(json!([]));
                    for c in value.as_array().into_iter().flatten() {
                        let items = list.as_array_mut().unwrap();
                        match items.iter_mut().find(|i| i["name"] == c["name"]) {
                            Some(existing) => strategic_merge(existing, c),
                            None => items.push(c.clone()),
                        }
                    }
                } else {
                    strategic_merge(t.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn new_set(d: &DeploymentState) -> usize {
    d.sets
        .iter()
        .enumerate()
        .max_by_key(|(_, s)| s.revision)
        .map(|(i, _)| i)
        .unwrap_or(0)
}

fn image_of(template: &Value) -> String {
    template["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The Deployment controller's next step, taken on a read.
fn advance(d: &mut DeploymentState, scenario: &Scenario) {
    let wanted = d.object["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = d.object["metadata"]["generation"].as_i64().unwrap_or(1);
    let new = new_set(d);
    if d.observed < generation {
        d.observed = generation;
        return;
    }
    let stalls = scenario.stall_image.as_deref() == Some(image_of(&d.sets[new].template).as_str());
    let set = &mut d.sets[new];
    if stalls {
        set.replicas = set.replicas.max(1);
        d.stalled_reads += 1;
        return;
    }
    if set.replicas > wanted {
        set.replicas = wanted;
        set.ready = set.ready.min(wanted);
        return;
    }
    if set.replicas < wanted {
        set.replicas = if set.replicas == 0 { 1 } else { wanted };
        return;
    }
    if let Some(old) = d
        .sets
        .iter_mut()
        .enumerate()
        .find(|(i, s)| *i != new && s.replicas > 0)
    {
        old.1.replicas = 0;
        old.1.ready = 0;
        return;
    }
    let set = &mut d.sets[new];
    if set.ready < set.replicas {
        set.ready = if set.ready == 0 && set.replicas > 1 {
            set.replicas - 1
        } else {
            set.replicas
        };
    }
}

fn render_deployment(d: &DeploymentState, scenario: &Scenario) -> Value {
    let mut object = d.object.clone();
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let new = new_set(d);
    let total: i64 = d.sets.iter().map(|s| s.replicas).sum();
    let ready: i64 = d.sets.iter().map(|s| s.ready).sum();
    let updated = d.sets[new].replicas;
    let stalled = d.stalled_reads >= 3
        && scenario.stall_image.as_deref() == Some(image_of(&d.sets[new].template).as_str());
    let progressing = if stalled {
        json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": format!("ReplicaSet \"{}-{}\" has timed out progressing.", object["metadata"]["name"].as_str().unwrap_or(""), d.sets[new].hash)})
    } else if updated == wanted && total == wanted && ready == wanted {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
               "message": format!("ReplicaSet \"{}-{}\" has successfully progressed.", object["metadata"]["name"].as_str().unwrap_or(""), d.sets[new].hash)})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
               "message": format!("ReplicaSet \"{}-{}\" is progressing.", object["metadata"]["name"].as_str().unwrap_or(""), d.sets[new].hash)})
    };
    // Before the controller observed the generation, the status is the previous one's.
    let updated = if d.observed < object["metadata"]["generation"].as_i64().unwrap_or(1) {
        total
    } else {
        updated
    };
    object["status"] = json!({
        "observedGeneration": d.observed,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {"type": "Available", "status": if ready >= wanted { "True" } else { "False" }, "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
            progressing,
        ],
    });
    object
}

fn render_replica_sets(d: &DeploymentState) -> Vec<Value> {
    let name = d.object["metadata"]["name"].as_str().unwrap_or("");
    let ns = d.object["metadata"]["namespace"].as_str().unwrap_or("");
    let uid = d.object["metadata"]["uid"].as_str().unwrap_or("");
    d.sets
        .iter()
        .map(|s| {
            let mut labels = s.template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(s.hash);
            let mut template = s.template.clone();
            template["metadata"]["labels"] = labels.clone();
            json!({
                "metadata": {
                    "name": format!("{name}-{}", s.hash),
                    "namespace": ns,
                    "uid": format!("rs-{}", s.hash),
                    "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": s.revision.to_string()},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true}],
                },
                "spec": {"replicas": s.replicas, "selector": {"matchLabels": labels}, "template": template},
                "status": {"replicas": s.replicas, "readyReplicas": s.ready, "availableReplicas": s.ready},
            })
        })
        .collect()
}

fn render_pods(d: &DeploymentState, scenario: &Scenario) -> Vec<Value> {
    let name = d.object["metadata"]["name"].as_str().unwrap_or("");
    let ns = d.object["metadata"]["namespace"].as_str().unwrap_or("");
    let mut pods = Vec::new();
    for s in &d.sets {
        let image = image_of(&s.template);
        let container = s.template["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or("");
        let digest = match &scenario.wrong_digest_for {
            Some((bad, other)) if *bad == image => other.clone(),
            _ => digest_of(&image),
        };
        let repo = image
            .split('@')
            .next()
            .unwrap_or(&image)
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(image.split('@').next().unwrap_or(&image), |(r, _)| r)
            .to_string();
        for i in 0..s.replicas {
            let ready = i < s.ready;
            let mut labels = s.template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(s.hash);
            pods.push(json!({
                "metadata": {"name": format!("{name}-{}-p{i}", s.hash), "namespace": ns, "labels": labels,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{}", s.hash), "uid": format!("rs-{}", s.hash), "controller": true}]},
                "spec": {"containers": [{"name": container, "image": image}]},
                "status": {
                    "phase": if ready { "Running" } else { "Pending" },
                    "containerStatuses": [{
                        "name": container, "ready": ready, "restartCount": 0, "image": image,
                        "imageID": if ready { format!("docker.io/{repo}@{digest}") } else { String::new() },
                    }],
                },
            }));
        }
    }
    pods
}

fn list_deployments(state: &State, ns: Option<&str>, selector: &str) -> Value {
    let items: Vec<Value> = state
        .deployments
        .iter()
        .filter(|((n, _), _)| ns.is_none_or(|ns| n == ns))
        .map(|(_, d)| render_deployment(d, &state.scenario))
        .filter(|d| matches_selector(d, selector))
        .collect();
    json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": state.resource_version.to_string()}, "items": items})
}

/// The image's digest, as a registry would resolve it: the one in the reference, or a
/// made-up one for a tag.
pub fn digest_of(image: &str) -> String {
    match image.split_once('@') {
        Some((_, digest)) => digest.to_string(),
        None => format!("sha256:{:064x}", fnv(image.as_bytes()) as u128),
    }
}

fn template_hash(template: &Value) -> String {
    format!(
        "{:010x}",
        fnv(template.to_string().as_bytes()) & 0xff_ffff_ffff
    )
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        labels[k].as_str() == Some(v)
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, body)
}

fn not_found(resource: &str, name: &str) -> Response<Full<Bytes>> {
    status(404, "NotFound", &format!("{resource} \"{name}\" not found"))
}

/// An error as the API server sends it: a `Status` object.
fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn respond(code: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
