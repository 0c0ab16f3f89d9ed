//! What stopping a container told about it: a pure decision, with fixture tests.

use std::time::Duration;

/// How a container ended after the engine's stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StopOutcome<'a> {
    /// The signal sent first (`SIGTERM`, or the image's `STOPSIGNAL`).
    pub signal: &'a str,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// From the stop request to the container's exit.
    pub waited: Duration,
    /// The grace period the engine was given.
    pub timeout: Duration,
}

/// Whether the engine had to kill the container because it outlived its grace period:
/// exit 137 (128 + SIGKILL) that neither the kernel's OOM killer nor a `STOPSIGNAL` of
/// SIGKILL explains, after the whole grace period. A grace period of 0 asks for the kill,
/// so it is not a surprise worth a warning.
pub(crate) fn needed_kill(outcome: &StopOutcome<'_>) -> bool {
    let kill_signal = matches!(
        outcome
            .signal
            .trim_start_matches("SIG")
            .to_ascii_uppercase()
            .as_str(),
        "KILL" | "9"
    );
    outcome.exit_code == Some(137)
        && !outcome.oom_killed
        && !kill_signal
        && !outcome.timeout.is_zero()
        // The engine counts whole seconds; allow for its rounding and the request's time.
        && outcome.waited + Duration::from_millis(500) >= outcome.timeout
}

/// The progress line while waiting for the old container to exit.
pub(crate) fn waiting_message(signal: &str, waited: Duration, timeout: Duration) -> String {
    format!(
        "stopping the old container: waiting for it to exit ({signal} sent {} s ago; killed after {} s)",
        waited.as_secs(),
        timeout.as_secs()
    )
}

/// When to report the wait: after 1 s, then every 3 s (1, 4, 7, ...), so a CI log gets a
/// few lines for a slow stop and none for a quick one.
pub(crate) fn report_at(n: u32) -> Duration {
    Duration::from_secs(1 + 3 * u64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exit_code: i64, waited_secs: u64) -> StopOutcome<'static> {
        StopOutcome {
            signal: "SIGTERM",
            exit_code: Some(exit_code),
            oom_killed: false,
            waited: Duration::from_secs(waited_secs),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_container_killed_after_its_grace_period_needed_sigkill() {
        assert!(needed_kill(&outcome(137, 10)));
    }

    #[test]
    fn a_container_that_exited_on_sigterm_did_not() {
        assert!(!needed_kill(&outcome(0, 0)));
        assert!(!needed_kill(&outcome(143, 1)));
    }

    #[test]
    fn exit_137_before_the_grace_period_is_the_app_s_own() {
        assert!(!needed_kill(&outcome(137, 2)));
    }

    #[test]
    fn the_oom_killer_is_not_a_stop_timeout() {
        let o = StopOutcome {
            oom_killed: true,
            ..outcome(137, 10)
        };
        assert!(!needed_kill(&o));
    }

    #[test]
    fn a_stopsignal_of_sigkill_or_a_zero_grace_period_asks_for_the_kill() {
        for signal in ["SIGKILL", "KILL", "9"] {
            let o = StopOutcome {
                signal,
                ..outcome(137, 10)
            };
            assert!(!needed_kill(&o), "{signal}");
        }
        let o = StopOutcome {
            timeout: Duration::ZERO,
            ..outcome(137, 0)
        };
        assert!(!needed_kill(&o));
    }

    #[test]
    fn the_wait_is_reported_at_1_4_7_seconds() {
        assert_eq!(
            (0..3).map(report_at).collect::<Vec<_>>(),
            [1, 4, 7].map(Duration::from_secs)
        );
        assert_eq!(
            waiting_message("SIGTERM", Duration::from_secs(4), Duration::from_secs(10)),
            "stopping the old container: waiting for it to exit (SIGTERM sent 4 s ago; killed after 10 s)"
        );
    }
}
