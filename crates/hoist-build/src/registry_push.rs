//! Daemonless app images: for a layer build (see [`crate::layer`]), hoist reads the base's
//! manifest and config from the registry, writes the new layer reproducibly
//! ([`crate::reproducible`]) and the new config, and pushes layer, config and manifest
//! straight to the registry. No engine is involved, and the base's layers never leave the
//! registry: they are mounted from the base repository into the app's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_registry::manifest::{Descriptor, ImageManifest, Manifest};
use hoist_registry::{Blob, BlobSource, Client, PushReport, Reference, RegistryError};

use crate::layer::{LayerPlan, apply};
use crate::reproducible::reproducible_layer;

/// The platform picked from a base that is an image index.
const OS: &str = "linux";
const ARCHITECTURE: &str = "amd64";

/// A pushed app image.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// `repo@sha256:...` of the manifest: what runtimes pull and verification compares.
    pub reference: String,
    pub manifest_digest: String,
    /// The image id (the config's digest), as an engine shows it once pulled.
    pub config_digest: String,
    pub report: PushReport,
}

/// Why a daemonless push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Build(String),
}

/// Builds the app image of `plan` on its base (a reference in `client`'s registry) and
/// pushes it as `target` (`host/repo:tag`). `labels` are added to the config; the
/// `org.opencontainers.image.created` label, the commit time, dates the layer and config.
pub async fn push_layer_image(
    client: &Client,
    plan: &LayerPlan,
    context: &Path,
    context_files: &[PathBuf],
    labels: &BTreeMap<String, String>,
    target: &Reference,
) -> Result<PushedImage, PushError> {
    let base = Reference::parse(&plan.base)?;
    if base.registry != client.registry() || target.registry != client.registry() {
        return Err(PushError::Build(format!(
            "the base {} and the app image {target} must both be on the registry {}",
            plan.base,
            client.registry()
        )));
    }
    let (base_manifest, base_config) = read_base(client, &base).await?;
    let created = labels
        .get(hoist_core::labels::CREATED)
        .cloned()
        .ok_or_else(|| {
            PushError::Build("the image has no created label (the commit time)".into())
        })?;
    let mtime = created
        .parse::<jiff::Timestamp>()
        .map_err(|e| PushError::Build(format!("the created label `{created}` is not a time: {e}")))?
        .as_second()
        .max(0) as u64;
    let layer = {
        let (plan, context, files) = (plan.clone(), context.to_path_buf(), context_files.to_vec());
        tokio::task::spawn_blocking(move || reproducible_layer(&plan, &context, &files, mtime))
            .await
            .map_err(|e| PushError::Build(format!("writing the layer failed: {e}")))?
            .map_err(PushError::Build)?
    };
    let config = app_config(base_config, plan, labels, &created, &layer.diff_id)?;
    let config_digest = hoist_registry::digest_of(&config);

    let mut manifest = base_manifest.clone();
    manifest.media_type = base_manifest.media_type.clone();
    manifest.config = Descriptor {
        media_type: base_manifest.config_media_type().to_string(),
        digest: config_digest.clone(),
        size: config.len() as u64,
        platform: None,
        annotations: None,
    };
    manifest.layers.push(Descriptor {
        media_type: base_manifest.layer_media_type().to_string(),
        digest: layer.digest.clone(),
        size: layer.gzip.len() as u64,
        platform: None,
        annotations: None,
    });
    let mut blobs: Vec<Blob> = base_manifest
        .layers
        .iter()
        .map(|d| Blob {
            digest: d.digest.clone(),
            size: d.size,
            source: BlobSource::Remote,
            mount_from: Some(base.repository.clone()),
        })
        .collect();
    blobs.push(Blob {
        digest: layer.digest.clone(),
        size: layer.gzip.len() as u64,
        source: BlobSource::Bytes(layer.gzip.into()),
        mount_from: None,
    });
    blobs.push(Blob {
        digest: config_digest.clone(),
        size: config.len() as u64,
        source: BlobSource::Bytes(config.into()),
        mount_from: None,
    });
    let tags: Vec<String> = target.tag.iter().cloned().collect();
    let bytes = manifest.to_bytes();
    let report = client
        .push_image(
            &target.repository,
            &blobs,
            &manifest.media_type,
            &bytes,
            &tags,
        )
        .await?;
    Ok(PushedImage {
        reference: target.at_digest(&report.manifest_digest).to_string(),
        manifest_digest: report.manifest_digest.clone(),
        config_digest,
        report,
    })
}

/// The base's image manifest (the linux/amd64 one of an index) and its config.
async fn read_base(
    client: &Client,
    base: &Reference,
) -> Result<(ImageManifest, serde_json::Value), PushError> {
    let missing = || {
        PushError::Build(format!(
            "the base image {base} is not in the registry; it is pushed when it is built"
        ))
    };
    let (body, media_type, _) = client
        .get_manifest(&base.repository, base.manifest_reference())
        .await?
        .ok_or_else(missing)?;
    let mut manifest = Manifest::parse(&body, &media_type).map_err(PushError::Build)?;
    if let Manifest::Index(index) = &manifest {
        let entry = index.for_platform(OS, ARCHITECTURE).ok_or_else(|| {
            PushError::Build(format!(
                "the base image {base} has no {OS}/{ARCHITECTURE} image"
            ))
        })?;
        let (body, media_type, _) = client
            .get_manifest(&base.repository, &entry.digest)
            .await?
            .ok_or_else(missing)?;
        manifest = Manifest::parse(&body, &media_type).map_err(PushError::Build)?;
    }
    let Manifest::Image(manifest) = manifest else {
        return Err(PushError::Build(format!(
            "the base image {base} is an index of indexes"
        )));
    };
    let config = client
        .get_blob(&base.repository, &manifest.config.digest)
        .await?;
    let config = serde_json::from_slice(&config).map_err(|e| {
        PushError::Build(format!("the base image {base}'s config is not JSON: {e}"))
    })?;
    Ok((manifest, config))
}

/// The top-level keys of an image config in the OCI image spec (v1.1, "Properties");
/// Docker's image spec v1.2 defines the same ones but `os.*` and `variant`. Docker's
/// classic builder also writes `container` and `container_config` (the build step's
/// container id and its config, a near copy of `config`) and `docker_version`, and older
/// images carry `id`, `parent`, `comment` and `size`: no engine reads them to run an
/// image, `docker history` reads `history`, and they cost bytes on every release.
pub const IMAGE_CONFIG_KEYS: &[&str] = &[
    "architecture",
    "author",
    "config",
    "created",
    "history",
    "os",
    "os.features",
    "os.version",
    "rootfs",
    "variant",
];

/// The base's config with the Dockerfile's settings and hoist's labels applied, the new
/// layer appended, only the OCI keys kept ([`IMAGE_CONFIG_KEYS`]), and its keys sorted,
/// so equal inputs give equal bytes.
fn app_config(
    mut image: serde_json::Value,
    plan: &LayerPlan,
    labels: &BTreeMap<String, String>,
    created: &str,
    diff_id: &str,
) -> Result<Vec<u8>, PushError> {
    let bad = |what: &str| PushError::Build(format!("the base image's config {what}"));
    let object = image
        .as_object_mut()
        .ok_or_else(|| bad("is not an object"))?;
    let mut config: bollard::models::ImageConfig = match object.get("config") {
        Some(value) if !value.is_null() => serde_json::from_value(value.clone())
            .map_err(|e| bad(&format!("has an odd `config`: {e}")))?,
        _ => Default::default(),
    };
    apply(&mut config, &plan.settings);
    let image_labels = config.labels.get_or_insert_with(Default::default);
    for (key, value) in labels {
        image_labels.insert(key.clone(), value.clone());
    }
    object.insert(
        "config".into(),
        serde_json::to_value(&config).map_err(|e| bad(&e.to_string()))?,
    );
    object.insert("created".into(), created.into());
    let rootfs = object
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
    rootfs
        .get_mut("diff_ids")
        .and_then(|d| d.as_array_mut())
        .ok_or_else(|| bad("has no rootfs.diff_ids"))?
        .push(diff_id.into());
    if let Some(history) = object.get_mut("history").and_then(|h| h.as_array_mut()) {
        history.push(serde_json::json!({"created": created, "created_by": "hoist layer build"}));
    }
    object.retain(|key, _| IMAGE_CONFIG_KEYS.contains(&key.as_str()));
    serde_json::to_vec(&sorted(image)).map_err(|e| bad(&e.to_string()))
}

/// `value` with every object's keys in order, whatever map serde_json was built with.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let ordered: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(ordered.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config Docker 20.10's classic builder wrote for a base (`FROM scratch`, a COPY
    /// and a CMD), as read from a registry, trimmed to what matters here.
    const DOCKER_BASE_CONFIG: &str = r##"{
        "architecture": "amd64",
        "author": "clinic team",
        "config": {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
            "Tty": false, "Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "sh"],
            "Image": "sha256:0d8d", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
            "OnBuild": null, "Labels": {"team": "clinic"}},
        "container": "3f4e2b1a9c8d",
        "container_config": {"Hostname": "3f4e2b1a9c8d", "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"/bin/busybox\" \"sh\"]"],
            "Image": "sha256:0d8d", "Labels": {"team": "clinic"}},
        "created": "2026-12-01T10:00:00.123456789Z",
        "docker_version": "20.10.24+dfsg1",
        "history": [
            {"created": "2026-12-01T10:00:00Z", "created_by": "/bin/sh -c #(nop) COPY file:ab in /bin/busybox "},
            {"created": "2026-12-01T10:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/busybox\" \"sh\"]", "empty_layer": true}
        ],
        "id": "legacy-v1-id",
        "os": "linux",
        "parent": "legacy-v1-parent",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:aaaa"]}
    }"##;

    fn app_config_of(base: &str) -> serde_json::Value {
        let mut args = BTreeMap::new();
        args.insert(
            "HOIST_BASE".to_string(),
            "registry.test/app-base:fp-1".to_string(),
        );
        let plan = crate::layer::plan(
            "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY www /www\nENV APP_VERSION=v1\n",
            &args,
        )
        .unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("dev.hoist.app".to_string(), "clinic".to_string());
        let bytes = app_config(
            serde_json::from_str(base).unwrap(),
            &plan,
            &labels,
            "2026-12-06T06:00:00Z",
            "sha256:bbbb",
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_app_config_keeps_the_oci_keys_and_drops_dockers_legacy_ones() {
        let config = app_config_of(DOCKER_BASE_CONFIG);
        let keys: Vec<&str> = config
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "architecture",
                "author",
                "config",
                "created",
                "history",
                "os",
                "rootfs"
            ]
        );
        // What an engine runs and `docker history`/`inspect` show is all there.
        assert_eq!(
            config["config"]["Cmd"],
            serde_json::json!(["/bin/busybox", "sh"])
        );
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!(["PATH=/bin", "APP_VERSION=v1"])
        );
        assert_eq!(config["config"]["Labels"]["team"], "clinic");
        assert_eq!(config["config"]["Labels"]["dev.hoist.app"], "clinic");
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!(["sha256:aaaa", "sha256:bbbb"])
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 3);
        assert_eq!(config["history"][2]["created_by"], "hoist layer build");
        assert_eq!(config["created"], "2026-12-06T06:00:00Z");
        assert_eq!(config["author"], "clinic team");
        // The container's own settings do not survive in `config` either.
        let run = config["config"].as_object().unwrap();
        for legacy in ["Hostname", "Domainname", "AttachStdin", "Tty", "Image"] {
            assert!(!run.contains_key(legacy), "{legacy} in {run:?}");
        }
    }

    #[test]
    fn the_oci_keys_of_a_base_all_survive() {
        let mut base: serde_json::Value = serde_json::from_str(DOCKER_BASE_CONFIG).unwrap();
        let object = base.as_object_mut().unwrap();
        object.insert("variant".into(), "v8".into());
        object.insert("os.version".into(), "10.0.17763.1040".into());
        object.insert("os.features".into(), serde_json::json!(["win32k"]));
        let config = app_config_of(&base.to_string());
        for key in IMAGE_CONFIG_KEYS {
            assert!(config.get(key).is_some(), "{key} dropped: {config}");
        }
        assert_eq!(config["variant"], "v8");
    }
}
