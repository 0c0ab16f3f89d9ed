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
        }),
    };
    let message = error.to_string();
    assert!(
        message.contains("`hoist unlock staging --force`"),
        "{message}"
    );
}
