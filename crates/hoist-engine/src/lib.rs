//! Connections to Docker engines, one per address, negotiated down to the engine's API
//! version (Debian's Docker 20.10 speaks 1.41; bollard defaults to newer): the local
//! socket, `tcp://` (plain, or TLS with a client certificate as Docker does it) and
//! `ssh://` (through `docker system dial-stdio` on the remote side). [`ImageDelivery`]
//! puts a release's image on the engine that runs it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use hoist_core::backend::BackendError;
use tokio::sync::Mutex;

mod delivery;
mod endpoint;
mod mounts;
mod ssh;

pub use delivery::{EngineTransfer, ImageDelivery, RegistryPull, copy_image, pull};
pub use endpoint::{EngineOptions, HostOptions, TLS_FILES};
pub use mounts::engine_mounts;
pub use ssh::SshDestination;

/// Request timeout for engine calls, in seconds. Builds stream for longer than any single
/// read, so this bounds silence, not build time.
const TIMEOUT_SECS: u64 = 600;

/// How long a new connection has to answer its first request (the version negotiation):
/// an unreachable or silent engine fails after this, not after [`TIMEOUT_SECS`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connects to `address` (`unix:///path`, `tcp://host:port` or `ssh://[user@]host[:port]`)
/// with no configured options: a `tcp://` engine is reached over TLS when Docker's
/// `DOCKER_TLS_VERIFY` is set (see [`HostOptions::for_address`]).
pub async fn connect(address: &str) -> Result<Docker, BackendError> {
    connect_with(address, &HostOptions::default().for_address(address)).await
}

/// Connects to `address` with `options` (its TLS client certificate or ssh config).
pub async fn connect_with(address: &str, options: &EngineOptions) -> Result<Docker, BackendError> {
    let docker = if address.starts_with("unix://") {
        Docker::connect_with_socket(address, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if let Some(rest) = address.strip_prefix("tcp://") {
        match &options.cert_path {
            Some(dir) => {
                let [ca, cert, key] = endpoint::tls_files(address, dir)?;
                // bollard's TLS client builds a rustls config from the process's provider;
                // the workspace's rustls is on aws-lc-rs. Installing twice is harmless.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                Docker::connect_with_ssl(
                    &format!("https://{rest}"),
                    &key,
                    &cert,
                    &ca,
                    TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
            }
            None => Docker::connect_with_http(
                &format!("http://{rest}"),
                TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
        }
    } else if address.starts_with("ssh://") {
        let destination = SshDestination::parse(address).map_err(BackendError::new)?;
        ssh::connect(
            address,
            destination,
            options.ssh_config.clone(),
            TIMEOUT_SECS,
        )
    } else {
        return Err(BackendError::new(format!(
            "`{address}` is not a Docker engine address; use unix:///path, tcp://host:port or ssh://[user@]host[:port]"
        )));
    }
    .map_err(|e| {
        BackendError::new(format!(
            "cannot connect to the Docker engine at {address}: {}",
            hoist_core::error_chain::with_causes(&e)
        ))
    })?;
    match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(BackendError::new(format!(
            "the Docker engine at {address} does not answer: {}",
            hoist_core::error_chain::with_causes(&e)
        ))),
        Err(_) => Err(BackendError::new(format!(
            "the Docker engine at {address} did not answer within {}s; check that the host is up and its engine listens there",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Connections by address, made on first use and shared after, each with its
/// [`EngineOptions`] from the configured [`HostOptions`].
#[derive(Clone, Default)]
pub struct Engines {
    by_address: Arc<Mutex<HashMap<String, Docker>>>,
    hosts: Arc<HostOptions>,
}

impl Engines {
    /// Connections made with `hosts`' options.
    pub fn new(hosts: HostOptions) -> Self {
        Engines {
            by_address: Default::default(),
            hosts: Arc::new(hosts),
        }
    }

    pub async fn get(&self, address: &str) -> Result<Docker, BackendError> {
        let mut map = self.by_address.lock().await;
        if let Some(d) = map.get(address) {
            return Ok(d.clone());
        }
        let docker = self.connect_new(address).await?;
        map.insert(address.to_string(), docker.clone());
        Ok(docker)
    }

    /// What reaching `address` takes (its TLS files or ssh config).
    pub fn options(&self, address: &str) -> EngineOptions {
        self.hosts.for_address(address)
    }

    /// A connection of its own, not shared (for work that must not wait behind others).
    pub async fn connect_new(&self, address: &str) -> Result<Docker, BackendError> {
        connect_with(address, &self.hosts.for_address(address)).await
    }
}

/// Whether an engine error is a 404 (no such image or container).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine's message for an error, without bollard's wrapper text; a transport error
/// with its causes (a TLS alert, ssh's words).
pub fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => hoist_core::error_chain::with_causes(other),
    }
}

/// The host part of an engine address, where published ports answer.
pub fn published_host(address: &str) -> String {
    if let Some(rest) = address.strip_prefix("tcp://") {
        return rest.rsplit_once(':').map_or(rest, |(h, _)| h).to_string();
    }
    match SshDestination::parse(address) {
        Ok(destination) if destination.host.contains(':') => format!("[{}]", destination.host),
        Ok(destination) => destination.host,
        Err(_) => "127.0.0.1".to_string(),
    }
}

/// Whether the engine at `address` is on another machine than hoist (its published ports
/// answer on that machine's addresses, not on loopback here).
pub fn is_remote(address: &str) -> bool {
    !address.starts_with("unix://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_answer_on_the_engines_host() {
        assert_eq!(published_host("tcp://10.0.0.5:2376"), "10.0.0.5");
        assert_eq!(published_host("ssh://deploy@web1:2222"), "web1");
        assert_eq!(published_host("ssh://[::1]"), "[::1]");
        assert_eq!(published_host("unix:///var/run/docker.sock"), "127.0.0.1");
    }
}
