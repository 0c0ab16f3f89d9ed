//! Settings of notifiers (Zulip, Slack, generic webhook) and which events go to which.
//!
//! ```toml
//! [notifiers.team-zulip]
//! kind = "zulip"
//! site = "https://chat.example.com"
//! bot_email = "hoist-bot@chat.example.com"
//! api_key_env = "ZULIP_API_KEY"
//! stream = "deploys"
//!
//! [[environments.production.notify]]
//! to = "team-zulip"
//! on = ["started", "succeeded", "failed", "refused", "rolled_back"]
//! ```
//!
//! `hoist.toml` is committed and read by everyone who can read the repository, so it never
//! holds a credential: API keys, webhook secrets and Slack webhook URLs (whose path *is* the
//! credential) are named by the environment variable or file that holds them
//! (`api_key_env` / `api_key_file`, ...). A literal `api_key = "..."` is rejected with an
//! error that does not repeat the value.
//!
//! One flat table serves the three kinds rather than a serde-tagged enum: a tagged enum
//! buffers its content, which loses the spans `file:line:col` errors need. [`NotifierConfig::spec`]
//! turns the flat table into a typed [`NotifierSpec`], or a [`Problem`] pointing at the key to
//! fix; [`validate_notify`] and the notifier runtime both go through it, so they cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::ConfigError;

/// How long one delivery attempt may take when the notifier does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many attempts a delivery gets when the notifier does not say.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Upper bound of `attempts`: a notifier must never hold up a deploy for long.
pub const MAX_ATTEMPTS: u32 = 10;
/// Upper bound of `timeout`, for the same reason.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// What happened to a deployment, as notifiers see it; routes pick events by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The rollout began.
    Started,
    /// Every instance runs the release and passed verification.
    Succeeded,
    /// The deployment failed (build, rollout or verification) and was not rolled back.
    Failed,
    /// Policy refused the deployment (who, when, lock) before anything changed.
    Refused,
    /// The deployment failed and hoist put the previous release back.
    RolledBack,
}

impl EventKind {
    /// Every kind, in the order a deployment can produce them.
    pub const ALL: [EventKind; 5] = [
        EventKind::Started,
        EventKind::Succeeded,
        EventKind::Failed,
        EventKind::Refused,
        EventKind::RolledBack,
    ];

    /// The name used in `hoist.toml`, JSON bodies and the `X-Hoist-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Refused => "refused",
            EventKind::RolledBack => "rolled_back",
        }
    }

    /// The kind called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The service a notifier talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// Zulip's REST API (`POST /api/v1/messages`) as a bot.
    Zulip,
    /// A Slack incoming webhook.
    Slack,
    /// Any HTTP endpoint, sent the notice as JSON and an HMAC signature.
    Webhook,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Zulip => "zulip",
            NotifierKind::Slack => "slack",
            NotifierKind::Webhook => "webhook",
        }
    }

    /// Keys that apply to this kind, besides the common ones (`kind`, `template`,
    /// `template_file`, `timeout`, `attempts`).
    fn keys(self) -> &'static [&'static str] {
        match self {
            NotifierKind::Zulip => &[
                "site",
                "bot_email",
                "api_key_env",
                "api_key_file",
                "stream",
                "topic",
            ],
            NotifierKind::Slack => &["url_env", "url_file"],
            NotifierKind::Webhook => &["url", "url_env", "url_file", "secret_env", "secret_file"],
        }
    }
}

/// `[notifiers.NAME]`: one destination of notifications.
///
/// Which keys apply depends on `kind`; [`NotifierConfig::spec`] checks that and returns the
/// typed settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub kind: Spanned<NotifierKind>,

    /// Zulip: the organization's URL, e.g. `https://chat.example.com`.
    #[serde(default)]
    pub site: Option<Spanned<String>>,
    /// Zulip: the bot's email address (the user name of HTTP basic auth).
    #[serde(default)]
    pub bot_email: Option<Spanned<String>>,
    /// Zulip: environment variable holding the bot's API key.
    #[serde(default)]
    pub api_key_env: Option<Spanned<String>>,
    /// Zulip: file holding the bot's API key (e.g. a Docker or Kubernetes secret).
    #[serde(default)]
    pub api_key_file: Option<Spanned<PathBuf>>,
    /// Zulip: channel (stream) name.
    #[serde(default)]
    pub stream: Option<Spanned<String>>,
    /// Zulip: topic, a template; default `{{ app }} {{ environment }}`.
    #[serde(default)]
    pub topic: Option<Spanned<String>>,

    /// Webhook: the endpoint. (Slack's webhook URL is a secret: use `url_env`/`url_file`.)
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Slack or webhook: environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<Spanned<String>>,
    /// Slack or webhook: file holding the URL.
    #[serde(default)]
    pub url_file: Option<Spanned<PathBuf>>,
    /// Webhook: environment variable holding the HMAC secret.
    #[serde(default)]
    pub secret_env: Option<Spanned<String>>,
    /// Webhook: file holding the HMAC secret.
    #[serde(default)]
    pub secret_file: Option<Spanned<PathBuf>>,

    /// Message template (Zulip, Slack), overriding the built-in ones.
    #[serde(default)]
    pub template: Option<Spanned<String>>,
    /// File holding the message template, relative to the config's directory.
    #[serde(default)]
    pub template_file: Option<Spanned<PathBuf>>,
    /// Limit of one delivery attempt, e.g. `"5s"`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Attempts per notice, retries included.
    #[serde(default)]
    pub attempts: Option<Spanned<u32>>,

    // Literal credentials. They are accepted by the parser only to be refused with a message
    // that says what to write instead (an unknown-key error would not); `IgnoredAny` keeps the
    // value itself out of memory and out of `Debug`.
    #[serde(default)]
    api_key: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    secret: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    token: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    password: Option<Spanned<IgnoredAny>>,
}

/// Where a credential is read from at run time. Never the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable, e.g. a masked CI variable.
    Env(String),
    /// A file (surrounding whitespace is trimmed), relative to the config's directory.
    File(PathBuf),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "environment variable {name}"),
            SecretRef::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A URL that is either harmless to show or itself a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Literal(String),
    Secret(SecretRef),
}

/// Where a message template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Inline(String),
    /// Relative to the config's directory.
    File(PathBuf),
}

/// The typed settings of one notifier, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierSpec {
    pub service: ServiceSpec,
    pub template: Option<TemplateSource>,
    pub timeout: Duration,
    pub attempts: u32,
}

/// What is specific to each kind of notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSpec {
    Zulip {
        /// Without a trailing `/`.
        site: String,
        bot_email: String,
        api_key: SecretRef,
        stream: String,
        /// A template; `None` means the built-in default.
        topic: Option<String>,
    },
    Slack {
        url: SecretRef,
    },
    Webhook {
        url: UrlSource,
        secret: SecretRef,
    },
}

impl ServiceSpec {
    /// Where this notifier's secrets are (for redaction: every value read from them is
    /// kept out of logs).
    pub fn secrets(&self) -> Vec<&SecretRef> {
        match self {
            ServiceSpec::Zulip { api_key, .. } => vec![api_key],
            ServiceSpec::Slack { url } => vec![url],
            ServiceSpec::Webhook { url, secret } => match url {
                UrlSource::Secret(source) => vec![source, secret],
                UrlSource::Literal(_) => vec![secret],
            },
        }
    }
}

/// Why a notifier table cannot be used: the key (relative to the table), where it is in
/// the file, and what would be valid. [`validate_notify`] turns it into a [`ConfigError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub span: Range<usize>,
    pub key: String,
    pub message: String,
    pub help: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.key, self.message, self.help)
    }
}

fn problem(span: Range<usize>, key: &str, message: impl Into<String>, help: &str) -> Problem {
    Problem {
        span,
        key: key.to_string(),
        message: message.into(),
        help: help.to_string(),
    }
}

impl NotifierConfig {
    /// The typed settings, or the first problem found. Checks everything that can be known
    /// without reading secrets or the network: keys that fit the kind, required keys, URL
    /// shapes, environment variable names, durations, and no literal credentials.
    pub fn spec(&self) -> Result<NotifierSpec, Problem> {
        let kind = *self.kind.get_ref();
        let anchor = self.kind.span();

        for (key, value) in [
            ("api_key", &self.api_key),
            ("secret", &self.secret),
            ("token", &self.token),
            ("password", &self.password),
        ] {
            if let Some(value) = value {
                let name = match kind {
                    NotifierKind::Zulip => "api_key",
                    NotifierKind::Slack => "url",
                    NotifierKind::Webhook => "secret",
                };
                return Err(problem(
                    value.span(),
                    key,
                    "hoist.toml must not hold credentials: it is committed and readable by everyone with the repository",
                    &format!(
                        "name where the credential is instead: `{name}_env = \"VARIABLE\"` (e.g. a masked CI variable) or `{name}_file = \"/run/secrets/...\"`, and rotate the one that was written here"
                    ),
                ));
            }
        }
        if kind == NotifierKind::Slack
            && let Some(url) = &self.url
        {
            return Err(problem(
                url.span(),
                "url",
                "a Slack webhook URL is itself a credential (anyone who has it can post) and must not be in hoist.toml",
                "write `url_env = \"SLACK_WEBHOOK_URL\"` or `url_file = \"/run/secrets/slack-webhook\"`, and regenerate the webhook that was written here",
            ));
        }
        for (key, span) in self.kind_specific_keys() {
            if !kind.keys().contains(&key) {
                return Err(problem(
                    span,
                    key,
                    format!("`{key}` does not apply to a {} notifier", kind.as_str()),
                    &format!(
                        "a {} notifier takes {}, and template, template_file, timeout, attempts",
                        kind.as_str(),
                        kind.keys().join(", ")
                    ),
                ));
            }
        }

        let service = match kind {
            NotifierKind::Zulip => {
                let site = required(
                    &self.site,
                    "site",
                    &anchor,
                    "site = \"https://chat.example.com\"",
                )?;
                if let Some(why) = url_problem(site.get_ref()) {
                    return Err(problem(
                        site.span(),
                        "site",
                        format!("not a usable URL: {why}"),
                        "write the organization's URL, e.g. \"https://chat.example.com\"",
                    ));
                }
                let site_text = site.get_ref().trim_end_matches('/');
                if site_text.contains("/api/") || site_text.ends_with("/api") {
                    return Err(problem(
                        site.span(),
                        "site",
                        "`site` is the organization's URL, not the API's",
                        "drop the `/api/...` part: hoist adds `/api/v1/messages` itself",
                    ));
                }
                let bot_email = required(
                    &self.bot_email,
                    "bot_email",
                    &anchor,
                    "bot_email = \"hoist-bot@chat.example.com\"",
                )?;
                if !bot_email.get_ref().contains('@') {
                    return Err(problem(
                        bot_email.span(),
                        "bot_email",
                        "not an email address",
                        "write the bot's email as shown in Zulip's settings, e.g. \"hoist-bot@chat.example.com\"",
                    ));
                }
                let stream = required(&self.stream, "stream", &anchor, "stream = \"deploys\"")?;
                if stream.get_ref().trim().is_empty() {
                    return Err(problem(
                        stream.span(),
                        "stream",
                        "the channel name is empty",
                        "write the channel (stream) to post to, e.g. \"deploys\"",
                    ));
                }
                if let Some(topic) = &self.topic
                    && topic.get_ref().trim().is_empty()
                {
                    return Err(problem(
                        topic.span(),
                        "topic",
                        "the topic is empty",
                        "remove `topic` for the default \"{{ app }} {{ environment }}\", or write one",
                    ));
                }
                ServiceSpec::Zulip {
                    site: site_text.to_string(),
                    bot_email: bot_email.get_ref().clone(),
                    api_key: secret_ref(&self.api_key_env, &self.api_key_file, "api_key", &anchor)?,
                    stream: stream.get_ref().clone(),
                    topic: self.topic.as_ref().map(|t| t.get_ref().clone()),
                }
            }
            NotifierKind::Slack => ServiceSpec::Slack {
                url: secret_ref(&self.url_env, &self.url_file, "url", &anchor)?,
            },
            NotifierKind::Webhook => {
                let url = match (&self.url, &self.url_env, &self.url_file) {
                    (Some(url), None, None) => {
                        if let Some(why) = url_problem(url.get_ref()) {
                            return Err(problem(
                                url.span(),
                                "url",
                                format!("not a usable URL: {why}"),
                                "write the endpoint, e.g. \"https://ops.example.com/hoist\"",
                            ));
                        }
                        UrlSource::Literal(url.get_ref().clone())
                    }
                    (Some(url), _, _) => {
                        return Err(problem(
                            url.span(),
                            "url",
                            "set one of `url`, `url_env` and `url_file`, not several",
                            "keep `url`, or move a URL that carries a token to `url_env`/`url_file`",
                        ));
                    }
                    (None, _, _) => UrlSource::Secret(secret_ref(
                        &self.url_env,
                        &self.url_file,
                        "url",
                        &anchor,
                    )?),
                };
                ServiceSpec::Webhook {
                    url,
                    secret: secret_ref(&self.secret_env, &self.secret_file, "secret", &anchor)?,
                }
            }
        };

        let template = match (&self.template, &self.template_file) {
            (Some(_), Some(file)) => {
                return Err(problem(
                    file.span(),
                    "template_file",
                    "set `template` or `template_file`, not both",
                    "keep one of them",
                ));
            }
            (Some(inline), None) if inline.get_ref().trim().is_empty() => {
                return Err(problem(
                    inline.span(),
                    "template",
                    "the template is empty",
                    "remove `template` to use the built-in messages",
                ));
            }
            (Some(inline), None) => Some(TemplateSource::Inline(inline.get_ref().clone())),
            (None, Some(file)) => Some(TemplateSource::File(file.get_ref().clone())),
            (None, None) => None,
        };
        if template.is_some() && kind == NotifierKind::Webhook {
            let span = self
                .template
                .as_ref()
                .map(|t| t.span())
                .or(self.template_file.as_ref().map(|t| t.span()))
                .unwrap_or(anchor.clone());
            return Err(problem(
                span,
                "template",
                "a webhook notifier sends the notice as JSON and has no message template",
                "remove the template, or use a zulip or slack notifier",
            ));
        }

        let timeout = match &self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(text) => {
                let parsed = humantime::parse_duration(text.get_ref()).map_err(|e| {
                    problem(
                        text.span(),
                        "timeout",
                        format!("`{}` is not a duration ({e})", text.get_ref()),
                        "write it like \"5s\" or \"1500ms\"",
                    )
                })?;
                if parsed.is_zero() || parsed > MAX_TIMEOUT {
                    return Err(problem(
                        text.span(),
                        "timeout",
                        format!("`{}` is outside 1ms..60s", text.get_ref()),
                        "a notifier must not hold up a deploy: keep it to a few seconds (default 5s)",
                    ));
                }
                parsed
            }
        };
        let attempts = match &self.attempts {
            None => DEFAULT_ATTEMPTS,
            Some(n) if (1..=MAX_ATTEMPTS).contains(n.get_ref()) => *n.get_ref(),
            Some(n) => {
                return Err(problem(
                    n.span(),
                    "attempts",
                    format!("{} attempts is outside 1..={MAX_ATTEMPTS}", n.get_ref()),
                    "1 sends once without retrying; the default is 3",
                ));
            }
        };

        Ok(NotifierSpec {
            service,
            template,
            timeout,
            attempts,
        })
    }

    /// The kind-specific keys that are set, with their spans.
    fn kind_specific_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let strings = [
            ("site", &self.site),
            ("bot_email", &self.bot_email),
            ("api_key_env", &self.api_key_env),
            ("stream", &self.stream),
            ("topic", &self.topic),
            ("url", &self.url),
            ("url_env", &self.url_env),
            ("secret_env", &self.secret_env),
        ];
        let paths = [
            ("api_key_file", &self.api_key_file),
            ("url_file", &self.url_file),
            ("secret_file", &self.secret_file),
        ];
        let mut keys: Vec<_> = strings
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.span())))
            .chain(
                paths
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.span()))),
            )
            .collect();
        keys.sort_by_key(|(_, span)| span.start);
        keys
    }
}

fn required<'a>(
    value: &'a Option<Spanned<String>>,
    key: &str,
    anchor: &Range<usize>,
    example: &str,
) -> Result<&'a Spanned<String>, Problem> {
    value.as_ref().ok_or_else(|| {
        problem(
            anchor.clone(),
            key,
            format!("missing `{key}`"),
            &format!("add {example}"),
        )
    })
}

/// `<name>_env` or `<name>_file`, exactly one.
fn secret_ref(
    env: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    name: &str,
    anchor: &Range<usize>,
) -> Result<SecretRef, Problem> {
    let env_key = format!("{name}_env");
    let file_key = format!("{name}_file");
    match (env, file) {
        (Some(_), Some(file)) => Err(problem(
            file.span(),
            &file_key,
            format!("set `{env_key}` or `{file_key}`, not both"),
            "keep the one your CI or host provides",
        )),
        (None, None) => Err(problem(
            anchor.clone(),
            &env_key,
            format!("missing `{env_key}` or `{file_key}`"),
            &format!(
                "name the environment variable (`{env_key} = \"VARIABLE\"`) or file (`{file_key} = \"/run/secrets/...\"`) that holds it"
            ),
        )),
        (Some(var), None) => {
            // Not echoing the value: if it is not a variable name, it may be the secret.
            if !is_env_name(var.get_ref()) {
                return Err(problem(
                    var.span(),
                    &env_key,
                    format!(
                        "`{env_key}` must name an environment variable, and this is not a variable name"
                    ),
                    "use letters, digits and `_`, e.g. \"ZULIP_API_KEY\"; if you wrote the credential itself here, rotate it",
                ));
            }
            Ok(SecretRef::Env(var.get_ref().clone()))
        }
        (None, Some(path)) => {
            if path.get_ref().as_os_str().is_empty() {
                return Err(problem(
                    path.span(),
                    &file_key,
                    "the file path is empty",
                    "write the file's path, e.g. \"/run/secrets/zulip\"",
                ));
            }
            Ok(SecretRef::File(path.get_ref().clone()))
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why `url` cannot be an endpoint hoist sends notifications (and credentials) to, if it
/// cannot. `https` is required; plain `http` only to a loopback host (tests, a local relay).
/// Credentials in the URL (`user:pass@`) are refused as literal secrets.
pub fn url_problem(url: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it has no scheme; write `https://host/...`");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Some(
            "it holds credentials (`user:password@`); they must come from a secret, not the URL",
        );
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => None,
        "http" if is_loopback(host) => None,
        "http" => Some(
            "plain http would send credentials and deploy details in clear; use https (http is allowed for localhost only)",
        ),
        _ => Some("only https URLs are supported"),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "::1" || host.starts_with("127.")
}

/// `[[environments.NAME.notify]]`: send these events of the environment to that notifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRoute {
    /// Name of a `[notifiers.NAME]` table.
    pub to: Spanned<String>,
    /// Event kinds to send; every kind when omitted.
    #[serde(default = "every_event")]
    pub on: Spanned<Vec<Spanned<String>>>,
}

fn every_event() -> Spanned<Vec<Spanned<String>>> {
    let all = EventKind::ALL
        .iter()
        .map(|k| Spanned::new(0..0, k.as_str().to_string()))
        .collect();
    Spanned::new(0..0, all)
}

/// A route, checked and span-free: which notifier hears which kinds of notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Name of a `[notifiers.NAME]` table.
    pub to: String,
    pub on: Vec<EventKind>,
}

impl Route {
    /// Whether this route sends notices of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.on.contains(&kind)
    }
}

impl NotifyRoute {
    /// The route as [`Route`]; kinds the validator would reject are dropped.
    pub fn resolve(&self) -> Route {
        Route {
            to: self.to.get_ref().clone(),
            on: self
                .on
                .get_ref()
                .iter()
                .filter_map(|k| EventKind::from_name(k.get_ref()))
                .collect(),
        }
    }

    /// Whether this route sends events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.on
            .get_ref()
            .iter()
            .any(|k| k.get_ref() == kind.as_str())
    }
}

/// Checks the notifier tables and every environment's routes; call it from the config
/// validator with the file's path and text. `routes` yields each environment's name with its
/// `notify` list.
///
/// Every problem is reported: the error is the first, with the others in its `also`.
///
/// Rejects: a notifier whose table does not fit its kind (see [`NotifierConfig::spec`]:
/// literal secrets, bad URLs, missing keys), a route to an undefined notifier, an unknown
/// event kind, an empty `on`, and two routes of one environment to the same notifier (which
/// would send every message twice).
#[allow(
    clippy::result_large_err,
    reason = "ConfigError is the crate's error type, as in validate.rs; boxing it is a crate-wide choice"
)]
pub fn validate_notify<'a>(
    path: &Path,
    text: &str,
    notifiers: &BTreeMap<String, Spanned<NotifierConfig>>,
    routes: impl IntoIterator<Item = (&'a str, &'a [NotifyRoute])>,
) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    collect_notify_errors(path, text, notifiers, routes, &mut errors);
    crate::error::in_file_order(&mut errors);
    match ConfigError::combine(errors) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// [`validate_notify`]'s checks, adding every problem to `errors`.
pub(crate) fn collect_notify_errors<'a>(
    path: &Path,
    text: &str,
    notifiers: &BTreeMap<String, Spanned<NotifierConfig>>,
    routes: impl IntoIterator<Item = (&'a str, &'a [NotifyRoute])>,
    errors: &mut Vec<ConfigError>,
) {
    for (name, notifier) in notifiers {
        if let Err(p) = notifier.get_ref().spec() {
            errors.push(ConfigError::invalid(
                path,
                text,
                p.span,
                format!("notifiers.{name}.{}", p.key),
                p.message,
                Some(p.help),
            ));
        }
    }
    let valid_kinds = EventKind::ALL.map(EventKind::as_str).join(", ");
    for (env, list) in routes {
        let mut seen = BTreeSet::new();
        for (i, route) in list.iter().enumerate() {
            let key = format!("environments.{env}.notify[{i}]");
            let to = &route.to;
            if !notifiers.contains_key(to.get_ref()) {
                let known: Vec<&str> = notifiers.keys().map(String::as_str).collect();
                let help = if known.is_empty() {
                    "define it as a [notifiers.NAME] table".to_string()
                } else {
                    format!(
                        "the notifiers defined are: {}; or define it as a [notifiers.NAME] table",
                        known.join(", ")
                    )
                };
                errors.push(ConfigError::invalid(
                    path,
                    text,
                    to.span(),
                    format!("{key}.to"),
                    format!("no notifier is called `{}`", to.get_ref()),
                    Some(help),
                ));
                continue;
            }
            if !seen.insert(to.get_ref().as_str()) {
                errors.push(ConfigError::invalid(
                    path,
                    text,
                    to.span(),
                    format!("{key}.to"),
                    format!(
                        "`{}` is already routed for {env}; each message would be sent twice",
                        to.get_ref()
                    ),
                    Some("merge the two `on` lists into one route".to_string()),
                ));
                continue;
            }
            if route.on.get_ref().is_empty() {
                errors.push(ConfigError::invalid(
                    path,
                    text,
                    route.on.span(),
                    format!("{key}.on"),
                    "the route sends no event",
                    Some(format!(
                        "list some of {valid_kinds}, or omit `on` to send them all"
                    )),
                ));
                continue;
            }
            for (j, kind) in route.on.get_ref().iter().enumerate() {
                if EventKind::from_name(kind.get_ref()).is_none() {
                    errors.push(ConfigError::invalid(
                        path,
                        text,
                        kind.span(),
                        format!("{key}.on[{j}]"),
                        format!("`{}` is not an event kind", kind.get_ref()),
                        Some(format!("hoist sends {valid_kinds}")),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(default)]
        notifiers: BTreeMap<String, Spanned<NotifierConfig>>,
        #[serde(default)]
        environments: BTreeMap<String, Env>,
    }

    #[derive(Debug, Deserialize)]
    struct Env {
        #[serde(default)]
        notify: Vec<NotifyRoute>,
    }

    fn check(text: &str) -> Result<Doc, String> {
        let doc: Doc = toml::from_str(text).expect("test text parses");
        validate_notify(
            Path::new("hoist.toml"),
            text,
            &doc.notifiers,
            doc.environments
                .iter()
                .map(|(name, env)| (name.as_str(), env.notify.as_slice())),
        )
        .map_err(|e| e.to_string())?;
        Ok(doc)
    }

    const GOOD: &str = r#"
[notifiers.team-zulip]
kind = "zulip"
site = "https://chat.example.com/"
bot_email = "hoist-bot@chat.example.com"
api_key_env = "ZULIP_API_KEY"
stream = "deploys"
topic = "{{ app }} {{ environment }}"

[notifiers.team-slack]
kind = "slack"
url_file = "/run/secrets/slack-webhook"
template = "{{ app }} {{ kind }}"

[notifiers.ops-webhook]
kind = "webhook"
url = "https://ops.example.com/hoist"
secret_env = "HOIST_WEBHOOK_SECRET"
timeout = "2s"
attempts = 5

[[environments.production.notify]]
to = "team-zulip"
on = ["started", "succeeded", "failed", "refused", "rolled_back"]

[[environments.production.notify]]
to = "ops-webhook"
on = ["failed", "rolled_back"]

[[environments.staging.notify]]
to = "team-slack"
"#;

    #[test]
    fn a_good_config_gives_typed_specs() {
        let doc = check(GOOD).expect("valid");
        let zulip = doc.notifiers["team-zulip"].get_ref().spec().expect("spec");
        assert_eq!(
            zulip,
            NotifierSpec {
                service: ServiceSpec::Zulip {
                    site: "https://chat.example.com".into(),
                    bot_email: "hoist-bot@chat.example.com".into(),
                    api_key: SecretRef::Env("ZULIP_API_KEY".into()),
                    stream: "deploys".into(),
                    topic: Some("{{ app }} {{ environment }}".into()),
                },
                template: None,
                timeout: DEFAULT_TIMEOUT,
                attempts: DEFAULT_ATTEMPTS,
            }
        );
        let hook = doc.notifiers["ops-webhook"].get_ref().spec().expect("spec");
        assert_eq!(hook.timeout, Duration::from_secs(2));
        assert_eq!(hook.attempts, 5);
        let slack = doc.notifiers["team-slack"].get_ref().spec().expect("spec");
        assert_eq!(
            slack.service,
            ServiceSpec::Slack {
                url: SecretRef::File("/run/secrets/slack-webhook".into())
            }
        );
        // `on` omitted: every event.
        let staging = &doc.environments["staging"].notify[0];
        assert!(EventKind::ALL.into_iter().all(|k| staging.wants(k)));
        let ops = &doc.environments["production"].notify[1];
        assert!(ops.wants(EventKind::Failed) && !ops.wants(EventKind::Started));
    }

    #[test]
    fn unknown_notifier_is_named_with_the_known_ones() {
        let text = GOOD.replace("to = \"ops-webhook\"", "to = \"ops-hook\"");
        let err = check(&text).expect_err("invalid");
        assert!(
            err.starts_with("hoist.toml:27:6: environments.production.notify[1].to: no notifier is called `ops-hook`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_event_kind_points_at_the_entry() {
        let text = GOOD.replace(
            "on = [\"failed\", \"rolled_back\"]",
            "on = [\"failed\", \"deployed\"]",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.starts_with("hoist.toml:28:17: environments.production.notify[1].on[1]: `deployed` is not an event kind"),
            "{err}"
        );
    }

    #[test]
    fn literal_api_key_is_refused_without_repeating_it() {
        let text = GOOD.replace(
            "api_key_env = \"ZULIP_API_KEY\"",
            "api_key = \"s3cr3t-k3y-value\"",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.starts_with("hoist.toml:6:11: notifiers.team-zulip.api_key: hoist.toml must not hold credentials"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn literal_slack_url_is_refused() {
        let text = GOOD.replace(
            "url_file = \"/run/secrets/slack-webhook\"",
            "url = \"https://hooks.slack.com/services/T0/B0/XXXX\"",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains("notifiers.team-slack.url: a Slack webhook URL is itself a credential"),
            "{err}"
        );
        assert!(!err.contains("XXXX"), "{err}");
    }

    #[test]
    fn a_key_in_the_env_name_slot_is_refused_without_repeating_it() {
        let text = GOOD.replace(
            "secret_env = \"HOIST_WEBHOOK_SECRET\"",
            "secret_env = \"hunter2 xyz!\"",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains(
                "notifiers.ops-webhook.secret_env: `secret_env` must name an environment variable"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_urls_are_refused() {
        for (url, why) in [
            ("ops.example.com/hoist", "no scheme"),
            ("http://ops.example.com/hoist", "plain http"),
            ("https://user:pw@ops.example.com/hoist", "credentials"),
            ("ftp://ops.example.com/", "only https"),
            ("https:///hoist", "no host"),
        ] {
            let text = GOOD.replace("https://ops.example.com/hoist", url);
            let err = check(&text).expect_err("invalid");
            assert!(
                err.contains("notifiers.ops-webhook.url: not a usable URL") && err.contains(why),
                "{url}: {err}"
            );
            assert!(err.starts_with("hoist.toml:17:7:"), "{err}");
        }
        assert_eq!(url_problem("http://127.0.0.1:8080/x"), None);
        assert_eq!(url_problem("http://[::1]:8080/x"), None);
        assert_eq!(url_problem("http://localhost/x"), None);
    }

    #[test]
    fn zulip_site_is_the_organization_not_the_api() {
        let text = GOOD.replace(
            "https://chat.example.com/",
            "https://chat.example.com/api/v1",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains("notifiers.team-zulip.site: `site` is the organization's URL"),
            "{err}"
        );
    }

    #[test]
    fn keys_of_another_kind_are_refused() {
        let text = GOOD.replace(
            "stream = \"deploys\"",
            "stream = \"deploys\"\nsecret_env = \"X\"",
        );
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains(
                "notifiers.team-zulip.secret_env: `secret_env` does not apply to a zulip notifier"
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_credential_source_is_explained() {
        let text = GOOD.replace("api_key_env = \"ZULIP_API_KEY\"\n", "");
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains(
                "notifiers.team-zulip.api_key_env: missing `api_key_env` or `api_key_file`"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_same_notifier_twice_in_one_environment_is_refused() {
        let text = GOOD.replace("to = \"ops-webhook\"", "to = \"team-zulip\"");
        let err = check(&text).expect_err("invalid");
        assert!(
            err.contains("`team-zulip` is already routed for production"),
            "{err}"
        );
    }

    #[test]
    fn limits_of_timeout_and_attempts() {
        let err = check(&GOOD.replace("\"2s\"", "\"5 minutes\"")).expect_err("invalid");
        assert!(err.contains("notifiers.ops-webhook.timeout"), "{err}");
        let err = check(&GOOD.replace("\"2s\"", "\"soon\"")).expect_err("invalid");
        assert!(err.contains("`soon` is not a duration"), "{err}");
        let err = check(&GOOD.replace("attempts = 5", "attempts = 0")).expect_err("invalid");
        assert!(err.contains("notifiers.ops-webhook.attempts"), "{err}");
    }

    #[test]
    fn empty_on_is_refused() {
        let err = check(&GOOD.replace("on = [\"failed\", \"rolled_back\"]", "on = []"))
            .expect_err("invalid");
        assert!(
            err.contains("environments.production.notify[1].on: the route sends no event"),
            "{err}"
        );
    }
}
