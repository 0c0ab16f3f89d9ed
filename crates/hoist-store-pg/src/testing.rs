//! A throwaway PostgreSQL cluster for tests (feature `testing`): Debian's server binaries,
//! `initdb` into a directory of its own, listening on 127.0.0.1 at a port the caller
//! picks and on a unix socket in that directory, with the trust method (no passwords), or
//! for [`Cluster::start_with_client_certs`] TCP clients must present a certificate.
//!
//! `initdb` refuses to run as root, so under root every server command runs as the
//! `postgres` user (`runuser`), in a directory that user owns. The cluster stops when the
//! process that started it exits (a watchdog shell waits for it), and a cluster left
//! behind by a killed run at the same port is stopped and removed before a new one starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A running cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Whether TCP clients must present a client certificate (so the harness's own
    /// connections go through the unix socket).
    client_certs: bool,
}

/// What a cluster serves over TLS: its certificate and key, and the CA whose client
/// certificates it requires, if any.
struct Tls<'a> {
    cert: &'a Path,
    key: &'a Path,
    client_ca: Option<&'a Path>,
}

static SHARED: OnceLock<Mutex<Vec<&'static Cluster>>> = OnceLock::new();

impl Cluster {
    /// The cluster at `port` this process started, starting it on first use.
    ///
    /// # Panics
    ///
    /// When the cluster cannot start (it is for tests: the message says why).
    pub fn shared(port: u16) -> &'static Cluster {
        let mut all = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(found) = all.iter().copied().find(|c| c.port == port) {
            return found;
        }
        let started = Cluster::start(port).unwrap_or_else(|e| {
            panic!("cannot start a PostgreSQL test cluster on port {port}: {e}")
        });
        let leaked: &'static Cluster = Box::leak(Box::new(started));
        all.push(leaked);
        leaked
    }

    /// Starts a new cluster at `port`, removing one a killed run left there.
    pub fn start(port: u16) -> Result<Cluster, String> {
        Cluster::start_with(port, None)
    }

    /// Like [`Cluster::start`], serving TLS too (`ssl = on`) with the PEM certificate and
    /// key given, copied into the cluster's directory; plain connections still work.
    pub fn start_with_tls(port: u16, cert: &Path, key: &Path) -> Result<Cluster, String> {
        Cluster::start_with(
            port,
            Some(Tls {
                cert,
                key,
                client_ca: None,
            }),
        )
    }

    /// Like [`Cluster::start_with_tls`], but a client over TCP must use TLS and present a
    /// certificate signed by the PEM CA `client_ca` whose common name is the user it
    /// connects as (pg_hba.conf's `hostssl ... cert`); plain TCP is refused. The unix socket
    /// still trusts everyone: [`Cluster::admin`] connects there.
    pub fn start_with_client_certs(
        port: u16,
        cert: &Path,
        key: &Path,
        client_ca: &Path,
    ) -> Result<Cluster, String> {
        Cluster::start_with(
            port,
            Some(Tls {
                cert,
                key,
                client_ca: Some(client_ca),
            }),
        )
    }

    fn start_with(port: u16, tls: Option<Tls<'_>>) -> Result<Cluster, String> {
        let bin = server_binaries()?;
        let dir = std::env::temp_dir().join(format!("hoist-pg-test-{port}"));
        let client_certs = tls.as_ref().is_some_and(|tls| tls.client_ca.is_some());
        let cluster = Cluster {
            dir,
            bin,
            port,
            client_certs,
        };
        cluster.remove_leftover();
        std::fs::create_dir_all(&cluster.dir)
            .map_err(|e| format!("cannot create {}: {e}", cluster.dir.display()))?;
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.dir.display()
        );
        if let Some(tls) = tls {
            let copy = |from: &Path, name: &str| {
                let to = cluster.dir.join(name);
                match std::fs::copy(from, &to) {
                    Ok(_) => Ok(to),
                    Err(e) => Err(format!(
                        "cannot copy {} to {}: {e}",
                        from.display(),
                        to.display()
                    )),
                }
            };
            let (cert_copy, key_copy) =
                (copy(tls.cert, "server.crt")?, copy(tls.key, "server.key")?);
            // The server refuses a key others can read.
            run(Command::new("chmod").arg("600").arg(&key_copy))?;
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_copy.display(),
                key_copy.display()
            ));
            if let Some(client_ca) = tls.client_ca {
                let ca_copy = copy(client_ca, "client-ca.crt")?;
                let hba = cluster.dir.join("pg_hba.conf");
                std::fs::write(
                    &hba,
                    "# The harness, over the unix socket; everyone else with a certificate.\n\
                     local all all trust\n\
                     hostssl all all 127.0.0.1/32 cert\n",
                )
                .map_err(|e| format!("cannot write {}: {e}", hba.display()))?;
                options.push_str(&format!(
                    " -c ssl_ca_file={} -c hba_file={}",
                    ca_copy.display(),
                    hba.display()
                ));
            }
        }
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&cluster.dir))?;
        }
        cluster.server_command("initdb", |c| {
            c.arg("-D").arg(cluster.data()).args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]);
        })?;
        cluster.server_command("pg_ctl", |c| {
            c.arg("-D")
                .arg(cluster.data())
                .arg("-l")
                .arg(cluster.dir.join("server.log"))
                .arg("-o")
                .arg(&options)
                .args(["-w", "-t", "60", "start"]);
        })?;
        cluster.stop_when_this_process_exits()?;
        Ok(cluster)
    }

    /// The URL of a new, empty database `name` (an old one of that name is dropped).
    pub fn database(&self, name: &str) -> String {
        let admin = self.admin("postgres");
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // Outside any async runtime the test may run in (see the crate's bridge).
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("cannot reach the test cluster: {e}"));
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                    .and_then(|()| client.batch_execute(&format!("CREATE DATABASE {quoted}")))
                    .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        });
        self.url(name)
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A connection string for the harness's own plain connections as the superuser: the
    /// URL at 127.0.0.1, or, when TCP clients need a certificate, the unix socket.
    pub fn admin(&self, database: &str) -> String {
        if self.client_certs {
            let socket_dir = self.dir.display().to_string();
            let quoted =
                |text: &str| format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"));
            format!(
                "host={} port={} user=postgres dbname={}",
                quoted(&socket_dir),
                self.port,
                quoted(database)
            )
        } else {
            self.url(database)
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server left by a run that was killed before its watchdog stopped it.
    fn remove_leftover(&self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.server_command("pg_ctl", |c| {
                c.arg("-D")
                    .arg(self.data())
                    .args(["-m", "immediate", "-w", "stop"]);
            });
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn stop_when_this_process_exits(&self) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let as_owner = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {as_owner}'{pg_ctl}' -D '{data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))
    }

    /// Runs a server binary, as the `postgres` user when this process is root.
    fn server_command(&self, name: &str, args: impl FnOnce(&mut Command)) -> Result<(), String> {
        let program = self.bin.join(name);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        args(&mut command);
        run(&mut command)
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Debian's server binaries (`/usr/lib/postgresql/VERSION/bin`, the newest), or
/// `HOIST_TEST_PG_BIN`.
fn server_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("HOIST_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .map_err(|e| {
            format!(
                "{}: {e}: install Debian's `postgresql` package (scripts/setup-machine.sh does)",
                root.display()
            )
        })?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .ok_or_else(|| format!("no PostgreSQL version under {}", root.display()))?;
    Ok(root.join(newest.to_string()).join("bin"))
}
