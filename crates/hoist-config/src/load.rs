use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;
use toml::de::{DeTable, DeValue};

use crate::{Config, ConfigError, Settings, validate};

/// How many unknown keys one run reports before it stops looking for more.
const MAX_SERDE_ERRORS: usize = 20;

/// What loading checks beyond the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// The file, and the files its `[scan]` table names.
    File,
    /// Also the files a build reads: the build context, the app and base Dockerfiles.
    Build,
}

/// Reads, parses and validates the config at `path`.
///
/// Commands that only read state (`status`, `history`, `unlock`) use this: a missing
/// Dockerfile does not stop them. Commands that build use [`load_for_build`].
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = read(path)?;
    parse_with(path, &text, Checks::File)
}

/// [`load`], and the files a build reads must exist: `build.context`, `build.dockerfile`
/// and `build.base_dockerfile`. A missing one is a config error at its key (or at
/// `[build]` when the key is defaulted), found before anything is built, alongside every
/// other error of the file.
pub fn load_for_build(path: &Path) -> Result<Settings, ConfigError> {
    let text = read(path)?;
    parse_with(path, &text, Checks::Build)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses and validates config text; `path` is used for messages, and its directory to
/// find the files the config names (`[scan]` rules files, which must exist and compile)
/// and to resolve relative paths.
///
/// Every error of the file is reported at once, in file order: the returned error is the
/// first, with the others in its `also` ([`ConfigError::errors`] lists them all). Unknown
/// keys are all found (each is set aside and the file read again); any other type error
/// stops the reading there. Once the file reads, every validation problem is reported.
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    parse_with(path, text, Checks::File)
}

fn parse_with(path: &Path, text: &str, checks: Checks) -> Result<Settings, ConfigError> {
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let root = std::path::absolute(&root).unwrap_or(root);
    let config = parse_config(path, text, root, checks)?;
    // Validation built these once already; a validated config always converts.
    let release = crate::release::release_settings(&config)
        .map_err(|e| ConfigError::invalid(path, text, 0..0, e.key, e.message, None))?;
    Ok(Settings::from_config(config, release))
}

/// The raw, spanned config of `text`, parsed and validated, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn parse_raw(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_config(path, text, PathBuf::from("."), Checks::File)
}

/// The raw, spanned config: parsed and validated.
fn parse_config(
    path: &Path,
    text: &str,
    root: PathBuf,
    checks: Checks,
) -> Result<Config, ConfigError> {
    let (config, mut errors) = deserialize(path, text);
    let Some(mut config) = config else {
        return Err(ConfigError::combine(errors).expect("a failed read has an error"));
    };
    config.path = path.to_path_buf();
    config.root = root;
    let mut problems = Vec::new();
    let runtimes = validate::validate(&config, path, text, &mut problems);
    if checks == Checks::Build {
        validate::validate_build_files(&config, path, text, &mut problems);
    }
    errors.extend(problems);
    crate::error::in_file_order(&mut errors);
    if let Some(error) = ConfigError::combine(errors) {
        return Err(error);
    }
    for (name, (runtime, named)) in runtimes {
        if let Some(env) = config.environments.get_mut(&name) {
            env.get_mut().runtime = runtime;
            env.get_mut().runtimes = named;
        }
    }
    Ok(config)
}

/// Serde's pass. An unknown key is blanked out of a copy of the text (offsets kept) and
/// the copy read again, so every unknown key is reported; any other error ends the pass.
/// Returns the config when the (blanked) text reads, and the errors found on the way.
fn deserialize(path: &Path, text: &str) -> (Option<Config>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut current = text.to_string();
    loop {
        let deserializer = match toml::de::Deserializer::parse(&current) {
            Ok(d) => d,
            Err(e) => {
                // Blanking never breaks the syntax of a text that parsed before it (it is
                // checked), so this is the file's own syntax error.
                errors.push(from_toml(path, text, "", &e));
                return (None, errors);
            }
        };
        let e = match serde_path_to_error::deserialize::<_, Config>(deserializer) {
            Ok(config) => return (Some(config), errors),
            Err(e) => e,
        };
        // `Spanned` fields show up as a private marker segment in the path; drop it.
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        errors.push(from_toml(path, text, &key, e.inner()));
        if !e.inner().message().starts_with("unknown field") || errors.len() >= MAX_SERDE_ERRORS {
            return (None, errors);
        }
        let segments: Vec<&Segment> = e
            .path()
            .iter()
            .filter(|s| !matches!(s, Segment::Map { key } if key.starts_with("$__serde_spanned")))
            .collect();
        match without_entry(&current, &segments) {
            Some(next) => current = next,
            None => return (None, errors),
        }
    }
}

/// `text` with the `key = value` entry at `path` replaced by spaces, if it is written
/// that way and the text still parses without it.
fn without_entry(text: &str, path: &[&Segment]) -> Option<String> {
    let range = entry_range(text, path)?;
    let written = text.get(range.clone())?;
    if !written.contains('=') {
        // A `[table]` header, or a dotted key: blanking it would not leave valid TOML.
        return None;
    }
    let blank: String = written
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    let mut next = text.to_string();
    next.replace_range(range, &blank);
    DeTable::parse(&next).ok()?;
    Some(next)
}

/// The byte range from the key to the end of the value of the entry at `path`.
fn entry_range(text: &str, path: &[&Segment]) -> Option<Range<usize>> {
    let (last, parents) = path.split_last()?;
    let Segment::Map { key: name } = last else {
        return None;
    };
    let root = DeValue::Table(DeTable::parse(text).ok()?.into_inner());
    let mut value = &root;
    for seg in parents {
        value = match seg {
            Segment::Map { key } => value.get(key.as_str())?.get_ref(),
            Segment::Seq { index } => value.get(*index)?.get_ref(),
            _ => return None,
        };
    }
    let (k, v) = value
        .as_table()?
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == name.as_str())?;
    let (start, end) = (k.span().start, v.span().end);
    (start < end).then_some(start..end)
}

fn from_toml(path: &Path, text: &str, key: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let message = error.message().trim().to_string();
    let help = help_for(&message);
    let key = if key.is_empty() || key == "." {
        "(top level)".to_string()
    } else {
        key.to_string()
    };
    ConfigError::invalid(path, text, span, key, message, help)
}
/// Turns serde's terse messages into what to do next.
fn help_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling; the valid keys here are listed above".into())
    } else if message.starts_with("missing field") {
        Some("add the key; see the hoist.toml reference in README.md".into())
    } else if message.starts_with("invalid type") {
        Some("change the value to the expected type".into())
    } else if message == "duplicate field `name`" {
        Some("write the key once; an instance's `container` is the former spelling of `name`, so keep one of the two".into())
    } else if message.starts_with("duplicate field") {
        Some("write the key once".into())
    } else if message.starts_with("unknown variant") {
        Some("write one of the values listed above".into())
    } else if message.starts_with("invalid value") {
        Some("change the value to what the message expects".into())
    } else if message.contains("is not a duration") {
        Some("write a number and a unit (ms, s, m, h), e.g. \"90s\"".into())
    } else {
        None
    }
}
