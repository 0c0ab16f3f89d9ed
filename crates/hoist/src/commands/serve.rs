//! `hoist serve` and `hoist token`: the server edge and its tokens.

use std::net::SocketAddr;
use std::time::Duration;

use hoist_server::tokens::{self, TokenError};
use hoist_server::{ServeOptions, Server};

use super::print_json;
use crate::cli::{Global, TokenAction};
use crate::context::{Setup, load_config};
use crate::exit;

pub async fn serve(
    global: &Global,
    listen: Option<SocketAddr>,
    lock_wait: u64,
) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let options = ServeOptions {
        state: global
            .state
            .clone()
            .unwrap_or_else(|| config.state_path.clone()),
        config,
        listen,
        build_host: global.build_host.clone(),
        lock_wait: Duration::from_secs(lock_wait),
    };
    let server = Server::bind(options).await.map_err(serve_failed)?;
    if let Ok(addr) = server.local_addr() {
        eprintln!("hoist serve: listening on http://{addr}");
    }
    server.run(stop_signal()).await.map_err(serve_failed)?;
    Ok(exit::OK)
}

fn serve_failed(e: hoist_server::ServeError) -> Setup {
    let code = match e {
        hoist_server::ServeError::MissingSecret { .. } => exit::BAD_INPUT,
        _ => exit::FAILED,
    };
    Setup::new(code, format!("error: {e}"))
}

/// Completes on the first SIGTERM or SIGINT: the server then stops taking requests and
/// jobs and lets running jobs finish (see `[server] shutdown_grace`).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot watch SIGTERM and SIGINT; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "stop requested"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "stop requested"),
    }
}

pub fn token(global: &Global, action: TokenAction) -> Result<u8, Setup> {
    let config = load_config(global)?;
    let state = global
        .state
        .clone()
        .unwrap_or_else(|| config.state_path.clone());
    let store = hoist_server::store::open(&state)
        .map_err(|e| Setup::new(exit::FAILED, format!("error: {e}")))?;
    match action {
        TokenAction::Create {
            name,
            scopes,
            owner,
            json,
        } => {
            let owner = owner
                .unwrap_or_else(|| hoist_core::pipeline::resolve_actor(global.actor.as_deref()));
            let (record, token) =
                tokens::create(&*store, &name, &owner, &scopes).map_err(token_failed)?;
            audit(
                &*store,
                global,
                &config.app.name,
                "token.created",
                format!(
                    "token `{}` for {} with scopes {}",
                    record.name,
                    record.owner,
                    record.scopes.join(", ")
                ),
            );
            if json.json {
                print_json(&serde_json::json!({ "token": token, "record": record }))?;
            } else {
                println!("{token}");
                eprintln!(
                    "token `{}` for {} with scopes {}: shown this once, keep it in your CI's secrets",
                    record.name,
                    record.owner,
                    record.scopes.join(", ")
                );
            }
        }
        TokenAction::List { json } => {
            let list = store
                .tokens()
                .map_err(|e| Setup::new(exit::FAILED, format!("error: {e}")))?;
            if json.json {
                print_json(&list)?;
            } else if list.is_empty() {
                println!("no tokens (create one with `hoist token create`)");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.owner.clone(),
                            t.scopes.join(","),
                            t.created_at
                                .chars()
                                .take(19)
                                .collect::<String>()
                                .replace('T', " "),
                            t.revoked_at
                                .as_ref()
                                .map_or("live", |_| "revoked")
                                .to_string(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    crate::table::render(&["NAME", "OWNER", "SCOPES", "CREATED", "STATE"], &rows)
                );
            }
        }
        TokenAction::Revoke { name } => {
            tokens::revoke(&*store, &name).map_err(token_failed)?;
            audit(
                &*store,
                global,
                &config.app.name,
                "token.revoked",
                format!("token `{name}`"),
            );
            println!("token `{name}` revoked");
        }
    }
    Ok(exit::OK)
}

fn token_failed(e: TokenError) -> Setup {
    let code = match e {
        TokenError::Store(_) | TokenError::Random(_) => exit::FAILED,
        _ => exit::BAD_INPUT,
    };
    Setup::new(code, format!("error: {e}"))
}

/// Token changes go to the audit log (never the token itself).
fn audit(
    store: &dyn hoist_server::store::ServerStore,
    global: &Global,
    app: &str,
    action: &str,
    detail: String,
) {
    let entry = hoist_core::store::AuditEntry {
        at: jiff::Timestamp::now().to_string(),
        actor: hoist_core::pipeline::resolve_actor(global.actor.as_deref()),
        app: app.to_string(),
        environment: None,
        action: action.to_string(),
        version: None,
        detail,
    };
    if let Err(e) = store.append_audit(&entry) {
        eprintln!("warning: cannot write the audit log: {e}");
    }
}
