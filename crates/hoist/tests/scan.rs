//! `hoist scan` and the secret-scan gate of `hoist deploy`.
//!
//! Fake credentials are generated at run time from a fixed seed ([`fake`]), so no file of
//! this repository contains one. Only the gate tests use the real Docker engine (and
//! Debian's busybox-static, like `deploy.rs`); the `hoist scan` tests need neither.

mod support;

use std::path::Path;
use std::process::Command;

use support::{App, Run, http_get};

/// A credential-shaped string: `prefix` then `len` characters of `alphabet`, from a
/// linear congruential generator seeded with `seed`.
fn fake(prefix: &str, alphabet: &str, len: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut x = seed;
    let mut out = prefix.to_string();
    for _ in 0..len {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push(chars[((x >> 33) % chars.len() as u64) as usize]);
    }
    out
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn github_token(seed: u64) -> String {
    fake("ghp_", ALNUM, 36, seed)
}

fn aws_key(seed: u64) -> String {
    fake("AKIA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, seed)
}

/// Neither the secret nor any long piece of what follows its prefix appears in `text`.
fn assert_not_leaked(secret: &str, text: &str) {
    assert!(!text.contains(secret), "the secret leaked:\n{text}");
    let body = &secret[4..];
    for piece in body.as_bytes().chunks(8).filter(|c| c.len() == 8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !text.contains(piece),
            "a piece of the secret ({piece}) leaked:\n{text}"
        );
    }
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn hoist(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .current_dir(dir)
        .arg("--plain")
        .args(args)
        .env_remove("HOIST_CONFIG")
        .output()
        .expect("run hoist");
    Run::from(out)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Receives webhook POSTs on 127.0.0.1 and hands their bodies over.
fn webhook_receiver() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, rx)
}

fn findings(json: &serde_json::Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["path"].as_str().unwrap(), f["line"]))
        .collect()
}

#[test]
fn a_planted_secret_is_found_in_every_format_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let token = github_token(1);
    write(root, "app/__init__.py", "");
    write(
        root,
        "app/settings.py",
        &format!("DEBUG = False\n\nGITHUB_TOKEN = \"{token}\"\n"),
    );

    let human = hoist(root, &["scan"]);
    assert_eq!(human.code, 1, "{}\n{}", human.stdout, human.stderr);
    assert!(
        human
            .stdout
            .contains("app/settings.py:3:17: github-pat ghp_*****"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("scanned 2 files"), "{}", human.stdout);
    assert!(
        human.stderr.contains("--update-baseline"),
        "{}",
        human.stderr
    );
    assert_not_leaked(&token, &human.stdout);
    assert_not_leaked(&token, &human.stderr);

    let json = hoist(root, &["scan", "--format", "json"]);
    assert_eq!(json.code, 1);
    let value = json.json();
    assert_eq!(findings(&value), ["app/settings.py:3"]);
    assert_eq!(value["findings"][0]["rule_id"], "github-pat");
    assert_eq!(
        value["findings"][0]["fingerprint"].as_str().unwrap().len(),
        64
    );
    assert_eq!(value["exit_code"], 1);
    assert_not_leaked(&token, &json.stdout);
    assert_not_leaked(&token, &json.stderr);

    let sarif = hoist(root, &["scan", "--format", "sarif"]);
    assert_eq!(sarif.code, 1);
    let value = sarif.json();
    assert_eq!(value["version"], "2.1.0");
    let result = &value["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "github-pat");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app/settings.py"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    assert!(result["partialFingerprints"]["hoistSecret/v1"].is_string());
    assert_not_leaked(&token, &sarif.stdout);

    // --output: the report goes to the file, a summary to stderr.
    let out = root.join("report.sarif");
    let run = hoist(
        root,
        &[
            "scan",
            "--format",
            "sarif",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("1 finding"), "{}", run.stderr);
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("\"ruleId\": \"github-pat\""));
    assert_not_leaked(&token, &written);
    assert_not_leaked(&token, &run.stderr);

    // A PATH that is not a directory is an error.
    let run = hoist(root, &["scan", "app/nothing-here-either"]);
    assert_eq!(run.code, 2, "not a directory: {}", run.stderr);
}

#[test]
fn a_clean_tree_exits_0_and_an_allow_comment_silences_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "main.py", "print('hello')\n");
    write(root, "blob.bin", "\0\u{1}\u{2}binary");
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 findings"), "{}", run.stdout);
    assert!(run.stdout.contains("skipped 1 binary"), "{}", run.stdout);

    let token = github_token(2);
    write(
        root,
        "tests/fixture.py",
        &format!("TOKEN = \"{token}\"  # hoist:allow (revoked test token)\n"),
    );
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn the_baseline_accepts_a_finding_wherever_it_moves_and_reports_it_stale_once_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let key = aws_key(3);
    write(
        root,
        "deploy.sh",
        &format!("export AWS_ACCESS_KEY_ID={key}\n"),
    );
    assert_eq!(hoist(root, &["scan"]).code, 1);

    let update = hoist(root, &["scan", "--update-baseline"]);
    assert_eq!(update.code, 0, "{}", update.stderr);
    assert!(
        update.stderr.contains("1 accepted finding"),
        "{}",
        update.stderr
    );
    let baseline = std::fs::read_to_string(root.join(".hoist-scan-baseline.json")).unwrap();
    assert!(baseline.contains("aws-access-key-id"), "{baseline}");
    assert_not_leaked(&key, &baseline);

    let run = hoist(root, &["scan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["baselined"].as_array().unwrap().len(), 1);

    // Moved down and into another file: the fingerprint is the rule and the secret only.
    write(root, "deploy.sh", "#!/bin/sh\nset -eu\n\n");
    write(
        root,
        "scripts/env.sh",
        &format!("# credentials\n\nexport AWS_ACCESS_KEY_ID={key}\n"),
    );
    let run = hoist(root, &["scan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let value = run.json();
    assert_eq!(value["baselined"][0]["path"], "scripts/env.sh");
    assert_eq!(value["baselined"][0]["line"], 3);

    // A different secret is still a finding.
    let other = aws_key(4);
    write(root, "deploy.sh", &format!("KEY={other}\n"));
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("deploy.sh:1:5"), "{}", run.stdout);
    write(root, "deploy.sh", "#!/bin/sh\n");

    // Removed: the entry is stale, which does not fail the scan.
    write(root, "scripts/env.sh", "# credentials come from the CI\n");
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("stale baseline entry: deploy.sh aws-access-key-id AKIA*****"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 stale baseline entry"),
        "{}",
        run.stdout
    );
    let json = hoist(root, &["scan", "--format", "json"]).json();
    assert_eq!(json["stale_baseline"].as_array().unwrap().len(), 1);
    // In machine formats the stale entries are reported on stderr too.
    let sarif = hoist(root, &["scan", "--format", "sarif"]);
    assert!(
        sarif.stderr.contains("stale baseline entry"),
        "{}",
        sarif.stderr
    );

    // --update-baseline drops it; --baseline FILE uses another file.
    let update = hoist(root, &["scan", "--update-baseline"]);
    assert!(
        update.stderr.contains("1 stale entry dropped"),
        "{}",
        update.stderr
    );
    let run = hoist(root, &["scan"]);
    assert!(
        run.stdout.contains("0 stale baseline entries"),
        "{}",
        run.stdout
    );
    write(root, "deploy.sh", &format!("KEY={other}\n"));
    let elsewhere = root.join("accepted.json");
    let flag = elsewhere.to_str().unwrap();
    assert_eq!(
        hoist(root, &["scan", "--baseline", flag, "--update-baseline"]).code,
        0
    );
    assert!(elsewhere.is_file());
    assert_eq!(hoist(root, &["scan", "--baseline", flag]).code, 0);
    assert_eq!(hoist(root, &["scan"]).code, 1);
}

#[test]
fn dockerignored_files_are_scanned_only_with_all_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".dockerignore", "secrets/\n.git\n");
    write(root, ".gitignore", "local/\n");
    write(
        root,
        "secrets/prod.env",
        &format!("TOKEN={}\n", github_token(5)),
    );
    write(
        root,
        "local/dev.env",
        &format!("TOKEN={}\n", github_token(6)),
    );
    write(root, "app.py", "print('hi')\n");

    // Default: what the image build would receive. Docker does not read .gitignore, so
    // the git-ignored file is in the context and is found; the dockerignored one is not.
    let run = hoist(root, &["scan", "--format", "json"]);
    assert_eq!(run.code, 1);
    assert_eq!(findings(&run.json()), ["local/dev.env:1"]);
    assert!(
        run.stderr.contains(".dockerignore applies"),
        "{}",
        run.stderr
    );

    // --all-files: the source tree as git sees it.
    let run = hoist(root, &["scan", "--all-files", "--format", "json"]);
    assert_eq!(run.code, 1);
    assert_eq!(findings(&run.json()), ["secrets/prod.env:1"]);
    assert!(run.stderr.contains(".gitignore applies"), "{}", run.stderr);
}

const CONFIG: &str = r#"
[app]
name = "shop"
image = "hoist-test/shop"
port = 8080

[build]
context = "app"
dependencies = ["requirements.txt"]

[environments.staging]
[[environments.staging.instances]]
tenant = "acme"
port = 19790
"#;

#[test]
fn with_a_hoist_toml_the_default_is_the_build_context_and_scan_settings_apply() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "hoist.toml", CONFIG);
    write(root, "app/requirements.txt", "flask\n");
    write(root, "app/main.py", "print('hi')\n");
    write(
        root,
        "tools/release.sh",
        &format!("export GH_TOKEN={}\n", github_token(7)),
    );

    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the build context of hoist.toml"),
        "{}",
        run.stderr
    );
    let run = hoist(root, &["scan", "--all-files", "--format", "json"]);
    assert_eq!(run.code, 1);
    assert_eq!(findings(&run.json()), ["tools/release.sh:1"]);
    let run = hoist(root, &["scan", "tools"]);
    assert_eq!(run.code, 1);

    // [scan] settings: an allowlisted path is skipped and counted.
    write(
        root,
        "hoist.toml",
        &format!("{CONFIG}\n[scan]\nallow_paths = [\"tools/**\"]\n"),
    );
    let run = hoist(root, &["scan", "--all-files"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("1 allowlisted"), "{}", run.stdout);

    // A broken [scan] is bad configuration: exit 2 with file, line and key.
    write(
        root,
        "hoist.toml",
        &format!("{CONFIG}\n[scan]\nrules = \"team-rules.toml\"\n"),
    );
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 2);
    let line = CONFIG.lines().count() + 3;
    assert!(
        run.stderr
            .contains(&format!("hoist.toml:{line}:9: scan.rules")),
        "{}",
        run.stderr
    );
    write(
        root,
        "team-rules.toml",
        "[[rules]]\nid = \"t\"\nregex = '(('\n",
    );
    let run = hoist(root, &["scan"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("team-rules.toml:2: rule `t`"),
        "{}",
        run.stderr
    );
}

#[test]
fn history_finds_a_secret_added_in_a_commit_range_even_after_it_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let token = github_token(8);
    git(root, &["init", "-q"]);
    write(root, "README.md", "shop\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "start"]);
    let start = git(root, &["rev-parse", "HEAD"]);
    write(root, "ci.yml", &format!("env:\n  TOKEN: {token}\n"));
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "ci"]);
    let leaked = git(root, &["rev-parse", "HEAD"]);
    write(root, "ci.yml", "env: {}\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "remove the token"]);

    // The tree is clean now...
    assert_eq!(hoist(root, &["scan"]).code, 0);
    // ...but the history is not.
    let range = format!("{start}..HEAD");
    let run = hoist(root, &["scan", "--history", &range, "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let value = run.json();
    assert_eq!(findings(&value), ["ci.yml:2"]);
    assert_eq!(value["findings"][0]["commit"], leaked.as_str());
    assert_not_leaked(&token, &run.stdout);
    let human = hoist(root, &["scan", "--history", &range]);
    assert!(
        human
            .stdout
            .contains(&format!("(commit {})", &leaked[..12])),
        "{}",
        human.stdout
    );

    // A range after the leak is clean; a bad range is an error.
    assert_eq!(
        hoist(root, &["scan", "--history", &format!("{leaked}..HEAD")]).code,
        0
    );
    let bad = hoist(root, &["scan", "--history", "no-such-branch..HEAD"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("git"), "{}", bad.stderr);
}

/// The gate, for real: a planted secret in the busybox app's build context refuses the
/// deploy before anything is built; `warn` deploys with redacted warnings; the baseline
/// accepts it under `block`.
#[test]
fn deploy_is_refused_on_a_secret_warns_when_configured_and_respects_the_baseline() {
    let app = App::new("itscan", &[19701]);
    let (hook_port, notices) = webhook_receiver();
    let config = std::fs::read_to_string(app.root().join("hoist.toml")).unwrap();
    let config = format!(
        "{config}\n[notifiers.hook]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hoist\"\nsecret_env = \"HOIST_TEST_WEBHOOK_SECRET\"\n\n[[environments.staging.notify]]\nto = \"hook\"\non = [\"failed\"]\n"
    );
    app.write("hoist.toml", &config);
    let hoist = |args: &[&str]| -> Run {
        let out = app
            .hoist_command(args)
            // A Standard Webhooks secret (`whsec_` and base64), as hoist-notify requires.
            .env(
                "HOIST_TEST_WEBHOOK_SECRET",
                "whsec_c2lnbmluZy1rZXktZm9yLXRlc3RzLTAxMjM0NTY3",
            )
            .output()
            .expect("run hoist");
        Run::from(out)
    };
    let key = aws_key(9);
    app.write(
        "www/settings.js",
        &format!("// settings\nconst awsKey = \"{key}\";\n"),
    );
    app.release("v1.0.0");

    let run = hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "deploy to staging refused: the secret scan found 1 finding in the build context (aws-access-key-id at www/settings.js:2)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`hoist scan`"), "{}", run.stderr);
    assert!(run.stderr.contains("hoist:allow"), "{}", run.stderr);
    assert!(
        run.stderr.contains("==> secret scan: ")
            && run.stderr.contains(": 1 finding, deploy blocked"),
        "{}",
        run.stderr
    );
    assert_not_leaked(&key, &run.stderr);
    assert_not_leaked(&key, &run.stdout);
    // Nothing was built or deployed.
    assert!(!run.stderr.contains("==> app image"), "{}", run.stderr);
    assert!(app.containers().is_empty(), "{:?}", app.containers());
    assert!(app.image_id("hoist-test/itscan:v1.0.0").is_none());
    let history = hoist(&["history", "staging", "--json"]).ok().json();
    assert_eq!(history["deployments"], serde_json::json!([]));
    let audit = hoist(&["audit", "--json"]).ok();
    assert_not_leaked(&key, &audit.stdout);
    let entries = audit.json();
    let blocked = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "scan.blocked")
        .unwrap_or_else(|| panic!("no scan.blocked in {entries:#}"));
    assert_eq!(blocked["environment"], "staging");
    assert_eq!(blocked["version"], "v1.0.0");
    let detail: serde_json::Value =
        serde_json::from_str(blocked["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["mode"], "block");
    assert_eq!(detail["findings"][0]["rule"], "aws-access-key-id");
    assert_eq!(detail["findings"][0]["path"], "www/settings.js");
    assert_eq!(detail["findings"][0]["line"], 2);
    assert_eq!(
        detail["findings"][0]["fingerprint"].as_str().unwrap().len(),
        64
    );
    // Notified as `failed`, with the places and without the secret.
    let notice = notices
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a failed notification");
    assert_not_leaked(&key, &notice);
    let notice: serde_json::Value = serde_json::from_str(&notice).unwrap();
    assert_eq!(notice["kind"], "failed");
    assert_eq!(
        notice["reason"],
        "secret scan: 1 finding (aws-access-key-id at www/settings.js:2)"
    );

    // warn: deploys, with a redacted warning per finding, audited.
    let warn = config.replace(
        "[environments.staging]\n",
        "[environments.staging]\nsecret_scan = \"warn\"\n",
    );
    app.write("hoist.toml", &warn);
    app.release("v1.0.1");
    let run = hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "warning: secret scan: aws-access-key-id at www/settings.js:2:17 (AKIA*****)"
        ),
        "{}",
        run.stderr
    );
    assert_not_leaked(&key, &run.stderr);
    assert_not_leaked(&key, &run.stdout);
    assert_eq!(
        http_get(19701, "/version").map(|(_, b)| b.trim().to_string()),
        Some("v1.0.1".to_string())
    );
    let audit = hoist(&["audit", "staging", "--json"]).ok();
    assert!(audit.stdout.contains("scan.warned"), "{}", audit.stdout);
    assert_not_leaked(&key, &audit.stdout);

    // block again, with the finding accepted in the baseline: the deploy goes through.
    app.write("hoist.toml", &config);
    let accept = hoist(&["scan", "--update-baseline"]);
    assert_eq!(accept.code, 0, "{}", accept.stderr);
    app.write(
        "www/settings.js",
        &format!("// settings\n// moved down\nconst awsKey = \"{key}\";\n"),
    );
    app.release("v1.0.2");
    let run = hoist(&["deploy", "staging"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("no findings, 1 accepted by the baseline"),
        "{}",
        run.stderr
    );
}
