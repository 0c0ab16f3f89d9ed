//! The dashboard over plain HTTP on loopback: signing in with a token, the session
//! cookie, CSRF on every form that changes something (refused and audited without it),
//! scopes, cancelling a queued job, HTML escaping of what the store holds, and a
//! deployment's steps read back from the store when the server did not see them. The
//! browser tests (dashboard_browser.rs) follow a real deploy in Chromium.

mod support;

use std::time::Duration;

use hoist_core::Store;
use hoist_core::jobs::{JobRequest, JobState, JobStore, NewJob};
use hoist_core::store::{
    AuditEntry, DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome, InstanceStep,
    LockHolder,
};
use support::*;

const HOSTILE: &str = "<script>alert(\"owned\")</script>";
const HOSTILE_TENANT: &str = "<img src=x onerror=alert(1)>";

fn app(name: &str, port: u16) -> App {
    let app = App::named(name, &[("northside".into(), port)], "");
    app.write("www/index.html", "<h1>dash</h1>\n");
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "dash"]);
    app
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_form(
    client: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("the server answers")
}

/// Signs in with `token`; the `Cookie` header value of the session.
async fn sign_in(client: &reqwest::Client, serving: &Serving, token: &str) -> String {
    let r = post_form(
        client,
        &serving.url("/signin"),
        None,
        &format!("token={token}"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
    assert_eq!(r.headers()["location"], "/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains(token), "the cookie never holds the token");
    set.split(';').next().unwrap().to_string()
}

async fn page(client: &reqwest::Client, serving: &Serving, path: &str, cookie: &str) -> String {
    let r = client
        .get(serving.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.text().await.unwrap()
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_string()
}

#[test]
fn sign_in_csrf_and_scopes_guard_every_form() {
    let app = app("dash-csrf", 20721);
    // Someone else holds staging, so a queued deploy waits for it instead of running.
    let holder = LockHolder::this_process("someone-else");
    app.store()
        .try_lock(&app.name, "staging", &holder, Duration::from_secs(3600))
        .unwrap();
    runtime().block_on(async {
        let serving = Serving::start(&app, 20720, Duration::from_secs(60)).await;
        let client = client();
        let ada = token(&app, "ada-ui", "ada", &["deploy:staging"]);
        let reader = token(&app, "reader", "ops", &["read"]);

        // Not signed in: pages send to the sign-in form, the event stream refuses.
        let r = client.get(serving.url("/")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"], "/signin");
        let r = client.get(serving.url("/events")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);

        // A bad token: 401, the form again with the reason, audited without the token.
        let r = post_form(
            &client,
            &serving.url("/signin"),
            None,
            "token=hoist_0000000000000000",
        )
        .await;
        assert_eq!(r.status().as_u16(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().await.unwrap().contains("sign-in failed"));
        let refused = audited(&app, "dashboard.unauthenticated");
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert!(!refused[0].detail.contains("hoist_0000"));

        let session = sign_in(&client, &serving, &ada).await;
        let matrix = page(&client, &serving, "/", &session).await;
        assert!(matrix.contains("northside"), "{matrix}");
        let csrf = csrf_of(&matrix);

        // A deploy form without a CSRF token, or with a wrong one: 403, audited, no job.
        let deploy = serving.url("/deploy");
        let r = post_form(&client, &deploy, Some(&session), "environment=staging").await;
        assert_eq!(r.status().as_u16(), 403);
        let wrong = format!("environment=staging&csrf={}", "0".repeat(64));
        let r = post_form(&client, &deploy, Some(&session), &wrong).await;
        assert_eq!(r.status().as_u16(), 403);
        // Another session's token is as wrong.
        let other = sign_in(&client, &serving, &ada).await;
        let other_csrf = csrf_of(&page(&client, &serving, "/", &other).await);
        assert_ne!(other_csrf, csrf);
        let r = post_form(
            &client,
            &deploy,
            Some(&session),
            &format!("environment=staging&csrf={other_csrf}"),
        )
        .await;
        assert_eq!(r.status().as_u16(), 403);
        assert_eq!(audited(&app, "dashboard.csrf_refused").len(), 3);
        assert!(app.store().jobs(&app.name, 10).unwrap().is_empty());

        // A read-only session with a good CSRF token still lacks `deploy:staging`.
        let read_session = sign_in(&client, &serving, &reader).await;
        let read_csrf = csrf_of(&page(&client, &serving, "/jobs", &read_session).await);
        let r = post_form(
            &client,
            &deploy,
            Some(&read_session),
            &format!("environment=staging&csrf={read_csrf}"),
        )
        .await;
        assert_eq!(r.status().as_u16(), 403);
        let forbidden = audited(&app, "dashboard.forbidden");
        assert_eq!(forbidden.len(), 1);
        assert_eq!(forbidden[0].actor, "ops");

        // With both: queued through the job queue, as the token's owner.
        let good = format!("environment=staging&version=&csrf={csrf}");
        for _ in 0..2 {
            let r = post_form(&client, &deploy, Some(&session), &good).await;
            assert_eq!(r.status().as_u16(), 303);
            assert_eq!(r.headers()["location"], "/jobs");
        }
        let jobs = app.store().jobs(&app.name, 10).unwrap();
        assert_eq!(jobs.len(), 2);
        assert!(jobs.iter().all(|j| j.actor == "ada"));
        assert!(jobs.iter().all(|j| j.source == "dashboard:ada-ui"));
        assert_eq!(
            jobs[1].request,
            JobRequest::Deploy {
                environment: "staging".into(),
                version: None
            }
        );
        let (first, second) = (jobs[1].id, jobs[0].id);
        // The first waits for the lock; the second waits its turn.
        let started = std::time::Instant::now();
        while app.store().job(first).unwrap().unwrap().state != JobState::Running {
            assert!(started.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The job list offers a cancel form for the queued job only; cancelling needs the
        // CSRF token too.
        let list = page(&client, &serving, "/jobs", &session).await;
        assert!(list.contains(&format!("action=\"/jobs/{second}/cancel\"")));
        assert!(!list.contains(&format!("action=\"/jobs/{first}/cancel\"")));
        let cancel = serving.url(&format!("/jobs/{second}/cancel"));
        let r = post_form(&client, &cancel, Some(&session), "").await;
        assert_eq!(r.status().as_u16(), 403);
        assert_eq!(
            app.store().job(second).unwrap().unwrap().state,
            JobState::Queued
        );
        let r = post_form(&client, &cancel, Some(&session), &format!("csrf={csrf}")).await;
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(
            app.store().job(second).unwrap().unwrap().state,
            JobState::Cancelled
        );
        assert_eq!(audited(&app, "job.cancelled")[0].actor, "ada");

        // Signing out ends the session; revoking a token ends its sessions.
        let r = post_form(
            &client,
            &serving.url("/signout"),
            Some(&other),
            &format!("csrf={other_csrf}"),
        )
        .await;
        assert_eq!(r.status().as_u16(), 303);
        let r = client
            .get(serving.url("/"))
            .header("cookie", &other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        hoist_server::tokens::revoke(&app.store(), "reader").unwrap();
        let r = client
            .get(serving.url("/jobs"))
            .header("cookie", &read_session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);

        serving.stop().await;
    });
    app.store().unlock(&app.name, "staging", &holder).unwrap();
}

#[test]
fn names_and_messages_from_the_store_are_escaped_on_every_page() {
    let app = app("dash-escape", 20731);
    let store = app.store();
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: app.name.clone(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v1.0.0".into(),
            image_id: "sha256:0".into(),
            actor: HOSTILE.into(),
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
        .record_instance(
            id,
            &InstanceOutcome {
                tenant: HOSTILE_TENANT.into(),
                container: "c".into(),
                outcome: "failed".into(),
                message: HOSTILE.into(),
                started_at: jiff::Timestamp::now().to_string(),
                duration_ms: 5,
                spec: None,
            },
        )
        .unwrap();
    store
        .finish_deployment(id, DeploymentOutcome::Failed, HOSTILE)
        .unwrap();
    store
        .append_audit(&AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            actor: HOSTILE.into(),
            app: app.name.clone(),
            environment: Some("staging".into()),
            action: "deploy.failed".into(),
            version: Some("v1.0.0".into()),
            detail: HOSTILE_TENANT.into(),
        })
        .unwrap();
    // Someone else holds staging: the job waits (running) instead of deploying.
    let holder = LockHolder::this_process("someone-else");
    store
        .try_lock(&app.name, "staging", &holder, Duration::from_secs(3600))
        .unwrap();
    store
        .enqueue(&NewJob {
            app: app.name.clone(),
            request: JobRequest::Deploy {
                environment: "staging".into(),
                version: Some(HOSTILE.into()),
            },
            actor: HOSTILE.into(),
            source: "token:x".into(),
            dedupe_key: None,
        })
        .unwrap();
    runtime().block_on(async {
        let serving = Serving::start(&app, 20730, Duration::from_secs(60)).await;
        let client = client();
        let hostile = token(&app, "hostile", HOSTILE, &["read"]);
        let session = sign_in(&client, &serving, &hostile).await;
        for path in [
            "/".to_string(),
            "/history/staging".to_string(),
            format!("/deployments/{id}"),
            "/audit".to_string(),
            "/jobs".to_string(),
            "/metrics".to_string(),
        ] {
            let html = page(&client, &serving, &path, &session).await;
            assert!(!html.contains(HOSTILE), "{path}: {html}");
            assert!(!html.contains(HOSTILE_TENANT), "{path}: {html}");
            assert!(!html.contains("<img"), "{path}: {html}");
        }
        let history = page(&client, &serving, "/history/staging", &session).await;
        assert!(history.contains("&lt;script&gt;alert("), "{history}");
        assert!(
            history.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{history}"
        );
        let jobs = page(&client, &serving, "/jobs", &session).await;
        assert!(jobs.contains("&lt;script&gt;"), "{jobs}");
        let metrics = page(&client, &serving, "/metrics", &session).await;
        assert!(metrics.contains("change failure rate"), "{metrics}");
        assert!(metrics.contains("<svg"), "{metrics}");
        // The deployment failed today: a failed change in today's bar.
        assert!(metrics.contains("0 succeeded, 1 failed"), "{metrics}");
        let r = client
            .get(serving.url("/metrics?since=forever"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert!(r.text().await.unwrap().contains("30d, 12h, 2w"));
        serving.stop().await;
    });
    store.unlock(&app.name, "staging", &holder).unwrap();
}

#[test]
fn a_deployment_the_server_did_not_run_shows_the_steps_the_store_kept() {
    let app = app("dash-steps", 20741);
    let store = app.store();
    // As the CLI records a deploy: the deployment, the instance's outcome, its steps.
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: app.name.clone(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v1.0.0".into(),
            image_id: "sha256:0".into(),
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
        .record_instance(
            id,
            &InstanceOutcome {
                tenant: "northside".into(),
                container: "c".into(),
                outcome: "rolled_back".into(),
                message: "health check never answered".into(),
                started_at: jiff::Timestamp::now().to_string(),
                duration_ms: 5,
                spec: None,
            },
        )
        .unwrap();
    let step = |state: &str, message: &str| InstanceStep {
        tenant: "northside".into(),
        at: "2026-12-01T10:00:00Z".into(),
        state: state.into(),
        message: message.into(),
    };
    store
        .record_steps(
            id,
            &[
                step("waiting", ""),
                step("starting", "starting the candidate"),
                step("rolled_back", HOSTILE),
            ],
        )
        .unwrap();
    store
        .finish_deployment(id, DeploymentOutcome::Failed, "failed on northside")
        .unwrap();
    runtime().block_on(async {
        let serving = Serving::start(&app, 20740, Duration::from_secs(60)).await;
        let client = client();
        let reader = token(&app, "reader", "ops", &["read"]);
        let session = sign_in(&client, &serving, &reader).await;
        let html = page(&client, &serving, &format!("/deployments/{id}"), &session).await;
        let row = html
            .split("<tr data-tenant=\"northside\"")
            .nth(1)
            .and_then(|rest| rest.split("</tr>").next())
            .unwrap_or_else(|| panic!("a row for northside: {html}"));
        let steps = row
            .split("<td class=\"steps\">")
            .nth(1)
            .and_then(|rest| rest.split("</td>").next())
            .unwrap_or_else(|| panic!("its steps: {row}"));
        let states: Vec<&str> = steps
            .split("</span>")
            .filter_map(|s| s.rsplit('>').next())
            .filter(|s| !s.trim().is_empty())
            .collect();
        assert_eq!(states, ["waiting", "starting", "rolled back"], "{row}");
        assert!(
            steps.contains("2026-12-01T10:00:00Z: starting the candidate"),
            "{row}"
        );
        // Kept messages are escaped like everything else from the store.
        assert!(!html.contains(HOSTILE), "{html}");
        assert!(steps.contains("&lt;script&gt;"), "{row}");

        // The API gives the same deployment with its steps.
        let api = |path: String| {
            let (client, url, reader) = (&client, serving.url(&path), &reader);
            async move {
                let answer = client
                    .get(url)
                    .bearer_auth(reader)
                    .send()
                    .await
                    .expect("the API answers");
                let status = answer.status().as_u16();
                (status, answer.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (status, one) = api(format!("/api/v1/history/staging/{id}")).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(one["deployment"]["id"], id, "{one}");
        let states: Vec<&str> = one["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["waiting", "starting", "rolled_back"], "{one}");
        let (status, missing) = api(format!("/api/v1/history/staging/{}", id + 1)).await;
        assert_eq!(status, 404, "{missing}");
        assert_eq!(
            missing["error"],
            format!("staging has no deployment {}", id + 1)
        );
        serving.stop().await;
    });
}
