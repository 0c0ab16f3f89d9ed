//! No secret in any output: tenant env values, the process's credentials and a secret a
//! config error rejects never reach stdout or stderr, at any log level. (Ports
//! 19460–19469.)

mod support;

use support::App;

const DB_PASSWORD: &str = "s3cr3t-VALUE-123";
const REGISTRY_PASSWORD: &str = "reg-PASS-98765";

fn without_secrets(what: &str, output: &str) {
    for secret in [DB_PASSWORD, REGISTRY_PASSWORD] {
        assert!(
            !output.contains(secret),
            "{what} shows the secret {secret}:\n{output}"
        );
    }
}

#[test]
fn verbose_logs_of_deploy_and_status_never_print_a_secret() {
    let app = App::new("itsecret", &[19461]);
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    app.write(
        "hoist.toml",
        &config.replace(
            "env = { TENANT = \"t0\" }",
            // The scan would (rightly) refuse a literal password in the build context.
            &format!("env = {{ TENANT = \"t0\", DB_PASSWORD = \"{DB_PASSWORD}\" }} # hoist:allow"),
        ),
    );
    app.release("v1.0.0");
    let run = |args: &[&str]| {
        let out = app
            .hoist_command(args)
            .env("REGISTRY_PASSWORD", REGISTRY_PASSWORD)
            .env_remove("HOIST_LOG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["-vv", "deploy", "staging"]);
    assert_eq!(code, Some(0), "{stderr}");
    without_secrets("deploy -vv stdout", &stdout);
    without_secrets("deploy -vv stderr", &stderr);
    // The engine's request bodies were logged (that is where the env went) and masked.
    assert!(stderr.contains("DB_PASSWORD=*****"), "{stderr}");

    for args in [
        &["-vv", "status", "staging"][..],
        &["-vv", "status", "staging", "--json"],
        &["-vv", "history", "staging", "--json"],
        &["-vv", "plan", "staging", "--json"],
        &["-vv", "deploy", "staging", "--json"],
    ] {
        let (_, stdout, stderr) = run(args);
        without_secrets(&format!("{args:?} stdout"), &stdout);
        without_secrets(&format!("{args:?} stderr"), &stderr);
    }
}

#[test]
fn a_config_error_does_not_show_the_secret_it_rejects() {
    let app = App::new("itsecret2", &[19462]);
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    app.write(
        "hoist.toml",
        &format!(
            "{config}\n[notifiers.chat]\nkind = \"zulip\"\nsite = \"https://chat.example.com\"\nbot_email = \"bot@example.com\"\napi_key = \"{DB_PASSWORD}\"\nstream = \"deploys\"\n"
        ),
    );
    let run = app.hoist(&["plan", "staging"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("api_key"), "{}", run.stderr);
    without_secrets("the config error", &run.stderr);
    without_secrets("the config error", &run.stdout);
}
