//! `[scan]` and `environments.NAME.secret_scan`: defaults, and errors that name the place
//! to fix — in hoist.toml, and in the rules files it points to.

use std::path::{Path, PathBuf};

use hoist_config::{ConfigError, SecretScan, load, parse};

const VALID: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 8101
"#;

struct Failure {
    line: usize,
    column: usize,
    key: String,
    message: String,
    help: Option<String>,
    display: String,
}

fn failure(result: Result<hoist_config::Settings, ConfigError>) -> Failure {
    let err = result.expect_err("config should be rejected");
    let display = err.to_string();
    match err {
        ConfigError::Invalid {
            line,
            column,
            key,
            message,
            help,
            ..
        } => Failure {
            line,
            column,
            key,
            message,
            help,
            display,
        },
        other => panic!("unexpected error {other:?}"),
    }
}

/// A directory holding hoist.toml (`VALID` + `extra`) and the given files.
fn app(extra: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, format!("{VALID}{extra}")).unwrap();
    (dir, path)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

#[test]
fn defaults_when_absent() {
    let config = parse(Path::new("hoist.toml"), VALID).unwrap();
    assert_eq!(config.scan, hoist_scan::ScanSettings::default());
    assert_eq!(
        config.environment("staging").unwrap().secret_scan,
        SecretScan::Block
    );
}

#[test]
fn settings_and_warn_mode_parse() {
    let text = VALID.replace(
        "[environments.staging]\n",
        "[environments.staging]\nsecret_scan = \"warn\"\n",
    ) + "\n[scan]\nallow_paths = [\"fixtures/**\"]\nmax_file_size = 2048\ngitignore = true\n";
    let config = parse(Path::new("hoist.toml"), &text).unwrap();
    assert_eq!(
        config.environment("staging").unwrap().secret_scan,
        SecretScan::Warn
    );
    assert_eq!(config.scan.allow_paths, ["fixtures/**"]);
    assert_eq!(config.scan.max_file_size, 2048);
    assert!(config.scan.gitignore && config.scan.dockerignore);
}

#[test]
fn unknown_secret_scan_mode_lists_the_valid_ones() {
    let text = VALID.replace(
        "[environments.staging]\n",
        "[environments.staging]\nsecret_scan = \"blok\"\n",
    );
    let f = failure(parse(Path::new("hoist.toml"), &text));
    assert_eq!(f.key, "environments.staging.secret_scan");
    assert_eq!(
        (f.line, f.column),
        (line_of(&text, "secret_scan"), 15),
        "{}",
        f.display
    );
    assert!(
        f.message.contains("block") && f.message.contains("warn"),
        "{}",
        f.message
    );
}

#[test]
fn unknown_scan_key_is_named() {
    let text = format!("{VALID}\n[scan]\nallow_path = []\n");
    let f = failure(parse(Path::new("hoist.toml"), &text));
    assert_eq!(f.key, "scan.allow_path");
    assert_eq!(f.line, line_of(&text, "allow_path ="));
    assert!(f.message.contains("allow_paths"), "{}", f.message);
}

#[test]
fn missing_rules_file_points_at_the_key() {
    let extra = "\n[scan]\nrules = \"scan-rules.toml\"\n";
    let (dir, path) = app(extra, &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    let f = failure(load(&path));
    assert_eq!(f.key, "scan.rules");
    assert_eq!((f.line, f.column), (line_of(&text, "rules ="), 9));
    assert!(f.message.contains("scan-rules.toml"), "{}", f.message);
    assert!(f.message.contains("does not exist"), "{}", f.message);
    assert!(
        f.display
            .starts_with(&format!("{}:", dir.path().join("hoist.toml").display())),
        "{}",
        f.display
    );
}

#[test]
fn a_rule_that_does_not_compile_names_the_rules_file_and_line() {
    let rules = "# team rules\n[[rules]]\nid = \"ok\"\nregex = 'tok_[a-z]{8}'\n\n[[rules]]\nid = \"broken\"\nregex = 'tok_([a-z'\n";
    let (dir, path) = app(
        "\n[scan]\nrules = \"scan-rules.toml\"\n",
        &[("scan-rules.toml", rules)],
    );
    let f = failure(load(&path));
    assert_eq!(f.key, "scan.rules");
    let rules_file = dir.path().join("scan-rules.toml");
    assert!(
        f.message
            .contains(&format!("{}:7: rule `broken`", rules_file.display())),
        "{}",
        f.message
    );
    assert!(f.help.is_some());
}

#[test]
fn a_rules_file_that_is_not_toml_names_its_line() {
    let (dir, path) = app(
        "\n[scan]\nrules = \"scan-rules.toml\"\n",
        &[("scan-rules.toml", "[[rules]]\nid = \"x\"\nregex = \n")],
    );
    let f = failure(load(&path));
    let rules_file = dir.path().join("scan-rules.toml");
    assert!(
        f.message
            .starts_with(&format!("{}:3:", rules_file.display())),
        "{}",
        f.message
    );
}

#[test]
fn a_broken_gitleaks_config_names_its_file_and_line() {
    let gitleaks = "title = \"team\"\n\n[[rules]]\nid = \"bad\"\nregex = '''(?P<x'''\n";
    let (dir, path) = app(
        "\n[scan]\ngitleaks_config = \".gitleaks.toml\"\n",
        &[(".gitleaks.toml", gitleaks)],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let f = failure(load(&path));
    assert_eq!(f.key, "scan.gitleaks_config");
    assert_eq!(f.line, line_of(&text, "gitleaks_config ="));
    let file = dir.path().join(".gitleaks.toml");
    assert!(
        f.message.contains(&format!("{}:4", file.display())),
        "{}",
        f.message
    );
    assert!(f.message.contains("bad"), "{}", f.message);
}

#[test]
fn valid_rules_files_load() {
    let rules =
        "[[rules]]\nid = \"team-token\"\nregex = 'team_[a-z0-9]{24}'\nkeywords = [\"team_\"]\n";
    let gitleaks = "[[rules]]\nid = \"gl\"\nregex = '''gl_[a-z]{10}'''\nkeywords = [\"gl_\"]\n";
    let (_dir, path) = app(
        "\n[scan]\nrules = \"r.toml\"\ngitleaks_config = \"g.toml\"\ndefault_rules = false\n",
        &[("r.toml", rules), ("g.toml", gitleaks)],
    );
    let config = load(&path).unwrap();
    assert_eq!(config.scan.rules.as_deref(), Some(Path::new("r.toml")));
    assert!(!config.scan.default_rules);
}

#[test]
fn a_zero_size_limit_is_rejected() {
    let text = format!("{VALID}\n[scan]\nmax_file_size = 0\n");
    let f = failure(parse(Path::new("hoist.toml"), &text));
    assert_eq!(f.key, "scan.max_file_size");
    assert_eq!((f.line, f.column), (line_of(&text, "max_file_size"), 17));
}

#[test]
fn no_rules_at_all_is_rejected() {
    let text = format!("{VALID}\n[scan]\ndefault_rules = false\n");
    let f = failure(parse(Path::new("hoist.toml"), &text));
    assert_eq!(f.key, "scan.default_rules");
    assert_eq!(f.line, line_of(&text, "default_rules"));
    assert!(f.help.unwrap().contains("gitleaks_config"));
}

#[test]
fn a_bad_allow_paths_glob_points_at_the_entry() {
    let text = format!("{VALID}\n[scan]\nallow_paths = [\n  \"fixtures/**\",\n  \"a/[b\",\n]\n");
    let f = failure(parse(Path::new("hoist.toml"), &text));
    assert_eq!(f.key, "scan.allow_paths[1]");
    assert_eq!((f.line, f.column), (line_of(&text, "a/[b"), 3));
    assert!(f.message.contains("a/[b"), "{}", f.message);
}
