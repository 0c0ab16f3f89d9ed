//! `.dockerignore` as the Docker engine reads it.
//!
//! No maintained crate implements these semantics, and `.gitignore` matchers get them
//! wrong. Docker's rules (moby's `patternmatcher`), which this crate follows:
//!
//! * every pattern is anchored to the context root (`*.log` matches `app.log`, not
//!   `logs/a.log`; write `**/*.log` for any depth);
//! * patterns are cleaned like Go's `filepath.Clean` (`./a//b/` is `a/b`, `x/../y` is
//!   `y`) and a leading `/` is dropped; blank lines and `#` lines are skipped,
//!   surrounding whitespace is trimmed, a UTF-8 byte-order mark is ignored;
//! * `*` and `?` never cross `/`, `[...]` classes may be negated with `^` or `!`, `\`
//!   escapes, `**` matches any number of directories, `{` and `}` are literal (Go's
//!   `filepath.Match` has no alternation);
//! * `!pattern` re-includes, and the **last** matching pattern wins;
//! * a pattern that matches a directory excludes everything below it (the path's
//!   parent directories are tested too).
//!
//! Walkers use [`DockerIgnore::can_prune_dir`] to skip an excluded directory without
//! reading it unless an exception pattern could re-include something inside it, as
//! Docker's own context walk does.
//!
//! Both hoist's image build (`hoist-build`) and its secret scan (`hoist-scan`) use this
//! matcher, so the scan sees exactly the files the build sends.
//!
//! Known differences from Docker: `**` inside a path component (`a**b`) acts as `*`
//! (globset only allows `**` as a whole component), and the per-Dockerfile
//! `<Dockerfile>.dockerignore` is not read, only `<root>/.dockerignore`.

use std::path::{Component, Path, PathBuf};

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// A line of `.dockerignore` that is not a valid pattern.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: `{pattern}` is not a valid pattern: {reason}")]
pub struct PatternError {
    /// The file, as given to [`DockerIgnore::parse`].
    pub file: String,
    /// 1-based line of the pattern.
    pub line: usize,
    /// The pattern as written (without a leading `!`).
    pub pattern: String,
    /// Why it is invalid.
    pub reason: String,
}

/// Why a `.dockerignore` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pattern does not compile.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The `.dockerignore` file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A parsed `.dockerignore`. The default ignores nothing.
#[derive(Debug, Clone)]
pub struct DockerIgnore {
    set: GlobSet,
    /// Per pattern, in file order: is it an exception (`!pattern`)?
    negated: Vec<bool>,
    /// Cleaned exception patterns split into components, for pruning decisions.
    exceptions: Vec<Vec<String>>,
}

impl Default for DockerIgnore {
    fn default() -> Self {
        DockerIgnore {
            set: GlobSet::empty(),
            negated: Vec::new(),
            exceptions: Vec::new(),
        }
    }
}

impl DockerIgnore {
    /// Reads `<root>/.dockerignore`; a missing file ignores nothing. A file that exists
    /// but cannot be read is an error (Docker refuses to build then, too).
    pub fn for_context(root: &Path) -> Result<DockerIgnore, Error> {
        Ok(Self::from_root(root)?.unwrap_or_default())
    }

    /// Reads `<root>/.dockerignore` if it exists: `None` when there is none.
    pub fn from_root(root: &Path) -> Result<Option<DockerIgnore>, Error> {
        let path = root.join(".dockerignore");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(DockerIgnore::parse(
                &path.display().to_string(),
                &String::from_utf8_lossy(&bytes),
            )?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }

    /// Parses `.dockerignore` text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<DockerIgnore, PatternError> {
        let mut builder = GlobSetBuilder::new();
        let mut negated = Vec::new();
        let mut exceptions = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = if i == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&to_globset(&cleaned))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    file: file.to_string(),
                    line: i + 1,
                    pattern: pattern.to_string(),
                    reason: e.kind().to_string(),
                })?;
            builder.add(glob);
            negated.push(include);
            if include {
                exceptions.push(cleaned.split('/').map(str::to_string).collect());
            }
        }
        let set = builder.build().map_err(|e| PatternError {
            file: file.to_string(),
            line: 1,
            pattern: String::new(),
            reason: e.to_string(),
        })?;
        Ok(DockerIgnore {
            set,
            negated,
            exceptions,
        })
    }

    /// Whether the file has no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.negated.is_empty()
    }

    /// Whether `rel` (relative to the context root; `/`-separated or a native relative
    /// path) is left out of the context.
    pub fn is_excluded(&self, rel: impl AsRef<Path>) -> bool {
        if self.negated.is_empty() {
            return false;
        }
        let mut prefix = PathBuf::new();
        let mut hits = Vec::new();
        let mut last: Option<usize> = None;
        // The path itself and every parent directory: a pattern matching a parent
        // applies to everything below it; of all patterns that match, the last wins.
        for c in rel.as_ref().components() {
            match c {
                Component::Normal(part) => prefix.push(part),
                Component::ParentDir => {
                    prefix.pop();
                    continue;
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => continue,
            }
            self.set
                .matches_candidate_into(&Candidate::new(&prefix), &mut hits);
            if let Some(&m) = hits.iter().max() {
                last = Some(last.map_or(m, |l| l.max(m)));
            }
        }
        last.is_some_and(|i| !self.negated[i])
    }

    /// Whether a walk may skip directory `rel` without looking inside: it is excluded
    /// and no exception pattern could re-include anything below it.
    pub fn can_prune_dir(&self, rel: impl AsRef<Path>) -> bool {
        let rel = rel.as_ref();
        if !self.is_excluded(rel) {
            return false;
        }
        let dir: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        !self
            .exceptions
            .iter()
            .any(|exc| could_match_below(exc, &dir))
    }

    /// Whether no `!` line exists, so any excluded directory can be skipped whole.
    pub fn can_prune(&self) -> bool {
        self.exceptions.is_empty()
    }
}

/// Could exception pattern components `exc` match something at or below directory
/// `dir`? Conservative: a wildcard component counts as a match.
fn could_match_below(exc: &[String], dir: &[String]) -> bool {
    for (i, d) in dir.iter().enumerate() {
        let Some(e) = exc.get(i) else {
            // The exception names an ancestor of `dir`: it re-includes it.
            return true;
        };
        if e.contains("**") {
            return true;
        }
        let wild = e.contains(['*', '?', '[', '\\']);
        if !wild && e != d {
            return false;
        }
    }
    true
}

/// Go's `filepath.Clean` on a `/`-separated pattern, plus dropping a leading `/`
/// (Docker anchors every pattern to the root anyway). `.` cleans to nothing.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Rewrites Go `filepath.Match` syntax into globset syntax: `{`/`}` are literals in Go,
/// `[^` negates, and `**` inside a component (`a**b`) is treated as `*` because globset
/// only allows `**` as a whole component.
fn to_globset(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for (i, comp) in pattern.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if comp == "**" {
            out.push_str("**");
            continue;
        }
        let mut chars = comp.chars().peekable();
        let mut in_class = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    out.push('\\');
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '[' if !in_class => {
                    in_class = true;
                    out.push('[');
                    if chars.peek() == Some(&'^') {
                        chars.next();
                        out.push('!');
                    }
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(']');
                }
                '{' | '}' if !in_class => {
                    out.push('\\');
                    out.push(c);
                }
                '*' if !in_class => {
                    out.push('*');
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                }
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(".dockerignore", text).unwrap()
    }

    #[test]
    fn patterns_are_anchored_at_the_root() {
        let d = ignore("*.log\n");
        assert!(d.is_excluded("app.log"));
        assert!(!d.is_excluded("logs/app.log"));
        let deep = ignore("**/*.log\n");
        assert!(deep.is_excluded("logs/app.log"));
        assert!(deep.is_excluded("app.log"));
        let d = ignore("secret.txt\n");
        assert!(d.is_excluded("secret.txt"));
        assert!(!d.is_excluded("sub/secret.txt"));
        let d = ignore("**/secret.txt\n");
        assert!(d.is_excluded("a/b/secret.txt"));
    }

    #[test]
    fn star_does_not_cross_separators() {
        let d = ignore("*.env\n");
        assert!(d.is_excluded("prod.env"));
        assert!(!d.is_excluded("config/prod.env"));
        let d = ignore("*/*.env\n");
        assert!(d.is_excluded("config/prod.env"));
    }

    #[test]
    fn a_matched_directory_excludes_its_contents() {
        let d = ignore("# wheels are for the base image\nwheelhouse\n/.git/\n");
        assert!(d.is_excluded(Path::new("wheelhouse/django.whl")));
        assert!(d.is_excluded(".git/HEAD"));
        assert!(!d.is_excluded("app/wheelhouse.py"));
        assert!(d.can_prune());
        assert!(d.can_prune_dir("wheelhouse"));
        let d = ignore("target\n/node_modules/\n");
        assert!(d.is_excluded("target"));
        assert!(d.is_excluded("target/debug/app"));
        assert!(d.is_excluded("node_modules/x/index.js"));
    }

    #[test]
    fn last_match_wins_and_exceptions_reinclude() {
        let d = ignore("docs\n!docs/README.md\n");
        assert!(d.is_excluded("docs/guide.md"));
        assert!(!d.is_excluded("docs/README.md"));
        assert!(!d.can_prune());
        // An exception inside means the directory must be walked.
        assert!(!d.can_prune_dir("docs"));
        let d = ignore("!keep.txt\n*.txt\n");
        assert!(d.is_excluded("keep.txt"));
        let d = ignore("*.md\n!README.md\n");
        assert!(d.is_excluded("CHANGES.md"));
        assert!(!d.is_excluded("README.md"));
    }

    #[test]
    fn cleaning_comments_whitespace_and_bom() {
        let d = ignore("\u{feff}# comment\n\n  ./a//b/  \n/c\nx/../y\n.\n");
        assert!(d.is_excluded("a/b"));
        assert!(d.is_excluded("a/b/c.txt"));
        assert!(d.is_excluded("c"));
        assert!(d.is_excluded("y"));
        assert!(!d.is_excluded("x"));
        assert!(!d.is_excluded("# comment"));
        assert!(!d.is_excluded("other"));
        // A BOM-prefixed first pattern still matches.
        assert!(ignore("\u{feff}secret\n").is_excluded("secret"));
    }

    #[test]
    fn go_syntax_is_translated() {
        let d = ignore("file[^0-9].txt\n{a,b}\n");
        assert!(d.is_excluded("filex.txt"));
        assert!(!d.is_excluded("file1.txt"));
        assert!(d.is_excluded("{a,b}"));
        assert!(!d.is_excluded("a"));
        let d = ignore("file[!0-9].txt\nx\\*y\n");
        assert!(d.is_excluded("filex.txt"));
        assert!(d.is_excluded("x*y"));
        assert!(!d.is_excluded("xzy"));
    }

    #[test]
    fn pruning_is_conservative_with_wildcard_exceptions() {
        let d = ignore("vendor\n!vendor/*/LICENSE\n");
        assert!(!d.can_prune_dir("vendor"));
        assert!(!d.can_prune_dir("vendor/x"));
        assert!(!d.is_excluded("vendor/x/LICENSE"));
        assert!(d.is_excluded("vendor/x/lib.rs"));
        let d = ignore("a\nb\n!a/keep\n");
        assert!(d.can_prune_dir("b"));
        assert!(!d.can_prune_dir("a"));
        assert!(!d.can_prune_dir("c"), "not excluded: never pruned");
    }

    #[test]
    fn native_and_dotted_paths_are_accepted() {
        let d = ignore("secrets\n");
        assert!(d.is_excluded("./secrets/x"));
        assert!(d.is_excluded(Path::new("secrets").join("x")));
        assert!(!d.is_excluded(""));
        assert!(!DockerIgnore::default().is_excluded("anything"));
        assert!(DockerIgnore::default().is_empty());
    }

    #[test]
    fn bad_pattern_names_file_and_line() {
        let err = DockerIgnore::parse("ctx/.dockerignore", "ok\n[unclosed\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("ctx/.dockerignore:2:"), "{err}");
    }

    #[test]
    fn loading_from_a_context() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DockerIgnore::from_root(dir.path()).unwrap().is_none());
        assert!(
            !DockerIgnore::for_context(dir.path())
                .unwrap()
                .is_excluded("x")
        );
        std::fs::write(dir.path().join(".dockerignore"), "x\n").unwrap();
        assert!(
            DockerIgnore::for_context(dir.path())
                .unwrap()
                .is_excluded("x")
        );
        // A directory where the file should be cannot be read: an error, not "nothing".
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join(".dockerignore")).unwrap();
        assert!(matches!(
            DockerIgnore::from_root(other.path()),
            Err(Error::Read { .. })
        ));
    }
}
