//! Promotion requirements and the bundle the pipeline calls.

use std::collections::{BTreeMap, BTreeSet};

use hoist_policy::{
    EnvironmentRules, GitRef, Policy, ReleaseFacts, ReleaseSettings, Request, Rule, RuleSet,
    check_promotion,
};

fn facts(release: &str, verified_in: &[&str]) -> ReleaseFacts {
    ReleaseFacts {
        release: release.into(),
        verified_in: verified_in.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn verified_where_required_may_go_on() {
    let required = ["staging".to_string()];
    assert_eq!(
        check_promotion(&facts("v2.3.0", &["staging"]), "production", &required),
        Ok(())
    );
    assert_eq!(
        check_promotion(&facts("v2.3.0", &[]), "staging", &[]),
        Ok(())
    );
}

#[test]
fn the_refusal_names_the_missing_step() {
    let required = ["staging".to_string()];
    let refusal = check_promotion(&facts("v2.3.0", &["uat"]), "production", &required).unwrap_err();
    assert_eq!(refusal.missing, ["staging"]);
    assert_eq!(
        refusal.to_string(),
        "v2.3.0 has not been verified in staging, which production requires first"
    );
}

#[test]
fn several_missing_steps_are_all_named() {
    let required = ["staging".to_string(), "qa".to_string(), "uat".to_string()];
    let refusal = check_promotion(&facts("v2.3.0", &["uat"]), "production", &required).unwrap_err();
    assert_eq!(refusal.missing, ["staging", "qa"]);
    assert_eq!(
        refusal.to_string(),
        "v2.3.0 has not been verified in staging or qa, which production requires first"
    );
}

#[test]
fn the_bundle_answers_for_each_environment() {
    let settings = ReleaseSettings {
        rules: RuleSet::new(vec![EnvironmentRules {
            environment: "production".into(),
            rules: vec![Rule::SemverRelease],
            overlaps_with: BTreeSet::new(),
        }]),
        policies: BTreeMap::from([("production".into(), Policy::open("production"))]),
        requires_verified_in: BTreeMap::from([("production".into(), vec!["staging".into()])]),
    };
    let tag = GitRef::parse("v2.3.0").unwrap();
    assert_eq!(settings.resolve(&tag).environments(), ["production"]);
    assert!(
        settings
            .check_promotion(&facts("v2.3.0", &[]), "production")
            .is_err()
    );
    assert!(
        settings
            .check_promotion(&facts("v2.3.0", &[]), "staging")
            .is_ok()
    );
    let request = Request {
        actor: "bob".into(),
        git_ref: tag,
        now: "2026-01-13T17:00:00Z".parse().unwrap(),
        override_window: false,
        reason: None,
    };
    assert!(settings.decide("production", &request).allowed);
    let d = settings.decide("prod", &request);
    assert!(!d.allowed);
    assert_eq!(
        d.reasons,
        ["there is no environment named prod (hoist.toml defines production)"]
    );
}

#[test]
fn a_ref_two_environments_take_goes_first_where_the_other_requires() {
    let rules = |environment: &str, overlaps: &[&str]| EnvironmentRules {
        environment: environment.into(),
        rules: vec![Rule::SemverRelease],
        overlaps_with: overlaps.iter().map(|s| s.to_string()).collect(),
    };
    // Config (alphabetical) order would be dr, production, staging.
    let settings = ReleaseSettings {
        rules: RuleSet::new(vec![
            rules("dr", &["production", "staging"]),
            rules("production", &["staging"]),
            rules("staging", &[]),
        ]),
        policies: BTreeMap::new(),
        requires_verified_in: BTreeMap::from([
            ("dr".into(), vec!["production".into()]),
            ("production".into(), vec!["staging".into()]),
        ]),
    };
    let tag = GitRef::parse("v2.3.0").unwrap();
    assert_eq!(
        settings.resolve(&tag).environments(),
        ["staging", "production", "dr"]
    );
    // A requirement outside the targets does not reorder anything.
    let settings = ReleaseSettings {
        requires_verified_in: BTreeMap::from([("dr".into(), vec!["qa".into()])]),
        ..settings
    };
    assert_eq!(
        settings.resolve(&tag).environments(),
        ["dr", "production", "staging"]
    );
}
