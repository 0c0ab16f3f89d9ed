//! `serve-load`: the load check of `hoist serve` (docs/benchmark.md, "hoist serve under
//! webhook load"). It starts a real `hoist serve` (the binary given, a release build) on
//! a loopback port, sends `--rate` signed GitHub push deliveries a second for
//! `--seconds` from a paced open-loop client, waits until the queue is drained, and checks
//! in the server's state database that every delivery was answered and none lost, that
//! every replay was refused and that no release ran twice at once. It prints latency
//! percentiles (from the time each delivery was due) and the rates achieved.
//!
//! Usage: `serve-load --hoist target/release/hoist [--rate 200] [--seconds 10]
//! [--tags 50] [--port 20950] [--json FILE]`. Exits 1 if a check failed.

mod check;
mod deliveries;
mod fixture;
mod send;
mod stats;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hoist_core::jobs::JobStore;

const SECRET: &str = "load-bench-webhook-secret";
const APP: &str = "load-bench";

#[derive(Debug, serde::Serialize)]
struct Report {
    date: String,
    load_before: String,
    load_after: String,
    rate_asked: f64,
    seconds: f64,
    deliveries: usize,
    tags: usize,
    /// Deliveries sent per second, first to last.
    rate_sent: f64,
    /// Answers per second, from the first send to the last answer.
    rate_answered: f64,
    latency: stats::Percentiles,
    /// How late the client itself sent (its own lag, not the server's).
    send_lag: stats::Percentiles,
    /// From the last answer until no job was queued or running.
    drain_s: f64,
    findings: check::Findings,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut hoist = PathBuf::from("target/release/hoist");
    let mut rate = 200.0_f64;
    let mut seconds = 10.0_f64;
    let mut tags = 50_usize;
    let mut port = 20950_u16;
    let mut json_out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hoist" => hoist = PathBuf::from(value()?),
            "--rate" => rate = value()?.parse().context("--rate")?,
            "--seconds" => seconds = value()?.parse().context("--seconds")?,
            "--tags" => tags = value()?.parse().context("--tags")?,
            "--port" => port = value()?.parse().context("--port")?,
            "--json" => json_out = Some(PathBuf::from(value()?)),
            other => bail!(
                "unknown argument {other}; usage: serve-load --hoist PATH [--rate N] [--seconds S] [--tags N] [--port P] [--json FILE]"
            ),
        }
    }
    if !(rate > 0.0 && seconds > 0.0 && tags > 0) {
        bail!("--rate, --seconds and --tags must be positive");
    }
    let hoist = hoist.canonicalize().with_context(|| {
        format!(
            "{} (build it: cargo build --release -p hoist)",
            hoist.display()
        )
    })?;
    let count = (rate * seconds).round() as usize;

    let fixture = fixture::create(tags, port + 1)?;
    let clone_url = fixture.bare().display().to_string();
    let run = format!("{:x}", jiff::Timestamp::now().as_millisecond());
    let deliveries = deliveries::plan(
        count,
        tags,
        &fixture.commit,
        &clone_url,
        SECRET.as_bytes(),
        &run,
    );

    let server = fixture::serve(&hoist, &fixture, port, SECRET)?;
    let result = measure(&fixture, port, rate, seconds, tags, &deliveries).await;
    let status = fixture::stop(server)?;
    let report = result?;
    if !status.success() {
        eprintln!("warning: hoist serve exited with {status} when stopped");
    }

    print(&report);
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("write {}", path.display()))?;
    }
    if !report.findings.problems.is_empty() {
        let log = fixture.dir.keep().join("serve.log");
        bail!(
            "{} check(s) failed (the server's log: {})",
            report.findings.problems.len(),
            log.display()
        );
    }
    Ok(())
}

async fn measure(
    fixture: &fixture::Fixture,
    port: u16,
    rate: f64,
    seconds: f64,
    tags: usize,
    deliveries: &[deliveries::Delivery],
) -> anyhow::Result<Report> {
    fixture::ready(port).await?;
    let load_before = loadavg();
    let date = jiff::Timestamp::now().to_string();
    let url = format!("http://127.0.0.1:{port}/webhooks/github");
    let answers = send::run(&url, deliveries, rate).await?;
    let answered_at = Instant::now();

    // Every job ends: the queue is drained.
    let store = hoist_store::SqliteStore::open(&fixture.state())?;
    let jobs = loop {
        let mut jobs = store.jobs(APP, 1_000_000)?;
        if jobs.iter().all(|j| j.state.is_final()) {
            jobs.sort_by_key(|j| j.id);
            break jobs;
        }
        if answered_at.elapsed() > Duration::from_secs(600) {
            bail!("jobs still queued or running 10 minutes after the load");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let drain = answered_at.elapsed();
    let load_after = loadavg();

    let first = answers.iter().map(|a| a.sent_at).min().unwrap_or_default();
    let last_sent = answers.iter().map(|a| a.sent_at).max().unwrap_or_default();
    let last_answer = answers
        .iter()
        .filter(|a| a.status.is_some())
        .map(|a| a.sent_at + a.latency.saturating_sub(a.send_lag))
        .max()
        .unwrap_or_default();
    let span = |d: Duration| d.as_secs_f64().max(f64::EPSILON);
    let latencies: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status.is_some())
        .map(|a| a.latency)
        .collect();
    let lags: Vec<Duration> = answers.iter().map(|a| a.send_lag).collect();
    let answered = latencies.len();
    Ok(Report {
        date,
        load_before,
        load_after,
        rate_asked: rate,
        seconds,
        deliveries: deliveries.len(),
        tags,
        rate_sent: round((answers.len().saturating_sub(1)) as f64 / span(last_sent - first)),
        rate_answered: round(answered as f64 / span(last_answer - first)),
        latency: stats::percentiles(&latencies),
        send_lag: stats::percentiles(&lags),
        drain_s: round(drain.as_secs_f64()),
        findings: check::check(deliveries, &answers, &jobs),
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn print(r: &Report) {
    let f = &r.findings;
    println!(
        "hoist serve under load: {} signed GitHub push deliveries, {} a second asked for {} s ({} tags)",
        r.deliveries, r.rate_asked, r.seconds, r.tags
    );
    println!(
        "  sent {:.1}/s, answered {:.1}/s; load average before {} after {}",
        r.rate_sent, r.rate_answered, r.load_before, r.load_after
    );
    println!(
        "  latency from due time: p50 {} ms  p90 {} ms  p99 {} ms  max {} ms",
        r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms, r.latency.max_ms
    );
    println!(
        "  client send lag: p50 {} ms  p99 {} ms  max {} ms",
        r.send_lag.p50_ms, r.send_lag.p99_ms, r.send_lag.max_ms
    );
    println!(
        "  answered {} of {} ({:?}); queued {}, coalesced into a queued or running release {}, replays refused {}",
        f.answered, r.deliveries, f.by_status, f.queued, f.coalesced, f.replays_refused
    );
    println!(
        "  release jobs run {} (at most {} for one ref and commit, never at once); jobs by state {:?}; queue drained {} s after the last answer",
        f.releases_run, f.max_runs_of_one_release, f.job_states, r.drain_s
    );
    if f.problems.is_empty() {
        println!("  every check held");
    } else {
        for p in f.problems.iter().take(20) {
            println!("  FAILED: {p}");
        }
    }
}
