//! hoist's domain and its deploy pipeline.
//!
//! This crate knows *what* a deploy is — a [`Release`] built from a git revision, rolled out
//! to every [`InstanceSpec`] of an environment, each verified — but not *how* images are built
//! or instances changed: those are the [`Builder`], [`Runtime`] and [`Prober`] traits, which
//! `hoist-build` and the `hoist-runtime-*` crates implement, and [`Store`],
//! which `hoist-store` implements in SQLite. Stages never print: they emit [`Event`]s that
//! the CLI renders, so every stage is testable without a terminal.

pub mod backend;
pub mod error_chain;
pub mod events;
pub mod fingerprint;
pub mod interrupt;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod plan;
pub mod prune;
pub mod release;
pub mod runtime;
pub mod spec_digest;
pub mod store;
pub mod target_lock;
pub mod task;
pub mod tokens;
pub mod verify;
pub mod version;

pub use backend::{BuildContext, BuildRequest, Builder, Endpoint, Prober};
pub use events::{Event, EventKind, EventSink, InstanceState, Stage};
pub use fingerprint::Fingerprint;
pub use interrupt::{Interrupt, StopSignal};
pub use notify::{Notice, Notifier};
pub use release::{Release, labels};
pub use runtime::{InstanceSpec, Runtime};
pub use store::{Store, StoreError};
pub use verify::{Expectation, Observation, Verdict};
