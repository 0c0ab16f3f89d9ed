//! `hoist release --ref`: a git ref routed by the environments' rules, built once and
//! deployed to each environment it reaches.

use hoist_policy::{GitRef, Resolution};
use serde::Serialize;

use super::gate::Override;
use super::{DeployOptions, Deployer, DeploymentReport, LockWait, PipelineError};
use crate::events::EventKind;
use crate::version;

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

impl Deployer {
    /// `hoist release --ref REF`: routes the ref by the environments' rules, builds once,
    /// deploys to each environment it reaches. A ref no rule matches deploys nothing.
    pub async fn release(
        &self,
        reference: &str,
        wait: LockWait,
        overrides: &Override,
    ) -> Result<ReleaseOutcome, PipelineError> {
        self.release_to(reference, wait, overrides, &super::Subset::all())
            .await
    }

    /// [`Deployer::release`] to the `subset` of each environment's instances
    /// (`--tenant`/`--tag`).
    pub async fn release_to(
        &self,
        reference: &str,
        wait: LockWait,
        overrides: &Override,
        subset: &super::Subset,
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
            self.note(EventKind::NothingToDeploy {
                git_ref: git_ref.full_name(),
                explanation: explained.clone(),
            });
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
                self.scoped(environment).note(EventKind::RefRefused {
                    git_ref: git_ref.name.clone(),
                    reason: problem.clone(),
                });
            }
            return Err(PipelineError::BadRef(problem));
        }
        let mut environments = Vec::new();
        for environment in targets {
            if let Some(signal) = self.interrupt.signal() {
                environments.push(EnvironmentResult {
                    error: Some(format!(
                        "not attempted: stopped by {} before {environment}",
                        signal.name()
                    )),
                    environment,
                    report: None,
                    exit_code: i32::from(signal.exit_code()),
                });
                continue;
            }
            let options = DeployOptions {
                version: version.clone(),
                git_ref: Some(git_ref.clone()),
                wait,
                overrides: overrides.clone(),
                subset: subset.clone(),
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
}
