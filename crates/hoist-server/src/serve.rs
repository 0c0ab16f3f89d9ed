//! `hoist serve`: binds the address, recovers the queue, serves HTTP and runs the worker
//! until asked to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hoist_config::Settings;
use hoist_core::store::{AuditEntry, StoreError};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::http::dashboard::Dashboard;
use crate::http::{Shared, router};
use crate::live::Hub;
use crate::run::Runner;
use crate::store::{self, ServerStore};
use crate::webhook::{HookSecret, HookSecrets, SeenDeliveries};
use crate::worker::Worker;

/// How many delivery ids the in-memory replay window holds (the store keeps every
/// release job's id for good).
const SEEN_DELIVERIES: usize = 10_000;

/// What `hoist serve` is started with.
pub struct ServeOptions {
    /// The app's config (its `[server]` table included).
    pub config: Arc<Settings>,
    /// The state database: the config's, or `--state`.
    pub state: PathBuf,
    /// `--listen`, over `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// `--build-host`.
    pub build_host: Option<String>,
    /// How long a job waits for an environment's lock held by someone else.
    pub lock_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: [server] {key} names the environment variable {var}, which is not set; set it to the webhook's secret", path.display())]
    MissingSecret {
        path: PathBuf,
        key: &'static str,
        var: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A server bound to its address, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    worker: Worker,
    max_body: usize,
}

impl Server {
    /// Reads the webhook secrets, opens the store, marks jobs left running by a server
    /// that died as interrupted, and binds the address.
    pub async fn bind(options: ServeOptions) -> Result<Server, ServeError> {
        let config = &options.config;
        let settings = &config.server;
        let secrets = secrets(config)?;
        let store = store::open(&options.state)?;
        let app = config.app.name.clone();
        recover(&*store, &app)?;
        let addr = options.listen.unwrap_or(settings.listen);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let wake = Arc::new(Notify::new());
        let hub = Arc::new(Hub::default());
        let shared = Arc::new(Shared {
            store: store.clone(),
            app: app.clone(),
            environments: config.environments.keys().cloned().collect(),
            secrets,
            seen: SeenDeliveries::new(SEEN_DELIVERIES),
            wake: wake.clone(),
            hub: hub.clone(),
            dashboard: Dashboard::new(config),
        });
        let worker = Worker {
            store,
            app,
            runner: Runner {
                config: config.clone(),
                state: options.state.clone(),
                build_host: options.build_host.clone(),
                lock_wait: options.lock_wait,
                hub,
            },
            workers: settings.workers,
            wake,
            grace: settings.shutdown_grace,
        };
        Ok(Server {
            listener,
            shared,
            worker,
            max_body: settings.max_body,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; then stops taking requests and jobs, and waits
    /// for the running jobs (see [`Worker`]).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(self.worker.run(stop_rx));
        let hub = self.shared.hub.clone();
        let app = router(self.shared, self.max_body);
        tracing::info!(address = %self.listener.local_addr().map_err(ServeError::Serve)?, "hoist serve listening");
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("stopping: no new requests or jobs");
                let _ = stop_tx.send(true);
                // Open event streams end, so the server is not held by them.
                hub.stop();
            })
            .await
            .map_err(ServeError::Serve);
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "the worker failed");
        }
        tracing::info!("hoist serve stopped");
        served
    }
}

/// A job left running belonged to a server that is gone: it is marked interrupted (the
/// environment's lock and any half-done instance are recovered by its next deploy, as
/// after a crashed CLI deploy).
fn recover(store: &dyn ServerStore, app: &str) -> Result<(), StoreError> {
    for job in store.interrupt_running(app)? {
        tracing::warn!(
            job = job.id,
            kind = job.request.kind(),
            "job was running when the server stopped: marked interrupted"
        );
        store.append_audit(&AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            actor: job.actor.clone(),
            app: app.to_string(),
            environment: job.environment.clone(),
            action: "job.interrupted".into(),
            version: None,
            detail: format!(
                "job {} ({}, {}) was running when the server stopped",
                job.id,
                job.request.kind(),
                job.source
            ),
        })?;
    }
    Ok(())
}

fn secrets(config: &Settings) -> Result<HookSecrets, ServeError> {
    let server = &config.server;
    let read =
        |key: &'static str, var: &Option<String>| -> Result<Option<HookSecret>, ServeError> {
            let Some(var) = var else { return Ok(None) };
            match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(Some(HookSecret::new(value))),
                _ => Err(ServeError::MissingSecret {
                    path: config.path.clone(),
                    key,
                    var: var.clone(),
                }),
            }
        };
    Ok(HookSecrets {
        github: read("github_secret_env", &server.github_secret_env)?,
        gitlab_token: read("gitlab_token_env", &server.gitlab_token_env)?,
        gitlab_signing: read("gitlab_signing_token_env", &server.gitlab_signing_token_env)?,
    })
}
