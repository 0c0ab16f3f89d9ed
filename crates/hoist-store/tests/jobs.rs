//! The SQLite file has the tables of `hoist serve`'s job queue and API tokens. Their
//! behaviour is in hoist-store-pg's `store_suite`, run against SQLite and PostgreSQL.

use hoist_store::{SCHEMA_VERSION, SqliteStore};

#[test]
fn the_schema_has_the_jobs_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    for table in ["jobs", "api_tokens"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
}
