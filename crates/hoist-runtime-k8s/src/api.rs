//! The few API calls the runtime makes, each turning kube's errors into one a person can
//! act on: which namespace and Deployment, and what to do about 401, 403 and 409.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::Value;

use crate::settings::KubernetesSettings;

/// The field manager hoist's patches are recorded under (`kubectl get -o yaml
/// --show-managed-fields` names it).
pub const FIELD_MANAGER: &str = "hoist";

/// What went wrong talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no Kubernetes credentials: {0}")]
    Config(String),
    #[error(
        "the Kubernetes API refused hoist's credentials (401 Unauthorized) for {what}: \
         they are missing or expired; refresh the kubeconfig's credentials (e.g. log in \
         to the cluster again) and retry"
    )]
    Unauthorized { what: String },
    #[error(
        "the Kubernetes API forbids hoist to {verb} {what} (403 Forbidden): {message}; grant \
         hoist's user or service account that verb with a Role in the namespace"
    )]
    Forbidden {
        verb: String,
        what: String,
        message: String,
    },
    #[error(
        "{what} changed while hoist updated it (409 Conflict, twice): {message}; something \
         else is changing it at the same time, find out what before deploying again"
    )]
    Conflict { what: String, message: String },
    #[error(
        "{what} does not exist: create it first (e.g. `kubectl apply`), hoist only updates Deployments"
    )]
    NotFound { what: String },
    #[error("Kubernetes API: could not {verb} {what}: {message}")]
    Other {
        verb: String,
        what: String,
        message: String,
    },
}

impl KubeError {
    /// Classifies kube's error for `verb` on `what` (`deployment "app" in namespace "x"`).
    pub fn from_kube(e: kube::Error, verb: &str, what: &str) -> KubeError {
        match e {
            kube::Error::Api(status) => match status.code {
                401 => KubeError::Unauthorized { what: what.into() },
                403 => KubeError::Forbidden {
                    verb: verb.into(),
                    what: what.into(),
                    message: status.message,
                },
                404 => KubeError::NotFound { what: what.into() },
                409 => KubeError::Conflict {
                    what: what.into(),
                    message: status.message,
                },
                code => KubeError::Other {
                    verb: verb.into(),
                    what: what.into(),
                    message: format!("{code} {}: {}", status.reason, status.message),
                },
            },
            other => KubeError::Other {
                verb: verb.into(),
                what: what.into(),
                message: other.to_string(),
            },
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Conflict { .. })
    }
}

impl From<KubeError> for hoist_core::backend::BackendError {
    fn from(e: KubeError) -> Self {
        hoist_core::backend::BackendError::new(e.to_string())
    }
}

/// `deployment "app" in namespace "clinic-a"`.
pub fn describe(namespace: &str, deployment: &str) -> String {
    format!("deployment {deployment:?} in namespace {namespace:?}")
}

/// A client for the configured cluster: the settings' kubeconfig file and context, else
/// `KUBECONFIG` / `~/.kube/config` (with the context, when one is named), else the pod's
/// in-cluster service account (kube's `Config::infer`).
pub async fn connect(settings: &KubernetesSettings) -> Result<Client, KubeError> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..Default::default()
    };
    let config = match (&settings.kubeconfig, &settings.context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                KubeError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| KubeError::Config(format!("kubeconfig {}: {e}", path.display())))?
        }
        (None, Some(context)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| KubeError::Config(format!("context {context:?}: {e}")))?,
        (None, None) => Config::infer().await.map_err(|e| {
            KubeError::Config(format!(
                "{e}; set KUBECONFIG, write ~/.kube/config, or run hoist in a pod"
            ))
        })?,
    };
    Client::try_from(config).map_err(|e| KubeError::Config(e.to_string()))
}

/// The Deployment, or `None` when it does not exist.
pub async fn get_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Deployment>, KubeError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|e| KubeError::from_kube(e, "get", &describe(namespace, name)))
}

/// Sends a strategic-merge patch (`application/strategic-merge-patch+json`, kubectl's
/// default for `kubectl patch` and `kubectl set image`) as field manager `hoist`.
pub async fn patch_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Deployment, KubeError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Strategic(patch))
        .await
        .map_err(|e| KubeError::from_kube(e, "patch", &describe(namespace, name)))
}

/// The ReplicaSets and pods the Deployment's selector picks.
pub async fn replica_sets_and_pods(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
) -> Result<(Vec<ReplicaSet>, Vec<Pod>), KubeError> {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let selector = selector_of(deployment);
    let params = ListParams::default().labels(&selector);
    let what = describe(namespace, name);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let replica_sets = replica_sets
        .list(&params)
        .await
        .map_err(|e| KubeError::from_kube(e, "list the ReplicaSets of", &what))?
        .items
        .into_iter()
        .filter(|rs| owned_by(&rs.metadata, deployment))
        .collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = pods
        .list(&params)
        .await
        .map_err(|e| KubeError::from_kube(e, "list the pods of", &what))?
        .items;
    Ok((replica_sets, pods))
}

/// Deployments labelled with every `labels` pair, in `namespace` or (`None`) in all.
pub async fn list_deployments(
    client: &Client,
    namespace: Option<&str>,
    labels: &[(String, String)],
) -> Result<Vec<Deployment>, KubeError> {
    let api: Api<Deployment> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let where_ = match namespace {
        Some(ns) => format!("deployments in namespace {ns:?}"),
        None => "deployments in all namespaces".into(),
    };
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| KubeError::from_kube(e, "list", &where_))?
        .items)
}

/// The Deployment's `spec.selector.matchLabels` as a label selector.
fn selector_of(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Whether the object's owner is the Deployment (its selector may pick others' too).
fn owned_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    deployment: &Deployment,
) -> bool {
    let Some(owners) = &meta.owner_references else {
        return true;
    };
    owners.iter().any(|o| {
        o.kind == "Deployment"
            && Some(&o.name) == deployment.metadata.name.as_ref()
            && deployment
                .metadata
                .uid
                .as_ref()
                .is_none_or(|uid| *uid == o.uid)
    })
}

/// `job "x" in namespace "y"`.
pub fn describe_job(namespace: &str, job: &str) -> String {
    format!("job {job:?} in namespace {namespace:?}")
}

/// Creates the Job; `Ok(None)` when one of that name exists already (409 AlreadyExists).
pub async fn create_job(
    client: &Client,
    namespace: &str,
    job: &Job,
) -> Result<Option<Job>, KubeError> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let name = job.metadata.name.as_deref().unwrap_or_default();
    match api.create(&params, job).await {
        Ok(job) => Ok(Some(job)),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
        Err(e) => Err(KubeError::from_kube(
            e,
            "create",
            &describe_job(namespace, name),
        )),
    }
}

/// The Job, or `None` when it does not exist.
pub async fn get_job(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Job>, KubeError> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|e| KubeError::from_kube(e, "get", &describe_job(namespace, name)))
}

/// Deletes the Job with `propagationPolicy: Background`: the Job goes at once and the
/// garbage collector removes its pods. One already gone is no error.
pub async fn delete_job(client: &Client, namespace: &str, name: &str) -> Result<(), KubeError> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(KubeError::from_kube(
            e,
            "delete",
            &describe_job(namespace, name),
        )),
    }
}

/// The pods the Job controller made for the Job (label `job-name`), newest first.
pub async fn job_pods(client: &Client, namespace: &str, job: &str) -> Result<Vec<Pod>, KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{}={job}", crate::job::JOB_NAME_LABEL));
    let mut pods = api
        .list(&params)
        .await
        .map_err(|e| KubeError::from_kube(e, "list the pods of", &describe_job(namespace, job)))?
        .items;
    pods.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    Ok(pods)
}

/// The last `lines` lines the pod's `container` wrote (`kubectl logs --tail`).
pub async fn pod_log_tail(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    lines: usize,
) -> Result<Vec<String>, KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        container: Some(container.to_string()),
        tail_lines: Some(i64::try_from(lines).unwrap_or(i64::MAX)),
        ..Default::default()
    };
    let text = api.logs(pod, &params).await.map_err(|e| {
        KubeError::from_kube(
            e,
            "read the log of",
            &format!("pod {pod:?} in namespace {namespace:?}"),
        )
    })?;
    Ok(text.lines().map(str::to_string).collect())
}
