//! `hoist scan`: the secret scan on its own, with or without a hoist.toml.
//!
//! What is scanned: PATH when given; else, with a hoist.toml, the app's build context as the
//! image build receives it (`.dockerignore` applies), or with `--all-files` the app's whole
//! directory (`.gitignore` applies instead); else `.`. `--history` scans the lines added by
//! a range of commits instead. Settings come from `[scan]` when there is a hoist.toml, else
//! the defaults. Exit codes: 0 nothing found, 1 findings, 2 the scan could not run or was
//! incomplete. The renderers only ever see redacted secrets.

use std::path::{Path, PathBuf};

use hoist_scan::{
    Baseline, ScanReport, ScanSettings, Scanner, WalkOptions, render_human, render_json,
    render_sarif,
};

use crate::cli::{Global, ScanFormat};
use crate::context::Setup;
use crate::exit;

pub struct Options {
    pub path: Option<PathBuf>,
    pub history: Option<String>,
    pub format: ScanFormat,
    pub output: Option<PathBuf>,
    pub update_baseline: bool,
    pub baseline: Option<PathBuf>,
    pub all_files: bool,
}

fn error(message: impl Into<String>) -> Setup {
    Setup::new(exit::BAD_INPUT, format!("error: {}", message.into()))
}

pub fn run(global: &Global, o: &Options) -> Result<u8, Setup> {
    if o.history.is_some() && o.all_files {
        return Err(error(
            "--history scans commits, not files: it cannot be combined with --all-files",
        ));
    }
    let config = if global.config.is_file() {
        Some(hoist_config::load(&global.config)?)
    } else {
        None
    };
    let (mut settings, base, root, what) = match &config {
        Some(c) => {
            let (root, what) = match (&o.path, o.all_files) {
                (Some(p), _) => (p.clone(), format!("{}", p.display())),
                (None, true) => (c.root.clone(), "the app's source tree".to_string()),
                (None, false) => (
                    c.build.context_dir.clone(),
                    format!("the build context of {}", c.path.display()),
                ),
            };
            (c.scan.clone(), c.root.clone(), root, what)
        }
        None => {
            let root = o.path.clone().unwrap_or_else(|| PathBuf::from("."));
            let what = format!(
                "{} (no {}: default settings)",
                root.display(),
                global.config.display()
            );
            (ScanSettings::default(), root.clone(), root, what)
        }
    };
    if let Some(b) = &o.baseline {
        settings.baseline = std::path::absolute(b).unwrap_or_else(|_| b.clone());
    }
    let baseline_path = settings.baseline_path(&base);

    let scan_config = settings
        .to_config(&base)
        .map_err(|e| error(e.to_string()))?;
    let scanner = Scanner::new(scan_config).map_err(|e| error(e.to_string()))?;
    let report = match &o.history {
        Some(range) => {
            eprintln!("scanning the lines added by {range} in {}", root.display());
            scanner
                .scan_history_with_limit(&root, range, settings.max_file_size)
                .map_err(|e| error(e.to_string()))?
        }
        None => {
            let walk = if o.all_files {
                WalkOptions {
                    dockerignore: false,
                    gitignore: true,
                    max_file_size: settings.max_file_size,
                    ..WalkOptions::default()
                }
            } else {
                settings.walk_options()
            };
            let ignores = match (walk.dockerignore, walk.gitignore) {
                (true, true) => ".dockerignore and .gitignore apply",
                (true, false) => ".dockerignore applies",
                (false, true) => ".gitignore applies",
                (false, false) => "no ignore files apply",
            };
            eprintln!("scanning {what}; {ignores}");
            if !root.is_dir() {
                return Err(error(format!("{} is not a directory", root.display())));
            }
            scanner.scan_tree(&root, &walk)
        }
    };

    let rendered = match o.format {
        ScanFormat::Human => render_human(&report),
        ScanFormat::Json => render_json(&report) + "\n",
        ScanFormat::Sarif => render_sarif(&report) + "\n",
    };
    match &o.output {
        Some(file) => {
            std::fs::write(file, &rendered)
                .map_err(|e| error(format!("cannot write {}: {e}", file.display())))?;
            eprint!("{}", summary(&report));
            eprintln!("report written to {}", file.display());
        }
        None => {
            print!("{rendered}");
            if o.format != ScanFormat::Human {
                eprint!("{}", summary(&report));
            }
        }
    }

    if o.update_baseline {
        return update_baseline(&report, &baseline_path);
    }
    if !report.findings.is_empty() {
        eprintln!(
            "to accept a false positive: `hoist scan --update-baseline` (writes {}) or a `hoist:allow` comment on its line",
            baseline_path.display()
        );
    }
    Ok(report.exit_status().code() as u8)
}

/// Accepts every current finding. An incomplete scan writes nothing: it would drop the
/// entries of files it could not read.
fn update_baseline(report: &ScanReport, path: &Path) -> Result<u8, Setup> {
    if !report.errors.is_empty() {
        return Err(error(format!(
            "the scan was incomplete ({} errors), so {} was not updated",
            report.errors.len(),
            path.display()
        )));
    }
    let baseline = Baseline::from_report(report);
    baseline.save(path).map_err(|e| error(e.to_string()))?;
    eprintln!(
        "baseline {}: {} accepted finding{}, {} stale entr{} dropped; review and commit it",
        path.display(),
        baseline.entries.len(),
        if baseline.entries.len() == 1 { "" } else { "s" },
        report.stale_baseline.len(),
        if report.stale_baseline.len() == 1 {
            "y"
        } else {
            "ies"
        },
    );
    Ok(exit::OK)
}

/// The human report without its findings: counts, skips, stale entries, errors.
fn summary(report: &ScanReport) -> String {
    let text = render_human(report);
    let skip = report.findings.len();
    text.lines().skip(skip).map(|l| format!("{l}\n")).collect()
}
