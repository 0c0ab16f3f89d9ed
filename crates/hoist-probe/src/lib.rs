//! HTTP GET against an instance's health and version endpoints: the [`Prober`] every
//! runtime's verification uses.

use std::time::Duration;

use async_trait::async_trait;
use hoist_core::backend::{Endpoint, ProbeResult, Prober};

/// Bodies longer than this are cut: a version string is short, and a misbehaving app must
/// not make hoist read without end.
const MAX_BODY: usize = 64 * 1024;

/// HTTP GET with a short timeout, never through a proxy (instances are reached directly).
#[derive(Clone)]
pub struct HttpProber {
    client: reqwest::Client,
}

impl HttpProber {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        HttpProber { client }
    }
}

impl Default for HttpProber {
    fn default() -> Self {
        HttpProber::new(Duration::from_secs(2))
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn get(&self, endpoint: &Endpoint, path: &str) -> ProbeResult {
        let response = self
            .client
            .get(endpoint.url(path))
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(describe)?;
        let body = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]).into_owned();
        Ok((status, body))
    }
}

/// A short reason ("connection refused", "timed out") rather than reqwest's chain.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    // A starting server refuses, resets or drops connections, depending on how far it
    // got; one message keeps the progress line steady while it boots.
    let starting = [
        "Connection refused",
        "Connection reset",
        "connection closed before message completed",
    ];
    if starting.iter().any(|s| last.contains(s)) {
        "not accepting connections yet".into()
    } else {
        last
    }
}
