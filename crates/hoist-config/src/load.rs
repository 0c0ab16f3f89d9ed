use std::path::{Path, PathBuf};

use crate::{Config, ConfigError, Settings, validate};

/// Reads, parses and validates the config at `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is used for messages, and its directory to
/// find the files the config names (`[scan]` rules files, which must exist and compile)
/// and to resolve relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let mut config = parse_config(path, text)?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    config.root = std::path::absolute(&root).unwrap_or(root);
    // Validation built these once already; a validated config always converts.
    let release = crate::release::release_settings(&config)
        .map_err(|e| ConfigError::invalid(path, text, 0..0, e.key, e.message, None))?;
    Ok(Settings::from_config(config, release))
}

/// The raw, spanned config: parsed and validated.
pub(crate) fn parse_config(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let deserializer =
        toml::de::Deserializer::parse(text).map_err(|e| from_toml(path, text, "", &e))?;
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        // `Spanned` fields show up as a private marker segment in the path; drop it.
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        from_toml(path, text, &key, e.inner())
    })?;
    config.path = path.to_path_buf();
    let runtimes = validate::validate(&config, path, text)?;
    for (name, runtime) in runtimes {
        if let Some(env) = config.environments.get_mut(&name) {
            env.get_mut().runtime = runtime;
        }
    }
    Ok(config)
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
