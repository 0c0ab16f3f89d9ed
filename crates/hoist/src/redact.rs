//! No log line prints a secret, at any level. Libraries below hoist log what they send
//! (the Docker client logs request bodies at debug level, env values included), so rather
//! than trusting every one of them, the log writer itself replaces every known secret
//! value with `*****` before a line reaches stderr.
//!
//! Known secrets are the values of every `env` table in `hoist.toml` (tenant env holds
//! database passwords), the credentials notifiers read (their `*_env` variables and
//! `*_file` files), and the process's own variables whose names say they hold a secret
//! (`*_TOKEN`, `*_PASSWORD`, `*_KEY`, ...: registry and CI credentials), and every tenant
//! secret once a deploy reads it (`hoist_secrets` reports each value read here).

use std::io::Write;
use std::sync::{OnceLock, RwLock};

use hoist_config::Settings;
use hoist_config::notify::SecretRef;

/// Values shorter than this are not treated as secrets: masking `1` or `on` everywhere
/// would make logs unreadable and protect nothing.
const MIN_SECRET_LEN: usize = 4;

const MASK: &str = "*****";

fn known() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

/// Adds `value` (and the forms it takes inside JSON and URLs) to what logs never show.
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    use base64::Engine as _;
    let mut forms = vec![value.to_string()];
    // A Swarm secret's data travels base64-encoded in the engine request hoist logs.
    forms.push(base64::engine::general_purpose::STANDARD.encode(value));
    if let Ok(json) = serde_json::to_string(value) {
        // Inside a JSON body the value appears escaped, without its quotes.
        forms.push(json[1..json.len() - 1].to_string());
    }
    let mut known = known().write().unwrap_or_else(|p| p.into_inner());
    for form in forms {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the secrets the process environment holds under secret-looking names.
pub fn register_environment() {
    for (name, value) in std::env::vars() {
        if looks_secret(&name) {
            register(&value);
        }
    }
}

fn names() -> &'static RwLock<Vec<String>> {
    static NAMES: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    NAMES.get_or_init(|| RwLock::new(Vec::new()))
}

/// Masks whatever follows `NAME=` in logs: a tenant secret's variable. The engine echoes a
/// container's env in its answers (`docker inspect`), with values hoist never read in this
/// run (the value deployed before a rotation, a command's output in `hoist status`).
pub fn register_name(name: &str) {
    let form = format!("{name}=");
    let mut names = names().write().unwrap_or_else(|p| p.into_inner());
    if !names.contains(&form) {
        names.push(form);
    }
}

/// Registers every secret `config` brings: env values, tenant secrets' names and notifier
/// credentials.
pub fn register_config(config: &Settings) {
    for env in config.environments.values() {
        for instance in &env.instances {
            instance.env.values().for_each(|v| register(v));
            instance.secrets.keys().for_each(|n| register_name(n));
        }
    }
    for notifier in config.notifiers.values() {
        for source in notifier.service.secrets() {
            let value = match source {
                SecretRef::Env(var) => std::env::var(var).ok(),
                SecretRef::File(file) => std::fs::read_to_string(config.root.join(file)).ok(),
            };
            if let Some(value) = value {
                register(&value);
            }
        }
    }
}

/// The same test of a name as hooks use for the variables they may not hold literally.
fn looks_secret(name: &str) -> bool {
    hoist_hooks::is_credential_name(name)
}

/// `text` with every known secret replaced by `*****`.
pub fn scrub(text: &str) -> String {
    let known = known().read().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    let names = names().read().unwrap_or_else(|p| p.into_inner());
    for name in names.iter() {
        out = mask_after(&out, name);
    }
    out
}

/// `text` with the value after each `NAME=` that starts a word replaced by `*****`: up to
/// an unescaped `"`, whitespace or the end.
fn mask_after(text: &str, form: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(form) {
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let value_start = at + form.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if !starts_word {
            continue;
        }
        let mut end = rest.len();
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' || c.is_whitespace() {
                end = i;
                break;
            }
        }
        if end > 0 {
            out.push_str(MASK);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The log writer: stderr, scrubbed. The fmt layer writes each formatted event in one
/// call, so a secret is never split across two writes.
pub struct ScrubbedStderr;

impl Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_in_every_form() {
        register("s3cr3t-VALUE-123");
        register("pa\"ss\\word-42");
        register("on");
        let line = r#"POST /containers/create {"Env":["DB_PASSWORD=s3cr3t-VALUE-123","X=pa\"ss\\word-42","FLAG=on"]}"#;
        assert_eq!(
            scrub(line),
            r#"POST /containers/create {"Env":["DB_PASSWORD=*****","X=*****","FLAG=on"]}"#
        );
    }

    #[test]
    fn values_after_a_secret_name_are_masked() {
        register_name("API_TOKEN");
        let line = r#"{"Env":["TENANT=t1","API_TOKEN=never-read-here","MY_API_TOKEN=x"],"Cmd":"API_TOKEN=a\"b c"}"#;
        assert_eq!(
            scrub(line),
            r#"{"Env":["TENANT=t1","API_TOKEN=*****","MY_API_TOKEN=x"],"Cmd":"API_TOKEN=***** c"}"#
        );
    }

    #[test]
    fn secret_names_are_recognised() {
        assert!(looks_secret("ZULIP_API_KEY"));
        assert!(looks_secret("registry_password"));
        assert!(looks_secret("GITHUB_TOKEN"));
        assert!(!looks_secret("HOME"));
        assert!(!looks_secret("PATH"));
    }
}
