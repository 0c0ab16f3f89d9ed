//! `GET /metrics?since=30d`: each environment's DORA metrics (`hoist_core::metrics`, as
//! `hoist metrics` prints them) and a bar chart of its changes per day, drawn as inline
//! SVG on the server.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hoist_core::metrics::{DayCount, Metrics, from_store, git_commit_time, parse_window, per_day};
use serde::{Deserialize, Serialize};

use super::render::{page as render_page, plain, store_failed};
use super::session::viewer;
use crate::http::Shared;

/// Deployments read per environment: far more than any window holds.
const HISTORY: usize = 100_000;
const CHART_WIDTH: f64 = 600.0;
const CHART_HEIGHT: f64 = 100.0;
/// Bars at most; a longer window groups days.
const MAX_BARS: usize = 60;

#[derive(Deserialize)]
pub(crate) struct Window {
    since: Option<String>,
}

/// One bar: successful changes stacked on failed ones, in SVG user units.
#[derive(Debug, Serialize, PartialEq)]
struct Bar {
    x: f64,
    width: f64,
    failed_y: f64,
    failed_height: f64,
    ok_y: f64,
    ok_height: f64,
    /// `2026-12-01` or `2026-12-01 – 2026-12-07`, with the counts, for the tooltip.
    title: String,
}

#[derive(Serialize)]
struct Chart {
    width: f64,
    height: f64,
    bars: Vec<Bar>,
    /// The tallest bar's count (the scale).
    max: usize,
    first: String,
    last: String,
}

#[derive(Serialize)]
struct EnvironmentMetrics {
    metrics: Metrics,
    chart: Chart,
    lead_time: String,
    time_to_restore: String,
    failure_rate: String,
}

/// Groups `days` into at most [`MAX_BARS`] bars scaled to the chart.
fn chart(days: &[DayCount]) -> Chart {
    let per_bar = days.len().div_ceil(MAX_BARS).max(1);
    let groups: Vec<&[DayCount]> = days.chunks(per_bar).collect();
    let totals: Vec<(usize, usize)> = groups
        .iter()
        .map(|g| {
            (
                g.iter().map(|d| d.succeeded).sum(),
                g.iter().map(|d| d.failed).sum(),
            )
        })
        .collect();
    let max = totals.iter().map(|(s, f)| s + f).max().unwrap_or(0);
    let slot = CHART_WIDTH / groups.len().max(1) as f64;
    let scale = if max == 0 {
        0.0
    } else {
        CHART_HEIGHT / max as f64
    };
    let bars = groups
        .iter()
        .zip(&totals)
        .enumerate()
        .map(|(i, (group, &(ok, failed)))| {
            let failed_height = failed as f64 * scale;
            let ok_height = ok as f64 * scale;
            let first = group.first().map(|d| d.day.to_string()).unwrap_or_default();
            let last = group.last().map(|d| d.day.to_string()).unwrap_or_default();
            let when = if first == last {
                first
            } else {
                format!("{first} – {last}")
            };
            Bar {
                x: i as f64 * slot + slot * 0.1,
                width: slot * 0.8,
                failed_y: CHART_HEIGHT - failed_height,
                failed_height,
                ok_y: CHART_HEIGHT - failed_height - ok_height,
                ok_height,
                title: format!("{when}: {ok} succeeded, {failed} failed"),
            }
        })
        .collect();
    Chart {
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        bars,
        max,
        first: days.first().map(|d| d.day.to_string()).unwrap_or_default(),
        last: days.last().map(|d| d.day.to_string()).unwrap_or_default(),
    }
}

fn duration(secs: Option<i64>) -> String {
    let Some(secs) = secs else {
        return "-".into();
    };
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

pub(crate) async fn page(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(window): Query<Window>,
) -> Response {
    let viewer = match viewer(&shared, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let since_text = window.since.unwrap_or_else(|| "30d".into());
    let length = match parse_window(&since_text) {
        Ok(w) => w,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("since: {e}")),
    };
    // Commit times come from `git show`: off the async workers.
    let worker = shared.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let shared = worker;
        let app = &shared.app;
        let until = jiff::Timestamp::now();
        let since = until - length;
        // Commit times recorded with the releases; older releases: the server's checkout.
        let root = shared.dashboard.root.clone();
        let fallback = move |commit: &str| git_commit_time(&root, commit);
        let computed = from_store(
            &*shared.store,
            app,
            &shared.environments,
            since,
            until,
            &fallback,
        )?;
        let mut all = Vec::new();
        for metrics in computed {
            let deployments = shared
                .store
                .deployments(app, &metrics.environment, HISTORY)?;
            all.push(EnvironmentMetrics {
                chart: chart(&per_day(&metrics.environment, &deployments, since, until)),
                lead_time: duration(metrics.lead_time_secs),
                time_to_restore: duration(metrics.time_to_restore_secs),
                failure_rate: metrics.change_failure_rate.map_or("-".into(), |r| {
                    format!(
                        "{:.0}% ({} of {})",
                        r * 100.0,
                        metrics.failed_changes,
                        metrics.changes
                    )
                }),
                metrics,
            });
        }
        Ok::<_, hoist_core::StoreError>(all)
    })
    .await;
    let all = match computed {
        Ok(Ok(all)) => all,
        Ok(Err(e)) => return store_failed(e),
        Err(e) => return store_failed(e),
    };
    render_page(
        &shared,
        Some(&viewer),
        "metrics.html",
        minijinja::context! { since => since_text, all => all },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i8, succeeded: usize, failed: usize) -> DayCount {
        DayCount {
            day: jiff::civil::date(2026, 12, n),
            succeeded,
            failed,
        }
    }

    #[test]
    fn bars_stack_failures_under_successes_scaled_to_the_tallest() {
        let c = chart(&[day(1, 2, 0), day(2, 1, 1), day(3, 0, 0)]);
        assert_eq!(c.max, 2);
        assert_eq!(c.bars.len(), 3);
        assert_eq!(c.bars[0].ok_height, CHART_HEIGHT);
        assert_eq!(c.bars[0].failed_height, 0.0);
        assert_eq!(c.bars[1].failed_height, CHART_HEIGHT / 2.0);
        assert_eq!(c.bars[1].ok_y, 0.0);
        assert_eq!(c.bars[2].ok_height, 0.0);
        assert_eq!(c.bars[1].title, "2026-12-02: 1 succeeded, 1 failed");
        assert!(c.bars[2].x > c.bars[1].x);
    }

    #[test]
    fn a_long_window_groups_days_into_at_most_sixty_bars() {
        let days: Vec<DayCount> = (0..90)
            .map(|i| DayCount {
                day: jiff::civil::date(2026, 1, 1) + jiff::ToSpan::days(i),
                succeeded: 1,
                failed: 0,
            })
            .collect();
        let c = chart(&days);
        assert_eq!(c.bars.len(), 45);
        assert_eq!(c.max, 2);
        assert!(c.bars[0].title.contains(" – "));
    }

    #[test]
    fn an_empty_window_draws_empty_bars() {
        let c = chart(&[day(1, 0, 0)]);
        assert_eq!(c.max, 0);
        assert_eq!(c.bars[0].ok_height, 0.0);
    }
}
