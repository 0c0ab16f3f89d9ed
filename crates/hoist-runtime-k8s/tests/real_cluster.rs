//! The fake-cluster scenario against a REAL cluster, when one is configured:
//!
//! - `HOIST_TEST_KUBECONFIG` (or `KUBECONFIG`): the cluster;
//! - `HOIST_TEST_K8S_IMAGES`: two images by digest, `repo@sha256:A,repo@sha256:B`, that the
//!   cluster can pull and that pass the Deployment's readiness probe;
//! - `HOIST_TEST_K8S_NAMESPACE` (default `hoist-k8s-test`) and `HOIST_TEST_K8S_DEPLOYMENT`
//!   (default `hoist-k8s-test`): an existing Deployment with one container, which the test
//!   sets to A, then B (a roll-out), then A again (a rollback);
//! - `HOIST_TEST_K8S_TASK` (default `sh -c "echo hoist-task-ok"`, words split on spaces
//!   after `sh -c`): a release task run as a Job with image B, which must succeed (and,
//!   with the default, print `hoist-task-ok`).
//!
//! Without them it prints that it was skipped, and why.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{NoProber, Recorded, instance};
use hoist_core::Release;
use hoist_core::runtime::{Rollout, Runtime, WorkloadState};
use hoist_core::task::{TaskOutcome, TaskSpec};
use hoist_runtime_k8s::{KubernetesRuntime, KubernetesSettings};

fn release(version: &str, image: &str) -> Release {
    let (repo, digest) = image.split_once('@').expect("images as repo@sha256:...");
    Release {
        app: "hoist-k8s-test".into(),
        version: version.into(),
        commit: "0000000".into(),
        image: format!("{repo}:{version}"),
        image_id: digest.into(),
        digest: Some(digest.into()),
        fingerprint: String::new(),
        base_image: String::new(),
        created_by: "test".into(),
        created_at: "2026-12-05T17:00:00Z".into(),
    }
}

#[tokio::test]
async fn the_same_scenario_on_a_real_cluster() {
    let kubeconfig =
        std::env::var_os("HOIST_TEST_KUBECONFIG").or_else(|| std::env::var_os("KUBECONFIG"));
    let Some(kubeconfig) = kubeconfig else {
        eprintln!(
            "skipped: no real cluster (set HOIST_TEST_KUBECONFIG or KUBECONFIG; see this file's docs)"
        );
        return;
    };
    let Ok(images) = std::env::var("HOIST_TEST_K8S_IMAGES") else {
        eprintln!(
            "skipped: a kubeconfig is set, but HOIST_TEST_K8S_IMAGES (two images by digest) is not"
        );
        return;
    };
    let Some((a, b)) = images.split_once(',') else {
        panic!("HOIST_TEST_K8S_IMAGES: write `repo@sha256:A,repo@sha256:B`");
    };
    let namespace = std::env::var("HOIST_TEST_K8S_NAMESPACE").unwrap_or("hoist-k8s-test".into());
    let deployment = std::env::var("HOIST_TEST_K8S_DEPLOYMENT").unwrap_or("hoist-k8s-test".into());
    let runtime = KubernetesRuntime::new(KubernetesSettings {
        kubeconfig: Some(PathBuf::from(kubeconfig)),
        context: None,
        namespace,
        deployment,
        container: None,
        timeout: Duration::from_secs(300),
        poll: Duration::from_secs(1),
        actor: None,
    });
    let events = Recorded::default();
    let sink = events.sink();
    let rollout = Rollout::new("north", &NoProber, &sink, Duration::from_secs(300));
    let (first, second) = (release("v1", a.trim()), release("v2", b.trim()));
    runtime
        .roll_out(&instance(), &first, &rollout)
        .await
        .unwrap();
    runtime
        .roll_out(&instance(), &second, &rollout)
        .await
        .unwrap();
    let command = match std::env::var("HOIST_TEST_K8S_TASK") {
        Ok(words) => words.split_whitespace().map(str::to_string).collect(),
        Err(_) => vec!["sh".into(), "-c".into(), "echo hoist-task-ok".into()],
    };
    let default_task = std::env::var_os("HOIST_TEST_K8S_TASK").is_none();
    let task = TaskSpec {
        name: "check".into(),
        command,
        timeout: Duration::from_secs(120),
    };
    let run = runtime.run_task(&instance(), &second, &task).await.unwrap();
    assert_eq!(run.outcome(), TaskOutcome::Succeeded, "{run:?}");
    if default_task {
        assert!(run.output.iter().any(|l| l == "hoist-task-ok"), "{run:?}");
    }
    let observed = runtime.observe(&instance()).await.unwrap();
    assert!(
        matches!(&observed.workload, WorkloadState::Running { release, .. } if release.as_deref() == Some("v2")),
        "{observed:?}"
    );
    runtime
        .roll_back(&instance(), &first, &rollout)
        .await
        .unwrap();
    assert!(events.saw("successfully") || events.saw("Waiting for deployment"));
}
