//! TLS to a real PostgreSQL (`ssl = on`, a certificate for 127.0.0.1 signed by a CA this
//! test makes with `openssl`, as the registry's tests do): each `sslmode` connects as
//! libpq's does, or is refused with a word on what to set. Whether a connection is encrypted is read on the server side
//! (`pg_stat_ssl`). Port 20754 (this suite's range is 20750-20799).
//!
//! Client certificates (`sslcert`, `sslkey`) against a second cluster, port 20755, whose
//! pg_hba.conf lets TCP clients in only with a certificate from the test CA that names
//! the user (`hostssl all all 127.0.0.1/32 cert`).

use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;

#[path = "../../hoist-registry/tests/support/certs.rs"]
mod certs;

const PORT: u16 = 20754;
const CERT_PORT: u16 = 20755;

struct Setup {
    cluster: &'static Cluster,
    dir: tempfile::TempDir,
}

/// The TLS cluster (started once per test binary) and the CA files: `ca.crt` signed the
/// server's certificate (for 127.0.0.1 only), `other.crt` signed nothing the server has.
fn setup() -> Setup {
    static CLUSTER: std::sync::OnceLock<(&'static Cluster, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let dir = tempfile::tempdir().unwrap();
    let (cluster, ca) = CLUSTER.get_or_init(|| {
        let keep = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        certs::make_certificates(keep.path());
        let cluster = Cluster::start_with_tls(
            PORT,
            &keep.path().join("server.crt"),
            &keep.path().join("server.key"),
        )
        .unwrap_or_else(|e| panic!("cannot start the TLS cluster: {e}"));
        (&*Box::leak(Box::new(cluster)), keep.path().join("ca.crt"))
    });
    std::fs::copy(ca, dir.path().join("ca.crt")).unwrap();
    let other = tempfile::tempdir().unwrap();
    certs::make_certificates(other.path());
    std::fs::copy(other.path().join("ca.crt"), dir.path().join("other.crt")).unwrap();
    Setup { cluster, dir }
}

impl Setup {
    /// The URL of a fresh database `name`, at `host`, with `query` after `?`.
    fn url(&self, name: &str, host: &str, query: &str) -> String {
        let url = self.cluster.database(name);
        let url = url.replacen("127.0.0.1", host, 1);
        let query = query.replace("{dir}", &self.dir.path().display().to_string());
        if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        }
    }

    /// Whether the store's connection to database `name` is encrypted, as the server sees it.
    fn encrypted(&self, name: &str) -> bool {
        let admin = self.cluster.url("postgres");
        let name = name.to_string();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            let rows = client
                .query(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.datname = $1",
                    &[&name],
                )
                .unwrap();
            assert_eq!(rows.len(), 1, "one connection to {name}");
            rows[0].get::<_, bool>(0)
        })
        .join()
        .unwrap()
    }
}

#[test]
fn verify_full_with_the_ca_connects_encrypted() {
    let setup = setup();
    let url = setup.url(
        "pg_tls_full",
        "127.0.0.1",
        "sslmode=verify-full&sslrootcert={dir}/ca.crt",
    );
    let store = PgStore::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    assert!(setup.encrypted("pg_tls_full"));
    drop(store);
}

#[test]
fn prefer_and_require_encrypt_without_a_ca_and_disable_does_not() {
    let setup = setup();
    for (name, query, encrypted) in [
        ("pg_tls_default", "", true),
        ("pg_tls_require", "sslmode=require", true),
        ("pg_tls_disable", "sslmode=disable", false),
    ] {
        let store = PgStore::connect(&setup.url(name, "127.0.0.1", query))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(setup.encrypted(name), encrypted, "{query}");
        drop(store);
    }
}

#[test]
fn another_ca_is_refused_with_what_to_set() {
    let setup = setup();
    for query in [
        "sslmode=verify-full&sslrootcert={dir}/other.crt",
        "sslmode=verify-ca&sslrootcert={dir}/other.crt",
        // `require` with a CA file checks the chain, as libpq's does.
        "sslmode=require&sslrootcert={dir}/other.crt",
    ] {
        let err = PgStore::connect(&setup.url("pg_tls_other", "127.0.0.1", query))
            .err()
            .unwrap_or_else(|| panic!("{query} connected"))
            .to_string();
        assert!(
            err.contains(
                "cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:20754/pg_tls_other"
            ) && err.contains("set sslrootcert=PATH to the CA that signed it"),
            "{query}: {err}"
        );
    }
}

/// The certificate names 127.0.0.1, not `localhost`: only `verify-full` checks that.
#[test]
fn verify_ca_accepts_another_host_name_and_verify_full_does_not() {
    let setup = setup();
    let full = setup.url(
        "pg_tls_name",
        "localhost",
        "sslmode=verify-full&sslrootcert={dir}/ca.crt",
    );
    let err = PgStore::connect(&full)
        .err()
        .expect("verify-full connected")
        .to_string();
    assert!(err.contains("invalid peer certificate"), "{err}");
    let ca = setup.url(
        "pg_tls_name",
        "localhost",
        "sslmode=verify-ca&sslrootcert={dir}/ca.crt",
    );
    let store = PgStore::connect(&ca).unwrap_or_else(|e| panic!("{e}"));
    assert!(setup.encrypted("pg_tls_name"));
    drop(store);
}

/// The cluster that requires client certificates (started once per test binary) and a
/// directory with its CA (`ca.crt`) and client certificates signed by it, for the user
/// `postgres`: `client.crt` with `client.key` (RSA, PKCS#8) and `client-rsa.key` (the same
/// key as PKCS#1), `ec.crt` with `ec.key` (P-256, PKCS#8) and `ec-sec1.key` (SEC1); and
/// `nobody.crt`/`nobody.key`, for a user that does not exist, and `stranger.crt` and
/// `stranger.key`, from another CA.
struct CertSetup {
    cluster: &'static Cluster,
    dir: std::path::PathBuf,
}

fn cert_setup() -> CertSetup {
    static CLUSTER: std::sync::OnceLock<(&'static Cluster, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (cluster, dir) = CLUSTER.get_or_init(|| {
        let keep = Box::leak(Box::new(tempfile::tempdir().unwrap())).path();
        certs::make_certificates(keep);
        certs::make_client_certificate(keep, "client", "postgres", &["rsa:2048"]);
        openssl(
            &[
                "pkey",
                "-traditional",
                "-in",
                "client.key",
                "-out",
                "client-rsa.key",
            ],
            keep,
        );
        certs::make_client_certificate(
            keep,
            "ec",
            "postgres",
            &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        );
        openssl(
            &[
                "pkey",
                "-traditional",
                "-in",
                "ec.key",
                "-out",
                "ec-sec1.key",
            ],
            keep,
        );
        certs::make_client_certificate(keep, "nobody", "nobody", &["rsa:2048"]);
        let other = keep.join("other");
        std::fs::create_dir(&other).unwrap();
        certs::make_certificates(&other);
        certs::make_client_certificate(&other, "client", "postgres", &["rsa:2048"]);
        for ext in ["crt", "key"] {
            std::fs::copy(
                other.join(format!("client.{ext}")),
                keep.join(format!("stranger.{ext}")),
            )
            .unwrap();
        }
        let cluster = Cluster::start_with_client_certs(
            CERT_PORT,
            &keep.join("server.crt"),
            &keep.join("server.key"),
            &keep.join("ca.crt"),
        )
        .unwrap_or_else(|e| panic!("cannot start the client-certificate cluster: {e}"));
        (&*Box::leak(Box::new(cluster)), keep.to_path_buf())
    });
    CertSetup {
        cluster,
        dir: dir.clone(),
    }
}

/// Runs openssl in `dir`.
fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl CertSetup {
    /// The URL of a fresh database `name` with `query` after `?` (`{dir}` is the
    /// certificates' directory).
    fn url(&self, name: &str, query: &str) -> String {
        let url = self.cluster.database(name);
        let query = query.replace("{dir}", &self.dir.display().to_string());
        if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        }
    }

    /// The subject of the client certificate the server saw on the connection to `name`,
    /// and whether it is encrypted.
    fn client_dn(&self, name: &str) -> (Option<String>, bool) {
        let admin = self.cluster.admin("postgres");
        let name = name.to_string();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            let rows = client
                .query(
                    "SELECT s.client_dn, s.ssl FROM pg_stat_ssl s \
                     JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
                    &[&name],
                )
                .unwrap();
            assert_eq!(rows.len(), 1, "one connection to {name}");
            (rows[0].get(0), rows[0].get(1))
        })
        .join()
        .unwrap()
    }

    /// The store's error for `url`, which must not connect.
    fn refusal(&self, url: &str) -> String {
        match PgStore::connect(url) {
            Ok(_) => panic!("{url} connected"),
            Err(e) => e.to_string(),
        }
    }

    /// Asserts that no line of the PEM key files is in `error`.
    fn assert_no_key_material(&self, error: &str) {
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "key") {
                let pem = std::fs::read_to_string(&path).unwrap();
                for line in pem.lines().filter(|l| !l.starts_with("-----")) {
                    assert!(
                        !error.contains(line),
                        "{} is in the error: {error}",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn a_client_certificate_lets_cert_authentication_in_under_every_encrypting_mode() {
    let setup = cert_setup();
    for (name, query) in [
        (
            "pg_cert_prefer",
            "sslcert={dir}/client.crt&sslkey={dir}/client.key",
        ),
        (
            "pg_cert_require",
            "sslmode=require&sslcert={dir}/client.crt&sslkey={dir}/client.key",
        ),
        (
            "pg_cert_verify_ca",
            "sslmode=verify-ca&sslrootcert={dir}/ca.crt&sslcert={dir}/client.crt\
             &sslkey={dir}/client.key",
        ),
        (
            "pg_cert_verify_full",
            "sslmode=verify-full&sslrootcert={dir}/ca.crt&sslcert={dir}/client.crt\
             &sslkey={dir}/client.key",
        ),
    ] {
        let store =
            PgStore::connect(&setup.url(name, query)).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(
            setup.client_dn(name),
            (Some("/CN=postgres".to_string()), true),
            "{query}"
        );
        drop(store);
    }
}

#[test]
fn client_keys_in_pkcs1_and_sec1_and_ec_certificates_work_too() {
    let setup = cert_setup();
    for (name, cert, key, header) in [
        (
            "pg_cert_pkcs1",
            "client.crt",
            "client-rsa.key",
            "RSA PRIVATE KEY",
        ),
        ("pg_cert_ec", "ec.crt", "ec.key", "PRIVATE KEY"),
        ("pg_cert_sec1", "ec.crt", "ec-sec1.key", "EC PRIVATE KEY"),
    ] {
        let pem = std::fs::read_to_string(setup.dir.join(key)).unwrap();
        assert!(
            pem.starts_with(&format!("-----BEGIN {header}-----\n")),
            "{key} is not {header}"
        );
        let query = format!("sslmode=require&sslcert={{dir}}/{cert}&sslkey={{dir}}/{key}");
        let store = PgStore::connect(&setup.url(name, &query))
            .unwrap_or_else(|e| panic!("{key} ({header}): {e}"));
        assert_eq!(
            setup.client_dn(name),
            (Some("/CN=postgres".to_string()), true),
            "{key}"
        );
        drop(store);
    }
}

#[test]
fn without_a_client_certificate_the_server_refuses_and_says_to_set_one() {
    let setup = cert_setup();
    for query in [
        "",
        "sslmode=require",
        "sslmode=verify-full&sslrootcert={dir}/ca.crt",
    ] {
        let err = setup.refusal(&setup.url("pg_cert_none", query));
        assert!(
            err.contains(
                "cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:20755/pg_cert_none"
            ) && err.contains("requires a valid client certificate")
                && err.contains("set sslcert=PATH and sslkey=PATH"),
            "{query}: {err}"
        );
    }
    // Without TLS there is no certificate to present, and pg_hba.conf has no line for it.
    let err = setup.refusal(&setup.url("pg_cert_none", "sslmode=disable"));
    assert!(err.contains("no pg_hba.conf entry"), "{err}");
}

#[test]
fn a_key_that_is_not_the_certificate_s_fails_before_connecting_and_never_shows_a_key() {
    let setup = cert_setup();
    let err = setup.refusal(&setup.url(
        "pg_cert_wrong_key",
        "sslmode=require&sslcert={dir}/client.crt&sslkey={dir}/nobody.key",
    ));
    let (cert, key) = (
        setup.dir.join("client.crt").display().to_string(),
        setup.dir.join("nobody.key").display().to_string(),
    );
    assert!(
        err.contains(&format!(
            "sslkey {key} is not the private key of the certificate in sslcert {cert}"
        )),
        "{err}"
    );
    setup.assert_no_key_material(&err);

    // The files swapped: the key named as the certificate, the certificate as the key.
    let err = setup.refusal(&setup.url(
        "pg_cert_wrong_key",
        "sslmode=require&sslcert={dir}/client.key&sslkey={dir}/client.crt",
    ));
    assert!(
        err.contains("client.key holds no PEM certificate")
            && err.contains("it holds a private key, which belongs in sslkey"),
        "{err}"
    );
    setup.assert_no_key_material(&err);

    let err = setup.refusal(&setup.url(
        "pg_cert_wrong_key",
        "sslmode=require&sslcert={dir}/client.crt&sslkey={dir}/absent.key",
    ));
    assert!(
        err.contains("sslkey") && err.contains("absent.key: cannot read it"),
        "{err}"
    );
}

#[test]
fn a_certificate_the_server_does_not_accept_is_refused_with_what_to_check() {
    let setup = cert_setup();
    // Signed by a CA the server does not know.
    let err = setup.refusal(&setup.url(
        "pg_cert_stranger",
        "sslmode=require&sslcert={dir}/stranger.crt&sslkey={dir}/stranger.key",
    ));
    assert!(
        err.contains("the server refused the client certificate in sslcert"),
        "{err}"
    );
    setup.assert_no_key_material(&err);
    // Signed by the server's CA, for another user.
    let err = setup.refusal(&setup.url(
        "pg_cert_stranger",
        "sslmode=require&sslcert={dir}/nobody.crt&sslkey={dir}/nobody.key",
    ));
    assert!(
        err.contains("certificate authentication failed for user \"postgres\"")
            && err.contains("its common name (CN) must be the user name"),
        "{err}"
    );
    setup.assert_no_key_material(&err);
}
