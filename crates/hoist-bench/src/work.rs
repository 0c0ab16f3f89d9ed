//! The benchmark's working copy of the example and the operations it times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hoist_build::DockerBuilder;
use hoist_config::LOCAL_DOCKER_HOST;
use hoist_core::backend::{BuildContext, BuildRequest};
use hoist_core::pipeline::{Deployer, LockWait};
use hoist_core::store::DeploymentKind;
use hoist_core::{Builder, EventSink, Release};

const ENVIRONMENT: &str = "bench";
const PORTS: [u16; 3] = [18301, 18302, 18303];
const TENANTS: [&str; 3] = ["northside", "riverside", "lakeside"];

/// (b') and (e'): the same three tenants through the proxy switch (issue 10), on ports and
/// names of their own.
pub const PROXY_ENVIRONMENT: &str = "bench-proxy";
const PROXY_PORTS: [u16; 3] = [20431, 20432, 20433];
/// (i): a fleet of 30 tenants through the proxy, 6 at a time.
pub const FLEET_ENVIRONMENT: &str = "bench-fleet";
pub const FLEET_TENANTS: u16 = 30;
pub const FLEET_CONCURRENCY: u16 = 6;
const FLEET_FIRST_PORT: u16 = 20436;
/// The Caddy admin API the proxy environments use; hoist starts Caddy there.
const PROXY_ADMIN: &str = "127.0.0.1:20420";

/// The proxy environments' runtime table.
fn proxy_runtime(environment: &str) -> String {
    format!(
        "\n[environments.{environment}.runtime]\nkind = \"docker\"\nswitch = \"proxy\"\nproxy_admin = \"{PROXY_ADMIN}\"\n"
    )
}

/// The (b'), (e') and (i) environments.
fn proxy_environments() -> String {
    let mut config = format!(
        "\n[environments.{PROXY_ENVIRONMENT}]\nbind = \"127.0.0.1\"\nrollout = {{ concurrency = 3, health_timeout = \"60s\" }}\n"
    );
    for (tenant, port) in TENANTS.iter().zip(PROXY_PORTS) {
        config.push_str(&format!(
            "\n[[environments.{PROXY_ENVIRONMENT}.instances]]\ntenant = \"{tenant}\"\nport = {port}\ncontainer = \"hoist-pxy-bench-{tenant}\"\nenv = {{ CLINIC_TENANT = \"{tenant}\" }}\n"
        ));
    }
    config.push_str(&proxy_runtime(PROXY_ENVIRONMENT));
    config.push_str(&format!(
        "\n[environments.{FLEET_ENVIRONMENT}]\nbind = \"127.0.0.1\"\nrollout = {{ concurrency = {FLEET_CONCURRENCY}, health_timeout = \"120s\" }}\n"
    ));
    for n in 0..FLEET_TENANTS {
        config.push_str(&format!(
            "\n[[environments.{FLEET_ENVIRONMENT}.instances]]\ntenant = \"t{n:02}\"\nport = {}\ncontainer = \"hoist-pxy-fleet-t{n:02}\"\nenv = {{ CLINIC_TENANT = \"t{n:02}\" }}\n",
            FLEET_FIRST_PORT + n
        ));
    }
    config.push_str(&proxy_runtime(FLEET_ENVIRONMENT));
    config
}

/// A fresh git copy of the example whose hoist.toml is the example's `[app]` and
/// `[build]` plus environments of the benchmark's own; `hoist` runs in it.
pub struct WorkingCopy {
    dir: tempfile::TempDir,
    /// hoist's `XDG_STATE_HOME`: the Caddy it starts keeps its saved config here, so the
    /// benchmark's proxy servers go with the benchmark instead of coming back (claiming
    /// their ports) the next time a Caddy on the same admin port is started.
    state: tempfile::TempDir,
    hoist: PathBuf,
    changes: std::cell::Cell<u32>,
}

impl WorkingCopy {
    /// Copies `example` (with its wheelhouse) to a temporary directory named `prefix...`,
    /// appends `config` to the head of its hoist.toml and commits it all.
    pub fn create(
        example: &Path,
        hoist: &Path,
        prefix: &str,
        config: &str,
    ) -> anyhow::Result<WorkingCopy> {
        if !example.join("wheelhouse").is_dir() {
            bail!(
                "{} has no wheelhouse/; run examples/clinic/setup.sh first",
                example.display()
            );
        }
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        copy_tree(example, dir.path())?;
        let original = std::fs::read_to_string(example.join("hoist.toml"))?;
        let head = original
            .split("\n[environments.")
            .next()
            .unwrap_or(&original);
        std::fs::write(dir.path().join("hoist.toml"), format!("{head}{config}"))?;
        git(dir.path(), &["init", "-q"])?;
        git(dir.path(), &["add", "-A"])?;
        git(dir.path(), &["commit", "-q", "-m", "example"])?;
        Ok(WorkingCopy {
            dir,
            state: tempfile::Builder::new()
                .prefix("hoist-bench-state-")
                .tempdir()?,
            hoist: hoist.to_path_buf(),
            changes: 0.into(),
        })
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A code-only change: one module of the app gets new content.
    pub fn change_code(&self) -> anyhow::Result<()> {
        let n = self.changes.get() + 1;
        self.changes.set(n);
        std::fs::write(
            self.root().join("clinic/bench_marker.py"),
            format!("# benchmark code change {n}\nCHANGE = {n}\n"),
        )?;
        Ok(())
    }

    /// Changes code, commits and tags it as `tag`.
    pub fn commit_code_change(&self, tag: &str) -> anyhow::Result<()> {
        self.change_code()?;
        git(self.root(), &["add", "-A"])?;
        git(self.root(), &["commit", "-q", "-m", tag])?;
        git(self.root(), &["tag", tag])?;
        Ok(())
    }

    /// Runs the hoist binary in the working copy; returns wall time and peak RSS (KiB).
    ///
    /// The peak is hoist's own, as GNU time reports it (`/usr/bin/time`, Debian's `time`).
    /// Not the `wait4` of a child this process starts: Linux gives a child the peak of the
    /// address space it was spawned from, so that figure is at least this benchmark's own
    /// RSS (over 100 MiB after the in-process builds of (a) and (c)). Without GNU time,
    /// it is that upper bound, and says so.
    pub fn hoist(&self, args: &[&str]) -> anyhow::Result<(Duration, u64)> {
        let report = self.state.path().join("hoist-maxrss");
        let mut command = if Path::new(GNU_TIME).exists() {
            let mut c = Command::new(GNU_TIME);
            c.args(["--format", "%M", "--output"])
                .arg(&report)
                .arg(&self.hoist);
            c
        } else {
            Command::new(&self.hoist)
        };
        let started = Instant::now();
        let child = command
            .current_dir(self.root())
            .env("XDG_STATE_HOME", self.state.path())
            .args(["--plain", "--actor", "bench"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.hoist.display()))?;
        let (status, upper_bound) = wait_with_rusage(child)?;
        let took = started.elapsed();
        if !status.0 {
            bail!("hoist {args:?} failed:\n{}", status.1);
        }
        let rss = match std::fs::read_to_string(&report) {
            Ok(text) => {
                let _ = std::fs::remove_file(&report);
                text.lines()
                    .last()
                    .and_then(|l| l.trim().parse().ok())
                    .with_context(|| format!("{GNU_TIME} wrote no peak RSS: {text:?}"))?
            }
            Err(_) => {
                eprintln!(
                    "bench: {GNU_TIME} not found (Debian's `time`): the peak RSS is an upper bound"
                );
                upper_bound
            }
        };
        Ok((took, rss))
    }
}

pub struct Bench {
    copy: WorkingCopy,
    deployer: Deployer,
    builder: DockerBuilder,
}

impl Bench {
    /// Copies the example (with its wheelhouse) to a fresh git repository and writes a
    /// `bench` environment with three tenants on ports of its own.
    pub async fn prepare(example: &Path, hoist: &Path) -> anyhow::Result<Bench> {
        let mut config = format!(
            "\n[environments.{ENVIRONMENT}]\nrollout = {{ concurrency = 3, health_timeout = \"60s\" }}\n"
        );
        for (tenant, port) in TENANTS.iter().zip(PORTS) {
            config.push_str(&format!(
                "\n[[environments.{ENVIRONMENT}.instances]]\ntenant = \"{tenant}\"\nport = {port}\ncontainer = \"clinic-bench-{tenant}\"\nenv = {{ CLINIC_TENANT = \"{tenant}\" }}\n"
            ));
        }
        config.push_str(&proxy_environments());
        let copy = WorkingCopy::create(example, hoist, "hoist-bench-", &config)?;
        let dir = copy.dir.path();

        let config = Arc::new(hoist_config::load(&dir.join("hoist.toml"))?);
        let builder = DockerBuilder::connect(LOCAL_DOCKER_HOST).await?;
        let overrides = hoist_app::Overrides {
            in_memory_state: true,
            actor: Some("bench".into()),
            notifications: hoist_app::Notifications::Off,
            ..Default::default()
        };
        let deployer = hoist_app::deployer(config, &overrides, EventSink::discard()).await?;
        Ok(Bench {
            copy,
            deployer,
            builder,
        })
    }

    pub fn root(&self) -> &Path {
        self.copy.root()
    }

    pub fn tenants(&self) -> usize {
        TENANTS.len()
    }

    fn change_code(&self) -> anyhow::Result<()> {
        self.copy.change_code()
    }

    /// Changes code, commits and tags it as `tag`.
    pub fn commit_code_change(&self, tag: &str) -> anyhow::Result<()> {
        self.copy.commit_code_change(tag)
    }

    /// (a) or (c): change code, build `Dockerfile.single`, roll it out. Returns the time.
    pub async fn single_dockerfile_deploy(
        &self,
        version: &str,
        no_cache: bool,
    ) -> anyhow::Result<Duration> {
        self.change_code()?;
        let started = Instant::now();
        // The whole directory, wheelhouse included, as Dockerfile.single expects.
        let files = walkdir::WalkDir::new(self.root())
            .into_iter()
            .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".hoist")))
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                e.path()
                    .strip_prefix(self.root())
                    .ok()
                    .map(Path::to_path_buf)
            })
            .filter(|p| p != Path::new(".dockerignore"))
            .collect();
        let tag = format!("hoist-bench/clinic-single:{version}");
        let request = BuildRequest {
            stage: hoist_core::Stage::AppImage,
            context: BuildContext::Files {
                root: self.root().to_path_buf(),
                files,
            },
            dockerfile: self.root().join("Dockerfile.single"),
            tag: tag.clone(),
            args: BTreeMap::from([("HOIST_VERSION".to_string(), version.to_string())]),
            labels: BTreeMap::new(),
            platform: hoist_config::default_platform(),
            no_cache,
        };
        let image_id = self
            .builder
            .build(&request, &EventSink::discard())
            .await
            .map_err(|e| anyhow::anyhow!("{e}: {:?}", e.log_tail))?;
        let release = Release {
            app: "clinic".into(),
            version: version.into(),
            commit: "bench".into(),
            image: tag,
            image_id,
            digest: None,
            fingerprint: String::new(),
            base_image: String::new(),
            created_by: "bench".into(),
            created_at: jiff::Timestamp::now().to_string(),
        };
        let lock = self.deployer.lock(ENVIRONMENT, LockWait::Refuse).await?;
        let report = self
            .deployer
            .roll_out(ENVIRONMENT, &release, DeploymentKind::Deploy, &lock)
            .await?;
        if !report.succeeded() {
            bail!("rollout of {version} failed: {}", report.message);
        }
        Ok(started.elapsed())
    }

    /// Runs the hoist binary in the working copy; returns wall time and peak RSS (KiB).
    pub fn hoist(&self, args: &[&str]) -> anyhow::Result<(Duration, u64)> {
        self.copy.hoist(args)
    }

    /// Removes the benchmark's containers, and stops the Caddy the proxy rows started.
    pub async fn cleanup(&self) {
        for tenant in TENANTS {
            let _ = Command::new("docker")
                .args(["rm", "-f", &format!("clinic-bench-{tenant}")])
                .output();
        }
        let proxied = Command::new("docker")
            .args(["ps", "-aq", "--filter", "name=^hoist-pxy-"])
            .output();
        if let Ok(out) = proxied {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        // Caddy's admin API: POST /stop ends it gracefully.
        let _ = stop_caddy(PROXY_ADMIN);
    }
}

/// GNU time, which reports the peak resident set of the one command it runs.
const GNU_TIME: &str = "/usr/bin/time";

/// Waits for `child` and returns (success, stderr) and its peak resident set in KiB.
fn wait_with_rusage(mut child: std::process::Child) -> anyhow::Result<((bool, String), u64)> {
    use std::io::Read;
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut stderr)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if rc < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok(((ok, stderr), usage.ru_maxrss.max(0) as u64))
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".hoist" | "__pycache__")))
    {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from)?;
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `POST /stop` to a Caddy admin API (plain HTTP/1.1, no client needed).
fn stop_caddy(admin: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin)?;
    write!(
        stream,
        "POST /stop HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    stream.read_to_end(&mut Vec::new())?;
    Ok(())
}
