//! Where releases run. [`DockerTarget`] runs each instance as a container on a Docker
//! engine; [`HttpProber`] asks its health and version endpoints.

mod docker;
mod probe;

pub use docker::DockerTarget;
pub use probe::HttpProber;
