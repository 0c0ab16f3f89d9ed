//! The paced open-loop client: delivery `i` is sent at `start + i / rate` whatever the
//! answers to earlier ones, so a slow server shows as latency (measured from the time a
//! delivery was due, not from when it happened to leave) instead of as a lower rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::deliveries::Delivery;

/// What one delivery got.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status, or `None` if no answer came (connection error, timeout).
    pub status: Option<u16>,
    /// `job` of a 202.
    pub job: Option<i64>,
    /// `duplicate_of` of a 202 for a release already queued or running.
    pub duplicate_of: Option<i64>,
    pub error: Option<String>,
    /// From the time the delivery was due to the end of its answer.
    pub latency: Duration,
    /// How late it left (the client's own lag; large values mean the client, not the
    /// server, could not keep the pace).
    pub send_lag: Duration,
    /// When it left, from the start of the run.
    pub sent_at: Duration,
}

pub async fn run(url: &str, deliveries: &[Delivery], rate: f64) -> anyhow::Result<Vec<Answer>> {
    // Loopback: no proxy, whatever the environment says.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build()?;
    let url: Arc<str> = Arc::from(url);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let client = client.clone();
        let url = url.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let sent = Instant::now();
            let result = client
                .post(&*url)
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/hoist-bench")
                .header("x-github-event", "push")
                .header("x-github-delivery", &d.id)
                .header("x-hub-signature-256", &d.signature)
                .body(d.body)
                .send()
                .await;
            let (status, body, error) = match result {
                Ok(r) => {
                    let status = r.status().as_u16();
                    match r.bytes().await {
                        Ok(b) => (Some(status), b.to_vec(), None),
                        Err(e) => (Some(status), Vec::new(), Some(e.to_string())),
                    }
                }
                Err(e) => (None, Vec::new(), Some(e.to_string())),
            };
            let done = Instant::now();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            Answer {
                status,
                job: json["job"].as_i64(),
                duplicate_of: json["duplicate_of"].as_i64(),
                error,
                latency: done - due,
                send_lag: sent.saturating_duration_since(due),
                sent_at: sent.saturating_duration_since(start),
            }
        }));
    }
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await?);
    }
    Ok(answers)
}
