//! The notifiers of one environment, built from `hoist.toml` and sent to concurrently.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hoist_config::notify::{
    NotifierSpec, Route, SecretRef, ServiceSpec, TemplateSource, UrlSource, url_problem,
};

use crate::deliver::{self, DeliveryReport, DeliveryStatus, Policy};
use crate::notice::{EventKind, Notice};
use crate::render::{Dialect, Renderer};
use crate::secret::{self, Redactor, Secret};
use crate::service::{Endpoint, Service};
use crate::signature::WebhookSecret;

/// The longest a call to [`Notifiers::notify`] takes, whatever the notifiers' settings:
/// with the defaults (3 attempts of 5 s, 0.5 s and 1 s between) one notifier needs at most
/// 16.5 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20);

/// A notifier's settings, secrets or template cannot be used.
///
/// Messages name the notifier and the variable or file at fault, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("environment routes notices to `{0}`, but no [notifiers.{0}] table exists")]
    UnknownNotifier(String),
    #[error("notifier `{notifier}`: {message}")]
    Invalid { notifier: String, message: String },
    #[error("notifier `{notifier}`: cannot read its {what}: {reason}")]
    Secret {
        notifier: String,
        /// `API key`, `webhook URL` or `signing secret`.
        what: &'static str,
        reason: String,
    },
    #[error("cannot set up HTTP for notifications: {0}")]
    Client(String),
}

/// The notifiers of one environment, with which events each wants. `Default` is none.
#[derive(Debug)]
pub struct Notifiers {
    entries: Vec<Entry>,
    /// `None` when there is nothing to send to.
    client: Option<reqwest::Client>,
    deadline: Duration,
}

#[derive(Debug)]
struct Entry {
    name: String,
    route: Route,
    service: Service,
    policy: Policy,
    redactor: Redactor,
}

impl Default for Notifiers {
    fn default() -> Self {
        Notifiers {
            entries: Vec::new(),
            client: None,
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl Notifiers {
    /// The notifiers `routes` (one environment's `notify` list) send to, as defined in
    /// `notifiers`; relative file paths are taken from `root` (the config's directory).
    ///
    /// Only routed notifiers are built, so a staging deploy does not need production's
    /// credentials. Reads secrets from the process environment and files now, and renders
    /// every template once, so that a missing key or a broken template stops hoist before
    /// the deploy rather than going unnoticed until it ends.
    pub fn from_config(
        notifiers: &BTreeMap<String, NotifierSpec>,
        routes: &[Route],
        root: &Path,
    ) -> Result<Notifiers, NotifyError> {
        Notifiers::from_config_with_env(notifiers, routes, root, &|name| std::env::var(name).ok())
    }

    /// [`Notifiers::from_config`] with environment variables looked up by `env`.
    pub fn from_config_with_env(
        notifiers: &BTreeMap<String, NotifierSpec>,
        routes: &[Route],
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Notifiers, NotifyError> {
        let mut entries = Vec::with_capacity(routes.len());
        for route in routes {
            let name = &route.to;
            let spec = notifiers
                .get(name)
                .ok_or_else(|| NotifyError::UnknownNotifier(name.clone()))?;
            let (service, policy, redactor) = build(name, spec, root, env)?;
            entries.push(Entry {
                name: name.clone(),
                route: route.clone(),
                service,
                policy,
                redactor,
            });
        }
        let client = if entries.is_empty() {
            None
        } else {
            let client = reqwest::Client::builder()
                .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
                // A POST that is redirected would be replayed elsewhere (as a GET, or with
                // its credentials): refuse, and say so.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| NotifyError::Client(e.without_url().to_string()))?;
            Some(client)
        };
        Ok(Notifiers {
            entries,
            client,
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// Changes the overall deadline of [`Notifiers::notify`].
    pub fn with_deadline(mut self, deadline: Duration) -> Notifiers {
        self.deadline = deadline;
        self
    }

    /// Whether no notifier is configured for the environment.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of the notifiers that would receive a notice of `kind`.
    pub fn recipients(&self, kind: EventKind) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.route.wants(kind))
            .map(|e| e.name.as_str())
            .collect()
    }

    /// Sends `notice` to every notifier routed for its kind, all at once, and reports how
    /// each went. Never fails and never takes (much) longer than the deadline; log the
    /// failed reports (`tracing::warn!("{report}")`) and go on with the deploy.
    pub async fn notify(&self, notice: &Notice) -> Vec<DeliveryReport> {
        let Some(client) = &self.client else {
            return Vec::new();
        };
        let started = tokio::time::Instant::now();
        let deadline = started + self.deadline;
        let sends = self
            .entries
            .iter()
            .filter(|e| e.route.wants(notice.kind))
            .map(|entry| async move {
                let (result, attempts) = match entry.service.request(notice) {
                    Ok(out) => {
                        // Every attempt is bounded by the deadline already; this bounds
                        // what an attempt cannot, should it ever not yield.
                        let bounded = tokio::time::timeout_at(
                            deadline + Duration::from_millis(250),
                            deliver::send(client, &out, entry.policy, deadline, &entry.redactor),
                        );
                        bounded.await.unwrap_or_else(|_| {
                            (Err("the overall notification deadline passed".into()), 0)
                        })
                    }
                    Err(reason) => (Err(entry.redactor.scrub(&reason)), 0),
                };
                DeliveryReport {
                    notifier: entry.name.clone(),
                    service: entry.service.kind(),
                    event: notice.kind,
                    delivery_id: notice.delivery_id.clone(),
                    attempts,
                    elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    status: match result {
                        Ok(()) => DeliveryStatus::Delivered,
                        Err(reason) => DeliveryStatus::Failed { reason },
                    },
                }
            });
        futures::future::join_all(sends).await
    }
}

/// One notifier from its table: typed settings, secrets read, templates checked.
fn build(
    name: &str,
    spec: &NotifierSpec,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Service, Policy, Redactor), NotifyError> {
    let invalid = |message: String| NotifyError::Invalid {
        notifier: name.to_string(),
        message,
    };
    let load = |source: &SecretRef, what: &'static str| {
        secret::load(source, root, env).map_err(|reason| NotifyError::Secret {
            notifier: name.to_string(),
            what,
            reason,
        })
    };
    let template = match &spec.template {
        None => None,
        Some(TemplateSource::Inline(text)) => Some(text.clone()),
        Some(TemplateSource::File(path)) => {
            let path = root.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| invalid(format!("cannot read template {}: {e}", path.display())))?;
            Some(text)
        }
    };
    let mut redactor = Redactor::default();
    let service = match spec.service.clone() {
        ServiceSpec::Zulip {
            site,
            bot_email,
            api_key,
            stream,
            topic,
        } => {
            let api_key = load(&api_key, "API key")?;
            redactor.add(api_key.expose());
            // The Authorization header's form of it, should a server echo the request.
            redactor.add(basic_auth_token(&bot_email, &api_key));
            let url = parse_url(&format!("{site}/api/v1/messages"))
                .map_err(|why| invalid(format!("site: {why}")))?;
            Service::Zulip {
                endpoint: Endpoint { url, secret: false },
                bot_email,
                api_key,
                stream,
                renderer: Renderer::new(Dialect::Markdown, template, topic).map_err(invalid)?,
            }
        }
        ServiceSpec::Slack { url } => {
            let url = load(&url, "webhook URL")?;
            redactor.add_url(url.expose());
            // The reason must not quote the URL: it is the secret.
            let url = parse_url(url.expose())
                .map_err(|why| invalid(format!("the webhook URL is not usable: {why}")))?;
            Service::Slack {
                endpoint: Endpoint { url, secret: true },
                renderer: Renderer::new(Dialect::Slack, template, None).map_err(invalid)?,
            }
        }
        ServiceSpec::Webhook { url, secret } => {
            let endpoint = match url {
                UrlSource::Literal(text) => Endpoint {
                    url: parse_url(&text).map_err(|why| invalid(format!("url: {why}")))?,
                    secret: false,
                },
                UrlSource::Secret(source) => {
                    let url = load(&source, "webhook URL")?;
                    redactor.add_url(url.expose());
                    Endpoint {
                        url: parse_url(url.expose())
                            .map_err(|why| invalid(format!("the URL is not usable: {why}")))?,
                        secret: true,
                    }
                }
            };
            let source = secret;
            let text = load(&source, "signing secret")?;
            redactor.add(text.expose());
            if let Some(encoded) = text.expose().strip_prefix(crate::signature::SECRET_PREFIX) {
                redactor.add(encoded);
            }
            let secret =
                WebhookSecret::parse(text.expose()).map_err(|why| NotifyError::Secret {
                    notifier: name.to_string(),
                    what: "signing secret",
                    reason: format!("{source} does not hold a Standard Webhooks secret: {why}"),
                })?;
            Service::Webhook { endpoint, secret }
        }
    };
    let policy = Policy {
        timeout: spec.timeout,
        attempts: spec.attempts,
    };
    Ok((service, policy, redactor))
}

/// Parses and checks a URL with the rules of `hoist.toml` (https, or http to loopback; no
/// credentials in it). The error never contains the URL.
fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    if let Some(why) = url_problem(text) {
        return Err(why.to_string());
    }
    reqwest::Url::parse(text).map_err(|e| e.to_string())
}

fn basic_auth_token(user: &str, key: &Secret) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", key.expose()))
}
