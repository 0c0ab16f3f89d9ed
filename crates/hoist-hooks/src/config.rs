//! `[hooks]`: the serde types of hook settings, without the runner, so that `hoist-config`
//! can embed them (build with `default-features = false`).
//!
//! ```toml
//! [hooks]
//! before_deploy = [
//!     { run = "./scripts/migrate.sh", pass_env = ["DATABASE_URL"], env = { RAILS_ENV = "production" } },
//!     { run = "./scripts/warm-cache.sh", timeout = "2m" },
//! ]
//! after_deploy = ["./scripts/report.sh"]
//!
//! [environments.production.hooks]
//! after_deploy = ["./scripts/smoke-test.sh"]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// How long a hook may run when it does not say: long enough for a migration, short enough
/// that a hung script does not hold the deploy lock for ever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Before the images are built; failing aborts the release.
    BeforeBuild,
    /// After the build, before any instance changes; failing aborts the deploy.
    BeforeDeploy,
    /// After the rollout, whether it succeeded or failed (`HOIST_OUTCOME` says which).
    /// Failing is reported but cannot undo anything.
    AfterDeploy,
}

impl Stage {
    /// The key in `[hooks]`, also passed to hooks as `HOIST_HOOK`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::BeforeBuild => "before_build",
            Stage::BeforeDeploy => "before_deploy",
            Stage::AfterDeploy => "after_deploy",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[hooks]` of an app or `[environments.NAME.hooks]` of an environment: shell commands per
/// stage, run in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub before_build: Vec<HookCommand>,
    #[serde(default)]
    pub before_deploy: Vec<HookCommand>,
    #[serde(default)]
    pub after_deploy: Vec<HookCommand>,
}

impl Hooks {
    /// The commands of `stage`.
    pub fn commands(&self, stage: Stage) -> &[HookCommand] {
        match stage {
            Stage::BeforeBuild => &self.before_build,
            Stage::BeforeDeploy => &self.before_deploy,
            Stage::AfterDeploy => &self.after_deploy,
        }
    }

    /// The app's hooks followed by the environment's, stage by stage: the general steps
    /// first, then what only one environment adds. (A step that must come before an
    /// app-wide one belongs in the app's list, inside the script that decides by
    /// `HOIST_ENVIRONMENT`.)
    pub fn merged(app: &Hooks, environment: Option<&Hooks>) -> Hooks {
        let mut hooks = app.clone();
        if let Some(env) = environment {
            hooks.before_build.extend(env.before_build.iter().cloned());
            hooks
                .before_deploy
                .extend(env.before_deploy.iter().cloned());
            hooks.after_deploy.extend(env.after_deploy.iter().cloned());
        }
        hooks
    }

    pub fn is_empty(&self) -> bool {
        self.before_build.is_empty()
            && self.before_deploy.is_empty()
            && self.after_deploy.is_empty()
    }
}

/// One command, run with `sh -c` in the app's directory. Written as a string, or as a
/// table `{ run = "...", timeout = "2m", pass_env = [...], env = { ... } }`.
///
/// A hook does not inherit hoist's environment, which holds hoist's own credentials
/// (notifier keys, registry passwords, tenant secrets): it gets `PATH`, `HOME`, the
/// `HOIST_*` variables that describe the deploy, and only what its table names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommand {
    pub run: String,
    pub timeout: Duration,
    /// Variables passed on from hoist's environment, by name, e.g. `AWS_PROFILE`. One that
    /// is not set in hoist's environment is not set for the hook either.
    pub pass_env: Vec<String>,
    /// Variables set to a fixed value. `hoist.toml` is committed, so these are never
    /// credentials (names that look like one are refused): pass those with `pass_env`.
    pub env: BTreeMap<String, String>,
}

impl HookCommand {
    pub fn new(run: impl Into<String>) -> Self {
        HookCommand {
            run: run.into(),
            timeout: DEFAULT_TIMEOUT,
            pass_env: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

/// Variables every hook gets from hoist's environment, besides what it names.
pub const BASE_ENV: [&str; 2] = ["PATH", "HOME"];

/// The prefix of the variables hoist sets for hooks. Reserved: hoist's own settings may
/// use it too (`HOIST_WEBHOOK_SECRET` is a common name), so none is passed on or set.
pub const RESERVED_PREFIX: &str = "HOIST_";

/// Whether a variable's name says it holds a credential: one of its `_`-separated words
/// is `PASSWORD`, `SECRET`, `TOKEN`, `KEY`, ... (`DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`,
/// `NPM_TOKEN`, `API_KEY`, `SENTRY_DSN`). Such a value may not be written in `env`, and
/// when passed with `pass_env` it is masked in the hook's output that hoist shows.
pub fn is_credential_name(name: &str) -> bool {
    const WORDS: [&str; 13] = [
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "KEY",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "DSN",
    ];
    let upper = name.to_ascii_uppercase();
    // `PWD` alone is the working directory, not a password.
    upper != "PWD"
        && upper.split(['_', '-']).any(|word| {
            WORDS.contains(&word) || word.ends_with("PASSWORD") || word.ends_with("APIKEY")
        })
}

/// The password of a URL with credentials (`postgres://app:s3cret@db/app`), if `value` is
/// one: hoist masks it in hook output and refuses it as a literal in `env`.
pub fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// The table form. Kept separate so `deny_unknown_fields` names the valid keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookTable {
    run: String,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    pass_env: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

fn check_name(name: &str, key: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` in `{key}` is not an environment variable name; use letters, digits and `_`, e.g. \"AWS_PROFILE\""
        ));
    }
    if name.to_ascii_uppercase().starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "`{name}` in `{key}`: names starting with {RESERVED_PREFIX} are hoist's own; hooks get HOIST_APP, HOIST_VERSION, HOIST_ENVIRONMENT, HOIST_ACTOR, HOIST_HOOK, HOIST_IMAGE and HOIST_OUTCOME, and no other"
        ));
    }
    Ok(())
}

fn check_environment(pass_env: &[String], env: &BTreeMap<String, String>) -> Result<(), String> {
    for name in pass_env {
        check_name(name, "pass_env")?;
    }
    for (name, value) in env {
        check_name(name, "env")?;
        if pass_env.contains(name) {
            return Err(format!(
                "`{name}` is in both `pass_env` and `env`; keep one: `pass_env` takes hoist's value, `env` sets a fixed one"
            ));
        }
        // The value is never repeated: it may be a credential someone wrote by mistake.
        if is_credential_name(name) || url_password(value).is_some() {
            return Err(format!(
                "`env.{name}` looks like a credential, and hoist.toml is committed and readable by everyone with the repository; set {name} in hoist's environment (a masked CI variable) and write `pass_env = [\"{name}\"]`, and rotate the value that was written here"
            ));
        }
    }
    Ok(())
}

fn command(
    run: String,
    timeout: Option<&str>,
    pass_env: Vec<String>,
    env: BTreeMap<String, String>,
) -> Result<HookCommand, String> {
    if run.trim().is_empty() {
        return Err(
            "the hook command is empty; write a shell command, e.g. \"./scripts/migrate.sh\""
                .into(),
        );
    }
    check_environment(&pass_env, &env)?;
    let timeout = match timeout {
        None => DEFAULT_TIMEOUT,
        Some(text) => {
            let parsed = humantime::parse_duration(text).map_err(|e| {
                format!("`{text}` is not a duration ({e}); write it like \"30s\", \"2m\" or \"1h\"")
            })?;
            if parsed.is_zero() {
                return Err("a timeout of 0 would kill the hook at once; write e.g. \"2m\"".into());
            }
            parsed
        }
    };
    Ok(HookCommand {
        run,
        timeout,
        pass_env,
        env,
    })
}

// A hand-written visitor rather than `#[serde(untagged)]`: untagged enums buffer their input
// and replace every error with "data did not match any variant", losing the message and the
// position that hoist-config turns into `file:line:col`.
impl<'de> Deserialize<'de> for HookCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = HookCommand;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a shell command, or a table { run = \"...\", timeout = \"2m\", pass_env = [...], env = { ... } }",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HookCommand, E> {
                command(v.to_string(), None, Vec::new(), BTreeMap::new()).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HookCommand, A::Error> {
                let table = HookTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                command(
                    table.run,
                    table.timeout.as_deref(),
                    table.pass_env,
                    table.env,
                )
                .map_err(de::Error::custom)
            }
        }

        d.deserialize_any(CommandVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        hooks: Hooks,
    }

    fn parse(text: &str) -> Result<Hooks, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.hooks)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn strings_and_tables() {
        let hooks = parse(
            r#"
[hooks]
before_deploy = ["./scripts/migrate.sh", { run = "./scripts/warm.sh", timeout = "2m" }]
after_deploy = ["echo done"]
"#,
        )
        .expect("valid");
        assert_eq!(
            hooks.before_deploy,
            vec![
                HookCommand::new("./scripts/migrate.sh"),
                HookCommand {
                    timeout: Duration::from_secs(120),
                    ..HookCommand::new("./scripts/warm.sh")
                },
            ]
        );
        assert_eq!(hooks.commands(Stage::AfterDeploy).len(), 1);
        assert!(hooks.before_build.is_empty());
    }

    #[test]
    fn a_bad_timeout_says_where_and_what() {
        let err = parse("[hooks]\nbefore_deploy = [{ run = \"x\", timeout = \"soon\" }]\n")
            .expect_err("invalid");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("`soon` is not a duration"), "{err}");
    }

    #[test]
    fn unknown_keys_and_empty_commands_are_refused() {
        let err = parse("[hooks]\nbefore_deploy = [{ run = \"x\", timout = \"1m\" }]\n")
            .expect_err("invalid");
        assert!(err.contains("unknown field `timout`"), "{err}");
        let err = parse("[hooks]\nbefore_deploy = [\" \"]\n").expect_err("invalid");
        assert!(err.contains("the hook command is empty"), "{err}");
        let err = parse("[hooks]\nbefore_deploi = []\n").expect_err("invalid");
        assert!(err.contains("unknown field `before_deploi`"), "{err}");
    }

    #[test]
    fn hooks_name_what_they_pass_on_and_what_they_set() {
        let hooks = parse(
            r#"
[hooks]
before_deploy = [{ run = "./migrate.sh", pass_env = ["AWS_PROFILE", "DATABASE_URL"], env = { RAILS_ENV = "production" } }]
"#,
        )
        .expect("valid");
        let hook = &hooks.before_deploy[0];
        assert_eq!(hook.pass_env, ["AWS_PROFILE", "DATABASE_URL"]);
        assert_eq!(
            hook.env.get("RAILS_ENV").map(String::as_str),
            Some("production")
        );
        assert_eq!(hook.timeout, DEFAULT_TIMEOUT);
        assert!(HookCommand::new("x").pass_env.is_empty());
    }

    #[test]
    fn bad_environment_keys_are_refused_without_repeating_values() {
        let err =
            parse("[hooks]\nbefore_deploy = [{ run = \"x\", pass_env = [\"AWS PROFILE\"] }]\n")
                .expect_err("invalid name");
        assert!(err.contains("line 2"), "{err}");
        assert!(
            err.contains("`AWS PROFILE` in `pass_env` is not an environment variable name"),
            "{err}"
        );
        let err = parse(
            "[hooks]\nbefore_deploy = [{ run = \"x\", pass_env = [\"HOIST_WEBHOOK_SECRET\"] }]\n",
        )
        .expect_err("reserved");
        assert!(
            err.contains("names starting with HOIST_ are hoist's own"),
            "{err}"
        );
        let err =
            parse("[hooks]\nbefore_deploy = [{ run = \"x\", env = { HOIST_APP = \"other\" } }]\n")
                .expect_err("reserved");
        assert!(err.contains("`HOIST_APP` in `env`"), "{err}");
        let err = parse(
            "[hooks]\nbefore_deploy = [{ run = \"x\", pass_env = [\"A\"], env = { A = \"1\" } }]\n",
        )
        .expect_err("both");
        assert!(err.contains("in both `pass_env` and `env`"), "{err}");
        for (key, value) in [
            ("DB_PASSWORD", "s3cr3t-VALUE-123"),
            ("NPM_TOKEN", "s3cr3t-VALUE-123"),
            ("DATABASE_URL", "postgres://app:s3cr3t-VALUE-123@db/app"),
        ] {
            let text = format!(
                "[hooks]\nbefore_deploy = [{{ run = \"x\", env = {{ {key} = \"{value}\" }} }}]\n"
            );
            // The message alone: the snippet of the line that `toml` adds is the caller's to
            // render (hoist masks values there; `is_credential_name` says which).
            let err = toml::from_str::<Doc>(&text)
                .map(|_| ())
                .expect_err("a literal credential")
                .message()
                .to_string();
            assert!(
                err.contains(&format!("`env.{key}` looks like a credential")),
                "{err}"
            );
            assert!(err.contains(&format!("pass_env = [\"{key}\"]")), "{err}");
            assert!(!err.contains("s3cr3t-VALUE-123"), "the value leaked: {err}");
        }
        let err = parse("[hooks]\nbefore_deploy = [{ run = \"x\", pass_env = \"A\" }]\n")
            .expect_err("not a list");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn credential_names_and_url_passwords() {
        for name in [
            "DB_PASSWORD",
            "MYSQL_PWD",
            "AWS_SECRET_ACCESS_KEY",
            "NPM_TOKEN",
            "STRIPE_API_KEY",
            "APIKEY",
            "SENTRY_DSN",
            "GOOGLE_CREDENTIALS",
            "REGISTRY_PASS",
            "rootpassword",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in [
            "PWD",
            "AWS_PROFILE",
            "RAILS_ENV",
            "KEYBOARD",
            "MONKEY",
            "PATH",
        ] {
            assert!(!is_credential_name(name), "{name}");
        }
        assert_eq!(url_password("postgres://app:pw@db:5432/app"), Some("pw"));
        assert_eq!(url_password("https://user@example.com/x"), None);
        assert_eq!(url_password("https://example.com/a:b@c"), None);
        assert_eq!(url_password("plain"), None);
    }

    #[test]
    fn environment_hooks_follow_the_apps() {
        let app = Hooks {
            before_deploy: vec![HookCommand::new("migrate")],
            ..Hooks::default()
        };
        let env = Hooks {
            before_deploy: vec![HookCommand::new("smoke-test")],
            ..Hooks::default()
        };
        let merged = Hooks::merged(&app, Some(&env));
        let runs: Vec<&str> = merged
            .before_deploy
            .iter()
            .map(|c| c.run.as_str())
            .collect();
        assert_eq!(runs, ["migrate", "smoke-test"]);
        assert_eq!(Hooks::merged(&app, None), app);
    }
}
