//! Release tasks on Kubernetes, the I/O: create the Job [`crate::job`] builds, poll it
//! until the Job controller reports it `Complete` or `Failed`, read its pod's exit code
//! and log tail, and delete the Job (propagation `Background`, so its pod goes too).

use std::time::{Duration, Instant};

use hoist_core::backend::BackendError;
use hoist_core::task::{OUTPUT_TAIL, TaskRun, TaskSpec};
use hoist_core::{InstanceSpec, Release};
use kube::Client;
use tracing::{info, warn};

use crate::api::{self, KubeError, describe_job};
use crate::job::{self, JobState};
use crate::patch::Target;
use crate::runtime::KubernetesRuntime;

/// How long past the task's timeout hoist waits for the cluster to end the Job itself
/// (`activeDeadlineSeconds` counts from the Job's start, which a busy cluster may delay).
const DEADLINE_GRACE: Duration = Duration::from_secs(60);

/// How long hoist waits for a Job of the same name (left by a hoist that was killed
/// mid-task) to go before it creates its own.
const REPLACE_WAIT: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    runtime: &KubernetesRuntime,
    instance: &InstanceSpec,
    release: &Release,
    task: &TaskSpec,
) -> Result<TaskRun, BackendError> {
    let client = runtime.client().await?;
    let place = runtime.place(instance);
    let deployment = api::get_deployment(client, &place.namespace, &place.deployment)
        .await?
        .ok_or_else(|| KubeError::NotFound {
            what: place.describe(),
        })?;
    let container = runtime
        .container(instance, &deployment, &place)
        .map_err(BackendError::new)?;
    let name = job::job_name(instance, task, release);
    let target = Target::of(release, String::new());
    let spec = job::job(&name, instance, &target, task, &deployment, &container);
    let namespace = place.namespace.as_str();
    create(client, namespace, &name, &spec, runtime.settings().poll).await?;
    info!(job = %name, namespace, "task job created");
    let ended = wait(client, namespace, &name, task, runtime.settings().poll).await;
    let finished = match ended {
        Ok(state) => state,
        Err(e) => {
            if let Err(d) = api::delete_job(client, namespace, &name).await {
                warn!("task job {name} is left: {d}");
            }
            return Err(e.into());
        }
    };
    let (exit, mut output) = pod_outcome(client, namespace, &name, &container).await;
    if let Err(e) = api::delete_job(client, namespace, &name).await {
        warn!("task job {name} is left (its TTL removes it): {e}");
    }
    if exit.is_none()
        && let JobState::Failed { reason, message } = &finished
    {
        output.push(format!(
            "{}: {reason}: {message}",
            describe_job(namespace, &name)
        ));
    }
    Ok(job::task_run(&finished, exit, output))
}

/// Creates the Job, first deleting one of the same name a killed hoist left.
async fn create(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: &k8s_openapi::api::batch::v1::Job,
    poll: Duration,
) -> Result<(), KubeError> {
    let deadline = Instant::now() + REPLACE_WAIT;
    loop {
        if api::create_job(client, namespace, spec).await?.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(KubeError::Conflict {
                what: describe_job(namespace, name),
                message: format!(
                    "a Job of that name still exists after {}s; delete it (`kubectl delete job -n {namespace} {name}`) and retry",
                    REPLACE_WAIT.as_secs()
                ),
            });
        }
        warn!(job = %name, namespace, "replacing a task job left by an earlier run");
        api::delete_job(client, namespace, name).await?;
        tokio::time::sleep(poll).await;
    }
}

/// Polls the Job until it completes or fails; past the timeout and a grace, hoist gives
/// up on the cluster ending it and reports it timed out (the Job is deleted after).
async fn wait(
    client: &Client,
    namespace: &str,
    name: &str,
    task: &TaskSpec,
    poll: Duration,
) -> Result<JobState, KubeError> {
    let deadline = Instant::now() + task.timeout + DEADLINE_GRACE;
    loop {
        let job = api::get_job(client, namespace, name)
            .await?
            .ok_or_else(|| KubeError::Other {
                verb: "wait for".into(),
                what: describe_job(namespace, name),
                message: "it was deleted before it finished".into(),
            })?;
        match job::job_state(&job) {
            JobState::Running if Instant::now() < deadline => {}
            JobState::Running => {
                return Ok(JobState::Failed {
                    reason: "DeadlineExceeded".into(),
                    message: format!(
                        "still running {}s after the task's timeout; hoist deleted it",
                        DEADLINE_GRACE.as_secs()
                    ),
                });
            }
            done => return Ok(done),
        }
        tokio::time::sleep(poll).await;
    }
}

/// The exit code and last output lines of the Job's newest pod; none when the pod is gone
/// (a Job stopped at its deadline has its pod deleted) or its log cannot be read.
async fn pod_outcome(
    client: &Client,
    namespace: &str,
    job: &str,
    container: &str,
) -> (Option<i64>, Vec<String>) {
    let pods = match api::job_pods(client, namespace, job).await {
        Ok(pods) => pods,
        Err(e) => {
            warn!("cannot find the pod of task job {job}: {e}");
            return (None, Vec::new());
        }
    };
    let Some(pod) = pods.first() else {
        return (None, Vec::new());
    };
    let exit = job::exit_code(pod, container);
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let output = match api::pod_log_tail(client, namespace, &pod_name, container, OUTPUT_TAIL).await
    {
        Ok(lines) => lines,
        Err(e) => {
            warn!("cannot read the log of task pod {pod_name}: {e}");
            Vec::new()
        }
    };
    (exit, output)
}
