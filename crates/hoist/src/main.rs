//! The `hoist` command line. It parses arguments, wires the real components together
//! (Docker builder and target, SQLite store) and renders results; the pipeline itself
//! lives in `hoist-core`.

mod cli;
mod commands;
mod context;
mod progress;
mod redact;
mod table;

use std::process::ExitCode;

use clap::Parser;

/// Documented exit codes.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// A deploy, rollback or check failed (or was refused).
    pub const FAILED: u8 = 1;
    /// Bad input or configuration.
    pub const BAD_INPUT: u8 = 2;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    redact::register_environment();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hoist: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,hoist=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every line passes the scrubber: no level may print a secret.
        .with_writer(|| redact::ScrubbedStderr)
        .with_target(false)
        .init();
}
