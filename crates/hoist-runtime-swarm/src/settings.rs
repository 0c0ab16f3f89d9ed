//! How services are run and updated on a swarm: validated, span-free values. The config
//! crate's `[environments.NAME.runtime] kind = "swarm"` table maps onto [`SwarmSettings`];
//! nothing here parses or validates text.

use std::num::NonZeroU32;
use std::time::Duration;

/// Everything the Swarm runtime needs besides the instances themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmSettings {
    /// The address of a swarm manager's Docker engine (`unix:///var/run/docker.sock`,
    /// `tcp://host:2375`). Services are created through it, and published ports are probed
    /// on its host.
    pub host: String,
    /// Tasks per service.
    pub replicas: NonZeroU32,
    pub publish: Publish,
    pub update: UpdateSettings,
}

impl Default for SwarmSettings {
    fn default() -> Self {
        SwarmSettings {
            host: "unix:///var/run/docker.sock".into(),
            replicas: NonZeroU32::MIN,
            publish: Publish::default(),
            update: UpdateSettings::default(),
        }
    }
}

impl SwarmSettings {
    /// Combinations that Swarm accepts but that cannot finish on a small swarm, said once
    /// per rollout so that a stuck update is not a mystery.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.publish == Publish::Host && self.update.order == Order::StartFirst {
            out.push(
                "start-first with host-mode publishing needs a node where the port is free for \
                 each new task; on a single node the new task waits for the old one, which waits \
                 for the new one"
                    .to_string(),
            );
        }
        if self.publish == Publish::Host && self.replicas.get() > 1 {
            out.push(format!(
                "{} replicas with host-mode publishing need {} nodes: one task per node can bind \
                 the port",
                self.replicas, self.replicas
            ));
        }
        out
    }
}

/// How a service's port is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Publish {
    /// Bound on the node that runs the task (`mode=host`). The default: it answers at once,
    /// while on this project's machines the routing mesh never answered.
    #[default]
    Host,
    /// Through Swarm's routing mesh, on every node (`mode=ingress`, Swarm's own default).
    Ingress,
}

/// Swarm's `UpdateConfig` (and, with the same values, its `RollbackConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSettings {
    /// Tasks updated at once; 0 updates all at once (Swarm's meaning).
    pub parallelism: u32,
    /// Pause between batches of tasks.
    pub delay: Duration,
    pub order: Order,
    /// How long Swarm watches each updated task for a failure before it counts the task
    /// as updated.
    pub monitor: Duration,
    /// What Swarm does by itself when an updated task fails within `monitor`. hoist rolls a
    /// failed update back whatever this says; this decides what happens when hoist is not
    /// there to see it (killed, or the task failing after hoist verified it).
    pub failure_action: FailureAction,
}

impl Default for UpdateSettings {
    /// One task at a time, stop-first (the only order host-mode publishing can finish on
    /// one node), Swarm's 5 s monitor, and roll back on failure.
    fn default() -> Self {
        UpdateSettings {
            parallelism: 1,
            delay: Duration::ZERO,
            order: Order::StopFirst,
            monitor: Duration::from_secs(5),
            failure_action: FailureAction::Rollback,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Stop the old task, then start the new one: a gap per task, no port conflict.
    StopFirst,
    /// Start the new task first; old and new briefly run together.
    StartFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Swarm rolls the service back to its previous spec.
    Rollback,
    /// Swarm pauses the update and leaves the service half-updated.
    Pause,
    /// Swarm carries on with the update.
    Continue,
}
