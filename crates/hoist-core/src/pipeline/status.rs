//! `hoist status`: what each instance runs now, whether that is the environment's current
//! release, and whether it answers its health check.

use serde::Serialize;

use super::{Deployer, PipelineError};
use crate::Release;
use crate::target::{ContainerState, Role};
use crate::verify::{Expectation, Verdict, verify};

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentStatus {
    pub environment: String,
    /// The release of the last successful deployment.
    pub current: Option<Release>,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub tenant: String,
    pub container: String,
    pub host: String,
    pub port: u16,
    pub container_state: ContainerState,
    /// Version label of the running container.
    pub running_release: Option<String>,
    pub image_id: Option<String>,
    pub matches_current: bool,
    pub healthy: bool,
    pub message: String,
}

impl Deployer {
    pub async fn status(&self, environment: &str) -> Result<EnvironmentStatus, PipelineError> {
        let instances = self.instances(environment)?;
        let current = self
            .store
            .deployed_releases(self.app_name(), environment)?
            .into_iter()
            .next();
        let checks = instances.iter().map(|spec| {
            let current = current.clone();
            async move {
                let endpoint = self.target.live_endpoint(spec);
                let observed = self.observe(spec, Role::Live, &endpoint).await?;
                let image_id = observed.container.image_id().map(str::to_string);
                let matches_current = current
                    .as_ref()
                    .is_some_and(|c| Some(&c.image_id) == image_id.as_ref());
                // Health only: the version check belongs to "matches current".
                let running_version = observed.container.release().unwrap_or("").to_string();
                let expect = Expectation {
                    image_id: image_id.as_deref().unwrap_or(""),
                    version: &running_version,
                    health_path: &spec.health_path,
                    version_path: None,
                };
                let (healthy, message) = match (&observed.container, verify(&observed, &expect)) {
                    (ContainerState::Missing, _) => (false, "no container".to_string()),
                    (_, Verdict::Verified) => (true, format!("{} answers 2xx", spec.health_path)),
                    (_, Verdict::Pending(m) | Verdict::Failed(m)) => (false, m),
                };
                Ok::<_, PipelineError>(InstanceStatus {
                    tenant: spec.tenant.clone(),
                    container: spec.container.clone(),
                    host: spec.host.clone(),
                    port: spec.port,
                    running_release: observed.container.release().map(str::to_string),
                    container_state: observed.container,
                    image_id,
                    matches_current,
                    healthy,
                    message,
                })
            }
        });
        let instances = futures::future::try_join_all(checks).await?;
        Ok(EnvironmentStatus {
            environment: environment.to_string(),
            current,
            instances,
        })
    }
}
