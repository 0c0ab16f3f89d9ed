//! `hoist prune [ENV] [--dry-run] [--json]`: old images and stopped containers of this app
//! go from the build host and every engine of the environments; what runs and what a
//! rollback to the last `[prune] keep` releases needs stays.

use hoist_core::pipeline::{PruneOptions, PruneReport};
use hoist_core::prune::{PruneItem, human_bytes};

use super::print_result;
use crate::cli::Global;
use crate::context::{Notifications, Setup, deployer, load_config};
use crate::exit;
use crate::progress;

/// Exits 0 when everything planned went (or, dry, would go), 1 when an engine refused a
/// removal or could not be read.
pub async fn run(
    global: &Global,
    environment: Option<&str>,
    options: PruneOptions,
    json: bool,
) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let (events, renderer) = progress::sink(global.plain, json);
    // A prune notifies nobody; its audit entries are its record.
    let d = deployer(global, config, events, Notifications::Off).await?;
    let report = d.prune(environment, options).await;
    renderer.finish();
    let report = report?;
    let code = if report.complete() {
        exit::OK
    } else {
        exit::FAILED
    };
    if json {
        print_result(d.events.run(), &report)?;
    } else {
        print_report(&report);
    }
    Ok(code)
}

fn print_report(report: &PruneReport) {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for engine in report.engines.iter().chain(&report.registries) {
        println!("{}:", engine.engine);
        if let Some(error) = &engine.error {
            println!("  error: {error}");
            continue;
        }
        if engine.remove.is_empty() {
            println!("  nothing to remove");
        }
        for d in &engine.remove {
            let failed = engine.failed.iter().find(|f| f.name == d.item.name());
            let size = match &d.item {
                PruneItem::Image { size, .. } => format!(", {}", human_bytes(*size)),
                PruneItem::Container { .. } | PruneItem::Tag { .. } => String::new(),
            };
            match failed {
                None => println!(
                    "  {verb} {} {}{size}: {}",
                    d.item.kind(),
                    d.item.name(),
                    d.reason.describe()
                ),
                Some(f) => println!(
                    "  could not remove {} {}: {}",
                    d.item.kind(),
                    d.item.name(),
                    f.error
                ),
            }
        }
        for d in &engine.keep {
            println!(
                "  keep {} {}: {}",
                d.item.kind(),
                d.item.name(),
                d.reason.describe()
            );
        }
    }
    if let Some(note) = &report.registry_tags {
        println!("registry tags: {note}");
    }
    let freed = if report.dry_run {
        "would free"
    } else {
        "freed"
    };
    println!(
        "{freed} up to {} (the images' sizes; layers they share with kept images stay)",
        human_bytes(report.bytes)
    );
}
