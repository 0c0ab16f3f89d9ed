//! Release tasks: a command (a database migration) run once per tenant with the new
//! release's image, that tenant's env and secrets, before its instance switches.
//!
//! A runtime runs one task ([`crate::Runtime::run_task`]) and reports how it ended; the
//! pipeline decides whether it must run (a task that succeeded for a release and tenant is
//! not run again unless forced), records it, and turns a failure into a failed instance.
//! What is kept of its output is [`redact`]ed first: a task may echo its env.

use std::time::Duration;

use serde::Serialize;

use crate::InstanceSpec;

/// How many of a task's last output lines are kept in the store and shown on failure.
pub const OUTPUT_TAIL: usize = 30;

/// What replaces a secret value in kept output.
pub const MASK: &str = "*****";

/// Values shorter than this are not masked: hiding `1` or `on` everywhere protects nothing.
const MIN_MASKED_LEN: usize = 4;

/// One task to run, as configured for the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    pub name: String,
    /// The program and its arguments, run in the release's image.
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// How a task's run ended, as its runtime saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRun {
    /// The process's exit code; `None` when it was stopped at its timeout.
    pub exit_code: Option<i64>,
    /// Its last output lines (stdout and stderr), oldest first, not yet redacted.
    pub output: Vec<String>,
    pub timed_out: bool,
}

/// A task's outcome, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Succeeded,
    Failed,
    TimedOut,
}

impl TaskOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Succeeded => "succeeded",
            TaskOutcome::Failed => "failed",
            TaskOutcome::TimedOut => "timed_out",
        }
    }

    pub fn parse(text: &str) -> Option<TaskOutcome> {
        [
            TaskOutcome::Succeeded,
            TaskOutcome::Failed,
            TaskOutcome::TimedOut,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl TaskRun {
    pub fn outcome(&self) -> TaskOutcome {
        match (self.timed_out, self.exit_code) {
            (true, _) => TaskOutcome::TimedOut,
            (false, Some(0)) => TaskOutcome::Succeeded,
            _ => TaskOutcome::Failed,
        }
    }
}

/// One run of a task for one tenant, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRunRecord {
    pub deployment: i64,
    pub app: String,
    pub environment: String,
    pub version: String,
    pub tenant: String,
    pub task: String,
    pub outcome: TaskOutcome,
    pub exit_code: Option<i64>,
    pub started_at: String,
    pub duration_ms: u64,
    /// The last output lines, secrets masked.
    pub output: Vec<String>,
}

/// `lines` with every secret value of `instance`, and every env value (tenant env often
/// holds passwords; hoist's logs mask them too), replaced by [`MASK`]. Longer values are
/// replaced first, so a value containing another is masked whole. An env value that is
/// part of the instance's name (`APP_ENV = "staging"`, `TENANT = "northside"` in
/// `clinic-staging-northside`) stays: the name shows it everywhere anyway, and masking it
/// would turn every message naming the instance into `clinic-*****-*****`.
pub fn redact(instance: &InstanceSpec, lines: &[String]) -> Vec<String> {
    let names_the_instance = |value: &str| {
        instance.name.contains(value)
            || [&instance.app, &instance.environment, &instance.tenant]
                .contains(&&value.to_string())
    };
    let mut values: Vec<&str> = instance
        .secrets
        .iter()
        .map(|(_, s)| s.expose().trim())
        .chain(
            instance
                .env
                .values()
                .map(|v| v.trim())
                .filter(|v| !names_the_instance(v)),
        )
        .filter(|v| v.len() >= MIN_MASKED_LEN)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    lines
        .iter()
        .map(|line| {
            values
                .iter()
                .fold(line.clone(), |line, value| line.replace(value, MASK))
        })
        .collect()
}

/// `text` as [`redact`] masks a line: what the state database keeps of an instance's
/// outcome passes through it.
pub fn redact_text(instance: &InstanceSpec, text: &str) -> String {
    redact(instance, std::slice::from_ref(&text.to_string()))
        .pop()
        .unwrap_or_default()
}

/// The last [`OUTPUT_TAIL`] of `lines`.
pub fn tail(mut lines: Vec<String>) -> Vec<String> {
    let skip = lines.len().saturating_sub(OUTPUT_TAIL);
    lines.split_off(skip)
}

/// The name of the one-off workload that runs `task` for `instance`:
/// `<instance name>--task-<task>`.
pub fn workload_name(instance: &InstanceSpec, task: &TaskSpec) -> String {
    format!("{}--task-{}", instance.name, task.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn instance() -> InstanceSpec {
        let mut secrets = hoist_secrets::Secrets::default();
        secrets.insert(
            "DB_PASSWORD",
            hoist_secrets::Secret::new("app", "DB_PASSWORD", "hunter2-secret".into()),
        );
        InstanceSpec {
            app: "app".into(),
            environment: "staging".into(),
            tenant: "t0".into(),
            host: "unix:///var/run/docker.sock".into(),
            name: "app-staging-t0".into(),
            port: 1,
            container_port: 2,
            env: BTreeMap::from([
                ("TENANT".into(), "t0".into()),
                ("DATABASE_URL".into(), "postgres://u:pw@db/t0".into()),
            ]),
            health_path: "/".into(),
            version_path: None,
            secrets,
            volumes: Vec::new(),
        }
    }

    #[test]
    fn secret_and_env_values_are_masked_and_short_values_are_not() {
        let lines = vec![
            "password=hunter2-secret".to_string(),
            "connecting to postgres://u:pw@db/t0 for t0".to_string(),
        ];
        assert_eq!(
            redact(&instance(), &lines),
            ["password=*****", "connecting to ***** for t0"]
        );
    }

    #[test]
    fn env_values_that_name_the_instance_stay_but_a_secret_never_does() {
        let mut spec = instance();
        spec.env.insert("APP_ENV".into(), "staging".into());
        spec.env.insert("REGION".into(), "app-staging".into());
        spec.env.insert("API_TOKEN".into(), "tok-12345".into());
        // A secret whose value happens to be in the name is masked all the same.
        spec.secrets.insert(
            "WEAK",
            hoist_secrets::Secret::new("app", "WEAK", "staging-t0".into()),
        );
        let lines = vec![
            "new container app-staging-t0 in staging".to_string(),
            "app-staging".to_string(),
            "token tok-12345 refused".to_string(),
        ];
        assert_eq!(
            redact(&spec, &lines),
            [
                "new container app-***** in staging",
                "app-staging",
                "token ***** refused"
            ]
        );
    }

    #[test]
    fn the_outcome_follows_the_exit_code_and_the_timeout() {
        let run = |exit_code, timed_out| TaskRun {
            exit_code,
            output: vec![],
            timed_out,
        };
        assert_eq!(run(Some(0), false).outcome(), TaskOutcome::Succeeded);
        assert_eq!(run(Some(3), false).outcome(), TaskOutcome::Failed);
        assert_eq!(run(None, true).outcome(), TaskOutcome::TimedOut);
        for o in [
            TaskOutcome::Succeeded,
            TaskOutcome::Failed,
            TaskOutcome::TimedOut,
        ] {
            assert_eq!(TaskOutcome::parse(o.as_str()), Some(o));
        }
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let lines: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let kept = tail(lines);
        assert_eq!(kept.len(), OUTPUT_TAIL);
        assert_eq!(kept.last().map(String::as_str), Some("99"));
    }
}
