//! The strategic-merge patch hoist sends a Deployment, as plain data: the named container's
//! image, hoist's labels and spec digest, and kubectl's change-cause annotation. Building
//! it apart from sending it lets tests read exactly what the API server receives.

use std::collections::BTreeMap;

use hoist_core::{InstanceSpec, Release};
use serde_json::{Value, json};

/// kubectl's annotation for why a revision exists; `kubectl rollout history` shows it.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// The image reference a Deployment runs for `release`: `repo@sha256:…` when the release
/// is in a registry by digest (what runs cannot change under hoist), else `repo:tag`.
pub fn image_reference(release: &Release) -> String {
    match &release.digest {
        Some(digest) => format!("{}@{digest}", repository(&release.image)),
        None => release.image.clone(),
    }
}

/// `registry:5000/app` from `registry:5000/app:v1` (a port's colon is not a tag's).
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

/// The annotation naming the hoist instance a Deployment belongs to (its workload name),
/// so that `hoist status` and `hoist retire` tie a Deployment back to hoist.toml whatever
/// the Deployment is called.
pub const INSTANCE: &str = "dev.hoist.instance";

/// The annotation holding the release's image id (see [`Target::image_id`]).
pub const IMAGE_ID: &str = "dev.hoist.image-id";

/// The annotation holding the image reference [`IMAGE_ID`] belongs to: when the template
/// names another image (somebody ran `kubectl set image`), the recorded id is not used.
pub const IMAGE: &str = "dev.hoist.image";

/// What a Deployment is patched to: a release's image (or, on a rollback, the image it ran
/// before) and what hoist records with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The release's version (the `dev.hoist.release` label).
    pub version: String,
    /// The image reference for the container ([`image_reference`]).
    pub image: String,
    /// The manifest digest the pods must run, when known.
    pub digest: Option<String>,
    /// The instance's spec digest, as its label text.
    pub spec_digest: String,
    /// The release's image id (`Release::image_id`), recorded so that `observe` can say
    /// "runs this release" in the terms the pipeline compares.
    pub image_id: String,
}

impl Target {
    /// What rolling `release` out to `instance` sets.
    pub fn of(release: &Release, spec_digest: String) -> Target {
        Target {
            version: release.version.clone(),
            image: image_reference(release),
            digest: release.digest.clone(),
            spec_digest,
            image_id: release.image_id.clone(),
        }
    }
}

/// The change-cause annotation: `hoist deploy v1.2.0 (app@sha256:…) by alice`.
pub fn change_cause(verb: &str, target: &Target, actor: &str) -> String {
    format!(
        "hoist {verb} {} ({}) by {actor}",
        target.version, target.image
    )
}

/// The patch: `container` of the pod template set to `image`, hoist's labels on the
/// Deployment and on its pods (so a pod says which release it is), the spec digest and the
/// change-cause as annotations. `resource_version`, when given, makes the API server refuse
/// the patch with 409 Conflict if the Deployment changed since it was read.
pub fn deployment_patch(
    instance: &InstanceSpec,
    target: &Target,
    container: &str,
    cause: &str,
    resource_version: Option<&str>,
) -> Value {
    let labels: BTreeMap<String, String> = instance
        .base_labels()
        .into_iter()
        .chain([(
            hoist_core::labels::RELEASE.to_string(),
            label_value(&target.version),
        )])
        .collect();
    let mut metadata = json!({
        "labels": labels,
        "annotations": {
            CHANGE_CAUSE: cause,
            hoist_core::labels::SPEC: target.spec_digest,
            INSTANCE: instance.name,
            IMAGE_ID: target.image_id,
            IMAGE: target.image,
        },
    });
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    json!({
        "metadata": metadata,
        "spec": {
            "template": {
                "metadata": {
                    "labels": { hoist_core::labels::RELEASE: label_value(&target.version) },
                },
                "spec": {
                    "containers": [ { "name": container, "image": target.image } ],
                },
            },
        },
    })
}

/// A version as a label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending alphanumeric (Kubernetes' rule); anything else becomes `_`.
pub fn label_value(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// `{"spec": {"replicas": 0}}`: how [`crate::KubernetesRuntime`] retires a Deployment.
pub fn scale_to_zero() -> Value {
    json!({ "spec": { "replicas": 0 } })
}
