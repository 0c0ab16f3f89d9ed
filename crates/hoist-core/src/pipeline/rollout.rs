//! Rolling a release out to every instance of an environment, one state machine per
//! instance, run with bounded concurrency:
//!
//! 1. recover what an interrupted run left behind;
//! 2. if the live container already runs the release and verifies, leave it (`unchanged`);
//! 3. start a *candidate* container on a private port and verify it — the old container
//!    keeps serving meanwhile, so a broken release costs no downtime;
//! 4. stop the old container (kept as *previous*), start the new one on the published
//!    port and verify it — the short gap here is the only downtime;
//! 5. success: remove the previous container; failure: restore it.
//!
//! After the first failure no further instance is started (the rest are `skipped`), so a
//! bad release does not walk through every tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use super::{Deployer, PipelineError, millis};
use crate::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome};
use crate::target::{ContainerState, Endpoint, Role};
use crate::verify::{Expectation, Observation, Verdict, short_id, verify};
use crate::{Event, InstanceSpec, InstanceState, Release, Stage};

/// How often a starting container is probed: short, because every poll is a possible
/// wait added to the switch gap.
const POLL_EVERY: Duration = Duration::from_millis(100);
const LOG_LINES: usize = 20;

/// The result of one deployment.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentReport {
    pub deployment: i64,
    pub environment: String,
    pub kind: DeploymentKind,
    pub release: Release,
    pub outcome: DeploymentOutcome,
    pub message: String,
    pub duration_ms: u64,
    pub instances: Vec<InstanceReport>,
}

impl DeploymentReport {
    pub fn succeeded(&self) -> bool {
        self.outcome == DeploymentOutcome::Succeeded
    }
}

/// How one instance fared.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub tenant: String,
    pub container: String,
    pub state: InstanceState,
    pub message: String,
    /// The failing container's last log lines.
    pub log_tail: Vec<String>,
    pub duration_ms: u64,
}

impl Deployer {
    /// Rolls `release` out to every instance of `environment` and records the deployment.
    pub async fn roll_out(
        &self,
        environment: &str,
        release: &Release,
        kind: DeploymentKind,
        lock: &super::EnvLock,
    ) -> Result<DeploymentReport, PipelineError> {
        let env = self.environment(environment)?;
        let instances = self.instances(environment)?;
        let concurrency = *env.rollout.concurrency.get_ref();
        let timeout = env.rollout.health_timeout;
        let started = Instant::now();
        let started_at = jiff::Timestamp::now().to_string();
        let deployment = self.store.begin_deployment(&DeploymentRecord {
            id: 0,
            app: self.app_name().to_string(),
            environment: environment.to_string(),
            kind,
            version: release.version.clone(),
            image_id: release.image_id.clone(),
            actor: self.actor.clone(),
            started_at,
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: Vec::new(),
        })?;
        lock.set_deployment(deployment);
        self.audit(
            Some(environment),
            &format!("{}.started", kind.as_str()),
            Some(&release.version),
            format!("{} to {} instance(s)", release.image, instances.len()),
        );
        self.events.emit(Event::StageStarted {
            stage: Stage::Rollout,
            detail: format!(
                "{} to {} instance(s) of {environment}, {concurrency} at a time",
                release.version,
                instances.len()
            ),
        });
        for i in &instances {
            self.events.instance(&i.tenant, InstanceState::Waiting, "");
        }

        let halted = Arc::new(AtomicBool::new(false));
        let mut reports: Vec<InstanceReport> =
            futures::stream::iter(instances.iter().map(|spec| {
                let halted = halted.clone();
                async move {
                    let started = Instant::now();
                    let started_at = jiff::Timestamp::now().to_string();
                    let mut report = if halted.load(Ordering::SeqCst) {
                        let msg = "not attempted: an earlier instance failed".to_string();
                        self.events
                            .instance(&spec.tenant, InstanceState::Skipped, &msg);
                        InstanceReport {
                            tenant: spec.tenant.clone(),
                            container: spec.container.clone(),
                            state: InstanceState::Skipped,
                            message: msg,
                            log_tail: vec![],
                            duration_ms: 0,
                        }
                    } else {
                        self.roll_out_instance(spec, release, timeout).await
                    };
                    report.duration_ms = millis(started.elapsed());
                    if !matches!(
                        report.state,
                        InstanceState::Healthy | InstanceState::Unchanged | InstanceState::Skipped
                    ) {
                        halted.store(true, Ordering::SeqCst);
                    }
                    let outcome = InstanceOutcome {
                        tenant: report.tenant.clone(),
                        container: report.container.clone(),
                        // The same name as in JSON output (`rolled_back`).
                        outcome: serde_json::to_value(report.state)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        message: report.message.clone(),
                        started_at,
                        duration_ms: report.duration_ms,
                    };
                    if let Err(e) = self.store.record_instance(deployment, &outcome) {
                        self.events.emit(Event::Warning {
                            message: format!("recording {}: {e}", spec.tenant),
                        });
                    }
                    report
                }
            }))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        reports.sort_by(|a, b| a.tenant.cmp(&b.tenant));

        let failed: Vec<&InstanceReport> = reports
            .iter()
            .filter(|r| !matches!(r.state, InstanceState::Healthy | InstanceState::Unchanged))
            .collect();
        let (outcome, message) = if failed.is_empty() {
            let changed = reports
                .iter()
                .filter(|r| r.state == InstanceState::Healthy)
                .count();
            (
                DeploymentOutcome::Succeeded,
                format!(
                    "{} verified on {} instance(s) ({changed} switched)",
                    release.version,
                    reports.len()
                ),
            )
        } else {
            let first = failed
                .iter()
                .find(|r| r.state != InstanceState::Skipped)
                .unwrap_or(&failed[0]);
            (
                DeploymentOutcome::Failed,
                format!(
                    "{} failed on {}: {}",
                    release.version, first.tenant, first.message
                ),
            )
        };
        self.store
            .finish_deployment(deployment, outcome, &message)?;
        self.audit(
            Some(environment),
            &format!("{}.{}", kind.as_str(), outcome.as_str()),
            Some(&release.version),
            message.clone(),
        );
        self.events.emit(Event::StageFinished {
            stage: Stage::Rollout,
            detail: message.clone(),
            took: started.elapsed(),
        });
        Ok(DeploymentReport {
            deployment,
            environment: environment.to_string(),
            kind,
            release: release.clone(),
            outcome,
            message,
            duration_ms: millis(started.elapsed()),
            instances: reports,
        })
    }

    async fn roll_out_instance(
        &self,
        spec: &InstanceSpec,
        release: &Release,
        timeout: Duration,
    ) -> InstanceReport {
        let mut report = InstanceReport {
            tenant: spec.tenant.clone(),
            container: spec.container.clone(),
            state: InstanceState::Failed,
            message: String::new(),
            log_tail: vec![],
            duration_ms: 0,
        };
        let (state, message, log_tail) = match self.switch_instance(spec, release, timeout).await {
            Ok((state, message)) => (state, message, vec![]),
            Err(failure) => (failure.state, failure.message, failure.log_tail),
        };
        self.events.instance(&spec.tenant, state, &message);
        report.state = state;
        report.message = message;
        report.log_tail = log_tail;
        report
    }

    async fn switch_instance(
        &self,
        spec: &InstanceSpec,
        release: &Release,
        timeout: Duration,
    ) -> Result<(InstanceState, String), Failure> {
        let target = &self.target;
        let tenant = &spec.tenant;
        for action in target.recover(spec).await.map_err(Failure::early)? {
            self.events.emit(Event::Warning {
                message: format!("{tenant}: {action}"),
            });
        }
        let expect = Expectation {
            image_id: &release.image_id,
            version: &release.version,
            health_path: &spec.health_path,
            version_path: spec.version_path.as_deref(),
        };

        let live = target
            .inspect(spec, Role::Live)
            .await
            .map_err(Failure::early)?;
        if live.image_id() == Some(release.image_id.as_str()) && live.is_running() {
            let observed = self
                .observe(spec, Role::Live, &target.live_endpoint(spec))
                .await
                .map_err(Failure::early)?;
            if verify(&observed, &expect) == Verdict::Verified {
                return Ok((
                    InstanceState::Unchanged,
                    format!("already runs {} and is healthy", release.version),
                ));
            }
        }

        // Candidate: proves the release works for this tenant while the old one serves.
        self.events.instance(
            tenant,
            InstanceState::StartingCandidate,
            format!("{} from {}", spec.container, release.image),
        );
        let candidate = match target.start(spec, Role::Candidate, release).await {
            Ok(endpoint) => endpoint,
            Err(e) => {
                let _ = target.remove(spec, Role::Candidate).await;
                return Err(Failure::kept_old(
                    &live,
                    format!("could not start the new container: {e}"),
                    e.log_tail,
                ));
            }
        };
        self.events.instance(
            tenant,
            InstanceState::VerifyingCandidate,
            format!("probing {}", candidate.url(&spec.health_path)),
        );
        if let Err(why) = self
            .wait_verified(
                spec,
                Role::Candidate,
                &candidate,
                &expect,
                timeout,
                InstanceState::VerifyingCandidate,
            )
            .await
        {
            let logs = target
                .logs(spec, Role::Candidate, LOG_LINES)
                .await
                .unwrap_or_default();
            let _ = target.remove(spec, Role::Candidate).await;
            return Err(Failure::kept_old(
                &live,
                format!("new container failed verification: {why}"),
                logs,
            ));
        }
        // Switch: the published port moves from the old container to a new one. The
        // verified candidate is removed meanwhile; it holds nothing the switch needs.
        self.events.instance(tenant, InstanceState::Switching, "");
        let had_previous = live != ContainerState::Missing;
        let demote = async {
            if had_previous {
                target.demote_live(spec).await
            } else {
                Ok(())
            }
        };
        let (removed, demoted) = tokio::join!(target.remove(spec, Role::Candidate), demote);
        removed.map_err(Failure::early)?;
        demoted.map_err(Failure::early)?;
        let live_endpoint = target.live_endpoint(spec);
        let started = target.start(spec, Role::Live, release).await;
        let verified = match started {
            Ok(_) => {
                self.events.instance(
                    tenant,
                    InstanceState::VerifyingLive,
                    format!("probing {}", live_endpoint.url(&spec.health_path)),
                );
                self.wait_verified(
                    spec,
                    Role::Live,
                    &live_endpoint,
                    &expect,
                    timeout,
                    InstanceState::VerifyingLive,
                )
                .await
            }
            Err(e) => Err(format!("could not start the new container: {e}")),
        };
        match verified {
            Ok(()) => {
                if let Err(e) = target.remove(spec, Role::Previous).await {
                    self.events.emit(Event::Warning {
                        message: format!("{tenant}: could not remove the previous container: {e}"),
                    });
                }
                Ok((
                    InstanceState::Healthy,
                    format!("runs {} ({})", release.version, short_id(&release.image_id)),
                ))
            }
            Err(why) => {
                self.events
                    .instance(tenant, InstanceState::RollingBack, &why);
                let logs = target
                    .logs(spec, Role::Live, LOG_LINES)
                    .await
                    .unwrap_or_default();
                let _ = target.remove(spec, Role::Live).await;
                if !had_previous {
                    return Err(Failure {
                        state: InstanceState::Failed,
                        message: format!("{why}; there was no previous container to restore"),
                        log_tail: logs,
                    });
                }
                match target.restore_previous(spec).await {
                    Ok(()) => Err(Failure {
                        state: InstanceState::RolledBack,
                        message: format!("{why}; the previous container serves again"),
                        log_tail: logs,
                    }),
                    Err(e) => Err(Failure {
                        state: InstanceState::Failed,
                        message: format!("{why}; restoring the previous container failed too: {e}"),
                        log_tail: logs,
                    }),
                }
            }
        }
    }

    /// Polls until the container in `role` verifies, fails for good, or `timeout` passes.
    /// The message of each new pending state is reported, so the user sees what is awaited.
    async fn wait_verified(
        &self,
        spec: &InstanceSpec,
        role: Role,
        endpoint: &Endpoint,
        expect: &Expectation<'_>,
        timeout: Duration,
        state: InstanceState,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let observed = self
                .observe(spec, role, endpoint)
                .await
                .map_err(|e| e.to_string())?;
            match verify(&observed, expect) {
                Verdict::Verified => return Ok(()),
                Verdict::Failed(why) => return Err(why),
                Verdict::Pending(why) => {
                    if Instant::now() >= deadline {
                        return Err(format!("not verified within {}s: {why}", timeout.as_secs()));
                    }
                    if why != last {
                        self.events.instance(&spec.tenant, state, &why);
                        last = why;
                    }
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    }

    pub(crate) async fn observe(
        &self,
        spec: &InstanceSpec,
        role: Role,
        endpoint: &Endpoint,
    ) -> Result<Observation, crate::target::BackendError> {
        let container = self.target.inspect(spec, role).await?;
        let (health, version) = if container.is_running() {
            let health = self.prober.get(endpoint, &spec.health_path).await;
            let version = match &spec.version_path {
                Some(path) if health.as_ref().is_ok_and(|(s, _)| (200..300).contains(s)) => {
                    Some(self.prober.get(endpoint, path).await)
                }
                _ => None,
            };
            (Some(health), version)
        } else {
            (None, None)
        };
        Ok(Observation {
            container,
            health,
            version,
        })
    }
}

/// Why an instance did not take the release, and what it runs now.
struct Failure {
    state: InstanceState,
    message: String,
    log_tail: Vec<String>,
}

impl Failure {
    /// Failed before anything was switched.
    fn early(e: crate::target::BackendError) -> Failure {
        Failure {
            state: InstanceState::Failed,
            message: e.message,
            log_tail: e.log_tail,
        }
    }

    /// Failed while the old container kept serving untouched.
    fn kept_old(live: &ContainerState, why: String, log_tail: Vec<String>) -> Failure {
        if live.is_running() {
            Failure {
                state: InstanceState::RolledBack,
                message: format!("{why}; the previous container kept serving"),
                log_tail,
            }
        } else {
            Failure {
                state: InstanceState::Failed,
                message: why,
                log_tail,
            }
        }
    }
}
