//! `[hosts.NAME]`: remote Docker engines by name, with what reaching them needs.
//!
//! ```toml
//! [hosts.web1]
//! address = "tcp://10.0.0.5:2376"
//! cert_path = "/etc/hoist/certs/web1"  # ca.pem, cert.pem and key.pem (Docker's
//!                                      # DOCKER_CERT_PATH layout): TLS, client certificate
//!
//! [hosts.web2]
//! address = "ssh://deploy@10.0.0.6"
//! ssh_config = "deploy/ssh_config"   # optional `ssh -F` file: key, known hosts, jump host
//!
//! [[environments.production.instances]]
//! tenant = "clinic-a"
//! host = "web1"                  # a name of [hosts], or an address as before
//! ```
//!
//! Paths only, never key material: relative paths are relative to the directory holding
//! `hoist.toml`. An instance may name a host or write its address; either way the engine
//! is the address, and its options are found by address when hoist connects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// `[hosts.NAME]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTable {
    pub address: Spanned<String>,
    #[serde(default)]
    pub cert_path: Option<Spanned<String>>,
    #[serde(default)]
    pub ssh_config: Option<Spanned<String>>,
}

/// One `[hosts.NAME]`, checked, with its paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// `tcp://HOST:PORT`, `ssh://[user@]HOST[:PORT]` or `unix:///PATH`.
    pub address: String,
    /// Directory of `ca.pem`, `cert.pem` and `key.pem`, for a `tcp://` engine over TLS.
    pub cert_path: Option<PathBuf>,
    /// An ssh config file for an `ssh://` engine.
    pub ssh_config: Option<PathBuf>,
}

pub(crate) type Hosts = BTreeMap<String, Spanned<HostTable>>;

/// The engine address `host` means: a `[hosts]` name's address, else `host` itself.
pub(crate) fn resolve(hosts: &Hosts, host: &str) -> String {
    hosts.get(host).map_or_else(
        || host.to_string(),
        |h| h.get_ref().address.get_ref().clone(),
    )
}

/// Every table, span-free.
pub(crate) fn settings(hosts: &Hosts, root: &Path) -> BTreeMap<String, HostSettings> {
    hosts
        .iter()
        .map(|(name, table)| {
            let table = table.get_ref();
            let path = |p: &Option<Spanned<String>>| p.as_ref().map(|p| root.join(p.get_ref()));
            (
                name.clone(),
                HostSettings {
                    address: table.address.get_ref().clone(),
                    cert_path: path(&table.cert_path),
                    ssh_config: path(&table.ssh_config),
                },
            )
        })
        .collect()
}

/// Why `address` is not an engine address hoist can reach, if it is not.
pub(crate) fn address_problem(address: &str) -> Option<String> {
    if let Some(path) = address.strip_prefix("unix://") {
        return (!path.starts_with('/'))
            .then(|| format!("`{address}` is not a socket path; write unix:///PATH"));
    }
    for scheme in ["tcp://", "ssh://"] {
        if let Some(rest) = address.strip_prefix(scheme) {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            return if host.is_empty() || host.starts_with(':') {
                Some(format!("`{address}` has no host"))
            } else if rest.contains('/') {
                Some(format!("`{address}` has a path after the host"))
            } else if scheme == "tcp://" && rest.contains('@') {
                Some(format!(
                    "`{address}` has a user; only ssh:// addresses take one"
                ))
            } else {
                None
            };
        }
    }
    Some(format!("`{address}` is not a Docker engine address"))
}

/// Adds a problem for each table that cannot work.
pub(crate) fn validate(hosts: &Hosts, path: &Path, text: &str, errors: &mut Vec<ConfigError>) {
    let mut by_address: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, table) in hosts {
        let table = table.get_ref();
        let key = |field: &str| format!("hosts.{name}.{field}");
        let address = table.address.get_ref();
        let fail = |span, field: &str, message: String, help: &str| {
            ConfigError::invalid(path, text, span, key(field), message, Some(help.into()))
        };
        if let Some(problem) = address_problem(address) {
            errors.push(fail(
                table.address.span(),
                "address",
                problem,
                "write tcp://HOST:PORT (TLS with cert_path) or ssh://[USER@]HOST[:PORT]",
            ));
            continue;
        }
        if let Some(other) = by_address.insert(address.trim_end_matches('/'), name) {
            errors.push(fail(
                table.address.span(),
                "address",
                format!("hosts.{other} has the same address `{address}`"),
                "name each engine once; instances can share a host name",
            ));
        }
        for (field, value, scheme, what) in [
            (
                "cert_path",
                &table.cert_path,
                "tcp://",
                "a directory holding ca.pem, cert.pem and key.pem",
            ),
            (
                "ssh_config",
                &table.ssh_config,
                "ssh://",
                "an ssh config file (ssh -F)",
            ),
        ] {
            let Some(value) = value else { continue };
            if !address.starts_with(scheme) {
                errors.push(fail(
                    value.span(),
                    field,
                    format!(
                        "`{field}` applies to {scheme} engines only, and `{address}` is not one"
                    ),
                    &format!("remove the key, or give an {scheme} address"),
                ));
            } else if value.get_ref().contains("-----BEGIN") || value.get_ref().is_empty() {
                errors.push(fail(
                    value.span(),
                    field,
                    format!("`{field}` must be the path of {what}, not its content"),
                    "write a path (relative to hoist.toml's directory); keep key material in files outside the config",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_every_kind_are_accepted() {
        for ok in [
            "unix:///var/run/docker.sock",
            "tcp://10.0.0.5:2376",
            "ssh://deploy@web1",
            "ssh://web1:2222/",
        ] {
            assert_eq!(address_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn bad_addresses_say_why() {
        for (bad, says) in [
            ("web1", "is not a Docker engine address"),
            ("ssh://deploy@", "has no host"),
            ("tcp://:2376", "has no host"),
            ("ssh://web1/var/run/docker.sock", "has a path"),
            ("tcp://me@web1:2376", "only ssh://"),
            ("unix://docker.sock", "not a socket path"),
        ] {
            let problem = address_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
    }
}
