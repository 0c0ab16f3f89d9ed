//! The store's behaviour suite (`suite/`), run against SQLite and against PostgreSQL: a
//! fresh SQLite file, or a fresh database on this binary's throwaway cluster, per test.

mod suite;

use std::path::PathBuf;

use hoist_store::SqliteStore;
use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;
use suite::{AnyStore, Backend};

/// This binary's cluster (ports 20750-20799 are this suite's).
const PORT: u16 = 20750;

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Sqlite { _dir: dir, path }
    }
}

impl Backend for Sqlite {
    fn open(&self) -> Box<dyn AnyStore> {
        Box::new(SqliteStore::open(&self.path).unwrap())
    }

    fn execute_raw(&self, sql: &str) -> Result<(), String> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch(sql).map_err(|e| e.to_string())
    }
}

struct Postgres {
    url: String,
}

impl Postgres {
    fn new(test: &str) -> Postgres {
        Postgres {
            url: Cluster::shared(PORT).database(&format!("pg_{test}")),
        }
    }
}

impl Backend for Postgres {
    fn open(&self) -> Box<dyn AnyStore> {
        Box::new(PgStore::connect(&self.url).unwrap_or_else(|e| panic!("{e}")))
    }

    fn execute_raw(&self, sql: &str) -> Result<(), String> {
        let mut client = ::postgres::Client::connect(&self.url, ::postgres::NoTls).unwrap();
        client
            .batch_execute(sql)
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.to_string(),
                None => e.to_string(),
            })
    }
}

/// One test per behaviour and database: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $behaviour() { crate::suite::$behaviour(&crate::Sqlite::new()) })*
        }
        mod postgres {
            $(#[test] fn $behaviour() {
                crate::suite::$behaviour(&crate::Postgres::new(stringify!($behaviour)))
            })*
        }
    };
}

on_both!(
    history_survives_reopening_and_lists_newest_first,
    one_deployment_is_found_by_id_for_its_app_only,
    instances_are_listed_by_tenant_and_rerecorded_in_place,
    instance_steps_come_back_per_deployment_in_the_order_recorded,
    a_deployment_to_some_tenants_keeps_them_and_does_not_verify_the_version,
    deployed_releases_skip_failures_and_repeat_versions,
    audit_log_is_append_only,
    a_live_holder_keeps_the_lock,
    a_heartbeat_records_the_deployment_the_lock_covers,
    a_dead_holders_lock_is_reclaimed_and_its_deployment_marked_interrupted,
    a_holder_on_another_host_expires_by_heartbeat_only,
    force_unlock_returns_the_holder_and_interrupts_its_deployment,
    a_release_saved_with_a_digest_comes_back_with_it,
    a_digest_belongs_to_its_image,
    a_rebuild_by_an_older_hoist_drops_the_stale_digest,
    deployment_summaries_list_every_environment_newest_first_for_one_app,
    only_a_successful_task_run_counts_as_done,
    jobs_are_claimed_oldest_first_one_per_busy_environment,
    a_dedupe_key_queues_once,
    a_second_delivery_of_a_release_queued_or_running_is_coalesced_into_it,
    deploy_jobs_are_never_coalesced,
    lead_time_counts_from_the_commit_time_recorded_with_the_release,
    only_a_queued_job_can_be_cancelled,
    jobs_survive_reopening_and_running_ones_become_interrupted,
    two_handles_claiming_at_once_never_take_the_same_job,
    tokens_are_found_by_hash_listed_and_revoked,
    the_store_names_where_it_keeps_its_state,
);
