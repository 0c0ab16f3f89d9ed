//! What the server keeps: history, audit and locks ([`Store`]), the job queue
//! ([`JobStore`]) and API tokens ([`TokenStore`]), from one database. SQLite today; a
//! PostgreSQL store implements the same three traits.

use std::path::Path;
use std::sync::Arc;

use hoist_core::jobs::JobStore;
use hoist_core::store::{Store, StoreError};
use hoist_core::tokens::TokenStore;

/// Everything the server needs of a store.
pub trait ServerStore: Store + JobStore + TokenStore {}

impl<T: Store + JobStore + TokenStore> ServerStore for T {}

/// Opens the SQLite state database at `path` (creating it, migrating its schema).
pub fn open(path: &Path) -> Result<Arc<dyn ServerStore>, StoreError> {
    Ok(Arc::new(hoist_store::SqliteStore::open(path)?))
}
