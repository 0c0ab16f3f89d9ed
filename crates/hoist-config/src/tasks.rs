//! `[[environments.NAME.tasks]]`: release tasks, run once per tenant with the new
//! release's image before the tenant's instance switches (database migrations).
//!
//! ```toml
//! [[environments.production.tasks]]
//! name = "migrate"                                  # a name: letters, digits, `-`, `_`
//! command = ["python", "manage.py", "migrate"]      # run in the new image, not a shell line
//! timeout = "5m"                                    # default 5m
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// How long a task may run when `timeout` is not set.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(300);

/// One `[[environments.NAME.tasks]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTable {
    pub name: Spanned<String>,
    pub command: Spanned<Vec<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

/// A release task, checked and span-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// Unique within its environment; names the task in history and `--force-tasks`.
    pub name: String,
    /// The image's command line for the task (argv, no shell).
    pub command: Vec<String>,
    /// How long the task may run before it is stopped and counted as failed.
    pub timeout: Duration,
}

fn timeout_of(table: &TaskTable) -> Result<Duration, String> {
    let Some(text) = &table.timeout else {
        return Ok(DEFAULT_TASK_TIMEOUT);
    };
    let timeout = humantime::parse_duration(text.get_ref()).map_err(|e| {
        format!(
            "`{}` is not a duration ({e}); write it like \"30s\" or \"5m\"",
            text.get_ref()
        )
    })?;
    if timeout.is_zero() {
        return Err("a timeout of 0 would stop every task at once".into());
    }
    Ok(timeout)
}

impl TaskTable {
    /// The task's settings; validation has refused a bad timeout already.
    pub(crate) fn settings(&self) -> TaskSettings {
        TaskSettings {
            name: self.name.get_ref().clone(),
            command: self.command.get_ref().clone(),
            timeout: timeout_of(self).unwrap_or(DEFAULT_TASK_TIMEOUT),
        }
    }
}

/// Adds a problem for each task of `environment` that cannot run: a bad or repeated name,
/// an empty command, a bad timeout.
pub(crate) fn validate(
    environment: &str,
    tasks: &[Spanned<TaskTable>],
    path: &std::path::Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, task) in tasks.iter().enumerate() {
        let key = format!("environments.{environment}.tasks[{i}]");
        let task = task.get_ref();
        let mut fail = |span, field: &str, message: String, help: &str| {
            errors.push(ConfigError::invalid(
                path,
                text,
                span,
                format!("{key}.{field}"),
                message,
                Some(help.to_string()),
            ))
        };
        let name = task.name.get_ref();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            fail(
                task.name.span(),
                "name",
                format!("`{name}` is not a valid task name"),
                "use letters, digits, `-` and `_`, e.g. \"migrate\"",
            );
        } else if !seen.insert(name.clone()) {
            fail(
                task.name.span(),
                "name",
                format!("a second task is named `{name}`"),
                "give each task of an environment its own name",
            );
        }
        if task.command.get_ref().is_empty() || task.command.get_ref()[0].trim().is_empty() {
            fail(
                task.command.span(),
                "command",
                "the command is empty".into(),
                "write the program and its arguments, e.g. [\"python\", \"manage.py\", \"migrate\"]",
            );
        }
        if let (Some(written), Err(problem)) = (&task.timeout, timeout_of(task)) {
            fail(
                written.span(),
                "timeout",
                problem,
                "write a duration like \"30s\" or \"5m\" (the default is 5m)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(toml_text: &str) -> (Vec<Spanned<TaskTable>>, Vec<String>) {
        #[derive(Deserialize)]
        struct Doc {
            tasks: Vec<Spanned<TaskTable>>,
        }
        let doc: Doc = toml::from_str(toml_text).expect("parses");
        let mut errors = Vec::new();
        validate(
            "production",
            &doc.tasks,
            std::path::Path::new("hoist.toml"),
            toml_text,
            &mut errors,
        );
        (doc.tasks, errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_task_gets_its_command_and_the_default_timeout() {
        let (tasks, errors) =
            tasks("[[tasks]]\nname = \"migrate\"\ncommand = [\"sh\", \"-c\", \"true\"]\n");
        assert!(errors.is_empty(), "{errors:?}");
        let settings = tasks[0].get_ref().settings();
        assert_eq!(settings.name, "migrate");
        assert_eq!(settings.command, ["sh", "-c", "true"]);
        assert_eq!(settings.timeout, DEFAULT_TASK_TIMEOUT);
    }

    #[test]
    fn bad_names_commands_and_timeouts_are_refused_with_their_line() {
        let (_, errors) = tasks(
            "[[tasks]]\nname = \"mi grate\"\ncommand = [\"a\"]\n\
             [[tasks]]\nname = \"seed\"\ncommand = []\n\
             [[tasks]]\nname = \"seed\"\ncommand = [\"b\"]\ntimeout = \"soon\"\n",
        );
        let all = errors.join("\n");
        assert!(all.contains("hoist.toml:2"), "{all}");
        assert!(all.contains("`mi grate` is not a valid task name"), "{all}");
        assert!(all.contains("tasks[1].command"), "{all}");
        assert!(all.contains("a second task is named `seed`"), "{all}");
        assert!(all.contains("`soon` is not a duration"), "{all}");
        assert!(all.contains("hoist.toml:10"), "{all}");
    }
}
