//! Deploying by digest through a real registry, with the `hoist` binary: Debian's
//! `docker-registry` on loopback (plain HTTP, htpasswd auth, so an engine's pull only
//! succeeds when hoist hands it the credentials), staging on a container of the local
//! engine and production on a Swarm service. The app image is removed from the engine
//! before production's first deploy, so only a pull by digest can bring it back.
//! Ports 20800-20849; apps and services `regdep*`.

#[path = "../../hoist-registry/tests/support/mod.rs"]
mod registry;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use registry::TestRegistry;
use support::swarm::ensure_swarm;
use support::{App, http_get};

const REGISTRY_PORT: u16 = 20801;
const STAGING_PORT: u16 = 20810;
const PRODUCTION_PORT: u16 = 20811;

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn remove_service(name: &str) {
    if docker(&["service", "rm", name]).is_err() {
        return;
    }
    // The task's container goes a moment later; images can only go after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let filter = format!("label=com.docker.swarm.service.name={name}");
        if docker(&["ps", "-aq", "--filter", &filter]).is_ok_and(|o| o.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The app with `[registry]` on the test registry, staging on a container and production
/// on a Swarm service; cleans its service and registry-named images up when dropped.
struct RegistryApp {
    app: App,
    repository: String,
}

const SERVICE: &str = "regdep-production-p0";

impl RegistryApp {
    fn new(registry: &TestRegistry) -> RegistryApp {
        ensure_swarm();
        remove_service(SERVICE);
        let app = App::new("regdep", &[STAGING_PORT]);
        let repository = format!("{}/regdep/app", registry.host());
        app.append_config(&format!(
            "[registry]\nimage = \"{repository}\"\ninsecure = true\n\n\
             [environments.production]\nrollout = {{ health_timeout = \"30s\" }}\n\n\
             [[environments.production.instances]]\ntenant = \"p0\"\nport = {PRODUCTION_PORT}\n\n\
             [environments.production.runtime]\nkind = \"swarm\"\n\n\
             [environments.production.runtime.update]\nmonitor = \"1s\"\n"
        ));
        RegistryApp { app, repository }
    }

    /// hoist with the registry's credentials in the environment, as a CI job has them.
    fn hoist(&self, args: &[&str]) -> support::Run {
        let out = self
            .app
            .hoist_command(args)
            .env("HOIST_REGISTRY_USERNAME", registry::USER)
            .env("HOIST_REGISTRY_PASSWORD", registry::PASSWORD)
            .output()
            .expect("run hoist");
        let run = support::Run::from(out);
        assert!(
            !run.stdout.contains(registry::PASSWORD) && !run.stderr.contains(registry::PASSWORD),
            "the registry password reached hoist's output"
        );
        run
    }

    /// Every local image of the app's registry repository, by id.
    fn local_images(&self) -> Vec<String> {
        let filter = format!("reference={}", self.repository);
        docker(&["image", "ls", "-q", "--no-trunc", "--filter", &filter])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Removes the engine's copy of the image `id` (every tag and repo digest of it; no
    /// container uses it yet).
    fn remove_local_image(&self, id: &str) {
        docker(&["rmi", "-f", id]).expect("remove the app image");
        assert!(
            docker(&["image", "inspect", id]).is_err(),
            "{id} is still on the engine"
        );
    }
}

impl Drop for RegistryApp {
    fn drop(&mut self) {
        remove_service(SERVICE);
        let _ = Command::new("docker")
            .args(["rm", "-f", "regdep-staging-t0"])
            .output();
        for id in self.local_images() {
            let _ = Command::new("docker").args(["rmi", "-f", &id]).output();
        }
    }
}

fn service_image() -> String {
    docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        SERVICE,
    ])
    .expect("the service exists")
}

/// The repo digests of the image the container `name` runs.
fn container_repo_digests(name: &str) -> String {
    let image = docker(&["inspect", "--format", "{{.Image}}", name]).expect("the container");
    docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &image,
    ])
    .unwrap()
}

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body.trim().to_string())
}

/// `hoist status ENV` says its one instance is healthy and on the current release.
fn assert_verified(app: &RegistryApp, environment: &str, version: &str) {
    let status = app.hoist(&["status", environment, "--json"]).ok().json();
    assert_eq!(status["current"]["version"], version, "{status:#}");
    let instance = &status["instances"][0];
    assert_eq!(instance["healthy"], true, "{status:#}");
    assert_eq!(instance["matches_current"], true, "{status:#}");
}

#[test]
fn releases_reach_a_container_and_a_swarm_service_by_digest_and_roll_back_by_digest() {
    let registry = TestRegistry::plain_with_auth(REGISTRY_PORT);
    let app = RegistryApp::new(&registry);
    let repo = app.repository.clone();
    app.app.release("v1.0.0");

    // Build and push; the release records the manifest digest the registry serves.
    let built = app.hoist(&["build", "--json"]).ok().json();
    let v1_digest = registry
        .skopeo_digest("regdep/app:v1.0.0")
        .expect("skopeo reads the pushed release");
    assert_eq!(built["release"]["digest"], v1_digest.as_str(), "{built:#}");
    let v1_id = built["release"]["image_id"].as_str().unwrap().to_string();

    // The engine loses its copy: production's deploy reuses the release (no build) and
    // the engine must pull it by digest, with the credentials, for the service.
    app.remove_local_image(&v1_id);
    let production = app.hoist(&["deploy", "production", "--json"]).ok();
    assert!(
        production
            .events()
            .iter()
            .any(|e| e["kind"] == "release_reused"),
        "{}",
        production.stdout
    );
    assert_eq!(
        service_image(),
        format!("{repo}:v1.0.0@{v1_digest}"),
        "the service runs the release pinned by digest"
    );
    assert!(
        docker(&["image", "inspect", &v1_id]).is_ok(),
        "the engine pulled the release"
    );
    assert_eq!(version_on(PRODUCTION_PORT).as_deref(), Some("v1.0.0"));
    assert_verified(&app, "production", "v1.0.0");

    // Staging's container runs the same digest.
    app.hoist(&["deploy", "staging"]).ok();
    let digests = container_repo_digests("regdep-staging-t0");
    assert!(
        digests.contains(&format!("{repo}@{v1_digest}")),
        "{digests}"
    );
    assert_eq!(version_on(STAGING_PORT).as_deref(), Some("v1.0.0"));
    assert_verified(&app, "staging", "v1.0.0");

    // A code-only change: a new digest for production.
    app.app.write("www/index.html", "<h1>v2</h1>\n");
    app.app.release("v1.1.0");
    app.hoist(&["deploy", "production"]).ok();
    let v2_digest = registry.skopeo_digest("regdep/app:v1.1.0").unwrap();
    assert_ne!(v1_digest, v2_digest);
    assert_eq!(service_image(), format!("{repo}:v1.1.0@{v2_digest}"));
    assert_eq!(version_on(PRODUCTION_PORT).as_deref(), Some("v1.1.0"));
    assert_eq!(
        http_get(PRODUCTION_PORT, "/index.html").unwrap().1,
        "<h1>v2</h1>\n"
    );
    assert_verified(&app, "production", "v1.1.0");

    // Rollback returns to the first digest.
    let rollback = app.hoist(&["rollback", "production", "--json"]).ok().json();
    assert_eq!(rollback["release"]["version"], "v1.0.0");
    assert_eq!(service_image(), format!("{repo}:v1.0.0@{v1_digest}"));
    assert_eq!(version_on(PRODUCTION_PORT).as_deref(), Some("v1.0.0"));
    assert_verified(&app, "production", "v1.0.0");
}
