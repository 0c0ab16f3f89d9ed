//! The secret scan that gates every deploy (and so every `release`): the build context is
//! scanned with the app's `[scan]` settings and baseline after the policy decision and the
//! `before_build` hooks (so files a hook generates are scanned too) and before anything is
//! built or reused. What a finding does depends on the environment's `secret_scan`:
//!
//! * `block` (default): the deploy is refused like any other failure — audited as
//!   `scan.blocked`, notified as `failed`, [`PipelineError::SecretsFound`] (exit 1);
//! * `warn`: one [`Event::Warning`] per finding, audited as `scan.warned`, and the deploy
//!   goes on.
//!
//! Findings are redacted by `hoist-scan` the moment they are confirmed; the audit log and
//! notifications get only rule ids, locations and fingerprints, warnings the redacted form.

use std::path::Path;
use std::time::Instant;

use hoist_config::SecretScan;
use hoist_scan::{Finding, ScanReport, Scanner};
use serde::Serialize;

use super::{Deployer, PipelineError};
use crate::notify::{EventKind, Notice};
use crate::{Event, Stage};

/// How many findings a one-line message names before "and N more".
const NAMED: usize = 3;

/// "1 finding", "3 findings".
pub(super) fn count(n: usize) -> String {
    if n == 1 {
        "1 finding".to_string()
    } else {
        format!("{n} findings")
    }
}

/// The first few locations, then how many more.
pub(super) fn summary(locations: &[String]) -> String {
    let mut text = locations
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if locations.len() > NAMED {
        text.push_str(&format!(", and {} more", locations.len() - NAMED));
    }
    text
}

fn location(f: &Finding) -> String {
    format!("{} at {}:{}", f.rule_id, f.path, f.line)
}

/// What the audit log keeps of a finding: never the secret, not even redacted.
#[derive(Serialize)]
struct AuditFinding<'a> {
    rule: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    fingerprint: &'a str,
}

#[derive(Serialize)]
struct AuditDetail<'a> {
    mode: &'static str,
    context: String,
    files_scanned: u64,
    baselined: usize,
    findings: Vec<AuditFinding<'a>>,
}

impl Deployer {
    /// Scans the build context once and applies `environment`'s `secret_scan` mode.
    pub(crate) async fn secret_scan(
        &self,
        environment: &str,
        version: &str,
        started: Instant,
    ) -> Result<(), PipelineError> {
        let mode = self.environment(environment)?.secret_scan;
        let context = self.config.context_dir();
        let shown = display_context(&self.config.build.context);
        let place = if shown == "." {
            "the build context".to_string()
        } else {
            format!("the build context {shown}")
        };
        self.events.emit(Event::StageStarted {
            stage: Stage::Scan,
            detail: format!("scanning {place}"),
        });
        let scan_started = Instant::now();
        let report = match self.run_scan(&context).await {
            Ok(report) => report,
            Err(message) => {
                return self
                    .scan_failed(environment, version, started, message)
                    .await;
            }
        };
        let outcome = match (report.findings.len(), mode) {
            (0, _) => "no findings".to_string(),
            (n, SecretScan::Block) => format!("{}, deploy blocked", count(n)),
            (n, SecretScan::Warn) => format!("{}, deploying anyway (warn)", count(n)),
        };
        let baselined = match report.baselined.len() {
            0 => String::new(),
            n => format!(", {n} accepted by the baseline"),
        };
        self.events.emit(Event::StageFinished {
            stage: Stage::Scan,
            detail: format!(
                "{} files{}: {outcome}{baselined}",
                report.files_scanned,
                skipped(&report)
            ),
            took: scan_started.elapsed(),
        });

        if !report.errors.is_empty() {
            let message = format!(
                "could not read everything in {place}: {}; fix the files' permissions or exclude them in .dockerignore",
                summary(&report.errors)
            );
            match mode {
                SecretScan::Warn => {
                    self.events.emit(Event::Warning {
                        message: format!("secret scan incomplete: {message}"),
                    });
                    if report.findings.is_empty() {
                        self.audit(Some(environment), "scan.warned", Some(version), message);
                        return Ok(());
                    }
                }
                // Findings are definite and say more; without any, an incomplete scan
                // is not a clean one.
                SecretScan::Block if report.findings.is_empty() => {
                    return self
                        .scan_failed(environment, version, started, message)
                        .await;
                }
                SecretScan::Block => {}
            }
        }
        if report.findings.is_empty() {
            return Ok(());
        }

        let detail = AuditDetail {
            mode: mode.as_str(),
            context: shown.clone(),
            files_scanned: report.files_scanned,
            baselined: report.baselined.len(),
            findings: report
                .findings
                .iter()
                .map(|f| AuditFinding {
                    rule: &f.rule_id,
                    path: &f.path,
                    line: f.line,
                    column: f.column,
                    fingerprint: &f.fingerprint,
                })
                .collect(),
        };
        let detail = serde_json::to_string(&detail).unwrap_or_else(|e| e.to_string());
        let locations: Vec<String> = report.findings.iter().map(location).collect();
        match mode {
            SecretScan::Warn => {
                for f in &report.findings {
                    self.events.emit(Event::Warning {
                        message: format!(
                            "secret scan: {} at {}:{}:{} ({}) in {place}; deploying anyway because {environment} has secret_scan = \"warn\"",
                            f.rule_id, f.path, f.line, f.column, f.redacted
                        ),
                    });
                }
                self.audit(Some(environment), "scan.warned", Some(version), detail);
                Ok(())
            }
            SecretScan::Block => {
                self.audit(Some(environment), "scan.blocked", Some(version), detail);
                let reason = format!(
                    "secret scan: {} ({})",
                    count(locations.len()),
                    summary(&locations)
                );
                self.send(&self.scan_notice(environment, version, started, reason))
                    .await;
                let baseline = self.config.scan.baseline.display().to_string();
                Err(PipelineError::SecretsFound {
                    environment: environment.to_string(),
                    locations,
                    baseline,
                })
            }
        }
    }

    /// The scan itself, on a blocking thread (it walks and reads files in parallel).
    async fn run_scan(&self, context: &Path) -> Result<ScanReport, String> {
        let settings = self.config.scan.clone();
        let root = self.config.root.clone();
        let context = context.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let scanner = Scanner::new(settings.to_config(&root).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            Ok(scanner.scan_tree(&context, &settings.walk_options()))
        })
        .await
        .map_err(|e| format!("the scan stopped: {e}"))?
    }

    /// A scan that could not be completed fails the deploy (an unscanned context is not
    /// a clean one): audited, notified, exit 2.
    async fn scan_failed(
        &self,
        environment: &str,
        version: &str,
        started: Instant,
        message: String,
    ) -> Result<(), PipelineError> {
        self.audit(
            Some(environment),
            "scan.failed",
            Some(version),
            message.clone(),
        );
        self.send(&self.scan_notice(
            environment,
            version,
            started,
            format!("secret scan: {message}"),
        ))
        .await;
        Err(PipelineError::Scan(message))
    }

    fn scan_notice(
        &self,
        environment: &str,
        version: &str,
        started: Instant,
        reason: String,
    ) -> Notice {
        Notice {
            kind: EventKind::Failed,
            environment: environment.to_string(),
            version: version.to_string(),
            image: None,
            actor: self.actor.clone(),
            duration: Some(started.elapsed()),
            reason: Some(reason),
            tenants: Vec::new(),
        }
    }
}

/// `build.context` as written, for messages: `.` or `app/`.
fn display_context(context: &Path) -> String {
    let text = context.display().to_string();
    if text.is_empty() { ".".into() } else { text }
}

fn skipped(report: &ScanReport) -> String {
    let mut parts = Vec::new();
    if report.skipped_binary > 0 {
        parts.push(format!("{} binary", report.skipped_binary));
    }
    if report.skipped_large > 0 {
        parts.push(format!("{} too large", report.skipped_large));
    }
    if report.skipped_allowlisted > 0 {
        parts.push(format!("{} allowlisted", report.skipped_allowlisted));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (skipped {})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_a_few_and_count_the_rest() {
        let locs: Vec<String> = (1..=5).map(|i| format!("r at f:{i}")).collect();
        assert_eq!(summary(&locs[..1]), "r at f:1");
        assert_eq!(summary(&locs), "r at f:1, r at f:2, r at f:3, and 2 more");
        assert_eq!(count(1), "1 finding");
        assert_eq!(count(2), "2 findings");
    }

    #[test]
    fn the_refusal_says_how_to_see_and_accept_findings() {
        let e = PipelineError::SecretsFound {
            environment: "production".into(),
            locations: vec!["aws-access-key-id at app/settings.py:12".into()],
            baseline: ".hoist-scan-baseline.json".into(),
        };
        let text = e.to_string();
        assert!(text.starts_with("deploy to production refused: the secret scan found 1 finding in the build context (aws-access-key-id at app/settings.py:12)"), "{text}");
        for hint in [
            "`hoist scan`",
            "--update-baseline",
            ".hoist-scan-baseline.json",
            "hoist:allow",
        ] {
            assert!(text.contains(hint), "{hint}: {text}");
        }
        assert_eq!(e.exit_code(), 1);
        assert_eq!(PipelineError::Scan("x".into()).exit_code(), 2);
    }
}
