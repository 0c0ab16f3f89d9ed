//! Each instance's steps of a deployment, kept in the store beside its outcome so that
//! history shows them whoever ran the deployment. The steps are the rollout's
//! [`EventKind::InstanceProgress`] events (what the CLI prints), noted as they are emitted
//! and written when the instance ends (and again after a rollback by policy), one
//! transaction per instance.
//!
//! What is kept is bounded and masked: messages pass [`crate::task::redact`] (the
//! instance's secret and env values, as task output does) and are cut to
//! [`MAX_STEP_MESSAGE_CHARS`]; at most [`MAX_STEPS_PER_INSTANCE`] steps are kept per
//! instance, the first ones and the newest, so a flapping health check cannot bloat the
//! database. A step that cannot be written is a warning: the deploy goes on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::Deployer;
use crate::InstanceSpec;
use crate::events::{Event, EventKind};
use crate::store::{InstanceStep, MAX_STEP_MESSAGE_CHARS, MAX_STEPS_PER_INSTANCE};
use crate::task::redact;

/// The steps of one deployment's instances not yet written, by tenant.
#[derive(Default)]
pub(super) struct StepLog {
    tenants: Mutex<BTreeMap<String, Pending>>,
}

#[derive(Default)]
struct Pending {
    /// Noted, not yet written; messages still as emitted.
    steps: Vec<InstanceStep>,
    /// How many were written before.
    written: usize,
}

impl Pending {
    /// Keeps `step` within the instance's cap: once it is reached, the newest step
    /// replaces the last one kept, so the final state is always there.
    fn push(&mut self, step: InstanceStep) {
        let room = MAX_STEPS_PER_INSTANCE.saturating_sub(self.written);
        if self.steps.len() < room {
            self.steps.push(step);
        } else if let Some(last) = self.steps.last_mut() {
            *last = step;
        }
    }
}

impl StepLog {
    /// Notes `event` if it is an instance's progress.
    pub(super) fn note(&self, event: &Event) {
        let (EventKind::InstanceProgress { state, message }, Some(tenant)) =
            (&event.kind, &event.tenant)
        else {
            return;
        };
        let step = InstanceStep {
            tenant: tenant.clone(),
            at: event.at.to_string(),
            state: state.as_str().to_string(),
            message: message.clone(),
        };
        self.lock().entry(tenant.clone()).or_default().push(step);
    }

    /// The steps of `spec`'s instance noted since the last take, masked and cut.
    pub(super) fn take(&self, spec: &InstanceSpec) -> Vec<InstanceStep> {
        let steps = match self.lock().get_mut(&spec.tenant) {
            Some(pending) => {
                pending.written += pending.steps.len();
                std::mem::take(&mut pending.steps)
            }
            None => return Vec::new(),
        };
        let messages: Vec<String> = steps.iter().map(|s| s.message.clone()).collect();
        steps
            .into_iter()
            .zip(redact(spec, &messages))
            .map(|(step, message)| InstanceStep {
                message: cut(&message),
                ..step
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pending>> {
        // Plain data: a panic elsewhere while holding it leaves it usable.
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `message` cut to [`MAX_STEP_MESSAGE_CHARS`] characters, marked with `…` if it was.
fn cut(message: &str) -> String {
    match message.char_indices().nth(MAX_STEP_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_string(),
    }
}

impl Deployer {
    /// This deployer, with every event it emits also noted in `steps`.
    pub(super) fn noting_steps(&self, steps: &Arc<StepLog>) -> Deployer {
        let steps = steps.clone();
        Deployer {
            events: self.events.also(move |event| steps.note(event)),
            ..self.clone()
        }
    }

    /// Writes the steps of `spec`'s instance noted so far; a failure only warns, as a
    /// failed `record_instance` does.
    pub(super) fn record_steps(&self, steps: &StepLog, deployment: i64, spec: &InstanceSpec) {
        let steps = steps.take(spec);
        if steps.is_empty() {
            return;
        }
        if let Err(e) = self.store.record_steps(deployment, &steps) {
            self.events
                .warning(format!("recording {}'s steps: {e}", spec.tenant));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventSink, InstanceState};

    fn spec(env: &[(&str, &str)]) -> InstanceSpec {
        InstanceSpec {
            app: "clinic".into(),
            environment: "staging".into(),
            tenant: "acme".into(),
            host: "unix:///var/run/docker.sock".into(),
            name: "clinic-staging-acme".into(),
            port: 8080,
            container_port: 8080,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            health_path: "/".into(),
            version_path: None,
            secrets: Default::default(),
            volumes: Vec::new(),
        }
    }

    /// A sink whose events are noted in a new log.
    fn noted() -> (EventSink, Arc<StepLog>) {
        let log = Arc::new(StepLog::default());
        let noting = log.clone();
        let sink = EventSink::discard()
            .for_environment("staging")
            .also(move |e| noting.note(e));
        (sink, log)
    }

    #[test]
    fn only_an_instances_progress_is_noted_and_a_take_empties_it() {
        let (sink, log) = noted();
        sink.warning("not a step");
        sink.instance("acme", InstanceState::Starting, "starting");
        sink.instance("other", InstanceState::Healthy, "");
        sink.instance("acme", InstanceState::RolledBack, "back");
        let states: Vec<String> = log.take(&spec(&[])).into_iter().map(|s| s.state).collect();
        assert_eq!(states, ["starting", "rolled_back"]);
        assert!(log.take(&spec(&[])).is_empty());
    }

    #[test]
    fn messages_are_masked_and_cut() {
        let (sink, log) = noted();
        sink.instance(
            "acme",
            InstanceState::Failed,
            "connecting with hunter22 failed",
        );
        sink.instance("acme", InstanceState::Failed, "x".repeat(5000));
        let steps = log.take(&spec(&[("DB_PASSWORD", "hunter22")]));
        assert_eq!(steps[0].message, "connecting with ***** failed");
        assert_eq!(steps[1].message.chars().count(), MAX_STEP_MESSAGE_CHARS + 1);
        assert!(steps[1].message.ends_with('…'));
    }

    #[test]
    fn a_flapping_instance_keeps_its_first_steps_and_its_last_within_the_cap() {
        let (sink, log) = noted();
        for i in 0..(MAX_STEPS_PER_INSTANCE + 50) {
            sink.instance("acme", InstanceState::Verifying, format!("try {i}"));
        }
        sink.instance("acme", InstanceState::Failed, "gave up");
        let steps = log.take(&spec(&[]));
        assert_eq!(steps.len(), MAX_STEPS_PER_INSTANCE);
        assert_eq!(steps[0].message, "try 0");
        assert_eq!(steps.last().unwrap().state, "failed");
        // The cap counts what was written before too.
        sink.instance("acme", InstanceState::RollingBack, "again");
        assert!(log.take(&spec(&[])).is_empty());
    }
}
