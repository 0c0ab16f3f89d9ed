//! Ref parsing and version tags, as the CLI receives them.

use hoist_policy::version::parse_version;
use hoist_policy::{GitRef, RefError, RefKind, VersionError};

#[test]
fn full_tag_ref() {
    let r = GitRef::parse("refs/tags/v1.2.0").unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    assert_eq!(r.name, "v1.2.0");
    assert_eq!(r.version, Some(semver::Version::new(1, 2, 0)));
    assert_eq!(r.full_name(), "refs/tags/v1.2.0");
}

#[test]
fn bare_version_is_a_tag() {
    let r = GitRef::parse("v1.2.0").unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    assert!(r.is_release_tag());
    let r = GitRef::parse("2.3.0-beta.1").unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    assert!(!r.is_release_tag());
}

#[test]
fn full_branch_ref() {
    let r = GitRef::parse("refs/heads/main").unwrap();
    assert_eq!((r.kind, r.name.as_str()), (RefKind::Branch, "main"));
    assert_eq!(r.version, None);
}

#[test]
fn bare_name_is_a_branch() {
    let r = GitRef::parse("main").unwrap();
    assert_eq!((r.kind, r.name.as_str()), (RefKind::Branch, "main"));
    // Starts with digits but is no version: a branch.
    assert_eq!(GitRef::parse("2024-fixes").unwrap().kind, RefKind::Branch);
}

#[test]
fn a_branch_named_like_a_version_is_still_a_branch_when_written_in_full() {
    let r = GitRef::parse("refs/heads/1.2.3").unwrap();
    assert_eq!(r.kind, RefKind::Branch);
    assert_eq!(r.version, None, "branches carry no version");
}

#[test]
fn explicit_hint_wins_for_bare_names() {
    let r = GitRef::parse_with("v1.2.0", Some(RefKind::Branch), |_| true).unwrap();
    assert_eq!(r.kind, RefKind::Branch);
    let r = GitRef::parse_with("uat-7", Some(RefKind::Tag), |_| false).unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    // A full ref ignores the hint: it says what it is.
    let r = GitRef::parse_with("refs/heads/x", Some(RefKind::Tag), |_| false).unwrap();
    assert_eq!(r.kind, RefKind::Branch);
}

#[test]
fn known_tags_are_tags() {
    let known = ["uat-7"];
    let r = GitRef::parse_with("uat-7", None, |n| known.contains(&n)).unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    let r = GitRef::parse_with("uat", None, |n| known.contains(&n)).unwrap();
    assert_eq!(r.kind, RefKind::Branch);
}

#[test]
fn malformed_versions_stay_tags_and_say_why() {
    let r = GitRef::parse("v1.2").unwrap();
    assert_eq!(r.kind, RefKind::Tag);
    assert_eq!(r.version, None);
    let problem = r.version_problem().unwrap().to_string();
    assert!(problem.contains("no patch number"), "{problem}");
    // Non-version tags have no "problem": they are just not versions.
    assert_eq!(GitRef::tag("uat-7").version_problem(), None);
}

#[test]
fn other_namespaces_and_bad_names_are_refused() {
    assert_eq!(GitRef::parse(""), Err(RefError::Empty));
    let e = GitRef::parse("refs/remotes/origin/main").unwrap_err();
    assert!(matches!(e, RefError::UnsupportedNamespace(_)), "{e}");
    assert!(e.to_string().contains("neither a tag nor a branch"));
    for bad in [
        "v1.2.0 ",
        "a..b",
        "feature/",
        "x.lock",
        "a//b",
        "a/.hidden",
        "what?",
        "a@{1}",
        "refs/tags/",
    ] {
        let e = GitRef::parse(bad).unwrap_err();
        assert!(
            matches!(e, RefError::InvalidName { .. } | RefError::Empty),
            "`{bad}`: {e}"
        );
    }
    let e = GitRef::parse("v1.2.0 ").unwrap_err().to_string();
    assert!(e.contains("space"), "{e}");
}

#[test]
fn versions_accept_semver_with_optional_v() {
    for (tag, version) in [
        ("v2.3.0", "2.3.0"),
        ("2.3.0", "2.3.0"),
        ("v2.3.0-beta.1", "2.3.0-beta.1"),
        ("v2.3.0+build.7", "2.3.0+build.7"),
        ("v0.0.0", "0.0.0"),
    ] {
        assert_eq!(parse_version(tag).unwrap().to_string(), version);
    }
}

#[test]
fn missing_patch_number() {
    let e = parse_version("v1.2").unwrap_err();
    assert!(matches!(e, VersionError::MissingPatch { .. }));
    let text = e.to_string();
    assert!(text.contains("no patch number"), "{text}");
    assert!(text.contains("MAJOR.MINOR.PATCH"), "{text}");
    assert!(text.contains("v1.2.0"), "suggests the fix: {text}");
}

#[test]
fn four_components() {
    let e = parse_version("1.2.3.4").unwrap_err();
    assert!(matches!(
        e,
        VersionError::TooManyComponents { count: 4, .. }
    ));
    let text = e.to_string();
    assert!(text.contains("4 numeric components"), "{text}");
    assert!(text.contains("exactly three"), "{text}");
}

#[test]
fn leading_zero() {
    let e = parse_version("v01.2.3").unwrap_err();
    assert!(matches!(
        e,
        VersionError::LeadingZero {
            component: "major",
            ..
        }
    ));
    let text = e.to_string();
    assert!(text.contains("leading zero"), "{text}");
    assert!(text.contains("semver 2.0.0"), "{text}");
    assert!(text.contains("write v1.2.3"), "{text}");
}

#[test]
fn other_malformed_versions() {
    for bad in [
        "v",
        "v1",
        "vx.1.2",
        "v1.2.3-",
        "v1.2.3-01",
        "v1.2.3+",
        "v1.2.3-beta..1",
    ] {
        let e = parse_version(bad).unwrap_err();
        assert!(
            e.to_string().contains("is not a semver version"),
            "{bad}: {e}"
        );
    }
}
