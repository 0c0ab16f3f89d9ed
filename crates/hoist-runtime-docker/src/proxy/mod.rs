//! The zero-downtime switch: a reverse proxy (Caddy, driven by its admin API) holds each
//! instance's port, and hoist re-points it from the old container to the new one.
//!
//! 1. start the new container beside the old one, on its own loopback port, and verify it
//!    (image, health, version) while the old one serves — or, for a rollback to the
//!    release the stopped previous container runs, start that one again;
//! 2. point the instance's proxy server at it and verify the instance through the proxy;
//! 3. drain: wait until the proxy has no request in flight to the old container (at most
//!    `drain_timeout`), then stop it, keeping it stopped as `NAME--prev` so a rollback only
//!    starts it again.
//!
//! The containers never publish the instance's port; the proxy does. Names work as in the
//! port switch (`NAME` serves, `NAME--next` is a candidate), except that `NAME--prev` is
//! the kept previous container, not a half-done switch.

mod caddy;
mod containers;
mod daemon;

pub(crate) use containers::ProxiedContainer;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hoist_core::backend::{BackendError, Endpoint};
use hoist_core::runtime::{Applied, InstanceFailure, InstanceSpec, Rollout, WorkloadState};
use hoist_core::verify::short_id;
use hoist_core::{InstanceState, Release};

use crate::containers::{Containers, Role};
use caddy::Caddy;

const LOG_LINES: usize = 20;

/// The proxy switch's settings (`switch = "proxy"` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySettings {
    /// Caddy's admin API; hoist starts Caddy there when nothing answers (loopback only).
    pub admin: SocketAddr,
    /// How long the old container's in-flight requests may run after the switch.
    pub drain_timeout: Duration,
}

/// How often the drain asks the proxy for in-flight requests.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Caddy at `settings.admin`, started if nothing answers there, with the HTTP app's
/// servers object present.
async fn proxy(settings: &ProxySettings) -> Result<Caddy, BackendError> {
    // One start at a time: instances switching at once would each start a Caddy.
    static STARTING: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    let caddy = Caddy::new(settings.admin);
    if !caddy.answers().await {
        let _one = STARTING
            .get_or_init(|| tokio::sync::Mutex::new(()))
            .lock()
            .await;
        if !caddy.answers().await {
            let dir = daemon::start(settings.admin)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !caddy.answers().await {
                if Instant::now() > deadline {
                    return Err(BackendError::new(format!(
                        "the proxy started for {} did not answer within 10 s; see {}",
                        settings.admin,
                        dir.join("caddy.log").display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    caddy.ensure_servers().await?;
    Ok(caddy)
}

/// Linux's switch (5.14 and later) that hands the connections queued at a closing
/// listener to another socket of its `SO_REUSEPORT` group instead of resetting them.
const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// Caddy 2.6 opens a new listening socket (`SO_REUSEPORT`) for every server at each config
/// change and closes the old one: a connection the kernel queued at the old socket in that
/// moment is reset, unless `tcp_migrate_req` moves it to the new one. The warning, when the
/// setting (`MIGRATE_REQ`'s content) is off; nothing when it is on or absent (not Linux,
/// or a kernel without it: nothing to set).
fn reload_warning(setting: Option<&str>) -> Option<String> {
    (setting.map(str::trim) == Some("0")).then(|| {
        "net.ipv4.tcp_migrate_req is 0 on this host: a connection that reaches the proxy \
         while it applies a switch can be reset (Caddy opens a new listening socket at each \
         change); run `sysctl -w net.ipv4.tcp_migrate_req=1` (and set it in /etc/sysctl.d/) \
         so the kernel hands such connections to the new socket"
            .to_string()
    })
}

/// [`reload_warning`] for this host, once per process.
fn warn_about_reloads(rollout: &Rollout<'_>) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let setting = std::fs::read_to_string(MIGRATE_REQ).ok();
    if let Some(warning) = reload_warning(setting.as_deref())
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        rollout.warn(warning);
    }
}

/// Where the proxy reaches a container's port: the proxy runs on the engine's host.
fn upstream(endpoint: &Endpoint) -> String {
    format!("127.0.0.1:{}", endpoint.port)
}

/// The proxy must run where the containers' loopback ports are: on the engine's host.
fn check_placement(spec: &InstanceSpec, settings: &ProxySettings) -> Result<(), BackendError> {
    if !spec.host.starts_with("unix://") && settings.admin.ip().is_loopback() {
        return Err(BackendError::new(format!(
            "{} runs on the engine {}, but proxy_admin {} is this machine's loopback: the proxy \
             must run on the engine's host; run Caddy there and set proxy_admin to its admin \
             address",
            spec.name, spec.host, settings.admin
        )));
    }
    Ok(())
}

pub(crate) async fn switch(
    containers: &Containers,
    settings: &ProxySettings,
    spec: &InstanceSpec,
    release: &Release,
    rollout: &Rollout<'_>,
) -> Result<Applied, InstanceFailure> {
    check_placement(spec, settings)?;
    let live = containers.inspect(spec, Role::Live).await?;
    let previous = containers.inspect(spec, Role::Previous).await?;
    // A rollback to what the kept previous container runs only starts it again.
    let reuse = !previous.is_running() && previous.image_id() == Some(release.image_id.as_str());
    let role = if reuse {
        Role::Previous
    } else {
        Role::Candidate
    };
    rollout.progress(
        InstanceState::Starting,
        if reuse {
            format!("starting the previous container of {} again", spec.name)
        } else {
            format!("new container for {} from {}", spec.name, release.image)
        },
    );
    let started = if reuse {
        containers.start_existing(spec, role).await
    } else {
        containers.start(spec, role, release).await
    };
    let endpoint = match started {
        Ok(endpoint) => endpoint,
        Err(e) => {
            undo(containers, spec, role).await;
            return Err(kept_old(
                &live,
                format!("could not start the new container: {e}"),
                e.log_tail,
            ));
        }
    };
    rollout.progress(
        InstanceState::Verifying,
        format!(
            "probing the new container at {}",
            endpoint.url(&spec.health_path)
        ),
    );
    let verified = rollout
        .wait_verified(spec, release, InstanceState::Verifying, || async {
            containers.observe_role(spec, role, &endpoint).await
        })
        .await;
    let why = match verified {
        Err(why) => Some(format!("new container failed verification: {why}")),
        Ok(()) => rollout
            .interrupted()
            .map(|signal| format!("stopped by {} before the switch", signal.name())),
    };
    if let Some(why) = why {
        let logs = containers
            .logs(spec, role, LOG_LINES)
            .await
            .unwrap_or_default();
        undo(containers, spec, role).await;
        return Err(kept_old(&live, why, logs));
    }

    // Switch: the proxy sends new requests to the new container.
    let caddy = match proxy(settings).await {
        Ok(caddy) => caddy,
        Err(e) => {
            undo(containers, spec, role).await;
            return Err(kept_old(&live, e.message, Vec::new()));
        }
    };
    // The proxy on this host (loopback admin) reloads under this host's kernel settings.
    if settings.admin.ip().is_loopback() {
        warn_about_reloads(rollout);
    }
    let id = caddy::server_id(&spec.name);
    let listen = caddy::listen_address(containers.settings.bind, spec.port);
    let old_upstream = caddy.route(&id).await.ok().flatten();
    if live.is_running() && containers.publishes_port(spec).await? {
        // The live container came from the port switch and holds the port the proxy must
        // listen on: this first switch to the proxy stops it first (a gap, once).
        rollout.warn(format!(
            "{} publishes port {} itself (started by the port switch): it stops before the \
             proxy takes the port, so this first switch has a gap",
            spec.name, spec.port
        ));
        containers.stop_live(spec).await?;
    }
    rollout.progress(
        InstanceState::Switching,
        format!(
            "pointing the proxy ({}) for port {} at the new container",
            caddy.admin(),
            spec.port
        ),
    );
    let new_upstream = upstream(&endpoint);
    let through_proxy = containers.live_endpoint(spec);
    // The old upstream stays in the config (a route that never matches) until drained.
    let draining = old_upstream
        .as_deref()
        .filter(|old| live.is_running() && *old != new_upstream);
    let switched = match caddy.set_route(&id, &listen, &new_upstream, draining).await {
        Ok(()) => {
            rollout
                .wait_verified(spec, release, InstanceState::Verifying, || async {
                    containers.observe_role(spec, role, &through_proxy).await
                })
                .await
        }
        Err(e) => Err(e.message),
    };
    if let Err(why) = switched {
        let why = format!("the instance did not verify through the proxy: {why}");
        rollout.progress(InstanceState::RollingBack, &why);
        let restored = match &old_upstream {
            Some(old) if live.is_running() => {
                caddy.set_route(&id, &listen, old, None).await.is_ok()
            }
            _ => false,
        };
        let logs = containers
            .logs(spec, role, LOG_LINES)
            .await
            .unwrap_or_default();
        undo(containers, spec, role).await;
        let failure = if restored && containers.inspect(spec, Role::Live).await?.is_running() {
            InstanceFailure::rolled_back(format!(
                "{why}; the proxy sends to the previous container again"
            ))
        } else {
            InstanceFailure::failed(why)
        };
        return Err(failure.with_log(logs));
    }

    // Drain, then stop the old container and keep it for a rollback.
    if let Some(old) = draining {
        drain(&caddy, old, settings.drain_timeout, rollout).await;
        if let Err(e) = caddy.set_route(&id, &listen, &new_upstream, None).await {
            rollout.warn(format!(
                "could not drop the drained container from the proxy's config: {e}"
            ));
        }
    }
    if live.is_running() {
        rollout.progress(InstanceState::Switching, "stopping the old container");
        if let Err(e) = containers.stop_live(spec).await {
            rollout.warn(format!("could not stop the old container: {e}"));
        }
    }
    let renamed = if reuse {
        containers.swap_live_and_previous(spec).await
    } else {
        containers.promote_candidate(spec).await
    };
    renamed.map_err(|e| {
        InstanceFailure::failed(format!(
            "the new container serves through the proxy, but renaming it failed: {e}; the next deploy puts the names right"
        ))
    })?;
    Ok(Applied {
        message: format!("runs {} ({})", release.version, short_id(&release.image_id)),
    })
}

/// Waits until the proxy has no request in flight to `old`, at most `timeout`.
async fn drain(caddy: &Caddy, old: &str, timeout: Duration, rollout: &Rollout<'_>) {
    let started = Instant::now();
    let mut reported = false;
    loop {
        match caddy.in_flight(old).await {
            Ok(None | Some(0)) => return,
            Ok(Some(n)) if !reported => {
                rollout.progress(
                    InstanceState::Switching,
                    format!(
                        "draining: {n} request(s) still in flight to the old container (at most {} s)",
                        timeout.as_secs()
                    ),
                );
                reported = true;
            }
            Ok(Some(_)) => {}
            Err(e) => {
                rollout.warn(format!("cannot see the old container's requests: {e}"));
                return;
            }
        }
        if started.elapsed() >= timeout {
            rollout.warn(format!(
                "requests to the old container still ran after drain_timeout ({} s); it stops anyway",
                timeout.as_secs()
            ));
            return;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Undoes starting the new container: a candidate is removed, a previous container that
/// was started again is stopped (and kept).
async fn undo(containers: &Containers, spec: &InstanceSpec, role: Role) {
    let _ = match role {
        Role::Previous => containers.stop_role(spec, role).await,
        _ => containers.remove(spec, role).await,
    };
}

/// Failed while the old container kept serving untouched.
fn kept_old(live: &WorkloadState, why: String, log_tail: Vec<String>) -> InstanceFailure {
    let failure = if live.is_running() {
        InstanceFailure::rolled_back(format!("{why}; the previous container kept serving"))
    } else {
        InstanceFailure::failed(why)
    };
    failure.with_log(log_tail)
}

/// Removes a retired instance's server from the proxy, so that its port is free for
/// another instance (Caddy refuses a second server on one address) and no longer answers
/// 502 for a container that is gone. A proxy that is not running is started first: its
/// saved config would bring the server back when it next starts.
pub(crate) async fn forget(settings: &ProxySettings, container: &str) -> Result<(), BackendError> {
    let caddy = proxy(settings).await?;
    caddy.remove_server(&caddy::server_id(container)).await
}

impl ProxySettings {
    /// The proxy at `admin`, as a container's `dev.hoist.proxy-admin` label names it:
    /// enough to remove a server or point it elsewhere (nothing drains).
    pub(crate) fn named_by_label(admin: SocketAddr) -> ProxySettings {
        ProxySettings {
            admin,
            drain_timeout: Duration::ZERO,
        }
    }
}

/// Points the instance's server in the proxy at `endpoint`, creating it if it is gone: the
/// port switch puts back a container it restored after a failed first switch away from
/// the proxy.
pub(crate) async fn repoint(
    containers: &Containers,
    settings: &ProxySettings,
    spec: &InstanceSpec,
    endpoint: &Endpoint,
) -> Result<(), BackendError> {
    let caddy = proxy(settings).await?;
    let listen = caddy::listen_address(containers.settings.bind, spec.port);
    caddy
        .set_route(
            &caddy::server_id(&spec.name),
            &listen,
            &upstream(endpoint),
            None,
        )
        .await
}

/// Undoes what an interrupted proxy switch left: the container the proxy sends to becomes
/// `NAME` (finishing a switch that reached the proxy), a candidate it does not send to is
/// removed, and the proxy is pointed at `NAME` when its port changed (an engine restart
/// gives a container a new loopback port).
pub(crate) async fn recover(
    containers: &Containers,
    settings: &ProxySettings,
    spec: &InstanceSpec,
) -> Result<Vec<String>, BackendError> {
    check_placement(spec, settings)?;
    let mut done = Vec::new();
    let caddy = Caddy::new(settings.admin);
    let id = caddy::server_id(&spec.name);
    let route = if caddy.answers().await {
        caddy.route(&id).await.ok().flatten()
    } else {
        None
    };
    let routed_to = |endpoint: Option<Endpoint>| {
        endpoint.is_some_and(|e| route.as_deref() == Some(upstream(&e).as_str()))
    };
    if routed_to(containers.running_endpoint(spec, Role::Candidate).await?) {
        containers.stop_role(spec, Role::Live).await?;
        containers.promote_candidate(spec).await?;
        done.push(
            "finished an interrupted switch: the proxy already sent to the new container".into(),
        );
    } else if routed_to(containers.running_endpoint(spec, Role::Previous).await?) {
        containers.stop_role(spec, Role::Live).await?;
        containers.swap_live_and_previous(spec).await?;
        done.push(
            "finished an interrupted rollback: the proxy already sent to the previous container"
                .into(),
        );
    } else {
        if containers.inspect(spec, Role::Candidate).await? != WorkloadState::Missing {
            containers.remove(spec, Role::Candidate).await?;
            done.push("removed a candidate container left by an interrupted rollout".into());
        }
        if containers.inspect(spec, Role::Previous).await?.is_running() {
            containers.stop_role(spec, Role::Previous).await?;
            done.push("stopped the previous container an interrupted rollback had started".into());
        }
    }
    if let (Some(live), Some(route)) =
        (containers.running_endpoint(spec, Role::Live).await?, &route)
        && *route != upstream(&live)
        && !containers.publishes_port(spec).await?
    {
        let listen = caddy::listen_address(containers.settings.bind, spec.port);
        caddy
            .set_route(&id, &listen, &upstream(&live), None)
            .await?;
        done.push(format!(
            "pointed the proxy at {} again (its port had changed)",
            spec.name
        ));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::reload_warning;

    #[test]
    fn only_a_migrate_req_of_zero_is_warned_about() {
        let warning = reload_warning(Some("0\n")).expect("a warning for 0");
        assert!(
            warning.contains("sysctl -w net.ipv4.tcp_migrate_req=1"),
            "{warning}"
        );
        assert_eq!(reload_warning(Some("1\n")), None);
        // Not Linux, or a kernel before 5.14: nothing to set, nothing said.
        assert_eq!(reload_warning(None), None);
    }
}
