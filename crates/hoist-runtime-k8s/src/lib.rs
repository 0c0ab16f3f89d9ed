//! hoist's Kubernetes runtime: each instance is a Deployment that already exists in the
//! cluster (the cluster's manifests own it); hoist sets one container's image to the
//! release's digest and judges the rollout as `kubectl rollout status` does.
//!
//! - [`settings`]: the cluster, and each instance's namespace, Deployment and container;
//! - [`patch`]: the strategic-merge patch hoist sends, as plain data;
//! - [`verdict`]: has the Deployment rolled out the release, as a pure function;
//! - [`job`]: the Job that runs a release task, and its outcome, as plain data;
//! - `task`: a release task's run (create the Job, wait, read its pod, delete it);
//! - [`api`]: the API calls, with errors that name the namespace and Deployment;
//! - [`runtime`]: [`KubernetesRuntime`], the I/O behind `hoist_core::Runtime`;
//! - `lock`: the environment lock in the cluster.

pub mod api;
pub mod job;
mod lock;
pub mod patch;
pub mod runtime;
pub mod settings;
mod task;
pub mod verdict;

pub use runtime::KubernetesRuntime;
pub use settings::KubernetesSettings;
