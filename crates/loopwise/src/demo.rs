//! `loopwise demo`: a realistic demo organisation in one command. Generates it (see
//! [`loopwise_ingest::demo`]), writes it into a database of its own, writes the ownership
//! configuration beside it and serves the dashboard exactly as `loopwise serve --db DB --config
//! CONFIG` would.
//!
//! The demo never mixes with other data: a database holding deployments from another source,
//! or a demo of another seed or end, is refused. Writing the same demo again stores nothing
//! twice; without `--end`, a database holding a demo gets that demo's end.

use crate::cli::{DemoArgs, ServeArgs};
use crate::errors::bad_input;
use crate::{progress, serve, store};
use anyhow::Context;
use loopwise_core::time::{SECONDS_PER_DAY, Timestamp, format_rfc3339, parse_instant};
use loopwise_ingest::demo::{self, DemoCounts, DemoOrganisation, StoredDemo};
use loopwise_store::Store;
use loopwise_store_postgres::is_postgres_url;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the demo goes unless told: the current directory, never the user's usual database.
pub const DEFAULT_DATABASE: &str = "loopwise-demo.db";
/// The configuration's default name beside a PostgreSQL demo, which has no path to follow.
pub const DEFAULT_CONFIG: &str = "loopwise-demo.toml";

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let asked_end = match &args.end {
        Some(text) => Some(parse_instant(text).map_err(|e| bad_input(format!("--end: {e}")))?),
        None => None,
    };
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    let shown = display_database(&db);
    let config_out = match &args.config_out {
        Some(path) => path.clone(),
        None => default_config_path(&db),
    };
    if !is_postgres_url(db.trim()) && loopwise_store_sqlite::path_from_url(db.trim()) == config_out
    {
        return Err(bad_input(format!(
            "--config-out {}: that is the database itself; choose another file",
            config_out.display()
        )));
    }

    let store = store::open(Some(&db))?;
    refuse_foreign_data(store.as_ref(), &shown)?;
    let stored = demo::find_stored(store.as_ref())?;
    let end = choose_end(asked_end, stored.as_ref(), &shown)?;

    eprintln!(
        "loopwise demo: generating two years of history ending {} (seed {})",
        format_rfc3339(end),
        args.seed
    );
    let started = Instant::now();
    let organisation = DemoOrganisation::generate(args.seed, end);
    if let Some(stored) = &stored
        && !organisation.is(stored)
    {
        return Err(bad_input(format!(
            "--seed {}: the database {shown} holds a demo of another seed (or of another \
             loopwise version); pass the --seed it was made with, or choose another --db",
            args.seed
        )));
    }
    if stored.is_some() {
        eprintln!(
            "loopwise demo: {shown} already holds this demo; writing it again stores nothing twice"
        );
    }
    eprintln!(
        "loopwise demo: generated in {:.1} s; writing {} services to {shown}",
        started.elapsed().as_secs_f64(),
        organisation.services.len()
    );
    let writing = Instant::now();
    let bar = progress::bar("services written", organisation.services.len() as u64);
    let counts = organisation.write_to_reporting(store.as_ref(), &mut |written, _| {
        bar.set_position(written as u64)
    })?;
    bar.finish_and_clear();
    // The server opens the database itself.
    drop(store);
    eprintln!(
        "loopwise demo: written in {:.1} s",
        writing.elapsed().as_secs_f64()
    );
    std::fs::write(&config_out, organisation.ownership_toml())
        .with_context(|| format!("cannot write --config-out {}", config_out.display()))?;

    // The shown database: a PostgreSQL password is never printed.
    let next = format!(
        "loopwise serve --db {} --config {}",
        shell_word(&shown),
        shell_word(&config_out.display().to_string())
    );
    print_summary(&shown, &config_out, args.seed, end, counts, &next)?;
    if args.no_serve {
        return Ok(());
    }
    let serve_args = ServeArgs {
        listen: args.listen,
        db: Some(db),
        config: Some(config_out),
    };
    serve::run_announcing(serve_args, |address| {
        println!("open http://{address}/");
    })
}

/// The end to generate for: the asked one, else the stored demo's, else today. The default
/// moves every day, so a demo made on another day is written again as it was, never mixed
/// with a newer one; an asked end that differs from the stored demo's is refused.
fn choose_end(
    asked: Option<Timestamp>,
    stored: Option<&StoredDemo>,
    shown: &str,
) -> anyhow::Result<Timestamp> {
    match (asked, stored) {
        (Some(asked), Some(stored)) if asked != stored.end => Err(bad_input(format!(
            "--end {}: the database {shown} holds the demo ending {}; pass that --end (or \
             none) to write it again, or choose another --db",
            format_rfc3339(asked),
            format_rfc3339(stored.end)
        ))),
        (Some(asked), _) => Ok(asked),
        (None, Some(stored)) => Ok(stored.end),
        (None, None) => Ok(today_midnight_utc()),
    }
}

/// Midnight UTC of the current day: the default end, so a demo made today shows today.
fn today_midnight_utc() -> Timestamp {
    jiff::Timestamp::now()
        .as_second()
        .div_euclid(SECONDS_PER_DAY)
        * SECONDS_PER_DAY
}

/// The database as messages name it: a PostgreSQL URL without its password.
fn display_database(db: &str) -> String {
    if is_postgres_url(db.trim()) {
        loopwise_store_postgres::redact(db.trim())
    } else {
        db.to_string()
    }
}

/// The database's path with the extension `.toml`; `loopwise-demo.toml` for PostgreSQL.
fn default_config_path(db: &str) -> PathBuf {
    let db = db.trim();
    if is_postgres_url(db) {
        return PathBuf::from(DEFAULT_CONFIG);
    }
    let path = loopwise_store_sqlite::path_from_url(db);
    if path.file_name().is_none() {
        return PathBuf::from(DEFAULT_CONFIG);
    }
    path.with_extension("toml")
}

/// Anything a demo did not write means real data: the demo must not mix with it.
fn refuse_foreign_data(store: &dyn Store, shown: &str) -> anyhow::Result<()> {
    let foreign = demo::foreign_records(store)?;
    if !foreign.is_empty() {
        return Err(bad_input(format!(
            "the database {shown} already holds {} from other sources; demo fills an empty \
             database or its own; choose another --db",
            foreign.describe()
        )));
    }
    Ok(())
}

fn print_summary(
    shown: &str,
    config_out: &Path,
    seed: u64,
    end: Timestamp,
    counts: DemoCounts,
    next: &str,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "demo organisation in {shown} (seed {seed}, two years ending {})",
        format_rfc3339(end)
    )?;
    for (what, count) in [
        ("tribes", counts.tribes),
        ("squads", counts.squads),
        ("services", counts.services),
        ("changes", counts.changes),
        ("deployments", counts.deployments),
        ("incidents", counts.incidents),
    ] {
        writeln!(stdout, "  {what:<12} {count}")?;
    }
    writeln!(stdout, "ownership config: {}", config_out.display())?;
    writeln!(stdout, "next: {next}")?;
    stdout.flush()?;
    Ok(())
}

/// `text` as one shell word: as it is when it is plain, else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn the_config_goes_beside_the_database() {
        assert_eq!(
            default_config_path("loopwise-demo.db"),
            PathBuf::from("loopwise-demo.toml")
        );
        assert_eq!(
            default_config_path("sqlite:///tmp/x/demo.sqlite"),
            PathBuf::from("/tmp/x/demo.toml")
        );
        assert_eq!(
            default_config_path("data/demo"),
            PathBuf::from("data/demo.toml")
        );
        assert_eq!(
            default_config_path("postgres://u:secret@h/demo"),
            PathBuf::from(DEFAULT_CONFIG)
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("loopwise-demo.db"), "loopwise-demo.db");
        assert_eq!(shell_word("my demo.db"), "'my demo.db'");
        assert_eq!(shell_word("it's.db"), r"'it'\''s.db'");
    }

    #[test]
    fn the_generated_ownership_is_a_valid_config_naming_every_service() {
        let organisation = DemoOrganisation::generate(7, 1_796_083_200);
        let file: config::FileConfig =
            toml::from_str(&organisation.ownership_toml()).expect("valid TOML config");
        assert_eq!(file.public_reads, Some(true));
        let ownership = config::ownership(file.teams).expect("valid ownership");
        let (teams, tribes) = (ownership.teams(), ownership.tribes());
        assert_eq!(teams.len(), organisation.services.len());
        for service in &organisation.services {
            assert_eq!(teams[&service.name], service.squad, "{}", service.name);
            assert_eq!(tribes[&service.squad], service.tribe);
        }
    }
}
