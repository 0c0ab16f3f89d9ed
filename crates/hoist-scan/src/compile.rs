//! Compiling rule definitions: regexes (bytes API, Unicode off so classes
//! are ASCII and matching is fast), path matchers and allowlists. Done once
//! per [`crate::Scanner`]; scanning never compiles anything.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::error::ScanError;
use crate::ruleset::{AllowlistDef, Condition, Origin, PathPatterns, RegexTarget, RuleDef};

const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// Compile a rule regex for the bytes API. Unicode is off first (ASCII
/// `\w`, `\d`, `\s`, `\b`, as in Go's RE2, and much faster); a pattern that
/// needs Unicode (`\pL`, non-ASCII classes) is retried with Unicode on.
pub(crate) fn build_regex(pattern: &str) -> Result<Regex, String> {
    let ascii = RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build();
    match ascii {
        Ok(r) => Ok(r),
        Err(_) => RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string()),
    }
}

fn build_regex_set(patterns: &[String]) -> Result<RegexSet, String> {
    let ascii = RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build();
    match ascii {
        Ok(r) => Ok(r),
        Err(_) => RegexSetBuilder::new(patterns)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string()),
    }
}

fn invalid(origin: &Origin, rule: &str, message: String) -> ScanError {
    ScanError::InvalidRule {
        file: origin.file.clone(),
        line: origin.line,
        rule: rule.to_string(),
        message,
    }
}

/// Matches relative paths (with `/` separators) against globs or regexes.
#[derive(Debug, Clone)]
pub(crate) enum PathMatcher {
    Globs(GlobSet),
    Regexes(RegexSet),
}

impl PathMatcher {
    /// Globs: relative to the scan root; a glob without `/` matches the file
    /// name at any depth (like .gitignore). Regexes: unanchored, as gitleaks.
    pub(crate) fn new(
        patterns: &PathPatterns,
        origin: &Origin,
        rule: &str,
    ) -> Result<Self, ScanError> {
        match patterns {
            PathPatterns::Globs(globs) => {
                let mut b = GlobSetBuilder::new();
                for g in globs {
                    let g = g.trim_start_matches("./");
                    let full = if g.contains('/') {
                        g.trim_start_matches('/').to_string()
                    } else {
                        format!("**/{g}")
                    };
                    let glob = GlobBuilder::new(&full)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()
                        .map_err(|e| {
                            invalid(origin, rule, format!("invalid path glob {g:?}: {e}"))
                        })?;
                    b.add(glob);
                }
                b.build()
                    .map(PathMatcher::Globs)
                    .map_err(|e| invalid(origin, rule, format!("invalid path globs: {e}")))
            }
            PathPatterns::Regexes(res) => build_regex_set(res)
                .map(PathMatcher::Regexes)
                .map_err(|e| invalid(origin, rule, format!("invalid path regex: {e}"))),
        }
    }

    pub(crate) fn is_match(&self, path: &str) -> bool {
        match self {
            PathMatcher::Globs(g) => g.is_match(path),
            PathMatcher::Regexes(r) => r.is_match(path.as_bytes()),
        }
    }
}

/// What an allowlist is checked against.
pub(crate) struct Candidate<'a> {
    pub path: &'a str,
    pub secret: &'a [u8],
    pub whole: &'a [u8],
    pub line: &'a [u8],
    pub commit: Option<&'a str>,
}

/// A compiled allowlist.
#[derive(Debug, Clone)]
pub(crate) struct Allowlist {
    condition: Condition,
    target: RegexTarget,
    regexes: Option<RegexSet>,
    paths: Option<PathMatcher>,
    stopwords: Vec<Vec<u8>>,
    commits: Vec<String>,
    /// Global allowlists only: rule ids this applies to (empty = all).
    pub target_rules: Vec<String>,
}

impl Allowlist {
    pub(crate) fn compile(def: &AllowlistDef, rule: &str) -> Result<Self, ScanError> {
        let regexes =
            if def.regexes.is_empty() {
                None
            } else {
                Some(build_regex_set(&def.regexes).map_err(|e| {
                    invalid(&def.origin, rule, format!("invalid allowlist regex: {e}"))
                })?)
            };
        let paths = if def.paths.is_empty() {
            None
        } else {
            Some(PathMatcher::new(&def.paths, &def.origin, rule)?)
        };
        Ok(Allowlist {
            condition: def.condition,
            target: def.regex_target,
            regexes,
            paths,
            stopwords: def
                .stopwords
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase().into_bytes())
                .collect(),
            commits: def.commits.iter().map(|c| c.to_ascii_lowercase()).collect(),
            target_rules: def.target_rules.clone(),
        })
    }

    pub(crate) fn applies_to(&self, rule_id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|t| t == rule_id)
    }

    /// Whether a path alone allows everything in it (an OR allowlist whose
    /// path patterns match), so the file need not be read at all.
    pub(crate) fn allows_path(&self, path: &str) -> bool {
        match (&self.paths, self.condition) {
            (Some(p), Condition::Or) => p.is_match(path),
            (Some(p), Condition::And) => {
                // Only paths given: AND over a single criterion.
                self.regexes.is_none()
                    && self.stopwords.is_empty()
                    && self.commits.is_empty()
                    && p.is_match(path)
            }
            (None, _) => false,
        }
    }

    pub(crate) fn allows(&self, c: &Candidate<'_>) -> bool {
        let mut checks: [Option<bool>; 4] = [None; 4];
        if let Some(p) = &self.paths {
            checks[0] = Some(p.is_match(c.path));
        }
        if let Some(r) = &self.regexes {
            let hay = match self.target {
                RegexTarget::Secret => c.secret,
                RegexTarget::Match => c.whole,
                RegexTarget::Line => c.line,
            };
            checks[1] = Some(r.is_match(hay));
        }
        if !self.stopwords.is_empty() {
            let lower = c.secret.to_ascii_lowercase();
            checks[2] = Some(
                self.stopwords
                    .iter()
                    .any(|w| memchr::memmem::find(&lower, w).is_some()),
            );
        }
        if !self.commits.is_empty() {
            checks[3] = Some(c.commit.is_some_and(|commit| {
                let commit = commit.to_ascii_lowercase();
                self.commits
                    .iter()
                    .any(|a| !a.is_empty() && commit.starts_with(a.as_str()))
            }));
        }
        let mut given = checks.iter().flatten().peekable();
        if given.peek().is_none() {
            return false;
        }
        match self.condition {
            Condition::Or => given.any(|&b| b),
            Condition::And => given.all(|&b| b),
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: String,
    pub description: String,
    pub regex: Regex,
    pub keywords: Vec<String>,
    pub entropy: Option<f64>,
    pub secret_group: Option<usize>,
    pub path: Option<PathMatcher>,
    pub allowlists: Vec<Allowlist>,
}

impl Rule {
    pub(crate) fn compile(def: &RuleDef) -> Result<Self, ScanError> {
        let regex = build_regex(&def.regex)
            .map_err(|e| invalid(&def.origin, &def.id, format!("invalid regex: {e}")))?;
        if let Some(g) = def.secret_group
            && g >= regex.captures_len()
        {
            return Err(invalid(
                &def.origin,
                &def.id,
                format!(
                    "secret group {g} does not exist (the regex has {} groups)",
                    regex.captures_len() - 1
                ),
            ));
        }
        let path = match &def.path {
            Some(p) if !p.is_empty() => Some(PathMatcher::new(p, &def.origin, &def.id)?),
            _ => None,
        };
        let allowlists = def
            .allowlists
            .iter()
            .map(|a| Allowlist::compile(a, &def.id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            id: def.id.clone(),
            description: def.description.clone(),
            regex,
            keywords: def
                .keywords
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            entropy: def.entropy,
            secret_group: def.secret_group,
            path,
            allowlists,
        })
    }
}

/// Shannon entropy of `data` in bits per byte: a random base64 string scores
/// about 6, English text about 4, `aaaa` 0.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn origin() -> Origin {
        Origin {
            file: PathBuf::from("t.toml"),
            line: 1,
        }
    }

    #[test]
    fn entropy_values() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"ab") - 1.0).abs() < 1e-9);
        assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9);
    }

    #[test]
    fn ascii_classes_by_default() {
        let r = build_regex(r"\w+").expect("compiles");
        // With Unicode off, é (two bytes) is not a word character.
        assert_eq!(r.find("é".as_bytes()), None);
        // A Unicode-only pattern still compiles.
        assert!(build_regex(r"\pL+").is_ok());
        assert!(build_regex(r"(unclosed").is_err());
    }

    #[test]
    fn globs_without_slash_match_anywhere() {
        let m = PathMatcher::new(
            &PathPatterns::Globs(vec!["*.lock".into(), "docs/*.md".into()]),
            &origin(),
            "r",
        )
        .expect("compiles");
        assert!(m.is_match("Cargo.lock"));
        assert!(m.is_match("a/b/yarn.lock"));
        assert!(m.is_match("docs/x.md"));
        assert!(!m.is_match("docs/sub/x.md"));
        assert!(!m.is_match("src/docs/x.md"));
    }

    #[test]
    fn and_condition_needs_every_criterion() {
        let def = AllowlistDef {
            origin: origin(),
            condition: Condition::And,
            regex_target: RegexTarget::Secret,
            regexes: vec!["^test".into()],
            paths: PathPatterns::Globs(vec!["tests/**".into()]),
            stopwords: vec![],
            commits: vec![],
            target_rules: vec![],
        };
        let a = Allowlist::compile(&def, "r").expect("compiles");
        let cand = |path, secret| Candidate {
            path,
            secret,
            whole: secret,
            line: secret,
            commit: None,
        };
        assert!(a.allows(&cand("tests/a.rs", b"test123")));
        assert!(!a.allows(&cand("src/a.rs", b"test123")));
        assert!(!a.allows(&cand("tests/a.rs", b"prod123")));
        assert!(!a.allows_path("tests/a.rs"));
    }
}
