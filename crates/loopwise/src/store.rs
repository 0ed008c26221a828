//! Choosing the store from a database URL.

use crate::errors::bad_input;
use anyhow::Context;
use loopwise_store::Store;
use loopwise_store_sqlite::{SqliteStore, Synchronous};
use std::path::PathBuf;

/// The default database: `loopwise.db` in the user's data directory.
pub fn default_database() -> anyhow::Result<PathBuf> {
    let directories = directories::ProjectDirs::from("", "", "loopwise")
        .context("cannot find the user's data directory; pass --db or set LOOPWISE_DB")?;
    Ok(directories.data_dir().join("loopwise.db"))
}

/// Opens the store named by `url`: a SQLite path or `sqlite://` URL.
pub fn open(url: Option<&str>) -> anyhow::Result<Box<dyn Store>> {
    open_with(url, Synchronous::default())
}

/// [`open`], with SQLite's durability setting.
pub fn open_with(url: Option<&str>, synchronous: Synchronous) -> anyhow::Result<Box<dyn Store>> {
    let path = sqlite_path(url)?;
    let store = SqliteStore::open(&path)?;
    store.set_synchronous(synchronous)?;
    tracing::debug!(
        location = store.location(),
        ?synchronous,
        "opened SQLite store"
    );
    Ok(Box::new(store))
}

/// The schema version of the database at `url` as it is, before `open` migrates it; `None`
/// when it does not exist yet.
pub fn stored_schema_version(url: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(loopwise_store_sqlite::stored_schema_version(&sqlite_path(
        url,
    )?)?)
}

/// The newest schema version the backend of `url` understands.
pub fn supported_schema_version(url: Option<&str>) -> anyhow::Result<i64> {
    sqlite_path(url)?;
    Ok(loopwise_store_sqlite::SCHEMA_VERSION)
}

/// The SQLite file that `url` names (the default database without one).
fn sqlite_path(url: Option<&str>) -> anyhow::Result<PathBuf> {
    let url = match url {
        Some(url) if !url.trim().is_empty() => url.trim().to_string(),
        Some(_) => return Err(bad_input("--db is empty")),
        None => default_database()?.display().to_string(),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(bad_input(
            "--db: PostgreSQL databases are not supported by this build yet; give a SQLite path or sqlite:// URL",
        ));
    }
    if let Some((scheme, _)) = url.split_once("://")
        && scheme != "sqlite"
    {
        return Err(bad_input(format!(
            "--db: unknown database scheme {scheme:?}; expected a path or sqlite://"
        )));
    }
    Ok(loopwise_store_sqlite::path_from_url(&url))
}
