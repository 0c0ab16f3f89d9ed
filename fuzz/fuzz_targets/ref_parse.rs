//! Ref parsing (`hoist-policy`): `refs/tags/v1.2.3`, `main`, `v1.2` and arbitrary text,
//! with each kind hint. A ref that parses must survive a round trip through its full
//! name, and a version must survive one through its text.
#![no_main]

use hoist_policy::{GitRef, RefKind, parse_version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    for hint in [None, Some(RefKind::Tag), Some(RefKind::Branch)] {
        for known in [false, true] {
            let Ok(parsed) = GitRef::parse_with(input, hint, |_| known) else {
                continue;
            };
            let full = parsed.full_name();
            let again = GitRef::parse(&full)
                .unwrap_or_else(|e| panic!("{full:?} (from {input:?}) does not parse: {e}"));
            assert_eq!(again, parsed, "round trip through {full:?}");
            let _ = (
                parsed.describe(),
                parsed.version_class(),
                parsed.version_problem(),
            );
        }
    }
    let _ = hoist_policy::version::looks_like_version(input);
    match parse_version(input) {
        Ok(version) => {
            let text = version.to_string();
            let again = parse_version(&text)
                .unwrap_or_else(|e| panic!("{text:?} (from {input:?}) does not parse: {e}"));
            assert_eq!(again, version);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
