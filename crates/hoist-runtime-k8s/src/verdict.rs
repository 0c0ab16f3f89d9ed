//! Has a Deployment rolled out the release? A pure function from the Deployment, its
//! ReplicaSets and their pods (as the API returned them) to a [`Rollout`] verdict with a
//! message in kubectl's words. Polling and timeouts live in the runtime.
//!
//! The decision is `kubectl rollout status`'s (`DeploymentStatusViewer` in kubectl's
//! `rollout_status.go`), in its order:
//!
//! 1. the controller has observed the Deployment's generation (its
//!    `status.observedGeneration` is at least `metadata.generation`); before that, every
//!    other status field describes the previous spec;
//! 2. a `Progressing` condition with reason `ProgressDeadlineExceeded` is a failure;
//! 3. `updatedReplicas` has reached `spec.replicas`;
//! 4. no old replicas are left (`status.replicas` is not above `updatedReplicas`, and no
//!    other ReplicaSet still has pods);
//! 5. every updated replica is available (and, which availability implies, ready).
//!
//! hoist then asks one thing kubectl does not: does every pod of the new ReplicaSet run the
//! release's image? (`status.containerStatuses[].imageID` ends with the digest.) A tag can
//! move; a digest says which image really runs.
//!
//! kube-runtime's `conditions::is_deployment_completed` is not enough here: it reads only
//! the `Progressing` condition's reason `NewReplicaSetAvailable`, which is still there from
//! the previous rollout until the controller observes the new generation, so it can report
//! done before the patch was even seen.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

/// The annotation the Deployment controller numbers its rollouts with, on the Deployment
/// and on each ReplicaSet it made.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label that ties a ReplicaSet's pods to it.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The `Progressing` condition's reason once `progressDeadlineSeconds` passed.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

/// What the Deployment must end up running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect<'a> {
    /// The container whose image hoist sets.
    pub container: &'a str,
    /// The image reference hoist put in the pod template (`repo@sha256:…` or `repo:tag`).
    pub image: &'a str,
    /// The manifest digest every pod must run (`sha256:…`), when the release has one.
    pub digest: Option<&'a str>,
}

/// The verdict on one look at a Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Rolled out, and every new pod runs the release. The message says so.
    Complete(String),
    /// Not yet; waiting may help. The message says what is awaited.
    Waiting(String),
    /// Waiting will not help.
    Failed(String),
}

/// The decision, as described in the module's docs.
pub fn rollout_status(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    expect: &Expect<'_>,
) -> Rollout {
    let name = deployment.metadata.name.as_deref().unwrap_or("?");
    let generation = deployment.metadata.generation.unwrap_or(0);
    let status = deployment.status.clone().unwrap_or_default();
    if status.observed_generation.unwrap_or(0) < generation {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} spec update to be observed..."
        ));
    }
    let deadline_exceeded = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED)
    });
    if let Some(condition) = deadline_exceeded {
        let detail = condition
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        return Rollout::Failed(format!(
            "deployment {name:?} exceeded its progress deadline{detail}"
        ));
    }
    if let Some(image) = template_image(deployment, expect.container) {
        if image != expect.image {
            return Rollout::Failed(format!(
                "deployment {name:?}'s container {:?} is set to {image}, not {}: it was changed meanwhile",
                expect.container, expect.image
            ));
        }
    } else {
        return Rollout::Failed(format!(
            "deployment {name:?} has no container {:?}",
            expect.container
        ));
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {wanted} new replicas have been updated..."
        ));
    }
    let new_rs = new_replica_set(deployment, replica_sets);
    let old_in_sets: i32 = replica_sets
        .iter()
        .filter(|rs| Some(*rs) != new_rs)
        .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas))
        .sum();
    let old = (total - updated).max(old_in_sets);
    if old > 0 {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {old} old replicas are pending termination..."
        ));
    }
    if available < updated {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    if ready < updated {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {ready} of {updated} updated replicas are ready..."
        ));
    }
    let Some(new_rs) = new_rs else {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?}'s new ReplicaSet to be listed..."
        ));
    };
    let new_pods = pods_of(new_rs, pods);
    if (new_pods.len() as i64) < i64::from(updated) {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?}'s pods: {} of {updated} listed...",
            new_pods.len()
        ));
    }
    for pod in &new_pods {
        if let Err(wrong) = runs_release(pod, expect) {
            return wrong;
        }
    }
    let runs = match expect.digest {
        Some(digest) => format!("run {}", short_digest(digest)),
        None => format!("run {}", expect.image),
    };
    Rollout::Complete(format!(
        "deployment {name:?} successfully rolled out: {updated} of {wanted} replicas {runs}"
    ))
}

/// The image of the pod template's container `container`.
pub fn template_image<'d>(deployment: &'d Deployment, container: &str) -> Option<&'d str> {
    deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .image
        .as_deref()
}

/// The ReplicaSet of the Deployment's current revision: the controller gives it the
/// Deployment's `deployment.kubernetes.io/revision`.
pub fn new_replica_set<'r>(
    deployment: &Deployment,
    replica_sets: &'r [ReplicaSet],
) -> Option<&'r ReplicaSet> {
    let revision = deployment.metadata.annotations.as_ref()?.get(REVISION)?;
    replica_sets.iter().find(|rs| {
        rs.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            == Some(revision)
    })
}

/// The pods whose `pod-template-hash` is the ReplicaSet's.
pub fn pods_of<'p>(replica_set: &ReplicaSet, pods: &'p [Pod]) -> Vec<&'p Pod> {
    let hash = replica_set
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH));
    pods.iter()
        .filter(|p| {
            hash.is_some()
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(POD_TEMPLATE_HASH))
                    == hash
                && p.metadata.deletion_timestamp.is_none()
        })
        .collect()
}

/// Whether `pod`'s container runs the release: its `imageID` ends with the digest (or,
/// without a digest, its image is the reference hoist set).
fn runs_release(pod: &Pod, expect: &Expect<'_>) -> Result<(), Rollout> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == expect.container));
    let Some(status) = status else {
        return Err(Rollout::Waiting(format!(
            "Waiting for pod {pod_name:?} to report container {:?}...",
            expect.container
        )));
    };
    match expect.digest {
        Some(digest) if status.image_id.is_empty() => Err(Rollout::Waiting(format!(
            "Waiting for pod {pod_name:?} to report the image it runs (want {})...",
            short_digest(digest)
        ))),
        Some(digest) if !status.image_id.ends_with(digest) => Err(Rollout::Failed(format!(
            "pod {pod_name:?} runs {}, not the release's digest {digest}",
            status.image_id
        ))),
        Some(_) => Ok(()),
        None if status.image != expect.image => Err(Rollout::Failed(format!(
            "pod {pod_name:?} runs {}, not {}",
            status.image, expect.image
        ))),
        None => Ok(()),
    }
}

/// `sha256:0123456789ab`.
pub fn short_digest(digest: &str) -> &str {
    hoist_core::verify::short_id(digest)
}
