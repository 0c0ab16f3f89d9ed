//! The scanner's quality on the labelled corpus (`crates/hoist-scan/corpus`):
//! recall per rule family and overall, the false-alarm rate on negatives,
//! and every miss. `bench/scan-quality.sh` runs it.
//!
//! ```text
//! cargo run --release -p hoist-scan --example quality -- [CORPUS_DIR] [--rules FILE] [--per-rule]
//!     [--case FILE:LINE]   (print one case's text and findings)
//! ```
//!
//! Exit status: 0 when the figures meet the targets and no unmarked case
//! fails, 1 otherwise, 2 on a bad corpus or ruleset.

use std::path::PathBuf;
use std::process::ExitCode;

use hoist_scan::corpus::Corpus;
use hoist_scan::{RuleSource, ScanConfig, Scanner};

fn main() -> ExitCode {
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus"));
    let mut config = ScanConfig::default();
    let mut per_rule = false;
    let mut show: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--per-rule" => per_rule = true,
            "--case" => show.extend(args.next()),
            "--rules" => match args.next() {
                Some(f) => config.rule_sources.push(RuleSource::HoistFile(f.into())),
                None => {
                    eprintln!("error: --rules needs a file");
                    return ExitCode::from(2);
                }
            },
            other => dir = PathBuf::from(other),
        }
    }
    let (corpus, scanner) = match (Corpus::load_dir(&dir), Scanner::new(config)) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !show.is_empty() {
        // Debug one case: its expanded text and what each rule reports.
        for case in corpus.cases.iter().filter(|c| show.contains(&c.origin)) {
            println!(
                "{} [{}] path={}\n{}\n--",
                case.origin, case.rule, case.path, case.text
            );
            for f in scanner.scan_bytes(&case.path, case.text.as_bytes()) {
                println!("  {}:{} {} {}", f.line, f.column, f.rule_id, f.redacted);
            }
        }
        return ExitCode::SUCCESS;
    }
    let report = corpus.evaluate(&scanner);
    println!("corpus: {} ({} cases)", dir.display(), corpus.cases.len());
    print!("{}", report.render());
    if per_rule {
        println!("\nper rule (positives found/total, negatives flagged/total):");
        for (rule, c) in &report.rules {
            println!(
                "  {rule:<40} {}/{}  {}/{}",
                c.found, c.positives, c.false_alarms, c.negatives
            );
        }
    }
    let all = report.overall();
    let providers = report
        .families
        .get("provider-keys")
        .copied()
        .unwrap_or_default();
    let ok = all.recall() >= 0.85
        && providers.recall() >= 0.9
        && all.false_alarm_rate() <= 0.05
        && report.regressions.is_empty();
    println!(
        "\ntargets: recall {:.3} (>= 0.85), provider keys {:.3} (>= 0.90), false alarms {:.1}% (<= 5%): {}",
        all.recall(),
        providers.recall(),
        100.0 * all.false_alarm_rate(),
        if ok { "met" } else { "NOT met" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
