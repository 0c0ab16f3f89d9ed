//! Secret scanning for hoist's release gate.
//!
//! A library with one concern, usable without the hoist CLI: find
//! credentials in what is about to ship, fast and with few false alarms,
//! and report them so that a baseline of accepted findings stays stable.
//!
//! * **Walk** ([`Scanner::scan_tree`]): by default the Docker build context
//!   (`.dockerignore` with Docker's own semantics via [`DockerIgnore`], the
//!   matcher of the `hoist-dockerignore` crate that the image build uses too),
//!   optionally `.gitignore` too; binary and oversized files are skipped
//!   and counted. [`Scanner::scan_history`] scans only the lines added by a
//!   range of commits.
//! * **Rules**: a built-in ruleset (`rules/default.toml`, embedded), plus
//!   user rules in the same format and gitleaks configs ([`RuleSource`]).
//! * **Engine**: one case-insensitive Aho-Corasick keyword pass per file
//!   selects the rules worth running; their `regex::bytes` patterns confirm;
//!   entropy thresholds, allowlists (path globs, regexes, stopwords) and an
//!   inline `hoist:allow` comment remove noise.
//! * **Findings** are redacted at birth (at most 4 characters shown) and
//!   carry a fingerprint of rule id + secret, so a [`Baseline`] survives
//!   line moves and rebases.
//! * **Output**: [`render_human`], [`render_json`], [`render_sarif`]; the
//!   gate's exit code comes from [`ScanReport::exit_status`].
//!
//! ```no_run
//! use hoist_scan::{ScanSettings, Scanner, render_human};
//! use std::path::Path;
//!
//! let settings = ScanSettings::default();
//! let scanner = Scanner::new(settings.to_config(Path::new("."))?)?;
//! let report = scanner.scan_tree(Path::new("."), &settings.walk_options());
//! print!("{}", render_human(&report));
//! std::process::exit(report.exit_status().code());
//! # Ok::<(), hoist_scan::ScanError>(())
//! ```

#![deny(missing_docs)]

mod baseline;
mod compile;
pub mod corpus;
mod engine;
mod error;
mod finding;
mod gitleaks;
mod history;
mod render;
mod report;
mod ruleset;
mod settings;
mod walk;

pub use baseline::{Baseline, BaselineEntry, DEFAULT_BASELINE_PATH};
pub use compile::shannon_entropy;
pub use engine::{INLINE_ALLOW, RuleSource, ScanConfig, Scanner};
pub use error::ScanError;
pub use finding::{Finding, REDACT_PREFIX_MAX, REDACTION_MARK, fingerprint, redact};
pub use gitleaks::translate_go_regex;
/// `.dockerignore` matching is hoist-dockerignore's, the same the image build uses.
pub use hoist_dockerignore::DockerIgnore;
pub use render::{
    INFORMATION_URI, SARIF_FINGERPRINT_KEY, SARIF_SCHEMA, TOOL_NAME, render_human, render_json,
    render_sarif, sarif_value,
};
pub use report::{ExitStatus, RuleInfo, ScanReport};
pub use settings::ScanSettings;
pub use walk::{BINARY_SNIFF_LEN, DEFAULT_MAX_FILE_SIZE, WalkOptions};

/// The built-in ruleset's TOML text (the file embedded in the binary), e.g.
/// for `hoist scan --print-rules` or as a starting point for custom rules.
pub const DEFAULT_RULES_TOML: &str = ruleset::DEFAULT_RULES;
