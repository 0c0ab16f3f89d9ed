//! `ssh://[user@]host[:port]` engines, reached as `DOCKER_HOST=ssh://` reaches them: each
//! connection runs `ssh ... docker system dial-stdio` and speaks the Engine API over the
//! child's stdin and stdout.
//!
//! Written by hand on bollard's custom-transport seam (`Docker::connect_with_custom_transport`)
//! rather than with bollard's `ssh` feature: that feature drives ssh through the `openssh`
//! crate's control-master sessions and takes only a key path, so a host's own ssh config
//! file (`ssh -F`: key, known hosts, jump host) could not be given, and ssh could prompt.
//! This runs the system `ssh` the way the Docker CLI does, with `BatchMode` on.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long ssh has to reach the host; an unreachable host fails after this, not after
/// the engine's request timeout.
const SSH_CONNECT_TIMEOUT_SECS: u32 = 10;

/// Where an `ssh://` address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshDestination {
    /// Parses `ssh://[user@]host[:port]`; the error says what is wrong.
    pub fn parse(address: &str) -> Result<SshDestination, String> {
        let rest = address
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("`{address}` does not start with ssh://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!(
                "`{address}` has a path; write ssh://[user@]host[:port]"
            ));
        }
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, hp)) if !user.is_empty() => (Some(user.to_string()), hp),
            Some(_) => return Err(format!("`{address}` has an empty user name")),
            None => (None, rest),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            // `[::1]:22` and plain `host:22`; a bare IPv6 address has more than one `:`.
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{port}` in `{address}` is not a port"))?;
                (host, Some(port))
            }
            _ => (host_port, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("`{address}` has no host"));
        }
        Ok(SshDestination {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// The `ssh` command that opens one stream to the remote engine.
    fn command(&self, config: Option<&PathBuf>) -> Command {
        let mut cmd = Command::new("ssh");
        if let Some(config) = config {
            cmd.arg("-F").arg(config);
        }
        // Never prompt (a deploy has no one to answer) and never wait for long on a host
        // that does not answer.
        cmd.args(["-o", "BatchMode=yes", "-o"])
            .arg(format!("ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS}"))
            .arg("-T");
        if let Some(user) = &self.user {
            cmd.args(["-l", user]);
        }
        if let Some(port) = self.port {
            cmd.args(["-p", &port.to_string()]);
        }
        cmd.args(["--", &self.host, "docker", "system", "dial-stdio"]);
        cmd
    }
}

/// The request body type bollard's transports take (named through its request type).
trait RequestBody {
    type Body;
}
impl<B> RequestBody for http::Request<B> {
    type Body = B;
}
type BollardBody = <BollardRequest as RequestBody>::Body;

/// A client for the engine behind `destination`, with one `ssh` child per pooled connection.
pub(crate) fn connect(
    address: &str,
    destination: SshDestination,
    config: Option<PathBuf>,
    timeout_secs: u64,
) -> Result<Docker, bollard::errors::Error> {
    let dialer = Dialer {
        destination,
        config,
        said: Arc::new(Mutex::new(String::new())),
    };
    let said = dialer.said.clone();
    let client: Client<Dialer, BollardBody> = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(dialer);
    let address = address.to_string();
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        let said = said.clone();
        let address = address.clone();
        async move {
            client.request(request).await.map_err(|e| {
                // ssh's own words (refused, host key, permission) say more than hyper's.
                let said = said.lock().map(|s| s.clone()).unwrap_or_default();
                if said.is_empty() {
                    bollard::errors::Error::from(e)
                } else {
                    bollard::errors::Error::from(io::Error::other(format!(
                        "ssh to {address} failed: {said}"
                    )))
                }
            })
        }
    };
    // The URI's host is only the HTTP `Host` header: dial-stdio forwards bytes as they are.
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
}

/// Opens connections by running ssh.
#[derive(Clone)]
struct Dialer {
    destination: SshDestination,
    config: Option<PathBuf>,
    /// The last lines ssh wrote to stderr, for errors.
    said: Arc<Mutex<String>>,
}

impl tower_service::Service<http::Uri> for Dialer {
    type Response = TokioIo<DialStdio>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let mut cmd = self.destination.command(self.config.as_ref());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let said = self.said.clone();
        Box::pin(async move {
            let mut child = cmd
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(io::Error::other("ssh's pipes were not opened"));
            };
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "hoist_engine::ssh", "{line}");
                    if let Ok(mut said) = said.lock() {
                        *said = line;
                    }
                }
            });
            Ok(TokioIo::new(DialStdio {
                _child: child,
                stdin,
                stdout,
            }))
        })
    }
}

/// One `docker system dial-stdio` session: reads from its stdout, writes to its stdin.
struct DialStdio {
    /// Killed when the connection is dropped.
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for DialStdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for DialStdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

impl Connection for DialStdio {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_the_docker_cli_reads_them() {
        assert_eq!(
            SshDestination::parse("ssh://deploy@web1.example.com:2222").unwrap(),
            SshDestination {
                user: Some("deploy".into()),
                host: "web1.example.com".into(),
                port: Some(2222),
            }
        );
        assert_eq!(
            SshDestination::parse("ssh://web1").unwrap(),
            SshDestination {
                user: None,
                host: "web1".into(),
                port: None,
            }
        );
        assert_eq!(SshDestination::parse("ssh://[::1]:22").unwrap().host, "::1");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (address, says) in [
            ("ssh://web1/var/run", "has a path"),
            ("ssh://@web1", "empty user"),
            ("ssh://web1:notaport", "is not a port"),
            ("ssh://deploy@", "has no host"),
            ("tcp://web1", "does not start with ssh://"),
        ] {
            let err = SshDestination::parse(address).unwrap_err();
            assert!(err.contains(says), "{address}: {err}");
        }
    }
}
