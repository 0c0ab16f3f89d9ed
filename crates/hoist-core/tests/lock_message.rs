//! The refusal of a locked environment names the command that removes a lock.

use hoist_core::pipeline::PipelineError;
use hoist_core::store::LockHolder;

#[test]
fn a_locked_environment_suggests_the_unlock_command_that_works() {
    let error = PipelineError::Locked {
        environment: "staging".into(),
        holder: Box::new(LockHolder {
            actor: "alice".into(),
            hostname: "ci-7".into(),
            pid: 4242,
            process_start: 1,
            acquired_at: "2026-11-23T10:00:00Z".into(),
            deployment: None,
            state: None,
        }),
        place: None,
    };
    let message = error.to_string();
    assert!(
        message.contains("`hoist unlock staging --force`"),
        "{message}"
    );
}

#[test]
fn a_lock_held_on_a_target_says_where() {
    let error = PipelineError::Locked {
        environment: "staging".into(),
        holder: Box::new(LockHolder {
            actor: "bob".into(),
            hostname: "laptop".into(),
            pid: 77,
            process_start: 1,
            acquired_at: "2026-11-23T10:00:00Z".into(),
            deployment: None,
            state: Some("/home/bob/shop/.hoist/state.db".into()),
        }),
        place: Some("the engine unix:///var/run/docker.sock".into()),
    };
    let message = error.to_string();
    assert!(
        message.starts_with(
            "staging is locked on the engine unix:///var/run/docker.sock by bob (pid 77 on laptop"
        ),
        "{message}"
    );
    assert!(
        message.contains("state /home/bob/shop/.hoist/state.db"),
        "{message}"
    );
}
