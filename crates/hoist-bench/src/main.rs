//! `hoist-bench`: the deploy benchmark of README.md, on a copy of the bundled example with
//! three tenants. Every row is the median of `--runs` runs (default 3):
//!
//! - (a) the seeds' "before": one Dockerfile (deps then code), built with no cache, then
//!   rolled out;
//! - (b) `hoist deploy` after a code-only change;
//! - (c) the same single Dockerfile with a warm layer cache after a code-only change,
//!   rolled out the same way;
//! - (d) `hoist deploy` of the version already running;
//! - (e) `hoist rollback`;
//! - (b') `hoist deploy` after a code-only change, switched through the proxy
//!   (`switch = "proxy"`), and hoist's peak RSS during it;
//! - (e') `hoist rollback` through the proxy (after an untimed code-only deploy, so the
//!   previous container is the one rolled back to);
//! - (i) `hoist deploy` after a code-only change to 30 tenants through the proxy, 6 at a
//!   time.
//!
//! (a) and (c) are built through the same Engine API builder and rolled out by the same
//! rollout code as hoist (the library, in-process), so the rows differ only in what they
//! build. (b), (d) and (e) run the release `hoist` binary as a user would, and (b) reports
//! its peak resident memory.
//!
//! - with `--registry-only`, (b) and the registry rows of [`registry`]: (f) a code-only
//!   change pushed daemonless, (g) the same through `docker build` + `docker push`, with
//!   the bytes each sent, and (h) `hoist deploy` through the registry.
//!
//! Usage: `hoist-bench --hoist target/release/hoist --example examples/clinic [--runs 3] [--json FILE] [--proxy-only | --registry-only]`
//! (`--proxy-only`: only (b'), (e') and (i)). Without `--json`, the results go to
//! `bench/results/deploy.json`, `deploy-proxy.json` or `deploy-registry.json` by mode.

mod registry;
mod work;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

const USAGE: &str = "\
usage: hoist-bench [--hoist target/release/hoist] [--example examples/clinic] [--runs 3]
                   [--json FILE] [--proxy-only | --registry-only]

  every row (default): (a)-(e), (b'), (e'), (i); JSON to bench/results/deploy.json
  --proxy-only        (b'), (e') and (i); JSON to bench/results/deploy-proxy.json
  --registry-only     (b), (f), (g) and (h); JSON to bench/results/deploy-registry.json
  --json FILE         write the JSON there instead

What each row measures: the doc comment of crates/hoist-bench/src/main.rs, and
docs/benchmark.md.";

#[derive(Debug, Serialize)]
struct Row {
    id: &'static str,
    what: &'static str,
    runs_s: Vec<f64>,
    median_s: f64,
}

#[derive(Debug, Serialize)]
struct Results {
    date: String,
    machine: String,
    tenants: usize,
    rows: Vec<Row>,
    hoist_code_only_peak_rss_kib: Option<u64>,
    ratio_a_over_b: Option<f64>,
    ratio_c_over_b: Option<f64>,
    hoist_proxy_code_only_peak_rss_kib: u64,
    fleet_tenants: u16,
    fleet_concurrency: u16,
    fleet_seconds_per_tenant: f64,
    ratio_i_over_b_proxy: f64,
    ratio_a_over_b_proxy: Option<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// (b) as a run of `hoist deploy bench` after each code-only change (the first untimed);
/// the times and the peak RSS.
fn code_only_deploys(bench: &work::Bench, runs: usize) -> anyhow::Result<(Vec<f64>, u64)> {
    let (mut times, mut peak) = (Vec::new(), 0u64);
    bench.commit_code_change("v0.1.0")?;
    bench.hoist(&["deploy", "bench"])?;
    for i in 1..=runs {
        bench.commit_code_change(&format!("v0.1.{i}"))?;
        let (took, rss) = bench.hoist(&["deploy", "bench"])?;
        peak = peak.max(rss);
        times.push(secs(took));
        eprintln!("bench: (b) run {i}: {:.2}s, peak RSS {rss} KiB", secs(took));
    }
    Ok((times, peak))
}

#[derive(Debug, Serialize)]
struct RegistryResults {
    date: String,
    machine: String,
    tenants: usize,
    rows: Vec<Row>,
    /// Bytes sent to the registry (requests and headers, counted at a proxy), per run.
    f_bytes_sent: Vec<u64>,
    g_bytes_sent: Vec<u64>,
    /// Blob bytes hoist reported uploading in (f) (the layer and the config), per run.
    f_blob_bytes: Vec<u64>,
    /// The compressed size of the changed files' layer in (f), per run.
    f_layer_bytes: Vec<u64>,
    ratio_g_over_f: f64,
    ratio_h_over_b: f64,
}

/// (b), (h), (f) and (g), in that order, with `runs` runs each.
async fn registry_rows(
    bench: &work::Bench,
    example: &std::path::Path,
    hoist: &std::path::Path,
    runs: usize,
    json: &std::path::Path,
) -> anyhow::Result<()> {
    let (b, _) = code_only_deploys(bench, runs)?;
    let reg = registry::RegistryBench::prepare(example, hoist).await?;
    let result = async {
        let mut h = Vec::new();
        for i in 1..=runs {
            h.push(secs(Duration::from_secs_f64(
                reg.deploy(&format!("v0.5.{i}"))?,
            )));
            eprintln!("bench: (h) run {i}: {:.2}s", h.last().unwrap_or(&0.0));
        }
        let (mut f, mut f_bytes, mut f_blob, mut f_layer) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 1..=runs {
            let (run, layer, blob) = reg.daemonless_push(&format!("f{i}")).await?;
            eprintln!(
                "bench: (f) run {i}: {:.2}s, {} bytes sent, {blob} blob bytes, layer {layer} bytes",
                run.seconds, run.bytes_sent
            );
            f.push(secs(Duration::from_secs_f64(run.seconds)));
            f_bytes.push(run.bytes_sent);
            f_blob.push(blob);
            f_layer.push(layer);
        }
        // Warm the engine's build cache on this copy, untimed.
        reg.engine_build_and_push("g0")?;
        let (mut g, mut g_bytes) = (Vec::new(), Vec::new());
        for i in 1..=runs {
            let run = reg.engine_build_and_push(&format!("g{i}"))?;
            eprintln!(
                "bench: (g) run {i}: {:.2}s, {} bytes sent",
                run.seconds, run.bytes_sent
            );
            g.push(secs(Duration::from_secs_f64(run.seconds)));
            g_bytes.push(run.bytes_sent);
        }
        let row = |id, what, runs_s: Vec<f64>| Row {
            id,
            what,
            median_s: median(&runs_s),
            runs_s,
        };
        let rows = vec![
            row("b", "hoist deploy, code-only change (local engine)", b),
            row(
                "f",
                "code-only change: layer written and pushed daemonless",
                f,
            ),
            row(
                "g",
                "code-only change: docker build (warm cache) + docker push",
                g,
            ),
            row(
                "h",
                "hoist deploy, code-only change, through the registry",
                h,
            ),
        ];
        let results = RegistryResults {
            date: jiff::Timestamp::now().to_string(),
            machine: format!(
                "{} cores",
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(0)
            ),
            tenants: reg.tenants(),
            ratio_g_over_f: rows[2].median_s / rows[1].median_s,
            ratio_h_over_b: rows[3].median_s / rows[0].median_s,
            rows,
            f_bytes_sent: f_bytes,
            g_bytes_sent: g_bytes,
            f_blob_bytes: f_blob,
            f_layer_bytes: f_layer,
        };
        print_table(&results.rows);
        println!();
        println!(
            "(g)/(f) = {:.1}x; (h)/(b) = {:.2}x; bytes sent (f) {:?}, (g) {:?}; (f) blob bytes {:?}, layer {:?}",
            results.ratio_g_over_f,
            results.ratio_h_over_b,
            results.f_bytes_sent,
            results.g_bytes_sent,
            results.f_blob_bytes,
            results.f_layer_bytes
        );
        if let Some(dir) = json.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(json, serde_json::to_string_pretty(&results)?)?;
        eprintln!("bench: wrote {}", json.display());
        anyhow::Ok(())
    }
    .await;
    reg.cleanup();
    result
}

/// The rows as the Markdown table docs/benchmark.md shows.
fn print_table(rows: &[Row]) {
    println!("| row | what | median (s) | runs (s) |");
    println!("| --- | --- | ---: | --- |");
    for r in rows {
        let runs: Vec<String> = r.runs_s.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "| ({}) | {} | {:.2} | {} |",
            r.id,
            r.what,
            r.median_s,
            runs.join(", ")
        );
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut hoist = PathBuf::from("target/release/hoist");
    let mut example = PathBuf::from("examples/clinic");
    let mut runs = 3usize;
    let mut json = None;
    let mut proxy_only = false;
    let mut registry_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--hoist" => hoist = value()?.into(),
            "--example" => example = value()?.into(),
            "--runs" => runs = value()?.parse().context("--runs takes a number")?,
            "--json" => json = Some(PathBuf::from(value()?)),
            "--proxy-only" => proxy_only = true,
            "--registry-only" => registry_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!(
                "unknown argument {other}; see the doc comment of crates/hoist-bench/src/main.rs"
            ),
        }
    }
    let json = json.unwrap_or_else(|| {
        PathBuf::from(if registry_only {
            "bench/results/deploy-registry.json"
        } else if proxy_only {
            "bench/results/deploy-proxy.json"
        } else {
            "bench/results/deploy.json"
        })
    });
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let hoist = std::path::absolute(&hoist)?;
    if !hoist.exists() {
        bail!(
            "{} does not exist; build it with `cargo build --release -p hoist`",
            hoist.display()
        );
    }

    let bench = work::Bench::prepare(&example, &hoist).await?;
    eprintln!("bench: working copy {}", bench.root().display());
    if registry_only {
        let result = registry_rows(&bench, &example, &hoist, runs, &json).await;
        bench.cleanup().await;
        return result;
    }

    let (mut a, mut b, mut c, mut d, mut e, mut peak) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        0u64,
    );
    if !proxy_only {
        for i in 1..=runs {
            a.push(secs(
                bench
                    .single_dockerfile_deploy(&format!("a{i}"), true)
                    .await?,
            ));
            eprintln!("bench: (a) run {i}: {:.2}s", a.last().unwrap_or(&0.0));
        }
        // Warm the layer cache once, untimed; then code-only changes.
        bench.single_dockerfile_deploy("c0", false).await?;
        for i in 1..=runs {
            c.push(secs(
                bench
                    .single_dockerfile_deploy(&format!("c{i}"), false)
                    .await?,
            ));
            eprintln!("bench: (c) run {i}: {:.2}s", c.last().unwrap_or(&0.0));
        }
        // hoist: a first release (base built or reused), untimed; then code-only releases.
        (b, peak) = code_only_deploys(&bench, runs)?;
        for i in 1..=runs {
            d.push(secs(bench.hoist(&["deploy", "bench"])?.0));
            eprintln!("bench: (d) run {i}: {:.2}s", d.last().unwrap_or(&0.0));
        }
        for i in 1..=runs {
            e.push(secs(bench.hoist(&["rollback", "bench"])?.0));
            eprintln!("bench: (e) run {i}: {:.2}s", e.last().unwrap_or(&0.0));
        }
    }

    // Through the proxy: a first deploy (untimed) starts Caddy and each tenant's
    // container; then code-only releases.
    let (proxy_env, fleet_env) = (work::PROXY_ENVIRONMENT, work::FLEET_ENVIRONMENT);
    bench.commit_code_change("v0.2.0")?;
    bench.hoist(&["deploy", proxy_env])?;
    let (mut b_proxy, mut peak_proxy) = (Vec::new(), 0u64);
    for i in 1..=runs {
        bench.commit_code_change(&format!("v0.2.{i}"))?;
        let (took, rss) = bench.hoist(&["deploy", proxy_env])?;
        peak_proxy = peak_proxy.max(rss);
        b_proxy.push(secs(took));
        eprintln!(
            "bench: (b') run {i}: {:.2}s, peak RSS {rss} KiB",
            b_proxy.last().unwrap_or(&0.0)
        );
    }
    let mut e_proxy = Vec::new();
    for i in 1..=runs {
        bench.commit_code_change(&format!("v0.3.{i}"))?;
        bench.hoist(&["deploy", proxy_env])?;
        e_proxy.push(secs(bench.hoist(&["rollback", proxy_env])?.0));
        eprintln!(
            "bench: (e') run {i}: {:.2}s",
            e_proxy.last().unwrap_or(&0.0)
        );
    }
    bench.commit_code_change("v0.4.0")?;
    bench.hoist(&["deploy", fleet_env])?;
    let mut i_fleet = Vec::new();
    for i in 1..=runs {
        bench.commit_code_change(&format!("v0.4.{i}"))?;
        i_fleet.push(secs(bench.hoist(&["deploy", fleet_env])?.0));
        eprintln!("bench: (i) run {i}: {:.2}s", i_fleet.last().unwrap_or(&0.0));
    }

    let row = |id, what, runs_s: Vec<f64>| Row {
        id,
        what,
        median_s: median(&runs_s),
        runs_s,
    };
    let mut rows = Vec::new();
    if !proxy_only {
        rows = vec![
            row(
                "a",
                "single Dockerfile, no cache, then rollout (the seeds' before)",
                a,
            ),
            row("b", "hoist deploy, code-only change", b),
            row(
                "c",
                "single Dockerfile, warm cache, code-only change, same rollout",
                c,
            ),
            row("d", "hoist deploy of the version already running", d),
            row("e", "hoist rollback", e),
        ];
    }
    let classic = rows.len() == 5;
    let (b_proxy_median, i_median) = (median(&b_proxy), median(&i_fleet));
    rows.push(row(
        "b'",
        "hoist deploy, code-only change, through the proxy",
        b_proxy,
    ));
    rows.push(row("e'", "hoist rollback through the proxy", e_proxy));
    rows.push(row(
        "i",
        "hoist deploy, code-only change, 30 tenants at concurrency 6, through the proxy",
        i_fleet,
    ));
    let results = Results {
        date: jiff::Timestamp::now().to_string(),
        machine: format!(
            "{} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        ),
        tenants: bench.tenants(),
        ratio_a_over_b: classic.then(|| rows[0].median_s / rows[1].median_s),
        ratio_c_over_b: classic.then(|| rows[2].median_s / rows[1].median_s),
        hoist_code_only_peak_rss_kib: classic.then_some(peak),
        hoist_proxy_code_only_peak_rss_kib: peak_proxy,
        fleet_tenants: work::FLEET_TENANTS,
        fleet_concurrency: work::FLEET_CONCURRENCY,
        fleet_seconds_per_tenant: i_median / f64::from(work::FLEET_TENANTS),
        ratio_i_over_b_proxy: i_median / b_proxy_median,
        ratio_a_over_b_proxy: classic.then(|| rows[0].median_s / b_proxy_median),
        rows,
    };
    print_table(&results.rows);
    println!();
    if classic {
        println!(
            "(a)/(b) = {:.1}x; (c)/(b) = {:.2}x; hoist peak RSS during (b): {} KiB; (a)/(b') = {:.1}x",
            results.ratio_a_over_b.unwrap_or(f64::NAN),
            results.ratio_c_over_b.unwrap_or(f64::NAN),
            peak,
            results.ratio_a_over_b_proxy.unwrap_or(f64::NAN)
        );
    }
    println!(
        "hoist peak RSS during (b'): {} KiB; (i): {:.2} s per tenant, (i)/(b') = {:.1}x",
        peak_proxy, results.fleet_seconds_per_tenant, results.ratio_i_over_b_proxy
    );
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)?;
    eprintln!("bench: wrote {}", json.display());
    bench.cleanup().await;
    Ok(())
}
