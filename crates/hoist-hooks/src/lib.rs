//! Deploy hooks: the commands an app runs around a deploy, e.g. a database migration
//! `before_deploy`, or a cache warm-up or report `after_deploy`.
//!
//! Hooks run with `sh -c` in the app's directory, with hoist's environment plus
//! `HOIST_APP`, `HOIST_VERSION`, `HOIST_ENVIRONMENT`, `HOIST_ACTOR`, `HOIST_HOOK`,
//! `HOIST_IMAGE` (once the release image has a name) and, after a deploy, `HOIST_OUTCOME`
//! (`succeeded` or `failed`). A failing `before_*` hook aborts the release with its exit
//! status and the tail of its output; a hook that outlives its timeout (default 5 minutes)
//! is killed together with every process it started.
//!
//! [`config`] holds the `[hooks]` serde types and is all there is without the default `run`
//! feature, so the config crate can embed them without an async runtime.

pub mod config;
#[cfg(feature = "run")]
mod run;

pub use config::{DEFAULT_TIMEOUT, HookCommand, Hooks, Stage};
#[cfg(feature = "run")]
pub use run::{HookContext, HookError, HookRun, OUTPUT_LINES, Outcome, run_commands};
