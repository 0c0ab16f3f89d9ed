//! Every state of a service, from real engine answers captured on a single-node swarm
//! (Docker 20.10, API 1.41; tests/fixtures/README.md says how).

use bollard::models::{Service, ServiceSpec, Task};
use hoist_core::runtime::WorkloadState;
use hoist_runtime_swarm::spec::{Essentials, essentials};
use hoist_runtime_swarm::verdict::{failing_tasks, notes, stuck, workload_state};

const V1: &str = "sha256:2f3b41674713193f3c51ec041c79fd2aa0187be4ce83e010ac617aaafa3f3d48";
const V2: &str = "sha256:871c4ff5d322ccee8153fe1e953b31de970f7e0041b2a26387e2f9aea7d2f8a7";
const V3: &str = "sha256:df0cc0dc703107145ee792da2ece9aac6a55d51d3a87f5739dffb80ab1143dcc";

/// `GET /services/NAME` and `GET /tasks?filters={"service":["NAME"]}` at one moment.
struct Fixture {
    service: Service,
    /// bollard's `Service` has no `PreviousSpec`; the fixture has it.
    previous: Option<ServiceSpec>,
    tasks: Vec<Task>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        Fixture {
            service: serde_json::from_value(json["service"].clone()).unwrap(),
            previous: serde_json::from_value(json["service"]["PreviousSpec"].clone()).ok(),
            tasks: serde_json::from_value(json["tasks"].clone()).unwrap(),
        }
    }
    /// The spec the service has now.
    fn current(&self) -> Essentials {
        essentials(self.service.spec.as_ref().unwrap())
    }
    /// The spec Swarm would roll back to: in the update fixtures, what hoist waited for
    /// before the rollback; in the rollback fixtures, the spec that was rolled away from.
    fn previous(&self) -> Essentials {
        essentials(
            self.previous
                .as_ref()
                .expect("the fixture has a PreviousSpec"),
        )
    }
    /// The state as `hoist status` sees it, and as a rollout waiting for the current spec
    /// does: they agree unless the spec moved.
    fn state(&self) -> WorkloadState {
        let seen = workload_state(&self.service, &self.tasks, None);
        assert_eq!(
            workload_state(&self.service, &self.tasks, Some(&self.current())),
            seen
        );
        seen
    }
    fn waiting_for(&self, target: &Essentials) -> WorkloadState {
        workload_state(&self.service, &self.tasks, Some(target))
    }
    fn notes(&self) -> Vec<String> {
        notes(&self.service, &self.tasks)
    }
}

fn running(image: &str, release: &str) -> WorkloadState {
    WorkloadState::Running {
        image_id: image.into(),
        release: Some(release.into()),
        digests: Vec::new(),
    }
}

fn converging(message: &str) -> WorkloadState {
    WorkloadState::Converging {
        message: message.into(),
    }
}

fn failed(message: &str) -> WorkloadState {
    WorkloadState::Failed {
        message: message.into(),
    }
}

const PORT_IN_USE: &str = "pending: no suitable node (host-mode port already in use on 1 node)";

#[test]
fn a_created_service_whose_task_runs_is_running() {
    let f = Fixture::load("created_running");
    assert_eq!(f.state(), running(V1, "v1"));
    assert_eq!(f.notes(), ["1/1 tasks running v1"]);
}

#[test]
fn every_replica_must_run() {
    let f = Fixture::load("replicated_running");
    assert_eq!(f.state(), running(V1, "v1"));
    assert_eq!(f.notes(), ["2/2 tasks running v1"]);
}

#[test]
fn an_update_whose_new_task_waits_for_the_port_is_converging() {
    // Stop-first: for a moment the new task is pending while the old one stops.
    let f = Fixture::load("update_accepted");
    assert_eq!(
        f.state(),
        converging(&format!(
            "0 of 1 tasks updated (task hoist-swarm-test-fx1.1: {PORT_IN_USE}; 1 old task still running)"
        ))
    );
    assert_eq!(
        f.notes(),
        [
            "0/1 tasks running v2".to_string(),
            "Swarm is updating the service".to_string(),
            format!("task hoist-swarm-test-fx1.1: {PORT_IN_USE}"),
            "task hoist-swarm-test-fx1.1 still runs v1".to_string(),
        ]
    );
}

#[test]
fn an_update_is_converging_until_swarm_has_watched_the_new_tasks() {
    let f = Fixture::load("updating_monitoring");
    assert_eq!(
        f.state(),
        converging("1 of 1 tasks updated; Swarm watches them before it completes")
    );
    assert_eq!(
        f.notes(),
        ["1/1 tasks running v2", "Swarm is updating the service"]
    );
}

#[test]
fn half_an_update_says_how_many_tasks_are_new() {
    let f = Fixture::load("updating_1_of_2");
    assert_eq!(
        f.state(),
        converging(
            "1 of 2 tasks updated (task hoist-swarm-test-fx3.1: starting; 2 old tasks still running)"
        )
    );
    assert_eq!(
        f.notes(),
        [
            "1/2 tasks running v2",
            "Swarm is updating the service",
            "task hoist-swarm-test-fx3.1: starting",
            "task hoist-swarm-test-fx3.2 still runs v1",
            "task hoist-swarm-test-fx3.1 still runs v1",
        ]
    );
}

#[test]
fn start_first_with_host_mode_on_one_node_says_why_it_waits() {
    let f = Fixture::load("start_first_host_port_in_use");
    assert_eq!(
        f.state(),
        converging(&format!(
            "0 of 1 tasks updated (task hoist-swarm-test-fx5.1: {PORT_IN_USE}; 1 old task still running)"
        ))
    );
}

#[test]
fn a_completed_update_is_running_the_new_spec() {
    let f = Fixture::load("update_completed");
    assert_eq!(f.state(), running(V2, "v2"));
    // A rollout still waiting for the spec before it sees that it was replaced.
    assert_eq!(
        f.waiting_for(&f.previous()),
        failed("the service was changed to image sha256:871c4ff5d322, not sha256:2f3b41674713")
    );
}

#[test]
fn a_task_that_runs_but_does_not_answer_is_running_for_swarm() {
    // Swarm completed the update: health is for the prober to judge.
    let f = Fixture::load("update_completed_unhealthy");
    assert_eq!(f.state(), running(V3, "v3"));
}

#[test]
fn a_rollback_hoist_asked_for_converges_to_the_previous_spec() {
    let f = Fixture::load("rollback_started");
    assert_eq!(
        f.state(),
        converging(&format!(
            "Swarm is rolling back: 0 of 1 tasks restored (task hoist-swarm-test-fx1.1: {PORT_IN_USE}; 1 old task still running)"
        ))
    );
    // The rollout that waited for v3 has failed for good.
    assert_eq!(
        f.waiting_for(&f.previous()),
        failed("the service was rolled back (manually requested rollback)")
    );
    assert_eq!(f.previous().image, V3);
}

#[test]
fn a_completed_rollback_runs_the_previous_spec() {
    let f = Fixture::load("rollback_completed");
    assert_eq!(f.state(), running(V2, "v2"));
    assert_eq!(
        f.notes(),
        ["1/1 tasks running v2", "the last update was rolled back"]
    );
}

#[test]
fn swarms_own_rollback_fails_the_rollout_with_the_tasks_error() {
    // A task of the update exited within the monitor period: Swarm rolls back by itself,
    // and (unlike a requested rollback) forgets the spec it rolled away from.
    let f = Fixture::load("auto_rollback_started");
    assert!(f.previous.is_none());
    let crashing = {
        let mut e = f.current();
        e.image = "sha256:c40894b12adbb7b8068eaecc67ef338d8d81ccddc88e412aaca68cdf7f587d38".into();
        e
    };
    assert_eq!(
        f.waiting_for(&crashing),
        failed(
            "Swarm rolled the update back: task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3)"
        )
    );
    assert_eq!(
        f.state(),
        converging(
            "Swarm is rolling back: 1 of 1 tasks restored; Swarm watches them before it completes"
        )
    );
    assert_eq!(
        f.notes(),
        [
            "1/1 tasks running v2",
            "Swarm is rolling back: task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3)",
        ]
    );
    let failing = failing_tasks(&f.service, &f.tasks, &crashing);
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].id.as_deref(), Some("uc96wrdvzy4lgarjkvpjrt907"));
}

#[test]
fn after_swarms_own_rollback_the_old_spec_runs_and_status_says_why() {
    let f = Fixture::load("auto_rollback_completed");
    assert_eq!(f.state(), running(V2, "v2"));
    assert_eq!(
        f.notes(),
        [
            "1/1 tasks running v2",
            "the last update was rolled back (task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3))",
        ]
    );
}

#[test]
fn a_paused_update_has_failed() {
    let f = Fixture::load("update_paused");
    assert_eq!(
        f.state(),
        failed(
            "the update is paused: task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3)"
        )
    );
    assert_eq!(
        f.notes(),
        [
            "0/1 tasks running crash",
            "the update is paused: task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3)",
            "task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3) (once since the last change)",
        ]
    );
    let failing = failing_tasks(&f.service, &f.tasks, &f.current());
    assert_eq!(failing.len(), 1);
}

#[test]
fn a_paused_rollback_has_failed() {
    let f = Fixture::load("rollback_paused");
    assert_eq!(
        f.state(),
        failed(
            "the rollback is paused: task hoist-swarm-test-fx1.1: failed: task: non-zero exit (3)"
        )
    );
}

#[test]
fn tasks_that_keep_failing_fail_without_an_update() {
    // A first deploy has no update to pause or roll back: Swarm restarts the task forever.
    let f = Fixture::load("first_deploy_crash_loop");
    assert_eq!(
        f.state(),
        failed(
            "tasks keep failing (3 attempts): task hoist-swarm-test-fx2.1: failed: task: non-zero exit (3)"
        )
    );
    assert_eq!(
        f.notes(),
        [
            "0/1 tasks running crash",
            "task hoist-swarm-test-fx2.1: failed: task: non-zero exit (3) (3 times since the last change)",
        ]
    );
    assert_eq!(failing_tasks(&f.service, &f.tasks, &f.current()).len(), 3);
}

#[test]
fn a_missing_image_is_converging_with_the_engines_error_until_it_repeats() {
    let f = Fixture::load("rejected_no_such_image");
    let error =
        "No such image: sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(
        f.state(),
        converging(&format!(
            "0 of 1 tasks running (task hoist-swarm-test-fx4.1: rejected: {error})"
        ))
    );
    assert_eq!(
        f.notes(),
        [
            "0/1 tasks running v1".to_string(),
            format!("task hoist-swarm-test-fx4.1: rejected: {error}"),
        ]
    );
}

#[test]
fn a_rollback_deadlocked_behind_a_task_that_was_never_scheduled_is_stuck() {
    // The rejected task's restart was still pending on the port when Swarm rolled back;
    // the restored task holds the port and waits for that one to stop.
    let f = Fixture::load("rollback_stuck_on_pending_task");
    assert_eq!(
        f.state(),
        converging(
            "Swarm is rolling back: 0 of 1 tasks restored (task hoist-swarm-test-rep.1: ready)"
        )
    );
    let captured: jiff::Timestamp = "2026-12-01T23:43:55Z".parse().unwrap();
    assert_eq!(stuck(&f.service, &f.tasks, captured), None, "not yet");
    let later = captured + jiff::SignedDuration::from_secs(10);
    assert_eq!(
        stuck(&f.service, &f.tasks, later).as_deref(),
        Some(
            "task hoist-swarm-test-rep.1 waits for a task of image sha256:000000000000 to stop, which Swarm never scheduled"
        )
    );
    // An ordinary stop-first update is not stuck, however long ago it was captured.
    let f = Fixture::load("update_accepted");
    assert_eq!(stuck(&f.service, &f.tasks, later), None);
}
