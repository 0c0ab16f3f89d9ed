//! The Swarm runtime through the CLI, on this machine's real single-node swarm: an app
//! whose staging runs on containers and production on Swarm services (host-mode
//! publishing; the routing mesh does not answer here). Ports 19550–19599, apps `itswarm*`.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::swarm::ensure_swarm;
use support::{App, http_get};

/// This app's services, by name.
fn services(app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "service",
            "ls",
            "--filter",
            &format!("label=dev.hoist.app={app}"),
            "--format",
            "{{.Name}}",
        ])
        .output()
        .expect("docker service ls");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn remove_services(app: &str) {
    let names = services(app);
    if !names.is_empty() {
        let _ = Command::new("docker")
            .args(["service", "rm"])
            .args(&names)
            .output();
        // Tasks' containers go a moment later; the app's images can only go after them.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=com.docker.swarm.service.name={}", names[0]),
                ])
                .output()
                .expect("docker ps");
            if out.stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// An app with staging on containers (`staging_port`) and production on Swarm services,
/// one per port; the services are removed before the app (and its images) is.
struct SwarmApp {
    app: App,
}

impl SwarmApp {
    fn new(name: &str, staging_port: u16, production: &[u16]) -> SwarmApp {
        ensure_swarm();
        remove_services(name);
        let app = App::new(name, &[staging_port]);
        let mut toml =
            String::from("[environments.production]\nrollout = { health_timeout = \"30s\" }\n");
        for (i, port) in production.iter().enumerate() {
            toml.push_str(&format!(
                "\n[[environments.production.instances]]\ntenant = \"p{i}\"\nport = {port}\nenv = {{ TENANT = \"p{i}\" }}\n"
            ));
        }
        toml.push_str(
            "\n[environments.production.runtime]\nkind = \"swarm\"\n\n[environments.production.runtime.update]\nmonitor = \"2s\"\n",
        );
        app.append_config(&toml);
        SwarmApp { app }
    }
}

impl Drop for SwarmApp {
    fn drop(&mut self) {
        remove_services(&self.app.name);
    }
}

impl std::ops::Deref for SwarmApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body.trim().to_string())
}

/// `hoist status production` says every instance runs on Swarm, healthy, on `version`.
fn assert_production_on(app: &App, version: &str) {
    let status = app.hoist(&["status", "production", "--json"]).ok().json();
    assert_eq!(status["current"]["version"], version, "{status:#}");
    for instance in status["instances"].as_array().unwrap() {
        assert_eq!(instance["runtime"], "swarm", "{status:#}");
        assert_eq!(instance["healthy"], true, "{status:#}");
        assert_eq!(instance["matches_current"], true, "{status:#}");
    }
}

#[test]
fn swarm_services_are_created_updated_by_a_code_only_release_and_rolled_back() {
    let app = SwarmApp::new("itswarm", 19551, &[19552, 19553]);
    app.release("v1.0.0");

    // Mixed: staging on a container, production on Swarm, from one hoist.toml.
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(version_on(19551).as_deref(), Some("v1.0.0"));
    let first = app.hoist(&["deploy", "production"]).ok();
    assert_eq!(
        services("itswarm"),
        ["itswarm-production-p0", "itswarm-production-p1"],
        "{}",
        first.stderr
    );
    for port in [19552, 19553] {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));
    }
    assert_production_on(&app, "v1.0.0");
    let status = app.hoist(&["status", "production"]).ok();
    assert!(status.stdout.contains("swarm"), "{}", status.stdout);

    // A code-only release reuses the base and updates the services in place.
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v1.1.0");
    let update = app.hoist(&["deploy", "production"]).ok();
    assert!(
        update.stderr.contains("base image: reusing"),
        "{}",
        update.stderr
    );
    assert_eq!(services("itswarm").len(), 2);
    for port in [19552, 19553] {
        assert_eq!(version_on(port).as_deref(), Some("v1.1.0"));
        assert_eq!(http_get(port, "/index.html").unwrap().1, "<h1>v2</h1>\n");
    }
    assert_production_on(&app, "v1.1.0");
    // Staging, on containers, was not touched.
    assert_eq!(version_on(19551).as_deref(), Some("v1.0.0"));

    let rollback = app.hoist(&["rollback", "production", "--json"]).ok().json();
    assert_eq!(rollback["release"]["version"], "v1.0.0");
    for port in [19552, 19553] {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));
    }
    assert_production_on(&app, "v1.0.0");
}

#[test]
fn a_failing_health_check_ends_with_swarms_rollback_and_the_old_tasks_serving() {
    let app = SwarmApp::new("itswarmfail", 19561, &[19562]);
    app.release("v1.0.0");
    app.hoist(&["deploy", "production"]).ok();
    assert_eq!(version_on(19562).as_deref(), Some("v1.0.0"));

    // v2 never answers its health path.
    std::fs::remove_file(app.root().join("www/healthz")).unwrap();
    app.release("v2.0.0");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(v) = version_on(19562) {
                    seen.lock().unwrap().push(v);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let run = app.hoist(&["deploy", "production", "--json"]);
    done.store(true, Ordering::SeqCst);
    client.join().unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["instances"][0]["state"], "rolled_back", "{report:#}");
    // The client saw the old release answer, and it answers now.
    assert!(
        seen.lock().unwrap().iter().any(|v| v == "v1.0.0"),
        "{:?}",
        seen.lock().unwrap()
    );
    assert_eq!(version_on(19562).as_deref(), Some("v1.0.0"));
    let status = app.hoist(&["status", "production", "--json"]).ok().json();
    assert_eq!(
        status["instances"][0]["running_release"], "v1.0.0",
        "{status:#}"
    );
    assert_eq!(status["instances"][0]["healthy"], true, "{status:#}");
}

#[test]
fn a_hoist_killed_mid_update_and_run_again_ends_on_one_healthy_release() {
    let app = SwarmApp::new("itswarmkill", 19571, &[19572]);
    app.release("v1.0.0");
    app.hoist(&["deploy", "production"]).ok();

    // The new tasks take a while to answer, so the kill lands mid-update.
    app.set_start_delay(3);
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    app.kill_when(&["deploy", "production"], "p0: verifying");

    let rerun = app.hoist(&["deploy", "production"]).ok();
    assert!(
        rerun.stderr.contains("reclaimed the lock"),
        "{}",
        rerun.stderr
    );
    assert_eq!(version_on(19572).as_deref(), Some("v2.0.0"));
    assert_production_on(&app, "v2.0.0");
}
