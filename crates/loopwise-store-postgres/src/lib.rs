//! The PostgreSQL store: the scale-out path, one database shared by several `loopwise serve`
//! nodes.
//!
//! Every operation behaves as the SQLite store's does (the shared conformance suite runs
//! against both). What differs is how: a pool of connections instead of one, so callers on
//! different threads (and nodes) write concurrently; exactly-once storage rests on primary
//! keys and `INSERT … ON CONFLICT`, never on in-process locks, so two nodes that receive the
//! same event store it once; batches go to the server as arrays (`unnest`) so a batch costs a
//! few round trips, not one per row. Migrations run inside a transaction that holds an
//! advisory lock, so nodes that start together migrate once. A connection that the database
//! dropped (a restart) is discarded and replaced when next taken from the pool: the store
//! recovers by itself, and until then its calls fail with [`StoreError::Database`].

mod exchange;
#[cfg(feature = "testing")]
pub mod testing;
mod writes;

use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::{CiRun, Event, FlagChange, Incident, PullRequest, PullRequestReview};
use loopwise_core::time::Timestamp;
use loopwise_store::export::ExportRecord;
use loopwise_store::rows::{self, StoredRow};
use loopwise_store::versions::{self, WriteVersions};
use loopwise_store::{
    Delivery, DeploymentFilter, DeploymentScope, Derived, EventOutcome, ExportSink, GitImportEnd,
    GitImportMessage, ImportCounts, RepositoryId, Store, StoreCounts, StoreError, Token,
    TokenScope, WriteCounts,
};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

/// The migrations as (schema version, SQL). Versions number the data model that both backends
/// share: PostgreSQL's first migration creates what SQLite's first four do, so it is version 4.
const MIGRATIONS: &[(i64, &str)] = &[
    (4, include_str!("../migrations/0004_initial.sql")),
    (5, include_str!("../migrations/0005_write_versions.sql")),
    (6, include_str!("../migrations/0006_pushed_changes.sql")),
    (7, include_str!("../migrations/0007_derived_facts.sql")),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The key of the advisory lock that serialises migrations across nodes ("loopwise" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c6f_6f70_7769_7365;

/// How often a write that lost a deadlock or serialisation race to another node is retried.
const WRITE_ATTEMPTS: usize = 5;

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long a caller waits for a connection (and a new connection for the server) before
    /// the call fails as unavailable.
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
pub struct PostgresStore {
    /// The URL without its password, for messages.
    location: String,
    pool: r2d2::Pool<Manager>,
    /// Scopes whose bump after a commit failed: bumped with the next one, and before any
    /// reader is told the versions, so no reader of this process trusts a version that a
    /// committed write should have moved.
    unbumped: std::sync::Mutex<BTreeSet<String>>,
}

/// One pooled connection and the statements prepared on it.
pub(crate) struct Session {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Session")
            .field("prepared", &self.statements.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Session;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Session, postgres::Error> {
        Ok(Session {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, session: &mut Session) -> Result<(), postgres::Error> {
        session.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, session: &mut Session) -> bool {
        session.client.is_closed()
    }
}

/// What a write can fail with inside a transaction: the database's own error (kept whole, so a
/// lost deadlock can be retried) or the store's.
#[derive(Debug)]
pub(crate) enum WriteError {
    Postgres(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for WriteError {
    fn from(error: postgres::Error) -> Self {
        WriteError::Postgres(error)
    }
}

impl From<StoreError> for WriteError {
    fn from(error: StoreError) -> Self {
        WriteError::Store(error)
    }
}

impl From<WriteError> for StoreError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Postgres(error) => database_error(error),
            WriteError::Store(error) => error,
        }
    }
}

impl WriteError {
    /// A deadlock or serialisation failure: another transaction won, and running the whole
    /// transaction again is the documented remedy.
    fn is_retryable(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            WriteError::Postgres(error) => matches!(
                error.code(),
                Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            ),
            WriteError::Store(_) => false,
        }
    }
}

/// The database's message, with its SQLSTATE, or the connection's failure and its cause.
pub(crate) fn database_error(error: postgres::Error) -> StoreError {
    StoreError::Database(describe(&error))
}

fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// A transaction with the session's statement cache: every statement is prepared once per
/// connection and reused, so a call costs one round trip per statement.
pub(crate) struct Tx<'a> {
    pub(crate) transaction: Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
    /// The write scopes this transaction changed, bumped once it has committed.
    pub(crate) touched: BTreeSet<String>,
}

impl<'a> Tx<'a> {
    fn begin(
        client: &'a mut Client,
        statements: &'a mut HashMap<&'static str, Statement>,
    ) -> Result<Self, postgres::Error> {
        Ok(Tx {
            transaction: client.transaction()?,
            statements,
            touched: BTreeSet::new(),
        })
    }

    /// Commits, and hands back the scopes to bump.
    fn commit(self) -> Result<BTreeSet<String>, postgres::Error> {
        self.transaction.commit()?;
        Ok(self.touched)
    }
}

/// Bumps the versions of `scopes` after their transaction committed. A reader that saw the old
/// version read data no newer than the commit, so it will find the new version and refresh. In
/// its own statement, in byte order, so concurrent bumps never deadlock and never wait on a
/// writer's transaction. On failure (the database went away right after the commit) the
/// scopes are handed back, to be bumped again later.
fn bump_after_commit(
    client: &mut Client,
    scopes: BTreeSet<String>,
) -> Result<(), BTreeSet<String>> {
    if scopes.is_empty() {
        return Ok(());
    }
    let list: Vec<&String> = scopes.iter().collect();
    match client.execute(
        "INSERT INTO write_versions (scope, version) SELECT unnest($1::text[]), 1 \
         ON CONFLICT (scope) DO UPDATE SET version = write_versions.version + 1",
        &[&list],
    ) {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(error = %describe(&error), ?scopes, "cannot bump write versions after a commit; retried before the next read of the versions");
            Err(scopes)
        }
    }
}

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.transaction.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.transaction.execute(&statement, parameters)
    }

    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.transaction.query(&statement, parameters)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.transaction.query_opt(&statement, parameters)
    }

    pub(crate) fn query_one(
        &mut self,
        sql: &'static str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.transaction.query_one(&statement, parameters)
    }
}

/// The URL with its password replaced, safe to log and print.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Is `url` a PostgreSQL URL (`postgres://` or `postgresql://`)?
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Why `url` is not a PostgreSQL connection URL this store can use, if it is not.
pub fn check_url(url: &str) -> Result<(), String> {
    postgres::Config::from_str(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn parse_config(url: &str, options: &PoolOptions) -> Result<postgres::Config, StoreError> {
    let mut config = postgres::Config::from_str(url).map_err(|e| StoreError::Open {
        location: redact(url),
        reason: format!("not a valid PostgreSQL URL: {e}"),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("loopwise");
    }
    Ok(config)
}

fn open_error(location: &str, error: &postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    let reason = match error.code() {
        Some(&SqlState::INVALID_PASSWORD)
        | Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
            format!("the server refused the credentials: {}", describe(error))
        }
        Some(&SqlState::INVALID_CATALOG_NAME) => {
            format!("the database does not exist: {}", describe(error))
        }
        _ => format!("cannot connect: {}", describe(error)),
    };
    StoreError::Open {
        location: location.to_string(),
        reason,
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, brings its schema up to date (under an advisory lock,
    /// so concurrent nodes migrate once) and opens a pool.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &PoolOptions::default())
    }

    pub fn open_with(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let location = redact(url);
        let config = parse_config(url, options)?;
        // A direct first connection: its failure is reported as it is (refused, bad password),
        // not as a pool timeout.
        let mut client = config
            .connect(NoTls)
            .map_err(|e| open_error(&location, &e))?;
        migrate(&mut client, &location)?;
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(0))
            .connection_timeout(options.connect_timeout)
            .test_on_check_out(true)
            .error_handler(Box::new(PoolErrorLog))
            .build_unchecked(Manager { config });
        Ok(Self {
            location,
            pool,
            unbumped: std::sync::Mutex::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The scopes whose bump after a commit failed.
    fn unbumped(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.unbumped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bumps `scopes` and any whose earlier bump failed; what fails again is kept for later.
    fn bump(&self, client: &mut Client, mut scopes: BTreeSet<String>) {
        let mut unbumped = self.unbumped();
        scopes.append(&mut unbumped);
        if let Err(failed) = bump_after_commit(client, scopes) {
            *unbumped = failed;
        }
    }

    fn session(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.pool.get().map_err(|e| {
            StoreError::Database(format!(
                "no connection to the database {}: {e}",
                self.location
            ))
        })
    }

    /// Runs `work` in one transaction and commits it; a deadlock or serialisation failure
    /// (another node won a race) runs it again, up to [`WRITE_ATTEMPTS`] times.
    fn write<T>(
        &self,
        mut work: impl FnMut(&mut Tx<'_>) -> Result<T, WriteError>,
    ) -> Result<T, StoreError> {
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let mut attempt = 1;
        loop {
            let mut tx = Tx::begin(&mut *client, &mut *statements).map_err(database_error)?;
            let result = match work(&mut tx) {
                Ok(value) => tx
                    .commit()
                    .map(|touched| (value, touched))
                    .map_err(WriteError::from),
                Err(error) => {
                    // Rolls back, and ends the borrow of the connection before a retry.
                    drop(tx);
                    Err(error)
                }
            };
            match result {
                Ok((value, touched)) => {
                    self.bump(client, touched);
                    return Ok(value);
                }
                Err(error) if error.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    tracing::debug!(attempt, error = ?error, "retrying a write that lost a race");
                    attempt += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Runs `work` in a read-only transaction over one snapshot.
    fn read<T>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, WriteError>,
    ) -> Result<T, StoreError> {
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let transaction = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(database_error)?;
        let mut tx = Tx {
            transaction,
            statements,
            touched: BTreeSet::new(),
        };
        let value = work(&mut tx)?;
        tx.transaction.commit().map_err(database_error)?;
        Ok(value)
    }
}

/// Logs connections the pool failed to open (the database is down); callers see a timeout.
#[derive(Debug)]
struct PoolErrorLog;

impl r2d2::HandleError<postgres::Error> for PoolErrorLog {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(error = %describe(&error), "cannot open a database connection");
    }
}

fn migrate(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let failed = |version: i64| {
        move |e: postgres::Error| StoreError::Migration {
            version,
            reason: describe(&e),
        }
    };
    let mut transaction = client.transaction().map_err(failed(0))?;
    // Held until commit: a second node starting now waits here, then finds the work done.
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed(0))?;
    let current = read_schema_version(&mut transaction).map_err(failed(0))?;
    if let Some(found) = current
        && found > SCHEMA_VERSION
    {
        return Err(StoreError::SchemaTooNew {
            location: location.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if current.is_none() {
        transaction
            .batch_execute(
                "CREATE TABLE loopwise_schema (version BIGINT NOT NULL); \
                 INSERT INTO loopwise_schema (version) VALUES (0);",
            )
            .map_err(failed(0))?;
    }
    let current = current.unwrap_or(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        transaction.batch_execute(sql).map_err(failed(*version))?;
        transaction
            .execute("UPDATE loopwise_schema SET version = $1", &[version])
            .map_err(failed(*version))?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    transaction.commit().map_err(failed(SCHEMA_VERSION))
}

/// The version in `loopwise_schema`, or `None` when loopwise never migrated this database.
fn read_schema_version(
    client: &mut impl postgres::GenericClient,
) -> Result<Option<i64>, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('loopwise_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(client
        .query_opt("SELECT version FROM loopwise_schema", &[])?
        .map(|row| row.get(0)))
}

/// The schema version of the database at `url` as it is, without migrating it; `None` when
/// loopwise has not created its schema there yet.
pub fn stored_schema_version(url: &str) -> Result<Option<i64>, StoreError> {
    let location = redact(url);
    let mut client = parse_config(url, &PoolOptions::default())?
        .connect(NoTls)
        .map_err(|e| open_error(&location, &e))?;
    read_schema_version(&mut client).map_err(database_error)
}

/// A row as the shared readers of [`rows`] read it.
pub(crate) struct Columns<'a>(pub(crate) &'a Row);

impl StoredRow for Columns<'_> {
    fn optional_text(&self, column: usize) -> Result<Option<&str>, StoreError> {
        self.0.try_get(column).map_err(database_error)
    }

    fn optional_integer(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.0.try_get(column).map_err(database_error)
    }

    fn boolean(&self, column: usize) -> Result<bool, StoreError> {
        self.0.try_get(column).map_err(database_error)
    }
}

/// Every row read with `read`.
fn read_all<T>(
    rows: &[Row],
    read: impl Fn(&dyn StoredRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, WriteError> {
    Ok(rows
        .iter()
        .map(|row| read(&Columns(row)))
        .collect::<Result<_, _>>()?)
}

fn read_bodies<T: serde::de::DeserializeOwned>(
    rows: Vec<Row>,
    what: &'static str,
) -> Result<Vec<T>, WriteError> {
    read_all(&rows, |row| rows::body(row, what))
}

fn to_count(n: i64) -> usize {
    usize::try_from(n).unwrap_or_default()
}

impl Store for PostgresStore {
    fn repository(&self, locator: &str) -> Result<RepositoryId, StoreError> {
        self.write(|tx| writes::register_repository(tx, locator))
    }

    fn repositories(&self) -> Result<Vec<(RepositoryId, String)>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query("SELECT id, locator FROM repositories ORDER BY id", &[])?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect())
        })
    }

    fn find_repository(&self, locator: &str) -> Result<Option<RepositoryId>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT id FROM repositories WHERE locator = $1",
                    &[&locator],
                )?
                .map(|row| row.get(0)))
        })
    }

    fn changes(&self, repository: RepositoryId) -> Result<Vec<Change>, StoreError> {
        self.read(|tx| {
            read_all(
                &tx.query(
                    concat!(
                        "SELECT ",
                        loopwise_store::change_columns!(),
                        " FROM changes WHERE repository_id = $1"
                    ),
                    &[&repository],
                )?,
                |row| rows::change(row, 0),
            )
        })
    }

    fn changes_by_sha(
        &self,
        repository: RepositoryId,
        shas: &[String],
    ) -> Result<Vec<Change>, StoreError> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            read_all(
                &tx.query(
                    concat!(
                        "SELECT ",
                        loopwise_store::change_columns!(),
                        " FROM changes WHERE repository_id = $1 AND sha = ANY($2)"
                    ),
                    &[&repository, &shas],
                )?,
                |row| rows::change(row, 0),
            )
        })
    }

    fn git_change_shas(&self, repository: RepositoryId) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT sha FROM changes WHERE repository_id = $1 AND source = 'git'",
                    &[&repository],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect())
        })
    }

    fn pushed_change_count(&self, repository: RepositoryId) -> Result<usize, StoreError> {
        self.read(|tx| {
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM changes WHERE repository_id = $1 AND source <> 'git'",
                    &[&repository],
                )?
                .get(0);
            Ok(to_count(count))
        })
    }

    fn tags(&self, repository: RepositoryId) -> Result<Vec<Tag>, StoreError> {
        self.read(|tx| {
            read_all(
                &tx.query(
                    "SELECT name, commit_sha, time, annotated FROM tags WHERE repository_id = $1 \
                     ORDER BY name",
                    &[&repository],
                )?,
                |row| rows::tag(row, 0),
            )
        })
    }

    fn path_touches(
        &self,
        repository: RepositoryId,
        paths_key: &str,
    ) -> Result<HashMap<String, bool>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT sha, touched FROM path_touches WHERE repository_id = $1 AND paths_key = $2",
                    &[&repository, &paths_key],
                )?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect())
        })
    }

    fn import_git_stream(
        &self,
        locator: &str,
        messages: &mut dyn Iterator<Item = GitImportMessage>,
    ) -> Result<Option<WriteCounts>, StoreError> {
        let started = std::time::Instant::now();
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let mut tx = Tx::begin(&mut *client, &mut *statements).map_err(database_error)?;
        let repository = writes::register_repository(&mut tx, locator)?;
        let mut counts = WriteCounts::default();
        let Some(GitImportEnd { tags, path_touches }) =
            GitImportMessage::until_commit(messages, |changes| {
                writes::insert_git_changes(&mut tx, repository, changes, &mut counts)
            })?
        else {
            // Dropping the transaction rolls it back.
            return Ok(None);
        };
        let tags_changed = writes::replace_tags(&mut tx, repository, &tags)?;
        let touches_changed = writes::upsert_path_touches(&mut tx, repository, &path_touches)?;
        tx.touched.extend(versions::scope_of_git_import(
            locator,
            tags_changed || touches_changed,
            &counts,
        ));
        let touched = tx.commit().map_err(database_error)?;
        self.bump(client, touched);
        tracing::info!(
            inserted = counts.inserted,
            unchanged = counts.unchanged,
            elapsed = ?started.elapsed(),
            "committed git import"
        );
        Ok(Some(counts))
    }

    fn upsert_deployments(
        &self,
        deployments: &[Deployment],
        replace: Option<&DeploymentScope>,
    ) -> Result<WriteCounts, StoreError> {
        self.write(|tx| writes::write_deployments(tx, deployments, replace))
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let source = filter.source.map(Source::as_str);
        self.read(|tx| {
            read_all(
                &tx.query(
                    "SELECT source, source_id, service, environment, sha, started_at, finished_at, \
                     status, kind FROM deployments \
                     WHERE ($1::text IS NULL OR service = $1) AND ($2::text IS NULL OR environment = $2) \
                       AND ($3::text IS NULL OR source = $3) \
                     ORDER BY service, environment, coalesce(finished_at, started_at) NULLS FIRST, source_id",
                    &[&filter.service, &filter.environment, &source],
                )?,
                |row| rows::deployment(row, 0),
            )
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.read(|tx| {
            let row = tx.query_one(
                "SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM changes), \
                 (SELECT count(*) FROM tags), (SELECT count(*) FROM deployments), \
                 (SELECT count(*) FROM path_touches)",
                &[],
            )?;
            Ok(StoreCounts {
                repositories: to_count(row.get(0)),
                changes: to_count(row.get(1)),
                tags: to_count(row.get(2)),
                deployments: to_count(row.get(3)),
                path_touches: to_count(row.get(4)),
            })
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        let mut session = self.session()?;
        session
            .client
            .simple_query("SELECT 1")
            .map(|_| ())
            .map_err(database_error)
    }

    fn apply_events(&self, events: &[Event]) -> Result<Vec<EventOutcome>, StoreError> {
        self.write(|tx| writes::write_events(tx, events, Source::Api))
    }

    fn apply_delivery(
        &self,
        delivery: &Delivery,
        events: &[Event],
    ) -> Result<Option<Vec<EventOutcome>>, StoreError> {
        self.write(|tx| {
            if !writes::insert_delivery(tx, delivery)? {
                return Ok(None);
            }
            writes::write_events(tx, events, delivery.source).map(Some)
        })
    }

    fn incidents(&self, service: Option<&str>) -> Result<Vec<Incident>, StoreError> {
        self.read(|tx| {
            read_bodies(
                tx.query(
                    "SELECT body FROM incidents WHERE ($1::text IS NULL OR service = $1) \
                     ORDER BY started_at, source, id",
                    &[&service],
                )?,
                "incident",
            )
        })
    }

    fn pull_requests(&self, repository: Option<&str>) -> Result<Vec<PullRequest>, StoreError> {
        self.read(|tx| {
            read_bodies(
                tx.query(
                    "SELECT body FROM pull_requests WHERE ($1::text IS NULL OR repository = $1) \
                     ORDER BY repository, number, source",
                    &[&repository],
                )?,
                "pull request",
            )
        })
    }

    fn pull_request_reviews(
        &self,
        repository: &str,
        number: u64,
    ) -> Result<Vec<PullRequestReview>, StoreError> {
        let number = number as i64;
        self.read(|tx| {
            read_bodies(
                tx.query(
                    "SELECT body FROM pull_request_reviews WHERE repository = $1 AND number = $2 \
                     ORDER BY submitted_at, id",
                    &[&repository, &number],
                )?,
                "pull request review",
            )
        })
    }

    fn ci_runs(&self, sha: &str) -> Result<Vec<CiRun>, StoreError> {
        self.read(|tx| {
            read_bodies(
                tx.query(
                    "SELECT body FROM ci_runs WHERE sha = $1 ORDER BY source, id, attempt",
                    &[&sha],
                )?,
                "CI run",
            )
        })
    }

    fn flag_changes(&self, repository: Option<&str>) -> Result<Vec<FlagChange>, StoreError> {
        self.read(|tx| {
            read_bodies(
                tx.query(
                    "SELECT body FROM flag_changes WHERE ($1::text IS NULL OR repository = $1) \
                     ORDER BY repository, flag_key, changed_at, source, flag_id",
                    &[&repository],
                )?,
                "flag change",
            )
        })
    }

    fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        hash: &str,
        now: Timestamp,
    ) -> Result<Token, StoreError> {
        self.write(|tx| {
            let row = tx.query_opt(
                "INSERT INTO tokens (name, scope, hash, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &scope.as_str(), &hash, &now],
            )?;
            let Some(row) = row else {
                return Err(
                    StoreError::Conflict(format!("a token named {name:?} exists already")).into(),
                );
            };
            Ok(Token {
                id: row.get(0),
                name: name.to_string(),
                scope,
                created_at: now,
                revoked_at: None,
            })
        })
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.read(|tx| {
            read_all(
                &tx.query(
                    "SELECT id, name, scope, created_at, revoked_at FROM tokens ORDER BY id",
                    &[],
                )?,
                rows::token,
            )
        })
    }

    fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &now],
            )? == 1)
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        let row = self.read(|tx| {
            Ok(tx.query_opt(
                "SELECT id, name, scope, created_at, revoked_at FROM tokens \
                 WHERE hash = $1 AND revoked_at IS NULL",
                &[&hash],
            )?)
        })?;
        row.as_ref()
            .map(|row| rows::token(&Columns(row)))
            .transpose()
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_one("SELECT version FROM loopwise_schema", &[])?
                .get(0))
        })
    }

    fn write_versions(&self) -> Result<WriteVersions, StoreError> {
        let pending = !self.unbumped().is_empty();
        if pending {
            let mut session = self.session()?;
            self.bump(&mut session.client, BTreeSet::new());
            if !self.unbumped().is_empty() {
                return Err(StoreError::Database(format!(
                    "the write versions of {} cannot be brought up to date after a write",
                    self.location
                )));
            }
        }
        self.read(|tx| {
            Ok(tx
                .query("SELECT scope, version FROM write_versions", &[])?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect())
        })
    }

    fn derived(&self, kind: &str, scope: &str, name: &str) -> Result<Option<Derived>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT key, data FROM derived_facts WHERE kind = $1 AND scope = $2 AND name = $3",
                    &[&kind, &scope, &name],
                )?
                .map(|row| Derived {
                    key: row.get(0),
                    data: row.get(1),
                }))
        })
    }

    fn put_derived(
        &self,
        kind: &str,
        scope: &str,
        name: &str,
        derived: &Derived,
    ) -> Result<(), StoreError> {
        // Touches no scope, so nothing is bumped: derived facts are not what reports read,
        // only what was made of it.
        self.write(|tx| {
            tx.execute(
                "INSERT INTO derived_facts (kind, scope, name, key, data) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kind, scope, name) DO UPDATE SET key = excluded.key, data = excluded.data",
                &[&kind, &scope, &name, &derived.key, &derived.data.as_slice()],
            )?;
            Ok(())
        })
    }

    fn export(&self, sink: &mut ExportSink<'_>) -> Result<(), StoreError> {
        self.read(|tx| exchange::export_all(tx, sink))
    }

    fn import(
        &self,
        records: &mut dyn Iterator<Item = Result<ExportRecord, StoreError>>,
    ) -> Result<ImportCounts, StoreError> {
        let started = std::time::Instant::now();
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let mut tx = Tx::begin(&mut *client, &mut *statements).map_err(database_error)?;
        let mut touched = BTreeSet::new();
        let counts = ImportCounts::import_each(records, &mut touched, |record| {
            Ok(exchange::import_record(&mut tx, record)?)
        })?;
        tx.touched.append(&mut touched);
        let touched = tx.commit().map_err(database_error)?;
        self.bump(client, touched);
        tracing::info!(total = ?counts.total(), elapsed = ?started.elapsed(), "committed import");
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_for_messages() {
        assert_eq!(
            redact("postgres://loopwise:s3cret@db.internal:5432/loopwise"),
            "postgres://loopwise:***@db.internal:5432/loopwise"
        );
        assert_eq!(
            redact("postgres://me@localhost/db"),
            "postgres://me@localhost/db"
        );
        assert_eq!(redact("postgresql://localhost"), "postgresql://localhost");
        // An @ in the password: the last @ ends the credentials.
        assert_eq!(redact("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");
    }

    #[test]
    fn postgres_urls_are_recognised() {
        assert!(is_postgres_url("postgres://h/d"));
        assert!(is_postgres_url("postgresql://h/d"));
        assert!(!is_postgres_url("sqlite:///tmp/x.db"));
        assert!(!is_postgres_url("/tmp/postgres.db"));
    }

    #[test]
    fn a_bad_url_is_an_open_error_naming_it_without_the_password() {
        let error = PostgresStore::open("postgres://u:secret@host:notaport/db").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StoreError::Open { .. }), "{message}");
        assert!(message.contains("not a valid PostgreSQL URL"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
