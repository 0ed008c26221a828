//! The command line, as clap definitions. Help text comes from the doc comments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `0.1.0 (commit 0123456789ab, built 2026-12-07)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LOOPWISE_COMMIT"),
    ", built ",
    env!("LOOPWISE_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "loopwise",
    version = VERSION,
    about = "Measure and close your delivery feedback loop: the five DORA metrics from real data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log lines on stderr as text or as one JSON object per line (env LOOPWISE_LOG_FORMAT).
    /// The level comes from RUST_LOG (default: info for `serve` and a serving `demo`, warn
    /// otherwise); colours only at a terminal, and never with NO_COLOR set.
    #[arg(
        long,
        value_enum,
        global = true,
        env = "LOOPWISE_LOG_FORMAT",
        default_value_t = LogFormat::Text,
        help_heading = "Global options"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a git repository's history and print its five DORA metrics with tiers.
    Analyze(Box<AnalyzeArgs>),
    /// Print the report of what a database holds, without importing anything: per service,
    /// or a leaderboard with --group-by. The same figures as the API and the dashboard.
    Report(Box<ReportArgs>),
    /// Run the HTTP server: the web dashboard, the events and read API, GitHub/GitLab webhooks.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens.
    Token(TokenArgs),
    /// Post one deployment, incident or change to a loopwise server (for CI scripts).
    Record(Box<RecordArgs>),
    /// The database: migrate it, export everything as NDJSON, import an export.
    Db(DbArgs),
    /// Fill a database with a realistic demo organisation (four tribes, about thirty services,
    /// two years of commits, deployments and incidents) and serve its dashboard.
    Demo(DemoArgs),
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print a shell completion script (e.g. `source <(loopwise completions bash)`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (e.g. `loopwise man > loopwise.1; man -l loopwise.1`).
    Man,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,

    /// The database: a SQLite path, a sqlite:// URL or a postgres:// URL (default:
    /// loopwise.db in the user's data directory).
    #[arg(long, value_name = "URL", env = "LOOPWISE_DB", global = true)]
    pub db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Bring the database's schema up to date and print its version before and after.
    Migrate,
    /// Write every stored entity as NDJSON (a header line, then one record per line), in a
    /// deterministic order: two exports of the same data are byte-identical when
    /// SOURCE_DATE_EPOCH fixes the header's time.
    Export {
        /// Where to write: a file, or - for stdout (the default).
        #[arg(long, short, value_name = "FILE", default_value = "-")]
        output: PathBuf,
    },
    /// Read an export (every line checked before anything is written) and store it in one
    /// transaction; records stored before are left as they are.
    Import {
        /// The export file, or - for stdin.
        #[arg(value_name = "FILE")]
        input: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented default configuration file.
    Default,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (env LOOPWISE_LISTEN; default 127.0.0.1:7878).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// The database: a SQLite path, a sqlite:// URL or a postgres:// URL for several nodes
    /// (env LOOPWISE_DB; default: loopwise.db in the user's data directory).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,

    /// A TOML configuration file (see `loopwise config default`).
    #[arg(long, value_name = "FILE", env = "LOOPWISE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The database to fill: a SQLite path or sqlite:// or postgres:// URL (default:
    /// loopwise-demo.db in the current directory, never your usual database: LOOPWISE_DB and
    /// the config file's database are not read). It must be empty or hold only an earlier demo.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,

    /// Where to write the demo's ownership configuration (default: the database's path with
    /// the extension .toml; loopwise-demo.toml for a postgres:// URL).
    #[arg(long, value_name = "FILE")]
    pub config_out: Option<PathBuf>,

    /// The generator's seed: the same seed and end give the same organisation.
    #[arg(long, value_name = "N", default_value_t = loopwise_ingest::demo::DEFAULT_SEED)]
    pub seed: u64,

    /// The end of the two years of history: a date (midnight UTC) or an RFC 3339 time
    /// (default: today, midnight UTC).
    #[arg(long, value_name = "DATE")]
    pub end: Option<String>,

    /// Address to serve the dashboard on (env LOOPWISE_LISTEN; default 127.0.0.1:7878).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Only fill the database and write the configuration; do not start the server.
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,

    /// The database: a SQLite path, a sqlite:// URL or a postgres:// URL (default:
    /// loopwise.db in the user's data directory).
    #[arg(long, value_name = "URL", env = "LOOPWISE_DB", global = true)]
    pub db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once, alone on stdout.
    Create {
        /// ingest (write events), read (read reports) or admin (everything).
        #[arg(long)]
        scope: String,
        /// A unique name for the token (default: scope and time).
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

/// A secret from the command line or the environment; its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_string()))
    }
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub event: RecordEvent,

    /// The loopwise server's base URL; events go to URL/api/v1/events.
    #[arg(
        long,
        value_name = "URL",
        env = "LOOPWISE_SERVER",
        default_value = "http://127.0.0.1:7878",
        global = true
    )]
    pub server: String,

    /// A bearer token with the ingest or admin scope (`loopwise token create`). Never printed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOOPWISE_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<Secret>,

    /// How many times to retry after a transient failure (connection error, timeout, 408, 429,
    /// 502, 503, 504), with exponential backoff.
    #[arg(long, value_name = "N", default_value_t = 5, global = true)]
    pub retries: u32,

    /// Seconds one attempt may take, from connecting to reading the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, global = true)]
    pub timeout: u64,

    /// The first retry's delay in milliseconds; each later one doubles it (for tests).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 500,
        hide = true,
        global = true
    )]
    pub backoff_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum RecordEvent {
    /// A deployment. Without --id, the id is derived from service, environment, sha and
    /// finished-at, so re-sending the same deployment stores it once.
    Deployment(RecordDeployment),
    /// An incident; each action sends the whole incident.
    Incident(RecordIncident),
    /// A change (commit).
    Change(RecordChange),
}

#[derive(Debug, Args)]
pub struct RecordDeployment {
    /// The service deployed.
    #[arg(long)]
    pub service: String,

    /// The commit deployed (hexadecimal).
    #[arg(long)]
    pub sha: String,

    /// The deployment's id (default: `d-` and a hash of service, environment, sha and
    /// finished-at).
    #[arg(long)]
    pub id: Option<String>,

    /// The environment (the server's default, production, when absent).
    #[arg(long)]
    pub environment: Option<String>,

    /// Whether the deployment succeeded.
    #[arg(long, value_parser = ["success", "failure"])]
    pub status: Option<String>,

    /// A normal deployment, a rollback or a hotfix.
    #[arg(long, value_parser = ["normal", "rollback", "hotfix"])]
    pub kind: Option<String>,

    /// When the deployment started: RFC 3339, a date or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub started_at: Option<String>,

    /// When the deployment finished: RFC 3339, a date or Unix seconds (default: now).
    #[arg(long, value_name = "TIME")]
    pub finished_at: Option<String>,

    /// The event's source (default on the server: api).
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordIncident {
    /// The incident's id; later actions on the same incident reuse it.
    #[arg(long)]
    pub id: String,

    /// create (default), update or resolve; resolve needs --resolved-at.
    #[arg(long, value_parser = ["create", "update", "resolve"])]
    pub action: Option<String>,

    /// The service affected.
    #[arg(long)]
    pub service: Option<String>,

    /// A short description.
    #[arg(long)]
    pub title: Option<String>,

    /// The severity, in your own scale (e.g. sev1).
    #[arg(long)]
    pub severity: Option<String>,

    /// When the impact started: RFC 3339, a date or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub started_at: String,

    /// When the incident was acknowledged.
    #[arg(long, value_name = "TIME")]
    pub acknowledged_at: Option<String>,

    /// When the impact ended.
    #[arg(long, value_name = "TIME")]
    pub resolved_at: Option<String>,

    /// The deployment id or commit sha that caused it.
    #[arg(long, value_name = "ID_OR_SHA")]
    pub caused_by: Option<String>,

    /// A link to the incident.
    #[arg(long)]
    pub url: Option<String>,

    /// The event's source (default on the server: api).
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordChange {
    /// The repository, e.g. acme/checkout.
    #[arg(long)]
    pub repository: String,

    /// The commit (hexadecimal).
    #[arg(long)]
    pub sha: String,

    /// When the commit was authored: RFC 3339, a date or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub author_time: String,

    /// When the commit was committed (the server's default: --author-time).
    #[arg(long, value_name = "TIME")]
    pub committer_time: Option<String>,

    /// The parent commits, comma-separated.
    #[arg(long, value_name = "SHA,SHA", value_delimiter = ',')]
    pub parents: Vec<String>,

    /// The whole commit message; its first line is the subject.
    #[arg(long)]
    pub message: Option<String>,

    /// The author's name.
    #[arg(long)]
    pub author_name: Option<String>,

    /// The author's email address.
    #[arg(long)]
    pub author_email: Option<String>,

    /// The branch the commit was pushed to.
    #[arg(long)]
    pub branch: Option<String>,

    /// The event's source (default on the server: api).
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Markdown,
    Csv,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("deployments").multiple(false))]
pub struct AnalyzeArgs {
    /// The repository: a work tree, a directory inside one, or a bare repository.
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// Tags whose short name matches this glob are production deployments (annotated tags at
    /// their tagger date, lightweight tags at their commit's committer date).
    #[arg(long, value_name = "GLOB", group = "deployments")]
    pub deploy_tags: Option<String>,

    /// A CSV or NDJSON file of deployments (sha, time, and optionally status, environment, id,
    /// kind, service, started_at).
    #[arg(long, value_name = "FILE", group = "deployments")]
    pub deploy_log: Option<PathBuf>,

    /// Every first-parent commit of HEAD is a deployment, at its committer date.
    #[arg(long, group = "deployments")]
    pub deploy_commits: bool,

    /// The service's name (default: the repository's name).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// The environment of git-derived deployments and of deploy-log lines without one; when
    /// given, only this environment is reported (default: every production environment).
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,

    /// Only commits that change something under this path count as the service's changes
    /// (repeatable, for monorepos).
    #[arg(long = "path", value_name = "SUBDIR")]
    pub paths: Vec<String>,

    /// Also read history reachable only from references outside branches and tags
    /// (refs/pull/*, refs/merge-requests/*, notes, the stash), as `git log --all` does.
    #[arg(long)]
    pub all_refs: bool,

    /// Tags matching this glob are hotfix deployments: each remediates the deployment before it.
    #[arg(long, value_name = "GLOB")]
    pub hotfix_tags: Option<String>,

    /// A deployment shipping a commit whose subject matches this regular expression is a hotfix.
    #[arg(long, value_name = "REGEX")]
    pub hotfix_subject: Option<String>,

    #[command(flatten)]
    pub window: WindowArgs,

    /// How to print the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// The database: a SQLite path, a sqlite:// URL or a postgres:// URL (default: loopwise.db
    /// in the user's data directory).
    #[arg(long, value_name = "URL", env = "LOOPWISE_DB")]
    pub db: Option<String>,

    /// A TOML configuration file: its `[services.NAME]` section gives the service's defaults
    /// (paths, deploy and hotfix tags, hotfix subject), `[teams]` its owners, `[environments]`
    /// and `[incidents]` what the report engine uses everywhere (see `loopwise config default`).
    #[arg(long, value_name = "FILE", env = "LOOPWISE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The window and benchmark of a report, as `analyze` and `report` take them.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Start of the window, inclusive: RFC 3339 or a date (midnight UTC). Default: 90 days
    /// before --until.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// End of the window, exclusive: RFC 3339 or a date (midnight UTC). Default: now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// The benchmark tiers are rated against: dora-2024 (default), dora-2023 or dora-2021.
    #[arg(long, value_name = "NAME")]
    pub benchmark: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// Only the services of this team (squad), as the configuration's [teams] assigns them.
    #[arg(long, value_name = "TEAM", alias = "squad")]
    pub team: Option<String>,

    /// Only the services of this tribe's teams.
    #[arg(long, value_name = "TRIBE")]
    pub tribe: Option<String>,

    /// Only this environment (default: every production environment).
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Print a leaderboard grouped by team, tribe, service or environment instead of one
    /// report row per (service, environment).
    #[arg(long, value_name = "GROUP")]
    pub group_by: Option<String>,

    /// How to print it.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// The database to read (nothing is imported): a SQLite path or sqlite:// or postgres://
    /// URL (default: loopwise.db in the user's data directory).
    #[arg(long, value_name = "URL", env = "LOOPWISE_DB")]
    pub db: Option<String>,

    /// A TOML configuration file: ownership ([teams]), service repositories and paths
    /// ([services.NAME]), production environments and the incident-linking window, as the
    /// server reads them.
    #[arg(long, value_name = "FILE", env = "LOOPWISE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deployment_sources_exclude_each_other() {
        let error = Cli::try_parse_from([
            "loopwise",
            "analyze",
            "--deploy-tags",
            "v*",
            "--deploy-commits",
        ])
        .unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
