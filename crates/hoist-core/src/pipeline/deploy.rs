//! The commands that change an environment — deploy, rollback, promote, and `release`
//! (a git ref routed to its environments) — each: policy, promotion check, lock, hooks,
//! rollout, notifications.

use std::time::Instant;

use hoist_hooks::{HookContext, Hooks, Outcome, Stage as HookStage};
use hoist_policy::{GitRef, Resolution};
use serde::Serialize;

use super::gate::Override;
use super::{Deployer, DeploymentReport, EnvLock, LockWait, PipelineError};
use crate::Release;
use crate::notify::{EventKind, Notice, TenantReport};
use crate::store::{DeploymentKind, DeploymentOutcome};
use crate::version::{self, SourceVersion};

/// How `deploy` should run.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// `--version`; default from git.
    pub version: Option<String>,
    /// The ref being deployed, for policy; default: the tag or branch at HEAD.
    pub git_ref: Option<GitRef>,
    pub wait: LockWait,
    pub overrides: Override,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            version: None,
            git_ref: None,
            wait: LockWait::Refuse,
            overrides: Override::default(),
        }
    }
}

/// What `hoist release --ref` did.
#[derive(Debug, Serialize)]
pub struct ReleaseOutcome {
    pub git_ref: GitRef,
    /// Where the ref goes and why, or why it goes nowhere.
    pub resolution: String,
    pub environments: Vec<EnvironmentResult>,
}

#[derive(Debug, Serialize)]
pub struct EnvironmentResult {
    pub environment: String,
    pub report: Option<DeploymentReport>,
    pub error: Option<String>,
    /// 0 deployed, 1 failed or refused, 2 bad input.
    pub exit_code: i32,
}

impl ReleaseOutcome {
    pub fn exit_code(&self) -> i32 {
        self.environments
            .iter()
            .map(|e| e.exit_code)
            .max()
            .unwrap_or(0)
    }
}

/// The ref a release version stands for, for policy checks of rollbacks and promotions.
fn ref_for_version(version: &str) -> GitRef {
    let tag = GitRef::tag(version);
    if tag.version.is_some() {
        tag
    } else {
        GitRef::branch(version)
    }
}

impl Deployer {
    /// `hoist deploy`: policy, lock, build (or reuse) the release, roll it out.
    pub async fn deploy(
        &self,
        environment: &str,
        options: &DeployOptions,
    ) -> Result<DeploymentReport, PipelineError> {
        let env = self.environment(environment)?;
        self.check_notifiers(environment)?;
        let hooks = Hooks::merged(&self.config.hooks, Some(&env.hooks));
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
        self.check_promotion("deploy", environment, &version)
            .await?;
        let lock = self
            .lock_or_refuse(environment, &version, options.wait)
            .await?;
        let started = Instant::now();
        let context = self.hook_context(environment, &version, None);
        self.run_hook(
            &hooks,
            HookStage::BeforeBuild,
            &context,
            environment,
            &version,
            started,
        )
        .await?;
        self.secret_scan(environment, &version, started).await?;
        let built = match self.build_planned(plan).await {
            Ok(built) => built,
            Err(e) => {
                self.send(&self.notice(
                    EventKind::Failed,
                    environment,
                    &version,
                    None,
                    Some(e.to_string()),
                    started,
                ))
                .await;
                return Err(e);
            }
        };
        self.ship(
            environment,
            &built.release,
            DeploymentKind::Deploy,
            &lock,
            &hooks,
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
        let env = self.environment(environment)?;
        self.check_notifiers(environment)?;
        let hooks = Hooks::merged(&self.config.hooks, Some(&env.hooks));
        let release = self.rollback_target(environment, to)?;
        self.authorize(
            "rollback",
            environment,
            &ref_for_version(&release.version),
            &release.version,
            overrides,
        )
        .await?;
        let lock = self
            .lock_or_refuse(environment, &release.version, wait)
            .await?;
        self.ensure_image(&release).await?;
        self.ship(
            environment,
            &release,
            DeploymentKind::Rollback,
            &lock,
            &hooks,
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
        self.environment(from)?;
        let env = self.environment(to)?;
        self.check_notifiers(to)?;
        let hooks = Hooks::merged(&self.config.hooks, Some(&env.hooks));
        let deployed = self.store.deployed_releases(self.app_name(), from)?;
        let release = match version {
            None => deployed.into_iter().next(),
            Some(v) => deployed.into_iter().find(|r| r.version == v),
        };
        let Some(release) = release else {
            let reason = match version {
                Some(v) => format!("{v} has not been verified in {from}; deploy it there first"),
                None => format!("nothing has been verified in {from} yet; deploy there first"),
            };
            self.audit(Some(to), "promotion.refused", version, reason.clone());
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
        self.check_promotion("promote", to, &release.version)
            .await?;
        let lock = self.lock_or_refuse(to, &release.version, wait).await?;
        self.ensure_image(&release).await?;
        self.ship(to, &release, DeploymentKind::Promote, &lock, &hooks)
            .await
    }

    /// `hoist release --ref REF`: routes the ref by the environments' rules, builds once,
    /// deploys to each environment it reaches. A ref no rule matches deploys nothing.
    pub async fn release(
        &self,
        reference: &str,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<ReleaseOutcome, PipelineError> {
        let root = self.config.root.clone();
        let git_ref = GitRef::parse_with(reference, None, |t| {
            matches!(version::tag_commit(&root, t), Ok(Some(_)))
        })
        .map_err(|e| PipelineError::BadRef(e.to_string()))?;
        if let Some(problem) = git_ref.version_problem() {
            return Err(PipelineError::BadRef(format!(
                "{}: {problem}",
                git_ref.describe()
            )));
        }
        let resolution = self.release_settings()?.resolve(&git_ref);
        let explained = resolution.explain();
        let targets: Vec<String> = resolution
            .environments()
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Resolution::NothingToDeploy { .. } = resolution {
            self.audit(
                None,
                "release.nothing_to_deploy",
                None,
                format!("{}: {explained}", git_ref.full_name()),
            );
            return Ok(ReleaseOutcome {
                git_ref,
                resolution: explained,
                environments: Vec::new(),
            });
        }
        // Every target's notifiers must work before the first one changes.
        for environment in &targets {
            self.check_notifiers(environment)?;
        }
        // A ref releases exactly its commit: a tag the tagged commit, clean; a branch its
        // tip. Anything else would ship under the ref's name what the ref does not hold.
        let (version, problem) = match git_ref.kind {
            hoist_policy::RefKind::Tag => {
                let tagged = version::tag_commit(&root, &git_ref.name)?.ok_or_else(|| {
                    PipelineError::BadRef(format!(
                        "there is no tag `{}` in {}",
                        git_ref.name,
                        root.display()
                    ))
                })?;
                let source = version::derive(&root, Some(&git_ref.name))?;
                let problem = if source.commit != tagged {
                    Some(format!(
                        "the tag `{}` points to {tagged}, but HEAD is {}; check out the tag before releasing it",
                        git_ref.name, source.commit
                    ))
                } else if source.dirty {
                    Some(format!(
                        "the work tree has uncommitted changes, so it is not the content of the tag `{}`",
                        git_ref.name
                    ))
                } else {
                    None
                };
                (Some(git_ref.name.clone()), problem)
            }
            hoist_policy::RefKind::Branch => {
                let source = version::derive(&root, None)?;
                // CI checkouts are often detached, with the branch only as origin/NAME (or
                // not at all); what can be checked is that no known tip differs from HEAD.
                let tips = version::branch_tips(&root, &git_ref.name)?;
                let problem = (!tips.is_empty() && !tips.contains(&source.commit)).then(|| {
                    format!(
                        "the branch `{}` is at {}, but HEAD is {}; check out the branch before releasing it",
                        git_ref.name,
                        tips.join(" / "),
                        source.commit
                    )
                });
                (None, problem)
            }
        };
        if let Some(problem) = problem {
            // Worth a record in each environment the ref was meant for.
            for environment in &targets {
                self.audit(
                    Some(environment),
                    "release.refused",
                    Some(&git_ref.name),
                    problem.clone(),
                );
            }
            return Err(PipelineError::BadRef(problem));
        }
        let mut environments = Vec::new();
        for environment in targets {
            let options = DeployOptions {
                version: version.clone(),
                git_ref: Some(git_ref.clone()),
                wait,
                overrides: overrides.clone(),
            };
            let result = match self.deploy(&environment, &options).await {
                Ok(report) => {
                    let code = if report.succeeded() { 0 } else { 1 };
                    EnvironmentResult {
                        environment,
                        report: Some(report),
                        error: None,
                        exit_code: code,
                    }
                }
                Err(e) => EnvironmentResult {
                    environment,
                    report: None,
                    error: Some(e.to_string()),
                    exit_code: e.exit_code(),
                },
            };
            environments.push(result);
        }
        Ok(ReleaseOutcome {
            git_ref,
            resolution: explained,
            environments,
        })
    }

    /// Takes `environment`'s lock; when another deploy holds it, the refusal is notified
    /// like a policy refusal, so a second tag pushed during a rollout is not lost silently.
    async fn lock_or_refuse(
        &self,
        environment: &str,
        version: &str,
        wait: LockWait,
    ) -> Result<EnvLock, PipelineError> {
        match self.lock(environment, wait).await {
            Err(e @ PipelineError::Locked { .. }) => {
                self.send(&self.refusal_notice(environment, version, e.to_string()))
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

    /// Hooks around a rollout, the rollout, and its notifications.
    async fn ship(
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
    async fn run_hook(
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

    fn hook_context(&self, environment: &str, version: &str, image: Option<String>) -> HookContext {
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

    fn notice(
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
