//! Which refs deploy to which environments.
//!
//! Each environment lists rules; a ref deploys to every environment with a rule matching
//! it. Tags and branches are separate namespaces: tag rules never match a branch and
//! branch rules never match a tag, even one of the same name.
//!
//! | rule | matches |
//! |---|---|
//! | [`Rule::SemverRelease`] | tags `v2.3.0`, `2.3.0`, `v2.3.0+build.7` |
//! | [`Rule::SemverPrerelease`] | tags `v2.3.0-beta.1`; with names (`beta`, `rc`), only tags whose first pre-release identifier is a name, optionally followed by digits: `-beta`, `-beta.2`, `-rc1` |
//! | [`Rule::Semver`] | any semver tag, release or pre-release |
//! | [`Rule::Tag`] | tags whose name matches a glob (`uat-*`) |
//! | [`Rule::Branch`] | branches whose name matches a glob (`main`, `release/*`) |
//!
//! Globs use globset syntax on the short name (without `refs/tags/`); `*` and `?` do not
//! cross `/` (as in GitHub's branch filters), `**` does.
//!
//! ## Overlaps
//!
//! When two environments have rules that one ref can satisfy, a push deploys to both. That
//! is sometimes the point (production and its disaster-recovery twin) and often a mistake
//! (`tag = "v*"` on staging also catches the `v2.3.0` meant for production).
//! [`RuleSet::overlaps`] finds every such pair of rules exactly, not by sampling: each rule
//! is a regular language of names, and the pair overlaps when the intersection is not
//! empty (see the private `overlap` module). Each overlap comes with the shortest common
//! name as an example. Pairs of environments that name each other in
//! [`EnvironmentRules::overlaps_with`] (either direction suffices) are not reported.

use std::collections::BTreeSet;
use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::overlap::{self, Language};
use crate::refs::{GitRef, RefKind, VersionClass};

/// One way a ref can qualify for an environment.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Semver tags without a pre-release part.
    SemverRelease,
    /// Semver tags with a pre-release part; when `names` is not empty, only those whose
    /// first pre-release identifier is one of the names, optionally followed by digits.
    SemverPrerelease { names: Vec<String> },
    /// Any semver tag.
    Semver,
    /// Tags whose short name matches the glob.
    Tag(Pattern),
    /// Branches whose short name matches the glob.
    Branch(Pattern),
}

/// A compiled glob over short ref names.
#[derive(Debug, Clone)]
pub struct Pattern {
    glob: String,
    matcher: GlobMatcher,
    /// The glob's translation to a regex, for overlap analysis.
    regex: String,
}

/// A rule that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the pattern is empty")]
    EmptyPattern,
    #[error("`{pattern}` is a full ref name; write the short name `{short}`")]
    FullRefName { pattern: String, short: String },
    #[error("`{pattern}` is not a valid glob: {detail}")]
    InvalidGlob { pattern: String, detail: String },
    #[error(
        "`{name}` is not a pre-release name: use letters, digits and `-`, starting with a \
         letter (like `beta` or `rc`)"
    )]
    InvalidPrereleaseName { name: String },
    #[error("cannot analyse {rule} for overlaps: {detail}")]
    Analysis { rule: String, detail: String },
}

impl Pattern {
    /// Compiles a glob over short names (`uat-*`, `release/**`).
    pub fn new(glob: &str) -> Result<Pattern, RuleError> {
        if glob.is_empty() {
            return Err(RuleError::EmptyPattern);
        }
        for prefix in ["refs/tags/", "refs/heads/"] {
            if let Some(short) = glob.strip_prefix(prefix) {
                return Err(RuleError::FullRefName {
                    pattern: glob.to_string(),
                    short: short.to_string(),
                });
            }
        }
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| RuleError::InvalidGlob {
                pattern: glob.to_string(),
                detail: e.kind().to_string(),
            })?;
        Ok(Pattern {
            glob: glob.to_string(),
            matcher: compiled.compile_matcher(),
            regex: compiled.regex().to_string(),
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.glob
    }

    fn is_literal(&self) -> bool {
        !self.glob.contains(['*', '?', '[', '{', '\\'])
    }
}

impl Rule {
    /// A pre-release rule, optionally restricted to pre-release names like `beta`, `rc`.
    pub fn semver_prerelease(names: Vec<String>) -> Result<Rule, RuleError> {
        for name in &names {
            let mut chars = name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(RuleError::InvalidPrereleaseName { name: name.clone() });
            }
        }
        Ok(Rule::SemverPrerelease { names })
    }

    /// A tag-name glob rule.
    pub fn tag(glob: &str) -> Result<Rule, RuleError> {
        Pattern::new(glob).map(Rule::Tag)
    }

    /// A branch-name glob rule (a plain name matches just that branch).
    pub fn branch(glob: &str) -> Result<Rule, RuleError> {
        Pattern::new(glob).map(Rule::Branch)
    }

    /// Tags or branches.
    pub fn ref_kind(&self) -> RefKind {
        match self {
            Rule::Branch(_) => RefKind::Branch,
            _ => RefKind::Tag,
        }
    }

    /// Whether the ref qualifies under this rule.
    pub fn matches(&self, git_ref: &GitRef) -> bool {
        if git_ref.kind != self.ref_kind() {
            return false;
        }
        match self {
            Rule::SemverRelease => git_ref.version_class() == Some(VersionClass::Release),
            Rule::SemverPrerelease { names } => {
                let Some(version) = git_ref.version.as_ref().filter(|v| !v.pre.is_empty()) else {
                    return false;
                };
                let first = version.pre.as_str().split('.').next().unwrap_or("");
                names.is_empty()
                    || names.iter().any(|name| {
                        first
                            .strip_prefix(name.as_str())
                            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
                    })
            }
            Rule::Semver => git_ref.version.is_some(),
            Rule::Tag(p) | Rule::Branch(p) => p.matcher.is_match(&git_ref.name),
        }
    }

    /// The rule's language of short names, as a regex (see the `overlap` module).
    fn regex(&self) -> String {
        match self {
            Rule::SemverRelease => overlap::semver_release_regex(),
            Rule::SemverPrerelease { names } => overlap::semver_prerelease_regex(names),
            Rule::Semver => overlap::semver_any_regex(),
            Rule::Tag(p) | Rule::Branch(p) => p.regex.clone(),
        }
    }

    fn language(&self) -> Result<Language, RuleError> {
        Language::new(&self.regex()).map_err(|detail| RuleError::Analysis {
            rule: self.to_string(),
            detail,
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::SemverRelease => f.write_str("semver release tags"),
            Rule::SemverPrerelease { names } if names.is_empty() => {
                f.write_str("semver pre-release tags")
            }
            Rule::SemverPrerelease { names } => {
                write!(f, "semver pre-release tags ({})", names.join(", "))
            }
            Rule::Semver => f.write_str("semver tags"),
            Rule::Tag(p) if p.is_literal() => write!(f, "the tag `{}`", p.glob),
            Rule::Tag(p) => write!(f, "tags matching `{}`", p.glob),
            Rule::Branch(p) if p.is_literal() => write!(f, "the branch `{}`", p.glob),
            Rule::Branch(p) => write!(f, "branches matching `{}`", p.glob),
        }
    }
}

/// The rules of one environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRules {
    pub environment: String,
    pub rules: Vec<Rule>,
    /// Environments that may knowingly receive the same refs as this one.
    pub overlaps_with: BTreeSet<String>,
}

/// Names a rule: the environment and its index in that environment's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleId {
    pub environment: String,
    pub index: usize,
}

/// Two rules of different environments that one ref satisfies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub first: RuleId,
    pub second: RuleId,
    /// The shortest ref both rules match.
    pub example: GitRef,
    /// "staging's rule (tags matching `v*`) and production's rule (semver release tags)
    /// both match the tag `v0.0.0`, so it would deploy to both".
    pub message: String,
}

/// A ref an environment's rules do not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAdmitted {
    pub environment: String,
    /// The ref as people say it: "the tag `v1.0.0-beta.1`".
    pub git_ref: String,
    /// The environment's rules, described.
    pub rules: Vec<String>,
}

impl fmt::Display for NotAdmitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} takes only {}, and {} is not one (its deploy_from rules)",
            self.environment,
            self.rules.join(" or "),
            self.git_ref
        )
    }
}

/// Every environment's rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    environments: Vec<EnvironmentRules>,
}

/// Where a ref goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Resolution {
    /// Deploy to these environments (never empty).
    Deploy { targets: Vec<Target> },
    /// No rule matches: not an error (CI pushes every tag and branch), the CLI says
    /// "nothing to deploy" with [`Resolution::explain`] and exits 0.
    NothingToDeploy { git_ref: GitRef, note: String },
}

/// An environment a ref resolves to, and the rule that sent it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub environment: String,
    pub rule: String,
}

impl Resolution {
    /// The environments to deploy to; empty when there is nothing to deploy.
    pub fn environments(&self) -> Vec<&str> {
        match self {
            Resolution::Deploy { targets } => {
                targets.iter().map(|t| t.environment.as_str()).collect()
            }
            Resolution::NothingToDeploy { .. } => Vec::new(),
        }
    }

    /// One line for people: where the ref goes and why, or why it goes nowhere.
    pub fn explain(&self) -> String {
        match self {
            Resolution::Deploy { targets } => targets
                .iter()
                .map(|t| format!("{} (by {})", t.environment, t.rule))
                .collect::<Vec<_>>()
                .join(", "),
            Resolution::NothingToDeploy { note, .. } => format!("nothing to deploy: {note}"),
        }
    }
}

impl RuleSet {
    pub fn new(environments: Vec<EnvironmentRules>) -> RuleSet {
        RuleSet { environments }
    }

    pub fn environments(&self) -> &[EnvironmentRules] {
        &self.environments
    }

    /// The first rule of `environment` that `git_ref` satisfies, if any.
    pub fn matching_rule(&self, environment: &str, git_ref: &GitRef) -> Option<&Rule> {
        self.environments
            .iter()
            .find(|e| e.environment == environment)?
            .rules
            .iter()
            .find(|r| r.matches(git_ref))
    }

    /// Whether `environment`'s rules take `git_ref`: a rule matches, or the environment has
    /// none (it takes only what is deployed or promoted by hand, and whatever that is).
    /// Commands that name a release directly (`promote`, `rollback --to`, `deploy
    /// --version`) ask this, so that no command ships what `hoist release` would refuse.
    pub fn admits(&self, environment: &str, git_ref: &GitRef) -> Result<(), NotAdmitted> {
        let Some(env) = self
            .environments
            .iter()
            .find(|e| e.environment == environment)
        else {
            return Ok(());
        };
        if env.rules.is_empty() || env.rules.iter().any(|r| r.matches(git_ref)) {
            return Ok(());
        }
        Err(NotAdmitted {
            environment: environment.to_string(),
            git_ref: git_ref.describe(),
            rules: env.rules.iter().map(ToString::to_string).collect(),
        })
    }

    /// The environments `git_ref` deploys to, in the order they were given.
    pub fn resolve(&self, git_ref: &GitRef) -> Resolution {
        let targets: Vec<Target> = self
            .environments
            .iter()
            .filter_map(|env| {
                let rule = env.rules.iter().find(|r| r.matches(git_ref))?;
                Some(Target {
                    environment: env.environment.clone(),
                    rule: rule.to_string(),
                })
            })
            .collect();
        if !targets.is_empty() {
            return Resolution::Deploy { targets };
        }
        let mut note = format!("no environment deploys {}", git_ref.describe());
        if let Some(problem) = git_ref.version_problem() {
            note.push_str(&format!(" ({problem})"));
        }
        let listed: Vec<String> = self
            .environments
            .iter()
            .filter(|e| !e.rules.is_empty())
            .map(|e| {
                let rules: Vec<String> = e.rules.iter().map(Rule::to_string).collect();
                format!("{}: {}", e.environment, rules.join(", "))
            })
            .collect();
        if listed.is_empty() {
            note.push_str("; no environment has deploy_from rules");
        } else {
            note.push_str(&format!("; the rules are {}", listed.join("; ")));
        }
        Resolution::NothingToDeploy {
            git_ref: git_ref.clone(),
            note,
        }
    }

    /// Pairs of rules of different environments that one ref satisfies, except between
    /// environments that allow it with `overlaps_with`. See the module docs.
    pub fn overlaps(&self) -> Result<Vec<Overlap>, RuleError> {
        let mut compiled = Vec::new();
        for env in &self.environments {
            for (index, rule) in env.rules.iter().enumerate() {
                compiled.push((env, index, rule, rule.language()?));
            }
        }
        let mut found = Vec::new();
        for (i, (env_a, index_a, rule_a, lang_a)) in compiled.iter().enumerate() {
            for (env_b, index_b, rule_b, lang_b) in &compiled[i + 1..] {
                if env_a.environment == env_b.environment
                    || rule_a.ref_kind() != rule_b.ref_kind()
                    || env_a.overlaps_with.contains(&env_b.environment)
                    || env_b.overlaps_with.contains(&env_a.environment)
                {
                    continue;
                }
                let Some(name) = overlap::common_example(lang_a, lang_b) else {
                    continue;
                };
                let example = match rule_a.ref_kind() {
                    RefKind::Tag => GitRef::tag(&name),
                    RefKind::Branch => GitRef::branch(&name),
                };
                let message = format!(
                    "{}'s rule ({rule_a}) and {}'s rule ({rule_b}) both match {}, so it would \
                     deploy to both",
                    env_a.environment,
                    env_b.environment,
                    example.describe()
                );
                found.push(Overlap {
                    first: RuleId {
                        environment: env_a.environment.clone(),
                        index: *index_a,
                    },
                    second: RuleId {
                        environment: env_b.environment.clone(),
                        index: *index_b,
                    },
                    example,
                    message,
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlap analysis is only exact if each rule's regex accepts exactly the names
    /// its matcher does. Check that on names chosen to sit at the grammar's edges.
    #[test]
    fn languages_agree_with_matchers() {
        let names = [
            "v1.2.3",
            "1.2.3",
            "v0.0.0",
            "v10.20.30",
            "v1.2.3+build.1",
            "v1.2.3+001",
            "v1.2.3-beta",
            "v1.2.3-beta.1",
            "v1.2.3-beta1",
            "v1.2.3-beta-x",
            "v1.2.3-betax",
            "v1.2.3-rc.1+b",
            "v1.2.3-rc1",
            "v1.2.3-alpha.beta",
            "v1.2.3-0",
            "v1.2.3-01",
            "v1.2.3-0a",
            "v1.2.3-",
            "v1.2.3-beta..1",
            "v1.2",
            "1.2.3.4",
            "v01.2.3",
            "vv1.2.3",
            "V1.2.3",
            "v1.2.3+",
            "uat-1",
            "uat-",
            "uat-a/b",
            "release/1.0",
            "release/1.0/hotfix",
            "main",
            "mainline",
        ];
        let rules = [
            Rule::SemverRelease,
            Rule::Semver,
            Rule::semver_prerelease(vec![]).unwrap(),
            Rule::semver_prerelease(vec!["beta".into(), "rc".into()]).unwrap(),
            Rule::tag("uat-*").unwrap(),
            Rule::tag("v*").unwrap(),
            Rule::tag("release/**").unwrap(),
            Rule::branch("release/*").unwrap(),
            Rule::branch("main").unwrap(),
        ];
        for rule in &rules {
            let language = rule.language().unwrap();
            for name in names {
                let git_ref = match rule.ref_kind() {
                    RefKind::Tag => GitRef::tag(name),
                    RefKind::Branch => GitRef::branch(name),
                };
                assert_eq!(
                    rule.matches(&git_ref),
                    language.contains(name),
                    "{rule} on `{name}`"
                );
            }
        }
    }
}
