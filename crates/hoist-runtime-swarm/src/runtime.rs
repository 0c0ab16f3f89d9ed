//! [`SwarmRuntime`]: the [`Runtime`] seam implemented with Swarm services. The spec comes
//! from [`crate::spec`], the judgement from [`crate::verdict`]; this module does the I/O
//! and the order of things.
//!
//! A roll-out creates or updates the instance's service and lets Swarm move the tasks;
//! hoist only watches ([`Rollout::wait_verified`]) until every task runs the new spec and
//! the health path answers. When that does not happen, the service goes back to the spec
//! it had before — by Swarm's own rollback, which Swarm starts by itself when an updated
//! task fails (failure action `rollback`) and which hoist asks for otherwise (a task that
//! runs but never answers is fine as far as Swarm knows).
//!
//! Swarm 20.10 can deadlock a slot when a failed task's restart races that rollback
//! ([`verdict::stuck`]); hoist then sends the spec again with `ForceUpdate`, which Swarm
//! does get out of.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{Service, ServiceSpec, ServiceUpdateStatusStateEnum as Update};
use hoist_core::backend::{BackendError, Endpoint};
use std::collections::BTreeMap;

use hoist_core::runtime::{
    Applied, InstanceFailure, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::target_lock::TargetLock;
use hoist_core::verify::short_id;
use hoist_core::{InstanceSpec, InstanceState, Release};
use hoist_engine::{Engines, ImageDelivery};
use tracing::{info, warn};

use crate::api;
use crate::secrets;
use crate::settings::SwarmSettings;
use crate::spec::{self, Essentials, essentials, image_of, release_of};
use crate::verdict;

/// Lines of output kept from each failing task.
const LOG_LINES: usize = 20;
/// Failing tasks whose output is kept.
const LOG_TASKS: usize = 2;
/// How often [`SwarmRuntime::recover`] looks whether Swarm has finished.
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// Runs each instance as one replicated Swarm service named after the instance.
#[derive(Clone)]
pub struct SwarmRuntime {
    settings: SwarmSettings,
    engines: Engines,
    /// Puts a release's image on the manager before a service is made from it; `None`:
    /// the manager is the build engine (or pulls from a registry). A swarm of several
    /// nodes needs a registry: only the manager gets a copy.
    delivery: Option<Arc<dyn ImageDelivery>>,
    /// The registry's credentials, passed on create and update so nodes can pull the
    /// pinned image. Never logged (this type has no `Debug`).
    registry_auth: Option<DockerCredentials>,
}

impl SwarmRuntime {
    /// A runtime for the swarm whose manager is `settings.host`. Nothing is contacted
    /// until the first call.
    pub fn new(settings: SwarmSettings) -> Self {
        SwarmRuntime {
            settings,
            engines: Engines::default(),
            delivery: None,
            registry_auth: None,
        }
    }

    /// This runtime with connections through `engines` (with its hosts' TLS or ssh
    /// options) and images put on the manager through `delivery`.
    pub fn with_engines(
        mut self,
        engines: Engines,
        delivery: Option<Arc<dyn ImageDelivery>>,
    ) -> Self {
        self.engines = engines;
        self.delivery = delivery;
        self
    }

    /// This runtime passing `auth` to the engine (`X-Registry-Auth`) when it creates or
    /// updates a service, so the nodes can pull a release pinned by digest.
    pub fn with_registry_auth(mut self, auth: Option<DockerCredentials>) -> Self {
        self.registry_auth = auth;
        self
    }

    pub fn settings(&self) -> &SwarmSettings {
        &self.settings
    }

    async fn docker(&self) -> Result<Docker, BackendError> {
        self.engines.get(&self.settings.host).await
    }

    /// Whether Swarm's `PreviousSpec` can be read from the manager: it is read by plain
    /// HTTP (bollard's `Service` lacks the field), which reaches a socket or a plain
    /// `tcp://` manager only. Elsewhere a rollback deploys the previous release's spec
    /// instead of using Swarm's own rollback.
    fn previous_spec_readable(&self) -> bool {
        let host = &self.settings.host;
        host.starts_with("unix://")
            || (host.starts_with("tcp://") && self.engines.options(host).cert_path.is_none())
    }

    /// Where published ports answer: the manager's host (a single-node swarm, or the
    /// routing mesh, which answers on every node).
    fn endpoint(&self, instance: &InstanceSpec) -> Endpoint {
        Endpoint {
            host: hoist_engine::published_host(&self.settings.host),
            port: instance.port,
        }
    }

    /// The service and its tasks, or `None` when there is no service.
    async fn look(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<Option<(Service, Vec<bollard::models::Task>)>, BackendError> {
        let Some(service) = api::inspect(docker, name).await? else {
            return Ok(None);
        };
        let tasks = api::tasks(docker, name).await?;
        Ok(Some((service, tasks)))
    }

    /// What runs for `instance`, judged against `target` when a rollout waits for it.
    async fn observe_with(
        &self,
        docker: &Docker,
        instance: &InstanceSpec,
        target: Option<&Essentials>,
    ) -> Result<Observed, BackendError> {
        let endpoint = self.endpoint(instance);
        let Some((service, tasks)) = self.look(docker, &instance.name).await? else {
            return Ok(Observed {
                workload: WorkloadState::Missing,
                endpoint,
                notes: vec![format!("no service {}", instance.name)],
                secrets: Default::default(),
            });
        };
        let mut notes = verdict::notes(&service, &tasks);
        let workload = match verdict::stuck(&service, &tasks, jiff::Timestamp::now()) {
            // Waiting will not help: the rollout says so, and its caller gets Swarm going.
            Some(why) if target.is_some() => WorkloadState::Failed {
                message: format!("Swarm is stuck: {why}"),
            },
            Some(why) => {
                notes.push(format!("Swarm is stuck: {why}"));
                verdict::workload_state(&service, &tasks, target)
            }
            None => verdict::workload_state(&service, &tasks, target),
        };
        let secrets = service
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .map(hoist_core::labels::secret_fingerprints)
            .unwrap_or_default();
        Ok(Observed {
            workload,
            endpoint,
            notes,
            secrets,
        })
    }

    /// Gets a deadlocked slot going again ([`verdict::stuck`]) by re-sending the service's
    /// spec with `ForceUpdate` bumped: Swarm then shuts the never-scheduled task down and
    /// replaces the waiting one. Says why, when it did.
    async fn unstick(&self, docker: &Docker, name: &str) -> Result<Option<String>, BackendError> {
        let Some((service, tasks)) = self.look(docker, name).await? else {
            return Ok(None);
        };
        let Some(why) = verdict::stuck(&service, &tasks, jiff::Timestamp::now()) else {
            return Ok(None);
        };
        warn!(service = %name, reason = %why, "Swarm is stuck; forcing the spec again");
        // Only the spec the engine gave: a made-up one would replace the service's.
        let Some(mut spec) = service.spec.clone().filter(|s| s.task_template.is_some()) else {
            return Ok(None);
        };
        if let Some(template) = spec.task_template.as_mut() {
            template.force_update = Some(template.force_update.unwrap_or(0).wrapping_add(1));
        }
        api::update(docker, &service, spec, self.registry_auth.clone()).await?;
        Ok(Some(why))
    }

    /// Waits until the service's update or rollback has finished (or paused), as after an
    /// interrupted run, getting a deadlocked slot going on the way. Returns the service as
    /// Swarm left it, and what hoist had to do.
    async fn settle(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<(Service, Vec<String>), BackendError> {
        let limit = self.settle_limit();
        let started = Instant::now();
        let mut done = Vec::new();
        loop {
            if let Some(why) = self.unstick(docker, name).await? {
                done.push(format!(
                    "Swarm was stuck ({why}); hoist sent the spec again"
                ));
            }
            let service = api::inspect(docker, name)
                .await?
                .ok_or_else(|| BackendError::new(format!("service {name} disappeared")))?;
            let busy = match update_state(&service) {
                Some(Update::UPDATING | Update::ROLLBACK_STARTED) => true,
                // Right after an update the engine has cleared the old status and its
                // updater has not written a new one yet.
                None => !done.is_empty(),
                _ => false,
            };
            if !busy {
                return Ok((service, done));
            }
            if started.elapsed() >= limit {
                return Err(BackendError::new(format!(
                    "service {name} is still {} after {}s",
                    describe_state(&service),
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// How long moving every task once may take: per task, its monitor period, the delay,
    /// the old task's stop and a generous start.
    fn settle_limit(&self) -> Duration {
        let update = &self.settings.update;
        let per_task = update.monitor + update.delay + spec::STOP_GRACE_PERIOD;
        (per_task + Duration::from_secs(30)) * self.settings.replicas.get()
    }

    /// Waits for the service to run `target` as `release`; when it does not, has it go
    /// back to `fallback` (the spec it ran before, which Swarm keeps as its previous
    /// spec) and says whether that serves again.
    async fn verify_or_roll_back(
        &self,
        docker: &Docker,
        instance: &InstanceSpec,
        release: &Release,
        target: &Essentials,
        fallback: Option<ServiceSpec>,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let name = &instance.name;
        let waited = rollout
            .wait_verified(instance, release, InstanceState::Verifying, || {
                self.observe_with(docker, instance, Some(target))
            })
            .await;
        let why = match waited {
            Ok(()) => {
                info!(service = %name, release = %release.version, "verified");
                self.prune_secrets(docker, name, rollout).await;
                return Ok(Applied {
                    message: format!(
                        "{} task(s) run {} and answer {}",
                        self.settings.replicas, release.version, instance.health_path
                    ),
                });
            }
            Err(why) => why,
        };
        warn!(service = %name, release = %release.version, reason = %why, "not verified");
        let (service, log_tail) = self.failure_output(docker, name, target).await?;
        // Going back to a copy of the failed spec (a forced update leaves one as Swarm's
        // previous spec) would restore nothing.
        let Some(fallback) = fallback.filter(|f| image_of(f).is_some() && essentials(f) != *target)
        else {
            return Err(InstanceFailure::failed(why).with_log(log_tail));
        };
        let ours = service.spec.as_ref().map(essentials).as_ref() == Some(target);
        if ours {
            api::roll_back(docker, &service, self.registry_auth.clone()).await?;
        } else if !matches!(
            update_state(&service),
            Some(Update::ROLLBACK_STARTED | Update::ROLLBACK_COMPLETED | Update::ROLLBACK_PAUSED)
        ) {
            // Neither hoist's spec nor Swarm's rollback of it: somebody else changed the
            // service meanwhile, and rolling back would undo their change.
            return Err(InstanceFailure::failed(format!(
                "{why}; service {name} was changed meanwhile, so hoist leaves it as it is"
            ))
            .with_log(log_tail));
        }
        let (previous, previous_instance) = fallback_release(instance, release, &fallback);
        info!(service = %name, to = %previous.version, "rolling back");
        rollout.progress(
            InstanceState::RollingBack,
            format!("{why}; Swarm rolls {name} back to {}", previous.version),
        );
        let restoring = essentials(&fallback);
        let mut restored = Err(String::new());
        for _attempt in 0..2 {
            restored = rollout
                .wait_verified(
                    &previous_instance,
                    &previous,
                    InstanceState::RollingBack,
                    || self.observe_with(docker, instance, Some(&restoring)),
                )
                .await;
            let Err(_) = &restored else { break };
            match self.unstick(docker, name).await? {
                Some(why) => rollout.progress(
                    InstanceState::RollingBack,
                    format!(
                        "Swarm was stuck ({why}); hoist sent {}'s spec again",
                        previous.version
                    ),
                ),
                None => break,
            }
        }
        match restored {
            Ok(()) => Err(InstanceFailure::rolled_back(format!(
                "{why}; Swarm rolled {name} back to {}, which serves again",
                previous.version
            ))
            .with_log(log_tail)),
            Err(e) => Err(InstanceFailure::failed(format!(
                "{why}; the rollback to {} did not verify either: {e}",
                previous.version
            ))
            .with_log(log_tail)),
        }
    }

    /// Removes the secrets hoist made for the service that neither its spec nor its
    /// previous spec uses; what cannot be removed is a warning.
    async fn prune_secrets(&self, docker: &Docker, name: &str, rollout: &Rollout<'_>) {
        let current = match api::inspect(docker, name).await {
            Ok(Some(service)) => service.spec.unwrap_or_default(),
            Ok(None) => return,
            Err(e) => return rollout.warn(e.message),
        };
        if !self.previous_spec_readable() {
            return rollout.warn(format!(
                "the secrets of earlier releases of {name} are kept: the previous spec of a swarm reached over TLS or ssh cannot be read yet"
            ));
        }
        let previous = match api::previous_spec(docker, &self.settings.host, name).await {
            Ok(previous) => previous.unwrap_or_default(),
            Err(e) => return rollout.warn(e.message),
        };
        for warning in secrets::prune(docker, name, &[&current, &previous]).await {
            rollout.warn(warning);
        }
    }

    /// The service now, and the errors and last output of the tasks that failed to run
    /// `target`, oldest line first.
    async fn failure_output(
        &self,
        docker: &Docker,
        name: &str,
        target: &Essentials,
    ) -> Result<(Service, Vec<String>), BackendError> {
        let (service, tasks) = self
            .look(docker, name)
            .await?
            .ok_or_else(|| BackendError::new(format!("service {name} disappeared")))?;
        let mut lines = Vec::new();
        for task in verdict::failing_tasks(&service, &tasks, target)
            .into_iter()
            .take(LOG_TASKS)
            .rev()
        {
            let Some(id) = task.id.as_deref() else {
                continue;
            };
            lines.extend(api::task_log_tail(docker, id, LOG_LINES).await);
            lines.push(verdict::describe_task(&service, task));
        }
        Ok((service, lines))
    }
}

#[async_trait]
impl Runtime for SwarmRuntime {
    fn kind(&self) -> &'static str {
        "swarm"
    }

    /// One lock for the whole swarm, a config object the managers keep (the `lock` module).
    fn lock_places(&self, _instances: &[InstanceSpec]) -> Vec<Arc<dyn TargetLock>> {
        vec![Arc::new(crate::lock::SwarmLock {
            engines: self.engines.clone(),
            host: self.settings.host.clone(),
        })]
    }

    /// An update that was still `updating` or `paused` when hoist died is rolled back,
    /// and a rollback in progress is waited for, so that this run starts from the last
    /// spec Swarm finished and redoes the update under its own eyes.
    ///
    /// While hoist is away Swarm carries on by itself: it finishes an update whose tasks
    /// run (whether or not they answer their health check — Swarm does not know it), rolls
    /// back or pauses one whose tasks fail, depending on the failure action. A finished
    /// update needs nothing here: the pipeline verifies it, and a roll-out of the same
    /// release that does not verify rolls back to Swarm's previous spec.
    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        let docker = self.docker().await?;
        let name = &instance.name;
        let Some(service) = api::inspect(&docker, name).await? else {
            return Ok(Vec::new());
        };
        let done = match update_state(&service) {
            Some(Update::UPDATING | Update::PAUSED) => {
                info!(service = %name, state = %describe_state(&service), "rolling back an interrupted update");
                api::roll_back(&docker, &service, self.registry_auth.clone()).await?;
                let (settled, mut done) = self.settle(&docker, name).await?;
                done.insert(
                    0,
                    format!(
                        "rolled back an interrupted update of service {name}; {}",
                        settled_summary(&settled)
                    ),
                );
                done
            }
            Some(Update::ROLLBACK_STARTED) => {
                info!(service = %name, "waiting for an interrupted rollback");
                let (settled, mut done) = self.settle(&docker, name).await?;
                done.insert(
                    0,
                    format!(
                        "waited for Swarm to finish rolling service {name} back; {}",
                        settled_summary(&settled)
                    ),
                );
                done
            }
            _ => Vec::new(),
        };
        Ok(done)
    }

    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let docker = self.docker().await?;
        self.observe_with(&docker, instance, None).await
    }

    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let docker = self.docker().await?;
        let name = &instance.name;
        for warning in self.settings.warnings() {
            rollout.warn(warning);
        }
        if let Some(delivery) = &self.delivery {
            delivery
                .deliver(&self.settings.host, &docker, release)
                .await?;
        }
        let mut desired = spec::service_spec(instance, release, &self.settings);
        secrets::attach(&mut desired, secrets::ensure(&docker, instance).await?);
        let target = essentials(&desired);
        let fallback = match api::inspect(&docker, name).await? {
            None => {
                info!(service = %name, release = %release.version, "creating service");
                rollout.progress(
                    InstanceState::Starting,
                    format!(
                        "creating service {name} with {} ({} task(s))",
                        release.version, self.settings.replicas
                    ),
                );
                for warning in api::create(&docker, desired, self.registry_auth.clone()).await? {
                    rollout.warn(warning);
                }
                None
            }
            Some(service) => {
                let current = service.spec.clone().unwrap_or_default();
                if essentials(&current) == target {
                    // An earlier run sent this spec and did not see it verified (or it
                    // stopped answering). Sending it again would make Swarm's previous spec
                    // a copy of it; wait for it instead, with Swarm's previous spec as the
                    // way back — unless that is the spec Swarm just rolled away from.
                    rollout.progress(
                        InstanceState::Verifying,
                        format!("service {name} already has the spec of {}", release.version),
                    );
                    if matches!(
                        update_state(&service),
                        Some(
                            Update::ROLLBACK_STARTED
                                | Update::ROLLBACK_COMPLETED
                                | Update::ROLLBACK_PAUSED
                        )
                    ) || !self.previous_spec_readable()
                    {
                        None
                    } else {
                        api::previous_spec(&docker, &self.settings.host, name).await?
                    }
                } else {
                    info!(service = %name, release = %release.version, "updating service");
                    rollout.progress(
                        InstanceState::Starting,
                        format!(
                            "updating service {name} to {} ({})",
                            release.version,
                            describe_update(&self.settings)
                        ),
                    );
                    for warning in
                        api::update(&docker, &service, desired, self.registry_auth.clone()).await?
                    {
                        rollout.warn(warning);
                    }
                    Some(current)
                }
            }
        };
        self.verify_or_roll_back(&docker, instance, release, &target, fallback, rollout)
            .await
    }

    /// Swarm's own rollback when its previous spec is exactly what a roll-out of
    /// `previous` would send (the usual case right after a deploy); a roll-out of
    /// `previous` otherwise, so that a rollback never restores an env the config no
    /// longer has.
    async fn roll_back(
        &self,
        instance: &InstanceSpec,
        previous: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let docker = self.docker().await?;
        let name = &instance.name;
        let desired = essentials(&spec::service_spec(instance, previous, &self.settings));
        if let Some(service) = api::inspect(&docker, name).await?
            && service.spec.as_ref().map(essentials).as_ref() != Some(&desired)
            && self.previous_spec_readable()
            && api::previous_spec(&docker, &self.settings.host, name)
                .await?
                .as_ref()
                .map(essentials)
                .as_ref()
                == Some(&desired)
        {
            info!(service = %name, to = %previous.version, "Swarm rollback");
            rollout.progress(
                InstanceState::RollingBack,
                format!("Swarm rolls service {name} back to {}", previous.version),
            );
            api::roll_back(&docker, &service, self.registry_auth.clone()).await?;
            return self
                .verify_or_roll_back(&docker, instance, previous, &desired, service.spec, rollout)
                .await;
        }
        self.roll_out(instance, previous, rollout).await
    }

    fn spec_settings(&self) -> BTreeMap<String, String> {
        spec::spec_settings(&self.settings)
    }

    async fn run_task(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        task: &hoist_core::task::TaskSpec,
    ) -> Result<hoist_core::task::TaskRun, BackendError> {
        let docker = self.docker().await?;
        crate::task::run(
            &docker,
            &self.settings,
            instance,
            release,
            task,
            self.registry_auth.clone(),
        )
        .await
    }

    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        let docker = self.docker().await?;
        Ok(api::inspect(&docker, &instance.name)
            .await?
            .and_then(|s| s.spec)
            .and_then(|s| spec::spec_digest_of(&s)))
    }

    /// The services on this runtime's swarm: every instance of an environment is a
    /// service there, whatever engine its config names, so `_hosts` is not needed.
    async fn list(
        &self,
        app: &str,
        environment: &str,
        _hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError> {
        let docker = self.docker().await?;
        let services = api::list(
            &docker,
            vec![
                format!("{}={app}", hoist_core::labels::APP),
                format!("{}={environment}", hoist_core::labels::ENVIRONMENT),
            ],
        )
        .await?;
        Ok(services
            .into_iter()
            .filter_map(|service| {
                let spec = service.spec?;
                let name = spec.name.clone()?;
                let labels = spec.labels.clone().unwrap_or_default();
                let state = match service.service_status {
                    Some(s) => format!(
                        "{}/{} tasks running",
                        s.running_tasks.unwrap_or(0),
                        s.desired_tasks.unwrap_or(0)
                    ),
                    None => "service".to_string(),
                };
                Some(Workload {
                    tenant: labels
                        .get(hoist_core::labels::TENANT)
                        .cloned()
                        .unwrap_or_default(),
                    instance: name.clone(),
                    name,
                    host: self.settings.host.clone(),
                    release: release_of(&spec).map(str::to_string),
                    state,
                })
            })
            .collect())
    }

    async fn retire(&self, workload: &Workload) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        api::remove(&docker, &workload.name).await
    }
}

fn update_state(service: &Service) -> Option<Update> {
    service.update_status.as_ref().and_then(|s| s.state)
}

fn describe_state(service: &Service) -> String {
    update_state(service).map_or_else(|| "idle".to_string(), |s| s.to_string())
}

/// What a settled service runs, for the recovery log.
fn settled_summary(service: &Service) -> String {
    let spec = service.spec.as_ref();
    let runs = spec
        .and_then(release_of)
        .map(str::to_string)
        .or_else(|| spec.and_then(image_of).map(|i| short_id(i).to_string()))
        .unwrap_or_else(|| "an unknown image".into());
    match update_state(service) {
        Some(Update::ROLLBACK_PAUSED | Update::PAUSED) => format!(
            "Swarm paused it ({}); its spec is {runs}",
            service
                .update_status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .unwrap_or("no reason given")
        ),
        _ => format!("its spec is {runs} again"),
    }
}

/// `stop-first, 1 at a time, 5s monitor`
fn describe_update(settings: &SwarmSettings) -> String {
    let update = &settings.update;
    let order = match update.order {
        crate::settings::Order::StopFirst => "stop-first",
        crate::settings::Order::StartFirst => "start-first",
    };
    let batch = match update.parallelism {
        0 => "all at once".to_string(),
        n => format!("{n} at a time"),
    };
    format!(
        "{order}, {batch}, {}s monitor",
        update.monitor.as_secs_f32()
    )
}

/// The release a fallback spec ran, as far as the spec says, and the instance to verify
/// it with: without a release label there is no version to expect.
fn fallback_release(
    instance: &InstanceSpec,
    release: &Release,
    fallback: &ServiceSpec,
) -> (Release, InstanceSpec) {
    let image = image_of(fallback).unwrap_or_default().to_string();
    let label = release_of(fallback).map(str::to_string);
    let mut previous_instance = instance.clone();
    if label.is_none() {
        previous_instance.version_path = None;
    }
    let previous = Release {
        version: label.unwrap_or_else(|| short_id(&image).to_string()),
        // A pinned spec image carries its own digest; the new release's is not its.
        digest: image.split_once('@').map(|(_, d)| d.to_string()),
        image_id: image,
        ..release.clone()
    };
    (previous, previous_instance)
}
