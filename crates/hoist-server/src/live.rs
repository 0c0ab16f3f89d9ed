//! The pipeline's events of the jobs this server runs, handed to whoever watches: the
//! dashboard's server-sent event stream subscribes to [`Hub`], and a deployment's page
//! reads the steps and last lines the hub kept of it.
//!
//! What the hub keeps is in memory only, for the newest deployments this server ran: a
//! running deployment's steps as they happen, and the run's log tail. The store keeps each
//! instance's steps too, written when the instance ends, so a deployment's page falls
//! back to them for deployments the CLI ran or ran before the server's last start; the
//! log tail is only ever here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hoist_core::EventSink;
use hoist_core::events::text::Tone;
use hoist_core::events::{Event, EventKind, InstanceState, describe};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// Events a slow subscriber may fall behind by before it misses some (it is told so).
const CHANNEL: usize = 1024;
/// Deployments whose steps are kept, the newest.
const KEPT_DEPLOYMENTS: usize = 64;
/// Lines of a deployment's log tail kept.
const TAIL: usize = 200;

/// One event of a job, as subscribers receive it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub job: i64,
    /// The deployment the event belongs to, once its rollout has started.
    pub deployment: Option<i64>,
    #[serde(flatten)]
    pub event: Event,
}

/// One step of one instance: a state it reached, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// RFC 3339.
    pub at: String,
    /// The state's label (`rolled back`).
    pub state: String,
    pub message: String,
}

/// What the hub kept of one deployment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Journal {
    /// Each tenant's steps, in the order they happened.
    pub steps: Vec<(String, Vec<Step>)>,
    /// The run's last lines, as the CLI would print them.
    pub tail: VecDeque<String>,
}

#[derive(Default)]
struct Kept {
    /// Which deployment each run is rolling out.
    deployment_of_run: HashMap<String, i64>,
    journals: HashMap<i64, Journal>,
    /// Deployment ids, oldest first, to forget the oldest.
    order: VecDeque<i64>,
}

pub struct Hub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    kept: Mutex<Kept>,
    /// Turns true when the server stops, so that open streams end and let it.
    stopping: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            sender: broadcast::channel(CHANNEL).0,
            kept: Mutex::new(Kept::default()),
            stopping: watch::channel(false).0,
        }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// Tells every subscriber's stream to end (the server is stopping).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Turns true when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// The steps and tail kept of `deployment`, if it ran here since the server started.
    pub fn journal(&self, deployment: i64) -> Option<Journal> {
        self.lock().journals.get(&deployment).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic elsewhere while holding it leaves plain data behind: keep using it.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An event sink for job `job`: every event is logged, kept and published.
    pub fn sink(self: &Arc<Self>, job: i64) -> EventSink {
        let hub = self.clone();
        EventSink::new(move |event| {
            if let Ok(json) = serde_json::to_string(event) {
                tracing::info!(job, event = %json, "pipeline event");
            }
            hub.publish(job, event);
        })
    }

    /// Keeps what a deployment's page shows of `event` and sends it to subscribers.
    pub fn publish(&self, job: i64, event: &Event) {
        let deployment = self.keep(event);
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(Arc::new(LiveEvent {
            job,
            deployment,
            event: event.clone(),
        }));
    }

    fn keep(&self, event: &Event) -> Option<i64> {
        let mut kept = self.lock();
        if let EventKind::RolloutStarted { deployment, .. } = &event.kind {
            kept.deployment_of_run
                .insert(event.run.clone(), *deployment);
            kept.journals.insert(*deployment, Journal::default());
            kept.order.push_back(*deployment);
            while kept.order.len() > KEPT_DEPLOYMENTS {
                if let Some(old) = kept.order.pop_front() {
                    kept.journals.remove(&old);
                    kept.deployment_of_run.retain(|_, d| *d != old);
                }
            }
        }
        let deployment = *kept.deployment_of_run.get(&event.run)?;
        let journal = kept.journals.get_mut(&deployment)?;
        if let (EventKind::InstanceProgress { state, message }, Some(tenant)) =
            (&event.kind, &event.tenant)
        {
            record_step(journal, tenant, *state, message, event.at);
        }
        if let Some(line) = describe(event).filter(|d| d.tone != Tone::Output) {
            let tenant = event
                .tenant
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default();
            journal.tail.push_back(format!(
                "{} {tenant}{}",
                event.at.strftime("%H:%M:%S"),
                line.text
            ));
            while journal.tail.len() > TAIL {
                journal.tail.pop_front();
            }
        }
        if matches!(event.kind, EventKind::RolloutFinished { .. }) {
            kept.deployment_of_run.remove(&event.run);
        }
        Some(deployment)
    }
}

fn record_step(
    journal: &mut Journal,
    tenant: &str,
    state: InstanceState,
    message: &str,
    at: jiff::Timestamp,
) {
    let step = Step {
        at: at.to_string(),
        state: state.label().to_string(),
        message: message.to_string(),
    };
    match journal.steps.iter_mut().find(|(t, _)| t == tenant) {
        Some((_, steps)) => steps.push(step),
        None => journal.steps.push((tenant.to_string(), vec![step])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::store::{DeploymentKind, DeploymentOutcome};

    fn rollout(sink: &EventSink, deployment: i64) {
        sink.emit(EventKind::RolloutStarted {
            deployment,
            kind: DeploymentKind::Deploy,
            version: "v1".into(),
            image: "app:v1".into(),
            instances: 1,
            concurrency: 1,
        });
        sink.instance("north", InstanceState::Starting, "starting app-north");
        sink.instance("north", InstanceState::Healthy, "answers 2xx");
        sink.emit(EventKind::RolloutFinished {
            deployment,
            kind: DeploymentKind::Deploy,
            version: "v1".into(),
            image: "app:v1".into(),
            outcome: DeploymentOutcome::Succeeded,
            message: "1 healthy".into(),
            took_ms: 5,
            tenants: vec![],
        });
    }

    #[test]
    fn a_rollouts_events_reach_subscribers_tagged_with_job_and_deployment() {
        let hub = Arc::new(Hub::default());
        let mut rx = hub.subscribe();
        let sink = hub.sink(7).for_environment("staging");
        rollout(&sink, 42);
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            seen.push((e.job, e.deployment, e.event.tenant.clone()));
        }
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|(job, d, _)| *job == 7 && *d == Some(42)));
        assert_eq!(seen[1].2.as_deref(), Some("north"));
    }

    #[test]
    fn the_journal_keeps_each_instances_steps_and_a_tail() {
        let hub = Arc::new(Hub::default());
        rollout(&hub.sink(1).for_environment("staging"), 42);
        let journal = hub.journal(42).expect("kept");
        assert_eq!(journal.steps.len(), 1);
        let (tenant, steps) = &journal.steps[0];
        assert_eq!(tenant, "north");
        let states: Vec<_> = steps.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states, ["starting", "healthy"]);
        assert_eq!(journal.tail.len(), 4);
        assert!(hub.journal(43).is_none());
    }

    #[test]
    fn only_the_newest_deployments_are_kept() {
        let hub = Arc::new(Hub::default());
        for d in 0..(KEPT_DEPLOYMENTS as i64 + 3) {
            rollout(&hub.sink(d).for_environment("staging"), d);
        }
        assert!(hub.journal(0).is_none());
        assert!(hub.journal(KEPT_DEPLOYMENTS as i64 + 2).is_some());
        assert!(hub.lock().deployment_of_run.is_empty());
    }
}
