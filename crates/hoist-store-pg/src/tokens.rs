//! API tokens of `hoist serve` (schema step 4, table `api_tokens`): names, owners, scopes
//! and the sha256 of each token, never the token.

use hoist_core::store::StoreError;
use hoist_core::tokens::{TokenRecord, TokenStore};
use postgres::Row;

use crate::{Fail, PgStore};

fn token_from_row(row: &Row) -> Result<TokenRecord, Fail> {
    let scopes: &str = row.try_get("scopes")?;
    Ok(TokenRecord {
        name: row.try_get("name")?,
        owner: row.try_get("owner")?,
        // A row this code cannot read grants nothing rather than failing every call.
        scopes: serde_json::from_str(scopes).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl TokenStore for PgStore {
    fn create_token(&self, record: &TokenRecord, hash: &str) -> Result<bool, StoreError> {
        self.call(|c| {
            let scopes = serde_json::to_string(&record.scopes)?;
            let added = c.execute(
                "INSERT INTO api_tokens (name, owner, scopes, hash, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO NOTHING",
                &[&record.name, &record.owner, &scopes, &hash, &record.created_at],
            )?;
            Ok(added == 1)
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.call(|c| {
            c.query_opt(
                "SELECT name, owner, scopes, created_at, revoked_at FROM api_tokens WHERE hash = $1",
                &[&hash],
            )?
            .map(|row| token_from_row(&row))
            .transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT name, owner, scopes, created_at, revoked_at FROM api_tokens ORDER BY created_at COLLATE \"C\", name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(token_from_row)
            .collect()
        })
    }

    fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.call(|c| {
            let changed = c.execute(
                "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &jiff::Timestamp::now().to_string()],
            )?;
            Ok(changed == 1)
        })
    }
}
