//! A tiny app for integration tests: busybox httpd on `FROM scratch`, built by hoist on the
//! real Docker engine. The dependency "base" is busybox itself plus `deps.txt`; the "code"
//! is `www/`. Each fixture gets its own app name, image repository and ports, so tests run
//! in parallel, and its own nonce in `deps.txt`, so its first base build is really a build.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod swarm;
pub mod volume;

pub struct App {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub ports: Vec<u16>,
}

/// Where Debian's busybox-static puts its binary.
const BUSYBOX: &str = "/bin/busybox";

impl App {
    /// An app called `name` with one instance per port in staging.
    pub fn new(name: &str, ports: &[u16]) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App {
            dir,
            name: name.to_string(),
            ports: ports.to_vec(),
        };
        app.cleanup_containers();
        let root = app.root();
        std::fs::create_dir_all(root.join("vendor")).unwrap();
        std::fs::copy(BUSYBOX, root.join("vendor/busybox"))
            .expect("busybox-static must be installed (apt-get install busybox-static)");
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        app.write("deps.txt", &format!("left-pad==1.0 # {nonce}\n"));
        app.write(
            "Dockerfile.base",
            "FROM scratch\nCOPY vendor/busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCOPY deps.txt /deps.txt\nCMD [\"sh\"]\n",
        );
        app.set_start_delay(0);
        app.write("www/healthz", "ok\n");
        app.write("www/index.html", "<h1>v1</h1>\n");
        app.write(".dockerignore", ".git\n.hoist\n");
        // The state database is not source: committing it would make checkouts clash.
        app.write(".gitignore", ".hoist/\n");
        app.write_config("5s");
        app.git(&["init", "-q"]);
        app
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// The app Dockerfile; the server starts `delay` seconds after the container does. It
    /// only copies files and sets settings, so hoist builds it as one layer.
    pub fn set_start_delay(&self, delay: u32) {
        self.write(
            "Dockerfile",
            &format!(
                "ARG HOIST_BASE\nFROM ${{HOIST_BASE}}\nCOPY www /www\nARG HOIST_VERSION=dev\nENV APP_VERSION=${{HOIST_VERSION}}\n\
                 CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep {delay}; echo \\\"$APP_VERSION\\\" > /www/version; httpd -f -p 8080 -h /www & wait\"]\n"
            ),
        );
    }

    pub fn write_config(&self, health_timeout: &str) {
        let mut text = format!(
            "[app]\nname = \"{name}\"\nimage = \"hoist-test/{name}\"\nport = 8080\nversion_path = \"/version\"\n\n\
             [build]\ndependencies = [\"deps.txt\", \"vendor/*\"]\n\n\
             [environments.staging]\nrollout = {{ concurrency = 2, health_timeout = \"{health_timeout}\" }}\n",
            name = self.name
        );
        for (i, port) in self.ports.iter().enumerate() {
            text.push_str(&format!("\n[[environments.staging.instances]]\ntenant = \"t{i}\"\nport = {port}\nenv = {{ TENANT = \"t{i}\" }}\n"));
        }
        self.write("hoist.toml", &text);
    }

    /// Commits a config change without tagging it: `--version` then names the release
    /// built before (a dirty tree's version is never reused).
    pub fn commit_config(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "config"]);
    }

    pub fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.root())
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Commits everything and tags it.
    pub fn release(&self, tag: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", tag]);
        self.git(&["tag", tag]);
    }

    pub fn hoist_command(&self, args: &[&str]) -> Command {
        self.hoist_command_as("tester", args)
    }

    /// hoist run as `actor` (`--actor`), e.g. to be refused by a policy.
    pub fn hoist_command_as(&self, actor: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(self.root())
            .args(["--plain", "--actor", actor])
            .args(args)
            .env_remove("DOCKER_HOST");
        cmd
    }

    /// Runs hoist with `args` and kills it (SIGKILL) as soon as a progress line contains
    /// `marker`, as a crash at that point would.
    pub fn kill_when(&self, args: &[&str], marker: &str) {
        use std::io::{BufRead, BufReader};
        let mut child = self
            .hoist_command(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run hoist");
        let stderr = child.stderr.take().expect("stderr");
        let started = std::time::Instant::now();
        for line in BufReader::new(stderr).lines() {
            if line.expect("stderr line").contains(marker) {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "hoist {args:?} never printed {marker:?}"
            );
        }
        child.kill().expect("kill hoist");
        child.wait().expect("wait for hoist");
    }

    /// Runs hoist with `args` and, as soon as a progress line contains `marker`, sends it
    /// each of `signals` (`INT`, `TERM`) in turn, 50 ms apart; returns how it ended and
    /// everything it printed.
    pub fn signal_when(&self, args: &[&str], marker: &str, signals: &[&str]) -> Run {
        use std::io::{BufRead, BufReader, Read};
        let mut child = self
            .hoist_command(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run hoist");
        let mut stdout = child.stdout.take().expect("stdout");
        let out_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let started = std::time::Instant::now();
        let mut err_text = String::new();
        loop {
            let mut line = String::new();
            let read = stderr.read_line(&mut line).expect("stderr line");
            err_text.push_str(&line);
            if read == 0 {
                panic!("hoist {args:?} ended without printing {marker:?}:\n{err_text}");
            }
            if line.contains(marker) {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "hoist {args:?} never printed {marker:?}"
            );
        }
        for (i, signal) in signals.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let sent = Command::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(sent.success(), "kill -s {signal}");
        }
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        err_text.push_str(&rest);
        let status = child.wait().expect("wait for hoist");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: out_reader.join().unwrap_or_default(),
            stderr: err_text,
        }
    }

    pub fn hoist(&self, args: &[&str]) -> Run {
        let out = self.hoist_command(args).output().expect("run hoist");
        Run::from(out)
    }

    pub fn hoist_as(&self, actor: &str, args: &[&str]) -> Run {
        let out = self
            .hoist_command_as(actor, args)
            .output()
            .expect("run hoist");
        Run::from(out)
    }

    /// Adds TOML (policy, rules, notifiers, hooks, more environments) to the end of
    /// hoist.toml, as written by [`App::write_config`].
    pub fn append_config(&self, toml: &str) {
        let path = self.root().join("hoist.toml");
        let mut text = std::fs::read_to_string(&path).expect("hoist.toml");
        text.push('\n');
        text.push_str(toml);
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }

    /// [`App::write_config`] followed by `extra`, replacing what was appended before.
    pub fn write_config_with(&self, health_timeout: &str, extra: &str) {
        self.write_config(health_timeout);
        self.append_config(extra);
    }

    /// Adds keys (`deploy_from = [...]`, `requires_verified_in = [...]`) to the
    /// `[environments.staging]` table [`App::write_config`] wrote; sub-tables such as
    /// `[environments.staging.policy]` go through [`App::append_config`] instead.
    pub fn staging_keys(&self, keys: &str) {
        let path = self.root().join("hoist.toml");
        let text = std::fs::read_to_string(&path).expect("hoist.toml");
        let header = "[environments.staging]\n";
        assert!(text.contains(header), "no staging table in:\n{text}");
        std::fs::write(path, text.replacen(header, &format!("{header}{keys}\n"), 1)).unwrap();
    }

    /// The full sha of HEAD (hoist names an untagged release by its first 12 digits).
    pub fn head(&self) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.root())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `hoist status` says every staging instance is healthy and on `version`, the
    /// environment's current release.
    pub fn assert_all_on_current(&self, version: &str) {
        let status = self.hoist(&["status", "staging", "--json"]).ok().json();
        assert_eq!(status["current"]["version"], version);
        let instances = status["instances"].as_array().expect("instances");
        assert!(
            instances
                .iter()
                .all(|i| i["healthy"] == true && i["matches_current"] == true),
            "{status:#}"
        );
    }

    pub fn state(&self) -> PathBuf {
        self.root().join(".hoist/state.db")
    }

    /// GET http://127.0.0.1:PORT/PATH with curl-free std networking.
    pub fn get(&self, port: u16, path: &str) -> Option<(u16, String)> {
        http_get(port, path)
    }

    /// Names of this app's containers on the engine (any state).
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=dev.hoist.app={}", self.name),
                "--format",
                "{{.Names}}",
            ])
            .output()
            .expect("docker ps");
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    pub fn image_id(&self, reference: &str) -> Option<String> {
        let out = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn cleanup_containers(&self) {
        let names = self.containers();
        if !names.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&names)
                .output();
        }
    }
}

impl Drop for App {
    /// Removes the fixture's containers and images, so repeated runs do not fill the disk.
    fn drop(&mut self) {
        self.cleanup_containers();
        // By tag, never by id and never forced: untagging deletes an image only when
        // nothing else uses it, so the untagged build-cache layers that concurrent tests'
        // base builds share are never pulled from under them ("unknown parent image ID").
        let out = Command::new("docker")
            .args([
                "image",
                "ls",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                &format!("reference=hoist-test/{}", self.name),
                "--filter",
                &format!("reference=hoist-test/{}-base", self.name),
            ])
            .output();
        if let Ok(out) = out {
            let tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|t| !t.ends_with(":<none>"))
                .map(str::to_string)
                .collect();
            if !tags.is_empty() {
                let _ = Command::new("docker")
                    .args(["rmi", "--no-prune"])
                    .args(&tags)
                    .output();
            }
        }
    }
}

/// `[environments.NAME]` with `keys` (e.g. `deploy_from = [...]`; rollout defaults to
/// `health_timeout = "5s"`) and one instance per port (tenants `t0`, `t1`, ...), to add to
/// a config with [`App::append_config`].
pub fn environment(name: &str, ports: &[u16], keys: &str) -> String {
    let mut text = format!("[environments.{name}]\n{keys}\n");
    if !keys.contains("rollout") {
        text.push_str("rollout = { health_timeout = \"5s\" }\n");
    }
    for (i, port) in ports.iter().enumerate() {
        text.push_str(&format!(
            "\n[[environments.{name}.instances]]\ntenant = \"t{i}\"\nport = {port}\nenv = {{ TENANT = \"t{i}\" }}\n"
        ));
    }
    text
}

/// The result of one hoist run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "hoist failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// stdout as one JSON document; for a changing command's `--json` event stream, the
    /// result on its last line.
    pub fn json(&self) -> serde_json::Value {
        if let Some(result) = self.events().pop().filter(|e| e["kind"] == "result") {
            return result["result"].clone();
        }
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
    /// stdout as a `--json` event stream: one JSON object a line (empty if it is not one).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() < 2 {
            return Vec::new();
        }
        lines
            .iter()
            .map(|l| serde_json::from_str(l))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }
}

/// A minimal HTTP/1.0 GET, so tests need no HTTP client crate.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The entry of `tenant` in a JSON report's `instances` (`status --json`, `deploy --json`).
pub fn instance<'a>(report: &'a serde_json::Value, tenant: &str) -> &'a serde_json::Value {
    report["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .find(|i| i["tenant"] == tenant)
        .unwrap_or_else(|| panic!("no {tenant} in {report:#}"))
}
