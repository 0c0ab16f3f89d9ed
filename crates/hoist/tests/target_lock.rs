//! The environment lock held on the engine: two checkouts of one app, each with its own
//! state database, cannot deploy one environment at once (issue 13, defect 4). Real Docker
//! engine; apps named `ittlock-*`, ports 20050-20099.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::App;
use support::swarm::ensure_swarm;

const ENGINE: &str = "unix:///var/run/docker.sock";

/// The lock container of `app`'s staging, if there is one.
fn lock_container(app: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("name=^hoist-lock-{app}-staging$"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The heartbeat file's time in the lock container, once written.
fn lock_heartbeat(app: &str) -> Option<i64> {
    let out = Command::new("docker")
        .args([
            "cp",
            &format!("hoist-lock-{app}-staging:/hoist-lock-heartbeat"),
            "-",
        ])
        .output()
        .ok()?;
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
    text.trim().parse().ok()
}

fn remove_lock_container(app: &str) {
    let _ = Command::new("docker")
        .args(["rm", "-f", &format!("hoist-lock-{app}-staging")])
        .output();
}

/// A second checkout of `first`'s app: another directory, the same app name, ports and
/// environment, a page of its own, and its state in `state` (`--state`).
fn second_checkout(first: &App) -> App {
    let second = App::new(&first.name, &first.ports);
    second.write("www/index.html", "second checkout\n");
    second
}

fn spawn(app: &App, args: &[&str]) -> Child {
    app.hoist_command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hoist")
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait for hoist");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads `child`'s stderr until a line contains `marker`; returns the rest of the stream's
/// reader so the child never blocks on a full pipe.
fn wait_for_line(child: &mut Child, marker: &str) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (seen, saw) = std::sync::mpsc::channel();
    let wanted = marker.to_string();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut told = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !told && line.contains(&wanted) {
                told = true;
                let _ = seen.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    saw.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("hoist never printed {marker:?}"));
    reader
}

fn state_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("other-state.db").display().to_string()
}

#[test]
fn two_checkouts_deploying_at_once_run_one_at_a_time() {
    let first = App::new("ittlock-race", &[20050]);
    remove_lock_container(&first.name);
    first.release("v1.0.0");
    let second = second_checkout(&first);
    second.release("v1.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let state = state_arg(&elsewhere);

    let a = spawn(&first, &["deploy", "staging"]);
    let b = spawn(&second, &["--state", &state, "deploy", "staging"]);
    let (a_pid, b_pid) = (a.id(), b.id());
    let (a_code, a_err) = finish(a);
    let (b_code, b_err) = finish(b);

    // Exactly one ran; the other was refused, naming the winner and where the lock is.
    let (loser_err, winner_pid) = match (a_code, b_code) {
        (0, 1) => (&b_err, a_pid),
        (1, 0) => (&a_err, b_pid),
        _ => panic!(
            "expected one deploy to run and one to be refused, got {a_code} and {b_code}:\n{a_err}\n---\n{b_err}"
        ),
    };
    assert!(
        loser_err.contains(&format!(
            "staging is locked on the engine {ENGINE} by tester (pid {winner_pid} on "
        )),
        "{loser_err}"
    );
    assert!(
        loser_err.contains("hoist unlock staging --force"),
        "{loser_err}"
    );
    assert_eq!(
        lock_container(&first.name),
        None,
        "a finished deploy leaves no lock on the engine"
    );
}

#[test]
fn a_second_checkout_waits_for_the_first_and_then_runs() {
    let first = App::new("ittlock-wait", &[20053]);
    remove_lock_container(&first.name);
    // Slow to answer, so the first deploy is still rolling out when the second starts,
    // and long enough for a heartbeat (every 5 s).
    first.set_start_delay(7);
    first.write_config("30s");
    first.release("v1.0.0");
    let second = second_checkout(&first);
    second.release("v1.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let state = state_arg(&elsewhere);

    let mut a = spawn(&first, &["deploy", "staging"]);
    let a_output = wait_for_line(&mut a, "t0: verifying");
    assert!(
        lock_container(&first.name).is_some(),
        "a running deploy holds a lock on the engine"
    );
    // The heartbeat is written into the lock container while the deploy runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let heartbeat = loop {
        if let Some(at) = lock_heartbeat(&first.name) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "no heartbeat in the lock container"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!((jiff::Timestamp::now().as_second() - heartbeat).abs() < 15);
    let b = spawn(
        &second,
        &["--state", &state, "deploy", "staging", "--wait", "180"],
    );
    let a_status = a.wait().expect("first deploy");
    let a_err = a_output.join().unwrap();
    assert!(a_status.success(), "{a_err}");
    let (b_code, b_err) = finish(b);
    assert_eq!(b_code, 0, "{b_err}");
    assert!(
        b_err.contains(&format!(
            "staging is locked on the engine {ENGINE} by tester"
        )),
        "the second deploy says what it waits for:\n{b_err}"
    );
    // The second ran after the first: its page serves.
    let page = first.get(20053, "/index.html").map(|(_, body)| body);
    assert_eq!(page.as_deref(), Some("second checkout\n"));
    assert_eq!(lock_container(&first.name), None);
}

#[test]
fn a_crashed_holder_is_reclaimed_from_another_state_file() {
    let first = App::new("ittlock-crash", &[20056]);
    remove_lock_container(&first.name);
    first.set_start_delay(3);
    first.write_config("30s");
    first.release("v1.0.0");
    first.kill_when(&["deploy", "staging"], "t0: verifying");
    assert!(
        lock_container(&first.name).is_some(),
        "a killed deploy leaves its lock on the engine"
    );

    let second = second_checkout(&first);
    second.release("v1.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let state = state_arg(&elsewhere);
    let started = Instant::now();
    let run = second.hoist(&["--state", &state, "deploy", "staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "reclaimed the lock on the engine {ENGINE} of tester"
        )),
        "{}",
        run.stderr
    );
    // At once: a dead process on this host is not waited out like a stale heartbeat.
    assert!(started.elapsed() < Duration::from_secs(60));
    let audit = second
        .hoist(&["--state", &state, "audit", "staging", "--json"])
        .ok()
        .json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "lock.reclaimed"
                && e["detail"].as_str().unwrap_or("").contains(ENGINE)),
        "{audit:#}"
    );
    assert_eq!(lock_container(&first.name), None);
}

/// A lock container as another machine's hoist leaves it: holder `carol` on host
/// `elsewhere`, heartbeat `age_secs` ago.
fn foreign_lock(app: &str, age_secs: i64) {
    let heartbeat = jiff::Timestamp::now().as_second() - age_secs;
    let holder = r#"{"actor":"carol","hostname":"elsewhere","pid":4242,"process_start":7,"acquired_at":"2026-12-05T09:00:00Z","deployment":null,"state":"/srv/ci/state.db"}"#;
    let out = Command::new("docker")
        .args([
            "create",
            "--name",
            &format!("hoist-lock-{app}-staging"),
            "--label",
            &format!("dev.hoist.lock.holder={holder}"),
            "--label",
            &format!("dev.hoist.lock.heartbeat={heartbeat}"),
            "hoist/lock:empty",
            "hoist-lock",
        ])
        .output()
        .expect("docker create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_live_foreign_lock_refuses_until_unlock_force_and_a_stale_one_is_reclaimed() {
    let app = App::new("ittlock-foreign", &[20059]);
    remove_lock_container(&app.name);
    app.release("v1.0.0");
    // A first deploy imports the lock image and leaves no lock behind.
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(lock_container(&app.name), None);

    foreign_lock(&app.name, 5);
    let refused = app.hoist(&["deploy", "staging", "--version", "v1.0.0"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "staging is locked on the engine {ENGINE} by carol (pid 4242 on elsewhere"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("state /srv/ci/state.db"),
        "{}",
        refused.stderr
    );
    assert!(
        lock_container(&app.name).is_some(),
        "a refusal keeps the holder's lock"
    );

    let unlocked = app.hoist(&["unlock", "staging", "--force"]).ok();
    assert!(
        unlocked.stdout.contains(&format!(
            "removed the lock of carol (pid 4242 on elsewhere, since 2026-12-05T09:00:00Z) on the engine {ENGINE}"
        )),
        "{}",
        unlocked.stdout
    );
    assert_eq!(lock_container(&app.name), None);
    let audit = app.hoist(&["audit", "staging", "--json"]).ok().json();
    assert_eq!(audit[0]["action"], "lock.forced");

    // A heartbeat older than the stale limit (60 s) is a holder that is gone.
    foreign_lock(&app.name, 120);
    let run = app.hoist(&["deploy", "staging", "--version", "v1.0.0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "reclaimed the lock on the engine {ENGINE} of carol (pid 4242 on elsewhere"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(lock_container(&app.name), None);
}

/// The swarm's lock config of `app`'s production, if there is one.
fn lock_config(app: &str) -> Option<String> {
    let name = format!("hoist-lock-{app}-production");
    let out = Command::new("docker")
        .args(["config", "inspect", "--format", "{{.Spec.Name}}", &name])
        .output()
        .expect("docker config inspect");
    out.status.success().then_some(name)
}

fn remove_lock_config(app: &str) {
    let _ = Command::new("docker")
        .args(["config", "rm", &format!("hoist-lock-{app}-production")])
        .output();
}

/// A lock config as another machine's hoist leaves it, heartbeat `age_secs` ago.
fn foreign_swarm_lock(app: &str, age_secs: i64) {
    use std::io::Write;
    let heartbeat = jiff::Timestamp::now().as_second() - age_secs;
    let holder = r#"{"actor":"carol","hostname":"elsewhere","pid":4242,"process_start":7,"acquired_at":"2026-12-05T09:00:00Z","deployment":null}"#;
    let mut create = Command::new("docker")
        .args([
            "config",
            "create",
            "--label",
            &format!("dev.hoist.lock.holder={holder}"),
            "--label",
            &format!("dev.hoist.lock.heartbeat={heartbeat}"),
            &format!("hoist-lock-{app}-production"),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("docker config create");
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"hoist environment lock")
        .unwrap();
    assert!(create.wait().unwrap().success());
}

/// Removes the app's services when the test ends, however it ends.
struct Services(String);

impl Drop for Services {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["service", "rm", &format!("{}-production-p0", self.0)])
            .output();
        remove_lock_config(&self.0);
        // The task's container goes a moment later; the app's images only after it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!(
                        "label=com.docker.swarm.service.name={}-production-p0",
                        self.0
                    ),
                ])
                .output()
                .expect("docker ps");
            if out.stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Adds `production`, one instance on Swarm publishing `port`.
fn with_production_on_swarm(app: &App, port: u16) {
    app.append_config(&format!(
        "[environments.production]\nrollout = {{ health_timeout = \"30s\" }}\n\n\
         [[environments.production.instances]]\ntenant = \"p0\"\nport = {port}\n\n\
         [environments.production.runtime]\nkind = \"swarm\"\n\n\
         [environments.production.runtime.update]\nmonitor = \"1s\"\n"
    ));
}

#[test]
fn two_checkouts_deploying_to_one_swarm_at_once_run_one_at_a_time() {
    ensure_swarm();
    let first = App::new("ittlock-swarmrace", &[20073]);
    let _services = Services(first.name.clone());
    remove_lock_config(&first.name);
    with_production_on_swarm(&first, 20074);
    first.release("v1.0.0");
    let second = second_checkout(&first);
    with_production_on_swarm(&second, 20074);
    second.release("v1.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let state = state_arg(&elsewhere);

    let a = spawn(&first, &["deploy", "production"]);
    let b = spawn(&second, &["--state", &state, "deploy", "production"]);
    let (a_pid, b_pid) = (a.id(), b.id());
    let (a_code, a_err) = finish(a);
    let (b_code, b_err) = finish(b);
    let (loser_err, winner_pid) = match (a_code, b_code) {
        (0, 1) => (&b_err, a_pid),
        (1, 0) => (&a_err, b_pid),
        _ => panic!(
            "expected one deploy to run and one to be refused, got {a_code} and {b_code}:\n{a_err}\n---\n{b_err}"
        ),
    };
    assert!(
        loser_err.contains(&format!(
            "production is locked on the swarm managed at {ENGINE} by tester (pid {winner_pid} on "
        )),
        "{loser_err}"
    );
    assert_eq!(lock_config(&first.name), None);
}

#[test]
fn the_swarm_holds_the_lock_as_a_config_object() {
    ensure_swarm();
    let app = App::new("ittlock-swarm", &[20070]);
    let _services = Services(app.name.clone());
    remove_lock_config(&app.name);
    with_production_on_swarm(&app, 20071);
    app.release("v1.0.0");
    app.hoist(&["deploy", "production"]).ok();
    assert_eq!(
        lock_config(&app.name),
        None,
        "a finished deploy leaves no lock config"
    );

    let swarm = format!("the swarm managed at {ENGINE}");
    foreign_swarm_lock(&app.name, 5);
    let refused = app.hoist(&["deploy", "production", "--version", "v1.0.0"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "production is locked on {swarm} by carol (pid 4242 on elsewhere"
        )),
        "{}",
        refused.stderr
    );

    let unlocked = app.hoist(&["unlock", "production", "--force"]).ok();
    assert!(
        unlocked
            .stdout
            .contains(&format!("removed the lock of carol (pid 4242 on elsewhere, since 2026-12-05T09:00:00Z) on {swarm}")),
        "{}",
        unlocked.stdout
    );
    assert_eq!(lock_config(&app.name), None);

    foreign_swarm_lock(&app.name, 120);
    let run = app.hoist(&["deploy", "production", "--version", "v1.0.0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("reclaimed the lock on {swarm} of carol")),
        "{}",
        run.stderr
    );
    assert_eq!(lock_config(&app.name), None);

    // While a deploy runs, its heartbeat label is refreshed (a versioned update).
    app.set_start_delay(8);
    app.write("www/index.html", "v2\n");
    app.release("v2.0.0");
    let mut slow = spawn(&app, &["deploy", "production"]);
    let output = wait_for_line(&mut slow, "p0: verifying");
    let first = swarm_heartbeat(&app.name).expect("a lock config while deploying");
    let deadline = Instant::now() + Duration::from_secs(12);
    while swarm_heartbeat(&app.name).is_none_or(|at| at <= first) {
        assert!(Instant::now() < deadline, "the heartbeat label never moved");
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = slow.wait().unwrap();
    let output = output.join().unwrap();
    assert!(status.success(), "{output}");
    assert_eq!(lock_config(&app.name), None);
}

/// The heartbeat label of `app`'s production lock config.
fn swarm_heartbeat(app: &str) -> Option<i64> {
    let out = Command::new("docker")
        .args([
            "config",
            "inspect",
            "--format",
            "{{index .Spec.Labels \"dev.hoist.lock.heartbeat\"}}",
            &format!("hoist-lock-{app}-production"),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn a_failed_deploy_leaves_no_lock_on_the_engine() {
    let app = App::new("ittlock-fail", &[20062]);
    remove_lock_container(&app.name);
    // The app image cannot be built: the deploy fails after the lock was taken.
    app.write(
        "Dockerfile",
        "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nRUN [\"/bin/false\"]\n",
    );
    app.release("v1.0.0");
    let failed = app.hoist(&["deploy", "staging"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("==> lock"), "{}", failed.stderr);
    assert_eq!(lock_container(&app.name), None);
    // And the next deploy is not refused by a leftover.
    app.set_start_delay(0);
    app.release("v1.0.1");
    app.hoist(&["deploy", "staging"]).ok();
    assert_eq!(lock_container(&app.name), None);
}

#[test]
fn unlock_force_out_of_reach_of_the_engine_still_clears_the_state_database() {
    use hoist_core::Store;
    use hoist_core::store::LockHolder;
    let app = App::new("ittlock-noengine", &[20065]);
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let holder = LockHolder::this_process("someone-else");
    store
        .try_lock(&app.name, "staging", &holder, Duration::from_secs(60))
        .unwrap();
    drop(store);

    // Nothing listens there: the targets cannot be reached.
    let run = app.hoist(&[
        "--build-host",
        "tcp://127.0.0.1:1",
        "unlock",
        "staging",
        "--force",
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("error: the lock on the targets could not be removed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("removed the lock of someone-else (pid")
            && run.stdout.contains("from the state database"),
        "{}",
        run.stdout
    );
    let audit = app.hoist(&["audit", "staging", "--json"]).ok().json();
    assert_eq!(audit[0]["action"], "lock.forced");
}
