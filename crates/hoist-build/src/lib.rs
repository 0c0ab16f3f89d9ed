//! Image builds through the Docker Engine API (no docker CLI): the build context is packed
//! here, streamed to the engine, and its output turned into [`hoist_core::Event`]s.

mod context;
mod layer;
mod registry_builder;
mod registry_push;
mod reproducible;

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures::StreamExt;
use hoist_core::backend::{BackendError, BuildContext, BuildRequest, Builder};
use hoist_core::{EventKind, EventSink};

pub use context::{DOCKERFILE_NAME, context_files, pack};
pub use layer::{LayerPlan, plan as layer_plan};
pub use registry_builder::{RegistryBuilder, engine_credentials, read_ca};
pub use registry_push::{IMAGE_CONFIG_KEYS, PushError, PushedImage, push_layer_image};
pub use reproducible::{ReproducibleLayer, reproducible_layer};

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
                Ok(plan) => return self.layer_build(request, root, &plan, events).await,
                Err(why) => events.emit(EventKind::BuildOutput {
                    stage: request.stage,
                    image: request.tag.clone(),
                    line: format!("engine build ({why})"),
                }),
            }
        }
        self.engine_build(request, events).await
    }
}

impl DockerBuilder {
    /// See [`layer`]: the new layer and config are written here and loaded by the engine.
    async fn layer_build(
        &self,
        request: &BuildRequest,
        root: &std::path::Path,
        plan: &layer::LayerPlan,
        events: &EventSink,
    ) -> Result<String, BackendError> {
        let say = |line: String| {
            events.emit(EventKind::BuildOutput {
                stage: request.stage,
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
        say(format!(
            "layer build on {}: {} COPY, {} setting(s), one layer",
            plan.base,
            plan.copies.len(),
            plan.settings.len()
        ));
        let (archive, image_id) = {
            let (plan, root, request) = (plan.clone(), root.to_path_buf(), request.clone());
            tokio::task::spawn_blocking(move || {
                let files = context::context_files(&root)?;
                let tar = layer::layer_tar(&plan, &root, &files).map_err(BackendError::new)?;
                layer::image_archive(&base, &plan, &tar, &request.labels, &request.tag)
                    .map_err(BackendError::new)
            })
            .await
            .map_err(|e| BackendError::new(format!("packing the layer failed: {e}")))??
        };
        let options = bollard::query_parameters::ImportImageOptions {
            quiet: true,
            ..Default::default()
        };
        let mut stream =
            self.docker
                .import_image(options, bollard::body_full(archive.into()), None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                BackendError::new(format!(
                    "the engine did not load {}: {}",
                    request.tag,
                    hoist_engine::message(&e)
                ))
            })?;
            if let Some(detail) = info.error_detail {
                return Err(BackendError::new(format!(
                    "the engine did not load {}: {}",
                    request.tag,
                    detail.message.unwrap_or_default()
                )));
            }
        }
        match self.image_id(&request.tag).await? {
            Some(id) if id == image_id => {
                say(format!("Successfully built {image_id} as {}", request.tag));
                Ok(image_id)
            }
            other => Err(BackendError::new(format!(
                "the engine loaded {} as {}, not the expected {image_id}",
                request.tag,
                other.unwrap_or_else(|| "nothing".into())
            ))),
        }
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
                            events.emit(EventKind::BuildOutput {
                                stage: request.stage,
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
