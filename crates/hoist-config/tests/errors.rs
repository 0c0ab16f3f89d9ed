//! Every config error names file, line, column and key, and says what would be valid.

use std::path::Path;

use hoist_config::{ConfigError, parse};

const VALID: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 8101
"#;

fn error(text: &str) -> (usize, usize, String, String, Option<String>) {
    match parse(Path::new("hoist.toml"), text).expect_err("config should be rejected") {
        ConfigError::Invalid {
            line,
            column,
            key,
            message,
            help,
            ..
        } => (line, column, key, message, help),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn valid_config_gets_defaults() {
    let config = parse(Path::new("hoist.toml"), VALID).unwrap();
    let root = std::path::absolute(".").unwrap();
    assert_eq!(config.build.dockerfile, root.join("Dockerfile"));
    assert_eq!(config.build.base_dockerfile, root.join("Dockerfile.base"));
    let staging = config.environment("staging").unwrap();
    assert_eq!(staging.rollout.concurrency.get(), 2);
    assert_eq!(
        staging.rollout.health_timeout,
        std::time::Duration::from_secs(60)
    );
    let acme = &staging.instances[0];
    assert_eq!(acme.host, "unix:///var/run/docker.sock");
    assert_eq!(acme.health_path, "/healthz");
    assert_eq!(acme.name, "clinic-staging-acme");
}

#[test]
fn unknown_key_is_rejected_with_valid_keys_listed() {
    let text = VALID.replace("port = 8101", "port = 8101\nhelth_path = \"/h\"");
    let (line, column, key, message, help) = error(&text);
    assert_eq!((line, column), (14, 1));
    assert_eq!(key, "environments.staging.instances[0].helth_path");
    assert!(message.contains("unknown field `helth_path`"), "{message}");
    assert!(
        message.contains("health_path"),
        "valid keys listed: {message}"
    );
    assert!(help.is_some());
}

#[test]
fn wrong_type_names_key_and_position() {
    let text = VALID.replace("port = 8101", "port = \"eighty\"");
    let (line, column, key, message, _) = error(&text);
    assert_eq!((line, column), (13, 8));
    assert_eq!(key, "environments.staging.instances[0].port");
    assert!(message.contains("invalid type"), "{message}");
}

#[test]
fn missing_required_key_is_named() {
    let text = VALID.replace("port = 8000\n", "");
    let (_, _, key, message, _) = error(&text);
    assert_eq!(key, "app");
    assert!(message.contains("missing field `port`"), "{message}");
}

#[test]
fn duplicate_tenant_is_rejected() {
    let text =
        format!("{VALID}\n[[environments.staging.instances]]\ntenant = \"acme\"\nport = 8102\n");
    let (line, column, key, message, _) = error(&text);
    assert_eq!((line, column), (16, 10));
    assert_eq!(key, "environments.staging.instances[1].tenant");
    assert!(message.contains("appears twice"), "{message}");
}

#[test]
fn port_clash_across_environments_is_rejected() {
    let text = format!(
        "{VALID}\n[environments.production]\n[[environments.production.instances]]\ntenant = \"acme\"\nport = 8101\n"
    );
    let (_, _, key, message, _) = error(&text);
    assert_eq!(key, "environments.staging.instances[0].port");
    assert!(
        message.contains("already used by environments.production.instances[0]"),
        "{message}"
    );
}

#[test]
fn bad_duration_says_how_to_write_one() {
    let text = VALID.replace(
        "[environments.staging]\n",
        "[environments.staging]\nrollout = { health_timeout = \"soon\" }\n",
    );
    let (_, _, key, message, _) = error(&text);
    assert_eq!(key, "environments.staging.rollout.health_timeout");
    assert!(message.contains("\"30s\""), "{message}");
}

#[test]
fn zero_concurrency_is_rejected() {
    let text = VALID.replace(
        "[environments.staging]\n",
        "[environments.staging]\nrollout = { concurrency = 0 }\n",
    );
    let (line, _, key, _, help) = error(&text);
    assert_eq!(line, 11);
    assert_eq!(key, "environments.staging.rollout.concurrency");
    assert!(help.unwrap().contains("1 or more"));
}

#[test]
fn image_with_tag_is_rejected() {
    let text = VALID.replace("registry.example.com/clinic", "clinic:latest");
    let (line, column, key, message, _) = error(&text);
    assert_eq!((line, column), (4, 9));
    assert_eq!(key, "app.image");
    assert!(message.contains("tag"), "{message}");
}

#[test]
fn dependency_glob_outside_context_is_rejected() {
    let text = VALID.replace("[\"requirements.txt\"]", "[\"../shared/requirements.txt\"]");
    let (_, _, key, message, _) = error(&text);
    assert_eq!(key, "build.dependencies[0]");
    assert!(message.contains("leaves the build context"), "{message}");
}

#[test]
fn toml_syntax_error_has_position() {
    let (line, _, key, _, _) = error("[app\nname = 1");
    assert_eq!(line, 1);
    assert_eq!(key, "(top level)");
}

#[test]
fn display_is_one_line_with_file_line_column() {
    let text = VALID.replace("port = 8101", "port = 0");
    let err = parse(Path::new("conf/hoist.toml"), &text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "conf/hoist.toml:13:8: environments.staging.instances[0].port: port 0 cannot be published"
    );
}

#[test]
fn the_snippet_under_an_error_never_shows_the_secret_it_rejects() {
    let secret = "zulip-KEY-4f9a8b7c6d5e";
    let text = format!(
        "{VALID}\n[notifiers.chat]\nkind = \"zulip\"\nsite = \"https://chat.example.com\"\nbot_email = \"bot@example.com\"\napi_key = \"{secret}\"\nstream = \"deploys\"\n"
    );
    let error = parse(Path::new("hoist.toml"), &text).unwrap_err();
    let rendered = format!("{:?}", miette::Report::new(error));
    assert!(rendered.contains("api_key"), "{rendered}");
    assert!(!rendered.contains(secret), "{rendered}");
    assert!(!rendered.contains("zulip-KEY"), "{rendered}");
}
