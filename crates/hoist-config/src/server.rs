//! `[server]`: how `hoist serve` listens, runs jobs and checks webhooks.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"           # default; the address hoist serve listens on
//! workers = 2                         # default 2, at least 1: jobs run at once (one per environment)
//! max_body = 1048576                  # default 1 MiB: larger webhook and API bodies are refused (413)
//! shutdown_grace = "10m"              # default: how long a stop waits for running jobs
//! work_dir = ".hoist/work"            # default: where pushed commits are fetched, beside hoist.toml
//! app_config = "hoist.toml"           # default: the app's hoist.toml inside a fetched repository
//! github_secret_env = "HOIST_GITHUB_SECRET"        # the variable holding GitHub's webhook secret
//! gitlab_token_env = "HOIST_GITLAB_TOKEN"          # the variable holding GitLab's secret token
//! gitlab_signing_token_env = "HOIST_GITLAB_SIGNING" # optional: GitLab's signing token
//! ```
//!
//! Like the notifiers' keys, the webhook secrets are named by the environment variable
//! that holds them: `hoist.toml` is committed, so it never holds a credential.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// Address `hoist serve` listens on when neither `listen` nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Jobs run at once when `workers` is not set.
pub const DEFAULT_WORKERS: usize = 2;
/// Largest request body accepted when `max_body` is not set (GitHub caps payloads at
/// 25 MB, but a push payload is a few kB).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// How long a stop waits for running jobs when `shutdown_grace` is not set.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(600);

/// `[server]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTable {
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    #[serde(default)]
    pub workers: Option<Spanned<usize>>,
    #[serde(default)]
    pub max_body: Option<Spanned<usize>>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub shutdown_grace: Option<Duration>,
    #[serde(default)]
    pub work_dir: Option<PathBuf>,
    #[serde(default)]
    pub app_config: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub github_secret_env: Option<String>,
    #[serde(default)]
    pub gitlab_token_env: Option<String>,
    #[serde(default)]
    pub gitlab_signing_token_env: Option<String>,
}

/// `[server]`, checked, with paths resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub workers: usize,
    pub max_body: usize,
    pub shutdown_grace: Duration,
    pub work_dir: PathBuf,
    /// Relative to a fetched repository's root.
    pub app_config: PathBuf,
    pub github_secret_env: Option<String>,
    pub gitlab_token_env: Option<String>,
    pub gitlab_signing_token_env: Option<String>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write it like \"30s\", \"10m\" or \"1h\""
        ))
    })
}

impl ServerTable {
    pub(crate) fn settings(&self, root: &Path) -> ServerSettings {
        let default_listen = || DEFAULT_LISTEN.parse().expect("the default address parses");
        ServerSettings {
            // Validation refused an address that does not parse.
            listen: self
                .listen
                .as_ref()
                .and_then(|l| l.get_ref().parse().ok())
                .unwrap_or_else(default_listen),
            workers: self
                .workers
                .as_ref()
                .map_or(DEFAULT_WORKERS, |w| *w.get_ref()),
            max_body: self
                .max_body
                .as_ref()
                .map_or(DEFAULT_MAX_BODY, |m| *m.get_ref()),
            shutdown_grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            work_dir: root.join(
                self.work_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".hoist/work")),
            ),
            app_config: self
                .app_config
                .as_ref()
                .map_or_else(|| PathBuf::from("hoist.toml"), |p| p.get_ref().clone()),
            github_secret_env: self.github_secret_env.clone(),
            gitlab_token_env: self.gitlab_token_env.clone(),
            gitlab_signing_token_env: self.gitlab_signing_token_env.clone(),
        }
    }

    pub(crate) fn validate(&self, path: &Path, text: &str, errors: &mut Vec<ConfigError>) {
        let mut fail = |span, key: &str, message: String, help: &str| {
            errors.push(ConfigError::invalid(
                path,
                text,
                span,
                key.to_string(),
                message,
                Some(help.to_string()),
            ));
        };
        if let Some(listen) = &self.listen
            && listen.get_ref().parse::<SocketAddr>().is_err()
        {
            fail(
                listen.span(),
                "server.listen",
                format!("`{}` is not an address to listen on", listen.get_ref()),
                "write an IP address and a port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
            );
        }
        if let Some(workers) = &self.workers
            && *workers.get_ref() == 0
        {
            fail(
                workers.span(),
                "server.workers",
                "workers 0 would never run a job".into(),
                "write 1 or more; the default is 2",
            );
        }
        if let Some(max) = &self.max_body
            && *max.get_ref() < 1024
        {
            fail(
                max.span(),
                "server.max_body",
                format!(
                    "max_body {} is smaller than any push payload",
                    max.get_ref()
                ),
                "write a size in bytes of at least 1024; the default is 1048576 (1 MiB)",
            );
        }
        if let Some(app_config) = &self.app_config {
            let p = app_config.get_ref();
            if p.is_absolute() || p.components().any(|c| c.as_os_str() == "..") {
                fail(
                    app_config.span(),
                    "server.app_config",
                    format!("`{}` is not a path inside the repository", p.display()),
                    "write a relative path without `..`, e.g. \"hoist.toml\" or \"deploy/hoist.toml\"",
                );
            }
        }
    }
}
