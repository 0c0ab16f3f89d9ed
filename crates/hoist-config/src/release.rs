//! Settings of the tag-driven release pipeline: which refs deploy where (`deploy_from`),
//! what must be verified first (`requires_verified_in`), and who may deploy when
//! (`[groups]`, `[environments.NAME.policy]`).
//!
//! ```toml
//! [groups]
//! release-managers = ["bob", "carol"]
//!
//! [environments.staging]
//! deploy_from = [{ semver = "prerelease", pre = ["beta", "rc"] }]   # v2.3.0-beta.1
//!
//! [environments.production]
//! deploy_from = [{ semver = "release" }]                           # v2.3.0
//! requires_verified_in = ["staging"]
//!
//! [environments.production.policy]
//! deployers = ["@release-managers", "dave"]
//! release_tags_only = true
//! timezone = "America/Toronto"
//! windows = [{ days = "mon-fri", from = "09:00", to = "17:00" }]
//! blackout = ["2026-12-24", "2026-12-31"]
//! override_window_by = ["@release-managers"]
//!
//! [environments.uat]
//! deploy_from = [{ branch = "uat" }, { tag = "uat-*" }]
//!
//! [environments.dr]                      # production's disaster-recovery twin
//! deploy_from = [{ semver = "release" }]
//! overlaps_with = ["production"]         # intended: every release goes to both
//! ```
//!
//! The doc comments on the types below are the reference for each key; the semantics live
//! in `hoist-policy` ([`hoist_policy::rules`], [`hoist_policy::window`],
//! [`hoist_policy::policy`], [`hoist_policy::promotion`]).
//!
//! [`validate_release`] checks all of it when the file loads, with file:line:col errors:
//! unknown groups and environments, time zones, times, weekdays, dates, globs, promotion
//! cycles, and **overlaps**: two environments whose rules one ref satisfies, which would
//! deploy that ref to both. An overlap is reported with an example ref and both rules'
//! positions, unless one of the two environments names the other in `overlaps_with`.
//! [`release_settings`] turns a loaded config into the [`hoist_policy::ReleaseSettings`]
//! the pipeline asks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use hoist_policy::{self as policy, ClockTime, Principal, Principals, Rule, Weekdays, window};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::{Config, ConfigError};

/// `[groups]`: named lists of user names, referenced as `@name` in `deployers` and
/// `override_window_by`. Groups list people, not other groups.
///
/// ```toml
/// [groups]
/// release-managers = ["bob", "carol"]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Groups(pub BTreeMap<String, Spanned<Vec<Spanned<String>>>>);

/// One entry of `deploy_from`: exactly one of `semver`, `tag` or `branch`.
///
/// A ref deploys to every environment with a matching rule; a ref no rule matches is
/// "nothing to deploy" (not an error). Tags and branches are separate: a tag rule never
/// matches a branch of the same name.
///
/// ```toml
/// deploy_from = [
///   { semver = "release" },                        # v2.3.0, 2.3.0, v2.3.0+build.7
///   { semver = "prerelease" },                     # v2.3.0-beta.1, v2.3.0-rc.2
///   { semver = "prerelease", pre = ["beta"] },     # v2.3.0-beta, -beta.1, -beta2
///   { semver = "any" },                            # any of the above
///   { tag = "uat-*" },                             # tags by glob
///   { branch = "main" },                           # a branch, or branches by glob
/// ]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefRule {
    /// Semver tags (Semantic Versioning 2.0.0, optional `v`): `"release"` (no pre-release
    /// part), `"prerelease"`, or `"any"`.
    #[serde(default)]
    pub semver: Option<Spanned<SemverKind>>,
    /// With `semver = "prerelease"`: only pre-releases whose first identifier is one of
    /// these names, optionally followed by digits (`beta` matches `-beta`, `-beta.1`,
    /// `-beta2`; not `-betax`).
    #[serde(default)]
    pub pre: Option<Spanned<Vec<Spanned<String>>>>,
    /// A glob over tag names, without `refs/tags/`. `*` and `?` do not cross `/`; `**`
    /// does.
    #[serde(default)]
    pub tag: Option<Spanned<String>>,
    /// A branch name or a glob over branch names, without `refs/heads/`.
    #[serde(default)]
    pub branch: Option<Spanned<String>>,
}

/// Which semver tags a `semver` rule takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SemverKind {
    Release,
    Prerelease,
    Any,
}

/// `[environments.NAME.policy]`: who may deploy to the environment, which refs, and when.
/// Without it, anyone may deploy any ref that reaches the environment at any time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// User names and `@group`s allowed to deploy. Absent: anyone. Names compare exactly.
    #[serde(default)]
    pub deployers: Option<Spanned<Vec<Spanned<String>>>>,
    /// Only semver release tags (`v2.3.0`) may deploy: no pre-releases, other tags or
    /// branches.
    #[serde(default)]
    pub release_tags_only: bool,
    /// IANA time zone of `windows` and `blackout`, e.g. `"America/Toronto"`,
    /// `"Europe/Berlin"`, `"UTC"`. Required when either is set. Abbreviations such as
    /// `EST` are refused: they are fixed offsets and ignore daylight saving time.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// When deploys may start, in local wall-clock time (daylight saving time followed).
    /// Absent or empty: any time. See [`Window`].
    #[serde(default)]
    pub windows: Vec<Spanned<Window>>,
    /// Dates (`"YYYY-MM-DD"`, in `timezone`) on which nothing deploys, from local midnight
    /// to local midnight.
    #[serde(default)]
    pub blackout: Vec<Spanned<Text>>,
    /// User names and `@group`s who may deploy outside the windows and on blackout dates
    /// with `--override-window --reason "..."`. The override and its reason are recorded.
    /// It does not bypass `deployers` or `release_tags_only`. Absent: nobody.
    #[serde(default)]
    pub override_window_by: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One deploy window: `{ days = "mon-fri", from = "09:00", to = "17:00" }`.
///
/// `from` is inclusive and `to` exclusive (`09:00`-`17:00` is closed at 17:00:00);
/// `to = "24:00"` is the end of the day. A `from` later than `to` crosses midnight, and
/// `days` names the day the window opens: `{ days = "fri", from = "22:00", to = "02:00" }`
/// runs from Friday 22:00 to Saturday 02:00. On the day clocks spring forward a window
/// inside the skipped hour does not open.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `"mon-fri"`, `"sat,sun"`, `"mon,wed-fri"`, `"fri-mon"`; three-letter or full
    /// names. Absent: every day.
    #[serde(default)]
    pub days: Option<Spanned<String>>,
    /// `"HH:MM"`, 24-hour.
    pub from: Spanned<Text>,
    /// `"HH:MM"`, 24-hour, or `"24:00"`.
    pub to: Spanned<Text>,
}

/// A string, also accepting a bare TOML date or time (`2026-12-24`, `09:00:00`), kept as
/// the text it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(Text(s)),
            toml::Value::Datetime(dt) if dt.offset.is_none() => Ok(Text(dt.to_string())),
            other => Err(D::Error::custom(format!(
                "expected a date like \"2026-12-24\" or a time like \"09:00\", found {}",
                other.type_str()
            ))),
        }
    }
}

/// A release setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ReleaseError {
    pub key: String,
    pub message: String,
}

/// The release settings of a loaded config, for the pipeline. A config that passed
/// [`validate_release`] (every [`crate::load`]ed one) always converts.
pub fn release_settings(config: &Config) -> Result<policy::ReleaseSettings, ReleaseError> {
    build(config).map_err(|p| ReleaseError {
        key: p.key,
        message: p.message,
    })
}

/// Checks `[groups]` and every environment's `deploy_from`, `overlaps_with`,
/// `requires_verified_in` and `policy`; the first problem is returned with its place in
/// the file. Called by the config validator.
// ConfigError's size is the crate's choice (its `load` and `validate` have the same lint).
#[allow(clippy::result_large_err)]
pub fn validate_release(config: &Config, path: &Path, text: &str) -> Result<(), ConfigError> {
    let fail = |p: Problem| ConfigError::invalid(path, text, p.span, p.key, p.message, p.help);
    let settings = build(config).map_err(fail)?;
    let overlaps = settings
        .rules
        .overlaps()
        .map_err(|e| fail(Problem::new(0..0, "environments", e.to_string(), None)))?;
    if let Some(overlap) = overlaps.first() {
        let rule_span = |id: &policy::rules::RuleId| {
            config
                .environments
                .get(&id.environment)
                .and_then(|env| env.get_ref().deploy_from.get(id.index))
                .map_or(0..0, Spanned::span)
        };
        let (first, second) = (&overlap.first, &overlap.second);
        let (line, column) = crate::error::line_col(text, rule_span(first).start);
        return Err(fail(Problem::new(
            rule_span(second),
            format!(
                "environments.{}.deploy_from[{}]",
                second.environment, second.index
            ),
            format!(
                "{} (the other rule is at {}:{line}:{column})",
                overlap.message,
                path.display()
            ),
            Some(format!(
                "narrow one of the rules; if both environments should get such refs, add \
                 overlaps_with = [\"{}\"] to [environments.{}]",
                first.environment, second.environment
            )),
        )));
    }
    Ok(())
}

/// A problem found while building the settings, before it is placed in the file.
struct Problem {
    span: Range<usize>,
    key: String,
    message: String,
    help: Option<String>,
}

impl Problem {
    fn new(
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Problem {
        Problem {
            span,
            key: key.into(),
            message: message.into(),
            help,
        }
    }
}

fn help(text: &str) -> Option<String> {
    Some(text.to_string())
}

fn build(config: &Config) -> Result<policy::ReleaseSettings, Problem> {
    let groups = build_groups(&config.groups)?;
    let names: BTreeSet<&str> = config.environments.keys().map(String::as_str).collect();
    let mut rules = Vec::new();
    let mut policies = BTreeMap::new();
    let mut requires_verified_in = BTreeMap::new();
    for (name, env) in &config.environments {
        let key = format!("environments.{name}");
        let env = env.get_ref();
        let deploy_from = env
            .deploy_from
            .iter()
            .enumerate()
            .map(|(i, rule)| build_rule(rule, &format!("{key}.deploy_from[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let overlaps_with = environment_list(
            &env.overlaps_with,
            name,
            &names,
            &format!("{key}.overlaps_with"),
        )?;
        let required = environment_list(
            &env.requires_verified_in,
            name,
            &names,
            &format!("{key}.requires_verified_in"),
        )?;
        rules.push(policy::EnvironmentRules {
            environment: name.clone(),
            rules: deploy_from,
            overlaps_with: overlaps_with.into_iter().collect(),
        });
        let env_policy = match &env.policy {
            Some(p) => build_policy(name, p, &groups, &format!("{key}.policy"))?,
            None => policy::Policy::open(name),
        };
        policies.insert(name.clone(), env_policy);
        requires_verified_in.insert(name.clone(), required);
    }
    check_promotion_cycles(config, &requires_verified_in)?;
    Ok(policy::ReleaseSettings {
        rules: policy::RuleSet::new(rules),
        policies,
        requires_verified_in,
    })
}

fn build_groups(groups: &Groups) -> Result<BTreeMap<String, Vec<String>>, Problem> {
    let mut built = BTreeMap::new();
    for (name, members) in &groups.0 {
        let key = format!("groups.{name}");
        if !is_group_name(name) {
            return Err(Problem::new(
                members.span(),
                key,
                format!("`{name}` is not a valid group name"),
                help("use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
            ));
        }
        let mut list = Vec::new();
        for (i, member) in members.get_ref().iter().enumerate() {
            let m = member.get_ref();
            if let Some(problem) = user_name_problem(m) {
                return Err(Problem::new(
                    member.span(),
                    format!("{key}[{i}]"),
                    format!("`{m}` is not a user name: {problem}"),
                    help(if m.starts_with('@') {
                        "groups cannot contain groups; list the group's people here"
                    } else {
                        "write the user name as hoist sees it (HOIST_USER, or the CI user)"
                    }),
                ));
            }
            list.push(m.clone());
        }
        built.insert(name.clone(), list);
    }
    Ok(built)
}

fn is_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn user_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.chars().any(char::is_whitespace) {
        Some("it contains a space")
    } else if name.starts_with('@') {
        Some("it is a group reference")
    } else {
        None
    }
}

fn build_rule(rule: &Spanned<RefRule>, key: &str) -> Result<Rule, Problem> {
    let r = rule.get_ref();
    let given = usize::from(r.semver.is_some())
        + usize::from(r.tag.is_some())
        + usize::from(r.branch.is_some());
    if given != 1 {
        return Err(Problem::new(
            rule.span(),
            key,
            if given == 0 {
                "the rule names no refs: it needs one of semver, tag or branch"
            } else {
                "the rule mixes kinds: it needs exactly one of semver, tag or branch"
            },
            help(
                "write { semver = \"release\" }, { tag = \"uat-*\" } or { branch = \"main\" }; \
                 list several rules for several kinds",
            ),
        ));
    }
    if let Some(pre) = &r.pre {
        if r.semver.as_ref().map(|s| *s.get_ref()) != Some(SemverKind::Prerelease) {
            return Err(Problem::new(
                pre.span(),
                format!("{key}.pre"),
                "`pre` only applies to semver = \"prerelease\"",
                help("remove `pre`, or write { semver = \"prerelease\", pre = [\"beta\"] }"),
            ));
        }
        if pre.get_ref().is_empty() {
            return Err(Problem::new(
                pre.span(),
                format!("{key}.pre"),
                "`pre` is empty",
                help(
                    "list pre-release names like [\"beta\", \"rc\"], or remove `pre` to take every pre-release",
                ),
            ));
        }
    }
    let pattern_error = |field: &str, value: &Spanned<String>, e: policy::RuleError| {
        Problem::new(
            value.span(),
            format!("{key}.{field}"),
            e.to_string(),
            help("write a name or a glob of short names: `*`, `?`, `**`, `[abc]`, `{a,b}`"),
        )
    };
    if let Some(tag) = &r.tag {
        return Rule::tag(tag.get_ref()).map_err(|e| pattern_error("tag", tag, e));
    }
    if let Some(branch) = &r.branch {
        return Rule::branch(branch.get_ref()).map_err(|e| pattern_error("branch", branch, e));
    }
    Ok(match r.semver.as_ref().map(|s| *s.get_ref()) {
        Some(SemverKind::Release) => Rule::SemverRelease,
        Some(SemverKind::Any) => Rule::Semver,
        _ => {
            let names = r.pre.as_ref().map_or(&[][..], |p| p.get_ref().as_slice());
            for (i, name) in names.iter().enumerate() {
                if let Err(e) = Rule::semver_prerelease(vec![name.get_ref().clone()]) {
                    return Err(Problem::new(
                        name.span(),
                        format!("{key}.pre[{i}]"),
                        e.to_string(),
                        None,
                    ));
                }
            }
            Rule::SemverPrerelease {
                names: names.iter().map(|n| n.get_ref().clone()).collect(),
            }
        }
    })
}

/// Checks a list of environment names: each exists and is not `this` one.
fn environment_list(
    list: &[Spanned<String>],
    this: &str,
    names: &BTreeSet<&str>,
    key: &str,
) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let name = item.get_ref();
        let key = format!("{key}[{i}]");
        if name == this {
            return Err(Problem::new(
                item.span(),
                key,
                format!("{this} names itself"),
                help("list other environments"),
            ));
        }
        if !names.contains(name.as_str()) {
            return Err(Problem::new(
                item.span(),
                key,
                format!("there is no environment `{name}`"),
                Some(format!(
                    "the environments are {}",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                )),
            ));
        }
        out.push(name.clone());
    }
    Ok(out)
}

/// `requires_verified_in` must not loop: in a loop no release could ever deploy to any of
/// its environments.
fn check_promotion_cycles(
    config: &Config,
    required: &BTreeMap<String, Vec<String>>,
) -> Result<(), Problem> {
    for start in required.keys() {
        // Depth-first from `start`, remembering the path, until it comes back to `start`.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((env, path)) = stack.pop() {
            for (i, next) in required.get(&env).into_iter().flatten().enumerate() {
                let mut path = path.clone();
                path.push(next.clone());
                if next == start {
                    let span = config
                        .environments
                        .get(&env)
                        .and_then(|e| e.get_ref().requires_verified_in.get(i))
                        .map_or(0..0, Spanned::span);
                    return Err(Problem::new(
                        span,
                        format!("environments.{env}.requires_verified_in[{i}]"),
                        format!(
                            "promotion requirements go round in a circle ({}): no release \
                             could ever deploy to any of them",
                            path.join(" requires ")
                        ),
                        help("remove one of the requirements so releases can enter somewhere"),
                    ));
                }
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), path));
                }
            }
        }
    }
    Ok(())
}

fn build_policy(
    env: &str,
    spanned: &Spanned<Policy>,
    groups: &BTreeMap<String, Vec<String>>,
    key: &str,
) -> Result<policy::Policy, Problem> {
    let p = spanned.get_ref();
    let deployers = match &p.deployers {
        Some(list) if list.get_ref().is_empty() => {
            return Err(Problem::new(
                list.span(),
                format!("{key}.deployers"),
                "deployers is empty, so nobody could deploy",
                help("list user names and @groups, or remove the key to let anyone deploy"),
            ));
        }
        Some(list) => Some(principals(list, groups, &format!("{key}.deployers"))?),
        None => None,
    };
    let override_window_by = match &p.override_window_by {
        Some(list) if !list.get_ref().is_empty() => Some(principals(
            list,
            groups,
            &format!("{key}.override_window_by"),
        )?),
        _ => None,
    };
    let mut windows = Vec::new();
    for (i, w) in p.windows.iter().enumerate() {
        windows.push(build_window(w, &format!("{key}.windows[{i}]"))?);
    }
    let mut blackout = Vec::new();
    for (i, date) in p.blackout.iter().enumerate() {
        let parsed = window::parse_date(&date.get_ref().0).map_err(|e| {
            Problem::new(
                date.span(),
                format!("{key}.blackout[{i}]"),
                e.to_string(),
                help("write dates as \"YYYY-MM-DD\""),
            )
        })?;
        blackout.push(parsed);
    }
    let schedule = match &p.timezone {
        Some(zone) => Some(
            policy::Schedule::new(zone.get_ref(), windows, blackout).map_err(|e| {
                Problem::new(
                    zone.span(),
                    format!("{key}.timezone"),
                    e.to_string(),
                    help("use an IANA name such as \"America/Toronto\", \"Europe/Berlin\" or \"UTC\""),
                )
            })?,
        ),
        None if windows.is_empty() && blackout.is_empty() => None,
        None => {
            return Err(Problem::new(
                spanned.span(),
                format!("{key}.timezone"),
                format!("{env}'s windows and blackout dates need a time zone"),
                help("add timezone = \"America/Toronto\" (an IANA name) to the policy"),
            ));
        }
    };
    Ok(policy::Policy {
        environment: env.to_string(),
        deployers,
        release_tags_only: p.release_tags_only,
        schedule,
        override_window_by,
    })
}

fn principals(
    list: &Spanned<Vec<Spanned<String>>>,
    groups: &BTreeMap<String, Vec<String>>,
    key: &str,
) -> Result<Principals, Problem> {
    let mut out = Vec::new();
    for (i, entry) in list.get_ref().iter().enumerate() {
        let text = entry.get_ref();
        let key = format!("{key}[{i}]");
        if let Some(group) = text.strip_prefix('@') {
            let Some(members) = groups.get(group) else {
                let defined: Vec<&str> = groups.keys().map(String::as_str).collect();
                return Err(Problem::new(
                    entry.span(),
                    key,
                    format!("there is no group `{group}` in [groups]"),
                    Some(if defined.is_empty() {
                        format!("define it: [groups] {group} = [\"alice\", \"bob\"]")
                    } else {
                        format!("the groups are {}", defined.join(", "))
                    }),
                ));
            };
            out.push(Principal::Group {
                name: group.to_string(),
                members: members.clone(),
            });
        } else if let Some(problem) = user_name_problem(text) {
            return Err(Problem::new(
                entry.span(),
                key,
                format!("`{text}` is not a user name: {problem}"),
                help("write user names, or @group for a group from [groups]"),
            ));
        } else {
            out.push(Principal::User(text.clone()));
        }
    }
    Ok(Principals(out))
}

fn build_window(w: &Spanned<Window>, key: &str) -> Result<policy::Window, Problem> {
    let win = w.get_ref();
    let days = match &win.days {
        Some(days) => Weekdays::parse(days.get_ref())
            .map_err(|e| Problem::new(days.span(), format!("{key}.days"), e.to_string(), None))?,
        None => Weekdays::ALL,
    };
    let time = |field: &str, value: &Spanned<Text>| {
        ClockTime::parse(&value.get_ref().0).map_err(|e| {
            Problem::new(
                value.span(),
                format!("{key}.{field}"),
                e.to_string(),
                help("write times as \"HH:MM\", 24-hour"),
            )
        })
    };
    let (from, to) = (time("from", &win.from)?, time("to", &win.to)?);
    policy::Window::new(days, from, to).map_err(|e| {
        let (span, field) = match e {
            policy::WindowError::BadTime { .. } => (win.from.span(), "from"),
            _ => (w.span(), "to"),
        };
        Problem::new(
            span,
            format!("{key}.{field}"),
            e.to_string(),
            help("a `from` later than `to` crosses midnight into the next day"),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::ConfigError;

    const BASE: &str = r#"
[app]
name = "clinic"
image = "clinic"
port = 8000

[build]
dependencies = ["requirements.txt"]
"#;

    /// An environment table with one instance, so the rest of the file is valid.
    fn env(name: &str, port: u16, body: &str) -> String {
        format!(
            "\n[environments.{name}]\n{body}\n[[environments.{name}.instances]]\ntenant = \"a\"\nport = {port}\n"
        )
    }

    #[allow(clippy::result_large_err)]
    fn load(text: &str) -> Result<crate::Config, ConfigError> {
        crate::load::parse_raw(Path::new("hoist.toml"), text)
    }

    /// The error for `text`, as `line:col: key: message`, and its help.
    fn failure(text: &str) -> (String, String) {
        match load(text) {
            Err(ConfigError::Invalid {
                line,
                column,
                key,
                message,
                help,
                ..
            }) => (
                format!("{line}:{column}: {key}: {message}"),
                help.unwrap_or_default(),
            ),
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("no error for:\n{text}"),
        }
    }

    /// The 1-based line holding `needle` in `text`.
    fn line_of(text: &str, needle: &str) -> usize {
        let offset = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in text"));
        text[..offset].matches('\n').count() + 1
    }

    fn issue_example() -> String {
        format!(
            "{BASE}\n[groups]\nrelease-managers = [\"bob\", \"carol\"]\n{}{}{}",
            env(
                "staging",
                8001,
                "deploy_from = [{ semver = \"prerelease\", pre = [\"beta\", \"rc\"] }]"
            ),
            env(
                "production",
                8002,
                r#"deploy_from = [{ semver = "release" }]
requires_verified_in = ["staging"]

[environments.production.policy]
deployers = ["@release-managers", "dave"]
release_tags_only = true
timezone = "America/Toronto"
windows = [{ days = "mon-fri", from = "09:00", to = "17:00" }]
blackout = ["2026-12-24", 2026-12-31]
override_window_by = ["@release-managers"]"#
            ),
            env(
                "uat",
                8003,
                r#"deploy_from = [{ branch = "uat" }, { tag = "uat-*" }]"#
            ),
        )
    }

    #[test]
    fn the_documented_example_loads_and_converts() {
        let config = load(&issue_example()).unwrap();
        let settings = super::release_settings(&config).unwrap();
        let tag = hoist_policy::GitRef::parse("v2.3.0").unwrap();
        assert_eq!(settings.resolve(&tag).environments(), ["production"]);
        let beta = hoist_policy::GitRef::parse("v2.3.0-beta.1").unwrap();
        assert_eq!(settings.resolve(&beta).environments(), ["staging"]);
        assert_eq!(settings.requires_verified_in["production"], ["staging"]);
        let production = &settings.policies["production"];
        assert!(production.release_tags_only);
        assert_eq!(
            production.deployers.as_ref().unwrap().describe(),
            "release-managers: bob, carol; dave"
        );
        let schedule = production.schedule.as_ref().unwrap();
        assert_eq!(
            schedule.describe_windows(),
            "Mon-Fri 09:00-17:00 America/Toronto"
        );
        // The bare TOML date was accepted as well as the string.
        assert!(!schedule.is_open("2026-12-31T15:00:00Z".parse().unwrap()));
        assert!(settings.policies["uat"].deployers.is_none());
    }

    #[test]
    fn bare_toml_times_are_accepted() {
        let text = format!(
            "{BASE}{}",
            env(
                "production",
                8002,
                "[environments.production.policy]\ntimezone = \"UTC\"\nwindows = [{ from = 09:00:00, to = 17:00:00 }]"
            )
        );
        let config = load(&text).unwrap();
        let settings = super::release_settings(&config).unwrap();
        let schedule = settings.policies["production"].schedule.as_ref().unwrap();
        assert_eq!(schedule.describe_windows(), "every day 09:00-17:00 UTC");
    }

    #[test]
    fn unknown_group() {
        let text = format!(
            "{BASE}\n[groups]\nrelease-managers = [\"bob\"]\n{}",
            env(
                "production",
                8002,
                "[environments.production.policy]\ndeployers = [\"@release-manager\"]"
            )
        );
        let (error, help) = failure(&text);
        let line = line_of(&text, "deployers =");
        assert_eq!(
            error,
            format!(
                "{line}:14: environments.production.policy.deployers[0]: there is no group \
                 `release-manager` in [groups]"
            )
        );
        assert_eq!(help, "the groups are release-managers");
    }

    #[test]
    fn groups_list_people() {
        let text = format!("{BASE}\n[groups]\nleads = [\"@admins\"]\n");
        let (error, help) = failure(&text);
        assert!(
            error.ends_with(
                "groups.leads[0]: `@admins` is not a user name: it is a group reference"
            ),
            "{error}"
        );
        assert!(help.contains("groups cannot contain groups"), "{help}");
        let (error, _) = failure(&format!("{BASE}\n[groups]\nLeads = [\"bob\"]\n"));
        assert!(
            error.contains("`Leads` is not a valid group name"),
            "{error}"
        );
    }

    #[test]
    fn empty_deployers() {
        let text = format!(
            "{BASE}{}",
            env(
                "production",
                8002,
                "[environments.production.policy]\ndeployers = []"
            )
        );
        let (error, help) = failure(&text);
        assert!(
            error.contains("deployers is empty, so nobody could deploy"),
            "{error}"
        );
        assert!(
            help.contains("remove the key to let anyone deploy"),
            "{help}"
        );
    }

    fn policy(body: &str) -> String {
        format!(
            "{BASE}{}",
            env(
                "production",
                8002,
                &format!("[environments.production.policy]\n{body}")
            )
        )
    }

    #[test]
    fn bad_time_zone() {
        let text = policy("timezone = \"America/Torronto\"");
        let (error, help) = failure(&text);
        let line = line_of(&text, "timezone =");
        assert_eq!(
            error,
            format!(
                "{line}:12: environments.production.policy.timezone: `America/Torronto` is \
                 not an IANA time zone name; did you mean `America/Toronto`?"
            )
        );
        assert!(help.contains("IANA name"), "{help}");
        let (error, _) = failure(&policy("timezone = \"EST\""));
        assert!(error.contains("fixed UTC offset"), "{error}");
    }

    #[test]
    fn windows_need_a_time_zone() {
        let text = policy(r#"windows = [{ from = "09:00", to = "17:00" }]"#);
        let (error, help) = failure(&text);
        assert!(
            error.contains(
                "environments.production.policy.timezone: production's windows and blackout \
                 dates need a time zone"
            ),
            "{error}"
        );
        assert!(help.contains("add timezone = "), "{help}");
    }

    #[test]
    fn bad_time() {
        let text = policy(
            r#"timezone = "UTC"
windows = [{ days = "mon-fri", from = "9am", to = "17:00" }]"#,
        );
        let (error, _) = failure(&text);
        let line = line_of(&text, "windows =");
        assert_eq!(
            error,
            format!(
                "{line}:39: environments.production.policy.windows[0].from: `9am` is not a \
                 time of day: write it as HH:MM in 24-hour time, like \"09:00\""
            )
        );
        let (error, _) = failure(&policy(
            r#"timezone = "UTC"
windows = [{ from = "09:00", to = "25:00" }]"#,
        ));
        assert!(error.contains("windows[0].to: `25:00`"), "{error}");
    }

    #[test]
    fn from_equal_to_is_refused_and_crossing_midnight_is_not() {
        let (error, help) = failure(&policy(
            r#"timezone = "UTC"
windows = [{ from = "09:00", to = "09:00" }]"#,
        ));
        assert!(
            error.contains("windows[0].to: the window 09:00-09:00"),
            "{error}"
        );
        assert!(help.contains("crosses midnight"), "{help}");
        let ok = policy(
            r#"timezone = "UTC"
windows = [{ days = "fri", from = "22:00", to = "02:00" }]"#,
        );
        assert!(load(&ok).is_ok());
    }

    #[test]
    fn bad_weekday() {
        let text = policy(
            r#"timezone = "UTC"
windows = [{ days = "mon-fry", from = "09:00", to = "17:00" }]"#,
        );
        let (error, _) = failure(&text);
        let line = line_of(&text, "windows =");
        assert_eq!(
            error,
            format!(
                "{line}:21: environments.production.policy.windows[0].days: `fry` in \
                 `mon-fry` is not a weekday: use mon, tue, wed, thu, fri, sat, sun (or full \
                 names), ranges like mon-fri and commas"
            )
        );
    }

    #[test]
    fn bad_date() {
        let text = policy(
            r#"timezone = "UTC"
blackout = ["2026-12-24", "2026-02-30"]"#,
        );
        let (error, _) = failure(&text);
        let line = line_of(&text, "blackout =");
        assert_eq!(
            error,
            format!(
                "{line}:27: environments.production.policy.blackout[1]: `2026-02-30` is not a \
                 date: February 2026 has 28 days"
            )
        );
        let (error, _) = failure(&policy("timezone = \"UTC\"\nblackout = [\"24.12.2026\"]"));
        assert!(error.contains("write it as YYYY-MM-DD"), "{error}");
        let (error, _) = failure(&policy("timezone = \"UTC\"\nblackout = [3]"));
        assert!(error.contains("expected a date like"), "{error}");
    }

    #[test]
    fn unknown_policy_key() {
        let (error, _) = failure(&policy("deployer = [\"bob\"]"));
        assert!(error.contains("unknown field `deployer`"), "{error}");
    }

    #[test]
    fn rules_need_exactly_one_kind() {
        let text = format!(
            "{BASE}{}",
            env(
                "uat",
                8003,
                r#"deploy_from = [{ tag = "uat-*", branch = "uat" }]"#
            )
        );
        let (error, help) = failure(&text);
        let line = line_of(&text, "deploy_from");
        assert_eq!(
            error,
            format!(
                "{line}:16: environments.uat.deploy_from[0]: the rule mixes kinds: it needs \
                 exactly one of semver, tag or branch"
            )
        );
        assert!(help.contains("{ semver = \"release\" }"), "{help}");
        let (error, _) = failure(&format!(
            "{BASE}{}",
            env("uat", 8003, "deploy_from = [{ semver = \"beta\" }]")
        ));
        assert!(
            error
                .contains("unknown variant `beta`, expected one of `release`, `prerelease`, `any`"),
            "{error}"
        );
        let (error, _) = failure(&format!(
            "{BASE}{}",
            env(
                "uat",
                8003,
                "deploy_from = [{ semver = \"release\", pre = [\"rc\"] }]"
            )
        ));
        assert!(
            error.contains("`pre` only applies to semver = \"prerelease\""),
            "{error}"
        );
        let (error, _) = failure(&format!(
            "{BASE}{}",
            env("uat", 8003, "deploy_from = [{ tag = \"refs/tags/uat-*\" }]")
        ));
        assert!(
            error.contains("deploy_from[0].tag: `refs/tags/uat-*` is a full ref name"),
            "{error}"
        );
    }

    #[test]
    fn overlapping_rules_are_reported_with_both_places() {
        let text = format!(
            "{BASE}{}{}",
            env(
                "production",
                8002,
                r#"deploy_from = [{ semver = "release" }]"#
            ),
            env("staging", 8001, r#"deploy_from = [{ tag = "v*" }]"#),
        );
        let (error, help) = failure(&text);
        let (prod, staging) = (
            line_of(&text, r#"{ semver = "release" }"#),
            line_of(&text, r#"{ tag = "v*" }"#),
        );
        assert_eq!(
            error,
            format!(
                "{staging}:16: environments.staging.deploy_from[0]: production's rule (semver \
                 release tags) and staging's rule (tags matching `v*`) both match the tag \
                 `v0.0.0`, so it would deploy to both (the other rule is at \
                 hoist.toml:{prod}:16)"
            )
        );
        assert_eq!(
            help,
            "narrow one of the rules; if both environments should get such refs, add \
             overlaps_with = [\"production\"] to [environments.staging]"
        );
    }

    #[test]
    fn an_intended_overlap_is_allowed() {
        let text = format!(
            "{BASE}{}{}",
            env(
                "production",
                8002,
                r#"deploy_from = [{ semver = "release" }]"#
            ),
            env(
                "dr",
                8001,
                "deploy_from = [{ semver = \"release\" }]\noverlaps_with = [\"production\"]"
            ),
        );
        let config = load(&text).unwrap();
        let settings = super::release_settings(&config).unwrap();
        let tag = hoist_policy::GitRef::parse("v2.3.0").unwrap();
        assert_eq!(settings.resolve(&tag).environments(), ["dr", "production"]);
    }

    #[test]
    fn environment_references_must_exist() {
        let text = format!(
            "{BASE}{}",
            env("production", 8002, "requires_verified_in = [\"stagin\"]")
        );
        let (error, help) = failure(&text);
        assert!(
            error.contains(
                "environments.production.requires_verified_in[0]: there is no environment `stagin`"
            ),
            "{error}"
        );
        assert_eq!(help, "the environments are production");
        let (error, _) = failure(&format!(
            "{BASE}{}",
            env("production", 8002, "overlaps_with = [\"production\"]")
        ));
        assert!(error.contains("production names itself"), "{error}");
    }

    #[test]
    fn promotion_cycles_are_refused() {
        let text = format!(
            "{BASE}{}{}",
            env("production", 8002, "requires_verified_in = [\"staging\"]"),
            env("staging", 8001, "requires_verified_in = [\"production\"]"),
        );
        let (error, _) = failure(&text);
        assert!(
            error.contains(
                "promotion requirements go round in a circle (production requires staging \
                 requires production)"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_config_without_release_settings_is_open() {
        let config = load(&format!("{BASE}{}", env("production", 8002, ""))).unwrap();
        let settings = super::release_settings(&config).unwrap();
        let policy = &settings.policies["production"];
        assert!(policy.deployers.is_none() && policy.schedule.is_none());
        let main = hoist_policy::GitRef::parse("main").unwrap();
        assert!(settings.resolve(&main).environments().is_empty());
    }
}
