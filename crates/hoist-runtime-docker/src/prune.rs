//! The engine side of `hoist prune`: what a Docker engine holds (the app's images, every
//! container), and the removal of what the plan ([`hoist_core::prune::plan_engine`]) says
//! goes. The same for a plain engine and a Swarm manager: a Swarm task's containers are
//! never in a plan.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, RemoveContainerOptions, RemoveImageOptions,
};
use hoist_core::backend::BackendError;
use hoist_core::labels;
use hoist_core::prune::{ContainerInfo, EngineInventory, EnginePruner, ImageInfo, PruneItem};
use hoist_engine::{Engines, is_not_found, message};

/// Lists and removes on Docker engines, one connection per engine.
#[derive(Clone, Default)]
pub struct DockerPruner {
    engines: Engines,
}

impl DockerPruner {
    pub fn new() -> Self {
        DockerPruner::default()
    }

    /// A pruner whose connections use `engines` (with its hosts' TLS or ssh options).
    pub fn with_engines(engines: Engines) -> Self {
        DockerPruner { engines }
    }
}

#[async_trait]
impl EnginePruner for DockerPruner {
    async fn inventory(&self, engine: &str, app: &str) -> Result<EngineInventory, BackendError> {
        let docker = self.engines.get(engine).await?;
        let filters =
            HashMap::from([("label".to_string(), vec![format!("{}={app}", labels::APP)])]);
        let images = docker
            .list_images(Some(ListImagesOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot list the images on {engine}: {}",
                    message(&e)
                ))
            })?
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                // Old engines name an untagged image `<none>:<none>`.
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| !t.starts_with("<none>"))
                    .collect(),
                digests: i
                    .repo_digests
                    .into_iter()
                    .filter(|d| !d.starts_with("<none>"))
                    .collect(),
                labels: i.labels.into_iter().collect(),
                size: u64::try_from(i.size).unwrap_or(0),
            })
            .collect();
        // Every container, of every app: a running one keeps its image whoever it is.
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot list the containers on {engine}: {}",
                    message(&e)
                ))
            })?
            .into_iter()
            .filter_map(|c| {
                Some(ContainerInfo {
                    id: c.id?,
                    name: c
                        .names
                        .as_ref()
                        .and_then(|n| n.first())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    // An unknown state counts as running: such a container is left alone.
                    state: c
                        .state
                        .map(|s| s.to_string())
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "unknown".to_string()),
                    labels: c
                        .labels
                        .unwrap_or_default()
                        .into_iter()
                        .collect::<BTreeMap<_, _>>(),
                })
            })
            .collect();
        Ok(EngineInventory {
            engine: engine.to_string(),
            images,
            containers,
        })
    }

    async fn remove(&self, engine: &str, item: &PruneItem) -> Result<(), BackendError> {
        let docker = self.engines.get(engine).await?;
        match item {
            PruneItem::Container { id, name, .. } => remove_container(&docker, id, name).await,
            PruneItem::Image { id, tags, .. } => remove_image(&docker, id, tags).await,
            PruneItem::Tag { .. } => Err(BackendError::new(format!(
                "{} is a registry tag, not on the engine {engine}",
                item.name()
            ))),
        }
    }
}

/// Removes a stopped container. Not forced: one started since the plan was made stays
/// (the engine refuses), and that is reported.
async fn remove_container(docker: &Docker, id: &str, name: &str) -> Result<(), BackendError> {
    let options = RemoveContainerOptions {
        force: false,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(BackendError::new(format!(
            "cannot remove the container {name}: {}",
            message(&e)
        ))),
    }
}

/// Untags each of the image's tags that still names it (a tag moved to another image
/// since the plan was made is left alone), then removes the image by id. Never forced.
async fn remove_image(docker: &Docker, id: &str, tags: &[String]) -> Result<(), BackendError> {
    let refuse = |what: &str, e: &bollard::errors::Error| {
        BackendError::new(format!("cannot remove the image {what}: {}", message(e)))
    };
    for tag in tags {
        match docker.inspect_image(tag).await {
            Ok(found) if found.id.as_deref() == Some(id) => {}
            Ok(_) => continue,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(refuse(tag, &e)),
        }
        match docker
            .remove_image(tag, Some(RemoveImageOptions::default()), None)
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(refuse(tag, &e)),
        }
    }
    match docker
        .remove_image(id, Some(RemoveImageOptions::default()), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(refuse(tags.first().map_or(id, String::as_str), &e)),
    }
}
