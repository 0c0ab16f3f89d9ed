//! `hoist.toml` loading: parse and validate arbitrary text, then render any error the
//! way the CLI does. Bad input must give a `ConfigError`, never a panic, and the error
//! must point inside the file it names.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hoist_config::ConfigError;
use libfuzzer_sys::fuzz_target;
use miette::{GraphicalReportHandler, GraphicalTheme};

/// A path in an empty directory of its own, so the files a config names (`[scan]`
/// rules files, Dockerfiles) resolve against nothing the fuzzer did not write.
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hoist-fuzz-config-{}", std::process::id()));
        // An existing directory is as good; a failure shows as a missing file.
        let _ = std::fs::create_dir_all(&dir);
        dir.join("hoist.toml")
    })
}

fuzz_target!(|data: &[u8]| {
    // `load` reads the file as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = config_path();
    match hoist_config::parse(path, text) {
        Ok(settings) => {
            // A config that loads can be listed; nothing more is promised.
            let _ = format!("{settings:?}");
        }
        Err(error) => check_error(&error, text),
    }
});

fn check_error(error: &ConfigError, text: &str) {
    let lines = text.split('\n').count();
    for e in error.errors() {
        let _ = e.to_string();
        if let ConfigError::Invalid {
            line,
            column,
            source_code,
            span,
            ..
        } = e
        {
            assert!(
                *line >= 1 && *line <= lines,
                "line {line} outside a file of {lines} lines"
            );
            assert!(*column >= 1, "column {column}");
            // Secrets are masked byte for byte, so the span still points at the value.
            assert_eq!(
                source_code.inner().len(),
                text.len(),
                "masking moved offsets"
            );
            assert!(
                span.offset() + span.len() <= text.len(),
                "span {span:?} past the end of a {}-byte file",
                text.len()
            );
        }
    }
    let mut out = String::new();
    let _ = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, error);
}
