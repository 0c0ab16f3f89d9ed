//! `hoist metrics`: the DORA metrics of each environment from the state database
//! (computed by `hoist_core::metrics`); commit times are the ones recorded with each
//! release when it was built, else (older releases) read from the app's git repository.

use hoist_core::metrics::{Metrics, from_store, git_commit_time, parse_window};

use super::print_json;
use crate::cli::Global;
use crate::context::{Setup, load_config, open_store};
use crate::exit;
use crate::progress::human;

pub fn run(
    global: &Global,
    environment: Option<&str>,
    since: &str,
    json: bool,
) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let window = parse_window(since)
        .map_err(|e| Setup::new(exit::BAD_INPUT, format!("error: --since: {e}")))?;
    let environments: Vec<String> = match environment {
        Some(env) if config.environment(env).is_none() => {
            return Err(super::history::unknown_environment(&config, env));
        }
        Some(env) => vec![env.to_string()],
        None => config.environments.keys().cloned().collect(),
    };
    let store = open_store(global, &config)?;
    let until = jiff::Timestamp::now();
    let since = until - window;
    // Releases recorded before hoist kept commit times: ask the app's repository.
    let fallback = |commit: &str| git_commit_time(&config.root, commit);
    let all = from_store(
        &*store,
        &config.app.name,
        &environments,
        since,
        until,
        &fallback,
    )
    .map_err(|e| Setup::new(exit::FAILED, format!("error: {e}")))?;
    if json {
        print_json(&all)?;
    } else {
        print_table(&all, since);
    }
    Ok(exit::OK)
}

fn secs(value: Option<i64>) -> String {
    value.map_or("-".into(), |s| {
        human(std::time::Duration::from_secs(s.max(0) as u64))
    })
}

fn print_table(all: &[Metrics], since: jiff::Timestamp) {
    println!("since {}", since.strftime("%Y-%m-%d %H:%M UTC"));
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|m| {
            vec![
                m.environment.clone(),
                format!("{:.2}", m.deployments_per_day),
                secs(m.lead_time_secs),
                m.change_failure_rate.map_or("-".into(), |r| {
                    format!("{:.0}% ({}/{})", r * 100.0, m.failed_changes, m.changes)
                }),
                secs(m.time_to_restore_secs),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "ENVIRONMENT",
                "DEPLOYS/DAY",
                "LEAD TIME",
                "CHANGE FAILURE",
                "TIME TO RESTORE"
            ],
            &rows
        )
    );
}
