//! HTTP to one registry: the token/basic dance, retries with backoff, and the requests
//! of the distribution spec that hoist uses.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use tokio::sync::Mutex;

use crate::auth::{Challenge, TokenAnswer, parse_challenge};
use crate::manifest::MANIFEST_ACCEPT;
use crate::{Credentials, RegistryError};

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub credentials: Credentials,
    /// PEM certificates trusted besides the system's roots (a private registry's CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Plain HTTP. Only for a registry the user marked `insecure = true`.
    pub insecure: bool,
    /// Attempts after the first for a request that failed to connect or got a 5xx/429.
    pub retries: u32,
    /// The first wait between attempts; it doubles each time.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: Credentials::anonymous(),
            ca_pem: None,
            insecure: false,
            retries: 4,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A request body that can be sent again (after a `401` or on a retry).
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Bytes(bytes::Bytes),
    /// Streamed from the file, never held in memory whole.
    File(PathBuf),
}

impl Body {
    async fn to_reqwest(&self) -> Result<reqwest::Body, String> {
        Ok(match self {
            Body::Empty => reqwest::Body::from(Vec::new()),
            Body::Bytes(bytes) => reqwest::Body::from(bytes.clone()),
            Body::File(path) => reqwest::Body::from(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            ),
        })
    }
}

/// How the registry wants to be authenticated, learnt from its first `401`.
#[derive(Debug, Clone, Default)]
enum Scheme {
    #[default]
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A client for one registry host.
pub struct Client {
    http: reqwest::Client,
    /// `https://host[:port]` (or `http://` when insecure).
    base: String,
    registry: String,
    options: ClientOptions,
    scheme: Mutex<Scheme>,
    /// Bearer tokens by the scopes they were asked for.
    tokens: Mutex<HashMap<String, Token>>,
}

/// A bearer token and when to stop sending it (shortly before it expires).
#[derive(Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
}

impl Token {
    fn fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Client {
    /// A client for `registry` (`host[:port]`).
    pub fn new(registry: &str, options: ClientOptions) -> Result<Client, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                RegistryError::Invalid(format!("the CA file for {registry} is not PEM: {e}"))
            })?;
            if certs.is_empty() {
                return Err(RegistryError::Invalid(format!(
                    "the CA file for {registry} holds no certificate"
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if !options.insecure {
            builder = builder.https_only(true);
        }
        let http = builder.build().map_err(|e| RegistryError::Transport {
            registry: registry.to_string(),
            message: e.to_string(),
        })?;
        let scheme = if options.insecure { "http" } else { "https" };
        Ok(Client {
            http,
            base: format!("{scheme}://{registry}"),
            registry: registry.to_string(),
            options,
            scheme: Mutex::new(Scheme::Unknown),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn credentials(&self) -> &Credentials {
        &self.options.credentials
    }

    /// `url` as an absolute URL: registries answer uploads with relative `Location`s.
    pub(crate) fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// Sends a request, authenticating as the registry asks and retrying connection
    /// errors and 5xx/429 with backoff. `scopes` are the token scopes it needs.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        headers: &[(header::HeaderName, String)],
        body: &Body,
        action: &str,
    ) -> Result<Answer, RegistryError> {
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            let mut request = self.http.request(method.clone(), url);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request = self.authorize(request, scopes).await;
            let body_value = body.to_reqwest().await.map_err(RegistryError::Invalid)?;
            let result = request.body(body_value).send().await;
            let retry_in = self.options.backoff * 2u32.saturating_pow(attempt);
            let response = match result {
                Ok(response) => response,
                Err(e) if attempt < self.options.retries => {
                    tracing::debug!(registry = %self.registry, action, error = %e, "retrying");
                    attempt += 1;
                    tokio::time::sleep(retry_in).await;
                    continue;
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: self.registry.clone(),
                        message: format!("{action}: {}", error_chain(&e)),
                    });
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                reauthenticated = true;
                let challenge = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                match challenge {
                    Some(challenge) => {
                        self.answer_challenge(challenge, scopes).await?;
                        continue;
                    }
                    None => return Err(self.unauthorized(status)),
                }
            }
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                && attempt < self.options.retries
            {
                tracing::debug!(registry = %self.registry, action, %status, "retrying");
                attempt += 1;
                tokio::time::sleep(retry_in).await;
                continue;
            }
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| RegistryError::Transport {
                    registry: self.registry.clone(),
                    message: format!("{action}: {}", error_chain(&e)),
                })?;
            if status == StatusCode::UNAUTHORIZED {
                return Err(self.unauthorized(status));
            }
            if status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Denied {
                    registry: self.registry.clone(),
                    action: action.to_string(),
                    message: error_message(&body),
                });
            }
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
    }

    /// An error for an answer that is none of `expected`.
    pub(crate) fn unexpected(&self, answer: &Answer, action: &str) -> RegistryError {
        RegistryError::Status {
            registry: self.registry.clone(),
            action: action.to_string(),
            status: answer.status.as_u16(),
            message: error_message(&answer.body),
        }
    }

    fn unauthorized(&self, status: StatusCode) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            user: match self.options.credentials.username() {
                Some(user) => format!(" of user `{user}`"),
                None => {
                    " (hoist had none: set [registry] username and password, or `docker login`)"
                        .into()
                }
            },
            status: status.as_u16(),
        }
    }

    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        scopes: &[String],
    ) -> reqwest::RequestBuilder {
        let scheme = self.scheme.lock().await.clone();
        match scheme {
            Scheme::Unknown => request,
            Scheme::Basic => match self.options.credentials.expose() {
                Some((user, password)) => request.basic_auth(user, Some(password)),
                None => request,
            },
            Scheme::Bearer { realm, service } => {
                let key = scopes.join(" ");
                let cached = self.tokens.lock().await.get(&key).cloned();
                // A new scope on a token registry, or a token about to expire: ask for
                // one now rather than after a 401. A failure here is met again, and
                // reported, on the 401; meanwhile an old token may still be accepted.
                let token = match cached {
                    Some(token) if token.fresh() => Some(token),
                    stale => match self.fetch_token(&realm, service.as_deref(), scopes).await {
                        Ok(token) => {
                            if stale.is_some() {
                                tracing::debug!(registry = %self.registry, scopes = %key, "token renewed before it expired");
                            }
                            self.tokens.lock().await.insert(key, token.clone());
                            Some(token)
                        }
                        Err(_) => stale,
                    },
                };
                match token {
                    Some(token) => request.bearer_auth(token.value),
                    None => request,
                }
            }
        }
    }

    async fn answer_challenge(
        &self,
        challenge: Challenge,
        scopes: &[String],
    ) -> Result<(), RegistryError> {
        match challenge {
            Challenge::Basic => {
                if self.options.credentials.expose().is_none() {
                    return Err(self.unauthorized(StatusCode::UNAUTHORIZED));
                }
                *self.scheme.lock().await = Scheme::Basic;
            }
            Challenge::Bearer { realm, service, .. } => {
                *self.scheme.lock().await = Scheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                };
                let token = self.fetch_token(&realm, service.as_deref(), scopes).await?;
                self.tokens.lock().await.insert(scopes.join(" "), token);
            }
        }
        Ok(())
    }

    /// `GET realm?service=...&scope=...`, with the credentials as basic auth when there
    /// are any (anonymous tokens serve public pulls). The token is to be used until
    /// shortly before its `expires_in` (counted from `issued_at`) runs out.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Token, RegistryError> {
        let mut url = url::Url::parse(realm).map_err(|e| RegistryError::Status {
            registry: self.registry.clone(),
            action: "authentication".into(),
            status: 401,
            message: format!("its token realm `{realm}` is not a URL: {e}"),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url.as_str());
        if let Some((user, password)) = self.options.credentials.expose() {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| RegistryError::Transport {
            registry: self.registry.clone(),
            message: format!("fetching a token: {}", error_chain(&e)),
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(status));
        }
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RegistryError::Status {
                registry: self.registry.clone(),
                action: "fetching a token".into(),
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        let answered = Instant::now();
        serde_json::from_slice::<TokenAnswer>(&body)
            .ok()
            .and_then(|answer| answer.into_token(jiff::Timestamp::now()))
            .map(|(value, use_for)| Token {
                value,
                refresh_at: answered + use_for,
            })
            .ok_or_else(|| RegistryError::Status {
                registry: self.registry.clone(),
                action: "fetching a token".into(),
                status: status.as_u16(),
                message: "the answer carried no token".into(),
            })
    }

    /// A `GET` or `HEAD` of the manifest at `reference` accepting every manifest type
    /// hoist reads: the successful answer, `None` on 404, an error on anything else.
    async fn manifest_request(
        &self,
        method: Method,
        repository: &str,
        reference: &str,
        action: &str,
    ) -> Result<Option<Answer>, RegistryError> {
        let answer = self
            .send(
                method,
                &self.url(&format!("{repository}/manifests/{reference}")),
                &[crate::auth::scope(repository, false)],
                &[(header::ACCEPT, MANIFEST_ACCEPT.join(", "))],
                &Body::Empty,
                action,
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(self.unexpected(&answer, action));
        }
        Ok(Some(answer))
    }

    /// The manifest at `reference` in `repository`: its bytes, media type and digest;
    /// `None` when the registry has none.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(bytes::Bytes, String, String)>, RegistryError> {
        let action = format!("reading the manifest {repository}:{reference}");
        let Some(answer) = self
            .manifest_request(Method::GET, repository, reference, &action)
            .await?
        else {
            return Ok(None);
        };
        let media_type = header_str(&answer.headers, header::CONTENT_TYPE).unwrap_or_default();
        let digest = crate::digest_of(&answer.body);
        Ok(Some((answer.body, media_type, digest)))
    }

    /// The digest of the manifest at `reference`, by `HEAD`; `None` when absent.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let action = format!("looking up {repository}:{reference}");
        let Some(answer) = self
            .manifest_request(Method::HEAD, repository, reference, &action)
            .await?
        else {
            return Ok(None);
        };
        match header_str(&answer.headers, "docker-content-digest") {
            Some(digest) => Ok(Some(digest)),
            // Without the header, the body's digest is the answer.
            None => Ok(self
                .get_manifest(repository, reference)
                .await?
                .map(|(_, _, digest)| digest)),
        }
    }

    /// A blob's bytes (an image config, say).
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bytes::Bytes, RegistryError> {
        let action = format!("reading the blob {digest} of {repository}");
        let answer = self
            .send(
                Method::GET,
                &self.url(&format!("{repository}/blobs/{digest}")),
                &[crate::auth::scope(repository, false)],
                &[],
                &Body::Empty,
                &action,
            )
            .await?;
        if !answer.status.is_success() {
            return Err(self.unexpected(&answer, &action));
        }
        if crate::digest_of(&answer.body) != digest {
            return Err(RegistryError::Invalid(format!(
                "the registry {} served {repository}@{digest} with other content",
                self.registry
            )));
        }
        Ok(answer.body)
    }

    /// Whether `repository` has the blob `digest` (`HEAD`).
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let action = format!("checking the blob {digest} in {repository}");
        let answer = self
            .send(
                Method::HEAD,
                &self.url(&format!("{repository}/blobs/{digest}")),
                &[crate::auth::scope(repository, true)],
                &[],
                &Body::Empty,
                &action,
            )
            .await?;
        match answer.status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.unexpected(&answer, &action)),
        }
    }
}

pub(crate) fn header_str(
    headers: &header::HeaderMap,
    name: impl header::AsHeaderName,
) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
}

/// The registry's `{"errors": [{"code", "message"}]}` as one line, else the body's start.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(errors) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = errors
            .errors
            .into_iter()
            .map(|e| {
                format!(
                    "{}{}",
                    e.code.map(|c| format!("{c}: ")).unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no details".into()
    } else {
        text.chars().take(200).collect()
    }
}

/// An error with its causes, which reqwest keeps out of `Display` (the TLS reason is one).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
