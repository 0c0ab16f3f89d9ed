//! `.dockerignore` as the Docker engine reads it.
//!
//! No maintained crate implements these semantics, and `.gitignore` matchers get them
//! wrong: Docker anchors every pattern at the context root (`*.log` does not match
//! `logs/a.log`), a pattern that matches a directory excludes everything under it, `!`
//! re-includes, and the last matching line wins (moby's `patternmatcher`).

use std::path::{Component, Path};

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: `{pattern}` is not a valid pattern: {reason}")]
pub struct PatternError {
    pub file: String,
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Pattern {
    matcher: GlobMatcher,
    /// A `!` line: a match re-includes the path.
    include: bool,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Reads `<root>/.dockerignore`; a missing file ignores nothing.
    pub fn for_context(root: &Path) -> Result<DockerIgnore, PatternError> {
        let path = root.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => DockerIgnore::parse(&path.display().to_string(), &text),
            Err(_) => Ok(DockerIgnore::default()),
        }
    }

    /// Parses `.dockerignore` text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<DockerIgnore, PatternError> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
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
            let matcher = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    file: file.to_string(),
                    line: i + 1,
                    pattern: pattern.to_string(),
                    reason: e.kind().to_string(),
                })?
                .compile_matcher();
            patterns.push(Pattern { matcher, include });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether `rel` (relative to the context root) is left out of the context.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        let mut excluded = false;
        for p in &self.patterns {
            if matches_or_parent_matches(&p.matcher, rel) {
                excluded = !p.include;
            }
        }
        excluded
    }

    /// Whether a walk may skip everything under an excluded directory: only when no `!`
    /// line could bring something inside it back.
    pub fn can_prune(&self) -> bool {
        !self.patterns.iter().any(|p| p.include)
    }
}

/// `filepath.Clean` plus dropping a leading `/`, as Docker does.
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

fn matches_or_parent_matches(matcher: &GlobMatcher, rel: &Path) -> bool {
    if matcher.is_match(rel) {
        return true;
    }
    let mut prefix = std::path::PathBuf::new();
    let components: Vec<Component<'_>> = rel.components().collect();
    for c in components.iter().take(components.len().saturating_sub(1)) {
        prefix.push(c);
        if matcher.is_match(&prefix) {
            return true;
        }
    }
    false
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
        assert!(d.is_excluded(Path::new("app.log")));
        assert!(!d.is_excluded(Path::new("logs/app.log")));
        let deep = ignore("**/*.log\n");
        assert!(deep.is_excluded(Path::new("logs/app.log")));
        assert!(deep.is_excluded(Path::new("app.log")));
    }

    #[test]
    fn a_matched_directory_excludes_its_contents() {
        let d = ignore("# wheels are for the base image\nwheelhouse\n/.git/\n");
        assert!(d.is_excluded(Path::new("wheelhouse/django.whl")));
        assert!(d.is_excluded(Path::new(".git/HEAD")));
        assert!(!d.is_excluded(Path::new("app/wheelhouse.py")));
        assert!(d.can_prune());
    }

    #[test]
    fn last_match_wins_and_exceptions_reinclude() {
        let d = ignore("docs\n!docs/README.md\n");
        assert!(d.is_excluded(Path::new("docs/guide.md")));
        assert!(!d.is_excluded(Path::new("docs/README.md")));
        assert!(!d.can_prune());
        let d = ignore("!keep.txt\n*.txt\n");
        assert!(d.is_excluded(Path::new("keep.txt")));
    }

    #[test]
    fn bad_pattern_names_file_and_line() {
        let err = DockerIgnore::parse("ctx/.dockerignore", "ok\n[unclosed\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("ctx/.dockerignore:2:"), "{err}");
    }
}
