//! Minimal command-line front end for benchmarking and trying rules.
//!
//! ```text
//! cargo run --release -p hoist-scan --example scan -- [OPTIONS] PATH
//!   --print-keywords      print the ruleset's keywords, one per line, and exit
//!   --no-ignore           ignore neither .dockerignore nor .gitignore
//!   --gitignore           also honour .gitignore
//!   --format human|json|sarif   output format (default: human summary only)
//!   --findings            print every finding (human format)
//!   --by-rule             print finding counts per rule
//!   --max-size BYTES      size limit (default 1 MiB)
//!   --rules FILE          extra hoist-format rules
//!   --gitleaks FILE       gitleaks config
//!   --history RANGE       scan the lines added by RANGE in the repo at PATH
//!   --disable ID          turn a rule off (repeatable)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use hoist_scan::{
    RuleSource, ScanConfig, Scanner, WalkOptions, render_human, render_json, render_sarif,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path: Option<PathBuf> = None;
    let mut opts = WalkOptions::default();
    let mut config = ScanConfig::default();
    let mut format = String::from("summary");
    let mut print_keywords = false;
    let mut by_rule = false;
    let mut history: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--print-keywords" => print_keywords = true,
            "--no-ignore" => {
                opts.dockerignore = false;
                opts.gitignore = false;
            }
            "--gitignore" => opts.gitignore = true,
            "--findings" => format = "human".into(),
            "--by-rule" => by_rule = true,
            "--format" => format = args.next().unwrap_or_default(),
            "--max-size" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => opts.max_file_size = v,
                None => return usage("--max-size needs a number of bytes"),
            },
            "--rules" => match args.next() {
                Some(v) => config.rule_sources.push(RuleSource::HoistFile(v.into())),
                None => return usage("--rules needs a file"),
            },
            "--gitleaks" => match args.next() {
                Some(v) => config.rule_sources.push(RuleSource::GitleaksFile(v.into())),
                None => return usage("--gitleaks needs a file"),
            },
            "--history" => history = args.next(),
            "--disable" => match args.next() {
                Some(v) => config.disabled_rules.push(v),
                None => return usage("--disable needs a rule id"),
            },
            other if other.starts_with('-') => return usage(&format!("unknown option {other}")),
            other => path = Some(PathBuf::from(other)),
        }
    }
    let scanner = match Scanner::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for w in scanner.warnings() {
        eprintln!("warning: {w}");
    }
    if print_keywords {
        for k in scanner.keywords() {
            println!("{k}");
        }
        return ExitCode::SUCCESS;
    }
    let Some(path) = path else {
        return usage("missing PATH");
    };
    let report = match history {
        Some(range) => match scanner.scan_history(&path, &range) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => scanner.scan_tree(&path, &opts),
    };
    match format.as_str() {
        "json" => println!("{}", render_json(&report)),
        "sarif" => println!("{}", render_sarif(&report)),
        "human" => print!("{}", render_human(&report)),
        _ => {
            let secs = report.duration.as_secs_f64();
            let mb = report.bytes_scanned as f64 / 1e6;
            println!(
                "files={} bytes={} findings={} skipped_binary={} skipped_large={} \
                 skipped_allowlisted={} errors={} seconds={:.3} MB/s={:.1}",
                report.files_scanned,
                report.bytes_scanned,
                report.findings.len(),
                report.skipped_binary,
                report.skipped_large,
                report.skipped_allowlisted,
                report.errors.len(),
                secs,
                if secs > 0.0 { mb / secs } else { 0.0 },
            );
        }
    }
    if by_rule {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &report.findings {
            *counts.entry(f.rule_id.as_str()).or_default() += 1;
        }
        for (rule, n) in counts {
            println!("{n:6} {rule}");
        }
    }
    ExitCode::from(u8::try_from(report.exit_status().code()).unwrap_or(2))
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: scan [--print-keywords] [--no-ignore] [--gitignore] [--format human|json|sarif] \
         [--findings] [--by-rule] [--max-size BYTES] [--rules FILE] [--gitleaks FILE] \
         [--history RANGE] [--disable ID] PATH"
    );
    ExitCode::from(2)
}
