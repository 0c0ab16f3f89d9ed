//! `hoist deploy ENV --tenant NAME --tag TAG`: a deploy to some of an environment's
//! instances. Everything else about the deploy (policy, promotion, the lock, waves) is as
//! for a full one; the deployment records which tenants it took.

use hoist_config::EnvironmentSettings;
use serde::Serialize;

use super::PipelineError;

/// Which instances a deploy takes: those named, and those wearing one of the tags. Empty:
/// every instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subset {
    pub tenants: Vec<String>,
    pub tags: Vec<String>,
}

impl Subset {
    /// Every instance.
    pub fn all() -> Self {
        Subset::default()
    }

    pub fn is_all(&self) -> bool {
        self.tenants.is_empty() && self.tags.is_empty()
    }

    /// The tenants of `env` this subset takes, in the file's order; `None` for every
    /// instance. A tenant or tag `env` does not have is an error that lists those it has.
    pub fn select(&self, env: &EnvironmentSettings) -> Result<Option<Vec<String>>, PipelineError> {
        if self.is_all() {
            return Ok(None);
        }
        let mut problems = Vec::new();
        let known_tenants: Vec<&str> = env.instances.iter().map(|i| i.tenant.as_str()).collect();
        for tenant in &self.tenants {
            if !known_tenants.contains(&tenant.as_str()) {
                problems.push(format!(
                    "{} has no tenant `{tenant}`; its tenants are: {}",
                    env.name,
                    known_tenants.join(", ")
                ));
            }
        }
        let mut known_tags: Vec<&str> = env
            .instances
            .iter()
            .flat_map(|i| i.tags.iter().map(String::as_str))
            .collect();
        known_tags.sort_unstable();
        known_tags.dedup();
        for tag in &self.tags {
            if !known_tags.contains(&tag.as_str()) {
                problems.push(if known_tags.is_empty() {
                    format!(
                        "no instance of {} has the tag `{tag}`; none has tags yet (add `tags = [\"{tag}\"]` to its [[environments.{}.instances]] in hoist.toml)",
                        env.name, env.name
                    )
                } else {
                    format!(
                        "no instance of {} has the tag `{tag}`; its tags are: {}",
                        env.name,
                        known_tags.join(", ")
                    )
                });
            }
        }
        if !problems.is_empty() {
            return Err(PipelineError::Config(problems.join("; ")));
        }
        Ok(Some(
            env.instances
                .iter()
                .filter(|i| {
                    self.tenants.contains(&i.tenant) || i.tags.iter().any(|t| self.tags.contains(t))
                })
                .map(|i| i.tenant.clone())
                .collect(),
        ))
    }
}
