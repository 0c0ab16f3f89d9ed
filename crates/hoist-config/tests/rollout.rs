//! The wave keys of `[environments.NAME.rollout]` and instance `tags`: parsed into
//! `WaveSettings`, absent by default, and every bad value rejected at its place.

use std::path::Path;
use std::time::Duration;

use hoist_config::{BatchSize, ConfigError, OnFailure, Settings, WaveSettings, parse};

/// Two tenants; `rollout` is the staging rollout table's body, `tags` the first
/// instance's tags line.
fn config(rollout: &str, tags: &str) -> String {
    format!(
        r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.staging.rollout]
{rollout}

[[environments.staging.instances]]
tenant = "acme"
port = 8101
{tags}

[[environments.staging.instances]]
tenant = "globex"
port = 8102
"#
    )
}

fn ok(text: &str) -> Settings {
    parse(Path::new("hoist.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// (line, key, message, help) of the first error.
fn failure(text: &str) -> (usize, String, String, String) {
    match parse(Path::new("hoist.toml"), text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(ConfigError::Invalid {
            line,
            key,
            message,
            help,
            ..
        }) => (line, key, message, help.unwrap_or_default()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect(needle)]
        .matches('\n')
        .count()
        + 1
}

#[test]
fn without_wave_keys_there_are_no_waves_and_tags_default_to_none() {
    let settings = ok(&config("concurrency = 3", ""));
    let staging = settings.environment("staging").unwrap();
    assert_eq!(staging.waves, None);
    assert!(staging.instances.iter().all(|i| i.tags.is_empty()));
}

#[test]
fn every_wave_key_is_read() {
    let settings = ok(&config(
        "canary = [\"globex\"]\ncanary_tags = [\"eu\"]\nbatch = \"25%\"\npause = \"1m 30s\"\non_failure = \"rollback\"",
        "tags = [\"eu\", \"gold\"]",
    ));
    let staging = settings.environment("staging").unwrap();
    assert_eq!(
        staging.waves,
        Some(WaveSettings {
            canary: vec!["globex".into()],
            canary_tags: vec!["eu".into()],
            batch: BatchSize::Percent(25),
            pause: Some(Duration::from_secs(90)),
            on_failure: OnFailure::Rollback,
        })
    );
    assert_eq!(staging.instances[0].tags, ["eu", "gold"]);
    // One key is enough to turn waves on; the rest default (one wave, halt).
    let settings = ok(&config("batch = 1", ""));
    let waves = settings
        .environment("staging")
        .unwrap()
        .waves
        .clone()
        .unwrap();
    assert_eq!(waves.batch, BatchSize::Count(1));
    assert_eq!(waves.on_failure, OnFailure::Halt);
    let settings = ok(&config("on_failure = \"rollback\"", ""));
    let waves = settings
        .environment("staging")
        .unwrap()
        .waves
        .clone()
        .unwrap();
    assert_eq!(waves.batch, BatchSize::Percent(100));
}

#[test]
fn a_canary_that_is_no_tenant_is_refused_listing_the_tenants() {
    let text = config("canary = [\"initech\"]", "");
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "canary ="));
    assert_eq!(key, "environments.staging.rollout.canary[0]");
    assert_eq!(message, "staging has no tenant `initech`");
    assert_eq!(help, "name one of its tenants: acme, globex");
}

#[test]
fn a_canary_tag_no_instance_wears_is_refused_listing_the_tags() {
    let text = config("canary_tags = [\"us\"]", "tags = [\"eu\"]");
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "canary_tags"));
    assert_eq!(key, "environments.staging.rollout.canary_tags[0]");
    assert_eq!(message, "no instance of staging has the tag `us`");
    assert_eq!(help, "its instances' tags are: eu");
}

#[test]
fn bad_batches_pauses_policies_and_tags_are_refused_at_their_place() {
    for (rollout, tags, needle, key, message) in [
        (
            "batch = 0",
            "",
            "batch",
            "environments.staging.rollout.batch",
            "a batch of 0 instances would never deploy",
        ),
        (
            "batch = \"150%\"",
            "",
            "batch",
            "environments.staging.rollout.batch",
            "`150%` is not a percentage between 1% and 100%",
        ),
        (
            "batch = \"half\"",
            "",
            "batch",
            "environments.staging.rollout.batch",
            "`half` is neither a count nor a percentage",
        ),
        (
            "pause = \"soon\"",
            "",
            "pause",
            "environments.staging.rollout.pause",
            "`soon` is not a duration",
        ),
        (
            "",
            "tags = [\"EU West\"]",
            "tags",
            "environments.staging.instances[0].tags[0]",
            "`EU West` is not a valid tag",
        ),
    ] {
        let text = config(rollout, tags);
        let (line, got_key, got_message, _) = failure(&text);
        assert_eq!(line, line_of(&text, needle), "{rollout} {tags}");
        assert_eq!(got_key, key);
        assert!(got_message.starts_with(message), "{got_message}");
    }
    let (_, key, message, _) = failure(&config("on_failure = \"retry\"", ""));
    assert!(key.contains("on_failure"), "{key}");
    assert!(
        message.contains("rollback") && message.contains("halt"),
        "{message}"
    );
}
