//! Running one job: the same library calls as the CLI's `release`, `deploy`, `rollback`
//! and `promote`, through the one wiring (`hoist_app::deployer`), as the job's actor.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hoist_app::{Notifications, Overrides};
use hoist_config::Settings;
use hoist_core::jobs::{Job, JobRequest, JobState};
use hoist_core::pipeline::{DeployOptions, DeploymentReport, LockWait, Override};
use hoist_core::{EventSink, Interrupt};

use crate::fetch::{self, Pushed};
use crate::live::Hub;

/// What a job runner needs, shared by every job of a server.
#[derive(Clone)]
pub struct Runner {
    /// The server's own app config: deploy, rollback and promote jobs run from it.
    pub config: Arc<Settings>,
    /// The state database every job records in (the server's, whatever a fetched
    /// commit's `[state]` says).
    pub state: PathBuf,
    pub build_host: Option<String>,
    /// How long a job waits for an environment's lock held by someone else (a CLI deploy,
    /// another server).
    pub lock_wait: Duration,
    /// Where each job's events go (logged, and published to the dashboard).
    pub hub: Arc<Hub>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub state: JobState,
    pub message: String,
    /// The repository disagreed with the delivery (audited as a refusal).
    pub refused: bool,
}

impl Ended {
    fn failed(message: impl Into<String>) -> Ended {
        Ended {
            state: JobState::Failed,
            message: message.into(),
            refused: false,
        }
    }
}

impl Runner {
    fn overrides(&self, actor: &str) -> Overrides {
        Overrides {
            state: Some(self.state.clone()),
            in_memory_state: false,
            build_host: self.build_host.clone(),
            actor: Some(actor.to_string()),
            notifications: Notifications::On,
        }
    }

    /// Runs `job` to its end. `interrupt` stops it the way SIGTERM stops the CLI.
    pub async fn run(&self, job: &Job, interrupt: Interrupt) -> Ended {
        let events = self.hub.sink(job.id);
        let wait = LockWait::Wait(self.lock_wait);
        let none = Override::default();
        match &job.request {
            JobRequest::Release {
                git_ref,
                commit,
                clone_url,
            } => {
                self.release(job, git_ref, commit, clone_url, events, interrupt)
                    .await
            }
            JobRequest::Deploy {
                environment,
                version,
            } => {
                let d = match self.deployer(self.config.clone(), &job.actor, events).await {
                    Ok(d) => d,
                    Err(e) => return Ended::failed(e),
                };
                let d = with_interrupt(d, interrupt);
                let options = DeployOptions {
                    version: version.clone(),
                    wait,
                    ..DeployOptions::default()
                };
                report(d.deploy(environment, &options).await, &d.interrupt)
            }
            JobRequest::Rollback { environment, to } => {
                let d = match self.deployer(self.config.clone(), &job.actor, events).await {
                    Ok(d) => d,
                    Err(e) => return Ended::failed(e),
                };
                let d = with_interrupt(d, interrupt);
                report(
                    d.rollback(environment, to.as_deref(), wait, &none).await,
                    &d.interrupt,
                )
            }
            JobRequest::Promote { from, to, version } => {
                let d = match self.deployer(self.config.clone(), &job.actor, events).await {
                    Ok(d) => d,
                    Err(e) => return Ended::failed(e),
                };
                let d = with_interrupt(d, interrupt);
                report(
                    d.promote(from, to, version.as_deref(), wait, &none).await,
                    &d.interrupt,
                )
            }
        }
    }

    async fn deployer(
        &self,
        config: Arc<Settings>,
        actor: &str,
        events: EventSink,
    ) -> Result<hoist_core::pipeline::Deployer, String> {
        hoist_app::deployer(config, &self.overrides(actor), events)
            .await
            .map_err(|e| e.to_string())
    }

    /// `hoist release --ref` on the pushed commit, fetched into a work directory of its
    /// own.
    async fn release(
        &self,
        job: &Job,
        git_ref: &str,
        commit: &str,
        clone_url: &str,
        events: EventSink,
        interrupt: Interrupt,
    ) -> Ended {
        let server = &self.config.server;
        let dir = server.work_dir.join(format!("job-{}", job.id));
        let pushed = match git_ref.strip_prefix("refs/heads/") {
            Some(branch) => Pushed::Branch(branch),
            None => Pushed::Tag(git_ref.strip_prefix("refs/tags/").unwrap_or(git_ref)),
        };
        if let Err(e) = fetch::checkout(&dir, clone_url, &pushed, commit).await {
            return Ended {
                state: JobState::Failed,
                refused: e.is_mismatch(),
                message: e.to_string(),
            };
        }
        let config = match hoist_config::load_for_build(&dir.join(&server.app_config)) {
            Ok(c) => Arc::new(c),
            Err(e) => return Ended::failed(config_errors(&e)),
        };
        let d = match self.deployer(config, &job.actor, events).await {
            Ok(d) => with_interrupt(d, interrupt),
            Err(e) => return Ended::failed(e),
        };
        let outcome = d
            .release(
                git_ref,
                LockWait::Wait(self.lock_wait),
                &Override::default(),
            )
            .await;
        let ended = match outcome {
            Err(e) => Ended::failed(e.to_string()),
            Ok(outcome) => {
                let mut lines = vec![format!(
                    "{}: {}",
                    outcome.git_ref.describe(),
                    outcome.resolution
                )];
                for env in &outcome.environments {
                    match (&env.report, &env.error) {
                        (Some(r), _) => lines.push(summary(r)),
                        (None, Some(e)) => lines.push(format!("{}: {e}", env.environment)),
                        (None, None) => {}
                    }
                }
                Ended {
                    state: state_of(outcome.exit_code() == 0, &d.interrupt),
                    message: lines.join("\n"),
                    refused: false,
                }
            }
        };
        // The checkout served its purpose; the release is in the store and the engine.
        let _ = tokio::fs::remove_dir_all(&dir).await;
        ended
    }
}

/// A config's errors, one a line, each with its place (file:line:col) and key.
fn config_errors(e: &hoist_config::ConfigError) -> String {
    e.errors()
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn with_interrupt(
    mut d: hoist_core::pipeline::Deployer,
    interrupt: Interrupt,
) -> hoist_core::pipeline::Deployer {
    d.interrupt = interrupt;
    d
}

fn state_of(ok: bool, interrupt: &Interrupt) -> JobState {
    if interrupt.is_requested() {
        JobState::Interrupted
    } else if ok {
        JobState::Succeeded
    } else {
        JobState::Failed
    }
}

fn summary(r: &DeploymentReport) -> String {
    format!(
        "{}: {} {} {}: {}",
        r.environment,
        r.kind.as_str(),
        r.release.version,
        r.outcome.as_str(),
        r.message
    )
}

fn report(
    result: Result<DeploymentReport, hoist_core::pipeline::PipelineError>,
    interrupt: &Interrupt,
) -> Ended {
    match result {
        Ok(r) => Ended {
            state: state_of(r.succeeded(), interrupt),
            message: summary(&r),
            refused: false,
        },
        Err(e) => Ended {
            state: state_of(false, interrupt),
            message: e.to_string(),
            refused: false,
        },
    }
}
