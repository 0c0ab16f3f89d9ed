//! `volumes`: the host data an instance's containers mount (a clinic's SQLite file, its
//! uploads), on the docker and swarm runtimes.
//!
//! ```toml
//! [environments.production]
//! volumes = ["clinic-{tenant}-data:/data"]          # a named volume per tenant
//!
//! [[environments.production.instances]]
//! tenant = "northside"
//! port = 18101
//! volumes = ["/srv/clinic/northside/config:/config:ro"]  # added to the environment's
//! ```
//!
//! An entry is `SOURCE:TARGET` or `SOURCE:TARGET:ro` (`rw`, the default, may be written).
//! SOURCE is a Docker volume name (`[A-Za-z0-9][A-Za-z0-9_.-]+`) or an absolute path on
//! the engine's host (a bind mount); `{tenant}` in it becomes the instance's tenant. A
//! relative host path is refused rather than resolved against hoist.toml's directory: the
//! engine, possibly on another host, is what reads the path, and `data` alone already means
//! a volume called `data`. TARGET is an absolute path in the container. An instance's entry
//! whose TARGET the environment mounts too replaces the environment's.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use toml::Spanned;

use crate::ConfigError;
use crate::runtime::RuntimeConfig;

/// The placeholder replaced by the instance's tenant in a SOURCE.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// Where a mount's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "source", rename_all = "snake_case")]
pub enum MountSource {
    /// A named volume of the engine: created by the engine the first time a container
    /// mounts it, and never removed by hoist.
    Volume(String),
    /// An absolute path on the engine's host, which must exist there.
    Bind(String),
}

/// One mount of an instance's containers, its `{tenant}` already replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Serialised as `"type": "volume"|"bind", "source": ...` beside the target.
    #[serde(flatten)]
    pub source: MountSource,
    /// An absolute path in the container, without a trailing `/`.
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    /// The volume name or host path.
    pub fn source_text(&self) -> &str {
        match &self.source {
            MountSource::Volume(name) | MountSource::Bind(name) => name,
        }
    }
}

impl fmt::Display for Mount {
    /// As written in hoist.toml: `SOURCE:TARGET`, with `:ro` when read-only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source_text(), self.target)?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

/// An entry as written, checked; its SOURCE still holds `{tenant}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    source: String,
    target: String,
    read_only: bool,
}

/// Why an entry cannot be used, and what to write instead.
#[derive(Debug, PartialEq, Eq)]
struct Problem {
    message: String,
    help: &'static str,
}

const FORM_HELP: &str = "write SOURCE:TARGET or SOURCE:TARGET:ro, e.g. \"clinic-{tenant}-data:/data\" or \"/srv/clinic/config:/config:ro\"";

fn problem(entry: &str, why: impl fmt::Display, help: &'static str) -> Problem {
    Problem {
        message: format!("`{entry}`: {why}"),
        help,
    }
}

fn parse(entry: &str) -> Result<Entry, Problem> {
    let parts: Vec<&str> = entry.split(':').collect();
    let (source, target, option) = match parts.as_slice() {
        [source, target] => (*source, *target, None),
        [source, target, option] => (*source, *target, Some(*option)),
        [_] => return Err(problem(entry, "no container path is given", FORM_HELP)),
        _ => {
            return Err(problem(
                entry,
                "too many `:`; a volume is SOURCE:TARGET with an optional :ro or :rw",
                FORM_HELP,
            ));
        }
    };
    let read_only = match option {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => {
            return Err(problem(
                entry,
                format!("`{other}` is not a mount option hoist knows (only `ro` and `rw`)"),
                "end the entry with :ro for a read-only mount, or leave the option out (read-write)",
            ));
        }
    };
    check_source(entry, source)?;
    let target = check_target(entry, target)?;
    Ok(Entry {
        source: source.to_string(),
        target,
        read_only,
    })
}

fn check_source(entry: &str, source: &str) -> Result<(), Problem> {
    const SOURCE_HELP: &str = "write a volume name (two or more letters, digits, `_`, `.`, `-`, e.g. \"clinic-{tenant}-data\") or an absolute path on the engine's host (e.g. \"/srv/clinic/{tenant}\")";
    if source.is_empty() {
        return Err(problem(entry, "the source is empty", SOURCE_HELP));
    }
    // `{tenant}` is the only placeholder; what is left must be a name or a path.
    let plain = source.replace(TENANT_PLACEHOLDER, "t");
    if plain.contains('{') || plain.contains('}') {
        return Err(problem(
            entry,
            "only `{tenant}` is replaced in a source",
            "remove the other `{...}`, or write `{tenant}` for the instance's tenant",
        ));
    }
    if plain.starts_with('/') {
        if plain.chars().any(char::is_control) {
            return Err(problem(
                entry,
                "the host path holds a control character",
                SOURCE_HELP,
            ));
        }
        return Ok(());
    }
    if plain.contains('/') || plain.starts_with('.') || plain.starts_with('~') {
        return Err(problem(
            entry,
            format!(
                "`{source}` is a relative host path; hoist does not resolve host paths, the engine reads them"
            ),
            "write the absolute path on the engine's host (e.g. \"/srv/clinic/{tenant}/uploads\"), or a volume name without `/`",
        ));
    }
    // Docker's own rule for volume names: two characters at least.
    let mut chars = plain.chars();
    let valid = plain.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid {
        return Err(problem(
            entry,
            format!("`{source}` is not a valid volume name"),
            SOURCE_HELP,
        ));
    }
    Ok(())
}

/// The target without a trailing `/`, or why it cannot be one.
fn check_target(entry: &str, target: &str) -> Result<String, Problem> {
    const TARGET_HELP: &str = "write an absolute path in the container, e.g. \"/data\"";
    if !target.starts_with('/') {
        return Err(problem(
            entry,
            format!("the container path `{target}` is not absolute"),
            TARGET_HELP,
        ));
    }
    let trimmed = target.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(problem(
            entry,
            "a volume cannot be mounted over the container's root `/`",
            TARGET_HELP,
        ));
    }
    if trimmed.split('/').any(|part| part == "..") {
        return Err(problem(
            entry,
            format!("the container path `{target}` climbs out with `..`"),
            TARGET_HELP,
        ));
    }
    if target.contains(TENANT_PLACEHOLDER) {
        return Err(problem(
            entry,
            "`{tenant}` is replaced in the source only, not in the container path",
            "keep the container path the same for every tenant, e.g. \"clinic-{tenant}-data:/data\"",
        ));
    }
    if target.chars().any(char::is_control) {
        return Err(problem(
            entry,
            "the container path holds a control character",
            TARGET_HELP,
        ));
    }
    Ok(trimmed.to_string())
}

/// Adds a problem for each entry of one `volumes` list (at `key`, e.g.
/// `environments.staging.volumes`) that cannot be mounted, or that mounts a container path
/// the list already mounts.
pub(crate) fn validate(
    entries: &[Spanned<String>],
    key: &str,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let mut targets = std::collections::BTreeSet::new();
    for (i, written) in entries.iter().enumerate() {
        let entry = written.get_ref();
        let fail = |message: String, help: &str| {
            ConfigError::invalid(
                path,
                text,
                written.span(),
                format!("{key}[{i}]"),
                message,
                Some(help.to_string()),
            )
        };
        match parse(entry) {
            Err(p) => errors.push(fail(p.message, p.help)),
            Ok(parsed) if !targets.insert(parsed.target.clone()) => errors.push(fail(
                format!("`{entry}`: `{}` is mounted twice in this list", parsed.target),
                "mount each container path once (an instance's entry replaces the environment's of the same path)",
            )),
            Ok(_) => {}
        }
    }
}

/// An instance's mounts: the environment's entries, then the instance's, one replacing the
/// environment's of the same container path; `{tenant}` replaced. Validation has refused
/// every entry this skips.
pub(crate) fn resolve(
    environment: &[Spanned<String>],
    instance: &[Spanned<String>],
    tenant: &str,
) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for entry in environment.iter().chain(instance) {
        let Ok(entry) = parse(entry.get_ref()) else {
            continue;
        };
        let source = entry.source.replace(TENANT_PLACEHOLDER, tenant);
        let mount = Mount {
            source: if source.starts_with('/') {
                MountSource::Bind(source)
            } else {
                MountSource::Volume(source)
            },
            target: entry.target,
            read_only: entry.read_only,
        };
        match mounts.iter_mut().find(|m| m.target == mount.target) {
            Some(same) => *same = mount,
            None => mounts.push(mount),
        }
    }
    mounts
}

/// The kind of `runtime` when it cannot mount volumes (hoist does not manage its
/// workloads' storage), with what to do instead.
pub(crate) fn unsupported(runtime: &RuntimeConfig) -> Option<(&'static str, &'static str)> {
    match runtime {
        RuntimeConfig::Docker(_) | RuntimeConfig::Swarm(_) => None,
        RuntimeConfig::Kubernetes(_) => Some((
            "kubernetes",
            "remove `volumes`: declare the Deployment's volumes in its manifest (hoist only sets its image; release-task Jobs copy the pod template's ConfigMap, Secret and projected volumes)",
        )),
        RuntimeConfig::Http(_) => Some((
            "http",
            "remove `volumes`: attach storage to the instance through the hosting platform's own settings",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spanned(entries: &[&str]) -> Vec<Spanned<String>> {
        entries
            .iter()
            .map(|e| Spanned::new(0..0, e.to_string()))
            .collect()
    }

    #[test]
    fn entries_parse_into_source_target_and_mode() {
        assert_eq!(
            parse("clinic-{tenant}-data:/data").unwrap(),
            Entry {
                source: "clinic-{tenant}-data".into(),
                target: "/data".into(),
                read_only: false
            }
        );
        let ro = parse("/srv/clinic/{tenant}:/config/:ro").unwrap();
        assert_eq!((ro.target.as_str(), ro.read_only), ("/config", true));
        assert!(!parse("data.v2:/var/lib/app:rw").unwrap().read_only);
    }

    #[test]
    fn each_bad_entry_says_why() {
        for (entry, why) in [
            ("data", "no container path"),
            ("a:/b:ro:x", "too many `:`"),
            ("data:/data:z", "`z` is not a mount option"),
            (":/data", "the source is empty"),
            ("./data:/data", "relative host path"),
            ("srv/data:/data", "relative host path"),
            ("~/data:/data", "relative host path"),
            ("-data:/data", "not a valid volume name"),
            ("da ta:/data", "not a valid volume name"),
            ("d:/data", "not a valid volume name"),
            ("clinic-{app}:/data", "only `{tenant}`"),
            ("data:data", "is not absolute"),
            ("data:/", "root `/`"),
            ("data:/a/../etc", "climbs out"),
            ("data:/data/{tenant}", "in the source only"),
        ] {
            let p = parse(entry).expect_err(entry);
            assert!(p.message.contains(why), "{entry}: {}", p.message);
            assert!(
                p.message.starts_with(&format!("`{entry}`")),
                "{}",
                p.message
            );
        }
    }

    #[test]
    fn the_instance_adds_to_the_environment_and_replaces_the_same_path() {
        let mounts = resolve(
            &spanned(&["clinic-{tenant}-data:/data", "/srv/shared:/shared:ro"]),
            &spanned(&["/srv/{tenant}/data:/data/", "uploads-{tenant}:/uploads"]),
            "north",
        );
        let shown: Vec<String> = mounts.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "/srv/north/data:/data",
                "/srv/shared:/shared:ro",
                "uploads-north:/uploads"
            ]
        );
        assert_eq!(
            mounts[0].source,
            MountSource::Bind("/srv/north/data".into())
        );
        assert_eq!(
            mounts[2].source,
            MountSource::Volume("uploads-north".into())
        );
    }

    #[test]
    fn a_path_mounted_twice_in_one_list_is_refused_at_the_second() {
        let text = "volumes = [\"aa:/data\", \"bb:/data/\"]\n";
        #[derive(serde::Deserialize)]
        struct Doc {
            volumes: Vec<Spanned<String>>,
        }
        let doc: Doc = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        validate(
            &doc.volumes,
            "environments.staging.volumes",
            Path::new("hoist.toml"),
            text,
            &mut errors,
        );
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("hoist.toml:1:24: environments.staging.volumes[1]: `bb:/data/`: `/data` is mounted twice"),
            "{}",
            shown[0]
        );
    }
}
