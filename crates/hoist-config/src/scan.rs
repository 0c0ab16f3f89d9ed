//! Checks of the `[scan]` table that serde cannot make: the rules files it names exist
//! and compile, its path globs are valid, and its limits make sense. A broken rules file
//! is reported at load time, naming the rules file and line, rather than at the first
//! deploy.

use std::path::{Path, PathBuf};

use hoist_scan::{RuleSource, ScanConfig, ScanSettings, Scanner};

use crate::ConfigError;
use crate::span::{Seg, value_span};

/// The directory relative `[scan]` paths are resolved against: the config's.
fn base_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn validate_scan(
    settings: &ScanSettings,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let fail = |segs: &[Seg<'_>], key: String, message: String, help: &str| {
        // Point at the value; a defaulted value is not in the text, so fall back to the
        // `[scan]` table, then to the top of the file.
        let span = value_span(text, segs)
            .or_else(|| value_span(text, &[Seg::Key("scan")]))
            .unwrap_or(0..0);
        ConfigError::invalid(path, text, span, key, message, Some(help.to_string()))
    };
    if settings.max_file_size == 0 {
        errors.push(fail(
            &[Seg::Key("scan"), Seg::Key("max_file_size")],
            "scan.max_file_size".into(),
            "a size limit of 0 would skip every file".into(),
            "remove the key (default 1 MiB = 1048576) or give a size in bytes",
        ));
    }
    if !settings.default_rules && settings.rules.is_none() && settings.gitleaks_config.is_none() {
        errors.push(fail(
            &[Seg::Key("scan"), Seg::Key("default_rules")],
            "scan.default_rules".into(),
            "with the built-in rules off and no `rules` or `gitleaks_config`, nothing would be scanned for".into(),
            "set `rules = \"FILE\"` or `gitleaks_config = \"FILE\"`, or remove `default_rules = false`",
        ));
    }
    let base = base_dir(path);
    let files = [
        (
            "rules",
            settings.rules.as_ref(),
            RuleSource::HoistFile as fn(PathBuf) -> RuleSource,
            "fix the rule at that line; the format is described in docs/scanning.md",
        ),
        (
            "gitleaks_config",
            settings.gitleaks_config.as_ref(),
            RuleSource::GitleaksFile as fn(PathBuf) -> RuleSource,
            "fix the rule at that line (Go regexes are translated; see docs/scanning.md for what is supported)",
        ),
    ];
    for (field, file, source, help) in files {
        let Some(file) = file else { continue };
        let resolved = base.join(file);
        let segs = [Seg::Key("scan"), Seg::Key(field)];
        let key = format!("scan.{field}");
        if !resolved.is_file() {
            errors.push(fail(
                &segs,
                key,
                format!("`{}` does not exist", resolved.display()),
                "write the path relative to the directory holding hoist.toml",
            ));
            continue;
        }
        let config = ScanConfig {
            default_rules: false,
            rule_sources: vec![source(resolved)],
            ..ScanConfig::default()
        };
        if let Err(e) = Scanner::new(config) {
            errors.push(fail(&segs, key, e.to_string(), help));
        }
    }
    for (i, glob) in settings.allow_paths.iter().enumerate() {
        let config = ScanConfig {
            default_rules: false,
            allow_paths: vec![glob.clone()],
            ..ScanConfig::default()
        };
        if let Err(e) = Scanner::new(config) {
            let message = match e {
                hoist_scan::ScanError::InvalidRule { message, .. } => message,
                other => other.to_string(),
            };
            errors.push(fail(
                &[Seg::Key("scan"), Seg::Key("allow_paths"), Seg::Index(i)],
                format!("scan.allow_paths[{i}]"),
                message,
                "use `*`, `?`, `**`, `[abc]` and `{a,b}`; a glob without `/` matches a file name at any depth",
            ));
        }
    }
}
