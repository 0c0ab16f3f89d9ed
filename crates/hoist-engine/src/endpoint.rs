//! What hoist needs beside an engine's address to reach it: the TLS client certificate of a
//! `tcp://` engine (Docker's `DOCKER_CERT_PATH` layout) or the ssh config of an `ssh://`
//! one. Addresses stay the engines' names everywhere else (instances, locks, prune
//! reports); these options are looked up by address when a connection is made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hoist_core::backend::BackendError;

/// The files of a TLS client, as Docker keeps them in one directory.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// How to reach one engine beyond its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// A directory holding `ca.pem`, `cert.pem` and `key.pem`: a `tcp://` engine is reached
    /// over TLS, checked against `ca.pem`, with `cert.pem`/`key.pem` as the client's.
    pub cert_path: Option<PathBuf>,
    /// An ssh config file (`ssh -F FILE`) for an `ssh://` engine: keys, known hosts,
    /// jump hosts. Without it, ssh reads the user's own config as `DOCKER_HOST=ssh://` does.
    pub ssh_config: Option<PathBuf>,
}

/// Each configured engine's options, by address.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    by_address: HashMap<String, EngineOptions>,
}

impl HostOptions {
    /// Adds `options` for the engine at `address`.
    pub fn insert(&mut self, address: &str, options: EngineOptions) {
        self.by_address.insert(normalize(address), options);
    }

    /// The options for `address`: the configured ones, else Docker's environment for a
    /// `tcp://` engine (`DOCKER_TLS_VERIFY` set: the client certificate in
    /// `DOCKER_CERT_PATH`, default `~/.docker`), else none.
    pub fn for_address(&self, address: &str) -> EngineOptions {
        if let Some(options) = self.by_address.get(&normalize(address)) {
            return options.clone();
        }
        if address.starts_with("tcp://") && tls_verify_from_env() {
            return EngineOptions {
                cert_path: cert_path_from_env(),
                ssh_config: None,
            };
        }
        EngineOptions::default()
    }
}

/// An address as one spelling: a trailing `/` changes nothing.
fn normalize(address: &str) -> String {
    address.trim_end_matches('/').to_string()
}

/// Docker treats any non-empty `DOCKER_TLS_VERIFY` as on.
fn tls_verify_from_env() -> bool {
    std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty())
}

fn cert_path_from_env() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CERT_PATH") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")),
    }
}

/// The three TLS files in `dir`, each checked to exist, so that a missing one is named
/// rather than reported as a handshake failure.
pub(crate) fn tls_files(address: &str, dir: &Path) -> Result<[PathBuf; 3], BackendError> {
    let files = TLS_FILES.map(|name| dir.join(name));
    for file in &files {
        if !file.is_file() {
            return Err(BackendError::new(format!(
                "the Docker engine at {address} needs its TLS client files, but {} does not exist; \
                 put ca.pem, cert.pem and key.pem in {} (Docker's DOCKER_CERT_PATH layout)",
                file.display(),
                dir.display()
            )));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_options_are_found_whatever_the_trailing_slash() {
        let mut hosts = HostOptions::default();
        let options = EngineOptions {
            cert_path: Some("/certs/web1".into()),
            ssh_config: None,
        };
        hosts.insert("tcp://10.0.0.5:2376/", options.clone());
        assert_eq!(hosts.for_address("tcp://10.0.0.5:2376"), options);
        assert_eq!(
            hosts.for_address("unix:///var/run/docker.sock"),
            EngineOptions::default()
        );
    }

    #[test]
    fn a_missing_tls_file_is_named_with_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let err = tls_files("tcp://10.0.0.5:2376", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tcp://10.0.0.5:2376"), "{err}");
        assert!(err.contains("cert.pem"), "{err}");
    }
}
