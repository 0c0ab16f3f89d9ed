//! A `.dockerignore` matcher with Docker's semantics, which differ from
//! `.gitignore`'s:
//!
//! * every pattern is anchored to the context root (`foo` means `./foo`, not
//!   any `foo` at any depth; use `**/foo` for that);
//! * patterns are cleaned like Go's `filepath.Clean` (`./a//b/` is `a/b`,
//!   a leading `/` is dropped);
//! * `*` and `?` never cross `/`, `[...]` classes may be negated with `^` or
//!   `!`, `\` escapes, and `**` matches any number of directories;
//! * `!pattern` re-includes, and the **last** matching pattern wins;
//! * a pattern that matches a directory excludes everything below it (the
//!   path's parents are tested too).
//!
//! The walker uses [`DockerIgnore::can_prune_dir`] to skip excluded
//! directories entirely unless an exception pattern might re-include
//! something inside them, as Docker's own context walk does.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::ScanError;

/// A compiled `.dockerignore`.
#[derive(Debug, Clone)]
pub struct DockerIgnore {
    set: GlobSet,
    /// Per pattern: is it an exception (`!pattern`)?
    negated: Vec<bool>,
    /// Cleaned exception patterns split into components.
    exceptions: Vec<Vec<String>>,
}

impl DockerIgnore {
    /// Parse `.dockerignore` text. `file` is used in error messages only.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ScanError> {
        let mut builder = GlobSetBuilder::new();
        let mut negated = Vec::new();
        let mut exceptions = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let raw = if n == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            let mut pattern = raw.trim();
            if pattern.is_empty() || pattern.starts_with('#') {
                continue;
            }
            let invert = pattern.starts_with('!');
            if invert {
                pattern = pattern[1..].trim();
            }
            let cleaned = clean(pattern);
            if cleaned.is_empty() || cleaned == "." {
                continue;
            }
            let glob = GlobBuilder::new(&to_globset(&cleaned))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ScanError::RulesFile {
                    file: file.to_path_buf(),
                    line: n + 1,
                    column: 1,
                    message: format!("invalid .dockerignore pattern {pattern:?}: {e}"),
                })?;
            builder.add(glob);
            negated.push(invert);
            if invert {
                exceptions.push(cleaned.split('/').map(str::to_string).collect());
            }
        }
        let set = builder.build().map_err(|e| ScanError::RulesFile {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("invalid .dockerignore: {e}"),
        })?;
        Ok(DockerIgnore {
            set,
            negated,
            exceptions,
        })
    }

    /// Load `<root>/.dockerignore` if it exists.
    pub fn from_root(root: &Path) -> Result<Option<Self>, ScanError> {
        let path = root.join(".dockerignore");
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes), &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ScanError::io(path, e)),
        }
    }

    /// Whether `rel` (relative to the context root, `/`-separated) is left
    /// out of the build context.
    pub fn is_excluded(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches("./").trim_matches('/');
        if rel.is_empty() {
            return false;
        }
        let mut hits = Vec::new();
        let mut last: Option<usize> = None;
        // The path itself and every parent directory: a pattern matching a
        // parent applies to everything below it.
        let mut end = 0;
        loop {
            let next = rel[end..].find('/').map(|i| end + i);
            let prefix = &rel[..next.unwrap_or(rel.len())];
            self.set.matches_into(prefix, &mut hits);
            if let Some(&m) = hits.iter().max() {
                last = Some(last.map_or(m, |l| l.max(m)));
            }
            match next {
                Some(i) => end = i + 1,
                None => break,
            }
        }
        last.is_some_and(|i| !self.negated[i])
    }

    /// Whether the walk may skip directory `rel` without looking inside:
    /// it is excluded and no exception pattern could re-include anything
    /// below it.
    pub fn can_prune_dir(&self, rel: &str) -> bool {
        if !self.is_excluded(rel) {
            return false;
        }
        let dir: Vec<&str> = rel.trim_matches('/').split('/').collect();
        !self
            .exceptions
            .iter()
            .any(|exc| could_match_below(exc, &dir))
    }
}

/// Could exception pattern components `exc` match something at or below
/// directory `dir`? Conservative: any wildcard component counts as a match.
fn could_match_below(exc: &[String], dir: &[&str]) -> bool {
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

/// Go's `filepath.Clean` on a `/`-separated pattern, plus dropping a leading
/// `/` (Docker anchors every pattern to the root anyway).
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
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Rewrite Go `filepath.Match` syntax into globset syntax: `{`/`}` are
/// literals in Go, `[^` negates, and `**` inside a component (`a**b`) is
/// treated as `*` because globset only allows `**` as a whole component.
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

    fn di(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text, Path::new(".dockerignore")).expect("parses")
    }

    #[test]
    fn patterns_are_anchored_to_root() {
        let d = di("secret.txt\n");
        assert!(d.is_excluded("secret.txt"));
        assert!(!d.is_excluded("sub/secret.txt"));
        let d = di("**/secret.txt\n");
        assert!(d.is_excluded("secret.txt"));
        assert!(d.is_excluded("a/b/secret.txt"));
    }

    #[test]
    fn star_does_not_cross_separators() {
        let d = di("*.env\n");
        assert!(d.is_excluded("prod.env"));
        assert!(!d.is_excluded("config/prod.env"));
        let d = di("*/*.env\n");
        assert!(d.is_excluded("config/prod.env"));
    }

    #[test]
    fn directory_match_excludes_contents() {
        let d = di("target\n/node_modules/\n");
        assert!(d.is_excluded("target"));
        assert!(d.is_excluded("target/debug/app"));
        assert!(d.is_excluded("node_modules/x/index.js"));
        assert!(d.can_prune_dir("target"));
    }

    #[test]
    fn last_match_wins_with_exceptions() {
        let d = di("*.md\n!README.md\n");
        assert!(d.is_excluded("CHANGES.md"));
        assert!(!d.is_excluded("README.md"));
        let d = di("!README.md\n*.md\n");
        assert!(d.is_excluded("README.md"));
        let d = di("config\n!config/public.toml\n");
        assert!(d.is_excluded("config/secret.toml"));
        assert!(!d.is_excluded("config/public.toml"));
        // An exception inside means the directory must be walked.
        assert!(!d.can_prune_dir("config"));
    }

    #[test]
    fn cleaning_and_comments() {
        let d = di("\u{feff}# comment\n\n  ./a//b/  \n/c\nx/../y\n");
        assert!(d.is_excluded("a/b"));
        assert!(d.is_excluded("a/b/c.txt"));
        assert!(d.is_excluded("c"));
        assert!(d.is_excluded("y"));
        assert!(!d.is_excluded("x"));
        assert!(!d.is_excluded("# comment"));
    }

    #[test]
    fn go_syntax_is_translated() {
        let d = di("file[^0-9].txt\n{a,b}\n");
        assert!(d.is_excluded("filex.txt"));
        assert!(!d.is_excluded("file1.txt"));
        assert!(d.is_excluded("{a,b}"));
        assert!(!d.is_excluded("a"));
    }

    #[test]
    fn prune_is_conservative_with_wildcard_exceptions() {
        let d = di("vendor\n!vendor/*/LICENSE\n");
        assert!(!d.can_prune_dir("vendor"));
        assert!(!d.can_prune_dir("vendor/x"));
        assert!(!d.is_excluded("vendor/x/LICENSE"));
        assert!(d.is_excluded("vendor/x/lib.rs"));
        let d = di("a\nb\n!a/keep\n");
        assert!(d.can_prune_dir("b"));
        assert!(!d.can_prune_dir("a"));
    }
}
