//! `--at-next-window` and `--at`: wait for the deploy's time before it starts, showing the
//! time left (a live line on a terminal, a log line a minute otherwise). The lock is not
//! held meanwhile; SIGINT/SIGTERM cancel the wait (see [`crate::signals`]).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use hoist_core::pipeline::{Deployer, PipelineError, StartAt};

#[derive(Debug, Args, Clone, Default)]
pub struct ScheduleArgs {
    /// Wait until the environment's next deploy window opens, then deploy (at once inside
    /// a window). The lock is not held while waiting; Ctrl-C cancels.
    #[arg(long, conflicts_with = "at")]
    pub at_next_window: bool,
    /// Wait until this time, in the policy's time zone (UTC without one), then deploy:
    /// `2026-12-02T22:00`. It must be in the future and inside a deploy window.
    #[arg(long, value_name = "DATETIME")]
    pub at: Option<String>,
}

impl ScheduleArgs {
    pub fn start_at(&self) -> Option<StartAt> {
        match (&self.at, self.at_next_window) {
            (Some(text), _) => Some(StartAt::At(text.clone())),
            (None, true) => Some(StartAt::NextWindow),
            (None, false) => None,
        }
    }
}

/// How often the time left is shown without a terminal.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Waits for `when` in `environments` (the latest of their slots), then returns so the
/// command can run. Does nothing without a schedule.
pub async fn wait(
    d: &Deployer,
    environments: &[String],
    command: &str,
    when: Option<&StartAt>,
    plain: bool,
) -> Result<(), PipelineError> {
    let Some(when) = when else {
        return Ok(());
    };
    let now = jiff::Timestamp::now();
    let mut latest: Option<(String, hoist_core::pipeline::Slot)> = None;
    for environment in environments {
        let slot = d.schedule_slot(environment, when, now)?;
        if latest.as_ref().is_none_or(|(_, l)| slot.at > l.at) {
            latest = Some((environment.clone(), slot));
        }
    }
    let Some((environment, slot)) = latest else {
        return Ok(());
    };
    if slot.at <= now {
        return Ok(());
    }
    let live = !plain && std::io::stderr().is_terminal();
    let every = if live {
        Duration::from_secs(1)
    } else {
        LOG_EVERY
    };
    let opens = slot.describe();
    let result = d
        .wait_for_slot(&environment, command, &slot, every, |left| {
            let line = format!(
                "waiting for {environment}'s deploy time ({opens}): {} left; Ctrl-C cancels",
                human_left(left)
            );
            if live {
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{line}");
            }
        })
        .await;
    if live {
        eprintln!();
    }
    result
}

/// `2h 05m 03s`, `4m 10s`, `12s`: whole seconds, rounded up so it never says `0s` early.
fn human_left(left: Duration) -> String {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_reads_in_hours_minutes_and_seconds() {
        assert_eq!(human_left(Duration::from_millis(11_200)), "12s");
        assert_eq!(human_left(Duration::from_secs(250)), "4m 10s");
        assert_eq!(human_left(Duration::from_secs(7503)), "2h 05m 03s");
    }
}
