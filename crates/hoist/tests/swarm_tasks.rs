//! Release tasks on the real single-node swarm: a task runs as a Swarm job service
//! (`replicated-job`) of the new release before the service is updated; a failing one
//! leaves the service on its old release, with its output shown. Ports 20371-20372.

mod support;

use std::process::Command;

use support::swarm::ensure_swarm;
use support::{App, http_get};

const APP: &str = "hoist-task-swarm";
const PORT: u16 = 20372;

/// This app's services, by name.
fn services() -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "service",
            "ls",
            "--filter",
            &format!("label=dev.hoist.app={APP}"),
            "--format",
            "{{.Name}}",
        ])
        .output()
        .expect("docker service ls");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Removes the app's services when the test ends, however it ends.
struct Services;

impl Drop for Services {
    fn drop(&mut self) {
        let names = services();
        if !names.is_empty() {
            let _ = Command::new("docker")
                .args(["service", "rm"])
                .args(&names)
                .output();
        }
    }
}

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body.trim().to_string())
}

fn production(app: &App, script: &str) {
    app.write_config_with(
        "5s",
        &format!(
            "[environments.production]\nrollout = {{ health_timeout = \"30s\" }}\n\n\
             [[environments.production.instances]]\ntenant = \"p0\"\nport = {PORT}\nenv = {{ TENANT = \"p0\" }}\n\n\
             [environments.production.runtime]\nkind = \"swarm\"\n\n\
             [environments.production.runtime.update]\nmonitor = \"2s\"\n\n\
             [[environments.production.tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", {script:?}]\ntimeout = \"60s\"\n"
        ),
    );
}

#[test]
fn a_task_runs_as_a_swarm_job_before_the_update_and_a_failing_one_blocks_it() {
    ensure_swarm();
    drop(Services); // what an earlier run left
    let app = App::new(APP, &[20371]);
    // Declared after the app, so dropped first: services go before their images.
    let _services = Services;
    production(&app, "echo \"migrated $TENANT to $APP_VERSION\"");
    app.release("v1.0.0");

    let first = app.hoist(&["deploy", "production"]).ok();
    assert!(
        first.stderr.contains("task migrate: succeeded"),
        "{}",
        first.stderr
    );
    assert_eq!(version_on(PORT).as_deref(), Some("v1.0.0"));
    assert_eq!(services(), [format!("{APP}-production-p0")]);
    let history = app.hoist(&["history", "production", "--json"]).ok().json();
    assert_eq!(history["tasks"][0]["outcome"], "succeeded", "{history:#}");
    assert_eq!(
        history["tasks"][0]["output"],
        serde_json::json!(["migrated p0 to v1.0.0"])
    );

    production(&app, "echo \"no database for $TENANT\"; exit 4");
    app.release("v2.0.0");
    let failed = app.hoist(&["deploy", "production"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("task migrate failed (exit 4)")
            && failed.stdout.contains("| no database for p0"),
        "{}",
        failed.stdout
    );
    assert_eq!(version_on(PORT).as_deref(), Some("v1.0.0"));
    assert_eq!(services(), [format!("{APP}-production-p0")]);
}
