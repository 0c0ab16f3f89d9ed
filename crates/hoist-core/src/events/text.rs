//! The one place where an event becomes words a person reads: the CLI's progress lines and
//! spinners use it, so every consumer says the same thing. Messages say what is awaited
//! (kubectl's rollout messages are the bar).

use std::time::Duration;

use super::{CacheOutcome, Event, EventKind, ScanVerdict, Stage};

/// What kind of line an event makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A stage began (its spinner starts).
    StageStarted,
    /// A stage ended (its spinner stops), after `took`.
    StageFinished,
    /// Something about one stage, neither start nor end.
    StageNote,
    /// A line of build output.
    Output,
    /// Where one instance is.
    Instance {
        is_final: bool,
    },
    Warning,
}

/// An event as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub tone: Tone,
    pub stage: Option<Stage>,
    pub text: String,
    pub took: Option<Duration>,
}

impl Described {
    fn stage(tone: Tone, stage: Stage, text: String, took_ms: Option<u64>) -> Self {
        Described {
            tone,
            stage: Some(stage),
            text,
            took: took_ms.map(Duration::from_millis),
        }
    }
    fn warning(text: String) -> Self {
        Described {
            tone: Tone::Warning,
            stage: None,
            text,
            took: None,
        }
    }
}

/// The text of `event`, or `None` for facts kept for the record only (policy decisions,
/// audit details) that progress does not show.
pub fn describe(event: &Event) -> Option<Described> {
    use EventKind as K;
    use Tone::*;
    let environment = event.environment.as_deref().unwrap_or("");
    Some(match &event.kind {
        K::StageStarted { stage, subject } => {
            let subject = subject.as_deref().unwrap_or("");
            let text = match stage {
                Stage::BaseImage | Stage::AppImage => format!("building {subject}"),
                Stage::Scan => format!("scanning {subject}"),
                _ => subject.to_string(),
            };
            Described::stage(StageStarted, *stage, text, None)
        }
        K::VersionResolved {
            version, took_ms, ..
        } => Described::stage(
            StageFinished,
            Stage::Version,
            version.clone(),
            Some(*took_ms),
        ),
        K::FingerprintComputed {
            fingerprint,
            files,
            took_ms,
        } => Described::stage(
            StageFinished,
            Stage::Fingerprint,
            format!("{} ({files} files)", short_hex(fingerprint)),
            Some(*took_ms),
        ),
        K::LockAcquired { took_ms } => Described::stage(
            StageFinished,
            Stage::Lock,
            format!("{environment} is ours"),
            Some(*took_ms),
        ),
        K::LockWaiting { holder, limit_secs } => Described::warning(format!(
            "{environment} is locked{} by {} (pid {} on {}); waiting up to {limit_secs}s",
            holder.where_(),
            holder.actor,
            holder.pid,
            holder.hostname
        )),
        K::LockReclaimed { holder } => Described::warning(format!(
            "reclaimed the lock{} of {} (pid {} on {}, since {}), whose process is gone",
            holder.where_(),
            holder.actor,
            holder.pid,
            holder.hostname,
            holder.since
        )),
        K::LockRefused { .. } => return None,
        K::ScanFinished {
            files,
            findings,
            baselined,
            skipped_binary,
            skipped_large,
            skipped_allowlisted,
            verdict,
            took_ms,
            ..
        } => {
            let outcome = match (findings, verdict) {
                (0, _) => "no findings".to_string(),
                (n, ScanVerdict::Warned) => format!("{}, deploying anyway (warn)", count(*n)),
                (n, _) => format!("{}, deploy blocked", count(*n)),
            };
            let baselined = match baselined {
                0 => String::new(),
                n => format!(", {n} accepted by the baseline"),
            };
            let mut parts = Vec::new();
            for (n, what) in [
                (skipped_binary, "binary"),
                (skipped_large, "too large"),
                (skipped_allowlisted, "allowlisted"),
            ] {
                if *n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let skipped = if parts.is_empty() {
                String::new()
            } else {
                format!(" (skipped {})", parts.join(", "))
            };
            Described::stage(
                StageFinished,
                Stage::Scan,
                format!("{files} files{skipped}: {outcome}{baselined}"),
                Some(*took_ms),
            )
        }
        K::ScanIncomplete {
            verdict: ScanVerdict::Warned,
            reason,
            ..
        } => Described::warning(format!("secret scan incomplete: {reason}")),
        K::SecretsFound { .. } | K::ScanIncomplete { .. } => return None,
        K::BaseImage { reference, cache } => {
            let word = match cache {
                CacheOutcome::Hit => "reusing",
                CacheOutcome::Miss => "building (fingerprint changed)",
            };
            Described::stage(
                StageNote,
                Stage::BaseImage,
                format!("{word} {reference}"),
                None,
            )
        }
        K::BaseImageBuilt { reference, took_ms } => Described::stage(
            StageFinished,
            Stage::BaseImage,
            format!("built {reference}"),
            Some(*took_ms),
        ),
        K::BuildOutput { stage, line, .. } => Described {
            tone: Output,
            stage: Some(*stage),
            text: line.clone(),
            took: None,
        },
        K::AppImageBuilt {
            reference, took_ms, ..
        } => Described::stage(
            StageFinished,
            Stage::AppImage,
            format!("built {reference}"),
            Some(*took_ms),
        ),
        K::ImagePushed {
            reference,
            blobs_uploaded,
            bytes_uploaded,
            blobs_mounted,
            blobs_present,
        } => Described::stage(
            StageNote,
            Stage::AppImage,
            format!(
                "pushed {reference}: {blobs_uploaded} blob(s), {bytes_uploaded} bytes uploaded; {blobs_mounted} mounted, {blobs_present} already there"
            ),
            None,
        ),
        K::ReleaseReused { version, reference } => Described::stage(
            StageFinished,
            Stage::AppImage,
            format!("{version} already built as {reference}"),
            Some(0),
        ),
        K::RolloutStarted {
            version,
            instances,
            concurrency,
            ..
        } => Described::stage(
            StageStarted,
            Stage::Rollout,
            format!(
                "{version} to {instances} instance(s) of {environment}, {concurrency} at a time"
            ),
            None,
        ),
        K::InstanceProgress { state, message } => {
            let tenant = event.tenant.as_deref().unwrap_or("?");
            let text = if message.is_empty() {
                format!("{tenant}: {}", state.label())
            } else {
                format!("{tenant}: {}: {message}", state.label())
            };
            Described {
                tone: Instance {
                    is_final: state.is_final(),
                },
                stage: Some(Stage::Rollout),
                text,
                took: None,
            }
        }
        K::RolloutFinished {
            message, took_ms, ..
        } => Described::stage(
            StageFinished,
            Stage::Rollout,
            message.clone(),
            Some(*took_ms),
        ),
        K::WaveStarted {
            wave,
            waves,
            canary,
            tenants,
        } => Described::stage(
            StageStarted,
            Stage::Rollout,
            format!(
                "wave {wave} of {waves}{}: {}",
                if *canary { " (canary)" } else { "" },
                tenants.join(", ")
            ),
            None,
        ),
        K::WavePaused { wave, pause_ms } => Described::stage(
            StageStarted,
            Stage::Rollout,
            format!(
                "pausing {:.1} s before wave {wave} (rollout.pause)",
                Duration::from_millis(*pause_ms).as_secs_f64()
            ),
            None,
        ),
        K::WavesStopped {
            policy,
            failed_wave,
            waves,
            rolled_back_by_policy,
            kept_new_release,
            untouched,
        } => Described::warning(waves_stopped_text(
            policy,
            *failed_wave,
            *waves,
            rolled_back_by_policy,
            kept_new_release,
            untouched,
        )),
        K::HookFailed { reason, .. } => Described::warning(reason.clone()),
        K::NotifyFailed {
            notifier, reason, ..
        } => Described::warning(format!(
            "notification to {notifier} not delivered: {reason}"
        )),
        K::Warning { message } => Described::warning(message.clone()),
        K::OrphanFound {
            tenant,
            name,
            release,
            ..
        } => Described::warning(format!(
            "{name} (tenant {tenant}{}) runs but {environment} no longer configures it; \
             retire it with `hoist retire {environment} {tenant}`",
            release
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        )),
        // The command prints what it retired; only a failure half-way is progress news.
        K::Retired { error: None, .. } => return None,
        K::Retired {
            tenant,
            error: Some(e),
            ..
        } => Described::warning(format!("retiring tenant {tenant} failed: {e}")),
        K::Pruned {
            engine,
            dry_run,
            removed,
            kept,
            bytes,
            failed,
        } => {
            let verb = if *dry_run { "would remove" } else { "removed" };
            let mut line = if removed.is_empty() {
                format!("{engine}: nothing to remove, {kept} kept")
            } else {
                format!(
                    "{engine}: {verb} {} (up to {}), {kept} kept",
                    removed.join(", "),
                    crate::prune::human_bytes(*bytes)
                )
            };
            if !failed.is_empty() {
                line.push_str(&format!("; could not remove {}", failed.join("; ")));
                return Some(Described::warning(format!("prune {line}")));
            }
            Described::stage(StageNote, Stage::Prune, line, None)
        }
        K::Scheduled { command, local, .. } => Described::stage(
            StageNote,
            Stage::Lock,
            format!("{command} scheduled for {local}; the lock is taken then"),
            None,
        ),
        K::ScheduleCancelled {
            command, signal, ..
        } => Described::warning(format!("scheduled {command} cancelled by {signal}")),
        K::ReleaseBuilt { .. }
        | K::PolicyDecided { .. }
        | K::Refused { .. }
        | K::PromotionRefused { .. }
        | K::RefRefused { .. }
        | K::NothingToDeploy { .. }
        | K::Failed { .. } => return None,
    })
}

/// `1 finding`, `3 findings`.
pub(crate) fn count(n: usize) -> String {
    if n == 1 {
        "1 finding".into()
    } else {
        format!("{n} findings")
    }
}

fn short_hex(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(16)]
}

/// What a stopped rollout of waves left where.
fn waves_stopped_text(
    policy: &str,
    failed_wave: usize,
    waves: usize,
    rolled_back: &[String],
    kept: &[String],
    untouched: &[String],
) -> String {
    let mut text = format!("wave {failed_wave} of {waves} failed; on_failure = \"{policy}\"");
    for (what, tenants) in [
        ("returned to their previous release", rolled_back),
        ("kept the new release", kept),
        ("not attempted", untouched),
    ] {
        if !tenants.is_empty() {
            text.push_str(&format!("; {what}: {}", tenants.join(", ")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventSink, InstanceState};

    fn text(sink: &EventSink, kind: EventKind) -> Option<String> {
        describe(&sink.envelope(kind)).map(|d| d.text)
    }

    #[test]
    fn instance_progress_names_the_tenant_and_what_is_awaited() {
        let sink = EventSink::discard()
            .for_environment("staging")
            .for_tenant("t1");
        assert_eq!(
            text(
                &sink,
                EventKind::InstanceProgress {
                    state: InstanceState::Verifying,
                    message: "waiting for /healthz to answer (connection refused)".into()
                }
            )
            .as_deref(),
            Some("t1: verifying: waiting for /healthz to answer (connection refused)")
        );
    }

    #[test]
    fn the_scan_line_says_what_was_found_and_skipped() {
        let sink = EventSink::discard().for_environment("staging");
        let kind = EventKind::ScanFinished {
            files: 12,
            findings: 2,
            baselined: 1,
            skipped_binary: 3,
            skipped_large: 0,
            skipped_allowlisted: 0,
            unreadable: 0,
            verdict: ScanVerdict::Blocked,
            took_ms: 4,
        };
        assert_eq!(
            text(&sink, kind).as_deref(),
            Some(
                "12 files (skipped 3 binary): 2 findings, deploy blocked, 1 accepted by the baseline"
            )
        );
    }

    #[test]
    fn audit_only_facts_make_no_progress_line() {
        let sink = EventSink::discard();
        assert_eq!(
            text(
                &sink,
                EventKind::ReleaseBuilt {
                    version: "v1".into(),
                    image: "a:v1".into(),
                    image_id: "sha256:1".into()
                }
            ),
            None
        );
    }

    #[test]
    fn the_envelope_serialises_flat_with_its_kind() {
        let sink = EventSink::discard().for_environment("production");
        let event = sink.envelope(EventKind::LockAcquired { took_ms: 3 });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["kind"], "lock_acquired");
        assert_eq!(json["environment"], "production");
        assert_eq!(json["took_ms"], 3);
        assert!(json["tenant"].is_null());
        assert!(json["run"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(json["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
