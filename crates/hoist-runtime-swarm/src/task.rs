//! Release tasks on Swarm: a job service (`replicated-job` mode, Engine 20.10 / API 1.41)
//! named `<instance>--task-<task>` that runs the release's image once to completion with
//! the instance's env, Swarm secrets and volumes, no published port and no restart. hoist
//! polls its task until it completes or fails (or removes the service at the task's
//! timeout), keeps the exit code and the last output lines, and removes the service.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicatedJob, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use hoist_core::backend::BackendError;
use hoist_core::task::{OUTPUT_TAIL, TaskRun, TaskSpec, workload_name};
use hoist_core::{InstanceSpec, Release, labels};

use crate::settings::SwarmSettings;
use crate::{api, secrets, spec};

/// How often the job's task is looked at.
const POLL: Duration = Duration::from_millis(250);

/// The `dev.hoist.role` of a task's service.
const TASK_ROLE: &str = "task";

/// The job service's spec: the instance's service spec (image, env, labels), run once as
/// a job with `task`'s command, without ports, update settings or restarts.
pub fn job_spec(
    instance: &InstanceSpec,
    release: &Release,
    settings: &SwarmSettings,
    task: &TaskSpec,
) -> ServiceSpec {
    let mut job = spec::service_spec(instance, release, settings);
    let name = workload_name(instance, task);
    job.name = Some(name);
    if let Some(labels) = job.labels.as_mut() {
        labels.remove(labels::SPEC);
        labels.insert(labels::ROLE.to_string(), TASK_ROLE.to_string());
    }
    job.mode = Some(ServiceSpecMode {
        replicated_job: Some(ServiceSpecModeReplicatedJob {
            max_concurrent: Some(1),
            total_completions: Some(1),
        }),
        ..Default::default()
    });
    job.update_config = None;
    job.rollback_config = None;
    job.endpoint_spec = None;
    if let Some(template) = job.task_template.as_mut() {
        template.restart_policy = Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        });
        if let Some(container) = template.container_spec.as_mut() {
            // Args replace the image's CMD and keep its ENTRYPOINT, as `docker run IMAGE
            // ARGS...` and the Docker runtime's task do.
            container.args = Some(task.command.clone());
            container.labels = job.labels.clone();
        }
    }
    job
}

pub(crate) async fn run(
    docker: &Docker,
    settings: &SwarmSettings,
    instance: &InstanceSpec,
    release: &Release,
    task: &TaskSpec,
    auth: Option<bollard::auth::DockerCredentials>,
) -> Result<TaskRun, BackendError> {
    let name = workload_name(instance, task);
    let mut job = job_spec(instance, release, settings, task);
    secrets::attach(&mut job, secrets::ensure(docker, instance).await?);
    // One left by a run of hoist that died mid-task would block the name.
    api::remove(docker, &name).await?;
    api::create(docker, job, auth).await?;
    let ended = wait(docker, &name, task.timeout).await;
    let output = match &ended {
        Ok(Ended {
            task_id: Some(id), ..
        }) => api::task_log_tail(docker, id, OUTPUT_TAIL).await,
        _ => Vec::new(),
    };
    let removed = api::remove(docker, &name).await;
    let ended = ended?;
    if let Err(e) = removed {
        tracing::warn!("task service {name} is left: {e}");
    }
    Ok(TaskRun {
        exit_code: ended.exit_code,
        output,
        timed_out: ended.timed_out,
    })
}

struct Ended {
    task_id: Option<String>,
    exit_code: Option<i64>,
    timed_out: bool,
}

/// Polls the job's task until it completes, fails, or `timeout` passes.
async fn wait(docker: &Docker, name: &str, timeout: Duration) -> Result<Ended, BackendError> {
    let deadline = Instant::now() + timeout;
    let mut last_id = None;
    loop {
        for t in api::tasks(docker, name).await? {
            let status = t.status.unwrap_or_default();
            last_id = t.id.clone().or(last_id);
            let exit_code = status.container_status.and_then(|c| c.exit_code);
            match status.state {
                Some(TaskState::COMPLETE) => {
                    return Ok(Ended {
                        task_id: t.id,
                        exit_code: Some(exit_code.unwrap_or(0)),
                        timed_out: false,
                    });
                }
                Some(TaskState::FAILED) => {
                    return Ok(Ended {
                        task_id: t.id,
                        exit_code,
                        timed_out: false,
                    });
                }
                Some(TaskState::REJECTED) => {
                    return Err(BackendError::new(format!(
                        "Swarm rejected the task of {name}: {}",
                        status.err.unwrap_or_default()
                    )));
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Ok(Ended {
                task_id: last_id,
                exit_code: None,
                timed_out: true,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_job_runs_the_release_once_with_the_task_command_and_no_port() {
        let instance = InstanceSpec {
            app: "clinic".into(),
            environment: "staging".into(),
            tenant: "t0".into(),
            host: "unix:///var/run/docker.sock".into(),
            name: "clinic-staging-t0".into(),
            port: 18101,
            container_port: 8080,
            env: BTreeMap::from([("TENANT".into(), "t0".into())]),
            health_path: "/healthz".into(),
            version_path: None,
            secrets: Default::default(),
            volumes: vec![hoist_core::runtime::Mount {
                source: hoist_core::runtime::MountSource::Volume("clinic-t0-data".into()),
                target: "/data".into(),
                read_only: false,
            }],
        };
        let release = Release {
            app: "clinic".into(),
            version: "v2".into(),
            commit: "abc".into(),
            image: "clinic:v2".into(),
            image_id: "sha256:abc".into(),
            digest: None,
            fingerprint: String::new(),
            base_image: String::new(),
            created_by: String::new(),
            created_at: String::new(),
        };
        let task = TaskSpec {
            name: "migrate".into(),
            command: vec!["python".into(), "manage.py".into(), "migrate".into()],
            timeout: Duration::from_secs(60),
        };
        let job = job_spec(&instance, &release, &SwarmSettings::default(), &task);
        assert_eq!(job.name.as_deref(), Some("clinic-staging-t0--task-migrate"));
        let mode = job.mode.unwrap();
        assert_eq!(mode.replicated, None);
        assert_eq!(mode.replicated_job.unwrap().total_completions, Some(1));
        assert_eq!(job.endpoint_spec, None);
        let template = job.task_template.unwrap();
        assert_eq!(
            template.restart_policy.unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        let container = template.container_spec.unwrap();
        assert_eq!(container.image.as_deref(), Some("sha256:abc"));
        assert_eq!(container.args.unwrap(), ["python", "manage.py", "migrate"]);
        assert!(container.env.unwrap().contains(&"TENANT=t0".to_string()));
        // The migration sees the tenant's data where the service does.
        let mounts = container.mounts.unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("clinic-t0-data"));
        assert_eq!(mounts[0].target.as_deref(), Some("/data"));
        let labels = container.labels.unwrap();
        assert_eq!(labels.get(labels::ROLE).map(String::as_str), Some("task"));
        assert_eq!(labels.get(labels::TENANT).map(String::as_str), Some("t0"));
    }
}
