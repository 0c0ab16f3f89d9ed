//! `[registry]`: the OCI registry release and base images go through.
//!
//! ```toml
//! [registry]
//! image = "registry.example.com/clinic/app"   # required: host/path of release images
//! username = "ci"                              # or { env = "..." } / { file = "..." }
//! password = { env = "REGISTRY_PASSWORD" }     # never a literal: { env }, { file } or { command }
//! ca_file = "certs/registry-ca.pem"            # a private CA, relative to hoist.toml
//! insecure = false                             # plain HTTP; only for a registry you mark so
//! ```
//!
//! Without `username`/`password`, credentials come from Docker's config file
//! (`auths`, `credsStore`, `credHelpers`) or `HOIST_REGISTRY_USERNAME`/`_PASSWORD`.

use std::path::{Path, PathBuf};

use hoist_secrets::{SecretSource, SecretTable};
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// `[registry]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryTable {
    pub image: Spanned<String>,
    #[serde(default)]
    pub username: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub password: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub insecure: bool,
}

/// Where a credential's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialValue {
    /// Written in `hoist.toml` (a username only: it is not a secret).
    Literal(String),
    Secret(SecretSource),
}

/// `[registry]`, checked and span-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// `host[:port]`, the first part of `image`.
    pub host: String,
    /// Release images' repository, `host/path`.
    pub image: String,
    /// Base images' repository: `<image>-base`, on the same registry so that base layers
    /// are mounted into the app's repository rather than copied.
    pub base: String,
    pub username: Option<CredentialValue>,
    pub password: Option<SecretSource>,
    /// Resolved against the directory holding `hoist.toml`.
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
}

/// The registry host of `image`, when its first part names one (has `.` or `:`, or is
/// `localhost`), as Docker decides.
fn host_of(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost"))
        .then_some(first)
}

fn valid_repository(image: &str) -> bool {
    let Some(host) = host_of(image) else {
        return false;
    };
    let path = &image[host.len() + 1..];
    path.split('/').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    })
}

impl RegistryTable {
    fn base(&self) -> String {
        format!("{}-base", self.image.get_ref())
    }

    /// The settings; call after [`RegistryTable::validate`] found nothing.
    pub(crate) fn settings(&self, root: &Path) -> RegistrySettings {
        let image = self.image.get_ref().clone();
        let secret = |value: &Spanned<toml::Value>| -> Option<SecretSource> {
            let table: SecretTable = value.get_ref().clone().try_into().ok()?;
            table.source(root).ok()
        };
        RegistrySettings {
            host: host_of(&image).unwrap_or_default().to_string(),
            base: self.base(),
            username: self.username.as_ref().and_then(|u| match u.get_ref() {
                toml::Value::String(s) => Some(CredentialValue::Literal(s.clone())),
                _ => secret(u).map(CredentialValue::Secret),
            }),
            password: self.password.as_ref().and_then(secret),
            ca_file: self.ca_file.as_ref().map(|f| root.join(f.get_ref())),
            insecure: self.insecure,
            image,
        }
    }

    /// Adds a problem for each key that cannot work.
    pub(crate) fn validate(
        &self,
        path: &Path,
        text: &str,
        root: &Path,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut fail = |span: std::ops::Range<usize>, key: &str, message: String, help: &str| {
            errors.push(ConfigError::invalid(
                path,
                text,
                span,
                key.to_string(),
                message,
                Some(help.to_string()),
            ))
        };
        let image = self.image.get_ref();
        if !valid_repository(image) {
            fail(
                self.image.span(),
                "registry.image",
                format!("`{image}` does not name a registry host and a repository path"),
                "write host[:port]/path in lowercase, e.g. \"registry.example.com/clinic/app\" or \"127.0.0.1:5000/clinic\"",
            );
        }
        let secret_help = "write { env = \"REGISTRY_PASSWORD\" }, { file = \"/run/secrets/registry\" } or { command = [...] }; hoist.toml is committed";
        for (key, value, literal_ok) in [
            ("registry.username", &self.username, true),
            ("registry.password", &self.password, false),
        ] {
            let Some(value) = value else { continue };
            match value.get_ref() {
                toml::Value::String(_) if literal_ok => {}
                toml::Value::String(_) => fail(
                    value.span(),
                    key,
                    "a password written in hoist.toml would be committed with it".into(),
                    secret_help,
                ),
                other => match other.clone().try_into::<SecretTable>() {
                    Ok(table) => {
                        if let Err(problem) = table.source(root) {
                            fail(value.span(), key, problem.message, &problem.help);
                        }
                    }
                    Err(e) => fail(
                        value.span(),
                        key,
                        format!("not a secret reference: {}", e.message()),
                        secret_help,
                    ),
                },
            }
        }
        if self.password.is_some() != self.username.is_some() {
            let span = self
                .username
                .as_ref()
                .map(|u| u.span())
                .or_else(|| self.password.as_ref().map(|p| p.span()))
                .unwrap_or_else(|| self.image.span());
            fail(
                span,
                "registry.username",
                "`username` and `password` go together".into(),
                "set both, or neither to use Docker's config file (docker login, credHelpers)",
            );
        }
        if let Some(ca) = &self.ca_file {
            if self.insecure {
                fail(
                    ca.span(),
                    "registry.ca_file",
                    "a CA file and `insecure = true` contradict each other".into(),
                    "remove `insecure` to use HTTPS with this CA, or remove `ca_file`",
                );
            } else if !root.join(ca.get_ref()).is_file() {
                fail(
                    ca.span(),
                    "registry.ca_file",
                    format!("{} is not a file", root.join(ca.get_ref()).display()),
                    "give the PEM file of the CA that signed the registry's certificate, relative to hoist.toml",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_docker_reads_them() {
        assert_eq!(
            host_of("registry.example.com/clinic/app"),
            Some("registry.example.com")
        );
        assert_eq!(host_of("127.0.0.1:5000/app"), Some("127.0.0.1:5000"));
        assert_eq!(host_of("localhost/app"), Some("localhost"));
        assert_eq!(host_of("clinic/app"), None);
        assert_eq!(host_of("clinic"), None);
        assert!(!valid_repository("ghcr.io/Acme/app"));
        assert!(valid_repository("ghcr.io/acme/app"));
    }
}
