//! Release tasks on the Kubernetes runtime, through the CLI and the pipeline, against the
//! FAKE Kubernetes API server of hoist-runtime-k8s's tests (no real API server runs on this
//! machine; see docs/kubernetes.md). Each task is a `batch/v1` Job; the fake DECIDES THE
//! JOB'S OUTCOME FROM ITS COMMAND (a tiny `sh -c` of `echo`, `sleep`, `exit`) rather than
//! running an image, and enforces `activeDeadlineSeconds` by the wall clock. hoist builds
//! the image on the real Docker engine. Ports 20900-20919, names `roll-*`.

mod support;

#[path = "../../hoist-runtime-k8s/tests/common/fake_apiserver.rs"]
#[allow(dead_code)]
mod fake_apiserver;

use fake_apiserver::{FakeApiServer, Scenario};
use serde_json::{Value, json};
use support::App;

const TENANTS: [&str; 2] = ["north", "south"];
const MIGRATE: &str = "echo migrated $TENANT with $DB_PASSWORD";

fn namespace(tenant: &str) -> String {
    format!("roll-k8s-{tenant}")
}

fn image(fake: &FakeApiServer, tenant: &str) -> String {
    fake.deployment(&namespace(tenant), "emr")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn hoist(app: &App, kubeconfig: &std::path::Path, args: &[&str]) -> support::Run {
    let mut cmd = app.hoist_command(args);
    cmd.env("KUBECONFIG", kubeconfig);
    tokio::task::spawn_blocking(move || support::Run::from(cmd.output().expect("run hoist")))
        .await
        .unwrap()
}

/// hoist.toml: production on the fake cluster, one task running `script` under `sh -c`.
fn configure(app: &App, script: &str, timeout: &str) {
    app.write_config_with(
        "5s",
        &format!(
            "[environments.production]\nrollout = {{ health_timeout = \"30s\" }}\n\n\
             [[environments.production.instances]]\ntenant = \"north\"\nport = 20911\n\n\
             [[environments.production.instances]]\ntenant = \"south\"\nport = 20912\n\n\
             [environments.production.runtime]\nkind = \"kubernetes\"\nnamespace = \"roll-k8s-{{tenant}}\"\n\
             deployment = \"emr\"\ncontainer = \"app\"\ntimeout = \"20s\"\n\n\
             [[environments.production.tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", {script:?}]\n\
             timeout = \"{timeout}\"\n"
        ),
    );
}

/// `hoist history --json`'s task runs of `version`, oldest first.
async fn runs_of(app: &App, kubeconfig: &std::path::Path, version: &str) -> Vec<Value> {
    let history = hoist(app, kubeconfig, &["history", "production", "--json"])
        .await
        .ok()
        .json();
    let mut runs: Vec<Value> = history["tasks"]
        .as_array()
        .expect("tasks in history")
        .iter()
        .filter(|r| r["version"] == version)
        .cloned()
        .collect();
    runs.reverse();
    runs
}

/// The Jobs hoist created for `tenant` and `version`.
fn jobs_for(fake: &FakeApiServer, tenant: &str, version: &str) -> Vec<Value> {
    fake.created_jobs()
        .into_iter()
        .filter(|j| {
            j["metadata"]["labels"]["dev.hoist.tenant"] == tenant
                && j["metadata"]["labels"]["dev.hoist.release"] == version
        })
        .collect()
}

/// Every Job hoist made is gone, and with it (propagation `Background`) its pod.
fn assert_nothing_left(fake: &FakeApiServer) {
    assert_eq!(fake.jobs(), Vec::<(String, String)>::new(), "Jobs left");
    assert_eq!(fake.job_pods(), Vec::<Value>::new(), "task pods left");
    let deletes: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE" && s.path_and_query.contains("/jobs/"))
        .collect();
    assert!(!deletes.is_empty());
    for delete in deletes {
        assert_eq!(delete.body["propagationPolicy"], "Background", "{delete:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_as_jobs_before_the_patch_block_it_when_they_fail_and_are_skipped_when_done() {
    let fake = FakeApiServer::start_in(Scenario::default(), 20900..=20909).await;
    let app = App::new("roll-k8s-tasks", &[20910]);
    for tenant in TENANTS {
        fake.add_deployment(
            &namespace(tenant),
            "emr",
            "app",
            "hoist-test/roll-k8s-tasks:v0.9.0",
            2,
        );
        fake.set_env(
            &namespace(tenant),
            "emr",
            json!([
                {"name": "TENANT", "value": tenant},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{tenant}-db"), "key": "password"}}},
            ]),
        );
    }
    let kubeconfig = fake.write_kubeconfig(app.root());
    app.write(".gitignore", ".hoist/\nkubeconfig\n");

    // Success: one Job per tenant, with the Deployment's env, before its patch.
    configure(&app, MIGRATE, "30s");
    app.release("v1.0.0");
    let first = hoist(&app, &kubeconfig, &["deploy", "production"])
        .await
        .ok();
    assert!(
        first.stderr.contains("task migrate: succeeded"),
        "{}",
        first.stderr
    );
    for tenant in TENANTS {
        assert!(
            image(&fake, tenant).ends_with(":v1.0.0"),
            "{}",
            first.stderr
        );
        let jobs = jobs_for(&fake, tenant, "v1.0.0");
        assert_eq!(jobs.len(), 1, "{jobs:#?}");
        let job = &jobs[0];
        let name = job["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("roll-k8s-tasks-production-{tenant}-migrate-"))
                && name.len() <= 63,
            "{name}"
        );
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 30);
        assert!(job["spec"]["ttlSecondsAfterFinished"].as_i64() > Some(0));
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let container = &pod["containers"][0];
        assert_eq!(container["name"], "app");
        assert!(container["image"].as_str().unwrap().ends_with(":v1.0.0"));
        assert_eq!(container["args"], json!(["sh", "-c", MIGRATE]));
        assert_eq!(
            container["env"][0],
            json!({"name": "TENANT", "value": tenant})
        );
        assert_eq!(job["metadata"]["labels"]["dev.hoist.app"], "roll-k8s-tasks");
        assert_eq!(job["metadata"]["labels"]["dev.hoist.role"], "task");
        // The Job was created before the Deployment was patched.
        let seen = fake.seen();
        let ns = namespace(tenant);
        let created = seen.iter().position(|s| {
            s.method == "POST" && s.path_and_query.contains(&format!("/namespaces/{ns}/jobs"))
        });
        let patched = seen.iter().position(|s| {
            s.method == "PATCH"
                && s.path_and_query
                    .contains(&format!("/namespaces/{ns}/deployments/emr"))
        });
        assert!(
            created < patched && created.is_some(),
            "{created:?} {patched:?}"
        );
    }
    let runs = runs_of(&app, &kubeconfig, "v1.0.0").await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for tenant in TENANTS {
        let run = runs.iter().find(|r| r["tenant"] == tenant).expect(tenant);
        assert_eq!(run["outcome"], "succeeded");
        assert_eq!(run["exit_code"], 0);
        assert_eq!(
            run["output"],
            json!([format!(
                "migrated {tenant} with <secret {tenant}-db/password>"
            )])
        );
    }
    assert_nothing_left(&fake);

    // Failure: the exit code and the output are kept, and nothing is patched.
    configure(&app, "echo cannot migrate $TENANT; exit 3", "30s");
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    let failed = hoist(&app, &kubeconfig, &["deploy", "production"]).await;
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("task migrate failed (exit 3)")
            && failed.stdout.contains("| cannot migrate north")
            && failed.stdout.contains("stays on its previous release"),
        "{}",
        failed.stdout
    );
    for tenant in TENANTS {
        assert!(image(&fake, tenant).ends_with(":v1.0.0"));
    }
    let runs = runs_of(&app, &kubeconfig, "v2.0.0").await;
    assert!(!runs.is_empty());
    for run in &runs {
        assert_eq!(run["outcome"], "failed", "{run:#}");
        assert_eq!(run["exit_code"], 3, "{run:#}");
        assert_eq!(
            run["output"],
            json!([format!(
                "cannot migrate {}",
                run["tenant"].as_str().unwrap()
            )])
        );
    }
    assert_nothing_left(&fake);

    // Timeout: the cluster stops the Job at activeDeadlineSeconds.
    configure(&app, "echo starting; sleep 60", "1s");
    app.release("v3.0.0");
    let slow = hoist(&app, &kubeconfig, &["deploy", "production"]).await;
    assert_eq!(slow.code, 1, "{}\n{}", slow.stdout, slow.stderr);
    assert!(
        slow.stdout
            .contains("task migrate did not finish within its timeout of 1s and was stopped"),
        "{}",
        slow.stdout
    );
    assert!(slow.stdout.contains("DeadlineExceeded"), "{}", slow.stdout);
    for tenant in TENANTS {
        assert!(image(&fake, tenant).ends_with(":v1.0.0"));
    }
    let runs = runs_of(&app, &kubeconfig, "v3.0.0").await;
    assert!(!runs.is_empty());
    assert!(
        runs.iter()
            .all(|r| r["outcome"] == "timed_out" && r["exit_code"].is_null()),
        "{runs:#?}"
    );
    assert_nothing_left(&fake);

    // The task succeeds for north, but its rollout stalls and is rolled back; the retry
    // patches without running north's task again.
    configure(&app, MIGRATE, "30s");
    app.release("v4.0.0");
    let v4 = image(&fake, "north").replace("v1.0.0", "v4.0.0");
    fake.set_stall_image(Some(v4));
    let stalled = hoist(&app, &kubeconfig, &["deploy", "production"]).await;
    assert_eq!(stalled.code, 1, "{}\n{}", stalled.stdout, stalled.stderr);
    assert!(image(&fake, "north").ends_with(":v1.0.0"), "rolled back");
    assert_eq!(jobs_for(&fake, "north", "v4.0.0").len(), 1);
    fake.set_stall_image(None);
    let retry = hoist(
        &app,
        &kubeconfig,
        &["deploy", "production", "--version", "v4.0.0"],
    )
    .await
    .ok();
    assert!(
        retry
            .stderr
            .contains("task migrate: already succeeded for v4.0.0, not run again"),
        "{}",
        retry.stderr
    );
    for tenant in TENANTS {
        assert!(
            image(&fake, tenant).ends_with(":v4.0.0"),
            "{}",
            retry.stderr
        );
        assert_eq!(
            jobs_for(&fake, tenant, "v4.0.0").len(),
            1,
            "{tenant}'s task ran once for v4.0.0"
        );
    }
    assert_nothing_left(&fake);
}
