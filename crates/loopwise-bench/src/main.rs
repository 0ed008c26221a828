//! `loopwise-bench`: performance benchmarks for loopwise (see BENCHMARKS.md).

mod genrepo;
mod load;
mod ratio;
mod rng;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::GenRepo(args) => gen_repo(args),
        Cmd::ImportRatio(args) => import_ratio(args),
        Cmd::IngestLoad(args) => ingest_load(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
