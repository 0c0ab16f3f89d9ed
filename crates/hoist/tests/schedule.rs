//! Deploys that wait for their window (`--at-next-window`, `--at`), on the real Docker
//! engine: they wait without the lock, show the time left, are audited as scheduled and
//! then as the deploy; a signal cancels the wait cleanly; a time in the past or outside
//! every window is refused. Windows are whole minutes, so the test that waits for one to
//! open first waits (in the test, not in hoist) until the next minute is a few seconds away.

mod support;

use jiff::tz::TimeZone;
use support::{App, http_get};

fn utc_now() -> jiff::ZonedDateTime {
    jiff::Timestamp::now().to_zoned_datetime(TimeZone::UTC)
}

/// `HH:MM` of `z` plus `minutes`.
fn clock(z: &jiff::ZonedDateTime, minutes: i64) -> String {
    let t = z
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .unwrap();
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn with_window(app: &App, from: &str, to: &str) {
    app.append_config(&format!(
        "[environments.staging.policy]\ndeployers = [\"tester\"]\ntimezone = \"UTC\"\n\
         windows = [{{ from = \"{from}\", to = \"{to}\" }}]\n"
    ));
}

fn audit_actions(app: &App) -> Vec<String> {
    let entries = app.hoist(&["audit", "staging", "--json"]).ok().json();
    let mut actions: Vec<String> = entries
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    actions.reverse();
    actions
}

fn deployments(app: &App) -> usize {
    app.hoist(&["history", "staging", "--json"]).ok().json()["deployments"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_deploy_waits_for_the_window_to_open_then_deploys_and_a_bad_at_is_refused() {
    let app = App::new("hoist-task-window", &[20361]);
    // Closed for the next two hours: it opens in two hours, for one.
    let now = utc_now();
    with_window(&app, &clock(&now, 120), &clock(&now, 180));
    app.release("v1.0.0");

    let past = app.hoist(&["deploy", "staging", "--at", "2020-01-01T10:00"]);
    assert_eq!(past.code, 2, "{}", past.stderr);
    assert!(
        past.stderr.contains("cannot schedule the deploy")
            && past.stderr.contains("is in the past"),
        "{}",
        past.stderr
    );
    let tomorrow = now.date().tomorrow().unwrap();
    let closed_at = format!("{tomorrow}T{}", clock(&now, 60));
    let closed = app.hoist(&["deploy", "staging", "--at", &closed_at]);
    assert_eq!(closed.code, 2, "{}", closed.stderr);
    assert!(
        closed
            .stderr
            .contains("is outside staging's deploy windows")
            && closed.stderr.contains("the next window opens"),
        "{}",
        closed.stderr
    );
    assert_eq!(deployments(&app), 0);

    // A window that opens at the next minute, once that is at most ten seconds away.
    let mut now = utc_now();
    while now.second() < 50 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        now = utc_now();
    }
    app.write_config("5s");
    with_window(&app, &clock(&now, 1), &clock(&now, 30));
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "window"]);
    app.git(&["tag", "-f", "v1.0.1"]);
    let run = app.hoist(&["deploy", "staging", "--at-next-window"]).ok();
    assert!(
        run.stderr.contains("deploy scheduled for")
            && run.stderr.contains("waiting for staging's deploy time")
            && run.stderr.contains("left; Ctrl-C cancels"),
        "{}",
        run.stderr
    );
    let opened = utc_now();
    assert!(
        opened.minute() != now.minute() || opened.hour() != now.hour(),
        "deployed before the window opened ({now} -> {opened})"
    );
    assert_eq!(
        http_get(20361, "/version").map(|(_, b)| b.trim().to_string()),
        Some("v1.0.1".to_string())
    );
    let actions = audit_actions(&app);
    let scheduled = actions
        .iter()
        .position(|a| a == "deploy.scheduled")
        .unwrap_or_else(|| panic!("no scheduled entry in {actions:?}"));
    let allowed = actions
        .iter()
        .rposition(|a| a == "policy.allowed")
        .unwrap_or_else(|| panic!("no policy decision in {actions:?}"));
    assert!(scheduled < allowed, "{actions:?}");

    // Inside the window, --at-next-window deploys at once.
    let again = app.hoist(&["deploy", "staging", "--at-next-window"]).ok();
    assert!(!again.stderr.contains("waiting for"), "{}", again.stderr);
}

#[test]
fn a_signal_cancels_a_scheduled_deploy_before_it_locks_or_changes_anything() {
    let app = App::new("hoist-task-cancel", &[20362]);
    let now = utc_now();
    with_window(&app, &clock(&now, 120), &clock(&now, 180));
    app.release("v1.0.0");

    let run = app.signal_when(
        &["deploy", "staging", "--at-next-window"],
        "waiting for staging's deploy time",
        &["INT"],
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("stopped by SIGINT: nothing was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(deployments(&app), 0);
    assert!(app.containers().is_empty(), "{:?}", app.containers());
    let actions = audit_actions(&app);
    assert_eq!(
        actions,
        ["deploy.scheduled", "deploy.schedule_cancelled"],
        "{actions:?}"
    );
    // Nothing holds the lock.
    let unlock = app.hoist(&["unlock", "staging", "--force"]).ok();
    assert!(
        unlock.stdout.contains("staging was not locked"),
        "{}",
        unlock.stdout
    );
}
