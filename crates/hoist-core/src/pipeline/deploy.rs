//! The commands that change an environment from a release it names: deploy (build or
//! reuse, then roll out), rollback and promote (roll out a known image). Each runs the
//! policy gate, the promotion check and the lock before [`Deployer::ship`] takes over.

use std::time::Instant;

use hoist_hooks::Stage as HookStage;
use hoist_policy::GitRef;

use super::gate::{Override, ref_for_version};
use super::{Deployer, DeploymentReport, EnvLock, LockWait, PipelineError};
use crate::Release;
use crate::events::EventKind;
use crate::store::{DeploymentKind, DeploymentOutcome};
use crate::version::SourceVersion;

/// How `deploy` should run.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// `--version`; default from git.
    pub version: Option<String>,
    /// The ref being deployed, for policy; default: the tag or branch at HEAD.
    pub git_ref: Option<GitRef>,
    pub wait: LockWait,
    pub overrides: Override,
    /// `--tenant`/`--tag`: deploy to these instances only.
    pub subset: super::Subset,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            version: None,
            git_ref: None,
            wait: LockWait::Refuse,
            overrides: Override::default(),
            subset: super::Subset::all(),
        }
    }
}

impl Deployer {
    /// `hoist deploy`: policy, lock, build (or reuse) the release, roll it out.
    pub async fn deploy(
        &self,
        environment: &str,
        options: &DeployOptions,
    ) -> Result<DeploymentReport, PipelineError> {
        self.scoped(environment)
            .deploy_here(environment, options)
            .await
    }

    async fn deploy_here(
        &self,
        environment: &str,
        options: &DeployOptions,
    ) -> Result<DeploymentReport, PipelineError> {
        let env = self.environment(environment)?;
        let subset = options.subset.select(env)?;
        self.check_notifiers(environment)?;
        let hooks = env.hooks.clone();
        let plan = self.plan_build(options.version.as_deref()).await?;
        let version = plan.source.version.clone();
        let git_ref = options
            .git_ref
            .clone()
            .unwrap_or_else(|| head_ref(&plan.source));
        self.authorize(
            "deploy",
            environment,
            &git_ref,
            &version,
            &options.overrides,
        )
        .await?;
        // A version named by hand must be one the environment's rules take; `release --ref`
        // (which sets the ref) was routed by those rules already.
        if options.version.is_some() && options.git_ref.is_none() {
            let releases = self.store.releases(self.app_name())?;
            self.check_rules("deploy", environment, &version, &releases, |v| {
                format!("hoist deploy {environment} --version {v}")
            })
            .await?;
        }
        self.check_promotion("deploy", environment, &version)
            .await?;
        let lock = self
            .unless_interrupted(
                false,
                self.lock_or_refuse(environment, &version, options.wait),
            )
            .await?;
        let started = Instant::now();
        let context = self.hook_context(environment, &version, None);
        self.run_hook(&hooks, HookStage::BeforeBuild, &context, &version, started)
            .await?;
        self.stop_if_requested(&version, started).await?;
        self.secret_scan(environment, &version, started).await?;
        // A build changes nothing on the instances, so a stop request drops it at once.
        let built = match self
            .unless_interrupted(true, self.build_planned(plan))
            .await
        {
            Ok(built) => built,
            Err(e) => return Err(self.record_failure(&version, started, e).await),
        };
        self.ship(
            environment,
            &built.release,
            DeploymentKind::Deploy,
            &lock,
            &hooks,
            subset.as_deref(),
        )
        .await
    }

    /// `hoist rollback`: the previous successful release (or `to`), without building.
    pub async fn rollback(
        &self,
        environment: &str,
        to: Option<&str>,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<DeploymentReport, PipelineError> {
        self.scoped(environment)
            .rollback_here(environment, to, wait, overrides)
            .await
    }

    async fn rollback_here(
        &self,
        environment: &str,
        to: Option<&str>,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<DeploymentReport, PipelineError> {
        let env = self.environment(environment)?;
        self.check_notifiers(environment)?;
        let hooks = env.hooks.clone();
        let release = self.rollback_target(environment, to)?;
        self.authorize(
            "rollback",
            environment,
            &ref_for_version(&release.version),
            &release.version,
            overrides,
        )
        .await?;
        if let Some(version) = to {
            // A release named by hand that no environment ever verified is a guess, not a
            // way back: refuse it unless the operator says so.
            if !overrides.unverified
                && self
                    .store
                    .verified_in(self.app_name(), &release.version)?
                    .is_empty()
            {
                let reason = format!(
                    "{version} was never verified in any environment; roll back to it anyway with \
                     `hoist rollback {environment} --to {version} --force`, or pick a verified release \
                     from `hoist history {environment}`"
                );
                return self
                    .refused("rollback", environment, version, vec![reason])
                    .await;
            }
            let deployed = self.store.deployed_releases(self.app_name(), environment)?;
            self.check_rules("rollback", environment, &release.version, &deployed, |v| {
                format!("hoist rollback {environment} --to {v}")
            })
            .await?;
        }
        let lock = self
            .unless_interrupted(
                false,
                self.lock_or_refuse(environment, &release.version, wait),
            )
            .await?;
        self.ensure_image(&release).await?;
        self.ship(
            environment,
            &release,
            DeploymentKind::Rollback,
            &lock,
            &hooks,
            None,
        )
        .await
    }

    /// `hoist promote FROM TO`: the exact image running and verified in `from` (its
    /// current release, or `version`), rolled out to `to` without building.
    pub async fn promote(
        &self,
        from: &str,
        to: &str,
        version: Option<&str>,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<DeploymentReport, PipelineError> {
        self.scoped(to)
            .promote_here(from, to, version, wait, overrides)
            .await
    }

    async fn promote_here(
        &self,
        from: &str,
        to: &str,
        version: Option<&str>,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<DeploymentReport, PipelineError> {
        self.environment(from)?;
        let env = self.environment(to)?;
        self.check_notifiers(to)?;
        let hooks = env.hooks.clone();
        let deployed = self.store.deployed_releases(self.app_name(), from)?;
        let release = match version {
            None => deployed.into_iter().next(),
            Some(v) => deployed.into_iter().find(|r| r.version == v),
        };
        let Some(release) = release else {
            let reason = match version {
                Some(v) => format!(
                    "{v} has not been verified in {from}; {}",
                    self.promotion_hint(self.release_settings()?, to, v, &[from.to_string()])?
                ),
                None => format!(
                    "nothing has been verified in {from} yet; deploy there first (`hoist deploy {from}`)"
                ),
            };
            self.note(EventKind::PromotionRefused {
                version: version.map(str::to_string),
                reason: reason.clone(),
            });
            return self
                .refused("promote", to, version.unwrap_or("-"), vec![reason])
                .await;
        };
        self.authorize(
            "promote",
            to,
            &ref_for_version(&release.version),
            &release.version,
            overrides,
        )
        .await?;
        let verified = self.store.deployed_releases(self.app_name(), from)?;
        self.check_rules("promote", to, &release.version, &verified, |v| {
            format!("hoist promote {from} {to} --version {v}")
        })
        .await?;
        self.check_promotion("promote", to, &release.version)
            .await?;
        let lock = self
            .unless_interrupted(false, self.lock_or_refuse(to, &release.version, wait))
            .await?;
        self.ensure_image(&release).await?;
        self.ship(to, &release, DeploymentKind::Promote, &lock, &hooks, None)
            .await
    }

    /// Takes `environment`'s lock; when another deploy holds it, the refusal is notified
    /// like a policy refusal, so a second tag pushed during a rollout is not lost silently.
    pub(super) async fn lock_or_refuse(
        &self,
        environment: &str,
        version: &str,
        wait: LockWait,
    ) -> Result<EnvLock, PipelineError> {
        match self.lock(environment, wait).await {
            Err(e @ PipelineError::Locked { .. }) => {
                self.record(EventKind::Refused {
                    action: "lock".to_string(),
                    version: version.to_string(),
                    reasons: vec![e.to_string()],
                })
                .await;
                Err(e)
            }
            other => other,
        }
    }

    async fn ensure_image(&self, release: &Release) -> Result<(), PipelineError> {
        if self.builder.image_id(&release.image_id).await?.is_none() {
            return Err(PipelineError::ImageGone {
                version: release.version.clone(),
                image: release.image.clone(),
            });
        }
        Ok(())
    }

    fn rollback_target(
        &self,
        environment: &str,
        to: Option<&str>,
    ) -> Result<Release, PipelineError> {
        let app = self.app_name();
        if let Some(version) = to {
            return self.store.find_release(app, version)?.ok_or_else(|| {
                PipelineError::UnknownRelease {
                    version: version.to_string(),
                }
            });
        }
        // A rollback undoes the latest deployment. When that one succeeded, the last
        // successful release is what runs, so go to the one before it. When it failed or
        // was interrupted, some instances may run its release and others the previous one:
        // going back means the last successful release, on every instance.
        let latest_succeeded = self
            .store
            .deployments(app, environment, 1)?
            .first()
            .is_none_or(|d| d.outcome == DeploymentOutcome::Succeeded);
        let deployed = self.store.deployed_releases(app, environment)?;
        let current = deployed
            .first()
            .filter(|_| latest_succeeded)
            .map(|r| r.version.clone());
        deployed
            .into_iter()
            .find(|r| Some(&r.version) != current.as_ref())
            .ok_or_else(|| PipelineError::NothingToRollBack {
                environment: environment.to_string(),
            })
    }
}

/// The ref a plain `hoist deploy` stands for: the tag that named the version, else the
/// checked-out branch, else `HEAD` (detached).
fn head_ref(source: &SourceVersion) -> GitRef {
    match (&source.tag, &source.branch) {
        (Some(tag), _) => GitRef::tag(tag),
        (None, Some(branch)) => GitRef::branch(branch),
        (None, None) => GitRef::branch("HEAD"),
    }
}
