//! Connections to Docker engines, one per address, negotiated down to the engine's API
//! version (Debian's Docker 20.10 speaks 1.41; bollard defaults to newer).

use std::collections::HashMap;
use std::sync::Arc;

use bollard::Docker;
use hoist_core::backend::BackendError;
use tokio::sync::Mutex;

/// Request timeout for engine calls, in seconds. Builds stream for longer than any single
/// read, so this bounds silence, not build time.
const TIMEOUT_SECS: u64 = 600;

/// Connects to `address` (`unix:///path` or `tcp://host:port`).
pub async fn connect(address: &str) -> Result<Docker, BackendError> {
    let docker = if address.starts_with("unix://") {
        Docker::connect_with_socket(address, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if let Some(rest) = address.strip_prefix("tcp://") {
        Docker::connect_with_http(
            &format!("http://{rest}"),
            TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
    } else {
        return Err(BackendError::new(format!(
            "`{address}` is not a Docker engine address; use unix:///path or tcp://host:port"
        )));
    }
    .map_err(|e| {
        BackendError::new(format!(
            "cannot connect to the Docker engine at {address}: {e}"
        ))
    })?;
    docker.negotiate_version().await.map_err(|e| {
        BackendError::new(format!(
            "the Docker engine at {address} does not answer: {e}"
        ))
    })
}

/// Connections by address, made on first use and shared after.
#[derive(Clone, Default)]
pub struct Engines {
    by_address: Arc<Mutex<HashMap<String, Docker>>>,
}

impl Engines {
    pub async fn get(&self, address: &str) -> Result<Docker, BackendError> {
        let mut map = self.by_address.lock().await;
        if let Some(d) = map.get(address) {
            return Ok(d.clone());
        }
        let docker = connect(address).await?;
        map.insert(address.to_string(), docker.clone());
        Ok(docker)
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

/// The engine's message for an error, without bollard's wrapper text.
pub fn message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The host part of an engine address, where published ports answer.
pub fn published_host(address: &str) -> String {
    match address.strip_prefix("tcp://") {
        Some(rest) => rest.rsplit_once(':').map_or(rest, |(h, _)| h).to_string(),
        None => "127.0.0.1".to_string(),
    }
}
