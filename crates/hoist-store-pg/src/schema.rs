//! Applies `hoist-store`'s numbered schema steps (their PostgreSQL text) to a database,
//! recording the version in the one-row table `hoist_schema`.

use hoist_store::{MIGRATIONS, SCHEMA_VERSION};
use postgres::Client;

/// The advisory lock key migrations hold: any constant other hoist locks do not use
/// (the two-key form of `locks.rs` cannot collide with this one-key form).
const MIGRATION_LOCK: i64 = 0x686f_6973_745f_6462; // "hoist_db"

#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error(
        "its schema is version {found}, newer than this hoist knows (version {SCHEMA_VERSION}): \
         it was written by a newer hoist; use that one, or upgrade"
    )]
    TooNew { found: i64 },
    #[error("its schema version {found} is not one hoist ever wrote")]
    Invalid { found: i64 },
    #[error("cannot migrate its schema to version {version} ({summary}): {source}")]
    Step {
        version: i64,
        summary: &'static str,
        source: postgres::Error,
    },
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
}

/// Brings the schema to [`SCHEMA_VERSION`]: every missing step in one transaction, under
/// a lock that makes a second process starting at once wait and then find nothing to do.
pub(crate) fn migrate(client: &mut Client) -> Result<(), SchemaError> {
    if current(client)? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS hoist_schema (version BIGINT NOT NULL)")?;
    // Read again under the lock: another process may have migrated meanwhile.
    let found = tx
        .query_opt("SELECT version FROM hoist_schema", &[])?
        .map(|row| row.get::<_, i64>(0))
        .unwrap_or(0);
    check(found)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for step in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(step.postgres)
            .map_err(|source| SchemaError::Step {
                version: step.version,
                summary: step.summary,
                source,
            })?;
    }
    tx.execute("DELETE FROM hoist_schema", &[])?;
    tx.execute(
        "INSERT INTO hoist_schema (version) VALUES ($1)",
        &[&SCHEMA_VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// The version recorded, if the table exists; refuses one this code cannot read.
fn current(client: &mut Client) -> Result<Option<i64>, SchemaError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('hoist_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let found = client
        .query_opt("SELECT version FROM hoist_schema", &[])?
        .map(|row| row.get::<_, i64>(0));
    if let Some(found) = found {
        check(found)?;
    }
    Ok(found)
}

fn check(found: i64) -> Result<(), SchemaError> {
    match found {
        _ if found < 0 => Err(SchemaError::Invalid { found }),
        _ if found > SCHEMA_VERSION => Err(SchemaError::TooNew { found }),
        _ => Ok(()),
    }
}
