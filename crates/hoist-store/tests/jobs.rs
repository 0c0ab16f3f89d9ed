//! The job queue and API tokens of `hoist serve`, on a real SQLite file.

use hoist_core::jobs::{Cancel, Enqueued, JobRequest, JobState, JobStore, NewJob};
use hoist_core::tokens::{TokenRecord, TokenStore};
use hoist_store::{SCHEMA_VERSION, SqliteStore};

fn deploy(env: &str) -> NewJob {
    NewJob {
        app: "clinic".into(),
        request: JobRequest::Deploy {
            environment: env.into(),
            version: None,
        },
        actor: "ada".into(),
        source: "token:ci".into(),
        dedupe_key: None,
    }
}

fn id(e: Enqueued) -> i64 {
    match e {
        Enqueued::New(id) => id,
        other => panic!("not a new job: {other:?}"),
    }
}

#[test]
fn the_schema_has_the_jobs_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    for table in ["jobs", "api_tokens"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
}

#[test]
fn jobs_are_claimed_oldest_first_one_per_busy_environment() {
    let store = SqliteStore::in_memory().unwrap();
    let a = id(store.enqueue(&deploy("staging")).unwrap());
    let b = id(store.enqueue(&deploy("staging")).unwrap());
    let c = id(store.enqueue(&deploy("production")).unwrap());

    let first = store.claim_next("clinic", &[]).unwrap().unwrap();
    assert_eq!(first.id, a);
    assert_eq!(first.state, JobState::Running);
    assert!(first.started_at.is_some());
    // staging is busy: the next claim skips b for c.
    let second = store
        .claim_next("clinic", &["staging".to_string()])
        .unwrap()
        .unwrap();
    assert_eq!(second.id, c);
    assert!(
        store
            .claim_next("clinic", &["staging".into(), "production".into()])
            .unwrap()
            .is_none()
    );
    // Another app's queue is its own.
    assert!(store.claim_next("other", &[]).unwrap().is_none());

    store
        .finish_job(a, JobState::Succeeded, "deployed v1")
        .unwrap();
    let done = store.job(a).unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.message, "deployed v1");
    assert!(done.finished_at.is_some());
    assert_eq!(store.claim_next("clinic", &[]).unwrap().unwrap().id, b);
    let listed: Vec<i64> = store
        .jobs("clinic", 10)
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, vec![c, b, a]);
}

#[test]
fn a_dedupe_key_queues_once() {
    let store = SqliteStore::in_memory().unwrap();
    let job = NewJob {
        request: JobRequest::Release {
            git_ref: "v1.0.0".into(),
            commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            clone_url: "https://example.com/clinic.git".into(),
        },
        dedupe_key: Some("github:72d3162e".into()),
        ..deploy("staging")
    };
    let first = id(store.enqueue(&job).unwrap());
    assert_eq!(store.enqueue(&job).unwrap(), Enqueued::Duplicate(first));
    let stored = store.job(first).unwrap().unwrap();
    assert_eq!(stored.request, job.request);
    assert_eq!(stored.environment, None);
}

fn release(git_ref: &str, commit: &str, delivery: &str) -> NewJob {
    NewJob {
        request: JobRequest::Release {
            git_ref: git_ref.into(),
            commit: commit.into(),
            clone_url: "https://example.com/clinic.git".into(),
        },
        dedupe_key: Some(format!("github:{delivery}")),
        actor: "octocat".into(),
        source: "webhook:github".into(),
        ..deploy("staging")
    }
}

const C1: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const C2: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

#[test]
fn a_second_delivery_of_a_release_queued_or_running_is_coalesced_into_it() {
    let store = SqliteStore::in_memory().unwrap();
    let first = id(store
        .enqueue(&release("refs/tags/v1.0.0", C1, "a"))
        .unwrap());

    // Queued: another delivery id of the same push is recorded, cancelled, not run.
    let Enqueued::Coalesced { id: dup, into } = store
        .enqueue(&release("refs/tags/v1.0.0", C1, "b"))
        .unwrap()
    else {
        panic!("not coalesced")
    };
    assert_eq!(into, first);
    let recorded = store.job(dup).unwrap().unwrap();
    assert_eq!(recorded.state, JobState::Cancelled);
    assert!(
        recorded.message.contains(&format!("job {first}")),
        "{}",
        recorded.message
    );
    assert!(recorded.finished_at.is_some());
    // Its delivery id is remembered like any other.
    assert_eq!(
        store
            .enqueue(&release("refs/tags/v1.0.0", C1, "b"))
            .unwrap(),
        Enqueued::Duplicate(dup)
    );

    // Another commit or another ref is another release.
    id(store
        .enqueue(&release("refs/tags/v1.0.0", C2, "c"))
        .unwrap());
    id(store
        .enqueue(&release("refs/tags/v1.0.1", C1, "d"))
        .unwrap());

    // Running: still coalesced.
    assert_eq!(store.claim_next("clinic", &[]).unwrap().unwrap().id, first);
    assert!(matches!(
        store.enqueue(&release("refs/tags/v1.0.0", C1, "e")).unwrap(),
        Enqueued::Coalesced { into, .. } if into == first
    ));
    // Only the live jobs are claimed: the coalesced ones never run.
    let mut claimed = vec![];
    while let Some(j) = store.claim_next("clinic", &[]).unwrap() {
        claimed.push(j.id);
    }
    assert_eq!(claimed.len(), 2, "{claimed:?}");

    // Ended: the same ref and commit release again (a retry after a failure).
    store.finish_job(first, JobState::Failed, "boom").unwrap();
    id(store
        .enqueue(&release("refs/tags/v1.0.0", C1, "f"))
        .unwrap());
}

#[test]
fn deploy_jobs_are_never_coalesced() {
    let store = SqliteStore::in_memory().unwrap();
    id(store.enqueue(&deploy("staging")).unwrap());
    id(store.enqueue(&deploy("staging")).unwrap());
}

#[test]
fn only_a_queued_job_can_be_cancelled() {
    let store = SqliteStore::in_memory().unwrap();
    let a = id(store.enqueue(&deploy("staging")).unwrap());
    let b = id(store.enqueue(&deploy("staging")).unwrap());
    store.claim_next("clinic", &[]).unwrap();
    assert_eq!(
        store.cancel(a).unwrap(),
        Cancel::NotQueued(JobState::Running)
    );
    assert_eq!(store.cancel(b).unwrap(), Cancel::Cancelled);
    assert_eq!(store.job(b).unwrap().unwrap().state, JobState::Cancelled);
    assert_eq!(
        store.cancel(b).unwrap(),
        Cancel::NotQueued(JobState::Cancelled)
    );
    assert_eq!(store.cancel(999).unwrap(), Cancel::NotFound);
    assert!(store.claim_next("clinic", &[]).unwrap().is_none());
}

#[test]
fn jobs_survive_reopening_and_running_ones_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (running, queued) = {
        let store = SqliteStore::open(&path).unwrap();
        let running = id(store.enqueue(&deploy("staging")).unwrap());
        let queued = id(store.enqueue(&deploy("staging")).unwrap());
        store.claim_next("clinic", &[]).unwrap();
        (running, queued)
    };
    let store = SqliteStore::open(&path).unwrap();
    let interrupted = store.interrupt_running("clinic").unwrap();
    assert_eq!(
        interrupted.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![running]
    );
    assert_eq!(
        store.job(running).unwrap().unwrap().state,
        JobState::Interrupted
    );
    assert_eq!(store.job(queued).unwrap().unwrap().state, JobState::Queued);
    // A job handed back before it changed anything runs again.
    let again = store.claim_next("clinic", &[]).unwrap().unwrap();
    assert_eq!(again.id, queued);
    store.requeue(queued).unwrap();
    assert_eq!(store.job(queued).unwrap().unwrap().state, JobState::Queued);
}

#[test]
fn tokens_are_found_by_hash_listed_and_revoked() {
    let store = SqliteStore::in_memory().unwrap();
    let ci = TokenRecord {
        name: "ci".into(),
        owner: "ada".into(),
        scopes: vec!["deploy:staging".into()],
        created_at: "2026-12-05T10:00:00Z".into(),
        revoked_at: None,
    };
    assert!(store.create_token(&ci, "hash-of-ci").unwrap());
    assert!(
        !store.create_token(&ci, "another-hash").unwrap(),
        "a name is one token"
    );
    assert_eq!(store.token_by_hash("hash-of-ci").unwrap(), Some(ci.clone()));
    assert_eq!(store.token_by_hash("nope").unwrap(), None);
    assert_eq!(store.tokens().unwrap(), vec![ci]);
    assert!(store.revoke_token("ci").unwrap());
    assert!(!store.revoke_token("ci").unwrap());
    assert!(
        store
            .token_by_hash("hash-of-ci")
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}
