//! Reading an environment's tenant secrets when a deploy needs them: once per command
//! that changes instances, before its `before_deploy` hooks, so a secret that cannot be
//! read stops the deploy (exit 2) before anything changed.

use hoist_secrets::Resolver;

use super::{Deployer, PipelineError};
use crate::InstanceSpec;

impl Deployer {
    /// The instances of `environment` with their secrets read. A source several
    /// instances share is read once.
    pub async fn instances_with_secrets(
        &self,
        environment: &str,
    ) -> Result<Vec<InstanceSpec>, PipelineError> {
        let env = self.environment(environment)?;
        let mut instances = self.instances(environment)?;
        let mut resolver = Resolver::new(self.app_name(), self.config.root.clone());
        for (spec, settings) in instances.iter_mut().zip(&env.instances) {
            for (name, source) in &settings.secrets {
                let secret = resolver.resolve(name, &spec.tenant, source).await?;
                spec.secrets.insert(name.clone(), secret);
            }
        }
        Ok(instances)
    }
}
