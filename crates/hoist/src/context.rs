//! Wiring: config + real components → a [`Deployer`].

use std::path::Path;
use std::sync::Arc;

use hoist_build::DockerBuilder;
use hoist_config::{Config, ConfigError, LOCAL_DOCKER_HOST};
use hoist_core::pipeline::{Deployer, resolve_actor};
use hoist_core::{EventSink, Store};
use hoist_deploy::{DockerTarget, HttpProber};
use hoist_store::SqliteStore;

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

pub fn load_config(global: &Global) -> Result<Arc<Config>, Setup> {
    Ok(Arc::new(hoist_config::load(&global.config)?))
}

pub fn open_store(global: &Global, config: &Config) -> Result<Arc<dyn Store>, Setup> {
    let path = global.state.clone().unwrap_or_else(|| config.state_path());
    let store = SqliteStore::open(&path).map_err(|e| Setup {
        code: crate::exit::FAILED,
        message: e.to_string(),
    })?;
    Ok(Arc::new(store))
}

/// Whether a command sends notifications. Read-only commands do not, so they need no
/// notifier credentials.
pub enum Notifications {
    On,
    Off,
}

/// The full set of real components for `config`.
pub async fn deployer(
    global: &Global,
    config: Arc<Config>,
    events: EventSink,
    notifications: Notifications,
) -> Result<Deployer, Setup> {
    let notifier: Arc<dyn hoist_core::Notifier> = match notifications {
        // Credentials are checked per environment when it is deployed (exit 2 there).
        Notifications::On => Arc::new(hoist_notify::AppNotifiers::from_config(&config)),
        Notifications::Off => Arc::new(hoist_core::notify::Silent),
    };
    let build_host = global
        .build_host
        .clone()
        .unwrap_or_else(|| LOCAL_DOCKER_HOST.to_string());
    check_single_engine(&config, &build_host)?;
    let builder = DockerBuilder::connect(&build_host)
        .await
        .map_err(|e| Setup {
            code: crate::exit::FAILED,
            message: e.to_string(),
        })?;
    let store = open_store(global, &config)?;
    Ok(Deployer {
        config,
        builder: Arc::new(builder),
        target: Arc::new(DockerTarget::new()),
        prober: Arc::new(HttpProber::default()),
        store,
        notifier,
        events,
        actor: resolve_actor(global.actor.as_deref()),
    })
}

/// Images are built into the build engine's image store and run from there; an instance
/// on another engine would need a registry in between, which hoist does not drive yet.
fn check_single_engine(config: &Config, build_host: &str) -> Result<(), Setup> {
    for (env_name, env) in &config.environments {
        for instance in env.get_ref().instances.get_ref() {
            let host = &instance.get_ref().host;
            if !same_engine(host, build_host) {
                return Err(Setup {
                    code: crate::exit::BAD_INPUT,
                    message: format!(
                        "{}: environments.{env_name} instance `{}` runs on {host}, but images are built on {build_host}; \
                         hoist does not yet push images through a registry, so build on that engine (--build-host {host}) \
                         or run the instance on {build_host}",
                        config.path.display(),
                        instance.get_ref().tenant.get_ref()
                    ),
                });
            }
        }
    }
    Ok(())
}

fn same_engine(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim_end_matches('/')
            .replace("unix:///run/", "unix:///var/run/")
    };
    norm(a) == norm(b)
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
