//! What the pipeline reports while it runs. The CLI renders these as progress, and tests
//! assert on them ("no base build ran"); stages never print.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Pipeline stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lock,
    Version,
    Fingerprint,
    /// The secret scan of the build context, before anything is built.
    Scan,
    BaseImage,
    AppImage,
    Rollout,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Lock => "lock",
            Stage::Version => "version",
            Stage::Fingerprint => "fingerprint",
            Stage::Scan => "secret scan",
            Stage::BaseImage => "base image",
            Stage::AppImage => "app image",
            Stage::Rollout => "rollout",
        }
    }
}

/// Where one instance is in its rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Waiting,
    /// Already runs the release and answers its health check: nothing to do.
    Unchanged,
    /// The runtime is starting the release (a candidate container, a service update).
    Starting,
    /// Waiting for the release to verify (before and after a switch).
    Verifying,
    /// Moving traffic to the new release (Docker's port switch).
    Switching,
    Healthy,
    RollingBack,
    /// Failed; the previous release serves again.
    RolledBack,
    Failed,
    /// Not attempted because another instance failed first.
    Skipped,
}

impl InstanceState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Unchanged | Self::Healthy | Self::RolledBack | Self::Failed | Self::Skipped
        )
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Unchanged => "unchanged",
            Self::Starting => "starting",
            Self::Verifying => "verifying",
            Self::Switching => "switching",
            Self::Healthy => "healthy",
            Self::RollingBack => "rolling back",
            Self::RolledBack => "rolled back",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// Whether the base image was found or had to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    Hit,
    Miss,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StageStarted {
        stage: Stage,
        detail: String,
    },
    StageFinished {
        stage: Stage,
        detail: String,
        #[serde(with = "millis")]
        took: Duration,
    },
    BaseImage {
        reference: String,
        cache: CacheOutcome,
    },
    /// A line of build output.
    BuildOutput {
        image: String,
        line: String,
    },
    Instance {
        tenant: String,
        state: InstanceState,
        message: String,
    },
    Warning {
        message: String,
    },
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Where events go. Cheap to clone; safe to call from any task.
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(&Event) + Send + Sync>);

impl EventSink {
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        EventSink(Arc::new(f))
    }
    /// A sink that drops everything.
    pub fn discard() -> Self {
        EventSink::new(|_| {})
    }
    pub fn emit(&self, event: Event) {
        (self.0)(&event);
    }
    pub fn warning(&self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }
    pub fn instance(&self, tenant: &str, state: InstanceState, message: impl Into<String>) {
        self.emit(Event::Instance {
            tenant: tenant.to_string(),
            state,
            message: message.into(),
        });
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}
