//! What the HTTP runtime is told: the requests to send, where the credential comes from, and
//! which fields of the status answer say what runs. `hoist-config` resolves
//! `kind = "http"` (and its presets) into these; the crate has no config types of its own.

use std::time::Duration;

use hoist_secrets::SecretSource;

/// One request, as templates rendered per instance (see [`crate::template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// `GET`, `POST`, `PUT`, `PATCH`.
    pub method: String,
    /// URL template: `https://api.example.com/v1/apps/{{ app }}/instances/{{ name }}`.
    pub url: String,
    /// JSON body template; every `{{ value }}` is written as JSON. `None`: no body.
    pub body: Option<String>,
}

/// The credential sent with every request, read from an environment variable or a file
/// when first needed and never written anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub source: SecretSource,
    /// The header it goes in. Default `Authorization`.
    pub header: String,
    /// Written before the value with a space (`Bearer`); `None`: the value alone.
    pub scheme: Option<String>,
}

/// JSON pointers (RFC 6901) into the status answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusFields {
    /// The image reference the instance runs (required).
    pub image: String,
    /// The digest it runs, compared with the release's when both are known.
    pub digest: Option<String>,
    /// The release (version) hoist recorded on the instance, when the platform keeps
    /// metadata the deploy body set.
    pub release: Option<String>,
    /// The release's image id hoist recorded on the instance: lets hoist see that an
    /// instance already runs a release (`unchanged`) and `status` match it to history.
    pub image_id: Option<String>,
    /// The spec digest the deploy body recorded (the `spec` variable), when the platform
    /// keeps metadata: lets an unchanged instance stay unchanged.
    pub spec: Option<String>,
    /// The instance's state (`"started"`, `"running"`); `None`: not reported.
    pub state: Option<String>,
    /// Values of `state` that mean it runs.
    pub running: Vec<String>,
    /// Values of `state` that mean the deploy failed for good.
    pub failed: Vec<String>,
    /// Health: a boolean, a string (`passing`, `healthy`, `ok`), or an array of checks
    /// each with a `status` (all must pass). `None`: the state alone decides.
    pub healthy: Option<String>,
    /// A failure message: set (a non-empty string, or `true`) means the deploy failed.
    pub failure: Option<String>,
}

/// How requests are retried: on 5xx, 429 and connection errors; never on another 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first wait after a 5xx; doubled each time.
    pub backoff: Duration,
    /// The longest wait hoist accepts, from a `Retry-After` or the backoff: a platform
    /// that asks for more is treated as down.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(250),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Everything the runtime needs for one environment's (or named runtime's) platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// The platform's name in messages: `http`, `fly-machines`.
    pub platform: String,
    pub deploy: RequestSpec,
    pub status: RequestSpec,
    /// A request that blocks until the instance reaches a state (Fly's `/wait`), sent once
    /// after the deploy request; a timeout answer (408) is not an error.
    pub wait: Option<RequestSpec>,
    /// The platform's own rollback; `None`: the deploy request with the previous release.
    pub rollback: Option<RequestSpec>,
    /// Headers sent with every request (never credentials: those are [`Credential`]).
    pub headers: Vec<(String, String)>,
    pub credential: Option<Credential>,
    pub fields: StatusFields,
    /// The platform's app, a template like the URLs (`clinic-{{ tenant }}`); rendered
    /// per instance and given to the other templates as `platform_app`.
    pub platform_app: Option<String>,
    /// How long one instance has to report the release running and healthy.
    pub timeout: Duration,
    /// Between two status requests.
    pub poll: Duration,
    pub retry: RetryPolicy,
    /// How release tasks run on the platform; `None`: it cannot run them.
    pub task: Option<TaskRequests>,
}

/// The requests that run a release task as a one-off run of the release's image
/// ([`crate::task`]). Each is a template like the others, with the task's variables
/// (`task_name`, `task_command`, `env`, and after the start `task_id`, `task_instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequests {
    /// Starts the run (Fly: create a Machine).
    pub start: RequestSpec,
    /// JSON pointer to the run's id in the start answer (`{{ task_id }}`).
    pub id: String,
    /// JSON pointer to the run's version in the start answer (`{{ task_instance }}`, Fly's
    /// `instance_id`), when the platform has one.
    pub instance: Option<String>,
    /// A request that blocks until the run ended (Fly's `/wait`), sent again until the
    /// task's timeout; a 408 is not an error.
    pub wait: Option<RequestSpec>,
    /// Reads the run: its state and, once ended, its exit code.
    pub status: RequestSpec,
    /// Pointer to the run's state in the status answer.
    pub state: String,
    /// States that mean the run ended.
    pub done: Vec<String>,
    /// Pointer to the exit code; a `*` segment takes the first array element where the rest
    /// resolves (Fly: the newest `exit` event).
    pub exit_code: String,
    /// Reads the run's output, when the platform keeps it.
    pub logs: Option<RequestSpec>,
    /// Pointer to the lines in the logs answer (a string or an array); `None`: the answer.
    pub lines: Option<String>,
    /// Stops the run at its timeout.
    pub stop: Option<RequestSpec>,
    /// Removes what ran the task, afterwards; a 404 (already gone) is no error.
    pub remove: Option<RequestSpec>,
    /// Without `logs`: one line saying where the output is, a URL-style template
    /// (`fly logs -a {{ platform_app }} -i {{ task_id }}`).
    pub output_hint: Option<String>,
}

impl HttpSettings {
    /// Where `hoist status` says the instances are: the status URL's scheme and host.
    pub fn api_host(&self) -> String {
        let url = &self.status.url;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}
