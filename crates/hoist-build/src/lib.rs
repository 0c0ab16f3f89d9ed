//! Image builds through the Docker Engine API (no docker CLI): the build context is packed
//! here, streamed to the engine, and its output turned into [`hoist_core::Event`]s.

mod context;
mod layer;

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures::StreamExt;
use hoist_core::target::{BackendError, BuildContext, BuildRequest, Builder};
use hoist_core::{Event, EventSink};

pub use context::{DOCKERFILE_NAME, pack};

/// Lines of build output kept to explain a failure.
const TAIL_LINES: usize = 30;

/// Builds on one Docker engine.
#[derive(Clone)]
pub struct DockerBuilder {
    docker: Docker,
}

impl DockerBuilder {
    pub fn new(docker: Docker) -> Self {
        DockerBuilder { docker }
    }

    /// Connects to the engine at `address`.
    pub async fn connect(address: &str) -> Result<Self, BackendError> {
        Ok(DockerBuilder {
            docker: hoist_engine::connect(address).await?,
        })
    }
}

#[async_trait]
impl Builder for DockerBuilder {
    async fn image_id(&self, reference: &str) -> Result<Option<String>, BackendError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(e) if hoist_engine::is_not_found(&e) => Ok(None),
            Err(e) => Err(BackendError::new(format!(
                "cannot inspect image {reference}: {}",
                hoist_engine::message(&e)
            ))),
        }
    }

    async fn build(
        &self,
        request: &BuildRequest,
        events: &EventSink,
    ) -> Result<String, BackendError> {
        if let BuildContext::Directory { root } = &request.context {
            let text = std::fs::read_to_string(&request.dockerfile).map_err(|e| {
                BackendError::new(format!("cannot read {}: {e}", request.dockerfile.display()))
            })?;
            match layer::plan(&text, &request.args) {
                Ok(plan) => {
                    if let Some(id) = self.layer_build(request, root, &plan, events).await? {
                        return Ok(id);
                    }
                }
                Err(why) => events.emit(Event::BuildOutput {
                    image: request.tag.clone(),
                    line: format!("engine build ({why})"),
                }),
            }
        }
        self.engine_build(request, events).await
    }
}

impl DockerBuilder {
    /// See [`layer`]: one container, one upload, one commit. `None` when the base image
    /// cannot be used this way (it has no command, so no container can be created from it
    /// without giving it one, which the commit would keep).
    async fn layer_build(
        &self,
        request: &BuildRequest,
        root: &std::path::Path,
        plan: &layer::LayerPlan,
        events: &EventSink,
    ) -> Result<Option<String>, BackendError> {
        let say = |line: String| {
            events.emit(Event::BuildOutput {
                image: request.tag.clone(),
                line,
            })
        };
        let base = self.docker.inspect_image(&plan.base).await.map_err(|e| {
            BackendError::new(format!(
                "cannot inspect the base image {}: {}",
                plan.base,
                hoist_engine::message(&e)
            ))
        })?;
        let runnable = base.config.as_ref().is_some_and(|c| {
            c.cmd.as_ref().is_some_and(|v| !v.is_empty())
                || c.entrypoint.as_ref().is_some_and(|v| !v.is_empty())
        });
        if !runnable {
            say(format!(
                "engine build ({} has no CMD or ENTRYPOINT)",
                plan.base
            ));
            return Ok(None);
        }
        say(format!(
            "layer build on {}: {} COPY, {} setting(s), one commit",
            plan.base,
            plan.copies.len(),
            plan.changes.len()
        ));
        let tar = {
            let (plan, root) = (plan.clone(), root.to_path_buf());
            tokio::task::spawn_blocking(move || {
                let files = context::context_files(&root)?;
                layer::layer_tar(&plan, &root, &files).map_err(BackendError::new)
            })
            .await
            .map_err(|e| BackendError::new(format!("packing the layer failed: {e}")))??
        };
        let body = bollard::models::ContainerCreateBody {
            image: Some(plan.base.clone()),
            ..Default::default()
        };
        let container = self
            .docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot create a container from {}: {}",
                    plan.base,
                    hoist_engine::message(&e)
                ))
            })?
            .id;
        let result = self.commit_layer(request, plan, &container, tar).await;
        let remove = bollard::query_parameters::RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if let Err(e) = self.docker.remove_container(&container, Some(remove)).await {
            tracing::warn!("could not remove the layer build container {container}: {e}");
        }
        let id = result?;
        say(format!("Successfully built {id} as {}", request.tag));
        Ok(Some(id))
    }

    async fn commit_layer(
        &self,
        request: &BuildRequest,
        plan: &layer::LayerPlan,
        container: &str,
        tar: Vec<u8>,
    ) -> Result<String, BackendError> {
        let upload = bollard::query_parameters::UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(container, Some(upload), bollard::body_full(tar.into()))
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot upload the app files: {}",
                    hoist_engine::message(&e)
                ))
            })?;
        let mut changes = plan.changes.join("\n");
        changes.push_str(&context::label_instruction(&request.labels));
        let (repo, tag) = split_reference(&request.tag);
        let options = bollard::query_parameters::CommitContainerOptions {
            container: Some(container.to_string()),
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            comment: Some("hoist layer build".into()),
            pause: false,
            changes: Some(changes),
            ..Default::default()
        };
        self.docker
            .commit_container(options, bollard::models::ContainerConfig::default())
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot commit {}: {}",
                    request.tag,
                    hoist_engine::message(&e)
                ))
            })?;
        self.image_id(&request.tag).await?.ok_or_else(|| {
            BackendError::new(format!(
                "the engine committed {} but does not have it",
                request.tag
            ))
        })
    }

    /// Builds with the engine's (classic) builder, streaming its output.
    async fn engine_build(
        &self,
        request: &BuildRequest,
        events: &EventSink,
    ) -> Result<String, BackendError> {
        let packed = {
            let request = request.clone();
            tokio::task::spawn_blocking(move || {
                pack(&request.context, &request.dockerfile, &request.labels)
            })
            .await
            .map_err(|e| BackendError::new(format!("packing the build context failed: {e}")))??
        };
        let options = BuildImageOptions {
            dockerfile: DOCKERFILE_NAME.to_string(),
            t: Some(request.tag.clone()),
            rm: true,
            nocache: request.no_cache,
            forcerm: true,
            buildargs: Some(request.args.clone().into_iter().collect::<HashMap<_, _>>()),
            platform: request.platform.clone(),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(packed.into())));
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        let keep = |line: String, tail: &mut VecDeque<String>| {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        let message = detail.message.unwrap_or_else(|| "the build failed".into());
                        keep(message.clone(), &mut tail);
                        return Err(BackendError::new(message).with_log(tail.into()));
                    }
                    for text in [info.stream, info.status].into_iter().flatten() {
                        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                            keep(line.to_string(), &mut tail);
                            events.emit(Event::BuildOutput {
                                image: request.tag.clone(),
                                line: line.to_string(),
                            });
                        }
                    }
                }
                Err(e) => {
                    let message = hoist_engine::message(&e);
                    return Err(BackendError::new(message).with_log(tail.into()));
                }
            }
        }
        self.image_id(&request.tag).await?.ok_or_else(|| {
            BackendError::new(format!(
                "the engine finished building {} but does not have it",
                request.tag
            ))
            .with_log(tail.into())
        })
    }
}

/// `repo[:tag]` into repository and tag (`latest` when none); a `:` before the last `/`
/// belongs to a registry port.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_split_at_the_tag_not_the_registry_port() {
        assert_eq!(super::split_reference("clinic:v1"), ("clinic", "v1"));
        assert_eq!(
            super::split_reference("reg:5000/team/clinic:v1"),
            ("reg:5000/team/clinic", "v1")
        );
        assert_eq!(
            super::split_reference("reg:5000/team/clinic"),
            ("reg:5000/team/clinic", "latest")
        );
    }
}
