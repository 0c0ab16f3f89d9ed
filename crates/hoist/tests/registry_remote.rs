//! A remote engine that gets the release from the registry only, with the `hoist` binary:
//! Debian's `docker-registry` on loopback (plain HTTP with htpasswd auth: the engine
//! pulls from 127.0.0.0/8 without any daemon setting, and only with the credentials hoist
//! hands it), the app image pushed daemonlessly and then removed from the engine, and the
//! one staging instance on this machine's engine reached as a remote one: through stunnel
//! with client certificates (`tcp://`), and through a real `sshd` (`ssh://`).
//!
//! Ports 21110-21129; apps, images and temporary directories `hoist-regr-*`.

#[path = "../../hoist-registry/tests/support/mod.rs"]
mod registry;
mod remote;
mod support;

use std::process::Command;

use registry::TestRegistry;
use remote::{Pki, sshd, tls_endpoint, user};
use support::{App, Run, http_get};

const TLS_REGISTRY_PORT: u16 = 21110;
const TLS_ENGINE_PORT: u16 = 21111;
const TLS_APP_PORT: u16 = 21112;
const SSH_REGISTRY_PORT: u16 = 21120;
const SSH_PORT: u16 = 21121;
const SSH_APP_PORT: u16 = 21122;
const WRONG_PASSWORD: &str = "hoist-regr-wrong-pw-5e1d";

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body.trim().to_string())
}

/// The app `name` with `[registry]` on `registry` and its one staging instance on the
/// engine `[hosts.remote]` describes (`host_toml` is that table's keys); removes the
/// registry-named images it left on the engine when dropped.
struct RemoteApp {
    app: App,
    repository: String,
}

impl RemoteApp {
    fn new(name: &str, port: u16, registry: &TestRegistry, host_toml: &str) -> RemoteApp {
        let app = App::new(name, &[port]);
        app.write_config("30s");
        let path = app.root().join("hoist.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replacen(
            "tenant = \"t0\"\n",
            "tenant = \"t0\"\nhost = \"remote\"\n",
            1,
        );
        std::fs::write(&path, text).unwrap();
        let repository = format!("{}/{name}/app", registry.host());
        app.append_config(&format!(
            "[registry]\nimage = \"{repository}\"\ninsecure = true\n\n[hosts.remote]\n{host_toml}\n"
        ));
        RemoteApp { app, repository }
    }

    /// hoist with the registry's username and `password` in the environment, as a CI job
    /// has them; asserts neither password reached its output.
    fn hoist_with(&self, password: &str, args: &[&str]) -> Run {
        let out = self
            .app
            .hoist_command(args)
            .env("HOIST_REGISTRY_USERNAME", registry::USER)
            .env("HOIST_REGISTRY_PASSWORD", password)
            .output()
            .expect("run hoist");
        let run = Run::from(out);
        for secret in [registry::PASSWORD, WRONG_PASSWORD] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "a registry password reached hoist's output:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
        run
    }

    fn hoist(&self, args: &[&str]) -> Run {
        self.hoist_with(registry::PASSWORD, args)
    }

    /// `hoist build --json` of the tagged `version`: the release's manifest digest (the
    /// one the registry serves for the tag) and image id, after checking the app image
    /// went up daemonlessly.
    fn build(&self, registry: &TestRegistry, version: &str) -> (String, String) {
        self.app.release(version);
        let built = self.hoist(&["build", "--json"]).ok();
        let digest = registry
            .skopeo_digest(&format!("{}/app:{version}", self.app.name))
            .expect("skopeo reads the pushed release");
        // The build's progress says how the app image went up: no engine build, no push
        // by the engine.
        assert!(
            built.stderr.contains("daemonless push of"),
            "the app image was pushed daemonlessly:\n{}",
            built.stderr
        );
        let result = built.json();
        assert_eq!(result["release"]["digest"], digest.as_str(), "{result:#}");
        let id = result["release"]["image_id"].as_str().unwrap().to_string();
        (digest, id)
    }

    fn container(&self) -> String {
        format!("{}-staging-t0", self.app.name)
    }

    /// Every local image of the app's registry repositories, by id.
    fn local_images(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for repository in [self.repository.clone(), format!("{}-base", self.repository)] {
            let filter = format!("reference={repository}");
            ids.extend(
                docker(&["image", "ls", "-q", "--no-trunc", "--filter", &filter])
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string),
            );
        }
        ids
    }
}

impl Drop for RemoteApp {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container()]);
        for id in self.local_images() {
            let _ = docker(&["rmi", "-f", &id]);
        }
    }
}

/// The repo digests of the image the container `name` runs, and that image's id.
fn running_image(name: &str) -> (Vec<String>, String) {
    let id = docker(&["inspect", "--format", "{{.Image}}", name]).expect("the container");
    let digests = docker(&["image", "inspect", "--format", "{{json .RepoDigests}}", &id]).unwrap();
    (serde_json::from_str(&digests).unwrap(), id)
}

/// Access-log lines of manifest `GET`s by digest from the Docker engine (its user agent,
/// `docker/<version> ...`, tells it from hoist's own `hoist/<version>`).
fn engine_manifest_pulls(registry: &TestRegistry, repository: &str, digest: &str) -> usize {
    let request = format!("\"GET /v2/{repository}/manifests/{digest} HTTP/1.1\" 200 ");
    registry
        .log_text()
        .lines()
        .filter(|line| line.contains(&request) && line.contains("\"docker/"))
        .count()
}

/// The release is on the registry only; a deploy to the remote engine makes that engine
/// pull it by digest, with the credentials, and the instance runs that digest.
fn deploy_pulls_by_digest(app: &RemoteApp, registry: &TestRegistry, address: &str) {
    let path = format!("{}/app", app.app.name);
    let (digest, id) = app.build(registry, "v1.0.0");
    // The build pulled it for the local engine; take that copy away (the remote engine is
    // this engine), so only a pull by digest can bring the release back.
    docker(&["rmi", "-f", &id]).expect("remove the app image");
    assert!(
        docker(&["image", "inspect", &id]).is_err(),
        "{id} is still on the engine"
    );
    // (The build's own pull, for the local engine, is in the log already.)
    let pulls_before = engine_manifest_pulls(registry, &path, &digest);

    let deployed = app.hoist(&["deploy", "staging", "--json"]).ok();
    assert!(
        deployed
            .events()
            .iter()
            .any(|e| e["kind"] == "release_reused"),
        "{}",
        deployed.stdout
    );
    // The engine fetched the manifest by its digest: the registry logged it.
    assert_eq!(
        engine_manifest_pulls(registry, &path, &digest),
        pulls_before + 1,
        "{}",
        registry.log_text()
    );
    let (repo_digests, running) = running_image(&app.container());
    assert_eq!(running, id, "the container runs the release's image");
    assert!(
        repo_digests.contains(&format!("{}@{digest}", app.repository)),
        "{repo_digests:?}"
    );
    assert_eq!(version_on(app.app.ports[0]).as_deref(), Some("v1.0.0"));
    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    let instance = &status["instances"][0];
    assert_eq!(instance["host"], address, "{status:#}");
    assert_eq!(instance["healthy"], true, "{status:#}");
    assert_eq!(instance["matches_current"], true, "{status:#}");
    assert_eq!(status["current"]["version"], "v1.0.0", "{status:#}");
}

#[test]
fn a_tls_engine_pulls_the_release_by_digest_and_a_wrong_password_fails_clearly() {
    let registry = TestRegistry::plain_with_auth(TLS_REGISTRY_PORT);
    let dir = tempfile::Builder::new()
        .prefix("hoist-regr-tls-")
        .tempdir()
        .unwrap();
    let pki = Pki::new("hoist-regr test CA");
    let _stunnel = tls_endpoint(&pki, dir.path(), TLS_ENGINE_PORT);
    // Outside the build context: the secret scan refuses a private key in it.
    let client = dir.path().join("client");
    pki.client_dir(&client, &pki.ca_pem);
    let address = format!("tcp://127.0.0.1:{TLS_ENGINE_PORT}");
    let app = RemoteApp::new(
        "hoist-regr-tls",
        TLS_APP_PORT,
        &registry,
        &format!(
            "address = \"{address}\"\ncert_path = \"{}\"\n",
            client.display()
        ),
    );
    deploy_pulls_by_digest(&app, &registry, &address);

    // A second release, on the engine by id and tag but not by digest, so hoist needs
    // nothing from the registry itself and the engine must pull. Saved, removed and loaded
    // again: a loaded image has no repo digest, and the engine no longer holds the
    // manifest it cached when it pulled (an engine that has it pulls without asking the
    // registry). With a wrong password the pull fails, the error names the engine, the
    // image and why, holds no secret, and the instance keeps its release.
    app.app.write("www/index.html", "<h1>v2</h1>\n");
    let (digest, id) = app.build(&registry, "v1.1.0");
    let pinned = format!("{}@{digest}", app.repository);
    let archive = dir.path().join("v1.1.0.tar");
    let tag = format!("{}:v1.1.0", app.repository);
    docker(&["save", "-o", archive.to_str().unwrap(), &tag]).expect("docker save");
    docker(&["rmi", "-f", &id]).expect("remove the app image");
    docker(&["load", "-q", "-i", archive.to_str().unwrap()]).expect("docker load");
    let repo_digests = docker(&["image", "inspect", "--format", "{{json .RepoDigests}}", &id])
        .expect("the image is back by its tag");
    assert!(!repo_digests.contains(&digest), "{repo_digests}");
    let before = engine_manifest_pulls(&registry, "hoist-regr-tls/app", &digest);
    let refused = app.hoist_with(WRONG_PASSWORD, &["deploy", "staging"]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    let text = refused.stderr.to_lowercase();
    assert!(
        refused.stderr.contains(&address)
            && refused.stderr.contains(&pinned)
            && text.contains("could not pull")
            && text.contains("unauthorized"),
        "the error names the engine, the image and the refusal:\n{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("credentials"),
        "the error says what to check:\n{}",
        refused.stderr
    );
    assert_eq!(
        engine_manifest_pulls(&registry, "hoist-regr-tls/app", &digest),
        before
    );
    assert_eq!(version_on(TLS_APP_PORT).as_deref(), Some("v1.0.0"));
    assert!(!registry.log_text().contains(WRONG_PASSWORD));

    // The right password: the same deploy goes through.
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(version_on(TLS_APP_PORT).as_deref(), Some("v1.1.0"));
    let (repo_digests, running) = running_image(&app.container());
    assert_eq!(running, id);
    assert!(repo_digests.contains(&pinned), "{repo_digests:?}");
}

#[test]
fn an_ssh_engine_pulls_the_release_by_digest() {
    let registry = TestRegistry::plain_with_auth(SSH_REGISTRY_PORT);
    let dir = tempfile::Builder::new()
        .prefix("hoist-regr-ssh-")
        .tempdir()
        .unwrap();
    let (_sshd, ssh_config) = sshd(dir.path(), SSH_PORT);
    let address = format!("ssh://{}@127.0.0.1:{SSH_PORT}", user());
    let app = RemoteApp::new(
        "hoist-regr-ssh",
        SSH_APP_PORT,
        &registry,
        &format!(
            "address = \"{address}\"\nssh_config = \"{}\"\n",
            ssh_config.display()
        ),
    );
    deploy_pulls_by_digest(&app, &registry, &address);
}
