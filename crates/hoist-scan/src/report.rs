//! The result of a scan and the exit-code policy the CLI gate applies.

use std::time::Duration;

use serde::Serialize;

use crate::baseline::{Baseline, BaselineEntry};
use crate::finding::Finding;

/// A rule as shown to users and in SARIF `tool.driver.rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Rule id.
    pub id: String,
    /// One-line description.
    pub description: String,
}

/// What a scan found and how much it looked at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// New findings (not accepted by the baseline), sorted by path, line,
    /// column and rule.
    pub findings: Vec<Finding>,
    /// Findings accepted by the baseline (still present).
    pub baselined: Vec<Finding>,
    /// Baseline entries that matched nothing in this scan: the secret was
    /// removed, so the entry can be dropped with `--update-baseline`.
    pub stale_baseline: Vec<BaselineEntry>,
    /// Files (or, for history scans, per-commit file diffs) scanned.
    pub files_scanned: u64,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Files skipped because they look binary (a NUL byte in the first 8 KiB).
    pub skipped_binary: u64,
    /// Files skipped because they exceed the size limit.
    pub skipped_large: u64,
    /// Files skipped because a path allowlist covers them.
    pub skipped_allowlisted: u64,
    /// Files that could not be read (the scan is incomplete if non-empty).
    pub errors: Vec<String>,
    /// Wall-clock time of the scan.
    #[serde(skip)]
    pub duration: Duration,
    /// The rules that were run.
    #[serde(skip)]
    pub rules: Vec<RuleInfo>,
}

/// The exit-code policy for the release gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Nothing found and the scan was complete: exit 0.
    Clean,
    /// At least one new finding: exit 1.
    Findings,
    /// The scan could not be completed (bad config, unreadable files, git
    /// failure) and found nothing: exit 2.
    Error,
}

impl ExitStatus {
    /// The process exit code: 0, 1 or 2.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Error => 2,
        }
    }
}

impl ScanReport {
    /// Findings win over errors (they are definite and actionable); an
    /// incomplete scan with no findings is an error, never "clean".
    pub fn exit_status(&self) -> ExitStatus {
        if !self.findings.is_empty() {
            ExitStatus::Findings
        } else if !self.errors.is_empty() {
            ExitStatus::Error
        } else {
            ExitStatus::Clean
        }
    }

    /// Split findings into new and baselined, and work out which baseline
    /// entries no longer match anything.
    pub fn apply_baseline(&mut self, baseline: &Baseline) {
        let all: Vec<Finding> = std::mem::take(&mut self.findings)
            .into_iter()
            .chain(std::mem::take(&mut self.baselined))
            .collect();
        let (accepted, new): (Vec<Finding>, Vec<Finding>) = all
            .into_iter()
            .partition(|f| baseline.contains(&f.fingerprint));
        self.findings = new;
        self.baselined = accepted;
        self.stale_baseline = baseline
            .entries
            .iter()
            .filter(|e| {
                !self
                    .baselined
                    .iter()
                    .any(|f| f.fingerprint == e.fingerprint)
            })
            .cloned()
            .collect();
        sort_findings(&mut self.findings);
        sort_findings(&mut self.baselined);
    }
}

pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.rule_id, &a.commit)
            .cmp(&(&b.path, b.line, b.column, &b.rule_id, &b.commit))
    });
}
