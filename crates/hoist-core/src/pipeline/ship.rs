//! The part every changing command shares once the release is known: hooks around the
//! rollout, the rollout itself, and the notifications of its start and end.

use std::time::Instant;

use hoist_hooks::{HookContext, Hooks, Outcome, Stage as HookStage};

use super::{Deployer, DeploymentReport, EnvLock, PipelineError};
use crate::Release;
use crate::notify::{EventKind, Notice, TenantReport};
use crate::store::DeploymentKind;

impl Deployer {
    /// Hooks around a rollout, the rollout, and its notifications.
    pub(super) async fn ship(
        &self,
        environment: &str,
        release: &Release,
        kind: DeploymentKind,
        lock: &EnvLock,
        hooks: &Hooks,
    ) -> Result<DeploymentReport, PipelineError> {
        let started = Instant::now();
        let version = &release.version;
        let mut context = self.hook_context(environment, version, Some(release.image.clone()));
        self.run_hook(
            hooks,
            HookStage::BeforeDeploy,
            &context,
            environment,
            version,
            started,
        )
        .await?;
        self.send(&self.notice(
            EventKind::Started,
            environment,
            version,
            Some(&release.image),
            None,
            started,
        ))
        .await;

        let report = self.roll_out(environment, release, kind, lock).await;
        let succeeded = report.as_ref().is_ok_and(DeploymentReport::succeeded);
        context.outcome = Some(if succeeded {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        });
        if let Err(e) = hooks.run(HookStage::AfterDeploy, &context).await {
            let message = e.to_string();
            tracing::warn!("{message}");
            self.events.emit(crate::Event::Warning {
                message: message.clone(),
            });
            self.audit(Some(environment), "hook.failed", Some(version), message);
        }

        let notice = match &report {
            Ok(r) => {
                let event = match (r.succeeded(), kind) {
                    (true, DeploymentKind::Rollback) => EventKind::RolledBack,
                    (true, _) => EventKind::Succeeded,
                    (false, _) => EventKind::Failed,
                };
                let mut n = self.notice(
                    event,
                    environment,
                    version,
                    Some(&release.image),
                    (!r.succeeded()).then(|| r.message.clone()),
                    started,
                );
                n.tenants = r
                    .instances
                    .iter()
                    .map(|i| TenantReport {
                        tenant: i.tenant.clone(),
                        state: i.state,
                        detail: i.message.clone(),
                    })
                    .collect();
                n
            }
            Err(e) => self.notice(
                EventKind::Failed,
                environment,
                version,
                Some(&release.image),
                Some(e.to_string()),
                started,
            ),
        };
        self.send(&notice).await;
        report
    }

    /// Runs a pre-stage hook; a failure is notified and aborts.
    pub(super) async fn run_hook(
        &self,
        hooks: &Hooks,
        stage: HookStage,
        context: &HookContext,
        environment: &str,
        version: &str,
        started: Instant,
    ) -> Result<(), PipelineError> {
        match hooks.run(stage, context).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.audit(
                    Some(environment),
                    "hook.failed",
                    Some(version),
                    e.to_string(),
                );
                self.send(&self.notice(
                    EventKind::Failed,
                    environment,
                    version,
                    None,
                    Some(e.to_string()),
                    started,
                ))
                .await;
                Err(e.into())
            }
        }
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

    pub(super) fn notice(
        &self,
        kind: EventKind,
        environment: &str,
        version: &str,
        image: Option<&str>,
        reason: Option<String>,
        started: Instant,
    ) -> Notice {
        Notice {
            kind,
            environment: environment.to_string(),
            version: version.to_string(),
            image: image.map(str::to_string),
            actor: self.actor.clone(),
            duration: (kind != EventKind::Started).then(|| started.elapsed()),
            reason,
            tenants: Vec::new(),
        }
    }
}
