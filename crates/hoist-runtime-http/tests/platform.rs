//! The HTTP runtime's generic form against the FAKE platform of `common::fake_platform`
//! (no real platform is reachable here): deploys, failures, timeouts, retries, a refused
//! credential, and rollback.

mod common;

use std::time::Duration;

use common::fake_platform::{FakePlatform, Scenario, TOKEN, digest_of};
use common::*;
use hoist_core::runtime::{Applied, InstanceFailure, Rollout, Runtime, WorkloadState};
use hoist_core::{InstanceState, Release};
use hoist_runtime_http::HttpRuntime;

const OLD_IMAGE: &str = "registry.example.com/hoist-http-test/clinic:v1.0.0";

async fn setup(scenario: Scenario, timeout: Duration) -> (FakePlatform, HttpRuntime) {
    let fake = FakePlatform::start(scenario).await;
    fake.add_app("north", OLD_IMAGE);
    let runtime = HttpRuntime::new(generic(&fake, timeout));
    (fake, runtime)
}

async fn roll_out(
    runtime: &HttpRuntime,
    release: &Release,
    events: &Recorded,
) -> Result<Applied, InstanceFailure> {
    let sink = events.sink();
    let rollout = Rollout::new("north", &NoProber, &sink, Duration::from_secs(30));
    runtime.roll_out(&instance(), release, &rollout).await
}

#[tokio::test]
async fn a_release_is_deployed_then_reported_deploying_then_running_with_its_digest() {
    let (fake, runtime) = setup(Scenario::default(), Duration::from_secs(20)).await;
    let events = Recorded::default();
    let release = release("v2.0.0", Some(NEW));
    let applied = roll_out(&runtime, &release, &events).await.unwrap();
    let wanted = format!("{REPO}:v2.0.0@{NEW}");
    assert_eq!(applied.message, format!("running, running {wanted}"));
    assert!(events.saw("asking http to run"), "{:#?}", events.messages());
    assert!(
        events.saw("the instance is \"deploying\"; waiting for \"running\""),
        "{:#?}",
        events.messages()
    );

    // The deploy request: the templated body, JSON-typed, with the token as Bearer.
    let deploys: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(deploys.len(), 1);
    assert_eq!(deploys[0].path_and_query, "/api/apps/north/deploys");
    assert_eq!(deploys[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(deploys[0].body["image"], wanted);
    assert_eq!(deploys[0].body["metadata"]["release"], "v2.0.0");

    // What runs now, as `observe` reads it: the release's image id, recorded on the app.
    let observed = runtime.observe(&instance()).await.unwrap();
    assert_eq!(
        observed.workload,
        WorkloadState::Running {
            image_id: "sha256:local-v2.0.0".into(),
            release: Some("v2.0.0".into()),
            digests: Vec::new(),
        }
    );
    assert_eq!(fake.app("north")["digest"], NEW);
    assert!(runtime.reports_health());
}

#[tokio::test]
async fn a_failed_deploy_is_rolled_back_to_the_image_that_ran() {
    let scenario = Scenario {
        fail_image: Some(":v2.0.0-bad".into()),
        ..Scenario::default()
    };
    let (fake, runtime) = setup(scenario, Duration::from_secs(20)).await;
    let events = Recorded::default();
    let failure = roll_out(&runtime, &release("v2.0.0-bad", None), &events)
        .await
        .unwrap_err();
    assert_eq!(
        failure.state,
        InstanceState::RolledBack,
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("the platform reports a failure: the release exited with code 1"),
        "{}",
        failure.message
    );
    // The rollback request carried the image that ran before.
    let rollbacks: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|r| r.path_and_query.ends_with("/rollback"))
        .collect();
    assert_eq!(rollbacks.len(), 1);
    assert_eq!(
        rollbacks[0].body["image"],
        format!("{OLD_IMAGE}@{}", digest_of(OLD_IMAGE))
    );
    assert_eq!(fake.app("north")["state"], "running");
    assert_eq!(fake.app("north")["image"], rollbacks[0].body["image"]);
}

#[tokio::test]
async fn a_status_that_never_converges_times_out_and_rolls_back() {
    let scenario = Scenario {
        unhealthy_image: Some(":v2.0.0".into()),
        ..Scenario::default()
    };
    let (fake, runtime) = setup(scenario, Duration::from_secs(1)).await;
    let events = Recorded::default();
    let failure = roll_out(&runtime, &release("v2.0.0", None), &events)
        .await
        .unwrap_err();
    assert!(
        failure.message.starts_with(
            "not running within 1s: it runs the release; waiting for health: health is false"
        ),
        "{}",
        failure.message
    );
    assert_eq!(
        failure.state,
        InstanceState::RolledBack,
        "{}",
        failure.message
    );
    assert!(
        fake.app("north")["image"]
            .as_str()
            .unwrap()
            .starts_with(OLD_IMAGE)
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_the_platform_answers() {
    let scenario = Scenario {
        server_errors: 2,
        ..Scenario::default()
    };
    let (fake, runtime) = setup(scenario, Duration::from_secs(20)).await;
    let events = Recorded::default();
    roll_out(&runtime, &release("v2.0.0", None), &events)
        .await
        .unwrap();
    // The first status read was answered 500 twice and asked again.
    let seen = fake.seen();
    assert_eq!(seen[0].path_and_query, "/api/apps/north");
    assert_eq!(seen[1].path_and_query, "/api/apps/north");
    assert_eq!(seen[2].path_and_query, "/api/apps/north");
    assert_eq!(seen[3].path_and_query, "/api/apps/north/deploys");
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_retry_after_asks() {
    let scenario = Scenario {
        rate_limit_first: true,
        ..Scenario::default()
    };
    let (fake, runtime) = setup(scenario, Duration::from_secs(20)).await;
    let events = Recorded::default();
    roll_out(&runtime, &release("v2.0.0", None), &events)
        .await
        .unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].path_and_query, seen[1].path_and_query);
    // `Retry-After: 1`: the repeat came no sooner than a second later.
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_refused_credential_fails_at_once_with_a_clear_error_and_no_token() {
    let scenario = Scenario {
        unauthorized: true,
        ..Scenario::default()
    };
    let (fake, runtime) = setup(scenario, Duration::from_secs(20)).await;
    let events = Recorded::default();
    let failure = roll_out(&runtime, &release("v2.0.0", None), &events)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::Failed);
    assert!(
        failure.message.contains("answered 401"),
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("did not accept the credential from file"),
        "{}",
        failure.message
    );
    // The fake echoed the Authorization header in its answer: hoist repeats none of it.
    assert!(!failure.message.contains(TOKEN), "{}", failure.message);
    for message in events.messages() {
        assert!(!message.contains(TOKEN), "{message}");
    }
    // No retry on a 4xx other than 429.
    assert_eq!(fake.seen().len(), 1);
    let observe = runtime.observe(&instance()).await.unwrap_err();
    assert!(!observe.message.contains(TOKEN), "{}", observe.message);
}

#[tokio::test]
async fn roll_back_uses_the_platform_s_rollback_request() {
    let (fake, runtime) = setup(Scenario::default(), Duration::from_secs(20)).await;
    let events = Recorded::default();
    roll_out(&runtime, &release("v2.0.0", None), &events)
        .await
        .unwrap();
    let sink = events.sink();
    let rollout = Rollout::new("north", &NoProber, &sink, Duration::from_secs(30));
    let previous = release("v1.0.0", None);
    runtime
        .roll_back(&instance(), &previous, &rollout)
        .await
        .unwrap();
    let last_post = fake
        .seen()
        .into_iter()
        .rfind(|r| r.method == "POST")
        .unwrap();
    assert_eq!(last_post.path_and_query, "/api/apps/north/rollback");
    assert_eq!(last_post.body["image"], format!("{REPO}:v1.0.0"));
    let observed = runtime.observe(&instance()).await.unwrap();
    assert_eq!(observed.workload.release(), Some("v1.0.0"));
}

#[tokio::test]
async fn an_instance_the_platform_does_not_know_is_missing() {
    let fake = FakePlatform::start(Scenario::default()).await;
    let runtime = HttpRuntime::new(generic(&fake, Duration::from_secs(5)));
    let observed = runtime.observe(&instance()).await.unwrap();
    assert_eq!(observed.workload, WorkloadState::Missing);
}
