//! `Runtime::run_task` of the HTTP runtime, written in the generic form against the FAKE
//! platform's one-off Machines (`common::fake_platform`; THE FAKE INTERPRETS A TINY `sh -c`
//! INSTEAD OF RUNNING THE IMAGE): the exit code read from the run's status, the output
//! from a logs request (the fake's generic API), the instance's env and secrets sent in
//! the body only, a stop at the timeout, no `task` requests, and a
//! refused credential. Ports 21050-21089, names `hoist-httptask-*`.

mod common;

use std::time::Duration;

use common::fake_platform::{FakePlatform, Scenario, TOKEN};
use common::*;
use hoist_core::runtime::Runtime;
use hoist_core::task::TaskSpec;
use hoist_core::{InstanceSpec, Release};
use hoist_runtime_http::{HttpRuntime, HttpSettings, RequestSpec, TaskRequests};
use serde_json::json;

const SECRET: &str = "hoist-httptask-unit-s3cret";
const APP: &str = "hoist-httptask-north";

async fn fake(scenario: Scenario) -> FakePlatform {
    let fake = FakePlatform::start_in(scenario, 21050..=21089).await;
    fake.add_app(
        "north",
        "registry.example.com/hoist-http-test/clinic:v1.0.0",
    );
    fake
}

/// The generic form, its `task` requests aimed at the fake's one-off Machines.
fn runtime(fake: &FakePlatform, wait: bool) -> HttpRuntime {
    HttpRuntime::new(settings(fake, wait))
}

fn settings(fake: &FakePlatform, wait: bool) -> HttpSettings {
    let machines = format!("{}/v1/apps/{APP}/machines", fake.url());
    let machine = format!("{machines}/{{{{ task_id }}}}");
    let request = |method: &str, url: String, body: Option<&str>| RequestSpec {
        method: method.into(),
        url,
        body: body.map(str::to_string),
    };
    let mut settings = generic(fake, Duration::from_secs(20));
    settings.task = Some(TaskRequests {
        start: request(
            "POST",
            machines.clone(),
            Some(
                r#"{"config": {"image": {{ image_ref }}, "init": {"cmd": {{ task_command }}}, "env": {{ env }}, "auto_destroy": true, "restart": {"policy": "no"}}}"#,
            ),
        ),
        id: "/id".into(),
        instance: Some("/instance_id".into()),
        wait: wait.then(|| {
            request(
                "GET",
                format!("{machine}/wait?instance_id={{{{ task_instance }}}}&state=stopped&timeout={{{{ wait_seconds }}}}"),
                None,
            )
        }),
        status: request("GET", machine.clone(), None),
        state: "/state".into(),
        done: vec!["stopped".into(), "destroyed".into()],
        exit_code: "/events/*/request/exit_event/exit_code".into(),
        logs: None,
        lines: None,
        stop: Some(request("POST", format!("{machine}/stop"), None)),
        remove: Some(request("DELETE", format!("{machine}?force=true"), None)),
        output_hint: None,
    });
    settings
}

fn tenant() -> InstanceSpec {
    let mut instance = instance();
    instance.env.insert("TENANT".into(), "north".into());
    instance.secrets.insert(
        "DB_PASSWORD",
        hoist_secrets::Secret::new("clinic", "DB_PASSWORD", SECRET.into()),
    );
    instance
}

fn task(script: &str, timeout: Duration) -> TaskSpec {
    TaskSpec {
        name: "migrate".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        timeout,
    }
}

fn v2() -> Release {
    release("v2.0.0", None)
}

#[tokio::test]
async fn a_task_runs_once_with_the_env_and_its_exit_code_comes_from_the_run_s_status() {
    let fake = fake(Scenario::default()).await;
    let run = runtime(&fake, true)
        .run_task(
            &tenant(),
            &v2(),
            &task("echo $TENANT $DB_PASSWORD; exit 4", Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(run.exit_code, Some(4));
    assert!(!run.timed_out);
    assert_eq!(
        run.output,
        ["http keeps no output hoist can read: see the platform's logs"]
    );
    let machines = fake.task_machines();
    assert_eq!(machines.len(), 1);
    let machine = &machines[0];
    assert_eq!(machine.output, [format!("north {SECRET}")]);
    assert_eq!(machine.state, "destroyed");
    let config = &machine.created_with["config"];
    assert_eq!(config["image"], format!("{REPO}:v2.0.0"));
    assert_eq!(
        config["init"]["cmd"],
        json!(["sh", "-c", "echo $TENANT $DB_PASSWORD; exit 4"])
    );
    assert_eq!(
        config["env"],
        json!({"TENANT": "north", "DB_PASSWORD": SECRET})
    );
    for seen in fake.seen() {
        assert!(
            !seen.path_and_query.contains(SECRET),
            "{}",
            seen.path_and_query
        );
    }
}

#[tokio::test]
async fn a_logs_request_gives_the_kept_output_line_by_line() {
    let fake = fake(Scenario::default()).await;
    let mut settings = settings(&fake, true);
    let requests = settings.task.as_mut().unwrap();
    requests.logs = Some(RequestSpec {
        method: "GET".into(),
        url: format!("{}/api/apps/{APP}/runs/{{{{ task_id }}}}/logs", fake.url()),
        body: None,
    });
    requests.lines = Some("/entries".into());
    let run = HttpRuntime::new(settings)
        .run_task(
            &tenant(),
            &v2(),
            &task(
                "echo migrating $TENANT; echo done; exit 3",
                Duration::from_secs(20),
            ),
        )
        .await
        .unwrap();
    assert_eq!(run.exit_code, Some(3));
    assert_eq!(run.output, ["migrating north", "done"]);
    let machine = &fake.task_machines()[0];
    let read = format!("/v1/apps/{APP}/machines/{}", machine.id);
    let logs = format!("/api/apps/{APP}/runs/{}/logs", machine.id);
    let paths: Vec<String> = fake.seen().into_iter().map(|s| s.path_and_query).collect();
    // The output is read once the run is done, before the run is removed.
    let logs_at = paths
        .iter()
        .position(|p| *p == logs)
        .expect("a logs request");
    let removed_at = paths
        .iter()
        .position(|p| p.starts_with(&read) && p.ends_with("?force=true"))
        .expect("a remove request");
    assert!(logs_at < removed_at, "{paths:#?}");
}

#[tokio::test]
async fn a_zero_exit_code_left_out_by_the_platform_is_success() {
    let fake = fake(Scenario::default()).await;
    let run = runtime(&fake, false)
        .run_task(&tenant(), &v2(), &task("echo ok", Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(run.exit_code, Some(0));
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_then_removed() {
    let fake = fake(Scenario::default()).await;
    let run = runtime(&fake, false)
        .run_task(&tenant(), &v2(), &task("sleep 30", Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(run.timed_out);
    assert_eq!(run.exit_code, None);
    let machine = &fake.task_machines()[0];
    assert_eq!(machine.state, "destroyed");
    let calls: Vec<String> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method != "GET")
        .map(|s| format!("{} {}", s.method, s.path_and_query))
        .collect();
    let path = format!("/v1/apps/{APP}/machines");
    assert_eq!(
        calls,
        [
            format!("POST {path}"),
            format!("POST {path}/{}/stop", machine.id),
            format!("DELETE {path}/{}?force=true", machine.id),
        ]
    );
}

#[tokio::test]
async fn without_task_requests_a_task_cannot_run() {
    let fake = fake(Scenario::default()).await;
    let err = HttpRuntime::new(generic(&fake, Duration::from_secs(5)))
        .run_task(&tenant(), &v2(), &task("true", Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("has no `task` requests"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("[environments.production.runtime.task]"),
        "{}",
        err.message
    );
    assert!(fake.task_machines().is_empty());
}

#[tokio::test]
async fn a_refused_start_names_neither_the_token_nor_a_secret() {
    let fake = fake(Scenario {
        unauthorized: true,
        ..Scenario::default()
    })
    .await;
    let err = runtime(&fake, true)
        .run_task(&tenant(), &v2(), &task("true", Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(err.message.contains("401"), "{}", err.message);
    assert!(!err.message.contains(TOKEN), "{}", err.message);
    assert!(!err.message.contains(SECRET), "{}", err.message);
}
