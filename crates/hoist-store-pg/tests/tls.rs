//! TLS to a real PostgreSQL (`ssl = on`, a certificate for 127.0.0.1 signed by a CA this
//! test makes with `openssl`, as the registry's tests do): each `sslmode` connects as
//! libpq's does, or is refused with a word on what to set. Whether a connection is encrypted is read on the server side
//! (`pg_stat_ssl`). Port 20754 (this suite's range is 20750-20799).

use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;

#[path = "../../hoist-registry/tests/support/certs.rs"]
mod certs;

const PORT: u16 = 20754;

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
