use hoist_core::verify::short_id;

use super::print_json;
use crate::cli::Global;
use crate::context::{Notifications, Setup, deployer, load_config};
use crate::exit;

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
    }
    Ok(if all_good { exit::OK } else { exit::FAILED })
}
