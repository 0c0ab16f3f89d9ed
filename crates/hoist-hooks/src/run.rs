//! Running hooks: `sh -c` in the app's directory, in a process group of its own, with an
//! environment built from an allow-list (never hoist's own), combined output kept (the
//! tail), and a timeout that kills the whole group, so `sh -c "npm run migrate"` cannot
//! leave a grandchild behind.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{BASE_ENV, HookCommand, Hooks, Stage, is_credential_name, url_password};

/// Lines of output kept per hook: enough to show why a script failed.
pub const OUTPUT_LINES: usize = 40;
/// Longer lines are cut, so one huge line cannot take the memory.
const LINE_BYTES: usize = 2000;
/// How long to wait for the output pipe to close after the hook exited. A background
/// process the hook started may hold it open; hoist does not wait for it.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// The deploy a hook runs for; becomes its `HOIST_*` environment.
#[derive(Debug, Clone)]
pub struct HookContext {
    /// Working directory: the app's directory (where `hoist.toml` is).
    pub dir: PathBuf,
    pub app: String,
    pub version: String,
    pub environment: String,
    pub actor: String,
    /// The release image, once known (`HOIST_IMAGE`; unset before the build has a name).
    pub image: Option<String>,
    /// How the deploy ended; given to `after_deploy` hooks as `HOIST_OUTCOME`.
    pub outcome: Option<Outcome>,
}

/// How a deploy ended, for `after_deploy` hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

/// Passed values shorter than this are not masked in output: masking `dev` everywhere
/// would hide more than it protects.
const MIN_MASKED: usize = 4;

impl HookContext {
    /// The `HOIST_*` variables a hook of `stage` gets.
    pub fn env(&self, stage: Stage) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("HOIST_APP", self.app.clone()),
            ("HOIST_VERSION", self.version.clone()),
            ("HOIST_ENVIRONMENT", self.environment.clone()),
            ("HOIST_ACTOR", self.actor.clone()),
            ("HOIST_HOOK", stage.as_str().to_string()),
        ];
        if let Some(image) = &self.image {
            env.push(("HOIST_IMAGE", image.clone()));
        }
        if stage == Stage::AfterDeploy
            && let Some(outcome) = self.outcome
        {
            env.push(("HOIST_OUTCOME", outcome.as_str().to_string()));
        }
        env
    }

    /// The whole environment of `hook` run at `stage`, and nothing else: `PATH` and `HOME`
    /// and the variables `hook.pass_env` names, taken from `inherited` (hoist's
    /// environment) when set there; `hook.env`; and the `HOIST_*` variables of
    /// [`HookContext::env`], which win.
    ///
    /// Everything else in hoist's environment stays out, above all hoist's own
    /// credentials: notifier keys, registry passwords, tenant secrets.
    pub fn environment(
        &self,
        stage: Stage,
        hook: &HookCommand,
        inherited: &dyn Fn(&str) -> Option<OsString>,
    ) -> Vec<(String, OsString)> {
        let mut env: Vec<(String, OsString)> = Vec::new();
        let mut set = |name: &str, value: OsString| {
            env.retain(|(n, _)| n != name);
            env.push((name.to_string(), value));
        };
        for name in BASE_ENV
            .iter()
            .copied()
            .chain(hook.pass_env.iter().map(String::as_str))
        {
            if let Some(value) = inherited(name) {
                set(name, value);
            }
        }
        for (name, value) in &hook.env {
            set(name, OsString::from(value));
        }
        for (name, value) in self.env(stage) {
            set(name, OsString::from(value));
        }
        env
    }
}

/// The values passed to `hook` that hoist masks in the output it shows and logs: those of
/// variables named like credentials, and the password of a URL with one.
fn masked_values(hook: &HookCommand, env: &[(String, OsString)]) -> Vec<String> {
    let mut masked: Vec<String> = Vec::new();
    for (name, value) in env {
        if !hook.pass_env.contains(name) {
            continue;
        }
        let Some(value) = value.to_str() else {
            continue;
        };
        if is_credential_name(name) {
            masked.push(value.to_string());
        }
        if let Some(password) = url_password(value) {
            masked.push(password.to_string());
        }
    }
    masked.retain(|v| v.len() >= MIN_MASKED);
    // Longest first, so a value is masked whole before a part of it is.
    masked.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    masked.dedup();
    masked
}

/// What masked values are replaced with in hook output.
pub const MASK: &str = "<redacted>";

/// A hook that ran to a zero exit.
#[derive(Debug, Clone)]
pub struct HookRun {
    pub stage: Stage,
    pub command: String,
    pub elapsed: Duration,
    /// The last [`OUTPUT_LINES`] lines of combined stdout and stderr.
    pub output: Vec<String>,
}

/// A hook that did not succeed. `Display` gives the cause and then the output tail, one
/// indented line each, ready to show to whoever deploys.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{stage} hook `{command}` could not be started: {source}")]
    Spawn {
        stage: Stage,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{stage} hook `{command}` failed with {status}{}", tail(output))]
    Failed {
        stage: Stage,
        command: String,
        /// `exit status 3` or `signal 9 (SIGKILL)`.
        status: String,
        /// The exit code, if it exited rather than died of a signal.
        code: Option<i32>,
        output: Vec<String>,
    },
    #[error(
        "{stage} hook `{command}` timed out after {} and was killed with its process group{}",
        humantime::format_duration(*timeout),
        tail(output)
    )]
    TimedOut {
        stage: Stage,
        command: String,
        timeout: Duration,
        output: Vec<String>,
    },
}

impl HookError {
    /// The output tail of the failed hook (empty if it never started).
    pub fn output(&self) -> &[String] {
        match self {
            HookError::Spawn { .. } => &[],
            HookError::Failed { output, .. } | HookError::TimedOut { output, .. } => output,
        }
    }
}

fn tail(output: &[String]) -> String {
    if output.is_empty() {
        return " (no output)".to_string();
    }
    let mut text = format!("; last {} line(s) of output:", output.len());
    for line in output {
        text.push_str("\n  | ");
        text.push_str(line);
    }
    text
}

impl Hooks {
    /// Runs the commands of `stage` in order and stops at the first that fails.
    ///
    /// For `before_*` stages an error means: abort, and show it. For `after_deploy` the
    /// deploy is over; log the error (and audit it) instead.
    pub async fn run(&self, stage: Stage, ctx: &HookContext) -> Result<Vec<HookRun>, HookError> {
        run_commands(stage, self.commands(stage), ctx).await
    }
}

/// Runs `commands` as hooks of `stage`, in order, stopping at the first failure.
pub async fn run_commands(
    stage: Stage,
    commands: &[HookCommand],
    ctx: &HookContext,
) -> Result<Vec<HookRun>, HookError> {
    let mut runs = Vec::with_capacity(commands.len());
    for command in commands {
        runs.push(run_one(stage, command, ctx).await?);
    }
    Ok(runs)
}

async fn run_one(
    stage: Stage,
    hook: &HookCommand,
    ctx: &HookContext,
) -> Result<HookRun, HookError> {
    let started = Instant::now();
    let spawn_error = |source| HookError::Spawn {
        stage,
        command: hook.run.clone(),
        source,
    };

    // One pipe for stdout and stderr, so the tail interleaves them as the script wrote them.
    let (reader, writer) = std::io::pipe().map_err(spawn_error)?;
    let writer_err = writer.try_clone().map_err(spawn_error)?;
    let environment = ctx.environment(stage, hook, &|name| std::env::var_os(name));
    let masked = masked_values(hook, &environment);
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&hook.run)
        .current_dir(&ctx.dir)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        // A group of its own, so a timeout can kill everything the script started.
        .process_group(0)
        // Nothing of hoist's environment but what `environment` allows.
        .env_clear()
        .envs(environment);
    let spawned = command.spawn();
    // The command holds our copies of the pipe's write end; without dropping it the pipe
    // would never report end-of-file.
    drop(command);
    let mut child = spawned.map_err(spawn_error)?;
    let group = ProcessGroup::new(child.id());
    tracing::debug!(hook = %stage, command = %hook.run, "hook started");

    let output = Arc::new(Mutex::new(Tail::masking(masked)));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    {
        let output = Arc::clone(&output);
        // A plain thread: the read blocks, and tokio's `pipe` needs the `net` feature.
        std::thread::spawn(move || {
            collect(reader, &output, stage);
            let _ = done_tx.send(());
        });
    }

    let waited = tokio::time::timeout(hook.timeout, child.wait()).await;
    let status = match waited {
        Ok(Ok(status)) => Some(status),
        Ok(Err(source)) => {
            group.kill();
            return Err(spawn_error(source));
        }
        Err(_elapsed) => {
            group.kill();
            // SIGKILL cannot be ignored, so this returns promptly; it reaps the shell.
            let _ = child.wait().await;
            None
        }
    };
    group.disarm();
    let _ = tokio::time::timeout(OUTPUT_GRACE, done_rx).await;
    let output = output.lock().map(|tail| tail.lines()).unwrap_or_default();

    match status {
        None => Err(HookError::TimedOut {
            stage,
            command: hook.run.clone(),
            timeout: hook.timeout,
            output,
        }),
        Some(status) if status.success() => Ok(HookRun {
            stage,
            command: hook.run.clone(),
            elapsed: started.elapsed(),
            output,
        }),
        Some(status) => Err(HookError::Failed {
            stage,
            command: hook.run.clone(),
            status: describe(status),
            code: status.code(),
            output,
        }),
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Kills the hook's process group when dropped while armed: on timeout, and also when the
/// future running the hook is dropped (Ctrl-C, an aborted deploy), so no script outlives
/// hoist.
struct ProcessGroup {
    pgid: Option<libc::pid_t>,
}

impl ProcessGroup {
    fn new(pid: Option<u32>) -> Self {
        ProcessGroup {
            pgid: pid.and_then(|p| libc::pid_t::try_from(p).ok()),
        }
    }

    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) with a negative pid signals the process group; it has no
            // memory-safety preconditions. The group id is the hook's shell's pid (it was
            // spawned with process_group(0)); it cannot be reused while the shell is not
            // reaped or any member of the group lives.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }

    fn disarm(mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last lines of a stream, each cut to [`LINE_BYTES`], with masked values replaced.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
    /// Values replaced with [`MASK`], longest first.
    masked: Vec<String>,
}

impl Tail {
    fn masking(masked: Vec<String>) -> Tail {
        Tail {
            masked,
            ..Tail::default()
        }
    }

    fn mask(&self, mut line: String) -> String {
        for value in &self.masked {
            if line.contains(value.as_str()) {
                line = line.replace(value.as_str(), MASK);
            }
        }
        line
    }

    fn push_bytes(&mut self, bytes: &[u8], stage: Stage) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ended) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            let room = LINE_BYTES.saturating_sub(self.partial.len());
            self.partial
                .extend_from_slice(&body[..body.len().min(room)]);
            if ended {
                self.end_line(stage);
            }
        }
    }

    fn end_line(&mut self, stage: Stage) {
        let line = self.mask(
            String::from_utf8_lossy(&self.partial)
                .trim_end_matches('\r')
                .to_string(),
        );
        self.partial.clear();
        tracing::debug!(hook = %stage, "{line}");
        if self.lines.len() == OUTPUT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.lines.iter().cloned().collect();
        if !self.partial.is_empty() {
            if lines.len() == OUTPUT_LINES {
                lines.remove(0);
            }
            lines.push(self.mask(String::from_utf8_lossy(&self.partial).into_owned()));
        }
        lines
    }
}

fn collect(mut reader: std::io::PipeReader, tail: &Mutex<Tail>, stage: Stage) {
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => match tail.lock() {
                Ok(mut tail) => tail.push_bytes(&buf[..n], stage),
                Err(_) => break,
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_cuts_long_ones() {
        let mut tail = Tail::default();
        for i in 0..100 {
            tail.push_bytes(format!("line {i}\r\n").as_bytes(), Stage::BeforeDeploy);
        }
        tail.push_bytes(&vec![b'x'; 10_000], Stage::BeforeDeploy);
        tail.push_bytes(b"\nno newline at the end", Stage::BeforeDeploy);
        let lines = tail.lines();
        assert_eq!(lines.len(), OUTPUT_LINES);
        assert_eq!(lines[OUTPUT_LINES - 3], "line 99");
        assert_eq!(lines[OUTPUT_LINES - 2].len(), LINE_BYTES);
        assert_eq!(lines[OUTPUT_LINES - 1], "no newline at the end");
    }

    #[test]
    fn masked_values_are_replaced_even_across_reads() {
        let mut tail = Tail::masking(vec!["s3cr3t-VALUE-123".into()]);
        tail.push_bytes(b"connecting with s3cr3t-VA", Stage::BeforeDeploy);
        tail.push_bytes(
            b"LUE-123 failed\nlast s3cr3t-VALUE-123",
            Stage::BeforeDeploy,
        );
        assert_eq!(
            tail.lines(),
            ["connecting with <redacted> failed", "last <redacted>"]
        );
    }

    fn context() -> HookContext {
        HookContext {
            dir: PathBuf::from("/app"),
            app: "clinic".into(),
            version: "1.4.2".into(),
            environment: "production".into(),
            actor: "amitav".into(),
            image: None,
            outcome: Some(Outcome::Succeeded),
        }
    }

    #[test]
    fn the_environment_is_the_allow_list_and_nothing_else() {
        let inherited = |name: &str| -> Option<OsString> {
            match name {
                "PATH" => Some("/usr/bin:/bin".into()),
                "HOME" => Some("/home/ci".into()),
                "AWS_PROFILE" => Some("deploy".into()),
                "DB_PASSWORD" => Some("s3cr3t-VALUE-123".into()),
                "DATABASE_URL" => Some("postgres://app:pg-pass-456@db/app".into()),
                "ZULIP_API_KEY" => Some("zulip-key".into()),
                "HOIST_WEBHOOK_SECRET" => Some("whsec_x".into()),
                _ => None,
            }
        };
        let mut hook = HookCommand::new("./migrate.sh");
        hook.pass_env = vec![
            "AWS_PROFILE".into(),
            "DB_PASSWORD".into(),
            "DATABASE_URL".into(),
            "NOT_SET".into(),
        ];
        hook.env.insert("RAILS_ENV".into(), "production".into());
        hook.env.insert("PATH".into(), "/app/bin:/usr/bin".into());
        let env = context().environment(Stage::AfterDeploy, &hook, &inherited);
        let mut names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "AWS_PROFILE",
                "DATABASE_URL",
                "DB_PASSWORD",
                "HOIST_ACTOR",
                "HOIST_APP",
                "HOIST_ENVIRONMENT",
                "HOIST_HOOK",
                "HOIST_OUTCOME",
                "HOIST_VERSION",
                "HOME",
                "PATH",
                "RAILS_ENV",
            ]
        );
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(
            get("PATH"),
            Some("/app/bin:/usr/bin".into()),
            "`env` wins over hoist's"
        );
        assert_eq!(
            masked_values(&hook, &env),
            ["s3cr3t-VALUE-123", "pg-pass-456"],
            "credential-named values and URL passwords are masked, AWS_PROFILE is not"
        );
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut tail = Tail::default();
        tail.push_bytes(b"hel", Stage::BeforeBuild);
        tail.push_bytes(b"lo\nwor", Stage::BeforeBuild);
        tail.push_bytes(b"ld\n", Stage::BeforeBuild);
        assert_eq!(tail.lines(), ["hello", "world"]);
    }
}
