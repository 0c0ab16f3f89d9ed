//! The zero-downtime switch through a real Caddy (`switch = "proxy"`): clients requesting a
//! tenant throughout a deploy and a rollback see no failed request, including slow requests
//! in flight to the old container when it is switched away from (the drain). Needs the
//! engine, busybox-static and Caddy (`scripts/setup-machine.sh` installs them); hoist starts
//! Caddy itself on the test's admin port, with its state in the test's directory, and the
//! test stops it at the start (a Caddy left by a killed run) and at the end, pass or fail.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use support::{App, Run, http_get};

const PORT: u16 = 20401;
/// The retire test's two tenants.
const RETIRE_PORTS: [u16; 2] = [20402, 20403];
/// The test of leaving the proxy: its two tenants.
const LEAVING_PORTS: [u16; 2] = [20404, 20405];
/// The test of a failed switch away from the proxy.
const BACK_PORT: u16 = 20406;
const ADMIN: u16 = 20419;

/// The tests share this Caddy (one admin port, one state directory): one at a time.
static ONE_CADDY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a client saw: every answer's body (trimmed), or why it failed (with when, in ms
/// since the client started, to set beside hoist's output).
type Seen = Vec<Result<String, String>>;

/// Requests `path` on the tenant's port until `stop`, one connection per request.
fn client(path: &'static str, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let at = started.elapsed().as_millis();
            seen.push(match http_get(PORT, path) {
                Some((200, body)) => Ok(body.trim().to_string()),
                Some((status, body)) => Err(format!("{status}: {} (at {at} ms)", body.trim())),
                None => Err(format!("no answer (at {at} ms)")),
            });
        }
        seen
    })
}

/// The Caddy hoist starts for this test: stopped before (one a killed run left) and when
/// the test ends, even by a panic.
struct TestCaddy(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl TestCaddy {
    fn fresh() -> TestCaddy {
        // A test that failed holding it poisons nothing the next one needs.
        let one = ONE_CADDY.lock().unwrap_or_else(|e| e.into_inner());
        stop_caddy();
        let _ = std::fs::remove_dir_all(proxy_state());
        TestCaddy(one)
    }
}

impl Drop for TestCaddy {
    fn drop(&mut self) {
        stop_caddy();
    }
}

/// The servers object of the test's Caddy (`null` when it has none); HTTP/1.0, so the
/// answer is not chunked.
fn caddy_servers() -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ADMIN)).expect("Caddy's admin API");
    write!(
        s,
        "GET /config/apps/http/servers HTTP/1.0\r\nHost: 127.0.0.1:{ADMIN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Where the Caddy of this test keeps its state: outside the app's tree (which is the
/// build context and committed), emptied when the test starts.
fn proxy_state() -> std::path::PathBuf {
    std::env::temp_dir().join("hoist-pxy-zd-proxy-state")
}

/// hoist with the proxy's state (config autosave, log) kept apart for this test, so no
/// other run's saved config is resumed.
fn hoist(app: &App, args: &[&str]) -> Run {
    let out = app
        .hoist_command(args)
        .env("XDG_STATE_HOME", proxy_state())
        .output()
        .expect("run hoist");
    Run::from(out)
}

/// The end of the Caddy log of this test, for a failure message.
fn caddy_log() -> String {
    let log = proxy_state().join(format!("hoist/caddy-{ADMIN}/caddy.log"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs hoist with `args` while a fast client (`/version`) and a slow one (a CGI that
/// takes a second, so requests are in flight at the switch) request the tenant; at least
/// 100 fast requests before and after. Returns what each saw.
fn under_load(app: &App, args: &[&str]) -> (Seen, Seen, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let fast = client("/version", stop.clone());
    let slow = client("/cgi-bin/slow", stop.clone());
    let count = || {
        let mut n = 0;
        while http_get(PORT, "/version").is_some() && n < 100 {
            n += 1;
        }
    };
    count();
    let run = hoist(app, args).ok();
    count();
    stop.store(true, Ordering::Relaxed);
    let context = format!(
        "hoist said:\n{}\n{}\nCaddy's log ends:\n{}",
        run.stdout,
        run.stderr,
        caddy_log()
    );
    (fast.join().unwrap(), slow.join().unwrap(), context)
}

/// No failure, at least `min` requests, and the versions only move from `from` to `to`.
fn assert_switched(seen: &Seen, min: usize, from: &str, to: &str, what: &str, context: &str) {
    let failures: Vec<_> = seen.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{what}: failed requests: {failures:?}\n{context}"
    );
    assert!(seen.len() >= min, "{what}: only {} requests", seen.len());
    let versions: Vec<&str> = seen
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|body| body.rsplit(' ').next().unwrap_or(body))
        .collect();
    let first_new = versions
        .iter()
        .position(|v| *v == to)
        .unwrap_or(versions.len());
    assert!(
        versions[..first_new].iter().all(|v| *v == from)
            && versions[first_new..].iter().all(|v| *v == to),
        "{what}: versions went {from} → {to} and back: {versions:?}"
    );
    assert_eq!(versions.last().copied(), Some(to), "{what}: ends on {to}");
}

fn stop_caddy() {
    use std::io::Write;
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", ADMIN)) {
        let _ = write!(
            s,
            "POST /stop HTTP/1.1\r\nHost: 127.0.0.1:{ADMIN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
    }
}

#[test]
fn deploy_and_rollback_through_the_proxy_fail_no_request() {
    let _caddy = TestCaddy::fresh();
    let app = App::new("hoist-pxy-zd", &[PORT]);
    app.staging_keys("bind = \"127.0.0.1\"");
    app.append_config(&format!(
        "[environments.staging.runtime]\nkind = \"docker\"\nswitch = \"proxy\"\n\
         proxy_admin = \"127.0.0.1:{ADMIN}\"\ndrain_timeout = \"10s\"\n"
    ));
    // A slow endpoint: the request is in flight for a second.
    app.write(
        "www/cgi-bin/slow",
        "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow %s\\n' \"$APP_VERSION\"\n",
    );
    let slow = app.root().join("www/cgi-bin/slow");
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    app.release("v1.0.0");
    hoist(&app, &["deploy", "staging"]).ok();
    assert_eq!(
        http_get(PORT, "/version")
            .map(|(_, b)| b.trim().to_string())
            .as_deref(),
        Some("v1.0.0")
    );

    app.write("www/index.html", "<h1>v2</h1>\n");
    app.release("v2.0.0");
    let (fast, slow, context) = under_load(&app, &["deploy", "staging"]);
    assert_switched(&fast, 200, "v1.0.0", "v2.0.0", "deploy, /version", &context);
    assert_switched(
        &slow,
        1,
        "v1.0.0",
        "v2.0.0",
        "deploy, /cgi-bin/slow",
        &context,
    );
    // The old container is kept, stopped, for a rollback.
    assert_eq!(
        app.containers(),
        ["hoist-pxy-zd-staging-t0", "hoist-pxy-zd-staging-t0--prev"]
    );
    app.assert_all_on_current("v2.0.0");

    let (fast, slow, context) = under_load(&app, &["rollback", "staging"]);
    assert_switched(
        &fast,
        200,
        "v2.0.0",
        "v1.0.0",
        "rollback, /version",
        &context,
    );
    assert_switched(
        &slow,
        1,
        "v2.0.0",
        "v1.0.0",
        "rollback, /cgi-bin/slow",
        &context,
    );
    app.assert_all_on_current("v1.0.0");
    assert_eq!(
        app.containers(),
        ["hoist-pxy-zd-staging-t0", "hoist-pxy-zd-staging-t0--prev"]
    );
}

#[test]
fn retiring_a_tenant_frees_its_port_in_the_proxy_for_another() {
    let _caddy = TestCaddy::fresh();
    let proxied = format!(
        "\n[environments.staging.runtime]\nkind = \"docker\"\nswitch = \"proxy\"\n\
         proxy_admin = \"127.0.0.1:{ADMIN}\"\n"
    );
    let mut app = App::new("hoist-pxy-rt", &RETIRE_PORTS);
    app.write_config_with("20s", &proxied);
    app.staging_keys("bind = \"127.0.0.1\"");
    app.release("v1.0.0");
    hoist(&app, &["deploy", "staging"]).ok();
    let servers = caddy_servers();
    assert!(
        servers.get("hoist-hoist-pxy-rt-staging-t1").is_some(),
        "{servers:#}"
    );

    // t1 leaves hoist.toml and is retired: its container and its server in the proxy go.
    app.ports = vec![RETIRE_PORTS[0]];
    app.write_config_with("20s", &proxied);
    app.staging_keys("bind = \"127.0.0.1\"");
    app.commit_config();
    hoist(&app, &["retire", "staging", "t1"]).ok();
    assert_eq!(app.containers(), ["hoist-pxy-rt-staging-t0"]);
    let servers = caddy_servers();
    assert!(
        servers.get("hoist-hoist-pxy-rt-staging-t1").is_none()
            && servers.get("hoist-hoist-pxy-rt-staging-t0").is_some(),
        "{servers:#}"
    );
    assert_eq!(
        http_get(RETIRE_PORTS[1], "/version"),
        None,
        "the port still answers"
    );

    // A new tenant on the freed port deploys through the proxy.
    let text = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    let new_tenant = format!(
        "\n[[environments.staging.instances]]\ntenant = \"t9\"\nport = {}\n",
        RETIRE_PORTS[1]
    );
    let text = text.replacen(
        "\n[environments.staging.runtime]",
        &format!("{new_tenant}\n[environments.staging.runtime]"),
        1,
    );
    app.write("hoist.toml", &text);
    app.commit_config();
    hoist(&app, &["deploy", "staging", "--version", "v1.0.0"]).ok();
    assert_eq!(
        http_get(RETIRE_PORTS[1], "/version").map(|(_, b)| b.trim().to_string()),
        Some("v1.0.0".to_string())
    );
}

/// An environment that leaves `switch = "proxy"` for the port switch: the tenant still in
/// the config moves to the port switch on the next deploy (its server in the proxy goes
/// so the new container can publish the port, and the stopped previous container the proxy
/// switch kept is not mistaken for an interrupted switch's); the tenant that left is
/// retired with its server, though the config no longer names the proxy.
#[test]
fn leaving_the_proxy_for_the_port_switch_frees_each_tenants_port() {
    let _caddy = TestCaddy::fresh();
    let proxied = format!(
        "\n[environments.staging.runtime]\nkind = \"docker\"\nswitch = \"proxy\"\n\
         proxy_admin = \"127.0.0.1:{ADMIN}\"\n"
    );
    let mut app = App::new("hoist-pxy-lv", &LEAVING_PORTS);
    app.write_config_with("20s", &proxied);
    app.staging_keys("bind = \"127.0.0.1\"");
    app.release("v1.0.0");
    hoist(&app, &["deploy", "staging"]).ok();
    app.release("v1.1.0");
    hoist(&app, &["deploy", "staging"]).ok();
    assert_eq!(
        app.containers(),
        [
            "hoist-pxy-lv-staging-t0",
            "hoist-pxy-lv-staging-t0--prev",
            "hoist-pxy-lv-staging-t1",
            "hoist-pxy-lv-staging-t1--prev"
        ]
    );

    // The proxy goes from the config, and t1 with it: retiring t1 removes its server.
    app.ports = vec![LEAVING_PORTS[0]];
    app.write_config_with("20s", "");
    app.staging_keys("bind = \"127.0.0.1\"");
    app.commit_config();
    hoist(&app, &["retire", "staging", "t1"]).ok();
    let servers = caddy_servers();
    assert!(
        servers.get("hoist-hoist-pxy-lv-staging-t1").is_none()
            && servers.get("hoist-hoist-pxy-lv-staging-t0").is_some(),
        "{servers:#}"
    );
    assert_eq!(
        http_get(LEAVING_PORTS[1], "/version"),
        None,
        "t1's port still answers"
    );

    // t0's next release goes out through the port switch, from v1.1.0 (not from the
    // v1.0.0 the kept previous container runs), and publishes the port itself.
    app.release("v1.2.0");
    let run = hoist(&app, &["deploy", "staging"]).ok();
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        said.contains("removed hoist-pxy-lv-staging-t0--prev, kept stopped by the proxy switch")
            && said.contains("hoist-pxy-lv-staging-t0 was served through the proxy"),
        "{said}"
    );
    assert!(!said.contains("restored the previous container"), "{said}");
    let servers = caddy_servers();
    assert!(
        servers.get("hoist-hoist-pxy-lv-staging-t0").is_none(),
        "{servers:#}"
    );
    assert_eq!(
        http_get(LEAVING_PORTS[0], "/version").map(|(_, b)| b.trim().to_string()),
        Some("v1.2.0".to_string())
    );
    assert_eq!(app.containers(), ["hoist-pxy-lv-staging-t0"]);
}

/// The first port-switch deploy after leaving the proxy fails after the proxy gave up the
/// port: the old container is restored and the proxy sends to it again, so the tenant
/// keeps answering on its port with the old release.
///
/// The failure is made deterministic with a mount both of the release's containers see:
/// a release shipping `www/fail-second-start` serves from its first container (the
/// candidate, which verifies) and exits in its second (the live one, after the switch).
#[test]
fn a_failed_switch_away_from_the_proxy_puts_the_old_container_back_behind_it() {
    let _caddy = TestCaddy::fresh();
    let marks = tempfile::tempdir().expect("tempdir");
    let mount = format!("volumes = [\"{}:/marks\"]", marks.path().display());
    let proxied = format!(
        "\n[environments.staging.runtime]\nkind = \"docker\"\nswitch = \"proxy\"\n\
         proxy_admin = \"127.0.0.1:{ADMIN}\"\n"
    );
    let app = App::new("hoist-pxy-bk", &[BACK_PORT]);
    let script = "trap 'exit 0' TERM; \
        if [ -e /www/fail-second-start ]; then \
          if [ -e /marks/started ]; then exit 1; fi; touch /marks/started; \
        fi; \
        echo \"$APP_VERSION\" > /www/version; httpd -f -p 8080 -h /www & wait";
    app.write(
        "Dockerfile",
        &format!(
            "ARG HOIST_BASE\nFROM ${{HOIST_BASE}}\nCOPY www /www\nARG HOIST_VERSION=dev\n\
             ENV APP_VERSION=${{HOIST_VERSION}}\nCMD {}\n",
            serde_json::to_string(&["sh", "-c", script]).unwrap()
        ),
    );
    app.write_config_with("5s", &proxied);
    app.staging_keys(&format!("bind = \"127.0.0.1\"\n{mount}"));
    app.release("v1.0.0");
    hoist(&app, &["deploy", "staging"]).ok();

    // The proxy goes from the config; the next release cannot run twice.
    app.write_config_with("5s", "");
    app.staging_keys(&format!("bind = \"127.0.0.1\"\n{mount}"));
    app.write("www/fail-second-start", "");
    app.release("v1.1.0");
    let run = hoist(&app, &["deploy", "staging"]);
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert_ne!(run.code, 0, "{said}");
    assert!(
        said.contains("hoist-pxy-bk-staging-t0 was served through the proxy")
            && said.contains("the previous container serves again"),
        "{said}"
    );
    assert!(
        marks.path().join("started").exists(),
        "the candidate never ran: {said}"
    );
    let servers = caddy_servers();
    assert!(
        servers.get("hoist-hoist-pxy-bk-staging-t0").is_some(),
        "the proxy no longer sends to the restored container: {servers:#}\n{said}"
    );
    assert_eq!(
        http_get(BACK_PORT, "/version").map(|(_, b)| b.trim().to_string()),
        Some("v1.0.0".to_string()),
        "{said}"
    );
    assert_eq!(app.containers(), ["hoist-pxy-bk-staging-t0"]);
}
