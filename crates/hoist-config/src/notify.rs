//! Settings of notifiers (Zulip, Slack, generic webhook) and which events go to which.
//! (Filled in by the notifications work; wired into [`crate::Config`] afterwards.)
