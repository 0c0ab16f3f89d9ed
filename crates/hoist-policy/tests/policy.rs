//! Policy decisions: who, what, when, overrides. Every instant is given in UTC and the
//! comment beside it says what the local clock shows.

use hoist_policy::window::{parse_date, time_zone};
use hoist_policy::{
    Decision, GitRef, Policy, Principal, Principals, Request, Schedule, Weekdays, Window,
    WindowError, decide,
};
use jiff::Timestamp;

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

fn release_managers() -> Principal {
    Principal::Group {
        name: "release-managers".into(),
        members: vec!["bob".into(), "carol".into()],
    }
}

fn schedule(zone: &str, windows: &[(&str, &str, &str)], blackout: &[&str]) -> Schedule {
    let windows = windows
        .iter()
        .map(|(days, from, to)| Window::parse(Some(days), from, to).unwrap())
        .collect();
    let blackout = blackout.iter().map(|d| parse_date(d).unwrap());
    Schedule::new(zone, windows, blackout).unwrap()
}

/// Production as the issue describes it.
fn production() -> Policy {
    Policy {
        environment: "production".into(),
        deployers: Some(Principals(vec![release_managers()])),
        release_tags_only: true,
        schedule: Some(schedule(
            "America/Toronto",
            &[("mon-fri", "09:00", "17:00")],
            &[],
        )),
        override_window_by: Some(Principals(vec![release_managers()])),
    }
}

fn request(actor: &str, git_ref: &str, now: &str) -> Request {
    Request {
        actor: actor.into(),
        git_ref: GitRef::parse(git_ref).unwrap(),
        now: at(now),
        override_window: false,
        reason: None,
    }
}

fn overriding(mut request: Request, reason: Option<&str>) -> Request {
    request.override_window = true;
    request.reason = reason.map(String::from);
    request
}

/// Tuesday 2026-01-13 12:00 EST.
const TUESDAY_NOON: &str = "2026-01-13T17:00:00Z";
/// Saturday 2026-01-17 10:12 EST.
const SATURDAY: &str = "2026-01-17T15:12:00Z";

fn assert_allowed(d: &Decision) {
    assert!(d.allowed, "refused: {:?}", d.reasons);
    assert!(d.reasons.is_empty());
}

fn assert_refused(d: &Decision, expected: &str) {
    assert!(!d.allowed, "allowed: {d:?}");
    assert!(
        d.reasons.iter().any(|r| r.contains(expected)),
        "no reason contains {expected:?}: {:#?}",
        d.reasons
    );
}

// --- who ---

#[test]
fn deployer_listed_by_name_is_allowed() {
    let mut policy = production();
    policy.deployers = Some(Principals(vec![Principal::User("dave".into())]));
    let d = decide(&policy, &request("dave", "v2.3.0", TUESDAY_NOON));
    assert_allowed(&d);
    assert!(
        d.notes
            .contains(&"dave is among production's deployers".to_string())
    );
}

#[test]
fn deployer_through_a_group_is_allowed() {
    let d = decide(&production(), &request("bob", "v2.3.0", TUESDAY_NOON));
    assert_allowed(&d);
    assert!(
        d.notes
            .contains(&"bob may deploy to production as a member of release-managers".into()),
        "{:?}",
        d.notes
    );
}

#[test]
fn someone_else_is_refused_with_who_may() {
    let d = decide(&production(), &request("alice", "v2.3.0", TUESDAY_NOON));
    assert_eq!(
        d.reasons,
        ["alice is not among production's deployers (release-managers: bob, carol)"]
    );
    let mut policy = production();
    policy.deployers = Some(Principals(vec![
        Principal::User("dave".into()),
        release_managers(),
    ]));
    let d = decide(&policy, &request("alice", "v2.3.0", TUESDAY_NOON));
    assert_refused(&d, "(dave; release-managers: bob, carol)");
}

#[test]
fn without_deployers_anyone_may_deploy() {
    let d = decide(
        &Policy::open("staging"),
        &request("anyone", "main", SATURDAY),
    );
    assert_allowed(&d);
    assert!(!d.overridden);
}

// --- what ---

#[test]
fn release_tags_only_accepts_a_release() {
    assert_allowed(&decide(
        &production(),
        &request("bob", "refs/tags/v2.3.0", TUESDAY_NOON),
    ));
}

#[test]
fn release_tags_only_refuses_pre_releases_branches_and_other_tags() {
    let policy = production();
    let d = decide(&policy, &request("bob", "v2.3.0-beta.1", TUESDAY_NOON));
    assert_eq!(
        d.reasons,
        [
            "production only deploys semver release tags such as v2.3.0 (release_tags_only), \
             and the tag `v2.3.0-beta.1` is a pre-release"
        ]
    );
    let d = decide(&policy, &request("bob", "main", TUESDAY_NOON));
    assert_refused(&d, "the branch `main` is a branch");
    let d = decide(&policy, &request("bob", "refs/tags/hotfix", TUESDAY_NOON));
    assert_refused(&d, "the tag `hotfix` is not a semver version");
    let d = decide(&policy, &request("bob", "v2.3", TUESDAY_NOON));
    assert_refused(&d, "it has no patch number");
}

#[test]
fn every_problem_is_listed_at_once() {
    let d = decide(&production(), &request("alice", "main", SATURDAY));
    assert_eq!(d.reasons.len(), 4, "{:#?}", d.reasons);
    assert!(d.reasons[0].starts_with("alice is not among"));
    assert!(d.reasons[1].contains("release_tags_only"));
    assert!(d.reasons[2].starts_with("outside production's deploy windows"));
    assert!(d.reasons[3].contains("ask someone who may override"));
}

// --- when: windows ---

#[test]
fn inside_the_window_is_allowed() {
    assert_allowed(&decide(
        &production(),
        &request("bob", "v2.3.0", TUESDAY_NOON),
    ));
}

#[test]
fn outside_the_window_is_refused_with_local_time_and_next_opening() {
    let d = decide(&production(), &request("bob", "v2.3.0", SATURDAY));
    assert_eq!(
        d.reasons[0],
        "outside production's deploy windows: Mon-Fri 09:00-17:00 America/Toronto; \
         now is Sat 10:12 EST; the next window opens Mon 2026-01-19 09:00 EST"
    );
    // bob may override, so he is told how.
    assert_eq!(
        d.reasons[1],
        "to deploy anyway, run again with --override-window --reason \"...\" \
         (you are among those who may override production's schedule)"
    );
}

#[test]
fn window_edges_from_inclusive_to_exclusive() {
    let s = schedule("America/Toronto", &[("mon-fri", "09:00", "17:00")], &[]);
    // Tuesday 2026-01-13, EST (UTC-5).
    assert!(!s.is_open(at("2026-01-13T13:59:59.999Z")), "08:59:59.999");
    assert!(s.is_open(at("2026-01-13T14:00:00Z")), "09:00:00 opens");
    assert!(s.is_open(at("2026-01-13T21:59:59Z")), "16:59:59");
    assert!(!s.is_open(at("2026-01-13T22:00:00Z")), "17:00:00 is closed");
}

#[test]
fn the_same_instant_in_different_time_zones() {
    let now = at("2026-01-13T20:00:00Z");
    let window = [("mon-fri", "09:00", "17:00")];
    assert!(
        schedule("America/Toronto", &window, &[]).is_open(now),
        "15:00 EST"
    );
    assert!(
        !schedule("Europe/Berlin", &window, &[]).is_open(now),
        "21:00 CET"
    );
    assert!(
        !schedule("Asia/Tokyo", &window, &[]).is_open(now),
        "Wed 05:00 JST"
    );
    assert!(!schedule("UTC", &window, &[]).is_open(now), "20:00 UTC");
    assert!(schedule("UTC", &window, &[]).is_open(at("2026-01-13T16:59:00Z")));
}

#[test]
fn windows_follow_wall_time_when_toronto_springs_forward() {
    // 2026-03-08 02:00 EST becomes 03:00 EDT: 09:00 local moves from 14:00Z to 13:00Z.
    let s = schedule("America/Toronto", &[("mon-sun", "09:00", "17:00")], &[]);
    assert!(!s.is_open(at("2026-03-07T13:59:59Z")), "Sat 08:59:59 EST");
    assert!(s.is_open(at("2026-03-07T14:00:00Z")), "Sat 09:00 EST");
    assert!(!s.is_open(at("2026-03-08T12:59:59Z")), "Sun 08:59:59 EDT");
    assert!(s.is_open(at("2026-03-08T13:00:00Z")), "Sun 09:00 EDT");
    assert!(s.is_open(at("2026-03-08T20:59:59Z")), "Sun 16:59:59 EDT");
    assert!(!s.is_open(at("2026-03-08T21:00:00Z")), "Sun 17:00 EDT");
}

#[test]
fn windows_follow_wall_time_when_toronto_falls_back() {
    // 2026-11-01 02:00 EDT becomes 01:00 EST: 09:00 local moves from 13:00Z to 14:00Z.
    let s = schedule("America/Toronto", &[("mon-sun", "09:00", "17:00")], &[]);
    assert!(s.is_open(at("2026-10-31T13:00:00Z")), "Sat 09:00 EDT");
    assert!(!s.is_open(at("2026-11-01T13:00:00Z")), "Sun 08:00 EST");
    assert!(s.is_open(at("2026-11-01T14:00:00Z")), "Sun 09:00 EST");
    assert!(s.is_open(at("2026-11-01T21:59:59Z")), "Sun 16:59:59 EST");
    assert!(!s.is_open(at("2026-11-01T22:00:00Z")), "Sun 17:00 EST");
}

#[test]
fn windows_follow_wall_time_when_berlin_springs_forward() {
    // 2026-03-29 02:00 CET becomes 03:00 CEST: 09:00 local moves from 08:00Z to 07:00Z.
    let s = schedule("Europe/Berlin", &[("mon-sun", "09:00", "17:00")], &[]);
    assert!(!s.is_open(at("2026-03-28T07:30:00Z")), "Sat 08:30 CET");
    assert!(s.is_open(at("2026-03-28T08:00:00Z")), "Sat 09:00 CET");
    assert!(!s.is_open(at("2026-03-29T06:59:59Z")), "Sun 08:59:59 CEST");
    assert!(s.is_open(at("2026-03-29T07:00:00Z")), "Sun 09:00 CEST");
    assert!(s.is_open(at("2026-03-29T14:59:59Z")), "Sun 16:59:59 CEST");
    assert!(!s.is_open(at("2026-03-29T15:00:00Z")), "Sun 17:00 CEST");
}

/// Minutes open between two instants, sampled each minute.
fn minutes_open(s: &Schedule, from: &str, to: &str) -> usize {
    let (mut t, end) = (at(from), at(to));
    let mut open = 0;
    while t < end {
        open += usize::from(s.is_open(t));
        t += jiff::SignedDuration::from_mins(1);
    }
    open
}

#[test]
fn a_window_inside_the_skipped_hour_does_not_open_that_day() {
    let s = schedule("America/Toronto", &[("mon-sun", "02:00", "03:00")], &[]);
    assert!(s.is_open(at("2026-03-07T07:30:00Z")), "Sat 02:30 EST");
    assert!(!s.is_open(at("2026-03-08T06:59:59Z")), "Sun 01:59:59 EST");
    assert!(!s.is_open(at("2026-03-08T07:00:00Z")), "Sun 03:00 EDT");
    assert_eq!(
        minutes_open(&s, "2026-03-08T05:00:00Z", "2026-03-08T10:00:00Z"),
        0
    );
    assert!(s.is_open(at("2026-03-09T06:30:00Z")), "Mon 02:30 EDT");
    // The refusal points at the next real opening, a day later.
    let policy = Policy {
        schedule: Some(s),
        ..Policy::open("production")
    };
    let d = decide(&policy, &request("bob", "v2.3.0", "2026-03-08T07:30:00Z"));
    assert_refused(
        &d,
        "now is Sun 03:30 EDT; the next window opens Mon 2026-03-09 02:00 EDT",
    );
}

#[test]
fn a_window_spanning_the_skipped_hour_is_open_two_real_hours() {
    let s = schedule("America/Toronto", &[("sun", "01:00", "04:00")], &[]);
    assert!(s.is_open(at("2026-03-08T06:59:59Z")), "01:59:59 EST");
    assert!(s.is_open(at("2026-03-08T07:00:00Z")), "03:00 EDT");
    assert!(!s.is_open(at("2026-03-08T08:00:00Z")), "04:00 EDT");
    assert_eq!(
        minutes_open(&s, "2026-03-08T05:00:00Z", "2026-03-08T10:00:00Z"),
        120
    );
}

#[test]
fn a_window_containing_the_repeated_hour_is_open_both_times() {
    let s = schedule("America/Toronto", &[("sun", "01:00", "02:00")], &[]);
    assert!(s.is_open(at("2026-11-01T05:00:00Z")), "01:00 EDT");
    assert!(s.is_open(at("2026-11-01T06:30:00Z")), "01:30 EST");
    assert!(!s.is_open(at("2026-11-01T07:00:00Z")), "02:00 EST");
    assert_eq!(
        minutes_open(&s, "2026-11-01T04:00:00Z", "2026-11-01T09:00:00Z"),
        120
    );
}

#[test]
fn a_window_crossing_midnight_belongs_to_the_day_it_opens() {
    let s = schedule("UTC", &[("fri", "22:00", "02:00")], &[]);
    // Friday 2026-01-16.
    assert!(!s.is_open(at("2026-01-16T21:59:59Z")), "Fri 21:59:59");
    assert!(s.is_open(at("2026-01-16T22:00:00Z")), "Fri 22:00");
    assert!(s.is_open(at("2026-01-17T01:59:59Z")), "Sat 01:59:59");
    assert!(!s.is_open(at("2026-01-17T02:00:00Z")), "Sat 02:00");
    assert!(!s.is_open(at("2026-01-15T23:00:00Z")), "Thu 23:00");
    assert!(
        !s.is_open(at("2026-01-16T01:00:00Z")),
        "Fri 01:00 (Thursday's night)"
    );
    assert!(!s.is_open(at("2026-01-17T23:00:00Z")), "Sat 23:00");
    assert_eq!(s.windows()[0].to_string(), "Fri 22:00-02:00 (next day)");
}

#[test]
fn a_window_to_midnight() {
    let s = schedule("UTC", &[("sat,sun", "00:00", "24:00")], &[]);
    assert!(s.is_open(at("2026-01-17T00:00:00Z")), "Sat 00:00");
    assert!(s.is_open(at("2026-01-18T23:59:59Z")), "Sun 23:59:59");
    assert!(!s.is_open(at("2026-01-19T00:00:00Z")), "Mon 00:00");
}

// --- when: blackout dates ---

fn christmas_freeze() -> Policy {
    Policy {
        schedule: Some(schedule(
            "America/Toronto",
            &[],
            &["2026-12-24", "2026-12-31"],
        )),
        override_window_by: Some(Principals(vec![release_managers()])),
        ..Policy::open("production")
    }
}

#[test]
fn a_blackout_date_refuses_all_day() {
    let d = decide(
        &christmas_freeze(),
        &request("bob", "v2.3.0", "2026-12-24T17:00:00Z"),
    );
    assert_refused(&d, "2026-12-24 is a blackout date for production");
}

#[test]
fn blackout_dates_are_local_dates_not_utc_dates() {
    let policy = christmas_freeze();
    // 2026-12-25 03:00 UTC is still Thursday 2026-12-24 22:00 in Toronto.
    let d = decide(&policy, &request("bob", "v2.3.0", "2026-12-25T03:00:00Z"));
    assert_eq!(
        d.reasons[0],
        "2026-12-24 is a blackout date for production (it is now Thu 2026-12-24 22:00 EST \
         in America/Toronto); deploys may resume Fri 2026-12-25 00:00 EST"
    );
    // 2026-12-24 03:00 UTC is Wednesday 2026-12-23 22:00 in Toronto: no blackout yet.
    assert_allowed(&decide(
        &policy,
        &request("bob", "v2.3.0", "2026-12-24T03:00:00Z"),
    ));
    // Local midnight ends it.
    assert_allowed(&decide(
        &policy,
        &request("bob", "v2.3.0", "2026-12-25T05:00:00Z"),
    ));
    assert_refused(
        &decide(&policy, &request("bob", "v2.3.0", "2026-12-25T04:59:59Z")),
        "blackout",
    );
}

#[test]
fn deploys_resume_at_the_first_window_after_a_blackout() {
    let s = schedule(
        "America/Toronto",
        &[("mon-fri", "09:00", "17:00")],
        &["2026-12-24"],
    );
    let next = s.next_opening(at("2026-12-24T15:00:00Z")).unwrap();
    assert_eq!(
        next.to_string(),
        "2026-12-25T09:00:00-05:00[America/Toronto]"
    );
}

// --- overrides ---

#[test]
fn an_allowed_person_with_a_reason_overrides_the_window() {
    let d = decide(
        &production(),
        &overriding(
            request("bob", "v2.3.0", SATURDAY),
            Some("hotfix for the login outage"),
        ),
    );
    assert_allowed(&d);
    assert!(d.overridden);
    assert_eq!(
        d.override_reason.as_deref(),
        Some("hotfix for the login outage")
    );
    assert!(
        d.notes.iter().any(|n| n.starts_with(
            "bob overrode production's schedule: outside production's deploy windows"
        )),
        "{:?}",
        d.notes
    );
}

#[test]
fn an_override_covers_blackout_dates_too() {
    let d = decide(
        &christmas_freeze(),
        &overriding(
            request("carol", "v2.3.1", "2026-12-24T17:00:00Z"),
            Some("security fix"),
        ),
    );
    assert_allowed(&d);
    assert!(d.overridden);
}

#[test]
fn someone_not_allowed_to_override_is_refused() {
    let mut policy = production();
    policy.deployers = None;
    let d = decide(
        &policy,
        &overriding(request("alice", "v2.3.0", SATURDAY), Some("urgent")),
    );
    assert!(!d.overridden);
    assert_refused(&d, "outside production's deploy windows");
    assert_refused(
        &d,
        "alice may not override production's schedule; only release-managers: bob, carol may",
    );
}

#[test]
fn an_override_without_a_reason_is_refused_saying_what_to_do() {
    for reason in [None, Some("   ")] {
        let d = decide(
            &production(),
            &overriding(request("bob", "v2.3.0", SATURDAY), reason),
        );
        assert!(!d.overridden);
        assert_refused(
            &d,
            "--override-window needs a reason: add --reason \"...\" saying why \
             (it is written to the audit log)",
        );
    }
}

#[test]
fn a_schedule_without_overriders_cannot_be_overridden() {
    let mut policy = production();
    policy.override_window_by = None;
    let d = decide(
        &policy,
        &overriding(request("bob", "v2.3.0", SATURDAY), Some("urgent")),
    );
    assert_refused(&d, "production's schedule cannot be overridden");
}

#[test]
fn an_override_does_not_bypass_who_or_what() {
    let mut policy = production();
    policy.override_window_by = Some(Principals(vec![Principal::User("eve".into())]));
    let d = decide(
        &policy,
        &overriding(request("eve", "v2.3.0-rc.1", SATURDAY), Some("urgent")),
    );
    assert!(!d.overridden);
    assert_refused(&d, "eve is not among production's deployers");
    assert_refused(&d, "is a pre-release");
    assert!(
        !d.reasons.iter().any(|r| r.contains("deploy windows")),
        "the schedule itself was overridden: {:?}",
        d.reasons
    );
}

#[test]
fn an_unneeded_override_is_noted_not_marked() {
    let d = decide(
        &production(),
        &overriding(request("bob", "v2.3.0", TUESDAY_NOON), Some("habit")),
    );
    assert_allowed(&d);
    assert!(!d.overridden);
    assert!(d.notes.iter().any(|n| n.contains("was not needed")));
}

// --- the record ---

#[test]
fn decisions_serialise_for_the_audit_log() {
    let d = decide(
        &production(),
        &overriding(request("bob", "v2.3.0", SATURDAY), Some("hotfix")),
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["environment"], "production");
    assert_eq!(json["actor"], "bob");
    assert_eq!(json["git_ref"], "v2.3.0");
    assert_eq!(json["at"], "2026-01-17T15:12:00Z");
    assert_eq!(json["allowed"], true);
    assert_eq!(json["overridden"], true);
    assert_eq!(json["override_reason"], "hotfix");
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
    // Requests serialise too, so the log can keep what was asked.
    let r = serde_json::to_value(request("bob", "refs/tags/v2.3.0", SATURDAY)).unwrap();
    assert_eq!(r["git_ref"]["kind"], "tag");
    assert_eq!(r["git_ref"]["version"], "2.3.0");
}

// --- parsing the schedule's pieces ---

#[test]
fn weekdays() {
    let parse = |s| Weekdays::parse(s).unwrap().to_string();
    assert_eq!(parse("mon-fri"), "Mon-Fri");
    assert_eq!(parse("Sat,Sun"), "Sat, Sun");
    assert_eq!(parse("monday, wed-fri"), "Mon, Wed-Fri");
    assert_eq!(parse("fri-mon"), "Mon, Fri-Sun");
    assert_eq!(parse("mon-sun"), "every day");
    let e = Weekdays::parse("mon-fry").unwrap_err();
    assert_eq!(
        e,
        WindowError::BadDay {
            text: "mon-fry".into(),
            word: "fry".into()
        }
    );
    assert!(
        e.to_string()
            .contains("`fry` in `mon-fry` is not a weekday")
    );
    assert!(matches!(
        Weekdays::parse(" , "),
        Err(WindowError::NoDays { .. })
    ));
}

#[test]
fn times() {
    for (bad, why) in [
        ("25:00", "the hour must be 00-23"),
        ("24:30", "the hour must be 00-23"),
        ("9am", "HH:MM"),
        ("09:60", "00-59"),
        ("09:5", "two digits"),
        ("09:00:30", "whole minutes"),
        ("", "HH:MM"),
    ] {
        let e = Window::parse(None, bad, "23:00").unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert!(Window::parse(None, "9:00", "17:00:00").is_ok());
    let e = Window::parse(None, "24:00", "02:00")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot open at 24:00"), "{e}");
    let e = Window::parse(None, "09:00", "09:00")
        .unwrap_err()
        .to_string();
    assert!(e.contains("from and to are equal"), "{e}");
}

#[test]
fn time_zones() {
    assert!(time_zone("America/Toronto").is_ok());
    assert!(time_zone("UTC").is_ok());
    let e = time_zone("America/Torronto").unwrap_err().to_string();
    assert_eq!(
        e,
        "`America/Torronto` is not an IANA time zone name; did you mean `America/Toronto`?"
    );
    let e = time_zone("Mars/Olympus").unwrap_err().to_string();
    assert_eq!(e, "`Mars/Olympus` is not an IANA time zone name");
    let e = time_zone("EST").unwrap_err().to_string();
    assert!(
        e.contains("fixed UTC offset without daylight saving"),
        "{e}"
    );
}

#[test]
fn dates() {
    assert_eq!(
        parse_date("2026-12-24").unwrap(),
        jiff::civil::date(2026, 12, 24)
    );
    for (bad, why) in [
        ("2026-02-30", "February 2026 has 28 days"),
        ("2028-02-30", "February 2028 has 29 days"),
        ("2026-13-01", "there is no month 13"),
        ("26-12-24", "YYYY-MM-DD"),
        ("2026/12/24", "YYYY-MM-DD"),
    ] {
        let e = parse_date(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn deploys_resume_at_midnight_inside_a_window_that_crossed_it() {
    // Friday night's window runs into Saturday; Friday is a blackout date.
    let s = schedule("UTC", &[("fri", "22:00", "02:00")], &["2026-01-16"]);
    assert!(
        !s.is_open(at("2026-01-16T23:00:00Z")),
        "Fri 23:00, blackout"
    );
    assert!(
        s.is_open(at("2026-01-17T00:30:00Z")),
        "Sat 00:30, still in the window"
    );
    let next = s.next_opening(at("2026-01-16T23:00:00Z")).unwrap();
    assert_eq!(next.to_string(), "2026-01-17T00:00:00+00:00[UTC]");
}
