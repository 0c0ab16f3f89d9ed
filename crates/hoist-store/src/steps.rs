//! The `instance_steps` table: each state an instance reached in a deployment, so a
//! deployment's page shows them whoever ran it and after a restart.

use hoist_core::StoreError;
use hoist_core::store::InstanceStep;
use rusqlite::{Connection, params};

use crate::err;

/// Appends `steps` in one transaction: one commit per instance keeps a deploy fast.
pub(crate) fn record(
    conn: &mut Connection,
    deployment: i64,
    steps: &[InstanceStep],
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(err)?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO instance_steps (deployment_id, tenant, at, state, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(err)?;
        for s in steps {
            insert
                .execute(params![deployment, s.tenant, s.at, s.state, s.message])
                .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

pub(crate) fn of_deployment(
    conn: &Connection,
    deployment: i64,
) -> Result<Vec<InstanceStep>, StoreError> {
    let mut statement = conn
        .prepare(
            "SELECT tenant, at, state, message FROM instance_steps
             WHERE deployment_id = ?1 ORDER BY id",
        )
        .map_err(err)?;
    let rows = statement
        .query_map(params![deployment], |row| {
            Ok(InstanceStep {
                tenant: row.get(0)?,
                at: row.get(1)?,
                state: row.get(2)?,
                message: row.get(3)?,
            })
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}
