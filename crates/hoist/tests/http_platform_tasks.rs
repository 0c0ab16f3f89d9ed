//! Release tasks on the hosting-platform runtime's fly-machines preset, through the CLI,
//! against the FAKE Fly Machines API of hoist-runtime-http's tests (no real platform is
//! reachable here; see docs/http-runtime.md). Each task is a one-off Machine in the
//! tenant's app; THE FAKE DOES NOT RUN THE IMAGE: it interprets the Machine's `init.cmd`
//! (a tiny `sh -c` of `echo`, `sleep`, `exit`) with the env the Machine was created with,
//! and reports the exit code in the Machine's events as Fly does. hoist builds the image on
//! the real Docker engine. Ports 21050-21099 (the fake takes one of 21050-21089), names
//! `hoist-httptask-*`.

mod support;

#[path = "../../hoist-runtime-http/tests/common/fake_platform.rs"]
#[allow(dead_code)]
mod fake_platform;

use fake_platform::{FakePlatform, Scenario, TOKEN};
use serde_json::{Value, json};
use support::App;

const TOKEN_VAR: &str = "HOIST_HTTPTASK_FLY_TOKEN";
const SECRET_VAR: &str = "HOIST_HTTPTASK_DB";
/// The tenants' database password: it goes to the platform in the create body, and nothing
/// hoist prints or keeps may show it.
const SECRET: &str = "hoist-httptask-s3cret-pw";
/// Each tenant's `TENANT` env is `<tenant>-tenant`: hoist masks env values in kept output,
/// and the bare tenant name would mask the Fly app's name in the output's `fly logs` line.
const TENANTS: [(&str, u16); 2] = [("north", 21099), ("south", 21098)];
const MIGRATE: &str = "echo migrated $TENANT with $DB_PASSWORD";

fn fly_app(tenant: &str) -> String {
    format!("hoist-httptask-{tenant}")
}

/// Runs hoist in a blocking thread, so the fake keeps answering on the test's runtime.
async fn hoist(app: &App, args: &[&str]) -> support::Run {
    let mut cmd = app.hoist_command(args);
    cmd.env(TOKEN_VAR, TOKEN).env(SECRET_VAR, SECRET);
    let run =
        tokio::task::spawn_blocking(move || support::Run::from(cmd.output().expect("run hoist")))
            .await
            .unwrap();
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "hoist {args:?} showed the token");
        assert!(!text.contains(SECRET), "hoist {args:?} showed the secret");
    }
    run
}

/// hoist.toml: production on the fake's Fly, one task running `script` under `sh -c`.
fn configure(app: &App, fake: &FakePlatform, script: &str, timeout: &str) {
    let mut text = format!(
        "[app]\nname = \"{name}\"\nimage = \"hoist-test/{name}\"\nport = 8080\n\n\
         [build]\ndependencies = [\"deps.txt\", \"vendor/*\"]\n\n\
         [environments.production]\nrollout = {{ health_timeout = \"20s\" }}\n\n\
         [environments.production.runtime]\nkind = \"http\"\npreset = \"fly-machines\"\n\
         api = \"{api}\"\napp = \"hoist-httptask-{{{{ tenant }}}}\"\ntoken = {{ env = \"{TOKEN_VAR}\" }}\n\
         timeout = \"30s\"\npoll = \"50ms\"\n\n\
         [environments.production.secrets]\nDB_PASSWORD = {{ env = \"{SECRET_VAR}\" }}\n\n\
         [[environments.production.tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", {script:?}]\n\
         timeout = \"{timeout}\"\n",
        name = app.name,
        api = fake.url(),
    );
    for (tenant, port) in TENANTS {
        text.push_str(&format!(
            "\n[[environments.production.instances]]\ntenant = \"{tenant}\"\nport = {port}\n\
             name = \"m-{tenant}\"\nenv = {{ TENANT = \"{tenant}-tenant\" }}\n"
        ));
    }
    app.write("hoist.toml", &text);
}

fn image(fake: &FakePlatform, tenant: &str) -> String {
    fake.machine(&fly_app(tenant), &format!("m-{tenant}"))["config"]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The one-off Machines made for `tenant`'s task of `version`.
fn task_machines(
    fake: &FakePlatform,
    tenant: &str,
    version: &str,
) -> Vec<fake_platform::TaskMachine> {
    fake.task_machines()
        .into_iter()
        .filter(|m| {
            m.app == fly_app(tenant)
                && m.created_with["config"]["metadata"]["hoist_release"] == version
        })
        .collect()
}

/// `hoist history --json`'s task runs of `version`.
async fn runs_of(app: &App, version: &str) -> Vec<Value> {
    let history = hoist(app, &["history", "production", "--json"])
        .await
        .ok()
        .json();
    history["tasks"]
        .as_array()
        .expect("tasks in history")
        .iter()
        .filter(|r| r["version"] == version)
        .cloned()
        .collect()
}

/// Where in the fake's request log `method path` first came.
fn position(fake: &FakePlatform, method: &str, path: &str) -> Option<usize> {
    fake.seen()
        .iter()
        .position(|s| s.method == method && s.path_and_query == path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_as_one_off_machines_before_the_update_and_block_it_when_they_fail() {
    let fake = FakePlatform::start_in(Scenario::default(), 21050..=21089).await;
    let app = App::new("hoist-httptask-fly", &[]);
    for (tenant, _) in TENANTS {
        fake.add_machine(
            &fly_app(tenant),
            &format!("m-{tenant}"),
            "registry.fly.io/hoist-httptask:deployment-01",
        );
    }

    // Success: one Machine per tenant, with the tenant's env and secret, before its update.
    configure(&app, &fake, MIGRATE, "20s");
    app.release("v1.0.0");
    let first = hoist(&app, &["deploy", "production"]).await.ok();
    assert!(
        first.stderr.contains("task migrate: succeeded"),
        "{}",
        first.stderr
    );
    for (tenant, _) in TENANTS {
        assert_eq!(image(&fake, tenant), "hoist-test/hoist-httptask-fly:v1.0.0");
        let machines = task_machines(&fake, tenant, "v1.0.0");
        assert_eq!(machines.len(), 1, "{machines:#?}");
        let task = &machines[0];
        let config = &task.created_with["config"];
        assert_eq!(config["image"], "hoist-test/hoist-httptask-fly:v1.0.0");
        assert_eq!(config["init"]["cmd"], json!(["sh", "-c", MIGRATE]));
        assert_eq!(config["auto_destroy"], true);
        assert_eq!(config["restart"], json!({"policy": "no"}));
        // The instance Machine's env and size, with the tenant's env and secret over it.
        assert_eq!(config["env"]["APP_ENV"], "production");
        assert_eq!(config["env"]["TENANT"], format!("{tenant}-tenant"));
        assert_eq!(config["env"]["DB_PASSWORD"], SECRET);
        assert_eq!(config["guest"]["memory_mb"], 256);
        assert_eq!(config["metadata"]["hoist_task"], "migrate");
        // The fake ran the command with that env; the Machine destroyed itself after.
        assert_eq!(
            task.output,
            [format!("migrated {tenant}-tenant with {SECRET}")]
        );
        assert_eq!(task.exit_code, 0);
        assert_eq!(task.state, "destroyed");
        // Created, waited for (stopped, this version), read: all before the update.
        let machines_path = format!("/v1/apps/{}/machines", fly_app(tenant));
        let created = position(&fake, "POST", &machines_path).expect("created");
        let waited = fake.seen().iter().position(|s| {
            s.path_and_query
                .starts_with(&format!("{machines_path}/{}/wait?instance_id=01J", task.id))
                && s.path_and_query.contains("&state=stopped&timeout=")
        });
        let updated = position(&fake, "POST", &format!("{machines_path}/m-{tenant}"));
        assert!(
            Some(created) < waited && waited < updated,
            "{created:?} {waited:?} {updated:?}"
        );
    }
    // Secrets travel in bodies only, and every request carries the token.
    for seen in fake.seen() {
        assert!(
            !seen.path_and_query.contains(SECRET),
            "{}",
            seen.path_and_query
        );
        assert_eq!(seen.authorization, format!("Bearer {TOKEN}"));
    }
    let runs = runs_of(&app, "v1.0.0").await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for run in &runs {
        assert_eq!(run["outcome"], "succeeded", "{run:#}");
        assert_eq!(run["exit_code"], 0, "{run:#}");
    }

    // Failure: the exit code from the Machine's exit event; nothing is updated.
    configure(&app, &fake, "echo cannot migrate $TENANT; exit 3", "20s");
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    let failed = hoist(&app, &["deploy", "production"]).await;
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("task migrate failed (exit 3)")
            && failed.stdout.contains("stays on its previous release"),
        "{}",
        failed.stdout
    );
    // Fly keeps no output: the line says where to look.
    let machine = &task_machines(&fake, "north", "v2.0.0")[0];
    assert!(
        failed.stdout.contains(&format!(
            "fly-machines keeps no output hoist can read: see `fly logs -a hoist-httptask-north -i {}`",
            machine.id
        )),
        "{}",
        failed.stdout
    );
    assert_eq!(machine.output, ["cannot migrate north-tenant"]);
    for (tenant, _) in TENANTS {
        assert_eq!(image(&fake, tenant), "hoist-test/hoist-httptask-fly:v1.0.0");
    }
    let runs = runs_of(&app, "v2.0.0").await;
    assert!(!runs.is_empty());
    for run in &runs {
        assert_eq!(run["outcome"], "failed", "{run:#}");
        assert_eq!(run["exit_code"], 3, "{run:#}");
    }

    // Timeout: the Machine is stopped at the task's timeout, then destroyed.
    configure(&app, &fake, "echo starting; sleep 60", "2s");
    app.release("v3.0.0");
    let slow = hoist(&app, &["deploy", "production"]).await;
    assert_eq!(slow.code, 1, "{}\n{}", slow.stdout, slow.stderr);
    assert!(
        slow.stdout
            .contains("task migrate did not finish within its timeout of 2s and was stopped"),
        "{}",
        slow.stdout
    );
    let machine = &task_machines(&fake, "north", "v3.0.0")[0];
    let path = format!("/v1/apps/hoist-httptask-north/machines/{}", machine.id);
    let stopped = position(&fake, "POST", &format!("{path}/stop")).expect("stopped");
    let destroyed = position(&fake, "DELETE", &format!("{path}?force=true")).expect("destroyed");
    assert!(stopped < destroyed);
    assert_eq!(machine.state, "destroyed");
    assert_eq!(
        image(&fake, "north"),
        "hoist-test/hoist-httptask-fly:v1.0.0"
    );
    let runs = runs_of(&app, "v3.0.0").await;
    assert!(
        !runs.is_empty()
            && runs
                .iter()
                .all(|r| r["outcome"] == "timed_out" && r["exit_code"].is_null()),
        "{runs:#?}"
    );

    // The task succeeds for north, but its update fails and is rolled back; the retry
    // updates without running north's task again.
    configure(&app, &fake, MIGRATE, "20s");
    app.release("v4.0.0");
    fake.set_fail_image(Some("v4.0.0"));
    let broken = hoist(&app, &["deploy", "production"]).await;
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    // Rolled back to what it ran, pinned to the digest the platform reported.
    assert!(
        image(&fake, "north").starts_with("hoist-test/hoist-httptask-fly:v1.0.0@sha256:"),
        "{}",
        broken.stdout
    );
    assert_eq!(task_machines(&fake, "north", "v4.0.0").len(), 1);
    fake.set_fail_image(None);
    let retry = hoist(&app, &["deploy", "production", "--version", "v4.0.0"])
        .await
        .ok();
    assert!(
        retry
            .stderr
            .contains("task migrate: already succeeded for v4.0.0, not run again"),
        "{}",
        retry.stderr
    );
    for (tenant, _) in TENANTS {
        assert_eq!(image(&fake, tenant), "hoist-test/hoist-httptask-fly:v4.0.0");
        assert_eq!(
            task_machines(&fake, tenant, "v4.0.0").len(),
            1,
            "{tenant}'s task ran once for v4.0.0"
        );
    }

    // Neither the token nor the secret is in the state database.
    let state = std::fs::read(app.state()).expect("the state database");
    for needle in [TOKEN, SECRET] {
        assert!(
            !state.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the state database holds {needle}"
        );
    }
}
