//! Rules: which refs go where, "nothing to deploy", and overlap detection.

use std::collections::BTreeSet;

use hoist_policy::{EnvironmentRules, GitRef, Resolution, Rule, RuleError, RuleSet};

fn tag(name: &str) -> GitRef {
    GitRef::tag(name)
}

fn branch(name: &str) -> GitRef {
    GitRef::branch(name)
}

fn env(name: &str, rules: Vec<Rule>) -> EnvironmentRules {
    EnvironmentRules {
        environment: name.into(),
        rules,
        overlaps_with: BTreeSet::new(),
    }
}

fn prerelease(names: &[&str]) -> Rule {
    Rule::semver_prerelease(names.iter().map(|n| n.to_string()).collect()).unwrap()
}

#[test]
fn semver_release_rule() {
    let rule = Rule::SemverRelease;
    for yes in ["v2.3.0", "2.3.0", "v2.3.0+build.7"] {
        assert!(rule.matches(&tag(yes)), "{yes}");
    }
    for no in ["v2.3.0-beta.1", "v2.3", "uat-1"] {
        assert!(!rule.matches(&tag(no)), "{no}");
    }
    assert!(!rule.matches(&branch("2.3.0")), "branches are not tags");
}

#[test]
fn semver_prerelease_rule() {
    let rule = prerelease(&[]);
    for yes in [
        "v2.3.0-beta.1",
        "v2.3.0-rc.2",
        "2.3.0-alpha",
        "v2.3.0-0.3.7",
    ] {
        assert!(rule.matches(&tag(yes)), "{yes}");
    }
    for no in ["v2.3.0", "v2.3.0+build", "v2.3-beta"] {
        assert!(!rule.matches(&tag(no)), "{no}");
    }
}

#[test]
fn semver_prerelease_rule_restricted_to_names() {
    let rule = prerelease(&["beta", "rc"]);
    for yes in [
        "v2.3.0-beta",
        "v2.3.0-beta.1",
        "v2.3.0-rc1",
        "v2.3.0-rc.2+b.1",
    ] {
        assert!(rule.matches(&tag(yes)), "{yes}");
    }
    for no in ["v2.3.0-alpha.1", "v2.3.0-betax", "v2.3.0-1.beta", "v2.3.0"] {
        assert!(!rule.matches(&tag(no)), "{no}");
    }
    assert_eq!(rule.to_string(), "semver pre-release tags (beta, rc)");
    let e = Rule::semver_prerelease(vec!["1beta".into()]).unwrap_err();
    assert!(matches!(e, RuleError::InvalidPrereleaseName { .. }), "{e}");
}

#[test]
fn any_semver_rule() {
    let rule = Rule::Semver;
    assert!(rule.matches(&tag("v2.3.0")));
    assert!(rule.matches(&tag("v2.3.0-beta.1")));
    assert!(!rule.matches(&tag("v2.3")));
    assert!(!rule.matches(&tag("latest")));
}

#[test]
fn tag_glob_rule() {
    let rule = Rule::tag("uat-*").unwrap();
    assert!(rule.matches(&tag("uat-1")));
    assert!(rule.matches(&tag("uat-")));
    assert!(!rule.matches(&tag("uat")));
    assert!(!rule.matches(&branch("uat-1")), "tag rules ignore branches");
    assert!(
        !Rule::tag("team/*").unwrap().matches(&tag("team/a/b")),
        "`*` stops at `/`"
    );
    assert!(Rule::tag("team/**").unwrap().matches(&tag("team/a/b")));
}

#[test]
fn branch_rule_by_name_and_glob() {
    let rule = Rule::branch("uat").unwrap();
    assert!(rule.matches(&branch("uat")));
    assert!(!rule.matches(&branch("uat2")));
    assert!(!rule.matches(&tag("uat")), "branch rules ignore tags");
    assert_eq!(rule.to_string(), "the branch `uat`");
    let rule = Rule::branch("release/*").unwrap();
    assert!(rule.matches(&branch("release/2.3")));
    assert!(!rule.matches(&branch("release/2.3/fix")));
    assert_eq!(rule.to_string(), "branches matching `release/*`");
}

#[test]
fn bad_patterns_are_refused() {
    assert_eq!(Rule::tag("").unwrap_err(), RuleError::EmptyPattern);
    let e = Rule::tag("refs/tags/v*").unwrap_err();
    assert!(e.to_string().contains("write the short name `v*`"), "{e}");
    let e = Rule::branch("release/[").unwrap_err();
    assert!(matches!(e, RuleError::InvalidGlob { .. }), "{e}");
}

fn issue_example() -> RuleSet {
    RuleSet::new(vec![
        env("production", vec![Rule::SemverRelease]),
        env("staging", vec![prerelease(&[])]),
        env(
            "uat",
            vec![Rule::branch("uat").unwrap(), Rule::tag("uat-*").unwrap()],
        ),
    ])
}

#[test]
fn resolve_sends_each_ref_where_its_rule_says() {
    let rules = issue_example();
    assert_eq!(rules.resolve(&tag("v2.3.0")).environments(), ["production"]);
    assert_eq!(
        rules.resolve(&tag("v2.3.0-beta.1")).environments(),
        ["staging"]
    );
    assert_eq!(rules.resolve(&branch("uat")).environments(), ["uat"]);
    let uat = rules.resolve(&tag("uat-42"));
    assert_eq!(uat.environments(), ["uat"]);
    assert_eq!(uat.explain(), "uat (by tags matching `uat-*`)");
    assert_eq!(
        rules
            .matching_rule("uat", &branch("uat"))
            .map(Rule::to_string),
        Some("the branch `uat`".into())
    );
    assert!(rules.matching_rule("production", &branch("uat")).is_none());
}

#[test]
fn no_matching_rule_is_nothing_to_deploy() {
    let rules = issue_example();
    let resolution = rules.resolve(&branch("feature/login"));
    let Resolution::NothingToDeploy { git_ref, note } = &resolution else {
        panic!("{resolution:?}");
    };
    assert_eq!(git_ref.name, "feature/login");
    assert!(resolution.environments().is_empty());
    assert!(
        note.starts_with("no environment deploys the branch `feature/login`"),
        "{note}"
    );
    assert!(note.contains("production: semver release tags"), "{note}");
    assert!(resolution.explain().starts_with("nothing to deploy: "));
}

#[test]
fn nothing_to_deploy_explains_a_malformed_version() {
    let rules = issue_example();
    let resolution = rules.resolve(&GitRef::parse("v2.3").unwrap());
    let explanation = resolution.explain();
    assert!(explanation.contains("no patch number"), "{explanation}");
}

#[test]
fn resolution_serialises_for_json_output() {
    let json = serde_json::to_value(issue_example().resolve(&tag("v2.3.0"))).unwrap();
    assert_eq!(json["outcome"], "deploy");
    assert_eq!(json["targets"][0]["environment"], "production");
    let json = serde_json::to_value(issue_example().resolve(&branch("x"))).unwrap();
    assert_eq!(json["outcome"], "nothing_to_deploy");
}

#[test]
fn the_issue_example_has_no_overlaps() {
    assert_eq!(issue_example().overlaps().unwrap(), vec![]);
}

#[test]
fn a_broad_tag_glob_overlapping_semver_release_is_reported() {
    let rules = RuleSet::new(vec![
        env("production", vec![Rule::SemverRelease]),
        env("staging", vec![Rule::tag("v*").unwrap()]),
    ]);
    let overlaps = rules.overlaps().unwrap();
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    let o = &overlaps[0];
    assert_eq!(
        (o.first.environment.as_str(), o.first.index),
        ("production", 0)
    );
    assert_eq!(
        (o.second.environment.as_str(), o.second.index),
        ("staging", 0)
    );
    assert_eq!(o.example, tag("v0.0.0"));
    assert_eq!(
        o.message,
        "production's rule (semver release tags) and staging's rule (tags matching `v*`) \
         both match the tag `v0.0.0`, so it would deploy to both"
    );
}

#[test]
fn an_opt_in_allows_the_overlap_from_either_side() {
    for (prod, dr) in [(vec!["dr"], vec![]), (vec![], vec!["production"])] {
        let rules = RuleSet::new(vec![
            EnvironmentRules {
                environment: "production".into(),
                rules: vec![Rule::SemverRelease],
                overlaps_with: prod.into_iter().map(String::from).collect(),
            },
            EnvironmentRules {
                environment: "dr".into(),
                rules: vec![Rule::SemverRelease],
                overlaps_with: dr.into_iter().map(String::from).collect(),
            },
        ]);
        assert_eq!(rules.overlaps().unwrap(), vec![]);
    }
}

#[test]
fn overlaps_between_semver_kinds() {
    let case = |a: Rule, b: Rule| {
        RuleSet::new(vec![env("one", vec![a]), env("two", vec![b])])
            .overlaps()
            .unwrap()
            .first()
            .map(|o| o.example.name.clone())
    };
    assert_eq!(case(Rule::SemverRelease, prerelease(&[])), None);
    assert_eq!(case(prerelease(&["beta"]), prerelease(&["rc"])), None);
    assert_eq!(
        case(prerelease(&["beta"]), prerelease(&[])),
        Some("0.0.0-beta".into())
    );
    assert_eq!(
        case(Rule::Semver, Rule::SemverRelease),
        Some("0.0.0".into())
    );
    assert_eq!(
        case(Rule::Semver, prerelease(&["rc"])),
        Some("0.0.0-rc".into())
    );
    // Exact, not by sampling: a glob meant for pre-releases still catches a release whose
    // build metadata contains `-rc`.
    assert_eq!(
        case(Rule::tag("*-rc*").unwrap(), Rule::SemverRelease),
        Some("0.0.0+-rc".into())
    );
    assert_eq!(case(Rule::tag("rc-*").unwrap(), Rule::SemverRelease), None);
    assert_eq!(case(Rule::tag("*_rc").unwrap(), Rule::Semver), None);
}

#[test]
fn overlaps_between_globs() {
    let case = |a: Rule, b: Rule| {
        RuleSet::new(vec![env("one", vec![a]), env("two", vec![b])])
            .overlaps()
            .unwrap()
            .first()
            .map(|o| o.example.name.clone())
    };
    assert_eq!(
        case(Rule::tag("uat-*").unwrap(), Rule::tag("*-rc").unwrap()),
        Some("uat-rc".into())
    );
    assert_eq!(
        case(Rule::tag("uat-*").unwrap(), Rule::tag("qa-*").unwrap()),
        None
    );
    assert_eq!(
        case(
            Rule::branch("release/*").unwrap(),
            Rule::branch("release/1.*").unwrap()
        ),
        Some("release/1.0".into()),
        "the example is a valid ref name, not `release/1.`"
    );
    assert_eq!(
        case(Rule::branch("main").unwrap(), Rule::tag("main").unwrap()),
        None,
        "a tag and a branch of the same name are different refs"
    );
    assert_eq!(
        case(Rule::tag("v2.*").unwrap(), Rule::SemverRelease),
        Some("v2.0.0".into())
    );
}

#[test]
fn rules_of_one_environment_may_overlap_each_other() {
    let rules = RuleSet::new(vec![env(
        "staging",
        vec![Rule::Semver, Rule::tag("v*").unwrap()],
    )]);
    assert_eq!(rules.overlaps().unwrap(), vec![]);
}

#[test]
fn an_environment_admits_what_its_rules_take_and_anything_without_rules() {
    let rules = RuleSet::new(vec![
        env("staging", vec![prerelease(&["beta"])]),
        env("production", vec![Rule::SemverRelease]),
        env("sandbox", vec![]),
    ]);
    assert!(rules.admits("production", &tag("v1.0.0")).is_ok());
    let refused = rules
        .admits("production", &tag("v1.0.0-beta.1"))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "production takes only semver release tags, and the tag `v1.0.0-beta.1` is not one (its deploy_from rules)"
    );
    assert!(rules.admits("staging", &tag("v1.0.0")).is_err());
    assert!(rules.admits("staging", &tag("v1.0.0-beta.2")).is_ok());
    // No rules: it takes only what is deployed or promoted by hand, whatever that is.
    assert!(rules.admits("sandbox", &branch("feature-x")).is_ok());
    assert!(rules.admits("unknown", &branch("x")).is_ok());
}
