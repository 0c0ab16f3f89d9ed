//! Two hoist processes sharing one PostgreSQL never hold an environment's lock at once,
//! and the lock of a holder killed with SIGKILL is reclaimed, its deployment marked
//! interrupted.
//!
//! This binary is its own competitor: started with `--hold URL`, it is a process that
//! tries to take the lock of clinic/staging once and says whether it got it, then (if it
//! did) keeps it until it is killed. So the test has its own `main` (`harness = false`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hoist_core::store::{
    DeploymentKind, DeploymentOutcome, DeploymentRecord, LockAttempt, LockHolder, Store,
};
use hoist_store_pg::PgStore;
use hoist_store_pg::testing::Cluster;

const PORT: u16 = 20752;
const STALE_AFTER: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, url] = args.as_slice()
        && flag == "--hold"
    {
        return hold(url);
    }
    let tests: [(&str, fn()); 2] = [
        ("processes_racing_for_one_environment_get_it_once", race),
        ("a_killed_holders_lock_is_reclaimed", reclaim_after_kill),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        failed += usize::from(outcome.is_err());
    }
    println!("{} passed, {failed} failed", tests.len() - failed);
    if failed > 0 {
        std::process::exit(101);
    }
}

/// The competing process: records a running deployment, tries the lock once (the
/// deployment named in the holder), prints `acquired DEPLOYMENT` or `held PID`, and if
/// it got the lock waits (until killed, or its stdin closes).
fn hold(url: &str) {
    let store = PgStore::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let deployment = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: "clinic".into(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v1".into(),
            image_id: "sha256:a".into(),
            actor: "racer".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        })
        .unwrap();
    let mut me = LockHolder::this_process("racer");
    me.deployment = Some(deployment);
    match store
        .try_lock("clinic", "staging", &me, STALE_AFTER)
        .unwrap()
    {
        LockAttempt::Acquired { .. } => {
            println!("acquired {deployment}");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        LockAttempt::HeldBy(holder) => {
            store
                .finish_deployment(deployment, DeploymentOutcome::Failed, "locked")
                .unwrap();
            println!("held {}", holder.pid);
        }
    }
}

fn competitor(url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--hold", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

fn race() {
    let url = Cluster::shared(PORT).database("pg_lock_race");
    // The schema first, so the racers race for the lock and not the migration.
    PgStore::connect(&url).unwrap();
    let mut racers: Vec<Child> = (0..4).map(|_| competitor(&url)).collect();
    let said: Vec<(u32, String)> = racers.iter_mut().map(|c| (c.id(), first_line(c))).collect();
    let winners: Vec<u32> = said
        .iter()
        .filter(|(_, line)| line.starts_with("acquired"))
        .map(|(pid, _)| *pid)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one process takes the lock: {said:?}"
    );
    for (_, line) in said.iter().filter(|(_, l)| !l.starts_with("acquired")) {
        assert_eq!(*line, format!("held {}", winners[0]), "{said:?}");
    }
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(
        store
            .lock_holder("clinic", "staging")
            .unwrap()
            .map(|h| h.pid),
        Some(winners[0])
    );
    for mut racer in racers {
        drop(racer.stdin.take());
        racer.wait().unwrap();
    }
}

fn reclaim_after_kill() {
    let url = Cluster::shared(PORT).database("pg_lock_kill");
    let mut holder = competitor(&url);
    let line = first_line(&mut holder);
    let deployment: i64 = line
        .strip_prefix("acquired ")
        .unwrap_or_else(|| panic!("the only process takes the lock: {line}"))
        .parse()
        .unwrap();
    let pid = holder.id();
    // While it lives, another process is refused.
    let mut second = competitor(&url);
    assert_eq!(first_line(&mut second), format!("held {pid}"));
    second.wait().unwrap();

    // SIGKILL: no unlock, no cleanup; its lock row stays behind.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let store = PgStore::connect(&url).unwrap();
    assert_eq!(
        store
            .lock_holder("clinic", "staging")
            .unwrap()
            .map(|h| h.pid),
        Some(pid)
    );

    let mut next = competitor(&url);
    let line = first_line(&mut next);
    assert!(
        line.starts_with("acquired "),
        "the dead holder's lock is taken over: {line}"
    );
    let interrupted = store
        .deployments("clinic", "staging", 10)
        .unwrap()
        .into_iter()
        .find(|d| d.id == deployment)
        .unwrap();
    assert_eq!(interrupted.outcome, DeploymentOutcome::Interrupted);
    drop(next.stdin.take());
    next.wait().unwrap();
}
