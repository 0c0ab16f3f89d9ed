//! What the platform suites share: the FAKE platform, settings for its two APIs, an
//! instance, releases, and a recorder of what the runtime told the user.

#![allow(dead_code)]

pub mod fake_platform;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::backend::{Endpoint, ProbeResult, Prober};
use hoist_core::{EventKind, EventSink, InstanceSpec, Release};
use hoist_runtime_http::{Credential, HttpSettings, RequestSpec, RetryPolicy, StatusFields};
use hoist_secrets::SecretSource;

use fake_platform::FakePlatform;

pub const REPO: &str = "registry.example.com/hoist-http-test/clinic";
pub const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The instance of tenant `north`; on Fly, Machine `m-north` of app `hoist-http-north`.
pub fn instance() -> InstanceSpec {
    InstanceSpec {
        app: "hoist-http-clinic".into(),
        environment: "production".into(),
        tenant: "north".into(),
        host: "fake platform".into(),
        name: "m-north".into(),
        port: 0,
        container_port: 8080,
        env: BTreeMap::new(),
        health_path: "/healthz".into(),
        version_path: None,
        secrets: Default::default(),
        volumes: Vec::new(),
    }
}

/// Release `version`, in the registry by `digest` when given.
pub fn release(version: &str, digest: Option<&str>) -> Release {
    Release {
        app: "hoist-http-clinic".into(),
        version: version.into(),
        commit: "0000000".into(),
        image: format!("{REPO}:{version}"),
        image_id: format!("sha256:local-{version}"),
        digest: digest.map(str::to_string),
        fingerprint: String::new(),
        base_image: "scratch".into(),
        created_by: "test".into(),
        created_at: "2026-12-05T17:00:00Z".into(),
    }
}

/// The token in a file, as a deploy host's secret mount would hold it (with its newline).
pub fn token_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("hoist-http-test-token-{}", std::process::id()));
    std::fs::write(&path, format!("{}\n", fake_platform::TOKEN)).unwrap();
    path
}

pub fn credential() -> Credential {
    Credential {
        source: SecretSource::File(token_file()),
        header: "Authorization".into(),
        scheme: Some("Bearer".into()),
    }
}

/// The generic form for the fake's generic API: deploy, status, rollback, fast polls.
pub fn generic(fake: &FakePlatform, timeout: Duration) -> HttpSettings {
    let base = fake.url();
    HttpSettings {
        platform: "http".into(),
        deploy: RequestSpec {
            method: "POST".into(),
            url: format!("{base}/api/apps/{{{{ tenant }}}}/deploys"),
            body: Some(
                r#"{"image": {{ image_ref }}, "metadata": {"release": {{ version }}, "image_id": {{ image_id }}, "spec": {{ spec }}}}"#
                    .into(),
            ),
        },
        status: RequestSpec {
            method: "GET".into(),
            url: format!("{base}/api/apps/{{{{ tenant }}}}"),
            body: None,
        },
        wait: None,
        rollback: Some(RequestSpec {
            method: "POST".into(),
            url: format!("{base}/api/apps/{{{{ tenant }}}}/rollback"),
            body: Some(
                r#"{"image": {{ image_ref }}, "metadata": {"release": {{ version }}, "image_id": {{ image_id }}}}"#
                    .into(),
            ),
        }),
        headers: vec![("Accept".into(), "application/json".into())],
        credential: Some(credential()),
        fields: StatusFields {
            image: "/image".into(),
            digest: Some("/digest".into()),
            release: Some("/metadata/release".into()),
            image_id: Some("/metadata/image_id".into()),
            spec: Some("/metadata/spec".into()),
            state: Some("/state".into()),
            running: vec!["running".into()],
            failed: vec!["crashed".into()],
            healthy: Some("/healthy".into()),
            failure: Some("/error".into()),
        },
        platform_app: None,
        timeout,
        poll: Duration::from_millis(20),
        retry: RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(20),
            max_wait: Duration::from_secs(5),
        },
        task: None,
    }
}

/// A prober the platform runtime must never need: the platform's status is the health
/// check.
pub struct NoProber;

#[async_trait]
impl Prober for NoProber {
    async fn get(&self, _endpoint: &Endpoint, _path: &str) -> ProbeResult {
        panic!("the platform runtime does not probe instances itself")
    }
}

/// Every event, as `state: message` (warnings as `warning: …`).
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<String>>>);

impl Recorded {
    pub fn sink(&self) -> EventSink {
        let seen = self.0.clone();
        EventSink::new(move |event| {
            let line = match &event.kind {
                EventKind::InstanceProgress { state, message } => {
                    format!("{}: {message}", state.label())
                }
                EventKind::Warning { message } => format!("warning: {message}"),
                other => format!("{other:?}"),
            };
            eprintln!("  event: {line}");
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        })
    }
    pub fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn saw(&self, text: &str) -> bool {
        self.messages().iter().any(|m| m.contains(text))
    }
}
