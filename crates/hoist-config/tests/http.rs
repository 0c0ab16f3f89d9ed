//! `kind = "http"` (the generic form and the fly-machines preset) and instances of several
//! kinds in one environment (`runtimes.LABEL` and an instance's `runtime`): what resolves,
//! and every bad value rejected at its place (`file:line:col`) with what to write instead.

use std::path::Path;
use std::time::Duration;

use hoist_config::http::{FLY_API, HttpConfig};
use hoist_config::{ConfigError, RuntimeConfig, RuntimeKind, Settings, parse};
use hoist_secrets::SecretSource;

const BASE: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.production]
[[environments.production.instances]]
tenant = "north"
port = 8101
name = "3d8d9016a57d89"
[[environments.production.instances]]
tenant = "south"
port = 8102
"#;

fn production(runtime: &str) -> String {
    format!("{BASE}\n[environments.production.runtime]\n{runtime}\n")
}

fn ok(text: &str) -> Settings {
    parse(Path::new("/srv/clinic/hoist.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn http(text: &str) -> HttpConfig {
    match ok(text).environment("production").unwrap().runtime.clone() {
        RuntimeConfig::Http(h) => *h,
        other => panic!("expected kind http, got {other:?}"),
    }
}

/// (line, key, message, help) of the rejection.
fn failure(text: &str) -> (usize, String, String, String) {
    match parse(Path::new("hoist.toml"), text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(ConfigError::Invalid {
            line,
            key,
            message,
            help,
            ..
        }) => (line, key, message, help.unwrap_or_default()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

const GENERIC: &str = r#"kind = "http"
token = { env = "PLATFORM_TOKEN" }
headers = { Accept = "application/json" }
timeout = "2m"
poll = "500ms"
[environments.production.runtime.deploy]
url = "https://api.example.com/v1/apps/{{ tenant }}/deploys"
body = '{"image": {{ image_ref }}}'
[environments.production.runtime.status]
url = "https://api.example.com/v1/apps/{{ tenant }}"
image = "/image"
state = "/state"
healthy = "/healthy"
failure = "/error"
"#;

#[test]
fn the_generic_form_resolves_with_defaults() {
    let h = http(&production(GENERIC));
    assert_eq!(h.platform, "http");
    assert_eq!(h.deploy.method, "POST");
    assert_eq!(h.status.method, "GET");
    assert_eq!(h.fields.image, "/image");
    assert_eq!(h.fields.running, ["running"]);
    assert_eq!(h.fields.failed, ["failed"]);
    assert_eq!(h.timeout, Duration::from_secs(120));
    assert_eq!(h.poll, Duration::from_millis(500));
    let token = h.token.unwrap();
    assert_eq!(token.source, SecretSource::Env("PLATFORM_TOKEN".into()));
    assert_eq!(token.header, "Authorization");
    assert_eq!(token.scheme.as_deref(), Some("Bearer"));
    let config = ok(&production(GENERIC));
    let env = config.environment("production").unwrap();
    assert_eq!(env.runtime.kind(), RuntimeKind::Http);
    assert_eq!(env.instances[0].host, "http api.example.com");
}

#[test]
fn the_fly_preset_fills_in_fly_s_machines_api() {
    let h = http(&production(
        "kind = \"http\"\npreset = \"fly-machines\"\napp = \"clinic-{{ tenant }}\"\ntoken = { file = \"secrets/fly-token\" }",
    ));
    assert_eq!(h.platform, "fly-machines");
    assert_eq!(
        h.status.url,
        format!("{FLY_API}/v1/apps/{{{{ platform_app }}}}/machines/{{{{ name }}}}")
    );
    assert_eq!(
        (h.deploy.method.as_str(), h.deploy.url.as_str()),
        ("POST", h.status.url.as_str())
    );
    assert!(
        h.deploy
            .body
            .as_deref()
            .unwrap()
            .contains("current.config | merge")
    );
    assert_eq!(
        h.wait.unwrap().url,
        format!("{}/wait?state=started&timeout=60", h.status.url)
    );
    assert_eq!(h.fields.image, "/config/image");
    assert_eq!(h.fields.digest.as_deref(), Some("/image_ref/digest"));
    assert_eq!(h.fields.running, ["started"]);
    assert_eq!(h.platform_app.as_deref(), Some("clinic-{{ tenant }}"));
    // A file source, relative to hoist.toml's directory.
    assert_eq!(
        h.token.unwrap().source,
        SecretSource::File("/srv/clinic/secrets/fly-token".into())
    );
}

#[test]
fn a_token_is_read_from_a_variable_or_a_file_never_a_command() {
    let text = production(
        "kind = \"http\"\npreset = \"fly-machines\"\ntoken = { command = [\"op\", \"read\", \"x\"] }",
    );
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "token = {"));
    assert_eq!(key, "environments.production.runtime.token");
    assert!(message.contains("not a command"), "{message}");
    assert!(help.contains("{ env = "), "{help}");
}

#[test]
fn a_credential_in_a_literal_header_is_refused() {
    let text = production(&GENERIC.replace(
        "headers = { Accept = \"application/json\" }",
        "headers = { Authorization = \"Bearer abc\" }",
    ));
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "headers ="));
    assert_eq!(key, "environments.production.runtime.headers");
    assert!(message.contains("looks like a credential"), "{message}");
    assert!(help.contains("`token`"), "{help}");
    // The refusal does not repeat the value.
    assert!(!message.contains("abc") && !help.contains("abc"));
}

#[test]
fn the_fly_preset_needs_a_token_and_no_requests() {
    let text = production("kind = \"http\"\npreset = \"fly-machines\"");
    let (_, key, message, _) = failure(&text);
    assert_eq!(key, "environments.production.runtime.token");
    assert!(message.contains("needs a token"), "{message}");

    let text = production(&format!("preset = \"fly-machines\"\n{}", GENERIC));
    let (line, key, message, _) = failure(&text);
    assert_eq!(
        line,
        line_of(&text, "[environments.production.runtime.deploy]")
    );
    assert_eq!(key, "environments.production.runtime.deploy");
    assert!(
        message.contains("the preset sets the requests"),
        "{message}"
    );
}

#[test]
fn bad_values_are_rejected_at_their_place() {
    for (from, to, needle, key, says) in [
        (
            "image = \"/image\"",
            "image = \"image\"",
            "image = \"image\"",
            "status.image",
            "not a JSON pointer",
        ),
        (
            "url = \"https://api.example.com/v1/apps/{{ tenant }}/deploys\"",
            "url = \"ftp://x\"",
            "url = \"ftp://x\"",
            "deploy.url",
            "not an http(s) URL",
        ),
        (
            "poll = \"500ms\"",
            "poll = \"0s\"",
            "poll = ",
            "poll",
            "without pause",
        ),
        (
            "kind = \"http\"",
            "kind = \"http\"\npreset = \"heroku\"",
            "preset =",
            "preset",
            "not a preset",
        ),
        (
            "kind = \"http\"",
            "kind = \"http\"\nnamespace = \"x\"",
            "namespace =",
            "namespace",
            "does not apply to kind \"http\"",
        ),
    ] {
        let text = production(&GENERIC.replace(from, to));
        let (line, got_key, message, _) = failure(&text);
        assert_eq!(line, line_of(&text, needle), "{message}");
        assert_eq!(
            got_key,
            format!("environments.production.runtime.{key}"),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
    let text = production(GENERIC).replace(
        "[environments.production.runtime.deploy]\nurl",
        "[environments.production.runtime.nothing]\nurl",
    );
    assert!(parse(Path::new("hoist.toml"), &text).is_err());
}

#[test]
fn http_keys_do_not_apply_to_other_kinds() {
    let text = production("kind = \"docker\"\ntoken = { env = \"X\" }");
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "token ="));
    assert_eq!(key, "environments.production.runtime.token");
    assert!(
        message.contains("does not apply to kind \"docker\""),
        "{message}"
    );
    assert!(help.contains("kind = \"http\""), "{help}");
}

// ---- several kinds in one environment ----

const MIXED: &str = r#"
[app]
name = "clinic"
image = "registry.example.com/clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.production.runtimes.fly]
kind = "http"
preset = "fly-machines"
token = { env = "FLY_API_TOKEN" }

[[environments.production.instances]]
tenant = "north"
port = 8101

[[environments.production.instances]]
tenant = "south"
port = 8101
runtime = "fly"
"#;

#[test]
fn an_instance_names_the_runtime_it_runs_on() {
    let config = ok(MIXED);
    let env = config.environment("production").unwrap();
    let north = &env.instances[0];
    let south = &env.instances[1];
    assert_eq!(env.runtime_of(north).kind(), RuntimeKind::Docker);
    assert_eq!(env.runtime_of(south).kind(), RuntimeKind::Http);
    assert_eq!(south.runtime.as_deref(), Some("fly"));
    assert_eq!(north.host, "unix:///var/run/docker.sock");
    assert_eq!(south.host, "fly-machines api.machines.dev");
    // A Fly instance shares no engine port with the container: the same port is fine.
    assert_eq!(north.port, south.port);
}

#[test]
fn an_unknown_runtime_label_is_rejected_with_the_defined_ones() {
    let text = MIXED.replace("runtime = \"fly\"", "runtime = \"flyio\"");
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "runtime = \"flyio\""));
    assert_eq!(key, "environments.production.instances[1].runtime");
    assert_eq!(message, "no runtime `flyio` in this environment");
    assert!(help.contains("defined: fly"), "{help}");
}

#[test]
fn a_named_runtime_is_checked_like_the_environment_s() {
    let text = MIXED.replace(
        "preset = \"fly-machines\"\n",
        "preset = \"fly-machines\"\nreplicas = 2\n",
    );
    let (line, key, message, _) = failure(&text);
    assert_eq!(line, line_of(&text, "replicas = 2"));
    assert_eq!(key, "environments.production.runtimes.fly.replicas");
    assert!(
        message.contains("does not apply to kind \"http\""),
        "{message}"
    );
}

// ---- release tasks ----

const GENERIC_TASK: &str = r#"
[environments.production.runtime.task.start]
url = "https://api.example.com/v1/apps/{{ tenant }}/runs"
body = '{"image": {{ image_ref }}, "command": {{ task_command }}, "env": {{ env }}}'
id = "/id"
[environments.production.runtime.task.status]
url = "https://api.example.com/v1/apps/{{ tenant }}/runs/{{ task_id }}"
state = "/state"
done = ["exited", "failed"]
exit_code = "/exit_code"
[environments.production.runtime.task.logs]
url = "https://api.example.com/v1/apps/{{ tenant }}/runs/{{ task_id }}/log"
lines = "/lines"
[environments.production.runtime.task.remove]
url = "https://api.example.com/v1/apps/{{ tenant }}/runs/{{ task_id }}"
"#;

const TASKS: &str =
    "\n[[environments.production.tasks]]\nname = \"migrate\"\ncommand = [\"true\"]\n";

fn with_task(task: &str) -> String {
    format!("{}{task}{TASKS}", production(GENERIC))
}

#[test]
fn a_generic_task_section_resolves_with_default_methods() {
    let task = http(&with_task(GENERIC_TASK)).task.expect("task requests");
    assert_eq!(task.start.method, "POST");
    assert!(task.start.body.unwrap().contains("{{ task_command }}"));
    assert_eq!(task.id, "/id");
    assert_eq!(task.status.method, "GET");
    assert_eq!(task.done, ["exited", "failed"]);
    assert_eq!(task.exit_code, "/exit_code");
    assert_eq!(task.logs.unwrap().method, "GET");
    assert_eq!(task.lines.as_deref(), Some("/lines"));
    assert_eq!(task.remove.unwrap().method, "DELETE");
    assert!(task.wait.is_none() && task.stop.is_none() && task.output_hint.is_none());
}

#[test]
fn bad_task_values_are_rejected_at_their_place() {
    for (from, to, needle, key, says) in [
        (
            "exit_code = \"/exit_code\"",
            "exit_code = \"exit_code\"",
            "exit_code = \"exit_code\"",
            "task.status.exit_code",
            "not a JSON pointer",
        ),
        (
            "done = [\"exited\", \"failed\"]",
            "done = []",
            "done = []",
            "task.status.done",
            "every task would wait for its timeout",
        ),
        (
            "url = \"https://api.example.com/v1/apps/{{ tenant }}/runs\"",
            "url = \"runs\"",
            "url = \"runs\"",
            "task.start.url",
            "not an http(s) URL",
        ),
        (
            "[environments.production.runtime.task.remove]\n",
            "[environments.production.runtime.task.remove]\nmethod = \"GET\"\nbody = '{}'\n",
            "body = '{}'",
            "task.remove.body",
            "carries no body",
        ),
    ] {
        let text = with_task(&GENERIC_TASK.replace(from, to));
        let (line, got_key, message, _) = failure(&text);
        assert_eq!(line, line_of(&text, needle), "{message}");
        assert_eq!(
            got_key,
            format!("environments.production.runtime.{key}"),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn a_task_section_needs_start_and_status() {
    let without_status = GENERIC_TASK
        .split("[environments.production.runtime.task.status]")
        .next()
        .unwrap()
        .to_string();
    let (_, key, message, help) = failure(&with_task(&without_status));
    assert_eq!(key, "environments.production.runtime.task.status");
    assert!(message.contains("needs a `status` request"), "{message}");
    assert!(help.contains("exit_code"), "{help}");
    // An unknown key in the task's tables is refused too.
    let text = with_task(&GENERIC_TASK.replace("id = \"/id\"", "id = \"/id\"\nrun_id = \"/x\""));
    assert!(parse(Path::new("hoist.toml"), &text).is_err());
}

#[test]
fn tasks_on_a_generic_platform_without_task_requests_are_refused() {
    let text = format!("{}{TASKS}", production(GENERIC));
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "[[environments.production.tasks]]"));
    assert_eq!(key, "environments.production.tasks[0]");
    assert!(message.contains("without `task` requests"), "{message}");
    assert!(help.contains("fly-machines"), "{help}");
}

#[test]
fn tasks_are_refused_when_an_instance_picks_a_named_platform_without_task_requests() {
    let platform = GENERIC.replace(
        "environments.production.runtime.",
        "environments.production.runtimes.platform.",
    );
    let text = format!(
        "{}\n[environments.production.runtimes.platform]\n{platform}{TASKS}",
        BASE.replace(
            "name = \"3d8d9016a57d89\"",
            "name = \"3d8d9016a57d89\"\nruntime = \"platform\""
        )
    );
    let (line, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "[[environments.production.tasks]]"));
    assert_eq!(key, "environments.production.tasks[0]");
    assert!(message.contains("runtime `platform`"), "{message}");
    assert!(message.contains("without `task` requests"), "{message}");
    assert!(help.contains("runtimes.LABEL.task"), "{help}");
    // With task requests of its own, the same environment resolves.
    let with_requests = text.replace(
        TASKS,
        &format!(
            "{}{TASKS}",
            GENERIC_TASK.replace(
                "environments.production.runtime.",
                "environments.production.runtimes.platform."
            )
        ),
    );
    ok(&with_requests);
}

const FLY: &str = "kind = \"http\"\npreset = \"fly-machines\"\napp = \"clinic-{{ tenant }}\"\ntoken = { env = \"FLY_API_TOKEN\" }";

#[test]
fn the_fly_preset_runs_tasks_as_one_off_machines() {
    let h = http(&format!("{}{TASKS}", production(FLY)));
    let task = h.task.expect("the preset's task requests");
    let machines = format!("{FLY_API}/v1/apps/{{{{ platform_app }}}}/machines");
    assert_eq!(
        (task.start.method.as_str(), task.start.url.as_str()),
        ("POST", machines.as_str())
    );
    let body = task.start.body.unwrap();
    for part in [
        "\"auto_destroy\": true",
        "\"restart\": {\"policy\": \"no\"}",
        "\"init\": {\"cmd\": {{ task_command }}}",
        "merge(env)",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert_eq!(task.id, "/id");
    assert_eq!(task.instance.as_deref(), Some("/instance_id"));
    assert_eq!(
        task.wait.unwrap().url,
        format!(
            "{machines}/{{{{ task_id }}}}/wait?instance_id={{{{ task_instance }}}}&state=stopped&timeout={{{{ wait_seconds }}}}"
        )
    );
    assert_eq!(task.status.url, format!("{machines}/{{{{ task_id }}}}"));
    assert_eq!(task.exit_code, "/events/*/request/exit_event/exit_code");
    assert!(
        task.done.contains(&"stopped".to_string()) && task.done.contains(&"destroyed".to_string())
    );
    assert_eq!(
        task.stop.unwrap().url,
        format!("{machines}/{{{{ task_id }}}}/stop")
    );
    let remove = task.remove.unwrap();
    assert_eq!(
        (remove.method.as_str(), remove.url.as_str()),
        (
            "DELETE",
            format!("{machines}/{{{{ task_id }}}}?force=true").as_str()
        )
    );
    // Fly's Machines API keeps no output: no logs request, a line saying where to look.
    assert!(task.logs.is_none());
    assert_eq!(
        task.output_hint.as_deref(),
        Some("fly logs -a {{ platform_app }} -i {{ task_id }}")
    );
}

#[test]
fn the_fly_preset_takes_only_a_logs_request_of_its_own() {
    let logs = "\n[environments.production.runtime.task.logs]\nurl = \"https://logs.example.com/{{ task_id }}\"\nlines = \"/lines\"\n";
    let task = http(&format!("{}{logs}{TASKS}", production(FLY)))
        .task
        .unwrap();
    assert_eq!(
        task.logs.unwrap().url,
        "https://logs.example.com/{{ task_id }}"
    );
    assert_eq!(task.lines.as_deref(), Some("/lines"));

    let text = format!(
        "{}\n[environments.production.runtime.task.stop]\nurl = \"https://x/stop\"\n{TASKS}",
        production(FLY)
    );
    let (line, key, message, _) = failure(&text);
    assert_eq!(
        line,
        line_of(&text, "[environments.production.runtime.task.stop]")
    );
    assert_eq!(key, "environments.production.runtime.task.stop");
    assert!(
        message.contains("the preset sets the task's requests"),
        "{message}"
    );
}
