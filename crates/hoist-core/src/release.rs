//! A release: an immutable built artifact, and the labels that tie images and containers
//! back to it.

use serde::{Deserialize, Serialize};

/// An immutable, built artifact: what `hoist deploy` rolls out and `hoist rollback` restores.
///
/// Its image has one or two identities, both content addresses:
///
/// - [`image_id`](Self::image_id), always: the id a local engine gives the image it built
///   (or loaded). A runtime that runs images from that engine's image store (the Docker
///   container runtime) looks the image up and verifies containers by it.
/// - [`digest`](Self::digest), once the image is pushed: the registry's manifest digest.
///   A runtime that pulls (a cluster, a hosting platform) refers to the image by
///   `repository@digest` and verifies what it runs against it. `None` for an image that
///   lives only in a local engine, and for every release recorded before digests were
///   (state databases of schema version 1, and JSON written without the field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub app: String,
    /// Semver tag or short commit sha (see [`crate::version`]).
    pub version: String,
    pub commit: String,
    /// `repository:tag` of the app image.
    pub image: String,
    /// Content address of the image in the local engine that built it (`sha256:…`, the
    /// engine's image id), which is what verification compares against a container there.
    pub image_id: String,
    /// Manifest digest (`sha256:…`) of the image in a registry, once pushed; `None` while
    /// it exists only in a local engine's image store. See the type's docs.
    #[serde(default)]
    pub digest: Option<String>,
    /// Dependency fingerprint of the base image it was built on.
    pub fingerprint: String,
    pub base_image: String,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
}

impl Release {
    /// `registry:5000/app` from the release's `registry:5000/app:v1` (a port's colon is not
    /// a tag's).
    pub fn repository(&self) -> &str {
        let image = self.image.split('@').next().unwrap_or(&self.image);
        match image.rfind(':') {
            Some(colon) if !image[colon..].contains('/') => &image[..colon],
            _ => image,
        }
    }

    /// `repo@sha256:…`: what an engine pulls to get exactly this release from its
    /// registry. `None` while the release was never pushed.
    pub fn pinned_image(&self) -> Option<String> {
        let digest = self.digest.as_ref()?;
        Some(format!("{}@{digest}", self.repository()))
    }

    /// `repo:tag@sha256:…`: the tag for people reading `docker service ls`, the digest for
    /// what runs (Swarm resolves the digest and ignores the tag).
    pub fn tagged_pinned_image(&self) -> Option<String> {
        let digest = self.digest.as_ref()?;
        let tagged = self.image.split('@').next().unwrap_or(&self.image);
        Some(format!("{tagged}@{digest}"))
    }
}

/// Label keys hoist puts on images and containers.
pub mod labels {
    pub const REVISION: &str = "org.opencontainers.image.revision";
    pub const VERSION: &str = "org.opencontainers.image.version";
    pub const CREATED: &str = "org.opencontainers.image.created";
    pub const FINGERPRINT: &str = "dev.hoist.fingerprint";
    pub const APP: &str = "dev.hoist.app";
    pub const ENVIRONMENT: &str = "dev.hoist.environment";
    pub const TENANT: &str = "dev.hoist.tenant";
    pub const RELEASE: &str = "dev.hoist.release";
    /// `live`, `candidate` or `previous`: which part a container plays in a rollout.
    pub const ROLE: &str = "dev.hoist.role";
    /// The instance's spec digest (`hoist_core::spec_digest::SpecDigest`, as JSON): what
    /// the workload was started with, setting by setting, secrets only as digests.
    pub const SPEC: &str = "dev.hoist.spec";
    /// On a container the proxy switch started: the admin address of the proxy that sends
    /// to it. Leaving the proxy (the port switch, `hoist retire` after `switch = "proxy"`
    /// went from the config) finds there the server to remove.
    pub const PROXY_ADMIN: &str = "dev.hoist.proxy-admin";
    /// `dev.hoist.secret.NAME`: the fingerprint of secret `NAME` the workload was given
    /// (never the value), so `hoist status` shows drift.
    pub const SECRET_PREFIX: &str = "dev.hoist.secret.";

    /// The secret fingerprints among a workload's labels, by secret name.
    pub fn secret_fingerprints<'a>(
        labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> std::collections::BTreeMap<String, String> {
        labels
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(SECRET_PREFIX)?.to_string(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod pinned_tests {
    use super::*;

    fn release(image: &str, digest: Option<&str>) -> Release {
        Release {
            app: "clinic".into(),
            version: "v1".into(),
            commit: "abc".into(),
            image: image.into(),
            image_id: "sha256:id".into(),
            digest: digest.map(str::to_string),
            fingerprint: "fp".into(),
            base_image: "base".into(),
            created_by: "me".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_pushed_release_is_pulled_by_its_repository_and_digest() {
        let r = release("127.0.0.1:5000/clinic/app:v1", Some("sha256:d1"));
        assert_eq!(r.repository(), "127.0.0.1:5000/clinic/app");
        assert_eq!(
            r.pinned_image().unwrap(),
            "127.0.0.1:5000/clinic/app@sha256:d1"
        );
        assert_eq!(
            r.tagged_pinned_image().unwrap(),
            "127.0.0.1:5000/clinic/app:v1@sha256:d1"
        );
    }

    #[test]
    fn a_port_without_a_tag_stays_in_the_repository() {
        let r = release("registry:5000/app", Some("sha256:d1"));
        assert_eq!(r.repository(), "registry:5000/app");
        assert_eq!(r.pinned_image().unwrap(), "registry:5000/app@sha256:d1");
    }

    #[test]
    fn a_release_never_pushed_has_no_pinned_image() {
        let r = release("clinic:v1", None);
        assert_eq!(r.pinned_image(), None);
        assert_eq!(r.tagged_pinned_image(), None);
    }
}
