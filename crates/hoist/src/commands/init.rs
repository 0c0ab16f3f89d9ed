use crate::cli::Global;
use crate::context::{Setup, dir_name};
use crate::exit;

/// `hoist init`: writes a starter config next to the detected manifests.
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
        .unwrap_or(std::path::Path::new("."));
    let name = name.unwrap_or_else(|| dir_name(root));
    let inputs = hoist_config::starter::detect_dependency_inputs(root);
    let text = hoist_config::starter::render(&name, &inputs);
    // Never write a starter that hoist itself would reject.
    hoist_config::parse(path, &text).map_err(|e| {
        Setup::new(
            exit::BAD_INPUT,
            format!("the starter for `{name}` is not valid ({e}); pass a simpler --name"),
        )
    })?;
    std::fs::write(path, text).map_err(|e| {
        Setup::new(
            exit::FAILED,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    if inputs.is_empty() {
        println!(
            "wrote {}; no dependency manifest was found, so edit build.dependencies",
            path.display()
        );
    } else {
        println!(
            "wrote {} with dependency inputs {}",
            path.display(),
            inputs.join(", ")
        );
    }
    println!("next: write Dockerfile.base and Dockerfile, then run `hoist plan staging`");
    Ok(exit::OK)
}
