//! Arguments. Every read command takes `--json`. Every argument has a description and
//! every subcommand two or three examples (`after_help`): `--help`, the completions and
//! the man page (`hoist completions`, `hoist man`) all come from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about = "Build once, roll out to every tenant, verify each, roll back in seconds.",
    long_about = "Build once, roll out to every tenant, verify each, roll back in seconds.\n\n\
        hoist builds a dependency base image (reused while its inputs are unchanged) and an app \
        image on top, then rolls the release out to every instance of an environment, verifying \
        each before it takes over. History, audit log and locks live in a SQLite file beside \
        hoist.toml.",
    after_help = examples::TOP,
    after_long_help = examples::TOP_LONG
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The app's config file.
    #[arg(
        long,
        short = 'c',
        global = true,
        default_value = "hoist.toml",
        env = "HOIST_CONFIG",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// State database (default: .hoist/state.db beside the config, or [state] path).
    #[arg(long, global = true, env = "HOIST_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Who is acting, for history and audit (default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, then the OS user).
    #[arg(long, global = true, env = "HOIST_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// Docker engine that builds images (default: $DOCKER_HOST, else the local socket).
    #[arg(long, global = true, env = "DOCKER_HOST", value_name = "ADDR")]
    pub build_host: Option<String>,
    /// Plain line-by-line progress even on a terminal.
    #[arg(long, global = true)]
    pub plain: bool,
    /// More log output (-v, -vv); HOIST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--json`, shared by the commands that print results.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonArg {
    /// Print the result as JSON on stdout (deploy-like commands: one event per line, the
    /// result last); errors too, as {"error": {"code", "message", "file", "line", "column"}}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter hoist.toml, detecting dependency manifests, the port and
    /// the health path, and starter Dockerfiles when there are none.
    #[command(after_help = examples::INIT)]
    Init {
        /// App name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing hoist.toml (Dockerfiles that exist are never replaced).
        #[arg(long)]
        force: bool,
    },
    /// Show what a deploy would do: version, fingerprint and its files, base cache hit or miss, instances. Builds nothing.
    #[command(after_help = examples::PLAN)]
    Plan {
        /// The environment to plan for, as named in hoist.toml ([environments.NAME]).
        environment: String,
        /// Release version to plan (default: the semver tag at HEAD, else the short commit sha).
        #[arg(long = "version", value_name = "VERSION")]
        release_version: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Build (or reuse) the base image and build the app image, without deploying.
    #[command(after_help = examples::BUILD)]
    Build {
        /// Release version to build (default: the semver tag at HEAD, else the short commit sha).
        #[arg(long = "version", value_name = "VERSION")]
        release_version: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Build the release and roll it out to every instance of ENVIRONMENT, verifying each.
    #[command(after_help = examples::DEPLOY)]
    Deploy {
        /// The environment to deploy to, as named in hoist.toml.
        environment: String,
        /// Release version (default: the semver tag at HEAD, else the short commit sha).
        #[arg(long = "version", value_name = "VERSION")]
        release_version: Option<String>,
        #[command(flatten)]
        subset: SubsetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        schedule: crate::schedule::ScheduleArgs,
        /// Run the environment's release tasks even where they already succeeded for this release.
        #[arg(long)]
        force_tasks: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Deploy a git ref where the environments' rules send it (CI: `hoist release --ref "$CI_COMMIT_TAG"`).
    /// A ref no rule matches deploys nothing and exits 0.
    #[command(after_help = examples::RELEASE)]
    Release {
        /// `v1.2.0`, `refs/tags/v1.2.0`, `main` or `refs/heads/main`.
        #[arg(long = "ref", value_name = "REF")]
        git_ref: String,
        #[command(flatten)]
        subset: SubsetArgs,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        schedule: crate::schedule::ScheduleArgs,
        /// Run the environments' release tasks even where they already succeeded for this release.
        #[arg(long)]
        force_tasks: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Roll the release running and verified in FROM out to TO, without building.
    #[command(after_help = examples::PROMOTE)]
    Promote {
        /// The environment the release was verified in.
        from: String,
        /// The environment to roll it out to.
        to: String,
        /// A release verified in FROM other than its current one.
        #[arg(long = "version", value_name = "VERSION")]
        release_version: Option<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Roll ENVIRONMENT back to its previous successful release (or --to VERSION), without building.
    #[command(after_help = examples::ROLLBACK)]
    Rollback {
        /// The environment to roll back.
        environment: String,
        /// The release to go back to (default: the one before the current release).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// With --to: go back to a release that was never verified in any environment.
        #[arg(long, requires = "to")]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Per instance: the running release and image, whether it is the current release, whether it is healthy.
    /// Exits 1 when any instance is unhealthy or not on the current release.
    #[command(after_help = examples::STATUS)]
    Status {
        /// The environment to check.
        environment: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Deployments of ENVIRONMENT, newest first, with actors, durations and outcomes.
    #[command(after_help = examples::HISTORY)]
    History {
        /// The environment whose deployments to list.
        environment: String,
        /// How many deployments to show.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// Show one deployment (its ID in the list): each instance's outcome and the steps
        /// it went through.
        #[arg(long, value_name = "ID", conflicts_with = "limit")]
        deployment: Option<i64>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// The audit log: who did what, where and when.
    #[command(after_help = examples::AUDIT)]
    Audit {
        /// Only this environment's entries (default: every environment's).
        environment: Option<String>,
        /// How many entries to show, newest first.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Find leaked credentials in PATH, by default in the app's build context (what the image
    /// build would receive), or in `.` without a hoist.toml. Exit 0 nothing found, 1 findings,
    /// 2 error. Secrets are never printed, only redacted.
    #[command(after_help = examples::SCAN)]
    Scan {
        /// Directory to scan (default: `build.context` of the hoist.toml when there is one,
        /// else `.`). With --history: the git repository.
        path: Option<PathBuf>,
        /// Scan only the lines added by these commits (`git log` syntax: `main..HEAD`,
        /// `v1.2.0..`), instead of the files.
        #[arg(long, value_name = "REV_RANGE")]
        history: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ScanFormat::Human)]
        format: ScanFormat,
        /// Write the report to FILE instead of stdout (a summary still goes to stderr).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Accept every current finding: write them to the baseline (dropping stale
        /// entries), then exit 0.
        #[arg(long)]
        update_baseline: bool,
        /// Baseline file (default: [scan] baseline, else .hoist-scan-baseline.json beside
        /// hoist.toml).
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Ignore .dockerignore: scan the whole source tree (the app's directory), honouring
        /// .gitignore.
        #[arg(long)]
        all_files: bool,
    },
    /// Stop and remove what still runs for TENANT in ENVIRONMENT after it was removed from
    /// hoist.toml (its container or Swarm service and any rollout leftovers).
    #[command(after_help = examples::RETIRE)]
    Retire {
        /// The environment the tenant was removed from.
        environment: String,
        /// The tenant to retire: one that `hoist status` or `hoist plan` lists as orphaned.
        tenant: String,
        /// Only say what would be removed; take no lock, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove old images and stopped containers of this app from the build host and the
    /// engines of ENVIRONMENT (default: every environment), keeping what runs and the last
    /// `[prune] keep` successful releases of every environment.
    #[command(after_help = examples::PRUNE)]
    Prune {
        /// The environment to prune (default: every environment of hoist.toml).
        environment: Option<String>,
        /// Only say what would be removed; take no lock, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove ENVIRONMENT's deploy lock, in the state database and on its engines or swarm, whoever holds it (for a holder that is known to be gone).
    #[command(after_help = examples::UNLOCK)]
    Unlock {
        /// The environment whose lock to remove.
        environment: String,
        /// Required: confirms the holder is not running.
        #[arg(long)]
        force: bool,
    },
    /// Run hoist as a server: signed GitHub/GitLab push webhooks become release jobs, and a
    /// JSON API with scoped tokens reads state and queues deploys (see docs/server.md).
    #[command(after_help = examples::SERVE)]
    Serve {
        /// Address to listen on (default: [server] listen, else 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// How long a job waits for an environment another deploy holds.
        #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
        lock_wait: u64,
    },
    /// DORA metrics per environment from the history: deployment frequency, lead time for
    /// changes, change failure rate, time to restore service.
    #[command(after_help = examples::METRICS)]
    Metrics {
        /// Only this environment (default: every environment).
        environment: Option<String>,
        /// The window: deployments that ended in the last 30d, 12h, 2w...
        #[arg(long, default_value = "30d", value_name = "WINDOW")]
        since: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Create, list and revoke the API tokens of `hoist serve`.
    #[command(after_help = examples::TOKEN)]
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// List the jobs of `hoist serve`'s queue, newest first, from the state database.
    #[command(after_help = examples::JOBS)]
    Jobs {
        /// Only jobs in this state (repeat, or separate with commas).
        #[arg(long, value_enum, value_delimiter = ',', value_name = "STATE")]
        only: Vec<JobStateArg>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Act on one job of `hoist serve`'s queue.
    #[command(after_help = examples::JOB)]
    Job {
        #[command(subcommand)]
        action: JobAction,
    },
    /// Print a completion script for SHELL, generated from these very definitions.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print hoist's man page (roff) on stdout, or write one page per command into DIR.
    #[command(after_help = examples::MAN)]
    Man {
        /// Write hoist.1 and a hoist-COMMAND.1 per command into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command was asked for JSON output, so its errors are JSON too.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Plan { json, .. }
            | Command::Build { json, .. }
            | Command::Deploy { json, .. }
            | Command::Release { json, .. }
            | Command::Promote { json, .. }
            | Command::Rollback { json, .. }
            | Command::Status { json, .. }
            | Command::Retire { json, .. }
            | Command::Prune { json, .. }
            | Command::History { json, .. }
            | Command::Audit { json, .. }
            | Command::Metrics { json, .. }
            | Command::Jobs { json, .. } => json.json,
            Command::Scan { format, .. } => *format == ScanFormat::Json,
            Command::Token { action } => action.wants_json(),
            Command::Init { .. }
            | Command::Serve { .. }
            | Command::Job { .. }
            | Command::Unlock { .. }
            | Command::Completions { .. }
            | Command::Man { .. } => false,
        }
    }
}

/// `hoist token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it, once: the state database keeps only its sha256.
    Create {
        /// A name for the token, unique for good (`ci`, `release-bot`).
        #[arg(long)]
        name: String,
        /// What it may do: `read`, `deploy:ENV` or `admin` (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Who acts with it, for the policy's `deployers` and the audit log (default: --actor).
        #[arg(long, value_name = "NAME")]
        owner: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List tokens: names, owners, scopes, whether revoked. Never the tokens.
    List {
        #[command(flatten)]
        json: JsonArg,
    },
    /// Revoke a token: calls with it are refused (401) from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

impl TokenAction {
    fn wants_json(&self) -> bool {
        match self {
            TokenAction::Create { json, .. } | TokenAction::List { json } => json.json,
            TokenAction::Revoke { .. } => false,
        }
    }
}

/// `hoist job ...`.
#[derive(Debug, Subcommand)]
pub enum JobAction {
    /// Cancel a queued job (a running one cannot be: it is changing instances).
    Cancel {
        /// The job's id (see `hoist jobs`).
        id: i64,
    },
}

/// A job's state, for `hoist jobs --only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobStateArg {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobStateArg {
    pub fn state(self) -> hoist_core::jobs::JobState {
        use hoist_core::jobs::JobState;
        match self {
            Self::Queued => JobState::Queued,
            Self::Running => JobState::Running,
            Self::Succeeded => JobState::Succeeded,
            Self::Failed => JobState::Failed,
            Self::Cancelled => JobState::Cancelled,
            Self::Interrupted => JobState::Interrupted,
        }
    }
}

#[derive(Debug, Args, Clone, Copy)]
pub struct LockArgs {
    /// If another deploy holds the environment, wait up to SECONDS for it (default: refuse at once).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "600")]
    pub wait: Option<u64>,
}

/// `--tenant`/`--tag`: deploy to some of the environment's instances.
#[derive(Debug, Args, Clone)]
pub struct SubsetArgs {
    /// Deploy to this tenant only (repeatable; with --tag, to either).
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Deploy to the instances with this tag (`tags = [...]` in hoist.toml; repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// Deploy outside the environment's deploy windows or on a blackout date (only for
    /// people the policy's `override_window_by` names; needs --reason; audited).
    #[arg(long)]
    pub override_window: bool,
    /// Why, recorded in the audit log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `hoist scan --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// `path:line:col: rule redacted`, then a summary.
    Human,
    /// The whole report as JSON.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

/// The examples section of each command's help. Each is what a user would type, with what
/// it does.
mod examples {
    pub const TOP: &str = "\
Examples:
  hoist init                  # hoist.toml (and Dockerfiles) for this app
  hoist plan staging          # what a deploy would do; builds nothing
  hoist deploy staging        # build and roll out to every staging instance

Run `hoist help COMMAND` for a command's options and examples.
Exit codes: 0 success; 1 a deploy, rollback or check failed or was refused; 2 bad input or configuration.";

    pub const TOP_LONG: &str = "\
Examples:
  hoist init                  # hoist.toml (and Dockerfiles) for this app
  hoist plan staging          # what a deploy would do; builds nothing
  hoist deploy staging        # build and roll out to every staging instance
  hoist status staging        # per instance: release, image, healthy?
  hoist rollback staging      # the previous release, without building

Run `hoist help COMMAND` for a command's options and examples.

Exit codes:
  0  success (for deploy and rollback: every instance verified)
  1  a deploy, rollback or check failed, or was refused (environment locked, policy)
  2  bad input or configuration (invalid hoist.toml, unknown environment or release)";

    pub const INIT: &str = "\
Examples:
  hoist init                    # hoist.toml; starter Dockerfiles when missing
  hoist init --name clinic      # containers are called clinic-ENV-TENANT
  hoist -c deploy/hoist.toml init --force    # replace an existing file";

    pub const PLAN: &str = "\
Examples:
  hoist plan staging            # version, fingerprint, base hit/miss, actions
  hoist plan production --version v2.3.0
  hoist plan staging --json     # the plan as one JSON document, for scripts";

    pub const BUILD: &str = "\
Examples:
  hoist build                   # base image (reused if unchanged), app image
  hoist build --version hotfix-7   # name the release yourself
  hoist build --json            # the release as JSON; progress on stderr";

    pub const DEPLOY: &str = "\
Examples:
  hoist deploy staging          # build, roll out, verify every instance
  hoist deploy staging --version hotfix-7 --wait 300   # wait for a lock
  hoist deploy staging --json   # one JSON event per line, the result last";

    pub const RELEASE: &str = "\
Examples:
  hoist release --ref \"$CI_COMMIT_TAG\"       # GitLab CI, on a tag push
  hoist release --ref \"$GITHUB_REF\" --json   # GitHub Actions, JSON events
  hoist release --ref uat --wait              # a branch; wait for a lock";

    pub const PROMOTE: &str = "\
Examples:
  hoist promote staging production    # the same image, nothing built
  hoist promote staging production --version v2.3.0
  hoist promote staging production --json";

    pub const ROLLBACK: &str = "\
Examples:
  hoist rollback staging        # the previous good release, no build
  hoist rollback production --to v1.4.0
  hoist rollback staging --json";

    pub const SERVE: &str = "\
Examples:
  hoist serve                           # [server] listen, else 127.0.0.1:8080
  hoist serve --listen 0.0.0.0:8080     # behind a reverse proxy that terminates TLS
  HOIST_LOG=info hoist serve            # structured logs of every request and job";

    pub const METRICS: &str = "\
Examples:
  hoist metrics                     # every environment, the last 30 days
  hoist metrics production --since 90d
  hoist metrics --json              # for a dashboard or a report";

    pub const TOKEN: &str = "\
Examples:
  hoist token create --scope deploy:staging --name ci    # printed once
  hoist token list --json
  hoist token revoke ci";

    pub const JOBS: &str = "\
Examples:
  hoist jobs                        # the newest 50 jobs of hoist serve's queue
  hoist jobs --only queued,running
  hoist jobs --only failed --json";

    pub const JOB: &str = "\
Examples:
  hoist job cancel 42               # a queued job only; audited with --actor";

    pub const STATUS: &str = "\
Examples:
  hoist status staging          # per instance: release, image, healthy?
  hoist status production --json
  hoist status staging || exit 1   # gates a pipeline step";

    pub const HISTORY: &str = "\
Examples:
  hoist history staging         # the last 20 deployments and outcomes
  hoist history staging --limit 5 --json
  hoist history staging --deployment 42   # each instance's steps in deployment 42";

    pub const AUDIT: &str = "\
Examples:
  hoist audit                   # every environment's entries, newest first
  hoist audit production --limit 100
  hoist audit staging --json    # each entry's detail as JSON";

    pub const SCAN: &str = "\
Examples:
  hoist scan                    # what the image build would receive
  hoist scan --history main..HEAD --format sarif --output scan.sarif
  hoist scan --update-baseline  # accept the current findings";

    pub const RETIRE: &str = "\
Examples:
  hoist retire staging delta --dry-run   # what runs for delta, which hoist.toml dropped
  hoist retire staging delta             # stop and remove it (locked, policy-checked, audited)
  hoist retire staging delta --json";

    pub const PRUNE: &str = "\
Examples:
  hoist prune --dry-run         # what would go, and why each kept item stays
  hoist prune staging           # staging's old images and stopped containers (locked, audited)
  hoist prune --json            # the plan and what was removed, as JSON";

    pub const UNLOCK: &str = "\
Examples:
  hoist unlock staging          # shows the holder; refuses without --force
  hoist unlock staging --force  # remove it (audited): the holder is gone";

    pub const COMPLETIONS: &str = "\
Examples:
  hoist completions bash > /etc/bash_completion.d/hoist
  hoist completions zsh > \"${fpath[1]}/_hoist\"
  hoist completions fish > ~/.config/fish/completions/hoist.fish";

    pub const MAN: &str = "\
Examples:
  hoist man > hoist.1 && man ./hoist.1
  hoist man --dir /usr/local/share/man/man1   # hoist.1, hoist-deploy.1";
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every argument and flag of every command says what it is for, and every command has
    /// an examples section.
    #[test]
    fn every_argument_is_described_and_every_command_has_examples() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        let mut commands: Vec<&clap::Command> = vec![&cli];
        commands.extend(cli.get_subcommands().filter(|c| c.get_name() != "help"));
        for command in commands {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
            let examples = command.get_after_help().map(|h| h.to_string());
            if !examples.is_some_and(|h| h.contains("Examples:\n  hoist ")) {
                missing.push(format!("{}: no examples", command.get_name()));
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
