//! The app the server runs for a load run: a git repository whose `hoist.toml` routes only
//! release tags (`semver = "release"`) to staging, a bare clone of it that the deliveries
//! name as their clone URL (so a job really fetches, checks the tag and reads the
//! commit's rules), and the load's prerelease tags, which those rules send nowhere: every
//! job runs the release pipeline up to its routing and deploys nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The variable the fixture's `[server] github_secret_env` names.
pub const SECRET_ENV: &str = "HOIST_LOAD_GITHUB_SECRET";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub commit: String,
}

impl Fixture {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("app")
    }
    pub fn bare(&self) -> PathBuf {
        self.dir.path().join("app.git")
    }
    pub fn state(&self) -> PathBuf {
        self.root().join(".hoist/state.db")
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=load", "-c", "user.email=load@example.com"])
        .args(args)
        .output()
        .context("run git")?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The repository with `tags` load tags on one commit, and its bare clone.
pub fn create(tags: usize, instance_port: u16) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("app");
    std::fs::create_dir_all(&root)?;
    let config = format!(
        "[app]\nname = \"load-bench\"\nimage = \"load-bench\"\nport = 8080\n\n\
         [build]\ndependencies = [\"deps.txt\"]\n\n\
         [server]\ngithub_secret_env = \"{SECRET_ENV}\"\nworkers = 2\nshutdown_grace = \"5s\"\n\n\
         [environments.staging]\ndeploy_from = [{{ semver = \"release\" }}]\n\n\
         [[environments.staging.instances]]\ntenant = \"load\"\nport = {instance_port}\n"
    );
    std::fs::write(root.join("hoist.toml"), config)?;
    std::fs::write(root.join("Dockerfile"), "FROM scratch\n")?;
    std::fs::write(root.join("deps.txt"), "none\n")?;
    std::fs::write(root.join("Dockerfile.base"), "FROM scratch\n")?;
    std::fs::write(root.join(".gitignore"), ".hoist/\n")?;
    git(&root, &["init", "-q"])?;
    git(&root, &["add", "-A"])?;
    git(&root, &["commit", "-q", "-m", "load bench app"])?;
    let commit = git(&root, &["rev-parse", "HEAD"])?;
    for n in 0..tags {
        git(&root, &["tag", &crate::deliveries::tag_name(n)])?;
    }
    let bare = dir.path().join("app.git");
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&root)
        .arg(&bare)
        .output()?;
    if !out.status.success() {
        bail!("git clone --bare: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Fixture { dir, commit })
}

/// `hoist serve` on `port`, its log (HOIST_LOG=warn) in the fixture's directory.
pub fn serve(hoist: &Path, fixture: &Fixture, port: u16, secret: &str) -> anyhow::Result<Child> {
    let log = std::fs::File::create(fixture.dir.path().join("serve.log"))?;
    let child = Command::new(hoist)
        .arg("--config")
        .arg(fixture.root().join("hoist.toml"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(SECRET_ENV, secret)
        .env("HOIST_LOG", "warn")
        .env("HOIST_ACTOR", "load")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("run {}", hoist.display()))?;
    Ok(child)
}

/// Waits for `/healthz` to answer.
pub async fn ready(port: u16) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let started = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("hoist serve did not answer /healthz on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then wait for the exit.
pub fn stop(mut child: Child) -> anyhow::Result<std::process::ExitStatus> {
    // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    Ok(child.wait()?)
}
