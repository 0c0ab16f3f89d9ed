//! The Swarm runtime on this machine's single-node swarm, with real services.
//!
//! Each test owns one service (`hoist-swarm-test-NAME`) and one host port, removes the
//! service first (a previous run may have died) and last.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hoist_core::InstanceState;
use hoist_core::runtime::{Rollout, Runtime, WorkloadState};
use hoist_runtime_swarm::SwarmRuntime;

/// Long enough for Swarm to start a task and watch it for the monitor period.
const VERIFY: Duration = Duration::from_secs(30);
/// How long a release that never answers its health check gets.
const UNHEALTHY: Duration = Duration::from_secs(6);

#[tokio::test]
async fn first_roll_out_creates_the_service_and_a_second_release_updates_it() {
    let docker = docker().await;
    let instance = instance("update", 19500);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let events = Recorded::default();
    let sink = events.sink();
    let rollout = Rollout::new(&instance.tenant, &prober, &sink, VERIFY);
    let (v1, v2) = (
        release("1.0.0", App::Healthy),
        release("2.0.0", App::Healthy),
    );

    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(observed.workload, WorkloadState::Missing);

    let applied = runtime.roll_out(&instance, &v1, &rollout).await.unwrap();
    assert_eq!(applied.message, "1 task(s) run 1.0.0 and answer /healthz");
    assert!(events.saw("starting: creating service hoist-swarm-test-update with 1.0.0"));
    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(
        running(&observed),
        Some((v1.image_id.as_str(), Some("1.0.0")))
    );
    assert_eq!(get(19500, "/version").await.as_deref(), Some("1.0.0"));

    runtime.roll_out(&instance, &v2, &rollout).await.unwrap();
    assert!(events.saw("starting: updating service hoist-swarm-test-update to 2.0.0"));
    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(
        running(&observed),
        Some((v2.image_id.as_str(), Some("2.0.0")))
    );
    assert_eq!(observed.notes, ["1/1 tasks running 2.0.0"]);
    assert_eq!(get(19500, "/version").await.as_deref(), Some("2.0.0"));
    assert_only_runs(&docker, &instance.name, &v2).await;

    // The same release again sends nothing: Swarm's previous spec stays the way back.
    let version = service_version(&docker, &instance.name).await;
    runtime.roll_out(&instance, &v2, &rollout).await.unwrap();
    assert_eq!(service_version(&docker, &instance.name).await, version);

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn a_release_that_never_answers_its_health_check_is_rolled_back_by_swarm() {
    let docker = docker().await;
    let instance = instance("unhealthy", 19501);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let events = Recorded::default();
    let sink = events.sink();
    let (good, bad) = (
        release("1.0.0", App::Healthy),
        release("3.0.0-nohealth", App::NoHealth),
    );
    runtime
        .roll_out(
            &instance,
            &good,
            &Rollout::new(&instance.tenant, &prober, &sink, VERIFY),
        )
        .await
        .unwrap();

    // A client asks for the version all along.
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                seen.push((Instant::now(), get(19501, "/version").await));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        }
    });

    let rollout = Rollout::new(&instance.tenant, &prober, &sink, UNHEALTHY);
    let failure = runtime
        .roll_out(&instance, &bad, &rollout)
        .await
        .unwrap_err();
    let failed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = client.await.unwrap();

    assert_eq!(failure.state, InstanceState::RolledBack, "{failure:?}");
    assert!(
        failure.message.starts_with("not verified within 6s: waiting for /healthz to answer 2xx (it answered 404); Swarm rolled hoist-swarm-test-unhealthy back to 1.0.0, which serves again"),
        "{}",
        failure.message
    );
    assert!(events.saw("rolling back:"), "{:?}", events.messages());
    assert_eq!(
        update_state(&docker, &instance.name).await,
        "rollback_completed"
    );
    assert_only_runs(&docker, &instance.name, &good).await;
    assert_eq!(get(19501, "/version").await.as_deref(), Some("1.0.0"));
    let answers: Vec<Option<&str>> = seen.iter().map(|(_, v)| v.as_deref()).collect();
    assert_eq!(answers.first(), Some(&Some("1.0.0")), "{answers:?}");
    assert!(
        seen.iter()
            .any(|(at, v)| *at >= failed_at && v.as_deref() == Some("1.0.0")),
        "the old version answered after the failure: {answers:?}"
    );

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn a_task_that_exits_is_rolled_back_by_swarm_itself_with_its_output() {
    let docker = docker().await;
    let instance = instance("crash", 19502);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let sink = Recorded::default().sink();
    let rollout = Rollout::new(&instance.tenant, &prober, &sink, VERIFY);
    let (good, crash) = (
        release("1.0.0", App::Healthy),
        release("4.0.0-crash", App::Crashes),
    );
    runtime.roll_out(&instance, &good, &rollout).await.unwrap();

    let failure = runtime
        .roll_out(&instance, &crash, &rollout)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::RolledBack, "{failure:?}");
    assert!(
        failure.message.starts_with(
            "Swarm rolled the update back: task hoist-swarm-test-crash.1: failed: task: non-zero exit (3)"
        ),
        "{}",
        failure.message
    );
    assert!(
        failure.log_tail.iter().any(|l| l == "boom"),
        "{:?}",
        failure.log_tail
    );
    assert!(
        failure.log_tail.contains(
            &"task hoist-swarm-test-crash.1: failed: task: non-zero exit (3)".to_string()
        ),
        "{:?}",
        failure.log_tail
    );
    assert_only_runs(&docker, &instance.name, &good).await;
    assert_eq!(get(19502, "/version").await.as_deref(), Some("1.0.0"));

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn a_first_deploy_that_fails_has_nothing_to_roll_back_to() {
    let docker = docker().await;
    let instance = instance("first-fail", 19503);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let sink = Recorded::default().sink();
    let rollout = Rollout::new(&instance.tenant, &prober, &sink, VERIFY);

    let crash = release("4.0.0-crash", App::Crashes);
    let failure = runtime
        .roll_out(&instance, &crash, &rollout)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::Failed, "{failure:?}");
    assert!(
        failure.message.starts_with("tasks keep failing (3 attempts): task hoist-swarm-test-first-fail.1: failed: task: non-zero exit (3)"),
        "{}",
        failure.message
    );
    assert!(
        failure.log_tail.iter().any(|l| l == "boom"),
        "{:?}",
        failure.log_tail
    );

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn roll_back_returns_to_the_previous_release_by_swarms_rollback() {
    let docker = docker().await;
    let instance = instance("rollback", 19504);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let events = Recorded::default();
    let sink = events.sink();
    let rollout = Rollout::new(&instance.tenant, &prober, &sink, VERIFY);
    let (v1, v2) = (
        release("1.0.0", App::Healthy),
        release("2.0.0", App::Healthy),
    );
    runtime.roll_out(&instance, &v1, &rollout).await.unwrap();
    runtime.roll_out(&instance, &v2, &rollout).await.unwrap();

    let applied = runtime.roll_back(&instance, &v1, &rollout).await.unwrap();
    assert_eq!(applied.message, "1 task(s) run 1.0.0 and answer /healthz");
    assert!(
        events.saw("rolling back: Swarm rolls service hoist-swarm-test-rollback back to 1.0.0")
    );
    assert_eq!(
        update_state(&docker, &instance.name).await,
        "rollback_completed"
    );
    assert_only_runs(&docker, &instance.name, &v1).await;
    assert_eq!(get(19504, "/version").await.as_deref(), Some("1.0.0"));

    // Swarm's previous spec is now 2.0.0's; a rollback to a release it does not hold is a
    // roll-out of that release.
    let v3 = release("3.0.0", App::Healthy);
    runtime.roll_back(&instance, &v3, &rollout).await.unwrap();
    assert_eq!(update_state(&docker, &instance.name).await, "completed");
    assert_eq!(get(19504, "/version").await.as_deref(), Some("3.0.0"));

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn observe_says_what_the_tasks_run_and_what_went_wrong() {
    let docker = docker().await;
    let instance = instance("status", 19505);
    remove_service(&docker, &instance.name).await;
    let runtime = SwarmRuntime::new(settings());
    let prober = HttpProber::new();
    let sink = Recorded::default().sink();
    let rollout = Rollout::new(&instance.tenant, &prober, &sink, VERIFY);

    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(observed.workload, WorkloadState::Missing);
    assert_eq!(observed.notes, ["no service hoist-swarm-test-status"]);
    assert_eq!(observed.endpoint.port, 19505);

    let v1 = release("1.0.0", App::Healthy);
    runtime.roll_out(&instance, &v1, &rollout).await.unwrap();
    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(observed.notes, ["1/1 tasks running 1.0.0"]);

    // An image the node does not have: the task is rejected, Swarm rolls back by itself.
    let mut missing = release("5.0.0-missing", App::Healthy);
    missing.image_id = format!("sha256:{}", "0".repeat(64));
    let failure = runtime
        .roll_out(&instance, &missing, &rollout)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::RolledBack, "{failure:?}");
    let observed = runtime.observe(&instance).await.unwrap();
    assert_eq!(
        running(&observed),
        Some((v1.image_id.as_str(), Some("1.0.0")))
    );
    let rejected = format!(
        "task hoist-swarm-test-status.1: rejected: No such image: {}",
        missing.image_id
    );
    // When Swarm's rollback deadlocked (see `verdict::stuck`) hoist re-sent the spec, and
    // the service's last change is that update, not the rollback.
    if update_state(&docker, &instance.name).await == "rollback_completed" {
        assert_eq!(
            observed.notes,
            [
                "1/1 tasks running 1.0.0".to_string(),
                format!("the last update was rolled back ({rejected})"),
            ]
        );
    } else {
        assert_eq!(observed.notes, ["1/1 tasks running 1.0.0"]);
    }
    remove_service(&docker, &instance.name).await;

    // A first deploy of it: nothing to roll back to, and status says why nothing runs.
    let instance = common::instance("status-missing", 19508);
    remove_service(&docker, &instance.name).await;
    let short = Rollout::new(&instance.tenant, &prober, &sink, Duration::from_secs(3));
    let failure = runtime
        .roll_out(&instance, &missing, &short)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::Failed, "{failure:?}");
    let observed = runtime.observe(&instance).await.unwrap();
    assert!(!observed.workload.is_running(), "{:?}", observed.workload);
    assert_eq!(
        observed.notes,
        [
            "0/1 tasks running 5.0.0-missing".to_string(),
            rejected.replace("status.1", "status-missing.1"),
        ]
    );

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn a_run_killed_mid_update_is_recovered_and_the_rerun_ends_on_one_release() {
    let docker = docker().await;
    let instance = instance("killed", 19506);
    remove_service(&docker, &instance.name).await;
    // A long monitor keeps the update in progress while the run is killed.
    let mut slow = settings();
    slow.update.monitor = Duration::from_secs(5);
    let runtime = Arc::new(SwarmRuntime::new(slow));
    let prober = Arc::new(HttpProber::new());
    let events = Recorded::default();
    let sink = events.sink();
    let (v1, v2) = (
        release("1.0.0", App::Healthy),
        release("2.0.0", App::Healthy),
    );
    runtime
        .roll_out(
            &instance,
            &v1,
            &Rollout::new(&instance.tenant, prober.as_ref(), &sink, VERIFY),
        )
        .await
        .unwrap();

    let killed = tokio::spawn({
        let (runtime, prober, sink, instance, v2) = (
            runtime.clone(),
            prober.clone(),
            sink.clone(),
            instance.clone(),
            v2.clone(),
        );
        async move {
            let rollout = Rollout::new(&instance.tenant, prober.as_ref(), &sink, VERIFY);
            runtime.roll_out(&instance, &v2, &rollout).await
        }
    });
    wait_for_state(&docker, &instance.name, "updating", Duration::from_secs(10)).await;
    killed.abort();
    assert!(killed.await.unwrap_err().is_cancelled());
    assert_eq!(update_state(&docker, &instance.name).await, "updating");

    // The rerun: recover, then what the pipeline does.
    let rollout = Rollout::new(&instance.tenant, prober.as_ref(), &sink, VERIFY);
    let done = runtime.recover(&instance).await.unwrap();
    assert_eq!(
        done[0],
        "rolled back an interrupted update of service hoist-swarm-test-killed; its spec is 1.0.0 again"
    );
    // Swarm's rollback of a task that was never scheduled can deadlock (see
    // `verdict::stuck`); then hoist sent the spec again, and that update is the last one.
    let settled = update_state(&docker, &instance.name).await;
    match done.len() {
        1 => assert_eq!(settled, "rollback_completed"),
        _ => {
            assert!(done[1].starts_with("Swarm was stuck"), "{done:?}");
            assert_eq!(settled, "completed");
        }
    }
    assert_only_runs(&docker, &instance.name, &v1).await;
    assert_eq!(
        deploy(runtime.as_ref(), &instance, &v2, &rollout)
            .await
            .unwrap(),
        InstanceState::Healthy
    );
    assert_only_runs(&docker, &instance.name, &v2).await;
    assert_eq!(get(19506, "/version").await.as_deref(), Some("2.0.0"));
    // Run again: nothing to do.
    assert!(runtime.recover(&instance).await.unwrap().is_empty());
    assert_eq!(
        deploy(runtime.as_ref(), &instance, &v2, &rollout)
            .await
            .unwrap(),
        InstanceState::Unchanged
    );

    remove_service(&docker, &instance.name).await;
}

#[tokio::test]
async fn an_update_swarm_finished_while_hoist_was_dead_is_verified_by_the_rerun() {
    let docker = docker().await;
    let instance = instance("killed-bad", 19507);
    remove_service(&docker, &instance.name).await;
    let runtime = Arc::new(SwarmRuntime::new(settings()));
    let prober = Arc::new(HttpProber::new());
    let sink = Recorded::default().sink();
    let (good, bad) = (
        release("1.0.0", App::Healthy),
        release("3.0.0-nohealth", App::NoHealth),
    );
    runtime
        .roll_out(
            &instance,
            &good,
            &Rollout::new(&instance.tenant, prober.as_ref(), &sink, VERIFY),
        )
        .await
        .unwrap();

    let killed = tokio::spawn({
        let (runtime, prober, sink, instance, bad) = (
            runtime.clone(),
            prober.clone(),
            sink.clone(),
            instance.clone(),
            bad.clone(),
        );
        async move {
            let rollout = Rollout::new(&instance.tenant, prober.as_ref(), &sink, VERIFY);
            runtime.roll_out(&instance, &bad, &rollout).await
        }
    });
    wait_for_state(&docker, &instance.name, "updating", Duration::from_secs(10)).await;
    killed.abort();
    let _ = killed.await;
    // While hoist is dead Swarm finishes the update: its task runs, and Swarm does not
    // know that it never answers.
    wait_for_state(
        &docker,
        &instance.name,
        "completed",
        Duration::from_secs(30),
    )
    .await;
    assert_only_runs(&docker, &instance.name, &bad).await;

    let rollout = Rollout::new(&instance.tenant, prober.as_ref(), &sink, UNHEALTHY);
    assert!(runtime.recover(&instance).await.unwrap().is_empty());
    let failure = deploy(runtime.as_ref(), &instance, &bad, &rollout)
        .await
        .unwrap_err();
    assert_eq!(failure.state, InstanceState::RolledBack, "{failure:?}");
    assert_only_runs(&docker, &instance.name, &good).await;
    assert_eq!(get(19507, "/version").await.as_deref(), Some("1.0.0"));

    remove_service(&docker, &instance.name).await;
}

async fn service_version(docker: &bollard::Docker, name: &str) -> Option<u64> {
    docker
        .inspect_service(
            name,
            None::<bollard::query_parameters::InspectServiceOptions>,
        )
        .await
        .expect("inspect service")
        .version
        .and_then(|v| v.index)
}
