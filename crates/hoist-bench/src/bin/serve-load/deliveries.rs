//! The deliveries of a load run: signed GitHub `push` deliveries, as GitHub sends them
//! (docs.github.com, "Webhook events and payloads: push"; "Validating webhook
//! deliveries": `X-Hub-Signature-256: sha256=` HMAC-SHA256 of the body under the secret).

use hmac::Mac;

/// One request of the run, sent at its place in the schedule.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Delivery`.
    pub id: String,
    pub git_ref: String,
    pub commit: String,
    pub body: Vec<u8>,
    pub signature: String,
    /// The index of the delivery this one resends unchanged (a replay), if it is one.
    pub replay_of: Option<usize>,
}

/// The plan of a run of `count` deliveries over `tags` tags, all at `commit`:
///
/// - consecutive deliveries push the same tag in runs of `count / tags` (the same push
///   delivered by several hooks, each with its own delivery id): one release each;
/// - every 20th delivery resends, byte for byte, the one 10 places before it (a
///   replay): it must be refused (409), or, if it overtook its original, the original is.
pub fn plan(
    count: usize,
    tags: usize,
    commit: &str,
    clone_url: &str,
    secret: &[u8],
    run: &str,
) -> Vec<Delivery> {
    let per_tag = count.div_ceil(tags.max(1)).max(1);
    let mut out: Vec<Delivery> = Vec::with_capacity(count);
    for i in 0..count {
        if i % 20 == 19 {
            let original = out[i - 10].clone();
            out.push(Delivery {
                replay_of: Some(i - 10),
                ..original
            });
            continue;
        }
        let tag = tag_name(i / per_tag);
        let git_ref = format!("refs/tags/{tag}");
        let body = serde_json::json!({
            "ref": git_ref,
            "before": "0000000000000000000000000000000000000000",
            "after": commit,
            "created": true,
            "deleted": false,
            "forced": false,
            "base_ref": null,
            "compare": format!("https://github.com/load/bench/compare/{tag}"),
            "commits": [],
            "head_commit": null,
            "repository": {
                "id": 1,
                "name": "bench",
                "full_name": "load/bench",
                "private": true,
                "clone_url": clone_url,
            },
            "pusher": { "name": "load", "email": "load@example.com" },
            "sender": { "login": "load", "id": 1, "type": "User" },
        });
        let body = serde_json::to_vec(&body).expect("a JSON value encodes");
        out.push(Delivery {
            id: format!("{run}-{i:08}"),
            git_ref,
            commit: commit.to_string(),
            signature: format!("sha256={}", sign(secret, &body)),
            body,
            replay_of: None,
        });
    }
    out
}

/// The tag of the `n`th release of a run: a prerelease, which the bench app's rules
/// (`semver = "release"`) send nowhere.
pub fn tag_name(n: usize) -> String {
    format!("v1.0.0-load.{n}")
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
