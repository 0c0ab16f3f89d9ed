//! The seams between the pipeline and the outside world. Implementations live in other
//! crates (`hoist-build`, `hoist-deploy`); tests can substitute their own.
//!
//! The traits expose *primitive* operations (start a container, rename it, read its logs);
//! the rollout's state machine, its polling and its timeouts live once, in
//! [`crate::pipeline`], for every kind of target.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;

use crate::{EventSink, Release};

/// A failure reported by a builder, target or prober, with the output that explains it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub message: String,
    /// Last lines of build output or container logs, oldest first.
    pub log_tail: Vec<String>,
}

impl BackendError {
    pub fn new(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            log_tail: Vec::new(),
        }
    }
    pub fn with_log(mut self, log_tail: Vec<String>) -> Self {
        self.log_tail = log_tail;
        self
    }
}

/// What is sent to the engine as the build context.
#[derive(Debug, Clone)]
pub enum BuildContext {
    /// A directory, filtered by its `.dockerignore`.
    Directory { root: PathBuf },
    /// Exactly these files (relative to `root`) and nothing else. The base image is built
    /// from its fingerprinted inputs only, so it cannot depend on a file the fingerprint
    /// does not cover.
    Files { root: PathBuf, files: Vec<PathBuf> },
}

#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub context: BuildContext,
    /// The Dockerfile, wherever it is; it is sent with the context.
    pub dockerfile: PathBuf,
    pub tag: String,
    pub args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub platform: String,
    /// Ignore the engine's layer cache (benchmarks of a cold build use it).
    pub no_cache: bool,
}

/// Builds images and answers whether one exists.
#[async_trait]
pub trait Builder: Send + Sync {
    /// The image id of `reference`, or `None` if the engine does not have it.
    async fn image_id(&self, reference: &str) -> Result<Option<String>, BackendError>;
    /// Builds and tags an image, streaming its output as [`crate::Event::BuildOutput`].
    /// Returns the image id. On failure the error carries the last lines of output.
    async fn build(
        &self,
        request: &BuildRequest,
        events: &EventSink,
    ) -> Result<String, BackendError>;
}

/// One tenant's running copy of the app, as a target sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSpec {
    pub app: String,
    pub environment: String,
    pub tenant: String,
    /// Docker engine address.
    pub host: String,
    pub container: String,
    /// Published host port.
    pub port: u16,
    /// Port the app listens on in the container.
    pub container_port: u16,
    pub env: BTreeMap<String, String>,
    pub health_path: String,
    pub version_path: Option<String>,
}

/// The part a container plays in an instance's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The container serving the instance's published port.
    Live,
    /// A new container on a private port, verified before anything is switched.
    Candidate,
    /// The old live container, stopped and kept until the new one is verified.
    Previous,
}

/// What a target found for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ContainerState {
    Missing,
    Running {
        image_id: String,
        release: Option<String>,
    },
    Exited {
        image_id: String,
        release: Option<String>,
        exit_code: i64,
    },
}

impl ContainerState {
    pub fn image_id(&self) -> Option<&str> {
        match self {
            ContainerState::Missing => None,
            ContainerState::Running { image_id, .. } | ContainerState::Exited { image_id, .. } => {
                Some(image_id)
            }
        }
    }
    pub fn release(&self) -> Option<&str> {
        match self {
            ContainerState::Missing => None,
            ContainerState::Running { release, .. } | ContainerState::Exited { release, .. } => {
                release.as_deref()
            }
        }
    }
    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running { .. })
    }
}

/// Where an instance's HTTP endpoints answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{}", self.host, self.port, path)
    }
}

/// Runs an app's containers. All operations are idempotent where they can be, so that a
/// rollout interrupted at any point can be recovered.
#[async_trait]
pub trait Target: Send + Sync {
    /// Puts the instance back in a known state after an interrupted rollout: a leftover
    /// candidate is removed; a previous container with no live one is made live again.
    /// Returns what was done, for the log.
    async fn recover(&self, instance: &InstanceSpec) -> Result<Vec<String>, BackendError>;
    async fn inspect(
        &self,
        instance: &InstanceSpec,
        role: Role,
    ) -> Result<ContainerState, BackendError>;
    /// Creates and starts a container of `release` in `role` (candidate or live), with the
    /// instance's env, labels and port, and returns where it answers.
    async fn start(
        &self,
        instance: &InstanceSpec,
        role: Role,
        release: &Release,
    ) -> Result<Endpoint, BackendError>;
    /// Where the live container answers (the published port).
    fn live_endpoint(&self, instance: &InstanceSpec) -> Endpoint;
    /// Last `lines` lines of a container's output.
    async fn logs(
        &self,
        instance: &InstanceSpec,
        role: Role,
        lines: usize,
    ) -> Result<Vec<String>, BackendError>;
    /// Stops and removes a container; no error if it does not exist.
    async fn remove(&self, instance: &InstanceSpec, role: Role) -> Result<(), BackendError>;
    /// Stops the live container and keeps it as the previous one, freeing the port.
    async fn demote_live(&self, instance: &InstanceSpec) -> Result<(), BackendError>;
    /// Makes the previous container live again and starts it.
    async fn restore_previous(&self, instance: &InstanceSpec) -> Result<(), BackendError>;
}

/// The answer to one HTTP GET: status and body, or why there was none.
pub type ProbeResult = Result<(u16, String), String>;

/// Asks an instance's HTTP endpoints.
#[async_trait]
pub trait Prober: Send + Sync {
    async fn get(&self, endpoint: &Endpoint, path: &str) -> ProbeResult;
}
