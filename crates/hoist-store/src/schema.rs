//! The schema, as numbered migration steps tracked by `PRAGMA user_version`.
//!
//! The version of a database is the number of the last step applied to it (0 for a new,
//! empty file). Opening applies the steps it lacks, in order, in one `IMMEDIATE`
//! transaction: the database ends at the newest version or, if a step fails, stays at the
//! one it had; and two processes opening an old database at once do not both migrate it
//! (the second waits for the first, then finds nothing to do). A database already at the
//! newest version is not written to. A database whose version is newer than the last step
//! here was written by a newer hoist and is refused, not opened: this code would not know
//! what its columns mean, nor keep them up to date.
//!
//! Steps are append-only: a released step is never edited, a change is a new step.

use rusqlite::{Connection, TransactionBehavior};

/// One step from version `version - 1` to `version`.
struct Migration {
    version: i64,
    /// What the step adds, for error messages.
    summary: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        summary: "releases, deployments, instance outcomes, audit log, locks",
        sql: r#"
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
"#,
    },
    Migration {
        version: 2,
        summary: "manifest digests of release images",
        // NULL where unknown: every row written before this step, and any image that was
        // never pushed to a registry. `deployments.digest` is the digest of the image the
        // deployment rolled out (its `image_id`), as known when it began.
        //
        // A digest names one image, so a release whose image changes while its digest
        // stays loses the digest. The store never writes that; a hoist of schema 1, which
        // opens this database without complaint and knows no digest, would (a rebuild of
        // a version replaces `image_id` only).
        sql: r#"
ALTER TABLE releases ADD COLUMN digest TEXT;
ALTER TABLE deployments ADD COLUMN digest TEXT;
CREATE TRIGGER releases_digest_follows_image AFTER UPDATE OF image_id ON releases
WHEN NEW.image_id IS NOT OLD.image_id AND NEW.digest IS OLD.digest AND NEW.digest IS NOT NULL
BEGIN UPDATE releases SET digest = NULL WHERE id = NEW.id; END;
"#,
    },
    Migration {
        version: 3,
        summary: "spec digests of instance outcomes",
        // The spec an instance took (hoist_core::spec_digest::SpecDigest as JSON), so
        // history says which settings a deployment applied. NULL for rows written before
        // this step, for instances that did not take the release, and for rows an older
        // hoist writes.
        sql: r#"
ALTER TABLE deployment_instances ADD COLUMN spec TEXT;
"#,
    },
    Migration {
        version: 4,
        summary: "the job queue and API tokens of hoist serve",
        // `request` is a hoist_core::jobs::JobRequest as JSON. `dedupe_key` is unique so
        // that a replayed webhook delivery cannot queue a second job, even after a restart
        // (NULLs do not collide). Tokens are kept as the sha256 of the token, never the
        // token; `scopes` is a JSON array of strings.
        sql: r#"
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    request     TEXT NOT NULL,
    environment TEXT,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_state ON jobs (app, state, id);
CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"#,
    },
    Migration {
        version: 5,
        summary: "release task runs",
        // One row per run of a release task for a tenant (hoist_core::task): a retried
        // deploy skips a task that succeeded for the same release and tenant. `output` is
        // the last lines as a JSON array, secrets masked before they get here; `exit_code`
        // is NULL for a task stopped at its timeout.
        sql: r#"
CREATE TABLE task_runs (
    id            INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    app           TEXT NOT NULL,
    environment   TEXT NOT NULL,
    version       TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    task          TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    exit_code     INTEGER,
    started_at    TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    output        TEXT NOT NULL
);
CREATE INDEX task_runs_by_release ON task_runs (app, environment, version, tenant, task);
"#,
    },
    Migration {
        version: 6,
        summary: "the tenants of a deployment to part of an environment",
        // A JSON array of the tenants a `hoist deploy --tenant/--tag` took; NULL for a
        // deployment to every instance, for rows written before this step and for rows an
        // older hoist writes (which deploys to every instance).
        sql: r#"
ALTER TABLE deployments ADD COLUMN subset TEXT;
"#,
    },
    Migration {
        version: 7,
        summary: "the commit time of each release",
        // RFC 3339 committer time of the release's commit, what DORA's lead time counts
        // from. NULL where unknown: rows written before this step (hoist metrics then
        // asks the repository), a version given without a repository.
        sql: r#"
ALTER TABLE releases ADD COLUMN commit_time TEXT;
"#,
    },
];

/// The schema version this code writes: the last step's.
pub const VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error(
        "its schema is version {found}, newer than this hoist knows (version {VERSION}): \
         it was written by a newer hoist; use that one, or upgrade"
    )]
    TooNew { found: i64 },
    #[error("its schema version {found} is not one hoist ever wrote")]
    Invalid { found: i64 },
    #[error("cannot migrate its schema to version {version} ({summary}): {source}")]
    Step {
        version: i64,
        summary: &'static str,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

fn version(conn: &Connection) -> Result<i64, SchemaError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match found {
        _ if found < 0 => Err(SchemaError::Invalid { found }),
        _ if found > VERSION => Err(SchemaError::TooNew { found }),
        _ => Ok(found),
    }
}

/// Refuses a database this code cannot read, before anything writes to it.
pub(crate) fn check(conn: &Connection) -> Result<(), SchemaError> {
    version(conn).map(drop)
}

/// Brings the schema up to [`VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    if version(conn)? == VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let current = version(&tx)?;
    for step in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(step.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", step.version))
            .map_err(|source| SchemaError::Step {
                version: step.version,
                summary: step.summary,
                source,
            })?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_one_by_one_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.summary);
        }
    }

    #[test]
    fn a_new_database_gets_every_step() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), VERSION);
    }
}
