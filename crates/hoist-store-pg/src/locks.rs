//! Environment locks: one row per locked environment, as in SQLite, taken in a
//! transaction that holds a per-environment advisory lock so that two processes cannot
//! both find it free. Heartbeats are stamped and aged by the database's clock, so hosts
//! whose clocks disagree still agree on a holder's age.

use std::time::Duration;

use hoist_core::store::{LockAttempt, LockHolder};
use postgres::{Client, GenericClient};

use crate::Fail;

/// Seconds since the epoch, by the database's clock.
const DB_NOW: &str = "extract(epoch FROM clock_timestamp())::bigint";

pub(crate) fn try_lock(
    c: &mut Client,
    app: &str,
    environment: &str,
    holder: &LockHolder,
    stale_after: Duration,
) -> Result<LockAttempt, Fail> {
    let mut tx = c.transaction()?;
    // Released at commit or rollback, whatever happens to this process.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('hoist.locks'), hashtext($1 || '/' || $2))",
        &[&app, &environment],
    )?;
    let existing = tx.query_opt(
        &format!(
            "SELECT holder, {DB_NOW} - heartbeat_at FROM locks WHERE app = $1 AND environment = $2"
        ),
        &[&app, &environment],
    )?;
    let mut reclaimed_from = None;
    if let Some(row) = existing {
        let current: LockHolder = serde_json::from_str(row.try_get(0)?)?;
        let age: i64 = row.try_get(1)?;
        let stale = age > i64::try_from(stale_after.as_secs()).unwrap_or(i64::MAX);
        if !(current.is_dead_on_this_host() || stale) {
            return Ok(LockAttempt::HeldBy(current));
        }
        if let Some(id) = current.deployment {
            tx.execute(
                "UPDATE deployments SET outcome = 'interrupted', message = 'the process running it stopped before it finished'
                 WHERE id = $1 AND outcome = 'running'",
                &[&id],
            )?;
        }
        tx.execute(
            "DELETE FROM locks WHERE app = $1 AND environment = $2",
            &[&app, &environment],
        )?;
        reclaimed_from = Some(current);
    }
    let json = serde_json::to_string(holder)?;
    tx.execute(
        &format!(
            "INSERT INTO locks (app, environment, holder, heartbeat_at) VALUES ($1, $2, $3, {DB_NOW})"
        ),
        &[&app, &environment, &json],
    )?;
    tx.commit()?;
    Ok(LockAttempt::Acquired { reclaimed_from })
}

/// The holder's own row only: a lock reclaimed from it is not refreshed.
const HOLDER_IS: &str = "(holder::jsonb ->> 'pid') = $3 AND (holder::jsonb ->> 'hostname') = $4";

pub(crate) fn heartbeat(
    c: &mut Client,
    app: &str,
    environment: &str,
    holder: &LockHolder,
) -> Result<(), Fail> {
    let json = serde_json::to_string(holder)?;
    c.execute(
        &format!(
            "UPDATE locks SET heartbeat_at = {DB_NOW}, holder = $5
             WHERE app = $1 AND environment = $2 AND {HOLDER_IS}"
        ),
        &[
            &app,
            &environment,
            &holder.pid.to_string(),
            &holder.hostname,
            &json,
        ],
    )?;
    Ok(())
}

pub(crate) fn unlock(
    c: &mut Client,
    app: &str,
    environment: &str,
    holder: &LockHolder,
) -> Result<(), Fail> {
    c.execute(
        &format!("DELETE FROM locks WHERE app = $1 AND environment = $2 AND {HOLDER_IS}"),
        &[
            &app,
            &environment,
            &holder.pid.to_string(),
            &holder.hostname,
        ],
    )?;
    Ok(())
}

pub(crate) fn holder(
    c: &mut impl GenericClient,
    app: &str,
    environment: &str,
) -> Result<Option<LockHolder>, Fail> {
    let row = c.query_opt(
        "SELECT holder FROM locks WHERE app = $1 AND environment = $2",
        &[&app, &environment],
    )?;
    match row {
        Some(row) => Ok(Some(serde_json::from_str(row.try_get(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) fn force_unlock(
    c: &mut Client,
    app: &str,
    environment: &str,
) -> Result<Option<LockHolder>, Fail> {
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('hoist.locks'), hashtext($1 || '/' || $2))",
        &[&app, &environment],
    )?;
    let current = holder(&mut tx, app, environment)?;
    if let Some(id) = current.as_ref().and_then(|h| h.deployment) {
        tx.execute(
            "UPDATE deployments SET outcome = 'interrupted', message = 'its lock was removed by hoist unlock'
             WHERE id = $1 AND outcome = 'running'",
            &[&id],
        )?;
    }
    tx.execute(
        "DELETE FROM locks WHERE app = $1 AND environment = $2",
        &[&app, &environment],
    )?;
    tx.commit()?;
    Ok(current)
}
