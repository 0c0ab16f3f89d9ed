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
            timeout: Duration::from_millis(500),
            ..HookCommand::new("echo starting; sleep 30 & echo $! > sleeper.pid; wait")
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

/// What a CI job hands hoist: its own credentials, and a few variables a hook may ask for.
const HOIST_ENVIRONMENT: [(&str, &str); 7] = [
    ("ZULIP_API_KEY", "zulip-key-PLANTED-0001"),
    ("REGISTRY_PASSWORD", "registry-pass-PLANTED-0002"),
    (
        "HOIST_WEBHOOK_SECRET",
        "whsec_UExBTlRFRC0wMDAzLXdlYmhvb2stc2VjcmV0",
    ),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-PLANTED-0004"),
    ("AWS_PROFILE", "deploy-profile"),
    ("DB_PASSWORD", "db-pass-PLANTED-0005"),
    ("HOIST_IMAGE", "stale-image-from-the-parent"),
];
/// Set in the child process that runs the test body.
const CHILD: &str = "HOIST_HOOKS_TEST_CHILD";

/// Hooks run with hoist's real process environment, so the test runs its body again in a
/// child process of this test binary started with the planted variables (setting them in
/// this process would race with other tests reading the environment).
#[test]
fn hooks_never_see_hoists_credentials_only_what_they_name() {
    if std::env::var_os(CHILD).is_none() {
        let exe = std::env::current_exe().expect("test binary");
        let output = std::process::Command::new(exe)
            .args([
                "--exact",
                "hooks_never_see_hoists_credentials_only_what_they_name",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .envs(HOIST_ENVIRONMENT)
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child failed:\n{stdout}\n{stderr}"
        );
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(child_body());
}

async fn child_body() {
    // The planted variables are in this process's environment...
    for (name, value) in HOIST_ENVIRONMENT {
        assert_eq!(std::env::var(name).as_deref(), Ok(value));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ctx = context(dir.path());
    ctx.image = None;

    // ...a hook that names nothing sees none of them.
    let plain = Hooks {
        before_deploy: vec![HookCommand::new("env > env.txt")],
        ..Hooks::default()
    };
    plain
        .run(Stage::BeforeDeploy, &ctx)
        .await
        .expect("hook ran");
    let env = std::fs::read_to_string(dir.path().join("env.txt")).expect("env.txt");
    for (name, value) in HOIST_ENVIRONMENT {
        assert!(
            !env.contains(value),
            "{name}'s value reached the hook:\n{env}"
        );
    }
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, _)| n)
        .collect();
    // What `sh` itself adds (PWD, SHLVL, `_`) besides the allow-list.
    let allowed = ["PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_"];
    for name in &names {
        assert!(
            allowed.contains(name) || name.starts_with("HOIST_"),
            "{name} is not on the allow-list:\n{env}"
        );
    }
    assert!(names.contains(&"PATH"), "{env}");
    assert!(
        !names.contains(&"HOIST_IMAGE") && !names.contains(&"HOIST_WEBHOOK_SECRET"),
        "only the HOIST_* variables hoist sets for this hook:\n{env}"
    );

    // A hook that names variables gets those, with credentials masked in its output.
    let named = Hooks {
        before_deploy: vec![HookCommand {
            pass_env: vec!["AWS_PROFILE".into(), "DB_PASSWORD".into()],
            env: [("RAILS_ENV".to_string(), "production".to_string())].into(),
            ..HookCommand::new(
                "echo \"$AWS_PROFILE $RAILS_ENV ${ZULIP_API_KEY:-unset}\" > named.txt; \
                 printf %s \"$DB_PASSWORD\" > got-password; \
                 echo \"connecting with $DB_PASSWORD as $AWS_PROFILE\"; exit 2",
            )
        }],
        ..Hooks::default()
    };
    let err = named
        .run(Stage::BeforeDeploy, &ctx)
        .await
        .expect_err("the hook fails");
    let named_txt = std::fs::read_to_string(dir.path().join("named.txt")).expect("named.txt");
    assert_eq!(named_txt.trim(), "deploy-profile production unset");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("got-password")).expect("got-password"),
        "db-pass-PLANTED-0005",
        "DB_PASSWORD was passed"
    );
    assert_eq!(
        err.output(),
        ["connecting with <redacted> as deploy-profile"]
    );
    assert!(!err.to_string().contains("db-pass-PLANTED-0005"), "{err}");
}
