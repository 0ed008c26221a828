//! `loopwise-bench`: performance benchmarks for loopwise (see BENCHMARKS.md).

mod deploylog;
mod genrepo;
mod load;
mod pages;
mod ratio;
mod rng;
mod scale;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loopwise-bench",
    version,
    about = "Performance benchmarks for loopwise"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate a realistic, deterministic git repository with git fast-import.
    GenRepo(GenRepoArgs),
    /// Time a full first `loopwise analyze` against `git log --all` on the same repository.
    ImportRatio(ImportRatioArgs),
    /// Load `loopwise serve` with single-event POSTs and NDJSON batches (issue 3's target).
    IngestLoad(IngestLoadArgs),
    /// NDJSON ingest through one and two nodes on one PostgreSQL database (issue 4's target).
    NodesLoad(NodesLoadArgs),
    /// Report latency over a synthetic organisation on PostgreSQL (issue 4's target).
    OrgReport(OrgReportArgs),
    /// Server-side render time of every web dashboard page (issue 5's target); exit status 2
    /// when a page misses it.
    DashboardPages(DashboardPagesArgs),
    /// Parse time of a deploy log of 1,000,000 rows (CSV and NDJSON) and a whole `loopwise
    /// analyze --deploy-log` with it (issue 12's target); exit status 2 when one takes a
    /// minute or more.
    DeployLog(DeployLogArgs),
}

#[derive(Debug, Args)]
struct DeployLogArgs {
    /// The loopwise binary [default: target/release/loopwise of this workspace].
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// Rows of the generated deploy log.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Commits of the generated repository whose main line the rows deploy.
    #[arg(long, default_value_t = 2_000)]
    commits: usize,
    /// Seed of the repository and of the rows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The formats to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv,ndjson")]
    formats: Vec<deploylog::LogFormat>,
    /// A figure at or above this many seconds fails.
    #[arg(long, default_value_t = 60)]
    limit_seconds: u64,
    /// Keep the repository, the logs and the databases in this directory (a repository
    /// generated there before with the same --commits and --seed is reused) [default: a
    /// temporary directory, deleted afterwards].
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DashboardPagesArgs {
    /// The loopwise binary [default: target/release/loopwise of this workspace].
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// demo: `loopwise demo`'s organisation (target 100 ms); org: the synthetic organisation of
    /// org-report in SQLite (target 300 ms); org-postgres: the same in PostgreSQL (target 300
    /// ms).
    #[arg(long, value_enum, default_value = "demo")]
    scenario: pages::Scenario,
    /// Warm requests per page kind (each kind's distinct pages in turn).
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// The windows to measure every page kind at: comma-separated presets (7d, 30d, 90d,
    /// 180d, 365d, 730d), or all of them.
    #[arg(long, value_delimiter = ',', default_value = "90d")]
    windows: Vec<String>,
    /// The target p95, server side, in milliseconds [default: 100 for demo, 300 for org].
    #[arg(long)]
    max_p95_ms: Option<f64>,
    /// Scenario org: services of the organisation.
    #[arg(long, default_value_t = 200)]
    services: usize,
    /// Scenario org: deployments in all.
    #[arg(long, default_value_t = 1_000_000)]
    deployments: usize,
    /// Scenario org: changes (commits) in all.
    #[arg(long, default_value_t = 5_000_000)]
    changes: usize,
    /// Scenario org: the generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The SQLite database to generate (it must not exist) [default: one in a temporary
    /// directory, deleted afterwards]. With --skip-generate, the database to measure as it is.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Measure the database at --db as an earlier run generated it (scenario org: with the
    /// same --services; demo: its .toml configuration beside it).
    #[arg(long)]
    skip_generate: bool,
    /// Scenario org-postgres: an existing PostgreSQL server (a superuser URL; the database
    /// `loopwise_pages` is created on it) [default: a private server in a temporary directory].
    /// With --skip-generate, the database to measure as it is.
    #[arg(long)]
    postgres_url: Option<String>,
}

#[derive(Debug, Args)]
struct NodesLoadArgs {
    /// The loopwise binary [default: target/release/loopwise of this workspace].
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// An existing PostgreSQL server (a superuser URL; databases are created on it)
    /// [default: a private server in a temporary directory].
    #[arg(long)]
    postgres_url: Option<String>,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Events per NDJSON request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent clients in each configuration, spread over its nodes.
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

#[derive(Debug, Args)]
struct OrgReportArgs {
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// An existing PostgreSQL server (a superuser URL) [default: a private server].
    #[arg(long)]
    postgres_url: Option<String>,
    #[arg(long, default_value_t = 200)]
    services: usize,
    #[arg(long, default_value_t = 1_000_000)]
    deployments: usize,
    #[arg(long, default_value_t = 10_000_000)]
    changes: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests per kind of query.
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Measure the database at --postgres-url as it is (generated by an earlier run).
    #[arg(long, requires = "postgres_url")]
    skip_generate: bool,
}

#[derive(Debug, Args)]
struct GenRepoArgs {
    /// Directory to create (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Total number of commits, merges and reverts included.
    #[arg(long, default_value_t = 45_000)]
    commits: usize,
    /// Number of annotated `vMAJOR.MINOR.PATCH` release tags.
    #[arg(long, default_value_t = 350)]
    tags: usize,
    /// Seed of the deterministic generator; the same seed gives the same shas.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Create a bare repository instead of a work tree.
    #[arg(long)]
    bare: bool,
}

#[derive(Debug, Args)]
struct ImportRatioArgs {
    /// The repository to measure (work tree or bare).
    #[arg(long)]
    repo: PathBuf,
    /// The loopwise binary [default: target/release/loopwise of this workspace].
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// Number of measured runs; with more than one, medians are reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The target ratio of issue 2.
    #[arg(long, default_value_t = 1.5)]
    max_ratio: f64,
}

#[derive(Debug, Args)]
struct IngestLoadArgs {
    /// The loopwise binary [default: target/release/loopwise of this workspace].
    #[arg(long)]
    loopwise: Option<PathBuf>,
    /// Measured seconds of each phase (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up seconds before each phase's measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrent keep-alive clients sending single events (phase 1).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Events per NDJSON request (phase 2).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent keep-alive clients sending NDJSON batches (phase 2).
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
}

fn gen_repo(args: GenRepoArgs) -> Result<()> {
    let opts = genrepo::Options {
        out: args.out,
        commits: args.commits,
        tags: args.tags,
        seed: args.seed,
        bare: args.bare,
    };
    let (s, took) = genrepo::generate(&opts)?;
    println!(
        "generated {} in {:.1} s: {} commits ({} merges, {} direct on main, {} reverts), \
         {} release tags, {} nightly tags, {} lightweight tags, {} unmerged branches",
        opts.out.display(),
        took.as_secs_f64(),
        s.commits,
        s.merges,
        s.direct,
        s.reverts,
        s.release_tags,
        s.nightly_tags,
        s.lightweight_tags,
        s.unmerged_branches
    );
    Ok(())
}

fn import_ratio(args: ImportRatioArgs) -> Result<()> {
    let opts = ratio::Options {
        repo: args.repo,
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        runs: args.runs,
        max_ratio: args.max_ratio,
    };
    ratio::run(&opts).map(|_| ())
}

fn ingest_load(args: IngestLoadArgs) -> Result<()> {
    let opts = load::Options {
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        clients: args.clients,
        seconds: args.seconds,
        warmup: args.warmup,
        batch: args.batch,
        batch_clients: args.batch_clients,
        // Issue 3's targets.
        min_requests_per_second: 5_000.0,
        max_p99: std::time::Duration::from_millis(50),
        min_events_per_second: 100_000.0,
    };
    load::run(&opts)
}

fn nodes_load(args: NodesLoadArgs) -> Result<()> {
    scale::nodes_load(&scale::NodesOptions {
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        postgres_url: args.postgres_url,
        seconds: args.seconds,
        warmup: args.warmup,
        batch: args.batch,
        clients: args.clients,
        min_ratio: 1.5,
    })
}

fn org_report(args: OrgReportArgs) -> Result<()> {
    scale::org_report(&scale::ReportOptions {
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        postgres_url: args.postgres_url,
        shape: scale::OrgShape {
            services: args.services,
            deployments: args.deployments,
            changes: args.changes,
            seed: args.seed,
        },
        requests: args.requests,
        skip_generate: args.skip_generate,
        max_p95: std::time::Duration::from_secs(1),
    })
}

/// `Ok(false)` when a page missed its target.
fn dashboard_pages(args: DashboardPagesArgs) -> Result<bool> {
    let max_p95_ms = args.max_p95_ms.unwrap_or(match args.scenario {
        pages::Scenario::Demo => 100.0,
        pages::Scenario::Org | pages::Scenario::OrgPostgres => 300.0,
    });
    anyhow::ensure!(
        max_p95_ms.is_finite() && max_p95_ms > 0.0,
        "--max-p95-ms must be positive"
    );
    pages::run(&pages::Options {
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        scenario: args.scenario,
        requests: args.requests,
        windows: args.windows,
        shape: scale::OrgShape {
            services: args.services,
            deployments: args.deployments,
            changes: args.changes,
            seed: args.seed,
        },
        db: args.db,
        skip_generate: args.skip_generate,
        postgres_url: args.postgres_url,
        max_p95: std::time::Duration::from_secs_f64(max_p95_ms / 1000.0),
    })
}

/// `Ok(false)` when a figure is over the limit.
fn deploy_log(args: DeployLogArgs) -> Result<bool> {
    anyhow::ensure!(args.limit_seconds > 0, "--limit-seconds must be positive");
    deploylog::run(&deploylog::Options {
        loopwise: args.loopwise.unwrap_or_else(ratio::default_loopwise),
        rows: args.rows,
        commits: args.commits,
        seed: args.seed,
        formats: args.formats,
        limit: std::time::Duration::from_secs(args.limit_seconds),
        directory: args.dir,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::DashboardPages(args) => match dashboard_pages(args) {
            Ok(true) => Ok(()),
            // A missed target: distinct from an error, so a check can tell them apart.
            Ok(false) => return ExitCode::from(2),
            Err(err) => Err(err),
        },
        Cmd::DeployLog(args) => match deploy_log(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(2),
            Err(err) => Err(err),
        },
        Cmd::GenRepo(args) => gen_repo(args),
        Cmd::ImportRatio(args) => import_ratio(args),
        Cmd::IngestLoad(args) => ingest_load(args),
        Cmd::NodesLoad(args) => nodes_load(args),
        Cmd::OrgReport(args) => org_report(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
