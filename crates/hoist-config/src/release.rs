//! Settings of the tag-driven release pipeline: ref rules, deploy policy, groups and hooks.
//! (Filled in by the release-pipeline work; wired into [`crate::Environment`] afterwards.)
