//! The machine's single-node swarm, for the suites that deploy to Swarm services.

use std::process::Command;

/// Initialises a single-node swarm on loopback when the engine is not in one (CI's setup
/// does it too). Host-mode publishing answers here; the routing mesh does not.
pub fn ensure_swarm() {
    let state = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .expect("docker info");
    if String::from_utf8_lossy(&state.stdout).trim() == "active" {
        return;
    }
    let init = Command::new("docker")
        .args(["swarm", "init", "--advertise-addr", "127.0.0.1"])
        .output()
        .expect("docker swarm init");
    // Two suites may race to init: the loser finds the swarm active.
    let state = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .expect("docker info");
    assert!(
        String::from_utf8_lossy(&state.stdout).trim() == "active",
        "docker swarm init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
}
