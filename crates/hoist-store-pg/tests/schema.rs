//! The PostgreSQL schema: the same steps as SQLite, applied once under a lock, and the
//! store's refusals (a newer schema, a URL that is not PostgreSQL, a password in a URL).

use std::collections::BTreeSet;
use std::sync::Barrier;

use hoist_core::store::Store;
use hoist_store::{MIGRATIONS, SCHEMA_VERSION, SqliteStore};
use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;

const PORT: u16 = 20751;
/// A port of this suite's range where nothing listens.
const CLOSED_PORT: u16 = 20799;

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn version(url: &str) -> i64 {
    client(url)
        .query_one("SELECT version FROM hoist_schema", &[])
        .unwrap()
        .get(0)
}

#[test]
fn every_step_is_written_for_both_databases_and_numbered_one_by_one() {
    for (i, step) in MIGRATIONS.iter().enumerate() {
        assert_eq!(step.version, i as i64 + 1, "{}", step.summary);
        assert!(
            !step.sqlite.trim().is_empty(),
            "step {} has no SQLite text",
            step.version
        );
        assert!(
            !step.postgres.trim().is_empty(),
            "step {} has no PostgreSQL text",
            step.version
        );
    }
    assert_eq!(MIGRATIONS.last().unwrap().version, SCHEMA_VERSION);
}

/// (table, column, nullable) of every column hoist's steps made.
type Columns = BTreeSet<(String, String, bool)>;

fn sqlite_columns(path: &std::path::Path) -> Columns {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT m.name, c.name, c.\"notnull\" = 0 AND c.pk = 0 FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table'",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn postgres_columns(url: &str) -> Columns {
    client(url)
        .query(
            "SELECT table_name::text, column_name::text, is_nullable = 'YES' FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'hoist_schema'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn both_databases_end_with_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    SqliteStore::open(&path).unwrap();
    let url = Cluster::shared(PORT).database("pg_same_tables");
    PgStore::connect(&url).unwrap();
    let sqlite = sqlite_columns(&path);
    assert!(sqlite.len() > 50, "{sqlite:?}");
    assert_eq!(postgres_columns(&url), sqlite);
    assert_eq!(version(&url), SCHEMA_VERSION);
}

#[test]
fn processes_connecting_at_once_migrate_once() {
    let url = Cluster::shared(PORT).database("pg_migrate_at_once");
    let barrier = Barrier::new(6);
    let opened: Vec<Result<PgStore, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    PgStore::connect(&url).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
    }
    assert_eq!(version(&url), SCHEMA_VERSION);
    assert_eq!(
        client(&url)
            .query_one("SELECT count(*) FROM hoist_schema", &[])
            .unwrap()
            .get::<_, i64>(0),
        1
    );
}

#[test]
fn reconnecting_to_a_current_database_changes_nothing() {
    let url = Cluster::shared(PORT).database("pg_reconnect");
    let store = PgStore::connect(&url).unwrap();
    store
        .save_release(&hoist_core::Release {
            app: "clinic".into(),
            version: "v1".into(),
            commit: "abc".into(),
            image: "clinic:v1".into(),
            image_id: "sha256:a".into(),
            digest: None,
            fingerprint: "fp".into(),
            base_image: "base".into(),
            created_by: "ada".into(),
            created_at: "2026-11-23T10:00:00Z".into(),
        })
        .unwrap();
    drop(store);
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(store.releases("clinic").unwrap().len(), 1);
    assert_eq!(version(&url), SCHEMA_VERSION);
}

#[test]
fn a_database_from_a_newer_hoist_is_refused() {
    let url = Cluster::shared(PORT).database("pg_newer");
    PgStore::connect(&url).unwrap();
    client(&url)
        .execute(
            "UPDATE hoist_schema SET version = $1",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    let err = PgStore::connect(&url).err().expect("refused").to_string();
    assert!(err.contains("newer than this hoist knows"), "{err}");
    assert!(
        err.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{err}"
    );
    // Refused without writing to it.
    assert_eq!(version(&url), SCHEMA_VERSION + 1);
}

#[test]
fn a_failing_step_leaves_the_database_at_its_version() {
    let url = Cluster::shared(PORT).database("pg_failing_step");
    // Something in the way of step 4's table, at version 3.
    let mut c = client(&url);
    for step in &MIGRATIONS[..3] {
        c.batch_execute(step.postgres).unwrap();
    }
    c.batch_execute(
        "CREATE TABLE hoist_schema (version BIGINT NOT NULL); INSERT INTO hoist_schema VALUES (3);
         CREATE TABLE jobs (unrelated TEXT);",
    )
    .unwrap();
    let err = PgStore::connect(&url).err().expect("refused").to_string();
    assert!(
        err.contains("cannot migrate its schema to version 4"),
        "{err}"
    );
    assert_eq!(version(&url), 3);
    let api_tokens: bool = c
        .query_one("SELECT to_regclass('api_tokens') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!api_tokens, "the failed step was rolled back whole");
}

#[test]
fn the_password_never_appears_in_an_error_or_the_location() {
    let url = format!("postgres://hoist:hunter2-secret@127.0.0.1:{CLOSED_PORT}/team");
    let err = PgStore::connect(&url)
        .err()
        .expect("nothing listens there")
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains(&format!("postgres://hoist@127.0.0.1:{CLOSED_PORT}/team")),
        "{err}"
    );

    let cluster = Cluster::shared(PORT);
    cluster.database("pg_password");
    let url = format!(
        "postgres://postgres:hunter2-secret@127.0.0.1:{}/pg_password",
        cluster.port()
    );
    let store = PgStore::connect(&url).unwrap();
    let location = store.location().unwrap();
    assert_eq!(
        location,
        format!(
            "postgres://postgres@127.0.0.1:{}/pg_password",
            cluster.port()
        )
    );
    let err = PgStore::connect("postgres://hoist:hunter2-secret@127.0.0.1:notaport/x")
        .err()
        .expect("a bad port")
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_url_that_is_not_postgres_is_refused_with_what_to_write() {
    let err = PgStore::connect("mysql://root:hunter2-secret@db/hoist")
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("HOIST_DATABASE_URL"), "{err}");
    assert!(err.contains("postgres://USER"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn calls_from_a_current_thread_runtime_work() {
    let url = Cluster::shared(PORT).database("pg_current_thread");
    let store = PgStore::connect(&url).unwrap();
    assert!(store.releases("clinic").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_a_multi_thread_runtime_work() {
    let url = Cluster::shared(PORT).database("pg_multi_thread");
    let store = std::sync::Arc::new(PgStore::connect(&url).unwrap());
    let task = tokio::spawn({
        let store = store.clone();
        async move { store.releases("clinic").map(|r| r.len()) }
    });
    assert_eq!(task.await.unwrap().unwrap(), 0);
}
