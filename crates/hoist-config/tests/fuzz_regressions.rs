//! Inputs the `config_load` fuzz target found (fuzz/regressions/config_load/, see
//! docs/fuzzing.md), replayed without the fuzzer: each must load or fail with a
//! `ConfigError` that points inside the file, never panic.

use std::path::{Path, PathBuf};

use hoist_config::{ConfigError, parse};

fn regressions() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/config_load");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    files
}

/// What the fuzz target checks of an error.
fn check_error(error: &ConfigError, text: &str, file: &Path) {
    let lines = text.split('\n').count();
    for e in error.errors() {
        let (line, column) = e.position().expect("a text error has a position");
        assert!(
            line >= 1 && line <= lines,
            "{}: line {line}",
            file.display()
        );
        assert!(column >= 1, "{}: column {column}", file.display());
        if let ConfigError::Invalid {
            source_code, span, ..
        } = e
        {
            assert_eq!(source_code.inner().len(), text.len(), "{}", file.display());
            assert!(
                span.offset() + span.len() <= text.len(),
                "{}",
                file.display()
            );
        }
    }
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, error)
        .unwrap();
    assert!(!out.is_empty());
}

#[test]
fn fuzz_regressions_load_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoist.toml");
    for file in regressions() {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8(bytes).expect("config regressions are UTF-8");
        if let Err(error) = parse(&path, &text) {
            check_error(&error, &text, &file);
        }
    }
}

/// The first crash: masking secrets in the snippet of an error stepped into the middle
/// of a multi-byte character before a key (`"é" = 1`) and panicked.
#[test]
fn a_non_ascii_key_is_an_unknown_key_error() {
    let text = "\"é\" = 1\n";
    let error = parse(Path::new("hoist.toml"), text).unwrap_err();
    let first = error.errors()[0].to_string();
    assert!(first.starts_with("hoist.toml:1:1:"), "{first}");
    assert!(first.contains('é'), "{first}");
}
