//! Release tasks on a platform: a one-off run of the release's image started through the
//! configured `task` requests (Fly: a Machine with `auto_destroy` and no restart), waited
//! for until it ends or its timeout (then stopped), its exit code read from the status
//! answer, its output read when the platform keeps it, and what ran it removed.
//!
//! The reading of answers ([`exit_code`], [`lines`]) is pure; [`run`] does the I/O in
//! order. Secrets go to the platform in a request body only (the `env` variable), and every
//! error text is cleared of them before it leaves.

use std::time::{Duration, Instant};

use hoist_core::backend::BackendError;
use hoist_core::task::{TaskRun, TaskSpec, redact};
use hoist_core::{InstanceSpec, Release};
use serde_json::Value;
use tracing::{info, warn};

use crate::runtime::{HttpRuntime, Target};
use crate::settings::{RequestSpec, TaskRequests};
use crate::template::{self, TaskVars, Vars};

/// The longest one wait request is asked to block: under the client's 60 s request timeout
/// (a wait cut short by the client would be retried), within Fly's `/wait` limit of 60 s.
const MAX_WAIT: u64 = 50;

/// How a watched run ended.
enum Ended {
    /// The platform reports it in a `done` state: its status answer.
    Done(Value),
    /// The platform no longer knows it (404) before an end was read.
    Gone,
    /// Still running at the task's timeout.
    TimedOut,
}

pub(crate) async fn run(
    runtime: &HttpRuntime,
    instance: &InstanceSpec,
    release: &Release,
    task: &TaskSpec,
) -> Result<TaskRun, BackendError> {
    let settings = &runtime.settings;
    let platform = settings.platform.as_str();
    let hide = |text: String| BackendError::new(clear(instance, text));
    let Some(requests) = &settings.task else {
        return Err(BackendError::new(format!(
            "{platform} has no `task` requests, so release tasks cannot run there: add \
             [environments.{env}.runtime.task] (start and status requests; docs/http-runtime.md), \
             or remove [[environments.{env}.tasks]]",
            env = instance.environment
        )));
    };
    // The instance as it is: a platform's run may copy its region, size or env.
    let current = runtime.status(instance).await.map_err(hide)?;
    let mut vars = runtime
        .vars(instance, Some(&Target::of(release)), current)
        .map_err(hide)?;
    vars.task = Some(TaskVars {
        name: task.name.clone(),
        command: task.command.clone(),
        id: None,
        instance: None,
        wait_seconds: task.timeout.as_secs().clamp(1, MAX_WAIT),
        env: env_of(instance),
    });
    let started = send(runtime, &requests.start, &vars, &[])
        .await
        .map_err(|e| hide(format!("starting task {} on {platform}: {e}", task.name)))?;
    let Some(id) = text_at(&started, &requests.id) else {
        return Err(BackendError::new(format!(
            "{platform} answered the task's start without a run id at {} (the start request's `id` pointer)",
            requests.id
        )));
    };
    if let Some(task_vars) = vars.task.as_mut() {
        task_vars.instance = requests
            .instance
            .as_deref()
            .and_then(|p| text_at(&started, p));
        task_vars.id = Some(id.clone());
    }
    info!(instance = %instance.name, task = %task.name, run = %id, %platform, "task started");
    let deadline = Instant::now() + task.timeout;
    let ended = watch(runtime, requests, &mut vars, deadline).await;
    let mut run = match ended {
        Ok(Ended::Done(status)) => TaskRun {
            exit_code: exit_code(&status, &requests.exit_code),
            output: Vec::new(),
            timed_out: false,
        },
        Ok(Ended::Gone) => TaskRun {
            exit_code: None,
            output: vec![format!(
                "{platform} removed run {id} before hoist read how it ended"
            )],
            timed_out: false,
        },
        Ok(Ended::TimedOut) => {
            if let Some(stop) = &requests.stop
                && let Err(e) = send(runtime, stop, &vars, &[404]).await
            {
                warn!(run = %id, error = %clear(instance, e), "stopping the task's run failed; removing it");
            }
            TaskRun {
                exit_code: None,
                output: Vec::new(),
                timed_out: true,
            }
        }
        Err(e) => {
            remove(runtime, requests, &vars, instance).await;
            return Err(hide(format!("watching task {} (run {id}): {e}", task.name)));
        }
    };
    run.output = output(runtime, requests, &vars, instance).await;
    remove(runtime, requests, &vars, instance).await;
    Ok(run)
}

/// Waits (the wait request, else the poll interval) and reads the run's status until it
/// reports a `done` state, is gone, or the deadline passes.
async fn watch(
    runtime: &HttpRuntime,
    requests: &TaskRequests,
    vars: &mut Vars,
    deadline: Instant,
) -> Result<Ended, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Some(wait) = &requests.wait {
            if let Some(task) = vars.task.as_mut() {
                task.wait_seconds = left.as_secs().clamp(1, MAX_WAIT);
            }
            // A shortcut: the status read decides. A wait that times out (408) is normal.
            if let Err(e) = send(runtime, wait, vars, &[408]).await {
                warn!(error = %e, "task wait request failed; reading the status");
            }
        }
        let url = template::render_url(&requests.status.url, vars).map_err(|e| e.to_string())?;
        let status = match runtime
            .api
            .send(&requests.status.method, &url, None, &[])
            .await
        {
            Ok(answer) => answer.body,
            Err(e) if e.status() == Some(404) => return Ok(Ended::Gone),
            Err(e) => return Err(e.to_string()),
        };
        let state = text_at(&status, &requests.state);
        if state.as_ref().is_some_and(|s| requests.done.contains(s)) {
            return Ok(Ended::Done(status));
        }
        if Instant::now() >= deadline {
            return Ok(Ended::TimedOut);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(
            runtime
                .settings
                .poll
                .min(left)
                .max(Duration::from_millis(1)),
        )
        .await;
    }
}

/// The run's output: the logs request's lines, or one line saying where to look.
async fn output(
    runtime: &HttpRuntime,
    requests: &TaskRequests,
    vars: &Vars,
    instance: &InstanceSpec,
) -> Vec<String> {
    let platform = &runtime.settings.platform;
    let Some(logs) = &requests.logs else {
        let hint = requests
            .output_hint
            .as_deref()
            .and_then(|h| template::render_text(h, vars).ok());
        return vec![match hint {
            Some(hint) => format!("{platform} keeps no output hoist can read: see `{hint}`"),
            None => format!("{platform} keeps no output hoist can read: see the platform's logs"),
        }];
    };
    match send(runtime, logs, vars, &[]).await {
        Ok(answer) => lines(&answer, requests.lines.as_deref()),
        Err(e) => vec![format!(
            "the task's output could not be read: {}",
            clear(instance, e)
        )],
    }
}

/// Sends the remove request, when there is one; a run already gone (404) is fine.
async fn remove(
    runtime: &HttpRuntime,
    requests: &TaskRequests,
    vars: &Vars,
    instance: &InstanceSpec,
) {
    let Some(remove) = &requests.remove else {
        return;
    };
    if let Err(e) = send(runtime, remove, vars, &[404]).await {
        warn!(error = %clear(instance, e), "removing the task's run failed; remove it on the platform");
    }
}

/// Renders and sends one request; `accept` are non-2xx statuses that are answers.
async fn send(
    runtime: &HttpRuntime,
    spec: &RequestSpec,
    vars: &Vars,
    accept: &[u16],
) -> Result<Value, String> {
    let url = template::render_url(&spec.url, vars).map_err(|e| e.to_string())?;
    let body = match &spec.body {
        Some(body) => Some(template::render_body(body, vars).map_err(|e| e.to_string())?),
        None => None,
    };
    runtime
        .api
        .send(&spec.method, &url, body.as_ref(), accept)
        .await
        .map(|a| a.body)
        .map_err(|e| e.to_string())
}

/// The instance's env and secret values, as the `env` variable.
fn env_of(instance: &InstanceSpec) -> serde_json::Map<String, Value> {
    let mut env: serde_json::Map<String, Value> = instance
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    for (name, secret) in instance.secrets.iter() {
        env.insert(name.to_string(), Value::from(secret.expose()));
    }
    env
}

/// `text` with the instance's secret and env values masked.
fn clear(instance: &InstanceSpec, text: String) -> String {
    redact(instance, &[text]).pop().unwrap_or_default()
}

/// A scalar at `pointer`, as text.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match find(value, pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves a JSON pointer in which a `*` segment stands for the first element (of an
/// array, or value of an object) where the rest of the pointer resolves.
pub fn find<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    let segments: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    find_in(value, &segments)
}

fn find_in<'a>(value: &'a Value, segments: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(value);
    };
    if first == "*" {
        return match value {
            Value::Array(items) => items.iter().find_map(|v| find_in(v, rest)),
            Value::Object(map) => map.values().find_map(|v| find_in(v, rest)),
            _ => None,
        };
    }
    let next = match value {
        Value::Object(map) => map.get(first.as_str()),
        Value::Array(items) => first.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }?;
    find_in(next, rest)
}

/// The exit code at `pointer` in a finished run's status answer. Through a `*` segment,
/// the element taken is the first where the pointer up to its last key resolves, and that
/// key missing there reads as 0: Fly (like many Go APIs) leaves a zero `exit_code` out of
/// its `exit_event`, unless the record says the process was stopped or killed
/// (`requested_stop`, `oom_killed`, a `signal`). Without a `*`, a missing code is none (the
/// run counts as failed).
pub fn exit_code(status: &Value, pointer: &str) -> Option<i64> {
    if let Some(code) = find(status, pointer).and_then(Value::as_i64) {
        return Some(code);
    }
    let (parent, last) = pointer.rsplit_once('/')?;
    if !parent.split('/').any(|s| s == "*") {
        return None;
    }
    let record = find(status, parent)?.as_object()?;
    // A process stopped or killed from outside did not exit with a code of its own.
    let killed = record.get("requested_stop") == Some(&Value::Bool(true))
        || record.get("oom_killed") == Some(&Value::Bool(true))
        || record
            .get("signal")
            .and_then(Value::as_i64)
            .is_some_and(|s| s != 0);
    if killed {
        return None;
    }
    match record.get(last) {
        None | Some(Value::Null) => Some(0),
        Some(other) => other.as_i64(),
    }
}

/// The lines of a logs answer: the string or array at `pointer` (the whole answer when
/// `None`); an array's elements are strings or objects with a `message`.
pub fn lines(answer: &Value, pointer: Option<&str>) -> Vec<String> {
    let Some(found) = find(answer, pointer.unwrap_or("")) else {
        return Vec::new();
    };
    match found {
        Value::String(text) => text.lines().map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .flat_map(|item| match item {
                Value::String(s) => s.lines().map(str::to_string).collect::<Vec<_>>(),
                Value::Object(o) => match o.get("message") {
                    Some(Value::String(m)) => m.lines().map(str::to_string).collect(),
                    _ => vec![item.to_string()],
                },
                other => vec![other.to_string()],
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Fly Machine that ran with `auto_destroy`: its events, newest first.
    fn machine(exit_event: Value) -> Value {
        json!({
            "id": "e2865013b65986", "state": "destroyed",
            "events": [
                {"type": "destroy", "status": "destroyed", "source": "flyd", "timestamp": 4},
                {"type": "exit", "status": "stopped", "source": "flyd", "timestamp": 3,
                 "request": {"exit_event": exit_event}},
                {"type": "start", "status": "started", "source": "flyd", "timestamp": 2},
                {"type": "launch", "status": "created", "source": "user", "timestamp": 1}
            ]
        })
    }

    const FLY: &str = "/events/*/request/exit_event/exit_code";

    #[test]
    fn the_exit_code_is_the_newest_exit_event_s() {
        let status = machine(json!({"exit_code": 3, "requested_stop": false}));
        assert_eq!(exit_code(&status, FLY), Some(3));
    }

    #[test]
    fn a_zero_exit_code_left_out_of_the_exit_event_is_zero() {
        let status = machine(json!({"requested_stop": false, "exited_at": "2026-12-06T07:00:00Z"}));
        assert_eq!(exit_code(&status, FLY), Some(0));
    }

    #[test]
    fn a_stopped_or_killed_process_has_no_exit_code() {
        for event in [
            json!({"requested_stop": true, "signal": 2}),
            json!({"oom_killed": true}),
            json!({"signal": 9}),
        ] {
            assert_eq!(exit_code(&machine(event.clone()), FLY), None, "{event}");
        }
    }

    #[test]
    fn no_exit_event_or_a_missing_plain_field_is_no_exit_code() {
        let status = json!({"state": "stopped", "events": [{"type": "start"}]});
        assert_eq!(exit_code(&status, FLY), None);
        assert_eq!(exit_code(&json!({"state": "exited"}), "/exit_code"), None);
        assert_eq!(exit_code(&json!({"exit_code": 2}), "/exit_code"), Some(2));
    }

    #[test]
    fn log_lines_come_from_a_string_or_an_array() {
        assert_eq!(lines(&json!({"log": "a\nb\n"}), Some("/log")), ["a", "b"]);
        assert_eq!(
            lines(&json!([{"message": "one"}, "two"]), None),
            ["one", "two"]
        );
        assert!(lines(&json!({}), Some("/missing")).is_empty());
    }

    #[test]
    fn a_pointer_reads_escaped_keys_and_indexes() {
        let v = json!({"a/b": [{"c~d": 1}]});
        assert_eq!(find(&v, "/a~1b/0/c~0d"), Some(&json!(1)));
        assert_eq!(find(&v, "no-slash"), None);
    }
}
