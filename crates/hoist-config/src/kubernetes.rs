//! `kind = "kubernetes"`: each instance is a Deployment that already exists in a cluster;
//! hoist sets one container's image to the release's digest and waits for the rollout.
//!
//! ```toml
//! [environments.production.runtime]
//! kind = "kubernetes"
//! context = "prod-eks"             # a kubeconfig context; default: the current one
//! namespace = "clinic-{tenant}"    # a namespace per tenant (default "default")
//! deployment = "emr"               # default "{name}": the instance's workload name
//! container = "app"                # default: the pod template's only container
//! timeout = "10m"                  # per Deployment; default 5m
//! # kubeconfig = "deploy/kubeconfig"  # default: KUBECONFIG, ~/.kube/config, in-cluster
//! ```
//!
//! `namespace`, `deployment` and `container` are templates: `{tenant}`, `{app}`,
//! `{environment}` and `{name}` (the instance's workload name, which an instance's `name`
//! key sets) are replaced per instance. So a namespace per tenant is
//! `namespace = "clinic-{tenant}"` with `deployment = "emr"`, and a Deployment per tenant
//! in one namespace is `namespace = "emr"` with `deployment = "emr-{tenant}"` (or the
//! default `{name}`).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::ConfigError;
use crate::runtime::{RawRuntime, RuntimeConfig};

/// The keys of kind "kubernetes", in the order the reference documents them.
pub const KUBERNETES_KEYS: [&str; 6] = [
    "kubeconfig",
    "context",
    "namespace",
    "deployment",
    "container",
    "timeout",
];

/// The placeholders a name template may use.
pub const PLACEHOLDERS: [&str; 4] = ["tenant", "app", "environment", "name"];

/// `timeout` when not set: as long as kubectl's `rollout status` would wait for a
/// Deployment with the default progress deadline (600 s) is too long for a deploy that
/// waits on each tenant; five minutes covers a normal image pull and readiness.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// `kind = "kubernetes"`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// A kubeconfig file (relative paths from hoist.toml's directory); `None`:
    /// `KUBECONFIG`, `~/.kube/config`, or the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; `None`: the current context.
    pub context: Option<String>,
    /// Namespace template. Default `"default"`.
    pub namespace: String,
    /// Deployment template. Default `"{name}"`.
    pub deployment: String,
    /// Container template; `None`: the pod template's only container.
    pub container: Option<String>,
    /// How long one Deployment may take to roll out (and again to roll back).
    pub timeout: Duration,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            context: None,
            namespace: "default".into(),
            deployment: "{name}".into(),
            container: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl KubernetesConfig {
    /// What an instance's `host` reads as for this kind: the cluster, by its context.
    pub fn cluster(&self) -> String {
        match &self.context {
            Some(context) => format!("kubernetes context {context}"),
            None => "kubernetes (current context)".into(),
        }
    }
}

/// The kind-"kubernetes" keys written in a table of another kind: the first one in the
/// file, with its place.
pub(crate) fn first_kubernetes_key(raw: &RawRuntime) -> Option<(&'static str, Range<usize>)> {
    let k = raw;
    let given = [
        k.kubeconfig.as_ref().map(Spanned::span),
        k.context.as_ref().map(Spanned::span),
        k.namespace.as_ref().map(Spanned::span),
        k.deployment.as_ref().map(Spanned::span),
        k.container.as_ref().map(Spanned::span),
        k.timeout.as_ref().map(Spanned::span),
    ];
    KUBERNETES_KEYS
        .iter()
        .zip(given)
        .filter_map(|(field, span)| span.map(|s| (*field, s)))
        .min_by_key(|(_, span)| span.start)
}

/// Checks the kind-"kubernetes" table. `other_keys` are the other kinds' keys written in
/// it, first one first; `fail` builds an error at a span for a key.
pub(crate) fn resolve(
    raw: &RawRuntime,
    other_keys: Option<(&'static str, Range<usize>)>,
    path: &Path,
    fail: impl Fn(Range<usize>, &str, String, String) -> ConfigError,
) -> Result<RuntimeConfig, ConfigError> {
    if let Some((field, span)) = other_keys {
        return Err(fail(
            span,
            field,
            format!("`{field}` does not apply to kind \"kubernetes\""),
            format!(
                "the Deployment's own manifest sets its replicas and rollout strategy; kind \"kubernetes\" takes {}",
                KUBERNETES_KEYS.join(", ")
            ),
        ));
    }
    let k = raw;
    let mut config = KubernetesConfig::default();
    if let Some(file) = &k.kubeconfig {
        let text = file.get_ref().trim();
        if text.is_empty() {
            return Err(fail(
                file.span(),
                "kubeconfig",
                "`kubeconfig` is empty".into(),
                "give the path of a kubeconfig file, or remove the key to use KUBECONFIG / ~/.kube/config".into(),
            ));
        }
        let written = PathBuf::from(text);
        config.kubeconfig = Some(match path.parent() {
            Some(dir) if written.is_relative() => dir.join(written),
            _ => written,
        });
    }
    if let Some(context) = &k.context {
        if context.get_ref().trim().is_empty() {
            return Err(fail(
                context.span(),
                "context",
                "`context` is empty".into(),
                "name a context of the kubeconfig (`kubectl config get-contexts`), or remove the key to use the current one".into(),
            ));
        }
        config.context = Some(context.get_ref().clone());
    }
    let template = |value: &Spanned<String>, field: &str| -> Result<String, ConfigError> {
        match template_problem(value.get_ref()) {
            Some(problem) => Err(fail(
                value.span(),
                field,
                problem,
                format!(
                    "use lowercase letters, digits and `-`, with {} as placeholders, e.g. \"clinic-{{tenant}}\"",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ),
            )),
            None => Ok(value.get_ref().clone()),
        }
    };
    if let Some(namespace) = &k.namespace {
        config.namespace = template(namespace, "namespace")?;
    }
    if let Some(deployment) = &k.deployment {
        config.deployment = template(deployment, "deployment")?;
    }
    if let Some(container) = &k.container {
        config.container = Some(template(container, "container")?);
    }
    if let Some(timeout) = &k.timeout {
        let value = timeout.get_ref().0;
        if value.is_zero() {
            return Err(fail(
                timeout.span(),
                "timeout",
                "a timeout of 0 would fail every rollout before it started".into(),
                "give the time one Deployment has to roll out, e.g. \"5m\"".into(),
            ));
        }
        config.timeout = value;
    }
    Ok(RuntimeConfig::Kubernetes(config))
}

/// Why `template` cannot name a Kubernetes object (a DNS-1123 label once its placeholders
/// are filled), if it cannot.
pub fn template_problem(template: &str) -> Option<String> {
    let mut rest = template.to_string();
    let mut open = rest.find('{');
    while let Some(start) = open {
        let Some(len) = rest[start..].find('}') else {
            return Some(format!("`{template}` has a `{{` without its `}}`"));
        };
        let name = &rest[start + 1..start + len];
        if !PLACEHOLDERS.contains(&name) {
            return Some(format!(
                "`{template}` uses `{{{name}}}`, which is not a placeholder"
            ));
        }
        rest.replace_range(start..start + len + 1, "x");
        open = rest.find('{');
    }
    if rest.is_empty() || rest.len() > 63 {
        return Some(format!(
            "`{template}` must give a name of 1 to 63 characters"
        ));
    }
    let valid = rest
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid || rest.starts_with('-') || rest.ends_with('-') {
        return Some(format!(
            "`{template}` is not a Kubernetes name (a DNS-1123 label)"
        ));
    }
    None
}

/// Whether `name` is a DNS-1123 label, as namespaces, Deployments and containers are.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_placeholders_and_dns_labels() {
        assert_eq!(template_problem("clinic-{tenant}"), None);
        assert_eq!(template_problem("{name}"), None);
        assert_eq!(template_problem("emr"), None);
        assert!(
            template_problem("clinic-{customer}")
                .unwrap()
                .contains("not a placeholder")
        );
        assert!(template_problem("Clinic").unwrap().contains("DNS-1123"));
        assert!(
            template_problem("clinic-{tenant")
                .unwrap()
                .contains("without")
        );
        assert!(template_problem("").is_some());
    }
}
