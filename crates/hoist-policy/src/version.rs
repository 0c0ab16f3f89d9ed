//! Version tags: [Semantic Versioning 2.0.0](https://semver.org) with an optional `v`.
//!
//! `v2.3.0`, `2.3.0`, `v2.3.0-beta.1` and `v2.3.0+build.5` are versions. Anything else is
//! not, and [`parse_version`] says why in terms a person who typed the tag can act on:
//! `v1.2` lacks a patch number, `1.2.3.4` has a fourth component, `v01.2.3` has a leading
//! zero. Parsing itself is the `semver` crate's; this module only explains its refusals.

use semver::Version;

/// Why a tag is not a semantic version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{tag}` is not a semver version: it is empty after the `v`")]
    Empty { tag: String },
    #[error(
        "`{tag}` is not a semver version: it has no minor and patch numbers \
         (semver needs MAJOR.MINOR.PATCH, e.g. {suggestion})"
    )]
    MissingMinor { tag: String, suggestion: String },
    #[error(
        "`{tag}` is not a semver version: it has no patch number \
         (semver needs MAJOR.MINOR.PATCH, e.g. {suggestion})"
    )]
    MissingPatch { tag: String, suggestion: String },
    #[error(
        "`{tag}` is not a semver version: it has {count} numeric components; \
         semver has exactly three (MAJOR.MINOR.PATCH)"
    )]
    TooManyComponents { tag: String, count: usize },
    #[error(
        "`{tag}` is not a semver version: the {component} number `{digits}` has a leading \
         zero, which semver 2.0.0 does not allow (write {suggestion})"
    )]
    LeadingZero {
        tag: String,
        component: &'static str,
        digits: String,
        suggestion: String,
    },
    #[error("`{tag}` is not a semver version: the {component} part `{text}` is not a number")]
    NotANumber {
        tag: String,
        component: &'static str,
        text: String,
    },
    #[error("`{tag}` is not a semver version: {detail}")]
    Invalid { tag: String, detail: String },
}

const COMPONENTS: [&str; 3] = ["major", "minor", "patch"];

/// Parses a version tag: semver 2.0.0, optionally prefixed with one `v`.
///
/// ```
/// let v = hoist_policy::version::parse_version("v2.3.0-beta.1").unwrap();
/// assert_eq!(v.to_string(), "2.3.0-beta.1");
/// let e = hoist_policy::version::parse_version("v1.2").unwrap_err();
/// assert!(e.to_string().contains("no patch number"));
/// ```
pub fn parse_version(tag: &str) -> Result<Version, VersionError> {
    let owned = || tag.to_string();
    let prefix = if tag.starts_with('v') { "v" } else { "" };
    let text = &tag[prefix.len()..];
    if text.is_empty() {
        return Err(VersionError::Empty { tag: owned() });
    }
    // MAJOR.MINOR.PATCH ends where the pre-release (`-`) or build (`+`) part starts.
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    for (i, part) in parts.iter().enumerate().take(3) {
        let component = COMPONENTS[i];
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::NotANumber {
                tag: owned(),
                component,
                text: (*part).to_string(),
            });
        }
        if part.len() > 1 && part.starts_with('0') {
            let mut fixed: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            fixed[i] = part.trim_start_matches('0').to_string();
            if fixed[i].is_empty() {
                fixed[i] = "0".into();
            }
            return Err(VersionError::LeadingZero {
                tag: owned(),
                component,
                digits: (*part).to_string(),
                suggestion: format!("{prefix}{}{rest}", fixed.join(".")),
            });
        }
    }
    match parts.len() {
        1 => {
            return Err(VersionError::MissingMinor {
                tag: owned(),
                suggestion: format!("{prefix}{core}.0.0{rest}"),
            });
        }
        2 => {
            return Err(VersionError::MissingPatch {
                tag: owned(),
                suggestion: format!("{prefix}{core}.0{rest}"),
            });
        }
        3 => {}
        count => {
            return Err(VersionError::TooManyComponents {
                tag: owned(),
                count,
            });
        }
    }
    Version::parse(text).map_err(|e| VersionError::Invalid {
        tag: owned(),
        detail: e.to_string(),
    })
}

/// Whether a name looks like someone meant it as a version (`v` or nothing, digits, a
/// dot): `v1.2`, `1.2.3.4` and `v01.2.3` do, `main` and `2024-fixes` do not. Such names
/// are treated as tags, so a malformed version is explained rather than mistaken for a
/// branch.
pub fn looks_like_version(name: &str) -> bool {
    let text = name.strip_prefix('v').unwrap_or(name);
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && text.as_bytes().get(digits) == Some(&b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_fix_the_problem() {
        for (bad, good) in [
            ("v1.2", "v1.2.0"),
            ("v1", "v1.0.0"),
            ("v01.2.3", "v1.2.3"),
            ("1.02.3-rc.1", "1.2.3-rc.1"),
            ("v1.2.00", "v1.2.0"),
        ] {
            let err = parse_version(bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("write {good}")) || err.contains(good),
                "{err}"
            );
            assert!(parse_version(good).is_ok(), "{good}");
        }
    }
}
