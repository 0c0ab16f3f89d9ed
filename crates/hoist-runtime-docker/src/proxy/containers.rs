//! The container operations only the proxy switch needs: starting a kept container again,
//! reading where a running one answers, and the renames that make the serving container
//! `NAME` and the stopped one `NAME--prev`; and which proxy a container was started
//! behind.

use bollard::query_parameters::{
    InspectContainerOptions, StartContainerOptions, StopContainerOptions,
};
use std::net::SocketAddr;

use hoist_core::backend::{BackendError, Endpoint};
use hoist_core::labels;
use hoist_core::runtime::InstanceSpec;
use hoist_engine::is_not_found;

use crate::containers::{Containers, Role, container_name, engine_error};

/// A container's run state and the proxy it was started behind (its
/// `dev.hoist.proxy-admin` label), if any.
pub(crate) struct ProxiedContainer {
    pub running: bool,
    pub admin: Option<SocketAddr>,
}

impl Containers {
    /// Starts the kept container in `role` again and says where it answers (the engine
    /// gives it a new loopback port).
    pub(crate) async fn start_existing(
        &self,
        spec: &InstanceSpec,
        role: Role,
    ) -> Result<Endpoint, BackendError> {
        let docker = self.docker(spec).await?;
        let name = container_name(spec, role);
        docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .map_err(|e| engine_error("cannot start", &name, &e))?;
        let port = self
            .assigned_port(&docker, &name, spec.container_port)
            .await?;
        Ok(Endpoint {
            host: hoist_engine::published_host(&spec.host),
            port,
        })
    }

    /// Where the container in `role` answers, if it runs.
    pub(crate) async fn running_endpoint(
        &self,
        spec: &InstanceSpec,
        role: Role,
    ) -> Result<Option<Endpoint>, BackendError> {
        if !self.inspect(spec, role).await?.is_running() {
            return Ok(None);
        }
        let docker = self.docker(spec).await?;
        let name = container_name(spec, role);
        let port = self
            .assigned_port(&docker, &name, spec.container_port)
            .await?;
        Ok(Some(Endpoint {
            host: hoist_engine::published_host(&spec.host),
            port,
        }))
    }

    /// The proxy that sends to container `name` on `host`: its `dev.hoist.proxy-admin`
    /// label, which the proxy switch puts on what it starts. `None` for a container the
    /// port switch started, or none at all.
    pub(crate) async fn proxy_admin(
        &self,
        host: &str,
        name: &str,
    ) -> Result<Option<SocketAddr>, BackendError> {
        Ok(self.behind_proxy(host, name).await?.and_then(|c| c.admin))
    }

    /// Whether container `name` on `host` runs, and the proxy it was started behind, from
    /// one inspect; `None` when there is no such container.
    pub(crate) async fn behind_proxy(
        &self,
        host: &str,
        name: &str,
    ) -> Result<Option<ProxiedContainer>, BackendError> {
        let docker = self.engine(host).await?;
        let info = match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(engine_error("cannot inspect", name, &e)),
        };
        Ok(Some(ProxiedContainer {
            running: info.state.and_then(|s| s.running) == Some(true),
            admin: info
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get(labels::PROXY_ADMIN).and_then(|a| a.parse().ok())),
        }))
    }

    /// Whether the live container publishes the instance's port itself (the port switch
    /// started it), so the proxy cannot listen there until it stops.
    pub(crate) async fn publishes_port(&self, spec: &InstanceSpec) -> Result<bool, BackendError> {
        let docker = self.docker(spec).await?;
        let info = match docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(engine_error("cannot inspect", &spec.name, &e)),
        };
        let wanted = spec.port.to_string();
        Ok(info
            .host_config
            .and_then(|h| h.port_bindings)
            .into_iter()
            .flat_map(|bindings| bindings.into_values())
            .flatten()
            .flatten()
            .any(|b| b.host_port.as_deref() == Some(wanted.as_str())))
    }

    /// Stops the container in `role`, if there is one and it runs.
    pub(crate) async fn stop_role(
        &self,
        spec: &InstanceSpec,
        role: Role,
    ) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        let name = container_name(spec, role);
        let options = StopContainerOptions {
            t: Some(i32::try_from(self.settings.stop_timeout.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        match docker.stop_container(&name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error("cannot stop", &name, &e)),
        }
    }

    /// The verified candidate becomes `NAME`; the old `NAME` (stopped) becomes
    /// `NAME--prev`, replacing an older one.
    pub(crate) async fn promote_candidate(&self, spec: &InstanceSpec) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        let previous = container_name(spec, Role::Previous);
        self.remove_named(&docker, &previous).await?;
        if self.inspect(spec, Role::Live).await? != hoist_core::runtime::WorkloadState::Missing {
            self.rename(&docker, &spec.name, &previous).await?;
        }
        self.rename(&docker, &container_name(spec, Role::Candidate), &spec.name)
            .await
    }

    /// The previous container, started again, becomes `NAME`; the old `NAME` (stopped)
    /// becomes `NAME--prev`, through the candidate's name.
    pub(crate) async fn swap_live_and_previous(
        &self,
        spec: &InstanceSpec,
    ) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        let candidate = container_name(spec, Role::Candidate);
        let previous = container_name(spec, Role::Previous);
        self.remove_named(&docker, &candidate).await?;
        let had_live =
            self.inspect(spec, Role::Live).await? != hoist_core::runtime::WorkloadState::Missing;
        if had_live {
            self.rename(&docker, &spec.name, &candidate).await?;
        }
        self.rename(&docker, &previous, &spec.name).await?;
        if had_live {
            self.rename(&docker, &candidate, &previous).await?;
        }
        Ok(())
    }
}
