//! The four DORA metrics of one environment over a window, computed from its deployment
//! history; pure, so every definition is a fixture test.
//!
//! - **Deployment frequency**: successful deploys and promotions per day.
//! - **Lead time for changes**: from the release's commit time to the end of its first
//!   successful deployment here (the release verified on every instance); median.
//! - **Change failure rate**: the share of deploys and promotions that failed, or that the
//!   next deployment of the environment rolled back.
//! - **Time to restore service**: from a failed change (its end) to the end of the next
//!   successful deployment of any kind; median.
//!
//! Interrupted deployments were stopped by someone, not by a fault: they count for
//! nothing. Rollbacks are remediation, not changes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord};

/// One environment's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub environment: String,
    pub since: String,
    pub until: String,
    /// Deploys and promotions that ended (succeeded or failed) in the window.
    pub changes: usize,
    pub successful_changes: usize,
    pub deployments_per_day: f64,
    /// Median, in seconds; `None` without a successful change whose commit time is known.
    pub lead_time_secs: Option<i64>,
    /// Successful changes whose commit time was not known (left out of the lead time).
    pub lead_time_unknown: usize,
    /// `None` without changes.
    pub change_failure_rate: Option<f64>,
    pub failed_changes: usize,
    /// Median, in seconds; `None` when no failure was restored in the window.
    pub time_to_restore_secs: Option<i64>,
    /// Failures not restored (yet).
    pub unrestored: usize,
}

fn at(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    })
}

/// Deployments read per environment by [`from_store`]: far more than any window holds.
const HISTORY_LIMIT: usize = 100_000;

/// The metrics of each of `environments` for deployments that ended in `[since, until]`,
/// from `store`'s history. Commit times are the ones recorded with each release when it
/// was built; `fallback` is asked for the time of a commit whose release has none
/// (releases recorded before hoist kept it), and may answer `None`.
pub fn from_store(
    store: &dyn crate::store::Store,
    app: &str,
    environments: &[String],
    since: jiff::Timestamp,
    until: jiff::Timestamp,
    fallback: &dyn Fn(&str) -> Option<jiff::Timestamp>,
) -> Result<Vec<Metrics>, crate::store::StoreError> {
    let recorded = store.commit_times(app)?;
    let commits: BTreeMap<String, String> = store
        .releases(app)?
        .into_iter()
        .map(|r| (r.version, r.commit))
        .collect();
    let mut all = Vec::new();
    for env in environments {
        let deployments = store.deployments(app, env, HISTORY_LIMIT)?;
        let mut times = BTreeMap::new();
        for d in &deployments {
            if times.contains_key(&d.version) {
                continue;
            }
            let time = match recorded.get(&d.version).and_then(|t| at(t)) {
                Some(t) => Some(t),
                None => commits.get(&d.version).and_then(|c| fallback(c)),
            };
            if let Some(t) = time {
                times.insert(d.version.clone(), t);
            }
        }
        all.push(compute(env, &deployments, &times, since, until));
    }
    Ok(all)
}

/// The metrics of `environment` for deployments that ended in `[since, until]`.
/// `deployments` is the environment's history in any order; `commit_times` maps a release
/// version to its commit's time.
pub fn compute(
    environment: &str,
    deployments: &[DeploymentRecord],
    commit_times: &BTreeMap<String, jiff::Timestamp>,
    since: jiff::Timestamp,
    until: jiff::Timestamp,
) -> Metrics {
    // Ended deployments, oldest first, with their end time.
    let mut ended: Vec<(&DeploymentRecord, jiff::Timestamp)> = deployments
        .iter()
        .filter(|d| d.environment == environment)
        .filter(|d| {
            matches!(
                d.outcome,
                DeploymentOutcome::Succeeded | DeploymentOutcome::Failed
            )
        })
        .filter_map(|d| Some((d, at(d.finished_at.as_deref()?)?)))
        .collect();
    ended.sort_by_key(|(d, end)| (*end, d.id));
    let is_change = |d: &DeploymentRecord| d.kind != DeploymentKind::Rollback;
    let in_window = |t: jiff::Timestamp| t >= since && t <= until;

    let mut changes = 0;
    let mut successful = 0;
    let mut failed = 0;
    let mut lead_times = Vec::new();
    let mut lead_unknown = 0;
    let mut restores = Vec::new();
    let mut unrestored = 0;
    for (i, (d, end)) in ended.iter().enumerate() {
        if !is_change(d) || !in_window(*end) {
            continue;
        }
        changes += 1;
        let next = ended.get(i + 1).map(|(n, _)| *n);
        let rolled_back = next.is_some_and(|n| n.kind == DeploymentKind::Rollback);
        let failure = d.outcome == DeploymentOutcome::Failed || rolled_back;
        if d.outcome == DeploymentOutcome::Succeeded {
            successful += 1;
            match commit_times.get(&d.version) {
                Some(committed) => lead_times.push((*end - *committed).as_secs().max(0)),
                None => lead_unknown += 1,
            }
        }
        if failure {
            failed += 1;
            let restored = ended[i + 1..]
                .iter()
                .find(|(n, _)| n.outcome == DeploymentOutcome::Succeeded)
                .map(|(_, t)| *t);
            match restored {
                Some(t) => restores.push((t - *end).as_secs().max(0)),
                None => unrestored += 1,
            }
        }
    }
    let days = ((until - since).as_secs() as f64 / 86_400.0).max(1.0 / 24.0);
    Metrics {
        environment: environment.to_string(),
        since: since.to_string(),
        until: until.to_string(),
        changes,
        successful_changes: successful,
        deployments_per_day: successful as f64 / days,
        lead_time_secs: median(lead_times),
        lead_time_unknown: lead_unknown,
        change_failure_rate: (changes > 0).then(|| failed as f64 / changes as f64),
        failed_changes: failed,
        time_to_restore_secs: median(restores),
        unrestored,
    }
}

/// The changes (deploys and promotions) that ended on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: jiff::civil::Date,
    pub succeeded: usize,
    pub failed: usize,
}

/// Each day of `[since, until]` (UTC) with the changes of `environment` that ended then,
/// oldest first, days without changes included: the deployment-frequency chart.
pub fn per_day(
    environment: &str,
    deployments: &[DeploymentRecord],
    since: jiff::Timestamp,
    until: jiff::Timestamp,
) -> Vec<DayCount> {
    let utc = jiff::tz::Offset::UTC;
    let first = utc.to_datetime(since).date();
    let last = utc.to_datetime(until).date();
    let mut days: Vec<DayCount> = first
        .series(jiff::ToSpan::day(1))
        .take_while(|d| *d <= last)
        .map(|day| DayCount {
            day,
            succeeded: 0,
            failed: 0,
        })
        .collect();
    for d in deployments {
        if d.environment != environment || d.kind == DeploymentKind::Rollback {
            continue;
        }
        let Some(end) = d.finished_at.as_deref().and_then(at) else {
            continue;
        };
        if end < since || end > until {
            continue;
        }
        let day = utc.to_datetime(end).date();
        let Some(count) = days.iter_mut().find(|c| c.day == day) else {
            continue;
        };
        match d.outcome {
            DeploymentOutcome::Succeeded => count.succeeded += 1,
            DeploymentOutcome::Failed => count.failed += 1,
            _ => {}
        }
    }
    days
}

/// The committer time of `commit` in the repository at `root` (`git show`), for releases
/// recorded before hoist kept commit times: [`from_store`]'s usual fallback.
pub fn git_commit_time(root: &std::path::Path, commit: &str) -> Option<jiff::Timestamp> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["show", "-s", "--format=%cI", commit, "--"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<jiff::Timestamp>()
        .ok()
}

/// `30d`, `12h`, `2w`: a window length for `hoist metrics --since`.
pub fn parse_window(text: &str) -> Result<jiff::SignedDuration, String> {
    let bad = || {
        format!("`{text}` is not a window; write a number of days, hours or weeks: 30d, 12h, 2w")
    };
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let hours = match unit {
        "h" => n,
        "d" => n.checked_mul(24).ok_or_else(bad)?,
        "w" => n.checked_mul(24 * 7).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if hours <= 0 || hours > 24 * 366 * 10 {
        return Err(bad());
    }
    Ok(jiff::SignedDuration::from_hours(hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn d(
        id: i64,
        kind: DeploymentKind,
        version: &str,
        outcome: DeploymentOutcome,
        end: &str,
    ) -> DeploymentRecord {
        DeploymentRecord {
            id,
            app: "clinic".into(),
            environment: "production".into(),
            kind,
            version: version.into(),
            image_id: "sha256:x".into(),
            actor: "ada".into(),
            started_at: end.into(),
            finished_at: Some(end.into()),
            duration_ms: Some(1),
            outcome,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        }
    }

    use DeploymentKind::{Deploy, Promote, Rollback};
    use DeploymentOutcome::{Failed, Interrupted, Succeeded};

    fn history() -> Vec<DeploymentRecord> {
        vec![
            // Before the window: counts only as what a later failure restores from.
            d(1, Deploy, "v1", Succeeded, "2026-11-20T10:00:00Z"),
            d(2, Deploy, "v2", Succeeded, "2026-12-01T10:00:00Z"),
            // v3 failed; v3.1 restored service 2 hours later.
            d(3, Deploy, "v3", Failed, "2026-12-02T10:00:00Z"),
            d(4, Promote, "v3.1", Succeeded, "2026-12-02T12:00:00Z"),
            // v4 went live and was rolled back 30 minutes later.
            d(5, Deploy, "v4", Succeeded, "2026-12-03T10:00:00Z"),
            d(6, Rollback, "v3.1", Succeeded, "2026-12-03T10:30:00Z"),
            // Stopped by someone: no change, no failure.
            d(7, Deploy, "v5", Interrupted, "2026-12-04T10:00:00Z"),
        ]
    }

    fn times() -> BTreeMap<String, jiff::Timestamp> {
        BTreeMap::from([
            ("v2".to_string(), t("2026-12-01T09:00:00Z")),
            ("v3.1".to_string(), t("2026-12-02T09:00:00Z")),
            ("v4".to_string(), t("2026-12-03T06:00:00Z")),
        ])
    }

    #[test]
    fn the_four_metrics_of_a_window() {
        let m = compute(
            "production",
            &history(),
            &times(),
            t("2026-11-30T00:00:00Z"),
            t("2026-12-10T00:00:00Z"),
        );
        assert_eq!(m.changes, 4, "v2, v3, v3.1, v4");
        assert_eq!(m.successful_changes, 3);
        assert!((m.deployments_per_day - 0.3).abs() < 1e-9);
        // Lead times: v2 1h, v3.1 3h, v4 4h: median 3h.
        assert_eq!(m.lead_time_secs, Some(3 * 3600));
        assert_eq!(m.lead_time_unknown, 0);
        // v3 failed, v4 was rolled back: 2 of 4.
        assert_eq!(m.failed_changes, 2);
        assert_eq!(m.change_failure_rate, Some(0.5));
        // Restores: 2h and 30min: median 75 min.
        assert_eq!(m.time_to_restore_secs, Some(75 * 60));
        assert_eq!(m.unrestored, 0);
    }

    #[test]
    fn an_unrestored_failure_and_an_unknown_commit_time_are_counted_apart() {
        let mut history = history();
        history.push(d(8, Deploy, "v6", Failed, "2026-12-05T10:00:00Z"));
        history.push(d(9, Deploy, "v7", Succeeded, "2026-12-05T09:00:00Z"));
        let m = compute(
            "production",
            &history,
            &times(),
            t("2026-12-05T00:00:00Z"),
            t("2026-12-06T00:00:00Z"),
        );
        // v7 (ended 09:00) then v6 failed (10:00), nothing after it.
        assert_eq!(m.changes, 2);
        assert_eq!(m.lead_time_secs, None);
        assert_eq!(m.lead_time_unknown, 1);
        assert_eq!(m.failed_changes, 1);
        assert_eq!(m.unrestored, 1);
        assert_eq!(m.time_to_restore_secs, None);
    }

    #[test]
    fn an_empty_window_has_no_rates() {
        let m = compute(
            "production",
            &history(),
            &times(),
            t("2027-01-01T00:00:00Z"),
            t("2027-01-31T00:00:00Z"),
        );
        assert_eq!(m.changes, 0);
        assert_eq!(m.deployments_per_day, 0.0);
        assert_eq!(m.change_failure_rate, None);
        assert_eq!(m.lead_time_secs, None);
    }

    #[test]
    fn changes_are_counted_per_day_without_rollbacks() {
        let days = per_day(
            "production",
            &history(),
            t("2026-12-01T00:00:00Z"),
            t("2026-12-04T12:00:00Z"),
        );
        let counts: Vec<_> = days
            .iter()
            .map(|c| (c.day.to_string(), c.succeeded, c.failed))
            .collect();
        assert_eq!(
            counts,
            [
                ("2026-12-01".to_string(), 1, 0),
                ("2026-12-02".to_string(), 1, 1),
                // v4 went live; its rollback is not a change.
                ("2026-12-03".to_string(), 1, 0),
                // Interrupted: nothing.
                ("2026-12-04".to_string(), 0, 0),
            ]
        );
    }

    #[test]
    fn windows_parse_in_hours_days_and_weeks() {
        assert_eq!(parse_window("30d").unwrap().as_hours(), 720);
        assert_eq!(parse_window("12h").unwrap().as_hours(), 12);
        assert_eq!(parse_window("2w").unwrap().as_hours(), 336);
        for bad in ["", "d", "30", "30m", "-1d", "0d", "x1d"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
