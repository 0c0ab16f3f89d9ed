//! Hosting-platform instances through the CLI, against the FAKE platform of
//! hoist-runtime-http's tests (no real platform is reachable here; see
//! docs/http-runtime.md): the fly-machines preset request by request, and one environment
//! holding a Docker container and a Fly Machine. hoist builds the image on the real Docker
//! engine. Ports 20590-20599 (the fake takes one of 20550-20589), names `hoist-http-*`.

mod support;

#[path = "../../hoist-runtime-http/tests/common/fake_platform.rs"]
#[allow(dead_code)]
mod fake_platform;

use fake_platform::{FakePlatform, Scenario, TOKEN};
use support::App;

/// The variable the configs name as the token's source.
const TOKEN_VAR: &str = "HOIST_HTTP_FLY_TOKEN";
/// A tenant secret's source: the platform holds the app's secrets, hoist passes this one
/// only to release tasks, and it must not make every deploy a change.
const DB_VAR: &str = "HOIST_HTTP_TEST_DB";

/// Runs hoist in a blocking thread, so the fake keeps answering on the test's runtime.
async fn hoist(app: &App, args: &[&str]) -> support::Run {
    let mut cmd = app.hoist_command(args);
    cmd.env(TOKEN_VAR, TOKEN);
    cmd.env(DB_VAR, "http-db-password");
    tokio::task::spawn_blocking(move || support::Run::from(cmd.output().expect("run hoist")))
        .await
        .unwrap()
}

fn config(app: &App, fake: &FakePlatform, environment: &str) -> String {
    format!(
        "[app]\nname = \"{name}\"\nimage = \"hoist-test/{name}\"\nport = 8080\nversion_path = \"/version\"\n\n\
         [build]\ndependencies = [\"deps.txt\", \"vendor/*\"]\n\n\
         [environments.{environment}]\nrollout = {{ health_timeout = \"20s\" }}\n\n\
         [environments.{environment}.runtimes.fly]\nkind = \"http\"\npreset = \"fly-machines\"\n\
         api = \"{api}\"\napp = \"hoist-http-{{{{ tenant }}}}\"\ntoken = {{ env = \"{TOKEN_VAR}\" }}\n\
         timeout = \"30s\"\npoll = \"50ms\"\n",
        name = app.name,
        api = fake.url(),
    )
}

fn image(fake: &FakePlatform, tenant: &str) -> String {
    fake.machine(&format!("hoist-http-{tenant}"), &format!("m-{tenant}"))["config"]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing hoist printed or recorded holds the token.
fn assert_no_token(app: &App, runs: &[&support::Run]) {
    for run in runs {
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    }
    let state = std::fs::read(app.state()).expect("the state database");
    let needle = TOKEN.as_bytes();
    assert!(
        !state.windows(needle.len()).any(|w| w == needle),
        "the state database holds the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fly_machines_deploy_status_history_and_rollback() {
    let fake = FakePlatform::start(Scenario::default()).await;
    let app = App::new("hoist-http-fly", &[]);
    for tenant in ["north", "south"] {
        fake.add_machine(
            &format!("hoist-http-{tenant}"),
            &format!("m-{tenant}"),
            "registry.fly.io/hoist-http-fly:deployment-01",
        );
    }
    let mut text = config(&app, &fake, "production");
    for (tenant, port) in [("north", 20599), ("south", 20598)] {
        text.push_str(&format!(
            "\n[[environments.production.instances]]\ntenant = \"{tenant}\"\nport = {port}\nname = \"m-{tenant}\"\nruntime = \"fly\"\nsecrets = {{ DB_PASSWORD = {{ env = \"{DB_VAR}\" }} }}\n"
        ));
    }
    app.write("hoist.toml", &text);
    app.release("v1.0.0");
    let first = hoist(&app, &["deploy", "production"]).await.ok();
    assert_eq!(image(&fake, "north"), "hoist-test/hoist-http-fly:v1.0.0");
    assert_eq!(image(&fake, "south"), "hoist-test/hoist-http-fly:v1.0.0");

    // Request by request, as Fly's Machines API reference has them.
    let seen: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/hoist-http-north/"))
        .collect();
    let paths: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    // Reads of the Machine (what runs; the config to send back), the update, the wait,
    // then reads until it is started with the image.
    let machine = "/v1/apps/hoist-http-north/machines/m-north";
    let update = paths
        .iter()
        .position(|p| p.starts_with("POST"))
        .expect("an update");
    assert!(update >= 1, "{paths:#?}");
    assert!(
        paths[..update]
            .iter()
            .all(|p| p == &format!("GET {machine}")),
        "{paths:#?}"
    );
    assert_eq!(paths[update], format!("POST {machine}"), "{paths:#?}");
    assert_eq!(
        paths[update + 1],
        format!("GET {machine}/wait?state=started&timeout=60"),
        "{paths:#?}"
    );
    assert!(
        paths[update + 2..]
            .iter()
            .all(|p| p == &format!("GET {machine}")),
        "{paths:#?}"
    );
    assert!(
        seen.iter()
            .all(|r| r.authorization == format!("Bearer {TOKEN}"))
    );
    // The update sends the Machine's whole config back, only the image and hoist's
    // metadata changed (an update replaces the config).
    let update = &seen[update].body["config"];
    assert_eq!(update["image"], "hoist-test/hoist-http-fly:v1.0.0");
    assert_eq!(update["guest"]["memory_mb"], 256);
    assert_eq!(update["services"][0]["internal_port"], 8080);
    assert_eq!(update["env"]["APP_ENV"], "production");
    assert_eq!(update["metadata"]["hoist_release"], "v1.0.0");

    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v1.1.0");
    let second = hoist(&app, &["deploy", "production"]).await.ok();
    assert_eq!(image(&fake, "north"), "hoist-test/hoist-http-fly:v1.1.0");

    // The platform's status is the health check; the release is read back from the
    // Machine's metadata.
    let status_run = hoist(&app, &["status", "production", "--json"]).await.ok();
    let status = status_run.json();
    for instance in status["instances"].as_array().unwrap() {
        assert_eq!(instance["runtime"], "http", "{status:#}");
        assert_eq!(instance["running_release"], "v1.1.0", "{status:#}");
        assert_eq!(instance["matches_current"], true, "{status:#}");
        assert_eq!(instance["healthy"], true, "{status:#}");
    }
    // Redeploying the running release changes nothing, though the instances name a secret
    // (whose fingerprint a platform never reports back).
    let again = hoist(&app, &["deploy", "production", "--json"]).await.ok();
    for instance in again.json()["instances"].as_array().unwrap() {
        assert_eq!(instance["state"], "unchanged", "{}", again.stdout);
    }

    let history = hoist(&app, &["history", "production"]).await.ok();
    assert!(history.stdout.contains("v1.1.0") && history.stdout.contains("v1.0.0"));

    let rollback = hoist(&app, &["rollback", "production", "--json"])
        .await
        .ok();
    assert_eq!(rollback.json()["release"]["version"], "v1.0.0");
    assert_eq!(image(&fake, "north"), "hoist-test/hoist-http-fly:v1.0.0");
    assert_eq!(image(&fake, "south"), "hoist-test/hoist-http-fly:v1.0.0");
    assert_no_token(
        &app,
        &[&first, &second, &status_run, &again, &history, &rollback],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_a_clear_deploy_failure_without_the_token() {
    let fake = FakePlatform::start(Scenario {
        unauthorized: true,
        ..Scenario::default()
    })
    .await;
    let app = App::new("hoist-http-denied", &[]);
    fake.add_machine(
        "hoist-http-north",
        "m-north",
        "registry.fly.io/x:deployment-01",
    );
    let mut text = config(&app, &fake, "production");
    text.push_str("\n[[environments.production.instances]]\ntenant = \"north\"\nport = 20597\nname = \"m-north\"\nruntime = \"fly\"\n");
    app.write("hoist.toml", &text);
    app.release("v1.0.0");
    let run = hoist(&app, &["deploy", "production"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("answered 401"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("environment variable {TOKEN_VAR}")),
        "{}",
        run.stderr
    );
    let history = hoist(&app, &["history", "production", "--json"]).await.ok();
    assert_no_token(&app, &[&run, &history]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_environment_with_a_container_and_a_fly_machine() {
    let fake = FakePlatform::start(Scenario::default()).await;
    let app = App::new("hoist-http-mixed", &[]);
    fake.add_machine(
        "hoist-http-south",
        "m-south",
        "registry.fly.io/x:deployment-01",
    );
    let mut text = config(&app, &fake, "staging");
    text.push_str(
        "\n[[environments.staging.instances]]\ntenant = \"north\"\nport = 20596\n\
         name = \"hoist-http-mixed-north\"\n\
         \n[[environments.staging.instances]]\ntenant = \"south\"\nport = 20595\nname = \"m-south\"\nruntime = \"fly\"\n",
    );
    app.write("hoist.toml", &text);
    app.release("v1.0.0");
    hoist(&app, &["deploy", "staging"]).await.ok();
    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v1.1.0");
    hoist(&app, &["deploy", "staging"]).await.ok();
    assert_eq!(
        support::http_get(20596, "/version").map(|(_, body)| body.trim().to_string()),
        Some("v1.1.0".to_string())
    );
    assert_eq!(image(&fake, "south"), "hoist-test/hoist-http-mixed:v1.1.0");

    // One table: each instance's kind, release and health.
    let table = hoist(&app, &["status", "staging"]).await.ok();
    let row = |tenant: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(tenant))
            .unwrap_or_else(|| panic!("no row for {tenant}:\n{}", table.stdout))
            .to_string()
    };
    let north = row("north");
    let south = row("south");
    assert!(
        north.contains("docker") && north.contains("v1.1.0") && north.contains("healthy"),
        "{north}"
    );
    assert!(
        south.contains("http") && south.contains("v1.1.0") && south.contains("healthy"),
        "{south}"
    );
    assert!(!table.stdout.contains("UNHEALTHY"), "{}", table.stdout);

    let rollback = hoist(&app, &["rollback", "staging", "--json"]).await.ok();
    assert_eq!(rollback.json()["release"]["version"], "v1.0.0");
    assert_eq!(
        support::http_get(20596, "/version").map(|(_, body)| body.trim().to_string()),
        Some("v1.0.0".to_string())
    );
    assert_eq!(image(&fake, "south"), "hoist-test/hoist-http-mixed:v1.0.0");
    let history = hoist(&app, &["history", "staging"]).await.ok();
    assert!(history.stdout.contains("rollback"), "{}", history.stdout);
}
