//! Baselines: the secrets a team has looked at and accepted (rotated,
//! revoked, test-only), keyed by fingerprint so they stay accepted when
//! lines move. Rule id, path and the redacted secret are stored beside each
//! fingerprint only so a human reviewing the file knows what it accepts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ScanError;
use crate::finding::Finding;

/// Default location of the baseline, relative to the project root. Not under `.hoist/`,
/// which holds local state and is usually git-ignored: the baseline is reviewed and
/// committed like code, so CI sees the same accepted findings as the developer.
pub const DEFAULT_BASELINE_PATH: &str = ".hoist-scan-baseline.json";

const BASELINE_VERSION: u32 = 1;

/// One accepted secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// The finding's fingerprint (what actually matters).
    pub fingerprint: String,
    /// The rule that found it, for humans.
    pub rule_id: String,
    /// Where it was found when accepted, for humans.
    pub path: String,
    /// The redacted secret, for humans.
    #[serde(default)]
    pub redacted: String,
}

/// A set of accepted fingerprints, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    version: u32,
    /// Accepted secrets, sorted by path, rule and fingerprint.
    pub entries: Vec<BaselineEntry>,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            version: BASELINE_VERSION,
            entries: Vec::new(),
        }
    }
}

impl Baseline {
    /// A baseline accepting exactly these findings (one entry per
    /// fingerprint and path). This is what `--update-baseline` writes.
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let entries: BTreeSet<BaselineEntry> = findings
            .into_iter()
            .map(|f| BaselineEntry {
                fingerprint: f.fingerprint.clone(),
                rule_id: f.rule_id.clone(),
                path: f.path.clone(),
                redacted: f.redacted.clone(),
            })
            .collect();
        let mut entries: Vec<BaselineEntry> = entries.into_iter().collect();
        entries.sort_by(|a, b| {
            (&a.path, &a.rule_id, &a.fingerprint).cmp(&(&b.path, &b.rule_id, &b.fingerprint))
        });
        Baseline {
            version: BASELINE_VERSION,
            entries,
        }
    }

    /// A baseline accepting everything a scan found, new or already
    /// baselined (entries that went stale are dropped).
    pub fn from_report(report: &crate::ScanReport) -> Self {
        Self::from_findings(report.findings.iter().chain(report.baselined.iter()))
    }

    /// Whether `fingerprint` is accepted.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.entries.iter().any(|e| e.fingerprint == fingerprint)
    }

    /// Read a baseline file.
    pub fn load(path: &Path) -> Result<Self, ScanError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScanError::io(path, e))?;
        let b: Baseline = serde_json::from_str(&text).map_err(|e| ScanError::Baseline {
            path: path.to_path_buf(),
            message: format!("line {}, column {}: {e}", e.line(), e.column()),
        })?;
        if b.version != BASELINE_VERSION {
            return Err(ScanError::Baseline {
                path: path.to_path_buf(),
                message: format!(
                    "unsupported version {} (expected {BASELINE_VERSION})",
                    b.version
                ),
            });
        }
        Ok(b)
    }

    /// Read a baseline file, or an empty baseline if it does not exist.
    pub fn load_or_default(path: &Path) -> Result<Self, ScanError> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::default())
        }
    }

    /// Write the baseline (pretty JSON, trailing newline), creating parent
    /// directories; written to a temporary file and renamed so a crash never
    /// leaves half a baseline.
    pub fn save(&self, path: &Path) -> Result<(), ScanError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| ScanError::io(parent, e))?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(|e| ScanError::Baseline {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        text.push('\n');
        let mut tmp = PathBuf::from(path);
        tmp.set_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| ScanError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ScanError::io(path, e))
    }
}
