//! `loopwise report`: the report engine over a database, importing nothing. The same query
//! parser, engine and figures as `analyze`, the API and the dashboard.

use crate::cli::ReportArgs;
use crate::errors::bad_input;
use crate::{config, output, store};
use loopwise_engine::{Engine, EngineError, QueryText};

/// An engine error as the command line reports it: a filter it does not know is bad input
/// (exit 2) naming the flag; a store failure is a runtime failure.
pub(crate) fn engine_error(error: EngineError) -> anyhow::Error {
    match error {
        EngineError::Store(error) => anyhow::Error::from(error),
        EngineError::Unknown { field, message } => {
            bad_input(format!("--{}: {message}", field.replace('_', "-")))
        }
    }
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let organisation = config::organisation_from(args.config.as_deref())?;
    let engine = Engine::new(organisation);
    let text = QueryText {
        service: args.service.clone(),
        team: args.team.clone(),
        tribe: args.tribe.clone(),
        environment: args.environment.clone(),
        since: args.window.since.clone(),
        until: args.window.until.clone(),
        benchmark: args.window.benchmark.clone(),
        group_by: args.group_by.clone(),
    };
    let query = engine
        .parse_query(&text, now)
        .map_err(|e| bad_input(format!("--{}: {}", e.field.replace('_', "-"), e.message)))?;
    let store = store::open_existing(args.db.as_deref())?;
    match query.group_by {
        Some(group_by) => {
            let board = engine
                .leaderboard(store.as_ref(), &query, group_by)
                .map_err(engine_error)?;
            output::print_leaderboard(&board, args.format)
        }
        None => {
            let report = engine
                .report(store.as_ref(), &query)
                .map_err(engine_error)?;
            output::print(&report, args.format)
        }
    }
}
