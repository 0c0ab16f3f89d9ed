//! `hoist jobs`, `hoist job cancel` and `hoist metrics` on the state database a server
//! shares, through the binary, without Docker or a running server.

mod support;

use hoist_core::jobs::{Enqueued, JobRequest, JobStore, NewJob};
use hoist_core::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord, Store};
use hoist_store::SqliteStore;
use support::App;

fn enqueue(store: &SqliteStore, app: &str, request: JobRequest) -> i64 {
    let job = NewJob {
        app: app.into(),
        request,
        actor: "octocat".into(),
        source: "webhook:github".into(),
        dedupe_key: None,
    };
    match store.enqueue(&job).unwrap() {
        Enqueued::New(id) => id,
        other => panic!("{other:?}"),
    }
}

fn deploy(environment: &str) -> JobRequest {
    JobRequest::Deploy {
        environment: environment.into(),
        version: None,
    }
}

fn ids(run: &support::Run) -> Vec<i64> {
    run.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn jobs_are_listed_by_state_and_only_a_queued_one_is_cancelled() {
    let app = App::new("load-jobs-cli", &[20960]);
    let store = SqliteStore::open(&app.state()).unwrap();
    let running = enqueue(&store, &app.name, deploy("staging"));
    let queued = enqueue(&store, &app.name, deploy("staging"));
    let release = enqueue(
        &store,
        &app.name,
        JobRequest::Release {
            git_ref: "refs/tags/v1.2.0".into(),
            commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            clone_url: "https://example.com/clinic.git".into(),
        },
    );
    // A server claimed the first one.
    assert_eq!(
        store.claim_next(&app.name, &[]).unwrap().unwrap().id,
        running
    );

    let all = app.hoist(&["jobs", "--json"]).ok();
    assert_eq!(ids(&all), vec![release, queued, running], "newest first");
    let waiting = app.hoist(&["jobs", "--only", "queued", "--json"]).ok();
    assert_eq!(ids(&waiting), vec![release, queued]);
    let busy = app
        .hoist(&["jobs", "--only", "running,cancelled", "--json"])
        .ok();
    assert_eq!(ids(&busy), vec![running]);
    assert_eq!(
        ids(&app.hoist(&["jobs", "--limit", "1", "--json"]).ok()),
        vec![release]
    );

    let table = app.hoist(&["jobs"]).ok().stdout;
    assert!(table.contains("STATE"), "{table}");
    assert!(table.contains("refs/tags/v1.2.0 @ 6113728f27ae"), "{table}");

    // A queued job is cancelled, audited as the CLI's user.
    let cancelled = app
        .hoist_as("ada", &["job", "cancel", &queued.to_string()])
        .ok();
    assert!(
        cancelled
            .stdout
            .contains(&format!("job {queued} cancelled"))
    );
    let listed = app
        .hoist(&["jobs", "--only", "cancelled", "--json"])
        .ok()
        .json();
    assert_eq!(listed[0]["id"], queued);
    assert_eq!(listed[0]["state"], "cancelled");
    let audit = app.hoist(&["audit", "--json"]).ok().json();
    assert_eq!(audit[0]["action"], "job.cancelled");
    assert_eq!(audit[0]["actor"], "ada");
    assert_eq!(audit[0]["environment"], "staging");

    // A running job cannot be: the message says so and why.
    let refused = app.hoist(&["job", "cancel", &running.to_string()]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("a running job cannot be cancelled"),
        "{}",
        refused.stderr
    );
    // Nor one that has ended; an unknown id is bad input.
    let again = app.hoist(&["job", "cancel", &queued.to_string()]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("is cancelled"), "{}", again.stderr);
    let unknown = app.hoist(&["job", "cancel", "999"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("no job 999"), "{}", unknown.stderr);
    let bad = app.hoist(&["jobs", "--only", "sleeping"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    // The refusals changed nothing.
    let states: Vec<String> = app
        .hoist(&["jobs", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, vec!["queued", "cancelled", "running"]);
}

#[test]
fn metrics_take_the_commit_time_recorded_with_the_release_without_a_repository() {
    let app = App::new("load-metrics-cli", &[20961]);
    // The app's repository has no commit at all: only the store knows the commit time.
    let store = SqliteStore::open(&app.state()).unwrap();
    let committed = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    store
        .save_release(&hoist_core::Release {
            app: app.name.clone(),
            version: "v3.0.0".into(),
            commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into(),
            image: format!("{}:v3.0.0", app.name),
            image_id: "sha256:30".into(),
            digest: None,
            fingerprint: "fp".into(),
            base_image: "base:fp".into(),
            created_by: "ada".into(),
            created_at: committed.to_string(),
        })
        .unwrap();
    store
        .set_commit_time(&app.name, "v3.0.0", Some(&committed.to_string()))
        .unwrap();
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: app.name.clone(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v3.0.0".into(),
            image_id: "sha256:30".into(),
            actor: "ada".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        })
        .unwrap();
    store
        .finish_deployment(id, DeploymentOutcome::Succeeded, "verified")
        .unwrap();
    drop(store);

    let m = app.hoist(&["metrics", "staging", "--json"]).ok().json();
    assert_eq!(m[0]["lead_time_unknown"], 0);
    let lead = m[0]["lead_time_secs"].as_i64().expect("a lead time");
    assert!((10_795..=10_830).contains(&lead), "{lead}");
}
