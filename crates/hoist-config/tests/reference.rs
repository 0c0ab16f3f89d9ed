//! One source per key: README.md's hoist.toml reference and the parser cannot drift.
//!
//! The convention the README follows (stated there too): the ```toml blocks of the section
//! `## hoist.toml reference`, read one after the other, are one valid `hoist.toml` that
//! names every key hoist accepts. Each key is explained on a line of its own that ends with
//! a `# comment` (a table by the comment on its `[header]` line). A commented-out
//! assignment that has its own comment, `# key = value  # what it is`, documents a key that
//! cannot stand beside the one shown (an alternative to it) or that hoist refuses; it is
//! documentation, not part of the valid example. A table with the same keys as another
//! (an environment's `hooks` and the app's, one hook command and the next) is explained
//! once: see [`documented_alike`].
//!
//! The set of accepted keys is not a list kept by hand: the test asks the parser. Every
//! table is `deny_unknown_fields`, so giving a table an unknown key `__probe__` makes serde
//! list the table's keys (aliases included) in its error, and what the parser says about a
//! probe table put in a key's place tells whether the key holds a table (its keys are
//! listed), a table of names chosen by the user (the probe key was taken as a name), an
//! array (it wanted a sequence) or a plain value. Walking that way from the top gives the
//! whole schema from the same derive output that rejects unknown keys, so a key added to a
//! struct is found without touching this test, and a key documented but not accepted is
//! found too. Hand-kept `Keys` lists next to each struct were the alternative; they would
//! be one more place to forget.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hoist_config::ConfigError;

const PROBE: &str = "__probe__";

/// What a key holds, as far as the parser is concerned.
#[derive(Debug)]
enum Shape {
    /// A plain value (string, number, list of strings, ...).
    Leaf,
    /// A table with these keys.
    Table(BTreeMap<String, Shape>),
    /// A table whose keys are names the user chooses (`[environments.NAME]`, `env`).
    Names(Box<Shape>),
    /// An array of these.
    Array(Box<Shape>),
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index,
}

/// The smallest file the parser accepts; probes are put into it.
fn base() -> toml::Value {
    toml::Value::Table(
        toml::from_str(
            r#"
[app]
name = "probe"
image = "probe"
port = 1

[build]
dependencies = ["probe"]
"#,
        )
        .unwrap(),
    )
}

/// Puts `value` at `steps` in `slot`, making tables and one-entry arrays on the way.
fn put(slot: &mut toml::Value, steps: &[Step], value: toml::Value) {
    let Some((first, rest)) = steps.split_first() else {
        *slot = value;
        return;
    };
    match first {
        Step::Key(key) => {
            if !slot.is_table() {
                *slot = toml::Value::Table(toml::Table::new());
            }
            let child = slot
                .as_table_mut()
                .unwrap()
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            put(child, rest, value);
        }
        Step::Index => {
            if !slot.is_array() {
                *slot = toml::Value::Array(vec![toml::Value::Table(toml::Table::new())]);
            }
            put(&mut slot.as_array_mut().unwrap()[0], rest, value);
        }
    }
}

/// The key path as hoist's errors spell it: `environments.probe.instances[0].port`.
fn error_key(steps: &[Step]) -> String {
    let mut key = String::new();
    for step in steps {
        match step {
            Step::Key(k) if key.is_empty() => key.push_str(k),
            Step::Key(k) => {
                key.push('.');
                key.push_str(k);
            }
            Step::Index => key.push_str("[0]"),
        }
    }
    key
}

/// What the parser says about `value` at `steps`: (key, message), or `None` if it took it.
fn parser_says(steps: &[Step], value: toml::Value) -> Option<(String, String)> {
    let mut doc = base();
    put(&mut doc, steps, value);
    parse_text(&toml::to_string(&doc).unwrap())
}

fn probe_table() -> toml::Value {
    let mut t = toml::Table::new();
    t.insert(PROBE.into(), toml::Value::Boolean(true));
    toml::Value::Table(t)
}

/// The keys serde lists in "unknown field `__probe__`, expected one of `a`, `b`".
fn listed_keys(message: &str) -> Vec<String> {
    let rest = message.split_once(", ").map_or("", |(_, rest)| rest);
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// What the key at `steps` holds, found by putting `{ __probe__ = true }` in its place.
fn shape(steps: &[Step]) -> Shape {
    assert!(steps.len() < 16, "runaway probe at {}", error_key(steps));
    if steps.is_empty() {
        // The top level is the file itself: the probe key goes beside [app] and [build].
        let mut doc = base();
        doc.as_table_mut()
            .unwrap()
            .insert(PROBE.into(), toml::Value::Boolean(true));
        return match parse_text(&toml::to_string(&doc).unwrap()) {
            Some((key, message)) if key == PROBE && is_unknown_probe(&message) => {
                table(steps, &message)
            }
            other => panic!("the top level did not list its keys: {other:?}"),
        };
    }
    let here = error_key(steps);
    let inside = format!("{here}.{PROBE}");
    let deeper = |step: Step| {
        let mut inner = steps.to_vec();
        inner.push(step);
        Box::new(shape(&inner))
    };
    match parser_says(steps, probe_table()) {
        // "unknown field `__probe__`, expected one of ...": a table with those keys.
        Some((key, message)) if is_unknown_probe(&message) && (key == inside || key == here) => {
            table(steps, &message)
        }
        // The probe key was taken as a name, and its value was wrong: a table of names.
        // (An enum written as a table names the variant `__probe__` unknown instead.)
        Some((key, message)) if key == inside && !message.starts_with("unknown variant") => {
            Shape::Names(deeper(Step::Key("probe".into())))
        }
        // "invalid type: map, expected a sequence": an array; probe its first entry.
        Some((key, message)) if key == here && message.contains("expected a sequence") => {
            Shape::Array(deeper(Step::Index))
        }
        _ => Shape::Leaf,
    }
}

fn parse_text(text: &str) -> Option<(String, String)> {
    match hoist_config::parse(Path::new("hoist.toml"), text) {
        Ok(_) => None,
        Err(ConfigError::Invalid { key, message, .. }) => Some((key, message)),
        Err(other) => panic!("{other}"),
    }
}

fn is_unknown_probe(message: &str) -> bool {
    message.starts_with(&format!("unknown field `{PROBE}`"))
}

fn table(steps: &[Step], message: &str) -> Shape {
    let keys = listed_keys(message);
    assert!(
        !keys.is_empty() || message.contains("there are no fields"),
        "{message}"
    );
    Shape::Table(
        keys.into_iter()
            .map(|k| {
                let mut child = steps.to_vec();
                child.push(Step::Key(k.clone()));
                (k, shape(&child))
            })
            .collect(),
    )
}

/// Reference paths: `environments.*.instances[].port`, `*` for a name the user chooses
/// and `[]` for an array's entries.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Every key of a table in the schema, with its reference path.
fn accepted(shape: &Shape, path: &str, out: &mut BTreeSet<String>) {
    match shape {
        Shape::Leaf => {}
        Shape::Table(keys) => {
            for (key, child) in keys {
                let p = join(path, key);
                out.insert(p.clone());
                accepted(child, &p, out);
            }
        }
        Shape::Names(inner) => accepted(inner, &join(path, "*"), out),
        Shape::Array(inner) => accepted(inner, &format!("{path}[]"), out),
    }
}

/// A canonical spelling of what a key holds, to find tables with the same keys.
fn signature(shape: &Shape) -> String {
    match shape {
        Shape::Leaf => "_".into(),
        Shape::Table(keys) => {
            let inner: Vec<String> = keys
                .iter()
                .map(|(k, v)| format!("{k}:{}", signature(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Shape::Names(inner) => format!("*{}", signature(inner)),
        Shape::Array(inner) => format!("[{}]", signature(inner)),
    }
}

/// Every table of the schema (path, signature), the top level included as "".
fn tables(shape: &Shape, path: &str, out: &mut Vec<(String, String)>) {
    match shape {
        Shape::Leaf => {}
        Shape::Table(keys) => {
            out.push((path.to_string(), signature(shape)));
            for (key, child) in keys {
                tables(child, &join(path, key), out);
            }
        }
        Shape::Names(inner) => tables(inner, &join(path, "*"), out),
        Shape::Array(inner) => tables(inner, &format!("{path}[]"), out),
    }
}

/// Whether `key` is documented where a table with the same keys as one holding it is:
/// `environments.*.hooks.before_build` by `hooks.before_build`, `hooks.after_deploy[].run`
/// by `hooks.before_deploy[].run`. Such tables are the same type in practice (the
/// environment's `[hooks]` is the app's), so the reference explains them once.
fn documented_alike(key: &str, tables: &[(String, String)], documented: &BTreeSet<String>) -> bool {
    tables.iter().any(|(path, sig)| {
        let rest = if path.is_empty() {
            Some(format!(".{key}"))
        } else {
            key.strip_prefix(path.as_str())
                .filter(|r| r.starts_with('.'))
                .map(str::to_string)
        };
        let Some(rest) = rest else { return false };
        tables.iter().any(|(other, other_sig)| {
            if other == path || other_sig != sig {
                return false;
            }
            let twin = if other.is_empty() {
                rest[1..].to_string()
            } else {
                format!("{other}{rest}")
            };
            documented.contains(&twin)
        })
    })
}

/// The keys a document uses, with reference paths; keys the schema lacks go to `unknown`.
fn documented(
    value: &toml::Value,
    shape: &Shape,
    path: &str,
    out: &mut BTreeSet<String>,
    unknown: &mut BTreeSet<String>,
) {
    match (shape, value) {
        (Shape::Table(keys), toml::Value::Table(t)) => {
            for (key, v) in t {
                let p = join(path, key);
                match keys.get(key) {
                    Some(child) => {
                        out.insert(p.clone());
                        documented(v, child, &p, out, unknown);
                    }
                    None => {
                        unknown.insert(p);
                    }
                }
            }
        }
        (Shape::Names(inner), toml::Value::Table(t)) => {
            for v in t.values() {
                documented(v, inner, &join(path, "*"), out, unknown);
            }
        }
        (Shape::Array(inner), toml::Value::Array(items)) => {
            for v in items {
                documented(v, inner, &format!("{path}[]"), out, unknown);
            }
        }
        _ => {}
    }
}

/// Follows a dotted key (`environments.staging.rollout`) through the schema: the path of
/// the innermost table key on it, or `None` if the schema has no such key. `header_array`:
/// the last segment is a `[[header]]`, so it names an entry of an array. Arrays met in the
/// middle stand for their last entry, as in TOML.
fn resolve(shape: &Shape, segments: &[String], header_array: bool) -> Option<String> {
    let mut node = shape;
    let mut path = String::new();
    let mut last_key = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match node {
            Shape::Table(keys) => {
                node = keys.get(seg)?;
                path = join(&path, seg);
                last_key = path.clone();
            }
            Shape::Names(inner) => {
                node = inner;
                path = join(&path, "*");
            }
            _ => return None,
        }
        if let Shape::Array(inner) = node
            && (!last || header_array)
        {
            node = inner;
            path.push_str("[]");
        }
    }
    Some(last_key)
}

/// `line` split into its code and its comment (after a `#` outside a string).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return (&line[..i], line[i + 1..].trim()),
            _ => {}
        }
    }
    (line, "")
}

/// The dotted key at the start of `code` (`a.b = 1` gives `[a, b]`), if it assigns one.
fn assigned_key(code: &str) -> Option<Vec<String>> {
    let (key, _) = code.split_once('=')?;
    let segments: Vec<String> = key
        .split('.')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let bare = |s: &String| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    segments.iter().all(bare).then_some(segments)
}

/// A commented-out assignment with its own comment, uncommented: `# a = 1  # what`.
fn documentation_line(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (code, comment) = split_comment(rest);
    (assigned_key(code.trim()).is_some() && !comment.is_empty()).then(|| rest.to_string())
}

struct Reference {
    /// The blocks as written: the valid example.
    example: String,
    /// The same lines with documentation lines uncommented: every documented key.
    inventory: String,
    /// README line number of each line of both.
    readme_lines: Vec<usize>,
}

fn reference() -> Reference {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let mut lines = readme.lines().enumerate().map(|(i, l)| (i + 1, l));
    lines
        .by_ref()
        .find(|(_, l)| l.trim_end() == "## hoist.toml reference")
        .expect("README.md has a `## hoist.toml reference` section");
    let mut r = Reference {
        example: String::new(),
        inventory: String::new(),
        readme_lines: Vec::new(),
    };
    // Inside a fenced block: `Some(true)` for a ```toml one.
    let mut fence: Option<bool> = None;
    let mut blocks = 0;
    for (n, line) in lines {
        if fence.is_none() && line.starts_with("## ") {
            break;
        }
        if line.trim_start().starts_with("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(line.trim() == "```toml"),
            };
            blocks += usize::from(fence == Some(true));
            continue;
        }
        if fence == Some(true) {
            r.example.push_str(line);
            r.example.push('\n');
            r.inventory
                .push_str(&documentation_line(line).unwrap_or_else(|| line.to_string()));
            r.inventory.push('\n');
            r.readme_lines.push(n);
        }
    }
    assert!(blocks > 0, "no ```toml block in the hoist.toml reference");
    r
}

impl Reference {
    /// `text` (the example or the inventory) as TOML; a syntax error names its README line.
    fn toml(&self, text: &str) -> toml::Table {
        toml::from_str(text).unwrap_or_else(|e: toml::de::Error| {
            let line = e
                .span()
                .map_or(0, |span| text[..span.start].matches('\n').count());
            panic!(
                "README.md:{}: the hoist.toml reference blocks are not TOML: {}",
                self.readme_lines.get(line).copied().unwrap_or(0),
                e.message()
            )
        })
    }
}

/// The schema, probed once per test.
fn schema() -> Shape {
    shape(&[])
}

/// Keys the reference explains on a line of their own, and the README lines whose header
/// or key the schema does not have.
fn explained(schema: &Shape, r: &Reference) -> (BTreeSet<String>, Vec<String>) {
    let mut explained = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut table: Vec<String> = Vec::new();
    for (i, line) in r.inventory.lines().enumerate() {
        let (code, comment) = split_comment(line);
        let code = code.trim();
        let readme_line = r.readme_lines[i];
        if let Some(header) = code.strip_prefix('[') {
            let array = header.starts_with('[');
            let header = header.trim_matches(|c| c == '[' || c == ']');
            table = header
                .split('.')
                .map(|s| s.trim().trim_matches('"').to_string())
                .collect();
            match resolve(schema, &table, array) {
                Some(key) if !comment.is_empty() => {
                    explained.insert(key);
                }
                Some(_) => {}
                None => unknown.push(format!("README.md:{readme_line}: [{header}]")),
            }
        } else if let Some(key) = assigned_key(code) {
            let full: Vec<String> = table.iter().cloned().chain(key).collect();
            match resolve(schema, &full, false) {
                Some(key) if !comment.is_empty() => {
                    explained.insert(key);
                }
                Some(_) => {}
                None => unknown.push(format!("README.md:{readme_line}: {}", full.join("."))),
            }
        }
    }
    (explained, unknown)
}

#[test]
fn the_probe_finds_the_schema() {
    // If serde's messages changed shape, the probe would find nothing and the checks below
    // would pass for the wrong reason.
    let mut keys = BTreeSet::new();
    accepted(&schema(), "", &mut keys);
    for key in [
        "app.name",
        "environments.*.instances[].port",
        "environments.*.instances[].container",
        "environments.*.runtime.update.failure_action",
        "environments.*.policy.windows[].from",
        "hooks.before_deploy[].timeout",
        "notifiers.*.api_key_env",
        "scan.max_file_size",
        "groups",
    ] {
        assert!(keys.contains(key), "{key} not found in {keys:#?}");
    }
}

#[test]
fn every_documented_key_is_accepted_and_every_accepted_key_is_documented() {
    let schema = schema();
    let r = reference();
    let doc = toml::Value::Table(r.toml(&r.inventory));

    let mut accepted_keys = BTreeSet::new();
    accepted(&schema, "", &mut accepted_keys);
    let mut documented_keys = BTreeSet::new();
    let mut not_accepted = BTreeSet::new();
    documented(&doc, &schema, "", &mut documented_keys, &mut not_accepted);
    let (explained_keys, unknown_lines) = explained(&schema, &r);

    let mut problems = Vec::new();
    // A key on a line of its own is reported with its README line; one inside an inline
    // table only by the walk of the parsed blocks, so that walk speaks when the lines do not.
    for line in &unknown_lines {
        problems.push(format!("documented but not accepted by the parser: {line}"));
    }
    if unknown_lines.is_empty() {
        for key in &not_accepted {
            problems.push(format!("documented but not accepted by the parser: {key}"));
        }
    }
    let mut all_tables = Vec::new();
    tables(&schema, "", &mut all_tables);
    for key in accepted_keys.difference(&documented_keys) {
        if !documented_alike(key, &all_tables, &documented_keys) {
            problems.push(format!("accepted by the parser but not documented: {key}"));
        }
    }
    for key in documented_keys.difference(&explained_keys) {
        problems.push(format!(
            "documented without an explanation: {key} (give it a line of its own ending in a `# comment`)"
        ));
    }
    assert!(
        problems.is_empty(),
        "README.md's hoist.toml reference and the parser disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_reference_is_one_valid_hoist_toml() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    // The rules files the example's [scan] names must exist and compile.
    let doc = r.toml(&r.example);
    let scan = doc.get("scan").and_then(toml::Value::as_table);
    let rules =
        "[[rules]]\nid = \"team-token\"\nregex = 'team_[a-z0-9]{24}'\nkeywords = [\"team_\"]\n";
    for key in ["rules", "gitleaks_config"] {
        if let Some(file) = scan.and_then(|s| s.get(key)).and_then(toml::Value::as_str) {
            let file = dir.path().join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, rules).unwrap();
        }
    }
    let path = dir.path().join("hoist.toml");
    std::fs::write(&path, &r.example).unwrap();
    match hoist_config::load(&path) {
        Ok(_) => {}
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => panic!(
            "README.md:{}: the hoist.toml reference is not a valid hoist.toml: {key}: {message}",
            r.readme_lines[line - 1]
        ),
        Err(other) => panic!("{other}"),
    }
}
