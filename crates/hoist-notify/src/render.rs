//! Chat messages from notices, through minijinja templates: built-in ones per event kind
//! (embedded from `templates/`), or one template per notifier from `hoist.toml`.
//!
//! Templates are written once for both chat dialects: the filters `bold`, `code`, `quote`
//! and `link` produce Zulip's Markdown or Slack's mrkdwn. Every value is escaped before the
//! template sees it, so text from users (actor, reason, tenant names, error details, a
//! commit subject) cannot mention anyone or forge markup: for Slack `&`, `<` and `>` (its
//! mentions are `<!channel>`, `<!here>`, `<@U123>`); for Zulip `*` and `\` with a
//! backslash (its mentions are `@**all**`, `@**name**`, `@_**name**`, `@*group*`).

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::notice::{EventKind, Notice, TenantStatus};

/// Which markup the chat service reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Zulip's Markdown.
    Markdown,
    /// Slack's mrkdwn.
    Slack,
}

const BUILTIN: [(&str, &str); 6] = [
    ("tenants.md", include_str!("../templates/tenants.md")),
    ("started.md", include_str!("../templates/started.md")),
    ("succeeded.md", include_str!("../templates/succeeded.md")),
    ("failed.md", include_str!("../templates/failed.md")),
    ("refused.md", include_str!("../templates/refused.md")),
    (
        "rolled_back.md",
        include_str!("../templates/rolled_back.md"),
    ),
];

/// Name of a notifier's own message template.
const CUSTOM: &str = "custom.md";
/// Name of the Zulip topic template.
const TOPIC: &str = "topic.md";
/// The Zulip topic when none is configured: one topic per app and environment keeps a
/// deploy's started/succeeded messages together.
pub(crate) const DEFAULT_TOPIC: &str = "{{ app }} {{ environment }}";

/// Tenants listed by name per outcome line before "and N more".
const NAMES_PER_LINE: usize = 30;
/// Per-tenant details are cut to this many characters.
const DETAIL_CHARS: usize = 300;

pub(crate) struct Renderer {
    env: Environment<'static>,
    dialect: Dialect,
    custom: bool,
    topic: bool,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("dialect", &self.dialect)
            .field("custom", &self.custom)
            .field("topic", &self.topic)
            .finish()
    }
}

impl Renderer {
    /// A renderer with the built-in templates, `custom` as the message template if given,
    /// and `topic` as the topic template if given. Fails on a syntax error, and on any
    /// error rendering a sample notice of every kind, so that a broken template is found
    /// when the config is loaded rather than when a deploy fails.
    pub(crate) fn new(
        dialect: Dialect,
        custom: Option<String>,
        topic: Option<String>,
    ) -> Result<Renderer, String> {
        let mut env = Environment::new();
        // Undefined names are errors, so a typo in a template (`{{ enviroment }}`) is
        // reported when hoist starts, not sent as an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, source) in BUILTIN {
            env.add_template(name, source)
                .map_err(|e| format!("built-in template {name}: {e}"))?;
        }
        let has_custom = custom.is_some();
        if let Some(source) = custom {
            env.add_template_owned(CUSTOM, source)
                .map_err(|e| format!("template: {}", describe(&e)))?;
        }
        let has_topic = topic.is_some();
        if let Some(source) = topic {
            env.add_template_owned(TOPIC, source)
                .map_err(|e| format!("topic: {}", describe(&e)))?;
        }
        env.add_filter("bold", move |v: String| match dialect {
            Dialect::Markdown => format!("**{v}**"),
            Dialect::Slack => format!("*{v}*"),
        });
        // Code spans show backslashes literally (and mention no one): undo the escaping.
        env.add_filter("code", move |v: String| {
            let v = match dialect {
                Dialect::Markdown => markdown_unescape(&v),
                Dialect::Slack => v,
            };
            format!("`{}`", v.replace('`', "'"))
        });
        env.add_filter("quote", |v: String| {
            v.lines()
                .map(|line| format!("> {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        });
        env.add_filter("link", move |text: String, url: String| match dialect {
            Dialect::Markdown => format!("[{text}]({url})"),
            Dialect::Slack => format!("<{url}|{text}>"),
        });
        let renderer = Renderer {
            env,
            dialect,
            custom: has_custom,
            topic: has_topic,
        };
        for kind in EventKind::ALL {
            let sample = Notice::sample(kind);
            renderer.message(&sample)?;
            renderer.topic(&sample)?;
        }
        Ok(renderer)
    }

    /// The chat message for `notice`.
    pub(crate) fn message(&self, notice: &Notice) -> Result<String, String> {
        let name = if self.custom {
            CUSTOM.to_string()
        } else {
            format!("{}.md", notice.kind.as_str())
        };
        let what = if self.custom {
            "template"
        } else {
            "built-in template"
        };
        let text = self
            .env
            .get_template(&name)
            .and_then(|t| t.render(context(notice, Escape::For(self.dialect))))
            .map_err(|e| format!("{what}: {}", describe(&e)))?;
        Ok(tidy(&text))
    }

    /// The Zulip topic for `notice`, on one line. Topics are plain text (no Markdown, no
    /// mentions), so values are not escaped there.
    pub(crate) fn topic(&self, notice: &Notice) -> Result<String, String> {
        let ctx = context(notice, Escape::None);
        let text = if self.topic {
            self.env.get_template(TOPIC).and_then(|t| t.render(ctx))
        } else {
            self.env.render_str(DEFAULT_TOPIC, ctx)
        }
        .map_err(|e| format!("topic: {}", describe(&e)))?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// minijinja's message plus the line, without its multi-line debug dump.
fn describe(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!(
            "{} (line {line})",
            error.detail().unwrap_or(&error.kind().to_string())
        ),
        None => error.to_string(),
    }
}

/// Blank-line runs collapsed, trailing spaces and surrounding blank lines removed: the
/// templates stay readable without whitespace-control noise.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// The variables templates see. Documented in docs/notifications.md; keep them in step.
#[derive(Serialize)]
struct Context {
    kind: &'static str,
    app: String,
    version: String,
    environment: String,
    actor: String,
    at: String,
    delivery_id: String,
    image: Option<String>,
    link: Option<String>,
    reason: Option<String>,
    /// Human form, e.g. `1m 12s`.
    duration: Option<String>,
    duration_ms: Option<u64>,
    icon: &'static str,
    tenants: Vec<TenantView>,
    failed_tenants: Vec<String>,
    counts: BTreeMap<&'static str, usize>,
    groups: Vec<Group>,
}

#[derive(Serialize, Clone)]
struct TenantView {
    tenant: String,
    outcome: &'static str,
    detail: Option<String>,
}

/// Tenants of one outcome, for the compact list.
#[derive(Serialize)]
struct Group {
    outcome: &'static str,
    label: &'static str,
    icon: &'static str,
    /// How many tenants have this outcome.
    count: usize,
    /// Tenants with a detail, one line each.
    details: Vec<TenantView>,
    /// The others, by name, at most [`NAMES_PER_LINE`].
    names: Vec<String>,
    /// Names left out.
    more: usize,
}

/// How values are escaped for a template.
#[derive(Clone, Copy)]
enum Escape {
    For(Dialect),
    /// Plain text, such as a Zulip topic.
    None,
}

/// A value as Zulip's Markdown shows it literally. Every Zulip mention needs a `*` right
/// after the `@` (or `@_`); a backslash-escaped `\*` is shown as `*` and starts none.
/// Backslashes are escaped too, so that a value's own `\` cannot undo that.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The inverse of [`markdown_escape`].
fn markdown_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('\\' | '*')) => out.push(next),
                Some(next) => {
                    out.push(c);
                    out.push(next);
                }
                None => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn context(notice: &Notice, escape: Escape) -> Value {
    let esc = |s: &str| match escape {
        Escape::For(Dialect::Markdown) => markdown_escape(s),
        Escape::For(Dialect::Slack) => slack_escape(s),
        Escape::None => s.to_string(),
    };
    let tenants: Vec<TenantView> = notice
        .tenants
        .iter()
        .map(|t| TenantView {
            tenant: esc(&t.tenant),
            outcome: t.outcome.as_str(),
            detail: t.detail.as_deref().map(|d| esc(&one_line(d))),
        })
        .collect();
    let mut counts = BTreeMap::new();
    for t in &notice.tenants {
        *counts.entry(t.outcome.as_str()).or_insert(0) += 1;
    }
    // Bad news first.
    let order = [
        TenantStatus::Failed,
        TenantStatus::RolledBack,
        TenantStatus::RolledBackByPolicy,
        TenantStatus::Skipped,
        TenantStatus::Pending,
        TenantStatus::Succeeded,
        TenantStatus::Unchanged,
    ];
    let groups = order
        .into_iter()
        .filter_map(|status| {
            let members: Vec<&TenantView> = tenants
                .iter()
                .filter(|t| t.outcome == status.as_str())
                .collect();
            if members.is_empty() {
                return None;
            }
            let (details, plain): (Vec<&TenantView>, Vec<&TenantView>) =
                members.iter().partition(|t| t.detail.is_some());
            Some(Group {
                outcome: status.as_str(),
                label: label(status),
                icon: tenant_icon(status),
                count: members.len(),
                details: details.into_iter().cloned().collect(),
                names: plain
                    .iter()
                    .take(NAMES_PER_LINE)
                    .map(|t| t.tenant.clone())
                    .collect(),
                more: plain.len().saturating_sub(NAMES_PER_LINE),
            })
        })
        .collect();
    let context = Context {
        kind: notice.kind.as_str(),
        app: esc(&notice.app),
        version: esc(&notice.version),
        environment: esc(&notice.environment),
        actor: esc(&notice.actor),
        at: notice.at.to_string(),
        delivery_id: notice.delivery_id.clone(),
        image: notice.image.as_deref().map(esc),
        link: notice.link.as_deref().map(esc),
        reason: notice.reason.as_deref().map(esc),
        duration: notice.duration_ms.map(human_duration),
        duration_ms: notice.duration_ms,
        icon: kind_icon(notice.kind),
        failed_tenants: notice.failed_tenants().map(esc).collect(),
        tenants,
        counts,
        groups,
    };
    Value::from_serialize(&context)
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > DETAIL_CHARS {
        let cut: String = line.chars().take(DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Whole seconds (or milliseconds under one second): what a person wants to read.
fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

/// Unicode emoji rather than `:shortcodes:`: Zulip and Slack name them differently, and
/// both show these.
fn kind_icon(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Started => "🚀",
        EventKind::Succeeded => "✅",
        EventKind::Failed => "❌",
        EventKind::Refused => "⛔",
        EventKind::RolledBack => "⏪",
    }
}

fn tenant_icon(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Pending => "⏳",
        TenantStatus::Succeeded => "✅",
        TenantStatus::Unchanged => "☑️",
        TenantStatus::Failed => "❌",
        TenantStatus::RolledBack => "⏪",
        TenantStatus::RolledBackByPolicy => "↩️",
        TenantStatus::Skipped => "⏭️",
    }
}

fn label(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Pending => "pending",
        TenantStatus::Succeeded => "succeeded",
        TenantStatus::Unchanged => "already on it",
        TenantStatus::Failed => "failed",
        TenantStatus::RolledBack => "rolled back",
        TenantStatus::RolledBackByPolicy => "rolled back by policy",
        TenantStatus::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn failed() -> Notice {
        let mut notice = Notice::new(EventKind::Failed, "clinic", "1.4.2", "production", "amitav")
            .with_duration(Duration::from_secs(72))
            .with_reason("verification failed on 1 of 3 instances")
            .with_tenant("acme", TenantStatus::Succeeded, None)
            .with_tenant("initech", TenantStatus::Succeeded, None)
            .with_tenant(
                "globex",
                TenantStatus::Failed,
                Some("health check on :8081/healthz\ntimed out after 60s".into()),
            );
        notice.link = Some("https://ci.example.com/jobs/42?a=1&b=2".into());
        notice
    }

    #[test]
    fn zulip_failure_message() {
        let r = Renderer::new(Dialect::Markdown, None, None).expect("renderer");
        assert_eq!(
            r.message(&failed()).expect("render"),
            "❌ **clinic 1.4.2** failed on **production** after 1m 12s (deployed by amitav)\n\
             \n\
             > verification failed on 1 of 3 instances\n\
             \n\
             - ❌ `globex`: health check on :8081/healthz timed out after 60s\n\
             - ✅ succeeded (2): acme, initech\n\
             \n\
             [CI job](https://ci.example.com/jobs/42?a=1&b=2)"
        );
        assert_eq!(r.topic(&failed()).expect("topic"), "clinic production");
    }

    #[test]
    fn slack_uses_mrkdwn_and_escapes_values() {
        let r = Renderer::new(Dialect::Slack, None, None).expect("renderer");
        let mut notice = failed();
        notice.reason = Some("<!channel> & friends".into());
        let text = r.message(&notice).expect("render");
        assert!(
            text.starts_with("❌ *clinic 1.4.2* failed on *production*"),
            "{text}"
        );
        assert!(text.contains("> &lt;!channel&gt; &amp; friends"), "{text}");
        assert!(
            text.ends_with("<https://ci.example.com/jobs/42?a=1&amp;b=2|CI job>"),
            "{text}"
        );
    }

    /// A notice whose every user-supplied value tries to mention everyone.
    fn mentioning() -> Notice {
        let mut notice = Notice::new(
            EventKind::Failed,
            "clinic",
            "1.4.2",
            "production",
            "@**all** <!channel> <@U024BE7LH>",
        )
        .with_reason("fix @*backend* and @_**Iago** <!here> <!subteam^SAZ94GDB8>")
        .with_tenant("@**everyone**", TenantStatus::Succeeded, None)
        .with_tenant(
            "<!everyone>",
            TenantStatus::Failed,
            Some("@**topic** said \\**x** @_*ops* <@W123|bob>".into()),
        );
        notice.link = Some("https://ci.example.com/jobs/42".into());
        notice
    }

    #[test]
    fn zulip_values_mention_no_one_and_read_as_written() {
        let r = Renderer::new(Dialect::Markdown, None, None).expect("renderer");
        let text = r.message(&mentioning()).expect("render");
        for mention in ["@**", "@*", "@_**", "@_*"] {
            assert!(!text.contains(mention), "{mention} in:\n{text}");
        }
        assert!(
            text.contains("(deployed by @\\*\\*all\\*\\* <!channel> <@U024BE7LH>)"),
            "{text}"
        );
        assert!(
            text.contains("> fix @\\*backend\\* and @_\\*\\*Iago\\*\\* <!here>"),
            "{text}"
        );
        // A value's own backslash cannot undo the escape of the `*` after it.
        assert!(text.contains("said \\\\\\*\\*x\\*\\*"), "{text}");
        // Inside code spans (tenant names) nothing is rendered: shown exactly as written.
        assert!(text.contains("`<!everyone>`"), "{text}");
        assert_eq!(
            markdown_unescape(&markdown_escape("a\\*b**\\")),
            "a\\*b**\\"
        );
        // Topics are plain text: not escaped.
        let r =
            Renderer::new(Dialect::Markdown, None, Some("{{ actor }}".into())).expect("renderer");
        assert_eq!(
            r.topic(&mentioning()).expect("topic"),
            "@**all** <!channel> <@U024BE7LH>"
        );
    }

    #[test]
    fn slack_values_mention_no_one() {
        let r = Renderer::new(Dialect::Slack, None, None).expect("renderer");
        let text = r.message(&mentioning()).expect("render");
        let outside_links = text.replace("<https://ci.example.com/jobs/42|CI job>", "");
        assert!(
            !outside_links.contains('<'),
            "a control sequence in:\n{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt; &lt;@U024BE7LH&gt;"),
            "{text}"
        );
        assert!(text.contains("&lt;!subteam^SAZ94GDB8&gt;"), "{text}");
        assert!(text.contains("`&lt;!everyone&gt;`"), "{text}");
        assert!(text.contains("&lt;@W123|bob&gt;"), "{text}");
    }

    #[test]
    fn every_kind_has_a_message() {
        for dialect in [Dialect::Markdown, Dialect::Slack] {
            let r = Renderer::new(dialect, None, None).expect("renderer");
            for kind in EventKind::ALL {
                let text = r.message(&Notice::sample(kind)).expect("render");
                assert!(text.contains("1.4.2"), "{kind}: {text}");
                assert!(!text.contains("\n\n\n"), "{kind}: {text}");
            }
        }
    }

    #[test]
    fn many_tenants_stay_compact() {
        let mut notice = Notice::new(EventKind::Succeeded, "clinic", "2.0.0", "production", "ci");
        for i in 0..45 {
            notice = notice.with_tenant(format!("t{i:02}"), TenantStatus::Succeeded, None);
        }
        let r = Renderer::new(Dialect::Markdown, None, None).expect("renderer");
        let text = r.message(&notice).expect("render");
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("✅ succeeded (45): t00, t01,"), "{text}");
        assert!(text.ends_with("t29 and 15 more"), "{text}");
    }

    #[test]
    fn custom_templates_override_and_are_checked_up_front() {
        let r = Renderer::new(
            Dialect::Markdown,
            Some("{{ kind }}: {{ app | bold }} {% if failed_tenants %}({{ failed_tenants | join(\", \") }}){% endif %}".into()),
            Some("deploys/{{ environment }}".into()),
        )
        .expect("renderer");
        assert_eq!(
            r.message(&failed()).expect("render"),
            "failed: **clinic** (globex)"
        );
        assert_eq!(r.topic(&failed()).expect("topic"), "deploys/production");

        let typo = Renderer::new(Dialect::Markdown, Some("{{ enviroment }}".into()), None)
            .expect_err("undefined variable");
        assert!(typo.starts_with("template: "), "{typo}");
        assert!(typo.contains("line 1"), "{typo}");
        let syntax = Renderer::new(Dialect::Markdown, Some("{% if %}".into()), None)
            .expect_err("syntax error");
        assert!(syntax.starts_with("template: "), "{syntax}");
    }

    #[test]
    fn custom_templates_can_reuse_the_built_in_ones() {
        let r = Renderer::new(
            Dialect::Markdown,
            Some("{% include kind ~ \".md\" %}\n\nOn call: @**ops**".into()),
            None,
        )
        .expect("renderer");
        let text = r.message(&failed()).expect("render");
        assert!(text.starts_with("❌ **clinic 1.4.2** failed"), "{text}");
        assert!(text.ends_with("On call: @**ops**"), "{text}");
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(450), "450ms");
        assert_eq!(human_duration(59_999), "59s");
        assert_eq!(human_duration(72_000), "1m 12s");
        assert_eq!(human_duration(3_723_000), "1h 2m");
    }
}
