//! Rolling a release out to every instance of an environment with bounded concurrency.
//! How one instance changes is its runtime's business ([`crate::runtime::Runtime`]); here
//! is what every kind shares:
//!
//! 1. recover what an interrupted run left behind;
//! 2. if the instance already runs the release with the configured spec (the same
//!    [`SpecDigest`]) and verifies, leave it (`unchanged`); the same release with another
//!    spec is redeployed, saying which settings changed;
//! 3. otherwise have the runtime roll the release out and verify it;
//! 4. record each instance's outcome, and the steps it went through (see `steps`).
//!
//! After the first failure no further instance is started (the rest are `skipped`), so a
//! bad release does not walk through every tenant. A stop request (a signal) does the same,
//! and the runtime undoes the step in flight; the deployment is then `interrupted`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use super::waves::WaveRun;
use super::{Deployer, PipelineError, millis};
use crate::events::{EventKind, TenantOutcome};
use crate::runtime::{Rollout, Runtime, Workload, spec_digest};
use crate::spec_digest::{SpecDigest, redeploy_reason};
use crate::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord, InstanceOutcome};
use crate::verify::{Expectation, Verdict, verify};
use crate::{InstanceSpec, InstanceState, Release};

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
    /// Workloads labelled with this app and environment that the config no longer names
    /// (`hoist retire` removes them); left running, and warned about.
    pub orphans: Vec<Workload>,
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
    /// The workload's name on its runtime (container, service).
    pub name: String,
    pub state: InstanceState,
    pub message: String,
    /// The failing workload's last log lines.
    pub log_tail: Vec<String>,
    pub duration_ms: u64,
    /// The spec the instance runs after this deployment, when it took the release.
    #[serde(skip)]
    pub spec: Option<SpecDigest>,
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
        let instances = self.instances_with_secrets(environment).await?;
        self.scoped(environment)
            .roll_out_instances(environment, release, kind, lock, instances)
            .await
    }

    /// [`Deployer::roll_out`] of `instances`, whose secrets the caller has read.
    pub(super) async fn roll_out_instances(
        &self,
        environment: &str,
        release: &Release,
        kind: DeploymentKind,
        lock: &super::EnvLock,
        instances: Vec<InstanceSpec>,
    ) -> Result<DeploymentReport, PipelineError> {
        let env = self.environment(environment)?;
        // Each instance's own runtime: an environment may hold instances of several kinds.
        let runtimes = instances
            .iter()
            .map(|i| self.instance_runtime(i))
            .collect::<Result<Vec<_>, _>>()?;
        let concurrency = env.rollout.concurrency.get();
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
            // A deploy to some tenants only (`--tenant`, `--tag`) names them.
            subset: if instances.len() < env.instances.len() {
                instances.iter().map(|i| i.tenant.clone()).collect()
            } else {
                Vec::new()
            },
        })?;
        lock.set_deployment(deployment);
        // From here each instance's progress is also noted, to be kept with its outcome.
        let steps = Arc::new(super::steps::StepLog::default());
        let noting = self.noting_steps(&steps);
        self.record(EventKind::RolloutStarted {
            deployment,
            kind,
            version: release.version.clone(),
            image: release.image.clone(),
            instances: instances.len(),
            concurrency,
        })
        .await;
        for i in &instances {
            noting
                .events
                .instance(&i.tenant, InstanceState::Waiting, "");
        }

        let run = super::waves::WaveRun {
            runtimes: instances
                .iter()
                .map(|i| i.tenant.clone())
                .zip(runtimes)
                .collect(),
            release,
            deployment,
            timeout,
            concurrency,
            steps: &steps,
        };
        let mut reports = noting.roll_out_waves(env, &instances, &run).await;
        reports.sort_by(|a, b| a.tenant.cmp(&b.tenant));

        let failed: Vec<&InstanceReport> = reports
            .iter()
            .filter(|r| !matches!(r.state, InstanceState::Healthy | InstanceState::Unchanged))
            .collect();
        let interrupted = self.interrupt.signal().filter(|_| !failed.is_empty());
        let (outcome, message) = if let Some(signal) = interrupted {
            let changed = reports
                .iter()
                .filter(|r| r.state == InstanceState::Healthy)
                .count();
            (
                DeploymentOutcome::Interrupted,
                format!(
                    "stopped by {}: {} runs on {changed} of {} instance(s); the others run what they ran before",
                    signal.name(),
                    release.version,
                    reports.len()
                ),
            )
        } else if failed.is_empty() {
            let changed = reports
                .iter()
                .filter(|r| r.state == InstanceState::Healthy)
                .count();
            // A rollback after a deploy that switched nothing changes nothing: say so.
            let message = if kind == DeploymentKind::Rollback && changed == 0 {
                format!(
                    "{environment} already runs {} on every instance ({}); nothing was rolled back",
                    release.version,
                    reports.len()
                )
            } else {
                format!(
                    "{} verified on {} instance(s) ({changed} switched)",
                    release.version,
                    reports.len()
                )
            };
            (DeploymentOutcome::Succeeded, message)
        } else {
            // The instance that failed, not one a rollback policy returned afterwards.
            let first = failed
                .iter()
                .find(|r| matches!(r.state, InstanceState::Failed | InstanceState::RolledBack))
                .or_else(|| failed.iter().find(|r| r.state != InstanceState::Skipped))
                .unwrap_or(&failed[0]);
            let by_policy = reports
                .iter()
                .filter(|r| r.state == InstanceState::RolledBackByPolicy)
                .count();
            (
                DeploymentOutcome::Failed,
                format!(
                    "{} failed on {}: {}{}",
                    release.version,
                    first.tenant,
                    first.message,
                    if by_policy > 0 {
                        format!(
                            "; the rollback policy returned {by_policy} instance(s) to their previous release"
                        )
                    } else {
                        String::new()
                    }
                ),
            )
        };
        self.store
            .finish_deployment(deployment, outcome, &message)?;
        let orphans = self.warn_orphans(environment).await;
        self.record(EventKind::RolloutFinished {
            deployment,
            kind,
            version: release.version.clone(),
            image: release.image.clone(),
            outcome,
            message: message.clone(),
            took_ms: millis(started.elapsed()),
            tenants: reports
                .iter()
                .map(|r| TenantOutcome {
                    tenant: r.tenant.clone(),
                    state: r.state,
                    message: r.message.clone(),
                })
                .collect(),
        })
        .await;
        Ok(DeploymentReport {
            deployment,
            environment: environment.to_string(),
            kind,
            release: release.clone(),
            outcome,
            message,
            duration_ms: millis(started.elapsed()),
            instances: reports,
            orphans,
        })
    }

    /// Rolls `run.release` out to `batch`, up to `run.concurrency` instances at once,
    /// recording each outcome and its steps. Once an instance fails (`halted`), no
    /// further one starts.
    pub(super) async fn roll_out_batch(
        &self,
        run: &WaveRun<'_>,
        batch: &[InstanceSpec],
        halted: &Arc<AtomicBool>,
    ) -> Vec<InstanceReport> {
        let WaveRun {
            runtimes,
            release,
            deployment,
            timeout,
            concurrency,
            steps,
        } = run;
        let (release, deployment, timeout) = (*release, *deployment, *timeout);
        futures::stream::iter(batch.iter().map(|spec| {
            let halted = halted.clone();
            async move {
                let started = Instant::now();
                let started_at = jiff::Timestamp::now().to_string();
                let stop = if let Some(signal) = self.interrupt.signal() {
                    Some(format!("not attempted: stopped by {}", signal.name()))
                } else if halted.load(Ordering::SeqCst) {
                    Some("not attempted: an earlier instance failed".to_string())
                } else {
                    None
                };
                let mut report = if let Some(msg) = stop {
                    self.events
                        .instance(&spec.tenant, InstanceState::Skipped, &msg);
                    InstanceReport {
                        tenant: spec.tenant.clone(),
                        name: spec.name.clone(),
                        state: InstanceState::Skipped,
                        message: msg,
                        log_tail: vec![],
                        duration_ms: 0,
                        spec: None,
                    }
                } else {
                    match runtimes.get(&spec.tenant) {
                        Some(runtime) => {
                            self.roll_out_instance(
                                runtime.as_ref(),
                                spec,
                                release,
                                timeout,
                                deployment,
                            )
                            .await
                        }
                        // Every instance's runtime was looked up before the rollout began.
                        None => InstanceReport {
                            tenant: spec.tenant.clone(),
                            name: spec.name.clone(),
                            state: InstanceState::Failed,
                            message: format!("no runtime is set up for {}", spec.tenant),
                            log_tail: vec![],
                            duration_ms: 0,
                            spec: None,
                        },
                    }
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
                    container: report.name.clone(),
                    outcome: report.state.as_str().to_string(),
                    message: report.message.clone(),
                    started_at,
                    duration_ms: report.duration_ms,
                    spec: report.spec.as_ref().map(SpecDigest::to_label),
                };
                if let Err(e) = self.store.record_instance(deployment, &outcome) {
                    self.events
                        .warning(format!("recording {}: {e}", spec.tenant));
                }
                self.record_steps(steps, deployment, spec);
                report
            }
        }))
        .buffer_unordered(*concurrency)
        .collect()
        .await
    }

    async fn roll_out_instance(
        &self,
        runtime: &dyn Runtime,
        spec: &InstanceSpec,
        release: &Release,
        timeout: Duration,
        deployment: i64,
    ) -> InstanceReport {
        let rollout = Rollout::new(&spec.tenant, self.prober.as_ref(), &self.events, timeout)
            .interruptible(&self.interrupt)
            .masking(spec);
        let want = spec_digest(runtime, spec);
        let outcome = async {
            for action in runtime.recover(spec).await? {
                rollout.warn(action);
            }
            let observed = runtime.observe(spec).await?;
            // A changed secret is a change, even of a release that already runs.
            let mut changed = None;
            if observed.workload.is_running()
                && observed.workload.image_id() == Some(release.image_id.as_str())
                && (!runtime.applies_secrets() || observed.secrets == spec.secret_fingerprints())
            {
                let applied = runtime.applied_spec(spec).await?;
                match redeploy_reason(&want, applied.as_ref()) {
                    None => {
                        let observation = crate::runtime::probe_runtime(
                            runtime,
                            self.prober.as_ref(),
                            spec,
                            observed,
                        )
                        .await;
                        if verify(&observation, &Expectation::of(release, spec))
                            == Verdict::Verified
                        {
                            return Ok((
                                InstanceState::Unchanged,
                                format!("already runs {} and is healthy", release.version),
                            ));
                        }
                    }
                    Some(why) => {
                        rollout.progress(
                            InstanceState::Starting,
                            format!("redeploying {}: {why}", release.version),
                        );
                        changed = Some(why);
                    }
                }
            }
            // Release tasks (migrations) run before the switch; a failed one stops here.
            self.run_release_tasks(runtime, spec, release, deployment, &rollout)
                .await?;
            runtime
                .roll_out(spec, release, &rollout)
                .await
                .map(|applied| match changed {
                    Some(why) => (
                        InstanceState::Healthy,
                        format!("{} (redeployed: {why})", applied.message),
                    ),
                    None => (InstanceState::Healthy, applied.message),
                })
        }
        .await;
        let (state, message, log_tail) = match outcome {
            Ok((state, message)) => (state, message, vec![]),
            Err(failure) => (failure.state, failure.message, failure.log_tail),
        };
        // A failure may quote the app (its logs, an answer): what it was given is masked
        // before the outcome reaches the output, the database and the notifiers.
        let message = crate::task::redact_text(spec, &message);
        let log_tail = crate::task::redact(spec, &log_tail);
        let took = matches!(state, InstanceState::Healthy | InstanceState::Unchanged);
        self.events.instance(&spec.tenant, state, &message);
        InstanceReport {
            tenant: spec.tenant.clone(),
            name: spec.name.clone(),
            state,
            message,
            log_tail,
            duration_ms: 0,
            spec: took.then_some(want),
        }
    }
}
