//! [`HttpRuntime`]: the [`Runtime`] seam implemented with a hosting platform's HTTP API.
//! The requests come from [`crate::template`], the judgement from [`crate::judge`]; this
//! module does the I/O and the order of things.
//!
//! hoist does not create instances on a platform: each one exists there (a Fly Machine, a
//! platform's app). hoist asks it to run the release's image, then polls its status until
//! the configured fields say it runs that image, healthy. When that fails it asks the
//! platform to run what it ran before (the rollback request, else the deploy request with
//! the previous image) and waits the same way.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use hoist_core::backend::{BackendError, Endpoint};
use hoist_core::runtime::{
    Applied, InstanceFailure, Observed, Rollout, Runtime, Workload, WorkloadState,
};
use hoist_core::spec_digest::SpecDigest;
use hoist_core::task::{TaskRun, TaskSpec};
use hoist_core::{InstanceSpec, InstanceState, Release};
use serde_json::Value;
use tracing::{info, warn};

use crate::client::{Api, ApiError};
use crate::judge::{self, Expect, Verdict};
use crate::settings::{HttpSettings, RequestSpec};
use crate::template::{self, Vars};

/// Runs each instance on a hosting platform, through its HTTP API.
pub struct HttpRuntime {
    pub(crate) settings: HttpSettings,
    pub(crate) api: Api,
}

/// What an instance is asked to run: a release, or what the platform reported it ran.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    image: String,
    digest: Option<String>,
    version: String,
    image_id: String,
}

impl Target {
    pub(crate) fn of(release: &Release) -> Self {
        Target {
            image: release.image.clone(),
            digest: release.digest.clone(),
            version: release.version.clone(),
            image_id: release.image_id.clone(),
        }
    }
}

impl From<ApiError> for BackendError {
    fn from(e: ApiError) -> Self {
        BackendError::new(e.to_string())
    }
}

impl HttpRuntime {
    pub fn new(settings: HttpSettings) -> Self {
        let api = Api::new(&settings);
        HttpRuntime { settings, api }
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    pub(crate) fn vars(
        &self,
        instance: &InstanceSpec,
        target: Option<&Target>,
        current: Option<Value>,
    ) -> Result<Vars, String> {
        let mut vars = Vars {
            app: instance.app.clone(),
            environment: instance.environment.clone(),
            tenant: instance.tenant.clone(),
            name: instance.name.clone(),
            platform_app: instance.app.clone(),
            image: target.map(|t| t.image.clone()).unwrap_or_default(),
            digest: target.and_then(|t| t.digest.clone()),
            version: target.map(|t| t.version.clone()).unwrap_or_default(),
            image_id: target.map(|t| t.image_id.clone()).unwrap_or_default(),
            spec: hoist_core::runtime::spec_digest(self, instance).to_label(),
            current,
            task: None,
        };
        if let Some(app) = &self.settings.platform_app {
            vars.platform_app = template::render_url(app, &vars).map_err(|e| e.to_string())?;
        }
        Ok(vars)
    }

    /// The status answer, or `None` when the platform has no such instance (404).
    pub(crate) async fn status(&self, instance: &InstanceSpec) -> Result<Option<Value>, String> {
        let vars = self.vars(instance, None, None)?;
        let url = template::render_url(&self.settings.status.url, &vars)
            .map_err(|e| format!("status {e}"))?;
        match self
            .api
            .send(&self.settings.status.method, &url, None, &[])
            .await
        {
            Ok(answer) => Ok(Some(answer.body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends `spec` (the deploy or rollback request) for `target`, then the wait request
    /// when there is one.
    async fn request_change(
        &self,
        instance: &InstanceSpec,
        spec: &RequestSpec,
        target: &Target,
        current: Option<Value>,
    ) -> Result<(), String> {
        let vars = self.vars(instance, Some(target), current)?;
        let url = template::render_url(&spec.url, &vars).map_err(|e| e.to_string())?;
        let body = match &spec.body {
            Some(body) => Some(template::render_body(body, &vars).map_err(|e| e.to_string())?),
            None => None,
        };
        self.api
            .send(&spec.method, &url, body.as_ref(), &[])
            .await
            .map_err(|e| e.to_string())?;
        if let Some(wait) = &self.settings.wait {
            let url = template::render_url(&wait.url, &vars).map_err(|e| e.to_string())?;
            // The wait is a shortcut: the status polling that follows decides. A wait that
            // times out (408) or fails is noted, not fatal.
            if let Err(e) = self.api.send(&wait.method, &url, None, &[408]).await {
                warn!(instance = %instance.name, error = %e, "wait request failed; polling the status");
            }
        }
        Ok(())
    }

    /// Polls the status until [`judge::judge`] says the instance runs `target`, failed, or
    /// the timeout passes; each new message is reported under `state`.
    async fn wait(
        &self,
        instance: &InstanceSpec,
        target: &Target,
        state: InstanceState,
        rollout: &Rollout<'_>,
    ) -> Result<String, String> {
        let vars = self.vars(instance, Some(target), None)?;
        let image = vars.image_ref();
        let expect = Expect {
            image: &image,
            digest: target.digest.as_deref(),
        };
        let deadline = Instant::now() + self.settings.timeout;
        let mut last = String::new();
        loop {
            if let Some(signal) = rollout.interrupted() {
                return Err(format!("stopped by {} before it ran", signal.name()));
            }
            let why = match self.status(instance).await? {
                None => format!("the platform has no instance {}", instance.name),
                Some(status) => match judge::judge(&status, &self.settings.fields, &expect) {
                    Verdict::Running(message) => return Ok(message),
                    Verdict::Failed(why) => return Err(why),
                    Verdict::Waiting(why) => why,
                },
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "not running within {}s: {why}",
                    self.settings.timeout.as_secs()
                ));
            }
            if why != last {
                rollout.progress(state, &why);
                last = why;
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// What the instance ran before, from its status answer.
    fn previous(&self, current: &Value) -> Option<Target> {
        let reading = judge::read(current, &self.settings.fields);
        let image = reading.image?;
        // A reference with a digest in it names the digest; the configured field wins.
        let digest = reading
            .digest
            .or_else(|| image.split_once('@').map(|(_, d)| d.to_string()));
        let image = image
            .split_once('@')
            .map_or(image.clone(), |(i, _)| i.to_string());
        Some(Target {
            version: reading.release.unwrap_or_else(|| image.clone()),
            image_id: reading.image_id.unwrap_or_else(|| image.clone()),
            image,
            digest,
        })
    }

    /// Changes the instance to `target` with `spec`, waits, and on failure puts back what
    /// ran before.
    async fn change(
        &self,
        instance: &InstanceSpec,
        target: &Target,
        spec: &RequestSpec,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let platform = &self.settings.platform;
        if !instance.secrets.is_empty() || !instance.env.is_empty() {
            rollout.warn(format!(
                "kind \"http\" leaves env and secrets to {platform}; hoist sets only the image"
            ));
        }
        if let Some(signal) = rollout.interrupted() {
            return Err(InstanceFailure::rolled_back(format!(
                "stopped by {} before anything changed",
                signal.name()
            )));
        }
        let current = self
            .status(instance)
            .await
            .map_err(InstanceFailure::failed)?;
        let previous = current
            .as_ref()
            .and_then(|c| self.previous(c))
            .filter(|p| p.image != target.image || p.digest != target.digest);
        let want = self
            .vars(instance, Some(target), None)
            .map_err(InstanceFailure::failed)?;
        info!(instance = %instance.name, image = %want.image_ref(), %platform, "deploying");
        rollout.progress(
            InstanceState::Starting,
            format!("asking {platform} to run {}", want.image_ref()),
        );
        self.request_change(instance, spec, target, current)
            .await
            .map_err(InstanceFailure::failed)?;
        let why = match self
            .wait(instance, target, InstanceState::Verifying, rollout)
            .await
        {
            Ok(message) => {
                info!(instance = %instance.name, release = %target.version, "running");
                return Ok(Applied { message });
            }
            Err(why) => why,
        };
        warn!(instance = %instance.name, reason = %why, "not running the release");
        let Some(previous) = previous else {
            return Err(InstanceFailure::failed(format!(
                "{why}; {} ran no other image before, so there is nothing to roll back to",
                instance.name
            )));
        };
        rollout.progress(
            InstanceState::RollingBack,
            format!("{why}; asking {platform} to run {} again", previous.version),
        );
        let back = self
            .settings
            .rollback
            .as_ref()
            .unwrap_or(&self.settings.deploy);
        let now = self.status(instance).await.ok().flatten();
        if let Err(e) = self.request_change(instance, back, &previous, now).await {
            return Err(InstanceFailure::failed(format!(
                "{why}; the rollback request failed: {e}"
            )));
        }
        match self
            .wait(instance, &previous, InstanceState::RollingBack, rollout)
            .await
        {
            Ok(_) => Err(InstanceFailure::rolled_back(format!(
                "{why}; {} runs {} again",
                instance.name, previous.version
            ))),
            Err(e) => Err(InstanceFailure::failed(format!(
                "{why}; the rollback to {} did not run either: {e}",
                previous.version
            ))),
        }
    }
}

#[async_trait]
impl Runtime for HttpRuntime {
    fn kind(&self) -> &'static str {
        "http"
    }

    /// Nothing to recover: a change is one request, and the platform finishes it alone.
    async fn recover(&self, _instance: &InstanceSpec) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }

    /// The platform's status as a workload: failed, converging, or running an image (with
    /// the release's image id when the platform keeps the one the deploy recorded).
    async fn observe(&self, instance: &InstanceSpec) -> Result<Observed, BackendError> {
        let endpoint = Endpoint {
            host: format!("{} {}", self.settings.platform, self.settings.api_host()),
            port: instance.port,
        };
        let Some(status) = self.status(instance).await.map_err(BackendError::new)? else {
            return Ok(Observed {
                workload: WorkloadState::Missing,
                endpoint,
                notes: vec![format!(
                    "{} has no instance {}",
                    self.settings.platform, instance.name
                )],
                secrets: BTreeMap::new(),
            });
        };
        let fields = &self.settings.fields;
        let reading = judge::read(&status, fields);
        let image = reading.image.clone().unwrap_or_default();
        let mut notes = vec![format!(
            "{} at {}: {}image {image}",
            self.settings.platform,
            self.settings.api_host(),
            reading
                .state
                .as_deref()
                .map(|s| format!("state {s}, "))
                .unwrap_or_default()
        )];
        let workload = if let Some(failure) = reading.failure {
            WorkloadState::Failed {
                message: format!("the platform reports a failure: {failure}"),
            }
        } else if let Some(state) = reading.state.as_ref().filter(|s| fields.failed.contains(s)) {
            WorkloadState::Failed {
                message: format!("the instance is {state:?}"),
            }
        } else if let Some(state) = reading
            .state
            .as_ref()
            .filter(|s| fields.state.is_some() && !fields.running.contains(s))
        {
            WorkloadState::Converging {
                message: format!("the instance is {state:?}"),
            }
        } else if let Some(judge::Health::Unhealthy(why)) = reading.health {
            notes.push(format!("health: {why}"));
            WorkloadState::Converging {
                message: format!("health: {why}"),
            }
        } else if image.is_empty() {
            WorkloadState::Missing
        } else {
            WorkloadState::Running {
                image_id: reading.image_id.unwrap_or(image),
                release: reading.release,
                digests: Vec::new(),
            }
        };
        Ok(Observed {
            workload,
            endpoint,
            notes,
            secrets: BTreeMap::new(),
        })
    }

    async fn roll_out(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        self.change(
            instance,
            &Target::of(release),
            &self.settings.deploy,
            rollout,
        )
        .await
    }

    /// The rollback request when the platform has one, else the deploy request, with the
    /// previous release.
    async fn roll_back(
        &self,
        instance: &InstanceSpec,
        previous: &Release,
        rollout: &Rollout<'_>,
    ) -> Result<Applied, InstanceFailure> {
        let spec = self
            .settings
            .rollback
            .as_ref()
            .unwrap_or(&self.settings.deploy);
        self.change(instance, &Target::of(previous), spec, rollout)
            .await
    }

    /// A platform's status is its health check: hoist does not probe the instance.
    fn reports_health(&self) -> bool {
        true
    }

    /// The platform holds the app's env and secrets; hoist sets only the image.
    fn applies_secrets(&self) -> bool {
        false
    }

    fn spec_settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("http.platform".into(), self.settings.platform.clone()),
            ("http.deploy_url".into(), self.settings.deploy.url.clone()),
        ])
    }

    /// The spec the deploy body recorded on the instance, when the platform keeps it and
    /// `fields.spec` points at it.
    async fn applied_spec(
        &self,
        instance: &InstanceSpec,
    ) -> Result<Option<SpecDigest>, BackendError> {
        let Some(pointer) = &self.settings.fields.spec else {
            return Ok(None);
        };
        let status = self.status(instance).await.map_err(BackendError::new)?;
        Ok(status
            .as_ref()
            .and_then(|s| s.pointer(pointer))
            .and_then(Value::as_str)
            .and_then(SpecDigest::from_label))
    }

    /// A platform is not asked what else runs there: its instances are named in the
    /// config, and hoist neither creates nor finds others.
    async fn list(
        &self,
        _app: &str,
        _environment: &str,
        _hosts: &[String],
    ) -> Result<Vec<Workload>, BackendError> {
        Ok(Vec::new())
    }

    async fn retire(&self, workload: &Workload) -> Result<(), BackendError> {
        Err(BackendError::new(format!(
            "kind \"http\" does not retire instances: remove {} on {} itself",
            workload.name, self.settings.platform
        )))
    }

    /// A one-off run of the release's image through the `task` requests (Fly: a Machine
    /// with `auto_destroy`), waited for, its exit code read, then removed.
    async fn run_task(
        &self,
        instance: &InstanceSpec,
        release: &Release,
        task: &TaskSpec,
    ) -> Result<TaskRun, BackendError> {
        crate::task::run(self, instance, release, task).await
    }
}
