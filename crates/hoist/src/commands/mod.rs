//! One function per subcommand. Each returns the process exit code.

mod docs;
mod drift;
mod history;
mod init;
mod jobs;
mod metrics;
mod prune;
mod release;
mod scan;
mod serve;
mod status;
mod task_runs;

use std::time::Duration;

use hoist_core::pipeline::{DeployOptions, LockWait, Override, PipelineError, RetireOptions};
use serde::Serialize;

use crate::cli::{Cli, Command, JsonArg, LockArgs, PolicyArgs, SubsetArgs};
use crate::context::Setup;
use crate::exit;

pub async fn run(cli: Cli) -> u8 {
    let global = &cli.global;
    let json_errors = cli.command.wants_json();
    let result = match cli.command {
        Command::Init { name, force } => init::run(global, name, force),
        Command::Plan {
            environment,
            release_version,
            json: JsonArg { json },
        } => release::plan(global, &environment, release_version.as_deref(), json).await,
        Command::Build {
            release_version,
            json: JsonArg { json },
        } => release::build(global, release_version.as_deref(), json).await,
        Command::Deploy {
            environment,
            release_version,
            subset,
            lock,
            policy,
            schedule,
            force_tasks,
            json: JsonArg { json },
        } => {
            let options = DeployOptions {
                version: release_version,
                git_ref: None,
                wait: lock_wait(lock),
                overrides: overrides(policy),
                subset: subset_of(subset),
            };
            let timing = release::Timing {
                start_at: schedule.start_at(),
                force_tasks,
            };
            release::deploy(global, &environment, &options, &timing, json).await
        }
        Command::Release {
            git_ref,
            subset,
            lock,
            policy,
            schedule,
            force_tasks,
            json: JsonArg { json },
        } => {
            let timing = release::Timing {
                start_at: schedule.start_at(),
                force_tasks,
            };
            release::release(
                global,
                &git_ref,
                lock_wait(lock),
                &overrides(policy),
                &timing,
                &subset_of(subset),
                json,
            )
            .await
        }
        Command::Promote {
            from,
            to,
            release_version,
            lock,
            policy,
            json: JsonArg { json },
        } => {
            release::promote(
                global,
                &from,
                &to,
                release_version.as_deref(),
                lock_wait(lock),
                &overrides(policy),
                json,
            )
            .await
        }
        Command::Rollback {
            environment,
            to,
            force,
            lock,
            policy,
            json: JsonArg { json },
        } => {
            let overrides = Override {
                unverified: force,
                ..overrides(policy)
            };
            release::rollback(
                global,
                &environment,
                to.as_deref(),
                lock_wait(lock),
                &overrides,
                json,
            )
            .await
        }
        Command::Status {
            environment,
            json: JsonArg { json },
        } => status::run(global, &environment, json).await,
        Command::History {
            environment,
            deployment: Some(id),
            json: JsonArg { json },
            ..
        } => history::deployment(global, &environment, id, json),
        Command::History {
            environment,
            limit,
            deployment: None,
            json: JsonArg { json },
        } => history::history(global, &environment, limit, json),
        Command::Audit {
            environment,
            limit,
            json: JsonArg { json },
        } => history::audit(global, environment.as_deref(), limit, json),
        Command::Retire {
            environment,
            tenant,
            dry_run,
            lock,
            policy,
            json: JsonArg { json },
        } => {
            let options = RetireOptions {
                dry_run,
                wait: lock_wait(lock),
                overrides: overrides(policy),
            };
            status::retire(global, &environment, &tenant, &options, json).await
        }
        Command::Prune {
            environment,
            dry_run,
            lock,
            json: JsonArg { json },
        } => {
            let options = hoist_core::pipeline::PruneOptions {
                dry_run,
                wait: lock_wait(lock),
            };
            prune::run(global, environment.as_deref(), options, json).await
        }
        Command::Unlock { environment, force } => {
            history::unlock(global, &environment, force).await
        }
        Command::Serve { listen, lock_wait } => serve::serve(global, listen, lock_wait).await,
        Command::Token { action } => serve::token(global, action),
        Command::Jobs {
            only,
            limit,
            json: JsonArg { json },
        } => jobs::list(global, &only, limit, json),
        Command::Job { action } => jobs::job(global, action),
        Command::Metrics {
            environment,
            since,
            json: JsonArg { json },
        } => metrics::run(global, environment.as_deref(), &since, json),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::Scan {
            path,
            history,
            format,
            output,
            update_baseline,
            baseline,
            all_files,
        } => scan::run(
            global,
            &scan::Options {
                path,
                history,
                format,
                output,
                update_baseline,
                baseline,
                all_files,
            },
        ),
    };
    match result {
        Ok(code) => code,
        Err(setup) => {
            eprintln!("{}", setup.message.trim_end());
            if json_errors {
                println!("{}", setup.to_json());
            }
            setup.code
        }
    }
}

fn overrides(args: PolicyArgs) -> Override {
    Override {
        window: args.override_window,
        reason: args.reason,
        unverified: false,
    }
}

fn lock_wait(args: LockArgs) -> LockWait {
    match args.wait {
        Some(secs) => LockWait::Wait(Duration::from_secs(secs)),
        None => LockWait::Refuse,
    }
}

impl From<PipelineError> for Setup {
    fn from(e: PipelineError) -> Self {
        let mut message = format!("error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!("\n  caused by: {s}"));
            source = s.source();
        }
        if let PipelineError::Build { source, .. } = &e
            && !source.log_tail.is_empty()
        {
            message.push_str("\n  last build output:");
            for line in &source.log_tail {
                message.push_str(&format!("\n    | {line}"));
            }
        }
        Setup::new(e.exit_code() as u8, message)
    }
}

/// The last line of a `--json` event stream: the command's result, in the events'
/// envelope (docs/events.md).
fn print_result(run: &str, result: &impl Serialize) -> Result<(), Setup> {
    let line = serde_json::json!({
        "v": hoist_core::events::SCHEMA_VERSION,
        "run": run,
        "at": jiff::Timestamp::now(),
        "kind": "result",
        "result": result,
    });
    println!("{line}");
    Ok(())
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl Serialize) -> Result<(), Setup> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Setup::new(exit::FAILED, format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn subset_of(args: SubsetArgs) -> hoist_core::pipeline::Subset {
    hoist_core::pipeline::Subset {
        tenants: args.tenants,
        tags: args.tags,
    }
}
