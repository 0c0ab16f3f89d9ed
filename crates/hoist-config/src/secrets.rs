//! Checks of tenant secrets: each `secrets` table names exactly one source, a variable is
//! either a literal in `env` or a secret (not both), and, in an environment whose
//! `secret_scan` is `block`, no literal `env` value is one the secret scanner recognises:
//! `hoist.toml` is committed, so such a value belongs in `secrets`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use hoist_secrets::{SecretTable, is_env_name};
use toml::Spanned;

use crate::span::{Document, Seg};
use crate::{Config, ConfigError, SecretScan};

pub(crate) fn validate_secrets(
    config: &Config,
    path: &Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let doc = Document::parse(text);
    let fail = |span: Range<usize>, key: String, message: String, help: String| {
        ConfigError::invalid(path, text, span, key, message, Some(help))
    };
    // Env values that must not be secrets: (span of the value, key).
    let mut literals: Vec<(Range<usize>, String)> = Vec::new();
    for (env_name, env) in &config.environments {
        let env_ref = env.get_ref();
        let env_key = format!("environments.{env_name}");
        let env_path = [Seg::Key("environments"), Seg::Key(env_name)];
        check_tables(
            config,
            &doc,
            &env_path,
            &env_key,
            &env_ref.secrets,
            &env_ref.env,
            env.span(),
            errors,
            &fail,
        );
        let block = env_ref.secret_scan == SecretScan::Block;
        if block {
            collect_literals(&doc, &env_path, &env_key, &env_ref.env, &mut literals);
        }
        for (i, instance) in env_ref.instances.get_ref().iter().enumerate() {
            let inst = instance.get_ref();
            let key = format!("{env_key}.instances[{i}]");
            let inst_path = [
                Seg::Key("environments"),
                Seg::Key(env_name),
                Seg::Key("instances"),
                Seg::Index(i),
            ];
            check_tables(
                config,
                &doc,
                &inst_path,
                &key,
                &inst.secrets,
                &inst.env,
                instance.span(),
                errors,
                &fail,
            );
            // A literal of the instance's over a secret of the environment's, or the other
            // way round, would leave the app with one of two values: which is unclear.
            for (name, table) in &inst.secrets {
                if env_ref.env.contains_key(name) {
                    errors.push(fail(
                        table.span(),
                        format!("{key}.secrets.{name}"),
                        format!("`{name}` is also a literal in {env_key}.env"),
                        format!(
                            "remove `{name}` from {env_key}.env, or name it in only one of the two"
                        ),
                    ));
                }
            }
            for name in inst.env.keys() {
                if env_ref.secrets.contains_key(name) {
                    let span = doc
                        .span(&[&inst_path[..], &[Seg::Key("env"), Seg::Key(name)]].concat())
                        .unwrap_or_else(|| instance.span());
                    errors.push(fail(
                        span,
                        format!("{key}.env.{name}"),
                        format!("`{name}` is a secret of {env_key}; a literal would replace it for this tenant"),
                        format!("give this tenant its own secret instead: [[{env_key}.instances]] secrets = {{ {name} = {{ env = \"...\" }} }}"),
                    ));
                }
            }
            if block {
                collect_literals(&doc, &inst_path, &key, &inst.env, &mut literals);
            }
        }
    }
    if literals.is_empty() {
        return;
    }
    for finding in scanner_findings(config, text) {
        let Some(offset) = offset_of(text, finding.line, finding.column) else {
            continue;
        };
        let Some((span, key)) = literals.iter().find(|(span, _)| span.contains(&offset)) else {
            continue;
        };
        let (environment, name) = split_env_key(key);
        errors.push(fail(
            span.clone(),
            key.clone(),
            format!(
                "the value looks like a secret (scanner rule {}), and hoist.toml is committed",
                finding.rule_id
            ),
            format!(
                "move it to a secret read at deploy time, e.g. [{environment}.secrets] {name} = {{ env = \"{name}\" }} (or {{ file = \"/run/secrets/...\" }}, {{ command = [...] }}), and rotate the value; a false positive takes a `hoist:allow` comment on its line"
            ),
        ));
    }
}

/// Checks one `secrets` table (an environment's or an instance's) against its `env`.
#[allow(clippy::too_many_arguments)]
fn check_tables(
    config: &Config,
    doc: &Document<'_>,
    at: &[Seg<'_>],
    key: &str,
    secrets: &BTreeMap<String, Spanned<SecretTable>>,
    env: &BTreeMap<String, String>,
    fallback: Range<usize>,
    errors: &mut Vec<ConfigError>,
    fail: &dyn Fn(Range<usize>, String, String, String) -> ConfigError,
) {
    for (name, table) in secrets {
        let secret_key = format!("{key}.secrets.{name}");
        let span = if table.span().is_empty() {
            fallback.clone()
        } else {
            table.span()
        };
        if !is_env_name(name) {
            errors.push(fail(
                span.clone(),
                secret_key.clone(),
                format!("`{name}` is not an environment variable name"),
                "name the secret by the variable the app reads: letters, digits and `_`, not starting with a digit".into(),
            ));
        }
        if env.contains_key(name) {
            errors.push(fail(
                span.clone(),
                secret_key.clone(),
                format!("`{name}` is both a literal in {key}.env and a secret"),
                format!("remove `{name}` from {key}.env"),
            ));
        }
        if let Err(problem) = table.get_ref().source(&config.root) {
            let (span, shown) = match problem.key {
                Some(field) => (
                    doc.span(
                        &[at, &[Seg::Key("secrets"), Seg::Key(name), Seg::Key(field)]].concat(),
                    )
                    .unwrap_or(span),
                    format!("{secret_key}.{field}"),
                ),
                None => (span, secret_key.clone()),
            };
            errors.push(fail(span, shown, problem.message, problem.help));
        }
    }
}

fn collect_literals(
    doc: &Document<'_>,
    at: &[Seg<'_>],
    key: &str,
    env: &BTreeMap<String, String>,
    out: &mut Vec<(Range<usize>, String)>,
) {
    for name in env.keys() {
        if let Some(span) = doc.span(&[at, &[Seg::Key("env"), Seg::Key(name)]].concat()) {
            out.push((span, format!("{key}.env.{name}")));
        }
    }
}

/// `("environments.staging", "DB_PASSWORD")` of `environments.staging.instances[0].env.DB_PASSWORD`.
fn split_env_key(key: &str) -> (String, String) {
    let (owner, name) = key.rsplit_once(".env.").unwrap_or((key, ""));
    (owner.to_string(), name.to_string())
}

/// What the scanner finds in the file, with the rules `[scan]` sets (extra rules, disabled
/// ones). A `hoist:allow` comment on a line accepts its finding, as in a scan.
fn scanner_findings(config: &Config, text: &str) -> Vec<hoist_scan::Finding> {
    let settings = &config.scan;
    let custom = settings.rules.is_some()
        || settings.gitleaks_config.is_some()
        || !settings.default_rules
        || !settings.disable_rules.is_empty();
    if !custom {
        return crate::mask::default_scanner()
            .map(|s| s.scan_bytes("hoist.toml", text.as_bytes()))
            .unwrap_or_default();
    }
    let scan_config = hoist_scan::ScanConfig {
        default_rules: settings.default_rules,
        rule_sources: settings
            .rules
            .iter()
            .map(|p| hoist_scan::RuleSource::HoistFile(config.root.join(p)))
            .chain(
                settings
                    .gitleaks_config
                    .iter()
                    .map(|p| hoist_scan::RuleSource::GitleaksFile(config.root.join(p))),
            )
            .collect(),
        disabled_rules: settings.disable_rules.clone(),
        ..hoist_scan::ScanConfig::default()
    };
    // A rules file that does not compile is reported by the `[scan]` checks.
    hoist_scan::Scanner::new(scan_config)
        .map(|s| s.scan_bytes("hoist.toml", text.as_bytes()))
        .unwrap_or_default()
}

/// The byte offset of a 1-based line and character column.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let (within, _) = rest.char_indices().nth(column.checked_sub(1)?)?;
    Some(start + within)
}

#[cfg(test)]
mod tests {
    use crate::load::parse_raw;

    const BASE: &str = "[app]\nname = \"clinic\"\nimage = \"clinic\"\nport = 8000\n\n[build]\ndependencies = [\"requirements.txt\"]\n";

    fn errors(body: &str) -> Vec<String> {
        let text = format!("{BASE}{body}");
        match parse_raw(std::path::Path::new("hoist.toml"), &text) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn sources_load_and_bad_ones_are_placed() {
        let ok = "[environments.staging.secrets]\nDB_PASSWORD = { env = \"STAGING_DB\" }\nAPI_KEY = { command = [\"op\", \"read\", \"op://x\"], pass_env = [\"OP_SERVICE_ACCOUNT_TOKEN\"], timeout = \"10s\" }\n\n[[environments.staging.instances]]\ntenant = \"a\"\nport = 8001\nsecrets = { DB_PASSWORD = { file = \"/run/secrets/a-db\" } }\n";
        assert_eq!(errors(ok), Vec::<String>::new());
        let bad = "[environments.staging.secrets]\nDB_PASSWORD = { env = \"X\", file = \"/y\" }\nTOKEN = { command = [] }\n\n[[environments.staging.instances]]\ntenant = \"a\"\nport = 8001\n";
        let found = errors(bad);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("hoist.toml:9:15: environments.staging.secrets.DB_PASSWORD: the secret names more than one source"), "{found:?}");
        assert!(
            found[1].starts_with(
                "hoist.toml:10:21: environments.staging.secrets.TOKEN.command: the command is empty"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_variable_is_a_literal_or_a_secret() {
        let body = "[environments.staging]\nenv = { DB_PASSWORD = \"x\" }\nsecrets = { DB_PASSWORD = { env = \"X\" } }\n\n[[environments.staging.instances]]\ntenant = \"a\"\nport = 8001\n";
        let found = errors(body);
        assert!(
            found
                .iter()
                .any(|e| e.contains("`DB_PASSWORD` is both a literal")),
            "{found:?}"
        );
    }

    #[test]
    fn a_literal_the_scanner_recognises_is_refused_where_the_scan_blocks() {
        let token = format!("ghp_{}", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8");
        let body = |scan: &str| {
            format!(
                "[environments.staging]\nsecret_scan = \"{scan}\"\n\n[[environments.staging.instances]]\ntenant = \"a\"\nport = 8001\nenv = {{ GH = \"{token}\", APP_ENV = \"staging\" }}\n"
            )
        };
        let found = errors(&body("block"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("hoist.toml:14:14: environments.staging.instances[0].env.GH: the value looks like a secret (scanner rule github-pat)"),
            "{found:?}"
        );
        assert!(!found[0].contains(&token));
        assert_eq!(errors(&body("warn")), Vec::<String>::new());
    }
}
