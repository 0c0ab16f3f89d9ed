//! `hoist completions` and `hoist man`: generated from the same clap definitions as
//! `--help`, so they cannot drift from the commands.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::context::Setup;
use crate::exit;

/// `hoist completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, Setup> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "hoist", &mut std::io::stdout());
    Ok(exit::OK)
}

/// `hoist man`: the man page on stdout, or with `--dir` one page per command there
/// (`hoist.1`, `hoist-deploy.1`, ...).
pub fn man(dir: Option<&Path>) -> Result<u8, Setup> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut out = std::io::stdout();
        clap_mangen::Man::new(command)
            .render(&mut out)
            .map_err(|e| {
                Setup::new(
                    exit::FAILED,
                    format!("error: cannot write the man page: {e}"),
                )
            })?;
        return Ok(exit::OK);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Setup::new(
            exit::FAILED,
            format!("error: cannot create {}: {e}", dir.display()),
        )
    })?;
    clap_mangen::generate_to(command, dir).map_err(|e| {
        Setup::new(
            exit::FAILED,
            format!("error: cannot write man pages to {}: {e}", dir.display()),
        )
    })?;
    println!("wrote man pages to {}", dir.display());
    Ok(exit::OK)
}
