//! Daemonless app images against a real registry (Debian's docker-registry on loopback):
//! the base is pushed by the real engine, hoist pushes the app layer, config and manifest
//! without it, and real clients (skopeo, the engine's `docker pull` by digest and `docker
//! run`) check the result. Ports 20160-20169; names start with hoist-reg-.

#[path = "../../hoist-registry/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use hoist_build::{IMAGE_CONFIG_KEYS, context_files, layer_plan, push_layer_image};
use hoist_registry::manifest::DOCKER_MANIFEST;
use hoist_registry::{Client, ClientOptions, Reference, digest_of};
use support::TestRegistry;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A busybox base image, built and pushed by the engine (a Docker schema 2 manifest).
fn push_base(reference: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("busybox"))
        .expect("busybox-static must be installed (apt-get install busybox-static)");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"sh\"]\n",
    )
    .unwrap();
    docker(&["build", "-q", "-t", reference, dir.path().to_str().unwrap()]);
    docker(&["push", reference]);
    docker(&["rmi", reference]);
}

const DOCKERFILE: &str = "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY app/ /srv/app/\nENV APP_VERSION=dev\nCMD [\"/bin/busybox\", \"cat\", \"/srv/app/main.txt\"]\n";

fn checkout(dir: &Path, main: &str) {
    std::fs::create_dir_all(dir.join("app/lib")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("app/main.txt"), main).unwrap();
    std::fs::write(dir.join("app/lib/util.txt"), "util\n").unwrap();
}

#[tokio::test]
async fn code_only_changes_upload_one_layer_and_identical_trees_upload_nothing() {
    let registry = TestRegistry::plain(20160);
    let host = registry.host();
    let base = format!("{host}/hoist-reg-app-base:fp-1");
    push_base(&base);
    let client = Client::new(
        &host,
        ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let mut args = BTreeMap::new();
    args.insert("HOIST_BASE".to_string(), base.clone());
    let plan = layer_plan(DOCKERFILE, &args).unwrap();
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.created".to_string(),
        "2026-01-02T03:04:05Z".to_string(),
    );
    labels.insert("dev.hoist.app".to_string(), "hoist-reg-app".to_string());
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    checkout(one.path(), "release one\n");
    checkout(two.path(), "release one\n");
    let push = |dir: &Path, tag: &str| {
        let target = Reference::parse(&format!("{host}/hoist-reg-app:{tag}")).unwrap();
        let files = context_files(dir).unwrap();
        let (client, plan, labels, dir) = (&client, &plan, &labels, dir.to_path_buf());
        async move {
            push_layer_image(client, plan, &dir, &files, labels, &target)
                .await
                .unwrap()
        }
    };

    let first = push(one.path(), "v1").await;
    assert_eq!(
        first.report.blobs_mounted, 1,
        "the base's layer is mounted, not sent"
    );
    assert_eq!(first.report.blobs_uploaded, 2, "{:?}", first.report);
    assert!(first.report.manifest_uploaded);
    let raw = registry.skopeo_raw("hoist-reg-app:v1").unwrap();
    assert_eq!(digest_of(&raw), first.manifest_digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"], DOCKER_MANIFEST,
        "the base's media-type family"
    );
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );

    // The same tree in another checkout directory: the same digests, nothing sent.
    let before = registry.requests().len();
    let started = std::time::Instant::now();
    let same = push(two.path(), "v1").await;
    eprintln!("identical tree: {:?}: {:?}", started.elapsed(), same.report);
    assert_eq!(same.manifest_digest, first.manifest_digest);
    assert_eq!(same.config_digest, first.config_digest);
    assert_eq!(
        (same.report.blobs_uploaded, same.report.bytes_uploaded),
        (0, 0)
    );
    assert!(!same.report.manifest_uploaded);
    assert_eq!(registry.blob_puts_since(before), Vec::<String>::new());
    assert_eq!(registry.manifest_puts_since(before), Vec::<String>::new());

    // A code-only change: exactly one layer blob, one config and one manifest go up.
    std::fs::write(one.path().join("app/main.txt"), "release two\n").unwrap();
    let before = registry.requests().len();
    let started = std::time::Instant::now();
    let second = push(one.path(), "v2").await;
    // Reported, not asserted: timings vary with the machine.
    eprintln!(
        "code-only change: daemonless layer + push in {:?}: {:?}",
        started.elapsed(),
        second.report
    );
    assert_eq!(second.report.blobs_uploaded, 2, "{:?}", second.report);
    assert_eq!(second.report.blobs_present, 1, "the base layer");
    let puts = registry.blob_puts_since(before);
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(registry.manifest_puts_since(before).len(), 1);
    assert!(
        second.report.bytes_uploaded < 4096,
        "a small layer and config: {}",
        second.report.bytes_uploaded
    );

    // The config holds the OCI image config's keys only: none of the legacy ones Docker's
    // builder wrote into the base's (its build container and that container's config, the
    // Docker version), which would cost bytes on every release.
    let base_manifest = registry.skopeo_raw("hoist-reg-app-base:fp-1").unwrap();
    let base_manifest: serde_json::Value = serde_json::from_slice(&base_manifest).unwrap();
    let base_bytes = client
        .get_blob(
            "hoist-reg-app-base",
            base_manifest["config"]["digest"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let base_config: serde_json::Value = serde_json::from_slice(&base_bytes).unwrap();
    assert!(
        base_config.get("container_config").is_some(),
        "the engine's base has the legacy keys: {base_config}"
    );
    let config_bytes = client
        .get_blob("hoist-reg-app", &second.config_digest)
        .await
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| IMAGE_CONFIG_KEYS.contains(&k.as_str())),
        "{keys:?}"
    );
    for kept in [
        "architecture",
        "os",
        "created",
        "config",
        "rootfs",
        "history",
    ] {
        assert!(config.get(kept).is_some(), "{kept} missing: {config}");
    }
    // Reported, not asserted: what the config costs beside the layer, and what the
    // dropped keys would have added.
    let legacy: usize = base_config
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| !IMAGE_CONFIG_KEYS.contains(&key.as_str()))
        .map(|(key, value)| key.len() + 4 + value.to_string().len())
        .sum();
    eprintln!(
        "app config: {} bytes, without {legacy} bytes of legacy keys (the base's config: {} bytes); layer: {} bytes",
        config_bytes.len(),
        base_bytes.len(),
        second.report.bytes_uploaded - config_bytes.len() as u64
    );

    // The engine pulls it by digest and runs it.
    let pinned = second.reference.clone();
    assert_eq!(
        pinned,
        format!("{host}/hoist-reg-app@{}", second.manifest_digest)
    );
    docker(&["pull", "-q", &pinned]);
    let id = docker(&["image", "inspect", "-f", "{{.Id}}", &pinned]);
    assert_eq!(
        id, second.config_digest,
        "the engine's image id is the config's digest"
    );
    let out = docker(&["run", "--rm", "--name", "hoist-reg-daemonless", &pinned]);
    assert_eq!(out, "release two");
    let env = docker(&["image", "inspect", "-f", "{{json .Config.Env}}", &pinned]);
    assert!(env.contains("APP_VERSION=dev"), "{env}");
    // `docker history` reads the kept history: the base's steps and hoist's layer.
    let history = docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &pinned,
    ]);
    assert!(history.starts_with("hoist layer build"), "{history}");
    assert!(history.contains("COPY file:"), "{history}");
    let _ = Command::new("docker").args(["rmi", &pinned]).output();
}
