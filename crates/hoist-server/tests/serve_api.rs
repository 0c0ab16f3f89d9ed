//! The JSON API of `hoist serve` over real HTTP on loopback: tokens and scopes, the actor
//! of a call being the token's owner (so the policy's `deployers` applies), the queue
//! across a restart, cancelling, and handing a job back to the queue on stop.

mod support;

use std::time::Duration;

use hoist_core::Store;
use hoist_core::jobs::{JobRequest, JobStore, NewJob};
use hoist_core::store::LockHolder;
use serde_json::json;
use support::*;

const POLICY: &str = "[environments.staging.policy]\ndeployers = [\"ada\"]\n";

fn commit_all(app: &App) {
    app.write("www/index.html", "<h1>api</h1>\n");
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "api"]);
}

#[test]
fn tokens_are_checked_scoped_audited_and_act_as_their_owner() {
    let app = App::new("tokens", &[20621], POLICY);
    commit_all(&app);
    runtime().block_on(async {
        let serving = Serving::start(&app, 20620, Duration::from_secs(60)).await;
        let client = reqwest::Client::new();
        let reader = token(&app, "reader", "ops", &["read"]);
        let mallory = token(&app, "mallory-ci", "mallory", &["deploy:staging"]);
        let revoked = token(&app, "old", "ada", &["admin"]);
        hoist_server::tokens::revoke(&app.store(), "old").unwrap();
        let deploy = json!({ "environment": "staging" });

        // No token, a wrong one, a revoked one: 401, each audited.
        let none = client
            .get(serving.url("/api/v1/jobs"))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status().as_u16(), 401);
        let (status, body) = get(&client, &serving.url("/api/v1/jobs"), "hoist_0000").await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = post(
            &client,
            &serving.url("/api/v1/deploy"),
            &revoked,
            deploy.clone(),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("revoked"));
        let unauthenticated = audited(&app, "api.unauthenticated");
        assert_eq!(unauthenticated.len(), 3, "{unauthenticated:#?}");
        assert!(unauthenticated.iter().all(|e| !e.detail.contains(&revoked)));

        // A read token cannot deploy; a staging token cannot deploy elsewhere: 403.
        let (status, body) = post(
            &client,
            &serving.url("/api/v1/deploy"),
            &reader,
            deploy.clone(),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap().contains("deploy:staging"));
        let (status, _) = post(
            &client,
            &serving.url("/api/v1/promote"),
            &mallory,
            json!({ "from": "staging", "to": "production" }),
        )
        .await;
        assert_eq!(status, 403);
        let forbidden = audited(&app, "api.forbidden");
        assert_eq!(forbidden.len(), 2, "{forbidden:#?}");
        assert_eq!(forbidden[1].actor, "ops");
        assert_eq!(forbidden[0].actor, "mallory");

        // Reading works with a read token.
        let (status, status_doc) = get(&client, &serving.url("/api/v1/status"), &reader).await;
        assert_eq!(status, 200);
        assert_eq!(status_doc["environments"][0]["environment"], "staging");
        let (status, _) = get(&client, &serving.url("/api/v1/history/nowhere"), &reader).await;
        assert_eq!(status, 404);

        // Mallory's token may start a staging deploy, but the job runs as mallory, whom
        // the policy does not name: refused by hoist itself, and audited as mallory.
        let (status, job) = post(
            &client,
            &serving.url("/api/v1/deploy"),
            &mallory,
            deploy.clone(),
        )
        .await;
        assert_eq!(status, 202, "{job}");
        assert_eq!(job["actor"], "mallory");
        assert_eq!(job["source"], "token:mallory-ci");
        let id = job["id"].as_i64().unwrap();
        let job = job_end(&client, &serving, &reader, id, Duration::from_secs(120)).await;
        assert_eq!(job["state"], "failed", "{job:#}");
        assert!(
            job["message"]
                .as_str()
                .unwrap()
                .contains("mallory is not among staging's deployers"),
            "{job:#}"
        );
        let refusals = audited(&app, "policy.refused");
        assert_eq!(refusals.len(), 1, "{refusals:#?}");
        assert_eq!(refusals[0].actor, "mallory");
        serving.stop().await;
    });
}

#[test]
fn a_restart_interrupts_the_running_job_and_runs_the_queued_one() {
    let app = App::new("restart", &[20631], "");
    commit_all(&app);
    let (running, queued) = {
        let store = app.store();
        let rollback = |env: &str| NewJob {
            app: app.name.clone(),
            request: JobRequest::Rollback {
                environment: env.into(),
                to: None,
            },
            actor: "ada".into(),
            source: "token:ci".into(),
            dedupe_key: None,
        };
        let running = match store.enqueue(&rollback("staging")).unwrap() {
            hoist_core::jobs::Enqueued::New(id) => id,
            other => panic!("{other:?}"),
        };
        let queued = match store.enqueue(&rollback("staging")).unwrap() {
            hoist_core::jobs::Enqueued::New(id) => id,
            other => panic!("{other:?}"),
        };
        // A server claimed the first and died.
        assert_eq!(
            store.claim_next(&app.name, &[]).unwrap().unwrap().id,
            running
        );
        (running, queued)
    };
    runtime().block_on(async {
        let serving = Serving::start(&app, 20630, Duration::from_secs(60)).await;
        let client = reqwest::Client::new();
        let reader = token(&app, "reader", "ops", &["read"]);
        let (_, job) = get(
            &client,
            &serving.url(&format!("/api/v1/jobs/{running}")),
            &reader,
        )
        .await;
        assert_eq!(job["state"], "interrupted", "{job:#}");
        assert_eq!(audited(&app, "job.interrupted").len(), 1);
        // The queued one runs: a rollback with nothing to go back to fails, saying so.
        let job = job_end(&client, &serving, &reader, queued, Duration::from_secs(120)).await;
        assert_eq!(job["state"], "failed", "{job:#}");
        assert!(!job["message"].as_str().unwrap().is_empty());
        serving.stop().await;
    });
}

#[test]
fn a_queued_job_can_be_cancelled_and_a_running_one_goes_back_to_the_queue_on_stop() {
    let app = App::new("cancel", &[20641], POLICY);
    commit_all(&app);
    // Someone else (this test process, alive) holds staging: a deploy waits for it.
    let holder = LockHolder::this_process("someone-else");
    let attempt = app
        .store()
        .try_lock(&app.name, "staging", &holder, Duration::from_secs(3600))
        .unwrap();
    assert!(matches!(
        attempt,
        hoist_core::store::LockAttempt::Acquired { .. }
    ));
    runtime().block_on(async {
        let serving = Serving::start(&app, 20640, Duration::from_secs(5)).await;
        let client = reqwest::Client::new();
        let ada = token(&app, "ada-ci", "ada", &["deploy:staging"]);
        let reader = token(&app, "reader", "ops", &["read"]);
        let deploy = json!({ "environment": "staging" });
        let (_, first) = post(
            &client,
            &serving.url("/api/v1/deploy"),
            &ada,
            deploy.clone(),
        )
        .await;
        let (_, second) = post(
            &client,
            &serving.url("/api/v1/deploy"),
            &ada,
            deploy.clone(),
        )
        .await;
        let (first, second) = (
            first["id"].as_i64().unwrap(),
            second["id"].as_i64().unwrap(),
        );
        // The first runs (waiting for the lock); the second waits its turn: one deploy per
        // environment at a time.
        let started = std::time::Instant::now();
        loop {
            let (_, job) = get(
                &client,
                &serving.url(&format!("/api/v1/jobs/{first}")),
                &reader,
            )
            .await;
            if job["state"] == "running" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{job:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, job) = get(
            &client,
            &serving.url(&format!("/api/v1/jobs/{second}")),
            &reader,
        )
        .await;
        assert_eq!(job["state"], "queued");

        // A read token cannot cancel; ada's can, a queued job only.
        let cancel = |id: i64| serving.url(&format!("/api/v1/jobs/{id}/cancel"));
        let (status, _) = post(&client, &cancel(second), &reader, json!({})).await;
        assert_eq!(status, 403);
        let (status, job) = post(&client, &cancel(second), &ada, json!({})).await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(job["state"], "cancelled");
        let (status, body) = post(&client, &cancel(first), &ada, json!({})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(audited(&app, "job.cancelled").len(), 1);

        // Stopping: the grace period (1s) ends before the job can take the lock; it is
        // interrupted and handed back to the queue.
        serving.stop().await;
        let store = app.store();
        let job = store.job(first).unwrap().unwrap();
        assert_eq!(job.state, hoist_core::jobs::JobState::Queued, "{job:#?}");
        assert_eq!(audited(&app, "job.requeued").len(), 1);
        store.unlock(&app.name, "staging", &holder).unwrap();
    });
}
