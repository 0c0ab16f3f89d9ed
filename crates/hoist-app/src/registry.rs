//! `[registry]` wiring: the registry client with its credentials, and the builder that
//! keeps images there.
//!
//! Credentials, first found wins: `[registry] username`/`password` (secret references read
//! now), then `HOIST_REGISTRY_USERNAME`/`HOIST_REGISTRY_PASSWORD`, then Docker's config
//! file (`auths`, `credsStore`, `credHelpers`).

use std::sync::Arc;

use hoist_build::RegistryBuilder;
use hoist_config::RegistrySettings;
use hoist_config::registry::CredentialValue;
use hoist_registry::{Client, ClientOptions, Credentials};
use hoist_secrets::Resolver;

use crate::WiringError;

/// The variables read when hoist.toml names no credentials.
pub const USERNAME_ENV: &str = "HOIST_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "HOIST_REGISTRY_PASSWORD";

/// A client for the configured registry, its credentials read.
pub async fn client(
    settings: &RegistrySettings,
    app: &str,
    root: &std::path::Path,
) -> Result<Client, WiringError> {
    let credentials = credentials(settings, app, root).await?;
    let ca_pem = match &settings.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            WiringError::Unavailable(format!(
                "cannot read the registry CA {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    Client::new(
        &settings.host,
        ClientOptions {
            credentials,
            ca_pem,
            insecure: settings.insecure,
            ..ClientOptions::default()
        },
    )
    .map_err(|e| WiringError::Config(e.to_string()))
}

async fn credentials(
    settings: &RegistrySettings,
    app: &str,
    root: &std::path::Path,
) -> Result<Credentials, WiringError> {
    let mut resolver = Resolver::new(app, root);
    let read = |e: hoist_secrets::SecretError| {
        WiringError::Unavailable(format!("registry credentials: {e}"))
    };
    if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
        let username = match username {
            CredentialValue::Literal(name) => name.clone(),
            CredentialValue::Secret(source) => resolver
                .resolve("registry.username", "", source)
                .await
                .map_err(read)?
                .expose()
                .to_string(),
        };
        let password = resolver
            .resolve("registry.password", "", password)
            .await
            .map_err(read)?;
        return Ok(Credentials::basic(username, password.expose()));
    }
    if let (Ok(username), Ok(password)) = (std::env::var(USERNAME_ENV), std::env::var(PASSWORD_ENV))
    {
        return Ok(Credentials::basic(username, password));
    }
    Credentials::from_docker_config(&settings.host).map_err(|e| WiringError::Config(e.to_string()))
}

/// The builder for `[registry]`: images on `client`'s registry, engine builds on `docker`.
pub fn builder(client: Arc<Client>, docker: bollard::Docker) -> RegistryBuilder {
    RegistryBuilder::new(docker, client)
}

/// The registry client as a prune source (`[prune] registry_tags`): each tag of a
/// repository with the digest of its manifest (a `HEAD` per tag), and deletes by digest.
/// Repositories are named in full (`host/path`), as `[registry] image` writes them.
pub struct RegistryTags(pub Arc<Client>);

impl RegistryTags {
    /// The repository path inside the registry, from `host/path`.
    fn path<'a>(&self, repository: &'a str) -> &'a str {
        repository
            .strip_prefix(self.0.registry())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(repository)
    }
}

#[async_trait::async_trait]
impl hoist_core::prune::RegistryTagSource for RegistryTags {
    async fn list_tags(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, String)>, hoist_core::backend::BackendError> {
        let path = self.path(repository);
        let error = |e: hoist_registry::RegistryError| {
            hoist_core::backend::BackendError::new(e.to_string())
        };
        let mut tags = Vec::new();
        for tag in self.0.list_tags(path).await.map_err(error)? {
            // A tag deleted meanwhile is simply gone.
            if let Some(digest) = self.0.manifest_digest(path, &tag).await.map_err(error)? {
                tags.push((tag, digest));
            }
        }
        Ok(tags)
    }

    async fn delete_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<(), hoist_core::backend::BackendError> {
        self.0
            .delete_manifest(self.path(repository), digest)
            .await
            .map_err(|e| hoist_core::backend::BackendError::new(e.to_string()))
    }
}
