//! Release tasks as Jobs, at the runtime's seam, against the FAKE API server of
//! `common::fake_apiserver` (no real API server runs here). The fake decides a Job's
//! outcome from its command (see its docs). Ports 20920-20929.

mod common;

use std::time::Duration;

use common::fake_apiserver::FakeApiServer;
use common::*;
use hoist_core::runtime::Runtime;
use hoist_core::task::{TaskOutcome, TaskSpec};
use hoist_runtime_k8s::KubernetesRuntime;
use serde_json::json;

const NS: &str = "hoist-k8s-north";

fn task(script: &str) -> TaskSpec {
    TaskSpec {
        name: "migrate".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn a_job_left_by_a_killed_hoist_is_replaced_and_a_failure_keeps_its_exit_code_and_output() {
    let fake = FakeApiServer::start_in(Default::default(), 20920..=20929).await;
    fake.add_deployment(NS, "emr", "app", &format!("{REPO}@{OLD}"), 1);
    fake.set_env(NS, "emr", json!([{"name": "TENANT", "value": "north"}]));
    let dir = tempfile::tempdir().unwrap();
    let runtime = KubernetesRuntime::new(settings(&fake.write_kubeconfig(dir.path())));
    let release = release("v2.0.0", NEW);
    let name = hoist_runtime_k8s::job::job_name(&instance(), &task(""), &release);
    assert_eq!(name, "hoist-k8s-emr-production-north-migrate-22222222");
    fake.add_job(
        NS,
        json!({"metadata": {"name": name}, "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "app", "image": "old", "args": ["sh", "-c", "sleep 600"]}]
        }}}}),
    );

    let run = runtime
        .run_task(
            &instance(),
            &release,
            &task("echo no database for $TENANT; exit 4"),
        )
        .await
        .unwrap();
    assert_eq!(run.outcome(), TaskOutcome::Failed);
    assert_eq!(run.exit_code, Some(4));
    assert_eq!(run.output, ["no database for north"]);
    let created = fake.created_jobs();
    assert_eq!(created.len(), 2, "the left Job, then hoist's");
    assert_eq!(
        created[1]["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{REPO}@{NEW}")
    );
    assert!(fake.jobs().is_empty() && fake.job_pods().is_empty());

    // Logs are asked for by container and tail, as `kubectl logs --tail` does.
    let log = fake
        .seen()
        .into_iter()
        .find(|s| s.path_and_query.contains("/log"))
        .expect("a log request");
    assert!(
        log.path_and_query.contains("container=app") && log.path_and_query.contains("tailLines=30"),
        "{}",
        log.path_and_query
    );
}

#[tokio::test]
async fn a_missing_deployment_is_an_error_before_any_job() {
    let fake = FakeApiServer::start_in(Default::default(), 20920..=20929).await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = KubernetesRuntime::new(settings(&fake.write_kubeconfig(dir.path())));
    let e = runtime
        .run_task(&instance(), &release("v2.0.0", NEW), &task("true"))
        .await
        .unwrap_err();
    assert!(
        e.message
            .contains("deployment \"emr\" in namespace \"hoist-k8s-north\" does not exist"),
        "{}",
        e.message
    );
    assert!(fake.created_jobs().is_empty());
}
