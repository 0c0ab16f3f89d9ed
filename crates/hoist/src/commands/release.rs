//! plan, build, deploy, rollback: the commands that run the pipeline.

use hoist_core::pipeline::{DeployOptions, DeploymentReport, LockWait, Override};
use hoist_core::verify::short_id;

use super::{print_json, print_result};
use crate::cli::Global;
use crate::context::{Notifications, Setup, deployer, load_config, load_config_for_build};
use crate::exit;
use crate::progress::{self, human};

pub async fn plan(
    global: &Global,
    environment: &str,
    version: Option<&str>,
    json: bool,
) -> Result<u8, Setup> {
    let config = load_config_for_build(global)?;
    let d = deployer(
        global,
        config,
        hoist_core::EventSink::discard(),
        Notifications::Off,
    )
    .await?;
    let plan = d.plan(environment, version).await?;
    if json {
        print_json(&plan)?;
        return Ok(exit::OK);
    }
    println!("app          {}", plan.app);
    println!("environment  {}", plan.environment);
    println!(
        "version      {}{}",
        plan.version,
        if plan.dirty {
            " (uncommitted changes)"
        } else {
            ""
        }
    );
    println!("fingerprint  {}", plan.fingerprint.hex);
    for f in &plan.fingerprint.files {
        println!("             <- {}", f.display());
    }
    let cache = match plan.base_cache {
        hoist_core::events::CacheOutcome::Hit => "hit: reuse",
        hoist_core::events::CacheOutcome::Miss => "miss: build",
    };
    println!("base image   {} ({cache})", plan.base_image);
    println!(
        "app image    {}{}",
        plan.app_image,
        if plan.release_exists {
            " (already built: reuse)"
        } else {
            " (build)"
        }
    );
    println!("instances");
    let rows: Vec<Vec<String>> = plan
        .instances
        .iter()
        .map(|i| {
            vec![
                i.tenant.clone(),
                i.name.clone(),
                format!(":{}", i.port),
                i.running_release.clone().unwrap_or_else(|| "-".into()),
                i.action.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        indent(&crate::table::render(
            &["TENANT", "CONTAINER", "PORT", "RUNNING", "ACTION"],
            &rows
        ))
    );
    for i in &plan.instances {
        if let Some(changed) = &i.changed {
            let verb = if i.action == "redeploy" {
                "will redeploy"
            } else {
                "settings differ"
            };
            println!("  {}: {verb}: {changed}", i.tenant);
        }
    }
    super::drift::print_waves(&plan.waves);
    super::status::print_orphans(&plan.environment, &plan.orphans);
    Ok(exit::OK)
}

pub async fn build(global: &Global, version: Option<&str>, json: bool) -> Result<u8, Setup> {
    let config = load_config_for_build(global)?;
    // `build --json` prints one document; its progress stays on stderr.
    let (events, renderer) = progress::sink(global.plain, false);
    let d = deployer(global, config, events, Notifications::Off).await?;
    let outcome = d.build(version).await;
    renderer.finish();
    let outcome = outcome?;
    if json {
        print_json(&outcome)?;
    } else {
        let r = &outcome.release;
        println!(
            "built {} {} ({})",
            r.version,
            r.image,
            short_id(&r.image_id)
        );
    }
    Ok(exit::OK)
}

/// When a deploy starts and whether its release tasks rerun: `--at-next-window`, `--at`,
/// `--force-tasks`.
#[derive(Debug, Default)]
pub struct Timing {
    pub start_at: Option<hoist_core::pipeline::StartAt>,
    pub force_tasks: bool,
}

pub async fn deploy(
    global: &Global,
    environment: &str,
    options: &DeployOptions,
    timing: &Timing,
    json: bool,
) -> Result<u8, Setup> {
    let (mut d, renderer) = changing(global, json, Builds::Yes).await?;
    d.force_tasks = timing.force_tasks;
    let environments = [environment.to_string()];
    let waited = crate::schedule::wait(
        &d,
        &environments,
        "deploy",
        timing.start_at.as_ref(),
        global.plain || json,
    )
    .await;
    let report = match waited {
        Ok(()) => d.deploy(environment, options).await,
        Err(e) => Err(e),
    };
    renderer.finish();
    finish(report?, json.then(|| d.events.run()), &d.interrupt)
}

pub async fn rollback(
    global: &Global,
    environment: &str,
    to: Option<&str>,
    wait: LockWait,
    overrides: &Override,
    json: bool,
) -> Result<u8, Setup> {
    let (d, renderer) = changing(global, json, Builds::No).await?;
    let report = d.rollback(environment, to, wait, overrides).await;
    renderer.finish();
    finish(report?, json.then(|| d.events.run()), &d.interrupt)
}

pub async fn promote(
    global: &Global,
    from: &str,
    to: &str,
    version: Option<&str>,
    wait: LockWait,
    overrides: &Override,
    json: bool,
) -> Result<u8, Setup> {
    let (d, renderer) = changing(global, json, Builds::No).await?;
    let report = d.promote(from, to, version, wait, overrides).await;
    renderer.finish();
    finish(report?, json.then(|| d.events.run()), &d.interrupt)
}

/// `hoist release --ref`: exit 0 when the ref deploys nowhere, else the worst outcome.
pub async fn release(
    global: &Global,
    git_ref: &str,
    wait: LockWait,
    overrides: &Override,
    timing: &Timing,
    subset: &hoist_core::pipeline::Subset,
    json: bool,
) -> Result<u8, Setup> {
    let (mut d, renderer) = changing(global, json, Builds::Yes).await?;
    d.force_tasks = timing.force_tasks;
    let waited = match &timing.start_at {
        Some(when) => match d.release_targets(git_ref) {
            Ok(targets) => {
                let command = format!("release {git_ref}");
                crate::schedule::wait(&d, &targets, &command, Some(when), global.plain || json)
                    .await
            }
            Err(e) => Err(e),
        },
        None => Ok(()),
    };
    let outcome = match waited {
        Ok(()) => d.release_to(git_ref, wait, overrides, subset).await,
        Err(e) => Err(e),
    };
    renderer.finish();
    let outcome = outcome?;
    if json {
        print_result(d.events.run(), &outcome)?;
    } else if outcome.environments.is_empty() {
        println!("{}: {}", outcome.git_ref.describe(), outcome.resolution);
    } else {
        println!(
            "{} goes to {}",
            outcome.git_ref.describe(),
            outcome.resolution
        );
        for env in &outcome.environments {
            match (&env.report, &env.error) {
                (Some(report), _) => print_report(report),
                // Like every other command's errors, on stderr: CI logs and scripts that
                // keep stdout for results still see why an environment was refused.
                (None, Some(error)) => eprintln!("error: {}: {error}", env.environment),
                (None, None) => {}
            }
        }
    }
    Ok(crate::signals::exit_code(
        &d.interrupt,
        outcome.exit_code() as u8,
    ))
}

/// Whether a command may build images, and so needs the files a build reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Builds {
    Yes,
    /// Rollback and promote ship a release that was built before.
    No,
}

/// A deployer for the commands that change an environment: with progress and notifiers.
async fn changing(
    global: &Global,
    json: bool,
    builds: Builds,
) -> Result<
    (
        hoist_core::pipeline::Deployer,
        std::sync::Arc<progress::Renderer>,
    ),
    Setup,
> {
    let config = match builds {
        Builds::Yes => load_config_for_build(global)?,
        Builds::No => load_config(global)?,
    };
    let (events, renderer) = progress::sink(global.plain, json);
    let d = deployer(global, config, events, Notifications::On).await?;
    crate::signals::watch(d.interrupt.clone());
    Ok((d, renderer))
}

/// Prints a deployment's result and picks the exit code. With `--json` (`run` is set) the
/// result is the last line of the event stream.
fn finish(
    report: DeploymentReport,
    run: Option<&str>,
    interrupt: &hoist_core::Interrupt,
) -> Result<u8, Setup> {
    if let Some(run) = run {
        print_result(run, &report)?;
    } else {
        print_report(&report);
    }
    let code = if report.succeeded() {
        exit::OK
    } else {
        exit::FAILED
    };
    Ok(crate::signals::exit_code(interrupt, code))
}

fn print_report(report: &DeploymentReport) {
    {
        for i in &report.instances {
            if !i.log_tail.is_empty() {
                println!("{}: last output lines:", i.tenant);
                for line in &i.log_tail {
                    println!("    | {line}");
                }
            }
        }
        let took = human(std::time::Duration::from_millis(report.duration_ms));
        let verb = match report.outcome {
            hoist_core::store::DeploymentOutcome::Succeeded => "ok",
            hoist_core::store::DeploymentOutcome::Interrupted => "INTERRUPTED",
            _ => "FAILED",
        };
        println!(
            "{verb}: {} {} ({took})",
            report.kind.as_str(),
            report.message
        );
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
