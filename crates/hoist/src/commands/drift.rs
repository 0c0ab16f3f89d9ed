//! The text of release drift (`hoist status`), of deployments to some tenants only
//! (`hoist history`) and of waves (`hoist plan`).

use hoist_core::pipeline::{Drift, Wave};
use hoist_core::store::DeploymentRecord;

/// Which tenants run which release and who is behind the newest; nothing when every
/// tenant runs the newest release.
pub fn print_drift(environment: &str, drift: &Drift) {
    if !drift.drifts() {
        return;
    }
    let groups: Vec<String> = drift
        .releases
        .iter()
        .map(|g| {
            format!(
                "{} on {}",
                g.release.as_deref().unwrap_or("nothing"),
                g.tenants.join(", ")
            )
        })
        .collect();
    println!("  release drift: {}", groups.join("; "));
    if let Some(newest) = &drift.newest
        && !drift.behind.is_empty()
    {
        println!(
            "  behind {newest}: {}; `hoist deploy {environment}` brings them up (the others stay unchanged)",
            drift.behind.join(", ")
        );
    }
}

/// One line per deployment that took some tenants only.
pub fn print_subsets(deployments: &[DeploymentRecord]) {
    for d in deployments.iter().filter(|d| !d.subset.is_empty()) {
        println!(
            "  #{}: to {} only (--tenant/--tag)",
            d.id,
            d.subset.join(", ")
        );
    }
}

/// `hoist plan`: the waves, when there is more than one.
pub fn print_waves(waves: &[Wave]) {
    if waves.len() < 2 {
        return;
    }
    for (i, wave) in waves.iter().enumerate() {
        println!(
            "wave {}{}  {}",
            i + 1,
            if wave.canary { " (canary)" } else { "" },
            wave.tenants.join(", ")
        );
    }
}
