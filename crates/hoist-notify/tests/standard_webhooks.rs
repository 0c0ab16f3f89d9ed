//! Interoperability: what hoist's webhook notifier sends over HTTP, checked by the
//! Standard Webhooks reference library (PyPI `standardwebhooks`) in a Python receiver on
//! loopback. `scripts/setup-machine.sh` installs the library in a virtual environment at
//! `$HOIST_TEST_VENV` (default `~/.cache/hoist/test-venv`); without it these tests fail
//! and say so.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::notifiers;
use hoist_notify::{EventKind, Notice, TenantStatus};
use serde_json::Value;

/// The secret hoist and the receiver share.
const SECRET: &str = "whsec_aG9pc3QtaW50ZXJvcC10ZXN0LWtleS0wMTIzNDU2Nzg5YWJj";
/// Another valid secret, which the receiver does not know.
const OTHER_SECRET: &str = "whsec_c29tZWJvZHktZWxzZXMta2V5LTAxMjM0NTY3ODlhYmNkZWY=";
/// The ports the receivers may take (each takes the first free one).
const PORTS: (u16, u16) = (19620, 19649);

fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOIST_TEST_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/hoist/test-venv")
}

/// The Python that has `standardwebhooks`, or a failure that says how to get it.
fn python() -> PathBuf {
    let python = venv().join("bin/python");
    let check = Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .output();
    match check {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{} cannot import standardwebhooks ({}); run scripts/setup-machine.sh, which installs it there",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "no Python at {} ({e}); run scripts/setup-machine.sh, which creates that virtual environment with standardwebhooks",
            python.display()
        ),
    }
}

/// The Python receiver, stopped (by closing its standard input, then killing it) when
/// dropped.
struct PyReceiver {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    records: Arc<Mutex<Vec<Value>>>,
}

impl PyReceiver {
    /// Answers 503 to the first `fail_first` requests it verifies.
    fn start(secret: &str, fail_first: usize) -> PyReceiver {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standard_webhooks_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(secret)
            .arg(PORTS.0.to_string())
            .arg(PORTS.1.to_string())
            .arg(fail_first.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python receiver");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .expect("the receiver says where it listens");
        let first: Value = serde_json::from_str(&first).expect("a JSON line");
        let port = first["listening"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("the receiver did not start: {first}"));
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&records);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(record) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("lock").push(record);
                }
            }
        });
        PyReceiver {
            child,
            stdin,
            port,
            records,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hoist", self.port)
    }

    /// The records of the requests received so far, waiting a little for `n` of them
    /// (the receiver prints each before it answers, but the pipe may lag).
    fn records(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let records = self.records.lock().expect("lock").clone();
            if records.len() >= n || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(url: &str) -> String {
    format!(
        r#"
[notifiers.ops]
kind = "webhook"
url = "{url}"
secret_env = "OPS_WEBHOOK_SECRET"

[[environments.production.notify]]
to = "ops"
"#
    )
}

fn notice() -> Notice {
    Notice::new(EventKind::Failed, "clinic", "1.4.2", "production", "amitav")
        .with_duration(Duration::from_secs(72))
        .with_reason("verification failed on 1 of 2 instances: ünïcödé and \"quotes\"")
        .with_tenant("acme", TenantStatus::Succeeded, None)
        .with_tenant(
            "globex",
            TenantStatus::Failed,
            Some("health check timed out".into()),
        )
}

fn body(record: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(record["body"].as_str().expect("body"))
        .expect("base64 body")
}

#[tokio::test]
async fn the_reference_library_verifies_what_hoist_sends() {
    let receiver = PyReceiver::start(SECRET, 0);
    let notify = notifiers(
        &config(&receiver.url()),
        &[("OPS_WEBHOOK_SECRET", SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let notice = notice();
    let reports = notify.notify(&notice).await;
    assert!(reports[0].is_delivered(), "{}", reports[0]);
    assert_eq!(reports[0].attempts, 1);

    let records = receiver.records(1);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["verified"], true, "{record}");
    assert_eq!(record["kind"], "failed");
    assert_eq!(record["headers"]["webhook-id"], notice.delivery_id.as_str());
    let received: Notice = serde_json::from_slice(&body(record)).expect("the notice");
    assert_eq!(received, notice);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_by_the_reference_library() {
    let receiver = PyReceiver::start(SECRET, 0);
    let notify = notifiers(
        &config(&receiver.url()),
        &[("OPS_WEBHOOK_SECRET", OTHER_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&notice()).await[0];
    assert!(!report.is_delivered());
    let reason = report.reason().expect("failed");
    assert!(reason.starts_with("HTTP 401 Unauthorized"), "{reason}");
    assert!(reason.contains("No matching signature found"), "{reason}");
    assert_eq!(report.attempts, 1, "a refusal is not retried");
    let records = receiver.records(1);
    assert_eq!(records[0]["verified"], false, "{records:?}");
}

#[tokio::test]
async fn a_captured_request_replayed_under_a_new_id_is_refused() {
    let receiver = PyReceiver::start(SECRET, 0);
    let notify = notifiers(
        &config(&receiver.url()),
        &[("OPS_WEBHOOK_SECRET", SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    assert!(notify.notify(&notice()).await[0].is_delivered());
    let captured = receiver.records(1)[0].clone();
    let header = |name: &str| captured["headers"][name].as_str().expect(name).to_string();

    let client = reqwest::Client::new();
    let replay = |id: String| {
        client
            .post(receiver.url())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", header("webhook-timestamp"))
            .header("webhook-signature", header("webhook-signature"))
            .body(body(&captured))
            .send()
    };
    // The same id: authentic, and the receiver's de-duplication drops it.
    assert_eq!(
        replay(header("webhook-id")).await.expect("sent").status(),
        204
    );
    // A new id, to slip past de-duplication: the signature covers the id.
    let fresh = format!("{}-again", header("webhook-id"));
    assert_eq!(replay(fresh).await.expect("sent").status(), 401);
    let records = receiver.records(3);
    assert_eq!(records[2]["verified"], false, "{records:?}");
}

#[tokio::test]
async fn each_retry_is_signed_afresh_under_the_same_id() {
    // The receiver verifies every attempt, and asks for a retry twice.
    let receiver = PyReceiver::start(SECRET, 2);
    let notify = notifiers(
        &config(&receiver.url()),
        &[("OPS_WEBHOOK_SECRET", SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let notice = notice();
    let report = &notify.notify(&notice).await[0];
    assert!(report.is_delivered(), "{report}");
    assert_eq!(report.attempts, 3);

    let records = receiver.records(3);
    assert_eq!(records.len(), 3, "{records:?}");
    let statuses: Vec<u64> = records
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [503, 503, 204]);
    for record in &records {
        assert_eq!(record["verified"], true, "{record}");
        assert_eq!(record["headers"]["webhook-id"], notice.delivery_id.as_str());
    }
    let stamp = |r: &Value| -> i64 {
        r["headers"]["webhook-timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("timestamp")
    };
    // 0.5 s and 1 s between attempts: the third is signed in a later second.
    assert!(stamp(&records[2]) > stamp(&records[0]), "{records:?}");
    assert_ne!(
        records[0]["headers"]["webhook-signature"],
        records[2]["headers"]["webhook-signature"]
    );
}
