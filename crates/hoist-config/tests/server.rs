//! `[server]`: defaults, and errors that name the line, the key and what would be valid.

use std::path::Path;

use hoist_config::{ConfigError, parse};

const APP: &str = r#"
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

#[test]
fn defaults_without_a_server_table() {
    let config = parse(Path::new("hoist.toml"), APP).unwrap();
    let server = &config.server;
    assert_eq!(server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(server.workers, 2);
    assert_eq!(server.max_body, 1024 * 1024);
    assert_eq!(server.shutdown_grace.as_secs(), 600);
    assert_eq!(server.app_config, Path::new("hoist.toml"));
    assert!(server.work_dir.ends_with(".hoist/work"));
    assert_eq!(server.github_secret_env, None);
}

#[test]
fn a_full_table_is_read() {
    let text = format!(
        "{APP}\n[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 4\nmax_body = 65536\nshutdown_grace = \"30s\"\n\
         app_config = \"deploy/hoist.toml\"\ngithub_secret_env = \"GH\"\n"
    );
    let server = parse(Path::new("hoist.toml"), &text).unwrap().server;
    assert_eq!(server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(server.workers, 4);
    assert_eq!(server.max_body, 65536);
    assert_eq!(server.shutdown_grace.as_secs(), 30);
    assert_eq!(server.app_config, Path::new("deploy/hoist.toml"));
    assert_eq!(server.github_secret_env.as_deref(), Some("GH"));
}

#[test]
fn bad_values_are_errors_at_their_key() {
    for (line, key, needle) in [
        ("listen = \"localhost\"", "server.listen", "not an address"),
        ("workers = 0", "server.workers", "never run a job"),
        (
            "max_body = 10",
            "server.max_body",
            "smaller than any push payload",
        ),
        (
            "app_config = \"../x.toml\"",
            "server.app_config",
            "not a path inside the repository",
        ),
    ] {
        let text = format!("{APP}\n[server]\n{line}\n");
        match parse(Path::new("hoist.toml"), &text).expect_err(line) {
            ConfigError::Invalid {
                line: at,
                key: k,
                message,
                help,
                ..
            } => {
                assert_eq!(k, key, "{line}");
                assert_eq!(at, APP.lines().count() + 3, "{line}");
                assert!(message.contains(needle), "{line}: {message}");
                assert!(help.is_some(), "{line}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}
