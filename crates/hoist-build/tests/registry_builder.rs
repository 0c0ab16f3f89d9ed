//! The registry builder on the real engine and a real registry: a built base is pushed
//! under its fingerprint tag, a runner whose engine lacks it pulls it instead of building,
//! and a layer-build app image is pushed daemonless and runnable by the engine. Port 20161;
//! names start with hoist-reg-.

#[path = "../../hoist-registry/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use hoist_build::RegistryBuilder;
use hoist_core::backend::{BuildContext, BuildRequest, Builder};
use hoist_core::{EventKind, EventSink, Stage};
use hoist_registry::{Client, ClientOptions};
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

#[tokio::test]
async fn a_second_runner_reuses_the_base_from_the_registry_and_apps_are_pushed() {
    let registry = TestRegistry::plain(20161);
    let host = registry.host();
    let client = Arc::new(
        Client::new(
            &host,
            ClientOptions {
                insecure: true,
                ..ClientOptions::default()
            },
        )
        .unwrap(),
    );
    let engine = hoist_engine::connect("unix:///var/run/docker.sock")
        .await
        .unwrap();
    let pushed = Arc::new(Mutex::new(Vec::new()));
    let seen = pushed.clone();
    let events = EventSink::new(move |event| {
        if let EventKind::ImagePushed {
            blobs_uploaded,
            bytes_uploaded,
            ..
        } = &event.kind
        {
            seen.lock()
                .unwrap()
                .push((*blobs_uploaded, *bytes_uploaded));
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy("/bin/busybox", root.join("busybox")).unwrap();
    std::fs::write(
        root.join("Dockerfile.base"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("app")).unwrap();
    std::fs::write(root.join("app/index.txt"), "hello from v1\n").unwrap();
    std::fs::write(root.join(".dockerignore"), "busybox\n").unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY app/ /app/\nCMD [\"/bin/busybox\", \"cat\", \"/app/index.txt\"]\n",
    )
    .unwrap();
    let base = format!("{host}/hoist-reg-rb-base:fp-0123456789abcdef");

    // Runner one: no base anywhere, so it is built and pushed.
    let first = RegistryBuilder::new(engine.clone(), client.clone());
    assert_eq!(first.image_id(&base).await.unwrap(), None);
    let base_id = first
        .build(
            &BuildRequest {
                stage: Stage::BaseImage,
                context: BuildContext::Files {
                    root: root.to_path_buf(),
                    files: vec!["busybox".into()],
                },
                dockerfile: root.join("Dockerfile.base"),
                tag: base.clone(),
                args: BTreeMap::new(),
                labels: BTreeMap::new(),
                platform: "linux/amd64".into(),
                no_cache: false,
            },
            &events,
        )
        .await
        .unwrap();
    let base_digest = first.pushed_digest(&base).await.unwrap().expect("pushed");
    assert!(
        registry
            .skopeo_raw("hoist-reg-rb-base:fp-0123456789abcdef")
            .is_ok()
    );

    // Runner two: its engine has no copy; the registry's is reused, nothing is built.
    docker(&["rmi", &base]);
    let second = RegistryBuilder::new(engine.clone(), client.clone());
    let before = registry.requests().len();
    assert_eq!(second.image_id(&base).await.unwrap(), Some(base_id.clone()));
    assert!(
        registry.blob_puts_since(before).is_empty(),
        "a pull, not a build and push"
    );
    assert_eq!(
        client
            .manifest_digest("hoist-reg-rb-base", "fp-0123456789abcdef")
            .await
            .unwrap(),
        Some(base_digest)
    );

    // The app image: a layer build pushed without the engine, then run by the engine.
    let tag = format!("{host}/hoist-reg-rb:v1");
    let mut args = BTreeMap::new();
    args.insert("HOIST_BASE".to_string(), base.clone());
    let app_id = second
        .build(
            &BuildRequest {
                stage: Stage::AppImage,
                context: BuildContext::Directory {
                    root: root.to_path_buf(),
                },
                dockerfile: root.join("Dockerfile"),
                tag: tag.clone(),
                args,
                labels: BTreeMap::from([(
                    "org.opencontainers.image.created".to_string(),
                    "2026-01-02T03:04:05Z".to_string(),
                )]),
                platform: "linux/amd64".into(),
                no_cache: false,
            },
            &events,
        )
        .await
        .unwrap();
    let digest = second.pushed_digest(&tag).await.unwrap().expect("pushed");
    assert_eq!(
        client.manifest_digest("hoist-reg-rb", "v1").await.unwrap(),
        Some(digest.clone())
    );
    assert_eq!(docker(&["image", "inspect", "-f", "{{.Id}}", &tag]), app_id);
    let out = docker(&["run", "--rm", "--name", "hoist-reg-rb-run", &tag]);
    assert_eq!(out, "hello from v1");
    let reports = pushed.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, 2, "one layer and the config");

    for image in [
        tag.as_str(),
        &format!("{host}/hoist-reg-rb@{digest}"),
        base.as_str(),
    ] {
        let _ = Command::new("docker").args(["rmi", image]).output();
    }
}
