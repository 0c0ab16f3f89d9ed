//! How the Kubernetes runtime finds its cluster and each instance's Deployment: validated,
//! span-free values. The config crate's `[environments.NAME.runtime] kind = "kubernetes"`
//! table maps onto [`KubernetesSettings`]; nothing here reads hoist.toml.

use std::path::PathBuf;
use std::time::Duration;

use hoist_core::InstanceSpec;

/// The placeholders a name template may use.
pub const PLACEHOLDERS: [&str; 4] = ["{tenant}", "{app}", "{environment}", "{name}"];

/// Everything the Kubernetes runtime needs besides the instances themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSettings {
    /// A kubeconfig file to read instead of `KUBECONFIG` / `~/.kube/config` / the
    /// in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; `None`: the file's current context (or in-cluster).
    pub context: Option<String>,
    /// Each instance's namespace, a template (`"clinic-{tenant}"`). Default `"default"`.
    pub namespace: String,
    /// Each instance's Deployment, a template. Default `"{name}"`: the instance's
    /// workload name (`<app>-<environment>-<tenant>` unless the instance sets `name`).
    pub deployment: String,
    /// The container whose image hoist sets, a template; `None`: the pod template's only
    /// container.
    pub container: Option<String>,
    /// How long one Deployment has to roll out (and, after a failure, to roll back).
    pub timeout: Duration,
    /// How often a rolling-out Deployment is looked at.
    pub poll: Duration,
    /// Who deploys, for the change-cause annotation; `None`: CI's variables or the OS
    /// user (`hoist_core::pipeline::resolve_actor`).
    pub actor: Option<String>,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            kubeconfig: None,
            context: None,
            namespace: "default".into(),
            deployment: "{name}".into(),
            container: None,
            timeout: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            actor: None,
        }
    }
}

impl KubernetesSettings {
    /// The instance's namespace.
    pub fn namespace_of(&self, instance: &InstanceSpec) -> String {
        expand(&self.namespace, instance)
    }
    /// The instance's Deployment.
    pub fn deployment_of(&self, instance: &InstanceSpec) -> String {
        expand(&self.deployment, instance)
    }
    /// The instance's container, when the config names one.
    pub fn container_of(&self, instance: &InstanceSpec) -> Option<String> {
        self.container.as_deref().map(|t| expand(t, instance))
    }
    /// Whether every instance lives in the same namespace (no placeholder in it).
    pub fn fixed_namespace(&self) -> Option<&str> {
        (!self.namespace.contains('{')).then_some(self.namespace.as_str())
    }
}

/// `template` with each placeholder replaced by the instance's value.
pub fn expand(template: &str, instance: &InstanceSpec) -> String {
    template
        .replace("{tenant}", &instance.tenant)
        .replace("{app}", &instance.app)
        .replace("{environment}", &instance.environment)
        .replace("{name}", &instance.name)
}
