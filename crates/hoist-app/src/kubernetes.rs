//! The config's `kind = "kubernetes"` table as the Kubernetes runtime's settings.

use hoist_config::KubernetesConfig;
use hoist_runtime_k8s::{KubernetesRuntime, KubernetesSettings};

/// The runtime for one environment's cluster; nothing is contacted until it is used.
/// `actor` is named in each Deployment's change-cause.
pub(crate) fn runtime(config: &KubernetesConfig, actor: &str) -> KubernetesRuntime {
    KubernetesRuntime::new(KubernetesSettings {
        kubeconfig: config.kubeconfig.clone(),
        context: config.context.clone(),
        namespace: config.namespace.clone(),
        deployment: config.deployment.clone(),
        container: config.container.clone(),
        timeout: config.timeout,
        actor: Some(actor.to_string()),
        ..KubernetesSettings::default()
    })
}
