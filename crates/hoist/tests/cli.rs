//! The first hour with the CLI, without Docker: help with examples, completions, the man
//! page, and `--json` errors that CI can parse.

use std::path::Path;
use std::process::{Command, Output};

fn hoist(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoist"))
        .current_dir(dir)
        .args(args)
        .env_remove("HOIST_CONFIG")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("run hoist")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SUBCOMMANDS: &[&str] = &[
    "init",
    "plan",
    "build",
    "deploy",
    "release",
    "promote",
    "rollback",
    "status",
    "history",
    "audit",
    "scan",
    "unlock",
    "completions",
    "man",
    "serve",
    "token",
    "metrics",
];

#[test]
fn every_subcommand_s_help_has_examples_and_describes_its_options() {
    let dir = tempfile::tempdir().unwrap();
    for sub in SUBCOMMANDS {
        let out = hoist(dir.path(), &[sub, "--help"]);
        assert!(out.status.success(), "{sub}: {}", stderr(&out));
        let help = stdout(&out);
        let examples = help
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{sub} --help has no examples:\n{help}"));
        let count = examples
            .lines()
            .filter(|l| l.trim_start().starts_with("hoist "))
            .count();
        assert!((2..=3).contains(&count), "{sub}: {count} examples:\n{help}");
        assert!(
            examples.contains(&format!("hoist {sub}")) || examples.contains(&format!(" {sub} ")),
            "{sub}'s examples use it:\n{help}"
        );
        // Every option carries a description: after its name, or on the next line.
        let options = help.split("Options:\n").nth(1).unwrap_or_default();
        let lines: Vec<&str> = options.lines().take_while(|l| !l.is_empty()).collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            if !trimmed.starts_with('-') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let same_line = trimmed.split("  ").filter(|s| !s.trim().is_empty()).count() >= 2;
            let next_line = lines.get(i + 1).is_some_and(|next| {
                let t = next.trim_start();
                !t.starts_with('-') && next.len() - t.len() > indent
            });
            assert!(
                same_line || next_line,
                "{sub}: option without a description: {line}\n{help}"
            );
        }
    }
}

#[test]
fn completions_are_generated_from_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = hoist(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for word in ["deploy", "rollback", "override-window"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = hoist(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_generated_from_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = hoist(dir.path(), &["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH hoist"),
        "{page}"
    );
    assert!(page.contains("deploy"), "{page}");

    let pages = dir.path().join("man");
    let out = hoist(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["hoist.1", "hoist-deploy.1", "hoist-rollback.1"] {
        assert!(pages.join(page).is_file(), "{page}");
    }
    let deploy = std::fs::read_to_string(pages.join("hoist-deploy.1")).unwrap();
    assert!(deploy.contains("Examples"), "{deploy}");
}

const BROKEN: &str = r#"[app]
name = "shop"
image = "shop"
port = 8000
health_path = "health"

[build]
dependencies = ["composer.lock"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 8101
colour = "blue"
"#;

#[test]
fn under_json_a_config_error_is_json_on_stdout_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hoist.toml"), BROKEN).unwrap();
    let out = hoist(dir.path(), &["plan", "staging", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let error = &json["error"];
    assert_eq!(error["code"], 2);
    assert_eq!(error["file"], "hoist.toml");
    assert_eq!(error["line"], 5);
    assert_eq!(error["column"], 15);
    assert_eq!(error["key"], "app.health_path");
    assert_eq!(error["message"], "`health` is not an absolute URL path");
    // Every error of the file, in file order: the path, the Dockerfiles, the unknown key.
    let keys: Vec<&str> = error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "app.health_path",
            "build.dockerfile",
            "build.base_dockerfile",
            "environments.staging.instances[0].colour"
        ]
    );
    // People still get the rendering on stderr.
    assert!(stderr(&out).contains("app.health_path"), "{}", stderr(&out));
}

#[test]
fn without_json_errors_stay_off_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hoist.toml"), BROKEN).unwrap();
    let out = hoist(dir.path(), &["plan", "staging"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("(and 3 more errors)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn under_json_a_missing_config_and_a_bad_command_line_are_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = hoist(dir.path(), &["status", "staging", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["error"]["file"], "hoist.toml");
    assert!(json["error"]["line"].is_null());
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read hoist.toml"),
        "{json}"
    );

    let out = hoist(dir.path(), &["plan", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["error"]["code"], 2);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("<ENVIRONMENT>"), "{message}");
}

#[test]
fn init_finds_manifests_one_level_down_and_writes_starter_dockerfiles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("backend")).unwrap();
    std::fs::write(dir.path().join("backend/composer.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("backend/composer.lock"),
        "{\"packages\": [{\"name\": \"laravel/framework\", \"version\": \"v11.2.0\"}]}",
    )
    .unwrap();
    let out = hoist(dir.path(), &["init", "--name", "shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("wrote Dockerfile.base (a PHP starter"),
        "{said}"
    );
    assert!(said.contains("health path /up (Laravel v11.2.0"), "{said}");
    let text = std::fs::read_to_string(dir.path().join("hoist.toml")).unwrap();
    assert!(
        text.contains("dependencies = [\"backend/composer.lock\", \"backend/composer.json\"]"),
        "{text}"
    );
    assert!(text.contains("health_path = \"/up\""), "{text}");
    let base = std::fs::read_to_string(dir.path().join("Dockerfile.base")).unwrap();
    assert!(
        base.contains("COPY backend/composer.json backend/composer.lock ./"),
        "{base}"
    );
    let app = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    assert!(
        app.contains("FROM ${HOIST_BASE}") && app.contains("COPY backend/ /app/"),
        "{app}"
    );
    // What it wrote is a config the commands that build accept.
    hoist_config::load_for_build(&dir.path().join("hoist.toml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn init_reads_the_port_of_an_existing_dockerfile_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nCOPY . /app/\nEXPOSE 5000\n";
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "flask\n").unwrap();
    let out = hoist(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("port 5000 (from EXPOSE in Dockerfile)"),
        "{said}"
    );
    let text = std::fs::read_to_string(dir.path().join("hoist.toml")).unwrap();
    assert!(text.contains("port = 5000"), "{text}");
    // The existing Dockerfile stays; only the missing base is written.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        dockerfile
    );
    let base = std::fs::read_to_string(dir.path().join("Dockerfile.base")).unwrap();
    assert!(
        base.contains("RUN pip install -r requirements.txt"),
        "{base}"
    );
    assert!(said.contains("next: run `hoist plan staging`"), "{said}");
}

#[test]
fn init_without_a_known_stack_says_which_dockerfiles_to_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.lock"), "").unwrap();
    let out = hoist(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("next: write"), "{said}");
    assert!(!dir.path().join("Dockerfile").exists());
}
