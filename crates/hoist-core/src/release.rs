//! A release: an immutable built artifact, and the labels that tie images and containers
//! back to it.

use serde::{Deserialize, Serialize};

/// An immutable, built artifact: what `hoist deploy` rolls out and `hoist rollback` restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub app: String,
    /// Semver tag or short commit sha (see [`crate::version`]).
    pub version: String,
    pub commit: String,
    /// `repository:tag` of the app image.
    pub image: String,
    /// Content address of the image (`sha256:…`, the engine's image id), which is what
    /// verification compares against a running container.
    pub image_id: String,
    /// Dependency fingerprint of the base image it was built on.
    pub fingerprint: String,
    pub base_image: String,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
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
}
