//! `HOIST_DATABASE_URL` puts hoist's state in PostgreSQL: a real deploy (the binary, the
//! real Docker engine, a busybox image) records its history there, `hoist history` and
//! `hoist status` read it back and say where it is, and no SQLite file is written. The
//! server is a throwaway cluster of Debian's PostgreSQL (hoist-store-pg's `testing`).

mod support;

use hoist_core::Store;
use hoist_core::store::DeploymentOutcome;
use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;
use support::{App, Run};

/// This binary's cluster and the app's instances: ports 20750-20799 are this suite's.
const CLUSTER_PORT: u16 = 20753;

fn hoist_with(app: &App, url: &str, args: &[&str]) -> Run {
    let out = app
        .hoist_command(args)
        .env("HOIST_DATABASE_URL", url)
        .output()
        .expect("run hoist");
    Run::from(out)
}

#[test]
fn a_deploy_records_its_history_in_postgresql_and_history_reads_it_back() {
    let cluster = Cluster::shared(CLUSTER_PORT);
    let url = cluster.database("pg_cli_deploy");
    let location = format!("postgres://postgres@127.0.0.1:{CLUSTER_PORT}/pg_cli_deploy");
    let app = App::new("pgdeploy", &[20760, 20761]);
    app.release("v1.0.0");

    hoist_with(&app, &url, &["deploy", "staging"]).ok();
    for port in &app.ports {
        assert_eq!(
            app.get(*port, "/version")
                .map(|(_, body)| body.trim().to_string()),
            Some("v1.0.0".to_string())
        );
    }
    assert!(
        !app.state().exists(),
        "with HOIST_DATABASE_URL no SQLite file is written"
    );

    // What the deploy wrote, read from the database directly.
    let store = PgStore::connect(&url).unwrap();
    let recorded = store.deployments("pgdeploy", "staging", 10).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].version, "v1.0.0");
    assert_eq!(recorded[0].outcome, DeploymentOutcome::Succeeded);
    assert_eq!(recorded[0].instances.len(), 2);
    assert!(store.find_release("pgdeploy", "v1.0.0").unwrap().is_some());
    assert_eq!(store.lock_holder("pgdeploy", "staging").unwrap(), None);
    assert!(
        store
            .audit_log("pgdeploy", Some("staging"), 10)
            .unwrap()
            .iter()
            .any(|e| e.action.starts_with("deploy")),
        "the audit log is in PostgreSQL too"
    );

    // hoist history reads it back, and says from where.
    let history = hoist_with(&app, &url, &["history", "staging", "--json"])
        .ok()
        .json();
    assert_eq!(history["deployments"][0]["version"], "v1.0.0");
    assert_eq!(history["deployments"][0]["outcome"], "succeeded");
    assert_eq!(history["store"], location.as_str());
    // A password in the URL is never shown (the test cluster trusts, so any works).
    let with_password = url.replace("postgres@", "postgres:hunter2-secret@");
    let human = hoist_with(&app, &with_password, &["history", "staging"]).ok();
    assert!(human.stdout.contains("v1.0.0"), "{}", human.stdout);
    assert_eq!(
        human.stdout.lines().last(),
        Some(format!("state: {location}").as_str())
    );
    assert!(!format!("{}{}", human.stdout, human.stderr).contains("hunter2"));

    let status = hoist_with(&app, &url, &["status", "staging"]).ok();
    assert!(
        status.stdout.contains("current release v1.0.0"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&format!("state: {location}")),
        "{}",
        status.stdout
    );

    // Without the variable the same checkout uses its (empty) SQLite file.
    let sqlite = app.hoist(&["history", "staging"]).ok();
    assert!(
        sqlite.stdout.contains("no deployments yet"),
        "{}",
        sqlite.stdout
    );
    assert!(sqlite.stdout.contains("state.db"), "{}", sqlite.stdout);
}

#[test]
fn an_unreachable_database_fails_the_command_without_showing_the_password() {
    let app = App::new("pgunreachable", &[20762]);
    app.release("v1.0.0");
    // Nothing listens on this port of the suite's range.
    let run = hoist_with(
        &app,
        "postgres://hoist:hunter2-secret@127.0.0.1:20799/team",
        &["history", "staging"],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("cannot connect to PostgreSQL at postgres://hoist@127.0.0.1:20799/team"),
        "{}",
        run.stderr
    );
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("hunter2"));
    assert!(!app.state().exists());
}
