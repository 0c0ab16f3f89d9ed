//! Hooks run as real `sh -c` processes in a temporary app directory.

use std::path::Path;
use std::time::{Duration, Instant};

use hoist_hooks::{HookCommand, HookContext, HookError, Hooks, OUTPUT_LINES, Outcome, Stage};

fn context(dir: &Path) -> HookContext {
    HookContext {
        dir: dir.to_path_buf(),
        app: "clinic".into(),
        version: "1.4.2".into(),
        environment: "production".into(),
        actor: "amitav".into(),
        image: Some("registry.example.com/clinic:1.4.2".into()),
        outcome: Some(Outcome::Failed),
    }
}

#[tokio::test]
async fn hooks_get_the_deploy_in_their_environment_and_run_in_the_app_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hooks = Hooks {
        before_deploy: vec![HookCommand::new(
            "env | grep '^HOIST_' | sort > env.txt; pwd > pwd.txt",
        )],
        after_deploy: vec![HookCommand::new(
            "echo \"$HOIST_HOOK $HOIST_OUTCOME\" > after.txt",
        )],
        ..Hooks::default()
    };
    let ctx = context(dir.path());

    let runs = hooks
        .run(Stage::BeforeDeploy, &ctx)
        .await
        .expect("hook ran");
    assert_eq!(runs.len(), 1);
    let env = std::fs::read_to_string(dir.path().join("env.txt")).expect("env.txt");
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(
        lines,
        [
            "HOIST_ACTOR=amitav",
            "HOIST_APP=clinic",
            "HOIST_ENVIRONMENT=production",
            "HOIST_HOOK=before_deploy",
            "HOIST_IMAGE=registry.example.com/clinic:1.4.2",
            "HOIST_VERSION=1.4.2",
        ],
        "HOIST_OUTCOME belongs to after_deploy only"
    );
    let pwd = std::fs::read_to_string(dir.path().join("pwd.txt")).expect("pwd.txt");
    assert_eq!(
        Path::new(pwd.trim()).canonicalize().expect("pwd"),
        dir.path().canonicalize().expect("dir")
    );

    hooks.run(Stage::AfterDeploy, &ctx).await.expect("hook ran");
    let after = std::fs::read_to_string(dir.path().join("after.txt")).expect("after.txt");
    assert_eq!(after.trim(), "after_deploy failed");
}

#[tokio::test]
async fn a_failing_hook_stops_the_stage_with_its_status_and_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hooks = Hooks {
        before_deploy: vec![
            HookCommand::new(
                "echo migrating; echo 'relation \"users\" already exists' >&2; exit 3",
            ),
            HookCommand::new("touch second-ran"),
        ],
        ..Hooks::default()
    };
    let err = hooks
        .run(Stage::BeforeDeploy, &context(dir.path()))
        .await
        .expect_err("the hook fails");
    match &err {
        HookError::Failed { code, output, .. } => {
            assert_eq!(*code, Some(3));
            assert_eq!(output, &["migrating", "relation \"users\" already exists"]);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.starts_with("before_deploy hook `echo migrating;"),
        "{shown}"
    );
    assert!(shown.contains("failed with exit status 3"), "{shown}");
    assert!(
        shown.contains("\n  | relation \"users\" already exists"),
        "{shown}"
    );
    assert!(
        !dir.path().join("second-ran").exists(),
        "the stage stops at the first failure"
    );
}

#[tokio::test]
async fn only_the_tail_of_a_long_output_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hooks = Hooks {
        before_build: vec![HookCommand::new("seq 1 5000; exit 1")],
        ..Hooks::default()
    };
    let err = hooks
        .run(Stage::BeforeBuild, &context(dir.path()))
        .await
        .expect_err("the hook fails");
    let output = err.output();
    assert_eq!(output.len(), OUTPUT_LINES);
    assert_eq!(output.last().map(String::as_str), Some("5000"));
}

#[tokio::test]
async fn a_missing_directory_is_an_error_not_a_panic() {
    let hooks = Hooks {
        before_build: vec![HookCommand::new("true")],
        ..Hooks::default()
    };
    let err = hooks
        .run(Stage::BeforeBuild, &context(Path::new("/nonexistent/app")))
        .await
        .expect_err("cannot start");
    assert!(matches!(err, HookError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn a_hook_past_its_timeout_is_killed_with_everything_it_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The shell starts a grandchild and waits: killing only the shell would leave it.
    let hooks = Hooks {
        before_deploy: vec![HookCommand {
            run: "echo starting; sleep 30 & echo $! > sleeper.pid; wait".into(),
            timeout: Duration::from_millis(500),
        }],
        ..Hooks::default()
    };
    let started = Instant::now();
    let err = hooks
        .run(Stage::BeforeDeploy, &context(dir.path()))
        .await
        .expect_err("the hook times out");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
    assert!(matches!(err, HookError::TimedOut { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out after 500ms"), "{err}");
    assert_eq!(err.output(), ["starting"]);

    let pid = std::fs::read_to_string(dir.path().join("sleeper.pid")).expect("pid file");
    let pid = pid.trim();
    // Gone, or a zombie waiting for init to reap it: either way no longer running.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if stat.is_empty() || state == Some('Z') {
            break;
        }
        assert!(Instant::now() < deadline, "sleep {pid} still runs: {stat}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
