//! Where a secret's value comes from, as written in `hoist.toml` ([`SecretTable`]) and as
//! checked ([`SecretSource`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How long a command source may run when its table sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `timeout` accepted: a secret manager that needs longer is not answering.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// One secret's table as written: exactly one of `env`, `file`, `command`.
///
/// ```toml
/// DB_PASSWORD = { env = "PROD_DB_PASSWORD" }
/// DB_PASSWORD = { file = "/run/secrets/db" }
/// DB_PASSWORD = { command = ["op", "read", "op://prod/db/password"], pass_env = ["OP_SERVICE_ACCOUNT_TOKEN"], timeout = "10s" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretTable {
    /// An environment variable of hoist's holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the value; relative to the directory holding `hoist.toml`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A program and its arguments (no shell) that prints the value on stdout.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// With `command`: variables of hoist's environment the command gets besides `PATH`
    /// and `HOME` (a secret manager's address and credentials).
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// With `command`: how long it may run before it is killed (default 30 s).
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write it like \"10s\" or \"1m\""
        ))
    })
}

/// A checked source of a secret's value. It names where the value is, never the value, so
/// it may be shown (by kind and name) in messages and `hoist plan`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable of hoist's.
    Env(String),
    /// A file, its path resolved.
    File(PathBuf),
    /// A program run without a shell, its stdout (one trailing newline removed) the value.
    Command {
        argv: Vec<String>,
        pass_env: Vec<String>,
        #[serde(with = "secs")]
        timeout: Duration,
    },
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

impl SecretSource {
    /// `env`, `file` or `command`: the key that names it in `hoist.toml`.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "file",
            SecretSource::Command { .. } => "command",
        }
    }

    /// Where the value is, for messages: the variable, the file, or the command's program
    /// (only the program: an argument could be anything).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(var) => format!("environment variable {var}"),
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Command { argv, .. } => {
                format!("command `{}`", argv.first().map_or("", String::as_str))
            }
        }
    }

    /// Whether reading it runs nothing (a variable or a file): such sources may be read
    /// by commands that only look, such as `hoist status`.
    pub fn is_local(&self) -> bool {
        !matches!(self, SecretSource::Command { .. })
    }
}

/// Why a [`SecretTable`] is not a source, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// The key of the table at fault (`env`, `command`, `pass_env`, `timeout`), or `None`
    /// for the table as a whole.
    pub key: Option<&'static str>,
    pub message: String,
    pub help: String,
}

impl SourceProblem {
    fn new(key: Option<&'static str>, message: impl Into<String>, help: impl Into<String>) -> Self {
        SourceProblem {
            key,
            message: message.into(),
            help: help.into(),
        }
    }
}

impl SecretTable {
    /// The source this table names, relative file paths resolved against `root`.
    pub fn source(&self, root: &Path) -> Result<SecretSource, SourceProblem> {
        let kinds = [
            self.env.is_some(),
            self.file.is_some(),
            self.command.is_some(),
        ];
        let example = "write one of { env = \"VAR\" }, { file = \"/run/secrets/NAME\" }, { command = [\"op\", \"read\", \"op://vault/item/field\"] }";
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                return Err(SourceProblem::new(
                    None,
                    "the secret names no source",
                    example,
                ));
            }
            1 => {}
            _ => {
                return Err(SourceProblem::new(
                    None,
                    "the secret names more than one source (env, file, command)",
                    example,
                ));
            }
        }
        if self.command.is_none() {
            if !self.pass_env.is_empty() {
                return Err(SourceProblem::new(
                    Some("pass_env"),
                    "`pass_env` applies to a command source only",
                    "remove it, or read the value with `command`",
                ));
            }
            if self.timeout.is_some() {
                return Err(SourceProblem::new(
                    Some("timeout"),
                    "`timeout` applies to a command source only",
                    "remove it",
                ));
            }
        }
        if let Some(var) = &self.env {
            if !is_env_name(var) {
                return Err(SourceProblem::new(
                    Some("env"),
                    format!("`{var}` is not an environment variable name"),
                    "use letters, digits and `_`, not starting with a digit",
                ));
            }
            return Ok(SecretSource::Env(var.clone()));
        }
        if let Some(file) = &self.file {
            if file.as_os_str().is_empty() {
                return Err(SourceProblem::new(
                    Some("file"),
                    "the file is empty",
                    "write the file's path, e.g. \"/run/secrets/db\"",
                ));
            }
            return Ok(SecretSource::File(root.join(file)));
        }
        let argv = self.command.clone().unwrap_or_default();
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(SourceProblem::new(
                Some("command"),
                "the command is empty",
                "write the program and its arguments, e.g. [\"op\", \"read\", \"op://prod/db/password\"]; no shell runs it",
            ));
        }
        for var in &self.pass_env {
            if !is_env_name(var) {
                return Err(SourceProblem::new(
                    Some("pass_env"),
                    format!("`{var}` is not an environment variable name"),
                    "use letters, digits and `_`, not starting with a digit",
                ));
            }
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(SourceProblem::new(
                Some("timeout"),
                format!(
                    "`{}` is not a usable timeout",
                    humantime::format_duration(timeout)
                ),
                "give it more than 0s and at most 10m, e.g. \"10s\"",
            ));
        }
        Ok(SecretSource::Command {
            argv,
            pass_env: self.pass_env.clone(),
            timeout,
        })
    }
}

/// Whether `name` can be an environment variable's name: letters, digits and `_`, not
/// starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> SecretTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn each_kind_is_read() {
        let root = Path::new("/app");
        assert_eq!(
            table("env = \"PROD_DB\"").source(root).unwrap(),
            SecretSource::Env("PROD_DB".into())
        );
        assert_eq!(
            table("file = \"secrets/db\"").source(root).unwrap(),
            SecretSource::File("/app/secrets/db".into())
        );
        assert_eq!(
            table("file = \"/run/secrets/db\"").source(root).unwrap(),
            SecretSource::File("/run/secrets/db".into())
        );
        assert_eq!(
            table("command = [\"op\", \"read\", \"op://x\"]\ntimeout = \"5s\"")
                .source(root)
                .unwrap(),
            SecretSource::Command {
                argv: vec!["op".into(), "read".into(), "op://x".into()],
                pass_env: vec![],
                timeout: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn bad_tables_say_what_to_write() {
        let root = Path::new("/");
        let problem = |t: &str| table(t).source(root).unwrap_err();
        assert_eq!(problem("").key, None);
        assert_eq!(problem("env = \"A\"\nfile = \"/b\"").key, None);
        assert_eq!(problem("env = \"1A\"").key, Some("env"));
        assert_eq!(problem("command = []").key, Some("command"));
        assert_eq!(
            problem("env = \"A\"\ntimeout = \"1s\"").key,
            Some("timeout")
        );
        assert_eq!(
            problem("command = [\"x\"]\ntimeout = \"1h\"").key,
            Some("timeout")
        );
        assert_eq!(
            problem("command = [\"x\"]\npass_env = [\"A-B\"]").key,
            Some("pass_env")
        );
    }
}
