//! `[registry]`: settings, and errors that name file, line, column and key.

use std::path::Path;

use hoist_config::registry::CredentialValue;
use hoist_config::{ConfigError, parse};
use hoist_secrets::SecretSource;

const APP: &str = r#"
[app]
name = "clinic"
image = "clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]
"#;

fn error(registry: &str) -> (usize, usize, String, String, String) {
    let text = format!("{APP}\n[registry]\n{registry}");
    match parse(Path::new("hoist.toml"), &text).expect_err("config should be rejected") {
        ConfigError::Invalid {
            line,
            column,
            key,
            message,
            help,
            ..
        } => (line, column, key, message, help.unwrap_or_default()),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn a_registry_with_secret_references_and_defaults() {
    let text = format!(
        "{APP}\n[registry]\nimage = \"ghcr.io/acme/clinic\"\nusername = \"acme-ci\"\npassword = {{ env = \"GHCR_TOKEN\" }}\n"
    );
    let settings = parse(Path::new("hoist.toml"), &text).unwrap();
    let registry = settings.registry.unwrap();
    assert_eq!(registry.host, "ghcr.io");
    assert_eq!(registry.image, "ghcr.io/acme/clinic");
    assert_eq!(registry.base, "ghcr.io/acme/clinic-base");
    assert_eq!(
        registry.username,
        Some(CredentialValue::Literal("acme-ci".into()))
    );
    assert_eq!(
        registry.password,
        Some(SecretSource::Env("GHCR_TOKEN".into()))
    );
    assert!(!registry.insecure);
    assert_eq!(registry.ca_file, None);

    let text = format!("{APP}\n[registry]\nimage = \"127.0.0.1:5000/clinic\"\ninsecure = true\n");
    let loaded = parse(Path::new("hoist.toml"), &text).unwrap();
    assert_eq!(
        loaded.app.image, "127.0.0.1:5000/clinic",
        "release images go to the registry"
    );
    let registry = loaded.registry.unwrap();
    assert_eq!(registry.base, "127.0.0.1:5000/clinic-base");
    assert!(registry.insecure);
    assert_eq!(registry.username, None, "Docker's config file then");

    let none = parse(Path::new("hoist.toml"), APP).unwrap();
    assert_eq!(none.registry, None);
}

#[test]
fn a_literal_password_is_refused_without_echoing_it() {
    let (line, column, key, message, help) = error(
        "image = \"ghcr.io/acme/clinic\"\nusername = \"ci\"\npassword = \"hunter2-literal\"\n",
    );
    assert_eq!((line, column), (13, 12));
    assert_eq!(key, "registry.password");
    assert!(message.contains("committed"), "{message}");
    assert!(help.contains("{ env = "), "{help}");
    assert!(!message.contains("hunter2") && !help.contains("hunter2"));
}

#[test]
fn images_without_a_host_and_mismatched_settings_are_explained() {
    let (line, _, key, message, help) = error("image = \"acme/clinic\"\n");
    assert_eq!((line, key.as_str()), (11, "registry.image"));
    assert!(message.contains("registry host"), "{message}");
    assert!(help.contains("host[:port]/path"), "{help}");

    let (_, _, key, message, _) =
        error("image = \"ghcr.io/acme/clinic\"\npassword = { env = \"X\" }\n");
    assert_eq!(key, "registry.username");
    assert!(message.contains("go together"), "{message}");

    let (_, _, key, message, _) =
        error("image = \"ghcr.io/acme/clinic\"\nca_file = \"no-such-ca.pem\"\n");
    assert_eq!(key, "registry.ca_file");
    assert!(message.contains("is not a file"), "{message}");

    let (_, _, key, _, _) =
        error("image = \"ghcr.io/acme/clinic\"\nca_file = \"x.pem\"\ninsecure = true\n");
    assert_eq!(key, "registry.ca_file");

    let (_, _, key, message, _) = error(
        "image = \"ghcr.io/acme/clinic\"\nusername = \"ci\"\npassword = { env = \"A\", file = \"b\" }\n",
    );
    assert_eq!(key, "registry.password");
    assert!(!message.is_empty());

    let (_, _, key, message, _) = error("image = \"ghcr.io/acme/clinic\"\nverify = false\n");
    assert!(
        key.contains("verify") && message.contains("unknown field"),
        "{key}: {message}"
    );
}
