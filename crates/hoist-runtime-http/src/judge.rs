//! "Does the instance run the release, healthy?": a pure function from the platform's
//! status answer (and the configured fields) to a verdict with a message that says what is
//! awaited. Polling and timeouts live in [`crate::runtime`].

use serde_json::Value;

use crate::settings::StatusFields;

/// What the instance must show.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The image reference the deploy asked for.
    pub image: &'a str,
    /// The release's registry digest, when it has one.
    pub digest: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It runs the image, in a running state, healthy.
    Running(String),
    /// Not yet; the message says what is awaited.
    Waiting(String),
    /// The platform says the deploy failed; waiting will not help.
    Failed(String),
}

/// What one status answer says, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub image: Option<String>,
    pub digest: Option<String>,
    pub release: Option<String>,
    pub image_id: Option<String>,
    pub state: Option<String>,
    /// `None`: no health field configured (or present).
    pub health: Option<Health>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Why not: "1 of 2 checks passing", "health is \"critical\"".
    Unhealthy(String),
}

/// Reads the configured fields out of `status`.
pub fn read(status: &Value, fields: &StatusFields) -> Reading {
    let text = |pointer: &Option<String>| {
        pointer
            .as_deref()
            .and_then(|p| status.pointer(p))
            .and_then(scalar_text)
    };
    Reading {
        image: text(&Some(fields.image.clone())),
        digest: text(&fields.digest),
        release: text(&fields.release),
        image_id: text(&fields.image_id),
        state: text(&fields.state),
        health: fields
            .healthy
            .as_deref()
            .and_then(|p| status.pointer(p))
            .and_then(health),
        failure: fields
            .failure
            .as_deref()
            .and_then(|p| status.pointer(p))
            .and_then(failure),
    }
}

/// The verdict on one status answer.
pub fn judge(status: &Value, fields: &StatusFields, expect: &Expect<'_>) -> Verdict {
    let reading = read(status, fields);
    if let Some(failure) = &reading.failure {
        return Verdict::Failed(format!("the platform reports a failure: {failure}"));
    }
    if let Some(state) = &reading.state
        && fields.failed.iter().any(|f| f == state)
    {
        return Verdict::Failed(format!("the instance is {state:?}"));
    }
    match reading.image.as_deref() {
        None => {
            return Verdict::Waiting(format!(
                "waiting for the status to report an image (at {})",
                fields.image
            ));
        }
        Some(image) if !same_image(image, expect.image) => {
            return Verdict::Waiting(format!("it runs {image}; waiting for {}", expect.image));
        }
        Some(_) => {}
    }
    if fields.state.is_some() {
        match reading.state.as_deref() {
            Some(state) if fields.running.iter().any(|r| r == state) => {}
            Some(state) => {
                return Verdict::Waiting(format!(
                    "the instance is {state:?}; waiting for {}",
                    quoted(&fields.running)
                ));
            }
            None => return Verdict::Waiting("waiting for the status to report a state".into()),
        }
    }
    if let (Some(want), Some(pointer)) = (expect.digest, &fields.digest) {
        match reading.digest.as_deref() {
            Some(got) if got == want => {}
            Some(got) => {
                return Verdict::Waiting(format!("it runs digest {got}; waiting for {want}"));
            }
            None => {
                return Verdict::Waiting(format!(
                    "waiting for the status to report the digest (at {pointer})"
                ));
            }
        }
    }
    if let Some(Health::Unhealthy(why)) = &reading.health {
        return Verdict::Waiting(format!("it runs the release; waiting for health: {why}"));
    }
    if fields.healthy.is_some() && reading.health.is_none() {
        return Verdict::Waiting("it runs the release; waiting for a health report".into());
    }
    Verdict::Running(match &reading.state {
        Some(state) => format!("{state}, running {}", expect.image),
        None => format!("running {}", expect.image),
    })
}

/// Whether the platform's reference is the one asked for. Platforms write references
/// back normalised (`docker.io/library/x:1` for `x:1`), so a trailing match on a
/// path-segment boundary counts.
fn same_image(reported: &str, wanted: &str) -> bool {
    reported == wanted
        || reported
            .strip_suffix(wanted)
            .is_some_and(|prefix| prefix.ends_with('/'))
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn health(value: &Value) -> Option<Health> {
    const GOOD: [&str; 5] = ["passing", "healthy", "ok", "up", "true"];
    match value {
        Value::Bool(true) => Some(Health::Healthy),
        Value::Bool(false) => Some(Health::Unhealthy("health is false".into())),
        Value::String(s) if GOOD.contains(&s.to_ascii_lowercase().as_str()) => {
            Some(Health::Healthy)
        }
        Value::String(s) => Some(Health::Unhealthy(format!("health is {s:?}"))),
        // Checks such as Fly's: `[{"name": "http", "status": "passing"}, ...]`.
        Value::Array(checks) => {
            let failing: Vec<String> = checks
                .iter()
                .filter(|c| {
                    !c.get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|s| GOOD.contains(&s))
                })
                .map(|c| {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("a check");
                    let status = c.get("status").and_then(Value::as_str).unwrap_or("unknown");
                    format!("{name} is {status}")
                })
                .collect();
            if failing.is_empty() {
                Some(Health::Healthy)
            } else {
                Some(Health::Unhealthy(format!(
                    "{} of {} checks passing ({})",
                    checks.len() - failing.len(),
                    checks.len(),
                    failing.join(", ")
                )))
            }
        }
        _ => None,
    }
}

fn failure(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Bool(true) => Some("failed".into()),
        Value::Object(_) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> StatusFields {
        StatusFields {
            image: "/image".into(),
            digest: Some("/digest".into()),
            release: Some("/meta/release".into()),
            image_id: None,
            spec: None,
            state: Some("/state".into()),
            running: vec!["running".into()],
            failed: vec!["failed".into()],
            healthy: Some("/checks".into()),
            failure: Some("/error".into()),
        }
    }

    const EXPECT: Expect<'static> = Expect {
        image: "reg/app:v2@sha256:new",
        digest: Some("sha256:new"),
    };

    #[test]
    fn running_with_the_digest_and_passing_checks_is_running() {
        let status = json!({"image": "reg/app:v2@sha256:new", "digest": "sha256:new",
            "state": "running", "checks": [{"name": "http", "status": "passing"}]});
        assert!(matches!(
            judge(&status, &fields(), &EXPECT),
            Verdict::Running(_)
        ));
    }

    #[test]
    fn the_old_image_is_awaited() {
        let status = json!({"image": "reg/app:v1", "state": "running"});
        let Verdict::Waiting(why) = judge(&status, &fields(), &EXPECT) else {
            panic!()
        };
        assert!(why.contains("it runs reg/app:v1"), "{why}");
    }

    #[test]
    fn a_deploying_state_is_awaited() {
        let status =
            json!({"image": "reg/app:v2@sha256:new", "digest": "sha256:new", "state": "deploying"});
        let Verdict::Waiting(why) = judge(&status, &fields(), &EXPECT) else {
            panic!()
        };
        assert!(why.contains("\"deploying\""), "{why}");
    }

    #[test]
    fn another_digest_is_awaited() {
        let status =
            json!({"image": "reg/app:v2@sha256:new", "digest": "sha256:old", "state": "running"});
        let Verdict::Waiting(why) = judge(&status, &fields(), &EXPECT) else {
            panic!()
        };
        assert!(why.contains("sha256:old"), "{why}");
    }

    #[test]
    fn failing_checks_are_awaited_with_counts() {
        let status = json!({"image": "reg/app:v2@sha256:new", "digest": "sha256:new", "state": "running",
            "checks": [{"name": "http", "status": "critical"}, {"name": "tcp", "status": "passing"}]});
        let Verdict::Waiting(why) = judge(&status, &fields(), &EXPECT) else {
            panic!()
        };
        assert!(
            why.contains("1 of 2 checks passing (http is critical)"),
            "{why}"
        );
    }

    #[test]
    fn a_failure_field_or_state_fails() {
        let status = json!({"image": "reg/app:v1", "error": "image pull failed"});
        assert_eq!(
            judge(&status, &fields(), &EXPECT),
            Verdict::Failed("the platform reports a failure: image pull failed".into())
        );
        let status = json!({"image": "reg/app:v2@sha256:new", "state": "failed"});
        assert!(matches!(
            judge(&status, &fields(), &EXPECT),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn a_normalised_reference_matches() {
        assert!(same_image("docker.io/library/app:v2", "app:v2"));
        assert!(!same_image("docker.io/library/myapp:v2", "app:v2"));
    }
}
