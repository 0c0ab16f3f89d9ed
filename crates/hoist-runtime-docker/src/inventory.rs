//! What hoist runs for an app and environment on every engine it uses, found by labels
//! whatever the config says now, and the removal of what the config no longer names.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, StopContainerOptions,
};
use hoist_core::backend::BackendError;
use hoist_core::labels;
use hoist_core::runtime::Workload;
use hoist_engine::{is_not_found, message};

use crate::containers::Containers;

/// The suffixes of a rollout's extra containers (see [`crate::containers`]).
const ROLE_SUFFIXES: [&str; 2] = ["--prev", "--next"];

/// Every container labelled with `app` and `environment` on each of `hosts`, running or
/// not.
pub(crate) async fn list(
    containers: &Containers,
    app: &str,
    environment: &str,
    hosts: &[String],
) -> Result<Vec<Workload>, BackendError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{}={app}", labels::APP),
            format!("{}={environment}", labels::ENVIRONMENT),
        ],
    )]);
    let mut out = Vec::new();
    for host in hosts {
        let docker = containers.engine(host).await?;
        let found = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                BackendError::new(format!(
                    "cannot list the containers on {host}: {}",
                    message(&e)
                ))
            })?;
        for c in found {
            let labels = c.labels.unwrap_or_default();
            let Some(name) = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
            else {
                continue;
            };
            // A release task's container (`NAME--task-TASK`) belongs to its instance too.
            let instance = ROLE_SUFFIXES
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .or_else(|| name.split_once("--task-").map(|(instance, _)| instance))
                .unwrap_or(&name)
                .to_string();
            out.push(Workload {
                tenant: labels.get(labels::TENANT).cloned().unwrap_or_default(),
                instance,
                host: host.clone(),
                release: labels.get(labels::RELEASE).cloned(),
                state: c
                    .status
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".to_string()),
                name,
            });
        }
    }
    Ok(out)
}

/// Stops the container (its stop signal, then the stop timeout, as for a switch) and
/// removes it. One already gone is no error.
pub(crate) async fn retire(
    containers: &Containers,
    workload: &Workload,
) -> Result<(), BackendError> {
    let docker = containers.engine(&workload.host).await?;
    let name = &workload.name;
    let timeout = i32::try_from(containers.settings.stop_timeout.as_secs()).unwrap_or(i32::MAX);
    match docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: Some(timeout),
                signal: None,
            }),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        // 304: already stopped.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => {}
        Err(e) => {
            return Err(BackendError::new(format!(
                "cannot stop {name}: {}",
                message(&e)
            )));
        }
    }
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(BackendError::new(format!(
            "cannot remove {name}: {}",
            message(&e)
        ))),
    }
}
