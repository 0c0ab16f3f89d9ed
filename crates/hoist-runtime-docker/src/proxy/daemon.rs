//! Starting the proxy when none answers on the admin address: `caddy run` as a daemon of
//! its own, which outlives hoist.
//!
//! It runs in its own process group (a Ctrl-C to hoist does not reach it), with a clean
//! environment (hoist's holds credentials), and keeps its state in its own directory:
//! `$XDG_STATE_HOME/hoist/caddy-ADMINPORT` (else `~/.local/state/...`). `--resume` makes a
//! restarted Caddy load the config hoist last set (Caddy saves it there as
//! `caddy/autosave.json`), so the routes survive a restart of the proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use hoist_core::backend::BackendError;
use serde_json::json;

/// The directory a hoist-started Caddy keeps its config, state and log in.
pub(crate) fn state_dir(admin: SocketAddr) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hoist").join(format!("caddy-{}", admin.port()))
}

/// The config Caddy starts with: its admin address and no servers.
///
/// No `grace_period`: Caddy 2.6 cancels a finite grace period's context as soon as a
/// config change returns, so the old server's shutdown ends at once and cuts the
/// connections it still holds (a client sees its connection closed without an answer;
/// the log says `server shutdown ... context canceled`). Without one, the old server
/// finishes every connection it accepted; hoist's own drain (`drain_timeout`) bounds how
/// long, since it stops the old container after it.
pub(crate) fn initial_config(admin: SocketAddr) -> serde_json::Value {
    json!({
        "admin": { "listen": admin.to_string() },
        "apps": { "http": {
            "servers": {}
        } }
    })
}

/// Starts `caddy run` for `admin`; the caller waits for the admin API to answer.
pub(crate) fn start(admin: SocketAddr) -> Result<PathBuf, BackendError> {
    if !admin.ip().is_loopback() {
        return Err(BackendError::new(format!(
            "no proxy answers at {admin}; hoist starts one only on a loopback admin address \
             (its admin API takes unauthenticated changes): start Caddy on that host with \
             `caddy run` and an admin listen address of {admin}, or use proxy_admin = \"127.0.0.1:PORT\""
        )));
    }
    let dir = state_dir(admin);
    let fail = |what: &str, e: std::io::Error| {
        BackendError::new(format!("cannot {what} {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail("create", e))?;
    let config = dir.join("initial.json");
    std::fs::write(&config, initial_config(admin).to_string()).map_err(|e| fail("write in", e))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("caddy.log"))
        .map_err(|e| fail("open the log in", e))?;
    let log_err = log.try_clone().map_err(|e| fail("open the log in", e))?;
    let mut command = Command::new("caddy");
    command
        .args(["run", "--resume", "--config"])
        .arg(&config)
        .env_clear()
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .env("XDG_DATA_HOME", &dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // Not waited for: it is meant to outlive hoist (init reaps it).
    command.spawn().map_err(|e| {
        BackendError::new(format!(
            "cannot start the proxy (`caddy run`): {e}; install Caddy (apt-get install caddy) \
             or run one yourself and set proxy_admin to its admin address"
        ))
    })?;
    tracing::info!(%admin, dir = %dir.display(), "started caddy");
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_config_has_the_admin_address_and_no_grace_period() {
        let c = initial_config("127.0.0.1:20419".parse().unwrap());
        assert_eq!(c["admin"]["listen"], "127.0.0.1:20419");
        assert_eq!(c["apps"]["http"]["grace_period"], serde_json::Value::Null);
        assert_eq!(c["apps"]["http"]["servers"], json!({}));
    }
}
