//! hoist's Docker Swarm runtime: each instance is one replicated Swarm service, named after
//! the instance, that Swarm itself rolls out and — when an update fails — rolls back.
//!
//! - [`settings`]: what the config says about services and their updates;
//! - [`spec`]: the service spec an instance should have, as plain data;
//! - [`verdict`]: what a service's tasks say about it, as a pure function;
//! - [`secrets`]: an instance's tenant secrets as Swarm secrets, mounted as files;
//! - [`runtime`]: [`SwarmRuntime`], the I/O behind `hoist_core::Runtime`;
//! - `lock`: the environment lock as a Swarm config object.
//!
//! Services run the release's image id, never a tag: see [`spec::image_reference`].

mod api;
mod lock;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod spec;
pub mod task;
pub mod verdict;

pub use runtime::SwarmRuntime;
pub use settings::{FailureAction, Order, Publish, SwarmSettings, UpdateSettings};
