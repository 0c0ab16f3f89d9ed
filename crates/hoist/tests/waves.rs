//! Canary and waves with a failure policy, and deploys to some tenants, against the real
//! Docker engine with busybox images (`.ci/run` installs both). Names carry `hoist-wave-`
//! and ports are 20100-20149, so these run beside other suites.

mod support;

use support::{App, http_get};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// An app with five tenants t0..t4 in staging: canary t0, then batches of two
/// ([t1, t2], [t3, t4]), and `on_failure` as given. v1.0.0 runs everywhere.
fn five_tenants_on_v1(name: &str, ports: &[u16], on_failure: &str) -> App {
    let app = App::new(name, ports);
    app.write_config("4s");
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "rollout = { concurrency = 2, health_timeout = \"4s\" }",
        &format!(
            "rollout = {{ concurrency = 2, health_timeout = \"4s\", canary = [\"t0\"], batch = 2, on_failure = \"{on_failure}\" }}"
        ),
        1,
    );
    std::fs::write(&path, text).unwrap();
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    for port in ports {
        assert_eq!(version_on(*port).as_deref(), Some("v1.0.0"));
    }
    app
}

/// v2.0.0 exits at once on tenant t2 (in the second wave) and works everywhere else.
fn release_v2_broken_on_t2(app: &App) {
    app.write(
        "Dockerfile",
        "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY www /www\nARG HOIST_VERSION=dev\nENV APP_VERSION=${HOIST_VERSION}\nENV BROKEN_FOR=t2\n\
         CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; if [ \\\"$TENANT\\\" = \\\"$BROKEN_FOR\\\" ]; then echo broken for $TENANT; exit 3; fi; echo \\\"$APP_VERSION\\\" > /www/version; httpd -f -p 8080 -h /www & wait\"]\n",
    );
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
}

fn outcomes(deployment: &serde_json::Value) -> Vec<(String, String)> {
    let mut outcomes: Vec<(String, String)> = deployment["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            (
                i["tenant"].as_str().unwrap().to_string(),
                i["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    outcomes.sort();
    outcomes
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_failure_in_the_second_wave_rolls_back_the_first_and_the_canary_and_leaves_the_third_alone() {
    let ports = [20100, 20101, 20102, 20103, 20104];
    let app = five_tenants_on_v1("hoist-wave-rollback", &ports, "rollback");
    release_v2_broken_on_t2(&app);
    let plan = app.hoist(&["plan", "staging", "--json"]).ok().json();
    assert_eq!(
        plan["waves"],
        serde_json::json!([
            {"canary": true, "tenants": ["t0"]},
            {"canary": false, "tenants": ["t1", "t2"]},
            {"canary": false, "tenants": ["t3", "t4"]},
        ])
    );

    let run = app.hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("wave 1 of 3 (canary): t0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("wave 2 of 3: t1, t2"), "{}", run.stderr);
    assert!(!run.stderr.contains("wave 3 of 3"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("returned to their previous release: t0, t1"),
        "{}",
        run.stderr
    );
    // Every tenant serves v1.0.0 again, through the runtime's verified rollout.
    for port in ports {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"), "port {port}");
    }

    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    let latest = &history["deployments"][0];
    assert_eq!(latest["version"], "v2.0.0");
    assert_eq!(latest["outcome"], "failed");
    assert_eq!(
        outcomes(latest),
        pairs(&[
            ("t0", "rolled_back_by_policy"),
            ("t1", "rolled_back_by_policy"),
            ("t2", "rolled_back"),
            ("t3", "skipped"),
            ("t4", "skipped"),
        ])
    );
    let text = app.hoist(&["history", "staging"]).ok().stdout;
    assert!(text.contains("t0=rolled_back_by_policy"), "{text}");

    // The audit log says what the policy did.
    let audit = app.hoist(&["audit", "staging", "--json"]).ok().json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .expect("audit entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"rollout.rolled_back_by_policy"),
        "{actions:?}"
    );

    // Status: everyone runs the environment's current release (v1.0.0), no drift.
    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert_eq!(status["current"]["version"], "v1.0.0");
    assert_eq!(status["drift"]["behind"], serde_json::json!([]));
}

#[test]
fn a_failure_in_the_second_wave_with_halt_leaves_the_canary_and_first_wave_on_the_new_release() {
    let ports = [20105, 20106, 20107, 20108, 20109];
    let app = five_tenants_on_v1("hoist-wave-halt", &ports, "halt");
    release_v2_broken_on_t2(&app);

    let run = app.hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("kept the new release: t0, t1"),
        "{}",
        run.stderr
    );
    let on = |i: usize| version_on(ports[i]);
    assert_eq!(on(0).as_deref(), Some("v2.0.0"));
    assert_eq!(on(1).as_deref(), Some("v2.0.0"));
    assert_eq!(on(2).as_deref(), Some("v1.0.0"));
    assert_eq!(on(3).as_deref(), Some("v1.0.0"));
    assert_eq!(on(4).as_deref(), Some("v1.0.0"));

    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    assert_eq!(
        outcomes(&history["deployments"][0]),
        pairs(&[
            ("t0", "healthy"),
            ("t1", "healthy"),
            ("t2", "rolled_back"),
            ("t3", "skipped"),
            ("t4", "skipped"),
        ])
    );
    // `status` shows who runs what.
    let status = app.hoist(&["status", "staging"]);
    assert!(
        status.stdout.contains("release drift:"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("v2.0.0 on t0, t1")
            && status.stdout.contains("v1.0.0 on t2, t3, t4"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_deploy_to_some_tenants_records_them_shows_drift_and_a_full_deploy_brings_the_rest_up() {
    let ports = [20110, 20111, 20112];
    let app = App::new("hoist-wave-subset", &ports);
    app.write_config("5s");
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // t1 and t2 are in the EU; t2 is gold.
    let text = text
        .replacen("tenant = \"t1\"\n", "tenant = \"t1\"\ntags = [\"eu\"]\n", 1)
        .replacen(
            "tenant = \"t2\"\n",
            "tenant = \"t2\"\ntags = [\"eu\", \"gold\"]\n",
            1,
        );
    std::fs::write(&path, text).unwrap();
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // Unknown names are refused before anything happens, listing the known ones.
    let bad = app.hoist(&["deploy", "staging", "--tenant", "nobody"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("staging has no tenant `nobody`; its tenants are: t0, t1, t2"),
        "{}",
        bad.stderr
    );
    let bad = app.hoist(&["deploy", "staging", "--tag", "us"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("its tags are: eu, gold"),
        "{}",
        bad.stderr
    );

    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    let run = app
        .hoist(&["deploy", "staging", "--tenant", "t0", "--json"])
        .ok()
        .json();
    assert_eq!(run["instances"].as_array().unwrap().len(), 1);
    assert_eq!(version_on(ports[0]).as_deref(), Some("v2.0.0"));
    assert_eq!(version_on(ports[1]).as_deref(), Some("v1.0.0"));
    assert_eq!(version_on(ports[2]).as_deref(), Some("v1.0.0"));

    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    assert_eq!(
        history["deployments"][0]["subset"],
        serde_json::json!(["t0"])
    );
    assert!(history["deployments"][1].get("subset").is_none());
    let text = app.hoist(&["history", "staging"]).ok().stdout;
    assert!(text.contains("to t0 only"), "{text}");

    // Drift: who runs what, who is behind v2.0.0; status fails until all are on it.
    let status = app.hoist(&["status", "staging"]);
    assert_eq!(status.code, 1);
    assert!(
        status
            .stdout
            .contains("release drift: v2.0.0 on t0; v1.0.0 on t1, t2"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("behind v2.0.0: t1, t2"),
        "{}",
        status.stdout
    );
    let json = app.hoist(&["status", "staging", "--json"]).json();
    assert_eq!(json["drift"]["behind"], serde_json::json!(["t1", "t2"]));

    // A tag takes every instance that wears it.
    let run = app
        .hoist(&["deploy", "staging", "--tag", "gold", "--json"])
        .ok()
        .json();
    let tenants: Vec<&str> = run["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["t2"]);
    assert_eq!(version_on(ports[2]).as_deref(), Some("v2.0.0"));

    // A full deploy brings the rest up and leaves the others unchanged.
    let run = app.hoist(&["deploy", "staging", "--json"]).ok().json();
    let states: Vec<(&str, &str)> = run["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["tenant"].as_str().unwrap(), i["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("t0", "unchanged"), ("t1", "healthy"), ("t2", "unchanged")]
    );
    app.assert_all_on_current("v2.0.0");
    let status = app.hoist(&["status", "staging"]).ok();
    assert!(
        !status.stdout.contains("release drift"),
        "{}",
        status.stdout
    );
}
