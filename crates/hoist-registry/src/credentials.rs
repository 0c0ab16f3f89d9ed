//! Where the username and password for a registry come from, in Docker's order: a
//! credential helper named for that registry in `credHelpers`, else the `credsStore`
//! helper, else the `auth` in `auths`; the caller may instead hand over values it read
//! from the environment or a file ([`Credentials::basic`]).
//!
//! A helper is the program `docker-credential-<name>`, run with `get` and the registry's
//! server address on its standard input; it prints `{"Username": ..., "Secret": ...}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::RegistryError;

/// A username and password (or token), or none. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    basic: Option<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.basic {
            Some((user, _)) => write!(f, "Credentials({user}, password hidden)"),
            None => write!(f, "Credentials(anonymous)"),
        }
    }
}

impl Credentials {
    pub fn anonymous() -> Self {
        Credentials::default()
    }

    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            basic: Some((username.into(), password.into())),
        }
    }

    pub fn username(&self) -> Option<&str> {
        self.basic.as_ref().map(|(u, _)| u.as_str())
    }

    /// The pair, for the one place that sends it (an `Authorization` header, or the
    /// engine's `X-Registry-Auth`).
    pub fn expose(&self) -> Option<(&str, &str)> {
        self.basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The engine's `X-Registry-Auth` header value (base64url of the JSON auth config),
    /// for pulls and pushes the engine makes.
    pub fn x_registry_auth(&self, server: &str) -> String {
        let value = match &self.basic {
            Some((u, p)) => {
                serde_json::json!({"username": u, "password": p, "serveraddress": server})
            }
            None => serde_json::json!({}),
        };
        base64::engine::general_purpose::URL_SAFE.encode(value.to_string())
    }

    /// What Docker's config file says for `registry` (`host[:port]`), running a helper
    /// where it names one. No file, or no entry, is anonymous.
    pub fn from_docker_config(registry: &str) -> Result<Credentials, RegistryError> {
        let Some(path) = docker_config_path() else {
            return Ok(Credentials::anonymous());
        };
        Credentials::from_docker_config_file(&path, registry)
    }

    /// As [`Credentials::from_docker_config`], from the file at `path`.
    pub fn from_docker_config_file(
        path: &Path,
        registry: &str,
    ) -> Result<Credentials, RegistryError> {
        let fail = |message: String| RegistryError::Credentials {
            registry: registry.to_string(),
            message,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::anonymous());
            }
            Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
        };
        let config: DockerConfig = serde_json::from_str(&text).map_err(|e| {
            fail(format!(
                "{}:{}:{}: not a Docker config file: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let keys = server_keys(registry);
        if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
            return run_helper(helper, registry);
        }
        if let Some(helper) = &config.creds_store {
            let found = run_helper(helper, registry)?;
            if found.basic.is_some() {
                return Ok(found);
            }
        }
        let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) else {
            return Ok(Credentials::anonymous());
        };
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Credentials::basic(u, p));
        }
        let Some(auth) = &entry.auth else {
            return Ok(Credentials::anonymous());
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                fail(format!(
                    "{}: the `auth` of auths.\"{registry}\" is not base64 of user:password; run `docker login {registry}` again",
                    path.display()
                ))
            })?;
        let (u, p) = decoded.split_once(':').ok_or_else(|| {
            fail(format!(
                "{}: the `auth` of auths.\"{registry}\" has no `:` between user and password",
                path.display()
            ))
        })?;
        Ok(Credentials::basic(u, p))
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The keys Docker files a registry under: the bare host, and for Docker Hub its old URL.
fn server_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == "docker.io" {
        keys.push("https://index.docker.io/v1/".into());
    }
    keys
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-<helper> get` with `registry` on its standard input.
fn run_helper(helper: &str, registry: &str) -> Result<Credentials, RegistryError> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| RegistryError::Credentials {
        registry: registry.to_string(),
        message,
    };
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {program} (named in the Docker config file): {e}; install it or remove it from credHelpers/credsStore"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(registry.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("{program} get: {e}")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        // "credentials not found" is how helpers say "no entry": anonymous, as Docker does.
        if said.contains("not found")
            || String::from_utf8_lossy(&output.stderr).contains("not found")
        {
            return Ok(Credentials::anonymous());
        }
        return Err(fail(format!(
            "{program} get failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|e| {
        fail(format!(
            "{program} get printed something other than {{\"Username\", \"Secret\"}}: {e}"
        ))
    })?;
    Ok(Credentials::basic(answer.username, answer.secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn auths_entries_decode_and_unknown_hosts_are_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret:x");
        let path = write(
            dir.path(),
            "config.json",
            &format!(r#"{{"auths": {{"https://reg.example:5000": {{"auth": "{auth}"}}}}}}"#),
        );
        let c = Credentials::from_docker_config_file(&path, "reg.example:5000").unwrap();
        assert_eq!(c.expose(), Some(("ci", "s3cret:x")));
        assert!(!format!("{c:?}").contains("s3cret"));
        let none = Credentials::from_docker_config_file(&path, "other.example").unwrap();
        assert_eq!(none, Credentials::anonymous());
        let missing = Credentials::from_docker_config_file(&dir.path().join("no.json"), "x.io");
        assert_eq!(missing.unwrap(), Credentials::anonymous());
    }

    #[test]
    fn a_broken_file_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config.json", "{\n  \"auths\": [\n");
        let err = Credentials::from_docker_config_file(&path, "r.io")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json:2:11"), "{err}");
    }

    #[test]
    fn credential_helpers_are_run_per_registry() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A real helper program, as docker-credential-ecr-login is one: reads the server on
        // stdin, prints JSON.
        let helper = write(
            dir.path(),
            "docker-credential-hoist-reg-test",
            "#!/bin/sh\nread server\nif [ \"$server\" = known.example ]; then printf '{\"Username\":\"AWS\",\"Secret\":\"tok-%s\"}' \"$server\"; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        );
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = write(
            dir.path(),
            "config.json",
            r#"{"credHelpers": {"known.example": "hoist-reg-test", "unknown.example": "hoist-reg-test"}}"#,
        );
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&old));
        // SAFETY: this test is the only one in this binary that reads or changes PATH.
        unsafe { std::env::set_var("PATH", std::env::join_paths(paths).unwrap()) };
        let c = Credentials::from_docker_config_file(&path, "known.example").unwrap();
        assert_eq!(c.expose(), Some(("AWS", "tok-known.example")));
        let c = Credentials::from_docker_config_file(&path, "unknown.example").unwrap();
        assert_eq!(c, Credentials::anonymous());
        let path = write(
            dir.path(),
            "c2.json",
            r#"{"credHelpers": {"x.io": "hoist-reg-absent"}}"#,
        );
        let err = Credentials::from_docker_config_file(&path, "x.io")
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker-credential-hoist-reg-absent"), "{err}");
    }
}
