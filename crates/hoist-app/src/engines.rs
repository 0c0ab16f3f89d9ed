//! The Docker engines of a config: one set of connections (with each `[hosts.NAME]`'s TLS
//! or ssh options) shared by the builder, the Docker and Swarm runtimes and the pruner, and
//! how a release's image reaches an engine other than the build engine.

use std::sync::Arc;

use bollard::auth::DockerCredentials;
use hoist_config::Settings;
use hoist_engine::{
    EngineOptions, EngineTransfer, Engines, HostOptions, ImageDelivery, RegistryPull,
};

/// Connections for every engine `config` names, made on first use.
pub(crate) fn engines(config: &Settings) -> Engines {
    let mut hosts = HostOptions::default();
    for host in config.hosts.values() {
        hosts.insert(
            &host.address,
            EngineOptions {
                cert_path: host.cert_path.clone(),
                ssh_config: host.ssh_config.clone(),
            },
        );
    }
    Engines::new(hosts)
}

/// **The image-delivery seam.** How a release's image gets onto an instance's engine:
/// without a registry, copied engine to engine from `build_host`; with one (`registry`
/// holds its credentials as the engine wants them, `None` for anonymous pulls), every
/// engine pulls the release by digest, and releases recorded before they had a digest
/// are still copied.
pub(crate) fn image_delivery(
    build_host: &str,
    engines: &Engines,
    registry: Option<Option<DockerCredentials>>,
) -> Arc<dyn ImageDelivery> {
    let transfer = EngineTransfer::new(build_host, engines.clone());
    match registry {
        Some(credentials) => Arc::new(RegistryPull::new(credentials, transfer)),
        None => Arc::new(transfer),
    }
}
