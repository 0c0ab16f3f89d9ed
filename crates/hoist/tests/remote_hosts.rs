//! Remote Docker hosts, against real components: this machine's engine reached as a remote
//! one, through a TLS endpoint that checks client certificates (stunnel in front of the
//! engine's socket, with a CA, server and client certificates made here) and through a
//! real `sshd` on loopback (its own host key, config and authorized key, made here;
//! `docker system dial-stdio` runs on "the remote side", which is this machine).
//!
//! Ports 20200-20249 and names `hoist-rmt-*` are this suite's own.

mod remote;
mod support;

use std::net::{SocketAddr, TcpListener};

use remote::{Pki, sshd, tls_endpoint, user};
use support::{App, http_get};

const TLS_PORT: u16 = 20200;
const SSH_PORT: u16 = 20201;
const SILENT_PORT: u16 = 20202;
const CLOSED_PORT: u16 = 20203;

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// `app`'s one staging instance on the engine `[hosts.remote]` describes (`host_toml` is
/// that table's keys).
fn on_remote_host(app: &App, host_toml: &str) {
    app.write_config("20s");
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "tenant = \"t0\"\n",
        "tenant = \"t0\"\nhost = \"remote\"\n",
        1,
    );
    std::fs::write(&path, format!("{text}\n[hosts.remote]\n{host_toml}\n")).unwrap();
}

/// Deploy, a second deploy, status and rollback, all through the remote engine.
fn deploy_status_and_rollback(app: &App, address: &str) {
    let port = app.ports[0];
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));

    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    let second = app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(version_on(port).as_deref(), Some("v2.0.0"));
    // The prune after the deploy went over the remote engine too, without a problem.
    assert!(
        !second.stderr.contains("prune after deploy"),
        "{}",
        second.stderr
    );
    let pruned = app
        .hoist(&["prune", "staging", "--dry-run", "--json"])
        .ok()
        .json();
    assert!(
        pruned["engines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["engine"] == address && e["error"].is_null()),
        "{pruned:#}"
    );
    app.assert_all_on_current("v2.0.0");
    let status = app.hoist(&["status", "staging", "--json"]).ok().json();
    assert_eq!(status["instances"][0]["host"], address, "{status:#}");

    let rolled = app.hoist(&["rollback", "staging", "--json"]).ok().json();
    assert_eq!(rolled["release"]["version"], "v1.0.0");
    assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));
    app.assert_all_on_current("v1.0.0");
    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    let kinds: Vec<&str> = history["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rollback", "deploy", "deploy"], "{history:#}");
}

#[test]
fn deploy_status_and_rollback_through_a_tls_engine_that_checks_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("hoist-rmt test CA");
    let _stunnel = tls_endpoint(&pki, dir.path(), TLS_PORT);

    let app = App::new("hoist-rmt-tls", &[20210]);
    // Outside the build context: the secret scan refuses a private key in it.
    let client = dir.path().join("client");
    pki.client_dir(&client, &pki.ca_pem);
    let address = format!("tcp://127.0.0.1:{TLS_PORT}");
    on_remote_host(
        &app,
        &format!(
            "address = \"{address}\"\ncert_path = \"{}\"\n",
            client.display()
        ),
    );
    deploy_status_and_rollback(&app, &address);

    // A client certificate of another CA is refused by the endpoint: the error names the
    // engine and the TLS alert, and nothing changes.
    let stranger = Pki::new("hoist-rmt stranger CA");
    std::fs::remove_dir_all(&client).unwrap();
    stranger.client_dir(&client, &pki.ca_pem);
    let refused = app.hoist(&["rollback", "staging", "--to", "v2.0.0"]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&address) && refused.stderr.contains("UnknownCA"),
        "the error names the engine and why:\n{}",
        refused.stderr
    );
    assert_eq!(version_on(app.ports[0]).as_deref(), Some("v1.0.0"));

    // A missing client file is named, with where it is looked for.
    std::fs::remove_file(client.join("key.pem")).unwrap();
    let missing = app.hoist(&["status", "staging"]);
    assert!(
        missing.stderr.contains("key.pem") && missing.stderr.contains(&address),
        "{}",
        missing.stderr
    );
}

#[test]
fn deploy_status_and_rollback_through_sshd_and_docker_dial_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let (_sshd, ssh_config) = sshd(dir.path(), SSH_PORT);

    let app = App::new("hoist-rmt-ssh", &[20211]);
    let address = format!("ssh://{}@127.0.0.1:{SSH_PORT}", user());
    on_remote_host(
        &app,
        &format!(
            "address = \"{address}\"\nssh_config = \"{}\"\n",
            ssh_config.display()
        ),
    );
    deploy_status_and_rollback(&app, &address);
}

#[test]
fn unreachable_engines_fail_clearly_and_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    // Something that accepts connections and never answers: a hung host.
    let silent = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], SILENT_PORT))).unwrap();
    let pki = Pki::new("hoist-rmt unused CA");
    let app = App::new("hoist-rmt-down", &[20212]);
    pki.client_dir(&dir.path().join("client"), &pki.ca_pem);
    std::fs::write(dir.path().join("ssh_config"), "Host *\n  LogLevel ERROR\n").unwrap();
    app.release("v1.0.0");
    for (address, extra, says) in [
        (
            format!("tcp://127.0.0.1:{CLOSED_PORT}"),
            format!("cert_path = \"{}\"\n", dir.path().join("client").display()),
            "does not answer",
        ),
        (
            format!("ssh://{}@127.0.0.1:{CLOSED_PORT}", user()),
            format!(
                "ssh_config = \"{}\"\n",
                dir.path().join("ssh_config").display()
            ),
            "Connection refused",
        ),
        (
            format!("tcp://127.0.0.1:{SILENT_PORT}"),
            String::new(),
            "did not answer within",
        ),
    ] {
        on_remote_host(&app, &format!("address = \"{address}\"\n{extra}"));
        let run = app.hoist(&["deploy", "staging"]);
        assert_ne!(run.code, 0, "{address}: {}", run.stderr);
        assert!(
            run.stderr.contains(&address) && run.stderr.contains(says),
            "{address}: expected {says:?} in:\n{}",
            run.stderr
        );
    }
    drop(silent);
    assert_eq!(version_on(app.ports[0]), None);
}
