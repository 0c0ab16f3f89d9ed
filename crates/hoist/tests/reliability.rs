//! Rollout settings against the real Docker engine: the stop timeout and its warning, and
//! the address instances publish on. Needs a running engine and Debian's busybox-static
//! (`.ci/run` installs both). Ports 19800-19849, app names `itrel*`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::App;

/// An app Dockerfile whose PID 1 (a shell with no TERM trap) ignores SIGTERM, as many
/// entrypoint scripts do: only SIGKILL stops it.
const IGNORES_SIGTERM: &str = "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY www /www\nARG HOIST_VERSION=dev\nENV APP_VERSION=${HOIST_VERSION}\n\
    CMD [\"sh\", \"-c\", \"echo \\\"$APP_VERSION\\\" > /www/version; httpd -f -p 8080 -h /www & wait\"]\n";

#[test]
fn an_old_container_that_ignores_sigterm_is_killed_after_stop_timeout_with_a_warning() {
    let app = App::new("itrelstop", &[19800]);
    app.write("Dockerfile", IGNORES_SIGTERM);
    app.write_config("10s");
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "health_timeout = \"10s\" }",
        "health_timeout = \"10s\", stop_timeout = \"2s\" }",
    );
    std::fs::write(&path, text).unwrap();
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    let started = Instant::now();
    let run = app.hoist(&["deploy", "staging"]).ok();
    let took = started.elapsed();
    // The wait is shown while it lasts, and the kill is warned about.
    assert!(
        run.stderr
            .contains("stopping the old container (SIGTERM; killed after 2 s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "stopping the old container: waiting for it to exit (SIGTERM sent 1 s ago; killed after 2 s)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("did not exit within 2 s of SIGTERM and was killed (SIGKILL)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("stop_timeout"), "{}", run.stderr);
    // The setting, not Docker's 10 s default, bounded the wait.
    assert!(took < Duration::from_secs(9), "took {took:?}");
    app.assert_all_on_current("v2.0.0");
}

#[test]
fn a_container_that_exits_on_sigterm_gets_no_warning() {
    let app = App::new("itrelterm", &[19801]);
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    app.write("www/index.html", "two\n");
    app.release("v2.0.0");
    let run = app.hoist(&["deploy", "staging"]).ok();
    assert!(
        run.stderr
            .contains("stopping the old container (SIGTERM; killed after 10 s)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("SIGKILL"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("waiting for it to exit"),
        "{}",
        run.stderr
    );
}

/// The host addresses a container's port is published on.
fn published_addresses(container: &str) -> String {
    let out = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}:{{.HostPort}} {{end}}{{end}}",
            container,
        ])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn instances_publish_on_the_bind_address_and_still_verify() {
    let app = App::new("itrelbind", &[19802]);
    app.staging_keys("bind = \"127.0.0.1\"");
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(
        published_addresses("itrelbind-staging-t0"),
        "127.0.0.1:19802"
    );
    // Probes and status reach it there.
    app.assert_all_on_current("v1.0.0");
    assert!(app.get(19802, "/healthz").is_some());

    // Without the key: every address, as before.
    let other = App::new("itrelbindall", &[19803]);
    other.release("v1.0.0");
    other.hoist(&["deploy", "staging"]).ok();
    assert_eq!(published_addresses("itrelbindall-staging-t0"), ":19803");
}
