//! hoist's state in PostgreSQL, for a team whose hoist processes (CI runners, `hoist
//! serve`, people's terminals) share one database: the same history, audit log, job
//! queue, API tokens and environment locks as `hoist-store`'s SQLite file, behind the same
//! three traits ([`Store`], [`JobStore`], [`TokenStore`]).
//!
//! Chosen with `HOIST_DATABASE_URL=postgres://...` ([`DATABASE_URL_ENV`]); unset, hoist
//! keeps its SQLite file.
//!
//! # Schema
//!
//! The same numbered steps as SQLite ([`hoist_store::MIGRATIONS`], each step carrying its
//! PostgreSQL text beside the SQLite one) and so the same [`SCHEMA_VERSION`]. The version
//! is kept in a one-row table `hoist_schema`. Connecting applies the missing steps in one
//! transaction that first takes a transaction-scoped advisory lock, so two processes
//! starting at once migrate once (the second waits, then finds nothing to do). A database
//! of a newer hoist is refused.
//!
//! # Locks
//!
//! An environment's lock is a row in `locks`, as in SQLite: holder (host, pid, process
//! start time) and heartbeat. Taking it runs in a transaction serialised per environment
//! by `pg_advisory_xact_lock`, so two processes never both see it free. A holder that died
//! on this host, or whose heartbeat is older than the caller's `stale_after`, is
//! reclaimed and its running deployment marked interrupted, as SQLite does.
//!
//! # Calls from async code
//!
//! The traits are synchronous and are called from inside tokio runtimes, where the
//! `postgres` client (which drives its own runtime) must not block. Every call therefore
//! runs on a thread of its own (see `bridge`), outside any runtime.

mod bridge;
mod history;
mod jobs;
mod locks;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod tokens;
mod url;

use hoist_core::store::StoreError;

pub use hoist_core::jobs::JobStore;
pub use hoist_core::store::Store;
pub use hoist_core::tokens::TokenStore;
pub use hoist_store::SCHEMA_VERSION;
pub use url::redact;

/// The environment variable that selects PostgreSQL and says where it is.
pub const DATABASE_URL_ENV: &str = "HOIST_DATABASE_URL";

/// The PostgreSQL URL from [`DATABASE_URL_ENV`], if set and not empty.
pub fn url_from_env() -> Option<String> {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Why a PostgreSQL store could not be opened. Never carries the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{DATABASE_URL_ENV} `{url}` is not a PostgreSQL URL: write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    )]
    NotPostgres { url: String },
    #[error("{DATABASE_URL_ENV} `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to PostgreSQL at {location}: {reason}")]
    Connect { location: String, reason: String },
    #[error("PostgreSQL at {location}: {reason}")]
    Schema { location: String, reason: String },
}

impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> StoreError {
        StoreError {
            message: e.to_string(),
        }
    }
}

/// The PostgreSQL implementation of [`Store`], [`JobStore`] and [`TokenStore`].
pub struct PgStore {
    conn: bridge::Connection,
    /// `postgres://USER@HOST:PORT/DATABASE`: the URL without its password.
    location: String,
}

impl PgStore {
    /// Connects to the database `url` names and brings its schema up to date.
    pub fn connect(url: &str) -> Result<PgStore, OpenError> {
        let shown = redact(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(OpenError::NotPostgres { url: shown });
        }
        let bad_url = |reason: String| OpenError::BadUrl {
            url: shown.clone(),
            reason: url::scrub(&reason, url),
        };
        let (client_url, choice) = tls::split(url).map_err(bad_url)?;
        let config: postgres::Config = client_url
            .parse()
            .map_err(|e: postgres::Error| bad_url(e.to_string()))?;
        let tls = tls::connector(&choice).map_err(bad_url)?;
        let location = url::location(&config);
        let conn = bridge::Connection::open(config, tls).map_err(|e| {
            let reason = url::scrub(&hoist_core::error_chain::with_causes(&e), url);
            OpenError::Connect {
                location: location.clone(),
                reason: match tls::hint(&reason) {
                    Some(hint) => format!("{reason}; {hint}"),
                    None => reason,
                },
            }
        })?;
        conn.run(schema::migrate)
            .map_err(|e: schema::SchemaError| OpenError::Schema {
                location: location.clone(),
                reason: e.to_string(),
            })?;
        tracing::debug!(%location, "PostgreSQL store open");
        Ok(PgStore { conn, location })
    }
}

impl PgStore {
    /// Runs `f` with the connection (see `bridge`), its failure as a [`StoreError`].
    pub(crate) fn call<R: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<R, Fail> + Send,
    ) -> Result<R, StoreError> {
        self.conn
            .run(f)
            .map_err(|Fail(message)| StoreError { message })
    }
}

/// A failure inside a call: a database or JSON error, as its message, so that `?` works
/// on both inside the closures.
pub(crate) struct Fail(pub(crate) String);

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        // A database error's own text (`ERROR: the audit log is append-only`), not just
        // its kind.
        Fail(match e.as_db_error() {
            Some(db) => db.to_string(),
            None => e.to_string(),
        })
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Fail {
        Fail(e.to_string())
    }
}
