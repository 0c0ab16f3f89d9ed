//! hoist's state in SQLite: releases, deployments with per-instance outcomes, an
//! append-only audit log (enforced by triggers), and one lock row per environment.
//!
//! One file, by default `.hoist/state.db` beside `hoist.toml`. WAL mode and a busy timeout
//! let several hoist processes share it (one deploying, others reading status or waiting
//! for the lock). Lock acquisition runs in an `IMMEDIATE` transaction, so two processes
//! cannot both see the lock free.
//!
//! # Schema and its versions
//!
//! The schema is versioned by `PRAGMA user_version` and migrated when the database is
//! opened ([`SqliteStore::open`]), one numbered step per change, all the steps a database
//! lacks in one transaction. A database written by a newer hoist (a version above
//! [`SCHEMA_VERSION`]) is refused with an error saying so, never opened. Each step
//! carries its PostgreSQL text beside the SQLite one ([`MIGRATIONS`]): `hoist-store-pg`
//! applies the same steps, so both databases share one version number.
//!
//! | version | step |
//! |---------|------|
//! | 1 | `releases`, `deployments`, `deployment_instances`, `audit_log` (append-only by triggers), `locks` |
//! | 2 | `releases.digest` and `deployments.digest`: the image's registry manifest digest |
//! | 3 | `deployment_instances.spec`: the spec digest each instance took (setting → value or short sha256; never a secret) |
//! | 4 | `jobs` (the queue of `hoist serve`) and `api_tokens` (names, owners, scopes and sha256 hashes of API tokens) |
//! | 5 | `task_runs`: each release task run per tenant (outcome, exit code, masked output tail), so a retried deploy skips a done task |
//! | 6 | `deployments.subset`: the tenants a deploy to part of an environment took (`--tenant`, `--tag`); NULL for every instance |
//! | 7 | `releases.commit_time`: the committer time of the release's commit, for DORA's lead time; NULL where unknown |
//! | 8 | `instance_steps`: each state an instance reached in a deployment (time, state, masked message), for the dashboard |
//!
//! An image has two content addresses (see [`Release`]): the local engine's image id,
//! always known, and the registry's manifest digest, known once the image is pushed. Both
//! tables keep the image id as before and the digest in a nullable column; `NULL` means
//! "not pushed, or recorded before version 2", and reads as `digest: None`. A release row
//! holds its latest build's digest; a deployment row holds the digest of the image it
//! rolled out (its own `image_id`), copied from the release row when the deployment
//! begins, so that a later rebuild of the same version does not change what history says
//! ran. [`Store::deployed_releases`], which rollback chooses from, returns each release
//! with the image id and digest its deployment rolled out; a deployment that recorded no
//! digest borrows the release row's if that row is still the same image (pushed later).
//! Deployments made before version 2 thus come back with `digest: None`, identified by
//! image id as they always were.
//!
//! hoist releases before version 2 did not check the version, so an older hoist opens a
//! migrated database and works with it, ignoring digests. What it writes has none, and a
//! trigger clears a release's digest when an older hoist replaces its image, so a digest
//! never names an image other than the row's.

mod jobs;
mod schema;
mod steps;
mod tasks;
mod tokens;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use hoist_core::Release;
use hoist_core::prune::DeploymentSummary;
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, InstanceStep,
    LockAttempt, LockHolder, Store, StoreError,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The schema version this code reads and writes. See the crate docs.
pub const SCHEMA_VERSION: i64 = schema::VERSION;

/// The numbered schema steps, each in SQLite's and PostgreSQL's dialect; the PostgreSQL
/// store (`hoist-store-pg`) applies the same list.
pub use schema::{MIGRATIONS, Migration};

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The database file (absolute where it can be), as lock holders name it.
    location: Option<String>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError {
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
        let mut store =
            Self::init(conn).map_err(|e| err(format!("{}: {}", path.display(), e.message)))?;
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        store.location = Some(absolute.display().to_string());
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(err)?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        // Before anything writes to it (switching to WAL does).
        schema::check(&conn).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        schema::migrate(&mut conn).map_err(err)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            location: None,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves a usable connection: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn release_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Release> {
    Ok(Release {
        app: row.get("app")?,
        version: row.get("version")?,
        commit: row.get("commit_sha")?,
        image: row.get("image")?,
        image_id: row.get("image_id")?,
        digest: row.get("digest")?,
        fingerprint: row.get("fingerprint")?,
        base_image: row.get("base_image")?,
        created_by: row.get("created_by")?,
        created_at: row.get("created_at")?,
    })
}

impl Store for SqliteStore {
    fn save_release(&self, r: &Release) -> Result<(), StoreError> {
        // A version names its latest build (a dirty tree's version can be rebuilt);
        // deployments keep the exact image id (and digest) they rolled out. A digest
        // belongs to an image: saving the same image without one keeps the digest known,
        // saving another image drops it.
        self.conn()
            .execute(
                "INSERT INTO releases (app, version, commit_sha, image, image_id, digest, fingerprint, base_image, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (app, version) DO UPDATE SET commit_sha = excluded.commit_sha, image = excluded.image,
                   digest = CASE WHEN excluded.image_id = releases.image_id THEN coalesce(excluded.digest, releases.digest)
                                 ELSE excluded.digest END,
                   image_id = excluded.image_id, fingerprint = excluded.fingerprint, base_image = excluded.base_image,
                   created_by = excluded.created_by, created_at = excluded.created_at",
                params![r.app, r.version, r.commit, r.image, r.image_id, r.digest, r.fingerprint, r.base_image, r.created_by, r.created_at],
            )
            .map_err(err)?;
        Ok(())
    }

    fn find_release(&self, app: &str, version: &str) -> Result<Option<Release>, StoreError> {
        self.conn()
            .query_row(
                "SELECT * FROM releases WHERE app = ?1 AND version = ?2",
                params![app, version],
                release_from_row,
            )
            .optional()
            .map_err(err)
    }

    fn releases(&self, app: &str) -> Result<Vec<Release>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT * FROM releases WHERE app = ?1 ORDER BY id DESC")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app], release_from_row)
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn set_commit_time(
        &self,
        app: &str,
        version: &str,
        at: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE releases SET commit_time = ?3 WHERE app = ?1 AND version = ?2",
                params![app, version, at],
            )
            .map_err(err)?;
        Ok(())
    }

    fn commit_times(
        &self,
        app: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT version, commit_time FROM releases WHERE app = ?1 AND commit_time IS NOT NULL",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn begin_deployment(&self, d: &DeploymentRecord) -> Result<i64, StoreError> {
        let conn = self.conn();
        // The digest of the image rolled out, if the release row is that image and knows it.
        conn.execute(
            "INSERT INTO deployments (app, environment, kind, version, image_id, digest, actor, started_at, outcome, message, subset)
             VALUES (?1, ?2, ?3, ?4, ?5,
                     (SELECT digest FROM releases WHERE app = ?1 AND version = ?4 AND image_id = ?5),
                     ?6, ?7, 'running', '', ?8)",
            params![d.app, d.environment, d.kind.as_str(), d.version, d.image_id, d.actor, d.started_at, subset_to_column(&d.subset)],
        )
        .map_err(err)?;
        Ok(conn.last_insert_rowid())
    }

    fn record_instance(&self, deployment: i64, o: &InstanceOutcome) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO deployment_instances (deployment_id, tenant, container, outcome, message, started_at, duration_ms, spec)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![deployment, o.tenant, o.container, o.outcome, o.message, o.started_at, o.duration_ms as i64, o.spec],
            )
            .map_err(err)?;
        Ok(())
    }

    fn finish_deployment(
        &self,
        deployment: i64,
        outcome: DeploymentOutcome,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now();
        let conn = self.conn();
        let started: String = conn
            .query_row(
                "SELECT started_at FROM deployments WHERE id = ?1",
                params![deployment],
                |r| r.get(0),
            )
            .map_err(err)?;
        let duration_ms = started
            .parse::<jiff::Timestamp>()
            .map(|s| now.duration_since(s).as_millis() as i64)
            .unwrap_or(0);
        conn.execute(
            "UPDATE deployments SET outcome = ?2, message = ?3, finished_at = ?4, duration_ms = ?5 WHERE id = ?1",
            params![deployment, outcome.as_str(), message, now.to_string(), duration_ms],
        )
        .map_err(err)?;
        Ok(())
    }

    fn record_steps(&self, deployment: i64, steps: &[InstanceStep]) -> Result<(), StoreError> {
        steps::record(&mut self.conn(), deployment, steps)
    }

    fn instance_steps(&self, deployment: i64) -> Result<Vec<InstanceStep>, StoreError> {
        steps::of_deployment(&self.conn(), deployment)
    }

    fn deployments(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.deployments_where(
            "app = ?1 AND environment = ?2 ORDER BY id DESC LIMIT ?3",
            params![app, environment, limit as i64],
        )
    }

    fn deployment(&self, app: &str, id: i64) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self
            .deployments_where("app = ?1 AND id = ?2", params![app, id])?
            .pop())
    }

    fn deployed_releases(&self, app: &str, environment: &str) -> Result<Vec<Release>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT r.app, r.version, r.commit_sha, r.image, d.image_id AS image_id,
                   coalesce(d.digest, CASE WHEN r.image_id = d.image_id THEN r.digest END) AS digest,
                   r.fingerprint, r.base_image, r.created_by, r.created_at
                 FROM deployments d JOIN releases r ON r.app = d.app AND r.version = d.version
                 WHERE d.app = ?1 AND d.environment = ?2 AND d.outcome = 'succeeded' ORDER BY d.id DESC",
            )
            .map_err(err)?;
        let all: Vec<Release> = stmt
            .query_map(params![app, environment], release_from_row)
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut seen = std::collections::HashSet::new();
        Ok(all
            .into_iter()
            .filter(|r| seen.insert(r.version.clone()))
            .collect())
    }

    fn deployment_summaries(&self, app: &str) -> Result<Vec<DeploymentSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT d.id, d.environment, d.version, d.image_id,
                   coalesce(d.digest, CASE WHEN r.image_id = d.image_id THEN r.digest END),
                   d.outcome
                 FROM deployments d LEFT JOIN releases r ON r.app = d.app AND r.version = d.version
                 WHERE d.app = ?1 ORDER BY d.id DESC",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app], |row| {
                Ok(DeploymentSummary {
                    id: row.get(0)?,
                    environment: row.get(1)?,
                    version: row.get(2)?,
                    image_id: row.get(3)?,
                    digest: row.get(4)?,
                    outcome: DeploymentOutcome::from_stored(&row.get::<_, String>(5)?),
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn verified_in(
        &self,
        app: &str,
        version: &str,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT DISTINCT environment FROM deployments WHERE app = ?1 AND version = ?2 AND outcome = 'succeeded' AND subset IS NULL")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app, version], |r| r.get::<_, String>(0))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO audit_log (at, actor, app, environment, action, version, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![e.at, e.actor, e.app, e.environment, e.action, e.version, e.detail],
            )
            .map_err(err)?;
        Ok(())
    }

    fn audit_log(
        &self,
        app: &str,
        environment: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT at, actor, app, environment, action, version, detail FROM audit_log
                 WHERE app = ?1 AND (?2 IS NULL OR environment = ?2) ORDER BY id DESC LIMIT ?3",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![app, environment, limit as i64], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    actor: row.get(1)?,
                    app: row.get(2)?,
                    environment: row.get(3)?,
                    action: row.get(4)?,
                    version: row.get(5)?,
                    detail: row.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn try_lock(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<LockAttempt, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, heartbeat_at FROM locks WHERE app = ?1 AND environment = ?2",
                params![app, environment],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let holder_json = serde_json::to_string(holder).map_err(err)?;
        let mut reclaimed_from = None;
        if let Some((json, heartbeat_at)) = existing {
            let current: LockHolder = serde_json::from_str(&json).map_err(err)?;
            let stale = now_secs() - heartbeat_at > stale_after.as_secs() as i64;
            if !(current.is_dead_on_this_host() || stale) {
                return Ok(LockAttempt::HeldBy(current));
            }
            if let Some(id) = current.deployment {
                tx.execute(
                    "UPDATE deployments SET outcome = 'interrupted', message = 'the process running it stopped before it finished' WHERE id = ?1 AND outcome = 'running'",
                    params![id],
                )
                .map_err(err)?;
            }
            tx.execute(
                "DELETE FROM locks WHERE app = ?1 AND environment = ?2",
                params![app, environment],
            )
            .map_err(err)?;
            reclaimed_from = Some(current);
        }
        tx.execute(
            "INSERT INTO locks (app, environment, holder, heartbeat_at) VALUES (?1, ?2, ?3, ?4)",
            params![app, environment, holder_json, now_secs()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(LockAttempt::Acquired { reclaimed_from })
    }

    fn heartbeat(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(holder).map_err(err)?;
        self.conn()
            .execute(
                "UPDATE locks SET heartbeat_at = ?3, holder = ?4 WHERE app = ?1 AND environment = ?2 AND json_extract(holder, '$.pid') = ?5 AND json_extract(holder, '$.hostname') = ?6",
                params![app, environment, now_secs(), json, holder.pid, holder.hostname],
            )
            .map_err(err)?;
        Ok(())
    }

    fn unlock(&self, app: &str, environment: &str, holder: &LockHolder) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM locks WHERE app = ?1 AND environment = ?2 AND json_extract(holder, '$.pid') = ?3 AND json_extract(holder, '$.hostname') = ?4",
                params![app, environment, holder.pid, holder.hostname],
            )
            .map_err(err)?;
        Ok(())
    }

    fn lock_holder(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError> {
        read_holder(&self.conn(), app, environment)
    }

    fn record_task_run(&self, run: &hoist_core::task::TaskRunRecord) -> Result<(), StoreError> {
        tasks::record(&self.conn(), run)
    }

    fn task_succeeded(
        &self,
        app: &str,
        environment: &str,
        version: &str,
        tenant: &str,
        task: &str,
    ) -> Result<bool, StoreError> {
        tasks::succeeded(&self.conn(), app, environment, version, tenant, task)
    }

    fn task_runs(
        &self,
        deployment: i64,
    ) -> Result<Vec<hoist_core::task::TaskRunRecord>, StoreError> {
        tasks::of_deployment(&self.conn(), deployment)
    }

    fn location(&self) -> Option<String> {
        self.location.clone()
    }

    fn force_unlock(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let holder = read_holder(&tx, app, environment)?;
        if let Some(id) = holder.as_ref().and_then(|h| h.deployment) {
            tx.execute(
                "UPDATE deployments SET outcome = 'interrupted', message = 'its lock was removed by hoist unlock' WHERE id = ?1 AND outcome = 'running'",
                params![id],
            )
            .map_err(err)?;
        }
        tx.execute(
            "DELETE FROM locks WHERE app = ?1 AND environment = ?2",
            params![app, environment],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(holder)
    }
}

impl SqliteStore {
    /// The deployments `clause` (after `WHERE`; a constant of this file, never input)
    /// selects, in its order, each with its instances.
    fn deployments_where(
        &self,
        clause: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, app, environment, kind, version, image_id, actor, started_at, finished_at, duration_ms, outcome, message, subset
                 FROM deployments WHERE {clause}"
            ))
            .map_err(err)?;
        let mut records = stmt
            .query_map(values, |row| {
                Ok(DeploymentRecord {
                    id: row.get(0)?,
                    app: row.get(1)?,
                    environment: row.get(2)?,
                    kind: DeploymentKind::from_stored(&row.get::<_, String>(3)?),
                    version: row.get(4)?,
                    image_id: row.get(5)?,
                    actor: row.get(6)?,
                    started_at: row.get(7)?,
                    finished_at: row.get(8)?,
                    duration_ms: row.get::<_, Option<i64>>(9)?.map(|d| d.max(0) as u64),
                    outcome: DeploymentOutcome::from_stored(&row.get::<_, String>(10)?),
                    message: row.get(11)?,
                    instances: Vec::new(),
                    subset: subset_from_column(row.get(12)?),
                })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let mut inst = conn
            .prepare("SELECT tenant, container, outcome, message, started_at, duration_ms, spec FROM deployment_instances WHERE deployment_id = ?1 ORDER BY tenant")
            .map_err(err)?;
        for record in &mut records {
            record.instances = inst
                .query_map(params![record.id], |row| {
                    Ok(InstanceOutcome {
                        tenant: row.get(0)?,
                        container: row.get(1)?,
                        outcome: row.get(2)?,
                        message: row.get(3)?,
                        started_at: row.get(4)?,
                        duration_ms: row.get::<_, i64>(5)?.max(0) as u64,
                        spec: row.get(6)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?;
        }
        Ok(records)
    }
}

/// Who holds `environment`'s lock, read within `conn` (a connection or a transaction).
fn read_holder(
    conn: &rusqlite::Connection,
    app: &str,
    environment: &str,
) -> Result<Option<LockHolder>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT holder FROM locks WHERE app = ?1 AND environment = ?2",
            params![app, environment],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    json.map(|j| serde_json::from_str::<LockHolder>(&j))
        .transpose()
        .map_err(err)
}

/// `deployments.subset`: the tenants as a JSON array, NULL for every instance.
fn subset_to_column(subset: &[String]) -> Option<String> {
    (!subset.is_empty()).then(|| serde_json::to_string(subset).unwrap_or_default())
}

/// A column this code wrote, or NULL; anything else reads as every instance.
fn subset_from_column(column: Option<String>) -> Vec<String> {
    column
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}
