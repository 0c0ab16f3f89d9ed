//! `hoist status`: what each instance runs now, whether that is the environment's current
//! release, and whether it answers its health check.

use serde::Serialize;

use super::{Deployer, PipelineError};
use crate::Release;
use crate::runtime::{Workload, WorkloadState, probe_runtime, spec_digest};
use crate::spec_digest::redeploy_reason;
use crate::store::DeploymentOutcome;
use crate::verify::{Expectation, Verdict, verify};

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentStatus {
    pub environment: String,
    /// The release of the last successful deployment.
    pub current: Option<Release>,
    pub instances: Vec<InstanceStatus>,
    /// What the environment as a whole shows: a deployment recorded as running whose
    /// holder is gone (an interrupted run), or one running now.
    pub notes: Vec<String>,
    /// What runs for this app and environment that the config no longer names.
    pub orphans: Vec<Workload>,
    /// Which tenants run which release, and who is behind the newest.
    pub drift: super::drift::Drift,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub tenant: String,
    /// The workload's name on its runtime (container, service).
    pub name: String,
    /// The runtime kind (`docker`, `swarm`).
    pub runtime: &'static str,
    pub host: String,
    pub port: u16,
    pub workload: WorkloadState,
    /// What the runtime noticed (tasks, leftovers of an interrupted rollout).
    pub notes: Vec<String>,
    /// Version label of the running container.
    pub running_release: Option<String>,
    pub image_id: Option<String>,
    pub matches_current: bool,
    pub healthy: bool,
    pub message: String,
    /// How the config differs from what the instance was started with ("env DB_HOST
    /// changed"), when it does: the next deploy redeploys it.
    pub config_changed: Option<String>,
    /// The instance's secrets by name: fingerprints only.
    pub secrets: Vec<SecretStatus>,
}

/// One secret of an instance in `hoist status`: its name and fingerprints, never its value.
///
/// `deployed` is what the workload was given (its label). `current` is the source's value
/// now, for sources that run nothing (a variable, a file); a command source is run only by
/// a deploy, so its `current` is `None`. They differ when the secret changed since the
/// deploy (drift): the next deploy rolls the instance out again with the new value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretStatus {
    pub name: String,
    /// `env`, `file` or `command`.
    pub source: &'static str,
    pub deployed: Option<String>,
    pub current: Option<String>,
    /// `deployed` and `current` both known and different.
    pub drift: bool,
    /// Why `current` is unknown, when it is: "command: read by a deploy only", or the
    /// error reading it (which names the secret, never a value).
    pub note: Option<String>,
}

impl Deployer {
    pub async fn status(&self, environment: &str) -> Result<EnvironmentStatus, PipelineError> {
        let instances = self.instances(environment)?;
        let secrets = self.secret_statuses(environment, &instances).await?;
        let current = self
            .store
            .deployed_releases(self.app_name(), environment)?
            .into_iter()
            .next();
        let checks = instances.iter().zip(secrets).map(|(spec, mut secrets)| {
            let current = current.clone();
            async move {
                // Each instance's own runtime: an environment may hold several kinds.
                let runtime = self.instance_runtime(spec)?;
                let observed = runtime.observe(spec).await?;
                let config_changed = if observed.workload.is_running() {
                    let applied = runtime.applied_spec(spec).await?;
                    redeploy_reason(&spec_digest(runtime.as_ref(), spec), applied.as_ref())
                } else {
                    None
                };
                let notes = observed.notes.clone();
                for secret in &mut secrets {
                    secret.deployed = observed.secrets.get(&secret.name).cloned();
                    secret.drift =
                        matches!((&secret.deployed, &secret.current), (Some(d), Some(c)) if d != c);
                }
                let observed =
                    probe_runtime(runtime.as_ref(), self.prober.as_ref(), spec, observed).await;
                let image_id = observed.workload.image_id().map(str::to_string);
                let matches_current = current.as_ref().is_some_and(|c| {
                    observed
                        .workload
                        .runs_image_of(&c.image_id, c.digest.as_deref())
                });
                // Health only: the version check belongs to "matches current".
                let running_version = observed.workload.release().unwrap_or("").to_string();
                let expect = Expectation {
                    image_id: image_id.as_deref().unwrap_or(""),
                    digest: None,
                    version: &running_version,
                    health_path: &spec.health_path,
                    version_path: None,
                };
                let (healthy, message) = match (&observed.workload, verify(&observed, &expect)) {
                    (WorkloadState::Missing, _) => (false, "nothing runs".to_string()),
                    (_, Verdict::Verified) if runtime.reports_health() => {
                        (true, format!("healthy as {} reports", runtime.kind()))
                    }
                    (_, Verdict::Verified) => (true, format!("{} answers 2xx", spec.health_path)),
                    (_, Verdict::Pending(m) | Verdict::Failed(m)) => (false, m),
                };
                Ok::<_, PipelineError>(InstanceStatus {
                    tenant: spec.tenant.clone(),
                    name: spec.name.clone(),
                    runtime: runtime.kind(),
                    host: spec.host.clone(),
                    port: spec.port,
                    running_release: observed.workload.release().map(str::to_string),
                    workload: observed.workload,
                    notes,
                    image_id,
                    matches_current,
                    healthy,
                    message,
                    config_changed,
                    secrets,
                })
            }
        });
        let instances = futures::future::try_join_all(checks).await?;
        let orphans = self.orphans(environment).await?;
        let drift =
            super::drift::drift_of(current.as_ref().map(|c| c.version.as_str()), &instances);
        Ok(EnvironmentStatus {
            environment: environment.to_string(),
            current,
            instances,
            notes: self.running_deployment_notes(environment)?,
            orphans,
            drift,
        })
    }

    /// A deployment still recorded as `running` is either running now or was stopped
    /// without finishing (killed, or its machine went away): say which.
    fn running_deployment_notes(&self, environment: &str) -> Result<Vec<String>, PipelineError> {
        let app = self.app_name();
        let Some(latest) = self
            .store
            .deployments(app, environment, 1)?
            .into_iter()
            .next()
        else {
            return Ok(Vec::new());
        };
        if latest.outcome != DeploymentOutcome::Running {
            return Ok(Vec::new());
        }
        let what = format!(
            "deployment #{} ({} {} by {}, started {})",
            latest.id,
            latest.kind.as_str(),
            latest.version,
            latest.actor,
            latest.started_at
        );
        let holder = self.store.lock_holder(app, environment)?;
        let note = match holder {
            Some(h) if h.deployment == Some(latest.id) && !h.is_dead_on_this_host() => {
                format!("{what} is running now (pid {} on {})", h.pid, h.hostname)
            }
            Some(h) if h.deployment == Some(latest.id) => format!(
                "{what} is recorded as running, but its holder (pid {} on {}) is gone: it was \
                 interrupted; the next deploy or rollback marks it interrupted and recovers the \
                 instances",
                h.pid, h.hostname
            ),
            _ => format!(
                "{what} is recorded as running, but no hoist holds {environment}'s lock for it: \
                 it was interrupted; the next deploy or rollback recovers the instances"
            ),
        };
        Ok(vec![note])
    }

    /// Each instance's secrets with the current fingerprint of those that can be read
    /// without running anything.
    async fn secret_statuses(
        &self,
        environment: &str,
        instances: &[crate::InstanceSpec],
    ) -> Result<Vec<Vec<SecretStatus>>, PipelineError> {
        let env = self.environment(environment)?;
        let mut resolver = hoist_secrets::Resolver::new(self.app_name(), self.config.root.clone());
        let mut all = Vec::new();
        for (spec, settings) in instances.iter().zip(&env.instances) {
            let mut statuses = Vec::new();
            for (name, source) in &settings.secrets {
                let (current, note) = match resolver.resolve_local(name, &spec.tenant, source).await
                {
                    Some(Ok(secret)) => (Some(secret.fingerprint().to_string()), None),
                    Some(Err(e)) => (None, Some(e.to_string())),
                    None => (None, Some("command: read by a deploy only".to_string())),
                };
                statuses.push(SecretStatus {
                    name: name.clone(),
                    source: source.kind(),
                    deployed: None,
                    current,
                    drift: false,
                    note,
                });
            }
            all.push(statuses);
        }
        Ok(all)
    }
}
