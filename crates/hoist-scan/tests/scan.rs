//! Integration tests through the public API, on temporary trees.
//!
//! Fake secrets are assembled at run time from pieces (`tok("ghp", ...)`),
//! so this file itself never contains a string a rule would flag.

use std::fs;
use std::path::Path;
use std::process::Command;

use hoist_scan::{
    Baseline, ExitStatus, RuleSource, SARIF_SCHEMA, ScanConfig, ScanError, ScanSettings, Scanner,
    WalkOptions, render_human, render_json, render_sarif, sarif_value,
};

const BODY36: &str = "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";

/// A token `prefix_body`, built at run time.
fn tok(prefix: &str, body: &str) -> String {
    format!("{prefix}_{body}")
}

fn github_token() -> String {
    tok("ghp", BODY36)
}

fn github_token_2() -> String {
    tok("ghp", "ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210")
}

fn scanner() -> Scanner {
    Scanner::new(ScanConfig::default()).expect("built-in rules compile")
}

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(p, content).expect("write");
}

fn paths(report: &hoist_scan::ScanReport) -> Vec<String> {
    report.findings.iter().map(|f| f.path.clone()).collect()
}

#[test]
fn docker_context_walk_honours_dockerignore_not_gitignore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let line = format!("TOKEN={}\n", github_token());
    write(root, ".gitignore", ".env\n");
    write(
        root,
        ".dockerignore",
        "# build context\nsecrets\n*.pem\n!keep.pem\n",
    );
    write(root, ".env", &line); // git-ignored, but in the image
    write(root, "secrets/prod.txt", &line); // dockerignored directory
    write(root, "sub/secrets/nested.txt", &line); // anchored: not excluded
    write(root, "server.pem", &line); // excluded
    write(root, "keep.pem", &line); // re-included
    write(root, "sub/other.pem", &line); // `*.pem` is root-only
    write(root, ".git/config", &line); // never scanned

    let report = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(
        paths(&report),
        vec![
            ".env",
            "keep.pem",
            "sub/other.pem",
            "sub/secrets/nested.txt"
        ],
        "{}",
        render_human(&report)
    );

    let report = scanner().scan_tree(root, &WalkOptions::source_tree());
    assert_eq!(
        paths(&report),
        vec!["keep.pem", "sub/other.pem", "sub/secrets/nested.txt"]
    );

    let everything = WalkOptions {
        dockerignore: false,
        ..WalkOptions::default()
    };
    let report = scanner().scan_tree(root, &everything);
    assert_eq!(report.findings.len(), 6, "{}", render_human(&report));
}

#[test]
fn binary_and_large_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let token = github_token();
    let mut binary = b"\x7fELF\0\0\0".to_vec();
    binary.extend_from_slice(token.as_bytes());
    write(root, "app.bin", &binary);
    let mut large = "x".repeat(2048);
    large.push_str(&token);
    write(root, "big.txt", &large);
    write(root, "small.txt", format!("t = {token}\n"));

    let opts = WalkOptions {
        max_file_size: 1024,
        ..WalkOptions::default()
    };
    let report = scanner().scan_tree(root, &opts);
    assert_eq!(report.skipped_binary, 1);
    assert_eq!(report.skipped_large, 1);
    assert_eq!(report.files_scanned, 1);
    assert_eq!(paths(&report), vec!["small.txt"]);
    assert_eq!(report.bytes_scanned, (token.len() + 5) as u64);

    // A NUL after the first 8 KiB does not make a file binary.
    let mut late_nul = "a\n".repeat(5000);
    late_nul.push('\0');
    late_nul.push_str(&token);
    write(root, "late.txt", &late_nul);
    let report = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(report.skipped_binary, 1);
    assert!(paths(&report).contains(&"late.txt".to_string()));
}

#[test]
fn fingerprint_survives_line_moves_and_baseline_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "app.env", format!("A={}\n", github_token()));
    let first = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(first.findings.len(), 1);
    assert_eq!(first.exit_status(), ExitStatus::Findings);
    let fp = first.findings[0].fingerprint.clone();
    assert_eq!(fp.len(), 64);

    // Move the secret down and into another file: same fingerprint.
    fs::remove_file(root.join("app.env")).expect("rm");
    write(
        root,
        "config/moved.env",
        format!("# header\n\n\nB = {}\n", github_token()),
    );
    let moved = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(moved.findings.len(), 1);
    assert_eq!(moved.findings[0].fingerprint, fp);
    assert_eq!(moved.findings[0].line, 4);
    assert_eq!(moved.findings[0].column, 5);

    // Accept it: write the baseline, load it back.
    let baseline_path = root.join(".hoist/scan-baseline.json");
    Baseline::from_report(&moved)
        .save(&baseline_path)
        .expect("save baseline");
    let loaded = Baseline::load(&baseline_path).expect("load baseline");
    assert_eq!(loaded.entries.len(), 1);
    assert_eq!(loaded.entries[0].fingerprint, fp);
    assert_eq!(loaded.entries[0].path, "config/moved.env");
    assert_eq!(loaded.entries[0].rule_id, "github-pat");
    let text = fs::read_to_string(&baseline_path).expect("read");
    assert!(!text.contains(&github_token()));

    let with_baseline = |b: Baseline| {
        Scanner::new(ScanConfig {
            baseline: Some(b),
            ..ScanConfig::default()
        })
        .expect("compiles")
    };
    let accepted = with_baseline(loaded.clone()).scan_tree(root, &WalkOptions::default());
    assert!(accepted.findings.is_empty());
    assert_eq!(accepted.baselined.len(), 1);
    assert!(accepted.stale_baseline.is_empty());
    assert_eq!(accepted.exit_status(), ExitStatus::Clean);

    // A new, different secret is still reported; the accepted one is not.
    write(root, "new.env", format!("C={}\n", github_token_2()));
    let mixed = with_baseline(loaded.clone()).scan_tree(root, &WalkOptions::default());
    assert_eq!(paths(&mixed), vec!["new.env"]);
    assert_eq!(mixed.baselined.len(), 1);

    // Remove the accepted secret: its entry is reported stale.
    fs::remove_file(root.join("config/moved.env")).expect("rm");
    let stale = with_baseline(loaded).scan_tree(root, &WalkOptions::default());
    assert_eq!(stale.stale_baseline.len(), 1);
    assert_eq!(stale.stale_baseline[0].fingerprint, fp);
    assert!(render_human(&stale).contains("stale baseline entry"));
    // Updating the baseline drops the stale entry and adds the new one.
    let updated = Baseline::from_report(&stale);
    assert_eq!(updated.entries.len(), 1);
    assert_ne!(updated.entries[0].fingerprint, fp);
}

#[test]
fn corrupt_baseline_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("b.json");
    fs::write(&p, "{\"version\": 1, \"entries\": [}").expect("write");
    let err = Baseline::load(&p).unwrap_err();
    assert!(matches!(err, ScanError::Baseline { .. }), "{err}");
    assert!(Baseline::load_or_default(&dir.path().join("missing.json")).is_ok());
}

#[test]
fn inline_allow_comment_silences_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let marker = ["hoist", "allow"].join(":");
    write(
        root,
        "a.py",
        format!(
            "X = '{}'  # {marker}: test fixture\nY = '{}'\n",
            github_token(),
            github_token_2()
        ),
    );
    let report = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].line, 2);
}

#[test]
fn allow_paths_and_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "fixtures/keys.txt", format!("{}\n", github_token()));
    write(root, "src/main.txt", format!("{}\n", github_token()));
    let settings: ScanSettings =
        toml::from_str("allow_paths = [\"fixtures/**\"]\nmax_file_size = 4096\n").expect("parses");
    let scanner = Scanner::new(settings.to_config(root).expect("config")).expect("compiles");
    let report = scanner.scan_tree(root, &settings.walk_options());
    assert_eq!(paths(&report), vec!["src/main.txt"]);
    assert_eq!(report.skipped_allowlisted, 1);
}

#[test]
fn redaction_never_leaks_the_secret_in_any_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let secrets = [
        github_token(),
        ["glpat", "aBcDeFgHiJkLmNoPqRsT"].join("-"),
        format!("{}-{}", "sk-ant-api03", "aBcDeFgHiJ".repeat(9) + "aBcAA"),
        ["postgres://app:", "pW9qL2xZ7r", "@db.internal/app"].concat(),
    ];
    let mut content = String::new();
    for s in &secrets {
        content.push_str(&format!("value = \"{s}\"\n"));
    }
    write(root, "leaky.env", &content);
    let report = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(report.findings.len(), 4, "{}", render_human(&report));
    let outputs = [
        render_human(&report),
        render_json(&report),
        render_sarif(&report),
        format!("{report:?}"),
        format!("{:?}", report.findings),
    ];
    let inner = |s: &str| -> String {
        // The secret part that matters: for the URL, the password.
        if s.starts_with("postgres") {
            "pW9qL2xZ7r".to_string()
        } else {
            s.to_string()
        }
    };
    for out in &outputs {
        for s in &secrets {
            let s = inner(s);
            // Neither the secret nor anything past its first 4 characters.
            assert!(!out.contains(&s), "secret leaked in:\n{out}");
            let tail = &s[s.len() - 8..];
            assert!(!out.contains(tail), "secret tail {tail} leaked in:\n{out}");
        }
    }
    for f in &report.findings {
        assert!(f.redacted.ends_with("*****"));
        assert!(f.redacted.chars().count() <= 4 + 5);
    }
}

#[test]
fn sarif_is_valid_against_the_published_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "dir with space/a.env",
        format!("T={}\n", github_token()),
    );
    write(
        root,
        "b.env",
        format!("T={}\n", ["glpat", "aBcDeFgHiJkLmNoPqRsT"].join("-")),
    );
    let report = scanner().scan_tree(root, &WalkOptions::default());
    assert_eq!(report.findings.len(), 2);
    let sarif = sarif_value(&report);

    let schema: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json"))
            .expect("schema parses");
    // Formats (uri, uri-reference, ...) are enforced too. The fixture is the
    // published schema with one fix: in the two `language` patterns (run,
    // toolComponent) the stray `]` is escaped (`\\]`, same meaning), because a strict regex parser
    // rejects the original and would refuse to compile the schema.
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    // The validator is not vacuous: a broken document fails.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
    let mut broken = sarif.clone();
    broken["version"] = serde_json::json!("2.0.0");
    assert!(!validator.is_valid(&broken));

    // And the fields the gate's consumers rely on are there.
    assert_eq!(sarif["$schema"], SARIF_SCHEMA);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "hoist-scan");
    assert!(run["tool"]["driver"]["informationUri"].is_string());
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(rules.len() >= 60);
    let results = run["results"].as_array().expect("results");
    let spaced = results
        .iter()
        .find(|r| r["ruleId"] == "github-pat")
        .expect("github result");
    let loc = &spaced["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "dir%20with%20space/a.env");
    assert_eq!(loc["region"]["startLine"], 1);
    assert_eq!(loc["region"]["startColumn"], 3);
    assert_eq!(spaced["level"], "error");
    assert!(spaced["message"]["text"].as_str().is_some());
    let fp = spaced["partialFingerprints"]["hoistSecret/v1"]
        .as_str()
        .expect("fingerprint");
    assert_eq!(fp.len(), 64);
    let idx = spaced["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[idx]["id"], "github-pat");
}

#[test]
fn json_output_has_findings_and_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.env", format!("T={}\n", github_token()));
    let report = scanner().scan_tree(dir.path(), &WalkOptions::default());
    let v: serde_json::Value = serde_json::from_str(&render_json(&report)).expect("json");
    assert_eq!(v["findings"][0]["rule_id"], "github-pat");
    assert_eq!(v["findings"][0]["path"], "a.env");
    assert_eq!(v["files_scanned"], 1);
    assert_eq!(v["exit_code"], 1);
}

#[test]
fn exit_status_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = scanner().scan_tree(dir.path(), &WalkOptions::default());
    assert_eq!(clean.exit_status(), ExitStatus::Clean);
    assert_eq!(clean.exit_status().code(), 0);
    let missing = scanner().scan_tree(&dir.path().join("nope"), &WalkOptions::default());
    assert_eq!(missing.exit_status(), ExitStatus::Error);
    assert_eq!(ExitStatus::Error.code(), 2);
    assert_eq!(ExitStatus::Findings.code(), 1);
}

const GITLEAKS_CONFIG: &str = r#"
title = "team config"

[allowlist]
description = "global"
paths = ['''(^|/)testdata/''']
stopwords = ["notreal"]

[[rules]]
id = "acme-token"
description = "ACME API token"
regex = '''\b(acme_[a-z0-9]{16})\b'''
secretGroup = 1
entropy = 2.5
keywords = ["acme_"]
tags = ["internal"]

[[rules.allowlists]]
regexTarget = "line"
regexes = ['''ACME_TEST''']

[[rules]]
id = "acme-legacy"
regex = '''acmekey{([0-9]{6,})}'''
keywords = ["acmekey"]
path = '''\.cfg$'''
[rules.allowlist]
regexes = ['''^000''']
"#;

#[test]
fn gitleaks_config_loads_and_scans() {
    let scanner = Scanner::new(ScanConfig {
        default_rules: false,
        rule_sources: vec![RuleSource::GitleaksToml {
            name: "gitleaks.toml".into(),
            text: GITLEAKS_CONFIG.into(),
        }],
        ..ScanConfig::default()
    })
    .expect("gitleaks config compiles");
    assert!(scanner.warnings().is_empty(), "{:?}", scanner.warnings());
    let ids = |path: &str, text: &str| -> Vec<String> {
        scanner
            .scan_bytes(path, text.as_bytes())
            .into_iter()
            .map(|f| f.rule_id)
            .collect()
    };
    let t = ["acme", "_k3j9x2m7p4q8w1z5"].concat();
    assert_eq!(ids("a.txt", &format!("key = {t}")), vec!["acme-token"]);
    assert!(ids("a.txt", &format!("ACME_TEST = {t}")).is_empty());
    assert!(ids("pkg/testdata/a.txt", &format!("key = {t}")).is_empty());
    assert!(ids("a.txt", "key = acme_notreal123456789").is_empty());
    // Go's unescaped literal `{` and `{6,}` both work; the path filter applies.
    assert_eq!(ids("x.cfg", "acmekey{123456}"), vec!["acme-legacy"]);
    assert!(ids("x.txt", "acmekey{123456}").is_empty());
    assert!(ids("x.cfg", "acmekey{000123}").is_empty());
}

#[test]
fn gitleaks_bad_regex_names_rule_and_line() {
    let text = "[[rules]]\nid = \"good\"\nregex = 'a+'\n\n[[rules]]\nid = \"bad-one\"\nregex = '''(unclosed'''\n";
    let err = Scanner::new(ScanConfig {
        default_rules: false,
        rule_sources: vec![RuleSource::GitleaksToml {
            name: "gitleaks.toml".into(),
            text: text.into(),
        }],
        ..ScanConfig::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("gitleaks.toml:6:"), "{msg}");
    assert!(msg.contains("rule `bad-one`"), "{msg}");
    assert!(msg.contains("invalid regex"), "{msg}");
}

#[test]
fn gitleaks_unsupported_fields_are_warnings() {
    let text =
        "[extend]\nuseDefault = true\n[[rules]]\nid = \"r\"\nregex = 'x'\nlevel = \"high\"\n";
    let scanner = Scanner::new(ScanConfig {
        default_rules: false,
        rule_sources: vec![RuleSource::GitleaksToml {
            name: "g.toml".into(),
            text: text.into(),
        }],
        ..ScanConfig::default()
    })
    .expect("compiles");
    let w = scanner.warnings().join("\n");
    assert!(w.contains("[extend]") && w.contains("`level`"), "{w}");
}

#[test]
fn custom_rules_file_errors_name_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("rules.toml");
    fs::write(
        &p,
        "[[rules]]\nid = \"x\"\nregex = 'a'\nentropy = \"high\"\n",
    )
    .expect("write");
    let err = Scanner::new(ScanConfig {
        rule_sources: vec![RuleSource::HoistFile(p.clone())],
        ..ScanConfig::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:4:", p.display())), "{msg}");

    // A user rule with the same id replaces the built-in one.
    fs::write(
        &p,
        "[[rules]]\nid = \"github-pat\"\ndescription = \"mine\"\nregex = 'never-matches-anything'\n",
    )
    .expect("write");
    let s = Scanner::new(ScanConfig {
        rule_sources: vec![RuleSource::HoistFile(p)],
        ..ScanConfig::default()
    })
    .expect("compiles");
    assert!(s.rules().iter().any(|r| r.description == "mine"));
    assert!(s.scan_bytes("a", github_token().as_bytes()).is_empty());
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn history_scan_reports_added_lines_with_commit() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("git not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    write(repo, "README", "hello\n");
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "base"]);
    git(repo, &["tag", "base"]);
    write(
        repo,
        "conf.env",
        format!("one\ntwo\nT={}\n", github_token()),
    );
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "add secret"]);
    // Removing it later does not hide it from history.
    write(repo, "conf.env", "one\ntwo\n");
    git(repo, &["commit", "-q", "-am", "remove secret"]);

    let report = scanner()
        .scan_history(repo, "base..HEAD")
        .expect("history scan");
    assert_eq!(report.findings.len(), 1, "{}", render_human(&report));
    let f = &report.findings[0];
    assert_eq!(f.path, "conf.env");
    assert_eq!(f.line, 3);
    assert_eq!(f.rule_id, "github-pat");
    assert_eq!(f.commit.as_deref().map(str::len), Some(40));
    assert!(render_human(&report).contains("(commit "));

    // The working tree is clean, and a range with no additions is too.
    assert!(
        scanner()
            .scan_tree(repo, &WalkOptions::default())
            .findings
            .is_empty()
    );
    let none = scanner().scan_history(repo, "HEAD^..HEAD").expect("scan");
    assert!(none.findings.is_empty());

    let err = scanner()
        .scan_history(repo, "no-such-rev..HEAD")
        .unwrap_err();
    assert!(matches!(err, ScanError::Git(_)));
}
