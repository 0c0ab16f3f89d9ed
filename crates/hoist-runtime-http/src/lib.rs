//! The hosting-platform runtime: each instance is changed through its platform's HTTP API.
//! A configured deploy request (URL and JSON body templates) asks the platform to run the
//! release's image; a status request is polled until configured fields say the instance
//! runs it and is healthy, a failure field is set, or the timeout passes; a failure puts
//! the previous image back the same way. Requests are retried on 5xx and 429 (honouring
//! `Retry-After`) and never on another 4xx; the credential comes from an environment
//! variable or a file and never appears in an error, a log line or an event.
//!
//! `hoist-config` resolves `kind = "http"` and its presets (Fly.io Machines) into
//! [`HttpSettings`]; see docs/http-runtime.md.

mod client;
pub mod judge;
mod runtime;
mod settings;
pub mod task;
pub mod template;

pub use client::ApiError;
pub use runtime::HttpRuntime;
pub use settings::{
    Credential, HttpSettings, RequestSpec, RetryPolicy, StatusFields, TaskRequests,
};
