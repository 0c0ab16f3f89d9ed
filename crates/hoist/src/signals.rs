//! SIGINT and SIGTERM during a command that changes an environment.
//!
//! The first signal asks the pipeline to stop cleanly (see [`hoist_core::interrupt`]): no
//! new instance starts, the step in flight is finished or undone, the lock is released and
//! the deployment recorded as interrupted; hoist then exits 130 (SIGINT) or 143 (SIGTERM).
//! A second signal exits at once, as an impatient operator expects; what that leaves
//! behind, the next run recovers (and `hoist status` points at it).

use hoist_core::{Interrupt, StopSignal};
use tokio::signal::unix::{SignalKind, signal};

/// Listens for SIGINT and SIGTERM for the rest of the process and turns them into requests
/// on `interrupt`. Commands that change nothing keep the default (die at once).
pub fn watch(interrupt: Interrupt) {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for signals; Ctrl-C will stop hoist at once");
        return;
    };
    tokio::spawn(async move {
        let mut received = 0;
        loop {
            let signal = tokio::select! {
                _ = int.recv() => StopSignal::Interrupt,
                _ = term.recv() => StopSignal::Terminate,
            };
            received += 1;
            if received > 1 {
                eprintln!(
                    "hoist: {} again: exiting at once; the next deploy or rollback recovers what is left (see `hoist status`)",
                    signal.name()
                );
                std::process::exit(i32::from(signal.exit_code()));
            }
            eprintln!(
                "hoist: {}: stopping: nothing new starts, the step in flight is finished or undone, \
                 then the lock is released (send it again to exit at once)",
                signal.name()
            );
            interrupt.request(signal);
        }
    });
}

/// The exit code of a command that a signal stopped, else `code`.
pub fn exit_code(interrupt: &Interrupt, code: u8) -> u8 {
    interrupt.signal().map_or(code, StopSignal::exit_code)
}
