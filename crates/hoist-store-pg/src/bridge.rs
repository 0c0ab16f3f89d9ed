//! Runs blocking `postgres` calls safely from any thread, including a tokio runtime's.
//!
//! The `postgres` client drives its own single-threaded tokio runtime, and starting a
//! runtime inside another one panics. So each call runs on a scoped thread of its own,
//! which has no runtime, while the caller's thread waits for it, exactly as a SQLite call
//! blocks its caller. A scoped thread can borrow the caller's arguments, so calls need no
//! copies; it costs a thread start (tens of microseconds) per call, small beside a round
//! trip to the database.
//!
//! One connection per store, behind a mutex: the store's calls are short and a deploy
//! makes few of them. A connection the server closed (restart, idle timeout) is
//! reopened on the next call.

use std::sync::Mutex;

use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) struct Connection {
    config: postgres::Config,
    /// Used as the URL's `sslmode` says (never with `disable`; see `tls`).
    tls: MakeRustlsConnect,
    client: Mutex<Option<Client>>,
}

impl Connection {
    /// Connects once now, so a wrong URL or an unreachable server fails at open.
    pub(crate) fn open(
        config: postgres::Config,
        tls: MakeRustlsConnect,
    ) -> Result<Connection, postgres::Error> {
        let conn = Connection {
            config,
            tls,
            client: Mutex::new(None),
        };
        conn.run(|_| Ok::<_, postgres::Error>(()))?;
        Ok(conn)
    }

    /// Runs `f` with the client on a thread outside any async runtime.
    pub(crate) fn run<R: Send, E: From<postgres::Error> + Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, E> + Send,
    ) -> Result<R, E> {
        // A panic while holding the lock leaves a client PostgreSQL has rolled back.
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let slot: &mut Option<Client> = &mut guard;
        let config = &self.config;
        let tls = &self.tls;
        let outcome = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let client = match slot.take() {
                        Some(client) if !client.is_closed() => slot.insert(client),
                        _ => slot.insert(config.connect(tls.clone())?),
                    };
                    f(client)
                })
                .join()
        });
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Closing a client blocks on its runtime too: not on the caller's thread, which
        // may be a runtime's (a store dropped inside `hoist serve`).
        if let Some(client) = client {
            std::thread::scope(|scope| {
                scope.spawn(move || drop(client));
            });
        }
    }
}
