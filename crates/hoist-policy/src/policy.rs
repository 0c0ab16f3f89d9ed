//! Who may deploy what to an environment, and when: [`decide`] turns a [`Policy`] and a
//! [`Request`] into a [`Decision`] whose every refusal is a sentence the refused person
//! can act on. Decisions serialise for the audit log.
//!
//! The checks, all evaluated so that one answer lists every problem:
//!
//! 1. **who**: with `deployers` set, the actor must be listed by name or be a member of a
//!    listed group. Names compare exactly. Without `deployers`, anyone may deploy.
//! 2. **what**: with `release_tags_only`, only semver release tags (`v2.3.0`) may deploy;
//!    not pre-releases, other tags or branches.
//! 3. **when**: the [`Schedule`]'s windows and blackout dates (see [`crate::window`]).
//!
//! `--override-window` bypasses check 3 only (windows and blackout dates alike), and only
//! for people in `override_window_by`, and only with a non-empty reason, which the
//! decision records. It never bypasses who or what.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::refs::{GitRef, RefKind, VersionClass};
use crate::window::{Closed, Schedule, long_time, short_time};

/// A user name, or a group of them (`@release-managers` in config, resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Group { name: String, members: Vec<String> },
}

/// A list of people and groups, as `deployers` and `override_window_by` are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principals(pub Vec<Principal>);

impl Principals {
    /// The entry through which `actor` is included, if any (a direct listing first).
    pub fn admits(&self, actor: &str) -> Option<&Principal> {
        let direct = self
            .0
            .iter()
            .find(|p| matches!(p, Principal::User(u) if u == actor));
        direct.or_else(|| {
            self.0.iter().find(
                |p| matches!(p, Principal::Group { members, .. } if members.iter().any(|m| m == actor)),
            )
        })
    }

    /// `dave; release-managers: bob, carol`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                Principal::User(u) => u.clone(),
                Principal::Group { name, members } if members.is_empty() => {
                    format!("{name}: nobody")
                }
                Principal::Group { name, members } => format!("{name}: {}", members.join(", ")),
            })
            .collect();
        parts.join("; ")
    }
}

/// The rules of one environment.
#[derive(Debug, Clone)]
pub struct Policy {
    pub environment: String,
    /// `None`: anyone may deploy.
    pub deployers: Option<Principals>,
    pub release_tags_only: bool,
    /// `None`: any time.
    pub schedule: Option<Schedule>,
    /// `None`: nobody may override the schedule.
    pub override_window_by: Option<Principals>,
}

impl Policy {
    /// No restrictions: anyone, any ref, any time.
    pub fn open(environment: &str) -> Policy {
        Policy {
            environment: environment.to_string(),
            deployers: None,
            release_tags_only: false,
            schedule: None,
            override_window_by: None,
        }
    }
}

/// Someone asking to deploy a ref now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub actor: String,
    pub git_ref: GitRef,
    pub now: Timestamp,
    /// `--override-window`.
    pub override_window: bool,
    /// `--reason`, required with `override_window`.
    pub reason: Option<String>,
}

/// The answer, with its explanation; recorded in the audit log as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub environment: String,
    pub actor: String,
    /// The ref's short name.
    pub git_ref: String,
    pub at: Timestamp,
    pub allowed: bool,
    /// Why it is refused, one sentence each, saying what to do; empty when allowed.
    pub reasons: Vec<String>,
    /// Whether the schedule was bypassed with `--override-window`.
    pub overridden: bool,
    /// The reason given for the override, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    /// What let it through (who admitted the actor, what was overridden), for the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Decides whether `request` may deploy to `policy`'s environment. Pure: the clock is
/// `request.now`.
pub fn decide(policy: &Policy, request: &Request) -> Decision {
    let env = policy.environment.as_str();
    let actor = request.actor.as_str();
    let mut reasons = Vec::new();
    let mut notes = Vec::new();

    // 1. Who.
    if let Some(deployers) = &policy.deployers {
        match deployers.admits(actor) {
            Some(Principal::Group { name, .. }) => {
                notes.push(format!("{actor} may deploy to {env} as a member of {name}"))
            }
            Some(Principal::User(_)) => notes.push(format!("{actor} is among {env}'s deployers")),
            None => reasons.push(format!(
                "{actor} is not among {env}'s deployers ({})",
                deployers.describe()
            )),
        }
    }

    // 2. What.
    if policy.release_tags_only && !request.git_ref.is_release_tag() {
        let git_ref = &request.git_ref;
        let what = match (git_ref.kind, git_ref.version_class()) {
            (RefKind::Branch, _) => "a branch".to_string(),
            (RefKind::Tag, Some(VersionClass::Prerelease)) => "a pre-release".to_string(),
            (RefKind::Tag, _) => match git_ref.version_problem() {
                Some(problem) => format!("not a release ({problem})"),
                None => "not a semver version".to_string(),
            },
        };
        reasons.push(format!(
            "{env} only deploys semver release tags such as v2.3.0 (release_tags_only), and \
             {} is {what}",
            git_ref.describe()
        ));
    }

    // 3. When.
    let mut override_reason = None;
    if let Some(schedule) = &policy.schedule {
        let closed: Vec<String> = schedule
            .check(request.now)
            .iter()
            .map(|c| explain_closed(env, schedule, c))
            .collect();
        let reason = request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let overriders = policy.override_window_by.as_ref();
        let may_override = overriders.and_then(|o| o.admits(actor)).is_some();
        if closed.is_empty() {
            if request.override_window {
                notes.push(format!(
                    "--override-window was not needed: {env} is open for deploys now"
                ));
            }
        } else if request.override_window && may_override && reason.is_some() {
            override_reason = reason.map(str::to_string);
            notes.push(format!(
                "{actor} overrode {env}'s schedule: {}",
                closed.join("; ")
            ));
        } else {
            reasons.extend(closed);
            let who = overriders.map(Principals::describe);
            reasons.push(match (request.override_window, may_override, who) {
                (_, _, None) => format!(
                    "{env}'s schedule cannot be overridden: it names nobody in \
                     override_window_by; wait until it opens"
                ),
                (false, true, _) => format!(
                    "to deploy anyway, run again with --override-window --reason \"...\" \
                     (you are among those who may override {env}'s schedule)"
                ),
                (false, false, Some(who)) => format!(
                    "wait until it opens, or ask someone who may override {env}'s schedule \
                     ({who}) to deploy with --override-window"
                ),
                (true, false, Some(who)) => {
                    format!("{actor} may not override {env}'s schedule; only {who} may")
                }
                (true, true, _) => "--override-window needs a reason: add --reason \"...\" \
                                    saying why (it is written to the audit log)"
                    .to_string(),
            });
        }
    } else if request.override_window {
        notes.push(format!(
            "--override-window was not needed: {env} has no deploy windows or blackout dates"
        ));
    }

    // An override only counts when it is what let the deploy through.
    let allowed = reasons.is_empty();
    let override_reason = override_reason.filter(|_| allowed);
    Decision {
        environment: env.to_string(),
        actor: actor.to_string(),
        git_ref: request.git_ref.name.clone(),
        at: request.now,
        allowed,
        reasons,
        overridden: override_reason.is_some(),
        override_reason,
        notes,
    }
}

fn explain_closed(env: &str, schedule: &Schedule, closed: &Closed) -> String {
    match closed {
        Closed::OutsideWindows { now, next } => {
            let mut text = format!(
                "outside {env}'s deploy windows: {}; now is {}",
                schedule.describe_windows(),
                short_time(now)
            );
            if let Some(next) = next {
                text.push_str(&format!("; the next window opens {}", long_time(next)));
            }
            text
        }
        Closed::Blackout { date, now, next } => {
            let mut text = format!(
                "{date} is a blackout date for {env} (it is now {} in {})",
                long_time(now),
                schedule.zone_name()
            );
            if let Some(next) = next {
                text.push_str(&format!("; deploys may resume {}", long_time(next)));
            }
            text
        }
    }
}
