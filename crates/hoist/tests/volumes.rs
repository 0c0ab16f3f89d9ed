//! `volumes` on the real Docker engine and the real single-node swarm: a tenant's data in
//! its named volume outlives new releases, rollbacks, `hoist prune` and `hoist retire`; a
//! `:ro` host directory cannot be written; a changed volume redeploys an instance whose
//! release did not change; a Swarm service and its release task mount the tenant's volume.
//! Needs a running engine and Debian's busybox-static (`.ci/run` installs both).
//! Ports 21000-21049; apps, volumes, services and temporary directories are `hoist-vol-*`.

mod support;

use std::path::Path;
use std::process::Command;

use support::swarm::ensure_swarm;
use support::volume::{self, Volumes};
use support::{App, http_get, instance};

/// The body of a 200 answer at `path`, trimmed; `None` for anything else.
fn get(port: u16, path: &str) -> Option<String> {
    http_get(port, path)
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body.trim().to_string())
}

/// `{{json FIELD}}` of `docker inspect` (a container, or a service with `service`).
fn inspect(what: &[&str], field: &str) -> serde_json::Value {
    let out = Command::new("docker")
        .args(what)
        .args(["--format", &format!("{{{{json {field}}}}}")])
        .output()
        .expect("docker inspect");
    assert!(
        out.status.success(),
        "docker {what:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

const DATA: &str = "volumes = [\"hoist-vol-data-{tenant}:/data\"]";

/// hoist.toml: every tenant's own volume at /data, and t0 the host directory `config` at
/// /config with `mode` (`:ro` or nothing).
fn configure(app: &App, config: &Path, mode: &str) {
    app.write_config("10s");
    app.staging_keys(DATA);
    volume::instance_keys(
        app,
        "t0",
        &format!("volumes = [\"{}:/config{mode}\"]", config.display()),
    );
}

#[test]
fn data_outlives_releases_rollback_prune_and_retire_and_a_changed_volume_redeploys() {
    // Before the app: its containers are removed first, then the volumes.
    let _volumes = Volumes::new(&["hoist-vol-data-t0", "hoist-vol-data-t1"]);
    let config = tempfile::Builder::new()
        .prefix("hoist-vol-config-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(config.path().join("greeting"), "hello from the host\n").unwrap();
    let mut app = App::new("hoist-vol-data", &[21001, 21002]);
    let image = |version: &str| format!("hoist-test/hoist-vol-data:{version}");
    volume::dockerfile(&app, 0);
    configure(&app, config.path(), ":ro");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    // Release 1 wrote its version into each tenant's volume; t0 reads its host directory
    // and cannot write it; t1 mounts none.
    for port in [21001, 21002] {
        assert_eq!(get(port, "/first").as_deref(), Some("v1.0.0"), ":{port}");
    }
    assert_eq!(
        get(21001, "/greeting").as_deref(),
        Some("hello from the host")
    );
    assert_eq!(get(21001, "/config-mode").as_deref(), Some("read-only"));
    assert!(!config.path().join("written").exists());
    assert_eq!(get(21002, "/greeting"), None);
    let mounts = inspect(
        &["container", "inspect", "hoist-vol-data-staging-t0"],
        ".Mounts",
    );
    let mount = |destination: &str| {
        mounts
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["Destination"] == destination)
            .unwrap_or_else(|| panic!("no {destination} in {mounts:#}"))
            .clone()
    };
    assert_eq!(mount("/data")["Type"], "volume");
    assert_eq!(mount("/data")["Name"], "hoist-vol-data-t0");
    assert_eq!(mount("/data")["RW"], true);
    assert_eq!(mount("/config")["Type"], "bind");
    assert_eq!(
        mount("/config")["Source"],
        config.path().display().to_string()
    );
    assert_eq!(mount("/config")["RW"], false);

    // Release 2 finds release 1's data; so does release 1 again after a rollback.
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.hoist(&["rollback", "staging"]).ok();
    for port in [21001, 21002] {
        assert_eq!(get(port, "/version").as_deref(), Some("v1.0.0"), ":{port}");
        assert_eq!(get(port, "/first").as_deref(), Some("v1.0.0"), ":{port}");
    }

    // `hoist prune` removes a stopped container of an old release that mounted t0's
    // volume, and leaves the volume and its data.
    let stale = "hoist-vol-data-staging-stale";
    let _ = Command::new("docker").args(["rm", "-f", stale]).output();
    let created = Command::new("docker")
        .args(["create", "--name", stale, "-v", "hoist-vol-data-t0:/data"])
        .args(["--label", "dev.hoist.app=hoist-vol-data"])
        .args(["--label", "dev.hoist.environment=staging"])
        .args(["--label", "dev.hoist.tenant=stale"])
        .args(["--label", "dev.hoist.release=v0.0.1"])
        .arg(image("v2.0.0"))
        .output()
        .expect("docker create");
    assert!(created.status.success(), "docker create {stale}");
    let pruned = app.hoist(&["prune", "staging", "--json"]).ok().json();
    let removed: Vec<&str> = pruned["engines"][0]["remove"]
        .as_array()
        .expect("remove")
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert_eq!(removed, [stale], "{pruned:#}");
    for tenant in ["t0", "t1"] {
        let name = format!("hoist-vol-data-{tenant}");
        assert!(volume::exists(&name), "prune removed {name}");
        assert_eq!(
            volume::read(&name, "first", &image("v1.0.0")).as_deref(),
            Some("v1.0.0\n")
        );
    }

    // t0's /config becomes writable: only t0 changes, without a new release, and the plan
    // and the deploy name the volume.
    configure(&app, config.path(), "");
    app.commit_config();
    let shown = config.path().display().to_string();
    let change = format!("volume /config {shown}:ro → {shown}");
    let plan = app
        .hoist(&["plan", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&plan, "t0")["action"], "redeploy", "{plan:#}");
    assert_eq!(instance(&plan, "t0")["changed"], change.as_str());
    assert_eq!(instance(&plan, "t1")["action"], "keep", "{plan:#}");
    let deploy = app
        .hoist(&["deploy", "staging", "--version", "v1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(instance(&deploy, "t0")["state"], "healthy", "{deploy:#}");
    assert!(
        instance(&deploy, "t0")["message"]
            .as_str()
            .is_some_and(|m| m.contains(&change)),
        "{deploy:#}"
    );
    assert_eq!(instance(&deploy, "t1")["state"], "unchanged", "{deploy:#}");
    assert_eq!(get(21001, "/config-mode").as_deref(), Some("writable"));
    assert!(config.path().join("written").exists());
    assert_eq!(get(21001, "/first").as_deref(), Some("v1.0.0"));

    // t1 leaves the config and is retired: its container goes, its data stays.
    app.ports = vec![21001];
    configure(&app, config.path(), "");
    app.commit_config();
    let retired = app
        .hoist(&["retire", "staging", "t1", "--json"])
        .ok()
        .json();
    assert_eq!(retired["workloads"][0]["name"], "hoist-vol-data-staging-t1");
    assert_eq!(app.containers(), ["hoist-vol-data-staging-t0"]);
    assert_eq!(
        volume::read("hoist-vol-data-t1", "first", &image("v1.0.0")).as_deref(),
        Some("v1.0.0\n")
    );
}

const SWARM_APP: &str = "hoist-vol-swarm";
const SWARM_PORT: u16 = 21011;

/// Removes the swarm app's services when dropped, and what an earlier run left when made.
struct Services;

impl Services {
    fn new() -> Services {
        Services.remove();
        Services
    }

    fn remove(&self) {
        let out = Command::new("docker")
            .args(["service", "ls", "--format", "{{.Name}}"])
            .args(["--filter", &format!("label=dev.hoist.app={SWARM_APP}")])
            .output()
            .expect("docker service ls");
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !names.is_empty() {
            let _ = Command::new("docker")
                .args(["service", "rm"])
                .args(&names)
                .output();
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn a_swarm_service_and_its_release_task_mount_the_tenants_volume() {
    ensure_swarm();
    // What an earlier run left, before its volume can go.
    drop(Services::new());
    // Dropped last: after the services and the app's containers.
    let _volumes = Volumes::new(&["hoist-vol-swarm-p0"]);
    let app = App::new(SWARM_APP, &[21010]);
    // Dropped first: services go before their images.
    let _services = Services::new();
    volume::dockerfile(&app, 0);
    let migrate = "echo \"$TENANT $APP_VERSION serving=$(cat /data/serving 2>/dev/null || echo none)\" >> /data/migrations";
    app.write_config_with(
        "5s",
        &format!(
            "[environments.production]\nrollout = {{ health_timeout = \"30s\" }}\n\
             volumes = [\"hoist-vol-swarm-{{tenant}}:/data\"]\n\n\
             [[environments.production.instances]]\ntenant = \"p0\"\nport = {SWARM_PORT}\nenv = {{ TENANT = \"p0\" }}\n\n\
             [environments.production.runtime]\nkind = \"swarm\"\n\n\
             [environments.production.runtime.update]\nmonitor = \"2s\"\n\n\
             [[environments.production.tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", {migrate:?}]\ntimeout = \"60s\"\n"
        ),
    );
    app.release("v1.0.0");
    let deploy = app.hoist(&["deploy", "production"]).ok();
    assert!(
        deploy.stderr.contains("task migrate: succeeded"),
        "{}",
        deploy.stderr
    );
    assert_eq!(get(SWARM_PORT, "/version").as_deref(), Some("v1.0.0"));

    let service = format!("{SWARM_APP}-production-p0");
    let mounts = inspect(
        &["service", "inspect", &service],
        ".Spec.TaskTemplate.ContainerSpec.Mounts",
    );
    assert_eq!(mounts[0]["Type"], "volume", "{mounts:#}");
    assert_eq!(mounts[0]["Source"], "hoist-vol-swarm-p0", "{mounts:#}");
    assert_eq!(mounts[0]["Target"], "/data", "{mounts:#}");
    // The job wrote the tenant's marker before the service's task first started, and the
    // service's app found it in the same volume.
    let marker = "p0 v1.0.0 serving=none";
    assert_eq!(get(SWARM_PORT, "/migrations").as_deref(), Some(marker));
    assert_eq!(get(SWARM_PORT, "/first").as_deref(), Some("v1.0.0"));
    assert_eq!(
        volume::read(
            "hoist-vol-swarm-p0",
            "migrations",
            &format!("hoist-test/{SWARM_APP}:v1.0.0")
        )
        .as_deref(),
        Some(format!("{marker}\n").as_str())
    );
}
