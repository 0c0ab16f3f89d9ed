//! Engine-to-engine image delivery against the real engine: the stream from
//! `GET /images/NAME/get` into `POST /images/load`, the skip when the target already has
//! the image (the build engine is not even contacted), and the error when neither has it.
//!
//! This machine has one engine, so the copy goes from it to itself; a real second engine
//! is what `crates/hoist/tests/remote_hosts.rs` reaches over TLS and ssh (where the skip
//! applies, the image being there already).

use std::process::Command;

use hoist_core::Release;
use hoist_engine::{EngineTransfer, Engines, ImageDelivery, copy_image};

const LOCAL: &str = "unix:///var/run/docker.sock";
const IMAGE: &str = "hoist-rmt-transfer:1";

/// A tiny image on the local engine (busybox on scratch), its id.
fn image() -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("busybox"))
        .expect("busybox-static must be installed");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nLABEL dev.hoist.app=hoist-rmt-transfer\n",
    )
    .unwrap();
    let out = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn release(image_id: &str) -> Release {
    Release {
        app: "hoist-rmt-transfer".into(),
        version: "v1".into(),
        commit: "0".repeat(40),
        image: IMAGE.into(),
        image_id: image_id.into(),
        digest: None,
        fingerprint: "fp".into(),
        base_image: "scratch".into(),
        created_by: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

#[tokio::test]
async fn an_image_streams_out_of_one_engine_into_another() {
    let id = image();
    let from = hoist_engine::connect(LOCAL).await.unwrap();
    let to = hoist_engine::connect(LOCAL).await.unwrap();
    let bytes = copy_image(&from, &to, IMAGE).await.unwrap();
    // busybox alone is about a megabyte; the archive holds it.
    assert!(bytes > 500_000, "{bytes} bytes");
    let loaded = to.inspect_image(IMAGE).await.unwrap();
    assert_eq!(loaded.id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn a_target_that_has_the_image_is_not_copied_to_and_a_missing_image_is_explained() {
    let id = image();
    let target = hoist_engine::connect(LOCAL).await.unwrap();
    // A build engine that cannot be reached: contacting it would fail the delivery.
    let transfer = EngineTransfer::new("tcp://127.0.0.1:20249", Engines::default());
    transfer
        .deliver("tcp://target.example:2376", &target, &release(&id))
        .await
        .expect("the target has the image: nothing to copy");

    let missing = format!("sha256:{}", "0".repeat(64));
    let transfer = EngineTransfer::new(LOCAL, Engines::default());
    let err = transfer
        .deliver("tcp://target.example:2376", &target, &release(&missing))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no longer has it") && err.contains(LOCAL) && err.contains(&missing),
        "{err}"
    );
}
