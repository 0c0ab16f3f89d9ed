//! Is an instance running the release? A pure function from what was observed to a
//! verdict with a message a person understands; polling and timeouts live in the pipeline.

use serde::Serialize;

use crate::Release;
use crate::backend::ProbeResult;
use crate::runtime::{InstanceSpec, WorkloadState};

/// What the instance must show.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    pub image_id: &'a str,
    /// The release's registry digest: when the runtime shows digests, what runs is
    /// compared with this rather than with the image id.
    pub digest: Option<&'a str>,
    pub version: &'a str,
    pub health_path: &'a str,
    pub version_path: Option<&'a str>,
}

impl<'a> Expectation<'a> {
    /// What `instance` must show once it runs `release`.
    pub fn of(release: &'a Release, instance: &'a InstanceSpec) -> Self {
        Expectation {
            image_id: &release.image_id,
            digest: release.digest.as_deref(),
            version: &release.version,
            health_path: &instance.health_path,
            version_path: instance.version_path.as_deref(),
        }
    }
}

/// What was seen at one moment.
#[derive(Debug, Clone)]
pub struct Observation {
    pub workload: WorkloadState,
    /// `None` when not probed (the workload was not running).
    pub health: Option<ProbeResult>,
    pub version: Option<ProbeResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "message", rename_all = "snake_case")]
pub enum Verdict {
    Verified,
    /// Not yet; may still become verified. The message says what is awaited.
    Pending(String),
    /// Cannot become verified by waiting.
    Failed(String),
}

pub fn verify(observed: &Observation, expected: &Expectation<'_>) -> Verdict {
    let running_image = match &observed.workload {
        WorkloadState::Missing => return Verdict::Failed("nothing runs for this instance".into()),
        WorkloadState::Exited { exit_code, .. } => {
            return Verdict::Failed(format!("it exited with code {exit_code}"));
        }
        WorkloadState::Converging { message } => return Verdict::Pending(message.clone()),
        WorkloadState::Failed { message } => return Verdict::Failed(message.clone()),
        WorkloadState::Running { image_id, .. } => image_id,
    };
    if !observed
        .workload
        .runs_image_of(expected.image_id, expected.digest)
    {
        let wanted = match expected.digest {
            Some(digest) => format!(
                "{} (digest {})",
                short_id(expected.image_id),
                short_id(digest)
            ),
            None => short_id(expected.image_id).to_string(),
        };
        return Verdict::Failed(format!(
            "it runs image {}, not the release's {wanted}",
            short_id(running_image.rsplit('@').next().unwrap_or(running_image)),
        ));
    }
    let path = expected.health_path;
    match &observed.health {
        None => return Verdict::Pending(format!("waiting to probe {path}")),
        Some(Err(why)) => return Verdict::Pending(format!("waiting for {path} to answer ({why})")),
        Some(Ok((status, _))) if !(200..300).contains(status) => {
            return Verdict::Pending(format!(
                "waiting for {path} to answer 2xx (it answered {status})"
            ));
        }
        Some(Ok(_)) => {}
    }
    if let Some(vpath) = expected.version_path {
        let version = expected.version;
        match &observed.version {
            None => return Verdict::Pending(format!("waiting to probe {vpath}")),
            Some(Err(why)) => {
                return Verdict::Pending(format!("waiting for {vpath} to answer ({why})"));
            }
            Some(Ok((status, _))) if !(200..300).contains(status) => {
                return Verdict::Pending(format!(
                    "waiting for {vpath} to answer 2xx (it answered {status})"
                ));
            }
            Some(Ok((_, body))) if !body.contains(version) => {
                return Verdict::Pending(format!(
                    "{vpath} reports {:?}, not {version}",
                    excerpt(body)
                ));
            }
            Some(Ok(_)) => {}
        }
    }
    Verdict::Verified
}

/// `sha256:0123456789ab` from a full image id.
pub fn short_id(id: &str) -> &str {
    let end = id.find(':').map_or(12, |i| i + 13);
    &id[..id.len().min(end)]
}

fn excerpt(body: &str) -> String {
    let line = body.trim().lines().next().unwrap_or("");
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn expect(version_path: Option<&'static str>) -> Expectation<'static> {
        Expectation {
            image_id: IMAGE,
            digest: None,
            version: "v1.2.0",
            health_path: "/healthz",
            version_path,
        }
    }

    fn running() -> WorkloadState {
        WorkloadState::Running {
            image_id: IMAGE.into(),
            release: Some("v1.2.0".into()),
            digests: Vec::new(),
        }
    }

    fn obs(
        container: WorkloadState,
        health: Option<ProbeResult>,
        version: Option<ProbeResult>,
    ) -> Observation {
        Observation {
            workload: container,
            health,
            version,
        }
    }

    #[test]
    fn healthy_and_right_version_is_verified() {
        let o = obs(
            running(),
            Some(Ok((200, "ok".into()))),
            Some(Ok((200, "v1.2.0\n".into()))),
        );
        assert_eq!(verify(&o, &expect(Some("/version"))), Verdict::Verified);
        assert_eq!(verify(&o, &expect(None)), Verdict::Verified);
    }

    #[test]
    fn missing_or_exited_container_fails_at_once() {
        assert_eq!(
            verify(&obs(WorkloadState::Missing, None, None), &expect(None)),
            Verdict::Failed("nothing runs for this instance".into())
        );
        let exited = WorkloadState::Exited {
            image_id: IMAGE.into(),
            release: None,
            exit_code: 3,
        };
        assert_eq!(
            verify(&obs(exited, None, None), &expect(None)),
            Verdict::Failed("it exited with code 3".into())
        );
    }

    #[test]
    fn wrong_image_fails() {
        let other = WorkloadState::Running {
            image_id: "sha256:bbbbbbbbbbbbbbbb".into(),
            release: None,
            digests: Vec::new(),
        };
        let v = verify(
            &obs(other, Some(Ok((200, String::new()))), None),
            &expect(None),
        );
        assert_eq!(
            v,
            Verdict::Failed(
                "it runs image sha256:bbbbbbbbbbbb, not the release's sha256:aaaaaaaaaaaa".into()
            )
        );
    }

    const DIGEST: &str = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

    fn healthy(workload: WorkloadState) -> Observation {
        obs(workload, Some(Ok((200, String::new()))), None)
    }

    fn by_digest() -> Expectation<'static> {
        Expectation {
            digest: Some(DIGEST),
            ..expect(None)
        }
    }

    #[test]
    fn a_container_whose_image_has_the_release_digest_is_verified() {
        let pulled = WorkloadState::Running {
            image_id: IMAGE.into(),
            release: Some("v1.2.0".into()),
            digests: vec![format!("127.0.0.1:5000/clinic@{DIGEST}")],
        };
        assert_eq!(verify(&healthy(pulled), &by_digest()), Verdict::Verified);
    }

    #[test]
    fn the_same_image_id_under_another_digest_fails_when_a_registry_is_used() {
        let other = WorkloadState::Running {
            image_id: IMAGE.into(),
            release: Some("v1.2.0".into()),
            digests: vec!["127.0.0.1:5000/clinic@sha256:eeeeeeeeeeeeeeee".into()],
        };
        assert_eq!(
            verify(&healthy(other), &by_digest()),
            Verdict::Failed(
                "it runs image sha256:aaaaaaaaaaaa, not the release's sha256:aaaaaaaaaaaa (digest sha256:dddddddddddd)"
                    .into()
            )
        );
    }

    #[test]
    fn a_service_running_repo_tag_at_digest_is_verified_by_the_digest() {
        let service = WorkloadState::Running {
            image_id: format!("127.0.0.1:5000/clinic:v1.2.0@{DIGEST}"),
            release: Some("v1.2.0".into()),
            digests: Vec::new(),
        };
        assert_eq!(verify(&healthy(service), &by_digest()), Verdict::Verified);
        let old = WorkloadState::Running {
            image_id: "127.0.0.1:5000/clinic:v1.1.0@sha256:ffffffffffffffff".into(),
            release: Some("v1.1.0".into()),
            digests: Vec::new(),
        };
        assert!(matches!(
            verify(&healthy(old), &by_digest()),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn without_digest_evidence_the_image_id_decides() {
        // A runtime that shows no digest (an image only in the engine's store).
        assert_eq!(verify(&healthy(running()), &by_digest()), Verdict::Verified);
    }

    #[test]
    fn a_converging_runtime_is_pending_and_a_failed_one_fails() {
        let converging = WorkloadState::Converging {
            message: "1 of 2 tasks run the new image".into(),
        };
        assert_eq!(
            verify(&obs(converging, None, None), &expect(None)),
            Verdict::Pending("1 of 2 tasks run the new image".into())
        );
        let failed = WorkloadState::Failed {
            message: "the update was rolled back".into(),
        };
        assert_eq!(
            verify(&obs(failed, None, None), &expect(None)),
            Verdict::Failed("the update was rolled back".into())
        );
    }

    #[test]
    fn unanswered_or_unhealthy_probe_is_pending_with_reason() {
        let refused = obs(running(), Some(Err("connection refused".into())), None);
        assert_eq!(
            verify(&refused, &expect(None)),
            Verdict::Pending("waiting for /healthz to answer (connection refused)".into())
        );
        let unhealthy = obs(running(), Some(Ok((503, "starting".into()))), None);
        assert_eq!(
            verify(&unhealthy, &expect(None)),
            Verdict::Pending("waiting for /healthz to answer 2xx (it answered 503)".into())
        );
    }

    #[test]
    fn old_version_reported_is_pending_and_says_what_was_seen() {
        let o = obs(
            running(),
            Some(Ok((200, "ok".into()))),
            Some(Ok((200, "v1.1.0".into()))),
        );
        assert_eq!(
            verify(&o, &expect(Some("/version"))),
            Verdict::Pending("/version reports \"v1.1.0\", not v1.2.0".into())
        );
        let not_found = obs(
            running(),
            Some(Ok((200, "ok".into()))),
            Some(Ok((404, String::new()))),
        );
        assert!(
            matches!(verify(&not_found, &expect(Some("/version"))), Verdict::Pending(m) if m.contains("404"))
        );
    }
}
