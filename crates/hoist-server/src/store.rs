//! What the server keeps: history, audit and locks ([`Store`]), the job queue
//! ([`JobStore`]) and API tokens ([`TokenStore`]), from one database: SQLite, or
//! PostgreSQL when `HOIST_DATABASE_URL` is set (both implement the same three traits).

use std::path::Path;
use std::sync::Arc;

use hoist_app::StateStore;
use hoist_core::jobs::JobStore;
use hoist_core::store::{Store, StoreError};
use hoist_core::tokens::TokenStore;

/// Everything the server needs of a store.
pub trait ServerStore: Store + JobStore + TokenStore {}

impl<T: Store + JobStore + TokenStore> ServerStore for T {}

/// Opens the state database (creating it, migrating its schema): PostgreSQL if
/// `HOIST_DATABASE_URL` is set, else the SQLite file at `path`.
pub fn open(path: &Path) -> Result<Arc<dyn ServerStore>, StoreError> {
    Ok(match hoist_app::open_state(path)? {
        StateStore::Sqlite(store) => store,
        StateStore::Postgres(store) => store,
    })
}
