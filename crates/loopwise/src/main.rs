//! The `loopwise` binary: the command line, settings and the choice of store.
//!
//! This is the only crate that reads flags, the environment and config files, and the only one
//! that uses `anyhow`. Exit status: 0 success, 1 runtime failure, 2 bad usage or bad input.

mod analyze;
mod cli;
mod config;
mod db;
mod demo;
mod errors;
mod output;
mod progress;
mod record;
mod report;
mod serve;
mod store;
mod token;

use clap::Parser;
use errors::BadInput;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let default_level = match cli.command {
        cli::Command::Serve(_) => "info",
        // The demo's server logs like `serve`, without a line per repository written first.
        cli::Command::Demo(ref args) if !args.no_serve => {
            "info,loopwise_store_sqlite=warn,loopwise_store_postgres=warn"
        }
        _ => "warn",
    };
    init_logging(cli.log_format, default_level);
    let result = match cli.command {
        cli::Command::Analyze(args) => analyze::run(*args),
        cli::Command::Report(args) => report::run(*args),
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Token(args) => token::run(args),
        cli::Command::Record(args) => record::run(*args),
        cli::Command::Db(args) => db::run(args),
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Completions { shell } => {
            let mut command = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "loopwise", &mut std::io::stdout());
            Ok(())
        }
        cli::Command::Man => {
            let command = <cli::Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .map_err(anyhow::Error::from)
        }
        cli::Command::Config {
            command: cli::ConfigCommand::Default,
        } => std::io::stdout()
            .lock()
            .write_all(config::DEFAULT_FILE.as_bytes())
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if errors::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let status = if error.downcast_ref::<BadInput>().is_some() {
                2
            } else {
                1
            };
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {error:#}");
            ExitCode::from(status)
        }
    }
}

/// Logs go to stderr, so stdout stays the command's output. JSON lines carry every field of
/// an event as a JSON value, for log shippers.
fn init_logging(format: cli::LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a person at a terminal who did not ask for none (NO_COLOR), never into a
    // log file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
        )
        .with_writer(std::io::stderr);
    let _ = match format {
        cli::LogFormat::Text => builder.try_init(),
        cli::LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
