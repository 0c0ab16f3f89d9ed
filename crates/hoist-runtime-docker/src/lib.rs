//! hoist's Docker runtime: each instance is a container on the Docker engine its `host`
//! names, changed by Docker's own strategy ([`switch`]): a verified candidate, a port
//! switch, and a restore of the previous container on failure.

mod containers;
mod switch;

use async_trait::async_trait;
use hoist_core::Release;
use hoist_core::backend::BackendError;
use hoist_core::runtime::{Applied, InstanceFailure, InstanceSpec, Observed, Rollout, Runtime};

use containers::{Containers, Role, container_name};

/// Runs instances as containers on the Docker engines their config names.
#[derive(Clone, Default)]
pub struct DockerRuntime {
    containers: Containers,
}

impl DockerRuntime {
    pub fn new() -> Self {
        DockerRuntime::default()
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        self.containers.recover(instance).await
    }

    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let endpoint = self.containers.live_endpoint(instance);
        let mut observed = self
            .containers
            .observe_role(instance, Role::Live, &endpoint)
            .await?;
        // Leftovers say a rollout was interrupted; the next deploy undoes them.
        for (role, what) in [
            (
                Role::Previous,
                "the previous container of an interrupted switch",
            ),
            (
                Role::Candidate,
                "a candidate container of an interrupted rollout",
            ),
        ] {
            if self.containers.inspect(instance, role).await?
                != hoist_core::runtime::WorkloadState::Missing
            {
                observed.notes.push(format!(
                    "{} is left: {what}; the next deploy or rollback undoes it",
                    container_name(instance, role)
                ));
            }
        }
        Ok(observed)
    }

    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        switch::switch(&self.containers, instance, release, rollout).await
    }
}
