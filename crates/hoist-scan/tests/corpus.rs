//! The built-in ruleset measured on the labelled corpus in `corpus/`.
//!
//! Fails when an unmarked case regresses (a `+` case its rule no longer
//! finds, a `-` case something now flags), when the overall figures fall
//! below the targets, or when a rule loses its corpus coverage.

use std::path::Path;

use hoist_scan::corpus::{Corpus, QualityReport};
use hoist_scan::{ScanConfig, Scanner};

fn evaluate() -> (Corpus, Scanner, QualityReport) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let corpus = Corpus::load_dir(&dir).expect("corpus parses");
    let scanner = Scanner::new(ScanConfig::default()).expect("built-in rules compile");
    let report = corpus.evaluate(&scanner);
    (corpus, scanner, report)
}

#[test]
fn corpus_meets_the_targets_and_nothing_regresses() {
    let (_, _, report) = evaluate();
    let text = report.render();
    assert!(
        report.regressions.is_empty(),
        "cases that regressed:\n{text}"
    );
    let all = report.overall();
    assert!(
        all.recall() >= 0.85,
        "overall recall {}\n{text}",
        all.recall()
    );
    let providers = report.families["provider-keys"];
    assert!(
        providers.recall() >= 0.9,
        "provider-key recall {}\n{text}",
        providers.recall()
    );
    assert!(
        all.false_alarm_rate() <= 0.05,
        "false alarms {}\n{text}",
        all.false_alarm_rate()
    );
}

#[test]
fn corpus_covers_every_builtin_rule() {
    let (corpus, scanner, report) = evaluate();
    let positives = corpus.cases.iter().filter(|c| c.positive).count();
    let negatives = corpus.cases.len() - positives;
    assert!(positives >= 600, "{positives} positives");
    assert!(negatives >= 200, "{negatives} negatives");
    let ids: Vec<String> = scanner.rules().into_iter().map(|r| r.id).collect();
    assert!(ids.len() >= 150, "{} rules", ids.len());
    let mut thin = Vec::new();
    for id in &ids {
        let c = report.rules.get(id).copied().unwrap_or_default();
        if c.positives < 3 || c.negatives < 2 {
            thin.push(format!(
                "{id}: {} positives, {} negatives",
                c.positives, c.negatives
            ));
        }
    }
    assert!(
        thin.is_empty(),
        "rules with too few corpus cases:\n{}",
        thin.join("\n")
    );
    let unknown: Vec<&str> = report
        .rules
        .keys()
        .filter(|r| !ids.contains(r))
        .map(String::as_str)
        .collect();
    assert!(
        unknown.is_empty(),
        "corpus names unknown rules: {unknown:?}"
    );
}
