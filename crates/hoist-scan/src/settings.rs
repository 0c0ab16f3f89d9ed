//! `ScanSettings`: the `[scan]` table of `hoist.toml`. Plain serde, no CLI
//! types, so `hoist-config` can embed it and the CLI can layer flags on top.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, DEFAULT_BASELINE_PATH};
use crate::engine::{RuleSource, ScanConfig};
use crate::error::ScanError;
use crate::walk::{DEFAULT_MAX_FILE_SIZE, WalkOptions};

/// The `[scan]` table. Relative paths are relative to the directory holding
/// `hoist.toml`. Unknown keys are rejected so a typo cannot silently turn a
/// check off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSettings {
    /// Use the built-in ruleset (default true).
    pub default_rules: bool,
    /// Extra rules in hoist's format.
    pub rules: Option<PathBuf>,
    /// A gitleaks configuration to load as well.
    pub gitleaks_config: Option<PathBuf>,
    /// Baseline of accepted findings (default `.hoist-scan-baseline.json`).
    pub baseline: PathBuf,
    /// Files larger than this many bytes are skipped (default 1 MiB).
    pub max_file_size: u64,
    /// Path globs never scanned (a glob without `/` matches the file name
    /// at any depth).
    pub allow_paths: Vec<String>,
    /// Rule ids to turn off.
    pub disable_rules: Vec<String>,
    /// Apply `.dockerignore` (default true: scan what the image build sees).
    pub dockerignore: bool,
    /// Apply `.gitignore` (default false: Docker does not, so a git-ignored
    /// `.env` can still be copied into the image).
    pub gitignore: bool,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            default_rules: true,
            rules: None,
            gitleaks_config: None,
            baseline: PathBuf::from(DEFAULT_BASELINE_PATH),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            allow_paths: Vec::new(),
            disable_rules: Vec::new(),
            dockerignore: true,
            gitignore: false,
        }
    }
}

impl ScanSettings {
    /// The baseline path resolved against `base_dir`.
    pub fn baseline_path(&self, base_dir: &Path) -> PathBuf {
        base_dir.join(&self.baseline)
    }

    /// Build a [`ScanConfig`]: resolve paths against `base_dir` and load the
    /// baseline if the file exists (a missing baseline is an empty one).
    pub fn to_config(&self, base_dir: &Path) -> Result<ScanConfig, ScanError> {
        if self.max_file_size == 0 {
            return Err(ScanError::Config(
                "max_file_size must be greater than 0".into(),
            ));
        }
        let mut rule_sources = Vec::new();
        if let Some(p) = &self.rules {
            rule_sources.push(RuleSource::HoistFile(base_dir.join(p)));
        }
        if let Some(p) = &self.gitleaks_config {
            rule_sources.push(RuleSource::GitleaksFile(base_dir.join(p)));
        }
        if !self.default_rules && rule_sources.is_empty() {
            return Err(ScanError::Config(
                "default_rules = false needs `rules` or `gitleaks_config`".into(),
            ));
        }
        Ok(ScanConfig {
            default_rules: self.default_rules,
            rule_sources,
            disabled_rules: self.disable_rules.clone(),
            allow_paths: self.allow_paths.clone(),
            baseline: Some(Baseline::load_or_default(&self.baseline_path(base_dir))?),
        })
    }

    /// Walk options for `scan_tree`.
    pub fn walk_options(&self) -> WalkOptions {
        WalkOptions {
            dockerignore: self.dockerignore,
            gitignore: self.gitignore,
            max_file_size: self.max_file_size,
            ..WalkOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct HoistToml {
        scan: ScanSettings,
    }

    #[test]
    fn embeds_as_a_table_with_defaults() {
        let t: HoistToml =
            toml::from_str("[scan]\nallow_paths = [\"fixtures/**\"]\n").expect("parses");
        assert_eq!(t.scan.allow_paths, vec!["fixtures/**"]);
        assert_eq!(t.scan.max_file_size, DEFAULT_MAX_FILE_SIZE);
        assert!(t.scan.dockerignore && !t.scan.gitignore && t.scan.default_rules);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = toml::from_str::<HoistToml>("[scan]\nallow_path = []\n").err();
        assert!(e.is_some_and(|e| e.to_string().contains("allow_path")));
    }

    #[test]
    fn no_rules_at_all_is_an_error() {
        let s = ScanSettings {
            default_rules: false,
            ..ScanSettings::default()
        };
        assert!(s.to_config(Path::new("/nonexistent")).is_err());
    }
}
