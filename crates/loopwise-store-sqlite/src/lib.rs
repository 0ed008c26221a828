//! The embedded SQLite store: loopwise's default, a single file beside the user's data.
//!
//! One connection behind a mutex: SQLite serialises writers anyway, and the CLI is the main
//! user. WAL journaling keeps readers unblocked; every write is one transaction, so an
//! interrupted import leaves the file as it was. Migrations are the numbered SQL files in
//! `migrations/`, tracked with `PRAGMA user_version`.
//!
//! Small event batches (the server's single-event requests) are group-committed: concurrent
//! callers share one transaction, each in its own savepoint, and each is answered only after
//! that transaction committed.

use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::{CiRun, Event, FlagChange, Incident, PullRequest, PullRequestReview};
use loopwise_core::time::Timestamp;
use loopwise_store::export::{ExportRecord, ImportWrite, TokenRecord};
use loopwise_store::rows::{self, EXPORT_QUERIES, StoredRow};
use loopwise_store::versions::{self, WriteVersions};
use loopwise_store::{
    Delivery, DeploymentFilter, DeploymentScope, Derived, EventOutcome, ExportSink, GitImportEnd,
    GitImportMessage, ImportCounts, PathTouch, RepositoryId, Store, StoreCounts, StoreError, Token,
    TokenScope, WriteCounts,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_events.sql"),
    include_str!("../migrations/0003_flag_changes.sql"),
    include_str!("../migrations/0004_cheap_checks.sql"),
    include_str!("../migrations/0005_write_versions.sql"),
    include_str!("../migrations/0006_pushed_changes.sql"),
    include_str!("../migrations/0007_derived_facts.sql"),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug)]
pub struct SqliteStore {
    location: String,
    connection: Mutex<Connection>,
    group: GroupCommit,
}

/// Event batches up to this size take part in group commit; larger ones amortise a commit on
/// their own and are not copied.
const GROUP_COMMIT_MAX_EVENTS: usize = 64;

/// Group commit for small event batches: callers that arrive while a transaction is being
/// written queue their events; the next caller to find no transaction in progress becomes the
/// leader and writes everything queued in one transaction, each caller's events inside their
/// own savepoint (a failing batch is rolled back alone). Nobody gets an answer before the
/// transaction holding their events has committed; if the commit fails, every caller in it
/// gets the error.
#[derive(Debug, Default)]
struct GroupCommit {
    state: Mutex<GroupState>,
    finished: Condvar,
}

type BatchResult = Result<Vec<EventOutcome>, StoreError>;

#[derive(Debug, Default)]
struct GroupState {
    next_ticket: u64,
    queued: Vec<(u64, Vec<Event>)>,
    answers: HashMap<u64, BatchResult>,
    writing: bool,
}

/// Hands out the leader's answers and lets the next leader in, even if writing panicked.
struct LeaderGuard<'a> {
    group: &'a GroupCommit,
    tickets: Vec<u64>,
    answers: Vec<(u64, BatchResult)>,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        let mut state = self
            .group
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut answered = HashSet::new();
        for (ticket, answer) in self.answers.drain(..) {
            answered.insert(ticket);
            state.answers.insert(ticket, answer);
        }
        for ticket in &self.tickets {
            if !answered.contains(ticket) {
                state.answers.insert(
                    *ticket,
                    Err(StoreError::Database("the write was interrupted".into())),
                );
            }
        }
        state.writing = false;
        drop(state);
        self.group.finished.notify_all();
    }
}

fn database_error(error: rusqlite::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let open_error = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_error(format!("cannot create {}: {e}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        Self::from_connection(connection, location)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory().map_err(|e| StoreError::Open {
            location: ":memory:".into(),
            reason: e.to_string(),
        })?;
        Self::from_connection(connection, ":memory:".into())
    }

    fn from_connection(mut connection: Connection, location: String) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536;",
            )
            .map_err(|e| open_error(e.to_string()))?;
        migrate(&mut connection, &location)?;
        Ok(Self {
            location,
            connection: Mutex::new(connection),
            group: GroupCommit::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Sets how far on disk a transaction is when a write returns (see [`Synchronous`]).
    pub fn set_synchronous(&self, synchronous: Synchronous) -> Result<(), StoreError> {
        self.connection()
            .pragma_update(None, "synchronous", synchronous.pragma())
            .map_err(database_error)
    }

    /// The synchronous setting in force, as SQLite reports it.
    pub fn synchronous(&self) -> Result<Synchronous, StoreError> {
        let level: i64 = self
            .connection()
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .map_err(database_error)?;
        match level {
            1 => Ok(Synchronous::Normal),
            2 => Ok(Synchronous::Full),
            other => Err(StoreError::Database(format!(
                "unexpected synchronous level {other}"
            ))),
        }
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back
        // on drop), so the connection is still sound.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SqliteStore {
    /// Queues a small batch for the next group transaction and waits for its own answer,
    /// writing the group itself when no other caller is.
    fn apply_in_group(&self, events: &[Event]) -> BatchResult {
        let lock = || {
            self.group
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        let mut state = lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push((ticket, events.to_vec()));
        loop {
            if let Some(answer) = state.answers.remove(&ticket) {
                return answer;
            }
            if state.writing {
                state = self
                    .group
                    .finished
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.writing = true;
            let batches = std::mem::take(&mut state.queued);
            drop(state);
            let mut guard = LeaderGuard {
                group: &self.group,
                tickets: batches.iter().map(|(ticket, _)| *ticket).collect(),
                answers: Vec::new(),
            };
            guard.answers = write_group(&mut self.connection(), batches);
            drop(guard);
            state = lock();
        }
    }
}

/// Writes several callers' batches in one transaction, each in its own savepoint, and commits.
fn write_group(
    connection: &mut Connection,
    batches: Vec<(u64, Vec<Event>)>,
) -> Vec<(u64, BatchResult)> {
    let everyone_fails = |batches: &[(u64, Vec<Event>)], reason: String| {
        batches
            .iter()
            .map(|(ticket, _)| (*ticket, Err(StoreError::Database(reason.clone()))))
            .collect()
    };
    let mut transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(error) => return everyone_fails(&batches, error.to_string()),
    };
    let mut results = Vec::with_capacity(batches.len());
    for (ticket, events) in &batches {
        let result = if batches.len() == 1 {
            write_events(&transaction, events, Source::Api)
        } else {
            write_in_savepoint(&mut transaction, events)
        };
        // Some errors make SQLite roll back the whole transaction; then the batches before
        // this one are gone too, and nobody may be told otherwise.
        if result.is_err() && transaction.is_autocommit() {
            return everyone_fails(&batches, "the transaction was rolled back".into());
        }
        results.push((*ticket, result));
    }
    if batches.len() == 1 && results[0].1.is_err() {
        // Dropping the transaction rolls it back.
        return results;
    }
    match transaction.commit() {
        Ok(()) => results,
        Err(error) => everyone_fails(&batches, error.to_string()),
    }
}

fn write_in_savepoint(transaction: &mut Transaction<'_>, events: &[Event]) -> BatchResult {
    let savepoint = transaction.savepoint().map_err(database_error)?;
    // Dropping the savepoint without committing it rolls back this batch only.
    let outcomes = write_events(&savepoint, events, Source::Api)?;
    savepoint.commit().map_err(database_error)?;
    Ok(outcomes)
}

/// SQLite's `synchronous` setting, in WAL mode: what a returned write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The default: a committed transaction is in the WAL file, so it survives the process
    /// being killed (`kill -9`, a crash), but the last commits can be lost to a power cut or an
    /// operating-system crash. No fsync per commit.
    #[default]
    Normal,
    /// Every commit is fsynced before the write returns: it survives a power cut too, at the
    /// cost of one fsync per transaction (group commit shares it among concurrent writers).
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        loopwise_store::parse_keyword(
            text,
            [("normal", Synchronous::Normal), ("full", Synchronous::Full)],
        )
        .map_err(|other| format!("{other:?} is not normal or full"))
    }
}

/// The schema version of the database file at `path` as it is, without migrating it; `None`
/// when there is no such file yet.
pub fn stored_schema_version(path: &Path) -> Result<Option<i64>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let connection = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open {
            location: path.display().to_string(),
            reason: e.to_string(),
        })?;
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map(Some)
        .map_err(database_error)
}

/// The path of a `sqlite://` URL or a plain path.
pub fn path_from_url(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(path)
}

fn migrate(connection: &mut Connection, location: &str) -> Result<(), StoreError> {
    let current: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(database_error)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            location: location.to_string(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let failed = |e: rusqlite::Error| StoreError::Migration {
            version,
            reason: e.to_string(),
        };
        let transaction = connection.transaction().map_err(failed)?;
        transaction.execute_batch(sql).map_err(failed)?;
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}

/// A rusqlite row as the shared readers of [`rows`] read it.
struct Columns<'a, 'stmt>(&'a rusqlite::Row<'stmt>);

impl StoredRow for Columns<'_, '_> {
    fn optional_text(&self, column: usize) -> Result<Option<&str>, StoreError> {
        self.0
            .get_ref(column)
            .and_then(|value| value.as_str_or_null().map_err(rusqlite::Error::from))
            .map_err(|e| StoreError::Database(format!("column {column}: {e}")))
    }

    fn optional_integer(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.0.get(column).map_err(database_error)
    }

    fn boolean(&self, column: usize) -> Result<bool, StoreError> {
        self.0.get(column).map_err(database_error)
    }
}

/// Runs a prepared statement and hands each row to `each` as it is read.
fn each_row(
    statement: &mut rusqlite::Statement<'_>,
    parameters: impl rusqlite::Params,
    mut each: impl FnMut(&dyn StoredRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut rows = statement.query(parameters).map_err(database_error)?;
    while let Some(row) = rows.next().map_err(database_error)? {
        each(&Columns(row))?;
    }
    Ok(())
}

/// Runs `sql` (prepared once, then cached) and collects every row as `read` reads it.
fn read_rows<T, C: Default + Extend<T>>(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
    read: impl Fn(&dyn StoredRow) -> Result<T, StoreError>,
) -> Result<C, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(database_error)?;
    let mut values = C::default();
    each_row(&mut statement, parameters, |row| {
        values.extend([read(row)?]);
        Ok(())
    })?;
    Ok(values)
}

impl Store for SqliteStore {
    fn repository(&self, locator: &str) -> Result<RepositoryId, StoreError> {
        register_repository(&self.connection(), locator).map_err(database_error)
    }

    fn changes(&self, repository: RepositoryId) -> Result<Vec<Change>, StoreError> {
        read_rows(
            &self.connection(),
            concat!(
                "SELECT ",
                loopwise_store::change_columns!(),
                " FROM changes WHERE repository_id = ?1"
            ),
            [repository],
            |row| rows::change(row, 0),
        )
    }

    fn changes_by_sha(
        &self,
        repository: RepositoryId,
        shas: &[String],
    ) -> Result<Vec<Change>, StoreError> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        // One statement whatever the number of shas: they travel as one JSON array.
        let wanted =
            serde_json::to_string(shas).map_err(|e| StoreError::Database(e.to_string()))?;
        read_rows(
            &self.connection(),
            concat!(
                "SELECT ",
                loopwise_store::change_columns!(),
                " FROM changes WHERE repository_id = ?1 AND sha IN (SELECT value FROM json_each(?2))"
            ),
            params![repository, wanted],
            |row| rows::change(row, 0),
        )
    }

    fn git_change_shas(&self, repository: RepositoryId) -> Result<Vec<String>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT sha FROM changes WHERE repository_id = ?1 AND source = 'git'",
            [repository],
            |row| Ok(row.text(0)?.to_string()),
        )
    }

    fn pushed_change_count(&self, repository: RepositoryId) -> Result<usize, StoreError> {
        self.connection()
            .query_row(
                // The planner would scan the repository's whole history by its primary key.
                "SELECT count(*) FROM changes INDEXED BY changes_pushed \
                 WHERE repository_id = ?1 AND source <> 'git'",
                [repository],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(database_error)
    }

    fn tags(&self, repository: RepositoryId) -> Result<Vec<Tag>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT name, commit_sha, time, annotated FROM tags WHERE repository_id = ?1 ORDER BY name",
            [repository],
            |row| rows::tag(row, 0),
        )
    }

    fn path_touches(
        &self,
        repository: RepositoryId,
        paths_key: &str,
    ) -> Result<HashMap<String, bool>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT sha, touched FROM path_touches WHERE repository_id = ?1 AND paths_key = ?2",
            params![repository, paths_key],
            |row| Ok((row.text(0)?.to_string(), row.boolean(1)?)),
        )
    }

    fn repositories(&self) -> Result<Vec<(RepositoryId, String)>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT id, locator FROM repositories ORDER BY id",
            [],
            |row| Ok((row.integer(0)?, row.text(1)?.to_string())),
        )
    }

    fn find_repository(&self, locator: &str) -> Result<Option<RepositoryId>, StoreError> {
        self.connection()
            .query_row(
                "SELECT id FROM repositories WHERE locator = ?1",
                [locator],
                |row| row.get(0),
            )
            .optional()
            .map_err(database_error)
    }

    fn import_git_stream(
        &self,
        locator: &str,
        messages: &mut dyn Iterator<Item = GitImportMessage>,
    ) -> Result<Option<WriteCounts>, StoreError> {
        let started = std::time::Instant::now();
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(database_error)?;
        let repository = register_repository(&transaction, locator).map_err(database_error)?;
        let mut counts = WriteCounts::default();
        let Some(GitImportEnd { tags, path_touches }) =
            GitImportMessage::until_commit(messages, |changes| {
                insert_changes(&transaction, repository, changes, &mut counts)
            })
            .map_err(database_error)?
        else {
            // Dropping the transaction rolls it back.
            return Ok(None);
        };
        let tags_changed = replace_tags(&transaction, repository, &tags).map_err(database_error)?;
        let touches_changed =
            upsert_path_touches(&transaction, repository, &path_touches).map_err(database_error)?;
        bump(
            &transaction,
            versions::scope_of_git_import(locator, tags_changed || touches_changed, &counts),
        )
        .map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
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
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(database_error)?;
        let counts =
            write_deployments(&transaction, deployments, replace).map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
        Ok(counts)
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT source, source_id, service, environment, sha, started_at, finished_at, status, kind \
             FROM deployments \
             WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR environment = ?2) \
               AND (?3 IS NULL OR source = ?3) \
             ORDER BY service, environment, coalesce(finished_at, started_at), source_id",
            params![
                filter.service,
                filter.environment,
                filter.source.map(Source::as_str)
            ],
            |row| rows::deployment(row, 0),
        )
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let connection = self.connection();
        let count = |table: &str| -> Result<usize, StoreError> {
            connection
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n as usize)
                .map_err(database_error)
        };
        Ok(StoreCounts {
            repositories: count("repositories")?,
            changes: count("changes")?,
            tags: count("tags")?,
            deployments: count("deployments")?,
            path_touches: count("path_touches")?,
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.connection()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(database_error)
    }

    fn apply_events(&self, events: &[Event]) -> Result<Vec<EventOutcome>, StoreError> {
        if events.len() > GROUP_COMMIT_MAX_EVENTS {
            let mut connection = self.connection();
            let transaction = connection.transaction().map_err(database_error)?;
            let outcomes = write_events(&transaction, events, Source::Api)?;
            transaction.commit().map_err(database_error)?;
            return Ok(outcomes);
        }
        self.apply_in_group(events)
    }

    fn apply_delivery(
        &self,
        delivery: &Delivery,
        events: &[Event],
    ) -> Result<Option<Vec<EventOutcome>>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(database_error)?;
        if !insert_delivery(&transaction, delivery).map_err(database_error)? {
            return Ok(None);
        }
        let outcomes = write_events(&transaction, events, delivery.source)?;
        transaction.commit().map_err(database_error)?;
        Ok(Some(outcomes))
    }

    fn incidents(&self, service: Option<&str>) -> Result<Vec<Incident>, StoreError> {
        read_bodies(
            &self.connection(),
            "SELECT body FROM incidents WHERE (?1 IS NULL OR service = ?1) ORDER BY started_at, source, id",
            params![service],
            "incident",
        )
    }

    fn pull_requests(&self, repository: Option<&str>) -> Result<Vec<PullRequest>, StoreError> {
        read_bodies(
            &self.connection(),
            "SELECT body FROM pull_requests WHERE (?1 IS NULL OR repository = ?1) ORDER BY repository, number, source",
            params![repository],
            "pull request",
        )
    }

    fn pull_request_reviews(
        &self,
        repository: &str,
        number: u64,
    ) -> Result<Vec<PullRequestReview>, StoreError> {
        read_bodies(
            &self.connection(),
            "SELECT body FROM pull_request_reviews WHERE repository = ?1 AND number = ?2 ORDER BY submitted_at, id",
            params![repository, number as i64],
            "pull request review",
        )
    }

    fn ci_runs(&self, sha: &str) -> Result<Vec<CiRun>, StoreError> {
        read_bodies(
            &self.connection(),
            "SELECT body FROM ci_runs WHERE sha = ?1 ORDER BY source, id, attempt",
            params![sha],
            "CI run",
        )
    }

    fn flag_changes(&self, repository: Option<&str>) -> Result<Vec<FlagChange>, StoreError> {
        read_bodies(
            &self.connection(),
            "SELECT body FROM flag_changes WHERE (?1 IS NULL OR repository = ?1) \
             ORDER BY repository, flag_key, changed_at, source, flag_id",
            params![repository],
            "flag change",
        )
    }

    fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        hash: &str,
        now: Timestamp,
    ) -> Result<Token, StoreError> {
        let connection = self.connection();
        let taken: bool = connection
            .query_row(
                "SELECT count(*) FROM tokens WHERE name = ?1",
                [name],
                |row| row.get::<_, i64>(0),
            )
            .map_err(database_error)?
            > 0;
        if taken {
            return Err(StoreError::Conflict(format!(
                "a token named {name:?} exists already"
            )));
        }
        connection
            .execute(
                "INSERT INTO tokens (name, scope, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, scope.as_str(), hash, now],
            )
            .map_err(database_error)?;
        Ok(Token {
            id: connection.last_insert_rowid(),
            name: name.to_string(),
            scope,
            created_at: now,
            revoked_at: None,
        })
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT id, name, scope, created_at, revoked_at FROM tokens ORDER BY id",
            [],
            rows::token,
        )
    }

    fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now],
            )
            .map_err(database_error)?;
        Ok(changed == 1)
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        // Called on every authenticated request: the statement is compiled once and cached.
        // Hashes are unique: there is one row at most.
        let tokens: Vec<Token> = read_rows(
            &self.connection(),
            "SELECT id, name, scope, created_at, revoked_at FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
            [hash],
            rows::token,
        )?;
        Ok(tokens.into_iter().next())
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.connection()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(database_error)
    }

    fn write_versions(&self) -> Result<WriteVersions, StoreError> {
        read_rows(
            &self.connection(),
            "SELECT scope, version FROM write_versions",
            [],
            |row| Ok((row.text(0)?.to_string(), row.integer(1)?)),
        )
    }

    fn derived(&self, kind: &str, scope: &str, name: &str) -> Result<Option<Derived>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT key, data FROM derived_facts WHERE kind = ?1 AND scope = ?2 AND name = ?3",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![kind, scope, name], |row| {
                        Ok(Derived {
                            key: row.get(0)?,
                            data: row.get(1)?,
                        })
                    })
                    .optional()
            })
            .map_err(database_error)
    }

    fn put_derived(
        &self,
        kind: &str,
        scope: &str,
        name: &str,
        derived: &Derived,
    ) -> Result<(), StoreError> {
        // No bump: derived facts are not what reports read, only what was made of it.
        self.connection()
            .prepare_cached(
                "INSERT INTO derived_facts (kind, scope, name, key, data) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (kind, scope, name) DO UPDATE SET key = excluded.key, data = excluded.data",
            )
            .and_then(|mut statement| {
                statement.execute(params![kind, scope, name, derived.key, derived.data])
            })
            .map(|_| ())
            .map_err(database_error)
    }

    fn export(&self, sink: &mut ExportSink<'_>) -> Result<(), StoreError> {
        let mut connection = self.connection();
        // One read transaction: a consistent snapshot even while the server writes (WAL).
        let snapshot = connection.transaction().map_err(database_error)?;
        export_all(&snapshot, sink)
        // Dropping the transaction ends it; it wrote nothing.
    }

    fn import(
        &self,
        records: &mut dyn Iterator<Item = Result<ExportRecord, StoreError>>,
    ) -> Result<ImportCounts, StoreError> {
        let started = std::time::Instant::now();
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(database_error)?;
        let mut touched = BTreeSet::new();
        let counts = ImportCounts::import_each(records, &mut touched, |record| {
            import_record(&transaction, record)
        })?;
        bump(&transaction, touched).map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
        tracing::info!(total = ?counts.total(), elapsed = ?started.elapsed(), "committed import");
        Ok(counts)
    }
}

fn read_bodies<T: serde::de::DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
    what: &'static str,
) -> Result<Vec<T>, StoreError> {
    read_rows(connection, sql, parameters, |row| rows::body(row, what))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("cannot encode a record: {e}")))
}

/// Inserts, updates or leaves a JSON-bodied record. `insert_sql` inserts unless the key exists;
/// `update_sql` (same parameters) rewrites the row only where its stored body differs. The
/// change counts tell inserted, updated and unchanged apart without reading the row first.
fn upsert_body(
    transaction: &Connection,
    insert_sql: &str,
    update_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<EventOutcome> {
    if transaction.prepare_cached(insert_sql)?.execute(values)? == 1 {
        return Ok(EventOutcome::Inserted);
    }
    Ok(
        if transaction.prepare_cached(update_sql)?.execute(values)? == 1 {
            EventOutcome::Updated
        } else {
            EventOutcome::Unchanged
        },
    )
}

/// `change_source`: the source recorded with pushed commits (the delivery's, or `api`).
fn write_events(
    transaction: &Connection,
    events: &[Event],
    change_source: Source,
) -> Result<Vec<EventOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(events.len());
    // Prepared on the first deployment and kept for the rest of the batch.
    let mut deployments: Option<DeploymentWriter<'_>> = None;
    // Services that updated deployments moved away from: their scopes changed too.
    let mut left = BTreeSet::new();
    for event in events {
        let outcome = match event {
            Event::Change(pushed) => {
                let repository =
                    register_repository(transaction, &pushed.repository).map_err(database_error)?;
                EventOutcome::inserted_if(
                    insert_pushed_change(transaction, repository, &pushed.change, change_source)
                        .map_err(database_error)?,
                )
            }
            Event::Deployment(deployment) => {
                let writer = match &mut deployments {
                    Some(writer) => writer,
                    None => deployments
                        .insert(DeploymentWriter::new(transaction).map_err(database_error)?),
                };
                let (outcome, moved_from) = writer.write(deployment).map_err(database_error)?;
                left.extend(moved_from.map(|service| versions::deployments(&service)));
                outcome
            }
            Event::PullRequest(newer) => {
                let number = newer.number as i64;
                let stored: Option<String> = transaction
                    .prepare_cached(
                        "SELECT body FROM pull_requests WHERE source = ?1 AND repository = ?2 AND number = ?3",
                    )
                    .and_then(|mut statement| {
                        statement
                            .query_row(params![newer.source.as_str(), newer.repository, number], |row| row.get(0))
                            .optional()
                    })
                    .map_err(database_error)?;
                let pull = match stored {
                    Some(body) => serde_json::from_str::<PullRequest>(&body)
                        .map_err(|e| rows::corrupt("pull request", e))?
                        .updated_with(newer),
                    None => newer.clone(),
                };
                let body = to_json(&pull)?;
                upsert_body(
                    transaction,
                    "INSERT INTO pull_requests (source, repository, number, merge_sha, merged_at, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, repository, number) DO NOTHING",
                    "UPDATE pull_requests SET merge_sha = ?4, merged_at = ?5, body = ?6 \
                     WHERE source = ?1 AND repository = ?2 AND number = ?3 AND body IS NOT ?6",
                    &[&pull.source.as_str(), &pull.repository, &number, &pull.merge_sha, &pull.merged_at, &body],
                )
                .map_err(database_error)?
            }
            Event::PullRequestReview(review) => {
                let body = to_json(review)?;
                let number = review.number as i64;
                upsert_body(
                    transaction,
                    "INSERT INTO pull_request_reviews (source, id, repository, number, submitted_at, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, id) DO NOTHING",
                    "UPDATE pull_request_reviews SET repository = ?3, number = ?4, submitted_at = ?5, body = ?6 \
                     WHERE source = ?1 AND id = ?2 AND body IS NOT ?6",
                    &[&review.source.as_str(), &review.id, &review.repository, &number, &review.submitted_at, &body],
                )
                .map_err(database_error)?
            }
            Event::Incident(incident) => {
                let body = to_json(incident)?;
                upsert_body(
                    transaction,
                    "INSERT INTO incidents (source, id, service, started_at, body) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (source, id) DO NOTHING",
                    "UPDATE incidents SET service = ?3, started_at = ?4, body = ?5 \
                     WHERE source = ?1 AND id = ?2 AND body IS NOT ?5",
                    &[&incident.source.as_str(), &incident.id, &incident.service, &incident.started_at, &body],
                )
                .map_err(database_error)?
            }
            Event::CiRun(run) => {
                let body = to_json(run)?;
                let attempt = i64::from(run.attempt);
                upsert_body(
                    transaction,
                    "INSERT INTO ci_runs (source, id, attempt, sha, body) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (source, id, attempt) DO NOTHING",
                    "UPDATE ci_runs SET sha = ?4, body = ?5 \
                     WHERE source = ?1 AND id = ?2 AND attempt = ?3 AND body IS NOT ?5",
                    &[&run.source.as_str(), &run.id, &attempt, &run.sha, &body],
                )
                .map_err(database_error)?
            }
            Event::FlagChange(flag) => {
                let body = to_json(flag)?;
                upsert_body(
                    transaction,
                    "INSERT INTO flag_changes (source, repository, flag_id, changed_at, flag_key, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (source, repository, flag_id, changed_at) DO NOTHING",
                    "UPDATE flag_changes SET flag_key = ?5, body = ?6 WHERE source = ?1 \
                     AND repository = ?2 AND flag_id = ?3 AND changed_at = ?4 AND body IS NOT ?6",
                    &[&flag.source.as_str(), &flag.repository, &flag.flag_id, &flag.changed_at, &flag.key, &body],
                )
                .map_err(database_error)?
            }
        };
        outcomes.push(outcome);
    }
    let mut touched = versions::scopes_of_events(events, &outcomes);
    touched.append(&mut left);
    bump(transaction, touched).map_err(database_error)?;
    Ok(outcomes)
}

/// Bumps the version of each scope, in the caller's transaction.
fn bump(
    transaction: &Connection,
    scopes: impl IntoIterator<Item = String>,
) -> rusqlite::Result<()> {
    let mut statement = transaction.prepare_cached(
        "INSERT INTO write_versions (scope, version) VALUES (?1, 1) \
         ON CONFLICT (scope) DO UPDATE SET version = version + 1",
    )?;
    for scope in scopes {
        statement.execute([scope])?;
    }
    Ok(())
}

/// Streams every entity to `sink` in the canonical export order. Text keys sort by their bytes
/// (SQLite's BINARY collation), numbers numerically.
fn export_all(connection: &Connection, sink: &mut ExportSink<'_>) -> Result<(), StoreError> {
    for query in &EXPORT_QUERIES {
        // Not cached: each runs once per export, and would only push hot statements out.
        let mut statement = connection.prepare(query.sql).map_err(database_error)?;
        each_row(&mut statement, [], |row| sink(query.record(row)?))?;
    }
    Ok(())
}

/// Writes one imported record under the rules of [`Store::import`].
fn import_record(
    transaction: &Connection,
    record: &ExportRecord,
) -> Result<EventOutcome, StoreError> {
    match record.import_write() {
        ImportWrite::Event(event) => Ok(write_events(transaction, &[event], Source::Import)?[0]),
        ImportWrite::Repository(repository) => {
            let inserted = transaction
                .prepare_cached(
                    "INSERT INTO repositories (locator) VALUES (?1) ON CONFLICT (locator) DO NOTHING",
                )
                .and_then(|mut statement| statement.execute([&repository.locator]))
                .map_err(database_error)?;
            Ok(EventOutcome::inserted_if(inserted == 1))
        }
        ImportWrite::GitChange(record) => {
            let repository =
                register_repository(transaction, &record.repository).map_err(database_error)?;
            let mut counts = WriteCounts::default();
            insert_changes(
                transaction,
                repository,
                std::slice::from_ref(&record.change),
                &mut counts,
            )
            .map_err(database_error)?;
            Ok(counts.outcome())
        }
        ImportWrite::PushedChange(record) => {
            let repository =
                register_repository(transaction, &record.repository).map_err(database_error)?;
            insert_pushed_change(transaction, repository, &record.change, record.source)
                .map(EventOutcome::inserted_if)
                .map_err(database_error)
        }
        ImportWrite::Tag(record) => {
            let repository =
                register_repository(transaction, &record.repository).map_err(database_error)?;
            let tag = &record.tag;
            upsert_body(
                transaction,
                "INSERT INTO tags (repository_id, name, commit_sha, time, annotated) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (repository_id, name) DO NOTHING",
                "UPDATE tags SET commit_sha = ?3, time = ?4, annotated = ?5 WHERE repository_id = ?1 \
                 AND name = ?2 AND (commit_sha IS NOT ?3 OR time IS NOT ?4 OR annotated IS NOT ?5)",
                &[&repository, &tag.name, &tag.commit, &tag.time, &tag.annotated],
            )
            .map_err(database_error)
        }
        ImportWrite::PathTouch(record) => {
            let repository =
                register_repository(transaction, &record.repository).map_err(database_error)?;
            upsert_body(
                transaction,
                "INSERT INTO path_touches (repository_id, paths_key, sha, touched) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (repository_id, paths_key, sha) DO NOTHING",
                "UPDATE path_touches SET touched = ?4 WHERE repository_id = ?1 AND paths_key = ?2 \
                 AND sha = ?3 AND touched IS NOT ?4",
                &[&repository, &record.paths_key, &record.sha, &record.touched],
            )
            .map_err(database_error)
        }
        ImportWrite::Delivery(delivery) => insert_delivery(transaction, &delivery.into())
            .map(EventOutcome::inserted_if)
            .map_err(database_error),
        ImportWrite::Token(token) => import_token(transaction, token),
    }
}

/// Stores a webhook delivery; false when it was stored before.
fn insert_delivery(connection: &Connection, delivery: &Delivery) -> rusqlite::Result<bool> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO deliveries (source, delivery_id, event, received_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (source, delivery_id) DO NOTHING",
        )?
        .execute(params![
            delivery.source.as_str(),
            delivery.id,
            delivery.event,
            delivery.received_at
        ])?;
    Ok(inserted == 1)
}

/// A token is inserted by name; a stored token of that name must be the same token (hash and
/// scope), and takes the file's revocation if it is still live.
fn import_token(transaction: &Connection, token: &TokenRecord) -> Result<EventOutcome, StoreError> {
    let stored: Option<(String, String, Option<i64>)> = transaction
        .query_row(
            "SELECT hash, scope, revoked_at FROM tokens WHERE name = ?1",
            [&token.name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(database_error)?;
    match stored {
        None => {
            let hash_taken: i64 = transaction
                .query_row(
                    "SELECT count(*) FROM tokens WHERE hash = ?1",
                    [&token.hash],
                    |row| row.get(0),
                )
                .map_err(database_error)?;
            if hash_taken > 0 {
                return Err(token.hash_taken());
            }
            transaction
                .execute(
                    "INSERT INTO tokens (name, scope, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        token.name,
                        token.scope.as_str(),
                        token.hash,
                        token.created_at,
                        token.revoked_at
                    ],
                )
                .map_err(database_error)?;
            Ok(EventOutcome::Inserted)
        }
        Some((hash, scope, revoked_at)) => {
            match token.revocation_over(&hash, &scope, revoked_at)? {
                Some(revoked) => {
                    transaction
                        .execute(
                            "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1",
                            params![token.name, revoked],
                        )
                        .map_err(database_error)?;
                    Ok(EventOutcome::Updated)
                }
                None => Ok(EventOutcome::Unchanged),
            }
        }
    }
}

/// The id of a repository, registered on first sight.
fn register_repository(connection: &Connection, locator: &str) -> rusqlite::Result<RepositoryId> {
    connection
        .prepare_cached(
            "INSERT INTO repositories (locator) VALUES (?1) ON CONFLICT (locator) DO NOTHING",
        )?
        .execute([locator])?;
    connection
        .prepare_cached("SELECT id FROM repositories WHERE locator = ?1")?
        .query_row([locator], |row| row.get(0))
}

/// A commit's parameters in the order of the `changes` statements: ?1 repository_id, ?2 sha,
/// ?3 parents (space-separated), ?4 author_time, ?5 committer_time, ?6 author_name,
/// ?7 author_email, ?8 subject, ?9 reverts, then `more` (?10 …).
macro_rules! change_params {
    ($repository:expr, $change:expr, $parents:expr $(, $more:expr)*) => {
        params![
            $repository,
            $change.sha,
            $parents,
            $change.author_time,
            $change.committer_time,
            $change.author_name,
            $change.author_email,
            $change.subject,
            $change.reverts,
            $($more),*
        ]
    };
}

fn insert_changes(
    transaction: &Connection,
    repository: RepositoryId,
    changes: &[Change],
    counts: &mut WriteCounts,
) -> rusqlite::Result<()> {
    let mut insert = transaction.prepare_cached(
        "INSERT INTO changes (repository_id, sha, parents, author_time, committer_time, author_name, \
         author_email, subject, reverts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (repository_id, sha) DO NOTHING",
    )?;
    let mut parents = String::new();
    for change in changes {
        parents.clear();
        for (i, parent) in change.parents.iter().enumerate() {
            if i > 0 {
                parents.push(' ');
            }
            parents.push_str(parent);
        }
        let inserted = insert.execute(change_params!(repository, change, parents))?;
        if inserted == 1 {
            counts.inserted += 1;
        } else if upgrade_pushed_change(transaction, repository, change, &parents)? {
            counts.updated += 1;
        } else {
            counts.unchanged += 1;
        }
    }
    Ok(())
}

/// Git data wins: a stored commit known only from a push payload (parents only within its push)
/// takes the git import's fields. Runs only on a conflict, which a walk that stops at known
/// commits rarely meets, so the import's fast path is untouched.
fn upgrade_pushed_change(
    transaction: &Connection,
    repository: RepositoryId,
    change: &Change,
    parents: &str,
) -> rusqlite::Result<bool> {
    let updated = transaction
        .prepare_cached(
            "UPDATE changes SET parents = ?3, author_time = ?4, committer_time = ?5, author_name = ?6, \
             author_email = ?7, subject = ?8, reverts = ?9, source = 'git' \
             WHERE repository_id = ?1 AND sha = ?2 AND source <> 'git'",
        )?
        .execute(change_params!(repository, change, parents))?;
    Ok(updated == 1)
}

/// A commit from a push payload or change event, stored under its source. Never overwrites a
/// stored commit: a git-imported one is exact, and the first push of a commit saw its chain.
fn insert_pushed_change(
    transaction: &Connection,
    repository: RepositoryId,
    change: &Change,
    source: Source,
) -> rusqlite::Result<bool> {
    let inserted = transaction
        .prepare_cached(
            "INSERT INTO changes (repository_id, sha, parents, author_time, committer_time, author_name, \
             author_email, subject, reverts, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (repository_id, sha) DO NOTHING",
        )?
        .execute(change_params!(
            repository,
            change,
            change.parents.join(" "),
            source.as_str()
        ))?;
    Ok(inserted == 1)
}

/// The new tag set replaces the stored one: moved tags are updated, deleted ones forgotten.
/// True when that changed anything.
fn replace_tags(
    transaction: &Transaction<'_>,
    repository: RepositoryId,
    tags: &[Tag],
) -> rusqlite::Result<bool> {
    let names: HashSet<&str> = tags.iter().map(|tag| tag.name.as_str()).collect();
    let mut stored =
        transaction.prepare_cached("SELECT name FROM tags WHERE repository_id = ?1")?;
    let stale: Vec<String> = stored
        .query_map([repository], |row| row.get::<_, String>(0))?
        .filter(|name| {
            name.as_ref()
                .map_or(true, |name| !names.contains(name.as_str()))
        })
        .collect::<Result<_, _>>()?;
    let mut delete =
        transaction.prepare_cached("DELETE FROM tags WHERE repository_id = ?1 AND name = ?2")?;
    let mut changed = 0;
    for name in stale {
        changed += delete.execute(params![repository, name])?;
    }
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO tags (repository_id, name, commit_sha, time, annotated) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (repository_id, name) DO UPDATE SET commit_sha = excluded.commit_sha, \
         time = excluded.time, annotated = excluded.annotated \
         WHERE commit_sha IS NOT excluded.commit_sha OR time IS NOT excluded.time \
         OR annotated IS NOT excluded.annotated",
    )?;
    for tag in tags {
        changed += upsert.execute(params![
            repository,
            tag.name,
            tag.commit,
            tag.time,
            tag.annotated
        ])?;
    }
    Ok(changed > 0)
}

/// Whether any answer was new or different: what a report derived from the old ones is stale.
fn upsert_path_touches(
    transaction: &Transaction<'_>,
    repository: RepositoryId,
    touches: &[PathTouch],
) -> rusqlite::Result<bool> {
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO path_touches (repository_id, paths_key, sha, touched) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (repository_id, paths_key, sha) DO UPDATE SET touched = excluded.touched \
         WHERE path_touches.touched IS NOT excluded.touched",
    )?;
    let mut changed = 0;
    for touch in touches {
        changed += upsert.execute(params![
            repository,
            touch.paths_key,
            touch.sha,
            touch.touched
        ])?;
    }
    Ok(changed > 0)
}

/// The two statements of a deployment upsert, prepared once per transaction.
///
/// An insert that ignores an existing key, then (only when the key exists) an update that
/// applies only when some column differs: SQLite's change count tells the three outcomes
/// apart without reading the stored row first.
struct DeploymentWriter<'t> {
    insert: rusqlite::CachedStatement<'t>,
    stored_service: rusqlite::CachedStatement<'t>,
    update: rusqlite::CachedStatement<'t>,
}

impl<'t> DeploymentWriter<'t> {
    fn new(transaction: &'t Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            insert: transaction.prepare_cached(
                "INSERT INTO deployments (source, source_id, service, environment, sha, started_at, \
                 finished_at, status, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (source, source_id) DO NOTHING",
            )?,
            stored_service: transaction.prepare_cached(
                "SELECT service FROM deployments WHERE source = ?1 AND source_id = ?2",
            )?,
            // `IS NOT` compares NULLs as values, so a start time that went away is a change.
            update: transaction.prepare_cached(
                "UPDATE deployments SET service = ?3, environment = ?4, sha = ?5, started_at = ?6, \
                 finished_at = ?7, status = ?8, kind = ?9 \
                 WHERE source = ?1 AND source_id = ?2 AND (service IS NOT ?3 OR environment IS NOT ?4 \
                 OR sha IS NOT ?5 OR started_at IS NOT ?6 OR finished_at IS NOT ?7 \
                 OR status IS NOT ?8 OR kind IS NOT ?9)",
            )?,
        })
    }

    /// The outcome, and the service the deployment moved away from if an update changed it.
    fn write(
        &mut self,
        deployment: &Deployment,
    ) -> rusqlite::Result<(EventOutcome, Option<String>)> {
        let values = params![
            deployment.source.as_str(),
            deployment.id,
            deployment.service,
            deployment.environment,
            deployment.sha,
            deployment.started_at,
            deployment.finished_at,
            deployment.status.as_str(),
            deployment.kind.as_str(),
        ];
        if self.insert.execute(values)? == 1 {
            return Ok((EventOutcome::Inserted, None));
        }
        let stored: String = self
            .stored_service
            .query_row(params![deployment.source.as_str(), deployment.id], |row| {
                row.get(0)
            })?;
        if self.update.execute(values)? == 1 {
            let moved_from = (stored != deployment.service).then_some(stored);
            Ok((EventOutcome::Updated, moved_from))
        } else {
            Ok((EventOutcome::Unchanged, None))
        }
    }
}

fn write_deployments(
    transaction: &Transaction<'_>,
    deployments: &[Deployment],
    replace: Option<&DeploymentScope>,
) -> rusqlite::Result<WriteCounts> {
    let mut counts = WriteCounts::default();
    let mut writer = DeploymentWriter::new(transaction)?;
    let mut touched = BTreeSet::new();
    for deployment in deployments {
        let (outcome, moved_from) = writer.write(deployment)?;
        counts.add(outcome);
        if outcome != EventOutcome::Unchanged {
            touched.insert(versions::deployments(&deployment.service));
        }
        touched.extend(moved_from.map(|service| versions::deployments(&service)));
    }
    if let Some(scope) = replace {
        let keep: HashSet<&str> = scope.kept_ids(deployments).collect();
        let mut scoped = transaction.prepare_cached(
            "SELECT source_id FROM deployments WHERE source = ?1 AND service = ?2",
        )?;
        let stale: Vec<String> = scoped
            .query_map(params![scope.source.as_str(), scope.service], |row| {
                row.get::<_, String>(0)
            })?
            .filter(|id| id.as_ref().map_or(true, |id| !keep.contains(id.as_str())))
            .collect::<Result<_, _>>()?;
        let mut delete = transaction
            .prepare_cached("DELETE FROM deployments WHERE source = ?1 AND source_id = ?2")?;
        for id in stale {
            counts.deleted += delete.execute(params![scope.source.as_str(), id])?;
        }
        if counts.deleted > 0 {
            touched.insert(versions::deployments(&scope.service));
        }
    }
    bump(transaction, touched)?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::entities::{DeploymentKind, DeploymentStatus};
    use loopwise_core::events::PullRequestState;

    fn deployment(id: &str) -> Event {
        Event::Deployment(Deployment {
            source: Source::Api,
            id: id.into(),
            service: "api".into(),
            environment: "production".into(),
            sha: "abcd".into(),
            started_at: None,
            finished_at: Some(100),
            status: DeploymentStatus::Success,
            kind: DeploymentKind::Normal,
        })
    }

    fn pull_request(number: u64) -> Event {
        Event::PullRequest(PullRequest {
            source: Source::Api,
            repository: "acme/api".into(),
            number,
            title: "t".into(),
            author: "a".into(),
            state: PullRequestState::Open,
            created_at: 10,
            merged_at: None,
            closed_at: None,
            merge_sha: None,
            head_sha: None,
            base_branch: None,
            additions: None,
            deletions: None,
        })
    }

    fn stored_ids(store: &SqliteStore) -> Vec<String> {
        let mut ids: Vec<String> = store
            .deployments(&DeploymentFilter::default())
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_failing_batch_in_a_group_is_rolled_back_alone() {
        let store = SqliteStore::open_in_memory().unwrap();
        // A stored pull request whose body cannot be read: updating it fails.
        store
            .connection()
            .execute(
                "INSERT INTO pull_requests (source, repository, number, body) VALUES ('api', 'acme/api', 7, 'not json')",
                [],
            )
            .unwrap();
        let answers = write_group(
            &mut store.connection(),
            vec![
                (1, vec![deployment("d1")]),
                // Its deployment comes first, so it was written before the failure.
                (2, vec![deployment("d2"), pull_request(7)]),
                (3, vec![deployment("d3"), deployment("d1")]),
            ],
        );
        let summary: Vec<(u64, Result<Vec<EventOutcome>, String>)> = answers
            .into_iter()
            .map(|(ticket, answer)| (ticket, answer.map_err(|e| e.to_string())))
            .collect();
        assert_eq!(summary.len(), 3);
        assert_eq!(summary[0], (1, Ok(vec![EventOutcome::Inserted])));
        assert_eq!(summary[1].0, 2);
        let error = summary[1].1.clone().unwrap_err();
        assert!(
            error.contains("stored pull request is not valid"),
            "{error}"
        );
        assert_eq!(
            summary[2],
            (3, Ok(vec![EventOutcome::Inserted, EventOutcome::Unchanged]))
        );
        assert_eq!(stored_ids(&store), ["d1", "d3"], "d2 went with its batch");
        assert!(store.connection().is_autocommit(), "the group committed");
    }

    #[test]
    fn a_lone_failing_batch_writes_nothing() {
        let store = SqliteStore::open_in_memory().unwrap();
        store
            .connection()
            .execute(
                "INSERT INTO pull_requests (source, repository, number, body) VALUES ('api', 'acme/api', 7, '{')",
                [],
            )
            .unwrap();
        let error = store
            .apply_events(&[deployment("d1"), pull_request(7)])
            .unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert!(stored_ids(&store).is_empty());
        assert_eq!(
            store.apply_events(&[deployment("d1")]).unwrap(),
            [EventOutcome::Inserted],
            "the store keeps working"
        );
    }

    #[test]
    fn concurrent_callers_each_get_their_own_answers() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("group.db")).unwrap();
        let threads = 16;
        let rounds = 40;
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let store = &store;
                scope.spawn(move || {
                    for round in 0..rounds {
                        let id = format!("t{thread:02}-{round:03}");
                        let first = store.apply_events(&[deployment(&id)]).unwrap();
                        assert_eq!(first, [EventOutcome::Inserted], "{id}");
                        let again = store
                            .apply_events(&[deployment(&id), deployment(&format!("{id}-b"))])
                            .unwrap();
                        assert_eq!(again, [EventOutcome::Unchanged, EventOutcome::Inserted]);
                        let Event::Deployment(mut changed) = deployment(&id) else {
                            unreachable!()
                        };
                        changed.status = DeploymentStatus::Failure;
                        let updated = store.apply_events(&[Event::Deployment(changed)]).unwrap();
                        assert_eq!(updated, [EventOutcome::Updated], "{id}");
                    }
                });
            }
        });
        let stored = store.deployments(&DeploymentFilter::default()).unwrap();
        assert_eq!(stored.len(), threads * rounds * 2);
        let failures = stored
            .iter()
            .filter(|d| d.status == DeploymentStatus::Failure)
            .count();
        assert_eq!(failures, threads * rounds);
        let state = store.group.state.lock().unwrap();
        assert!(state.queued.is_empty() && state.answers.is_empty() && !state.writing);
    }
}
