//! Canary and waves: which instances a deployment changes together, and what a failure
//! does to those already changed (`rollout.on_failure`).
//!
//! The plan is the pure [`plan_waves`]: the canary tenants (named, or by tag) alone first,
//! then the rest in file order, `batch` at a time. [`Deployer::roll_out_waves`] runs the
//! waves one after another (each with the environment's concurrency), pausing between them
//! when asked. After a wave with a failure no further wave starts; with `on_failure =
//! "rollback"` every instance this deployment switched, the canary included, is returned
//! to the release it ran before, through its runtime's normal rollout and verification,
//! and is recorded as `rolled_back_by_policy`. Without wave settings the whole deployment
//! is one wave, as it always was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use hoist_config::{EnvironmentSettings, OnFailure, WaveSettings};
use serde::Serialize;

use super::{Deployer, InstanceReport};
use crate::events::{EventKind, InstanceState};
use crate::runtime::{Rollout, Runtime};
use crate::store::InstanceOutcome;
use crate::{InstanceSpec, Release};

/// Instances that change together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wave {
    /// The canary wave: the tenants `rollout.canary`/`canary_tags` name.
    pub canary: bool,
    pub tenants: Vec<String>,
}

/// Splits `tenants` (in file order, each with its tags) into waves: the canaries first,
/// then `batch` at a time. Without settings, one wave of all.
pub fn plan_waves(tenants: &[(String, Vec<String>)], settings: Option<&WaveSettings>) -> Vec<Wave> {
    let Some(settings) = settings else {
        return vec![Wave {
            canary: false,
            tenants: tenants.iter().map(|(t, _)| t.clone()).collect(),
        }]
        .into_iter()
        .filter(|w| !w.tenants.is_empty())
        .collect();
    };
    let is_canary = |(tenant, tags): &(String, Vec<String>)| {
        settings.canary.contains(tenant) || tags.iter().any(|t| settings.canary_tags.contains(t))
    };
    let (canary, rest): (Vec<_>, Vec<_>) = tenants.iter().partition(|t| is_canary(t));
    let mut waves = Vec::new();
    if !canary.is_empty() {
        waves.push(Wave {
            canary: true,
            tenants: canary.into_iter().map(|(t, _)| t.clone()).collect(),
        });
    }
    let size = settings.batch.of(rest.len());
    for chunk in rest.chunks(size) {
        waves.push(Wave {
            canary: false,
            tenants: chunk.iter().map(|(t, _)| t.clone()).collect(),
        });
    }
    waves
}

/// What one rollout of waves needs besides the instances.
pub(super) struct WaveRun<'a> {
    /// Each instance's own runtime, by tenant: an environment may hold several kinds.
    pub runtimes: BTreeMap<String, Arc<dyn Runtime>>,
    pub release: &'a Release,
    pub deployment: i64,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Each instance's steps, noted from the events and written with its outcome.
    pub steps: &'a super::steps::StepLog,
}

impl Deployer {
    /// The waves a full deploy to `environment` runs, for `hoist plan`.
    pub fn planned_waves(&self, environment: &str) -> Result<Vec<Wave>, super::PipelineError> {
        let env = self.environment(environment)?;
        let tagged: Vec<(String, Vec<String>)> = env
            .instances
            .iter()
            .map(|i| (i.tenant.clone(), i.tags.clone()))
            .collect();
        Ok(plan_waves(&tagged, env.waves.as_ref()))
    }

    /// Rolls `instances` out wave by wave (see the module's documentation) and returns
    /// every instance's report, those of waves never started as `skipped`.
    pub(super) async fn roll_out_waves(
        &self,
        env: &EnvironmentSettings,
        instances: &[InstanceSpec],
        run: &WaveRun<'_>,
    ) -> Vec<InstanceReport> {
        let tagged: Vec<(String, Vec<String>)> = instances
            .iter()
            .map(|spec| {
                let tags = env
                    .instances
                    .iter()
                    .find(|i| i.tenant == spec.tenant)
                    .map(|i| i.tags.clone())
                    .unwrap_or_default();
                (spec.tenant.clone(), tags)
            })
            .collect();
        let settings = env.waves.as_ref();
        let waves = plan_waves(&tagged, settings);
        let rollback = settings.is_some_and(|s| s.on_failure == OnFailure::Rollback);
        // What each instance runs before this deployment touches it: where a rollback by
        // policy returns it.
        let previous = if rollback {
            self.previous_releases(&run.runtimes, instances).await
        } else {
            BTreeMap::new()
        };
        let halted = Arc::new(AtomicBool::new(false));
        let mut reports = Vec::new();
        for (index, wave) in waves.iter().enumerate() {
            let batch: Vec<InstanceSpec> = instances
                .iter()
                .filter(|i| wave.tenants.contains(&i.tenant))
                .cloned()
                .collect();
            let go_on = !halted.load(Ordering::SeqCst) && self.interrupt.signal().is_none();
            if settings.is_some() && go_on {
                if index > 0
                    && let Some(pause) = settings.and_then(|s| s.pause)
                {
                    self.note(EventKind::WavePaused {
                        wave: index + 1,
                        pause_ms: super::millis(pause),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.interrupt.requested() => {}
                    }
                }
                self.note(EventKind::WaveStarted {
                    wave: index + 1,
                    waves: waves.len(),
                    canary: wave.canary,
                    tenants: wave.tenants.clone(),
                });
            }
            reports.extend(self.roll_out_batch(run, &batch, &halted).await);
        }
        if let Some(settings) = settings
            && halted.load(Ordering::SeqCst)
        {
            let failed_wave = waves
                .iter()
                .position(|w| {
                    reports.iter().any(|r| {
                        w.tenants.contains(&r.tenant)
                            && !matches!(
                                r.state,
                                InstanceState::Healthy
                                    | InstanceState::Unchanged
                                    | InstanceState::Skipped
                            )
                    })
                })
                .map_or(0, |i| i + 1);
            if settings.on_failure == OnFailure::Rollback {
                self.roll_back_by_policy(instances, &mut reports, &previous, run)
                    .await;
            }
            let of = |state: InstanceState| -> Vec<String> {
                reports
                    .iter()
                    .filter(|r| r.state == state)
                    .map(|r| r.tenant.clone())
                    .collect()
            };
            self.note(EventKind::WavesStopped {
                policy: settings.on_failure.as_str().to_string(),
                failed_wave,
                waves: waves.len(),
                rolled_back_by_policy: of(InstanceState::RolledBackByPolicy),
                kept_new_release: of(InstanceState::Healthy),
                untouched: of(InstanceState::Skipped),
            });
        }
        reports
    }

    /// The release each instance runs now, by tenant, as recorded in the store (with the
    /// image the instance actually runs). Instances that run nothing, or a release the
    /// store does not know, have none: a rollback by policy cannot return them.
    async fn previous_releases(
        &self,
        runtimes: &BTreeMap<String, Arc<dyn Runtime>>,
        instances: &[InstanceSpec],
    ) -> BTreeMap<String, Release> {
        let mut previous = BTreeMap::new();
        for spec in instances {
            let Some(runtime) = runtimes.get(&spec.tenant) else {
                continue;
            };
            let Ok(observed) = runtime.observe(spec).await else {
                continue;
            };
            let (Some(version), Some(image_id)) =
                (observed.workload.release(), observed.workload.image_id())
            else {
                continue;
            };
            if let Ok(Some(mut release)) = self.store.find_release(self.app_name(), version) {
                // A rebuilt version may have another image: return to what ran.
                if release.image_id != image_id {
                    release.image_id = image_id.to_string();
                    release.digest = None;
                }
                previous.insert(spec.tenant.clone(), release);
            }
        }
        previous
    }

    /// `on_failure = "rollback"`: every instance this deployment switched goes back to
    /// the release it ran before, through its runtime's rollout and verification.
    async fn roll_back_by_policy(
        &self,
        instances: &[InstanceSpec],
        reports: &mut [InstanceReport],
        previous: &BTreeMap<String, Release>,
        run: &WaveRun<'_>,
    ) {
        let cause = reports
            .iter()
            .find(|r| matches!(r.state, InstanceState::Failed | InstanceState::RolledBack))
            .map(|r| format!("{} failed", r.tenant))
            .unwrap_or_else(|| "the rollout stopped".to_string());
        let switched: Vec<usize> = reports
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state == InstanceState::Healthy)
            .map(|(i, _)| i)
            .collect();
        let outcomes: Vec<(usize, InstanceState, String)> =
            futures::stream::iter(switched.into_iter().map(|index| {
                let tenant = reports[index].tenant.clone();
                let spec = instances.iter().find(|i| i.tenant == tenant);
                let before = previous.get(&tenant);
                let runtime = run.runtimes.get(&tenant).cloned();
                let cause = cause.clone();
                async move {
                    let (Some(spec), Some(before), Some(runtime)) = (spec, before, runtime) else {
                        let message = format!(
                            "kept {}: the rollback policy found nothing it ran before to return to",
                            run.release.version
                        );
                        self.events
                            .instance(&tenant, InstanceState::Healthy, &message);
                        return (index, InstanceState::Healthy, message);
                    };
                    self.events.instance(
                        &tenant,
                        InstanceState::RollingBack,
                        format!("rollback policy ({cause}): returning to {}", before.version),
                    );
                    let rollout =
                        Rollout::new(&tenant, self.prober.as_ref(), &self.events, run.timeout)
                            .masking(spec);
                    let (state, message) =
                        match runtime.roll_back(spec, before, &rollout).await {
                            Ok(_) => (
                                InstanceState::RolledBackByPolicy,
                                format!(
                                    "back on {} by the rollback policy ({cause}); {} was verified here first",
                                    before.version, run.release.version
                                ),
                            ),
                            Err(failure) => (
                                InstanceState::Failed,
                                format!(
                                    "the rollback policy ({cause}) could not return it to {}: {}",
                                    before.version,
                                    crate::task::redact_text(spec, &failure.message)
                                ),
                            ),
                        };
                    self.events.instance(&tenant, state, &message);
                    (index, state, message)
                }
            }))
            .buffer_unordered(run.concurrency)
            .collect()
            .await;
        for (index, state, message) in outcomes {
            let report = &mut reports[index];
            // The steps of the return (or of keeping the release) join those kept before.
            if let Some(spec) = instances.iter().find(|i| i.tenant == report.tenant) {
                self.record_steps(run.steps, run.deployment, spec);
            }
            if state == report.state && message == report.message {
                continue;
            }
            if state != InstanceState::Healthy {
                report.spec = None;
            }
            report.state = state;
            report.message = message;
            let outcome = InstanceOutcome {
                tenant: report.tenant.clone(),
                container: report.name.clone(),
                outcome: report.state.as_str().to_string(),
                message: report.message.clone(),
                started_at: jiff::Timestamp::now().to_string(),
                duration_ms: report.duration_ms,
                spec: report
                    .spec
                    .as_ref()
                    .map(crate::spec_digest::SpecDigest::to_label),
            };
            if let Err(e) = self.store.record_instance(run.deployment, &outcome) {
                self.events
                    .warning(format!("recording {}: {e}", report.tenant));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hoist_config::BatchSize;

    use super::*;

    fn fleet() -> Vec<(String, Vec<String>)> {
        [
            ("alpha", vec![]),
            ("bravo", vec!["eu"]),
            ("charlie", vec!["canary"]),
            ("delta", vec![]),
            ("echo", vec!["eu"]),
            ("foxtrot", vec![]),
        ]
        .into_iter()
        .map(|(t, tags)| (t.to_string(), tags.into_iter().map(String::from).collect()))
        .collect()
    }

    fn settings(canary: &[&str], tags: &[&str], batch: BatchSize) -> WaveSettings {
        WaveSettings {
            canary: canary.iter().map(|s| s.to_string()).collect(),
            canary_tags: tags.iter().map(|s| s.to_string()).collect(),
            batch,
            pause: None,
            on_failure: OnFailure::Rollback,
        }
    }

    fn tenants(waves: &[Wave]) -> Vec<Vec<&str>> {
        waves
            .iter()
            .map(|w| w.tenants.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn without_settings_everything_is_one_wave() {
        let waves = plan_waves(&fleet(), None);
        assert_eq!(waves.len(), 1);
        assert!(!waves[0].canary);
        assert_eq!(waves[0].tenants.len(), 6);
        assert!(plan_waves(&[], None).is_empty());
    }

    #[test]
    fn canaries_by_name_and_tag_go_first_then_batches_in_file_order() {
        let waves = plan_waves(
            &fleet(),
            Some(&settings(&["alpha"], &["canary"], BatchSize::Count(2))),
        );
        assert_eq!(
            tenants(&waves),
            vec![
                vec!["alpha", "charlie"],
                vec!["bravo", "delta"],
                vec!["echo", "foxtrot"]
            ]
        );
        assert!(waves[0].canary);
        assert!(!waves[1].canary);
    }

    #[test]
    fn a_percentage_is_of_the_instances_after_the_canary() {
        let waves = plan_waves(
            &fleet(),
            Some(&settings(&[], &["eu"], BatchSize::Percent(50))),
        );
        assert_eq!(
            tenants(&waves),
            vec![
                vec!["bravo", "echo"],
                vec!["alpha", "charlie"],
                vec!["delta", "foxtrot"]
            ]
        );
    }

    #[test]
    fn no_canary_present_means_batches_only() {
        let waves = plan_waves(
            &fleet()[..3],
            Some(&settings(&["zulu"], &[], BatchSize::Count(5))),
        );
        assert_eq!(tenants(&waves), vec![vec!["alpha", "bravo", "charlie"]]);
    }
}
