//! One environment, several kinds: `[environments.NAME.runtimes.LABEL]` tables, each like
//! `[environments.NAME.runtime]`, and an instance's `runtime = "LABEL"` that picks one.
//!
//! ```toml
//! [environments.production.runtime]      # the environment's runtime: every instance
//! kind = "docker"                        # that names no other
//!
//! [environments.production.runtimes.fly] # another, for the instances that name it
//! kind = "http"
//! preset = "fly-machines"
//! token = { env = "FLY_API_TOKEN" }
//!
//! [[environments.production.instances]]
//! tenant = "north"                       # a container on the local engine
//! port = 18101
//!
//! [[environments.production.instances]]
//! tenant = "south"
//! port = 18102
//! runtime = "fly"                        # a Fly Machine
//! ```
//!
//! Named tables rather than a kind per instance: the platform's settings (its API, its
//! token, its timeouts) are shared by the instances on it, so they are written once; and
//! the environment's own `runtime` table keeps its meaning, so every existing file reads
//! as before.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use crate::ConfigError;
use crate::runtime::{self, DockerConfig, RawRuntime, RuntimeConfig};
use crate::schema::Instance;

/// Resolves every `runtimes.LABEL` table of environment `env_key`; a table found wrong is
/// reported and left out. `docker` gives a Docker runtime the environment's settings.
pub(crate) fn resolve(
    tables: &BTreeMap<String, Spanned<RawRuntime>>,
    env_key: &str,
    path: &Path,
    text: &str,
    docker: impl Fn(DockerConfig) -> DockerConfig,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, RuntimeConfig> {
    let mut named = BTreeMap::new();
    for (label, table) in tables {
        let key = format!("{env_key}.runtimes.{label}");
        if !is_label(label) {
            errors.push(ConfigError::invalid(
                path,
                text,
                table.span(),
                key,
                format!("`{label}` is not a valid runtime label"),
                Some("use lowercase letters, digits, `-` and `_`".into()),
            ));
            continue;
        }
        match runtime::resolve(Some(table), &key, table.span(), path, text) {
            Ok(RuntimeConfig::Docker(d)) => {
                named.insert(label.clone(), RuntimeConfig::Docker(docker(d)));
            }
            Ok(other) => {
                named.insert(label.clone(), other);
            }
            Err(e) => errors.push(e),
        }
    }
    named
}

/// The runtime `instance` runs on: the named one its `runtime` key picks, else the
/// environment's. `None` (with an error pushed, unless the named table was itself found
/// wrong) when it names none that resolved.
#[allow(clippy::too_many_arguments)]
pub(crate) fn of_instance<'a>(
    instance: &Instance,
    default: &'a RuntimeConfig,
    named: &'a BTreeMap<String, RuntimeConfig>,
    tables: &BTreeMap<String, Spanned<RawRuntime>>,
    key: &str,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<&'a RuntimeConfig> {
    let Some(label) = &instance.runtime else {
        return Some(default);
    };
    if let Some(runtime) = named.get(label.get_ref()) {
        return Some(runtime);
    }
    if !tables.contains_key(label.get_ref()) {
        let defined: Vec<&str> = tables.keys().map(String::as_str).collect();
        errors.push(ConfigError::invalid(
            path,
            text,
            label.span(),
            format!("{key}.runtime"),
            format!("no runtime `{}` in this environment", label.get_ref()),
            Some(if defined.is_empty() {
                "define it as [environments.NAME.runtimes.LABEL] (a table like [environments.NAME.runtime]), or remove the key to use the environment's runtime".into()
            } else {
                format!("defined: {}; or remove the key to use the environment's runtime", defined.join(", "))
            }),
        ));
    }
    None
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
