//! `[prune]`: what `hoist prune` and the prune after each successful deploy keep.
//!
//! ```toml
//! [prune]
//! after_deploy = true   # default: prune the build host and the environment's engines after each successful deploy
//! keep = 5              # default 5, at least 1: successful releases kept per environment
//! keep_bases = 2        # default 2, at least 1: base images kept for the newest fingerprints
//! registry_tags = false # default false: also delete old release and base tags in [registry]
//! ```

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// `[prune]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneTable {
    #[serde(default = "default_after_deploy")]
    pub after_deploy: bool,
    #[serde(default = "default_keep")]
    pub keep: Spanned<usize>,
    #[serde(default = "default_keep_bases")]
    pub keep_bases: Spanned<usize>,
    #[serde(default)]
    pub registry_tags: bool,
}

impl Default for PruneTable {
    fn default() -> Self {
        PruneTable {
            after_deploy: default_after_deploy(),
            keep: default_keep(),
            keep_bases: default_keep_bases(),
            registry_tags: false,
        }
    }
}

/// Successful releases kept per environment when `keep` is not set.
pub const DEFAULT_KEEP: usize = 5;
/// Base images kept for the newest fingerprints when `keep_bases` is not set.
pub const DEFAULT_KEEP_BASES: usize = 2;

fn default_after_deploy() -> bool {
    true
}
fn default_keep() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_KEEP)
}
fn default_keep_bases() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_KEEP_BASES)
}

/// `[prune]`, checked and span-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneSettings {
    /// Prune after each successful deploy, rollback and promotion.
    pub after_deploy: bool,
    /// Successful releases kept per environment (N), at least 1.
    pub keep: usize,
    /// Base images kept for the newest fingerprints (M), at least 1.
    pub keep_bases: usize,
    /// Also delete old release tags in the registry. Off by default; needs a registry
    /// (the registry's garbage collection then frees the bytes).
    pub registry_tags: bool,
}

impl Default for PruneSettings {
    fn default() -> Self {
        PruneTable::default().settings()
    }
}

impl PruneTable {
    pub(crate) fn settings(&self) -> PruneSettings {
        PruneSettings {
            after_deploy: self.after_deploy,
            keep: *self.keep.get_ref(),
            keep_bases: *self.keep_bases.get_ref(),
            registry_tags: self.registry_tags,
        }
    }

    /// Adds a problem for each count that would keep nothing.
    pub(crate) fn validate(
        &self,
        path: &std::path::Path,
        text: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        for (key, value, what) in [
            (
                "prune.keep",
                &self.keep,
                "keep 0 would remove the releases a rollback needs, the current one's included",
            ),
            (
                "prune.keep_bases",
                &self.keep_bases,
                "keep_bases 0 would remove the base image the next build reuses",
            ),
        ] {
            if *value.get_ref() == 0 {
                errors.push(ConfigError::invalid(
                    path,
                    text,
                    value.span(),
                    key.to_string(),
                    what.to_string(),
                    Some("write 1 or more; the defaults are keep = 5 and keep_bases = 2".into()),
                ));
            }
        }
    }
}
