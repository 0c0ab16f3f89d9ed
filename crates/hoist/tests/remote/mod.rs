//! Remote Docker engines for tests: this machine's engine reached as a remote one,
//! through a TLS endpoint that checks client certificates (stunnel in front of the
//! engine's socket, with a CA, server and client certificates made here) or through a real
//! `sshd` on loopback (its own host key, config and authorized key, made here). Each
//! suite passes its own ports.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
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
pub struct Pki {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub ca_pem: String,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
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
    pub fn sign(&self, purpose: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
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
    pub fn client_dir(&self, dir: &Path, trusted_ca: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = self.sign(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        std::fs::write(dir.join("ca.pem"), trusted_ca).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
    }
}

/// The engine's socket behind TLS on `port` (stunnel, as a TLS-terminating proxy in
/// front of a Docker socket is set up), refusing clients without a certificate of `pki`'s
/// CA (`verifyChain`, `requireCert`).
pub fn tls_endpoint(pki: &Pki, dir: &Path, port: u16) -> Daemon {
    let (cert, key) = pki.sign(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), key).unwrap();
    std::fs::write(dir.join("server-ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(
        dir.join("stunnel.conf"),
        format!(
            "foreground = yes\npid =\n[docker]\naccept = 127.0.0.1:{port}\nconnect = /var/run/docker.sock\n\
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
    wait_for_port(port, "stunnel4", &mut child);
    Daemon(child)
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path));
}

/// A real sshd on `port` with its own host key and config in `dir`, letting in the
/// current user with a key made here; returns it and the client's ssh config file (that
/// key, and a known_hosts file holding only this sshd's host key).
pub fn sshd(dir: &Path, port: u16) -> (Daemon, PathBuf) {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("id_ed25519"));
    std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
    let host_public = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    std::fs::write(
        dir.join("known_hosts"),
        format!("[127.0.0.1]:{port} {host_public}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
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
    wait_for_port(port, "sshd", &mut child);
    (Daemon(child), client_config)
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
