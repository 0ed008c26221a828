//! The command line, as clap definitions. Help text comes from the doc comments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "loopwise",
    version,
    about = "Measure and close your delivery feedback loop: the five DORA metrics from real data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a git repository's history and print its five DORA metrics with tiers.
    Analyze(Box<AnalyzeArgs>),
    /// Run the HTTP server: events API and GitHub/GitLab webhooks.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens.
    Token(TokenArgs),
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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

    /// The database: a SQLite path or sqlite:// URL (env LOOPWISE_DB).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,

    /// A TOML configuration file (see `loopwise config default`).
    #[arg(long, value_name = "FILE", env = "LOOPWISE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,

    /// The database: a SQLite path or sqlite:// URL.
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

    /// Tags matching this glob are hotfix deployments: each remediates the deployment before it.
    #[arg(long, value_name = "GLOB")]
    pub hotfix_tags: Option<String>,

    /// A deployment shipping a commit whose subject matches this regular expression is a hotfix.
    #[arg(long, value_name = "REGEX")]
    pub hotfix_subject: Option<String>,

    /// Start of the window, inclusive: RFC 3339 or a date (midnight UTC). Default: 90 days
    /// before --until.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// End of the window, exclusive: RFC 3339 or a date (midnight UTC). Default: now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// The benchmark tiers are rated against: dora-2024, dora-2023 or dora-2021.
    #[arg(long, value_name = "NAME", default_value = loopwise_core::benchmark::DEFAULT_BENCHMARK)]
    pub benchmark: String,

    /// How to print the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// The database: a SQLite file path or sqlite:// URL (default: loopwise.db in the user's
    /// data directory).
    #[arg(long, value_name = "URL", env = "LOOPWISE_DB")]
    pub db: Option<String>,
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
