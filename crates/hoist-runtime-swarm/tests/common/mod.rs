//! What the swarm tests share: a single-node swarm (made when the engine has none), tiny
//! app images built `FROM scratch` with Debian's busybox-static, a prober, and cleanup.
//!
//! Tests use services named `hoist-swarm-test-*` and host ports 19500–19549 only.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::SwarmInitRequest;
use bollard::query_parameters::{InspectServiceOptions, ListContainersOptions, ListTasksOptions};
use hoist_core::backend::{Endpoint, ProbeResult, Prober};
use hoist_core::runtime::{Observed, Rollout, Runtime};
use hoist_core::verify::{Expectation, Verdict, verify};
use hoist_core::{EventKind, EventSink, InstanceSpec, InstanceState, Release};
use hoist_runtime_swarm::{FailureAction, Order, Publish, SwarmSettings, UpdateSettings};

pub const ENGINE: &str = "unix:///var/run/docker.sock";

/// A connection to the local engine, in a swarm.
pub async fn docker() -> Docker {
    let docker = hoist_engine::connect(ENGINE)
        .await
        .expect("the Docker engine answers");
    ensure_swarm(&docker).await;
    docker
}

/// Makes this engine a single-node swarm unless it is one (as `scripts/setup-machine.sh`
/// does). Tests run on several threads; one of them initialises.
async fn ensure_swarm(docker: &Docker) {
    static INIT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = INIT.lock().await;
    if docker.inspect_swarm().await.is_ok() {
        return;
    }
    docker
        .init_swarm(SwarmInitRequest {
            listen_addr: Some("0.0.0.0:2377".into()),
            advertise_addr: Some("127.0.0.1".into()),
            ..Default::default()
        })
        .await
        .expect("docker swarm init");
}

/// What an app image does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum App {
    /// Serves `/healthz` and `/version`.
    Healthy,
    /// Serves `/version` only: `/healthz` answers 404.
    NoHealth,
    /// Prints two lines and exits 3.
    Crashes,
}

/// Builds (once per test binary) the app image for `version` and returns its release.
pub fn release(version: &str, app: App) -> Release {
    static BUILT: Mutex<Option<HashMap<(String, App), String>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let key = (version.to_string(), app);
    let tag = format!("hoist-swarm-test-app:{version}");
    let image_id = match built.get_or_insert_with(HashMap::new).get(&key) {
        Some(id) => id.clone(),
        None => {
            let id = build(&tag, version, app);
            built
                .get_or_insert_with(HashMap::new)
                .insert(key, id.clone());
            id
        }
    };
    Release {
        app: "hoist-swarm-test".into(),
        version: version.into(),
        commit: "0000000".into(),
        image: tag,
        image_id,
        digest: None,
        fingerprint: String::new(),
        base_image: String::new(),
        created_by: "test".into(),
        created_at: String::new(),
    }
}

fn build(tag: &str, version: &str, app: App) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::copy("/bin/busybox", root.join("busybox"))
        .expect("/bin/busybox (Debian's busybox-static)");
    std::fs::create_dir(root.join("www")).expect("www");
    write(&root.join("www/version"), &format!("{version}\n"));
    if app == App::Healthy {
        write(&root.join("www/healthz"), "ok\n");
    }
    // The shell is PID 1 so that SIGTERM stops the task at once (busybox httpd as PID 1
    // ignores it, and every stop would wait out the grace period).
    let entrypoint = match app {
        App::Crashes => {
            r#"["/bin/busybox", "sh", "-c", "echo starting; echo boom >&2; exit 3"]"#.to_string()
        }
        _ => r#"["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; /bin/busybox httpd -f -p 8080 -h /www & wait"]"#
            .to_string(),
    };
    write(
        &root.join("Dockerfile"),
        &format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nENTRYPOINT {entrypoint}\n"
        ),
    );
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(root)
        .output()
        .expect("docker build runs");
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:"), "docker build printed {id:?}");
    id
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// An instance on `port`, its service named `hoist-swarm-test-NAME`.
pub fn instance(name: &str, port: u16) -> InstanceSpec {
    assert!((19500..=19549).contains(&port));
    InstanceSpec {
        app: "hoist-swarm-test".into(),
        environment: "test".into(),
        tenant: name.into(),
        host: ENGINE.into(),
        name: format!("hoist-swarm-test-{name}"),
        port,
        container_port: 8080,
        env: BTreeMap::from([
            ("GREETING".to_string(), "hello".to_string()),
            ("TENANT_TOKEN".to_string(), "not-a-real-secret".to_string()),
        ]),
        health_path: "/healthz".into(),
        version_path: Some("/version".into()),
        secrets: Default::default(),
        volumes: Vec::new(),
    }
}

/// Host-mode publishing (the routing mesh never answers on this machine), one task,
/// stop-first (host mode cannot start-first on one node), a short monitor.
pub fn settings() -> SwarmSettings {
    SwarmSettings {
        host: ENGINE.into(),
        replicas: NonZeroU32::MIN,
        publish: Publish::Host,
        update: UpdateSettings {
            parallelism: 1,
            delay: Duration::ZERO,
            order: Order::StopFirst,
            monitor: Duration::from_secs(1),
            failure_action: FailureAction::Rollback,
        },
    }
}

/// HTTP GET with a short timeout, never through a proxy.
pub struct HttpProber(reqwest::Client);

impl HttpProber {
    pub fn new() -> Self {
        HttpProber(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .no_proxy()
                .build()
                .expect("an HTTP client"),
        )
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn get(&self, endpoint: &Endpoint, path: &str) -> ProbeResult {
        let response = self
            .0
            .get(endpoint.url(path))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

/// The body of `GET path` on `port`, or `None` when nothing answers 2xx.
pub async fn get(port: u16, path: &str) -> Option<String> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port,
    };
    match HttpProber::new().get(&endpoint, path).await {
        Ok((status, body)) if (200..300).contains(&status) => Some(body.trim().to_string()),
        _ => None,
    }
}

/// Instance events as `state: message`, for assertions and for a failing test's output.
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<(InstanceState, String)>>>);

impl Recorded {
    pub fn sink(&self) -> EventSink {
        let seen = self.0.clone();
        EventSink::new(move |event| {
            let line = match &event.kind {
                EventKind::InstanceProgress { state, message } => (*state, message.clone()),
                EventKind::Warning { message } => {
                    (InstanceState::Waiting, format!("warning: {message}"))
                }
                _ => return,
            };
            eprintln!("  event: {}: {}", line.0.label(), line.1);
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        })
    }
    pub fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, m)| format!("{}: {m}", s.label()))
            .collect()
    }
    pub fn saw(&self, text: &str) -> bool {
        self.messages().iter().any(|m| m.contains(text))
    }
}

/// What the pipeline does per instance: recover, leave it if it already runs the release
/// and verifies, else roll the release out.
pub async fn deploy(
    runtime: &dyn Runtime,
    instance: &InstanceSpec,
    release: &Release,
    rollout: &Rollout<'_>,
) -> Result<InstanceState, hoist_core::runtime::InstanceFailure> {
    for action in runtime.recover(instance).await? {
        rollout.warn(action);
    }
    let observed = runtime.observe(instance).await?;
    if observed.workload.image_id() == Some(release.image_id.as_str()) {
        let observation = rollout.probe(instance, observed).await;
        if verify(&observation, &Expectation::of(release, instance)) == Verdict::Verified {
            return Ok(InstanceState::Unchanged);
        }
    }
    runtime.roll_out(instance, release, rollout).await?;
    Ok(InstanceState::Healthy)
}

/// Removes the service and waits until its containers are gone (their host port with
/// them), so a test starts clean even after a run that died.
pub async fn remove_service(docker: &Docker, name: &str) {
    match docker.delete_service(name).await {
        Ok(()) => {}
        Err(e) if hoist_engine::is_not_found(&e) => {}
        Err(e) => panic!("cannot remove service {name}: {e}"),
    }
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("com.docker.swarm.service.name={name}")],
    )]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .expect("list containers");
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "containers of {name} still run 30s after its removal"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Images that running tasks of the service run.
pub async fn running_images(docker: &Docker, name: &str) -> Vec<String> {
    let tasks = docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some(HashMap::from([
                ("service".to_string(), vec![name.to_string()]),
                ("desired-state".to_string(), vec!["running".to_string()]),
            ])),
        }))
        .await
        .expect("list tasks");
    let mut images: Vec<String> = tasks
        .iter()
        .filter(|t| {
            t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
        })
        .filter_map(|t| t.spec.as_ref()?.container_spec.as_ref()?.image.clone())
        .collect();
    images.sort();
    images
}

/// Asserts that every running task of the service runs `release`, and that one does.
pub async fn assert_only_runs(docker: &Docker, name: &str, release: &Release) {
    assert_eq!(
        running_images(docker, name).await,
        vec![release.image_id.clone()],
        "the running tasks of {name} run only {}",
        release.version
    );
}

/// The service's update state (`updating`, `rollback_completed`, …), `-` when none.
pub async fn update_state(docker: &Docker, name: &str) -> String {
    docker
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
        .expect("inspect service")
        .update_status
        .and_then(|s| s.state)
        .map_or("-".to_string(), |s| s.to_string())
}

/// Waits up to `limit` for the service's update state to become `state`.
pub async fn wait_for_state(docker: &Docker, name: &str, state: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let now = update_state(docker, name).await;
        if now == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service {name} is {now}, not {state}, after {}s",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn running(observed: &Observed) -> Option<(&str, Option<&str>)> {
    observed
        .workload
        .image_id()
        .filter(|_| observed.workload.is_running())
        .map(|id| (id, observed.workload.release()))
}
