//! A real registry for tests: Debian's `docker-registry` (distribution 2.8) on loopback,
//! plain or with htpasswd auth over TLS under a throwaway CA made here with `openssl`.
//! Its access log counts what clients sent.

#![allow(dead_code)]

mod certs;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "hoist-reg-ci";
pub const PASSWORD: &str = "hoist-reg-pw-7f3a9c";

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The CA's certificate (PEM), for a TLS registry.
    pub ca_pem: Option<Vec<u8>>,
    /// Whether it asks for [`USER`]/[`PASSWORD`].
    pub auth: bool,
    log: PathBuf,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestRegistry {
    /// A plain-HTTP registry without auth on 127.0.0.1:`port`.
    pub fn plain(port: u16) -> TestRegistry {
        Self::start(port, false, "")
    }

    /// A plain-HTTP registry on 127.0.0.1:`port` with `config` (YAML, top-level keys such
    /// as an `auth:` section) appended to its configuration.
    pub fn plain_with(port: u16, config: &str) -> TestRegistry {
        Self::start(port, false, config)
    }

    /// A TLS registry with htpasswd auth ([`USER`]/[`PASSWORD`]) on 127.0.0.1:`port`.
    pub fn tls(port: u16) -> TestRegistry {
        Self::start(port, true, "")
    }

    /// A plain-HTTP registry with htpasswd auth ([`USER`]/[`PASSWORD`]) on
    /// 127.0.0.1:`port`: the Docker engine pulls from loopback over HTTP without any
    /// daemon setting, so this proves credentials reach the engine (`X-Registry-Auth`).
    pub fn plain_with_auth(port: u16) -> TestRegistry {
        Self::start_with(port, false, true, true, "")
    }

    /// A plain-HTTP registry without auth whose storage refuses deletes (405), as
    /// Distribution's default is.
    pub fn plain_without_deletes(port: u16) -> TestRegistry {
        Self::start_with(port, false, false, false, "")
    }

    fn start(port: u16, secure: bool, extra_config: &str) -> TestRegistry {
        Self::start_with(port, secure, secure, true, extra_config)
    }

    fn start_with(
        port: u16,
        secure: bool,
        auth: bool,
        deletes: bool,
        extra_config: &str,
    ) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {deletes}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.join("data").display()
        );
        let mut ca_pem = None;
        if secure {
            certs::make_certificates(root);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                root.join("server.crt").display(),
                root.join("server.key").display(),
            ));
            ca_pem = Some(std::fs::read(root.join("ca.crt")).unwrap());
            std::fs::create_dir(root.join("certs")).unwrap();
            std::fs::copy(root.join("ca.crt"), root.join("certs/ca.crt")).unwrap();
        }
        if auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .expect("htpasswd (apache2-utils) is installed by scripts/setup-machine.sh");
            assert!(out.status.success());
            std::fs::write(root.join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: hoist-reg\n    path: {}\n",
                root.join("htpasswd").display()
            ));
        }
        config.push_str(extra_config);
        std::fs::write(root.join("config.yml"), config).unwrap();
        let log = root.join("registry.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("docker-registry is installed by scripts/setup-machine.sh");
        let registry = TestRegistry {
            child,
            port,
            dir,
            ca_pem,
            auth,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}: {}",
                registry.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Access-log request lines so far (`"PUT /v2/... HTTP/1.1" 201`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter_map(|line| {
                let start = line.find("\"")? + 1;
                let rest = &line[start..];
                let end = rest.find("\"")?;
                let request = &rest[..end];
                let method = request.split(' ').next()?;
                ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                    .contains(&method)
                    .then(|| {
                        let status = rest[end + 1..].split_whitespace().next().unwrap_or("");
                        format!("{request} {status}")
                    })
            })
            .collect()
    }

    /// Blob uploads completed (`PUT .../blobs/uploads/...` answered 201) after `since`
    /// requests.
    pub fn blob_puts_since(&self, since: usize) -> Vec<String> {
        self.requests()[since..]
            .iter()
            .filter(|r| {
                r.starts_with("PUT ") && r.contains("/blobs/uploads/") && r.ends_with(" 201")
            })
            .cloned()
            .collect()
    }

    pub fn manifest_puts_since(&self, since: usize) -> Vec<String> {
        self.requests()[since..]
            .iter()
            .filter(|r| r.starts_with("PUT ") && r.contains("/manifests/"))
            .cloned()
            .collect()
    }

    /// A directory skopeo's `--cert-dir` reads (the CA as `ca.crt`).
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// `skopeo inspect --raw` of `reference` (`repo:tag`): the manifest bytes it read.
    pub fn skopeo_raw(&self, reference: &str) -> Result<Vec<u8>, String> {
        self.skopeo_inspect(&["--raw"], reference)
    }

    /// The manifest digest `skopeo inspect` reports for `reference` (`repo:tag`).
    pub fn skopeo_digest(&self, reference: &str) -> Result<String, String> {
        let out = self.skopeo_inspect(&["--format", "{{.Digest}}"], reference)?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    fn skopeo_inspect(&self, args: &[&str], reference: &str) -> Result<Vec<u8>, String> {
        let mut cmd = Command::new("skopeo");
        cmd.arg("inspect").args(args);
        if self.ca_pem.is_some() {
            cmd.arg("--cert-dir").arg(self.cert_dir());
        } else {
            cmd.arg("--tls-verify=false");
        }
        if self.auth {
            cmd.args(["--creds", &format!("{USER}:{PASSWORD}")]);
        }
        cmd.arg(format!("docker://{}/{reference}", self.host()));
        let out = cmd.output().map_err(|e| format!("skopeo: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
