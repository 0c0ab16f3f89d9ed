//! Reading secrets' values: a variable, a file, or a command's output. Each failure names
//! the secret, the tenant and the source, never a value.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{Secret, SecretSource};

/// Variables every command source gets from hoist's environment, besides its `pass_env`:
/// as for hooks, hoist's own credentials never reach it unless named.
pub const COMMAND_ENV: [&str; 2] = ["PATH", "HOME"];

/// How much of a failing command's stderr its error shows (its last line, cut).
const STDERR_SHOWN: usize = 200;

static OBSERVER: OnceLock<fn(&str)> = OnceLock::new();

/// How a resolver reads hoist's environment (a fixed map in tests).
type Lookup = Box<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// Has `observer` called with every value read from now on, before it is used: the CLI
/// registers it so its log writer masks the value. Set once per process; later calls are
/// ignored.
pub fn set_value_observer(observer: fn(&str)) {
    let _ = OBSERVER.set(observer);
}

/// A secret that could not be read. Its text names the secret, the tenant and the source
/// (kind and place) and says what went wrong; it never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} of tenant {tenant} ({kind} source, {place}): {problem}")]
pub struct SecretError {
    /// The variable the app gets (`DB_PASSWORD`).
    pub name: String,
    pub tenant: String,
    /// `env`, `file` or `command`.
    pub kind: &'static str,
    /// [`SecretSource::describe`].
    pub place: String,
    pub problem: String,
}

/// Reads secrets for one deploy. A source shared by several instances (an environment's
/// secret) is read once.
pub struct Resolver {
    app: String,
    /// Where command sources run: the directory holding `hoist.toml`.
    dir: PathBuf,
    read: HashMap<SecretSource, String>,
    lookup: Lookup,
}

impl Resolver {
    /// A resolver for `app`'s secrets that reads hoist's own environment.
    pub fn new(app: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Resolver {
            app: app.into(),
            dir: dir.into(),
            read: HashMap::new(),
            lookup: Box::new(|name| std::env::var_os(name)),
        }
    }

    /// The value of secret `name` of `tenant` from `source`, read (or taken from an
    /// earlier read of the same source).
    pub async fn resolve(
        &mut self,
        name: &str,
        tenant: &str,
        source: &SecretSource,
    ) -> Result<Secret, SecretError> {
        let value = match self.read.get(source) {
            Some(value) => value.clone(),
            None => {
                let value = self
                    .read_source(source)
                    .await
                    .map_err(|problem| SecretError {
                        name: name.to_string(),
                        tenant: tenant.to_string(),
                        kind: source.kind(),
                        place: source.describe(),
                        problem,
                    })?;
                if let Some(observer) = OBSERVER.get() {
                    observer(&value);
                }
                self.read.insert(source.clone(), value.clone());
                value
            }
        };
        Ok(Secret::new(&self.app, name, value))
    }

    /// Like [`Resolver::resolve`] for sources that run nothing (variables and files);
    /// `None` for a command, which only a deploy runs.
    pub async fn resolve_local(
        &mut self,
        name: &str,
        tenant: &str,
        source: &SecretSource,
    ) -> Option<Result<Secret, SecretError>> {
        if !source.is_local() {
            return None;
        }
        Some(self.resolve(name, tenant, source).await)
    }

    async fn read_source(&self, source: &SecretSource) -> Result<String, String> {
        let value = match source {
            SecretSource::Env(var) => match (self.lookup)(var) {
                None => return Err("the variable is not set".to_string()),
                Some(value) => value
                    .into_string()
                    .map_err(|_| "the variable's value is not UTF-8".to_string())?,
            },
            SecretSource::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| format!("cannot read the file: {}", io_reason(&e)))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| "the file is not UTF-8 text".to_string())?;
                strip_newline(text)
            }
            SecretSource::Command {
                argv,
                pass_env,
                timeout,
            } => self.run(argv, pass_env, *timeout).await?,
        };
        if value.is_empty() {
            return Err("the value is empty".to_string());
        }
        Ok(value)
    }

    /// Runs a command source: no shell, no stdin, `PATH`, `HOME` and its `pass_env` only,
    /// in its own process group, killed with everything it started after `timeout`.
    async fn run(
        &self,
        argv: &[String],
        pass_env: &[String],
        timeout: Duration,
    ) -> Result<String, String> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| "the command is empty".to_string())?;
        let environment: Vec<(String, OsString)> = COMMAND_ENV
            .iter()
            .map(|s| s.to_string())
            .chain(pass_env.iter().cloned())
            .filter_map(|name| (self.lookup)(&name).map(|v| (name, v)))
            .collect();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start it: {}", io_reason(&e)))?;
        let group = child.id().and_then(|p| libc::pid_t::try_from(p).ok());
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(format!("cannot read its output: {}", io_reason(&e))),
            Err(_) => {
                if let Some(pgid) = group {
                    // SAFETY: kill(2) on the command's own process group (spawned with
                    // process_group(0), so its id is the command's pid, not yet reaped).
                    unsafe {
                        libc::kill(-pgid, libc::SIGKILL);
                    }
                }
                return Err(format!(
                    "the command did not finish within {}; it was killed",
                    humantime::format_duration(timeout)
                ));
            }
        };
        if !output.status.success() {
            let status = output
                .status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("exit status {c}"));
            // Its last stderr line says why (`not signed in`); stdout is never shown.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(match last {
                Some(line) => format!(
                    "the command failed with {status}: {}",
                    line.trim().chars().take(STDERR_SHOWN).collect::<String>()
                ),
                None => format!("the command failed with {status}"),
            });
        }
        let text = String::from_utf8(output.stdout)
            .map_err(|_| "the command's output is not UTF-8 text".to_string())?;
        Ok(strip_newline(text))
    }
}

/// Secret files and `op read` end their value with one newline; it is not part of it.
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// An I/O error's reason without the path (the message names the file already).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "pl4nted-SECRET-value-42";

    fn resolver(vars: &'static [(&'static str, &'static str)]) -> Resolver {
        let mut r = Resolver::new("clinic", std::env::temp_dir());
        r.lookup = Box::new(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
                .or_else(|| (name == "PATH").then(|| std::env::var_os("PATH")).flatten())
        });
        r
    }

    fn command(script: &str, timeout: Duration) -> SecretSource {
        SecretSource::Command {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            pass_env: vec![],
            timeout,
        }
    }

    /// The error names the secret, the tenant and the source kind, and holds no value.
    fn assert_names(e: &SecretError, kind: &str) {
        let text = e.to_string();
        assert!(text.contains("DB_PASSWORD"), "{text}");
        assert!(text.contains("northside"), "{text}");
        assert!(text.contains(&format!("{kind} source")), "{text}");
        assert!(!text.contains(VALUE), "{text}");
        assert!(!format!("{e:?}").contains(VALUE), "{e:?}");
    }

    #[tokio::test]
    async fn a_missing_variable_names_the_secret() {
        let mut r = resolver(&[]);
        let e = r
            .resolve(
                "DB_PASSWORD",
                "northside",
                &SecretSource::Env("PROD_DB".into()),
            )
            .await
            .unwrap_err();
        assert_names(&e, "env");
        assert!(
            e.to_string().contains("environment variable PROD_DB"),
            "{e}"
        );
        assert!(e.to_string().contains("not set"), "{e}");
    }

    #[tokio::test]
    async fn a_variable_is_read_and_fingerprinted() {
        let mut r = resolver(&[("PROD_DB", VALUE)]);
        let secret = r
            .resolve(
                "DB_PASSWORD",
                "northside",
                &SecretSource::Env("PROD_DB".into()),
            )
            .await
            .unwrap();
        assert_eq!(secret.expose(), VALUE);
        assert_eq!(
            secret.fingerprint(),
            crate::fingerprint("clinic", "DB_PASSWORD", VALUE)
        );
    }

    #[tokio::test]
    async fn a_missing_file_names_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = resolver(&[]);
        let e = r
            .resolve(
                "DB_PASSWORD",
                "northside",
                &SecretSource::File(dir.path().join("db")),
            )
            .await
            .unwrap_err();
        assert_names(&e, "file");
        assert!(e.to_string().contains("not found"), "{e}");
    }

    #[tokio::test]
    async fn a_file_loses_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), format!("{VALUE}\n")).unwrap();
        let mut r = resolver(&[]);
        let secret = r
            .resolve(
                "DB_PASSWORD",
                "n",
                &SecretSource::File(dir.path().join("db")),
            )
            .await
            .unwrap();
        assert_eq!(secret.expose(), VALUE);
    }

    #[tokio::test]
    async fn a_failing_command_names_the_secret_but_not_what_it_printed() {
        let mut r = resolver(&[]);
        let source = command(
            &format!("echo {VALUE}; echo 'not signed in' >&2; exit 3"),
            Duration::from_secs(10),
        );
        let e = r
            .resolve("DB_PASSWORD", "northside", &source)
            .await
            .unwrap_err();
        assert_names(&e, "command");
        assert!(e.to_string().contains("exit status 3"), "{e}");
        assert!(e.to_string().contains("not signed in"), "{e}");
    }

    #[tokio::test]
    async fn a_command_that_hangs_is_killed_at_its_timeout() {
        let mut r = resolver(&[]);
        let source = command(
            &format!("echo {VALUE}; sleep 30"),
            Duration::from_millis(300),
        );
        let started = std::time::Instant::now();
        let e = r
            .resolve("DB_PASSWORD", "northside", &source)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_names(&e, "command");
        assert!(e.to_string().contains("did not finish within 300ms"), "{e}");
    }

    #[tokio::test]
    async fn a_command_gets_a_minimal_environment() {
        let mut r = resolver(&[
            ("HOIST_WEBHOOK_SECRET", "hidden"),
            ("VAULT_ADDR", "http://v"),
        ]);
        let source = SecretSource::Command {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "printf '%s|%s' \"${HOIST_WEBHOOK_SECRET:-unset}\" \"$VAULT_ADDR\"".into(),
            ],
            pass_env: vec!["VAULT_ADDR".into()],
            timeout: Duration::from_secs(10),
        };
        let secret = r.resolve("X_TOKEN", "n", &source).await.unwrap();
        assert_eq!(secret.expose(), "unset|http://v");
    }

    #[tokio::test]
    async fn an_empty_value_is_refused_and_a_source_is_read_once() {
        let mut r = resolver(&[("EMPTY", "")]);
        let e = r
            .resolve(
                "DB_PASSWORD",
                "northside",
                &SecretSource::Env("EMPTY".into()),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("count");
        let source = command(
            &format!("echo x >> {}; echo {VALUE}", counter.display()),
            Duration::from_secs(10),
        );
        for tenant in ["a", "b", "c"] {
            r.resolve("DB_PASSWORD", tenant, &source).await.unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&counter).unwrap().lines().count(),
            1
        );
    }
}
