//! Drift between hoist.toml and what runs, against the real Docker engine: a tenant removed
//! from the config is named by `plan`, `status` and `deploy` and removed only by `hoist
//! retire`; a setting changed without a new version is redeployed, naming the setting.
//! Needs a running engine and Debian's busybox-static (`.ci/run` installs both).

mod support;

use std::process::Command;

use hoist_core::Store;
use support::swarm::ensure_swarm;
use support::{App, http_get, instance};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// `docker inspect`'s view of a container's environment.
fn container_env(name: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["inspect", "--format", "{{json .Config.Env}}", name])
        .output()
        .expect("docker inspect");
    assert!(out.status.success(), "no container {name}");
    serde_json::from_slice(&out.stdout).expect("env as JSON")
}

fn orphan_names(doc: &serde_json::Value) -> Vec<String> {
    doc["orphans"]
        .as_array()
        .unwrap_or_else(|| panic!("no orphans in {doc:#}"))
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_removed_tenant_is_named_by_plan_status_and_deploy_and_removed_only_by_retire() {
    let mut app = App::new("itdrift-orph", &[19951, 19952, 19953]);
    let production = support::environment("production", &[19955], "");
    app.append_config(&production);
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.hoist(&["deploy", "production", "--version", "v1.0.0"])
        .ok();
    // Another app's staging on the same engine.
    let other = App::new("itdrift-other", &[19954]);
    other.release("v1.0.0");
    other.hoist(&["deploy", "staging"]).ok();

    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert!(orphan_names(&status).is_empty(), "{status:#}");

    // t2 leaves hoist.toml.
    app.ports = vec![19951, 19952];
    app.write_config_with("5s", &production);
    app.commit_config();

    let plan = app
        .hoist(&["plan", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(orphan_names(&plan), ["itdrift-orph-staging-t2"]);
    assert_eq!(plan["orphans"][0]["tenant"], "t2");
    assert_eq!(plan["orphans"][0]["release"], "v1.0.0");
    let human = app.hoist(&["plan", "staging", "--version", "v1.0.0"]).ok();
    assert!(
        human.stdout.contains("hoist retire staging t2"),
        "{}",
        human.stdout
    );
    // Other environments and other apps on the engine are never this one's orphans.
    let plan = app
        .hoist(&["plan", "production", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert!(orphan_names(&plan).is_empty(), "{plan:#}");

    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert_eq!(orphan_names(&status), ["itdrift-orph-staging-t2"]);
    let human = app.hoist(&["status", "staging"]);
    assert!(
        human.stdout.contains("orphaned") && human.stdout.contains("itdrift-orph-staging-t2"),
        "{}",
        human.stdout
    );

    // A deploy leaves it running, and says so.
    let deploy = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0", "--json"])
        .ok();
    assert!(
        deploy
            .stderr
            .contains("retire it with `hoist retire staging t2`"),
        "{}",
        deploy.stderr
    );
    assert!(
        deploy
            .events()
            .iter()
            .any(|e| e["kind"] == "orphan_found" && e["tenant"] == "t2"),
        "{}",
        deploy.stdout
    );
    assert_eq!(orphan_names(&deploy.json()), ["itdrift-orph-staging-t2"]);
    assert_eq!(version_on(19953).as_deref(), Some("v1.0.0"));

    // Retire refuses what it must not touch, with a clear error.
    let unknown = app.hoist(&["retire", "staging", "t9"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("nothing of itdrift-orph runs for tenant t9 in staging")
            && unknown.stderr.contains("orphaned tenants there: t2"),
        "{}",
        unknown.stderr
    );
    let configured = app.hoist(&["retire", "staging", "t0"]);
    assert_eq!(configured.code, 2, "{}", configured.stderr);
    assert!(
        configured.stderr.contains("tenant t0 is still configured"),
        "{}",
        configured.stderr
    );
    let dry = app.hoist(&["retire", "staging", "t2", "--dry-run"]).ok();
    assert!(
        dry.stdout
            .contains("would stop and remove itdrift-orph-staging-t2"),
        "{}",
        dry.stdout
    );
    assert_eq!(version_on(19953).as_deref(), Some("v1.0.0"));

    let retired = app
        .hoist(&["retire", "staging", "t2", "--json"])
        .ok()
        .json();
    assert_eq!(retired["workloads"][0]["name"], "itdrift-orph-staging-t2");
    assert_eq!(
        app.containers(),
        [
            "itdrift-orph-production-t0",
            "itdrift-orph-staging-t0",
            "itdrift-orph-staging-t1",
        ]
    );
    assert_eq!(version_on(19953), None);
    for port in [19951, 19952, 19954, 19955] {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"), ":{port}");
    }
    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert!(orphan_names(&status).is_empty(), "{status:#}");
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let audit = store
        .audit_log("itdrift-orph", Some("staging"), 20)
        .unwrap();
    assert!(
        audit.iter().any(|e| e.action == "retire.succeeded"
            && e.detail.contains("itdrift-orph-staging-t2")
            && e.actor == "tester"),
        "{audit:#?}"
    );
}

#[test]
fn a_setting_changed_without_a_new_version_is_redeployed_and_named() {
    let app = App::new("itdrift-spec", &[19960, 19961]);
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    let t0 = "itdrift-spec-staging-t0";

    // The same version and settings: nothing changes.
    let same = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    for tenant in ["t0", "t1"] {
        assert_eq!(instance(&same, tenant)["state"], "unchanged", "{same:#}");
    }

    // t0's env changes: plan says so, deploy redeploys it, and only it.
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    app.write(
        "hoist.toml",
        &config.replace(
            "env = { TENANT = \"t0\" }",
            "env = { TENANT = \"t0-renamed\" }",
        ),
    );
    app.commit_config();
    let plan = app
        .hoist(&["plan", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&plan, "t0")["action"], "redeploy", "{plan:#}");
    assert_eq!(instance(&plan, "t0")["changed"], "env TENANT changed");
    assert_eq!(instance(&plan, "t1")["action"], "keep");
    let human = app.hoist(&["plan", "staging", "--version", "v1.0.0"]).ok();
    assert!(
        human
            .stdout
            .contains("t0: will redeploy: env TENANT changed"),
        "{}",
        human.stdout
    );
    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert_eq!(
        instance(&status, "t0")["config_changed"],
        "env TENANT changed"
    );

    let deploy = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    let redeployed = instance(&deploy, "t0");
    assert_eq!(redeployed["state"], "healthy", "{deploy:#}");
    assert!(
        redeployed["message"]
            .as_str()
            .unwrap()
            .contains("env TENANT changed"),
        "{deploy:#}"
    );
    assert_eq!(instance(&deploy, "t1")["state"], "unchanged");
    assert!(
        container_env(t0).contains(&"TENANT=t0-renamed".to_string()),
        "{:?}",
        container_env(t0)
    );
    // The store keeps the spec's digests, never the values.
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let latest = store.deployments("itdrift-spec", "staging", 1).unwrap();
    let spec = latest[0].instances[0].spec.clone().expect("a spec digest");
    assert!(spec.contains("env.TENANT"), "{spec}");
    assert!(!spec.contains("t0-renamed"), "{spec}");

    // t1's port changes: redeployed on the new port, the old one closed.
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    app.write(
        "hoist.toml",
        &config.replace("port = 19961", "port = 19962"),
    );
    app.commit_config();
    let deploy = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0"])
        .ok();
    assert!(
        deploy.stderr.contains("port 19961 → 19962"),
        "{}",
        deploy.stderr
    );
    assert_eq!(version_on(19962).as_deref(), Some("v1.0.0"));
    assert_eq!(version_on(19961), None);

    // Nothing changed since: everything stays.
    let again = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    for tenant in ["t0", "t1"] {
        assert_eq!(instance(&again, tenant)["state"], "unchanged", "{again:#}");
    }
}

/// This app's Swarm services, by name.
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

/// Removes the app's services (and waits for their tasks' containers) before the app's
/// images go.
struct Services(&'static str);

impl Drop for Services {
    fn drop(&mut self) {
        let names = services(self.0);
        if names.is_empty() {
            return;
        }
        let _ = Command::new("docker")
            .args(["service", "rm"])
            .args(&names)
            .output();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let out = Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=dev.hoist.app={}", self.0),
                    "--filter",
                    "label=com.docker.swarm.service.name",
                ])
                .output()
                .expect("docker ps");
            if out.stdout.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

#[test]
fn on_swarm_a_changed_env_redeploys_and_a_removed_tenant_is_retired() {
    ensure_swarm();
    let name = "itdrift-swarm";
    // Leftovers of an earlier run go first; then `_services`, declared after the app, is
    // dropped before it: the services go before the app's images.
    drop(Services(name));
    let app = App::new(name, &[19970]);
    let _services = Services(name);
    app.append_config(
        "[environments.production]\nrollout = { health_timeout = \"30s\" }\n\n\
         [[environments.production.instances]]\ntenant = \"p0\"\nport = 19971\nenv = { TENANT = \"p0\" }\n\n\
         [[environments.production.instances]]\ntenant = \"p1\"\nport = 19972\nenv = { TENANT = \"p1\" }\n\n\
         [environments.production.runtime]\nkind = \"swarm\"\n\n\
         [environments.production.runtime.update]\nmonitor = \"1s\"\n",
    );
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.hoist(&["deploy", "production", "--version", "v1.0.0"])
        .ok();
    assert_eq!(
        services(name),
        ["itdrift-swarm-production-p0", "itdrift-swarm-production-p1"]
    );
    let same = app
        .hoist(&["deploy", "production", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&same, "p0")["state"], "unchanged", "{same:#}");

    // p0's env changes and p1 leaves hoist.toml.
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    let config = config
        .replace(
            "env = { TENANT = \"p0\" }",
            "env = { TENANT = \"p0-renamed\" }",
        )
        .replace(
            "[[environments.production.instances]]\ntenant = \"p1\"\nport = 19972\nenv = { TENANT = \"p1\" }\n",
            "",
        );
    app.write("hoist.toml", &config);
    app.commit_config();

    let plan = app
        .hoist(&["plan", "production", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&plan, "p0")["action"], "redeploy", "{plan:#}");
    assert_eq!(instance(&plan, "p0")["changed"], "env TENANT changed");
    assert_eq!(orphan_names(&plan), ["itdrift-swarm-production-p1"]);
    // The Docker staging of the same app is not production's orphan, nor the reverse.
    let staging = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert!(orphan_names(&staging).is_empty(), "{staging:#}");

    let deploy = app
        .hoist(&["deploy", "production", "--version", "v1.0.0", "--json"])
        .ok();
    let report = deploy.json();
    assert_eq!(instance(&report, "p0")["state"], "healthy", "{report:#}");
    assert!(
        instance(&report, "p0")["message"]
            .as_str()
            .unwrap()
            .contains("env TENANT changed"),
        "{report:#}"
    );
    assert!(
        deploy
            .events()
            .iter()
            .any(|e| e["kind"] == "orphan_found" && e["tenant"] == "p1"),
        "{}",
        deploy.stdout
    );
    let env = Command::new("docker")
        .args([
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
            "itdrift-swarm-production-p0",
        ])
        .output()
        .expect("docker service inspect");
    let env: Vec<String> = serde_json::from_slice(&env.stdout).expect("env");
    assert!(env.contains(&"TENANT=p0-renamed".to_string()), "{env:?}");
    assert_eq!(version_on(19972).as_deref(), Some("v1.0.0"));

    app.hoist(&["retire", "production", "p1"]).ok();
    assert_eq!(services(name), ["itdrift-swarm-production-p0"]);
    assert_eq!(version_on(19971).as_deref(), Some("v1.0.0"));
    assert_eq!(version_on(19970).as_deref(), Some("v1.0.0"));
    let again = app
        .hoist(&["deploy", "production", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&again, "p0")["state"], "unchanged", "{again:#}");
    assert!(orphan_names(&again).is_empty(), "{again:#}");
}
