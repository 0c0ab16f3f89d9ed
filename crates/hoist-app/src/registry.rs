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

/// The builder for `[registry]`: images on the registry, engine builds on `docker`.
pub async fn builder(
    settings: &RegistrySettings,
    app: &str,
    root: &std::path::Path,
    docker: bollard::Docker,
) -> Result<RegistryBuilder, WiringError> {
    Ok(RegistryBuilder::new(
        docker,
        Arc::new(client(settings, app, root).await?),
    ))
}
