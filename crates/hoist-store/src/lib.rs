//! hoist-store
