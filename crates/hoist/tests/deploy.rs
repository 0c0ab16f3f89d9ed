//! The core deploy path against the real Docker engine: build, roll out, verify, roll back.
//! Needs a running engine and Debian's busybox-static (`.ci/run` installs both).

mod support;

use std::process::Stdio;
use std::time::Duration;

use hoist_core::Store;
use hoist_core::store::{DeploymentOutcome, LockHolder};
use support::{App, http_get};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

#[test]
fn first_deploy_then_code_only_redeploy_reuses_the_base_and_a_dependency_change_rebuilds_it() {
    let app = App::new("itbase", &[19301, 19302, 19303]);
    app.release("v1.0.0");

    let plan = app.hoist(&["plan", "staging", "--json"]).ok().json();
    assert_eq!(plan["version"], "v1.0.0");
    assert_eq!(plan["base_cache"], "miss");
    assert_eq!(
        plan["fingerprint"]["files"],
        serde_json::json!(["deps.txt", "vendor/busybox"])
    );
    let base = plan["base_image"].as_str().unwrap().to_string();
    assert!(base.starts_with("hoist-test/itbase-base:fp-"), "{base}");

    let first = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        first.stderr.contains(&format!(
            "base image: building (fingerprint changed) {base}"
        )),
        "{}",
        first.stderr
    );
    for port in &app.ports {
        assert_eq!(version_on(*port).as_deref(), Some("v1.0.0"));
    }
    assert_eq!(
        app.containers(),
        [
            "itbase-staging-t0",
            "itbase-staging-t1",
            "itbase-staging-t2"
        ]
    );
    let base_id = app.image_id(&base).expect("base image exists");

    // Code only: the base is reused, not rebuilt.
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v1.1.0");
    let plan = app.hoist(&["plan", "staging", "--json"]).ok().json();
    assert_eq!(plan["base_cache"], "hit");
    assert_eq!(plan["base_image"], base.as_str());
    let second = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        second
            .stderr
            .contains(&format!("base image: reusing {base}")),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("building (fingerprint changed)"),
        "a base build ran:\n{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("COPY deps.txt"),
        "a base build step ran:\n{}",
        second.stderr
    );
    // The app Dockerfile only copies files and sets settings: one layer, no builder steps.
    assert!(
        second
            .stderr
            .contains("layer build on hoist-test/itbase-base:fp-"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("Step 1/"),
        "the engine's builder ran:\n{}",
        second.stderr
    );
    assert_eq!(app.image_id(&base).as_deref(), Some(base_id.as_str()));
    for port in &app.ports {
        assert_eq!(version_on(*port).as_deref(), Some("v1.1.0"));
        assert_eq!(http_get(*port, "/index.html").unwrap().1, "<h1>v2</h1>\n");
    }

    // Redeploying the running release changes nothing.
    let again = app.hoist(&["deploy", "staging", "--json"]).ok();
    // `--json` streams the run's events as JSON lines, the result last.
    let events = again.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "lock_acquired",
        "version_resolved",
        "release_reused",
        "rollout_started",
        "instance_progress",
        "rollout_finished",
        "result",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"result"));
    let run = events[0]["run"].as_str().unwrap();
    assert!(
        events.iter().all(|e| e["run"] == run && e["v"] == 1),
        "{events:?}"
    );
    let progress: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "instance_progress")
        .collect();
    assert!(
        progress
            .iter()
            .all(|e| e["environment"] == "staging" && e["tenant"].is_string()),
        "{progress:?}"
    );
    let again = again.json();
    let states: Vec<&str> = again["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["unchanged", "unchanged", "unchanged"]);

    // A dependency change rebuilds the base under a new fingerprint.
    let deps = std::fs::read_to_string(app.root().join("deps.txt")).unwrap();
    app.write("deps.txt", &format!("{deps}right-pad==1.0\n"));
    app.release("v1.2.0");
    let third = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        third
            .stderr
            .contains("building (fingerprint changed) hoist-test/itbase-base:fp-"),
        "{}",
        third.stderr
    );
    let new_base = app.hoist(&["plan", "staging", "--json"]).ok().json()["base_image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_base, base);
    assert!(app.image_id(&new_base).is_some());
    assert_eq!(version_on(app.ports[0]).as_deref(), Some("v1.2.0"));
}

#[test]
fn a_failing_health_check_leaves_the_old_container_serving() {
    let app = App::new("ithealth", &[19311, 19312]);
    app.write_config("3s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // v2 has no health endpoint.
    std::fs::remove_file(app.root().join("www/healthz")).unwrap();
    app.release("v2.0.0");
    let run = app.hoist(&["deploy", "staging", "--json"]);
    assert_eq!(run.code, 1, "a failed deploy exits 1\n{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "failed");
    let first = &report["instances"][0];
    assert_eq!(first["state"], "rolled_back");
    let message = first["message"].as_str().unwrap();
    assert!(
        message.contains("not verified within 3s") && message.contains("404"),
        "{message}"
    );
    assert!(
        message.contains("previous container kept serving"),
        "{message}"
    );
    // The second instance was not attempted or was rolled back too; both serve v1.
    for port in &app.ports {
        assert_eq!(version_on(*port).as_deref(), Some("v1.0.0"));
    }
    assert_eq!(
        app.containers(),
        ["ithealth-staging-t0", "ithealth-staging-t1"],
        "no candidate or previous container is left"
    );

    app.assert_all_on_current("v1.0.0");
}

#[test]
fn a_release_that_reports_the_wrong_version_is_not_switched_to() {
    let app = App::new("itversion", &[19321]);
    app.write_config("4s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // v2 is healthy but its version endpoint reports something else.
    app.write("Dockerfile", "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY www /www\nRUN echo old-version > /www/version\nSTOPSIGNAL SIGKILL\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n");
    app.release("v2.0.0");
    let run = app.hoist(&["deploy", "staging", "--json"]);
    assert_eq!(run.code, 1);
    // RUN needs the engine's builder; hoist falls back to it.
    assert!(
        run.stderr
            .contains("engine build (RUN needs the engine's builder)"),
        "{}",
        run.stderr
    );
    let report = run.json();
    let message = report["instances"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("/version reports \"old-version\", not v2.0.0"),
        "{message}"
    );
    assert_eq!(version_on(app.ports[0]).as_deref(), Some("v1.0.0"));
}

#[test]
fn rollback_restores_the_previous_release_without_building() {
    let app = App::new("itroll", &[19331, 19332]);
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    let run = app.hoist(&["rollback", "staging", "--json"]).ok();
    assert!(
        !run.stderr.contains("app image: building"),
        "rollback must not build:\n{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["kind"], "rollback");
    assert_eq!(report["release"]["version"], "v1.0.0");
    for port in &app.ports {
        assert_eq!(version_on(*port).as_deref(), Some("v1.0.0"));
    }
    // Forward again by name.
    app.hoist(&["rollback", "staging", "--to", "v2.0.0"]).ok();
    assert_eq!(version_on(app.ports[1]).as_deref(), Some("v2.0.0"));

    let unknown = app.hoist(&["rollback", "staging", "--to", "v9.9.9"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no release v9.9.9"),
        "{}",
        unknown.stderr
    );

    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    let kinds: Vec<&str> = history["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rollback", "rollback", "deploy", "deploy"]);
    assert!(
        history["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["actor"] == "tester")
    );

    // One deployment with the steps each instance went through, as the store kept them.
    let latest = history["deployments"][0]["id"].as_i64().unwrap();
    let one = app
        .hoist(&[
            "history",
            "staging",
            "--deployment",
            &latest.to_string(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(one["deployment"]["version"], "v2.0.0");
    for tenant in ["t0", "t1"] {
        let states: Vec<&str> = one["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["tenant"] == tenant)
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        assert_eq!(states.first(), Some(&"waiting"), "{tenant}: {one:#}");
        assert_eq!(states.last(), Some(&"healthy"), "{tenant}: {one:#}");
        assert!(states.contains(&"verifying"), "{tenant}: {states:?}");
    }
    let text = app
        .hoist(&["history", "staging", "--deployment", &latest.to_string()])
        .ok()
        .stdout;
    assert!(
        text.starts_with(&format!("deployment {latest}: rollback v2.0.0 "))
            && text.contains("\nt0: healthy ")
            && text.contains("  verifying "),
        "{text}"
    );
    let unknown = app.hoist(&["history", "staging", "--deployment", "999"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("staging has no deployment 999"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_locked_environment_refuses_or_waits() {
    let app = App::new("itlock", &[19341]);
    app.release("v1.0.0");
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let holder = LockHolder::this_process("someone-else");
    store
        .try_lock("itlock", "staging", &holder, Duration::from_secs(60))
        .unwrap();

    let refused = app.hoist(&["deploy", "staging"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("staging is locked by someone-else"),
        "{}",
        refused.stderr
    );
    let audit = app.hoist(&["audit", "staging", "--json"]).ok().json();
    assert_eq!(audit[0]["action"], "deploy.refused");

    // --wait: the deploy proceeds once the holder lets go.
    let mut waiting = app
        .hoist_command(&["deploy", "staging", "--wait", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "a waiting deploy must not finish while the lock is held"
    );
    store.unlock("itlock", "staging", &holder).unwrap();
    let status = waiting.wait().unwrap();
    assert!(status.success());
    assert_eq!(version_on(app.ports[0]).as_deref(), Some("v1.0.0"));
}

#[test]
fn a_deploy_killed_mid_rollout_is_recovered_by_the_next_run() {
    let app = App::new("itkill", &[19351, 19352, 19353]);
    app.write_config("20s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // v2 takes 2 s to answer, so the rollout is slow enough to kill during a switch.
    app.set_start_delay(2);
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    // The old container of t0 has been stopped and the new one is not yet verified.
    app.kill_when(
        &["deploy", "staging"],
        "t0: verifying: probing the live container",
    );
    assert!(
        app.containers().iter().any(|c| c.ends_with("--prev")),
        "the kill should leave a switch half done: {:?}",
        app.containers()
    );

    let rerun = app.hoist(&["deploy", "staging", "--json"]).ok();
    assert!(
        rerun
            .stderr
            .contains("restored the previous container of an interrupted switch"),
        "{}",
        rerun.stderr
    );
    assert!(
        rerun.stderr.contains("reclaimed the lock"),
        "{}",
        rerun.stderr
    );
    for port in &app.ports {
        assert_eq!(version_on(*port).as_deref(), Some("v2.0.0"));
    }
    assert_eq!(
        app.containers(),
        [
            "itkill-staging-t0",
            "itkill-staging-t1",
            "itkill-staging-t2"
        ]
    );

    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let history = store.deployments("itkill", "staging", 10).unwrap();
    let outcomes: Vec<DeploymentOutcome> = history.iter().map(|d| d.outcome).collect();
    assert_eq!(
        outcomes,
        [
            DeploymentOutcome::Succeeded,
            DeploymentOutcome::Interrupted,
            DeploymentOutcome::Succeeded
        ]
    );
    app.assert_all_on_current("v2.0.0");
}

#[test]
fn bad_input_exits_2_with_file_line_and_key() {
    let app = App::new("itinput", &[19361]);
    app.write(
        "hoist.toml",
        &std::fs::read_to_string(app.root().join("hoist.toml"))
            .unwrap()
            .replace("port = 8080", "port = 8080\nprot = 1"),
    );
    let run = app.hoist(&["plan", "staging"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("hoist.toml:5:1: app.prot: unknown field `prot`"),
        "{}",
        run.stderr
    );

    let app = App::new("itinput2", &[19362]);
    let run = app.hoist(&["deploy", "nowhere"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no environment `nowhere`") && run.stderr.contains("defined: staging"),
        "{}",
        run.stderr
    );
}

#[test]
fn release_images_carry_oci_labels_and_a_failed_build_shows_its_last_lines() {
    let app = App::new("itlabels", &[19371]);
    app.release("v3.1.0");
    app.hoist(&["build"]).ok();
    let label = |key: &str| {
        let out = std::process::Command::new("docker")
            .args([
                "image",
                "inspect",
                "--format",
                &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
                "hoist-test/itlabels:v3.1.0",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(label("org.opencontainers.image.version"), "v3.1.0");
    assert_eq!(label("org.opencontainers.image.revision").len(), 40);
    assert!(label("org.opencontainers.image.created").starts_with("20"));
    assert_eq!(label("dev.hoist.fingerprint").len(), 64);

    app.write("Dockerfile", "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nRUN echo compiling assets && echo 'error: missing stylesheet' && false\n");
    app.release("v3.2.0");
    let run = app.hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("building hoist-test/itlabels:v3.2.0 failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("last build output:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: missing stylesheet"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_writes_a_starter_that_plans() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "flask==3.0\n").unwrap();
    std::fs::write(dir.path().join("package-lock.json"), "{}").unwrap();
    let hoist = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = hoist(&["init", "--name", "shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("hoist.toml")).unwrap();
    assert!(
        text.contains("dependencies = [\"requirements*.txt\", \"package-lock.json\"]"),
        "{text}"
    );
    assert!(text.contains("name = \"shop\""));
    let again = hoist(&["init"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "init must not overwrite without --force"
    );
}
