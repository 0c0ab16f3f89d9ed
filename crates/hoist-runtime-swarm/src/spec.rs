//! The Swarm service an instance should be, as plain data: no engine is asked anything
//! here, so every field is testable without a swarm.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::{InstanceSpec, Release, labels};

use crate::settings::{FailureAction, Order, Publish, SwarmSettings};

/// How long a task gets to stop on SIGTERM before it is killed (as for Docker containers).
pub const STOP_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// The image string a service runs for `release`: `repo:tag@sha256:…` once the release is
/// in a registry (every node pulls exactly that manifest, with the credentials passed on
/// create and update), else the engine's image id (`sha256:…`).
///
/// Swarm's agent skips its pull only for a reference that parses as a bare digest; for
/// `repo:tag` it first asks the registry (`registry-1.docker.io` for an unqualified name)
/// and falls back to the local image when that fails. That lookup costs time, leaks the
/// image name, and could pull somebody else's public image of the same name. The id names
/// exactly the image hoist built, and on one node it is all a task needs.
pub fn image_reference(release: &Release) -> String {
    release
        .tagged_pinned_image()
        .unwrap_or_else(|| release.image_id.clone())
}

/// The full spec of `instance`'s service running `release`. An update sends all of it:
/// Swarm replaces a service's spec, it does not merge.
pub fn service_spec(
    instance: &InstanceSpec,
    release: &Release,
    settings: &SwarmSettings,
) -> ServiceSpec {
    let mut labels: HashMap<String, String> = instance.labels(release).into_iter().collect();
    labels.insert(
        labels::SPEC.to_string(),
        SpecDigest::of(instance, &spec_settings(settings)).to_label(),
    );
    let update = &settings.update;
    ServiceSpec {
        name: Some(instance.name.clone()),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image_reference(release)),
                labels: Some(labels),
                // Secrets are Swarm secrets mounted as files (attached by the runtime once
                // they exist): the env only says where they are.
                env: Some(
                    instance
                        .env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .chain(crate::secrets::file_env(instance))
                        .collect(),
                ),
                stop_grace_period: Some(nanos(STOP_GRACE_PERIOD)),
                // On the node that runs the task: a named volume is created there on first
                // use, a host path must exist there.
                mounts: Some(hoist_engine::engine_mounts(&instance.volumes)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(settings.replicas.get().into()),
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(update.parallelism.into()),
            delay: Some(nanos(update.delay)),
            failure_action: Some(match update.failure_action {
                FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
                FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
                FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
            }),
            monitor: Some(nanos(update.monitor)),
            max_failure_ratio: Some(0.0),
            order: Some(match update.order {
                Order::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
                Order::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            }),
        }),
        // A rollback moves tasks like an update does. If it fails too, Swarm pauses it
        // (its default): there is nothing older to fall back to.
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(update.parallelism.into()),
            delay: Some(nanos(update.delay)),
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: Some(nanos(update.monitor)),
            max_failure_ratio: Some(0.0),
            order: Some(match update.order {
                Order::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
                Order::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            }),
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(instance.container_port.into()),
                published_port: Some(instance.port.into()),
                publish_mode: Some(match settings.publish {
                    Publish::Host => EndpointPortConfigPublishModeEnum::HOST,
                    Publish::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The settings that shape every service, as they enter an instance's spec digest: a
/// change of any redeploys the instances that run the release already.
pub fn spec_settings(settings: &SwarmSettings) -> BTreeMap<String, String> {
    let update = &settings.update;
    BTreeMap::from([
        ("replicas".to_string(), settings.replicas.to_string()),
        (
            "publish".to_string(),
            format!("{:?}", settings.publish).to_lowercase(),
        ),
        (
            "update.parallelism".to_string(),
            update.parallelism.to_string(),
        ),
        ("update.delay".to_string(), format!("{:?}", update.delay)),
        (
            "update.order".to_string(),
            format!("{:?}", update.order).to_lowercase(),
        ),
        (
            "update.monitor".to_string(),
            format!("{:?}", update.monitor),
        ),
        (
            "update.failure_action".to_string(),
            format!("{:?}", update.failure_action).to_lowercase(),
        ),
        (
            "stop_grace_period".to_string(),
            format!("{:?}", STOP_GRACE_PERIOD),
        ),
    ])
}

/// The spec digest a service's spec records ([`labels::SPEC`]).
pub fn spec_digest_of(spec: &ServiceSpec) -> Option<SpecDigest> {
    spec.labels
        .as_ref()?
        .get(labels::SPEC)
        .and_then(|s| SpecDigest::from_label(s))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The image a spec runs.
pub fn image_of(spec: &ServiceSpec) -> Option<&str> {
    spec.task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
}

/// The hoist release a spec's tasks are labelled with.
pub fn release_of(spec: &ServiceSpec) -> Option<&str> {
    spec.task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .labels
        .as_ref()?
        .get(labels::RELEASE)
        .map(String::as_str)
}

/// The parts of a spec that hoist sets, normalised the way the engine echoes them back
/// (it drops zero values and adds defaults for what hoist leaves out). Two specs with equal
/// essentials run the same thing the same way, so a spec already applied is not sent again:
/// sending it would make Swarm's previous spec a copy of the current one and lose the
/// release to roll back to.
///
/// Its `Debug` shows env names only: the values are tenant secrets.
#[derive(Clone, PartialEq)]
pub struct Essentials {
    pub image: String,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub container_labels: BTreeMap<String, String>,
    pub replicas: Option<i64>,
    /// `(protocol, target, published, mode)`.
    pub ports: Vec<(String, i64, i64, String)>,
    pub update: [String; 6],
    pub rollback: [String; 6],
    pub stop_grace_period: i64,
    /// `(type, source, target, read-only)`, sorted.
    pub mounts: Vec<(String, String, String, bool)>,
}

impl std::fmt::Debug for Essentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self
            .env
            .iter()
            .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("Essentials")
            .field("image", &self.image)
            .field("env (names)", &env)
            .field("labels", &self.labels)
            .field("container_labels", &self.container_labels)
            .field("replicas", &self.replicas)
            .field("ports", &self.ports)
            .field("update", &self.update)
            .field("rollback", &self.rollback)
            .field("stop_grace_period", &self.stop_grace_period)
            .field("mounts", &self.mounts)
            .finish()
    }
}

/// See [`Essentials`].
pub fn essentials(spec: &ServiceSpec) -> Essentials {
    let container = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.clone())
        .unwrap_or_default();
    let sorted = |m: Option<&HashMap<String, String>>| -> BTreeMap<String, String> {
        m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let mut env = container.env.clone().unwrap_or_default();
    env.sort();
    let mut ports: Vec<_> = spec
        .endpoint_spec
        .as_ref()
        .and_then(|e| e.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    (
                        p.protocol.map_or("tcp".to_string(), |p| p.to_string()),
                        p.target_port.unwrap_or(0),
                        p.published_port.unwrap_or(0),
                        p.publish_mode
                            .map_or("ingress".to_string(), |m| m.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    let mut mounts: Vec<_> = container
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            (
                m.typ.as_ref().map_or_else(String::new, ToString::to_string),
                m.source.clone().unwrap_or_default(),
                m.target.clone().unwrap_or_default(),
                // The engine leaves `ReadOnly: false` out when it echoes a spec.
                m.read_only.unwrap_or(false),
            )
        })
        .collect();
    mounts.sort();
    let text = |v: Option<String>| v.unwrap_or_default();
    let num = |v: Option<i64>| v.unwrap_or(0).to_string();
    let ratio = |v: Option<f64>| v.unwrap_or(0.0).to_string();
    let update = spec.update_config.clone().unwrap_or_default();
    let rollback = spec.rollback_config.clone().unwrap_or_default();
    Essentials {
        image: container.image.clone().unwrap_or_default(),
        env,
        labels: sorted(spec.labels.as_ref()),
        container_labels: sorted(container.labels.as_ref()),
        replicas: spec
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .map(|r| r.replicas.unwrap_or(1)),
        ports,
        update: [
            num(update.parallelism),
            num(update.delay),
            num(update.monitor),
            ratio(update.max_failure_ratio),
            text(update.order.map(|o| o.to_string())),
            text(update.failure_action.map(|f| f.to_string())),
        ],
        rollback: [
            num(rollback.parallelism),
            num(rollback.delay),
            num(rollback.monitor),
            ratio(rollback.max_failure_ratio),
            text(rollback.order.map(|o| o.to_string())),
            text(rollback.failure_action.map(|f| f.to_string())),
        ],
        stop_grace_period: container.stop_grace_period.unwrap_or(0),
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::UpdateSettings;
    use std::num::NonZeroU32;

    fn instance() -> InstanceSpec {
        InstanceSpec {
            app: "shop".into(),
            environment: "production".into(),
            tenant: "acme".into(),
            host: "unix:///var/run/docker.sock".into(),
            name: "shop-production-acme".into(),
            port: 19500,
            container_port: 8080,
            env: BTreeMap::from([
                ("TOKEN".to_string(), "s3cret".to_string()),
                ("GREETING".to_string(), "hi".to_string()),
            ]),
            health_path: "/healthz".into(),
            version_path: Some("/version".into()),
            secrets: Default::default(),
            volumes: Vec::new(),
        }
    }

    fn release() -> Release {
        Release {
            app: "shop".into(),
            version: "v1.2.0".into(),
            commit: "abc".into(),
            image: "shop:v1.2.0".into(),
            image_id: "sha256:2f3b41674713193f3c51ec041c79fd2aa0187be4ce83e010ac617aaafa3f3d48"
                .into(),
            digest: None,
            fingerprint: String::new(),
            base_image: String::new(),
            created_by: String::new(),
            created_at: String::new(),
        }
    }

    #[test]
    fn a_pushed_release_runs_pinned_by_its_digest() {
        let mut pushed = release();
        pushed.image = "127.0.0.1:5000/shop:v1.2.0".into();
        pushed.digest = Some("sha256:d1".into());
        let spec = service_spec(&instance(), &pushed, &SwarmSettings::default());
        assert_eq!(
            image_of(&spec),
            Some("127.0.0.1:5000/shop:v1.2.0@sha256:d1")
        );
    }

    #[test]
    fn the_service_runs_the_image_id_with_the_instances_env_labels_and_port() {
        let spec = service_spec(&instance(), &release(), &SwarmSettings::default());
        assert_eq!(spec.name.as_deref(), Some("shop-production-acme"));
        assert_eq!(image_of(&spec), Some(release().image_id.as_str()));
        assert_eq!(release_of(&spec), Some("v1.2.0"));
        let container = spec.task_template.unwrap().container_spec.unwrap();
        assert_eq!(
            container.env.unwrap(),
            vec!["GREETING=hi".to_string(), "TOKEN=s3cret".to_string()]
        );
        let labels = container.labels.unwrap();
        assert_eq!(labels[labels::TENANT], "acme");
        assert_eq!(labels[labels::ENVIRONMENT], "production");
        assert_eq!(spec.labels.unwrap()[labels::RELEASE], "v1.2.0");
        let port = &spec.endpoint_spec.unwrap().ports.unwrap()[0];
        assert_eq!(port.published_port, Some(19500));
        assert_eq!(port.target_port, Some(8080));
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
    }

    #[test]
    fn the_service_mounts_the_instances_volumes_and_a_change_of_one_is_a_new_spec() {
        use hoist_core::runtime::{Mount, MountSource};
        let mut instance = instance();
        instance.volumes = vec![
            Mount {
                source: MountSource::Volume("shop-acme-data".into()),
                target: "/data".into(),
                read_only: false,
            },
            Mount {
                source: MountSource::Bind("/srv/acme".into()),
                target: "/config".into(),
                read_only: true,
            },
        ];
        let sent = service_spec(&instance, &release(), &SwarmSettings::default());
        let mounts = sent
            .task_template
            .clone()
            .unwrap()
            .container_spec
            .unwrap()
            .mounts
            .unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].source.as_deref(), Some("shop-acme-data"));
        assert_eq!(mounts[1].read_only, Some(true));
        let label = &sent.labels.as_ref().unwrap()[labels::SPEC];
        assert!(
            label.contains("\"volume./data\":\"shop-acme-data\""),
            "{label}"
        );
        // The engine echoes `ReadOnly: false` as nothing: the same essentials.
        let mut echoed = sent.clone();
        for m in echoed
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
            .and_then(|c| c.mounts.as_mut())
            .unwrap()
        {
            if m.read_only == Some(false) {
                m.read_only = None;
            }
        }
        assert_eq!(essentials(&echoed), essentials(&sent));
        instance.volumes[1].read_only = false;
        let changed = service_spec(&instance, &release(), &SwarmSettings::default());
        assert_ne!(essentials(&changed), essentials(&sent));
    }

    #[test]
    fn update_settings_become_update_and_rollback_config() {
        let settings = SwarmSettings {
            replicas: NonZeroU32::new(3).unwrap(),
            publish: Publish::Ingress,
            update: UpdateSettings {
                parallelism: 2,
                delay: Duration::from_millis(1500),
                order: Order::StartFirst,
                monitor: Duration::from_secs(7),
                failure_action: FailureAction::Pause,
            },
            ..SwarmSettings::default()
        };
        let spec = service_spec(&instance(), &release(), &settings);
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(3));
        let update = spec.update_config.unwrap();
        assert_eq!(update.parallelism, Some(2));
        assert_eq!(update.delay, Some(1_500_000_000));
        assert_eq!(update.monitor, Some(7_000_000_000));
        assert_eq!(
            update.order,
            Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST)
        );
        assert_eq!(
            update.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE)
        );
        let rollback = spec.rollback_config.unwrap();
        assert_eq!(rollback.parallelism, Some(2));
        assert_eq!(
            rollback.order,
            Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST)
        );
        let port = &spec.endpoint_spec.unwrap().ports.unwrap()[0];
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::INGRESS)
        );
    }

    #[test]
    fn the_spec_the_engine_echoes_back_has_the_same_essentials() {
        // What the engine returned for a spec like this one (zero delay dropped, defaults
        // added), from tests/fixtures/update_completed.json.
        let settings = SwarmSettings::default();
        let mut instance = instance();
        instance.env = BTreeMap::from([("GREETING".into(), "hi".into())]);
        let mut release = release();
        release.image_id =
            "sha256:871c4ff5d322ccee8153fe1e953b31de970f7e0041b2a26387e2f9aea7d2f8a7".into();
        let sent = service_spec(&instance, &release, &settings);
        let echoed: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/update_completed.json")).unwrap();
        let mut echoed: ServiceSpec =
            serde_json::from_value(echoed["service"]["Spec"].clone()).unwrap();
        // The fixture was captured with a hand-written spec: give it hoist's name, labels
        // and port, and keep what the engine did to the rest.
        echoed.name = sent.name.clone();
        echoed.labels = sent.labels.clone();
        if let Some(c) = echoed
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
        {
            c.labels = sent.labels.clone();
        }
        echoed
            .endpoint_spec
            .as_mut()
            .unwrap()
            .ports
            .as_mut()
            .unwrap()[0]
            .published_port = Some(19500);
        assert_eq!(essentials(&echoed), essentials(&sent));

        assert!(
            !format!(
                "{:?}",
                essentials(&service_spec(&self::instance(), &release, &settings))
            )
            .contains("s3cret")
        );

        let mut other = instance.clone();
        other.env.insert("GREETING".into(), "hello".into());
        assert_ne!(
            essentials(&service_spec(&other, &release, &settings)),
            essentials(&sent)
        );
    }
}
