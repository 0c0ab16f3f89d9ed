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

/// A failure that ends a command, with its exit code: printed on stderr, and under
/// `--json` also as one JSON object on stdout ([`Setup::to_json`]).
pub struct Setup {
    pub code: u8,
    /// For people: may span lines (a config error's source snippet).
    pub message: String,
    /// The places in files the failure is about (every error of a hoist.toml), for
    /// `--json`; empty when it is about no file.
    pub problems: Vec<Problem>,
}

/// One error at a place in a file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub message: String,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The dotted key, e.g. `environments.staging.instances[0].port`.
    pub key: Option<String>,
    /// What would be valid.
    pub help: Option<String>,
}

impl Setup {
    pub fn new(code: u8, message: impl Into<String>) -> Setup {
        Setup {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// `{"error": {"code", "message", "file", "line", "column", "key", "help", "errors"}}`:
    /// the first problem's place (null when there is none) and every problem in `errors`,
    /// so CI can parse every outcome.
    pub fn to_json(&self) -> serde_json::Value {
        let first = self.problems.first();
        let message = match first {
            Some(p) => p.message.clone(),
            None => self
                .message
                .trim()
                .trim_start_matches("error: ")
                .to_string(),
        };
        serde_json::json!({
            "error": {
                "code": self.code,
                "message": message,
                "file": first.map(|p| &p.file),
                "line": first.and_then(|p| p.line),
                "column": first.and_then(|p| p.column),
                "key": first.and_then(|p| p.key.as_ref()),
                "help": first.and_then(|p| p.help.as_ref()),
                "errors": self.problems,
            }
        })
    }
}

impl From<ConfigError> for Setup {
    fn from(e: ConfigError) -> Self {
        let problems = e.errors().into_iter().map(problem).collect();
        // The miette rendering shows each offending line; Display alone is one line.
        let rendered = format!("{:?}", miette::Report::new(e));
        Setup {
            problems,
            ..Setup::new(crate::exit::BAD_INPUT, rendered)
        }
    }
}

fn problem(e: &ConfigError) -> Problem {
    match e {
        ConfigError::Invalid {
            path,
            line,
            column,
            key,
            message,
            help,
            ..
        } => Problem {
            message: message.clone(),
            file: path.display().to_string(),
            line: Some(*line),
            column: Some(*column),
            key: Some(key.clone()),
            help: help.clone(),
        },
        ConfigError::Read { path, source } => Problem {
            message: format!("cannot read {}: {source}", path.display()),
            file: path.display().to_string(),
            line: None,
            column: None,
            key: None,
            help: Some(
                "pass the file with --config, or run `hoist init` to write a starter".into(),
            ),
        },
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
        Setup::new(code, e.to_string())
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

/// The directory name, as a default app name for `hoist init`: lowercase, other
/// characters than letters, digits, `-` and `_` replaced by `-`, starting and ending with a
/// letter or digit (`.My App` gives `my-app`).
pub fn dir_name(path: &Path) -> String {
    let name: String = std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "app".to_string()
    } else {
        name.to_string()
    }
}
