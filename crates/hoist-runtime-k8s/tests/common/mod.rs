//! What the Kubernetes suites share: the FAKE API server, instances, releases, and a
//! recorder of what the runtime told the user.

#![allow(dead_code)]

pub mod fake_apiserver;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::backend::{Endpoint, ProbeResult, Prober};
use hoist_core::{EventKind, EventSink, InstanceSpec, InstanceState, Release};
use hoist_runtime_k8s::KubernetesSettings;

pub const REPO: &str = "registry.example.com/hoist-k8s-test/emr";
pub const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const BAD: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// The instance of tenant `north`: namespace `hoist-k8s-north`, Deployment `emr`.
pub fn instance() -> InstanceSpec {
    InstanceSpec {
        app: "hoist-k8s-emr".into(),
        environment: "production".into(),
        tenant: "north".into(),
        host: "hoist-k8s-fake".into(),
        name: "hoist-k8s-emr-production-north".into(),
        port: 0,
        container_port: 8080,
        env: BTreeMap::new(),
        health_path: "/healthz".into(),
        version_path: None,
        secrets: Default::default(),
        volumes: Vec::new(),
    }
}

/// Release `version`, in the registry by `digest`.
pub fn release(version: &str, digest: &str) -> Release {
    Release {
        app: "hoist-k8s-emr".into(),
        version: version.into(),
        commit: "0000000".into(),
        image: format!("{REPO}:{version}"),
        image_id: format!("sha256:local-{version}"),
        digest: Some(digest.into()),
        fingerprint: String::new(),
        base_image: "scratch".into(),
        created_by: "test".into(),
        created_at: "2026-12-05T17:00:00Z".into(),
    }
}

/// Settings for the fake: a namespace per tenant, the Deployment `emr`, fast polls.
pub fn settings(kubeconfig: &Path) -> KubernetesSettings {
    KubernetesSettings {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: Some("hoist-k8s-fake".into()),
        namespace: "hoist-k8s-{tenant}".into(),
        deployment: "emr".into(),
        container: None,
        timeout: Duration::from_secs(20),
        poll: Duration::from_millis(20),
        actor: Some("alice".into()),
    }
}

/// A prober the Kubernetes runtime must never need: the cluster's readiness probes are
/// the health check.
pub struct NoProber;

#[async_trait]
impl Prober for NoProber {
    async fn get(&self, _endpoint: &Endpoint, _path: &str) -> ProbeResult {
        Err("the Kubernetes runtime does not probe from outside the cluster".into())
    }
}

/// Instance events as `state: message`.
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<(InstanceState, String)>>>);

impl Recorded {
    pub fn sink(&self) -> EventSink {
        let seen = self.0.clone();
        EventSink::new(move |event| {
            let line = match &event.kind {
                EventKind::InstanceProgress { state, message } => (*state, message.clone()),
                EventKind::Warning { message } => {
                    (InstanceState::Waiting, format!("warning: {message}"))
                }
                _ => return,
            };
            eprintln!("  event: {}: {}", line.0.label(), line.1);
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        })
    }
    pub fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, m)| format!("{}: {m}", s.label()))
            .collect()
    }
    pub fn saw(&self, text: &str) -> bool {
        self.messages().iter().any(|m| m.contains(text))
    }
}
