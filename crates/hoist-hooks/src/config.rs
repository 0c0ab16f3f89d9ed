//! `[hooks]`: the serde types of hook settings, without the runner, so that `hoist-config`
//! can embed them (build with `default-features = false`).
//!
//! ```toml
//! [hooks]
//! before_deploy = ["./scripts/migrate.sh", { run = "./scripts/warm-cache.sh", timeout = "2m" }]
//! after_deploy = ["./scripts/report.sh"]
//!
//! [environments.production.hooks]
//! after_deploy = ["./scripts/smoke-test.sh"]
//! ```

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
/// table `{ run = "...", timeout = "2m" }` to change the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommand {
    pub run: String,
    pub timeout: Duration,
}

impl HookCommand {
    pub fn new(run: impl Into<String>) -> Self {
        HookCommand {
            run: run.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The table form. Kept separate so `deny_unknown_fields` names the valid keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookTable {
    run: String,
    #[serde(default)]
    timeout: Option<String>,
}

fn command(run: String, timeout: Option<&str>) -> Result<HookCommand, String> {
    if run.trim().is_empty() {
        return Err(
            "the hook command is empty; write a shell command, e.g. \"./scripts/migrate.sh\""
                .into(),
        );
    }
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
    Ok(HookCommand { run, timeout })
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
                f.write_str("a shell command, or a table { run = \"...\", timeout = \"2m\" }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HookCommand, E> {
                command(v.to_string(), None).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HookCommand, A::Error> {
                let table = HookTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                command(table.run, table.timeout.as_deref()).map_err(de::Error::custom)
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
                    run: "./scripts/warm.sh".into(),
                    timeout: Duration::from_secs(120)
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
