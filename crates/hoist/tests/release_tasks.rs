//! Release tasks against the real Docker engine: a task runs the new release's image once
//! per tenant, with its env, secrets and volumes, before the tenant switches; a failing or
//! timed-out task leaves the tenant on its old release with the task's output shown; a
//! retried deploy skips tasks that succeeded; `--force-tasks` runs them again. Needs a
//! running engine and Debian's busybox-static (`.ci/run` installs both). Volumes are named
//! `hoist-vol-task-*`.

mod support;

use support::volume::{self, Volumes};
use support::{App, Run, http_get};

const PORTS: [u16; 2] = [20351, 20352];
/// The tenants' database password, given to hoist in its environment and to the task as a
/// secret; the task echoes it, and nothing hoist keeps may show it.
const SECRET: &str = "hoist-task-s3cret-pw";
/// Each tenant's data: a named volume per tenant, mounted by its instance and its tasks.
const VOLUMES: &str = "volumes = [\"hoist-vol-task-{tenant}:/data\"]";

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

fn assert_serving(version: &str) {
    for port in PORTS {
        assert_eq!(version_on(port).as_deref(), Some(version), "port {port}");
    }
}

/// hoist.toml with the tenants' volumes and one task running `script` under `sh -c`, and
/// `extra` appended.
fn configure(app: &App, health_timeout: &str, script: &str, timeout: &str, extra: &str) {
    app.write_config_with(
        health_timeout,
        &format!(
            "[environments.staging.secrets]\nDB_PASSWORD = {{ env = \"HOIST_TASK_TEST_DB\" }}\n\n\
             [[environments.staging.tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", {script:?}]\n\
             timeout = \"{timeout}\"\n{extra}"
        ),
    );
    app.staging_keys(VOLUMES);
}

fn hoist(app: &App, args: &[&str]) -> Run {
    let out = app
        .hoist_command(args)
        .env("HOIST_TASK_TEST_DB", SECRET)
        .output()
        .expect("run hoist");
    let run = Run::from(out);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(SECRET),
            "hoist {args:?} showed the secret:\n{text}"
        );
    }
    run
}

/// `hoist history --json`'s task runs, oldest first.
fn task_runs(app: &App) -> Vec<serde_json::Value> {
    let mut runs = hoist(app, &["history", "staging", "--json"]).ok().json()["tasks"]
        .as_array()
        .expect("tasks in history")
        .clone();
    runs.reverse();
    runs
}

fn runs_of(app: &App, version: &str) -> Vec<serde_json::Value> {
    task_runs(app)
        .into_iter()
        .filter(|r| r["version"] == version)
        .collect()
}

/// No task container is left on the engine.
fn assert_no_task_containers(app: &App) {
    let left: Vec<String> = app
        .containers()
        .into_iter()
        .filter(|c| c.contains("--task-"))
        .collect();
    assert!(left.is_empty(), "task containers left: {left:?}");
}

/// The migrate task: leaves its marker in the tenant's volume, as a real migration
/// changes the tenant's database (a SQLite file there): the tenant and version it ran
/// for, from its env, and the version the tenant's app last started with (`serving`, which
/// the app writes at start; `none` before any did). Then it says what it did.
const MIGRATE: &str = "echo \"$TENANT $APP_VERSION serving=$(cat /data/serving 2>/dev/null || echo none)\" >> /data/migrations && \
     echo \"migrated $TENANT to $APP_VERSION with $DB_PASSWORD\"";

/// The markers in `tenant`'s volume, one line per task run, read from outside hoist.
fn markers(app: &App, tenant: &str, image_version: &str) -> Vec<String> {
    let image = format!("hoist-test/{}:{image_version}", app.name);
    volume::read(&format!("hoist-vol-task-{tenant}"), "migrations", &image)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn tasks_run_before_the_switch_block_it_when_they_fail_and_are_skipped_when_done() {
    // Before the app: its containers are removed first, then the volumes.
    let _volumes = Volumes::new(&["hoist-vol-task-t0", "hoist-vol-task-t1"]);
    let app = App::new("hoist-task-mig", &PORTS);
    volume::dockerfile(&app, 0);
    configure(&app, "5s", MIGRATE, "30s", "");
    app.release("v1.0.0");

    // The task runs the new image (its APP_VERSION), with the tenant's env, secret and
    // volume (which the engine creates for it: nothing of the tenant ran before).
    let first = hoist(&app, &["deploy", "staging"]).ok();
    assert!(
        first.stderr.contains("task migrate: succeeded"),
        "{}",
        first.stderr
    );
    assert_serving("v1.0.0");
    let runs = runs_of(&app, "v1.0.0");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for tenant in ["t0", "t1"] {
        let run = runs.iter().find(|r| r["tenant"] == tenant).expect(tenant);
        assert_eq!(run["outcome"], "succeeded");
        assert_eq!(run["exit_code"], 0);
        assert_eq!(
            run["output"],
            serde_json::json!([format!("migrated {tenant} to v1.0.0 with *****")])
        );
    }
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", app.state().display());
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{path} holds the secret"
        );
    }
    // Each tenant's volume got its own tenant's migration, before its app first started;
    // the app, started after the task, found the marker there.
    for (tenant, port) in [("t0", PORTS[0]), ("t1", PORTS[1])] {
        let marker = format!("{tenant} v1.0.0 serving=none");
        assert_eq!(
            markers(&app, tenant, "v1.0.0"),
            std::slice::from_ref(&marker)
        );
        let served = http_get(port, "/migrations").map(|(_, body)| body);
        assert_eq!(served.as_deref().map(str::trim), Some(marker.as_str()));
    }
    assert_no_task_containers(&app);

    // A failing task blocks the switch: every tenant keeps v1, and its output is shown.
    configure(
        &app,
        "5s",
        "echo \"cannot migrate $TENANT ($DB_PASSWORD)\"; exit 3",
        "30s",
        "",
    );
    app.release("v2.0.0");
    let failed = hoist(&app, &["deploy", "staging"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("task migrate failed (exit 3)")
            && failed.stdout.contains("stays on its previous release"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("| cannot migrate t") && failed.stdout.contains("(*****)"),
        "{}",
        failed.stdout
    );
    assert_serving("v1.0.0");
    let runs = runs_of(&app, "v2.0.0");
    assert!(!runs.is_empty(), "no task run recorded for v2");
    assert!(
        runs.iter()
            .all(|r| r["outcome"] == "failed" && r["exit_code"] == 3)
    );
    let human = hoist(&app, &["history", "staging"]).ok();
    assert!(
        human.stdout.contains("migrate: failed (exit 3)")
            && human.stdout.contains("| cannot migrate t"),
        "{}",
        human.stdout
    );
    assert_no_task_containers(&app);

    // The task succeeds but the instances do not verify (they start after the timeout):
    // they stay on v1, and the task is recorded as done for v3.
    configure(&app, "1s", MIGRATE, "30s", "");
    volume::dockerfile(&app, 4);
    app.release("v3.0.0");
    let unverified = hoist(&app, &["deploy", "staging"]);
    assert_eq!(
        unverified.code, 1,
        "{}\n{}",
        unverified.stdout, unverified.stderr
    );
    assert_serving("v1.0.0");
    assert_eq!(runs_of(&app, "v3.0.0").len(), 2);
    // v3's migration reached each tenant's data while the tenant still ran v1.
    for tenant in ["t0", "t1"] {
        assert_eq!(
            markers(&app, tenant, "v3.0.0"),
            [
                format!("{tenant} v1.0.0 serving=none"),
                format!("{tenant} v3.0.0 serving=v1.0.0")
            ]
        );
    }

    // The retry (a longer health timeout) switches without running the task again, and
    // v3's app finds the migration that ran before it.
    configure(&app, "20s", MIGRATE, "30s", "");
    app.commit_config();
    let retry = hoist(&app, &["deploy", "staging", "--version", "v3.0.0"]).ok();
    assert!(
        retry
            .stderr
            .contains("task migrate: already succeeded for v3.0.0, not run again"),
        "{}",
        retry.stderr
    );
    assert_serving("v3.0.0");
    assert_eq!(runs_of(&app, "v3.0.0").len(), 2, "the task ran again");
    for (tenant, port) in [("t0", PORTS[0]), ("t1", PORTS[1])] {
        assert_eq!(
            markers(&app, tenant, "v3.0.0").len(),
            2,
            "the retry migrated again"
        );
        let served = http_get(port, "/migrations").map(|(_, body)| body);
        assert!(
            served
                .as_deref()
                .is_some_and(|s| s.contains(&format!("{tenant} v3.0.0 serving=v1.0.0"))),
            "{tenant}: {served:?}"
        );
    }

    // --force-tasks runs it again (a changed env makes the tenants redeploy v3).
    app.staging_keys("env = { FORCED = \"yes\" }");
    app.commit_config();
    let forced = hoist(
        &app,
        &["deploy", "staging", "--version", "v3.0.0", "--force-tasks"],
    );
    let forced = forced.ok();
    assert!(
        forced.stderr.contains("task migrate: succeeded"),
        "{}",
        forced.stderr
    );
    assert_eq!(
        runs_of(&app, "v3.0.0").len(),
        4,
        "--force-tasks did not rerun"
    );
    for tenant in ["t0", "t1"] {
        assert_eq!(
            markers(&app, tenant, "v3.0.0").last().map(String::as_str),
            Some(format!("{tenant} v3.0.0 serving=v3.0.0").as_str())
        );
        assert_eq!(markers(&app, tenant, "v3.0.0").len(), 3);
    }
    assert_serving("v3.0.0");
    assert_no_task_containers(&app);
}

#[test]
fn a_task_that_outlives_its_timeout_is_stopped_and_the_tenant_keeps_its_release() {
    let app = App::new("hoist-task-slow", &[20353]);
    app.write_config("5s");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    app.write_config_with(
        "5s",
        "[[environments.staging.tasks]]\nname = \"slow\"\n\
         command = [\"sh\", \"-c\", \"echo starting; sleep 60\"]\ntimeout = \"2s\"\n",
    );
    app.release("v2.0.0");
    let started = std::time::Instant::now();
    let run = app.hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "the task was not stopped at its timeout"
    );
    assert!(
        run.stdout
            .contains("task slow did not finish within its timeout of 2s and was stopped"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| starting"), "{}", run.stdout);
    assert_eq!(version_on(20353).as_deref(), Some("v1.0.0"));
    let history = app.hoist(&["history", "staging", "--json"]).ok().json();
    let run = &history["tasks"][0];
    assert_eq!(run["outcome"], "timed_out");
    assert_eq!(run["exit_code"], serde_json::Value::Null);
    let left: Vec<String> = app
        .containers()
        .into_iter()
        .filter(|c| c.contains("--task-"))
        .collect();
    assert!(left.is_empty(), "task containers left: {left:?}");
}

#[test]
fn a_bad_task_in_the_config_is_refused_with_its_line() {
    let app = App::new("hoist-task-bad", &[20354]);
    app.write_config_with(
        "5s",
        "[[environments.staging.tasks]]\nname = \"migrate\"\ncommand = []\n",
    );
    app.release("v1.0.0");
    let run = app.hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("environments.staging.tasks[0].command")
            && run.stderr.contains("the command is empty"),
        "{}",
        run.stderr
    );
}
