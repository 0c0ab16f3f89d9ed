//! What a release is called: the semver tag at HEAD if there is one, otherwise the short
//! commit sha, marked `-dirty` when the work tree has uncommitted changes.
//!
//! Git is asked through its CLI (`git rev-parse`, `git tag --points-at`, `git status`):
//! every CI runner has it, and three read-only queries do not justify linking a full git
//! implementation into the deploy path.

use std::path::Path;
use std::process::Command;

/// The version of a release and the commit it was built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceVersion {
    pub version: String,
    /// Full commit sha, or `unknown` when the version was given and there is no repository.
    pub commit: String,
    /// Commit time (RFC 3339), used as the image's `created` label so rebuilding a commit
    /// reproduces the same image.
    pub commit_time: Option<String>,
    pub dirty: bool,
    /// The semver tag at HEAD that names this version, if one does.
    pub tag: Option<String>,
    /// The checked-out branch, if HEAD is on one.
    pub branch: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{} is not inside a git repository, so hoist cannot name the release; pass --version", dir.display())]
    NotARepository { dir: std::path::PathBuf },
    #[error("cannot run git: {0}; install git or pass --version")]
    Git(#[source] std::io::Error),
    #[error(
        "`{0}` is not a usable version: use letters, digits, `.`, `_`, `-` and `+`, up to 128 characters, starting with a letter or digit"
    )]
    Invalid(String),
}

/// Works out the version for the source tree at `dir`; `requested` (from `--version`) wins.
pub fn derive(dir: &Path, requested: Option<&str>) -> Result<SourceVersion, VersionError> {
    if let Some(v) = requested {
        check_version(v)?;
    }
    let head = git(dir, &["rev-parse", "HEAD"]).map_err(VersionError::Git)?;
    let Some(commit) = head else {
        return match requested {
            Some(v) => Ok(SourceVersion {
                version: v.to_string(),
                commit: "unknown".into(),
                commit_time: None,
                dirty: false,
                tag: None,
                branch: None,
            }),
            None => Err(VersionError::NotARepository {
                dir: dir.to_path_buf(),
            }),
        };
    };
    let tags = git(dir, &["tag", "--points-at", "HEAD"])
        .map_err(VersionError::Git)?
        .unwrap_or_default();
    // Untracked files count too: they end up in the build context. hoist's own state
    // directory does not.
    let status = git(
        dir,
        &["status", "--porcelain", "--", ".", ":(exclude).hoist"],
    )
    .map_err(VersionError::Git)?
    .unwrap_or_default();
    let commit_time =
        git(dir, &["show", "-s", "--format=%cI", "HEAD"]).map_err(VersionError::Git)?;
    let dirty = !status.trim().is_empty();
    let version = match requested {
        Some(v) => v.to_string(),
        None => version_from(tags.lines(), &commit, dirty),
    };
    let tag = tags
        .lines()
        .map(str::trim)
        .find(|t| *t == version && !dirty)
        .map(str::to_string);
    let branch = git(dir, &["symbolic-ref", "--short", "-q", "HEAD"]).map_err(VersionError::Git)?;
    Ok(SourceVersion {
        version,
        commit,
        commit_time,
        dirty,
        tag,
        branch,
    })
}

/// The version for a commit with `tags` pointing at it: the highest semver tag (with or
/// without `v`, kept as written), else the 12-digit short sha with `-dirty` if needed.
/// A dirty tree never takes the tag's name: the tag does not describe what is built.
pub fn version_from<'a>(tags: impl Iterator<Item = &'a str>, commit: &str, dirty: bool) -> String {
    let best_tag = tags
        .filter_map(|t| {
            let t = t.trim();
            let parsed = semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?;
            Some((parsed, t))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.to_string());
    let short = &commit[..commit.len().min(12)];
    match (best_tag, dirty) {
        (Some(tag), false) => tag,
        (_, true) => format!("{short}-dirty"),
        (None, false) => short.to_string(),
    }
}

/// The commit a tag points to, or `None` if there is no such tag.
pub fn tag_commit(dir: &Path, tag: &str) -> Result<Option<String>, VersionError> {
    git(
        dir,
        &[
            "rev-parse",
            "-q",
            "--verify",
            &format!("refs/tags/{tag}^{{commit}}"),
        ],
    )
    .map_err(VersionError::Git)
}

/// The commits a branch's name stands for here: the local branch and `origin`'s, those
/// that exist (none in a checkout that fetched neither).
pub fn branch_tips(dir: &Path, branch: &str) -> Result<Vec<String>, VersionError> {
    let mut tips = Vec::new();
    for full in [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ] {
        let commit = git(
            dir,
            &["rev-parse", "-q", "--verify", &format!("{full}^{{commit}}")],
        )
        .map_err(VersionError::Git)?;
        if let Some(commit) = commit.filter(|c| !tips.contains(c)) {
            tips.push(commit);
        }
    }
    Ok(tips)
}

/// Versions become image tags and container labels; keep them within Docker's tag grammar.
pub fn check_version(v: &str) -> Result<(), VersionError> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(VersionError::Invalid(v.to_string()))
    }
}

/// Docker tags cannot contain `+` (semver build metadata); it becomes `_`.
pub fn image_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// Runs git; `Ok(None)` when `dir` is not in a repository (or HEAD has no commit yet).
fn git(dir: &Path, args: &[&str]) -> std::io::Result<Option<String>> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if out.status.success() {
        Ok(Some(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn semver_tag_at_head_names_the_release() {
        assert_eq!(version_from(["v1.2.0"].into_iter(), SHA, false), "v1.2.0");
        assert_eq!(
            version_from(["2.0.0-beta.1"].into_iter(), SHA, false),
            "2.0.0-beta.1"
        );
    }

    #[test]
    fn highest_semver_tag_wins_and_other_tags_are_ignored() {
        let tags = [
            "deployed-2024",
            "v1.2.0",
            "v1.10.0",
            "v1.10.0-rc.1",
            "latest",
        ];
        assert_eq!(version_from(tags.into_iter(), SHA, false), "v1.10.0");
    }

    #[test]
    fn untagged_commit_uses_short_sha() {
        assert_eq!(
            version_from(["nightly"].into_iter(), SHA, false),
            "0123456789ab"
        );
    }

    #[test]
    fn dirty_tree_is_marked_and_never_takes_the_tag() {
        assert_eq!(
            version_from(std::iter::empty(), SHA, true),
            "0123456789ab-dirty"
        );
        assert_eq!(
            version_from(["v1.2.0"].into_iter(), SHA, true),
            "0123456789ab-dirty"
        );
    }

    #[test]
    fn override_is_checked() {
        assert!(check_version("v1.2.3+build.5").is_ok());
        assert!(check_version("hotfix_1").is_ok());
        assert!(check_version("").is_err());
        assert!(check_version("-x").is_err());
        assert!(check_version("a b").is_err());
        assert!(check_version("a/b").is_err());
        assert_eq!(image_tag("v1.2.3+build.5"), "v1.2.3_build.5");
    }

    #[test]
    fn derive_reads_a_real_repository() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ]);
        let v = derive(dir.path(), None).unwrap();
        assert_eq!(v.version.len(), 12);
        assert!(!v.dirty);
        assert!(v.commit_time.is_some());
        run(&["tag", "v0.3.1"]);
        let tagged = derive(dir.path(), None).unwrap();
        assert_eq!(tagged.version, "v0.3.1");
        assert_eq!(tagged.tag.as_deref(), Some("v0.3.1"));
        assert_eq!(
            tag_commit(dir.path(), "v0.3.1").unwrap(),
            Some(tagged.commit.clone())
        );
        assert_eq!(tag_commit(dir.path(), "v9.9.9").unwrap(), None);
        std::fs::write(dir.path().join("new.txt"), "x").unwrap();
        let dirty = derive(dir.path(), None).unwrap();
        assert!(dirty.dirty);
        assert!(dirty.version.ends_with("-dirty"));
        assert_eq!(
            derive(dir.path(), Some("custom-1")).unwrap().version,
            "custom-1"
        );
    }

    #[test]
    fn outside_a_repository_needs_an_explicit_version() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            derive(dir.path(), None),
            Err(VersionError::NotARepository { .. })
        ));
        assert_eq!(
            derive(dir.path(), Some("v9.0.0")).unwrap().commit,
            "unknown"
        );
    }
}
