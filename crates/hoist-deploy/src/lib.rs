//! hoist-deploy
