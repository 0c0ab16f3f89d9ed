//! The commented `hoist.toml` that `hoist init` writes.

use std::path::Path;

/// Dependency manifests hoist recognises, as globs relative to the app root. Lock files come
/// before their loose manifests: the lock pins what the base image really installs.
pub const KNOWN_MANIFESTS: &[&str] = &[
    "requirements*.txt",
    "requirements/*.txt",
    "poetry.lock",
    "uv.lock",
    "composer.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "Gemfile.lock",
    "go.sum",
];

/// The manifests of [`KNOWN_MANIFESTS`] that match at least one file under `root`.
pub fn detect_dependency_inputs(root: &Path) -> Vec<String> {
    KNOWN_MANIFESTS
        .iter()
        .filter(|glob| glob_matches_any(root, glob))
        .map(|glob| glob.to_string())
        .collect()
}

fn glob_matches_any(root: &Path, glob: &str) -> bool {
    let Ok(matcher) = globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
    else {
        return false;
    };
    // Manifests live at the root or one level down (`requirements/*.txt`).
    let mut candidates = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let rel = Path::new(&name).to_path_buf();
            if entry.path().is_dir() {
                if let Ok(sub) = std::fs::read_dir(entry.path()) {
                    candidates.extend(sub.flatten().map(|e| rel.join(e.file_name())));
                }
            } else {
                candidates.push(rel);
            }
        }
    }
    candidates.iter().any(|c| matcher.is_match(c))
}

/// A starter config for an app called `name` whose dependency inputs are `inputs`.
pub fn render(name: &str, inputs: &[String]) -> String {
    let deps = if inputs.is_empty() {
        "# No dependency manifest was found: list the files your base image installs from.\ndependencies = [\"requirements.txt\"]".to_string()
    } else {
        let quoted: Vec<String> = inputs.iter().map(|i| format!("\"{i}\"")).collect();
        format!("dependencies = [{}]", quoted.join(", "))
    };
    format!(
        r#"# hoist.toml: how hoist builds and deploys {name}. Reference: README.md, "hoist.toml".

[app]
name = "{name}"
# Repository for release images; the dependency base image goes to "<image>-base".
image = "{name}"
# Port the app listens on inside its container.
port = 8000
# Every instance must answer this path with 2xx before it takes traffic.
health_path = "/healthz"
# Optional: a path whose body contains the running version.
# version_path = "/version"

[build]
# The app image: receives `ARG HOIST_BASE` (use `FROM ${{HOIST_BASE}}`) and `ARG HOIST_VERSION`.
dockerfile = "Dockerfile"
# The dependency base image: rebuilt only when the files below (or this file) change.
base_dockerfile = "Dockerfile.base"
{deps}

[environments.staging]
env = {{ APP_ENV = "staging" }}

[environments.staging.rollout]
concurrency = 2
health_timeout = "60s"

[[environments.staging.instances]]
tenant = "acme"
port = 8101

[[environments.staging.instances]]
tenant = "globex"
port = 8102
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_manifests_at_root_and_in_requirements_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("requirements-dev.txt"), "").unwrap();
        std::fs::create_dir(dir.path().join("requirements")).unwrap();
        std::fs::write(dir.path().join("requirements/base.txt"), "").unwrap();
        std::fs::write(dir.path().join("Cargo.lock"), "").unwrap();
        std::fs::write(dir.path().join("README.md"), "").unwrap();
        assert_eq!(
            detect_dependency_inputs(dir.path()),
            vec!["requirements*.txt", "requirements/*.txt", "Cargo.lock"]
        );
    }

    #[test]
    fn starter_is_a_valid_config() {
        let text = render("shop", &["composer.lock".to_string()]);
        let config = crate::parse(Path::new("hoist.toml"), &text).unwrap();
        assert_eq!(
            &config.build.dependencies,
            &vec!["composer.lock".to_string()]
        );
        assert_eq!(config.environment("staging").unwrap().instances.len(), 2);
    }
}
