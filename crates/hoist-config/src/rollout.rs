//! Waves: the order in which a deploy reaches an environment's tenants, and what a failure
//! does to those already reached. Part of `[environments.NAME.rollout]`:
//!
//! ```toml
//! [environments.production.rollout]
//! canary = ["northside"]      # these tenants first, on their own
//! canary_tags = ["canary"]    # and/or every tenant with one of these tags
//! batch = 2                   # then 2 tenants per wave, or a share: "25%"
//! pause = "30s"               # wait between waves (default: none)
//! on_failure = "rollback"     # or "halt" (the default)
//! ```
//!
//! The keys live in [`crate::schema::Rollout`] beside `concurrency`; this module reads and
//! checks them. Without any of these keys a deploy runs as it always did: every instance in one go (up
//! to `concurrency` at once), stopping after the first failure. Instances carry `tags`
//! (`tags = ["eu", "gold"]`) that canaries and `hoist deploy --tag` select by.

use std::time::Duration;

use serde::Deserialize;

use crate::ConfigError;

/// How big each wave after the canary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many instances per wave.
    Count(usize),
    /// This share (1-100) of the deployment's instances after the canary, rounded up.
    Percent(u8),
}

impl BatchSize {
    /// The number of instances per wave when `remaining` follow the canary: at least 1.
    pub fn of(self, remaining: usize) -> usize {
        match self {
            BatchSize::Count(n) => n.max(1),
            BatchSize::Percent(p) => (remaining * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

impl std::fmt::Display for BatchSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `rollout.on_failure`: what a failed instance does to the rest of the deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop where it is: instances already updated keep the new release; the rest are
    /// not attempted.
    #[default]
    Halt,
    /// Stop, and return every instance this deployment updated (the canary included) to
    /// the release it ran before.
    Rollback,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Halt => "halt",
            OnFailure::Rollback => "rollback",
        }
    }
}

/// `rollout.batch` as written: `2` or `"25%"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawBatch {
    Count(i64),
    Text(String),
}

/// An environment's waves, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveSettings {
    /// Tenants that go first, alone.
    pub canary: Vec<String>,
    /// Tags whose tenants go first with the named canaries.
    pub canary_tags: Vec<String>,
    /// The size of each later wave; `Percent(100)` (one wave) when not set.
    pub batch: BatchSize,
    /// How long to wait between waves.
    pub pause: Option<Duration>,
    pub on_failure: OnFailure,
}

/// The wave keys of [`crate::schema::Rollout`] (`canary`, `canary_tags`, `batch`,
/// `pause`, `on_failure`).
impl crate::schema::Rollout {
    fn waves_set(&self) -> bool {
        !self.canary.is_empty()
            || !self.canary_tags.is_empty()
            || self.batch.is_some()
            || self.pause.is_some()
            || self.on_failure.is_some()
    }

    /// The checked settings; `None` when no wave key is written (validation has refused
    /// bad values, which are left out here).
    pub(crate) fn wave_settings(&self) -> Option<WaveSettings> {
        if !self.waves_set() {
            return None;
        }
        Some(WaveSettings {
            canary: self.canary.iter().map(|c| c.get_ref().clone()).collect(),
            canary_tags: self
                .canary_tags
                .iter()
                .map(|c| c.get_ref().clone())
                .collect(),
            batch: self
                .batch
                .as_ref()
                .and_then(|b| parse_batch(b.get_ref()).ok())
                .unwrap_or(BatchSize::Percent(100)),
            pause: self
                .pause
                .as_ref()
                .and_then(|p| humantime::parse_duration(p.get_ref()).ok()),
            on_failure: self.on_failure.unwrap_or_default(),
        })
    }
}

fn parse_batch(raw: &RawBatch) -> Result<BatchSize, String> {
    match raw {
        RawBatch::Count(n) if *n >= 1 => Ok(BatchSize::Count(*n as usize)),
        RawBatch::Count(n) => Err(format!("a batch of {n} instances would never deploy")),
        RawBatch::Text(text) => {
            let number = text
                .trim()
                .strip_suffix('%')
                .ok_or_else(|| format!("`{text}` is neither a count nor a percentage"))?;
            match number.trim().parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                _ => Err(format!("`{text}` is not a percentage between 1% and 100%")),
            }
        }
    }
}

/// Checks every environment's wave keys and instance tags: a canary names a tenant of the
/// environment, a canary tag is worn by some instance, batch and pause parse, tags are
/// names.
pub(crate) fn validate_rollouts(
    config: &crate::Config,
    path: &std::path::Path,
    text: &str,
    errors: &mut Vec<ConfigError>,
) {
    let fail = |span: std::ops::Range<usize>, key: String, message: String, help: String| {
        ConfigError::invalid(path, text, span, key, message, Some(help))
    };
    for (env_name, env) in &config.environments {
        let env_key = format!("environments.{env_name}");
        let env_ref = env.get_ref();
        let instances = env_ref.instances.get_ref();
        let tenants: Vec<&str> = instances
            .iter()
            .map(|i| i.get_ref().tenant.get_ref().as_str())
            .collect();
        let mut tags: Vec<&str> = Vec::new();
        for (i, instance) in instances.iter().enumerate() {
            for (t, tag) in instance.get_ref().tags.iter().enumerate() {
                if !crate::validate::is_name(tag.get_ref()) {
                    errors.push(fail(
                        tag.span(),
                        format!("{env_key}.instances[{i}].tags[{t}]"),
                        format!("`{}` is not a valid tag", tag.get_ref()),
                        "use lowercase letters, digits, `-` and `_`, e.g. tags = [\"eu\", \"gold\"]"
                            .into(),
                    ));
                }
                tags.push(tag.get_ref());
            }
        }
        tags.sort_unstable();
        tags.dedup();
        let waves = &env_ref.rollout;
        for (i, canary) in waves.canary.iter().enumerate() {
            if !tenants.contains(&canary.get_ref().as_str()) {
                errors.push(fail(
                    canary.span(),
                    format!("{env_key}.rollout.canary[{i}]"),
                    format!("{env_name} has no tenant `{}`", canary.get_ref()),
                    format!("name one of its tenants: {}", tenants.join(", ")),
                ));
            }
        }
        for (i, tag) in waves.canary_tags.iter().enumerate() {
            if !tags.contains(&tag.get_ref().as_str()) {
                let known = if tags.is_empty() {
                    "none of its instances has `tags` yet; add e.g. tags = [\"canary\"] to one"
                        .to_string()
                } else {
                    format!("its instances' tags are: {}", tags.join(", "))
                };
                errors.push(fail(
                    tag.span(),
                    format!("{env_key}.rollout.canary_tags[{i}]"),
                    format!("no instance of {env_name} has the tag `{}`", tag.get_ref()),
                    known,
                ));
            }
        }
        if let Some(batch) = &waves.batch
            && let Err(problem) = parse_batch(batch.get_ref())
        {
            errors.push(fail(
                batch.span(),
                format!("{env_key}.rollout.batch"),
                problem,
                "write a count of instances per wave (batch = 2) or a share of them (batch = \"25%\")"
                    .into(),
            ));
        }
        if let Some(pause) = &waves.pause
            && let Err(e) = humantime::parse_duration(pause.get_ref())
        {
            errors.push(fail(
                pause.span(),
                format!("{env_key}.rollout.pause"),
                format!("`{}` is not a duration ({e})", pause.get_ref()),
                "write it like \"30s\", \"5m\" or \"1m 30s\"".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_rounds_up_and_never_reaches_zero() {
        assert_eq!(BatchSize::Percent(25).of(10), 3);
        assert_eq!(BatchSize::Percent(50).of(4), 2);
        assert_eq!(BatchSize::Percent(1).of(3), 1);
        assert_eq!(BatchSize::Percent(100).of(0), 1);
        assert_eq!(BatchSize::Count(2).of(7), 2);
    }

    #[test]
    fn batches_parse_from_counts_and_percentages() {
        assert_eq!(parse_batch(&RawBatch::Count(3)), Ok(BatchSize::Count(3)));
        assert_eq!(
            parse_batch(&RawBatch::Text("25%".into())),
            Ok(BatchSize::Percent(25))
        );
        assert!(parse_batch(&RawBatch::Count(0)).is_err());
        assert!(parse_batch(&RawBatch::Text("0%".into())).is_err());
        assert!(parse_batch(&RawBatch::Text("150%".into())).is_err());
        assert!(parse_batch(&RawBatch::Text("half".into())).is_err());
    }
}
