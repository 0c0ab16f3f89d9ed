//! A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with `openssl`,
//! for the tests that serve TLS: the registry's (`support/mod.rs`) and PostgreSQL's
//! (`hoist-store-pg/tests/tls.rs`, which includes this file by path).

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a test tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
pub fn make_certificates(dir: &Path) {
    let p = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=hoist-reg test CA",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt")));
}

/// A client certificate for `cn` signed by the CA that [`make_certificates`] left in `dir`,
/// as `NAME.crt` and its unencrypted PKCS#8 key `NAME.key`; `newkey` is openssl's
/// `-newkey` argument and options (`["rsa:2048"]`, `["ec", "-pkeyopt",
/// "ec_paramgen_curve:prime256v1"]`). For TLS client authentication (PostgreSQL's `cert`).
pub fn make_client_certificate(dir: &Path, name: &str, cn: &str, newkey: &[&str]) {
    let p = |file: &str| dir.join(file);
    run(Command::new("openssl")
        .args(["req", "-nodes", "-newkey"])
        .args(newkey)
        .args(["-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(p(&format!("{name}.key")))
        .arg("-out")
        .arg(p(&format!("{name}.csr"))));
    let ext = p(&format!("{name}.cnf"));
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p(&format!("{name}.csr")))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(p(&format!("{name}.crt"))));
}
