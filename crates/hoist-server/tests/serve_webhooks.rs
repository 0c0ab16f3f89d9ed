//! `hoist serve`'s webhook endpoints over real HTTP on loopback, with payloads built from
//! GitHub's and GitLab's documented schemas and signed as they sign them. The accepted
//! tag push runs a real release of a busybox app on the Docker engine, fetched from a git
//! repository by its file:// URL.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn a_signed_tag_push_queues_a_release_that_deploys_the_pushed_commit() {
    let app = App::new("hook", &[20611], "");
    let commit = app.release("v1.0.0", "<h1>one</h1>\n");
    runtime().block_on(async {
        let serving = Serving::start(&app, 20601, Duration::from_secs(60)).await;
        let reader = token(&app, "reader", "ops", &["read"]);
        let client = reqwest::Client::new();
        let body = github_push("refs/tags/v1.0.0", &commit, &app.clone_url(), "ada");
        let answer =
            post_github(&client, &serving, "push", "d-accept-1", body, GITHUB_SECRET).await;
        assert_eq!(answer.status().as_u16(), 202);
        let queued: serde_json::Value = answer.json().await.unwrap();
        let id = queued["job"].as_i64().expect("a job id");

        let job = job_end(&client, &serving, &reader, id, Duration::from_secs(300)).await;
        assert_eq!(job["state"], "succeeded", "{job:#}");
        assert_eq!(job["actor"], "ada");
        assert_eq!(job["source"], "webhook:github");
        assert_eq!(job["request"]["kind"], "release");
        assert_eq!(job["request"]["commit"], commit.as_str());
        assert_eq!(
            body_on(20611, "/version").await.as_deref().map(str::trim),
            Some("v1.0.0")
        );
        assert_eq!(
            body_on(20611, "/index.html").await.as_deref(),
            Some("<h1>one</h1>\n")
        );
        // Recorded in the server's state database, as the pusher.
        let (status, history) =
            get(&client, &serving.url("/api/v1/history/staging"), &reader).await;
        assert_eq!(status, 200);
        assert_eq!(history[0]["version"], "v1.0.0");
        assert_eq!(history[0]["actor"], "ada");
        assert_eq!(history[0]["outcome"], "succeeded");
        serving.stop().await;
    });
}

#[test]
fn a_tag_that_points_elsewhere_is_refused_and_audited() {
    let app = App::new("moved", &[20612], "");
    let first = app.release("v1.0.0", "<h1>one</h1>\n");
    let second = app.release("v1.0.1", "<h1>two</h1>\n");
    assert_ne!(first, second);
    runtime().block_on(async {
        let serving = Serving::start(&app, 20602, Duration::from_secs(60)).await;
        let reader = token(&app, "reader", "ops", &["read"]);
        let client = reqwest::Client::new();
        // The payload says v1.0.0 is the second commit; the repository says otherwise.
        let body = github_push("refs/tags/v1.0.0", &second, &app.clone_url(), "ada");
        let answer = post_github(&client, &serving, "push", "d-moved-1", body, GITHUB_SECRET).await;
        assert_eq!(answer.status().as_u16(), 202);
        let id = answer.json::<serde_json::Value>().await.unwrap()["job"]
            .as_i64()
            .unwrap();
        let job = job_end(&client, &serving, &reader, id, Duration::from_secs(60)).await;
        assert_eq!(job["state"], "failed", "{job:#}");
        let message = job["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("points at {first}")) && message.contains(&second),
            "{message}"
        );
        let refused = audited(&app, "webhook.refused");
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0].actor, "ada");
        // Nothing was deployed.
        let (_, history) = get(&client, &serving.url("/api/v1/history/staging"), &reader).await;
        assert_eq!(history, json!([]));
        serving.stop().await;
    });
}

#[test]
fn bad_signatures_replays_oversized_bodies_and_other_events_are_answered_without_a_job() {
    let app = App::new("refuse", &[20613], "");
    runtime().block_on(async {
        let serving = Serving::start(&app, 20603, Duration::from_secs(60)).await;
        let reader = token(&app, "reader", "ops", &["read"]);
        let client = reqwest::Client::new();
        let commit = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
        let body = || github_push("refs/tags/v9.9.9", commit, "file:///nonexistent", "eve");

        // Signed with another secret: 401, audited, nothing queued.
        let wrong = post_github(&client, &serving, "push", "d-bad", body(), "not-the-secret").await;
        assert_eq!(wrong.status().as_u16(), 401);
        // No signature at all: 401 too.
        let unsigned = client
            .post(serving.url("/webhooks/github"))
            .header("x-github-event", "push")
            .header("x-github-delivery", "d-unsigned")
            .body(body())
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status().as_u16(), 401);
        let audited_401 = audited(&app, "webhook.unauthenticated");
        assert_eq!(audited_401.len(), 2, "{audited_401:#?}");
        assert!(
            audited_401
                .iter()
                .all(|e| !e.detail.contains(GITHUB_SECRET) && !e.detail.contains("not-the-secret"))
        );

        // A ping is verified and ignored: 202, no job.
        let ping = serde_json::to_vec(&json!({
            "zen": "Keep it logically awesome.", "hook_id": 292430182,
            "hook": {"type": "Repository", "id": 292430182, "events": ["push"]},
        }))
        .unwrap();
        let pinged = post_github(&client, &serving, "ping", "d-ping", ping, GITHUB_SECRET).await;
        assert_eq!(pinged.status().as_u16(), 202);
        let (_, jobs) = get(&client, &serving.url("/api/v1/jobs"), &reader).await;
        assert_eq!(jobs, json!([]));

        // The same delivery twice: queued once, then 409 and audited.
        let first = post_github(&client, &serving, "push", "d-replay", body(), GITHUB_SECRET).await;
        assert_eq!(first.status().as_u16(), 202);
        let again = post_github(&client, &serving, "push", "d-replay", body(), GITHUB_SECRET).await;
        assert_eq!(again.status().as_u16(), 409);
        assert_eq!(audited(&app, "webhook.replayed").len(), 1);

        // Over the body limit: 413 before any signature is checked.
        let mut big = body();
        big.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
        let oversized = post_github(&client, &serving, "push", "d-big", big, GITHUB_SECRET).await;
        assert_eq!(oversized.status().as_u16(), 413);

        let (_, jobs) = get(&client, &serving.url("/api/v1/jobs"), &reader).await;
        assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs:#}");
        serving.stop().await;

        // A restart forgets nothing: the store still refuses the replayed delivery.
        let serving = Serving::start(&app, 20603, Duration::from_secs(60)).await;
        let after_restart =
            post_github(&client, &serving, "push", "d-replay", body(), GITHUB_SECRET).await;
        assert_eq!(after_restart.status().as_u16(), 409);
        serving.stop().await;
    });
}

#[test]
fn a_gitlab_tag_push_hook_with_its_token_is_queued() {
    let app = App::new("gitlab", &[20614], "");
    runtime().block_on(async {
        let serving = Serving::start(&app, 20604, Duration::from_secs(60)).await;
        let reader = token(&app, "reader", "ops", &["read"]);
        let client = reqwest::Client::new();
        let commit = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7";
        // GitLab's documented "Tag events" payload, trimmed of fields hoist never reads.
        let body = serde_json::to_vec(&json!({
            "object_kind": "tag_push", "event_name": "tag_push",
            "before": "0000000000000000000000000000000000000000", "after": commit,
            "ref": "refs/tags/v1.0.0", "ref_protected": true, "checkout_sha": commit,
            "user_id": 1, "user_name": "John Smith", "user_username": "jsmith",
            "project_id": 1,
            "project": {
                "id": 1, "name": "Example", "path_with_namespace": "jsmith/example",
                "git_http_url": "file:///nonexistent/example.git",
                "git_ssh_url": "git@example.com:jsmith/example.git",
                "default_branch": "main",
            },
            "commits": [], "total_commits_count": 0,
            "repository": {"name": "Example", "url": "ssh://git@example.com/jsmith/example.git",
                "git_http_url": "file:///nonexistent/example.git",
                "git_ssh_url": "git@example.com:jsmith/example.git"},
        }))
        .unwrap();
        let send = |token: &'static str| {
            client
                .post(serving.url("/webhooks/gitlab"))
                .header("content-type", "application/json")
                .header("x-gitlab-event", "Tag Push Hook")
                .header(
                    "x-gitlab-event-uuid",
                    "c3c8e4d2-5e0b-4a5a-9d7e-5b8f6a3d2e11",
                )
                .header("x-gitlab-token", token)
                .body(body.clone())
                .send()
        };
        assert_eq!(send("wrong-token").await.unwrap().status().as_u16(), 401);
        let accepted = send(GITLAB_TOKEN).await.unwrap();
        assert_eq!(accepted.status().as_u16(), 202);
        let id = accepted.json::<serde_json::Value>().await.unwrap()["job"]
            .as_i64()
            .unwrap();
        let (_, job) = get(
            &client,
            &serving.url(&format!("/api/v1/jobs/{id}")),
            &reader,
        )
        .await;
        assert_eq!(job["source"], "webhook:gitlab");
        assert_eq!(job["actor"], "jsmith");
        assert_eq!(job["request"]["git_ref"], "refs/tags/v1.0.0");
        // The repository does not exist: the job fails, saying git could not fetch.
        let job = job_end(&client, &serving, &reader, id, Duration::from_secs(60)).await;
        assert_eq!(job["state"], "failed");
        assert!(
            job["message"]
                .as_str()
                .unwrap()
                .contains("git fetch failed"),
            "{job:#}"
        );
        serving.stop().await;
    });
}
