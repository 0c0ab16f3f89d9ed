//! A request to stop, from outside the pipeline (SIGINT or SIGTERM in the CLI).
//!
//! An interrupted deploy must not leave tenants down or a lock held, so the pipeline does
//! not stop where it stands: it starts nothing new, lets each instance step in flight end
//! (a runtime's verification gives up at once, which makes the runtime undo its change:
//! Docker removes the candidate or restores the previous container, Swarm rolls back), then
//! records the deployment as interrupted and releases the lock. Whoever set the interrupt
//! (the CLI) decides the exit code and what a second signal does.

use std::sync::Arc;

use tokio::sync::watch;

/// The signal that asked hoist to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a CI runner cancelling the job, `kill`).
    Terminate,
}

impl StopSignal {
    /// The signal's number, for the conventional exit status 128 + number.
    pub fn number(self) -> u8 {
        match self {
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
    /// 130 for SIGINT, 143 for SIGTERM, as shells report a process a signal ended.
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }
}

/// Shared between the pipeline and whoever may ask it to stop. Cheap to clone; all clones
/// see the same request.
#[derive(Clone)]
pub struct Interrupt(Arc<watch::Sender<Option<StopSignal>>>);

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt(Arc::new(watch::channel(None).0))
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Interrupt").field(&self.signal()).finish()
    }
}

impl Interrupt {
    /// Asks the pipeline to stop. The first request is kept; later ones change nothing.
    pub fn request(&self, signal: StopSignal) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(signal);
            true
        });
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<StopSignal> {
        *self.0.borrow()
    }

    pub fn is_requested(&self) -> bool {
        self.signal().is_some()
    }

    /// Completes when a stop is requested (at once if it already was).
    pub async fn requested(&self) -> StopSignal {
        let mut receiver = self.0.subscribe();
        let signal = receiver
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|s| *s);
        match signal {
            Some(signal) => signal,
            // The sender lives in `self`, so it cannot be gone; never complete if it were.
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_is_seen_by_every_clone_and_the_first_signal_wins() {
        let interrupt = Interrupt::default();
        let other = interrupt.clone();
        assert!(!other.is_requested());
        let waiter = tokio::spawn({
            let other = other.clone();
            async move { other.requested().await }
        });
        interrupt.request(StopSignal::Terminate);
        interrupt.request(StopSignal::Interrupt);
        assert_eq!(waiter.await.unwrap(), StopSignal::Terminate);
        assert_eq!(other.signal(), Some(StopSignal::Terminate));
        // Already requested: completes at once.
        assert_eq!(other.requested().await, StopSignal::Terminate);
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
    }
}
