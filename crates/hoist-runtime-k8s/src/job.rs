//! Release tasks on Kubernetes, as plain data: the `batch/v1` Job that runs one task for
//! one instance, and how a finished Job and its pod map to a [`TaskRun`]. Building and
//! judging apart from the API calls lets tests read exactly what the API server receives.
//!
//! The Job's pod is the Deployment's pod template cut down to what a one-off command
//! needs: the container hoist updates, with the release's image, the task's command as its
//! arguments (the image's entrypoint stays, as `docker run IMAGE ARGS...`), and the
//! template's env, envFrom, secret and ConfigMap volumes, imagePullSecrets and service
//! account, so the task sees the tenant's configuration exactly as its pods do. Probes,
//! ports, sidecars and the template's labels stay behind: the task pod must not join the
//! Deployment's Services.

use std::collections::BTreeMap;

use hoist_core::task::{TaskRun, TaskSpec};
use hoist_core::{InstanceSpec, Release};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::patch::{Target, label_value};

/// The `dev.hoist.role` of a task's Job and pod.
pub const TASK_ROLE: &str = "task";

/// The label the Job controller puts on a Job's pods (kubectl's `job-name`; Kubernetes
/// 1.27 adds `batch.kubernetes.io/job-name` beside it and keeps this one).
pub const JOB_NAME_LABEL: &str = "job-name";

/// How long a finished Job stays when hoist could not delete it (hoist was killed): the
/// cluster's TTL controller removes it then.
pub const TTL_AFTER_FINISHED: i32 = 3600;

/// How many characters of the instance and task part a Job name keeps before it is
/// shortened with a hash: 45 + `-` + 6 hash + `-` + 8 release = 61, within the 63 a
/// `job-name` label value may have.
const PREFIX_MAX: usize = 45;

/// The Job's name: `<instance>-<task>-<first 8 hex of the release's digest or image id>`,
/// lowercased to a DNS label (what a Job name must be, since it becomes a label value).
/// A long instance and task part is cut and tagged with a hash of the whole, so two long
/// names never meet.
pub fn job_name(instance: &InstanceSpec, task: &TaskSpec, release: &Release) -> String {
    let whole = dns_label(&format!("{}-{}", instance.name, task.name));
    let prefix = if whole.len() > PREFIX_MAX {
        let cut = whole[..PREFIX_MAX].trim_end_matches('-');
        format!("{cut}-{:06x}", fnv(whole.as_bytes()) & 0xff_ffff)
    } else {
        whole
    };
    format!("{prefix}-{}", release_id(release))
}

/// 8 hex characters naming the release: of its digest, else its image id, else a hash of
/// its version.
fn release_id(release: &Release) -> String {
    let hex = |text: &str| -> Option<String> {
        let hex = text.rsplit(':').next()?;
        (hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| hex[..8].to_ascii_lowercase())
    };
    release
        .digest
        .as_deref()
        .and_then(hex)
        .or_else(|| hex(&release.image_id))
        .unwrap_or_else(|| format!("{:08x}", fnv(release.version.as_bytes()) & 0xffff_ffff))
}

/// Lowercase letters, digits and `-`, starting and ending alphanumeric.
fn dns_label(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_matches('-').to_string()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// The Job that runs `task` for `instance` with `target`'s image, built from the
/// Deployment's pod template and its `container`.
pub fn job(
    name: &str,
    instance: &InstanceSpec,
    target: &Target,
    task: &TaskSpec,
    deployment: &Deployment,
    container: &str,
) -> Job {
    let labels: BTreeMap<String, String> = instance
        .base_labels()
        .into_iter()
        .chain([
            (
                hoist_core::labels::RELEASE.to_string(),
                label_value(&target.version),
            ),
            (hoist_core::labels::ROLE.to_string(), TASK_ROLE.to_string()),
        ])
        .collect();
    let template = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    let source = template
        .containers
        .iter()
        .find(|c| c.name == container)
        .cloned()
        .unwrap_or_default();
    // Only the volumes that carry configuration: data volumes (a claim) may be
    // ReadWriteOnce and held by the running pods.
    let volumes: Vec<Volume> = template
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.secret.is_some() || v.config_map.is_some() || v.projected.is_some())
        .collect();
    let mounts: Vec<_> = source
        .volume_mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| volumes.iter().any(|v| v.name == m.name))
        .collect();
    let task_container = Container {
        name: container.to_string(),
        image: Some(target.image.clone()),
        image_pull_policy: source.image_pull_policy,
        args: Some(task.command.clone()),
        env: source.env,
        env_from: source.env_from,
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        working_dir: source.working_dir,
        security_context: source.security_context,
        resources: source.resources,
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([(
                crate::patch::INSTANCE.to_string(),
                instance.name.clone(),
            )])),
            ..Default::default()
        },
        spec: Some(JobSpec {
            // One attempt: a migration that failed is looked at, not retried blindly.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(deadline_seconds(task)),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![task_container],
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    image_pull_secrets: template.image_pull_secrets,
                    service_account_name: template.service_account_name,
                    security_context: template.security_context,
                    node_selector: template.node_selector,
                    tolerations: template.tolerations,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// The task's timeout in whole seconds, rounded up, at least 1.
pub fn deadline_seconds(task: &TaskSpec) -> i64 {
    let millis = task.timeout.as_millis();
    i64::try_from(millis.div_ceil(1000))
        .unwrap_or(i64::MAX)
        .max(1)
}

/// Where a Job stands, from its status conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    Complete,
    /// `Failed` with its reason (`BackoffLimitExceeded`, `DeadlineExceeded`, ...).
    Failed {
        reason: String,
        message: String,
    },
}

/// The Job's state as its conditions say (kubectl's `wait --for=condition=complete`).
pub fn job_state(job: &Job) -> JobState {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if holds("Complete").is_some() {
        return JobState::Complete;
    }
    match holds("Failed") {
        Some(c) => JobState::Failed {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        },
        None => JobState::Running,
    }
}

/// The exit code of `container` in the pod, from its terminated state.
pub fn exit_code(pod: &Pod, container: &str) -> Option<i64> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| i64::from(t.exit_code))
}

/// The task's run: a Job past its deadline timed out (its pod was stopped); otherwise the
/// exit code its pod's container reported (0 for a complete Job whose pod is gone).
pub fn task_run(state: &JobState, pod_exit: Option<i64>, output: Vec<String>) -> TaskRun {
    match state {
        JobState::Failed { reason, .. } if reason == "DeadlineExceeded" => TaskRun {
            exit_code: None,
            output,
            timed_out: true,
        },
        JobState::Complete => TaskRun {
            exit_code: Some(pod_exit.unwrap_or(0)),
            output,
            timed_out: false,
        },
        _ => TaskRun {
            exit_code: pod_exit,
            output,
            timed_out: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn instance(name: &str) -> InstanceSpec {
        InstanceSpec {
            app: "emr".into(),
            environment: "production".into(),
            tenant: "north".into(),
            host: String::new(),
            name: name.into(),
            port: 0,
            container_port: 8080,
            env: BTreeMap::new(),
            health_path: "/".into(),
            version_path: None,
            secrets: Default::default(),
            volumes: Vec::new(),
        }
    }

    fn release() -> Release {
        Release {
            app: "emr".into(),
            version: "v1.2.0".into(),
            commit: "abc".into(),
            image: "registry.example.com/emr:v1.2.0".into(),
            image_id: "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                .into(),
            digest: Some(
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            ),
            fingerprint: String::new(),
            base_image: String::new(),
            created_by: String::new(),
            created_at: String::new(),
        }
    }

    fn task(name: &str) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            command: vec!["python".into(), "manage.py".into(), "migrate".into()],
            timeout: Duration::from_millis(90_500),
        }
    }

    #[test]
    fn the_job_name_is_a_dns_label_with_the_release_and_fits_63_characters() {
        let name = job_name(
            &instance("emr-production-north"),
            &task("migrate"),
            &release(),
        );
        assert_eq!(name, "emr-production-north-migrate-01234567");
        let long = "a-very-long-application-name-production-a-tenant-with-a-long-name";
        let a = job_name(&instance(long), &task("Migrate_DB"), &release());
        let b = job_name(
            &instance(&format!("{long}2")),
            &task("Migrate_DB"),
            &release(),
        );
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.ends_with("-01234567"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{a}"
        );
        let mut untagged = release();
        untagged.digest = None;
        untagged.image_id = "hoist-test/emr:v1".into();
        let c = job_name(
            &instance("emr-production-north"),
            &task("migrate"),
            &untagged,
        );
        assert_eq!(c.len(), "emr-production-north-migrate-".len() + 8, "{c}");
    }

    #[test]
    fn the_job_takes_the_templates_configuration_and_runs_once_within_the_timeout() {
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "emr", "namespace": "north"},
            "spec": {
                "selector": {"matchLabels": {"app": "emr"}},
                "template": {
                    "metadata": {"labels": {"app": "emr"}},
                    "spec": {
                        "serviceAccountName": "emr",
                        "imagePullSecrets": [{"name": "registry"}],
                        "volumes": [
                            {"name": "db", "secret": {"secretName": "north-db"}},
                            {"name": "media", "persistentVolumeClaim": {"claimName": "media"}},
                        ],
                        "containers": [
                            {"name": "app", "image": "emr:old",
                             "env": [{"name": "TENANT", "value": "north"},
                                     {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "north-db", "key": "password"}}}],
                             "envFrom": [{"configMapRef": {"name": "emr-config"}}],
                             "volumeMounts": [{"name": "db", "mountPath": "/run/db"}, {"name": "media", "mountPath": "/media"}],
                             "ports": [{"containerPort": 8080}],
                             "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}},
                            {"name": "sidecar", "image": "proxy:1"},
                        ],
                    },
                },
            },
        }))
        .unwrap();
        let target = Target::of(&release(), "spec".into());
        let job = job(
            "emr-migrate-01234567",
            &instance("emr-production-north"),
            &target,
            &task("migrate"),
            &deployment,
            "app",
        );
        let value = serde_json::to_value(&job).unwrap();
        let spec = &value["spec"];
        assert_eq!(spec["backoffLimit"], 0);
        assert_eq!(spec["activeDeadlineSeconds"], 91);
        assert_eq!(spec["ttlSecondsAfterFinished"], TTL_AFTER_FINISHED);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["serviceAccountName"], "emr");
        assert_eq!(pod["imagePullSecrets"], json!([{"name": "registry"}]));
        assert_eq!(
            pod["volumes"],
            json!([{"name": "db", "secret": {"secretName": "north-db"}}])
        );
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1, "no sidecar: {pod:#}");
        let c = &containers[0];
        assert_eq!(c["image"], target.image);
        assert_eq!(c["args"], json!(["python", "manage.py", "migrate"]));
        assert_eq!(c["env"][1]["valueFrom"]["secretKeyRef"]["name"], "north-db");
        assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "emr-config");
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "db", "mountPath": "/run/db"}])
        );
        assert!(
            c.get("ports").is_none() && c.get("readinessProbe").is_none(),
            "{c:#}"
        );
        let labels = &spec["template"]["metadata"]["labels"];
        assert_eq!(labels["dev.hoist.tenant"], "north");
        assert_eq!(labels["dev.hoist.release"], "v1.2.0");
        assert_eq!(labels["dev.hoist.role"], "task");
        assert!(
            labels.get("app").is_none(),
            "the Service's selector must not pick it"
        );
        assert_eq!(value["metadata"]["labels"], *labels);
    }

    #[test]
    fn the_run_follows_the_jobs_conditions_and_the_pods_exit_code() {
        let job_with = |conditions: serde_json::Value| -> Job {
            serde_json::from_value(
                json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}}),
            )
            .unwrap()
        };
        assert_eq!(job_state(&job_with(json!([]))), JobState::Running);
        let complete = job_state(&job_with(json!([{"type": "Complete", "status": "True"}])));
        assert_eq!(complete, JobState::Complete);
        let deadline = job_state(&job_with(json!([
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}
        ])));
        let backoff = job_state(&job_with(json!([
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
        ])));
        let pod: Pod = serde_json::from_value(json!({"status": {"containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
             "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
        ]}}))
        .unwrap();
        assert_eq!(exit_code(&pod, "app"), Some(3));
        assert_eq!(exit_code(&pod, "other"), None);
        let run = task_run(&backoff, exit_code(&pod, "app"), vec!["no db".into()]);
        assert_eq!((run.exit_code, run.timed_out), (Some(3), false));
        let run = task_run(&deadline, None, vec![]);
        assert_eq!((run.exit_code, run.timed_out), (None, true));
        assert_eq!(task_run(&complete, None, vec![]).exit_code, Some(0));
    }
}
