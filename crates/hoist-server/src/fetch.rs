//! Fetching a pushed commit into a work directory with the `git` command line, and
//! checking that the pushed ref really points at the commit the delivery names.
//!
//! A webhook's signature proves who sent the payload, not that the repository agrees
//! with it: a tag may have been moved since, or the payload may name a commit the tag
//! never pointed at. hoist releases what the tag points at *and* the payload named, or
//! nothing.

use std::path::{Path, PathBuf};

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {command} failed: {stderr}")]
    Git { command: String, stderr: String },
    #[error(
        "tag `{tag}` points at {found} in the repository, not at {expected} as the delivery says; \
         nothing was released (push the tag again, or release by hand)"
    )]
    TagMismatch {
        tag: String,
        expected: String,
        found: String,
    },
    #[error("commit {commit} is not on branch `{branch}` in the repository; nothing was released")]
    NotOnBranch { branch: String, commit: String },
    #[error("cannot prepare {}: {source}", path.display())]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// The repository disagrees with the delivery (audited as a refusal).
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            FetchError::TagMismatch { .. } | FetchError::NotOnBranch { .. }
        )
    }
}

/// A ref as a push names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed<'a> {
    Tag(&'a str),
    Branch(&'a str),
}

async fn git(dir: &Path, args: &[&str]) -> Result<String, FetchError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // Never wait for a password on a terminal nobody watches.
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(FetchError::Spawn)?;
    if !out.status.success() {
        return Err(FetchError::Git {
            command: args.first().copied().unwrap_or_default().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Fetches `pushed` from `url` into `dir` (emptied first) and checks out `commit`
/// (detached), after checking that the ref points at it.
pub async fn checkout(
    dir: &Path,
    url: &str,
    pushed: &Pushed<'_>,
    commit: &str,
) -> Result<(), FetchError> {
    let work_dir = |source| FetchError::WorkDir {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        tokio::fs::remove_dir_all(dir).await.map_err(work_dir)?;
    }
    tokio::fs::create_dir_all(dir).await.map_err(work_dir)?;
    git(dir, &["init", "-q"]).await?;
    match pushed {
        Pushed::Tag(tag) => {
            let spec = format!("+refs/tags/{tag}:refs/tags/{tag}");
            git(dir, &["fetch", "-q", "--no-tags", url, &spec]).await?;
            let found = git(dir, &["rev-parse", &format!("refs/tags/{tag}^{{commit}}")]).await?;
            if found != commit {
                return Err(FetchError::TagMismatch {
                    tag: tag.to_string(),
                    expected: commit.to_string(),
                    found,
                });
            }
        }
        Pushed::Branch(branch) => {
            let spec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
            git(dir, &["fetch", "-q", "--no-tags", url, &spec]).await?;
            // The branch may have moved on since the push; the commit must still be on it.
            let on_branch = git(
                dir,
                &[
                    "merge-base",
                    "--is-ancestor",
                    commit,
                    &format!("refs/remotes/origin/{branch}"),
                ],
            )
            .await;
            if on_branch.is_err() {
                return Err(FetchError::NotOnBranch {
                    branch: branch.to_string(),
                    commit: commit.to_string(),
                });
            }
        }
    }
    git(dir, &["checkout", "-q", "--detach", commit]).await?;
    Ok(())
}
