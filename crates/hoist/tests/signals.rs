//! Ctrl-C and SIGTERM during a rollout, against the real Docker engine: the first signal
//! finishes or undoes the step in flight, releases the lock, records the deployment as
//! interrupted and exits 130 (SIGINT) or 143 (SIGTERM); a second one exits at once, and
//! `hoist status` points at what that left. Needs a running engine and Debian's
//! busybox-static (`.ci/run` installs both). Ports 20000-20049, app names `itsig*`.

mod support;

use std::time::{Duration, Instant};

use hoist_core::Store;
use hoist_core::store::DeploymentOutcome;
use support::{App, http_get};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// Waits (a few seconds at most) for every port to serve `version`.
fn assert_serving(ports: &[u16], version: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in ports {
        while version_on(*port).as_deref() != Some(version) {
            assert!(
                Instant::now() < deadline,
                "port {port} serves {:?}, not {version}",
                version_on(*port)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn outcomes(app: &App) -> Vec<DeploymentOutcome> {
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    store
        .deployments(&app.name, "staging", 10)
        .unwrap()
        .iter()
        .map(|d| d.outcome)
        .collect()
}

fn lock_holder(app: &App) -> Option<hoist_core::store::LockHolder> {
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    store.lock_holder(&app.name, "staging").unwrap()
}

/// One instance at a time, so which tenants a stop leaves untouched is known.
fn serial(app: &App, health_timeout: &str) {
    app.write_config(health_timeout);
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("concurrency = 2", "concurrency = 1");
    std::fs::write(&path, text).unwrap();
}

#[test]
fn sigint_during_the_switch_restores_the_previous_container_releases_the_lock_and_exits_130() {
    let ports = [20001, 20002, 20003];
    let app = App::new("itsigswitch", &ports);
    serial(&app, "20s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    app.set_start_delay(3);
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    // t0's old container has stopped and its new one is not verified yet.
    let run = app.signal_when(
        &["deploy", "staging"],
        "t0: verifying: probing the live container",
        &["INT"],
    );
    assert_eq!(
        run.code, 130,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("hoist: SIGINT: stopping"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("INTERRUPTED: deploy stopped by SIGINT"),
        "{}",
        run.stdout
    );
    // t0 is back on its previous container; t1 and t2 were never touched.
    assert_serving(&ports, "v1.0.0");
    assert_eq!(
        app.containers(),
        [
            "itsigswitch-staging-t0",
            "itsigswitch-staging-t1",
            "itsigswitch-staging-t2"
        ]
    );
    assert_eq!(lock_holder(&app), None, "the lock must be released");
    assert_eq!(
        outcomes(&app),
        [DeploymentOutcome::Interrupted, DeploymentOutcome::Succeeded]
    );

    // Nothing to recover: the next deploy reclaims no lock and finishes the release.
    let rerun = app.hoist(&["deploy", "staging"]).ok();
    assert!(!rerun.stderr.contains("reclaimed"), "{}", rerun.stderr);
    assert_serving(&ports, "v2.0.0");
}

#[test]
fn sigterm_while_the_candidate_verifies_removes_it_and_exits_143() {
    let ports = [20011, 20012];
    let app = App::new("itsigcand", &ports);
    serial(&app, "20s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    app.set_start_delay(3);
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    let run = app.signal_when(
        &["deploy", "staging", "--json"],
        "t0: verifying: probing the new container",
        &["TERM"],
    );
    assert_eq!(
        run.code, 143,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let result = run.json();
    assert_eq!(result["outcome"], "interrupted");
    let states: Vec<&str> = result["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    // t0's candidate was removed while the old container kept serving; t1 never started.
    assert_eq!(states, ["rolled_back", "skipped"]);
    assert_serving(&ports, "v1.0.0");
    assert_eq!(
        app.containers(),
        ["itsigcand-staging-t0", "itsigcand-staging-t1"]
    );
    assert_eq!(lock_holder(&app), None);
    assert_eq!(
        outcomes(&app),
        [DeploymentOutcome::Interrupted, DeploymentOutcome::Succeeded]
    );
}

#[test]
fn a_second_signal_exits_at_once_and_status_points_at_what_it_left() {
    let ports = [20021];
    let app = App::new("itsigtwice", &ports);
    serial(&app, "60s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // The new release would take 40 s to answer; the second signal must not wait for it.
    app.set_start_delay(40);
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    let started = Instant::now();
    let run = app.signal_when(
        &["deploy", "staging"],
        "t0: verifying: probing the new container",
        &["INT", "INT"],
    );
    assert_eq!(run.code, 130, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("SIGINT again: exiting at once"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // The lock and a `running` record are left behind; status says so.
    assert!(lock_holder(&app).is_some());
    assert_eq!(
        outcomes(&app),
        [DeploymentOutcome::Running, DeploymentOutcome::Succeeded]
    );
    let status = app.hoist(&["status", "staging"]);
    assert!(
        status
            .stdout
            .contains("is recorded as running, but its holder")
            && status.stdout.contains("is gone"),
        "{}",
        status.stdout
    );
    let json = app.hoist(&["status", "staging", "--json"]).json();
    assert!(
        json["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("deploy v2.0.0")),
        "{json}"
    );

    // The next run reclaims the lock, undoes the leftovers and rolls the release out.
    app.set_start_delay(0);
    app.write("www/index.html", "three\n");
    app.release("v3.0.0");
    let rerun = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        rerun.stderr.contains("reclaimed the lock"),
        "{}",
        rerun.stderr
    );
    assert_serving(&ports, "v3.0.0");
    assert_eq!(app.containers(), ["itsigtwice-staging-t0"]);
    assert_eq!(
        outcomes(&app),
        [
            DeploymentOutcome::Succeeded,
            DeploymentOutcome::Interrupted,
            DeploymentOutcome::Succeeded
        ]
    );
}
