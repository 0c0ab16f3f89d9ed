//! [`KubernetesRuntime`]: the [`Runtime`] seam implemented with Deployments. The patch
//! comes from [`crate::patch`], the judgement from [`crate::verdict`]; this module does the
//! I/O and the order of things.
//!
//! hoist does not create Deployments: the cluster's manifests own them (replicas, probes,
//! env, Services). hoist sets one container's image to the release's digest, records the
//! release on the Deployment, and waits as `kubectl rollout status` does. When that fails,
//! it patches the image the Deployment ran before back and waits the same way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use hoist_core::backend::{BackendError, Endpoint};
use hoist_core::runtime::{
    Applied, InstanceFailure, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::target_lock::TargetLock;
use hoist_core::task::{TaskRun, TaskSpec};
use hoist_core::{InstanceSpec, InstanceState, Release};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::api::{self, KubeError, describe};
use crate::patch::{self, INSTANCE, Target};
use crate::settings::KubernetesSettings;
use crate::verdict::{self, Expect, Rollout as Verdict};

/// Runs each instance as a Deployment that already exists in the cluster.
pub struct KubernetesRuntime {
    settings: KubernetesSettings,
    client: OnceCell<Client>,
}

/// One instance's place in the cluster.
pub(crate) struct Place {
    pub(crate) namespace: String,
    pub(crate) deployment: String,
}

impl Place {
    pub(crate) fn describe(&self) -> String {
        describe(&self.namespace, &self.deployment)
    }
}

/// A Deployment with the ReplicaSets and pods it owns, read together.
struct Looked {
    deployment: Deployment,
    replica_sets: Vec<ReplicaSet>,
    pods: Vec<Pod>,
}

impl KubernetesRuntime {
    /// A runtime for the cluster the settings name. Nothing is contacted until the first
    /// call.
    pub fn new(settings: KubernetesSettings) -> Self {
        KubernetesRuntime {
            settings,
            client: OnceCell::new(),
        }
    }

    pub fn settings(&self) -> &KubernetesSettings {
        &self.settings
    }

    pub(crate) async fn client(&self) -> Result<&Client, KubeError> {
        self.client
            .get_or_try_init(|| api::connect(&self.settings))
            .await
    }

    pub(crate) fn place(&self, instance: &InstanceSpec) -> Place {
        Place {
            namespace: self.settings.namespace_of(instance),
            deployment: self.settings.deployment_of(instance),
        }
    }

    /// Where `hoist status` says the instance is: the context (or the current one) and
    /// namespace, with the instance's port for what it is worth.
    fn endpoint(&self, instance: &InstanceSpec) -> Endpoint {
        Endpoint {
            host: format!(
                "{}/{}",
                self.settings
                    .context
                    .as_deref()
                    .unwrap_or("current-context"),
                self.settings.namespace_of(instance)
            ),
            port: instance.port,
        }
    }

    async fn look(&self, place: &Place) -> Result<Option<Looked>, KubeError> {
        let client = self.client().await?;
        let Some(deployment) =
            api::get_deployment(client, &place.namespace, &place.deployment).await?
        else {
            return Ok(None);
        };
        let (replica_sets, pods) =
            api::replica_sets_and_pods(client, &place.namespace, &deployment).await?;
        Ok(Some(Looked {
            deployment,
            replica_sets,
            pods,
        }))
    }

    /// The container hoist sets: the configured one, else the pod template's only one.
    pub(crate) fn container(
        &self,
        instance: &InstanceSpec,
        deployment: &Deployment,
        place: &Place,
    ) -> Result<String, String> {
        if let Some(name) = self.settings.container_of(instance) {
            return Ok(name);
        }
        let containers: Vec<&str> = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        match containers.as_slice() {
            [one] => Ok(one.to_string()),
            _ => Err(format!(
                "{} has {} containers ({}): name the one hoist updates with `container` in [environments.NAME.runtime]",
                place.describe(),
                containers.len(),
                containers.join(", ")
            )),
        }
    }

    /// Patches the Deployment to `target`, re-reading and retrying once on 409 Conflict.
    /// Returns the Deployment's new generation.
    async fn apply(
        &self,
        instance: &InstanceSpec,
        place: &Place,
        current: &Deployment,
        container: &str,
        target: &Target,
        cause: &str,
    ) -> Result<Deployment, KubeError> {
        let client = self.client().await?;
        let send = |rv: Option<String>| {
            let body = patch::deployment_patch(instance, target, container, cause, rv.as_deref());
            async move {
                api::patch_deployment(client, &place.namespace, &place.deployment, &body).await
            }
        };
        match send(current.metadata.resource_version.clone()).await {
            Err(e) if e.is_conflict() => {
                warn!(deployment = %place.deployment, "409 Conflict; re-reading and patching again");
                let fresh = api::get_deployment(client, &place.namespace, &place.deployment)
                    .await?
                    .ok_or_else(|| KubeError::NotFound {
                        what: place.describe(),
                    })?;
                send(fresh.metadata.resource_version).await
            }
            other => other,
        }
    }

    /// Polls the Deployment until [`verdict::rollout_status`] says it is complete, failed,
    /// or the timeout passes; each new message is reported under `state`.
    async fn wait(
        &self,
        place: &Place,
        expect: &Expect<'_>,
        state: InstanceState,
        rollout: &Rollout<'_>,
    ) -> Result<String, String> {
        let deadline = Instant::now() + self.settings.timeout;
        let mut last = String::new();
        loop {
            if let Some(signal) = rollout.interrupted() {
                return Err(format!("stopped by {} before it rolled out", signal.name()));
            }
            let looked = self
                .look(place)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} disappeared", place.describe()))?;
            let why = match verdict::rollout_status(
                &looked.deployment,
                &looked.replica_sets,
                &looked.pods,
                expect,
            ) {
                Verdict::Complete(message) => return Ok(message),
                Verdict::Failed(why) => return Err(why),
                Verdict::Waiting(why) => why,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "not rolled out within {}s: {why}",
                    self.settings.timeout.as_secs()
                ));
            }
            if why != last {
                rollout.progress(state, &why);
                last = why;
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }
}

/// What the Deployment ran before hoist patched it, to go back to.
fn previous_target(deployment: &Deployment, container: &str) -> Option<Target> {
    let image = verdict::template_image(deployment, container)?.to_string();
    let label = |key: &str| {
        deployment
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
    };
    let annotation = |key: &str| {
        deployment
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
    };
    Some(Target {
        version: label(hoist_core::labels::RELEASE).unwrap_or_else(|| image.clone()),
        digest: image.split_once('@').map(|(_, d)| d.to_string()),
        spec_digest: annotation(hoist_core::labels::SPEC).unwrap_or_default(),
        image_id: annotation(patch::IMAGE_ID).unwrap_or_else(|| image.clone()),
        image,
    })
}

/// The digest a pod's container runs, from its `imageID` (`docker.io/x@sha256:…`).
fn running_digest(pods: &[&Pod], container: &str) -> Option<String> {
    pods.iter()
        .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .find(|c| c.name == container)
        .map(|c| {
            c.image_id
                .rsplit('@')
                .next()
                .unwrap_or(&c.image_id)
                .to_string()
        })
        .filter(|d| !d.is_empty())
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    /// Nothing to recover: a patch is one request, and the Deployment controller finishes
    /// (or stalls) a rollout by itself. The pipeline's next roll-out waits for it.
    async fn recover(&self, _instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }

    /// The Deployment as `kubectl rollout status` would judge it against the image its
    /// template names now.
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let place = self.place(instance);
        let endpoint = self.endpoint(instance);
        let Some(looked) = self.look(&place).await? else {
            return Ok(Observed {
                workload: WorkloadState::Missing,
                endpoint,
                notes: vec![format!("no {}", place.describe())],
                secrets: BTreeMap::new(),
            });
        };
        let deployment = &looked.deployment;
        let container = self
            .container(instance, deployment, &place)
            .map_err(BackendError::new)?;
        let image = verdict::template_image(deployment, &container)
            .unwrap_or_default()
            .to_string();
        let digest = image.split_once('@').map(|(_, d)| d);
        let expect = Expect {
            container: &container,
            image: &image,
            digest,
        };
        let release = deployment
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(hoist_core::labels::RELEASE))
            .cloned();
        let status = deployment.status.clone().unwrap_or_default();
        let notes = vec![format!(
            "{} in context {}: {}/{} replicas available, image {image}",
            place.describe(),
            self.settings.context.as_deref().unwrap_or("(current)"),
            status.available_replicas.unwrap_or(0),
            deployment
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(1),
        )];
        let workload = match verdict::rollout_status(
            deployment,
            &looked.replica_sets,
            &looked.pods,
            &expect,
        ) {
            Verdict::Complete(_) => {
                let new_pods = verdict::new_replica_set(deployment, &looked.replica_sets)
                    .map(|rs| verdict::pods_of(rs, &looked.pods))
                    .unwrap_or_default();
                // The release's image id as hoist recorded it with this image: what the
                // pipeline compares with a release. Without it, the digest that runs.
                let annotations = deployment.metadata.annotations.clone().unwrap_or_default();
                let recorded = annotations
                    .get(patch::IMAGE_ID)
                    .filter(|_| annotations.get(patch::IMAGE) == Some(&image))
                    .cloned();
                WorkloadState::Running {
                    image_id: recorded
                        .or_else(|| running_digest(&new_pods, &container))
                        .unwrap_or(image),
                    release,
                    digests: Vec::new(),
                }
            }
            Verdict::Waiting(message) => WorkloadState::Converging { message },
            Verdict::Failed(message) => WorkloadState::Failed { message },
        };
        Ok(Observed {
            workload,
            endpoint,
            notes,
            secrets: BTreeMap::new(),
        })
    }

    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let place = self.place(instance);
        if !instance.secrets.is_empty() || !instance.env.is_empty() {
            rollout.warn(format!(
                "kind \"kubernetes\" leaves env and secrets to {}'s manifest; hoist sets only the image",
                place.describe()
            ));
        }
        let client = self
            .client()
            .await
            .map_err(|e| InstanceFailure::failed(e.to_string()))?;
        let current = api::get_deployment(client, &place.namespace, &place.deployment)
            .await
            .map_err(|e| InstanceFailure::failed(e.to_string()))?
            .ok_or_else(|| {
                InstanceFailure::failed(
                    KubeError::NotFound {
                        what: place.describe(),
                    }
                    .to_string(),
                )
            })?;
        let container = self
            .container(instance, &current, &place)
            .map_err(InstanceFailure::failed)?;
        let target = Target::of(
            release,
            hoist_core::runtime::spec_digest(self, instance).to_label(),
        );
        let previous = previous_target(&current, &container).filter(|p| p.image != target.image);
        let actor = hoist_core::pipeline::resolve_actor(self.settings.actor.as_deref());
        let cause = patch::change_cause("deploy", &target, &actor);
        info!(deployment = %place.deployment, namespace = %place.namespace, image = %target.image, "patching");
        rollout.progress(
            InstanceState::Starting,
            format!(
                "setting container {container:?} of {} to {}",
                place.describe(),
                target.image
            ),
        );
        self.apply(instance, &place, &current, &container, &target, &cause)
            .await
            .map_err(|e| InstanceFailure::failed(e.to_string()))?;
        let expect = Expect {
            container: &container,
            image: &target.image,
            digest: target.digest.as_deref(),
        };
        let why = match self
            .wait(&place, &expect, InstanceState::Verifying, rollout)
            .await
        {
            Ok(message) => {
                info!(deployment = %place.deployment, release = %release.version, "rolled out");
                return Ok(Applied { message });
            }
            Err(why) => why,
        };
        warn!(deployment = %place.deployment, reason = %why, "not rolled out");
        let Some(previous) = previous else {
            return Err(InstanceFailure::failed(format!(
                "{why}; {} ran no other image before, so there is nothing to roll back to",
                place.describe()
            )));
        };
        rollout.progress(
            InstanceState::RollingBack,
            format!("{why}; setting {container:?} back to {}", previous.image),
        );
        let cause = patch::change_cause("rollback to", &previous, &actor);
        let now = api::get_deployment(client, &place.namespace, &place.deployment)
            .await
            .map_err(|e| InstanceFailure::failed(format!("{why}; {e}")))?
            .ok_or_else(|| {
                InstanceFailure::failed(format!("{why}; {} disappeared", place.describe()))
            })?;
        self.apply(instance, &place, &now, &container, &previous, &cause)
            .await
            .map_err(|e| {
                InstanceFailure::failed(format!("{why}; the rollback patch failed: {e}"))
            })?;
        let expect = Expect {
            container: &container,
            image: &previous.image,
            digest: previous.digest.as_deref(),
        };
        match self
            .wait(&place, &expect, InstanceState::RollingBack, rollout)
            .await
        {
            Ok(_) => Err(InstanceFailure::rolled_back(format!(
                "{why}; {} is back on {}, which rolled out",
                place.describe(),
                previous.version
            ))),
            Err(e) => Err(InstanceFailure::failed(format!(
                "{why}; the rollback to {} did not roll out either: {e}",
                previous.version
            ))),
        }
    }

    /// The Deployment's readiness probes are the health check: a rollout judged complete
    /// has every new pod ready, and hoist cannot reach pods from outside the cluster.
    fn reports_health(&self) -> bool {
        true
    }

    /// One Lease per namespace the instances live in (see `crate::lock`).
    fn lock_places(&self, instances: &[InstanceSpec]) -> Vec<Arc<dyn TargetLock>> {
        crate::lock::places(self, instances)
    }

    fn spec_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "kubernetes.namespace".into(),
                self.settings.namespace.clone(),
            ),
            (
                "kubernetes.deployment".into(),
                self.settings.deployment.clone(),
            ),
            (
                "kubernetes.container".into(),
                self.settings.container.clone().unwrap_or_default(),
            ),
        ])
    }

    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        let place = self.place(instance);
        let client = self.client().await?;
        Ok(
            api::get_deployment(client, &place.namespace, &place.deployment)
                .await?
                .and_then(|d| d.metadata.annotations)
                .and_then(|a| a.get(hoist_core::labels::SPEC).cloned())
                .and_then(|text| SpecDigest::from_label(&text)),
        )
    }

    /// Deployments labelled with the app and environment: in the namespace when the
    /// template has no placeholder, else in every namespace (which needs the right to list
    /// Deployments cluster-wide). A workload's `host` is its namespace.
    async fn list(
        &self,
        app: &str,
        environment: &str,
        _hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError> {
        let client = self.client().await?;
        let labels = [
            (hoist_core::labels::APP.to_string(), app.to_string()),
            (
                hoist_core::labels::ENVIRONMENT.to_string(),
                environment.to_string(),
            ),
        ];
        let found = api::list_deployments(client, self.settings.fixed_namespace(), &labels).await?;
        Ok(found
            .into_iter()
            .filter_map(|d| {
                let name = d.metadata.name.clone()?;
                let labels = d.metadata.labels.clone().unwrap_or_default();
                let annotations = d.metadata.annotations.clone().unwrap_or_default();
                let status = d.status.clone().unwrap_or_default();
                Some(Workload {
                    tenant: labels
                        .get(hoist_core::labels::TENANT)
                        .cloned()
                        .unwrap_or_default(),
                    instance: annotations.get(INSTANCE).cloned().unwrap_or(name.clone()),
                    name,
                    host: d.metadata.namespace.clone().unwrap_or_default(),
                    release: labels.get(hoist_core::labels::RELEASE).cloned(),
                    state: format!(
                        "{}/{} replicas available",
                        status.available_replicas.unwrap_or(0),
                        d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
                    ),
                })
            })
            .collect())
    }

    /// Scales the Deployment to 0 replicas rather than deleting it: the Deployment (and its
    /// Service, config, history) belongs to the cluster's manifests, which hoist did not
    /// write; at 0 nothing runs and `kubectl scale` or the next deploy brings it back.
    async fn retire(&self, workload: &Workload) -> Result<(), BackendError> {
        let client = self.client().await?;
        match api::patch_deployment(
            client,
            &workload.host,
            &workload.name,
            &patch::scale_to_zero(),
        )
        .await
        {
            Ok(_) | Err(KubeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A `batch/v1` Job of the release's image with the Deployment's pod configuration
    /// (see [`crate::job`]), waited for, its pod's log tail read, then deleted.
    async fn run_task(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        task: &TaskSpec,
    ) -> Result<TaskRun, BackendError> {
        crate::task::run(self, instance, release, task).await
    }
}
