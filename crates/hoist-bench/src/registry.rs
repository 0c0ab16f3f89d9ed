//! The registry rows: a loopback `docker-registry` behind a counting TCP proxy, a working
//! copy of the example whose `[registry]` is that proxy, and
//!
//! - (f) a code-only change written as a layer and pushed without the engine
//!   (`hoist_build::push_layer_image`, what `hoist build` does for a layer build);
//! - (g) the same change through the engine: `docker build` (warm cache) of the same app
//!   Dockerfile on the same base, then `docker push` to the same registry;
//! - (h) `hoist deploy` of a code-only change to three tenants through the registry.
//!
//! Bytes uploaded are what crossed the proxy towards the registry (requests, headers
//! included), so both (f) and (g) are counted the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::work::WorkingCopy;

/// The registry and the proxy in front of it (this benchmark's ports).
const REGISTRY_PORT: u16 = 20880;
const PROXY_PORT: u16 = 20881;
pub const ENVIRONMENT: &str = "bench-reg";
const PORTS: [u16; 3] = [20882, 20883, 20884];
const TENANTS: [&str; 3] = ["northside", "riverside", "lakeside"];
const REPOSITORY: &str = "regp-bench/clinic";

/// One run of (f) or (g).
#[derive(Debug, Clone, Serialize)]
pub struct PushRun {
    pub seconds: f64,
    /// Bytes the client sent to the registry (the proxy's count).
    pub bytes_sent: u64,
}

/// A loopback registry with a counting proxy, and the registry working copy.
pub struct RegistryBench {
    registry: Child,
    _registry_dir: tempfile::TempDir,
    sent: Arc<AtomicU64>,
    copy: WorkingCopy,
    base: String,
}

impl Drop for RegistryBench {
    fn drop(&mut self) {
        let _ = self.registry.kill();
        let _ = self.registry.wait();
    }
}

impl RegistryBench {
    /// Starts the registry and proxy, makes the working copy and deploys a first release
    /// (untimed: the base is built and pushed, or found).
    pub async fn prepare(example: &Path, hoist: &Path) -> anyhow::Result<RegistryBench> {
        let registry_dir = tempfile::Builder::new().prefix("regp-bench-").tempdir()?;
        let config = registry_dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{REGISTRY_PORT}\n",
                registry_dir.path().join("data").display()
            ),
        )?;
        let registry = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(
                registry_dir.path().join("registry.log"),
            )?)
            .spawn()
            .context("docker-registry (scripts/setup-machine.sh installs it)")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", REGISTRY_PORT)).is_err() {
            if Instant::now() > deadline {
                bail!("docker-registry did not listen on {REGISTRY_PORT}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sent = Arc::new(AtomicU64::new(0));
        start_counting_proxy(PROXY_PORT, REGISTRY_PORT, sent.clone()).await?;

        let mut config = format!(
            "\n[registry]\nimage = \"127.0.0.1:{PROXY_PORT}/{REPOSITORY}\"\ninsecure = true\n\n[environments.{ENVIRONMENT}]\nbind = \"127.0.0.1\"\nrollout = {{ concurrency = 3, health_timeout = \"60s\" }}\n"
        );
        for (tenant, port) in TENANTS.iter().zip(PORTS) {
            config.push_str(&format!(
                "\n[[environments.{ENVIRONMENT}.instances]]\ntenant = \"{tenant}\"\nport = {port}\ncontainer = \"regp-bench-{tenant}\"\nenv = {{ CLINIC_TENANT = \"{tenant}\" }}\n"
            ));
        }
        let copy = WorkingCopy::create(example, hoist, "regp-bench-copy-", &config)?;
        copy.commit_code_change("v0.5.0")?;
        copy.hoist(&["deploy", ENVIRONMENT])?;
        let out = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .arg(format!("127.0.0.1:{PROXY_PORT}/{REPOSITORY}-base"))
            .output()?;
        let base = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains(":fp-"))
            .map(str::to_string)
            .context("the first registry deploy left no base image in the engine")?;
        Ok(RegistryBench {
            registry,
            _registry_dir: registry_dir,
            sent,
            copy,
            base,
        })
    }

    pub fn tenants(&self) -> usize {
        TENANTS.len()
    }

    /// (h): a code-only change deployed through the registry; seconds.
    pub fn deploy(&self, version: &str) -> anyhow::Result<f64> {
        self.copy.commit_code_change(version)?;
        Ok(self.copy.hoist(&["deploy", ENVIRONMENT])?.0.as_secs_f64())
    }

    /// (f): a code-only change, its layer written and pushed daemonless as `tag`.
    /// Returns the run and the compressed size of the new layer.
    pub async fn daemonless_push(&self, tag: &str) -> anyhow::Result<(PushRun, u64, u64)> {
        self.copy.commit_code_change(tag)?;
        let root = self.copy.root().to_path_buf();
        let created = git_output(&root, &["log", "-1", "--format=%cI"])?;
        let args = self.build_args(tag);
        let labels = BTreeMap::from([(
            "org.opencontainers.image.created".to_string(),
            created.trim().to_string(),
        )]);
        let client = hoist_registry::Client::new(
            &format!("127.0.0.1:{PROXY_PORT}"),
            hoist_registry::ClientOptions {
                insecure: true,
                ..Default::default()
            },
        )?;
        let target = hoist_registry::Reference::parse(&format!(
            "127.0.0.1:{PROXY_PORT}/{REPOSITORY}:{tag}"
        ))?;
        let before = self.sent.load(Ordering::SeqCst);
        let started = Instant::now();
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile"))?;
        let plan = hoist_build::layer_plan(&dockerfile, &args)
            .map_err(|e| anyhow::anyhow!("the clinic Dockerfile is not a layer build: {e:?}"))?;
        let files = hoist_build::context_files(&root).map_err(|e| anyhow::anyhow!("{e}"))?;
        let pushed =
            hoist_build::push_layer_image(&client, &plan, &root, &files, &labels, &target).await?;
        let seconds = started.elapsed().as_secs_f64();
        let bytes_sent = self.sent.load(Ordering::SeqCst) - before;
        let (manifest, _, _) = client
            .get_manifest(REPOSITORY, tag)
            .await?
            .context("the pushed tag is missing")?;
        let manifest: hoist_registry::manifest::ImageManifest = serde_json::from_slice(&manifest)?;
        let layer = manifest.layers.last().map(|l| l.size).unwrap_or(0);
        Ok((
            PushRun {
                seconds,
                bytes_sent,
            },
            layer,
            pushed.report.bytes_uploaded,
        ))
    }

    /// (g): the same kind of change built by the engine with its cache, then pushed by it.
    pub fn engine_build_and_push(&self, tag: &str) -> anyhow::Result<PushRun> {
        self.copy.commit_code_change(tag)?;
        let image = format!("127.0.0.1:{PROXY_PORT}/{REPOSITORY}:{tag}");
        let before = self.sent.load(Ordering::SeqCst);
        let started = Instant::now();
        let mut build = Command::new("docker");
        build
            .current_dir(self.copy.root())
            .args(["build", "-q", "-f", "Dockerfile", "-t", &image]);
        for (name, value) in self.build_args(tag) {
            build.args(["--build-arg", &format!("{name}={value}")]);
        }
        run(build.arg("."))?;
        run(Command::new("docker").args(["push", "-q", &image]))?;
        let seconds = started.elapsed().as_secs_f64();
        Ok(PushRun {
            seconds,
            bytes_sent: self.sent.load(Ordering::SeqCst) - before,
        })
    }

    fn build_args(&self, version: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("HOIST_BASE".to_string(), self.base.clone()),
            ("HOIST_VERSION".to_string(), version.to_string()),
        ])
    }

    /// Removes the containers and every image tagged for this registry: its storage goes
    /// with it, and a base left in the engine under its name would be taken as present by
    /// the next run's empty registry.
    pub fn cleanup(&self) {
        for tenant in TENANTS {
            let _ = Command::new("docker")
                .args(["rm", "-f", &format!("regp-bench-{tenant}")])
                .output();
        }
        let listed = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .output();
        if let Ok(out) = listed {
            let prefix = format!("127.0.0.1:{PROXY_PORT}/{REPOSITORY}");
            let tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with(&prefix))
                .map(str::to_string)
                .collect();
            if !tags.is_empty() {
                let _ = Command::new("docker").arg("rmi").args(&tags).output();
            }
        }
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.stdout(Stdio::null()).output()?;
    if !out.status.success() {
        bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn git_output(dir: &PathBuf, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A TCP proxy on `port` to `upstream` that adds every byte a client sends to `sent`.
async fn start_counting_proxy(
    port: u16,
    upstream: u16,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("bind the counting proxy on {port}"))?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                sent.fetch_add(n as u64, Ordering::SeqCst);
                                if server_write.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = server_write.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    Ok(())
}
