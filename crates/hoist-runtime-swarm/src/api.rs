//! The engine calls the runtime makes, each turned into a [`BackendError`] that names the
//! service. Nothing here decides anything.

use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{Service, ServiceSpec, Task};
use bollard::query_parameters::{
    InspectServiceOptions, ListServicesOptions, ListTasksOptions, LogsOptions, UpdateServiceOptions,
};
use futures::StreamExt;
use hoist_core::backend::BackendError;
use hoist_engine::{is_not_found, message};
use serde::Deserialize;

/// Logs of a task that is gone are complete; a live one streams, so the read is bounded.
const LOG_READ_LIMIT: Duration = Duration::from_secs(5);

fn error(what: &str, name: &str, e: &bollard::errors::Error) -> BackendError {
    BackendError::new(format!("cannot {what} service {name}: {}", message(e)))
}

/// The service, or `None` when there is none of that name.
pub async fn inspect(docker: &Docker, name: &str) -> Result<Option<Service>, BackendError> {
    match docker
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
    {
        Ok(service) => Ok(Some(service)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(error("inspect", name, &e)),
    }
}

/// Every task Swarm still keeps for the service (its history included).
pub async fn tasks(docker: &Docker, name: &str) -> Result<Vec<Task>, BackendError> {
    let options = ListTasksOptions {
        filters: Some([("service".to_string(), vec![name.to_string()])].into()),
    };
    match docker.list_tasks(Some(options)).await {
        Ok(tasks) => Ok(tasks),
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(error("list the tasks of", name, &e)),
    }
}

/// Every service labelled with all of `labels` (`key=value`), with its task counts.
pub async fn list(docker: &Docker, labels: Vec<String>) -> Result<Vec<Service>, BackendError> {
    let options = ListServicesOptions {
        filters: Some([("label".to_string(), labels)].into()),
        status: Some(true),
    };
    docker
        .list_services(Some(options))
        .await
        .map_err(|e| BackendError::new(format!("cannot list services: {}", message(&e))))
}

/// Removes the service (Swarm stops its tasks); one already gone is no error.
pub async fn remove(docker: &Docker, name: &str) -> Result<(), BackendError> {
    match docker.delete_service(name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(error("remove", name, &e)),
    }
}

/// Creates the service; returns the engine's warnings. `auth` (the registry's
/// credentials, sent as `X-Registry-Auth`) lets the nodes pull a pinned image.
pub async fn create(
    docker: &Docker,
    spec: ServiceSpec,
    auth: Option<DockerCredentials>,
) -> Result<Vec<String>, BackendError> {
    let name = spec.name.clone().unwrap_or_default();
    docker
        .create_service(spec, auth)
        .await
        .map(|r| r.warnings.unwrap_or_default())
        .map_err(|e| error("create", &name, &e))
}

/// Replaces the service's spec, if nobody changed the service since `service` was read
/// (the version check makes a concurrent change an error, not a lost write). Returns the
/// engine's warnings.
pub async fn update(
    docker: &Docker,
    service: &Service,
    spec: ServiceSpec,
    auth: Option<DockerCredentials>,
) -> Result<Vec<String>, BackendError> {
    let name = spec.name.clone().unwrap_or_default();
    let options = UpdateServiceOptions {
        version: version(service, &name)?,
        ..Default::default()
    };
    docker
        .update_service(&name, spec, options, auth)
        .await
        .map(|r| r.warnings.unwrap_or_default())
        .map_err(|e| error("update", &name, &e))
}

/// Asks Swarm to roll the service back to its previous spec (`docker service rollback`),
/// moving tasks by the service's rollback config.
pub async fn roll_back(
    docker: &Docker,
    service: &Service,
    auth: Option<DockerCredentials>,
) -> Result<(), BackendError> {
    let spec = service.spec.clone().unwrap_or_default();
    let name = spec.name.clone().unwrap_or_default();
    let options = UpdateServiceOptions {
        version: version(service, &name)?,
        // The engine ignores the spec sent with a rollback; it must still be one.
        rollback: Some("previous".to_string()),
        ..Default::default()
    };
    docker
        .update_service(&name, spec, options, auth)
        .await
        .map(|_| ())
        .map_err(|e| error("roll back", &name, &e))
}

fn version(service: &Service, name: &str) -> Result<i32, BackendError> {
    service
        .version
        .as_ref()
        .and_then(|v| v.index)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| BackendError::new(format!("service {name} has no usable version index")))
}

/// The spec Swarm would roll the service back to. bollard's `Service` has no
/// `PreviousSpec`, so this one field is read from the engine's own answer.
pub async fn previous_spec(
    docker: &Docker,
    host: &str,
    name: &str,
) -> Result<Option<ServiceSpec>, BackendError> {
    #[derive(Deserialize)]
    struct WithPrevious {
        #[serde(rename = "PreviousSpec")]
        previous_spec: Option<ServiceSpec>,
    }
    let fail = |why: String| {
        BackendError::new(format!(
            "cannot read the previous spec of service {name}: {why}"
        ))
    };
    let path = format!("/v{}/services/{name}", docker.client_version());
    let (client, url) = if let Some(socket) = host.strip_prefix("unix://") {
        (
            reqwest::Client::builder().unix_socket(socket).build(),
            format!("http://docker{path}"),
        )
    } else if let Some(address) = host.strip_prefix("tcp://") {
        (
            reqwest::Client::builder().no_proxy().build(),
            format!("http://{address}{path}"),
        )
    } else {
        return Err(fail(format!("`{host}` is not a Docker engine address")));
    };
    let client = client.map_err(|e| fail(e.to_string()))?;
    let response = client
        .get(&url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    match response.status().as_u16() {
        404 => return Ok(None),
        200 => {}
        status => return Err(fail(format!("the engine answered {status}"))),
    }
    let body: WithPrevious = response.json().await.map_err(|e| fail(e.to_string()))?;
    Ok(body.previous_spec)
}

/// The last `lines` lines a task wrote, oldest first; empty when the engine has none.
pub async fn task_log_tail(docker: &Docker, task_id: &str, lines: usize) -> Vec<String> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: lines.to_string(),
        ..Default::default()
    };
    let mut stream = docker.task_logs(task_id, Some(options));
    let mut out = Vec::new();
    let collect = async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => out.extend(
                    String::from_utf8_lossy(&output.into_bytes())
                        .lines()
                        .map(str::to_string),
                ),
                Err(e) => {
                    tracing::debug!(task = task_id, error = %message(&e), "no task logs");
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(LOG_READ_LIMIT, collect).await;
    let skip = out.len().saturating_sub(lines);
    out.split_off(skip)
}
