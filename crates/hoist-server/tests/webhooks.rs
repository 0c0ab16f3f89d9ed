//! Deliveries built from GitHub's and GitLab's documented push payloads, signed the way
//! each provider signs them, through `receive`.

use std::collections::BTreeMap;

use hoist_server::webhook::{
    Delivery, HookSecret, HookSecrets, Provider, PushedRef, Refusal, github_signature, receive,
    standard_webhooks_signature,
};
use serde_json::json;

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_764_950_400).unwrap()
}

fn secrets() -> HookSecrets {
    HookSecrets {
        github: Some(HookSecret::new("gh-hook-secret-for-tests")),
        gitlab_token: Some(HookSecret::new("gl-token-for-tests")),
        gitlab_signing: None,
    }
}

/// A `push` payload with the fields GitHub documents (trimmed of ones hoist never reads).
fn github_push(git_ref: &str, after: &str, deleted: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": git_ref,
        "before": ZERO,
        "after": after,
        "created": !deleted,
        "deleted": deleted,
        "forced": false,
        "base_ref": null,
        "compare": "https://github.com/northwind/clinic/compare/v1.4.0",
        "commits": [],
        "head_commit": if deleted { json!(null) } else { json!({
            "id": after, "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
            "message": "Release 1.4.0", "timestamp": "2026-12-01T10:00:00+01:00",
            "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
        })},
        "repository": {
            "id": 1296269, "name": "clinic", "full_name": "northwind/clinic", "private": true,
            "owner": {"login": "northwind", "id": 1},
            "html_url": "https://github.com/northwind/clinic",
            "clone_url": "https://github.com/northwind/clinic.git",
            "default_branch": "main",
        },
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada-l", "id": 583231, "type": "User"},
    }))
    .unwrap()
}

fn github_headers(
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("x-github-event".into(), event.into()),
        ("x-github-delivery".into(), delivery.into()),
        (
            "x-hub-signature-256".into(),
            format!(
                "sha256={}",
                github_signature(&HookSecret::new(secret), body)
            ),
        ),
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), "GitHub-Hookshot/abc123".into()),
    ])
}

#[test]
fn github_tag_push_signed_with_the_secret_is_a_release() {
    let body = github_push("refs/tags/v1.4.0", COMMIT, false);
    let headers = github_headers(
        "push",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        &body,
        "gh-hook-secret-for-tests",
    );
    let Delivery::Push(push) =
        receive(Provider::GitHub, &headers, &body, &secrets(), now()).unwrap()
    else {
        panic!("expected a push");
    };
    assert_eq!(push.pushed, PushedRef::Tag("v1.4.0".into()));
    assert_eq!(push.commit, COMMIT);
    assert_eq!(push.clone_url, "https://github.com/northwind/clinic.git");
    assert_eq!(push.repository, "northwind/clinic");
    assert_eq!(push.pusher, "ada-l");
    assert_eq!(push.delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
}

#[test]
fn github_branch_push_names_the_branch() {
    let body = github_push("refs/heads/uat", COMMIT, false);
    let headers = github_headers("push", "d1", &body, "gh-hook-secret-for-tests");
    let Delivery::Push(push) =
        receive(Provider::GitHub, &headers, &body, &secrets(), now()).unwrap()
    else {
        panic!("expected a push");
    };
    assert_eq!(push.pushed, PushedRef::Branch("uat".into()));
    assert_eq!(push.pushed.name(), "uat");
}

#[test]
fn github_bad_or_missing_signature_is_refused_as_unauthenticated() {
    let body = github_push("refs/tags/v1.4.0", COMMIT, false);
    let wrong = github_headers("push", "d2", &body, "another-secret");
    let err = receive(Provider::GitHub, &wrong, &body, &secrets(), now()).unwrap_err();
    assert!(
        matches!(
            err,
            Refusal::BadSignature {
                provider: Provider::GitHub,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_unauthenticated());
    assert!(!err.to_string().contains("gh-hook-secret-for-tests"));

    // A body changed after signing.
    let signed = github_headers("push", "d3", &body, "gh-hook-secret-for-tests");
    let tampered = github_push("refs/tags/v9.9.9", COMMIT, false);
    assert!(matches!(
        receive(Provider::GitHub, &signed, &tampered, &secrets(), now()),
        Err(Refusal::BadSignature { .. })
    ));

    let mut missing = signed.clone();
    missing.remove("x-hub-signature-256");
    let err = receive(Provider::GitHub, &missing, &body, &secrets(), now()).unwrap_err();
    assert!(matches!(err, Refusal::MissingSignature { .. }));
    assert!(err.is_unauthenticated());

    let mut garbage = signed;
    garbage.insert("x-hub-signature-256".into(), "sha1=abcdef".into());
    assert!(matches!(
        receive(Provider::GitHub, &garbage, &body, &secrets(), now()),
        Err(Refusal::BadSignature { .. })
    ));
}

#[test]
fn github_ping_other_events_and_deletions_are_ignored() {
    let ping =
        serde_json::to_vec(&json!({"zen": "Keep it logically awesome.", "hook_id": 1})).unwrap();
    let headers = github_headers("ping", "p1", &ping, "gh-hook-secret-for-tests");
    assert!(matches!(
        receive(Provider::GitHub, &headers, &ping, &secrets(), now()).unwrap(),
        Delivery::Ignored { .. }
    ));

    let deleted = github_push("refs/tags/v1.4.0", ZERO, true);
    let headers = github_headers("push", "p2", &deleted, "gh-hook-secret-for-tests");
    let Delivery::Ignored { reason, .. } =
        receive(Provider::GitHub, &headers, &deleted, &secrets(), now()).unwrap()
    else {
        panic!("a deleted tag releases nothing");
    };
    assert!(reason.contains("deleted"));
}

#[test]
fn a_provider_without_a_secret_is_refused() {
    let body = github_push("refs/tags/v1.4.0", COMMIT, false);
    let headers = github_headers("push", "d4", &body, "x");
    assert_eq!(
        receive(
            Provider::GitHub,
            &headers,
            &body,
            &HookSecrets::default(),
            now()
        ),
        Err(Refusal::NotConfigured(Provider::GitHub))
    );
}

/// A `Tag Push Hook` / `Push Hook` payload with the fields GitLab documents.
fn gitlab_push(kind: &str, git_ref: &str, checkout_sha: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object_kind": kind,
        "event_name": kind,
        "before": ZERO,
        "after": checkout_sha.unwrap_or(ZERO),
        "ref": git_ref,
        "ref_protected": true,
        "checkout_sha": checkout_sha,
        "user_id": 4,
        "user_name": "Grace H",
        "user_username": "grace",
        "user_email": "",
        "project_id": 15,
        "project": {
            "id": 15, "name": "clinic", "namespace": "northwind",
            "path_with_namespace": "northwind/clinic",
            "default_branch": "main",
            "web_url": "https://gitlab.example.com/northwind/clinic",
            "git_ssh_url": "git@gitlab.example.com:northwind/clinic.git",
            "git_http_url": "https://gitlab.example.com/northwind/clinic.git",
        },
        "commits": [],
        "total_commits_count": 0,
        "repository": {"name": "clinic", "url": "git@gitlab.example.com:northwind/clinic.git"},
    }))
    .unwrap()
}

fn gitlab_headers(event: &str, uuid: &str, token: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("x-gitlab-event".into(), event.into()),
        ("x-gitlab-event-uuid".into(), uuid.into()),
        ("x-gitlab-token".into(), token.into()),
        (
            "x-gitlab-instance".into(),
            "https://gitlab.example.com".into(),
        ),
        ("user-agent".into(), "GitLab/18.6.0".into()),
    ])
}

#[test]
fn gitlab_tag_push_with_the_token_is_a_release() {
    let body = gitlab_push("tag_push", "refs/tags/v2.0.0-beta.1", Some(COMMIT));
    let headers = gitlab_headers(
        "Tag Push Hook",
        "13792a34-cac6-4fda-95a8-c58e00a3954e",
        "gl-token-for-tests",
    );
    let Delivery::Push(push) =
        receive(Provider::GitLab, &headers, &body, &secrets(), now()).unwrap()
    else {
        panic!("expected a push");
    };
    assert_eq!(push.pushed, PushedRef::Tag("v2.0.0-beta.1".into()));
    assert_eq!(push.commit, COMMIT);
    assert_eq!(push.pusher, "grace");
    assert_eq!(
        push.clone_url,
        "https://gitlab.example.com/northwind/clinic.git"
    );
}

#[test]
fn gitlab_wrong_token_event_mismatch_and_deletion() {
    let body = gitlab_push("push", "refs/heads/main", Some(COMMIT));
    let wrong = gitlab_headers("Push Hook", "u1", "gl-token-for-tests-but-longer");
    let err = receive(Provider::GitLab, &wrong, &body, &secrets(), now()).unwrap_err();
    assert!(matches!(
        err,
        Refusal::BadSignature {
            provider: Provider::GitLab,
            ..
        }
    ));
    assert!(!err.to_string().contains("gl-token"));

    // A push payload under the Tag Push Hook header is not what GitLab sends.
    let mismatched = gitlab_headers("Tag Push Hook", "u2", "gl-token-for-tests");
    assert!(matches!(
        receive(Provider::GitLab, &mismatched, &body, &secrets(), now()),
        Err(Refusal::Malformed { .. })
    ));

    let deleted = gitlab_push("tag_push", "refs/tags/v1.0.0", None);
    let headers = gitlab_headers("Tag Push Hook", "u3", "gl-token-for-tests");
    assert!(matches!(
        receive(Provider::GitLab, &headers, &deleted, &secrets(), now()).unwrap(),
        Delivery::Ignored { .. }
    ));

    let issue = serde_json::to_vec(&json!({"object_kind": "issue"})).unwrap();
    let headers = gitlab_headers("Issue Hook", "u4", "gl-token-for-tests");
    assert!(matches!(
        receive(Provider::GitLab, &headers, &issue, &secrets(), now()).unwrap(),
        Delivery::Ignored { .. }
    ));
}

#[test]
fn gitlab_signing_token_is_checked_as_standard_webhooks() {
    let signing = HookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let secrets = HookSecrets {
        gitlab_signing: Some(signing.clone()),
        ..secrets()
    };
    let body = gitlab_push("tag_push", "refs/tags/v1.0.0", Some(COMMIT));
    let ts = now().as_second();
    let mut headers = gitlab_headers("Tag Push Hook", "u5", "gl-token-for-tests");
    headers.insert(
        "webhook-id".into(),
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".into(),
    );
    headers.insert("webhook-timestamp".into(), ts.to_string());
    headers.insert(
        "webhook-signature".into(),
        format!(
            "v1,bm90LXRoaXMtb25l {}",
            standard_webhooks_signature(&signing, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ts, &body)
        ),
    );
    let delivery = receive(Provider::GitLab, &headers, &body, &secrets, now()).unwrap();
    // The Standard Webhooks id is the delivery id (it stays the same on retries).
    assert_eq!(delivery.id(), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");

    // The token alone is not enough once a signing token is configured.
    let mut unsigned = headers.clone();
    unsigned.remove("webhook-signature");
    assert!(matches!(
        receive(Provider::GitLab, &unsigned, &body, &secrets, now()),
        Err(Refusal::MissingSignature {
            header: "webhook-signature",
            ..
        })
    ));

    // An old delivery replayed with its valid signature is stale.
    let late = jiff::Timestamp::from_second(ts + 3600).unwrap();
    assert_eq!(
        receive(Provider::GitLab, &headers, &body, &secrets, late),
        Err(Refusal::Stale {
            provider: Provider::GitLab
        })
    );

    let tampered = gitlab_push("tag_push", "refs/tags/v6.6.6", Some(COMMIT));
    assert!(matches!(
        receive(Provider::GitLab, &headers, &tampered, &secrets, now()),
        Err(Refusal::BadSignature { .. })
    ));
}

#[test]
fn secrets_never_show_in_debug() {
    let s = secrets();
    let printed = format!("{s:?}");
    assert!(!printed.contains("gh-hook-secret-for-tests"));
    assert!(!printed.contains("gl-token-for-tests"));
}

/// The signing functions against the providers' own published examples, so that a
/// sender-side mistake cannot hide behind a test that signs and verifies with the same code.
#[test]
fn signatures_match_the_published_examples() {
    // GitHub's "Validating webhook deliveries" example.
    assert_eq!(
        github_signature(
            &HookSecret::new("It's a Secret to Everybody"),
            b"Hello, World!"
        ),
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    // The Standard Webhooks specification's example (GitLab's signing token follows it).
    assert_eq!(
        standard_webhooks_signature(
            &HookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}
