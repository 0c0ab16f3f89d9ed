//! Arguments. Every read command takes `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about = "Build once, roll out to every tenant, verify each, roll back in seconds.",
    after_help = "Exit codes: 0 success; 1 a deploy, rollback or check failed or was refused; 2 bad input or configuration."
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
        env = "HOIST_CONFIG"
    )]
    pub config: PathBuf,
    /// State database (default: .hoist/state.db beside the config, or [state] path).
    #[arg(long, global = true, env = "HOIST_STATE")]
    pub state: Option<PathBuf>,
    /// Who is acting, for history and audit (default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, then the OS user).
    #[arg(long, global = true, env = "HOIST_ACTOR")]
    pub actor: Option<String>,
    /// Docker engine that builds images (default: $DOCKER_HOST, else the local socket).
    #[arg(long, global = true, env = "DOCKER_HOST")]
    pub build_host: Option<String>,
    /// Plain line-by-line progress even on a terminal.
    #[arg(long, global = true)]
    pub plain: bool,
    /// More log output (-v, -vv); HOIST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter hoist.toml, detecting dependency manifests.
    Init {
        /// App name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show what a deploy would do: version, fingerprint and its files, base cache hit or miss, instances. Builds nothing.
    Plan {
        environment: String,
        #[arg(long = "version")]
        release_version: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Build (or reuse) the base image and build the app image, without deploying.
    Build {
        #[arg(long = "version")]
        release_version: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Build the release and roll it out to every instance of ENVIRONMENT, verifying each.
    Deploy {
        environment: String,
        /// Release version (default: the semver tag at HEAD, else the short commit sha).
        #[arg(long = "version")]
        release_version: Option<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Deploy a git ref where the environments' rules send it (CI: `hoist release --ref "$CI_COMMIT_TAG"`).
    /// A ref no rule matches deploys nothing and exits 0.
    Release {
        /// `v1.2.0`, `refs/tags/v1.2.0`, `main` or `refs/heads/main`.
        #[arg(long = "ref", value_name = "REF")]
        git_ref: String,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Roll the release running and verified in FROM out to TO, without building.
    Promote {
        from: String,
        to: String,
        /// A release verified in FROM other than its current one.
        #[arg(long = "version")]
        release_version: Option<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Roll ENVIRONMENT back to its previous successful release (or --to VERSION), without building.
    Rollback {
        environment: String,
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Per instance: the running release and image, whether it is the current release, whether it is healthy.
    Status {
        environment: String,
        #[arg(long)]
        json: bool,
    },
    /// Deployments of ENVIRONMENT, newest first, with actors, durations and outcomes.
    History {
        environment: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// The audit log: who did what, where and when.
    Audit {
        environment: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Find leaked credentials in PATH, by default in the app's build context (what the image
    /// build would receive), or in `.` without a hoist.toml. Exit 0 nothing found, 1 findings,
    /// 2 error. Secrets are never printed, only redacted.
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
    /// Remove ENVIRONMENT's deploy lock, whoever holds it (for a holder that is known to be gone).
    Unlock {
        environment: String,
        /// Required: confirms the holder is not running.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args, Clone, Copy)]
pub struct LockArgs {
    /// If another deploy holds the environment, wait up to SECONDS for it (default: refuse at once).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "600")]
    pub wait: Option<u64>,
}

#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// Deploy outside the environment's deploy windows or on a blackout date (only for
    /// people the policy's `override_window_by` names; needs --reason; audited).
    #[arg(long)]
    pub override_window: bool,
    /// Why, recorded in the audit log.
    #[arg(long)]
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
