//! A busybox app in a git repository (as crates/hoist/tests/support builds one: busybox
//! httpd on `FROM scratch`, built by hoist on the real Docker engine), and a `hoist serve`
//! running in this process on a loopback port. Every name starts with `hoist-srv-` (the
//! dashboard's tests: `dash-`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist_server::webhook::{HookSecret, github_signature};
use hoist_server::{ServeOptions, Server};
use serde_json::{Value, json};

pub const GITHUB_SECRET: &str = "gh-secret-for-hoist-srv-tests";
pub const GITLAB_TOKEN: &str = "gl-token-for-hoist-srv-tests";

/// Sets the variables the fixture's `[server]` table names. Called before any runtime
/// starts; every test sets the same values, so the order tests run in does not matter.
pub fn set_secret_variables() {
    // SAFETY: called at the start of a test, before this test starts threads; the values
    // are the same for every test.
    unsafe {
        std::env::set_var("HOIST_SRV_TEST_GITHUB", GITHUB_SECRET);
        std::env::set_var("HOIST_SRV_TEST_GITLAB", GITLAB_TOKEN);
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    set_secret_variables();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub struct App {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl App {
    /// `hoist-srv-<suffix>` with one staging instance per port, taking every semver tag.
    pub fn new(suffix: &str, ports: &[u16], extra: &str) -> App {
        let tenants: Vec<(String, u16)> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| (format!("t{i}"), *port))
            .collect();
        App::named(&format!("hoist-srv-{suffix}"), &tenants, extra)
    }

    /// An app called `name` with a staging instance for each (tenant, port).
    pub fn named(name: &str, tenants: &[(String, u16)], extra: &str) -> App {
        let app = App {
            dir: tempfile::tempdir().unwrap(),
            name: name.to_string(),
        };
        app.remove_containers();
        std::fs::create_dir_all(app.root().join("vendor")).unwrap();
        std::fs::copy("/bin/busybox", app.root().join("vendor/busybox"))
            .expect("busybox-static must be installed (apt-get install busybox-static)");
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        app.write("deps.txt", &format!("left-pad==1.0 # {nonce}\n"));
        app.write(
            "Dockerfile.base",
            "FROM scratch\nCOPY vendor/busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY deps.txt /deps.txt\nCMD [\"sh\"]\n",
        );
        app.write(
            "Dockerfile",
            "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY www /www\nARG HOIST_VERSION=dev\nENV APP_VERSION=${HOIST_VERSION}\n\
             CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; echo \\\"$APP_VERSION\\\" > /www/version; httpd -f -p 8080 -h /www & wait\"]\n",
        );
        app.write("www/healthz", "ok\n");
        app.write(".dockerignore", ".git\n.hoist\n");
        app.write(".gitignore", ".hoist/\n");
        let mut config = format!(
            "[app]\nname = \"{name}\"\nimage = \"{name}\"\nport = 8080\nversion_path = \"/version\"\n\n\
             [build]\ndependencies = [\"deps.txt\", \"vendor/*\"]\n\n\
             [server]\ngithub_secret_env = \"HOIST_SRV_TEST_GITHUB\"\ngitlab_token_env = \"HOIST_SRV_TEST_GITLAB\"\n\
             workers = 2\nshutdown_grace = \"1s\"\n\n\
             [environments.staging]\ndeploy_from = [{{ semver = \"any\" }}]\nrollout = {{ health_timeout = \"10s\" }}\n",
            name = app.name
        );
        for (tenant, port) in tenants {
            config.push_str(&format!(
                "\n[[environments.staging.instances]]\ntenant = \"{tenant}\"\nport = {port}\n"
            ));
        }
        config.push('\n');
        config.push_str(extra);
        app.write("hoist.toml", &config);
        app.git(&["init", "-q"]);
        app
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.root())
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Commits everything with `page` as the index page and tags it; returns the commit.
    pub fn release(&self, tag: &str, page: &str) -> String {
        self.write("www/index.html", page);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", tag]);
        self.git(&["tag", tag]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn clone_url(&self) -> String {
        format!("file://{}", self.root().display())
    }

    pub fn state(&self) -> PathBuf {
        self.root().join(".hoist/state.db")
    }

    pub fn store(&self) -> hoist_store::SqliteStore {
        hoist_store::SqliteStore::open(&self.state()).unwrap()
    }

    pub fn settings(&self) -> hoist_config::Settings {
        hoist_config::load(&self.root().join("hoist.toml")).unwrap()
    }

    fn remove_containers(&self) {
        let out = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=dev.hoist.app={}", self.name),
            ])
            .output();
        if let Ok(out) = out {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.remove_containers();
        // By tag, never forced: shared build-cache layers stay for concurrent tests.
        let out = Command::new("docker")
            .args([
                "image",
                "ls",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                &format!("reference={}", self.name),
                "--filter",
                &format!("reference={}-base", self.name),
            ])
            .output();
        if let Ok(out) = out {
            let tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|t| !t.ends_with(":<none>"))
                .map(str::to_string)
                .collect();
            if !tags.is_empty() {
                let _ = Command::new("docker")
                    .args(["rmi", "--no-prune"])
                    .args(&tags)
                    .output();
            }
        }
    }
}

/// A server running in this process.
pub struct Serving {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), hoist_server::ServeError>>,
}

impl Serving {
    pub async fn start(app: &App, port: u16, lock_wait: Duration) -> Serving {
        let server = Server::bind(ServeOptions {
            config: Arc::new(app.settings()),
            state: app.state(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            build_host: None,
            lock_wait,
        })
        .await
        .expect("the server starts");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Serving {
            addr,
            stop: Some(stop),
            done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops it as SIGTERM does, and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.done)
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}

/// A token created the way `hoist token create` does.
pub fn token(app: &App, name: &str, owner: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    hoist_server::tokens::create(&app.store(), name, owner, &scopes)
        .unwrap()
        .1
}

/// A `push` payload with the fields GitHub documents for it.
pub fn github_push(git_ref: &str, after: &str, clone_url: &str, sender: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000000",
        "after": after,
        "created": true,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": "https://github.com/northwind/clinic/compare/v1",
        "commits": [],
        "head_commit": {
            "id": after, "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
            "message": "release", "timestamp": "2026-12-01T10:00:00+01:00",
            "author": {"name": "Ada", "email": "ada@example.com", "username": sender},
        },
        "repository": {
            "id": 1296269, "name": "clinic", "full_name": "northwind/clinic", "private": true,
            "owner": {"login": "northwind", "id": 1},
            "html_url": "https://github.com/northwind/clinic",
            "clone_url": clone_url,
            "default_branch": "main",
        },
        "pusher": {"name": sender, "email": "ada@example.com"},
        "sender": {"login": sender, "id": 583231, "type": "User"},
    }))
    .unwrap()
}

/// POSTs `body` to `/webhooks/github` as GitHub does, signed with `secret`.
pub async fn post_github(
    client: &reqwest::Client,
    serving: &Serving,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
    secret: &str,
) -> reqwest::Response {
    let signature = format!(
        "sha256={}",
        github_signature(&HookSecret::new(secret), &body)
    );
    client
        .post(serving.url("/webhooks/github"))
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/044aadd")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-github-hook-id", "292430182")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .expect("the server answers")
}

/// GET with a bearer token; the status and the JSON body.
pub async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// POST JSON with a bearer token; the status and the JSON body.
pub async fn post(client: &reqwest::Client, url: &str, token: &str, body: Value) -> (u16, Value) {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls job `id` until it ends, for up to `limit`; the job.
pub async fn job_end(
    client: &reqwest::Client,
    serving: &Serving,
    token: &str,
    id: i64,
    limit: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, job) = get(client, &serving.url(&format!("/api/v1/jobs/{id}")), token).await;
        assert_eq!(status, 200, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(started.elapsed() < limit, "job {id} did not end: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The audit log's entries of `action`, newest first.
pub fn audited(app: &App, action: &str) -> Vec<hoist_core::store::AuditEntry> {
    use hoist_core::Store;
    app.store()
        .audit_log(&app.name, None, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// GET http://127.0.0.1:PORT/PATH's body.
pub async fn body_on(port: u16, path: &str) -> Option<String> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    r.status().is_success().then_some(())?;
    r.text().await.ok()
}
