//! What an instance's rendered spec is, setting by setting, so that a change of config
//! without a new release is seen ("env DB_HOST changed; port 8080 → 8081") and redeployed.
//!
//! A [`SpecDigest`] maps each setting's name to its value or, for settings that may hold
//! secrets (every `env` value), to a short sha256 of it: never the raw value, because the
//! digest is written where secrets must not go (a label on the workload, the state
//! database). Runtimes put it on what they run ([`crate::labels::SPEC`]); the pipeline
//! compares the digest of the configured instance with the one on the running workload.
//!
//! Adding a field to [`InstanceSpec`] means one more entry in [`SpecDigest::of`]: plain
//! for a value anyone may read, [`hashed`] for anything that may be secret.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::InstanceSpec;

/// Marks a value that is a digest, not the setting itself.
const HASHED: &str = "sha256:";
/// Hex digits of sha256 kept per hashed setting: enough to tell values apart.
const SHORT: usize = 16;

/// Per-setting digests of an instance's rendered spec: setting name → value (public
/// settings) or `sha256:<16 hex>` (settings that may be secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SpecDigest(BTreeMap<String, String>);

/// The digest of a value that may be secret, bound to the setting's name so that equal
/// values of two settings do not look alike.
pub fn hashed(setting: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(setting.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    let hex = hex::encode(h.finalize());
    format!("{HASHED}{}", &hex[..SHORT])
}

impl SpecDigest {
    /// The digest of `spec` as run by a runtime whose own settings (stop timeout, bind
    /// address, Swarm's update settings, ...) are `runtime`: names to rendered values,
    /// none of them secret (see [`crate::Runtime::spec_settings`]).
    pub fn of(spec: &InstanceSpec, runtime: &BTreeMap<String, String>) -> SpecDigest {
        let mut map = BTreeMap::new();
        map.insert("port".to_string(), spec.port.to_string());
        map.insert(
            "container_port".to_string(),
            spec.container_port.to_string(),
        );
        for (key, value) in &spec.env {
            let name = format!("env.{key}");
            let digest = hashed(&name, value);
            map.insert(name, digest);
        }
        // Labels other than the release (which the image already pins): one digest, as
        // they follow from the app, environment and tenant.
        let labels: Vec<String> = spec
            .base_labels()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        map.insert("labels".to_string(), hashed("labels", &labels.join("\n")));
        // One setting per container path, by value (volume names and host paths are not
        // secret); none without volumes, so instances without any keep their digest.
        for mount in &spec.volumes {
            let mut value = mount.source_text().to_string();
            if mount.read_only {
                value.push_str(":ro");
            }
            map.insert(format!("volume.{}", mount.target), value);
        }
        for (name, value) in runtime {
            map.insert(format!("runtime.{name}"), value.clone());
        }
        SpecDigest(map)
    }

    /// The settings, by name.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The form kept in a label and in the state database: compact JSON.
    pub fn to_label(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Reads [`SpecDigest::to_label`]'s form; `None` for anything else.
    pub fn from_label(text: &str) -> Option<SpecDigest> {
        serde_json::from_str(text).ok().map(SpecDigest)
    }

    /// What changed from `running` (what a workload was started with) to `self` (what
    /// the config asks for), in setting-name order. Empty: the same spec.
    pub fn changes_from(&self, running: &SpecDigest) -> Vec<SettingChange> {
        let mut out = Vec::new();
        for (name, want) in &self.0 {
            match running.0.get(name) {
                Some(had) if had == want => {}
                Some(had) => out.push(SettingChange {
                    setting: name.clone(),
                    change: Change::Changed {
                        from: public(had),
                        to: public(want),
                    },
                }),
                None => out.push(SettingChange {
                    setting: name.clone(),
                    change: Change::Added {
                        value: public(want),
                    },
                }),
            }
        }
        for (name, had) in &running.0 {
            if !self.0.contains_key(name) {
                out.push(SettingChange {
                    setting: name.clone(),
                    change: Change::Removed { value: public(had) },
                });
            }
        }
        out.sort_by(|a, b| a.setting.cmp(&b.setting));
        out
    }
}

/// The value of a public setting; `None` for a digest, which says nothing worth showing.
fn public(value: &str) -> Option<String> {
    (!value.starts_with(HASHED)).then(|| value.to_string())
}

/// One setting that differs between a running workload and the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    /// `port`, `env.DB_HOST`, `volume./data`, `runtime.stop_timeout`, ...
    pub setting: String,
    #[serde(flatten)]
    pub change: Change,
}

/// How a setting changed. Values are given for public settings only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Changed {
        from: Option<String>,
        to: Option<String>,
    },
    Added {
        value: Option<String>,
    },
    Removed {
        value: Option<String>,
    },
}

impl fmt::Display for SettingChange {
    /// `env DB_HOST changed`, `port 8080 → 8081`, `env DEBUG added`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.setting.split_once('.') {
            Some(("env", key)) => format!("env {key}"),
            Some(("volume", target)) => format!("volume {target}"),
            Some(("runtime", key)) => key.to_string(),
            _ => self.setting.clone(),
        };
        match &self.change {
            Change::Changed {
                from: Some(from),
                to: Some(to),
            } => write!(f, "{name} {from} → {to}"),
            Change::Changed { .. } => write!(f, "{name} changed"),
            Change::Added { value: Some(v) } => write!(f, "{name} {v} (new setting)"),
            Change::Added { value: None } => write!(f, "{name} added"),
            Change::Removed { .. } => write!(f, "{name} removed"),
        }
    }
}

/// `env DB_HOST changed; port 8080 → 8081`.
pub fn describe(changes: &[SettingChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a workload whose image is the release's must be redeployed, or `None` when its
/// recorded spec is the configured one. `running` is the digest found on the workload
/// (`None`: it carries none, as anything started before hoist recorded specs).
pub fn redeploy_reason(want: &SpecDigest, running: Option<&SpecDigest>) -> Option<String> {
    match running {
        None => Some("its settings were not recorded (started by an older hoist)".to_string()),
        Some(running) => {
            let changes = want.changes_from(running);
            (!changes.is_empty()).then(|| describe(&changes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InstanceSpec {
        InstanceSpec {
            app: "clinic".into(),
            environment: "staging".into(),
            tenant: "north".into(),
            host: "unix:///var/run/docker.sock".into(),
            name: "clinic-staging-north".into(),
            port: 8080,
            container_port: 8000,
            env: BTreeMap::from([
                ("DB_HOST".to_string(), "db1".to_string()),
                ("DB_PASSWORD".to_string(), "hunter2".to_string()),
            ]),
            health_path: "/health".into(),
            version_path: None,
            secrets: Default::default(),
            volumes: Vec::new(),
        }
    }

    fn runtime() -> BTreeMap<String, String> {
        BTreeMap::from([("stop_timeout".to_string(), "10s".to_string())])
    }

    #[test]
    fn the_same_spec_has_no_changes() {
        let a = SpecDigest::of(&spec(), &runtime());
        assert!(a.changes_from(&a.clone()).is_empty());
        assert_eq!(redeploy_reason(&a, Some(&a)), None);
    }

    #[test]
    fn an_env_change_names_the_key_and_never_the_value() {
        let before = SpecDigest::of(&spec(), &runtime());
        let mut changed = spec();
        changed.env.insert("DB_HOST".into(), "db2".into());
        changed
            .env
            .insert("DB_PASSWORD".into(), "correct horse".into());
        let after = SpecDigest::of(&changed, &runtime());
        let text = describe(&after.changes_from(&before));
        assert_eq!(text, "env DB_HOST changed; env DB_PASSWORD changed");
        for secret in ["hunter2", "correct horse", "db1", "db2"] {
            assert!(!after.to_label().contains(secret), "{secret} in the label");
            assert!(!text.contains(secret));
        }
    }

    #[test]
    fn a_port_change_shows_both_ports() {
        let before = SpecDigest::of(&spec(), &runtime());
        let mut changed = spec();
        changed.port = 8081;
        changed.env.insert("DB_HOST".into(), "db2".into());
        let after = SpecDigest::of(&changed, &runtime());
        assert_eq!(
            redeploy_reason(&after, Some(&before)).unwrap(),
            "env DB_HOST changed; port 8080 → 8081"
        );
    }

    #[test]
    fn env_keys_added_and_removed_are_named() {
        let before = SpecDigest::of(&spec(), &runtime());
        let mut changed = spec();
        changed.env.remove("DB_PASSWORD");
        changed.env.insert("DEBUG".into(), "1".into());
        let after = SpecDigest::of(&changed, &runtime());
        assert_eq!(
            describe(&after.changes_from(&before)),
            "env DB_PASSWORD removed; env DEBUG added"
        );
    }

    #[test]
    fn runtime_settings_are_part_of_the_spec() {
        let before = SpecDigest::of(&spec(), &runtime());
        let slower = BTreeMap::from([("stop_timeout".to_string(), "30s".to_string())]);
        let after = SpecDigest::of(&spec(), &slower);
        assert_eq!(
            describe(&after.changes_from(&before)),
            "stop_timeout 10s → 30s"
        );
        let more = BTreeMap::from([
            ("stop_timeout".to_string(), "10s".to_string()),
            ("bind".to_string(), "127.0.0.1".to_string()),
        ]);
        assert_eq!(
            describe(&SpecDigest::of(&spec(), &more).changes_from(&before)),
            "bind 127.0.0.1 (new setting)"
        );
    }

    #[test]
    fn volumes_are_part_of_the_spec_by_value() {
        use crate::runtime::{Mount, MountSource};
        let none = SpecDigest::of(&spec(), &runtime());
        assert!(!none.to_label().contains("volume"), "{}", none.to_label());
        let mut with = spec();
        with.volumes = vec![Mount {
            source: MountSource::Volume("clinic-north-data".into()),
            target: "/data".into(),
            read_only: false,
        }];
        let first = SpecDigest::of(&with, &runtime());
        assert_eq!(
            describe(&first.changes_from(&none)),
            "volume /data clinic-north-data (new setting)"
        );
        with.volumes[0].source = MountSource::Bind("/srv/north".into());
        with.volumes[0].read_only = true;
        with.volumes.push(Mount {
            source: MountSource::Volume("uploads".into()),
            target: "/uploads".into(),
            read_only: false,
        });
        let second = SpecDigest::of(&with, &runtime());
        assert_eq!(
            describe(&second.changes_from(&first)),
            "volume /data clinic-north-data → /srv/north:ro; volume /uploads uploads (new setting)"
        );
        assert_eq!(
            describe(&none.changes_from(&second)),
            "volume /data removed; volume /uploads removed"
        );
    }

    #[test]
    fn the_same_value_under_two_names_hashes_differently() {
        assert_ne!(hashed("env.A", "x"), hashed("env.B", "x"));
        assert_eq!(hashed("env.A", "x"), hashed("env.A", "x"));
        assert_eq!(hashed("env.A", "x").len(), HASHED.len() + SHORT);
    }

    #[test]
    fn the_label_form_round_trips_and_junk_is_none() {
        let d = SpecDigest::of(&spec(), &runtime());
        assert_eq!(SpecDigest::from_label(&d.to_label()), Some(d));
        assert_eq!(SpecDigest::from_label("not json"), None);
        assert_eq!(SpecDigest::from_label("[1,2]"), None);
    }

    #[test]
    fn a_workload_without_a_recorded_spec_is_redeployed_with_a_reason() {
        let d = SpecDigest::of(&spec(), &runtime());
        let why = redeploy_reason(&d, None).unwrap();
        assert!(why.contains("not recorded"), "{why}");
    }

    #[test]
    fn other_tenants_labels_differ() {
        let a = SpecDigest::of(&spec(), &runtime());
        let mut other = spec();
        other.tenant = "south".into();
        let b = SpecDigest::of(&other, &runtime());
        assert_eq!(describe(&b.changes_from(&a)), "labels changed");
    }
}
