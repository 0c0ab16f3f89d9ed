use hoist_core::verify::short_id;

use super::{print_json, print_result};
use crate::cli::Global;
use hoist_core::pipeline::RetireOptions;
use hoist_core::runtime::Workload;

use crate::context::{Notifications, Setup, deployer, load_config};
use crate::exit;
use crate::progress;

/// `hoist status ENV`. Exits 1 when an instance is unhealthy or off the current release,
/// so it can gate a pipeline step.
pub async fn run(global: &Global, environment: &str, json: bool) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let d = deployer(
        global,
        config,
        hoist_core::EventSink::discard(),
        Notifications::Off,
    )
    .await?;
    let status = d.status(environment).await?;
    let all_good = status
        .instances
        .iter()
        .all(|i| i.healthy && i.matches_current);
    if json {
        print_json(&status)?;
    } else {
        match &status.current {
            Some(r) => println!(
                "{environment}: current release {} ({})",
                r.version,
                short_id(&r.image_id)
            ),
            None => println!("{environment}: no successful deployment yet"),
        }
        let rows: Vec<Vec<String>> = status
            .instances
            .iter()
            .map(|i| {
                vec![
                    i.tenant.clone(),
                    i.runtime.to_string(),
                    i.name.clone(),
                    i.running_release.clone().unwrap_or_else(|| "-".into()),
                    i.image_id
                        .as_deref()
                        .map(short_id)
                        .unwrap_or("-")
                        .to_string(),
                    if i.matches_current { "yes" } else { "NO" }.to_string(),
                    if i.healthy {
                        "healthy".to_string()
                    } else {
                        format!("UNHEALTHY: {}", i.message)
                    },
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(
                &[
                    "TENANT", "RUNTIME", "NAME", "RELEASE", "IMAGE", "CURRENT", "HEALTH"
                ],
                &rows
            )
        );
        for i in &status.instances {
            for note in &i.notes {
                println!("  {}: {note}", i.tenant);
            }
            if let Some(changed) = &i.config_changed {
                println!(
                    "  {}: the config differs from what runs ({changed}); the next deploy redeploys it",
                    i.tenant
                );
            }
            // Names and fingerprints only: enough to see drift, nothing of the value.
            for s in &i.secrets {
                let deployed = s.deployed.as_deref().unwrap_or("-");
                let now = match (&s.current, &s.note) {
                    (Some(c), _) if s.drift => {
                        format!("CHANGED since the deploy: now {c}; the next deploy rolls it out")
                    }
                    (Some(_), _) => "unchanged".to_string(),
                    (None, Some(note)) => note.clone(),
                    (None, None) => "-".to_string(),
                };
                println!(
                    "  {}: secret {} ({}) deployed {deployed}, {now}",
                    i.tenant, s.name, s.source
                );
            }
        }
        super::drift::print_drift(environment, &status.drift);
        print_orphans(environment, &status.orphans);
        for note in &status.notes {
            println!("  {environment}: {note}");
        }
        super::history::print_store(d.store.as_ref());
    }
    Ok(if all_good { exit::OK } else { exit::FAILED })
}

/// Orphaned workloads, with the command that removes them; nothing when there are none.
pub fn print_orphans(environment: &str, orphans: &[Workload]) {
    if orphans.is_empty() {
        return;
    }
    println!("orphaned: running, but {environment} in hoist.toml no longer names them");
    let rows: Vec<Vec<String>> = orphans
        .iter()
        .map(|w| {
            vec![
                w.tenant.clone(),
                w.name.clone(),
                w.release.clone().unwrap_or_else(|| "-".into()),
                w.host.clone(),
                w.state.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(&["TENANT", "NAME", "RELEASE", "HOST", "STATE"], &rows)
    );
    let tenants: std::collections::BTreeSet<&str> =
        orphans.iter().map(|w| w.tenant.as_str()).collect();
    for tenant in tenants {
        println!("  retire with: hoist retire {environment} {tenant}");
    }
}

/// `hoist retire ENV TENANT`.
pub async fn retire(
    global: &Global,
    environment: &str,
    tenant: &str,
    options: &RetireOptions,
    json: bool,
) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let (events, renderer) = progress::sink(global.plain, json);
    let d = deployer(global, config, events, Notifications::On).await?;
    let report = d.retire(environment, tenant, options).await;
    renderer.finish();
    let report = report?;
    if json {
        // The last line of the event stream, as for deploy.
        print_result(d.events.run(), &report)?;
        return Ok(exit::OK);
    }
    let verb = if report.dry_run {
        "would stop and remove"
    } else {
        "stopped and removed"
    };
    for w in &report.workloads {
        println!(
            "{verb} {} (tenant {}, {}) on {}",
            w.name,
            w.tenant,
            w.release.as_deref().unwrap_or("no release label"),
            w.host
        );
    }
    if !report.dry_run {
        println!("retired tenant {tenant} from {environment}");
    }
    Ok(exit::OK)
}
