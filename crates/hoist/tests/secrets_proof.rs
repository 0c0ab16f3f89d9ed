//! The proof of issue 12: distinct secret values planted in every place a secret can enter
//! hoist (tenant secrets from a variable, a file and a command; Zulip's API key, Slack's
//! webhook URL, the webhook's signing secret; a hook's passed variable; a registry-style
//! password in the process environment) never appear in stdout or stderr of any command
//! (`-vv` and `--json` included), in the state database's bytes, or in any notification
//! body, while the app really gets its secrets (checked with `docker exec`, the documented
//! exception). Ports 19900-19902; apps `itproof*`.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use support::App;

const DB: &str = "dbPASS-proof-1a2b3c9";
const DB_ROTATED: &str = "dbPASS-rotated-5f5e4d";
const CMD: &str = "cmdTOKEN-proof-4d5e6f";
const FILE: &str = "smtpFILE-proof-7a8b9c";
const ZULIP: &str = "zulipKEY-proof-0a1b2c";
const SLACK: &str = "slackPATH-proof-3d4e5f";
/// A Standard Webhooks key: `whsec_` and base64 of `proof-webhook-signing-key-x9`.
const WEBHOOK: &str = "whsec_cHJvb2Ytd2ViaG9vay1zaWduaW5nLWtleS14OQ==";
const HOOK: &str = "hookSECRET-proof-6a7b8c";
const REGISTRY: &str = "regPASS-proof-9d0e1f";

const ALL: [&str; 9] = [
    DB, DB_ROTATED, CMD, FILE, ZULIP, SLACK, WEBHOOK, HOOK, REGISTRY,
];

/// A request's path and body.
type Request = (String, Vec<u8>);

/// Every request a local receiver got (Zulip, Slack and webhook alike): path and body.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let store = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if let Some(got) = read_request(&stream) {
                    store.lock().unwrap().push(got);
                }
                // What Zulip answers; Slack's and the webhook's clients take any 2xx.
                let body = br#"{"result":"success","msg":"","id":1}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(body);
            }
        });
        Receiver { port, bodies }
    }

    fn bodies(&self) -> Vec<(String, Vec<u8>)> {
        self.bodies.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

/// Fails naming the place and the value found there.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in ALL {
        if let Some(at) = text.find(secret) {
            let from = text.floor_char_boundary(at.saturating_sub(300));
            let to = text.ceil_char_boundary((at + secret.len() + 300).min(text.len()));
            panic!(
                "{what} holds the secret {secret}: ...{}...",
                &text[from..to]
            );
        }
    }
}

fn docker_exec_env(container: &str, name: &str) -> String {
    let out = Command::new("docker")
        .args([
            "exec",
            container,
            "sh",
            "-c",
            &format!("printf %s \"${name}\""),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn label(container: &str, key: &str) -> String {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
            container,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn no_secret_reaches_any_output_the_state_or_a_notification() {
    let receiver = Receiver::start();
    let app = App::new("itproof", &[19900, 19901]);
    let outside = tempfile::tempdir().unwrap();
    let smtp_file = outside.path().join("smtp");
    std::fs::write(&smtp_file, format!("{FILE}\n")).unwrap();
    let write_config = |health_timeout: &str| {
        app.write_config_with(
            health_timeout,
            &format!(
                r#"[environments.staging.secrets]
DB_PASSWORD = {{ env = "ITPROOF_DB" }}
API_TOKEN = {{ command = ["sh", "-c", "printf '%s\n' \"$ITPROOF_CMD\""], pass_env = ["ITPROOF_CMD"], timeout = "10s" }}

[notifiers.zulip]
kind = "zulip"
site = "http://127.0.0.1:{port}"
bot_email = "bot@example.com"
api_key_env = "ITPROOF_ZULIP_KEY"
stream = "deploys"
attempts = 1

[notifiers.slack]
kind = "slack"
url_env = "ITPROOF_SLACK_URL"
attempts = 1

[notifiers.hook]
kind = "webhook"
url = "http://127.0.0.1:{port}/webhook"
secret_env = "ITPROOF_WEBHOOK"
attempts = 1

[[environments.staging.notify]]
to = "zulip"

[[environments.staging.notify]]
to = "slack"

[[environments.staging.notify]]
to = "hook"

[[hooks.before_deploy]]
run = "echo \"hook got $ITPROOF_HOOK_SECRET\""
pass_env = ["ITPROOF_HOOK_SECRET"]
"#,
                port = receiver.port
            ),
        );
        // Tenant t1 reads one more secret from a file outside the build context.
        let path = app.root().join("hoist.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace(
                "env = { TENANT = \"t1\" }",
                &format!(
                    "env = {{ TENANT = \"t1\" }}\nsecrets = {{ SMTP_PASSWORD = {{ file = \"{}\" }} }}",
                    smtp_file.display()
                ),
            ),
        )
        .unwrap();
    };
    write_config("5s");
    app.release("v1.0.0");

    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let db = Arc::new(Mutex::new(DB.to_string()));
    let run = |args: &[&str], outputs: &mut Vec<(String, Vec<u8>)>| -> (i32, String, String) {
        let out = app
            .hoist_command(args)
            .env("ITPROOF_DB", db.lock().unwrap().as_str())
            .env("ITPROOF_CMD", CMD)
            .env("ITPROOF_ZULIP_KEY", ZULIP)
            .env(
                "ITPROOF_SLACK_URL",
                format!("http://127.0.0.1:{}/slack/{SLACK}", receiver.port),
            )
            .env("ITPROOF_WEBHOOK", WEBHOOK)
            .env("ITPROOF_HOOK_SECRET", HOOK)
            .env("REGISTRY_PASSWORD", REGISTRY)
            .env_remove("HOIST_LOG")
            .output()
            .unwrap();
        outputs.push((format!("{args:?} stdout"), out.stdout.clone()));
        outputs.push((format!("{args:?} stderr"), out.stderr.clone()));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Plan and status read no secret source that runs anything, before any deploy too.
    let (code, _, stderr) = run(&["-vv", "plan", "staging"], &mut outputs);
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = run(&["-vv", "deploy", "staging"], &mut outputs);
    assert_eq!(code, 0, "{stderr}");
    // The engine's request bodies were logged at -vv, masked.
    assert!(stderr.contains("DB_PASSWORD=*****"), "{stderr}");

    // The app has its secrets: the documented exception, plain env of a container.
    for tenant in ["t0", "t1"] {
        let container = format!("itproof-staging-{tenant}");
        assert_eq!(docker_exec_env(&container, "DB_PASSWORD"), DB);
        assert_eq!(docker_exec_env(&container, "API_TOKEN"), CMD);
        assert_eq!(
            label(&container, "dev.hoist.secret.DB_PASSWORD"),
            hoist_secrets::fingerprint("itproof", "DB_PASSWORD", DB)
        );
    }
    assert_eq!(docker_exec_env("itproof-staging-t1", "SMTP_PASSWORD"), FILE);
    assert_eq!(docker_exec_env("itproof-staging-t0", "SMTP_PASSWORD"), "");

    // Status shows names and fingerprints; a rotated value shows as drift.
    let (code, stdout, stderr) = run(&["status", "staging", "--json"], &mut outputs);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let t0 = &status["instances"][0]["secrets"];
    let db_status = t0
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "DB_PASSWORD")
        .unwrap();
    let fp = hoist_secrets::fingerprint("itproof", "DB_PASSWORD", DB);
    assert_eq!(db_status["deployed"], fp.as_str());
    assert_eq!(db_status["current"], fp.as_str());
    assert_eq!(db_status["drift"], false);
    let token = t0
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "API_TOKEN")
        .unwrap();
    assert_eq!(token["current"], serde_json::Value::Null, "{token}");
    *db.lock().unwrap() = DB_ROTATED.to_string();
    let (_, stdout, _) = run(&["status", "staging"], &mut outputs);
    assert!(
        stdout.contains("secret DB_PASSWORD (env) deployed"),
        "{stdout}"
    );
    assert!(stdout.contains("CHANGED since the deploy"), "{stdout}");
    run(&["-vv", "status", "staging", "--json"], &mut outputs);

    // Redeploying the same release with a rotated secret changes the instances.
    let (code, stdout, stderr) = run(&["deploy", "staging", "--json"], &mut outputs);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("\"unchanged\""), "{stdout}");
    assert_eq!(
        docker_exec_env("itproof-staging-t0", "DB_PASSWORD"),
        DB_ROTATED
    );

    // A secret that cannot be read stops the deploy with exit 2, naming it.
    let out = app
        .hoist_command(&["deploy", "staging"])
        .env_remove("ITPROOF_DB")
        .env("ITPROOF_CMD", CMD)
        .env("ITPROOF_ZULIP_KEY", ZULIP)
        .env(
            "ITPROOF_SLACK_URL",
            format!("http://127.0.0.1:{}/slack/{SLACK}", receiver.port),
        )
        .env("ITPROOF_WEBHOOK", WEBHOOK)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("secret DB_PASSWORD"), "{stderr}");
    assert!(stderr.contains("env source"), "{stderr}");
    assert!(stderr.contains("ITPROOF_DB"), "{stderr}");
    outputs.push(("missing secret stderr".into(), out.stderr));
    outputs.push(("missing secret stdout".into(), out.stdout));

    // A failing deploy: v1.1.0 never answers within the health timeout.
    write_config("2s");
    app.set_start_delay(30);
    app.release("v1.1.0");
    let (code, _, stderr) = run(&["-vv", "deploy", "staging"], &mut outputs);
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) = run(&["-vv", "rollback", "staging", "--json"], &mut outputs);
    assert!(code == 0 || code == 1, "{stderr}");

    for args in [
        &["status", "staging"][..],
        &["history", "staging"],
        &["-vv", "history", "staging", "--json"],
        &["audit", "staging"],
        &["-vv", "audit", "staging", "--json"],
        &["plan", "staging", "--json"],
        &["scan"],
        &["scan", "--format", "json"],
    ] {
        run(args, &mut outputs);
    }

    for (what, bytes) in &outputs {
        assert_clean(what, bytes);
    }
    let state_dir = app.root().join(".hoist");
    let mut files = 0;
    for entry in std::fs::read_dir(&state_dir).unwrap() {
        let path = entry.unwrap().path();
        assert_clean(&path.display().to_string(), &std::fs::read(&path).unwrap());
        files += 1;
    }
    assert!(files >= 1);
    let bodies = receiver.bodies();
    for kind in ["/api/v1/messages", "/slack/", "/webhook"] {
        assert!(
            bodies.iter().any(|(path, _)| path.starts_with(kind)),
            "no notification reached {kind}: {:?}",
            bodies.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
    for (path, body) in &bodies {
        // The Slack URL's path is where Slack's own webhook is; only bodies are content.
        assert_clean(
            &format!(
                "notification body to {}",
                path.split("/slack/").next().unwrap_or("")
            ),
            body,
        );
    }
}

/// Runs `docker ARGS`, returning stdout.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Swarm secrets hoist made for `service`, by name.
fn swarm_secrets(service: &str) -> Vec<String> {
    let mut names: Vec<String> = docker(&[
        "secret",
        "ls",
        "--filter",
        &format!("label=dev.hoist.service={service}"),
        "--format",
        "{{.Name}}",
    ])
    .lines()
    .map(str::to_string)
    .collect();
    names.sort();
    names
}

/// Removes the service and its secrets, before and after the test.
fn remove_swarm(service: &str) {
    let _ = docker(&["service", "rm", service]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let left = swarm_secrets(service);
        if left.is_empty() {
            break;
        }
        let mut args = vec!["secret", "rm"];
        args.extend(left.iter().map(String::as_str));
        let _ = docker(&args);
        std::thread::sleep(Duration::from_millis(300));
    }
}

struct SwarmCleanup(&'static str);
impl Drop for SwarmCleanup {
    fn drop(&mut self) {
        remove_swarm(self.0);
    }
}

#[test]
fn swarm_instances_get_native_secrets_as_files_and_old_ones_go() {
    const SERVICE: &str = "itproofswarm-production-p0";
    let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    if state.trim() != "active" {
        let init = Command::new("docker")
            .args(["swarm", "init", "--advertise-addr", "127.0.0.1"])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    remove_swarm(SERVICE);
    let _cleanup = SwarmCleanup(SERVICE);
    let app = App::new("itproofswarm", &[19902]);
    app.append_config(
        "[environments.production]\nrollout = { health_timeout = \"30s\" }\n\n\
         [environments.production.secrets]\nDB_PASSWORD = { env = \"ITPROOF_SWARM_DB\" }\n\n\
         [[environments.production.instances]]\ntenant = \"p0\"\nport = 19903\n\n\
         [environments.production.runtime]\nkind = \"swarm\"\n\n\
         [environments.production.runtime.update]\nmonitor = \"2s\"\n",
    );
    app.release("v1.0.0");
    let values = [
        "swarmDB-first-11aa22",
        "swarmDB-second-33bb44",
        "swarmDB-third-55cc66",
    ];
    for (round, value) in values.iter().enumerate() {
        let out = app
            .hoist_command(&["-vv", "deploy", "production"])
            .env("ITPROOF_SWARM_DB", value)
            .env_remove("HOIST_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            for v in values {
                assert!(!text.contains(v), "round {round}: {what} holds {v}");
                // The secret's data goes to the engine base64-encoded, logged at -vv.
                let encoded = base64::engine::general_purpose::STANDARD.encode(v);
                assert!(
                    !text.contains(&encoded),
                    "round {round}: {what} holds {v} in base64"
                );
            }
        }
        // The spec holds where the secret is, never the value.
        let spec = docker(&["service", "inspect", SERVICE]);
        assert!(
            spec.contains("DB_PASSWORD_FILE=/run/secrets/DB_PASSWORD"),
            "{spec}"
        );
        for v in values {
            assert!(!spec.contains(v), "the service spec holds {v}");
        }
        let container = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={SERVICE}"),
            "--filter",
            "status=running",
        ]);
        let container = container
            .lines()
            .next()
            .expect("a running task")
            .to_string();
        assert_eq!(
            docker(&["exec", &container, "cat", "/run/secrets/DB_PASSWORD"]),
            *value
        );
        let fingerprint = hoist_secrets::fingerprint("itproofswarm", "DB_PASSWORD", value);
        let made = swarm_secrets(SERVICE);
        assert!(
            made.contains(&format!("{SERVICE}_DB_PASSWORD_{fingerprint}")),
            "{made:?}"
        );
        // The current spec's secret and the previous spec's (Swarm's way back); no more.
        assert_eq!(made.len(), round.min(1) + 1, "{made:?}");
    }
}

#[test]
fn a_literal_secret_in_env_refuses_to_load_with_its_place_and_without_its_value() {
    let app = App::new("itproofcfg", &[19904]);
    let token = format!("ghp_{}", "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2");
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    let config = config.replace(
        "env = { TENANT = \"t0\" }",
        &format!("env = {{ TENANT = \"t0\", GITHUB_PAT = \"{token}\" }}"),
    );
    app.write("hoist.toml", &config);
    let line = config
        .lines()
        .position(|l| l.contains("GITHUB_PAT"))
        .unwrap()
        + 1;
    for args in [&["plan", "staging"][..], &["status", "staging", "--json"]] {
        let run = app.hoist(args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("hoist.toml:{line}:")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("environments.staging.instances[0].env.GITHUB_PAT"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("move it to a secret"), "{}", run.stderr);
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains(&token), "{out}");
            assert!(!out.contains(&token[4..]), "{out}");
        }
    }
    // Where the environment only warns, the file loads.
    app.write(
        "hoist.toml",
        &config.replace(
            "[environments.staging]\n",
            "[environments.staging]\nsecret_scan = \"warn\"\n",
        ),
    );
    let run = app.hoist(&["history", "staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
