//! `hoist plan`: what a deploy would do, as a value that the CLI prints and tests compare.
//! Computing it builds nothing and changes nothing.

use serde::Serialize;

use crate::events::CacheOutcome;
use crate::fingerprint::Fingerprint;
use crate::pipeline::{Deployer, PipelineError};
use crate::runtime::{Workload, WorkloadState, spec_digest};
use crate::spec_digest::redeploy_reason;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub app: String,
    pub environment: String,
    pub version: String,
    pub commit: String,
    pub dirty: bool,
    pub fingerprint: Fingerprint,
    pub base_image: String,
    /// Hit: the base image exists and is reused. Miss: it will be built.
    pub base_cache: CacheOutcome,
    pub app_image: String,
    /// The release of this version exists already, so nothing will be built.
    pub release_exists: bool,
    pub instances: Vec<PlannedInstance>,
    /// The order a deploy takes the instances in (`rollout.canary`, `batch`): one wave of
    /// all without those keys.
    pub waves: Vec<crate::pipeline::Wave>,
    /// What runs for this app and environment that the config no longer names: a deploy
    /// leaves it running; `hoist retire` removes it.
    pub orphans: Vec<Workload>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedInstance {
    pub tenant: String,
    /// The workload's name on its runtime (container, service).
    pub name: String,
    pub host: String,
    pub port: u16,
    pub running_release: Option<String>,
    /// `create`, `replace`, `redeploy` (runs this release with other settings), or `keep`
    /// (already runs this release with these settings; verified at deploy time).
    pub action: &'static str,
    /// Which settings differ from what the instance was started with ("env DB_HOST
    /// changed; port 8080 → 8081"), when they do.
    pub changed: Option<String>,
}

impl Deployer {
    pub async fn plan(
        &self,
        environment: &str,
        version: Option<&str>,
    ) -> Result<Plan, PipelineError> {
        let specs = self.instances(environment)?;
        let runtime = self.runtime(environment)?;
        let build = self.plan_build(version).await?;
        let mut instances = Vec::with_capacity(specs.len());
        for spec in &specs {
            let live = runtime.observe(spec).await?.workload;
            let changed = if live.is_running() {
                let applied = runtime.applied_spec(spec).await?;
                redeploy_reason(&spec_digest(runtime.as_ref(), spec), applied.as_ref())
            } else {
                None
            };
            let action = match (&live, &build.existing) {
                (WorkloadState::Missing, _) => "create",
                (running @ WorkloadState::Running { .. }, Some(r))
                    if running.runs_image_of(&r.image_id, r.digest.as_deref()) =>
                {
                    if changed.is_some() {
                        "redeploy"
                    } else {
                        "keep"
                    }
                }
                _ => "replace",
            };
            instances.push(PlannedInstance {
                tenant: spec.tenant.clone(),
                name: spec.name.clone(),
                host: spec.host.clone(),
                port: spec.port,
                running_release: live.release().map(str::to_string),
                action,
                changed,
            });
        }
        Ok(Plan {
            app: self.config.app.name.clone(),
            environment: environment.to_string(),
            version: build.source.version.clone(),
            commit: build.source.commit.clone(),
            dirty: build.source.dirty,
            fingerprint: build.fingerprint,
            base_image: build.base_image,
            base_cache: build.base_cache,
            app_image: build.app_image,
            release_exists: build.existing.is_some(),
            waves: self.planned_waves(environment)?,
            instances,
            orphans: self.orphans(environment).await?,
        })
    }
}
