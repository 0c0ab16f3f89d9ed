//! The secret scanner over arbitrary bytes, with the built-in rules. Input: optionally a
//! path, a NUL byte, then the file's content (without a NUL, the path is `fuzz.txt`).
//! Findings must point inside the content and never carry the secret whole.
#![no_main]

use std::sync::OnceLock;

use hoist_scan::{ScanConfig, Scanner};
use libfuzzer_sys::fuzz_target;

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| Scanner::new(ScanConfig::default()).expect("built-in rules compile"))
}

fuzz_target!(|data: &[u8]| {
    let (path, content) = match data.iter().position(|&b| b == 0) {
        Some(i) if i <= 256 => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        _ => ("fuzz.txt".to_string(), data),
    };
    let lines = content.iter().filter(|&&b| b == b'\n').count() + 1;
    for finding in scanner().scan_bytes(&path, content) {
        assert!(finding.line >= 1 && finding.line <= lines, "{finding:?}");
        assert!(finding.column >= 1, "{finding:?}");
        assert_eq!(finding.path, path);
        assert_eq!(finding.fingerprint.len(), 64, "{finding:?}");
        assert!(
            finding.redacted.ends_with(hoist_scan::REDACTION_MARK),
            "{finding:?}"
        );
    }
});
