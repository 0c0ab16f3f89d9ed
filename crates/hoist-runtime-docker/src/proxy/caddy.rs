//! The few calls of Caddy's admin API the proxy switch needs
//! (<https://caddyserver.com/docs/api>): one HTTP server per instance, listening on the
//! instance's port and reverse-proxying to one upstream, the container that serves it.
//!
//! Each instance's server is one object under `/config/apps/http/servers/`, set with one
//! `POST` (Caddy's "set or replace"), so instances switched at the same time never
//! overwrite each other's routes. Caddy keeps the listener socket across a change, so no
//! connection is refused, and requests already running on the old config go on to the old
//! upstream until they end.
//!
//! The drain needs one more thing. Caddy counts in-flight requests per upstream address
//! (`/reverse_proxy/upstreams`), but forgets an address as soon as no config names it —
//! which, on Caddy 2.6, is right after the change, while old requests still run. So the
//! switch first keeps the old upstream in a route that never matches (`"expression":
//! "false"`): the count stays, shared with the old requests, until it reaches 0; then a
//! second change drops that route.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use hoist_core::backend::BackendError;
use serde_json::{Value, json};

/// How often a request the admin API did not take is sent again, and how long apart.
const ATTEMPTS: u32 = 20;
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// A Caddy admin API.
#[derive(Clone)]
pub(crate) struct Caddy {
    admin: SocketAddr,
    http: reqwest::Client,
}

/// Where an instance's server listens: `:PORT` on every address, or `ADDRESS:PORT`.
pub(crate) fn listen_address(bind: IpAddr, port: u16) -> String {
    if bind.is_unspecified() {
        format!(":{port}")
    } else {
        SocketAddr::new(bind, port).to_string()
    }
}

/// The server's name in Caddy's config: the instance's container name, prefixed so a
/// user's own servers in the same Caddy are never touched.
pub(crate) fn server_id(container: &str) -> String {
    format!("hoist-{container}")
}

fn proxy_to(upstream: &str) -> Value {
    json!([{ "handler": "reverse_proxy", "upstreams": [{ "dial": upstream }] }])
}

/// An instance's server: `listen`, every request to `upstream` (`HOST:PORT`); with
/// `draining`, a route that never matches keeps Caddy counting that upstream's requests.
pub(crate) fn server(listen: &str, upstream: &str, draining: Option<&str>) -> Value {
    let mut routes = Vec::new();
    if let Some(old) = draining {
        routes.push(json!({ "match": [{ "expression": "false" }], "handle": proxy_to(old) }));
    }
    routes.push(json!({ "handle": proxy_to(upstream) }));
    json!({
        "listen": [listen],
        // Plain HTTP on the instance's port, as the port switch serves it; TLS is the
        // front proxy's business.
        "automatic_https": { "disable": true },
        "routes": routes
    })
}

/// The upstream a server written by [`server`] sends requests to (its last route's).
pub(crate) fn upstream_of(server: &Value) -> Option<String> {
    server
        .get("routes")?
        .as_array()?
        .last()?
        .pointer("/handle/0/upstreams/0/dial")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Requests in flight to `upstream` in a `/reverse_proxy/upstreams` answer; `None` when
/// Caddy no longer knows the upstream (no config uses it any more: drained).
pub(crate) fn in_flight(upstreams: &Value, upstream: &str) -> Option<u64> {
    upstreams.as_array()?.iter().find_map(|u| {
        (u.get("address").and_then(Value::as_str) == Some(upstream))
            .then(|| u.get("num_requests").and_then(Value::as_u64).unwrap_or(0))
    })
}

impl Caddy {
    pub(crate) fn new(admin: SocketAddr) -> Caddy {
        Caddy {
            admin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn admin(&self) -> SocketAddr {
        self.admin
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    fn error(&self, what: &str, detail: impl std::fmt::Display) -> BackendError {
        BackendError::new(format!(
            "the proxy's admin API at {} {what}: {detail}",
            self.admin
        ))
    }

    /// Whether anything answers on the admin address.
    pub(crate) async fn answers(&self) -> bool {
        self.http.get(self.url("/config/")).send().await.is_ok()
    }

    /// Sends a request, again when it could not be sent: Caddy 2.6 restarts its admin
    /// listener after every config change, so a request at that moment finds it closed.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, BackendError> {
        let mut attempt = 0;
        loop {
            match request().send().await {
                Ok(response) => return Ok(response),
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_request()) => {
                    attempt += 1;
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                Err(e) => return Err(self.error("did not answer", e)),
            }
        }
    }

    /// The config at `path` (`null` when absent).
    pub(crate) async fn get(&self, path: &str) -> Result<Value, BackendError> {
        let response = self.send(|| self.http.get(self.url(path))).await?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| self.error("broke off its answer", e))?;
        if !status.is_success() {
            return Err(self.error(&format!("refused GET {path} ({status})"), body.trim()));
        }
        serde_json::from_str(&body).map_err(|e| self.error("answered no JSON", e))
    }

    /// Sets (or replaces) the object at `path`.
    pub(crate) async fn set(&self, path: &str, value: &Value) -> Result<(), BackendError> {
        // One change at a time from this process: each one reloads Caddy's whole config.
        static CHANGES: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
        let _one = CHANGES
            .get_or_init(|| tokio::sync::Mutex::new(()))
            .lock()
            .await;
        let response = self
            .send(|| self.http.post(self.url(path)).json(value))
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.error(
            &format!("refused the change of {path} ({status})"),
            body.trim(),
        ))
    }

    /// Removes the object at `path`; one already absent is no error.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), BackendError> {
        if self.get(path).await.map_or(true, |value| value.is_null()) {
            return Ok(());
        }
        let response = self.send(|| self.http.delete(self.url(path))).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.error(&format!("refused DELETE {path} ({status})"), body.trim()))
    }

    /// Makes sure `/config/apps/http/servers` exists (a user's Caddy may have no HTTP app
    /// yet), creating each missing level: Caddy sets a key only inside an existing object.
    pub(crate) async fn ensure_servers(&self) -> Result<(), BackendError> {
        // The usual case, every deploy after the first: one read instead of four. (A
        // missing parent may be refused rather than read as null: then walk the levels.)
        if self
            .get("/config/apps/http/servers")
            .await
            .is_ok_and(|servers| !servers.is_null())
        {
            return Ok(());
        }
        let levels = [
            ("/config/", json!({ "apps": { "http": { "servers": {} } } })),
            ("/config/apps", json!({ "http": { "servers": {} } })),
            ("/config/apps/http", json!({ "servers": {} })),
            ("/config/apps/http/servers", json!({})),
        ];
        for (path, empty) in levels {
            if self.get(path).await?.is_null() {
                return self.set(path, &empty).await;
            }
        }
        Ok(())
    }

    /// The instance server's current upstream, if it has one.
    pub(crate) async fn route(&self, id: &str) -> Result<Option<String>, BackendError> {
        let server = self.get(&format!("/config/apps/http/servers/{id}")).await?;
        Ok(upstream_of(&server))
    }

    /// Points the instance's server (listening on `listen`) at `upstream`, keeping the
    /// count of `draining`'s requests.
    pub(crate) async fn set_route(
        &self,
        id: &str,
        listen: &str,
        upstream: &str,
        draining: Option<&str>,
    ) -> Result<(), BackendError> {
        self.set(
            &format!("/config/apps/http/servers/{id}"),
            &server(listen, upstream, draining),
        )
        .await
    }

    /// Removes the instance's server: Caddy stops listening on its port.
    pub(crate) async fn remove_server(&self, id: &str) -> Result<(), BackendError> {
        self.delete(&format!("/config/apps/http/servers/{id}"))
            .await
    }

    /// Requests in flight to `upstream`; `None` when Caddy no longer tracks it.
    pub(crate) async fn in_flight(&self, upstream: &str) -> Result<Option<u64>, BackendError> {
        let upstreams = self.get("/reverse_proxy/upstreams").await?;
        Ok(in_flight(&upstreams, upstream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_listens_on_the_instance_port_and_names_its_upstream() {
        let s = server(":20401", "127.0.0.1:32768", None);
        assert_eq!(s["listen"], json!([":20401"]));
        assert_eq!(upstream_of(&s).as_deref(), Some("127.0.0.1:32768"));
        assert_eq!(upstream_of(&Value::Null), None);
    }

    #[test]
    fn a_draining_upstream_is_kept_in_a_route_that_never_matches() {
        let s = server(":20401", "127.0.0.1:2", Some("127.0.0.1:1"));
        assert_eq!(s["routes"][0]["match"], json!([{ "expression": "false" }]));
        assert_eq!(
            s["routes"][0]["handle"][0]["upstreams"][0]["dial"],
            "127.0.0.1:1"
        );
        assert_eq!(upstream_of(&s).as_deref(), Some("127.0.0.1:2"));
    }

    #[test]
    fn listen_on_every_address_or_the_bound_one() {
        assert_eq!(listen_address("0.0.0.0".parse().unwrap(), 80), ":80");
        assert_eq!(
            listen_address("127.0.0.1".parse().unwrap(), 8080),
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn in_flight_counts_the_upstream_or_says_it_is_gone() {
        // As Caddy 2.6 answers GET /reverse_proxy/upstreams.
        let answer = json!([
            { "address": "127.0.0.1:32768", "num_requests": 2, "fails": 0 },
            { "address": "127.0.0.1:32769", "num_requests": 0, "fails": 0 }
        ]);
        assert_eq!(in_flight(&answer, "127.0.0.1:32768"), Some(2));
        assert_eq!(in_flight(&answer, "127.0.0.1:32769"), Some(0));
        assert_eq!(in_flight(&answer, "127.0.0.1:1"), None);
        assert_eq!(in_flight(&Value::Null, "127.0.0.1:1"), None);
    }
}
