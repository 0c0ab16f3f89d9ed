//! The CLI's side of the wiring: global flags become [`hoist_app::Overrides`], and wiring
//! failures become exit codes.

use std::path::Path;
use std::sync::Arc;

pub use hoist_app::Notifications;
use hoist_app::{Overrides, WiringError};
use hoist_config::{ConfigError, Settings};
use hoist_core::pipeline::Deployer;
use hoist_core::{EventSink, Store};

use crate::cli::Global;

/// A failure before the pipeline starts, with its exit code.
pub struct Setup {
    pub code: u8,
    pub message: String,
}

impl From<ConfigError> for Setup {
    fn from(e: ConfigError) -> Self {
        // The miette rendering shows the offending line; Display alone is one line.
        let rendered = format!("{:?}", miette::Report::new(e));
        Setup {
            code: crate::exit::BAD_INPUT,
            message: rendered,
        }
    }
}

pub fn load_config(global: &Global) -> Result<Arc<Settings>, Setup> {
    registered(hoist_config::load(&global.config)?)
}

/// [`load_config`] for the commands that build (plan, build, deploy, release): the
/// Dockerfiles and the build context must exist too, so a missing one is a config error
/// (exit 2) before anything is built.
pub fn load_config_for_build(global: &Global) -> Result<Arc<Settings>, Setup> {
    registered(hoist_config::load_for_build(&global.config)?)
}

fn registered(config: Settings) -> Result<Arc<Settings>, Setup> {
    crate::redact::register_config(&config);
    Ok(Arc::new(config))
}

/// What the global flags override in the wiring.
pub fn overrides(global: &Global, notifications: Notifications) -> Overrides {
    Overrides {
        state: global.state.clone(),
        in_memory_state: false,
        build_host: global.build_host.clone(),
        actor: global.actor.clone(),
        notifications,
    }
}

pub fn open_store(global: &Global, config: &Settings) -> Result<Arc<dyn Store>, Setup> {
    hoist_app::open_store(config, &overrides(global, Notifications::Off)).map_err(Setup::from)
}

impl From<WiringError> for Setup {
    fn from(e: WiringError) -> Self {
        let code = match e {
            WiringError::Config(_) => crate::exit::BAD_INPUT,
            WiringError::Unavailable(_) => crate::exit::FAILED,
        };
        Setup {
            code,
            message: e.to_string(),
        }
    }
}

/// The full set of real components for `config`, through the one wiring.
pub async fn deployer(
    global: &Global,
    config: Arc<Settings>,
    events: EventSink,
    notifications: Notifications,
) -> Result<Deployer, Setup> {
    Ok(hoist_app::deployer(config, &overrides(global, notifications), events).await?)
}

/// The directory name, as a default app name for `hoist init`.
pub fn dir_name(path: &Path) -> String {
    std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .unwrap_or_else(|| "app".to_string())
}
