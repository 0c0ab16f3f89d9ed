//! gitleaks config loading (`hoist-scan`): arbitrary text as a gitleaks TOML file, alone
//! (no built-in rules). Bad input must be a `ScanError`; rules that load must compile
//! and scan a small sample without panicking.
#![no_main]

use hoist_scan::{RuleSource, ScanConfig, Scanner, translate_go_regex};
use libfuzzer_sys::fuzz_target;

const SAMPLE: &[u8] = b"token = \"fuzz_0123456789abcdefABCDEF\"\npassword: hunter2\n\xff\xfe\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The Go-to-Rust regex translation sees every string of a gitleaks file.
    let _ = translate_go_regex(text);
    let config = ScanConfig {
        default_rules: false,
        rule_sources: vec![RuleSource::GitleaksToml {
            name: "fuzz.gitleaks.toml".to_string(),
            text: text.to_string(),
        }],
        ..ScanConfig::default()
    };
    match Scanner::new(config) {
        Ok(scanner) => {
            let _ = scanner.warnings();
            let _ = scanner.scan_bytes("config/app.env", SAMPLE);
            let _ = scanner.verify_examples();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
