//! What a service's tasks say about it, as one [`WorkloadState`] and a few notes: pure
//! functions of what the engine returned, so each state is a fixture test.
//!
//! A service *runs* its spec when as many tasks as the spec asks for run it, no task runs
//! anything else, and Swarm is not in the middle of an update (it still watches new tasks
//! for the monitor period, and may roll them back). A task runs the spec when its task
//! spec is the service's: the image alone would not tell an env-only update's old tasks
//! from its new ones. Whether the tasks answer their health check is the prober's part,
//! judged by `hoist_core::verify`.

use bollard::models::{Service, ServiceUpdateStatusStateEnum as Update, Task, TaskSpec, TaskState};
use hoist_core::runtime::WorkloadState;
use hoist_core::verify::short_id;

use crate::spec::{Essentials, essentials, image_of, release_of};

/// Failed attempts of the current spec after which waiting is pointless: Swarm restarts a
/// failing task forever, but three failures in a row are not a slow start.
pub const GIVE_UP_AFTER_FAILURES: usize = 3;

/// The state of `service` given its `tasks`. With `target` (the spec a rollout waits
/// for), a service whose spec moved away from it — Swarm rolled it back, or somebody
/// changed it — has failed; without, the service is judged against its own spec.
pub fn workload_state(
    service: &Service,
    tasks: &[Task],
    target: Option<&Essentials>,
) -> WorkloadState {
    let view = View::new(service, tasks);
    let Some(image) = view.image else {
        return WorkloadState::Failed {
            message: format!("service {} has no container image", view.name),
        };
    };
    if let Some(target) = target
        && service.spec.as_ref().map(essentials).as_ref() != Some(target)
    {
        let message = match view.update {
            Some(
                Update::ROLLBACK_STARTED | Update::ROLLBACK_COMPLETED | Update::ROLLBACK_PAUSED,
            ) => match view.rolled_back_cause() {
                Some(cause) => format!("Swarm rolled the update back: {cause}"),
                None => format!("the service was rolled back ({})", view.swarm_message()),
            },
            _ if target.image != image => format!(
                "the service was changed to image {}, not {}",
                short_id(image),
                short_id(&target.image)
            ),
            _ => "the service's spec was changed by someone else".to_string(),
        };
        return WorkloadState::Failed { message };
    }
    let failures = view.failures_since_change();
    let cause = || {
        failures
            .first()
            .map(|t| view.describe(t))
            .unwrap_or_else(|| view.swarm_message())
    };
    match view.update {
        Some(Update::PAUSED) => {
            return WorkloadState::Failed {
                message: format!("the update is paused: {}", cause()),
            };
        }
        Some(Update::ROLLBACK_PAUSED) => {
            return WorkloadState::Failed {
                message: format!("the rollback is paused: {}", cause()),
            };
        }
        _ => {}
    }
    if failures.len() >= GIVE_UP_AFTER_FAILURES {
        return WorkloadState::Failed {
            message: format!(
                "tasks keep failing ({} attempts): {}",
                failures.len(),
                view.describe(failures[0])
            ),
        };
    }
    let current = view.current();
    let stale = view.stale();
    let in_progress = matches!(
        view.update,
        Some(Update::UPDATING | Update::ROLLBACK_STARTED)
    );
    if current >= view.want && stale.is_empty() && !in_progress {
        return WorkloadState::Running {
            image_id: image.to_string(),
            release: view.release.map(str::to_string),
            // A pinned spec image (`repo:tag@sha256:…`) is itself the digest evidence.
            digests: Vec::new(),
        };
    }
    let want = view.want;
    let mut message = match view.update {
        Some(Update::UPDATING) => format!("{current} of {want} tasks updated"),
        Some(Update::ROLLBACK_STARTED) => {
            format!("Swarm is rolling back: {current} of {want} tasks restored")
        }
        _ => format!("{current} of {want} tasks running"),
    };
    let mut details = Vec::new();
    if let Some(task) = view
        .waiting()
        .first()
        .or(failures.first())
        .or(view.latest_not_running().as_ref())
    {
        details.push(view.describe(task));
    }
    match stale.len() {
        0 => {}
        1 => details.push("1 old task still running".to_string()),
        n => details.push(format!("{n} old tasks still running")),
    }
    if !details.is_empty() {
        message = format!("{message} ({})", details.join("; "));
    } else if in_progress && current >= want {
        message.push_str("; Swarm watches them before it completes");
    }
    WorkloadState::Converging { message }
}

/// Facts for `hoist status`: how many tasks run what, where an update stands, and what
/// went wrong with the tasks that do not run.
pub fn notes(service: &Service, tasks: &[Task]) -> Vec<String> {
    let view = View::new(service, tasks);
    let Some(image) = view.image else {
        return vec![format!("service {} has no container image", view.name)];
    };
    let what = view
        .release
        .map_or_else(|| short_id(image).to_string(), str::to_string);
    let mut notes = vec![format!(
        "{}/{} tasks running {what}",
        view.current(),
        view.want
    )];
    let failures = view.failures_since_change();
    // Swarm's own words name a task id; the task's error says what happened.
    let rolled_back = view.rolled_back_cause();
    match view.update {
        Some(Update::UPDATING) => notes.push("Swarm is updating the service".into()),
        Some(Update::PAUSED) => notes.push(format!(
            "the update is paused: {}",
            failures
                .first()
                .map_or_else(|| view.swarm_message(), |t| view.describe(t))
        )),
        Some(Update::ROLLBACK_STARTED) => notes.push(format!(
            "Swarm is rolling back: {}",
            rolled_back.unwrap_or_else(|| view.swarm_message())
        )),
        Some(Update::ROLLBACK_PAUSED) => notes.push(format!(
            "the rollback is paused: {}",
            failures
                .first()
                .map_or_else(|| view.swarm_message(), |t| view.describe(t))
        )),
        Some(Update::ROLLBACK_COMPLETED) => notes.push(match rolled_back {
            Some(cause) => format!("the last update was rolled back ({cause})"),
            None => "the last update was rolled back".into(),
        }),
        _ => {}
    }
    let waiting = view.waiting();
    for task in &waiting {
        notes.push(view.describe(task));
    }
    if let Some(task) = failures.first().filter(|t| !waiting.contains(t)) {
        notes.push(match failures.len() {
            1 => format!("{} (once since the last change)", view.describe(task)),
            n => format!("{} ({n} times since the last change)", view.describe(task)),
        });
    }
    for task in view.stale() {
        let runs = task_release(task)
            .map(str::to_string)
            .or_else(|| task_image(task).map(|i| short_id(i).to_string()))
            .unwrap_or_default();
        notes.push(format!("{} still runs {runs}", view.task_name(task)));
    }
    notes
}

/// The tasks whose output explains why `target` failed, most recent first. While the
/// service still has that spec: its tasks that failed since it changed, else those that
/// run it (and do not answer). After Swarm rolled it back: the failed tasks of its image.
pub fn failing_tasks<'a>(
    service: &'a Service,
    tasks: &'a [Task],
    target: &Essentials,
) -> Vec<&'a Task> {
    let view = View::new(service, tasks);
    let mut found: Vec<&Task> = if service.spec.as_ref().map(essentials).as_ref() == Some(target) {
        let failed = view.failures_since_change();
        if !failed.is_empty() {
            return failed;
        }
        view.tasks
            .iter()
            .copied()
            .filter(|t| is_running(t) && view.is_current(t))
            .collect()
    } else {
        view.tasks
            .iter()
            .copied()
            .filter(|t| {
                !view.is_current(t)
                    && task_image(t) == Some(target.image.as_str())
                    && matches!(state(t), Some(TaskState::FAILED | TaskState::REJECTED))
            })
            .collect()
    };
    found.sort_by_key(|t| std::cmp::Reverse(created(t)));
    found
}

/// How long a task Swarm wants stopped may sit unscheduled before the slot counts as stuck.
pub const STUCK_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// Whether Swarm deadlocked a slot, as seen on Docker 20.10 with host-mode ports: a task
/// that should stop was never scheduled (`pending`: the port is held) and so never stops,
/// while the task that holds the port (`ready`) waits for it to stop before it starts.
/// It happens when a failed task's restart races a rollback; Swarm does not get out of it
/// by itself, re-sending the spec with `ForceUpdate` does. Says which tasks, as of `now`.
pub fn stuck(service: &Service, tasks: &[Task], now: jiff::Timestamp) -> Option<String> {
    let view = View::new(service, tasks);
    let blocker = view.tasks.iter().copied().find(|t| {
        t.desired_state == Some(TaskState::SHUTDOWN)
            && matches!(
                state(t),
                Some(TaskState::NEW | TaskState::ALLOCATED | TaskState::PENDING)
            )
            && t.status
                .as_ref()
                .and_then(|s| timestamp(&s.timestamp))
                .is_some_and(|at| now.duration_since(at) >= STUCK_AFTER)
    })?;
    let waiting = view.tasks.iter().copied().find(|t| {
        t.slot == blocker.slot
            && view.is_current(t)
            && matches!(t.desired_state, Some(TaskState::RUNNING | TaskState::READY))
            && state(t) == Some(TaskState::READY)
    })?;
    Some(format!(
        "{} waits for a task of image {} to stop, which Swarm never scheduled",
        view.task_name(waiting),
        task_image(blocker).map_or("?", short_id)
    ))
}

/// `task NAME.SLOT: STATE: ERROR`, as `docker service ps` would say it.
pub fn describe_task(service: &Service, task: &Task) -> String {
    View::new(service, std::slice::from_ref(task)).describe(task)
}

/// A service and its tasks, with the facts every judgement needs.
struct View<'a> {
    name: &'a str,
    image: Option<&'a str>,
    release: Option<&'a str>,
    /// The service's task template, as a task's spec would show it.
    template: Option<TaskSpec>,
    update: Option<Update>,
    update_message: Option<&'a str>,
    /// When the spec last changed: tasks created before belong to an older spec.
    since: Option<jiff::Timestamp>,
    want: usize,
    tasks: Vec<&'a Task>,
}

impl<'a> View<'a> {
    fn new(service: &'a Service, tasks: &'a [Task]) -> Self {
        let spec = service.spec.as_ref();
        let status = service.update_status.as_ref();
        let tasks: Vec<&Task> = tasks
            .iter()
            .filter(|t| service.id.is_none() || t.service_id == service.id)
            .collect();
        let want = spec
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .map(|r| usize::try_from(r).unwrap_or(0))
            // A global service runs one task per eligible node: as many as Swarm wants.
            .unwrap_or_else(|| {
                tasks
                    .iter()
                    .filter(|t| t.desired_state == Some(TaskState::RUNNING))
                    .count()
            });
        View {
            name: spec.and_then(|s| s.name.as_deref()).unwrap_or("?"),
            image: spec.and_then(image_of),
            release: spec.and_then(release_of),
            template: spec.and_then(|s| s.task_template.as_ref()).map(comparable),
            update: status.and_then(|s| s.state),
            update_message: status.and_then(|s| s.message.as_deref()),
            since: status
                .and_then(|s| timestamp(&s.started_at))
                .or_else(|| timestamp(&service.updated_at))
                .or_else(|| timestamp(&service.created_at)),
            want,
            tasks,
        }
    }

    /// Whether `task` was made from the service's current spec.
    fn is_current(&self, task: &Task) -> bool {
        self.template.is_some() && task.spec.as_ref().map(comparable) == self.template
    }

    /// Tasks that run the current spec and are meant to.
    fn current(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| {
                is_running(t) && t.desired_state == Some(TaskState::RUNNING) && self.is_current(t)
            })
            .count()
    }

    /// Tasks still running an older spec (not yet replaced, or not yet stopped).
    fn stale(&self) -> Vec<&'a Task> {
        self.tasks
            .iter()
            .copied()
            .filter(|t| is_running(t) && !self.is_current(t))
            .collect()
    }

    /// Tasks of the current spec that Swarm wants running but that do not run, most
    /// recent first.
    fn waiting(&self) -> Vec<&'a Task> {
        let mut waiting: Vec<&Task> = self
            .tasks
            .iter()
            .copied()
            .filter(|t| {
                let has_error = t.status.as_ref().and_then(|s| s.err.as_ref()).is_some();
                !is_running(t)
                    && self.is_current(t)
                    && matches!(
                        t.desired_state,
                        Some(TaskState::RUNNING | TaskState::READY)
                    )
                    // A restart waiting for its delay (`ready`, no error) says nothing; the
                    // failure before it does.
                    && (has_error || state(t) != Some(TaskState::READY))
            })
            .collect();
        waiting.sort_by_key(|t| std::cmp::Reverse(created(t)));
        waiting
    }

    /// The most recent task of the current spec that Swarm wants running and that does not
    /// run, whatever its state.
    fn latest_not_running(&self) -> Option<&'a Task> {
        self.tasks
            .iter()
            .copied()
            .filter(|t| {
                !is_running(t)
                    && self.is_current(t)
                    && matches!(t.desired_state, Some(TaskState::RUNNING | TaskState::READY))
            })
            .max_by_key(|t| created(t))
    }

    /// Tasks of the current spec that failed or were rejected since it last changed, most
    /// recent first.
    fn failures_since_change(&self) -> Vec<&'a Task> {
        let mut failed: Vec<&Task> = self
            .tasks
            .iter()
            .copied()
            .filter(|t| {
                self.is_current(t)
                    && matches!(state(t), Some(TaskState::FAILED | TaskState::REJECTED))
                    && match (self.since, created(t)) {
                        (Some(since), Some(created)) => created >= since,
                        _ => true,
                    }
            })
            .collect();
        failed.sort_by_key(|t| std::cmp::Reverse(created(t)));
        failed
    }

    /// Why Swarm rolled the service back: the latest failed task of another spec.
    fn rolled_back_cause(&self) -> Option<String> {
        self.tasks
            .iter()
            .copied()
            .filter(|t| {
                !self.is_current(t)
                    && matches!(state(t), Some(TaskState::FAILED | TaskState::REJECTED))
            })
            .max_by_key(|t| created(t))
            .map(|t| self.describe(t))
    }

    fn swarm_message(&self) -> String {
        self.update_message.unwrap_or("no reason given").to_string()
    }

    fn task_name(&self, task: &Task) -> String {
        match task.slot {
            Some(slot) => format!("task {}.{slot}", self.name),
            None => format!(
                "task {}",
                task.id.as_deref().map_or("?", |id| &id[..id.len().min(12)])
            ),
        }
    }

    /// `task NAME.1: rejected: No such image: sha256:…`
    fn describe(&self, task: &Task) -> String {
        let status = task.status.as_ref();
        let state = status
            .and_then(|s| s.state)
            .map_or("unknown".to_string(), |s| s.to_string());
        match status
            .and_then(|s| s.err.as_deref())
            .filter(|e| !e.is_empty())
        {
            Some(err) => format!("{}: {state}: {err}", self.task_name(task)),
            None => format!("{}: {state}", self.task_name(task)),
        }
    }
}

/// A task spec without what the engine adds to the service's copy only.
fn comparable(spec: &TaskSpec) -> TaskSpec {
    TaskSpec {
        runtime: None,
        networks: None,
        force_update: Some(spec.force_update.unwrap_or(0)),
        ..spec.clone()
    }
}

fn state(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

fn is_running(task: &Task) -> bool {
    state(task) == Some(TaskState::RUNNING)
}

fn task_image(task: &Task) -> Option<&str> {
    task.spec
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
}

fn task_release(task: &Task) -> Option<&str> {
    task.spec
        .as_ref()?
        .container_spec
        .as_ref()?
        .labels
        .as_ref()?
        .get(hoist_core::labels::RELEASE)
        .map(String::as_str)
}

fn created(task: &Task) -> Option<jiff::Timestamp> {
    timestamp(&task.created_at)
}

fn timestamp(value: &Option<String>) -> Option<jiff::Timestamp> {
    value.as_deref()?.parse().ok()
}
