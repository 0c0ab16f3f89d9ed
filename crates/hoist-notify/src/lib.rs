//! Notifications of deployments: Zulip, Slack and a generic webhook signed as the Standard
//! Webhooks specification says ([`sign`], [`verify`]).
//!
//! The pipeline builds a [`Notice`] for each event (started, succeeded, failed, refused,
//! rolled back) and hands it to [`Notifiers::notify`], which sends it to the environment's
//! notifiers concurrently and returns one [`DeliveryReport`] each. Notifications are
//! best-effort by design: a notifier that is down, slow or misconfigured costs at most the
//! deadline and a warning, never the deploy.
//!
//! Credentials (Zulip API key, Slack webhook URL, webhook signing secret) come from
//! environment variables or files named in `hoist.toml`, are held as [`Secret`]s that do not
//! print, and are scrubbed out of every failure reason.
//!
//! ```no_run
//! # async fn example(config: &hoist_config::Settings) -> Result<(), hoist_notify::NotifyError> {
//! # let (notifiers, routes) = (Default::default(), Vec::new());
//! use hoist_notify::{EventKind, Notice, Notifiers};
//!
//! let notify = Notifiers::from_config(&notifiers, &routes, &config.root)?;
//! let notice = Notice::new(EventKind::Started, "clinic", "1.4.2", "production", "amitav");
//! for report in notify.notify(&notice).await {
//!     if !report.is_delivered() {
//!         tracing::warn!("{report}");
//!     }
//! }
//! # Ok(()) }
//! ```

mod deliver;
mod notice;
mod notifiers;
mod pipeline;
mod render;
mod secret;
mod service;
mod signature;

pub use deliver::{DeliveryReport, DeliveryStatus, FIRST_BACKOFF};
pub use notice::{EventKind, Notice, TenantOutcome, TenantStatus};
pub use notifiers::{DEFAULT_DEADLINE, Notifiers, NotifyError};
pub use pipeline::AppNotifiers;
pub use secret::{REDACTED, Secret};
pub use signature::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SecretFormatError, VerifyError, WebhookSecret,
    sign, verify,
};
