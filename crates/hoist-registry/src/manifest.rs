//! Image manifests and indexes, OCI and Docker schema 2: what hoist reads (a base image's
//! layers and config) and writes (the app image: the base's layers plus one).

use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` list for manifest requests: every kind hoist understands.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (either family; `media_type` says which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Optional in OCI manifests (the `Content-Type` says it); always written by hoist.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// An image index / manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A manifest as read from a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

impl Manifest {
    /// Parses `body`, served as `content_type` (an OCI manifest may say its type only in
    /// its own `mediaType`).
    pub fn parse(body: &[u8], content_type: &str) -> Result<Manifest, String> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_json::from_slice(body).map_err(|e| format!("not a manifest: {e}"))?;
        let kind = probe
            .media_type
            .clone()
            .unwrap_or_else(|| content_type.to_string());
        let is_index =
            kind == OCI_INDEX || kind == DOCKER_MANIFEST_LIST || probe.manifests.is_some();
        if is_index {
            return serde_json::from_slice(body)
                .map(Manifest::Index)
                .map_err(|e| format!("not an image index: {e}"));
        }
        if kind != OCI_MANIFEST && kind != DOCKER_MANIFEST {
            return Err(format!(
                "`{kind}` manifests are not supported (hoist reads OCI and Docker schema 2)"
            ));
        }
        let mut manifest: ImageManifest =
            serde_json::from_slice(body).map_err(|e| format!("not an image manifest: {e}"))?;
        manifest.media_type = kind;
        Ok(Manifest::Image(manifest))
    }
}

impl ImageIndex {
    /// The entry for `os`/`architecture`.
    pub fn for_platform(&self, os: &str, architecture: &str) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == architecture)
        })
    }
}

impl ImageManifest {
    /// Whether this is a Docker schema 2 manifest (else OCI).
    pub fn is_docker(&self) -> bool {
        self.media_type == DOCKER_MANIFEST
    }

    /// The media type of a gzipped layer appended to this image: the same family as the
    /// base's, since some registries and engines reject mixed manifests.
    pub fn layer_media_type(&self) -> &'static str {
        if self.is_docker() {
            DOCKER_LAYER_GZIP
        } else {
            OCI_LAYER_GZIP
        }
    }

    /// The media type of this family's image config.
    pub fn config_media_type(&self) -> &'static str {
        if self.is_docker() {
            DOCKER_CONFIG
        } else {
            OCI_CONFIG
        }
    }

    /// The manifest's canonical bytes, as pushed (and so as digested).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_and_indexes_parse() {
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"sha256:c","size":1}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","digest":"sha256:l","size":2}}]}}"#
        );
        let Manifest::Image(m) = Manifest::parse(docker.as_bytes(), "").unwrap() else {
            panic!("an image manifest")
        };
        assert!(m.is_docker());
        assert_eq!(m.layer_media_type(), DOCKER_LAYER_GZIP);
        assert_eq!(m.config_media_type(), DOCKER_CONFIG);
        // OCI without a mediaType field: the Content-Type says it.
        let oci = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"sha256:c","size":1}},"layers":[]}}"#
        );
        let Manifest::Image(m) = Manifest::parse(oci.as_bytes(), OCI_MANIFEST).unwrap() else {
            panic!("an image manifest")
        };
        assert_eq!(m.layer_media_type(), OCI_LAYER_GZIP);
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:a","size":3,"platform":{{"architecture":"arm64","os":"linux"}}}},{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:b","size":3,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Manifest::Index(i) = Manifest::parse(index.as_bytes(), "").unwrap() else {
            panic!("an index")
        };
        assert_eq!(i.for_platform("linux", "amd64").unwrap().digest, "sha256:b");
        let v1 = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert!(
            Manifest::parse(v1.as_bytes(), "")
                .unwrap_err()
                .contains("not supported")
        );
    }
}
