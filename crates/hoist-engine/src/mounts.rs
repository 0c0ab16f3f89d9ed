//! An instance's volumes as the engine's API takes them, for a container's
//! `HostConfig.Mounts` and a Swarm service's `ContainerSpec.Mounts` alike.

use bollard::models::{Mount as EngineMount, MountType};
use hoist_core::runtime::{Mount, MountSource};

/// `volumes` as engine mounts: a named volume (which the engine creates the first time a
/// container mounts it) or a bind mount of a host path (which must exist on the engine's
/// host: unlike `docker run -v`, the Mounts API does not create it).
pub fn engine_mounts(volumes: &[Mount]) -> Vec<EngineMount> {
    volumes
        .iter()
        .map(|mount| EngineMount {
            target: Some(mount.target.clone()),
            source: Some(mount.source_text().to_string()),
            typ: Some(match mount.source {
                MountSource::Volume(_) => MountType::VOLUME,
                MountSource::Bind(_) => MountType::BIND,
            }),
            read_only: Some(mount.read_only),
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_host_paths_become_typed_mounts() {
        let mounts = engine_mounts(&[
            Mount {
                source: MountSource::Volume("clinic-north-data".into()),
                target: "/data".into(),
                read_only: false,
            },
            Mount {
                source: MountSource::Bind("/srv/north/config".into()),
                target: "/config".into(),
                read_only: true,
            },
        ]);
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[0].source.as_deref(), Some("clinic-north-data"));
        assert_eq!(mounts[0].target.as_deref(), Some("/data"));
        assert_eq!(mounts[0].read_only, Some(false));
        assert_eq!(mounts[1].typ, Some(MountType::BIND));
        assert_eq!(mounts[1].source.as_deref(), Some("/srv/north/config"));
        assert_eq!(mounts[1].read_only, Some(true));
    }
}
