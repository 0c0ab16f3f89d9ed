//! The tag-driven release pipeline through the `hoist` binary, against the real Docker
//! engine: `hoist release --ref` routed by the rules, deploy policy (deployers, groups,
//! release tags only, windows, blackout dates, overrides) with its audit trail, promotion
//! without a rebuild, hooks, and webhook notifications received by a local HTTP server.
//! Needs a running engine and Debian's busybox-static (`.ci/run` installs both).

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hoist_core::Store;
use hoist_core::store::LockHolder;
use serde_json::Value;
use support::{App, Run, environment, http_get};

fn version_on(port: u16) -> Option<String> {
    http_get(port, "/version").map(|(_, body)| body.trim().to_string())
}

/// `hoist audit ENV --json`, newest first.
fn audit(app: &App, environment: &str) -> Vec<Value> {
    app.hoist(&["audit", environment, "--json"])
        .ok()
        .json()
        .as_array()
        .expect("audit is a list")
        .clone()
}

/// The entries of `action`, newest first.
fn entries<'a>(audit: &'a [Value], action: &str) -> Vec<&'a Value> {
    audit.iter().filter(|e| e["action"] == action).collect()
}

/// A policy entry's detail: the decision, as JSON.
fn decision(entry: &Value) -> Value {
    serde_json::from_str(entry["detail"].as_str().expect("detail")).expect("decision JSON")
}

/// `hoist history ENV --json`'s deployments, newest first.
fn deployments(app: &App, environment: &str) -> Vec<Value> {
    app.hoist(&["history", environment, "--json"]).ok().json()["deployments"]
        .as_array()
        .expect("deployments")
        .clone()
}

/// Asserts that `run` failed with `code` and that stderr says each of `needles`.
fn refused(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code, code,
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr does not say {needle:?}:\n{}",
            run.stderr
        );
    }
}

/// Runs `command`, killing it (and failing the test) if it takes longer than `limit`.
fn run_within(mut command: Command, limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hoist");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = done.send(());
        output
    });
    if finished.recv_timeout(limit).is_err() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        let output = waiter.join().expect("waiter").expect("output");
        panic!(
            "hoist took longer than {limit:?} and was killed\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = waiter.join().expect("waiter").expect("output");
    (Run::from(output), started.elapsed())
}

#[test]
fn release_routes_each_ref_by_the_rules_and_refuses_bad_or_stale_tags() {
    let app = App::new("itroute", &[19401]);
    app.staging_keys(r#"deploy_from = [{ semver = "prerelease" }]"#);
    app.append_config(&environment(
        "production",
        &[19402],
        r#"deploy_from = [{ semver = "release" }]"#,
    ));
    app.append_config(&environment(
        "uat",
        &[19403],
        r#"deploy_from = [{ branch = "uat" }]"#,
    ));
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "start"]);

    // A version tag that is not semver is bad input, and the message says why.
    app.git(&["tag", "v1.2"]);
    let malformed = app.hoist(&["release", "--ref", "refs/tags/v1.2"]);
    refused(
        &malformed,
        2,
        &["`v1.2` is not a semver version: it has no patch number"],
    );

    // A ref no rule matches deploys nothing, and that is not a failure.
    let nothing = app.hoist(&["release", "--ref", "refs/heads/feature/login"]);
    assert_eq!(nothing.code, 0, "{}", nothing.stderr);
    assert!(
        nothing.stdout.contains("nothing to deploy")
            && nothing.stdout.contains("the branch `feature/login`"),
        "{}",
        nothing.stdout
    );
    assert!(app.containers().is_empty(), "{:?}", app.containers());
    for env in ["staging", "production", "uat"] {
        assert!(deployments(&app, env).is_empty(), "{env} has a deployment");
    }

    // A pre-release goes to staging only.
    app.release("v1.0.0-beta.1");
    let beta = app
        .hoist(&["release", "--ref", "refs/tags/v1.0.0-beta.1"])
        .ok();
    assert!(
        beta.stdout
            .contains("the tag `v1.0.0-beta.1` goes to staging"),
        "{}",
        beta.stdout
    );
    assert_eq!(app.containers(), ["itroute-staging-t0"]);
    assert_eq!(version_on(19401).as_deref(), Some("v1.0.0-beta.1"));

    // A release goes to production only.
    app.release("v1.0.0");
    let release = app.hoist(&["release", "--ref", "v1.0.0", "--json"]).ok();
    let outcome = release.json();
    let targets: Vec<&str> = outcome["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environment"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["production"]);
    assert_eq!(outcome["environments"][0]["report"]["outcome"], "succeeded");
    assert_eq!(
        app.containers(),
        ["itroute-production-t0", "itroute-staging-t0"]
    );
    assert_eq!(version_on(19402).as_deref(), Some("v1.0.0"));
    assert_eq!(version_on(19401).as_deref(), Some("v1.0.0-beta.1"));

    // A tag is released from its own commit only: HEAD has moved on from the beta.
    let stale = app.hoist(&["release", "--ref", "v1.0.0-beta.1"]);
    refused(
        &stale,
        2,
        &["the tag `v1.0.0-beta.1` points to", "check out the tag"],
    );
    assert_eq!(deployments(&app, "staging").len(), 1);
    let log = audit(&app, "staging");
    let stale_entries = entries(&log, "release.refused");
    assert_eq!(stale_entries.len(), 1, "{log:#?}");
    assert_eq!(stale_entries[0]["version"], "v1.0.0-beta.1");

    // So is a branch: `uat` is still at the beta's commit.
    app.git(&["branch", "uat", "v1.0.0-beta.1"]);
    let behind = app.hoist(&["release", "--ref", "uat"]);
    refused(
        &behind,
        2,
        &["the branch `uat` is at", "check out the branch"],
    );
    assert!(deployments(&app, "uat").is_empty());

    // The uat branch goes to uat, under its commit's short sha.
    app.git(&["checkout", "-q", "uat"]);
    app.write("www/index.html", "<h1>uat</h1>\n");
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "uat change"]);
    let sha = app.head()[..12].to_string();
    app.hoist(&["release", "--ref", "uat"]).ok();
    assert_eq!(version_on(19403).as_deref(), Some(sha.as_str()));
    assert_eq!(http_get(19403, "/index.html").unwrap().1, "<h1>uat</h1>\n");
    assert_eq!(version_on(19401).as_deref(), Some("v1.0.0-beta.1"));
    assert_eq!(version_on(19402).as_deref(), Some("v1.0.0"));
}

#[test]
fn production_policy_names_its_deployers_admits_group_members_and_audits_refusals() {
    let app = App::new("itwho", &[19411]);
    app.append_config(&environment(
        "production",
        &[19412],
        r#"deploy_from = [{ semver = "release" }]"#,
    ));
    app.append_config(
        r#"[groups]
release-managers = ["alice", "bob"]

[environments.production.policy]
deployers = ["@release-managers", "dave"]
release_tags_only = true
"#,
    );
    app.git(&["add", "-A"]);
    app.git(&["commit", "-q", "-m", "untagged"]);

    // From a branch: refused even for a deployer.
    let branch = app.hoist_as("alice", &["deploy", "production"]);
    refused(
        &branch,
        1,
        &[
            "deploy to production refused",
            "only deploys semver release tags",
            "is a branch",
        ],
    );

    app.release("v1.0.0");
    // Someone not among the deployers: refused, naming who may.
    let stranger = app.hoist_as("mallory", &["deploy", "production"]);
    refused(
        &stranger,
        1,
        &["mallory is not among production's deployers (release-managers: alice, bob; dave)"],
    );
    assert!(app.containers().is_empty(), "{:?}", app.containers());

    let log = audit(&app, "production");
    let refusals = entries(&log, "policy.refused");
    assert_eq!(refusals.len(), 2, "{log:#?}");
    assert_eq!(refusals[1]["actor"], "alice");
    assert_eq!(refusals[0]["actor"], "mallory");
    assert_eq!(refusals[0]["version"], "v1.0.0");
    let refusal = decision(refusals[0]);
    assert_eq!(refusal["allowed"], false);
    assert_eq!(refusal["git_ref"], "v1.0.0");
    assert!(
        refusal["reasons"][0]
            .as_str()
            .unwrap()
            .contains("(release-managers: alice, bob; dave)"),
        "{refusal}"
    );

    // The same refusal through `hoist release` as a GitLab job runs it: no --actor, the
    // actor is whoever GitLab says pushed the tag.
    let mut gitlab = Command::new(env!("CARGO_BIN_EXE_hoist"));
    gitlab
        .current_dir(app.root())
        .args(["--plain", "release", "--ref", "refs/tags/v1.0.0"])
        .env_remove("DOCKER_HOST")
        .env_remove("HOIST_ACTOR")
        .env_remove("GITHUB_ACTOR")
        .env("GITLAB_USER_LOGIN", "mallory");
    let ci = Run::from(gitlab.output().expect("run hoist"));
    refused(
        &ci,
        1,
        &[
            "error: production: deploy to production refused: mallory is not among production's deployers",
        ],
    );

    // A member of a listed group may deploy a release tag.
    let member = app.hoist_as("bob", &["deploy", "production"]).ok();
    assert!(member.stdout.contains("ok: deploy"), "{}", member.stdout);
    assert_eq!(version_on(19412).as_deref(), Some("v1.0.0"));
    // Rollbacks answer to the same policy.
    let rollback = app.hoist_as("mallory", &["rollback", "production", "--to", "v1.0.0"]);
    refused(
        &rollback,
        1,
        &["rollback to production refused: mallory is not among"],
    );
    let log = audit(&app, "production");
    assert_eq!(entries(&log, "policy.refused").len(), 4, "{log:#?}");
    let allowed = entries(&log, "policy.allowed");
    assert_eq!(allowed.len(), 1, "{log:#?}");
    assert_eq!(allowed[0]["actor"], "bob");
    assert!(
        allowed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("bob may deploy to production as a member of release-managers"),
        "{}",
        allowed[0]["detail"]
    );
    assert_eq!(deployments(&app, "production")[0]["actor"], "bob");
}

#[test]
fn a_closed_window_refuses_unless_an_allowed_person_overrides_with_a_reason() {
    use jiff::tz::TimeZone;

    let app = App::new("itwindow", &[19421]);
    app.append_config(&environment("production", &[19422], ""));
    // Closed now, whatever the time: the window is hours away, and yesterday, today and
    // tomorrow (UTC) are blackout dates, so a run across midnight is closed too.
    let now = jiff::Timestamp::now().to_zoned_datetime(TimeZone::UTC);
    let today = now.date();
    let (yesterday, tomorrow) = (today.yesterday().unwrap(), today.tomorrow().unwrap());
    let opens = (now.hour() + 6) % 24;
    let closes = (opens + 1) % 24;
    app.append_config(&format!(
        r#"[groups]
release-managers = ["bob"]

[environments.production.policy]
deployers = ["@release-managers", "carol"]
timezone = "UTC"
windows = [{{ from = "{opens:02}:00", to = "{closes:02}:00" }}]
blackout = ["{yesterday}", "{today}", "{tomorrow}"]
override_window_by = ["@release-managers"]
"#
    ));
    app.release("v1.0.0");

    let deployer = app.hoist_as("carol", &["deploy", "production"]);
    refused(
        &deployer,
        1,
        &[
            &format!("{today} is a blackout date for production"),
            "outside production's deploy windows",
            "ask someone who may override production's schedule (release-managers: bob)",
        ],
    );
    let unasked = app.hoist_as("bob", &["deploy", "production"]);
    refused(
        &unasked,
        1,
        &["to deploy anyway, run again with --override-window --reason"],
    );
    let no_reason = app.hoist_as("bob", &["deploy", "production", "--override-window"]);
    refused(&no_reason, 1, &["--override-window needs a reason"]);
    let not_allowed = app.hoist_as(
        "carol",
        &[
            "deploy",
            "production",
            "--override-window",
            "--reason",
            "I am sure",
        ],
    );
    refused(
        &not_allowed,
        1,
        &["carol may not override production's schedule; only release-managers: bob may"],
    );
    assert!(app.containers().is_empty(), "{:?}", app.containers());

    app.hoist_as(
        "bob",
        &[
            "deploy",
            "production",
            "--override-window",
            "--reason",
            "INC-42: patient records do not load",
        ],
    )
    .ok();
    assert_eq!(version_on(19422).as_deref(), Some("v1.0.0"));

    let log = audit(&app, "production");
    assert_eq!(entries(&log, "policy.refused").len(), 4, "{log:#?}");
    let overrides = entries(&log, "policy.overridden");
    assert_eq!(overrides.len(), 1, "{log:#?}");
    assert_eq!(overrides[0]["actor"], "bob");
    let overridden = decision(overrides[0]);
    assert_eq!(overridden["allowed"], true);
    assert_eq!(overridden["overridden"], true);
    assert_eq!(
        overridden["override_reason"],
        "INC-42: patient records do not load"
    );
    // The human view shows it too.
    let text = app.hoist(&["audit", "production"]).ok();
    assert!(
        text.stdout.contains("policy.overridden")
            && text.stdout.contains("INC-42: patient records do not load"),
        "{}",
        text.stdout
    );
}

#[test]
fn promotion_needs_staging_first_and_ships_the_same_image_without_building() {
    let app = App::new("itpromote", &[19431]);
    app.append_config(&environment(
        "production",
        &[19432, 19433],
        r#"requires_verified_in = ["staging"]"#,
    ));
    app.release("v1.0.0");

    let early = app.hoist(&["deploy", "production"]);
    refused(
        &early,
        1,
        &[
            "v1.0.0 has not been verified in staging, which production requires first; deploy it there first (`hoist deploy staging --version v1.0.0`), then `hoist promote staging production --version v1.0.0`",
        ],
    );
    assert!(
        app.image_id("hoist-test/itpromote:v1.0.0").is_none(),
        "a refused deploy must not build"
    );
    let nothing = app.hoist(&["promote", "staging", "production"]);
    refused(&nothing, 1, &["nothing has been verified in staging yet"]);
    let unknown = app.hoist(&["promote", "staging", "production", "--version", "v0.9.0"]);
    refused(
        &unknown,
        1,
        &[
            "v0.9.0 has not been verified in staging; deploy it there first (`hoist deploy staging --version v0.9.0`)",
        ],
    );
    let log = audit(&app, "production");
    assert_eq!(entries(&log, "promotion.refused").len(), 3, "{log:#?}");

    app.hoist(&["deploy", "staging"]).ok();
    let staged = deployments(&app, "staging");
    let image = staged[0]["image_id"].as_str().unwrap().to_string();

    let promote = app
        .hoist(&["promote", "staging", "production", "--json"])
        .ok();
    assert!(
        !promote.stderr.contains("building"),
        "promote must not build:\n{}",
        promote.stderr
    );
    let report = promote.json();
    assert_eq!(report["kind"], "promote");
    assert_eq!(report["release"]["version"], "v1.0.0");
    let promoted = deployments(&app, "production");
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["kind"], "promote");
    assert_eq!(promoted[0]["image_id"], image.as_str());
    let status = app.hoist(&["status", "production", "--json"]).ok().json();
    for instance in status["instances"].as_array().unwrap() {
        assert_eq!(instance["image_id"], image.as_str(), "{status:#}");
        assert_eq!(instance["healthy"], true);
    }
    for port in [19432, 19433] {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));
    }

    // One `hoist release` for a ref both environments take deploys the one the other
    // requires first, then the other, from one build.
    app.staging_keys("deploy_from = [{ semver = \"any\" }]\noverlaps_with = [\"production\"]");
    app.write(
        "hoist.toml",
        &std::fs::read_to_string(app.root().join("hoist.toml"))
            .unwrap()
            .replace(
                "requires_verified_in = [\"staging\"]",
                "requires_verified_in = [\"staging\"]\ndeploy_from = [{ semver = \"release\" }]",
            ),
    );
    app.write("www/index.html", "<h1>v1.1</h1>\n");
    app.release("v1.1.0");
    let run = app.hoist(&["release", "--ref", "v1.1.0", "--json"]);
    let outcome = run.json();
    let order: Vec<(&str, i64)> = outcome["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap(),
                e["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [("staging", 0), ("production", 0)],
        "{outcome:#}\n{}",
        run.stderr
    );
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stderr.matches("app image: building").count(),
        1,
        "{}",
        run.stderr
    );
    for port in [19431, 19432, 19433] {
        assert_eq!(version_on(port).as_deref(), Some("v1.1.0"));
    }
}

#[test]
fn hooks_see_the_deploy_and_a_failing_or_hanging_pre_hook_aborts_it() {
    let app = App::new("ithooks", &[19441]);
    let out = tempfile::tempdir().unwrap();
    let before = out.path().join("before.env");
    let after = out.path().join("after.log");
    let order = out.path().join("order.log");
    let hooks = |before_build: &str, before_deploy: &str| {
        format!(
            r#"[hooks]
before_build = [{before_build}]
before_deploy = [{before_deploy}]
after_deploy = ["echo \"$HOIST_OUTCOME $HOIST_VERSION\" >> {after}"]

[environments.staging.hooks]
before_deploy = ["echo staging >> {order}"]
"#,
            after = after.display(),
            order = order.display(),
        )
    };
    let capture = format!(
        r#""env | grep '^HOIST_' | sort > {}", "echo app >> {}""#,
        before.display(),
        order.display()
    );
    app.write_config_with("3s", &hooks("", &capture));
    app.release("v1.0.0");
    app.hoist(&["deploy", "staging"]).ok();

    let env = std::fs::read_to_string(&before).unwrap();
    for line in [
        "HOIST_ACTOR=tester",
        "HOIST_APP=ithooks",
        "HOIST_ENVIRONMENT=staging",
        "HOIST_HOOK=before_deploy",
        "HOIST_IMAGE=hoist-test/ithooks:v1.0.0",
        "HOIST_VERSION=v1.0.0",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in:\n{env}");
    }
    assert!(!env.contains("HOIST_OUTCOME"), "{env}");
    // The app's hooks run first, then the environment's.
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "app\nstaging\n");
    assert_eq!(
        std::fs::read_to_string(&after).unwrap(),
        "succeeded v1.0.0\n"
    );

    // A failing before_build hook: nothing is built or deployed, and its output is shown.
    app.write_config_with(
        "3s",
        &hooks(
            r#""echo checking the schema; echo 'database unreachable' >&2; exit 3""#,
            "",
        ),
    );
    app.write("www/index.html", "<h1>v1.1</h1>\n");
    app.release("v1.1.0");
    let failed = app.hoist(&["deploy", "staging"]);
    refused(
        &failed,
        1,
        &[
            "before_build hook",
            "exit status 3",
            "| checking the schema",
            "| database unreachable",
        ],
    );
    assert!(app.image_id("hoist-test/ithooks:v1.1.0").is_none());
    assert_eq!(version_on(19441).as_deref(), Some("v1.0.0"));
    assert_eq!(deployments(&app, "staging").len(), 1);
    let log = audit(&app, "staging");
    assert_eq!(entries(&log, "hook.failed").len(), 1, "{log:#?}");

    // A hook that outlives its timeout is killed and aborts the deploy, promptly.
    app.write_config_with(
        "3s",
        &hooks(
            "",
            r#"{ run = "echo waiting for the cache; sleep 30", timeout = "1s" }"#,
        ),
    );
    app.release("v1.2.0");
    let (hung, took) = run_within(
        app.hoist_command(&["deploy", "staging"]),
        Duration::from_secs(90),
    );
    refused(
        &hung,
        1,
        &[
            "before_deploy hook",
            "timed out after 1s",
            "| waiting for the cache",
        ],
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert_eq!(version_on(19441).as_deref(), Some("v1.0.0"));

    // after_deploy hears about a failed rollout.
    app.write_config_with("2s", &hooks("", ""));
    std::fs::remove_file(app.root().join("www/healthz")).unwrap();
    app.release("v1.3.0");
    let broken = app.hoist(&["deploy", "staging"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert_eq!(
        std::fs::read_to_string(&after).unwrap(),
        "succeeded v1.0.0\nfailed v1.3.0\n"
    );
    assert_eq!(version_on(19441).as_deref(), Some("v1.0.0"));
}

/// One HTTP request as a receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    /// Lowercased names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A webhook receiver on 127.0.0.1: answers `204` to each request and keeps it, or (for
/// `hang`) accepts connections and never answers.
struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(hang: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let store = requests.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if hang {
                    held.push(stream);
                    continue;
                }
                if let Some(request) = read_request(&stream) {
                    store.lock().unwrap().push(request);
                    let mut stream = stream;
                    let _ = stream.write_all(
                        b"HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            }
        });
        Receiver { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hoist", self.port)
    }

    /// The requests received since the last call.
    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body,
    })
}

/// A Standard Webhooks secret: `whsec_` and base64 of the key's bytes.
const SECRET: &str = "whsec_aXRub3RpZnktc2lnbmluZy1zZWNyZXQtN1F4Mi0w";

/// Checks a delivery as docs/notifications.md tells receivers to, and returns its body.
fn verified(request: &Received) -> Value {
    assert_eq!(request.path, "/hoist");
    assert_eq!(request.header("content-type"), "application/json");
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    let signature = request.header("webhook-signature");
    let now = jiff::Timestamp::now().as_second();
    let secret = hoist_notify::WebhookSecret::parse(SECRET).expect("a valid secret");
    hoist_notify::verify(&secret, id, timestamp, &request.body, signature, now, 300)
        .unwrap_or_else(|e| panic!("signature does not verify: {e}: {request:?}"));
    let other = hoist_notify::WebhookSecret::parse("whsec_YW5vdGhlci1zZWNyZXQtb2YtMjQtYnl0ZXMh")
        .expect("a valid secret");
    assert!(
        hoist_notify::verify(&other, id, timestamp, &request.body, signature, now, 300).is_err()
    );
    let body = request.json();
    assert_eq!(id, body["delivery_id"]);
    body
}

/// The kind of each delivery, checking each one's signature.
fn kinds(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .map(|r| verified(r)["kind"].as_str().unwrap().to_string())
        .collect()
}

fn tenants(body: &Value) -> Vec<(String, String)> {
    body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tenant"].as_str().unwrap().to_string(),
                t["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn webhooks_hear_every_outcome_signed_and_a_hanging_one_costs_only_its_timeout() {
    let receiver = Receiver::start(false);
    let stuck = Receiver::start(true);
    let app = App::new("itnotify", &[19451, 19452]);
    let config = |health_timeout: &str| {
        app.write_config_with(
            health_timeout,
            &format!(
                r#"[notifiers.ops]
kind = "webhook"
url = "{ops}"
secret_env = "ITNOTIFY_SECRET"

[notifiers.stuck]
kind = "webhook"
url = "{stuck}"
secret_env = "ITNOTIFY_SECRET"
timeout = "2s"
attempts = 2

[notifiers.prod-hook]
kind = "webhook"
url = "http://127.0.0.1:9/never"
secret_env = "ITNOTIFY_PROD_SECRET"

[[environments.staging.notify]]
to = "ops"

[environments.staging.policy]
deployers = ["tester", "dave"]

{canary}
[[environments.canary.notify]]
to = "stuck"

{production}
[[environments.production.notify]]
to = "prod-hook"
"#,
                ops = receiver.url(),
                stuck = stuck.url(),
                canary = environment("canary", &[19453], ""),
                production = environment("production", &[19454], ""),
            ),
        )
    };
    config("5s");
    app.release("v1.0.0");
    let mut outputs = Vec::new();
    let hoist = |actor: &str, args: &[&str]| {
        let mut command = app.hoist_command_as(actor, args);
        command
            .env("ITNOTIFY_SECRET", SECRET)
            .env_remove("ITNOTIFY_PROD_SECRET");
        command
    };
    let run = |command: &mut Command| Run::from(command.output().expect("run hoist"));

    // The secret is read from the environment; without it nothing starts.
    let missing = run(hoist("tester", &["deploy", "staging"]).env_remove("ITNOTIFY_SECRET"));
    refused(&missing, 2, &["notifier `ops`", "ITNOTIFY_SECRET"]);
    assert!(app.containers().is_empty());
    outputs.push(missing);

    // A deploy: started, then succeeded with every tenant's outcome. Production's notifier,
    // whose secret is not set, does not stand in the way of a staging deploy.
    let deployed = run(&mut hoist("tester", &["deploy", "staging"]));
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    outputs.push(deployed);
    let got = receiver.take();
    assert_eq!(kinds(&got), ["started", "succeeded"]);
    let (started, succeeded) = (verified(&got[0]), verified(&got[1]));
    assert_ne!(started["delivery_id"], succeeded["delivery_id"]);
    for body in [&started, &succeeded] {
        assert_eq!(body["app"], "itnotify");
        assert_eq!(body["version"], "v1.0.0");
        assert_eq!(body["environment"], "staging");
        assert_eq!(body["actor"], "tester");
        assert_eq!(body["image"], "hoist-test/itnotify:v1.0.0");
    }
    assert!(started["duration_ms"].is_null());
    assert!(succeeded["duration_ms"].as_u64().is_some());
    assert_eq!(
        tenants(&succeeded),
        [
            ("t0".to_string(), "succeeded".to_string()),
            ("t1".to_string(), "succeeded".to_string())
        ]
    );

    // A release that t1 cannot run: failed, naming t1 and why.
    app.write(
        "Dockerfile",
        "ARG HOIST_BASE\nFROM ${HOIST_BASE}\nARG HOIST_VERSION=dev\nCOPY www /www\nRUN echo \"$HOIST_VERSION\" > /www/version\nSTOPSIGNAL SIGKILL\nCMD [\"sh\", \"-c\", \"if [ \\\"$TENANT\\\" = t1 ]; then rm /www/healthz; fi; exec httpd -f -p 8080 -h /www\"]\n",
    );
    config("3s");
    app.release("v2.0.0");
    let failed = run(&mut hoist("tester", &["deploy", "staging"]));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    outputs.push(failed);
    let got = receiver.take();
    assert_eq!(kinds(&got), ["started", "failed"]);
    let body = verified(&got[1]);
    assert_eq!(body["version"], "v2.0.0");
    assert!(body["reason"].as_str().is_some(), "{body:#}");
    assert!(
        body["reason"].as_str().unwrap().contains("failed on t1"),
        "{body:#}"
    );
    // t1 failed and its previous container serves again; as documented, `failed` and
    // `rolled_back` are the outcomes of tenants where the release failed.
    assert_eq!(
        tenants(&body),
        [
            ("t0".to_string(), "succeeded".to_string()),
            ("t1".to_string(), "rolled_back".to_string())
        ]
    );
    let t1 = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "t1")
        .unwrap();
    assert!(t1["detail"].as_str().unwrap().contains("404"), "{body:#}");
    assert_eq!(version_on(19452).as_deref(), Some("v1.0.0"));

    // Rolling back after that failure puts v1.0.0 back where v2.0.0 got through.
    let rollback = run(&mut hoist("tester", &["rollback", "staging"]));
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    outputs.push(rollback);
    let got = receiver.take();
    assert_eq!(kinds(&got), ["started", "rolled_back"]);
    let body = verified(&got[1]);
    assert_eq!(body["version"], "v1.0.0");
    assert_eq!(
        tenants(&body),
        [
            ("t0".to_string(), "succeeded".to_string()),
            ("t1".to_string(), "unchanged".to_string())
        ]
    );
    for port in [19451, 19452] {
        assert_eq!(version_on(port).as_deref(), Some("v1.0.0"));
    }

    // A refusal is heard too, with its reason.
    let refusal = run(&mut hoist("mallory", &["deploy", "staging"]));
    refused(&refusal, 1, &["mallory is not among staging's deployers"]);
    outputs.push(refusal);
    let got = receiver.take();
    assert_eq!(kinds(&got), ["refused"]);
    let body = verified(&got[0]);
    assert_eq!(body["actor"], "mallory");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("mallory is not among staging's deployers (tester; dave)"),
        "{body:#}"
    );

    // So is a deploy refused because another one holds the environment.
    let store = hoist_store::SqliteStore::open(&app.state()).unwrap();
    let holder = LockHolder::this_process("someone-else");
    store
        .try_lock("itnotify", "staging", &holder, Duration::from_secs(60))
        .unwrap();
    let locked = run(&mut hoist("tester", &["deploy", "staging"]));
    refused(&locked, 1, &["staging is locked by someone-else"]);
    store.unlock("itnotify", "staging", &holder).unwrap();
    outputs.push(locked);
    let got = receiver.take();
    assert_eq!(kinds(&got), ["refused"]);
    let body = verified(&got[0]);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("staging is locked by someone-else"),
        "{body:#}"
    );

    // A receiver that accepts and never answers: the deploy succeeds, a bounded time later,
    // and the lost deliveries are reported and audited.
    let (slow, took) = run_within(
        hoist("tester", &["deploy", "canary"]),
        Duration::from_secs(90),
    );
    assert_eq!(slow.code, 0, "{}", slow.stderr);
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert!(
        slow.stderr
            .contains("warning: notification to stuck not delivered"),
        "{}",
        slow.stderr
    );
    outputs.push(slow);
    assert_eq!(version_on(19453).as_deref(), Some("v2.0.0"));
    let log = audit(&app, "canary");
    assert_eq!(entries(&log, "notify.failed").len(), 2, "{log:#?}");

    // Production's notifier needs its own secret, and says so before anything happens.
    let production = run(&mut hoist("tester", &["deploy", "production"]));
    refused(
        &production,
        2,
        &["notifier `prod-hook`", "ITNOTIFY_PROD_SECRET"],
    );
    assert!(deployments(&app, "production").is_empty());
    outputs.push(production);

    // The secret never shows: not in any output, the audit log or the history.
    outputs.push(app.hoist(&["audit", "--json", "--limit", "1000"]).ok());
    for env in ["staging", "canary"] {
        outputs.push(app.hoist(&["history", env, "--json"]).ok());
    }
    for output in &outputs {
        assert!(
            !output.stdout.contains(SECRET) && !output.stderr.contains(SECRET),
            "the secret leaked:\n{}\n{}",
            output.stdout,
            output.stderr
        );
    }
}
