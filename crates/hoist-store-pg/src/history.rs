//! Releases, deployments with their instances and steps, task runs and the audit log: the
//! [`Store`] trait, whose lock methods live in `locks`.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use hoist_core::Release;
use hoist_core::prune::DeploymentSummary;
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, InstanceStep,
    LockAttempt, LockHolder, Store, StoreError,
};
use hoist_core::task::{TaskOutcome, TaskRunRecord};
use postgres::Row;

use crate::{Fail, PgStore, locks};

const RELEASE_COLUMNS: &str = "app, version, commit_sha, image, image_id, digest, fingerprint, base_image, created_by, created_at";

fn release_from_row(row: &Row) -> Result<Release, Fail> {
    Ok(Release {
        app: row.try_get("app")?,
        version: row.try_get("version")?,
        commit: row.try_get("commit_sha")?,
        image: row.try_get("image")?,
        image_id: row.try_get("image_id")?,
        digest: row.try_get("digest")?,
        fingerprint: row.try_get("fingerprint")?,
        base_image: row.try_get("base_image")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `deployments.subset`: the tenants as a JSON array, NULL for every instance.
fn subset_to_column(subset: &[String]) -> Result<Option<String>, Fail> {
    if subset.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(subset)?))
}

/// A column this code wrote, or NULL; anything else reads as every instance.
fn subset_from_column(column: Option<String>) -> Vec<String> {
    column
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Store for PgStore {
    fn save_release(&self, r: &Release) -> Result<(), StoreError> {
        // As in SQLite: a version names its latest build; a digest belongs to its image.
        self.call(|c| {
            c.execute(
                "INSERT INTO releases (app, version, commit_sha, image, image_id, digest, fingerprint, base_image, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (app, version) DO UPDATE SET commit_sha = excluded.commit_sha, image = excluded.image,
                   digest = CASE WHEN excluded.image_id = releases.image_id THEN coalesce(excluded.digest, releases.digest)
                                 ELSE excluded.digest END,
                   image_id = excluded.image_id, fingerprint = excluded.fingerprint, base_image = excluded.base_image,
                   created_by = excluded.created_by, created_at = excluded.created_at",
                &[&r.app, &r.version, &r.commit, &r.image, &r.image_id, &r.digest, &r.fingerprint, &r.base_image, &r.created_by, &r.created_at],
            )?;
            Ok(())
        })
    }

    fn find_release(&self, app: &str, version: &str) -> Result<Option<Release>, StoreError> {
        self.call(|c| {
            c.query_opt(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE app = $1 AND version = $2"),
                &[&app, &version],
            )?
            .map(|row| release_from_row(&row))
            .transpose()
        })
    }

    fn releases(&self, app: &str) -> Result<Vec<Release>, StoreError> {
        self.call(|c| {
            c.query(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE app = $1 ORDER BY id DESC"),
                &[&app],
            )?
            .iter()
            .map(release_from_row)
            .collect()
        })
    }

    fn set_commit_time(
        &self,
        app: &str,
        version: &str,
        at: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(|c| {
            c.execute(
                "UPDATE releases SET commit_time = $3 WHERE app = $1 AND version = $2",
                &[&app, &version, &at],
            )?;
            Ok(())
        })
    }

    fn commit_times(
        &self,
        app: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT version, commit_time FROM releases WHERE app = $1 AND commit_time IS NOT NULL",
                &[&app],
            )?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
        })
    }

    fn begin_deployment(&self, d: &DeploymentRecord) -> Result<i64, StoreError> {
        self.call(|c| {
            let subset = subset_to_column(&d.subset)?;
            // The digest of the image rolled out, if the release row is that image and knows it.
            let row = c.query_one(
                "INSERT INTO deployments (app, environment, kind, version, image_id, digest, actor, started_at, outcome, message, subset)
                 VALUES ($1, $2, $3, $4, $5,
                         (SELECT digest FROM releases WHERE app = $1 AND version = $4 AND image_id = $5),
                         $6, $7, 'running', '', $8)
                 RETURNING id",
                &[&d.app, &d.environment, &d.kind.as_str(), &d.version, &d.image_id, &d.actor, &d.started_at, &subset],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn record_instance(&self, deployment: i64, o: &InstanceOutcome) -> Result<(), StoreError> {
        self.call(|c| {
            c.execute(
                "INSERT INTO deployment_instances (deployment_id, tenant, container, outcome, message, started_at, duration_ms, spec)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (deployment_id, tenant) DO UPDATE SET container = excluded.container,
                   outcome = excluded.outcome, message = excluded.message, started_at = excluded.started_at,
                   duration_ms = excluded.duration_ms, spec = excluded.spec",
                &[&deployment, &o.tenant, &o.container, &o.outcome, &o.message, &o.started_at, &millis(o.duration_ms), &o.spec],
            )?;
            Ok(())
        })
    }

    fn finish_deployment(
        &self,
        deployment: i64,
        outcome: DeploymentOutcome,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now();
        self.call(|c| {
            let started: String = c
                .query_one(
                    "SELECT started_at FROM deployments WHERE id = $1",
                    &[&deployment],
                )?
                .try_get(0)?;
            let duration_ms = started
                .parse::<jiff::Timestamp>()
                .map(|s| now.duration_since(s).as_millis() as i64)
                .unwrap_or(0);
            c.execute(
                "UPDATE deployments SET outcome = $2, message = $3, finished_at = $4, duration_ms = $5 WHERE id = $1",
                &[&deployment, &outcome.as_str(), &message, &now.to_string(), &duration_ms],
            )?;
            Ok(())
        })
    }

    fn record_steps(&self, deployment: i64, steps: &[InstanceStep]) -> Result<(), StoreError> {
        // One transaction per instance: its steps land together, with one commit.
        self.call(|c| {
            let mut tx = c.transaction()?;
            let insert = tx.prepare(
                "INSERT INTO instance_steps (deployment_id, tenant, at, state, message)
                 VALUES ($1, $2, $3, $4, $5)",
            )?;
            for s in steps {
                tx.execute(
                    &insert,
                    &[&deployment, &s.tenant, &s.at, &s.state, &s.message],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn instance_steps(&self, deployment: i64) -> Result<Vec<InstanceStep>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT tenant, at, state, message FROM instance_steps
                 WHERE deployment_id = $1 ORDER BY id",
                &[&deployment],
            )?
            .iter()
            .map(|row| {
                Ok(InstanceStep {
                    tenant: row.try_get(0)?,
                    at: row.try_get(1)?,
                    state: row.try_get(2)?,
                    message: row.try_get(3)?,
                })
            })
            .collect()
        })
    }

    fn deployments(
        &self,
        app: &str,
        environment: &str,
        n: usize,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.deployments_where(
            "app = $1 AND environment = $2 ORDER BY id DESC LIMIT $3",
            &[&app, &environment, &limit(n)],
        )
    }

    fn deployment(&self, app: &str, id: i64) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self
            .deployments_where("app = $1 AND id = $2", &[&app, &id])?
            .pop())
    }

    fn deployed_releases(&self, app: &str, environment: &str) -> Result<Vec<Release>, StoreError> {
        let all: Vec<Release> = self.call(|c| {
            c.query(
                "SELECT r.app, r.version, r.commit_sha, r.image, d.image_id AS image_id,
                   coalesce(d.digest, CASE WHEN r.image_id = d.image_id THEN r.digest END) AS digest,
                   r.fingerprint, r.base_image, r.created_by, r.created_at
                 FROM deployments d JOIN releases r ON r.app = d.app AND r.version = d.version
                 WHERE d.app = $1 AND d.environment = $2 AND d.outcome = 'succeeded' ORDER BY d.id DESC",
                &[&app, &environment],
            )?
            .iter()
            .map(release_from_row)
            .collect()
        })?;
        let mut seen = HashSet::new();
        Ok(all
            .into_iter()
            .filter(|r| seen.insert(r.version.clone()))
            .collect())
    }

    fn deployment_summaries(&self, app: &str) -> Result<Vec<DeploymentSummary>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT d.id, d.environment, d.version, d.image_id,
                   coalesce(d.digest, CASE WHEN r.image_id = d.image_id THEN r.digest END),
                   d.outcome
                 FROM deployments d LEFT JOIN releases r ON r.app = d.app AND r.version = d.version
                 WHERE d.app = $1 ORDER BY d.id DESC",
                &[&app],
            )?
            .iter()
            .map(|row| {
                Ok(DeploymentSummary {
                    id: row.try_get(0)?,
                    environment: row.try_get(1)?,
                    version: row.try_get(2)?,
                    image_id: row.try_get(3)?,
                    digest: row.try_get(4)?,
                    outcome: DeploymentOutcome::from_stored(row.try_get(5)?),
                })
            })
            .collect()
        })
    }

    fn verified_in(&self, app: &str, version: &str) -> Result<BTreeSet<String>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT DISTINCT environment FROM deployments
                 WHERE app = $1 AND version = $2 AND outcome = 'succeeded' AND subset IS NULL",
                &[&app, &version],
            )?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
        })
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.call(|c| {
            c.execute(
                "INSERT INTO audit_log (at, actor, app, environment, action, version, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&e.at, &e.actor, &e.app, &e.environment, &e.action, &e.version, &e.detail],
            )?;
            Ok(())
        })
    }

    fn audit_log(
        &self,
        app: &str,
        environment: Option<&str>,
        n: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT at, actor, app, environment, action, version, detail FROM audit_log
                 WHERE app = $1 AND ($2::text IS NULL OR environment = $2) ORDER BY id DESC LIMIT $3",
                &[&app, &environment, &limit(n)],
            )?
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: row.try_get(0)?,
                    actor: row.try_get(1)?,
                    app: row.try_get(2)?,
                    environment: row.try_get(3)?,
                    action: row.try_get(4)?,
                    version: row.try_get(5)?,
                    detail: row.try_get(6)?,
                })
            })
            .collect()
        })
    }

    fn try_lock(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<LockAttempt, StoreError> {
        self.call(|c| locks::try_lock(c, app, environment, holder, stale_after))
    }

    fn heartbeat(
        &self,
        app: &str,
        environment: &str,
        holder: &LockHolder,
    ) -> Result<(), StoreError> {
        self.call(|c| locks::heartbeat(c, app, environment, holder))
    }

    fn unlock(&self, app: &str, environment: &str, holder: &LockHolder) -> Result<(), StoreError> {
        self.call(|c| locks::unlock(c, app, environment, holder))
    }

    fn lock_holder(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError> {
        self.call(|c| locks::holder(c, app, environment))
    }

    fn force_unlock(&self, app: &str, environment: &str) -> Result<Option<LockHolder>, StoreError> {
        self.call(|c| locks::force_unlock(c, app, environment))
    }

    fn record_task_run(&self, r: &TaskRunRecord) -> Result<(), StoreError> {
        self.call(|c| {
            let output = serde_json::to_string(&r.output)?;
            c.execute(
                "INSERT INTO task_runs (deployment_id, app, environment, version, tenant, task, outcome, exit_code, started_at, duration_ms, output)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[&r.deployment, &r.app, &r.environment, &r.version, &r.tenant, &r.task, &r.outcome.as_str(),
                  &r.exit_code, &r.started_at, &millis(r.duration_ms), &output],
            )?;
            Ok(())
        })
    }

    fn task_succeeded(
        &self,
        app: &str,
        environment: &str,
        version: &str,
        tenant: &str,
        task: &str,
    ) -> Result<bool, StoreError> {
        self.call(|c| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM task_runs WHERE app = $1 AND environment = $2 AND version = $3
                 AND tenant = $4 AND task = $5 AND outcome = $6)",
                &[&app, &environment, &version, &tenant, &task, &TaskOutcome::Succeeded.as_str()],
            )?
            .try_get(0)?)
        })
    }

    fn task_runs(&self, deployment: i64) -> Result<Vec<TaskRunRecord>, StoreError> {
        self.call(|c| {
            c.query(
                "SELECT deployment_id, app, environment, version, tenant, task, outcome, exit_code, started_at, duration_ms, output
                 FROM task_runs WHERE deployment_id = $1 ORDER BY id",
                &[&deployment],
            )?
            .iter()
            .map(|row| {
                let outcome: &str = row.try_get(6)?;
                let output: &str = row.try_get(10)?;
                Ok(TaskRunRecord {
                    deployment: row.try_get(0)?,
                    app: row.try_get(1)?,
                    environment: row.try_get(2)?,
                    version: row.try_get(3)?,
                    tenant: row.try_get(4)?,
                    task: row.try_get(5)?,
                    // Only this code writes the column; an unknown word reads as a failure.
                    outcome: TaskOutcome::parse(outcome).unwrap_or(TaskOutcome::Failed),
                    exit_code: row.try_get(7)?,
                    started_at: row.try_get(8)?,
                    duration_ms: u64::try_from(row.try_get::<_, i64>(9)?).unwrap_or(0),
                    output: serde_json::from_str(output).unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    fn location(&self) -> Option<String> {
        Some(self.location.clone())
    }
}

impl PgStore {
    /// The deployments `clause` (after `WHERE`; a constant of this file, never input)
    /// selects, in its order, each with its instances.
    fn deployments_where(
        &self,
        clause: &str,
        values: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.call(|c| {
            let rows = c.query(
                &format!(
                    "SELECT id, app, environment, kind, version, image_id, actor, started_at, finished_at, duration_ms, outcome, message, subset
                     FROM deployments WHERE {clause}"
                ),
                values,
            )?;
            let instances = c.prepare(
                "SELECT tenant, container, outcome, message, started_at, duration_ms, spec
                 FROM deployment_instances WHERE deployment_id = $1 ORDER BY tenant COLLATE \"C\"",
            )?;
            let mut records = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.try_get(0)?;
                let instances = c
                    .query(&instances, &[&id])?
                    .iter()
                    .map(|i| {
                        Ok(InstanceOutcome {
                            tenant: i.try_get(0)?,
                            container: i.try_get(1)?,
                            outcome: i.try_get(2)?,
                            message: i.try_get(3)?,
                            started_at: i.try_get(4)?,
                            duration_ms: i.try_get::<_, i64>(5)?.max(0) as u64,
                            spec: i.try_get(6)?,
                        })
                    })
                    .collect::<Result<_, Fail>>()?;
                records.push(DeploymentRecord {
                    id,
                    app: row.try_get(1)?,
                    environment: row.try_get(2)?,
                    kind: DeploymentKind::from_stored(row.try_get(3)?),
                    version: row.try_get(4)?,
                    image_id: row.try_get(5)?,
                    actor: row.try_get(6)?,
                    started_at: row.try_get(7)?,
                    finished_at: row.try_get(8)?,
                    duration_ms: row.try_get::<_, Option<i64>>(9)?.map(|d| d.max(0) as u64),
                    outcome: DeploymentOutcome::from_stored(row.try_get(10)?),
                    message: row.try_get(11)?,
                    instances,
                    subset: subset_from_column(row.try_get(12)?),
                });
            }
            Ok(records)
        })
    }
}
