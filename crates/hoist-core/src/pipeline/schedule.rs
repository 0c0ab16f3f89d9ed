//! Deploys that wait for their time (`--at-next-window`, `--at`): the slot is computed from
//! the environment's policy schedule ([`hoist_policy::at`]), audited as `deploy.scheduled`,
//! and waited for *without* the environment's lock, so other deploys (a hotfix) are not
//! blocked meanwhile. The deploy itself then runs as usual: policy, lock and all, checked
//! again at that time. A signal during the wait cancels it cleanly (audited too).

use std::time::Duration;

use hoist_policy::GitRef;
use hoist_policy::at;
pub use hoist_policy::at::Slot;
use jiff::Timestamp;

use super::{Deployer, PipelineError};
use crate::events::EventKind;
use crate::version;

/// When a deploy should start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// When the policy's next window opens (now, if one is open).
    NextWindow,
    /// At this wall-clock time in the policy's zone, `2026-12-02T22:00`.
    At(String),
}

impl Deployer {
    /// The slot a deploy to `environment` asked for `when`, seen at `now`.
    pub fn schedule_slot(
        &self,
        environment: &str,
        when: &StartAt,
        now: Timestamp,
    ) -> Result<Slot, PipelineError> {
        self.environment(environment)?;
        let schedule = self
            .config
            .release
            .policies
            .get(environment)
            .and_then(|p| p.schedule.as_ref());
        let slot = match when {
            StartAt::NextWindow => at::next_window(environment, schedule, now),
            StartAt::At(text) => at::at_time(environment, schedule, text, now),
        };
        slot.map_err(|e| PipelineError::Schedule(e.to_string()))
    }

    /// The environments `hoist release --ref REFERENCE` would deploy to, in order.
    pub fn release_targets(&self, reference: &str) -> Result<Vec<String>, PipelineError> {
        let root = self.config.root.clone();
        let git_ref = GitRef::parse_with(reference, None, |t| {
            matches!(version::tag_commit(&root, t), Ok(Some(_)))
        })
        .map_err(|e| PipelineError::BadRef(e.to_string()))?;
        Ok(self
            .release_settings()?
            .resolve(&git_ref)
            .environments()
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    /// Audits that `command` waits for `slot` in `environment`, then waits until then,
    /// calling `tick` with the time left about every `every`. A stop request ends the wait
    /// with [`PipelineError::Interrupted`] (nothing was locked or changed), audited as
    /// cancelled.
    pub async fn wait_for_slot(
        &self,
        environment: &str,
        command: &str,
        slot: &Slot,
        every: Duration,
        mut tick: impl FnMut(Duration),
    ) -> Result<(), PipelineError> {
        let scoped = self.scoped(environment);
        scoped.note(EventKind::Scheduled {
            command: command.to_string(),
            at: slot.at,
            local: slot.describe(),
        });
        loop {
            let left = time_left(slot.at, Timestamp::now());
            if left.is_zero() {
                return Ok(());
            }
            tick(left);
            tokio::select! {
                _ = tokio::time::sleep(left.min(every)) => {}
                signal = self.interrupt.requested() => {
                    scoped.note(EventKind::ScheduleCancelled {
                        command: command.to_string(),
                        at: slot.at,
                        signal: signal.name().to_string(),
                    });
                    return Err(PipelineError::Interrupted { signal, locked: false });
                }
            }
        }
    }
}

/// How long from `now` until `at`; zero once it has passed. Computed from the wall clock
/// each time, so a suspended machine does not wait too long.
pub fn time_left(at: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_zero_once_the_slot_has_passed() {
        let at: Timestamp = "2026-12-02T22:00:00Z".parse().unwrap();
        let before: Timestamp = "2026-12-02T21:59:30Z".parse().unwrap();
        let after: Timestamp = "2026-12-02T22:00:01Z".parse().unwrap();
        assert_eq!(time_left(at, before), Duration::from_secs(30));
        assert_eq!(time_left(at, after), Duration::ZERO);
        assert_eq!(time_left(at, at), Duration::ZERO);
    }
}
