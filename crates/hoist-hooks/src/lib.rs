//! Deploy hooks: the commands an app runs around a deploy, e.g. a database migration
//! `before_deploy`, or a cache warm-up or report `after_deploy`.
//!
//! Hooks run with `sh -c` in the app's directory. They do not inherit hoist's environment,
//! which holds hoist's own credentials (notifier keys, registry passwords, tenant secrets):
//! each gets `PATH` and `HOME`, what its table names (`pass_env = ["AWS_PROFILE"]` passes a
//! variable of hoist's on, `env = { RAILS_ENV = "production" }` sets one), and `HOIST_APP`,
//! `HOIST_VERSION`, `HOIST_ENVIRONMENT`, `HOIST_ACTOR`, `HOIST_HOOK`, `HOIST_IMAGE` (once
//! the release image has a name) and, after a deploy, `HOIST_OUTCOME` (`succeeded` or
//! `failed`). Values passed under a credential's name are masked in the output hoist
//! shows. A failing `before_*` hook aborts the release with its exit
//! status and the tail of its output; a hook that outlives its timeout (default 5 minutes)
//! is killed together with every process it started.
//!
//! [`config`] holds the `[hooks]` serde types and is all there is without the default `run`
//! feature, so the config crate can embed them without an async runtime.

pub mod config;
#[cfg(feature = "run")]
mod run;

pub use config::{
    BASE_ENV, DEFAULT_TIMEOUT, HookCommand, Hooks, RESERVED_PREFIX, Stage, is_credential_name,
    url_password,
};
#[cfg(feature = "run")]
pub use run::{HookContext, HookError, HookRun, MASK, OUTPUT_LINES, Outcome, run_commands};
