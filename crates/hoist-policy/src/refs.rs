//! Git refs as hoist is given them: `refs/tags/v1.2.0`, `v1.2.0`, `refs/heads/main`, `main`.
//!
//! A full ref (`refs/tags/...`, `refs/heads/...`) says what it is. A bare name is decided
//! in this order:
//!
//! 1. an explicit hint ([`RefKind`], e.g. the CLI's `--tag` / `--branch`) wins;
//! 2. a name the caller knows to be a tag (it asked git) is a tag;
//! 3. a name that looks like a version ([`looks_like_version`]: `v1.2.0`, but also the
//!    malformed `v1.2`) is a tag, so that a bad version is explained instead of being
//!    taken for a branch nobody has;
//! 4. anything else is a branch.
//!
//! Names are checked against git's ref-name rules (`git check-ref-format`), so a typo like
//! `v1.2.0 ` (trailing space) is refused with the reason.

use std::fmt;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::version::{VersionError, looks_like_version, parse_version};

/// Tag or branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Tag,
    Branch,
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefKind::Tag => "tag",
            RefKind::Branch => "branch",
        })
    }
}

/// A tag or branch, by its short name (`v1.2.0`, `main`), with the version a tag carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    pub kind: RefKind,
    /// The name without `refs/tags/` or `refs/heads/`.
    pub name: String,
    /// For tags that are semver versions (with optional `v`): the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
}

/// Why a ref cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("the ref is empty: give a tag such as v1.2.0 or a branch such as main")]
    Empty,
    #[error("`{0}` is neither a tag nor a branch: hoist deploys refs/tags/... and refs/heads/...")]
    UnsupportedNamespace(String),
    #[error("`{name}` is not a valid git ref name: {why}")]
    InvalidName { name: String, why: &'static str },
}

/// What kind of semver tag a ref is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionClass {
    /// `v2.3.0`: no pre-release part (build metadata allowed).
    Release,
    /// `v2.3.0-beta.1`.
    Prerelease,
}

impl GitRef {
    /// Parses a ref, deciding bare names without knowing which tags exist (see the module
    /// docs).
    pub fn parse(input: &str) -> Result<GitRef, RefError> {
        GitRef::parse_with(input, None, |_| false)
    }

    /// Parses a ref with an explicit kind for bare names (`None`: decide as documented)
    /// and a way to ask whether a bare name is an existing tag.
    pub fn parse_with(
        input: &str,
        hint: Option<RefKind>,
        is_known_tag: impl Fn(&str) -> bool,
    ) -> Result<GitRef, RefError> {
        if input.is_empty() {
            return Err(RefError::Empty);
        }
        let (kind, name) = if let Some(name) = input.strip_prefix("refs/tags/") {
            (RefKind::Tag, name)
        } else if let Some(name) = input.strip_prefix("refs/heads/") {
            (RefKind::Branch, name)
        } else if input.starts_with("refs/") {
            return Err(RefError::UnsupportedNamespace(input.to_string()));
        } else {
            let kind = hint.unwrap_or_else(|| {
                if is_known_tag(input) || looks_like_version(input) {
                    RefKind::Tag
                } else {
                    RefKind::Branch
                }
            });
            (kind, input)
        };
        check_ref_name(name)?;
        Ok(match kind {
            RefKind::Tag => GitRef::tag(name),
            RefKind::Branch => GitRef::branch(name),
        })
    }

    /// A tag by short name; its version is parsed if it is one.
    pub fn tag(name: &str) -> GitRef {
        GitRef {
            kind: RefKind::Tag,
            name: name.to_string(),
            version: parse_version(name).ok(),
        }
    }

    /// A branch by short name.
    pub fn branch(name: &str) -> GitRef {
        GitRef {
            kind: RefKind::Branch,
            name: name.to_string(),
            version: None,
        }
    }

    /// `refs/tags/NAME` or `refs/heads/NAME`.
    pub fn full_name(&self) -> String {
        match self.kind {
            RefKind::Tag => format!("refs/tags/{}", self.name),
            RefKind::Branch => format!("refs/heads/{}", self.name),
        }
    }

    /// Release or pre-release for semver tags; `None` for branches and other tags.
    pub fn version_class(&self) -> Option<VersionClass> {
        let version = self.version.as_ref()?;
        Some(if version.pre.is_empty() {
            VersionClass::Release
        } else {
            VersionClass::Prerelease
        })
    }

    /// Whether this is a semver release tag such as `v2.3.0`.
    pub fn is_release_tag(&self) -> bool {
        self.version_class() == Some(VersionClass::Release)
    }

    /// For a tag that looks like a version but is not one (`v1.2`), why not.
    pub fn version_problem(&self) -> Option<VersionError> {
        if self.kind != RefKind::Tag || self.version.is_some() || !looks_like_version(&self.name) {
            return None;
        }
        parse_version(&self.name).err()
    }

    /// How the ref reads in a sentence: "the tag `v2.3.0`", "the branch `main`".
    pub fn describe(&self) -> String {
        format!("the {} `{}`", self.kind, self.name)
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// git's ref-name rules (`git check-ref-format`), for the short name.
fn check_ref_name(name: &str) -> Result<(), RefError> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.chars().any(|c| c.is_ascii_control() || c == ' ') {
        Some("it contains a space or control character")
    } else if let Some(c) = name.chars().find(|c| "~^:?*[\\".contains(*c)) {
        Some(match c {
            '~' => "it contains `~`",
            '^' => "it contains `^`",
            ':' => "it contains `:`",
            '?' | '*' | '[' => "it contains a glob character (`?`, `*` or `[`)",
            _ => "it contains `\\`",
        })
    } else if name.contains("..") {
        Some("it contains `..`")
    } else if name.contains("@{") || name == "@" {
        Some("it contains `@{` or is `@`")
    } else if name.ends_with('/') || name.ends_with('.') {
        Some("it ends with `/` or `.`")
    } else if name.ends_with(".lock") {
        Some("it ends with `.lock`")
    } else if name
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        Some("a path component is empty or starts with `.`")
    } else {
        None
    };
    match why {
        Some(why) => Err(RefError::InvalidName {
            name: name.to_string(),
            why,
        }),
        None => Ok(()),
    }
}
