//! `hoist serve`'s pieces that do not need a network: what a signed push from GitHub or
//! GitLab asks for, whether its signature holds, and whether it was seen before.
//!
//! The server edge (HTTP, queue, dashboard) builds on these; they are kept pure so that
//! every refusal can be tested byte for byte against payloads signed the way the
//! providers sign them.

pub mod webhook;
