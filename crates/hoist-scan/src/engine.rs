//! The scanner: rules compiled once, a keyword prefilter, regex
//! confirmation, entropy, allowlists and inline `hoist:allow`.
//!
//! Per file: one Aho-Corasick pass (ASCII case-insensitive, overlapping,
//! over the union of all rules' keywords) decides which rules can possibly
//! match; only those rules' regexes run. Rules without keywords always run.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::{memchr, memchr_iter, memmem, memrchr};

use crate::baseline::Baseline;
use crate::compile::{Allowlist, Candidate, Rule, shannon_entropy};
use crate::error::ScanError;
use crate::finding::{Finding, fingerprint, redact};
use crate::gitleaks::parse_gitleaks;
use crate::report::RuleInfo;
use crate::ruleset::{
    AllowlistDef, BUILTIN_NAME, Condition, DEFAULT_RULES, ExamplesDef, Origin, PathPatterns,
    RegexTarget, RuleSetDef, parse_hoist,
};

/// The marker that silences findings on the line it appears on.
pub const INLINE_ALLOW: &str = "hoist:allow";

/// Where rules come from, in addition to (or instead of) the built-in set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// A rules file in hoist's format (same as `rules/default.toml`).
    HoistFile(PathBuf),
    /// A gitleaks configuration file.
    GitleaksFile(PathBuf),
    /// hoist-format rules given as text; `name` is used in errors.
    HoistToml {
        /// Name for error messages.
        name: String,
        /// The TOML text.
        text: String,
    },
    /// gitleaks-format rules given as text; `name` is used in errors.
    GitleaksToml {
        /// Name for error messages.
        name: String,
        /// The TOML text.
        text: String,
    },
}

/// Everything needed to build a [`Scanner`]. The CLI usually builds this
/// from the `[scan]` table with [`crate::ScanSettings::to_config`].
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Include the built-in ruleset (default: true).
    pub default_rules: bool,
    /// Extra rule sources, loaded in order. A rule whose id already exists
    /// replaces the earlier one, so a team can retune a built-in rule.
    pub rule_sources: Vec<RuleSource>,
    /// Rule ids to drop after loading.
    pub disabled_rules: Vec<String>,
    /// Extra path globs never scanned (relative to the scan root; a glob
    /// without `/` matches a file name at any depth).
    pub allow_paths: Vec<String>,
    /// Accepted findings; they are reported separately and do not fail the
    /// gate.
    pub baseline: Option<Baseline>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            default_rules: true,
            rule_sources: Vec::new(),
            disabled_rules: Vec::new(),
            allow_paths: Vec::new(),
            baseline: None,
        }
    }
}

/// A compiled ruleset, ready to scan. Cheap to share across threads.
pub struct Scanner {
    pub(crate) rules: Vec<Rule>,
    global: Vec<Allowlist>,
    prefilter: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    unconditional: Vec<usize>,
    keywords: Vec<String>,
    pub(crate) baseline: Option<Baseline>,
    warnings: Vec<String>,
    examples: Vec<(usize, ExamplesDef)>,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.len())
            .field("keywords", &self.keywords.len())
            .field("global_allowlists", &self.global.len())
            .field("baseline", &self.baseline.as_ref().map(|b| b.entries.len()))
            .finish()
    }
}

fn read_source(path: &Path) -> Result<String, ScanError> {
    std::fs::read_to_string(path).map_err(|e| ScanError::io(path, e))
}

impl Scanner {
    /// Load and compile every rule source. Fails on the first invalid rule,
    /// naming its file and line; unsupported gitleaks features are
    /// collected in [`Scanner::warnings`].
    pub fn new(config: ScanConfig) -> Result<Self, ScanError> {
        let mut merged = RuleSetDef::default();
        let mut add = |set: RuleSetDef| {
            for rule in set.rules {
                if let Some(pos) = merged.rules.iter().position(|r| r.id == rule.id) {
                    merged.rules[pos] = rule;
                } else {
                    merged.rules.push(rule);
                }
            }
            merged.allowlists.extend(set.allowlists);
            merged.warnings.extend(set.warnings);
        };
        if config.default_rules {
            add(parse_hoist(DEFAULT_RULES, Path::new(BUILTIN_NAME))?);
        }
        for source in &config.rule_sources {
            let set = match source {
                RuleSource::HoistFile(p) => parse_hoist(&read_source(p)?, p)?,
                RuleSource::GitleaksFile(p) => parse_gitleaks(&read_source(p)?, p)?,
                RuleSource::HoistToml { name, text } => parse_hoist(text, Path::new(name))?,
                RuleSource::GitleaksToml { name, text } => parse_gitleaks(text, Path::new(name))?,
            };
            add(set);
        }
        for id in &config.disabled_rules {
            if !merged.rules.iter().any(|r| &r.id == id) {
                merged
                    .warnings
                    .push(format!("disabled rule `{id}` does not exist"));
            }
        }
        merged
            .rules
            .retain(|r| !config.disabled_rules.contains(&r.id));
        // Generic rules go last, whatever file they came from, so that a
        // value a specific rule recognises is reported (or dismissed) by
        // that rule alone. The sort is stable: other rules keep file order.
        merged.rules.sort_by_key(|r| is_generic(&r.id));
        if !config.allow_paths.is_empty() {
            merged.allowlists.push(AllowlistDef {
                origin: Origin {
                    file: PathBuf::from("[scan] allow_paths"),
                    line: 1,
                },
                condition: Condition::Or,
                regex_target: RegexTarget::Secret,
                regexes: Vec::new(),
                paths: PathPatterns::Globs(config.allow_paths.clone()),
                stopwords: Vec::new(),
                commits: Vec::new(),
                target_rules: Vec::new(),
            });
        }

        let rules = merged
            .rules
            .iter()
            .map(Rule::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let global = merged
            .allowlists
            .iter()
            .map(|a| Allowlist::compile(a, "allowlist"))
            .collect::<Result<Vec<_>, _>>()?;
        let examples = merged
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i, r.examples))
            .collect();

        let mut index: HashMap<String, usize> = HashMap::new();
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut unconditional = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                unconditional.push(i);
            }
            for k in &rule.keywords {
                let slot = *index.entry(k.clone()).or_insert_with(|| {
                    keywords.push(k.clone());
                    keyword_rules.push(Vec::new());
                    keywords.len() - 1
                });
                if !keyword_rules[slot].contains(&i) {
                    keyword_rules[slot].push(i);
                }
            }
        }
        let prefilter = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&keywords)
                    .map_err(|e| ScanError::Config(format!("keyword prefilter: {e}")))?,
            )
        };
        for w in &merged.warnings {
            tracing::warn!("{w}");
        }
        Ok(Scanner {
            rules,
            global,
            prefilter,
            keyword_rules,
            unconditional,
            keywords,
            baseline: config.baseline,
            warnings: merged.warnings,
            examples,
        })
    }

    /// Non-fatal problems found while loading rules (unsupported gitleaks
    /// fields, unknown disabled rules). The CLI should print them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The rules that will run, in order (earlier rules win when two
    /// findings overlap).
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                id: r.id.clone(),
                description: r.description.clone(),
            })
            .collect()
    }

    /// The union of all rules' keywords (lowercase), e.g. to compare the
    /// scanner's throughput with a plain keyword search.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The baseline given in the config, if any.
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Whether a global path allowlist covers `path` (relative, `/`).
    pub(crate) fn path_allowlisted(&self, path: &str) -> bool {
        self.global
            .iter()
            .any(|a| a.target_rules.is_empty() && a.allows_path(path))
    }

    /// Scan one in-memory file. `path` (relative, `/`-separated) is used for
    /// path filters, allowlists and the findings. Findings that overlap an
    /// earlier rule's finding are dropped, so a GitHub token in
    /// `TOKEN=...` is reported once, by the GitHub rule, not again by the
    /// generic one. Baselines are not applied here.
    pub fn scan_bytes(&self, path: &str, content: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.path_allowlisted(path) {
            self.scan_content(path, content, None, true, &mut out);
        }
        out
    }

    pub(crate) fn scan_content(
        &self,
        path: &str,
        content: &[u8],
        commit: Option<&str>,
        dedupe: bool,
        out: &mut Vec<Finding>,
    ) {
        let mut triggered = vec![false; self.rules.len()];
        for &i in &self.unconditional {
            triggered[i] = true;
        }
        if let Some(ac) = &self.prefilter {
            for m in ac.find_overlapping_iter(content) {
                if let Some(rules) = self.keyword_rules.get(m.pattern().as_usize()) {
                    for &r in rules {
                        triggered[r] = true;
                    }
                }
            }
        }
        let mut kept: Vec<(usize, usize)> = Vec::new();
        let mut claimed: Vec<(usize, usize)> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !triggered[i] {
                continue;
            }
            let generic = is_generic(&rule.id);
            if rule.path.as_ref().is_some_and(|p| !p.is_match(path)) {
                continue;
            }
            if rule.allowlists.iter().any(|a| a.allows_path(path)) {
                continue;
            }
            for caps in rule.regex.captures_iter(content) {
                let Some(whole) = caps.get(0) else { continue };
                let secret = match rule.secret_group {
                    Some(g) => caps.get(g),
                    None => (1..caps.len())
                        .find_map(|g| caps.get(g).filter(|m| !m.is_empty()))
                        .or(Some(whole)),
                };
                let Some(secret) = secret else { continue };
                // Surrounding whitespace (e.g. the newline after a PEM
                // header) is not part of the secret.
                let (start, end) = trim_span(content, secret.start(), secret.end());
                if start == end {
                    continue;
                }
                let bytes = &content[start..end];
                // A specific rule that recognises the value's format but
                // dismisses it (too regular, or a documented public or test
                // value in its own allowlist) still claims the span, so a
                // generic rule does not report it instead.
                let claim = !generic && dedupe;
                if rule.entropy.is_some_and(|t| shannon_entropy(bytes) <= t) {
                    if claim {
                        claimed.push((start, end));
                    }
                    continue;
                }
                let ctx_start = memrchr(b'\n', &content[..whole.start()]).map_or(0, |p| p + 1);
                let ctx_end = memchr(b'\n', &content[whole.end()..])
                    .map_or(content.len(), |p| whole.end() + p);
                let line_ctx = &content[ctx_start..ctx_end];
                if memmem::find(line_ctx, INLINE_ALLOW.as_bytes()).is_some() {
                    continue;
                }
                let cand = Candidate {
                    path,
                    secret: bytes,
                    whole: whole.as_bytes(),
                    line: line_ctx,
                    commit,
                };
                if rule.allowlists.iter().any(|a| a.allows(&cand)) {
                    if claim {
                        claimed.push((start, end));
                    }
                    continue;
                }
                if self
                    .global
                    .iter()
                    .any(|a| a.applies_to(&rule.id) && a.allows(&cand))
                {
                    continue;
                }
                let span = (start, end);
                let overlaps =
                    |v: &[(usize, usize)]| v.iter().any(|&(s, e)| span.0 < e && s < span.1);
                if dedupe && (overlaps(&kept) || (generic && overlaps(&claimed))) {
                    continue;
                }
                kept.push(span);
                let line = memchr_iter(b'\n', &content[..start]).count() + 1;
                let line_start = memrchr(b'\n', &content[..start]).map_or(0, |p| p + 1);
                let column = content[line_start..start]
                    .iter()
                    .filter(|&&b| b & 0xC0 != 0x80)
                    .count()
                    + 1;
                out.push(Finding {
                    rule_id: rule.id.clone(),
                    description: rule.description.clone(),
                    path: path.to_string(),
                    line,
                    column,
                    redacted: redact(bytes),
                    fingerprint: fingerprint(&rule.id, bytes),
                    commit: commit.map(str::to_string),
                });
            }
        }
    }

    /// Check every rule's `examples`: each `match` example must produce a
    /// finding from that rule, each `no_match` example must not. Returns
    /// one message per failure (empty = all good). Use it to test a custom
    /// rules file the same way the built-in ruleset is tested.
    pub fn verify_examples(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (i, ex) in &self.examples {
            let Some(rule) = self.rules.get(*i) else {
                continue;
            };
            let path = ex.path.as_deref().unwrap_or("fixture.txt");
            let found = |text: &str| {
                let mut out = Vec::new();
                if !self.path_allowlisted(path) {
                    self.scan_content(path, text.as_bytes(), None, false, &mut out);
                }
                out.iter().any(|f| f.rule_id == rule.id)
            };
            for (n, text) in ex.matches.iter().enumerate() {
                if !found(text) {
                    failures.push(format!(
                        "rule `{}`: match example #{} is not found",
                        rule.id,
                        n + 1
                    ));
                }
                let lower = text.to_ascii_lowercase();
                if !rule.keywords.is_empty()
                    && !rule.keywords.iter().any(|k| lower.contains(k.as_str()))
                {
                    failures.push(format!(
                        "rule `{}`: match example #{} contains none of the rule's keywords",
                        rule.id,
                        n + 1
                    ));
                }
            }
            for (n, text) in ex.no_matches.iter().enumerate() {
                if found(text) {
                    failures.push(format!(
                        "rule `{}`: no_match example #{} is found",
                        rule.id,
                        n + 1
                    ));
                }
            }
        }
        failures
    }
}

/// Whether a rule id names a generic (name = value) rule, which runs after
/// every specific rule and yields to them.
fn is_generic(id: &str) -> bool {
    id.starts_with("generic-")
}

/// Shrink `start..end` past ASCII whitespace on both sides.
fn trim_span(content: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && content[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && content[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_scanner() -> Scanner {
        Scanner::new(ScanConfig::default()).expect("built-in rules compile")
    }

    /// Every built-in rule finds each of its positive examples and none of
    /// its negative ones (through the full engine: keywords, entropy,
    /// allowlists, global placeholders).
    #[test]
    fn every_builtin_rule_example() {
        let s = default_scanner();
        assert!(s.rules.len() >= 60);
        let failures = s.verify_examples();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn verify_examples_reports_broken_rules() {
        let text = r#"
[[rules]]
id = "broken"
regex = 'tok_[a-z]{8}'
keywords = ["tok_"]
[rules.examples]
match = ["tok_ABCDEFGH"]
no_match = ["tok_abcdefgh"]
"#;
        let s = Scanner::new(ScanConfig {
            default_rules: false,
            rule_sources: vec![RuleSource::HoistToml {
                name: "t.toml".into(),
                text: text.into(),
            }],
            ..ScanConfig::default()
        })
        .expect("compiles");
        let f = s.verify_examples();
        assert_eq!(f.len(), 2, "{f:?}");
    }

    #[test]
    fn keyword_prefilter_skips_rules() {
        // The regex would match, but the keyword is absent: not run.
        let text = r#"
[[rules]]
id = "needs-kw"
regex = 'abc[0-9]+'
keywords = ["zzz"]
[[rules]]
id = "always"
regex = 'abc[0-9]+'
"#;
        let s = Scanner::new(ScanConfig {
            default_rules: false,
            rule_sources: vec![RuleSource::HoistToml {
                name: "t.toml".into(),
                text: text.into(),
            }],
            ..ScanConfig::default()
        })
        .expect("compiles");
        let ids = |c: &str| -> Vec<String> {
            let mut out = Vec::new();
            s.scan_content("f", c.as_bytes(), None, false, &mut out);
            out.into_iter().map(|f| f.rule_id).collect()
        };
        assert_eq!(ids("abc123"), vec!["always"]);
        assert_eq!(ids("ZZZ abc123"), vec!["needs-kw", "always"]);
    }

    #[test]
    fn overlapping_findings_reported_once_by_first_rule() {
        let s = default_scanner();
        let token = format!("ghp_{}", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789");
        let text = format!("GITHUB_TOKEN={token}\n");
        let found = s.scan_bytes("a.env", text.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule_id, "github-pat");
        assert_eq!((found[0].line, found[0].column), (1, 14));
    }

    #[test]
    fn inline_allow_silences_the_line_only() {
        let s = default_scanner();
        let token = format!("ghp_{}", "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789");
        let text = format!("a = \"{token}\" # hoist:allow\nb = \"{token}\"\n");
        let found = s.scan_bytes("x.py", text.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 2);
    }

    #[test]
    fn key_block_secret_excludes_surrounding_whitespace() {
        let s = default_scanner();
        let body = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let text = format!(
            "x\n-----BEGIN {k}-----\n{body}\n{body}\n-----END {k}-----\n",
            k = "RSA PRIVATE KEY"
        );
        let f = s.scan_bytes("k.pem", text.as_bytes());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].line, f[0].column), (3, 1));
        assert_eq!(f[0].redacted, "ABCD*****");
        assert_eq!(
            f[0].fingerprint,
            fingerprint("private-key-rsa", format!("{body}\n{body}").as_bytes())
        );
    }

    #[test]
    fn scanner_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scanner>();
    }
}
