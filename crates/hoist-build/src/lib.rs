//! hoist-build
