//! Schema migrations, applied in order and tracked by `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE releases (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL,
    version     TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    image       TEXT NOT NULL,
    image_id    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    base_image  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (app, version)
);
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     TEXT NOT NULL,
    image_id    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX deployments_by_env ON deployments (app, environment, id);
CREATE TABLE deployment_instances (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    tenant        TEXT NOT NULL,
    container     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    message       TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, tenant)
);
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT,
    action      TEXT NOT NULL,
    version     TEXT,
    detail      TEXT NOT NULL
);
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE locks (
    app          TEXT NOT NULL,
    environment  TEXT NOT NULL,
    holder       TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    PRIMARY KEY (app, environment)
);
"#];

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?
        .max(0) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
