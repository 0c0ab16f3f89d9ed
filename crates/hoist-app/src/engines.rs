//! The Docker engines of a config: one set of connections (with each `[hosts.NAME]`'s TLS
//! or ssh options) shared by the builder, the Docker and Swarm runtimes and the pruner, and
//! how a release's image reaches an engine other than the build engine.

use std::sync::Arc;

use hoist_config::Settings;
use hoist_engine::{EngineOptions, EngineTransfer, Engines, HostOptions, ImageDelivery};

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

/// **The image-delivery seam.** How a release's image gets onto an instance's engine when
/// that is not the build engine: copied engine to engine from `build_host` (no registry
/// needed). A registry's pull by digest is the other implementation of
/// [`ImageDelivery`], chosen here when the config has a registry.
pub(crate) fn image_delivery(build_host: &str, engines: &Engines) -> Arc<dyn ImageDelivery> {
    Arc::new(EngineTransfer::new(build_host, engines.clone()))
}
