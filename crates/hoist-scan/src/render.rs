//! Renderers: human text, JSON and SARIF 2.1.0. All of them work from a
//! [`ScanReport`], which holds only redacted secrets, so none of them can
//! leak one.

use serde::Serialize;
use serde_json::{Value, json};

use crate::report::ScanReport;

/// `$schema` written into SARIF output.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Tool name in SARIF output.
pub const TOOL_NAME: &str = "hoist-scan";

/// `tool.driver.informationUri` in SARIF output.
pub const INFORMATION_URI: &str = "https://docs.rs/hoist-scan";

/// Key of the fingerprint in SARIF `partialFingerprints`.
pub const SARIF_FINGERPRINT_KEY: &str = "hoistSecret/v1";

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One line per finding (`path:line:col: rule-id redacted`), then stale
/// baseline entries, errors and a summary.
pub fn render_human(report: &ScanReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{}:{}:{}: {} {}",
            f.path, f.line, f.column, f.rule_id, f.redacted
        ));
        if let Some(c) = &f.commit {
            out.push_str(&format!(" (commit {})", c.get(..12).unwrap_or(c)));
        }
        out.push_str(&format!("  # {}\n", f.description));
    }
    for e in &report.stale_baseline {
        out.push_str(&format!(
            "stale baseline entry: {} {} {} ({}) matches nothing; drop it with --update-baseline\n",
            e.path,
            e.rule_id,
            e.redacted,
            e.fingerprint.get(..12).unwrap_or(&e.fingerprint)
        ));
    }
    for e in &report.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    let n = report.findings.len();
    out.push_str(&format!(
        "{n} finding{}, {} baselined, {} stale baseline entr{}\n",
        if n == 1 { "" } else { "s" },
        report.baselined.len(),
        report.stale_baseline.len(),
        if report.stale_baseline.len() == 1 {
            "y"
        } else {
            "ies"
        },
    ));
    out.push_str(&format!(
        "scanned {} files ({}) in {:.2?}; skipped {} binary, {} too large, {} allowlisted\n",
        report.files_scanned,
        human_size(report.bytes_scanned),
        report.duration,
        report.skipped_binary,
        report.skipped_large,
        report.skipped_allowlisted,
    ));
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a ScanReport,
    duration_ms: u128,
    exit_code: i32,
}

/// The whole report as pretty JSON: `findings`, `baselined`,
/// `stale_baseline`, counters, `errors`, `duration_ms`, `exit_code`.
pub fn render_json(report: &ScanReport) -> String {
    let view = JsonReport {
        report,
        duration_ms: report.duration.as_millis(),
        exit_code: report.exit_status().code(),
    };
    serde_json::to_string_pretty(&view).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Percent-encode a relative path for a SARIF `uri` (RFC 3986
/// uri-reference: unreserved characters and `/` stay as they are).
fn uri_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SARIF 2.1.0 (valid against the published schema), one run, with every
/// rule in `tool.driver.rules`, one `error`-level result per new finding and
/// the fingerprint in `partialFingerprints` so code-scanning services track
/// a secret across line moves.
pub fn render_sarif(report: &ScanReport) -> String {
    serde_json::to_string_pretty(&sarif_value(report))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// [`render_sarif`] as a JSON value.
pub fn sarif_value(report: &ScanReport) -> Value {
    let rules: Vec<Value> = report
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.description },
                "fullDescription": { "text": r.description },
                "defaultConfiguration": { "level": "error" },
                "properties": { "tags": ["security", "secret"] },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": "error",
                "message": {
                    "text": format!("{}: {} ({})", f.rule_id, f.description, f.redacted)
                },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri_encode(&f.path) },
                        "region": { "startLine": f.line, "startColumn": f.column }
                    }
                }],
                "partialFingerprints": { SARIF_FINGERPRINT_KEY: f.fingerprint },
            });
            if let Some(i) = report.rules.iter().position(|r| r.id == f.rule_id) {
                result["ruleIndex"] = json!(i);
            }
            if let Some(c) = &f.commit {
                result["properties"] = json!({ "commit": c });
            }
            result
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": TOOL_NAME,
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "filesScanned": report.files_scanned,
                "bytesScanned": report.bytes_scanned,
                "skippedBinary": report.skipped_binary,
                "skippedLarge": report.skipped_large,
                "baselined": report.baselined.len(),
                "staleBaseline": report.stale_baseline.len(),
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding() {
        assert_eq!(uri_encode("a/b c/d%.txt"), "a/b%20c/d%25.txt");
        assert_eq!(uri_encode("é"), "%C3%A9");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
