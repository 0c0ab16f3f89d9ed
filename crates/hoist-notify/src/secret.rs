//! Credentials in memory: a [`Secret`] that never prints itself, and a [`Redactor`] that
//! scrubs the secrets of a notifier out of any text before it leaves the crate.

use std::fmt;
use std::path::Path;

use hoist_config::notify::SecretRef;

/// What secrets are replaced with.
pub const REDACTED: &str = "<redacted>";

/// A credential: API key, webhook secret, or a URL that is one (Slack's).
///
/// `Debug` and `Display` print [`REDACTED`], so a secret inside any struct, error or log
/// field stays out of logs. Only [`Secret::expose`] gives the value, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself; call it only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Reads the secret that `source` names. `env` looks variables up (the process environment
/// in production, a map in tests); relative files are taken from `root`.
///
/// The error says which variable or file and why, never any of the content.
pub(crate) fn load(
    source: &SecretRef,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, String> {
    let value = match source {
        SecretRef::Env(name) => {
            env(name).ok_or_else(|| format!("environment variable {name} is not set"))?
        }
        SecretRef::File(path) => {
            let path = root.join(path);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
    };
    // Files and `echo "$KEY" >` leave a newline; a key never ends in whitespace.
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{source} is empty"));
    }
    Ok(Secret::new(value))
}

/// Replaces every known secret (and the forms it travels in) with [`REDACTED`].
///
/// Belt and braces: reasons are built from status codes and error kinds that do not hold
/// URLs or credentials, but a server may echo a request back in its error body.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    needles: Vec<String>,
}

/// Shorter strings would redact ordinary words; real credentials are far longer.
const MIN_NEEDLE: usize = 4;

impl Redactor {
    pub(crate) fn add(&mut self, needle: impl Into<String>) {
        let needle = needle.into();
        if needle.len() >= MIN_NEEDLE && !self.needles.contains(&needle) {
            self.needles.push(needle);
            // Longest first, so a URL is replaced whole before its path is.
            self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }
    }

    /// Adds a secret URL: the whole of it, its path and query (where Slack's token is), and
    /// each token-like path segment.
    pub(crate) fn add_url(&mut self, url: &str) {
        self.add(url);
        if let Ok(parsed) = reqwest::Url::parse(url) {
            self.add(parsed.as_str());
            let path = parsed.path();
            if path.len() > 1 {
                self.add(path);
            }
            if let Some(query) = parsed.query() {
                self.add(query);
            }
            // Token-like segments (Slack's is 24 characters), not words like `services`.
            for segment in path.split('/').filter(|s| s.len() >= 16) {
                self.add(segment);
            }
        }
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2-hunter2");
    }

    #[test]
    fn loads_from_env_and_file_and_trims() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("key"), "abc123\n").expect("write");
        let env = |name: &str| (name == "KEY").then(|| " from-env ".to_string());
        let from_file = load(&SecretRef::File("key".into()), dir.path(), &env).expect("file");
        assert_eq!(from_file.expose(), "abc123");
        let from_env = load(&SecretRef::Env("KEY".into()), dir.path(), &env).expect("env");
        assert_eq!(from_env.expose(), "from-env");
        let missing = load(&SecretRef::Env("NOPE".into()), dir.path(), &env).expect_err("unset");
        assert_eq!(missing, "environment variable NOPE is not set");
        std::fs::write(dir.path().join("blank"), "\n").expect("write");
        let blank = load(&SecretRef::File("blank".into()), dir.path(), &env).expect_err("empty");
        assert_eq!(blank, "file blank is empty");
    }

    #[test]
    fn redactor_scrubs_urls_paths_and_keys() {
        let mut r = Redactor::default();
        r.add_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX");
        r.add("k3y");
        let text = "POST /services/T000/B000/XXXXXXXXXXXXXXXX failed; token XXXXXXXXXXXXXXXX; k3y";
        assert_eq!(
            r.scrub(text),
            "POST <redacted> failed; token <redacted>; k3y",
            "too short a needle is left alone"
        );
        assert_eq!(format!("{r:?}"), "Redactor(3 secrets)");
    }
}
