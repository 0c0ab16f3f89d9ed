//! The `hoist` command line. It parses arguments, wires the real components together
//! (Docker builder and target, SQLite store) and renders results; the pipeline itself
//! lives in `hoist-core`.

mod cli;
mod commands;
mod context;
mod progress;
mod redact;
mod schedule;
mod signals;
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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    redact::register_environment();
    // Tenant secrets are read at deploy time; each value read is masked from then on.
    hoist_secrets::set_value_observer(redact::register);
    // A server has no other output: its log says what it does.
    let server = matches!(cli.command, cli::Command::Serve { .. });
    init_tracing(cli.global.verbose.max(u8::from(server)));
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

/// A command line clap rejects. Under `--json` (or `hoist scan --format json`) the error is
/// also one JSON object on stdout, like every other error; `--help` and `--version` print
/// as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().enumerate().any(|(i, a)| {
        a == "--json"
            || a == "--format=json"
            || a == "--format" && args.get(i + 1).is_some_and(|f| f == "json")
    });
    if informational || !json {
        e.exit();
    }
    let _ = e.print();
    // clap's text without `error: `, the usage and the hint that follow, on one line.
    let text = e.render().to_string();
    let text = text.trim_start_matches("error: ");
    let text = text.split("\n\nUsage:").next().unwrap_or(text);
    let text = text
        .split("\n\nFor more information")
        .next()
        .unwrap_or(text);
    let message = text.split_whitespace().collect::<Vec<_>>().join(" ");
    println!(
        "{}",
        serde_json::json!({
            "error": {
                "code": exit::BAD_INPUT,
                "message": message,
                "file": null,
                "line": null,
                "column": null,
                "errors": [],
            }
        })
    );
    ExitCode::from(exit::BAD_INPUT)
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
