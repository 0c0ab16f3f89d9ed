//! `hoist prune` and the prune after each deploy, against the real Docker engine: two
//! environments and a second app share the engine (which is also the build host); what
//! runs, what another environment's rollback needs and everything of the other app stay;
//! rollback works for each of the kept releases after the prune.
//! Needs a running engine and Debian's busybox-static (`.ci/run` installs both).
//! Ports 20250-20299; apps, images and containers are named `hoist-prn-*`.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::{App, environment, http_get};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

fn image(app: &App, version: &str) -> String {
    format!("hoist-test/{}:{version}", app.name)
}

/// The names in a prune result's `remove` lists, over every engine.
fn removal_names(result: &serde_json::Value) -> BTreeSet<String> {
    result["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .flat_map(|e| e["remove"].as_array().cloned().unwrap_or_default())
        .map(|d| {
            d["name"]
                .as_str()
                .or_else(|| d["tags"][0].as_str())
                .or_else(|| d["id"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The rule a prune result gives for the item named `name` (a container's name, an
/// image's first tag).
fn rule_for(result: &serde_json::Value, name: &str) -> String {
    for engine in result["engines"].as_array().expect("engines") {
        for list in ["remove", "keep"] {
            for d in engine[list].as_array().cloned().unwrap_or_default() {
                if d["name"] == name || d["tags"][0] == name {
                    return d["reason"]["rule"].as_str().unwrap_or_default().to_string();
                }
            }
        }
    }
    panic!("{name} is not in the prune result: {result:#}");
}

/// A stopped container labelled as hoist labels an instance's, created from `image_ref`.
fn stopped_container(name: &str, app: &str, environment: &str, release: &str, image_ref: &str) {
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
    let out = Command::new("docker")
        .args(["create", "--name", name])
        .args(["--label", &format!("dev.hoist.app={app}")])
        .args(["--label", &format!("dev.hoist.environment={environment}")])
        .args(["--label", "dev.hoist.tenant=stale"])
        .args(["--label", &format!("dev.hoist.release={release}")])
        .arg(image_ref)
        .output()
        .expect("docker create");
    assert!(
        out.status.success(),
        "docker create {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn container_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn remove_container(name: &str) {
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
}

#[test]
fn prune_keeps_what_runs_what_rollbacks_need_and_everything_of_others() {
    // The other app on the same engine: its first release no longer runs, so a prune
    // that went by anything but labels and records could take it.
    let other = App::new("hoist-prn-b", &[20252]);
    other.append_config("[prune]\nafter_deploy = false\n");
    other.release("v1.0.0");
    other.hoist(&["deploy", "staging"]).ok();
    other.write("www/index.html", "<h1>b2</h1>\n");
    other.release("v2.0.0");
    other.hoist(&["deploy", "staging"]).ok();
    let other_old = other.image_id(&image(&other, "v1.0.0")).expect("b v1");

    let app = App::new("hoist-prn-a", &[20250]);
    app.append_config(&environment("production", &[20251], ""));
    app.append_config("[prune]\nafter_deploy = false\nkeep = 2\nkeep_bases = 1\n");
    // v1.0.0 on its own dependency fingerprint, staging only.
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    let old_base = app.hoist(&["plan", "staging", "--json"]).ok().json()["base_image"]
        .as_str()
        .expect("base image")
        .to_string();
    // A dependency change: v1.1.0 on, a new base.
    app.write("deps.txt", "left-pad==2.0\n");
    for (i, version) in ["v1.1.0", "v1.2.0", "v1.3.0"].iter().enumerate() {
        app.write("www/index.html", &format!("<h1>{version}</h1>\n"));
        app.release(version);
        app.hoist(&["deploy", "staging"]).ok();
        if i < 2 {
            app.hoist(&["deploy", "production"]).ok();
        }
    }
    let new_base = app.hoist(&["plan", "staging", "--json"]).ok().json()["base_image"]
        .as_str()
        .expect("base image")
        .to_string();
    assert_ne!(old_base, new_base);
    assert_eq!(version_on(20250).as_deref(), Some("v1.3.0"));
    assert_eq!(version_on(20251).as_deref(), Some("v1.2.0"));
    let v1_0 = app.image_id(&image(&app, "v1.0.0")).expect("v1.0.0");
    let v1_1 = app.image_id(&image(&app, "v1.1.0")).expect("v1.1.0");
    // Stopped containers: staging's of the old release goes; production's stays.
    let stale_staging = "hoist-prn-a-staging-stale";
    let stale_production = "hoist-prn-a-production-stale";
    stopped_container(stale_staging, &app.name, "staging", "v1.0.0", &v1_0);
    stopped_container(stale_production, &app.name, "production", "v1.0.0", &v1_1);
    // And one of the other app, in an environment of the same name.
    let stale_other = "hoist-prn-b-staging-stale";
    stopped_container(stale_other, &other.name, "staging", "v1.0.0", &other_old);

    // --dry-run lists the plan and removes nothing.
    let dry = app
        .hoist(&["prune", "staging", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["environments"], serde_json::json!(["staging"]));
    assert_eq!(dry["keep"], serde_json::json!({"releases": 2, "bases": 1}));
    assert_eq!(dry["bytes_upper_bound"], true);
    let planned = removal_names(&dry);
    assert_eq!(
        planned,
        BTreeSet::from([
            stale_staging.to_string(),
            image(&app, "v1.0.0"),
            old_base.clone(),
        ]),
        "{dry:#}"
    );
    assert!(dry["bytes"].as_u64().unwrap() > 0, "{dry:#}");
    assert_eq!(rule_for(&dry, &image(&app, "v1.0.0")), "old_release");
    assert_eq!(rule_for(&dry, &old_base), "old_base");
    assert_eq!(rule_for(&dry, stale_staging), "stopped_container");
    assert_eq!(rule_for(&dry, &image(&app, "v1.3.0")), "running");
    assert_eq!(rule_for(&dry, &image(&app, "v1.1.0")), "recent_release");
    assert_eq!(rule_for(&dry, &new_base), "recent_base");
    let engine = &dry["engines"][0];
    assert_eq!(engine["engine"], "unix:///var/run/docker.sock");
    assert_eq!(engine["failed"], serde_json::json!([]));
    assert!(engine["error"].is_null());
    let first = &engine["remove"][0];
    assert_eq!(first["type"], "container", "containers go first: {dry:#}");
    for key in ["id", "name", "image_id", "state", "environment", "release"] {
        assert!(
            first.get(key).is_some(),
            "container item lacks {key}: {first:#}"
        );
    }
    assert!(app.image_id(&image(&app, "v1.0.0")).is_some());
    assert!(app.image_id(&old_base).is_some());
    assert!(container_exists(stale_staging));

    // The same plan in words.
    let words = app.hoist(&["prune", "staging", "--dry-run"]).ok();
    assert!(
        words
            .stdout
            .contains(&format!("would remove image {}", image(&app, "v1.0.0"))),
        "{}",
        words.stdout
    );
    assert!(
        words.stdout.contains("would free up to"),
        "{}",
        words.stdout
    );

    // The real prune removes exactly that.
    let run = app.hoist(&["prune", "staging", "--json"]).ok();
    let result = run.json();
    assert_eq!(result["dry_run"], false);
    assert_eq!(removal_names(&result), planned, "{result:#}");
    assert!(
        run.events().iter().any(|e| e["kind"] == "pruned"),
        "{}",
        run.stdout
    );
    assert!(app.image_id(&image(&app, "v1.0.0")).is_none());
    assert!(app.image_id(&old_base).is_none());
    assert!(!container_exists(stale_staging));
    // Kept: each environment's last two, the new base, production's container, and
    // everything of the other app.
    for version in ["v1.1.0", "v1.2.0", "v1.3.0"] {
        assert!(app.image_id(&image(&app, version)).is_some(), "{version}");
    }
    assert!(app.image_id(&new_base).is_some());
    assert!(container_exists(stale_production));
    assert!(container_exists(stale_other));
    assert_eq!(other.image_id(&image(&other, "v1.0.0")), Some(other_old));
    assert!(other.image_id(&image(&other, "v2.0.0")).is_some());
    assert_eq!(version_on(20250).as_deref(), Some("v1.3.0"));
    assert_eq!(version_on(20251).as_deref(), Some("v1.2.0"));
    let audit = app.hoist(&["audit", "staging", "--json"]).ok().json();
    assert!(
        audit
            .as_array()
            .expect("audit entries")
            .iter()
            .any(|e| e["action"] == "prune.succeeded"),
        "{audit:#}"
    );

    // Rollback works for each kept release, in each environment.
    for version in ["v1.2.0", "v1.3.0"] {
        app.hoist(&["rollback", "staging", "--to", version]).ok();
        assert_eq!(version_on(20250).as_deref(), Some(version));
    }
    app.hoist(&["rollback", "production", "--to", "v1.1.0"])
        .ok();
    assert_eq!(version_on(20251).as_deref(), Some("v1.1.0"));
    // What was pruned is gone for good, and the refusal says so.
    let gone = app.hoist(&["rollback", "staging", "--to", "v1.0.0"]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("no longer on the engine"),
        "{}",
        gone.stderr
    );

    // Another prune finds nothing more of staging's to remove.
    let again = app.hoist(&["prune", "staging", "--json"]).ok().json();
    assert!(removal_names(&again).is_empty(), "{again:#}");

    for name in [stale_production, stale_other] {
        remove_container(name);
    }
}

#[test]
fn the_prune_after_a_deploy_runs_by_default_and_can_be_turned_off() {
    let app = App::new("hoist-prn-c", &[20253]);
    app.append_config("[prune]\nkeep = 1\n");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.write("www/index.html", "<h1>c2</h1>\n");
    app.release("v2.0.0");
    let deploy = app.hoist(&["deploy", "staging", "--json"]).ok();
    let pruned: Vec<serde_json::Value> = deploy
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "pruned")
        .collect();
    assert_eq!(pruned.len(), 1, "{}", deploy.stdout);
    assert_eq!(pruned[0]["environment"], "staging");
    assert_eq!(pruned[0]["dry_run"], false);
    assert_eq!(
        pruned[0]["removed"],
        serde_json::json!([image(&app, "v1.0.0")]),
        "{:#}",
        pruned[0]
    );
    assert!(app.image_id(&image(&app, "v1.0.0")).is_none());
    assert_eq!(version_on(20253).as_deref(), Some("v2.0.0"));

    // Human progress says so too.
    app.write("www/index.html", "<h1>c3</h1>\n");
    app.release("v3.0.0");
    let deploy = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        deploy.stderr.contains(&format!(
            "prune: unix:///var/run/docker.sock: removed {}",
            image(&app, "v2.0.0")
        )),
        "{}",
        deploy.stderr
    );
    assert!(app.image_id(&image(&app, "v2.0.0")).is_none());

    // Turned off: the previous release's image stays.
    app.write_config_with("5s", "[prune]\nafter_deploy = false\nkeep = 1\n");
    app.write("www/index.html", "<h1>c4</h1>\n");
    app.release("v4.0.0");
    let deploy = app.hoist(&["deploy", "staging", "--json"]).ok();
    assert!(
        !deploy.events().iter().any(|e| e["kind"] == "pruned"),
        "{}",
        deploy.stdout
    );
    assert!(app.image_id(&image(&app, "v3.0.0")).is_some());
    assert_eq!(version_on(20253).as_deref(), Some("v4.0.0"));
}

#[test]
fn a_keep_of_zero_is_refused_at_its_line() {
    let app = App::new("hoist-prn-d", &[20254]);
    app.append_config("[prune]\nkeep = 0\n");
    let run = app.hoist(&["prune", "--dry-run"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("prune.keep"), "{}", run.stderr);
    assert!(run.stderr.contains("hoist.toml:"), "{}", run.stderr);
}

#[test]
fn prune_without_an_environment_covers_every_one_and_says_registry_tags_need_a_registry() {
    let app = App::new("hoist-prn-e", &[20255]);
    app.append_config(&environment("production", &[20256], ""));
    app.append_config("[prune]\nregistry_tags = true\n");
    let result = app.hoist(&["prune", "--json"]).ok().json();
    assert_eq!(
        result["environments"],
        serde_json::json!(["production", "staging"])
    );
    assert_eq!(
        result["keep"],
        serde_json::json!({"releases": 5, "bases": 2})
    );
    assert_eq!(
        result["engines"][0]["engine"],
        "unix:///var/run/docker.sock"
    );
    assert_eq!(result["engines"].as_array().map(Vec::len), Some(1));
    assert!(removal_names(&result).is_empty(), "{result:#}");
    assert_eq!(result["bytes"], 0);
    assert_eq!(result["registries"], serde_json::json!([]));
    assert!(
        result["registry_tags"]
            .as_str()
            .is_some_and(|n| n.contains("no [registry]")),
        "{result:#}"
    );
    // An unknown environment is bad input.
    let run = app.hoist(&["prune", "qa"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no environment `qa`"), "{}", run.stderr);
}
