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

/// Every error of a parse, as `line:column: key: message`.
fn all_errors(result: Result<hoist_config::Settings, ConfigError>) -> Vec<String> {
    let error = result.expect_err("config should be rejected");
    error
        .errors()
        .into_iter()
        .map(|e| match e {
            ConfigError::Invalid {
                line,
                column,
                key,
                message,
                ..
            } => format!("{line}:{column}: {key}: {message}"),
            other => panic!("unexpected error {other:?}"),
        })
        .collect()
}

#[test]
fn app_health_path_without_slash_is_reported_at_its_value() {
    let text = VALID.replace("port = 8000\n", "port = 8000\nhealth_path = \"health\"\n");
    let (line, column, key, message, help) = error(&text);
    assert_eq!((line, column), (6, 15), "the value, not [app] name");
    assert_eq!(key, "app.health_path");
    assert!(
        message.contains("`health` is not an absolute URL path"),
        "{message}"
    );
    assert!(help.unwrap().contains("start the path with `/`"));
}

#[test]
fn instance_health_path_without_slash_is_reported_at_its_value() {
    let text = VALID.replace(
        "port = 8101",
        "port = 8101\nversion_path = \"v\"\nhealth_path = \"up\"",
    );
    let errors = all_errors(parse(Path::new("hoist.toml"), &text));
    assert_eq!(
        errors,
        vec![
            "14:16: environments.staging.instances[0].version_path: `v` is not an absolute URL path",
            "15:15: environments.staging.instances[0].health_path: `up` is not an absolute URL path",
        ]
    );
}

#[test]
fn two_unknown_keys_are_both_reported() {
    let text = VALID
        .replace("port = 8000", "port = 8000\nhelth = \"/h\"")
        .replace("port = 8101", "port = 8101\ncolour = \"blue\"");
    let errors = all_errors(parse(Path::new("hoist.toml"), &text));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("6:1: app.helth: unknown field `helth`"),
        "{errors:#?}"
    );
    assert!(
        errors[1]
            .starts_with("15:1: environments.staging.instances[0].colour: unknown field `colour`"),
        "{errors:#?}"
    );
}

#[test]
fn an_unknown_key_and_validation_problems_are_reported_together() {
    let text = VALID
        .replace("port = 8000", "port = 8000\nhelth = \"/h\"")
        .replace("tenant = \"acme\"", "tenant = \"Acme\"")
        .replace("port = 8101", "port = 0");
    let errors = all_errors(parse(Path::new("hoist.toml"), &text));
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].contains("app.helth: unknown field"),
        "{errors:#?}"
    );
    assert!(
        errors[1].contains("instances[0].tenant: `Acme` is not a valid tenant name"),
        "{errors:#?}"
    );
    assert!(
        errors[2].contains("instances[0].port: port 0 cannot be published"),
        "{errors:#?}"
    );
}

#[test]
fn all_validation_problems_of_a_file_are_reported_in_file_order() {
    let text = format!(
        "{}\n[environments.production]\nrollout = {{ concurrency = 0 }}\n[[environments.production.instances]]\ntenant = \"acme\"\nport = 8101\n",
        VALID.replace("registry.example.com/clinic", "Clinic:latest")
    );
    let error = parse(Path::new("hoist.toml"), &text).unwrap_err();
    let errors = all_errors(parse(Path::new("hoist.toml"), &text));
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].starts_with("4:9: app.image"), "{errors:#?}");
    assert!(
        errors[1].starts_with("13:8: environments.staging.instances[0].port: port 8101 on unix:///var/run/docker.sock is already used"),
        "{errors:#?}"
    );
    assert!(
        errors[2].starts_with("16:27: environments.production.rollout.concurrency"),
        "{errors:#?}"
    );
    // One line for CI logs, saying there is more; the rendering shows each with its place.
    let line = error.to_string();
    assert!(line.starts_with("hoist.toml:4:9: app.image:"), "{line}");
    assert!(line.ends_with("(and 2 more errors)"), "{line}");
    let rendered = format!("{:?}", miette::Report::new(error));
    for needle in ["app.image", "concurrency 0", "already used by"] {
        assert!(rendered.contains(needle), "{needle} in {rendered}");
    }
}

/// A directory with `hoist.toml` holding `text` and the named files.
fn app_dir(text: &str, files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hoist.toml"), text).unwrap();
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "FROM scratch\n").unwrap();
    }
    dir
}

#[test]
fn a_missing_dockerfile_is_a_config_error_at_build_when_defaulted() {
    let dir = app_dir(VALID, &["Dockerfile.base"]);
    let errors = all_errors(hoist_config::load_for_build(&dir.path().join("hoist.toml")));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("7:1: build.dockerfile: the app image's Dockerfile `"),
        "{errors:#?}"
    );
    assert!(
        errors[0].ends_with("Dockerfile` does not exist"),
        "{errors:#?}"
    );
    // Commands that build nothing still load it.
    hoist_config::load(&dir.path().join("hoist.toml")).unwrap();
}

#[test]
fn missing_dockerfiles_are_reported_at_their_keys() {
    let text = VALID.replace(
        "[build]\n",
        "[build]\ndockerfile = \"docker/app.Dockerfile\"\nbase_dockerfile = \"docker/base.Dockerfile\"\n",
    );
    let dir = app_dir(&text, &[]);
    let error = hoist_config::load_for_build(&dir.path().join("hoist.toml")).unwrap_err();
    let errors = all_errors(Err(error));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("8:14: build.dockerfile: the app image's Dockerfile"),
        "{errors:#?}"
    );
    assert!(
        errors[1]
            .starts_with("9:19: build.base_dockerfile: the dependency base image's Dockerfile"),
        "{errors:#?}"
    );
    let dir = app_dir(&text, &["docker/app.Dockerfile", "docker/base.Dockerfile"]);
    hoist_config::load_for_build(&dir.path().join("hoist.toml")).unwrap();
}

#[test]
fn a_missing_build_context_is_reported_at_its_key() {
    let text = VALID.replace("[build]\n", "[build]\ncontext = \"app\"\n");
    let dir = app_dir(&text, &["Dockerfile", "Dockerfile.base"]);
    let errors = all_errors(hoist_config::load_for_build(&dir.path().join("hoist.toml")));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("8:11: build.context: the build context"),
        "{errors:#?}"
    );
}
