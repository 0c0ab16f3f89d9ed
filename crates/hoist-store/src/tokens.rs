//! API tokens of `hoist serve` in SQLite (schema step 4, table `api_tokens`): names,
//! owners, scopes and the sha256 of each token, never the token.

use hoist_core::store::StoreError;
use hoist_core::tokens::{TokenRecord, TokenStore};
use rusqlite::{OptionalExtension, params};

use crate::{SqliteStore, err};

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = row.get("scopes")?;
    Ok(TokenRecord {
        name: row.get("name")?,
        owner: row.get("owner")?,
        // A row this code cannot read grants nothing rather than failing every call.
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created_at: row.get("created_at")?,
        revoked_at: row.get("revoked_at")?,
    })
}

impl TokenStore for SqliteStore {
    fn create_token(&self, record: &TokenRecord, hash: &str) -> Result<bool, StoreError> {
        let scopes = serde_json::to_string(&record.scopes).map_err(err)?;
        let added = self
            .conn()
            .execute(
                "INSERT INTO api_tokens (name, owner, scopes, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO NOTHING",
                params![record.name, record.owner, scopes, hash, record.created_at],
            )
            .map_err(err)?;
        Ok(added == 1)
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT name, owner, scopes, created_at, revoked_at FROM api_tokens WHERE hash = ?1",
                params![hash],
                token_from_row,
            )
            .optional()
            .map_err(err)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT name, owner, scopes, created_at, revoked_at FROM api_tokens ORDER BY created_at, name",
            )
            .map_err(err)?;
        let rows = stmt.query_map([], token_from_row).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, jiff::Timestamp::now().to_string()],
            )
            .map_err(err)?;
        Ok(changed == 1)
    }
}
