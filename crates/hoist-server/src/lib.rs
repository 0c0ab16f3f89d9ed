//! `hoist serve`: verified GitHub and GitLab push webhooks become release jobs in a queue
//! kept in the store; a worker runs them through the same pipeline as `hoist release`;
//! a JSON API with scoped tokens reads status, history, audit and jobs and queues deploys,
//! rollbacks and promotions; a web dashboard shows the same, live.
//!
//! The webhook checks ([`webhook`]) are pure, so every refusal is tested byte for byte
//! against payloads signed the way the providers sign them; the HTTP edge builds on them.

pub mod fetch;
mod http;
pub mod live;
pub mod run;
pub mod serve;
pub mod store;
pub mod tokens;
pub mod webhook;
pub mod worker;

pub use serve::{ServeError, ServeOptions, Server};
