//! What `hoist init` writes: a commented `hoist.toml` for what it finds in the app's
//! directory, and starter `Dockerfile.base` and `Dockerfile` for the detected stack when
//! the app has none.
//!
//! Detection reads files only: dependency manifests at the root or one directory down
//! (`deps/requirements.txt`, `backend/composer.lock`), the port an existing Dockerfile
//! `EXPOSE`s, and a health path where the framework has a convention (Rails 7.1+ and
//! Laravel 11+ answer `/up`).

use std::path::{Path, PathBuf};

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

/// The manifest a lock file is installed with: the base build needs both.
const COMPANIONS: &[(&str, &str)] = &[
    ("poetry.lock", "pyproject.toml"),
    ("uv.lock", "pyproject.toml"),
    ("composer.lock", "composer.json"),
    ("package-lock.json", "package.json"),
    ("yarn.lock", "package.json"),
    ("pnpm-lock.yaml", "package.json"),
    ("Cargo.lock", "Cargo.toml"),
    ("Gemfile.lock", "Gemfile"),
    ("go.sum", "go.mod"),
];

/// Directories never searched for manifests: installed dependencies and tool state.
const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    "vendor",
    "target",
    "venv",
    ".venv",
    "__pycache__",
    "dist",
    "build",
];

/// A stack `hoist init` writes starter Dockerfiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// pip (`requirements*.txt`), Poetry or uv.
    Python,
    /// Composer.
    Php,
    /// npm, Yarn or pnpm.
    Node,
    /// Bundler.
    Ruby,
    /// Go modules.
    Go,
}

impl Stack {
    pub fn name(self) -> &'static str {
        match self {
            Stack::Python => "Python",
            Stack::Php => "PHP",
            Stack::Node => "Node.js",
            Stack::Ruby => "Ruby",
            Stack::Go => "Go",
        }
    }

    /// The port the stack's usual server listens on.
    pub fn default_port(self) -> u16 {
        match self {
            Stack::Python | Stack::Php => 8000,
            Stack::Node | Stack::Ruby => 3000,
            Stack::Go => 8080,
        }
    }
}

/// A value found in the app's files, with where it was found (for `hoist init` to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub value: T,
    pub source: String,
}

/// What `hoist init` found in an app's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    /// `build.dependencies`: globs relative to the root, manifests first.
    pub inputs: Vec<String>,
    /// The stack of the first manifest that has a starter, with the manifest's directory
    /// (relative to the root; empty for the root itself) and its manifest file.
    pub stack: Option<(Stack, PathBuf, String)>,
    /// The port an existing Dockerfile `EXPOSE`s.
    pub port: Option<Found<u16>>,
    /// The framework's health path, when it has a convention.
    pub health_path: Option<Found<String>>,
}

/// Looks at `root` for what a starter needs.
pub fn detect(root: &Path) -> Detected {
    let files = candidate_files(root);
    let mut inputs = Vec::new();
    let mut stack = None;
    for glob in KNOWN_MANIFESTS {
        for dir in directories(&files) {
            let pattern = join(&dir, glob);
            let matched: Vec<&String> = files.iter().filter(|f| matches(&pattern, f)).collect();
            if matched.is_empty() || inputs.contains(&pattern) {
                continue;
            }
            inputs.push(pattern.clone());
            if let Some((_, companion)) = COMPANIONS.iter().find(|(lock, _)| lock == glob) {
                let companion = join(&dir, companion);
                if files.contains(&companion) && !inputs.contains(&companion) {
                    inputs.push(companion);
                }
            }
            if stack.is_none()
                && let Some(kind) = stack_of(glob)
            {
                stack = Some((kind, PathBuf::from(&dir), primary(matched, glob)));
            }
        }
    }
    Detected {
        inputs,
        port: exposed_port(root),
        health_path: stack
            .as_ref()
            .and_then(|(kind, dir, _)| conventional_health_path(root, *kind, dir)),
        stack,
    }
}

/// The manifests of [`KNOWN_MANIFESTS`] found under `root` (or one directory down), as
/// globs for `build.dependencies`.
pub fn detect_dependency_inputs(root: &Path) -> Vec<String> {
    detect(root).inputs
}

/// Files at the root and one directory down, as `/`-separated relative paths, sorted.
fn candidate_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return files;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            let Ok(sub) = std::fs::read_dir(&path) else {
                continue;
            };
            for e in sub.flatten() {
                if e.path().is_file() {
                    files.push(format!("{name}/{}", e.file_name().to_string_lossy()));
                }
            }
        } else {
            files.push(name);
        }
    }
    files.sort();
    files
}

/// The root (`""`) first, then each directory holding a file, in name order.
fn directories(files: &[String]) -> Vec<String> {
    let mut dirs = vec![String::new()];
    for f in files {
        if let Some((dir, _)) = f.split_once('/')
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_string());
        }
    }
    dirs
}

fn join(dir: &str, glob: &str) -> String {
    if dir.is_empty() {
        glob.to_string()
    } else {
        format!("{dir}/{glob}")
    }
}

fn matches(glob: &str, file: &str) -> bool {
    globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(file))
}

fn stack_of(glob: &str) -> Option<Stack> {
    match glob {
        "requirements*.txt" | "requirements/*.txt" | "poetry.lock" | "uv.lock" => {
            Some(Stack::Python)
        }
        "composer.lock" => Some(Stack::Php),
        "package-lock.json" | "yarn.lock" | "pnpm-lock.yaml" => Some(Stack::Node),
        "Gemfile.lock" => Some(Stack::Ruby),
        "go.sum" => Some(Stack::Go),
        _ => None,
    }
}

/// The file the base image installs from: `requirements.txt` when the glob matched it,
/// else the first match (by name); for other manifests the file itself.
fn primary(matched: Vec<&String>, glob: &str) -> String {
    if glob.starts_with("requirements") {
        let preferred = [
            "requirements.txt",
            "requirements/base.txt",
            "requirements/prod.txt",
        ];
        for p in preferred {
            if let Some(m) = matched.iter().find(|m| m.ends_with(p)) {
                return file_name(m);
            }
        }
        // Dev requirements are the last choice.
        let mut sorted = matched.clone();
        sorted.sort_by_key(|m| m.contains("dev"));
        return sorted.first().map_or_else(String::new, |m| file_name(m));
    }
    matched.first().map_or_else(String::new, |m| file_name(m))
}

/// The path of `m` below its manifest directory (`requirements/base.txt` stays whole).
fn file_name(m: &str) -> String {
    let parts: Vec<&str> = m.split('/').collect();
    match parts.as_slice() {
        [.., "requirements", file] => format!("requirements/{file}"),
        [.., file] => file.to_string(),
        [] => String::new(),
    }
}

/// The first port `EXPOSE`d by the root's `Dockerfile` (or `Dockerfile.base`).
fn exposed_port(root: &Path) -> Option<Found<u16>> {
    for name in ["Dockerfile", "Dockerfile.base"] {
        let Ok(text) = std::fs::read_to_string(root.join(name)) else {
            continue;
        };
        if let Some(port) = expose_in(&text) {
            return Some(Found {
                value: port,
                source: format!("EXPOSE in {name}"),
            });
        }
    }
    None
}

/// The first TCP port of an `EXPOSE` instruction (`EXPOSE 8000`, `EXPOSE 8000/tcp 9000`).
pub fn expose_in(dockerfile: &str) -> Option<u16> {
    dockerfile.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if !words.next()?.eq_ignore_ascii_case("EXPOSE") {
            return None;
        }
        words.find_map(|w| {
            let (port, proto) = w.split_once('/').unwrap_or((w, "tcp"));
            if proto.eq_ignore_ascii_case("tcp") {
                port.parse::<u16>().ok().filter(|p| *p != 0)
            } else {
                None
            }
        })
    })
}

/// `/up` for Rails 7.1+ (its generated health check route) and Laravel 11+ (its `health`
/// route); other frameworks have no convention.
fn conventional_health_path(root: &Path, stack: Stack, dir: &Path) -> Option<Found<String>> {
    let dir = root.join(dir);
    let (file, framework, min, version) = match stack {
        Stack::Ruby => {
            let text = std::fs::read_to_string(dir.join("Gemfile.lock")).ok()?;
            let version = text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("railties (")
                    .and_then(|v| v.strip_suffix(')'))
                    .map(str::to_string)
            })?;
            ("Gemfile.lock", "Rails", (7, 1), version)
        }
        Stack::Php => {
            let text = std::fs::read_to_string(dir.join("composer.lock")).ok()?;
            let at = text.find("\"name\": \"laravel/framework\"")?;
            let rest = &text[at..];
            let v = rest.find("\"version\": \"")? + "\"version\": \"".len();
            let version = rest[v..].split('"').next()?.to_string();
            ("composer.lock", "Laravel", (11, 0), version)
        }
        _ => return None,
    };
    let mut numbers = version
        .trim_start_matches('v')
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let found = (numbers.next()?, numbers.next().unwrap_or(0));
    (found >= min).then(|| Found {
        value: "/up".to_string(),
        source: format!("{framework} {version}'s health check route, from {file}"),
    })
}

/// A starter config for an app called `name`.
pub fn render(name: &str, detected: &Detected) -> String {
    let inputs = &detected.inputs;
    let deps = if inputs.is_empty() {
        "# No dependency manifest was found: list the files your base image installs from.\ndependencies = [\"requirements.txt\"]".to_string()
    } else {
        let quoted: Vec<String> = inputs.iter().map(|i| format!("\"{i}\"")).collect();
        format!("dependencies = [{}]", quoted.join(", "))
    };
    let (port, port_comment) = match (&detected.port, &detected.stack) {
        (Some(found), _) => (
            found.value,
            format!(
                "# Port the app listens on inside its container (from {}).",
                found.source
            ),
        ),
        (None, Some((stack, _, _))) => (
            stack.default_port(),
            format!(
                "# Port the app listens on inside its container ({}'s usual; change it to yours).",
                stack.name()
            ),
        ),
        (None, None) => (
            8000,
            "# Port the app listens on inside its container.".to_string(),
        ),
    };
    let (health, health_comment) = match &detected.health_path {
        Some(found) => (
            found.value.clone(),
            format!(
                "# Every instance must answer this path with 2xx before it takes traffic ({}).",
                found.source
            ),
        ),
        None => (
            "/healthz".to_string(),
            "# Every instance must answer this path with 2xx before it takes traffic: add this\n# route to the app, or name one it has."
                .to_string(),
        ),
    };
    format!(
        r#"# hoist.toml: how hoist builds and deploys {name}. Reference: README.md, "hoist.toml".

[app]
name = "{name}"
# Repository for release images; the dependency base image goes to "<image>-base".
image = "{name}"
{port_comment}
port = {port}
{health_comment}
health_path = "{health}"
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

/// Starter `Dockerfile.base` and `Dockerfile` for what was detected, if its stack has
/// starters. The base copies only dependency inputs (the base build sees nothing else);
/// the app image adds the code on top.
pub fn dockerfiles(detected: &Detected, port: u16) -> Option<(String, String)> {
    let (stack, dir, manifest) = detected.stack.as_ref()?;
    let dir = dir.to_string_lossy().replace('\\', "/");
    let at = |file: &str| join(&dir, file);
    // The code lives beside its manifest (`backend/composer.lock`: `backend/`), except
    // that pip requirements kept in a directory of their own (`deps/`) serve the root's.
    let requirements_only = *stack == Stack::Python && manifest.starts_with("requirements");
    let code = if dir.is_empty() || requirements_only {
        ".".to_string()
    } else {
        format!("{dir}/")
    };
    let base_header = "# The dependency base image. hoist builds it from ONLY the files `build.dependencies`\n\
         # lists (and this file), names it by their fingerprint, and reuses it until one of\n\
         # them changes: install dependencies here, never the app's code.\n";
    let app_header = "# The app image: the base hoist built, plus the code. hoist passes HOIST_BASE and\n\
         # HOIST_VERSION; a Dockerfile of only COPY/ENV/WORKDIR/CMD/EXPOSE... is built as one\n\
         # layer in well under a second.\n\
         ARG HOIST_BASE\n\
         FROM ${HOIST_BASE}\n\
         ARG HOIST_VERSION=dev\n\
         ENV APP_VERSION=${HOIST_VERSION}\n";
    let (base, app) = match stack {
        Stack::Python => {
            let install = if manifest == "poetry.lock" {
                format!(
                    "COPY {} {} ./\nRUN pip install poetry && poetry config virtualenvs.create false \\\n    && poetry install --no-root --only main",
                    at("pyproject.toml"),
                    at("poetry.lock")
                )
            } else if manifest == "uv.lock" {
                format!(
                    "COPY {} {} ./\nRUN pip install uv && uv sync --frozen --no-install-project --no-dev\nENV PATH=\"/app/.venv/bin:$PATH\"",
                    at("pyproject.toml"),
                    at("uv.lock")
                )
            } else if manifest.starts_with("requirements/") {
                format!(
                    "COPY {} requirements/\nRUN pip install -r {manifest}",
                    at("requirements/")
                )
            } else {
                format!("COPY {} ./\nRUN pip install -r {manifest}", at(manifest))
            };
            (
                format!(
                    "FROM python:3.12-slim\nENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1\nWORKDIR /app\n{install}\n"
                ),
                format!(
                    "WORKDIR /app\nCOPY {code} /app/\nEXPOSE {port}\n# How the app starts: change it to your server (gunicorn, uvicorn, ...).\nCMD [\"python\", \"-m\", \"gunicorn\", \"--bind\", \"0.0.0.0:{port}\", \"app:app\"]\n"
                ),
            )
        }
        Stack::Php => (
            format!(
                "FROM php:8.3-cli\nCOPY --from=composer:2 /usr/bin/composer /usr/bin/composer\nWORKDIR /app\nCOPY {} {} ./\nRUN composer install --no-dev --no-scripts --no-autoloader --prefer-dist --no-interaction\n",
                at("composer.json"),
                at("composer.lock")
            ),
            format!(
                "WORKDIR /app\n# The code, without its local vendor/ (list it in .dockerignore): the base has the dependencies.\nCOPY {code} /app/\nEXPOSE {port}\n# How the app starts: change it to your server (php-fpm behind a web server, FrankenPHP, ...).\nCMD [\"php\", \"-S\", \"0.0.0.0:{port}\", \"-t\", \"public\"]\n"
            ),
        ),
        Stack::Node => {
            let install = match manifest.as_str() {
                "yarn.lock" => "RUN corepack enable && yarn install --frozen-lockfile --production",
                "pnpm-lock.yaml" => "RUN corepack enable && pnpm install --frozen-lockfile --prod",
                _ => "RUN npm ci --omit=dev",
            };
            (
                format!(
                    "FROM node:20-slim\nENV NODE_ENV=production\nWORKDIR /app\nCOPY {} {} ./\n{install}\n",
                    at("package.json"),
                    at(manifest)
                ),
                format!(
                    "WORKDIR /app\n# The code, without its local node_modules/ (list it in .dockerignore).\nCOPY {code} /app/\nEXPOSE {port}\n# How the app starts: change it to yours.\nCMD [\"node\", \"server.js\"]\n"
                ),
            )
        }
        Stack::Ruby => {
            let rails = detected
                .health_path
                .as_ref()
                .is_some_and(|h| h.source.starts_with("Rails"));
            let cmd = if rails {
                format!(
                    "CMD [\"bundle\", \"exec\", \"rails\", \"server\", \"-b\", \"0.0.0.0\", \"-p\", \"{port}\"]"
                )
            } else {
                format!(
                    "CMD [\"bundle\", \"exec\", \"rackup\", \"-o\", \"0.0.0.0\", \"-p\", \"{port}\"]"
                )
            };
            (
                format!(
                    "FROM ruby:3.3-slim\nENV BUNDLE_DEPLOYMENT=1 BUNDLE_WITHOUT=development:test\nWORKDIR /app\nCOPY {} {} ./\nRUN bundle install\n",
                    at("Gemfile"),
                    at("Gemfile.lock")
                ),
                format!(
                    "WORKDIR /app\nCOPY {code} /app/\nEXPOSE {port}\n# How the app starts: change it to yours.\n{cmd}\n"
                ),
            )
        }
        Stack::Go => (
            format!(
                "FROM golang:1.22\nWORKDIR /src\nCOPY {} {} ./\nRUN go mod download\n",
                at("go.mod"),
                at("go.sum")
            ),
            format!(
                "WORKDIR /src\nCOPY {code} /src/\n# Compiling needs the engine's builder (RUN); for a small image, build in a stage and\n# copy the binary onto a minimal base.\nRUN go build -o /usr/local/bin/app .\nEXPOSE {port}\nCMD [\"app\"]\n"
            ),
        ),
    };
    Some((format!("{base_header}{base}"), format!("{app_header}{app}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn detects_manifests_at_root_and_in_requirements_dir() {
        let dir = dir_with(&[
            ("requirements-dev.txt", ""),
            ("requirements/base.txt", ""),
            ("Cargo.lock", ""),
            ("README.md", ""),
        ]);
        assert_eq!(
            detect_dependency_inputs(dir.path()),
            vec!["requirements*.txt", "requirements/*.txt", "Cargo.lock"]
        );
    }

    #[test]
    fn detects_manifests_one_level_down_with_their_companions() {
        let dir = dir_with(&[
            ("deps/requirements.txt", "flask\n"),
            ("backend/composer.lock", "{}"),
            ("backend/composer.json", "{}"),
            ("node_modules/left-pad/package-lock.json", "{}"),
            ("vendor/package-lock.json", "{}"),
        ]);
        let detected = detect(dir.path());
        assert_eq!(
            detected.inputs,
            vec![
                "deps/requirements*.txt",
                "backend/composer.lock",
                "backend/composer.json"
            ]
        );
        assert_eq!(
            detected.stack,
            Some((
                Stack::Python,
                PathBuf::from("deps"),
                "requirements.txt".into()
            ))
        );
    }

    #[test]
    fn the_port_comes_from_an_existing_dockerfile_s_expose() {
        assert_eq!(expose_in("FROM x\nEXPOSE 5000/udp 8080/tcp\n"), Some(8080));
        assert_eq!(expose_in("FROM x\nexpose 9000\n"), Some(9000));
        assert_eq!(expose_in("FROM x\n# EXPOSE 1\n"), None);
        let dir = dir_with(&[("Dockerfile", "FROM x\nEXPOSE 5000\n"), ("go.sum", "")]);
        let detected = detect(dir.path());
        assert_eq!(detected.port.as_ref().map(|p| p.value), Some(5000));
        let text = render("shop", &detected);
        assert!(text.contains("port = 5000"), "{text}");
        assert!(text.contains("(from EXPOSE in Dockerfile)"), "{text}");
    }

    #[test]
    fn rails_7_1_and_laravel_11_answer_up() {
        let rails = dir_with(&[
            ("Gemfile", ""),
            ("Gemfile.lock", "GEM\n  specs:\n    railties (7.1.3)\n"),
        ]);
        let found = detect(rails.path()).health_path.unwrap();
        assert_eq!(found.value, "/up");
        assert!(found.source.contains("Rails 7.1.3"), "{found:?}");
        let old_rails = dir_with(&[("Gemfile.lock", "    railties (6.1.0)\n")]);
        assert_eq!(detect(old_rails.path()).health_path, None);

        let laravel = dir_with(&[(
            "backend/composer.lock",
            "{\"packages\": [{\n \"name\": \"laravel/framework\",\n \"version\": \"v11.9.2\"\n}]}",
        )]);
        let detected = detect(laravel.path());
        assert_eq!(detected.health_path.unwrap().value, "/up");
        let text = render("shop", &detect(laravel.path()));
        assert!(text.contains("health_path = \"/up\""), "{text}");
    }

    #[test]
    fn starters_for_each_stack_copy_only_dependency_inputs_into_the_base() {
        /// Files of an app, what its base must copy, and how it installs.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (
                &[("requirements.txt", "flask\n")],
                "COPY requirements.txt ./",
                "pip install -r requirements.txt",
            ),
            (
                &[
                    ("backend/composer.lock", "{}"),
                    ("backend/composer.json", "{}"),
                ],
                "COPY backend/composer.json backend/composer.lock ./",
                "composer install",
            ),
            (
                &[("package-lock.json", "{}"), ("package.json", "{}")],
                "COPY package.json package-lock.json ./",
                "npm ci",
            ),
            (
                &[("Gemfile.lock", ""), ("Gemfile", "")],
                "COPY Gemfile Gemfile.lock ./",
                "bundle install",
            ),
            (
                &[("go.sum", ""), ("go.mod", "")],
                "COPY go.mod go.sum ./",
                "go mod download",
            ),
        ];
        for (files, copy, install) in cases {
            let dir = dir_with(files);
            let detected = detect(dir.path());
            let (base, app) = dockerfiles(&detected, 8000).expect("a starter");
            assert!(base.contains(copy), "{base}");
            assert!(base.contains(install), "{base}");
            assert!(app.contains("ARG HOIST_BASE\nFROM ${HOIST_BASE}"), "{app}");
            assert!(app.contains("EXPOSE 8000"), "{app}");
            // The base's inputs are exactly what the config lists.
            let text = render("shop", &detected);
            for input in &detected.inputs {
                assert!(text.contains(&format!("\"{input}\"")), "{text}");
            }
        }
        assert!(dockerfiles(&detect(dir_with(&[("Cargo.lock", "")]).path()), 8000).is_none());
    }

    #[test]
    fn starter_is_a_valid_config() {
        let detected = Detected {
            inputs: vec!["composer.lock".to_string()],
            ..Detected::default()
        };
        let text = render("shop", &detected);
        let config = crate::parse(Path::new("hoist.toml"), &text).unwrap();
        assert_eq!(
            &config.build.dependencies,
            &vec!["composer.lock".to_string()]
        );
        assert_eq!(config.environment("staging").unwrap().instances.len(), 2);
    }
}
