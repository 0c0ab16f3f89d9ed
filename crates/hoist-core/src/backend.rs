//! The seams to images and endpoints: [`Builder`] (implemented by `hoist-build`) and
//! [`Prober`] (HTTP). Where instances run is [`crate::runtime`]'s seam.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;

use crate::{EventSink, Stage};

/// A failure reported by a builder, runtime or prober, with the output that explains it.
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
    /// Which stage builds it ([`Stage::BaseImage`] or [`Stage::AppImage`]), so its output
    /// is shown under that stage.
    pub stage: Stage,
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
    /// Builds and tags an image, streaming its output as [`crate::EventKind::BuildOutput`].
    /// Returns the image id. On failure the error carries the last lines of output.
    async fn build(
        &self,
        request: &BuildRequest,
        events: &EventSink,
    ) -> Result<String, BackendError>;
    /// Whether `release`'s image can still be deployed, so the release is reused rather
    /// than built again: the engine has it, or (for a builder with a registry) the
    /// registry still holds its digest, which every engine can pull.
    async fn has_release(&self, release: &crate::Release) -> Result<bool, BackendError> {
        Ok(self.image_id(&release.image_id).await?.is_some())
    }
    /// The registry manifest digest `reference` was pushed as, when the builder pushes
    /// to a registry; `None` for images that live only in an engine.
    async fn pushed_digest(&self, _reference: &str) -> Result<Option<String>, BackendError> {
        Ok(None)
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

/// The answer to one HTTP GET: status and body, or why there was none.
pub type ProbeResult = Result<(u16, String), String>;

/// Asks an instance's HTTP endpoints.
#[async_trait]
pub trait Prober: Send + Sync {
    async fn get(&self, endpoint: &Endpoint, path: &str) -> ProbeResult;
}
