//! hoist-core
