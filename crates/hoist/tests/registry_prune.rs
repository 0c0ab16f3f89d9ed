//! `[prune] registry_tags` with the `hoist` binary against Debian's `docker-registry` on
//! loopback: one whose storage allows deletes (old release tags go, the kept ones and the
//! base stay, `--dry-run` only lists) and one that refuses them (405: a clear failure).
//! Ports 20800-20849; apps `regdep*`.

#[path = "../../hoist-registry/tests/support/mod.rs"]
mod registry;
mod support;

use std::process::Command;

use registry::TestRegistry;
use support::App;

/// An app on `registry` keeping one release, pruning registry tags only by hand.
fn app_on(registry: &TestRegistry, name: &str, port: u16) -> App {
    let app = App::new(name, &[port]);
    app.append_config(&format!(
        "[registry]\nimage = \"{}/{name}/app\"\ninsecure = true\n\n\
         [prune]\nkeep = 1\nkeep_bases = 1\nafter_deploy = false\nregistry_tags = true\n",
        registry.host()
    ));
    app
}

/// Deploys `versions` to staging, one code change each.
fn deploy_each(app: &App, versions: &[&str]) {
    for version in versions {
        app.write("www/index.html", &format!("<h1>{version}</h1>\n"));
        app.release(version);
        app.hoist(&["deploy", "staging"]).ok();
    }
}

/// The names of a registry report's `remove` (or `keep`) items, sorted.
fn names(report: &serde_json::Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {report:#}"))
        .iter()
        .map(|d| d["tags"][0].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn remove_registry_images(app: &App, registry: &TestRegistry) {
    let filter = format!("reference={}/{}/*", registry.host(), app.name);
    let out = Command::new("docker")
        .args(["image", "ls", "-q", "--filter", &filter])
        .output()
        .expect("docker image ls");
    for id in String::from_utf8_lossy(&out.stdout).lines() {
        let _ = Command::new("docker").args(["rmi", "-f", id]).output();
    }
}

#[test]
fn old_release_tags_are_deleted_by_digest_and_what_a_rollback_needs_stays() {
    let registry = TestRegistry::plain(20802);
    let app = app_on(&registry, "regdepprune", 20820);
    deploy_each(&app, &["v1.0.0", "v1.1.0", "v1.2.0"]);
    let repo = format!("{}/regdepprune/app", registry.host());

    let dry = app.hoist(&["prune", "--dry-run", "--json"]).ok().json();
    let releases = &dry["registries"][0];
    assert_eq!(releases["engine"], repo.as_str(), "{dry:#}");
    assert_eq!(
        names(releases, "remove"),
        [format!("{repo}:v1.0.0"), format!("{repo}:v1.1.0")],
        "{dry:#}"
    );
    assert_eq!(releases["remove"][0]["type"], "tag");
    assert_eq!(
        releases["remove"][0]["reason"]["rule"], "old_release",
        "{dry:#}"
    );
    assert_eq!(
        names(releases, "keep"),
        [format!("{repo}:v1.2.0")],
        "{dry:#}"
    );
    // The base repository's one fingerprint stays.
    let bases = &dry["registries"][1];
    assert_eq!(bases["engine"], format!("{repo}-base").as_str());
    assert!(names(bases, "remove").is_empty(), "{dry:#}");
    assert_eq!(bases["keep"][0]["reason"]["rule"], "recent_base");
    assert!(
        dry["registry_tags"]
            .as_str()
            .is_some_and(|n| n.contains("would delete 2") && n.contains("garbage collection")),
        "{dry:#}"
    );
    // Dry: nothing went.
    registry
        .skopeo_digest("regdepprune/app:v1.0.0")
        .expect("a dry run deletes nothing");

    let v2_digest = registry.skopeo_digest("regdepprune/app:v1.2.0").unwrap();
    let pruned = app.hoist(&["prune", "--json"]).ok().json();
    assert_eq!(pruned["registries"][0]["failed"], serde_json::json!([]));
    for gone in ["v1.0.0", "v1.1.0"] {
        assert!(
            registry
                .skopeo_digest(&format!("regdepprune/app:{gone}"))
                .is_err(),
            "{gone} is still in the registry"
        );
    }
    assert_eq!(
        registry.skopeo_digest("regdepprune/app:v1.2.0").unwrap(),
        v2_digest
    );
    let deletes: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE "))
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(
        deletes
            .iter()
            .all(|r| r.contains("/v2/regdepprune/app/manifests/sha256:") && r.ends_with(" 202")),
        "{deletes:?}"
    );

    // The kept release still deploys (its image comes back by digest if need be).
    let again = app.hoist(&["deploy", "staging", "--json"]).ok().json();
    assert_eq!(again["release"]["version"], "v1.2.0");
    remove_registry_images(&app, &registry);
}

#[test]
fn a_registry_that_refuses_deletes_fails_the_prune_with_a_message_that_says_so() {
    let registry = TestRegistry::plain_without_deletes(20803);
    let app = app_on(&registry, "regdepnodel", 20821);
    deploy_each(&app, &["v1.0.0", "v1.1.0"]);
    let run = app.hoist(&["prune", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let failed = &report["registries"][0]["failed"];
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{report:#}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("does not allow deletes")
            && error.contains("REGISTRY_STORAGE_DELETE_ENABLED"),
        "{error}"
    );
    // Nothing was lost.
    registry
        .skopeo_digest("regdepnodel/app:v1.0.0")
        .expect("the refused tag is still there");
    remove_registry_images(&app, &registry);
}
