use std::path::Path;

use hoist_config::starter;

use crate::cli::Global;
use crate::context::{Setup, dir_name};
use crate::exit;

/// `hoist init`: writes a starter config for what it finds beside it (dependency
/// manifests, the port an existing Dockerfile exposes, the framework's health path), and
/// starter Dockerfiles for the detected stack where there are none. Existing Dockerfiles
/// are never replaced.
pub fn run(global: &Global, name: Option<String>, force: bool) -> Result<u8, Setup> {
    let path = &global.config;
    if path.exists() && !force {
        return Err(Setup::new(
            exit::BAD_INPUT,
            format!(
                "{} exists already; pass --force to replace it",
                path.display()
            ),
        ));
    }
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = name.unwrap_or_else(|| dir_name(root));
    let detected = starter::detect(root);
    let text = starter::render(&name, &detected);
    // Never write a starter that hoist itself would reject.
    let config = hoist_config::parse(path, &text).map_err(|e| {
        Setup::new(
            exit::BAD_INPUT,
            format!("the starter for `{name}` is not valid ({e}); pass a simpler --name"),
        )
    })?;
    write(path, &text)?;
    println!("wrote {}", path.display());
    let app = &config.app;
    match &detected.port {
        Some(found) => println!("  port {} (from {})", app.port, found.source),
        None => println!("  port {} (check it: no Dockerfile EXPOSEs one)", app.port),
    }
    match &detected.health_path {
        Some(found) => println!("  health path {} ({})", found.value, found.source),
        None => println!("  health path /healthz (make the app answer it with 2xx)"),
    }
    if detected.inputs.is_empty() {
        println!("  no dependency manifest was found, so edit build.dependencies");
    } else {
        println!("  dependency inputs {}", detected.inputs.join(", "));
    }

    // `Dockerfile`, not `./Dockerfile`, when hoist.toml is in the current directory.
    let beside = |file: &str| {
        if root == Path::new(".") {
            std::path::PathBuf::from(file)
        } else {
            root.join(file)
        }
    };
    let base_path = beside("Dockerfile.base");
    let app_path = beside("Dockerfile");
    let starters = starter::dockerfiles(&detected, app.port);
    let mut missing = Vec::new();
    for (file, starter) in [
        (&base_path, starters.as_ref().map(|s| &s.0)),
        (&app_path, starters.as_ref().map(|s| &s.1)),
    ] {
        if file.exists() {
            continue;
        }
        match starter {
            Some(text) => {
                write(file, text)?;
                let stack = detected.stack.as_ref().map_or("", |s| s.0.name());
                println!("wrote {} (a {stack} starter: review it)", file.display());
            }
            None => missing.push(file.display().to_string()),
        }
    }
    if let Ok(existing) = std::fs::read_to_string(&app_path)
        && !existing.contains("HOIST_BASE")
    {
        println!(
            "note: {} does not build FROM the base hoist makes; start it with `ARG HOIST_BASE` and `FROM ${{HOIST_BASE}}`",
            app_path.display()
        );
    }
    if missing.is_empty() {
        println!("next: run `hoist plan staging`");
    } else {
        println!(
            "next: write {} (no starter for this app's stack), then run `hoist plan staging`",
            missing.join(" and ")
        );
    }
    Ok(exit::OK)
}

fn write(path: &Path, text: &str) -> Result<(), Setup> {
    std::fs::write(path, text).map_err(|e| {
        Setup::new(
            exit::FAILED,
            format!("cannot write {}: {e}", path.display()),
        )
    })
}
