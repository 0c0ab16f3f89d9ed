//! Notifiers against a local HTTP receiver: the exact requests Zulip, Slack and a webhook
//! receiver expect, retries and their limits, and secrets kept out of everything printed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{FakeSlack, FakeZulip, Receiver, Reply, ZulipSetup, answer, answer_with, notifiers};
use hmac::{Hmac, Mac};
use hoist_notify::{EventKind, Notice, TenantStatus, WebhookSecret};
use sha2::Sha256;

fn failed_notice() -> Notice {
    Notice::new(EventKind::Failed, "clinic", "1.4.2", "production", "amitav")
        .with_duration(Duration::from_secs(72))
        .with_reason("verification failed on 1 of 2 instances")
        .with_tenant("acme", TenantStatus::Succeeded, None)
        .with_tenant(
            "globex",
            TenantStatus::Failed,
            Some("health check timed out after 60s".into()),
        )
}

const ZULIP_KEY: &str = "zulipKEY0123456789abcdef";
const SLACK_TOKEN: &str = "XXXXXXXXXXXXXXXXXXXXXXXX";
/// A Standard Webhooks secret: `whsec_` and the base64 of the 33 bytes of the HMAC key.
const WEBHOOK_SECRET: &str = "whsec_aG9pc3QtdGVzdC13ZWJob29rLWtleS0wMTIzNDU2Nzg5";
const WEBHOOK_KEY: &[u8] = b"hoist-test-webhook-key-0123456789";

fn webhook_config(url: &str, extra: &str) -> String {
    format!(
        r#"
[notifiers.ops]
kind = "webhook"
url = "{url}/hoist"
secret_env = "HOIST_WEBHOOK_SECRET"
{extra}

[[environments.production.notify]]
to = "ops"
"#
    )
}

#[tokio::test]
async fn zulip_gets_a_form_encoded_stream_message_with_basic_auth() {
    let zulip = Receiver::start(vec![answer(
        200,
        r#"{"result":"success","msg":"","id":42}"#,
    )])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("zulip-key"), format!("{ZULIP_KEY}\n")).expect("write");
    let text = format!(
        r#"
[notifiers.team-zulip]
kind = "zulip"
site = "{}"
bot_email = "hoist-bot@chat.example.com"
api_key_file = "zulip-key"
stream = "deploys"

[[environments.production.notify]]
to = "team-zulip"
on = ["failed"]
"#,
        zulip.base
    );
    let notify = notifiers(&text, &[], dir.path()).expect("notifiers");

    let reports = notify.notify(&failed_notice()).await;
    assert_eq!(reports.len(), 1);
    assert!(reports[0].is_delivered(), "{}", reports[0]);
    assert_eq!(reports[0].attempts, 1);

    let requests = zulip.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v1/messages");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("hoist-bot@chat.example.com:{ZULIP_KEY}"))
    );
    assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
    let form: BTreeMap<String, String> =
        url::form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(
        form.keys().collect::<Vec<_>>(),
        ["content", "to", "topic", "type"]
    );
    assert_eq!(form["type"], "stream");
    assert_eq!(
        form["to"], "\"deploys\"",
        "JSON-encoded, as Zulip's API documents"
    );
    assert_eq!(form["topic"], "clinic production");
    assert!(
        form["content"].starts_with(
            "❌ **clinic 1.4.2** failed on **production** after 1m 12s (deployed by amitav)"
        ),
        "{}",
        form["content"]
    );
    assert!(form["content"].contains("- ❌ `globex`: health check timed out after 60s"));

    // Routed for `failed` only.
    assert!(
        notify
            .notify(&Notice::new(
                EventKind::Started,
                "clinic",
                "1.4.2",
                "production",
                "amitav"
            ))
            .await
            .is_empty()
    );
    assert_eq!(notify.recipients(EventKind::Failed), ["team-zulip"]);
    assert!(notify.recipients(EventKind::Succeeded).is_empty());
}

fn zulip_setup(channels: &[(u64, &str)]) -> ZulipSetup {
    ZulipSetup {
        bot_email: "hoist-bot@chat.example.com".into(),
        api_key: ZULIP_KEY.into(),
        channels: channels
            .iter()
            .map(|(id, n)| (*id, n.to_string()))
            .collect(),
        rate_limited: 0,
        retry_after: 0.0,
    }
}

fn zulip_config(site: &str, stream: &str, extra: &str) -> String {
    format!(
        r#"
[notifiers.z]
kind = "zulip"
site = "{site}"
bot_email = "hoist-bot@chat.example.com"
api_key_env = "ZULIP_API_KEY"
stream = "{stream}"
{extra}

[[environments.production.notify]]
to = "z"
"#
    )
}

#[tokio::test]
async fn a_zulip_channel_named_like_a_number_is_found_by_its_name() {
    // Channel 7 is called "2024"; channel 2024 is another one.
    let zulip = FakeZulip::start(zulip_setup(&[(7, "2024"), (2024, "random")])).await;
    let notify = notifiers(
        &zulip_config(zulip.site(), "2024", ""),
        &[("ZULIP_API_KEY", ZULIP_KEY)],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&failed_notice()).await[0];
    assert!(report.is_delivered(), "{report}");
    let posted = zulip.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].channel_id,
        Some(7),
        "posted to the channel named 2024"
    );
    assert_eq!(posted[0].topic.as_deref(), Some("clinic production"));
}

#[tokio::test]
async fn zulip_errors_come_with_the_status_codes_its_api_documents() {
    // No channel "deploys": 400 with Zulip's error JSON.
    let zulip = FakeZulip::start(zulip_setup(&[(1, "general")])).await;
    let notify = notifiers(
        &zulip_config(zulip.site(), "deploys", ""),
        &[("ZULIP_API_KEY", ZULIP_KEY)],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&failed_notice()).await[0];
    assert_eq!(
        report.reason(),
        Some(
            "HTTP 400 Bad Request: Zulip refused the message (STREAM_DOES_NOT_EXIST): Channel 'deploys' does not exist"
        )
    );
    assert_eq!(report.attempts, 1, "a refusal is not retried");

    // A wrong key: 401.
    let notify = notifiers(
        &zulip_config(zulip.site(), "general", ""),
        &[("ZULIP_API_KEY", "not-the-key-0123456789")],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&failed_notice()).await[0];
    assert_eq!(
        report.reason(),
        Some("HTTP 401 Unauthorized: Zulip refused the message (INVALID_API_KEY): Invalid API key")
    );
    assert_eq!(report.attempts, 1);
    assert!(zulip.posted().is_empty());
}

#[tokio::test]
async fn zulip_rate_limits_are_waited_out_as_its_json_asks() {
    // Zulip's 429 says how long in the body (`"retry-after": 2.7`), not in a header.
    let zulip = FakeZulip::start(ZulipSetup {
        rate_limited: 1,
        retry_after: 2.7,
        ..zulip_setup(&[(1, "deploys")])
    })
    .await;
    let notify = notifiers(
        &zulip_config(zulip.site(), "deploys", ""),
        &[("ZULIP_API_KEY", ZULIP_KEY)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let report = &notify.notify(&failed_notice()).await[0];
    let took = started.elapsed();
    assert!(report.is_delivered(), "{report}");
    assert_eq!(report.attempts, 2);
    assert!(
        took >= Duration::from_millis(2700),
        "retried after {took:?}, not 2.7 s"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(zulip.posted().len(), 1);
}

#[tokio::test]
async fn a_wait_past_the_deadline_is_given_up_not_retried_early() {
    // Slack asks for 30 s, Zulip for 25 s; the deadline is 20 s.
    let slack = FakeSlack::start(SLACK_TOKEN, 1, 30).await;
    let zulip = FakeZulip::start(ZulipSetup {
        rate_limited: 1,
        retry_after: 25.0,
        ..zulip_setup(&[(1, "deploys")])
    })
    .await;
    let text = format!(
        "{}\n[notifiers.s]\nkind = \"slack\"\nurl_env = \"SLACK_WEBHOOK_URL\"\n\n[[environments.production.notify]]\nto = \"s\"\n",
        zulip_config(zulip.site(), "deploys", "")
    );
    let url = slack.url();
    let notify = notifiers(
        &text,
        &[("ZULIP_API_KEY", ZULIP_KEY), ("SLACK_WEBHOOK_URL", &url)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let reports = notify.notify(&failed_notice()).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "gave up at once, not after {took:?}"
    );
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert!(!report.is_delivered(), "{report}");
        assert_eq!(report.attempts, 1, "{report}");
    }
    assert_eq!(
        reports[0].reason(),
        Some(
            "HTTP 429 Too Many Requests: Zulip refused the message (RATE_LIMIT_HIT): API usage exceeded rate limit (the server asked to wait 25s before retrying, past the notification deadline: given up)"
        )
    );
    assert_eq!(
        reports[1].reason(),
        Some(
            "HTTP 429 Too Many Requests: rate_limited (the server asked to wait 30s before retrying, past the notification deadline: given up)"
        )
    );
    assert_eq!(slack.receiver.requests().len(), 1);
    assert_eq!(zulip.receiver.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let date = at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let ops = Receiver::start(vec![
        answer_with(503, &[("Retry-After", date.as_str())], "maintenance"),
        answer(204, ""),
    ])
    .await;
    let notify = notifiers(
        &webhook_config(&ops.base, ""),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let report = &notify.notify(&failed_notice()).await[0];
    let took = started.elapsed();
    assert!(report.is_delivered(), "{report}");
    assert_eq!(report.attempts, 2);
    // The date has whole seconds: 2 to 3 s from now.
    assert!(
        took >= Duration::from_millis(1900),
        "retried after {took:?} ({date})"
    );
}

/// A notice whose user-supplied values try to mention everyone, in both dialects.
fn mentioning_notice() -> Notice {
    Notice::new(
        EventKind::Failed,
        "clinic",
        "1.4.2",
        "production",
        "@**all** <!channel>",
    )
    .with_reason("Merge \"@*backend* please look\" @_**Iago** <!here> <@U024BE7LH>")
    .with_tenant("<!everyone>", TenantStatus::Succeeded, None)
    .with_tenant(
        "globex",
        TenantStatus::Failed,
        Some("@**everyone** <!subteam^SAZ94GDB8>".into()),
    )
}

#[tokio::test]
async fn text_from_users_mentions_no_one_on_zulip_or_slack() {
    let zulip = FakeZulip::start(zulip_setup(&[(1, "deploys")])).await;
    let slack = FakeSlack::start(SLACK_TOKEN, 0, 0).await;
    // The templates' own mentions still work: they are the config's, not users'.
    let text = format!(
        "{}\n[notifiers.s]\nkind = \"slack\"\nurl_env = \"SLACK_WEBHOOK_URL\"\ntemplate = \"{{% include kind ~ '.md' %}}\\n\\nOn call: <!subteam^S0PS>\"\n\n[[environments.production.notify]]\nto = \"s\"\n",
        zulip_config(
            zulip.site(),
            "deploys",
            "template = \"{% include kind ~ '.md' %}\\n\\nOn call: @*ops*\""
        )
    );
    let url = slack.url();
    let notify = notifiers(
        &text,
        &[("ZULIP_API_KEY", ZULIP_KEY), ("SLACK_WEBHOOK_URL", &url)],
        Path::new("."),
    )
    .expect("notifiers");
    let reports = notify.notify(&mentioning_notice()).await;
    assert!(reports.iter().all(|r| r.is_delivered()), "{reports:?}");
    let zulip_posted = zulip.posted();
    assert_eq!(
        zulip_posted[0].mentions,
        ["@*ops*"],
        "{}",
        zulip_posted[0].content
    );
    assert!(
        zulip_posted[0]
            .content
            .contains("deployed by @\\*\\*all\\*\\*"),
        "{}",
        zulip_posted[0].content
    );
    let slack_posted = slack.posted();
    assert_eq!(
        slack_posted[0].mentions,
        ["<!subteam^S0PS>"],
        "{}",
        slack_posted[0].content
    );
    assert!(
        slack_posted[0]
            .content
            .contains("&lt;!here&gt; &lt;@U024BE7LH&gt;"),
        "{}",
        slack_posted[0].content
    );
}

#[tokio::test]
async fn slack_gets_json_text_at_the_secret_url() {
    let slack = Receiver::start(vec![answer(200, "ok")]).await;
    let url = format!("{}/services/T0000000/B0000000/{SLACK_TOKEN}", slack.base);
    let text = r#"
[notifiers.team-slack]
kind = "slack"
url_env = "SLACK_WEBHOOK_URL"

[[environments.production.notify]]
to = "team-slack"
"#;
    let notify =
        notifiers(text, &[("SLACK_WEBHOOK_URL", &url)], Path::new(".")).expect("notifiers");
    let reports = notify.notify(&failed_notice()).await;
    assert!(reports[0].is_delivered(), "{}", reports[0]);

    let requests = slack.requests();
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/services/T0000000/B0000000/{SLACK_TOKEN}"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with("❌ *clinic 1.4.2* failed on *production*"),
        "{text}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only `text`");
}

#[tokio::test]
async fn webhook_body_is_the_notice_signed_as_standard_webhooks() {
    let ops = Receiver::start(vec![answer(204, "")]).await;
    let text = webhook_config(&ops.base, "");
    let notify = notifiers(
        &text,
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let notice = failed_notice();
    let reports = notify.notify(&notice).await;
    assert!(reports[0].is_delivered(), "{}", reports[0]);
    assert_eq!(reports[0].delivery_id, notice.delivery_id);

    let r = &ops.requests()[0];
    assert_eq!(r.path, "/hoist");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("webhook-id"), Some(notice.delivery_id.as_str()));
    let timestamp = r.header("webhook-timestamp").expect("timestamp header");
    let sent: i64 = timestamp.parse().expect("unix seconds");
    let now = jiff::Timestamp::now().as_second();
    assert!((now - sent).abs() < 30, "timestamp {sent}, now {now}");

    // What the specification says, done independently of hoist's code: HMAC-SHA256 keyed
    // with the decoded secret over `{id}.{timestamp}.{body}`, base64, after `v1,`.
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_KEY).expect("key");
    mac.update(notice.delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("secret");
    assert_eq!(
        hoist_notify::verify(
            &secret,
            &notice.delivery_id,
            timestamp,
            &r.body,
            &expected,
            now,
            300
        ),
        Ok(())
    );
    assert!(
        r.headers
            .iter()
            .all(|(name, _)| !name.starts_with("x-hoist-")),
        "only the standard headers: {:?}",
        r.headers
    );

    let received: Notice = serde_json::from_slice(&r.body).expect("body is the notice");
    assert_eq!(received, notice);
}

#[tokio::test]
async fn a_malformed_signing_secret_names_the_notifier_and_variable_not_the_value() {
    for (value, why) in [
        ("s3cr3t-VALUE-not-whsec", "does not start with `whsec_`"),
        ("whsec_s3cr3t VALUE!", "is not base64"),
        ("whsec_czNjcjN0LVZBTFVF", "decodes to 12 bytes"),
    ] {
        let err = notifiers(
            &webhook_config("https://ops.example.com", ""),
            &[("HOIST_WEBHOOK_SECRET", value)],
            Path::new("."),
        )
        .expect_err("malformed secret");
        let shown = err.to_string();
        assert!(
            shown.starts_with(
                "notifier `ops`: cannot read its signing secret: environment variable HOIST_WEBHOOK_SECRET does not hold a Standard Webhooks secret: "
            ),
            "{shown}"
        );
        assert!(shown.contains(why), "{shown}");
        for text in [shown, format!("{err:?}")] {
            assert!(!text.contains("s3cr3t"), "the value leaked: {text}");
            assert!(!text.contains("czNjcjN0"), "the value leaked: {text}");
        }
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_reported() {
    let ops = Receiver::start(vec![answer(500, "database is locked")]).await;
    let notify = notifiers(
        &webhook_config(&ops.base, ""),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let report = &notify.notify(&failed_notice()).await[0];
    let took = started.elapsed();
    assert!(!report.is_delivered());
    assert_eq!(report.attempts, 3);
    assert_eq!(ops.requests().len(), 3);
    assert_eq!(
        report.reason(),
        Some("HTTP 500 Internal Server Error: database is locked")
    );
    // Waits of 0.5 s and 1 s between the three attempts.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Every attempt carries the same delivery id, so the receiver can drop duplicates, and
    // is signed afresh: its own timestamp, and a signature that verifies with it.
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("secret");
    let requests = ops.requests();
    let ids: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0]));
    let stamps: Vec<i64> = requests
        .iter()
        .map(|r| {
            let ts = r.header("webhook-timestamp").expect("timestamp");
            let sig = r.header("webhook-signature").expect("signature");
            let now = jiff::Timestamp::now().as_second();
            hoist_notify::verify(&secret, ids[0], ts, &r.body, sig, now, 300)
                .unwrap_or_else(|e| panic!("attempt does not verify: {e}"));
            ts.parse().expect("seconds")
        })
        .collect();
    // 1.5 s passed between the first and the third attempt: a later second.
    assert!(
        stamps[0] <= stamps[1] && stamps[1] <= stamps[2] && stamps[0] < stamps[2],
        "{stamps:?}"
    );
    assert_ne!(
        requests[0].header("webhook-signature"),
        requests[2].header("webhook-signature")
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let ops = Receiver::start(vec![answer(400, "invalid_payload")]).await;
    let notify = notifiers(
        &webhook_config(&ops.base, ""),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&failed_notice()).await[0];
    assert_eq!(report.attempts, 1);
    assert_eq!(ops.requests().len(), 1);
    assert_eq!(
        report.reason(),
        Some("HTTP 400 Bad Request: invalid_payload")
    );
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_asked() {
    let ops = Receiver::start(vec![
        answer_with(429, &[("Retry-After", "1")], "slow down"),
        answer(200, ""),
    ])
    .await;
    let notify = notifiers(
        &webhook_config(&ops.base, ""),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let report = &notify.notify(&failed_notice()).await[0];
    assert!(report.is_delivered(), "{report}");
    assert_eq!(report.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_and_reported() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let notify = notifiers(
        &webhook_config(&format!("http://127.0.0.1:{port}"), "attempts = 2"),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let report = &notify.notify(&failed_notice()).await[0];
    assert_eq!(report.attempts, 2);
    let reason = report.reason().expect("failed");
    assert!(reason.contains("onnect"), "{reason}");
    assert!(!reason.contains("127.0.0.1"), "no URL in reasons: {reason}");
}

#[tokio::test]
async fn hanging_receivers_cost_one_bounded_wait_not_one_each() {
    let hangs = [
        Receiver::start(vec![Reply::Hang]).await,
        Receiver::start(vec![Reply::Hang]).await,
        Receiver::start(vec![Reply::Hang]).await,
    ];
    let ok = Receiver::start(vec![answer(200, "")]).await;
    let mut text = String::new();
    for (i, r) in hangs.iter().chain([&ok]).enumerate() {
        text.push_str(&format!(
            r#"
[notifiers.n{i}]
kind = "webhook"
url = "{}/hoist"
secret_env = "HOIST_WEBHOOK_SECRET"
timeout = "500ms"
attempts = 2

[[environments.production.notify]]
to = "n{i}"
"#,
            r.base
        ));
    }
    let notify = notifiers(
        &text,
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers");
    let started = Instant::now();
    let reports = notify.notify(&failed_notice()).await;
    let took = started.elapsed();
    // One notifier: 2 × 500 ms + 0.5 s backoff = 1.5 s. Sequentially three would take 4.5 s.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    assert!(took < Duration::from_millis(3500), "took {took:?}");
    assert_eq!(reports.len(), 4);
    for report in &reports[..3] {
        assert_eq!(report.attempts, 2, "{report}");
        assert_eq!(report.reason(), Some("no answer within 500ms"), "{report}");
    }
    assert!(reports[3].is_delivered(), "{}", reports[3]);
    for hang in &hangs {
        assert_eq!(hang.requests().len(), 2);
    }
}

#[tokio::test]
async fn the_overall_deadline_bounds_slow_notifiers() {
    let hang = Receiver::start(vec![Reply::Hang]).await;
    let notify = notifiers(
        &webhook_config(&hang.base, "timeout = \"5s\""),
        &[("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET)],
        Path::new("."),
    )
    .expect("notifiers")
    .with_deadline(Duration::from_secs(1));
    let started = Instant::now();
    let report = &notify.notify(&failed_notice()).await[0];
    let took = started.elapsed();
    // One 5 s attempt would not have fitted: the deadline cut it at 1 s.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(!report.is_delivered());
    assert_eq!(report.attempts, 1);
}

#[tokio::test]
async fn secrets_appear_in_no_report_error_or_debug_output() {
    // A careless server that echoes the whole request, headers included, in its 500s.
    let echo = Receiver::start(vec![Reply::Echo(500)]).await;
    let slack_url = format!("{}/services/T0000000/B0000000/{SLACK_TOKEN}", echo.base);
    let text = format!(
        r#"
[notifiers.team-zulip]
kind = "zulip"
site = "{base}"
bot_email = "hoist-bot@chat.example.com"
api_key_env = "ZULIP_API_KEY"
stream = "deploys"
attempts = 1

[notifiers.team-slack]
kind = "slack"
url_env = "SLACK_WEBHOOK_URL"
attempts = 1

[notifiers.ops]
kind = "webhook"
url_env = "OPS_URL"
secret_env = "HOIST_WEBHOOK_SECRET"
attempts = 1

[[environments.production.notify]]
to = "team-zulip"

[[environments.production.notify]]
to = "team-slack"

[[environments.production.notify]]
to = "ops"
"#,
        base = echo.base
    );
    let ops_url = format!("{}/hooks/{SLACK_TOKEN}ops", echo.base);
    let vars = [
        ("ZULIP_API_KEY", ZULIP_KEY),
        ("SLACK_WEBHOOK_URL", slack_url.as_str()),
        ("HOIST_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("OPS_URL", ops_url.as_str()),
    ];
    let notify = notifiers(&text, &vars, Path::new(".")).expect("notifiers");
    let reports = notify.notify(&failed_notice()).await;
    assert_eq!(reports.len(), 3);
    assert!(echo.requests().len() == 3);
    // The echo did carry the secrets back...
    let echoed: Vec<String> = echo
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.raw).to_string())
        .collect();
    assert!(echoed.iter().any(|e| e.contains(SLACK_TOKEN)));

    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("hoist-bot@chat.example.com:{ZULIP_KEY}"));
    let mut printed = vec![format!("{notify:?}")];
    for report in &reports {
        assert!(!report.is_delivered());
        printed.push(report.to_string());
        printed.push(format!("{report:?}"));
        printed.push(serde_json::to_string(report).expect("json"));
    }
    // ...and errors of configuration do not either.
    for (name, value) in [
        ("SLACK_WEBHOOK_URL", format!("not a url {SLACK_TOKEN}")),
        (
            "SLACK_WEBHOOK_URL",
            format!("http://hooks.example.com/{SLACK_TOKEN}"),
        ),
        (
            "SLACK_WEBHOOK_URL",
            format!("https://user:{SLACK_TOKEN}@hooks.example.com/x"),
        ),
    ] {
        let mut bad = vars.to_vec();
        bad.retain(|(n, _)| *n != name);
        bad.push((name, value.as_str()));
        let err = notifiers(&text, &bad, Path::new(".")).expect_err("unusable URL");
        printed.push(err.to_string());
        printed.push(format!("{err:?}"));
    }
    let missing = notifiers(&text, &vars[1..], Path::new(".")).expect_err("missing key");
    assert_eq!(
        missing.to_string(),
        "notifier `team-zulip`: cannot read its API key: environment variable ZULIP_API_KEY is not set"
    );

    for text in &printed {
        for secret in [ZULIP_KEY, SLACK_TOKEN, WEBHOOK_SECRET, basic.as_str()] {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
    // The reasons still say what happened.
    assert!(
        reports
            .iter()
            .all(|r| r.reason().is_some_and(|x| x.starts_with("HTTP 500")))
    );
}

#[tokio::test]
async fn broken_templates_and_missing_files_fail_at_load_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = |extra: &str| {
        format!(
            r#"
[notifiers.team-zulip]
kind = "zulip"
site = "https://chat.example.com"
bot_email = "hoist-bot@chat.example.com"
api_key_env = "ZULIP_API_KEY"
stream = "deploys"
{extra}

[[environments.production.notify]]
to = "team-zulip"
"#
        )
    };
    let vars = [("ZULIP_API_KEY", ZULIP_KEY)];
    let err =
        notifiers(&base("template = \"{{ enviroment }}\""), &vars, dir.path()).expect_err("typo");
    assert!(
        err.to_string()
            .starts_with("notifier `team-zulip`: template: "),
        "{err}"
    );
    let err =
        notifiers(&base("template_file = \"msg.md\""), &vars, dir.path()).expect_err("no file");
    assert!(err.to_string().contains("cannot read template"), "{err}");

    std::fs::write(
        dir.path().join("msg.md"),
        "{{ icon }} {{ app }} {{ version }}: {{ kind }}",
    )
    .expect("write");
    let notify = notifiers(&base("template_file = \"msg.md\""), &vars, dir.path()).expect("loads");
    assert!(!notify.is_empty());
}
