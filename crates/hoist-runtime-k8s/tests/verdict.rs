//! The rollout decision, one fixture per state. Each fixture holds a Deployment, a
//! ReplicaSetList and a PodList as the Kubernetes API returns them (`kubectl get -o json`).

use hoist_runtime_k8s::verdict::{Expect, Rollout, rollout_status};
use k8s_openapi::List;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

const NEW: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const IMAGE: &str = "registry.example.com/clinic/emr@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    deployment: Deployment,
    replica_sets: List<ReplicaSet>,
    pods: List<Pod>,
}

fn judge(name: &str) -> Rollout {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    let expect = Expect {
        container: "app",
        image: IMAGE,
        digest: Some(NEW),
    };
    rollout_status(&f.deployment, &f.replica_sets.items, &f.pods.items, &expect)
}

#[test]
fn generation_not_observed_waits_even_though_the_old_status_looks_complete() {
    // The status still says NewReplicaSetAvailable for the previous revision: a check of
    // that condition alone (kube-runtime's is_deployment_completed) would say done.
    assert_eq!(
        judge("generation-not-observed"),
        Rollout::Waiting("Waiting for deployment \"emr\" spec update to be observed...".into())
    );
}

#[test]
fn updating_says_how_many_replicas_are_updated() {
    assert_eq!(
        judge("updating"),
        Rollout::Waiting(
            "Waiting for deployment \"emr\" rollout to finish: 1 out of 3 new replicas have been updated...".into()
        )
    );
}

#[test]
fn old_replicas_terminating_wait() {
    assert_eq!(
        judge("old-replicas-terminating"),
        Rollout::Waiting(
            "Waiting for deployment \"emr\" rollout to finish: 1 old replicas are pending termination...".into()
        )
    );
}

#[test]
fn waiting_for_availability_says_how_many_are_available() {
    assert_eq!(
        judge("waiting-for-availability"),
        Rollout::Waiting(
            "Waiting for deployment \"emr\" rollout to finish: 2 of 3 updated replicas are available...".into()
        )
    );
}

#[test]
fn progress_deadline_exceeded_fails() {
    assert_eq!(
        judge("progress-deadline-exceeded"),
        Rollout::Failed(
            "deployment \"emr\" exceeded its progress deadline: ReplicaSet \"emr-6c8f9d7b5d\" has timed out progressing.".into()
        )
    );
}

#[test]
fn complete_when_every_new_pod_runs_the_digest() {
    assert_eq!(
        judge("complete"),
        Rollout::Complete(
            "deployment \"emr\" successfully rolled out: 3 of 3 replicas run sha256:bbbbbbbbbbbb"
                .into()
        )
    );
}

#[test]
fn complete_but_a_pod_runs_another_image_fails() {
    let verdict = judge("complete-wrong-image");
    let Rollout::Failed(message) = verdict else {
        panic!("expected a failure, got {verdict:?}");
    };
    assert!(message.contains("emr-6c8f9d7b5d-w8r3v"), "{message}");
    assert!(message.contains("sha256:cccc"), "{message}");
    assert!(message.contains(NEW), "{message}");
}

#[test]
fn a_template_changed_by_someone_else_fails() {
    let path = format!(
        "{}/tests/fixtures/complete.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let expect = Expect {
        container: "app",
        image: "registry.example.com/clinic/emr@sha256:dddd",
        digest: Some("sha256:dddd"),
    };
    let verdict = rollout_status(&f.deployment, &f.replica_sets.items, &f.pods.items, &expect);
    assert!(
        matches!(&verdict, Rollout::Failed(m) if m.contains("changed meanwhile")),
        "{verdict:?}"
    );
}

#[test]
fn without_a_digest_the_pods_image_reference_is_compared() {
    let path = format!(
        "{}/tests/fixtures/complete.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let expect = Expect {
        container: "app",
        image: IMAGE,
        digest: None,
    };
    let verdict = rollout_status(&f.deployment, &f.replica_sets.items, &f.pods.items, &expect);
    assert!(matches!(verdict, Rollout::Complete(_)), "{verdict:?}");
}
