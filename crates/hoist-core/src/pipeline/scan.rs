//! The secret scan that gates every deploy (and so every `release`): the build context is
//! scanned with the app's `[scan]` settings and baseline after the policy decision and the
//! `before_build` hooks (so files a hook generates are scanned too) and before anything is
//! built or reused. What a finding does depends on the environment's `secret_scan`:
//!
//! * `block` (default): the deploy is refused like any other failure — audited as
//!   `scan.blocked`, notified as `failed`, [`PipelineError::SecretsFound`] (exit 1);
//! * `warn`: one warning per finding, audited as `scan.warned`, and the deploy
//!   goes on.
//!
//! Findings are redacted by `hoist-scan` the moment they are confirmed; the audit log and
//! notifications get only rule ids, locations and fingerprints, warnings the redacted form.

use std::path::Path;
use std::time::Instant;

use hoist_config::SecretScan;
use hoist_scan::{Finding, ScanReport, Scanner};

use super::{Deployer, PipelineError, millis};
use crate::Stage;
use crate::events::{EventKind, FindingLocation, ScanVerdict};

/// How many findings a one-line message names before "and N more".
const NAMED: usize = 3;

pub(super) use crate::events::text::count;

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

impl Deployer {
    /// Scans the build context once and applies `environment`'s `secret_scan` mode.
    pub(crate) async fn secret_scan(
        &self,
        environment: &str,
        version: &str,
        started: Instant,
    ) -> Result<(), PipelineError> {
        let mode = self.environment(environment)?.secret_scan;
        let context = self.config.build.context_dir.clone();
        let shown = display_context(&self.config.build.context);
        let place = if shown == "." {
            "the build context".to_string()
        } else {
            format!("the build context {shown}")
        };
        self.events.emit(EventKind::StageStarted {
            stage: Stage::Scan,
            subject: Some(place.clone()),
        });
        let scan_started = Instant::now();
        let report = match self.run_scan(&context).await {
            Ok(report) => report,
            Err(message) => {
                return self.scan_failed(version, started, message).await;
            }
        };
        let verdict = match (report.findings.is_empty() && report.errors.is_empty(), mode) {
            (true, _) => ScanVerdict::Clean,
            (false, SecretScan::Warn) => ScanVerdict::Warned,
            (false, SecretScan::Block) => ScanVerdict::Blocked,
        };
        self.events.emit(EventKind::ScanFinished {
            files: report.files_scanned,
            findings: report.findings.len(),
            baselined: report.baselined.len(),
            skipped_binary: report.skipped_binary,
            skipped_large: report.skipped_large,
            skipped_allowlisted: report.skipped_allowlisted,
            unreadable: report.errors.len(),
            verdict,
            took_ms: millis(scan_started.elapsed()),
        });

        if !report.errors.is_empty() {
            let message = format!(
                "could not read everything in {place}: {}; fix the files' permissions or exclude them in .dockerignore",
                summary(&report.errors)
            );
            match mode {
                SecretScan::Warn if report.findings.is_empty() => {
                    self.note(EventKind::ScanIncomplete {
                        version: version.to_string(),
                        verdict,
                        reason: message,
                    });
                    return Ok(());
                }
                SecretScan::Warn => {
                    self.events
                        .warning(format!("secret scan incomplete: {message}"));
                }
                // Findings are definite and say more; without any, an incomplete scan
                // is not a clean one.
                SecretScan::Block if report.findings.is_empty() => {
                    return self.scan_failed(version, started, message).await;
                }
                SecretScan::Block => {}
            }
        }
        if report.findings.is_empty() {
            return Ok(());
        }

        if mode == SecretScan::Warn {
            for f in &report.findings {
                self.events.warning(format!(
                    "secret scan: {} at {}:{}:{} ({}) in {place}; deploying anyway because {environment} has secret_scan = \"warn\"",
                    f.rule_id, f.path, f.line, f.column, f.redacted
                ));
            }
        }
        self.note(EventKind::SecretsFound {
            version: version.to_string(),
            verdict,
            context: shown.clone(),
            files: report.files_scanned,
            baselined: report.baselined.len(),
            findings: report
                .findings
                .iter()
                .map(|f| FindingLocation {
                    rule: f.rule_id.clone(),
                    path: f.path.clone(),
                    line: f.line,
                    column: f.column,
                    fingerprint: f.fingerprint.clone(),
                })
                .collect(),
        });
        if mode == SecretScan::Warn {
            return Ok(());
        }
        let locations: Vec<String> = report.findings.iter().map(location).collect();
        self.record(EventKind::Failed {
            version: version.to_string(),
            reason: format!(
                "secret scan: {} ({})",
                count(locations.len()),
                summary(&locations)
            ),
            took_ms: millis(started.elapsed()),
        })
        .await;
        let baseline = self.config.scan.baseline.display().to_string();
        Err(PipelineError::SecretsFound {
            environment: environment.to_string(),
            locations,
            baseline,
        })
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
        version: &str,
        started: Instant,
        message: String,
    ) -> Result<(), PipelineError> {
        self.note(EventKind::ScanIncomplete {
            version: version.to_string(),
            verdict: ScanVerdict::Blocked,
            reason: message.clone(),
        });
        self.record(EventKind::Failed {
            version: version.to_string(),
            reason: format!("secret scan: {message}"),
            took_ms: millis(started.elapsed()),
        })
        .await;
        Err(PipelineError::Scan(message))
    }
}

/// `build.context` as written, for messages: `.` or `app/`.
fn display_context(context: &Path) -> String {
    let text = context.display().to_string();
    if text.is_empty() { ".".into() } else { text }
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
