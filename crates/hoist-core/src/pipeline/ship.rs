//! The part every changing command shares once the release is known: hooks around the
//! rollout, the rollout itself, and the notifications of its start and end.

use std::time::Instant;

use hoist_hooks::{HookContext, Hooks, Outcome, Stage as HookStage};

use super::{Deployer, DeploymentReport, EnvLock, PipelineError, millis};
use crate::Release;
use crate::events::EventKind;
use crate::store::DeploymentKind;

impl Deployer {
    /// Hooks around a rollout, the rollout, and its notifications. `subset`: the tenants
    /// to roll out to, when not every instance.
    pub(super) async fn ship(
        &self,
        environment: &str,
        release: &Release,
        kind: DeploymentKind,
        lock: &EnvLock,
        hooks: &Hooks,
        subset: Option<&[String]>,
    ) -> Result<DeploymentReport, PipelineError> {
        let started = Instant::now();
        let version = &release.version;
        // Read before anything runs: a secret that cannot be read changes nothing.
        let mut instances = match self.instances_with_secrets(environment).await {
            Ok(instances) => instances,
            Err(e) => return Err(self.record_failure(version, started, e).await),
        };
        if let Some(tenants) = subset {
            instances.retain(|i| tenants.contains(&i.tenant));
        }
        let mut context = self.hook_context(environment, version, Some(release.image.clone()));
        self.run_hook(hooks, HookStage::BeforeDeploy, &context, version, started)
            .await?;
        self.stop_if_requested(version, started).await?;
        let report = self
            .scoped(environment)
            .roll_out_instances(environment, release, kind, lock, instances)
            .await;
        let succeeded = report.as_ref().is_ok_and(DeploymentReport::succeeded);
        context.outcome = Some(if succeeded {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        });
        if let Err(e) = hooks.run(HookStage::AfterDeploy, &context).await {
            tracing::warn!("{e}");
            self.note(EventKind::HookFailed {
                version: version.clone(),
                hook: HookStage::AfterDeploy.to_string(),
                reason: e.to_string(),
            });
        }
        if succeeded {
            // Old images and stopped containers go while the lock is still held.
            self.scoped(environment)
                .prune_after_deploy(environment, release)
                .await;
        }
        // The rollout's end is notified by the observer; an error that kept it from ending
        // is notified here.
        match report {
            Err(e) => Err(self.record_failure(version, started, e).await),
            ok => ok,
        }
    }

    /// Runs a pre-stage hook; a failure is notified and aborts.
    pub(super) async fn run_hook(
        &self,
        hooks: &Hooks,
        stage: HookStage,
        context: &HookContext,
        version: &str,
        started: Instant,
    ) -> Result<(), PipelineError> {
        match hooks.run(stage, context).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.note(EventKind::HookFailed {
                    version: version.to_string(),
                    hook: stage.to_string(),
                    reason: e.to_string(),
                });
                Err(self.record_failure(version, started, e.into()).await)
            }
        }
    }

    /// Between stages: a stop request ends the run here, notified as a failure that
    /// changed nothing on the instances.
    pub(super) async fn stop_if_requested(
        &self,
        version: &str,
        started: Instant,
    ) -> Result<(), PipelineError> {
        match self.checkpoint(true) {
            Err(e) => Err(self.record_failure(version, started, e).await),
            Ok(()) => Ok(()),
        }
    }

    /// A run that ended before its rollout could: notified (and so audited) as failed,
    /// and handed back.
    pub(super) async fn record_failure(
        &self,
        version: &str,
        started: Instant,
        error: PipelineError,
    ) -> PipelineError {
        self.record(EventKind::Failed {
            version: version.to_string(),
            reason: error.to_string(),
            took_ms: millis(started.elapsed()),
        })
        .await;
        error
    }

    pub(super) fn hook_context(
        &self,
        environment: &str,
        version: &str,
        image: Option<String>,
    ) -> HookContext {
        HookContext {
            dir: self.config.root.clone(),
            app: self.app_name().to_string(),
            version: version.to_string(),
            environment: environment.to_string(),
            actor: self.actor.clone(),
            image,
            outcome: None,
        }
    }
}
