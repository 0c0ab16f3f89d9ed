//! Image builds through the Docker Engine API (no docker CLI): the build context is packed
//! here, streamed to the engine, and its output turned into [`hoist_core::Event`]s.

mod context;

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures::StreamExt;
use hoist_core::target::{BackendError, BuildRequest, Builder};
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
