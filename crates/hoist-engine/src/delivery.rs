//! Putting a release's image on the engine that runs it.
//!
//! [`ImageDelivery`] is the seam: the Docker runtimes call it before they create anything
//! from a release, for the instance's engine. Without a registry, [`EngineTransfer`] copies
//! the image from the build engine (`GET /images/{name}/get` streamed into
//! `POST /images/load`), skipped when the engine already has the image. With a registry,
//! [`RegistryPull`] has each engine pull the release by digest instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptionsBuilder};
use futures::{StreamExt, TryStreamExt};
use hoist_core::Release;
use hoist_core::backend::BackendError;

use crate::{Engines, is_not_found, message};

/// Makes a release's image present on an engine.
#[async_trait]
pub trait ImageDelivery: Send + Sync {
    /// Puts `release`'s image on the engine at `address` (reached as `target`), or says
    /// why it cannot be there. Cheap when it already is.
    async fn deliver(
        &self,
        address: &str,
        target: &Docker,
        release: &Release,
    ) -> Result<(), BackendError>;
}

/// Copies images from the engine that built them, engine to engine, for setups without a
/// registry.
#[derive(Clone)]
pub struct EngineTransfer {
    source_address: String,
    engines: Engines,
}

impl EngineTransfer {
    /// Copies from the engine at `source_address` (the build host), reached through `engines`.
    pub fn new(source_address: &str, engines: Engines) -> Self {
        EngineTransfer {
            source_address: source_address.to_string(),
            engines,
        }
    }
}

#[async_trait]
impl ImageDelivery for EngineTransfer {
    async fn deliver(
        &self,
        address: &str,
        target: &Docker,
        release: &Release,
    ) -> Result<(), BackendError> {
        if same_engine(address, &self.source_address)
            || has_image(address, target, &release.image_id).await?
        {
            return Ok(());
        }
        let source = self.engines.get(&self.source_address).await?;
        if !has_image(&self.source_address, &source, &release.image_id).await? {
            return Err(BackendError::new(format!(
                "{} is not on {address}, and the build engine {} no longer has it ({}) to copy; \
                 deploy a release the build engine holds, or rebuild this one there",
                release.image, self.source_address, release.image_id
            )));
        }
        tracing::info!(
            "copying {} from {} to {address}",
            release.image,
            self.source_address
        );
        // By tag when it still names the release's image, so the copy is tagged alike.
        let tag_matches = source
            .inspect_image(&release.image)
            .await
            .ok()
            .and_then(|i| i.id)
            .is_some_and(|id| id == release.image_id);
        let name = if tag_matches {
            &release.image
        } else {
            &release.image_id
        };
        let bytes = copy_image(&source, target, name)
            .await
            .map_err(|e| BackendError::new(format!("copying {name} to {address}: {e}")))?;
        if !has_image(address, target, &release.image_id).await? {
            return Err(BackendError::new(format!(
                "{address} loaded {name} ({bytes} bytes) but has no image {} after it",
                release.image_id
            )));
        }
        tracing::info!("copied {name} to {address}: {bytes} bytes");
        Ok(())
    }
}

/// Has each engine pull a pushed release from the registry by digest (`repo@sha256:…`),
/// with the registry's credentials sent as `X-Registry-Auth`, for setups with a registry.
/// A release recorded before it had a digest is copied from the build engine instead.
pub struct RegistryPull {
    credentials: Option<DockerCredentials>,
    fallback: EngineTransfer,
}

impl RegistryPull {
    /// Pulls with `credentials` (`None`: anonymously); releases without a digest go
    /// through `fallback`.
    pub fn new(credentials: Option<DockerCredentials>, fallback: EngineTransfer) -> Self {
        RegistryPull {
            credentials,
            fallback,
        }
    }
}

#[async_trait]
impl ImageDelivery for RegistryPull {
    async fn deliver(
        &self,
        address: &str,
        target: &Docker,
        release: &Release,
    ) -> Result<(), BackendError> {
        let (Some(pinned), Some(digest)) = (release.pinned_image(), release.digest.as_deref())
        else {
            return self.fallback.deliver(address, target, release).await;
        };
        // Present and known by this digest: nothing to do. Present without it (loaded, or
        // built here and tagged elsewhere), the pull only records the digest, which is
        // what verification compares.
        if known_by_digest(address, target, &release.image_id, digest).await? {
            return Ok(());
        }
        tracing::info!("{address} pulls {pinned}");
        pull(target, &pinned, self.credentials.clone())
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "{address} could not pull {pinned}: {e}{}",
                    refused_hint(&e)
                ))
            })?;
        if !has_image(address, target, &release.image_id).await? {
            return Err(BackendError::new(format!(
                "{address} pulled {pinned} but has no image {} after it: the registry's \
                 manifest is not the release hoist recorded",
                release.image_id
            )));
        }
        Ok(())
    }
}

/// What to check when an engine's pull error says the registry refused it: the engine
/// pulls with the credentials hoist read, so those are the ones to fix.
fn refused_hint(message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    if [
        "unauthorized",
        "authentication required",
        "access to the resource is denied",
    ]
    .iter()
    .any(|says| message.contains(says))
    {
        " (the registry refused the credentials hoist handed the engine: check [registry] \
         username and password, or the Docker config file hoist reads them from)"
    } else {
        ""
    }
}

/// Whether the engine has `image_id` with `digest` among its repo digests.
async fn known_by_digest(
    address: &str,
    docker: &Docker,
    image_id: &str,
    digest: &str,
) -> Result<bool, BackendError> {
    match docker.inspect_image(image_id).await {
        Ok(image) => Ok(image
            .repo_digests
            .unwrap_or_default()
            .iter()
            .any(|d| d.ends_with(&format!("@{digest}")))),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(BackendError::new(format!(
            "cannot inspect image {image_id} on {address}: {}",
            message(&e)
        ))),
    }
}

/// `POST /images/create?fromImage=reference` until the engine's stream ends; the error
/// the engine reports, if any. `credentials` travel as `X-Registry-Auth`, which bollard
/// encodes as the Engine API documents (base64url JSON); hoist never logs them.
pub async fn pull(
    docker: &Docker,
    reference: &str,
    credentials: Option<DockerCredentials>,
) -> Result<(), String> {
    let options = CreateImageOptions {
        from_image: Some(reference.to_string()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| message(&e))?;
        if let Some(detail) = info.error_detail {
            return Err(detail.message.unwrap_or_else(|| "no details".into()));
        }
    }
    Ok(())
}

/// One engine under two spellings (`/run` is `/var/run` on Debian; a trailing `/`).
fn same_engine(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim_end_matches('/')
            .replace("unix:///run/", "unix:///var/run/")
    };
    norm(a) == norm(b)
}

async fn has_image(address: &str, docker: &Docker, id: &str) -> Result<bool, BackendError> {
    match docker.inspect_image(id).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(BackendError::new(format!(
            "cannot inspect image {id} on {address}: {}",
            message(&e)
        ))),
    }
}

/// Streams the image `name` out of `from` and into `to` (`docker save | docker load`,
/// without a file in between); returns the bytes sent.
pub async fn copy_image(from: &Docker, to: &Docker, name: &str) -> Result<u64, String> {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let export = from.export_image(name).inspect_ok(move |chunk| {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    });
    let mut load = to.import_image_stream(
        ImportImageOptionsBuilder::new().quiet(true).build(),
        export,
        None,
    );
    while let Some(step) = load.next().await {
        let step = step.map_err(|e| message(&e))?;
        if let Some(detail) = step.error_detail.and_then(|d| d.message) {
            return Err(detail);
        }
    }
    Ok(sent.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::refused_hint;

    #[test]
    fn refused_pulls_say_which_credentials_to_check() {
        for message in [
            "Get \"http://127.0.0.1:5000/v2/app/manifests/sha256:ab\": unauthorized: authentication required",
            "pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            "UNAUTHORIZED: authentication required",
        ] {
            assert!(refused_hint(message).contains("[registry]"), "{message}");
        }
        assert_eq!(refused_hint("manifest unknown: manifest unknown"), "");
        assert_eq!(refused_hint("connection refused"), "");
    }
}
