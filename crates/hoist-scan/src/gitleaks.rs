//! Loader for gitleaks-format TOML configurations (`[[rules]]`,
//! `[rules.allowlist]` / `[[rules.allowlists]]`, global `[allowlist]` /
//! `[[allowlists]]`), so teams that already maintain a gitleaks config can
//! gate releases with it.
//!
//! Anything this loader does not implement is reported as a warning naming
//! the file and line; nothing is silently ignored. Go RE2 regexes are
//! translated where the syntax differs (see [`translate_go_regex`]).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ScanError, line_col};
use crate::ruleset::{
    AllowlistDef, ExamplesDef, Origin, PathPatterns, RuleDef, RuleSetDef, parse_condition,
    parse_target, toml_error,
};

#[derive(Deserialize)]
struct GlFile {
    #[serde(default)]
    extend: Option<Spanned<toml::Value>>,
    #[serde(default)]
    rules: Vec<GlRule>,
    #[serde(default)]
    allowlist: Option<Spanned<GlAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<GlAllowlist>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<i64>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<GlAllowlist>,
    #[serde(default)]
    allowlists: Vec<GlAllowlist>,
    #[serde(default)]
    required: Option<toml::Value>,
    #[serde(default)]
    skip_report: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GlAllowlist {
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
    #[serde(default)]
    target_rules: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "title",
    "description",
    "extend",
    "rules",
    "allowlist",
    "allowlists",
];
const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "regex",
    "secretGroup",
    "entropy",
    "keywords",
    "path",
    "tags",
    "allowlist",
    "allowlists",
    "required",
    "skipReport",
];
const ALLOWLIST_KEYS: &[&str] = &[
    "description",
    "condition",
    "regexTarget",
    "regexes",
    "paths",
    "stopwords",
    "commits",
    "targetRules",
];

fn unknown_keys(table: &toml::Table, known: &[&str], place: &str, file: &Path) -> Vec<String> {
    table
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            format!(
                "{}: {place}: key `{k}` is not supported by hoist-scan and was ignored",
                file.display()
            )
        })
        .collect()
}

/// Collect warnings for keys hoist-scan does not understand (second pass
/// over an untyped parse, because serde's typed pass would drop them).
fn warn_unknown_keys(text: &str, file: &Path) -> Vec<String> {
    let Ok(root) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = unknown_keys(&root, TOP_KEYS, "top level", file);
    let allowlist_tables = |v: Option<&toml::Value>| -> Vec<toml::Table> {
        match v {
            Some(toml::Value::Table(t)) => vec![t.clone()],
            Some(toml::Value::Array(a)) => a.iter().filter_map(|x| x.as_table().cloned()).collect(),
            _ => Vec::new(),
        }
    };
    for t in allowlist_tables(root.get("allowlist"))
        .into_iter()
        .chain(allowlist_tables(root.get("allowlists")))
    {
        out.extend(unknown_keys(&t, ALLOWLIST_KEYS, "global allowlist", file));
    }
    if let Some(toml::Value::Array(rules)) = root.get("rules") {
        for r in rules.iter().filter_map(|r| r.as_table()) {
            let id = r.get("id").and_then(|v| v.as_str()).unwrap_or("?");
            out.extend(unknown_keys(r, RULE_KEYS, &format!("rule `{id}`"), file));
            for t in allowlist_tables(r.get("allowlist"))
                .into_iter()
                .chain(allowlist_tables(r.get("allowlists")))
            {
                out.extend(unknown_keys(
                    &t,
                    ALLOWLIST_KEYS,
                    &format!("rule `{id}` allowlist"),
                    file,
                ));
            }
        }
    }
    out
}

fn convert_allowlist(
    a: GlAllowlist,
    origin: Origin,
    rule: &str,
    global: bool,
    warnings: &mut Vec<String>,
) -> Result<AllowlistDef, ScanError> {
    if !global && !a.target_rules.is_empty() {
        warnings.push(format!(
            "{}:{}: rule `{rule}`: `targetRules` only applies to global allowlists; ignored",
            origin.file.display(),
            origin.line
        ));
    }
    Ok(AllowlistDef {
        condition: parse_condition(a.condition.as_deref(), &origin, rule)?,
        regex_target: parse_target(a.regex_target.as_deref(), &origin, rule)?,
        regexes: a.regexes.iter().map(|r| translate_go_regex(r)).collect(),
        paths: PathPatterns::Regexes(a.paths.iter().map(|r| translate_go_regex(r)).collect()),
        stopwords: a.stopwords,
        commits: a.commits,
        target_rules: if global { a.target_rules } else { Vec::new() },
        origin,
    })
}

/// Parse a gitleaks configuration. Hard errors: invalid TOML, wrong value
/// types, bad `condition`/`regexTarget`. Everything unsupported becomes a
/// warning in [`RuleSetDef::warnings`].
pub(crate) fn parse_gitleaks(text: &str, file: &Path) -> Result<RuleSetDef, ScanError> {
    let parsed: GlFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let mut set = RuleSetDef {
        warnings: warn_unknown_keys(text, file),
        ..RuleSetDef::default()
    };
    let origin_at = |offset: usize| Origin {
        file: file.to_path_buf(),
        line: line_col(text, offset).0,
    };
    if let Some(extend) = &parsed.extend {
        set.warnings.push(format!(
            "{}:{}: `[extend]` is not supported (hoist-scan does not load gitleaks' own default \
             config); use hoist's built-in rules alongside this file instead",
            file.display(),
            line_col(text, extend.span().start).0
        ));
    }
    for a in parsed.allowlist.into_iter().chain(parsed.allowlists) {
        let origin = origin_at(a.span().start);
        let def = convert_allowlist(a.into_inner(), origin, "allowlist", true, &mut set.warnings)?;
        set.allowlists.push(def);
    }
    for r in parsed.rules {
        let origin = origin_at(r.id.span().start);
        let id = r.id.into_inner();
        let at = format!("{}:{}: rule `{id}`", file.display(), origin.line);
        if r.skip_report == Some(true) {
            set.warnings.push(format!(
                "{at}: `skipReport = true` rules only feed composite rules, which are not \
                 supported; rule skipped"
            ));
            continue;
        }
        let Some(regex) = r.regex else {
            set.warnings.push(format!(
                "{at}: path-only rules (no `regex`) are not supported; rule skipped"
            ));
            continue;
        };
        if r.required.is_some() {
            set.warnings.push(format!(
                "{at}: composite rules (`[[rules.required]]`) are not supported; the rule \
                 reports on its own regex alone"
            ));
        }
        let secret_group = match r.secret_group {
            None | Some(0) => None,
            Some(n) if n > 0 => usize::try_from(n).ok(),
            Some(n) => {
                return Err(ScanError::InvalidRule {
                    file: file.to_path_buf(),
                    line: origin.line,
                    rule: id,
                    message: format!("secretGroup must not be negative (got {n})"),
                });
            }
        };
        let mut allowlists = Vec::new();
        for a in r.allowlist.into_iter().chain(r.allowlists) {
            allowlists.push(convert_allowlist(
                a,
                origin.clone(),
                &id,
                false,
                &mut set.warnings,
            )?);
        }
        set.rules.push(RuleDef {
            description: r.description.unwrap_or_else(|| id.clone()),
            regex: translate_go_regex(&regex),
            keywords: r.keywords,
            entropy: r.entropy.filter(|e| *e > 0.0),
            secret_group,
            path: r
                .path
                .map(|p| PathPatterns::Regexes(vec![translate_go_regex(&p)])),
            allowlists,
            examples: ExamplesDef::default(),
            origin,
            id,
        });
    }
    // Global allowlists that target rule ids not in this file are suspicious.
    let ids: BTreeSet<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
    let mut extra = Vec::new();
    for a in &set.allowlists {
        for t in &a.target_rules {
            if !ids.contains(t.as_str()) {
                extra.push(format!(
                    "{}:{}: global allowlist targets unknown rule `{t}`",
                    a.origin.file.display(),
                    a.origin.line
                ));
            }
        }
    }
    set.warnings.extend(extra);
    Ok(set)
}

/// Translate the parts of Go RE2 syntax that Rust's `regex` rejects or reads
/// differently:
///
/// * A `{` that does not start a valid repetition (`{n}`, `{n,}`, `{n,m}`)
///   is a literal in Go but an error in Rust: it is escaped.
/// * `\Z` does not exist in RE2 (it is an error there too) and is left as is.
///
/// Everything else (classes, `(?i)`, `(?P<name>)`, `\b`, `\z`) means the same
/// in both, given that hoist compiles with Unicode off so `\w`, `\d`, `\s`
/// and `\b` are ASCII as in RE2.
pub fn translate_go_regex(pattern: &str) -> String {
    let bytes = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' {
            // Copy the escape and the escaped character verbatim.
            let end = next_char_boundary(pattern, i + 1);
            out.push_str(pattern.get(i..end).unwrap_or(""));
            i = end;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
            // A `]` right after `[` or `[^` is a literal member of the class.
            let mut j = i + 1;
            if bytes.get(j) == Some(&b'^') {
                j += 1;
            }
            if bytes.get(j) == Some(&b']') {
                out.push_str(pattern.get(i..=j).unwrap_or(""));
                i = j + 1;
                continue;
            }
        } else if c == b'{' && !is_repetition(&bytes[i..]) {
            out.push_str("\\{");
            i += 1;
            continue;
        }
        let end = next_char_boundary(pattern, i);
        out.push_str(pattern.get(i..end).unwrap_or(""));
        i = end;
    }
    out
}

fn next_char_boundary(s: &str, from: usize) -> usize {
    let mut end = from + 1;
    while end < s.len() && !s.is_char_boundary(end) {
        end += 1;
    }
    end.min(s.len())
}

/// Whether `s` (starting at `{`) is `{n}`, `{n,}` or `{n,m}`.
fn is_repetition(s: &[u8]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if s.get(i) == Some(&b'}') {
        return true;
    }
    if s.get(i) != Some(&b',') {
        return false;
    }
    i += 1;
    digits(&mut i);
    s.get(i) == Some(&b'}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_literal_braces_are_escaped() {
        assert_eq!(translate_go_regex(r"a{2,3}"), r"a{2,3}");
        assert_eq!(translate_go_regex(r"a{2}"), r"a{2}");
        assert_eq!(translate_go_regex(r"a{2,}"), r"a{2,}");
        assert_eq!(translate_go_regex(r"\${VAR}"), r"\$\{VAR}");
        assert_eq!(translate_go_regex(r"[{]x"), r"[{]x");
        assert_eq!(translate_go_regex(r"[]{]x{"), r"[]{]x\{");
        assert_eq!(translate_go_regex(r"\{x"), r"\{x");
        assert_eq!(translate_go_regex("é{"), "é\\{");
    }

    #[test]
    fn unsupported_fields_warn() {
        let text = r#"
title = "t"
[extend]
useDefault = true

[[rules]]
id = "a"
regex = '''x{'''
tags = ["t"]
frobnicate = 1
[[rules.required]]
id = "b"

[[rules]]
id = "p"
path = '''\.pem$'''
"#;
        let set = parse_gitleaks(text, Path::new("gl.toml")).expect("parses");
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.rules[0].regex, r"x\{");
        let w = set.warnings.join("\n");
        assert!(w.contains("frobnicate"), "{w}");
        assert!(w.contains("[extend]"), "{w}");
        assert!(w.contains("composite"), "{w}");
        assert!(w.contains("path-only"), "{w}");
        assert!(w.contains("gl.toml:3:"), "{w}");
    }
}
