//! The Kubernetes runtime against the FAKE API server of `common::fake_apiserver` (no real
//! API server runs here), reached through a kubeconfig file as a user's would be.

mod common;

use std::time::Duration;

use common::fake_apiserver::{FakeApiServer, Scenario, TOKEN};
use common::*;
use hoist_core::runtime::{Rollout, Runtime, WorkloadState};
use hoist_core::{InstanceState, Release};
use hoist_runtime_k8s::KubernetesRuntime;

const NS: &str = "hoist-k8s-north";

struct Setup {
    fake: FakeApiServer,
    runtime: KubernetesRuntime,
    _dir: tempfile::TempDir,
}

async fn setup(scenario: Scenario) -> Setup {
    let fake = FakeApiServer::start(scenario).await;
    fake.add_deployment(NS, "emr", "app", &format!("{REPO}@{OLD}"), 3);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake.write_kubeconfig(dir.path());
    let runtime = KubernetesRuntime::new(settings(&kubeconfig));
    Setup {
        fake,
        runtime,
        _dir: dir,
    }
}

async fn roll_out(
    runtime: &KubernetesRuntime,
    release: &Release,
    events: &Recorded,
) -> Result<hoist_core::runtime::Applied, hoist_core::runtime::InstanceFailure> {
    let sink = events.sink();
    let rollout = Rollout::new("north", &NoProber, &sink, Duration::from_secs(20));
    runtime.roll_out(&instance(), release, &rollout).await
}

fn image(fake: &FakeApiServer) -> String {
    fake.deployment(NS, "emr")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_release_rolls_out_by_digest_and_is_judged_as_kubectl_does() {
    let s = setup(Scenario::default()).await;
    let events = Recorded::default();
    let release = release("v2.0.0", NEW);
    let applied = roll_out(&s.runtime, &release, &events).await.unwrap();
    assert!(
        applied.message.contains("successfully rolled out"),
        "{}",
        applied.message
    );
    assert!(
        applied
            .message
            .contains("3 of 3 replicas run sha256:222222222222")
    );

    // Every state kubectl reports, in order, as the fake's controller moved.
    let messages = events.messages();
    let order = [
        "spec update to be observed",
        "1 out of 3 new replicas have been updated",
        "3 old replicas are pending termination",
        "2 of 3 updated replicas are available",
    ];
    let mut at = 0;
    for wanted in order {
        let found = messages[at..].iter().position(|m| m.contains(wanted));
        assert!(
            found.is_some(),
            "no {wanted:?} after #{at} in {messages:#?}"
        );
        at += found.unwrap() + 1;
    }

    // The patch: a strategic merge by field manager hoist, the digest, the change-cause.
    let patches: Vec<_> = s
        .fake
        .seen()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);
    let patch = &patches[0];
    assert_eq!(patch.content_type, "application/strategic-merge-patch+json");
    assert!(
        patch
            .path_and_query
            .starts_with(&format!("/apis/apps/v1/namespaces/{NS}/deployments/emr?"))
    );
    assert!(
        patch.path_and_query.contains("fieldManager=hoist"),
        "{}",
        patch.path_and_query
    );
    let cause = patch.body["metadata"]["annotations"]["kubernetes.io/change-cause"]
        .as_str()
        .unwrap();
    assert!(
        cause.contains("v2.0.0") && cause.ends_with(" by alice"),
        "{cause}"
    );

    let deployment = s.fake.deployment(NS, "emr");
    assert_eq!(image(&s.fake), format!("{REPO}@{NEW}"));
    assert_eq!(deployment["metadata"]["generation"], 2);
    assert_eq!(
        deployment["metadata"]["labels"]["dev.hoist.release"],
        "v2.0.0"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["dev.hoist.tenant"],
        "north"
    );

    // observe, applied_spec and list see what was deployed.
    let observed = s.runtime.observe(&instance()).await.unwrap();
    assert_eq!(
        observed.workload,
        WorkloadState::Running {
            image_id: release.image_id.clone(),
            release: Some("v2.0.0".into()),
            digests: Vec::new(),
        }
    );
    assert!(s.runtime.applied_spec(&instance()).await.unwrap().is_some());
    let listed = s
        .runtime
        .list("hoist-k8s-emr", "production", &[])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].instance, instance().name);
    assert_eq!(listed[0].host, NS);
    assert_eq!(listed[0].release.as_deref(), Some("v2.0.0"));

    // A rollback is the same patch back to the previous image, waited for the same way.
    let events = Recorded::default();
    let sink = events.sink();
    let rollout = Rollout::new("north", &NoProber, &sink, Duration::from_secs(20));
    s.runtime
        .roll_back(&instance(), &common::release("v1.0.0", OLD), &rollout)
        .await
        .unwrap();
    assert_eq!(image(&s.fake), format!("{REPO}@{OLD}"));
    assert!(events.saw("spec update to be observed"));
    let deployment = s.fake.deployment(NS, "emr");
    // The controller revived the old ReplicaSet as revision 3, as a real one does.
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
}

#[tokio::test]
async fn a_rollout_that_exceeds_its_progress_deadline_is_rolled_back() {
    let s = setup(Scenario {
        stall_image: Some(format!("{REPO}@{BAD}")),
        ..Default::default()
    })
    .await;
    let events = Recorded::default();
    let failure = roll_out(&s.runtime, &release("v2.0.0", BAD), &events)
        .await
        .unwrap_err();
    assert_eq!(
        failure.state,
        InstanceState::RolledBack,
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("exceeded its progress deadline"),
        "{}",
        failure.message
    );
    assert_eq!(image(&s.fake), format!("{REPO}@{OLD}"));
    let patches = s
        .fake
        .seen()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 2);
}

#[tokio::test]
async fn a_pod_running_another_digest_fails_the_rollout() {
    let s = setup(Scenario {
        wrong_digest_for: Some((format!("{REPO}@{NEW}"), BAD.to_string())),
        ..Default::default()
    })
    .await;
    let events = Recorded::default();
    let failure = roll_out(&s.runtime, &release("v2.0.0", NEW), &events)
        .await
        .unwrap_err();
    assert!(failure.message.contains(BAD), "{}", failure.message);
    assert!(
        failure.message.contains("not the release's digest"),
        "{}",
        failure.message
    );
    assert_eq!(
        failure.state,
        InstanceState::RolledBack,
        "{}",
        failure.message
    );
    assert_eq!(image(&s.fake), format!("{REPO}@{OLD}"));
}

#[tokio::test]
async fn a_conflict_on_the_first_patch_is_retried_after_reading_again() {
    let s = setup(Scenario {
        conflict_first_patch: true,
        ..Default::default()
    })
    .await;
    let events = Recorded::default();
    roll_out(&s.runtime, &release("v2.0.0", NEW), &events)
        .await
        .unwrap();
    let seen = s.fake.seen();
    let patches: Vec<_> = seen.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 2);
    // The second patch carries the resourceVersion read after the conflict.
    assert_ne!(
        patches[0].body["metadata"]["resourceVersion"],
        patches[1].body["metadata"]["resourceVersion"]
    );
    assert_eq!(image(&s.fake), format!("{REPO}@{NEW}"));
}

#[tokio::test]
async fn unauthorized_names_the_deployment_and_never_the_token() {
    let s = setup(Scenario {
        unauthorized: true,
        ..Default::default()
    })
    .await;
    let failure = roll_out(&s.runtime, &release("v2.0.0", NEW), &Recorded::default())
        .await
        .unwrap_err();
    assert!(
        failure.message.contains("401 Unauthorized"),
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains(&format!("deployment \"emr\" in namespace \"{NS}\"")),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(TOKEN), "{}", failure.message);
    assert_eq!(failure.state, InstanceState::Failed);
}

#[tokio::test]
async fn forbidden_names_the_verb_namespace_and_deployment() {
    let s = setup(Scenario {
        forbidden_patch: true,
        ..Default::default()
    })
    .await;
    let failure = roll_out(&s.runtime, &release("v2.0.0", NEW), &Recorded::default())
        .await
        .unwrap_err();
    assert!(
        failure.message.contains(&format!(
            "forbids hoist to patch deployment \"emr\" in namespace \"{NS}\" (403 Forbidden)"
        )),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(TOKEN));
    assert_eq!(image(&s.fake), format!("{REPO}@{OLD}"));
}

#[tokio::test]
async fn a_missing_deployment_is_a_clear_error() {
    let s = setup(Scenario::default()).await;
    let mut other = instance();
    other.tenant = "south".into();
    let sink = Recorded::default().sink();
    let rollout = Rollout::new("south", &NoProber, &sink, Duration::from_secs(5));
    let failure = s
        .runtime
        .roll_out(&other, &release("v2.0.0", NEW), &rollout)
        .await
        .unwrap_err();
    assert!(
        failure
            .message
            .contains("deployment \"emr\" in namespace \"hoist-k8s-south\" does not exist"),
        "{}",
        failure.message
    );
    let observed = s.runtime.observe(&other).await.unwrap();
    assert_eq!(observed.workload, WorkloadState::Missing);
}

#[tokio::test]
async fn retire_scales_the_deployment_to_zero() {
    let s = setup(Scenario::default()).await;
    roll_out(&s.runtime, &release("v2.0.0", NEW), &Recorded::default())
        .await
        .unwrap();
    let listed = s
        .runtime
        .list("hoist-k8s-emr", "production", &[])
        .await
        .unwrap();
    s.runtime.retire(&listed[0]).await.unwrap();
    assert_eq!(s.fake.deployment(NS, "emr")["spec"]["replicas"], 0);
    // Retiring again is no error.
    s.runtime.retire(&listed[0]).await.unwrap();
}

#[tokio::test]
async fn the_environment_lock_is_a_lease_in_each_namespace() {
    use hoist_core::store::LockHolder;
    use hoist_core::target_lock::{LockKey, TargetAttempt};

    let s = setup(Scenario::default()).await;
    let mut south = instance();
    south.tenant = "south".into();
    let places = s.runtime.lock_places(&[instance(), south, instance()]);
    assert_eq!(places.len(), 2, "one Lease per namespace");
    assert!(places[0].place().contains(NS), "{}", places[0].place());

    let key = LockKey::new("hoist-k8s-emr", "production");
    let holder = |actor: &str| LockHolder {
        actor: actor.into(),
        hostname: "ci-runner-elsewhere".into(),
        pid: 4242,
        process_start: 1,
        acquired_at: "2026-12-05T17:00:00Z".into(),
        deployment: Some(1),
        state: None,
    };
    let lock = &places[0];
    let TargetAttempt::Acquired { token, .. } = lock
        .acquire(&key, &holder("alice"), Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("the first deployer takes the lock");
    };
    let lease = s
        .fake
        .lease(NS, "hoist-lock-hoist-k8s-emr-production")
        .expect("a Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap()
            .starts_with("alice@")
    );
    match lock
        .acquire(&key, &holder("bob"), Duration::from_secs(60))
        .await
        .unwrap()
    {
        TargetAttempt::HeldBy(by) => assert_eq!(by.actor, "alice"),
        other => panic!("bob must wait for alice: {other:?}"),
    }
    lock.refresh(&key, &token).await.unwrap();
    lock.release(&key, &token).await.unwrap();
    assert!(
        s.fake
            .lease(NS, "hoist-lock-hoist-k8s-emr-production")
            .is_none()
    );
    // A release by a late holder never removes a successor's Lease.
    let TargetAttempt::Acquired { token: bobs, .. } = lock
        .acquire(&key, &holder("bob"), Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("the lock is free again");
    };
    lock.release(&key, &token).await.unwrap();
    assert!(
        s.fake
            .lease(NS, "hoist-lock-hoist-k8s-emr-production")
            .is_some()
    );
    assert!(lock.refresh(&key, &token).await.is_err());
    let forced = lock.force_release(&key).await.unwrap();
    assert_eq!(forced.map(|h| h.actor).as_deref(), Some("bob"));
    assert!(lock.refresh(&key, &bobs).await.is_err());
}
