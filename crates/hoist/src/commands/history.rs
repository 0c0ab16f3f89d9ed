//! Read-only views of the store: history, audit; and the manual lock escape hatch.

use std::time::Duration;

use hoist_core::store::{AuditEntry, DeploymentRecord, InstanceStep};
use hoist_core::verify::short_id;

use super::print_json;
use crate::cli::Global;
use crate::context::{Notifications, Setup, deployer, load_config, open_store};
use crate::exit;
use crate::progress::human;

pub fn history(global: &Global, environment: &str, limit: usize, json: bool) -> Result<u8, Setup> {
    let config = load_config(global)?;
    if config.environment(environment).is_none() {
        return Err(unknown_environment(&config, environment));
    }
    let store = open_store(global, &config)?;
    let app = &config.app.name;
    let deployments = store.deployments(app, environment, limit).map_err(failed)?;
    if json {
        #[derive(serde::Serialize)]
        struct History<'a> {
            environment: &'a str,
            deployments: &'a [DeploymentRecord],
            releases: Vec<hoist_core::Release>,
            tasks: Vec<hoist_core::task::TaskRunRecord>,
            /// Where the history is kept (the SQLite file, or the PostgreSQL URL
            /// without its password).
            store: Option<String>,
        }
        let releases = store.releases(app).map_err(failed)?;
        print_json(&History {
            environment,
            deployments: &deployments,
            releases,
            tasks: super::task_runs::of(store.as_ref(), &deployments)?,
            store: store.location(),
        })?;
        return Ok(exit::OK);
    }
    if deployments.is_empty() {
        println!("{environment}: no deployments yet");
        print_store(store.as_ref());
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            let tenants = d
                .instances
                .iter()
                .map(|i| format!("{}={}", i.tenant, i.outcome))
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                d.id.to_string(),
                d.started_at
                    .chars()
                    .take(19)
                    .collect::<String>()
                    .replace('T', " "),
                d.kind.as_str().to_string(),
                d.version.clone(),
                short_id(&d.image_id).to_string(),
                d.actor.clone(),
                d.duration_ms
                    .map(|ms| human(Duration::from_millis(ms)))
                    .unwrap_or_else(|| "-".into()),
                d.outcome.as_str().to_string(),
                tenants,
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "ID",
                "STARTED (UTC)",
                "KIND",
                "VERSION",
                "IMAGE",
                "ACTOR",
                "TOOK",
                "OUTCOME",
                "INSTANCES"
            ],
            &rows
        )
    );
    super::task_runs::print(&super::task_runs::of(store.as_ref(), &deployments)?);
    super::drift::print_subsets(&deployments);
    print_store(store.as_ref());
    Ok(exit::OK)
}

/// `hoist history ENV --deployment ID`: one deployment, each instance's outcome and the
/// steps the store kept of it (what the CLI printed as it ran).
pub fn deployment(global: &Global, environment: &str, id: i64, json: bool) -> Result<u8, Setup> {
    let config = load_config(global)?;
    if config.environment(environment).is_none() {
        return Err(unknown_environment(&config, environment));
    }
    let store = open_store(global, &config)?;
    let found = store
        .deployment(&config.app.name, id)
        .map_err(failed)?
        .filter(|d| d.environment == environment);
    let Some(record) = found else {
        return Err(Setup::new(
            exit::BAD_INPUT,
            format!(
                "error: {environment} has no deployment {id}; `hoist history {environment}` \
                 lists its deployments and their IDs"
            ),
        ));
    };
    let steps = store.instance_steps(id).map_err(failed)?;
    let tasks = store.task_runs(id).map_err(failed)?;
    if json {
        #[derive(serde::Serialize)]
        struct Deployment<'a> {
            environment: &'a str,
            deployment: &'a DeploymentRecord,
            steps: &'a [InstanceStep],
            tasks: &'a [hoist_core::task::TaskRunRecord],
        }
        print_json(&Deployment {
            environment,
            deployment: &record,
            steps: &steps,
            tasks: &tasks,
        })?;
        return Ok(exit::OK);
    }
    print!("{}", render_deployment(&record, &steps));
    super::task_runs::print(&tasks);
    print_store(store.as_ref());
    Ok(exit::OK)
}

/// A deployment as `history --deployment` prints it: a header, then each instance with its
/// outcome and, indented, its steps (time of day in UTC, state, message).
fn render_deployment(d: &DeploymentRecord, steps: &[InstanceStep]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let took = d
        .duration_ms
        .map(|ms| format!(", took {}", human(Duration::from_millis(ms))))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "deployment {}: {} {} ({}) by {}, started {} UTC{took}: {}",
        d.id,
        d.kind.as_str(),
        d.version,
        short_id(&d.image_id),
        d.actor,
        d.started_at
            .chars()
            .take(19)
            .collect::<String>()
            .replace('T', " "),
        d.outcome.as_str()
    );
    if !d.message.is_empty() {
        let _ = writeln!(out, "  {}", d.message);
    }
    // Instances in the order the deployment recorded them, then any that only have steps
    // (a deployment interrupted before they ended).
    let mut tenants: Vec<&str> = d.instances.iter().map(|i| i.tenant.as_str()).collect();
    for s in steps {
        if !tenants.contains(&s.tenant.as_str()) {
            tenants.push(&s.tenant);
        }
    }
    for tenant in tenants {
        match d.instances.iter().find(|i| i.tenant == tenant) {
            Some(i) => {
                let _ = writeln!(out, "{tenant}: {} {}", i.outcome, i.message);
            }
            None => {
                let _ = writeln!(out, "{tenant}: (did not end)");
            }
        }
        for s in steps.iter().filter(|s| s.tenant == tenant) {
            // RFC 3339: the time of day is characters 11..19.
            let at = s.at.get(11..19).unwrap_or(&s.at);
            let line = format!("  {at}  {:<12} {}", s.state, s.message);
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// The last line of `history` and `status`: which database they read (a SQLite file, or
/// a PostgreSQL URL without its password), since a team may keep several.
pub fn print_store(store: &dyn hoist_core::Store) {
    if let Some(location) = store.location() {
        println!("state: {location}");
    }
}

pub fn audit(
    global: &Global,
    environment: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<u8, Setup> {
    let config = load_config(global)?;
    if let Some(env) = environment
        && config.environment(env).is_none()
    {
        return Err(unknown_environment(&config, env));
    }
    let store = open_store(global, &config)?;
    let entries: Vec<AuditEntry> = store
        .audit_log(&config.app.name, environment, limit)
        .map_err(failed)?;
    if json {
        print_json(&entries)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.at.chars().take(19).collect::<String>().replace('T', " "),
                e.actor.clone(),
                e.environment.clone().unwrap_or_else(|| "-".into()),
                e.action.clone(),
                e.version.clone().unwrap_or_else(|| "-".into()),
                e.detail.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &["AT (UTC)", "ACTOR", "ENV", "ACTION", "VERSION", "DETAIL"],
            &rows
        )
    );
    Ok(exit::OK)
}

pub async fn unlock(global: &Global, environment: &str, force: bool) -> Result<u8, Setup> {
    let config = load_config(global)?;
    if config.environment(environment).is_none() {
        return Err(unknown_environment(&config, environment));
    }
    if !force {
        return Err(Setup::new(
            exit::BAD_INPUT,
            format!(
                "hoist reclaims a dead holder's lock by itself (same host: its process is gone; other hosts: no heartbeat for 60s). \
                 Use `hoist unlock {environment} --force` only when you know the holder is not running."
            ),
        ));
    }
    let app = config.app.name.clone();
    let wired = deployer(
        global,
        config.clone(),
        hoist_core::EventSink::discard(),
        Notifications::Off,
    )
    .await;
    let mut code = exit::OK;
    let (store, actor, forced) = match wired {
        Ok(deployer) => {
            let forced = deployer
                .force_unlock(environment)
                .await
                .map_err(|e| Setup::new(exit::FAILED, format!("error: {e}")))?;
            (deployer.store.clone(), deployer.actor.clone(), forced)
        }
        // The engine is out of reach: the state database's lock can still go, and the
        // user is told that the targets' could not.
        Err(e) => {
            eprintln!(
                "error: the lock on the targets could not be removed: {}",
                e.message.trim().trim_start_matches("error: ")
            );
            code = exit::FAILED;
            let store = open_store(global, &config)?;
            let held = store.force_unlock(&app, environment).map_err(failed)?;
            let actor = hoist_core::pipeline::resolve_actor(global.actor.as_deref());
            let forced = hoist_core::pipeline::ForcedUnlock {
                store: held,
                targets: Vec::new(),
            };
            (store, actor, forced)
        }
    };
    let mut removed = Vec::new();
    if let Some(h) = &forced.store {
        removed.push(format!(
            "removed the lock of {} (pid {} on {}, since {}) from the state database",
            h.actor, h.pid, h.hostname, h.acquired_at
        ));
    }
    for (place, outcome) in &forced.targets {
        match outcome {
            Ok(Some(h)) => removed.push(format!(
                "removed the lock of {} (pid {} on {}, since {}) on {place}",
                h.actor, h.pid, h.hostname, h.acquired_at
            )),
            Ok(None) => {}
            Err(e) => {
                eprintln!("error: could not remove the lock on {place}: {e}");
                code = exit::FAILED;
            }
        }
    }
    if removed.is_empty() {
        if code == exit::OK {
            println!("{environment} was not locked");
        } else {
            println!("{environment} had no lock in the state database");
        }
        return Ok(code);
    }
    for detail in removed {
        store
            .append_audit(&AuditEntry {
                at: jiff::Timestamp::now().to_string(),
                actor: actor.clone(),
                app: app.clone(),
                environment: Some(environment.to_string()),
                action: "lock.forced".into(),
                version: None,
                detail: detail.clone(),
            })
            .map_err(failed)?;
        println!("{detail}");
    }
    Ok(code)
}

pub(super) fn failed(e: hoist_core::StoreError) -> Setup {
    Setup::new(exit::FAILED, format!("error: {e}"))
}

pub(super) fn unknown_environment(config: &hoist_config::Settings, name: &str) -> Setup {
    Setup::new(
        exit::BAD_INPUT,
        format!(
            "error: no environment `{name}` in {}; defined: {}",
            config.path.display(),
            config
                .environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::store::{DeploymentKind, DeploymentOutcome, InstanceOutcome};

    fn step(tenant: &str, at: &str, state: &str, message: &str) -> InstanceStep {
        InstanceStep {
            tenant: tenant.into(),
            at: at.into(),
            state: state.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_deployment_lists_each_instance_with_its_steps() {
        let record = DeploymentRecord {
            id: 7,
            app: "clinic".into(),
            environment: "staging".into(),
            kind: DeploymentKind::Deploy,
            version: "v1.2.0".into(),
            image_id: "sha256:0123456789abcdef0123".into(),
            actor: "alice".into(),
            started_at: "2026-12-07T03:00:01.123Z".into(),
            finished_at: Some("2026-12-07T03:00:05Z".into()),
            duration_ms: Some(4200),
            outcome: DeploymentOutcome::Failed,
            message: "v1.2.0 failed on south: health check never answered".into(),
            instances: vec![InstanceOutcome {
                tenant: "north".into(),
                container: "clinic-staging-north".into(),
                outcome: "healthy".into(),
                message: "runs v1.2.0".into(),
                started_at: "2026-12-07T03:00:01Z".into(),
                duration_ms: 2000,
                spec: None,
            }],
            subset: Vec::new(),
        };
        let steps = [
            step("north", "2026-12-07T03:00:01.5Z", "waiting", ""),
            step("south", "2026-12-07T03:00:01.6Z", "starting", "starting it"),
            step("north", "2026-12-07T03:00:02.5Z", "healthy", "runs v1.2.0"),
        ];
        let text = render_deployment(&record, &steps);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("deployment 7: deploy v1.2.0 (")
                && lines[0]
                    .ends_with("by alice, started 2026-12-07 03:00:01 UTC, took 4.2s: failed"),
            "{text}"
        );
        assert_eq!(
            lines[1..],
            [
                "  v1.2.0 failed on south: health check never answered",
                "north: healthy runs v1.2.0",
                "  03:00:01  waiting",
                "  03:00:02  healthy      runs v1.2.0",
                "south: (did not end)",
                "  03:00:01  starting     starting it",
            ]
        );
    }
}
