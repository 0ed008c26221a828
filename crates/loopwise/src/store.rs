//! Choosing the store from a database URL: a SQLite path or `sqlite://` URL (the default), or a
//! `postgres://` URL for a database shared by several nodes.

use crate::errors::bad_input;
use anyhow::Context;
use loopwise_store::Store;
use loopwise_store_postgres::{PoolOptions, PostgresStore, is_postgres_url};
use loopwise_store_sqlite::{SqliteStore, Synchronous};
use std::path::PathBuf;

/// The default database: `loopwise.db` in the user's data directory.
pub fn default_database() -> anyhow::Result<PathBuf> {
    let directories = directories::ProjectDirs::from("", "", "loopwise")
        .context("cannot find the user's data directory; pass --db or set LOOPWISE_DB")?;
    Ok(directories.data_dir().join("loopwise.db"))
}

/// Backend settings from the configuration; each applies to its own backend only.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub sqlite_synchronous: Synchronous,
    pub postgres: PoolOptions,
}

/// What a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Opens the store named by `url` with default settings.
pub fn open(url: Option<&str>) -> anyhow::Result<Box<dyn Store>> {
    open_with(url, &StoreOptions::default())
}

/// Opens a database that must exist already (for commands that only read): a SQLite file
/// that is not there is an error naming it, not a new empty database and an empty report.
pub fn open_existing(url: Option<&str>) -> anyhow::Result<Box<dyn Store>> {
    if let Target::Sqlite(path) = target(url)?
        && !path.exists()
    {
        return Err(bad_input(format!(
            "--db {}: no such database; `loopwise analyze` or `loopwise serve` creates one",
            path.display()
        )));
    }
    open(url)
}

/// Opens the store named by `url`, migrating its schema.
pub fn open_with(url: Option<&str>, options: &StoreOptions) -> anyhow::Result<Box<dyn Store>> {
    match target(url)? {
        Target::Sqlite(path) => {
            let store = SqliteStore::open(&path)?;
            store.set_synchronous(options.sqlite_synchronous)?;
            tracing::debug!(
                location = store.location(),
                synchronous = ?options.sqlite_synchronous,
                "opened SQLite store"
            );
            Ok(Box::new(store))
        }
        Target::Postgres(url) => {
            let store = PostgresStore::open_with(&url, &options.postgres)?;
            tracing::debug!(
                location = store.location(),
                max_connections = options.postgres.max_connections,
                "opened PostgreSQL store"
            );
            Ok(Box::new(store))
        }
    }
}

/// The schema version of the database at `url` as it is, before `open` migrates it; `None`
/// when it does not exist yet (or loopwise never created its schema there).
pub fn stored_schema_version(url: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(match target(url)? {
        Target::Sqlite(path) => loopwise_store_sqlite::stored_schema_version(&path)?,
        Target::Postgres(url) => loopwise_store_postgres::stored_schema_version(&url)?,
    })
}

/// The newest schema version the backend of `url` understands.
pub fn supported_schema_version(url: Option<&str>) -> anyhow::Result<i64> {
    Ok(match target(url)? {
        Target::Sqlite(_) => loopwise_store_sqlite::SCHEMA_VERSION,
        Target::Postgres(_) => loopwise_store_postgres::SCHEMA_VERSION,
    })
}

/// Is `url` a database that several processes share over the network?
pub fn is_shared(url: Option<&str>) -> bool {
    url.is_some_and(|url| is_postgres_url(url.trim()))
}

/// The database that `url` names (the default SQLite file without one).
fn target(url: Option<&str>) -> anyhow::Result<Target> {
    let explicit = url.is_some();
    let url = match url {
        Some(url) if !url.trim().is_empty() => url.trim().to_string(),
        Some(_) => return Err(bad_input("--db is empty")),
        None => default_database()?.display().to_string(),
    };
    if is_postgres_url(&url) {
        loopwise_store_postgres::check_url(&url).map_err(|reason| {
            bad_input(format!(
                "--db {}: not a valid PostgreSQL URL: {reason}",
                loopwise_store_postgres::redact(&url)
            ))
        })?;
        return Ok(Target::Postgres(url));
    }
    if let Some((scheme, _)) = url.split_once("://")
        && scheme != "sqlite"
    {
        return Err(bad_input(format!(
            "--db: unknown database scheme {scheme:?}; expected a path, sqlite:// or postgres://"
        )));
    }
    let path = loopwise_store_sqlite::path_from_url(&url);
    // The default database's folder is created; a folder someone named is not: a typo must
    // not become a new folder tree with an empty database in it.
    if explicit
        && let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        && !folder.is_dir()
    {
        return Err(bad_input(format!(
            "--db {}: the folder {} does not exist; create it first, or leave --db out to use \
             the default database ({})",
            path.display(),
            folder.display(),
            default_database()
                .map(|default| default.display().to_string())
                .unwrap_or_else(|_| "none on this machine".to_string())
        )));
    }
    Ok(Target::Sqlite(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(
            target(Some("postgres://u@h/db")).unwrap(),
            Target::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            target(Some(" postgresql://h/db ")).unwrap(),
            Target::Postgres("postgresql://h/db".into())
        );
        assert_eq!(
            target(Some("sqlite:///tmp/x.db")).unwrap(),
            Target::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            target(Some("x.db")).unwrap(),
            Target::Sqlite("x.db".into()),
            "a bare file name is in the current folder"
        );
        let error = target(Some("no-such-folder-here/x.db"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the folder no-such-folder-here does not exist"),
            "{error}"
        );
        let error = target(Some("mysql://h/db")).unwrap_err().to_string();
        assert!(
            error.contains("unknown database scheme \"mysql\""),
            "{error}"
        );
        assert!(target(Some("  ")).is_err());
        let error = target(Some("postgres://u:secret@h:port/db"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a valid PostgreSQL URL"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(is_shared(Some("postgres://h/db")));
        assert!(!is_shared(Some("x.db")) && !is_shared(None));
    }
}
