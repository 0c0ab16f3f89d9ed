//! Remote Docker hosts, against real components: this machine's engine reached as a remote
//! one, through a TLS endpoint that checks client certificates (stunnel in front of the
//! engine's socket, with a CA, server and client certificates made here) and through a
//! real `sshd` on loopback (its own host key, config and authorized key, made here;
//! `docker system dial-stdio` runs on "the remote side", which is this machine).
//!
//! Ports 20200-20249 and names `hoist-rmt-*` are this suite's own.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{App, http_get};

const TLS_PORT: u16 = 20200;
const SSH_PORT: u16 = 20201;
const SILENT_PORT: u16 = 20202;
const CLOSED_PORT: u16 = 20203;

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// A child process killed when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it listened on {port}: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA and what it signs, PEM files in `dir`.
struct Pki {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `purpose` (server: 127.0.0.1 and localhost), as (cert, key) PEM.
    fn sign(&self, purpose: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hoist-rmt");
        params.extended_key_usages = vec![purpose];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Docker's client layout in `dir`: ca.pem (this CA), cert.pem and key.pem.
    fn client_dir(&self, dir: &Path, trusted_ca: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = self.sign(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        std::fs::write(dir.join("ca.pem"), trusted_ca).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
    }
}

/// The engine's socket behind TLS on [`TLS_PORT`] (stunnel, as a TLS-terminating proxy in
/// front of a Docker socket is set up), refusing clients without a certificate of `pki`'s
/// CA (`verifyChain`, `requireCert`).
fn tls_endpoint(pki: &Pki, dir: &Path) -> Daemon {
    let (cert, key) = pki.sign(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), key).unwrap();
    std::fs::write(dir.join("server-ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(
        dir.join("stunnel.conf"),
        format!(
            "foreground = yes\npid =\n[docker]\naccept = 127.0.0.1:{TLS_PORT}\nconnect = /var/run/docker.sock\n\
             cert = {}\nkey = {}\nCAfile = {}\nverifyChain = yes\nrequireCert = yes\n",
            dir.join("server.pem").display(),
            dir.join("server-key.pem").display(),
            dir.join("server-ca.pem").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new("stunnel4")
        .arg(dir.join("stunnel.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stunnel4 must be installed (scripts/setup-machine.sh)");
    wait_for_port(TLS_PORT, "stunnel4", &mut child);
    Daemon(child)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path));
}

/// A real sshd on [`SSH_PORT`] with its own host key and config in `dir`, letting in the
/// current user with a key made here; returns it and the client's ssh config file (that
/// key, and a known_hosts file holding only this sshd's host key).
fn sshd(dir: &Path) -> (Daemon, PathBuf) {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("id_ed25519"));
    std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
    let host_public = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    std::fs::write(
        dir.join("known_hosts"),
        format!("[127.0.0.1]:{SSH_PORT} {host_public}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {SSH_PORT}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
             PidFile {pid}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            host = dir.join("host_key").display(),
            keys = dir.join("authorized_keys").display(),
            pid = dir.join("sshd.pid").display(),
        ),
    )
    .unwrap();
    let client_config = dir.join("ssh_config");
    std::fs::write(
        &client_config,
        format!(
            "Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  \
             StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            key = dir.join("id_ed25519").display(),
            known = dir.join("known_hosts").display(),
        ),
    )
    .unwrap();
    // sshd refuses to start without its privilege separation directory (made by the
    // package's service unit, which these tests do not start).
    std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
    let mut child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssh-server must be installed (scripts/setup-machine.sh)");
    wait_for_port(SSH_PORT, "sshd", &mut child);
    (Daemon(child), client_config)
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
    let _stunnel = tls_endpoint(&pki, dir.path());

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
    let (_sshd, ssh_config) = sshd(dir.path());

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
