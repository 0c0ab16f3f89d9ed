//! The container operations the switch strategy is made of, on the engine an instance's
//! `host` names.
//!
//! Each instance has up to three containers, named after its configured name: `NAME`
//! (live, on the published port), `NAME--next` (candidate, on an ephemeral loopback port)
//! and `NAME--prev` (the stopped previous live container, kept until the new one is
//! verified). The names alone say what state an interrupted rollout left, which is what
//! [`Containers::recover`] undoes.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures::StreamExt;
use hoist_core::backend::{BackendError, Endpoint};
use hoist_core::runtime::{InstanceSpec, Observed, WorkloadState};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::{Release, labels};
use hoist_engine::{Engines, ImageDelivery, is_not_found, message};

use crate::DockerSettings;
use crate::proxy::ProxiedContainer;

/// The part a container plays in an instance's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The container serving the instance's published port.
    Live,
    /// A new container on a private port, verified before anything is switched.
    Candidate,
    /// The old live container, stopped and kept until the new one is verified.
    Previous,
}

/// Containers on the Docker engines instances name, one connection per engine.
#[derive(Clone, Default)]
pub(crate) struct Containers {
    pub(crate) engines: Engines,
    pub(crate) settings: DockerSettings,
    /// Puts a release's image on an instance's engine before a container is made from it;
    /// `None`: every engine already has it (it is the build engine).
    pub(crate) delivery: Option<Arc<dyn ImageDelivery>>,
}

impl Containers {
    /// These containers' engines, with other settings (the connections are shared).
    pub(crate) fn with_settings(&self, settings: DockerSettings) -> Containers {
        Containers {
            settings,
            ..self.clone()
        }
    }

    pub(crate) async fn docker(&self, spec: &InstanceSpec) -> Result<Docker, BackendError> {
        self.engines.get(&spec.host).await
    }

    /// The engine at `host` (a connection shared with the instances that name it).
    pub(crate) async fn engine(&self, host: &str) -> Result<Docker, BackendError> {
        self.engines.get(host).await
    }

    /// Whole seconds the engine waits after the stop signal before it kills (its API
    /// counts seconds).
    fn stop_timeout_secs(&self) -> i32 {
        i32::try_from(self.settings.stop_timeout.as_secs()).unwrap_or(i32::MAX)
    }
}

/// `HostIp` of a published port bound to `bind`. `0.0.0.0` is sent as the engine's own
/// default (empty), which also publishes on IPv6 where the engine does, as hoist always did.
fn bind_ip(bind: IpAddr) -> String {
    if bind == IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED) {
        String::new()
    } else {
        bind.to_string()
    }
}

/// The container name for `role`.
pub(crate) fn container_name(spec: &InstanceSpec, role: Role) -> String {
    match role {
        Role::Live => spec.name.clone(),
        Role::Candidate => format!("{}--next", spec.name),
        Role::Previous => format!("{}--prev", spec.name),
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Live => "live",
        Role::Candidate => "candidate",
        Role::Previous => "previous",
    }
}

/// The registry digests the engine knows `image_id` by (`RepoDigests`), which is what a
/// release pulled by digest is verified against. An image gone since the container was
/// made shows none.
async fn repo_digests(docker: &Docker, image_id: &str) -> Result<Vec<String>, BackendError> {
    match docker.inspect_image(image_id).await {
        Ok(image) => Ok(image.repo_digests.unwrap_or_default()),
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(engine_error("cannot inspect image", image_id, &e)),
    }
}

pub(crate) fn engine_error(what: &str, name: &str, e: &bollard::errors::Error) -> BackendError {
    BackendError::new(format!("{what} {name}: {}", message(e)))
}

impl Containers {
    async fn state(&self, docker: &Docker, name: &str) -> Result<WorkloadState, BackendError> {
        Ok(self.state_and_secrets(docker, name).await?.0)
    }

    /// The container's state, and the fingerprints of the secrets it was given (its
    /// `dev.hoist.secret.*` labels).
    async fn state_and_secrets(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<(WorkloadState, BTreeMap<String, String>), BackendError> {
        let info = match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => return Ok((WorkloadState::Missing, BTreeMap::new())),
            Err(e) => return Err(engine_error("cannot inspect", name, &e)),
        };
        let image_id = info.image.unwrap_or_default();
        let container_labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let release = container_labels.get(labels::RELEASE).cloned();
        let secrets = labels::secret_fingerprints(&container_labels);
        let state = info.state.unwrap_or_default();
        let workload = if state.running == Some(true) {
            let digests = repo_digests(docker, &image_id).await?;
            WorkloadState::Running {
                image_id,
                release,
                digests,
            }
        } else {
            WorkloadState::Exited {
                image_id,
                release,
                exit_code: state.exit_code.unwrap_or(0),
            }
        };
        Ok((workload, secrets))
    }

    pub(crate) async fn remove_named(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<bool, BackendError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine_error("cannot remove", name, &e)),
        }
    }

    pub(crate) async fn rename(
        &self,
        docker: &Docker,
        from: &str,
        to: &str,
    ) -> Result<(), BackendError> {
        docker
            .rename_container(
                from,
                RenameContainerOptions {
                    name: to.to_string(),
                },
            )
            .await
            .map_err(|e| engine_error("cannot rename", from, &e))
    }

    /// The host port the engine assigned to a candidate's container port.
    pub(crate) async fn assigned_port(
        &self,
        docker: &Docker,
        name: &str,
        container_port: u16,
    ) -> Result<u16, BackendError> {
        let info = docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error("cannot inspect", name, &e))?;
        info.network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| {
                ports
                    .get(&format!("{container_port}/tcp"))
                    .cloned()
                    .flatten()
            })
            .and_then(|bindings| {
                bindings
                    .into_iter()
                    .find_map(|b| b.host_port.and_then(|p| p.parse().ok()))
            })
            .ok_or_else(|| BackendError::new(format!("the engine assigned no host port to {name}")))
    }
}

impl Containers {
    pub(crate) async fn recover(&self, spec: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        let docker = self.docker(spec).await?;
        let mut done = Vec::new();
        if self
            .remove_named(&docker, &container_name(spec, Role::Candidate))
            .await?
        {
            done.push("removed a candidate container left by an interrupted rollout".to_string());
        }
        let previous = container_name(spec, Role::Previous);
        let previous_state = self.state(&docker, &previous).await?;
        if previous_state != WorkloadState::Missing
            && !previous_state.is_running()
            && self.kept_by_proxy(spec).await?
        {
            // Not a leftover: the proxy switch keeps the stopped previous container for a
            // rollback, and this environment has left the proxy since. The port switch
            // keeps none, so it goes.
            self.remove_named(&docker, &previous).await?;
            done.push(format!(
                "removed {previous}, kept stopped by the proxy switch (the port switch keeps no previous container)"
            ));
        } else if previous_state != WorkloadState::Missing {
            // A switch was interrupted: the live container (if any) was never verified.
            // Undo the switch; this run will redo it properly.
            self.remove_named(&docker, &spec.name).await?;
            self.rename(&docker, &previous, &spec.name).await?;
            docker
                .start_container(&spec.name, None::<StartContainerOptions>)
                .await
                .map_err(|e| engine_error("cannot start", &spec.name, &e))?;
            done.push("restored the previous container of an interrupted switch".to_string());
        }
        Ok(done)
    }

    /// Whether the (stopped) previous container is the one the proxy switch keeps on
    /// purpose: both it and the running live container were started behind a proxy (an
    /// interrupted port switch leaves a live container without one, or none).
    async fn kept_by_proxy(&self, spec: &InstanceSpec) -> Result<bool, BackendError> {
        let previous = container_name(spec, Role::Previous);
        let (previous, live) = tokio::try_join!(
            self.behind_proxy(&spec.host, &previous),
            self.behind_proxy(&spec.host, &spec.name),
        )?;
        let proxied = |c: &Option<ProxiedContainer>| c.as_ref().is_some_and(|c| c.admin.is_some());
        Ok(proxied(&previous) && proxied(&live) && live.is_some_and(|l| l.running))
    }

    /// The spec digest the live container was started with, if it runs and has one.
    pub(crate) async fn applied_spec(
        &self,
        spec: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        let docker = self.docker(spec).await?;
        let info = match docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(engine_error("cannot inspect", &spec.name, &e)),
        };
        Ok(info
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(labels::SPEC).and_then(|s| SpecDigest::from_label(s))))
    }

    pub(crate) async fn inspect(
        &self,
        spec: &InstanceSpec,
        role: Role,
    ) -> Result<WorkloadState, BackendError> {
        let docker = self.docker(spec).await?;
        self.state(&docker, &container_name(spec, role)).await
    }

    pub(crate) async fn start(
        &self,
        spec: &InstanceSpec,
        role: Role,
        release: &Release,
    ) -> Result<Endpoint, BackendError> {
        let docker = self.docker(spec).await?;
        if let Some(delivery) = &self.delivery {
            delivery.deliver(&spec.host, &docker, release).await?;
        }
        let name = container_name(spec, role);
        let port_key = format!("{}/tcp", spec.container_port);
        let local = !hoist_engine::is_remote(&spec.host);
        let binding = match role {
            // The candidate is only for hoist's probes: loopback and any free port.
            Role::Candidate => PortBinding {
                host_ip: Some(if local {
                    "127.0.0.1".into()
                } else {
                    String::new()
                }),
                host_port: Some(String::new()),
            },
            _ => PortBinding {
                host_ip: Some(bind_ip(self.settings.bind)),
                host_port: Some(spec.port.to_string()),
            },
        };
        let mut container_labels: HashMap<String, String> =
            spec.labels(release).into_iter().collect();
        // Through a proxy the candidate itself becomes the live container (labels cannot
        // change), so it is labelled and restarted as one.
        let proxied = self.settings.proxy.is_some();
        let role_labelled = if proxied { Role::Live } else { role };
        container_labels.insert(
            labels::ROLE.to_string(),
            role_label(role_labelled).to_string(),
        );
        container_labels.insert(
            labels::SPEC.to_string(),
            SpecDigest::of(spec, &crate::spec_settings(&self.settings)).to_label(),
        );
        if let Some(proxy) = &self.settings.proxy {
            container_labels.insert(labels::PROXY_ADMIN.to_string(), proxy.admin.to_string());
        }
        let restart = match role {
            Role::Candidate if !proxied => RestartPolicyNameEnum::NO,
            _ => RestartPolicyNameEnum::UNLESS_STOPPED,
        };
        let body = ContainerCreateBody {
            image: Some(release.image_id.clone()),
            // Docker has no secrets for plain containers: the app gets them as env, so
            // `docker inspect` of the container shows them (documented in README).
            env: Some(
                spec.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .chain(
                        spec.secrets
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.expose())),
                    )
                    .collect(),
            ),
            labels: Some(container_labels),
            exposed_ports: Some(vec![port_key.clone()]),
            stop_timeout: Some(self.stop_timeout_secs().into()),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(port_key, Some(vec![binding]))])),
                // The candidate mounts the tenant's data too: it is verified on it, then
                // serves it (through a proxy it becomes the live container).
                mounts: Some(hoist_engine::engine_mounts(&spec.volumes)),
                restart_policy: Some(RestartPolicy {
                    name: Some(restart),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        // A stale container of the same name (e.g. a crashed candidate) would block create.
        self.remove_named(&docker, &name).await?;
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| engine_error("cannot create", &name, &e))?;
        if let Err(e) = docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
        {
            let logs = self.logs(spec, role, 20).await.unwrap_or_default();
            let _ = self.remove_named(&docker, &name).await;
            return Err(engine_error("cannot start", &name, &e).with_log(logs));
        }
        match role {
            Role::Candidate => {
                let port = self
                    .assigned_port(&docker, &name, spec.container_port)
                    .await?;
                Ok(Endpoint {
                    host: hoist_engine::published_host(&spec.host),
                    port,
                })
            }
            _ => Ok(self.live_endpoint(spec)),
        }
    }

    /// What the container in `role` runs, reached at `endpoint`.
    pub(crate) async fn observe_role(
        &self,
        spec: &InstanceSpec,
        role: Role,
        endpoint: &Endpoint,
    ) -> Result<Observed, BackendError> {
        let docker = self.docker(spec).await?;
        let (workload, secrets) = self
            .state_and_secrets(&docker, &container_name(spec, role))
            .await?;
        Ok(Observed {
            workload,
            endpoint: endpoint.clone(),
            notes: Vec::new(),
            secrets,
        })
    }

    /// Where the live container answers: the bind address when it is one address, else
    /// the engine's host (config validation refuses a loopback bind on a remote engine).
    pub(crate) fn live_endpoint(&self, spec: &InstanceSpec) -> Endpoint {
        let bind = self.settings.bind;
        let host = match bind {
            _ if bind.is_unspecified() => hoist_engine::published_host(&spec.host),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Endpoint {
            host,
            port: spec.port,
        }
    }

    pub(crate) async fn logs(
        &self,
        spec: &InstanceSpec,
        role: Role,
        lines: usize,
    ) -> Result<Vec<String>, BackendError> {
        let docker = self.docker(spec).await?;
        let name = container_name(spec, role);
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = docker.logs(&name, Some(options));
        let mut out = Vec::new();
        // Logs of a container that exited are complete; bound the wait anyway.
        let collect = async {
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(output) => out.extend(
                        String::from_utf8_lossy(&output.into_bytes())
                            .lines()
                            .map(str::to_string),
                    ),
                    Err(e) if is_not_found(&e) => break,
                    Err(e) => return Err(engine_error("cannot read the logs of", &name, &e)),
                }
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(5), collect)
            .await
            .unwrap_or(Ok(()))?;
        let skip = out.len().saturating_sub(lines);
        Ok(out.split_off(skip))
    }

    pub(crate) async fn remove(&self, spec: &InstanceSpec, role: Role) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        self.remove_named(&docker, &container_name(spec, role))
            .await
            .map(|_| ())
    }

    /// What stopping the live container will do: the signal the engine sends first, and
    /// whether it runs at all. Removes a stale previous container, which would block the
    /// rename after the stop.
    pub(crate) async fn before_stop(
        &self,
        spec: &InstanceSpec,
    ) -> Result<(String, bool), BackendError> {
        let docker = self.docker(spec).await?;
        self.remove_named(&docker, &container_name(spec, Role::Previous))
            .await?;
        let before = docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error("cannot inspect", &spec.name, &e))?;
        let signal = before
            .config
            .and_then(|c| c.stop_signal)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGTERM".to_string());
        let was_running = before.state.and_then(|s| s.running) == Some(true);
        Ok((signal, was_running))
    }

    /// Stops the live container (the engine sends the stop signal, waits `stop_timeout`,
    /// then kills it) and says how it ended: its exit code and whether the OOM killer
    /// ended it. The caller shows the wait.
    pub(crate) async fn stop_live(
        &self,
        spec: &InstanceSpec,
    ) -> Result<(Option<i64>, bool), BackendError> {
        let docker = self.docker(spec).await?;
        match docker
            .stop_container(
                &spec.name,
                Some(StopContainerOptions {
                    t: Some(self.stop_timeout_secs()),
                    signal: None,
                }),
            )
            .await
        {
            Ok(()) => {}
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(engine_error("cannot stop", &spec.name, &e)),
        }
        let after = docker
            .inspect_container(&spec.name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error("cannot inspect", &spec.name, &e))?
            .state
            .unwrap_or_default();
        Ok((after.exit_code, after.oom_killed == Some(true)))
    }

    /// Keeps the stopped live container as the previous one.
    pub(crate) async fn keep_as_previous(&self, spec: &InstanceSpec) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        self.rename(&docker, &spec.name, &container_name(spec, Role::Previous))
            .await
    }

    pub(crate) async fn restore_previous(&self, spec: &InstanceSpec) -> Result<(), BackendError> {
        let docker = self.docker(spec).await?;
        self.remove_named(&docker, &spec.name).await?;
        self.rename(&docker, &container_name(spec, Role::Previous), &spec.name)
            .await?;
        docker
            .start_container(&spec.name, None::<StartContainerOptions>)
            .await
            .map_err(|e| engine_error("cannot start", &spec.name, &e))
    }
}
