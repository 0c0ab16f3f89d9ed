//! `hoist token` and `hoist metrics` through the binary, without Docker.

mod support;

use support::App;

#[test]
fn a_token_is_shown_once_listed_without_it_and_revoked() {
    let app = App::new("hoist-srv-cli-token", &[20651]);
    let created = app
        .hoist(&[
            "token",
            "create",
            "--scope",
            "deploy:staging",
            "--name",
            "ci",
            "--owner",
            "ada",
        ])
        .ok();
    let token = created.stdout.trim().to_string();
    assert!(token.starts_with("hoist_") && token.len() == 70, "{token}");
    assert!(
        created.stderr.contains("shown this once"),
        "{}",
        created.stderr
    );

    let list = app.hoist(&["token", "list", "--json"]).ok();
    assert!(!list.stdout.contains(&token), "the token is never listed");
    let listed = list.json();
    assert_eq!(listed[0]["name"], "ci");
    assert_eq!(listed[0]["owner"], "ada");
    assert_eq!(listed[0]["scopes"][0], "deploy:staging");
    assert_eq!(listed[0]["revoked_at"], serde_json::Value::Null);

    // A bad scope and a taken name are input errors (exit 2).
    let bad = app.hoist(&["token", "create", "--scope", "write", "--name", "x"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("`write` is not a scope"),
        "{}",
        bad.stderr
    );
    let taken = app.hoist(&["token", "create", "--scope", "read", "--name", "ci"]);
    assert_eq!(taken.code, 2, "{}", taken.stderr);

    app.hoist(&["token", "revoke", "ci"]).ok();
    let listed = app.hoist(&["token", "list", "--json"]).ok().json();
    assert!(listed[0]["revoked_at"].is_string());
    assert_eq!(app.hoist(&["token", "revoke", "ci"]).code, 2);

    // Both changes are audited, without the token.
    let audit = app.hoist(&["audit", "--json"]).ok();
    assert!(!audit.stdout.contains(&token));
    let audit = audit.json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["token.revoked", "token.created"]);
}

#[test]
fn metrics_of_an_environment_without_history_have_no_rates() {
    let app = App::new("hoist-srv-cli-metrics", &[20652]);
    let metrics = app
        .hoist(&["metrics", "staging", "--since", "7d", "--json"])
        .ok()
        .json();
    assert_eq!(metrics[0]["environment"], "staging");
    assert_eq!(metrics[0]["changes"], 0);
    assert_eq!(metrics[0]["change_failure_rate"], serde_json::Value::Null);
    let bad = app.hoist(&["metrics", "--since", "7 days"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("30d, 12h, 2w"), "{}", bad.stderr);
    let unknown = app.hoist(&["metrics", "nowhere"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}

#[test]
fn hoist_serve_answers_healthz_and_stops_cleanly_on_sigterm() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let app = App::new("hoist-srv-cli-serve", &[20654]);
    let mut child = app
        .hoist_command(&["serve", "--listen", "127.0.0.1:20653"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hoist serve");
    let started = Instant::now();
    let health = loop {
        if let Some(answer) = app.get(20653, "/healthz") {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "hoist serve never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health, (200, "ok\n".to_string()));
    let sent = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("listening on http://127.0.0.1:20653"),
        "{stderr}"
    );
    assert!(stderr.contains("hoist serve stopped"), "{stderr}");
}
