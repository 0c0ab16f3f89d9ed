//! Docker's way of changing an instance: verify a candidate, switch the port, restore on
//! failure.
//!
//! 1. start a *candidate* container on a private port and verify it — the old container
//!    keeps serving meanwhile, so a broken release costs no downtime;
//! 2. stop the old container (kept as *previous*), start the new one on the published
//!    port and verify it — the short gap here is the only downtime;
//! 3. success: remove the previous container; failure: restore it.
//!
//! A live container the proxy switch started (the environment has left the proxy) loses
//! its server in that proxy at step 2, so the port is free; a restore puts it back.

use std::time::Instant;

use hoist_core::backend::BackendError;
use hoist_core::runtime::{Applied, InstanceFailure, InstanceSpec, Rollout, WorkloadState};
use hoist_core::verify::short_id;
use hoist_core::{InstanceState, Release};

use crate::containers::{Containers, Role};
use crate::proxy::{self, ProxySettings};
use crate::stop::{self, StopOutcome};

const LOG_LINES: usize = 20;

pub(crate) async fn switch(
    containers: &Containers,
    spec: &InstanceSpec,
    release: &Release,
    rollout: &Rollout<'_>,
) -> Result<Applied, InstanceFailure> {
    let live = containers.inspect(spec, Role::Live).await?;

    // Candidate: proves the release works for this tenant while the old one serves.
    rollout.progress(
        InstanceState::Starting,
        format!("new container for {} from {}", spec.name, release.image),
    );
    let candidate = match containers.start(spec, Role::Candidate, release).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            let _ = containers.remove(spec, Role::Candidate).await;
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
            candidate.url(&spec.health_path)
        ),
    );
    let verified = rollout
        .wait_verified(spec, release, InstanceState::Verifying, || async {
            containers
                .observe_role(spec, Role::Candidate, &candidate)
                .await
        })
        .await;
    if let Err(why) = verified {
        let logs = containers
            .logs(spec, Role::Candidate, LOG_LINES)
            .await
            .unwrap_or_default();
        let _ = containers.remove(spec, Role::Candidate).await;
        return Err(kept_old(
            &live,
            format!("new container failed verification: {why}"),
            logs,
        ));
    }

    // A stop requested while the candidate verified: the old container never stopped
    // serving, so undoing is removing the candidate.
    if let Some(signal) = rollout.interrupted() {
        let _ = containers.remove(spec, Role::Candidate).await;
        return Err(kept_old(
            &live,
            format!("stopped by {} before the switch", signal.name()),
            Vec::new(),
        ));
    }

    // Switch: the published port moves from the old container to a new one. The verified
    // candidate is removed meanwhile; it holds nothing the switch needs.
    rollout.progress(
        InstanceState::Switching,
        "moving the port to the new container",
    );
    let had_previous = live != WorkloadState::Missing;
    // A live container the proxy switch started: the proxy holds the published port.
    let left_proxy = if had_previous {
        containers.proxy_admin(&spec.host, &spec.name).await?
    } else {
        None
    };
    let demote = async {
        if had_previous {
            demote_live(containers, spec, rollout).await
        } else {
            Ok(())
        }
    };
    let (removed, demoted) = tokio::join!(containers.remove(spec, Role::Candidate), demote);
    removed?;
    demoted?;
    let live_endpoint = containers.live_endpoint(spec);
    // Free the port if the proxy holds it, start the new container on it and verify it;
    // any failure rolls back below.
    let verified = async {
        if let Some(admin) = left_proxy {
            rollout.warn(format!(
                "{} was served through the proxy at {admin}; this environment uses the port \
                 switch now, so its server there goes and the new container publishes port {} \
                 itself (a gap, this once)",
                spec.name, spec.port
            ));
            proxy::forget(&ProxySettings::named_by_label(admin), &spec.name)
                .await
                .map_err(|e| {
                    format!(
                        "could not remove {} from the proxy at {admin}: {e}",
                        spec.name
                    )
                })?;
        }
        containers
            .start(spec, Role::Live, release)
            .await
            .map_err(|e| format!("could not start the new container: {e}"))?;
        rollout.progress(
            InstanceState::Verifying,
            format!(
                "probing the live container at {}",
                live_endpoint.url(&spec.health_path)
            ),
        );
        rollout
            .wait_verified(spec, release, InstanceState::Verifying, || async {
                containers
                    .observe_role(spec, Role::Live, &live_endpoint)
                    .await
            })
            .await
    }
    .await;
    match verified {
        Ok(()) => {
            if let Err(e) = containers.remove(spec, Role::Previous).await {
                rollout.warn(format!("could not remove the previous container: {e}"));
            }
            Ok(Applied {
                message: format!("runs {} ({})", release.version, short_id(&release.image_id)),
            })
        }
        Err(why) => {
            rollout.progress(InstanceState::RollingBack, &why);
            let logs = containers
                .logs(spec, Role::Live, LOG_LINES)
                .await
                .unwrap_or_default();
            let _ = containers.remove(spec, Role::Live).await;
            if !had_previous {
                return Err(InstanceFailure::failed(format!(
                    "{why}; there was no previous container to restore"
                ))
                .with_log(logs));
            }
            let restored = async {
                containers.restore_previous(spec).await?;
                match left_proxy {
                    Some(admin) => back_behind_proxy(containers, spec, admin).await,
                    None => Ok(()),
                }
            }
            .await;
            match restored {
                Ok(()) => Err(InstanceFailure::rolled_back(format!(
                    "{why}; the previous container serves again"
                ))
                .with_log(logs)),
                Err(e) => Err(InstanceFailure::failed(format!(
                    "{why}; restoring the previous container failed too: {e}"
                ))
                .with_log(logs)),
            }
        }
    }
}

/// Points the proxy the restored container was started behind at it again, as before the
/// failed switch away from that proxy.
async fn back_behind_proxy(
    containers: &Containers,
    spec: &InstanceSpec,
    admin: std::net::SocketAddr,
) -> Result<(), BackendError> {
    let endpoint = containers
        .running_endpoint(spec, Role::Live)
        .await?
        .ok_or_else(|| {
            BackendError::new(format!("{} does not run after its restore", spec.name))
        })?;
    proxy::repoint(
        containers,
        &ProxySettings::named_by_label(admin),
        spec,
        &endpoint,
    )
    .await
}

/// Stops the live container, showing the wait for it to exit, warns when the engine had to
/// kill it, and keeps it as the previous container.
async fn demote_live(
    containers: &Containers,
    spec: &InstanceSpec,
    rollout: &Rollout<'_>,
) -> Result<(), BackendError> {
    let timeout = containers.settings.stop_timeout;
    let (signal, was_running) = containers.before_stop(spec).await?;
    if was_running {
        rollout.progress(
            InstanceState::Switching,
            format!(
                "stopping the old container ({signal}; killed after {} s)",
                timeout.as_secs()
            ),
        );
    }
    let started = Instant::now();
    let stop = containers.stop_live(spec);
    tokio::pin!(stop);
    let mut reports = 0;
    let (exit_code, oom_killed) = loop {
        let next = tokio::time::sleep_until((started + stop::report_at(reports)).into());
        tokio::select! {
            stopped = &mut stop => break stopped?,
            () = next => {
                rollout.progress(
                    InstanceState::Switching,
                    stop::waiting_message(&signal, started.elapsed(), timeout),
                );
                reports += 1;
            }
        }
    };
    let outcome = StopOutcome {
        signal: &signal,
        exit_code,
        oom_killed,
        waited: started.elapsed(),
        timeout,
    };
    if was_running && stop::needed_kill(&outcome) {
        rollout.warn(format!(
            "the old container {} did not exit within {} s of {signal} and was killed (SIGKILL); \
             make its PID 1 handle {signal} (an init such as tini, or `exec` in the entrypoint), \
             or set [environments.{}.rollout] stop_timeout",
            spec.name,
            timeout.as_secs(),
            spec.environment
        ));
    }
    if was_running {
        rollout.progress(
            InstanceState::Switching,
            format!(
                "the old container exited after {} s; starting the new one on port {}",
                outcome.waited.as_secs(),
                spec.port
            ),
        );
    }
    containers.keep_as_previous(spec).await
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
