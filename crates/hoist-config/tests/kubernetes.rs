//! `kind = "kubernetes"`: defaults, a full table, templates, and every bad value rejected
//! at its place (`file:line:col`) with the key and what to write instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hoist_config::{ConfigError, KubernetesConfig, RuntimeConfig, RuntimeKind, Settings, parse};

const BASE: &str = r#"
[app]
name = "emr"
image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/emr"
port = 8000

[build]
dependencies = ["requirements.txt"]

[environments.production]
[[environments.production.instances]]
tenant = "north"
port = 8101
[[environments.production.instances]]
tenant = "south"
port = 8102
"#;

fn production(runtime: &str) -> String {
    format!("{BASE}\n[environments.production.runtime]\n{runtime}\n")
}

fn ok(text: &str) -> Settings {
    parse(Path::new("/srv/emr/hoist.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn kubernetes(text: &str) -> KubernetesConfig {
    match ok(text).environment("production").unwrap().runtime.clone() {
        RuntimeConfig::Kubernetes(k) => k,
        other => panic!("expected kind kubernetes, got {other:?}"),
    }
}

/// (line, column, key, message, help) of the rejection.
fn failure(text: &str) -> (usize, usize, String, String, String) {
    match parse(Path::new("hoist.toml"), text) {
        Ok(_) => panic!("config should be rejected:\n{text}"),
        Err(ConfigError::Invalid {
            line,
            column,
            key,
            message,
            help,
            ..
        }) => (line, column, key, message, help.unwrap_or_default()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn defaults() {
    let k = kubernetes(&production("kind = \"kubernetes\""));
    assert_eq!(k, KubernetesConfig::default());
    assert_eq!(k.namespace, "default");
    assert_eq!(k.deployment, "{name}");
    assert_eq!(k.container, None);
    assert_eq!(k.timeout, Duration::from_secs(300));
    let config = ok(&production("kind = \"kubernetes\""));
    let env = config.environment("production").unwrap();
    assert_eq!(env.runtime.kind(), RuntimeKind::Kubernetes);
    assert_eq!(env.instances.len(), 2);
    assert_eq!(env.instances[0].host, "kubernetes (current context)");
}

#[test]
fn tenants_may_share_a_port() {
    // Pods are reached through the cluster's Services, never on a host port.
    let text = production("kind = \"kubernetes\"").replace("port = 8102", "port = 8101");
    assert_eq!(
        ok(&text).environment("production").unwrap().instances.len(),
        2
    );
}

#[test]
fn a_full_table() {
    let k = kubernetes(&production(
        "kind = \"kubernetes\"\nkubeconfig = \"deploy/kubeconfig\"\ncontext = \"prod-eks\"\nnamespace = \"clinic-{tenant}\"\ndeployment = \"emr\"\ncontainer = \"app\"\ntimeout = \"10m\"",
    ));
    assert_eq!(
        k.kubeconfig,
        Some(PathBuf::from("/srv/emr/deploy/kubeconfig"))
    );
    assert_eq!(k.context.as_deref(), Some("prod-eks"));
    assert_eq!(k.namespace, "clinic-{tenant}");
    assert_eq!(k.deployment, "emr");
    assert_eq!(k.container.as_deref(), Some("app"));
    assert_eq!(k.timeout, Duration::from_secs(600));
    assert_eq!(k.cluster(), "kubernetes context prod-eks");
}

#[test]
fn an_unknown_placeholder_is_rejected_at_its_place() {
    let text = production("kind = \"kubernetes\"\nnamespace = \"clinic-{customer}\"");
    let (line, _, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "namespace = "));
    assert_eq!(key, "environments.production.runtime.namespace");
    assert!(message.contains("{customer}"), "{message}");
    assert!(help.contains("{tenant}"), "{help}");
}

#[test]
fn a_name_kubernetes_refuses_is_rejected() {
    let text = production("kind = \"kubernetes\"\ndeployment = \"EMR_{tenant}\"");
    let (line, _, key, message, _) = failure(&text);
    assert_eq!(line, line_of(&text, "deployment = "));
    assert_eq!(key, "environments.production.runtime.deployment");
    assert!(message.contains("DNS-1123"), "{message}");
}

#[test]
fn a_zero_timeout_is_rejected() {
    let text = production("kind = \"kubernetes\"\ntimeout = \"0s\"");
    let (line, _, key, _, help) = failure(&text);
    assert_eq!(line, line_of(&text, "timeout = "));
    assert_eq!(key, "environments.production.runtime.timeout");
    assert!(help.contains("5m"), "{help}");
}

#[test]
fn swarm_keys_do_not_apply_to_kubernetes() {
    let text = production("kind = \"kubernetes\"\nreplicas = 3");
    let (line, _, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "replicas = "));
    assert_eq!(key, "environments.production.runtime.replicas");
    assert!(message.contains("kind \"kubernetes\""), "{message}");
    assert!(help.contains("manifest"), "{help}");
}

#[test]
fn kubernetes_keys_do_not_apply_to_other_kinds() {
    for kind in ["docker", "swarm"] {
        let text = production(&format!("kind = \"{kind}\"\nnamespace = \"emr\""));
        let (line, _, key, message, help) = failure(&text);
        assert_eq!(line, line_of(&text, "namespace = "));
        assert_eq!(key, "environments.production.runtime.namespace");
        assert!(message.contains(&format!("kind \"{kind}\"")), "{message}");
        assert!(help.contains("kind = \"kubernetes\""), "{help}");
    }
}

#[test]
fn the_default_deployment_name_must_be_a_kubernetes_name() {
    // `{name}` is the instance's workload name, which its `name` key sets.
    let text = format!(
        "{}\n[environments.production.runtime]\nkind = \"kubernetes\"\n",
        BASE.replace(
            "tenant = \"north\"",
            "tenant = \"north\"\nname = \"EMR_north\""
        )
    );
    let (line, _, key, message, help) = failure(&text);
    assert_eq!(line, line_of(&text, "name = \"EMR_north\""));
    assert!(
        key.starts_with("environments.production.instances"),
        "{key}"
    );
    assert!(message.contains("deployment"), "{message}");
    assert!(help.contains("lowercase"), "{help}");
    // With a fixed Deployment name, the workload name does not matter.
    let fixed = text.replace(
        "kind = \"kubernetes\"",
        "kind = \"kubernetes\"\ndeployment = \"emr\"",
    );
    ok(&fixed);
}
