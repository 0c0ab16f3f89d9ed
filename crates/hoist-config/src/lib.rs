//! `hoist.toml`: the schema of an app's deploy description, its defaults, and validation
//! whose every error names the file, line, column and key, and says what would be valid.
//!
//! Parsing happens in two passes. Serde (with `deny_unknown_fields` everywhere) rejects
//! unknown keys and wrong types, and `serde_path_to_error` tells which key. Then
//! [`validate`] checks what types cannot: unique tenants, ports and names, relative globs,
//! sane durations, runtime settings that work together. Fields that those checks can reject
//! are kept `Spanned`, so their errors can point at the offending text too; the runtime
//! table is resolved into span-free [`RuntimeConfig`] values on the way.

// `ConfigError::Invalid` carries the source text for miette; it is built once per run,
// so its size on the error path does not matter.
#![allow(clippy::result_large_err)]

mod error;
pub mod hosts;
pub mod http;
pub mod kubernetes;
mod load;
mod mask;
mod named_runtimes;
pub mod notify;
pub mod proxy_switch;
pub mod prune;
pub mod registry;
pub(crate) mod release;
pub mod rollout;
pub mod runtime;
mod scan;
mod schema;
mod secrets;
pub mod server;
mod settings;
mod span;
pub mod starter;
pub mod tasks;
mod validate;
pub mod volumes;

pub use error::ConfigError;
pub use hosts::HostSettings;
pub use http::HttpConfig;
pub use kubernetes::KubernetesConfig;
pub use load::{load, load_for_build, parse};
pub use proxy_switch::{DockerSwitch, ProxySwitch};
pub use prune::PruneSettings;
pub use registry::RegistrySettings;
pub use rollout::{BatchSize, OnFailure, WaveSettings};
pub use runtime::{
    DockerConfig, FailureAction, PublishMode, RuntimeConfig, RuntimeKind, SwarmConfig,
    UpdateConfig, UpdateOrder,
};
pub use server::ServerSettings;
pub use tasks::TaskSettings;
pub use volumes::{Mount, MountSource};
// The raw, spanned schema stays inside this crate: consumers get [`Settings`].
pub(crate) use schema::Config;
pub use schema::{LOCAL_DOCKER_HOST, SecretScan, default_platform};
pub use settings::{
    AppSettings, BuildSettings, EnvironmentSettings, InstanceSettings, RolloutSettings, Settings,
};
