//! Release tasks on Docker: a one-off container of the release's image named
//! `<instance>--task-<task>`, with the instance's env and secrets (as env, like the
//! instance's own container) and its volumes, no published port and no restart. hoist waits for it to exit
//! (or stops it at the task's timeout), keeps its exit code and last output lines, and
//! removes it.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, StartContainerOptions,
    WaitContainerOptions,
};
use futures::StreamExt;
use hoist_core::backend::BackendError;
use hoist_core::runtime::InstanceSpec;
use hoist_core::task::{OUTPUT_TAIL, TaskRun, TaskSpec, workload_name};
use hoist_core::{Release, labels};

use crate::containers::{Containers, engine_error};

/// The `dev.hoist.role` of a task's container.
const TASK_ROLE: &str = "task";

pub(crate) async fn run(
    containers: &Containers,
    instance: &InstanceSpec,
    release: &Release,
    task: &TaskSpec,
) -> Result<TaskRun, BackendError> {
    let docker = containers.engine(&instance.host).await?;
    let name = workload_name(instance, task);
    let mut container_labels: HashMap<String, String> =
        instance.labels(release).into_iter().collect();
    container_labels.insert(labels::ROLE.to_string(), TASK_ROLE.to_string());
    let body = ContainerCreateBody {
        image: Some(release.image_id.clone()),
        cmd: Some(task.command.clone()),
        env: Some(
            instance
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain(
                    instance
                        .secrets
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.expose())),
                )
                .collect(),
        ),
        labels: Some(container_labels),
        host_config: Some(HostConfig {
            // The instance's volumes: a migration reaches the tenant's data (a SQLite
            // file) where the app will find it.
            mounts: Some(hoist_engine::engine_mounts(&instance.volumes)),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // One left by a run of hoist that died mid-task would block the name.
    containers.remove_named(&docker, &name).await?;
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| engine_error("cannot create", &name, &e))?;
    let outcome = start_and_wait(&docker, &name, task).await;
    let output = output_tail(&docker, &name).await;
    let removed = containers.remove_named(&docker, &name).await;
    let (exit_code, timed_out) = outcome.map_err(|e| e.with_log(output.clone()))?;
    if let Err(e) = removed {
        tracing::warn!("task container {name} is left: {e}");
    }
    Ok(TaskRun {
        exit_code,
        output,
        timed_out,
    })
}

/// Starts the container and waits for it to exit: its exit code, or `(None, true)` when
/// it was killed at the task's timeout.
async fn start_and_wait(
    docker: &Docker,
    name: &str,
    task: &TaskSpec,
) -> Result<(Option<i64>, bool), BackendError> {
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await
        .map_err(|e| engine_error("cannot start", name, &e))?;
    let mut wait = Box::pin(docker.wait_container(name, None::<WaitContainerOptions>));
    match tokio::time::timeout(task.timeout, wait.next()).await {
        Ok(Some(Ok(response))) => Ok((Some(response.status_code), false)),
        // bollard reports a non-zero exit as an error carrying the code.
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => {
            Ok((Some(code), false))
        }
        Ok(Some(Err(e))) => Err(engine_error("cannot wait for", name, &e)),
        Ok(None) => Err(BackendError::new(format!(
            "the engine stopped reporting on {name} before it exited"
        ))),
        Err(_) => {
            let kill = docker
                .kill_container(name, None::<KillContainerOptions>)
                .await;
            if let Err(e) = kill {
                tracing::warn!("cannot kill task container {name}: {e}");
            }
            Ok((None, true))
        }
    }
}

/// The container's last output lines (stdout and stderr), oldest first; none if the
/// engine cannot give them.
async fn output_tail(docker: &Docker, name: &str) -> Vec<String> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: OUTPUT_TAIL.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(options));
    let mut lines = Vec::new();
    let collect = async {
        while let Some(Ok(chunk)) = stream.next().await {
            lines.extend(
                String::from_utf8_lossy(&chunk.into_bytes())
                    .lines()
                    .map(str::to_string),
            );
        }
    };
    // The container has ended, so its logs are complete; bound the wait anyway.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), collect).await;
    lines
}
