//! Builds through a registry: the base image for a fingerprint is looked up in the
//! registry (and pulled into the engine when the engine lacks it), a built base is pushed
//! under its fingerprint tag, and an app image that is a layer build is pushed without the
//! engine ([`crate::registry_push`]), then pulled by digest so the local engine can run it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use futures::StreamExt;
use hoist_core::backend::{BackendError, BuildContext, BuildRequest, Builder};
use hoist_core::{EventKind, EventSink, Stage};
use hoist_registry::{Client, Reference};
use tokio::sync::Mutex;

use crate::DockerBuilder;

/// A [`Builder`] whose images live in a registry, with an engine for engine builds.
pub struct RegistryBuilder {
    engine: DockerBuilder,
    docker: Docker,
    client: Arc<Client>,
    /// Manifest digests of what this builder pushed, by tag.
    pushed: Mutex<HashMap<String, String>>,
}

impl RegistryBuilder {
    pub fn new(docker: Docker, client: Arc<Client>) -> Self {
        RegistryBuilder {
            engine: DockerBuilder::new(docker.clone()),
            docker,
            client,
            pushed: Mutex::new(HashMap::new()),
        }
    }

    /// `reference` parsed, when it lives in this builder's registry.
    fn in_registry(&self, reference: &str) -> Option<Reference> {
        Reference::parse(reference)
            .ok()
            .filter(|r| r.registry == self.client.registry())
    }

    /// What the engine sends as `X-Registry-Auth`.
    fn engine_credentials(&self) -> Option<DockerCredentials> {
        engine_credentials(&self.client)
    }

    /// Has the engine pull `reference` with the registry's credentials.
    async fn pull(&self, reference: &str) -> Result<(), BackendError> {
        hoist_engine::pull(&self.docker, reference, self.engine_credentials())
            .await
            .map_err(|e| BackendError::new(format!("the engine could not pull {reference}: {e}")))
    }

    /// Has the engine push `reference` with the registry's credentials.
    async fn engine_push(&self, reference: &Reference) -> Result<(), BackendError> {
        let name = format!("{}/{}", reference.registry, reference.repository);
        let options = bollard::query_parameters::PushImageOptions {
            tag: reference.tag.clone(),
            ..Default::default()
        };
        let mut stream = self
            .docker
            .push_image(&name, Some(options), self.engine_credentials());
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                BackendError::new(format!(
                    "the engine could not push {reference}: {}",
                    hoist_engine::message(&e)
                ))
            })?;
            if let Some(detail) = info.error_detail {
                return Err(BackendError::new(format!(
                    "the engine could not push {reference}: {}",
                    detail.message.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    fn registry_error(&self, e: hoist_registry::RegistryError) -> BackendError {
        BackendError::new(e.to_string())
    }
}

#[async_trait]
impl Builder for RegistryBuilder {
    /// The engine's copy; else, when the registry has the image, the engine pulls it.
    async fn image_id(&self, reference: &str) -> Result<Option<String>, BackendError> {
        if let Some(id) = self.engine.image_id(reference).await? {
            return Ok(Some(id));
        }
        let Some(parsed) = self.in_registry(reference) else {
            return Ok(None);
        };
        let found = self
            .client
            .manifest_digest(&parsed.repository, parsed.manifest_reference())
            .await
            .map_err(|e| self.registry_error(e))?;
        if found.is_none() {
            return Ok(None);
        }
        self.pull(reference).await?;
        self.engine.image_id(reference).await
    }

    async fn build(
        &self,
        request: &BuildRequest,
        events: &EventSink,
    ) -> Result<String, BackendError> {
        let say = |line: String| {
            events.emit(EventKind::BuildOutput {
                stage: request.stage,
                image: request.tag.clone(),
                line,
            })
        };
        let target = self.in_registry(&request.tag).ok_or_else(|| {
            BackendError::new(format!(
                "{} is not in the registry {}",
                request.tag,
                self.client.registry()
            ))
        })?;
        if request.stage == Stage::AppImage
            && let BuildContext::Directory { root } = &request.context
        {
            let text = std::fs::read_to_string(&request.dockerfile).map_err(|e| {
                BackendError::new(format!("cannot read {}: {e}", request.dockerfile.display()))
            })?;
            match crate::layer::plan(&text, &request.args) {
                Ok(plan) => {
                    let files = crate::context::context_files(root)?;
                    let pushed = crate::push_layer_image(
                        &self.client,
                        &plan,
                        root,
                        &files,
                        &request.labels,
                        &target,
                    )
                    .await
                    .map_err(|e| BackendError::new(e.to_string()))?;
                    let r = &pushed.report;
                    say(format!(
                        "daemonless push of {}: {} blob(s) uploaded ({} bytes), {} mounted, {} already there, manifest {}",
                        request.tag,
                        r.blobs_uploaded,
                        r.bytes_uploaded,
                        r.blobs_mounted,
                        r.blobs_present,
                        if r.manifest_uploaded {
                            "written"
                        } else {
                            "unchanged"
                        }
                    ));
                    events.emit(EventKind::ImagePushed {
                        reference: pushed.reference.clone(),
                        blobs_uploaded: r.blobs_uploaded,
                        bytes_uploaded: r.bytes_uploaded,
                        blobs_mounted: r.blobs_mounted,
                        blobs_present: r.blobs_present,
                    });
                    self.pushed
                        .lock()
                        .await
                        .insert(request.tag.clone(), pushed.manifest_digest.clone());
                    // The local engine runs what the registry has: pull it by digest.
                    self.pull(&pushed.reference).await?;
                    let tag_options = bollard::query_parameters::TagImageOptions {
                        repo: Some(format!("{}/{}", target.registry, target.repository)),
                        tag: target.tag.clone(),
                    };
                    self.docker
                        .tag_image(&pushed.reference, Some(tag_options))
                        .await
                        .map_err(|e| BackendError::new(hoist_engine::message(&e)))?;
                    return Ok(pushed.config_digest);
                }
                Err(why) => say(format!("engine build ({why})")),
            }
        }
        let id = self.engine.build(request, events).await?;
        self.engine_push(&target).await?;
        let digest = self
            .client
            .manifest_digest(&target.repository, target.manifest_reference())
            .await
            .map_err(|e| self.registry_error(e))?
            .ok_or_else(|| {
                BackendError::new(format!(
                    "the registry lacks {} right after its push",
                    request.tag
                ))
            })?;
        say(format!("pushed {} as {digest}", request.tag));
        self.pushed.lock().await.insert(request.tag.clone(), digest);
        Ok(id)
    }

    /// The engine's copy, or the registry's manifest at the release's digest (not pulled
    /// here: each engine that runs it pulls it by digest).
    async fn has_release(&self, release: &hoist_core::Release) -> Result<bool, BackendError> {
        if self.engine.image_id(&release.image_id).await?.is_some() {
            return Ok(true);
        }
        let (Some(digest), Some(parsed)) = (&release.digest, self.in_registry(&release.image))
        else {
            return Ok(false);
        };
        let found = self
            .client
            .manifest_digest(&parsed.repository, digest)
            .await
            .map_err(|e| self.registry_error(e))?;
        Ok(found.is_some())
    }

    async fn pushed_digest(&self, reference: &str) -> Result<Option<String>, BackendError> {
        Ok(self.pushed.lock().await.get(reference).cloned())
    }
}

/// `client`'s credentials as an engine takes them (`X-Registry-Auth`), so engines pull
/// and push what hoist does; `None` for a registry used anonymously.
pub fn engine_credentials(client: &Client) -> Option<DockerCredentials> {
    let (username, password) = client.credentials().expose()?;
    Some(DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(client.registry().to_string()),
        ..Default::default()
    })
}

/// A CA file's bytes, for [`hoist_registry::ClientOptions::ca_pem`].
pub fn read_ca(path: &PathBuf) -> Result<Vec<u8>, BackendError> {
    std::fs::read(path).map_err(|e| {
        BackendError::new(format!(
            "cannot read the registry CA {}: {e}",
            path.display()
        ))
    })
}
