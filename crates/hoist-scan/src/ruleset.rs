//! Rule definitions as loaded from TOML, before compilation, and the parser
//! for hoist's own rules format (`rules/default.toml` is one such file).
//!
//! Both loaders (hoist format and gitleaks format) produce the same
//! [`RuleSetDef`], so compilation, allowlisting and the engine do not care
//! where a rule came from.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ScanError, line_col};

/// Where a rule or allowlist was defined, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

/// Path patterns: hoist files use globs, gitleaks files use regexes.
#[derive(Debug, Clone)]
pub(crate) enum PathPatterns {
    Globs(Vec<String>),
    Regexes(Vec<String>),
}

impl PathPatterns {
    pub fn is_empty(&self) -> bool {
        match self {
            PathPatterns::Globs(v) | PathPatterns::Regexes(v) => v.is_empty(),
        }
    }
}

/// How an allowlist's criteria combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Condition {
    /// Any criterion that is given allows the finding.
    #[default]
    Or,
    /// Every criterion that is given must hold.
    And,
}

/// What an allowlist regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RegexTarget {
    /// The secret (the capture group).
    #[default]
    Secret,
    /// The whole regex match.
    Match,
    /// The full line(s) containing the match.
    Line,
}

#[derive(Debug, Clone)]
pub(crate) struct AllowlistDef {
    pub origin: Origin,
    pub condition: Condition,
    pub regex_target: RegexTarget,
    pub regexes: Vec<String>,
    pub paths: PathPatterns,
    pub stopwords: Vec<String>,
    pub commits: Vec<String>,
    /// Only for global allowlists from gitleaks `[[allowlists]]`:
    /// restrict to these rule ids.
    pub target_rules: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ExamplesDef {
    pub matches: Vec<String>,
    pub no_matches: Vec<String>,
    pub path: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleDef {
    pub origin: Origin,
    pub id: String,
    pub description: String,
    pub regex: String,
    pub keywords: Vec<String>,
    pub entropy: Option<f64>,
    pub secret_group: Option<usize>,
    pub path: Option<PathPatterns>,
    pub allowlists: Vec<AllowlistDef>,
    pub examples: ExamplesDef,
}

/// A parsed rules file.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSetDef {
    pub rules: Vec<RuleDef>,
    pub allowlists: Vec<AllowlistDef>,
    pub warnings: Vec<String>,
}

/// The name used in errors for the embedded ruleset.
pub(crate) const BUILTIN_NAME: &str = "<built-in>/rules/default.toml";

/// The embedded default ruleset.
pub(crate) const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

// ---------------------------------------------------------------- hoist format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoistFile {
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<String>,
    #[serde(default)]
    allowlist: Option<Spanned<HoistAllowlist>>,
    #[serde(default)]
    rules: Vec<HoistRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoistRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    regex: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    allowlist: Option<HoistAllowlist>,
    #[serde(default)]
    examples: Option<HoistExamples>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoistAllowlist {
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    commits: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoistExamples {
    #[serde(default, rename = "match")]
    matches: Vec<String>,
    #[serde(default)]
    no_match: Vec<String>,
    #[serde(default)]
    path: Option<String>,
}

pub(crate) fn toml_error(file: &Path, text: &str, err: &toml::de::Error) -> ScanError {
    let (line, column) = err
        .span()
        .map(|s| line_col(text, s.start))
        .unwrap_or((1, 1));
    ScanError::RulesFile {
        file: file.to_path_buf(),
        line,
        column,
        message: err.message().trim().to_string(),
    }
}

pub(crate) fn parse_condition(
    value: Option<&str>,
    origin: &Origin,
    rule: &str,
) -> Result<Condition, ScanError> {
    match value.map(|v| v.to_ascii_lowercase()) {
        None => Ok(Condition::Or),
        Some(v) if v == "or" => Ok(Condition::Or),
        Some(v) if v == "and" => Ok(Condition::And),
        Some(v) => Err(ScanError::InvalidRule {
            file: origin.file.clone(),
            line: origin.line,
            rule: rule.to_string(),
            message: format!("allowlist condition must be \"OR\" or \"AND\", not {v:?}"),
        }),
    }
}

pub(crate) fn parse_target(
    value: Option<&str>,
    origin: &Origin,
    rule: &str,
) -> Result<RegexTarget, ScanError> {
    match value.map(|v| v.to_ascii_lowercase()) {
        None => Ok(RegexTarget::Secret),
        Some(v) if v == "secret" => Ok(RegexTarget::Secret),
        Some(v) if v == "match" => Ok(RegexTarget::Match),
        Some(v) if v == "line" => Ok(RegexTarget::Line),
        Some(v) => Err(ScanError::InvalidRule {
            file: origin.file.clone(),
            line: origin.line,
            rule: rule.to_string(),
            message: format!("regex target must be \"secret\", \"match\" or \"line\", not {v:?}"),
        }),
    }
}

fn convert_allowlist(
    a: HoistAllowlist,
    origin: Origin,
    rule: &str,
) -> Result<AllowlistDef, ScanError> {
    Ok(AllowlistDef {
        condition: parse_condition(a.condition.as_deref(), &origin, rule)?,
        regex_target: parse_target(a.regex_target.as_deref(), &origin, rule)?,
        regexes: a.regexes,
        paths: PathPatterns::Globs(a.paths),
        stopwords: a.stopwords,
        commits: a.commits,
        target_rules: Vec::new(),
        origin,
    })
}

/// Parse a rules file in hoist's format. Unknown keys are errors (with
/// file:line:column), because a misspelt key in a security ruleset would
/// otherwise silently weaken it.
pub(crate) fn parse_hoist(text: &str, file: &Path) -> Result<RuleSetDef, ScanError> {
    let parsed: HoistFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let mut set = RuleSetDef::default();
    if let Some(global) = parsed.allowlist {
        let origin = Origin {
            file: file.to_path_buf(),
            line: line_col(text, global.span().start).0,
        };
        set.allowlists
            .push(convert_allowlist(global.into_inner(), origin, "allowlist")?);
    }
    for r in parsed.rules {
        let origin = Origin {
            file: file.to_path_buf(),
            line: line_col(text, r.id.span().start).0,
        };
        let id = r.id.into_inner();
        if id.trim().is_empty() {
            return Err(ScanError::InvalidRule {
                file: origin.file,
                line: origin.line,
                rule: id,
                message: "rule id must not be empty".into(),
            });
        }
        let mut allowlists = Vec::new();
        if let Some(a) = r.allowlist {
            allowlists.push(convert_allowlist(a, origin.clone(), &id)?);
        }
        let examples = r
            .examples
            .map(|e| ExamplesDef {
                matches: e.matches,
                no_matches: e.no_match,
                path: e.path,
            })
            .unwrap_or_default();
        set.rules.push(RuleDef {
            description: r.description.unwrap_or_else(|| id.clone()),
            regex: r.regex,
            keywords: r.keywords,
            entropy: r.entropy,
            secret_group: r.secret_group,
            path: if r.paths.is_empty() {
                None
            } else {
                Some(PathPatterns::Globs(r.paths))
            },
            allowlists,
            examples,
            origin,
            id,
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_has_enough_rules() {
        let set = parse_hoist(DEFAULT_RULES, Path::new(BUILTIN_NAME)).expect("built-in parses");
        assert!(set.rules.len() >= 60, "only {} rules", set.rules.len());
        let mut ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate rule ids");
        for r in &set.rules {
            assert!(
                !r.examples.matches.is_empty(),
                "rule {} has no positive example",
                r.id
            );
            assert!(
                !r.examples.no_matches.is_empty(),
                "rule {} has no negative example",
                r.id
            );
        }
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let text = "[[rules]]\nid = \"x\"\nregex = 'a'\nkeywrods = [\"a\"]\n";
        let err = parse_hoist(text, Path::new("extra.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("extra.toml:4:"), "{msg}");
        assert!(msg.contains("keywrods"), "{msg}");
    }

    #[test]
    fn bad_condition_names_rule() {
        let text = "[[rules]]\nid = \"x\"\nregex = 'a'\n[rules.allowlist]\ncondition = \"XOR\"\n";
        let err = parse_hoist(text, Path::new("extra.toml")).unwrap_err();
        assert!(err.to_string().contains("rule `x`"), "{err}");
    }
}
