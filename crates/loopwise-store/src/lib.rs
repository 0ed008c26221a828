//! The store interface of loopwise.
//!
//! A [`Store`] keeps what the importers found (commits, tags, deployments) so that later runs are
//! incremental and reports can be rebuilt, and, without reading them, the blobs the report
//! engine derived from that ([`Derived`]), so a restarted server need not derive them again.
//! Backends live in their own crates (SQLite embedded by default; PostgreSQL for scale-out)
//! with their own migrations; they all pass the [`conformance`] suite. This crate runs no SQL
//! and decides no metric: the core does that. What does not depend on the backend is written
//! once here: reading stored rows into entities and export records ([`rows`], with the
//! export's portable queries), and the rules of writes and imports that the backends share.
//!
//! Every write is one transaction: a failed import leaves the store as it was. Every record is
//! keyed by its source and source-scoped id, so writing the same thing twice stores it once.

use export::ExportRecord;
use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::{CiRun, Event, FlagChange, Incident, PullRequest, PullRequestReview};
use loopwise_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod export;
pub mod rows;
pub mod versions;

/// The store's number for a repository it knows.
pub type RepositoryId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {location}: {reason}")]
    Open { location: String, reason: String },
    #[error(
        "the database {location} has schema version {found}, newer than this loopwise understands \
         ({supported}); upgrade loopwise"
    )]
    SchemaTooNew {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error("database migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
    #[error("the stored {what} is not valid: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
}

/// A new batch of git history for one repository, written in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct GitImport<'a> {
    /// The repository's locator; an import registers a repository it does not know yet.
    pub locator: &'a str,
    /// Commits not stored yet; stored ones are ignored, so a re-run is harmless.
    pub new_changes: &'a [Change],
    /// The repository's complete set of tags now: it replaces the stored set, so a deleted or
    /// moved tag is forgotten.
    pub tags: &'a [Tag],
    /// Cached answers to "does this commit touch these paths?", keyed by a path-set key.
    pub path_touches: &'a [PathTouch],
}

/// One step of a streamed git import (see [`Store::import_git_stream`]).
#[derive(Debug, Clone)]
pub enum GitImportMessage {
    /// A batch of commits; stored ones are ignored.
    Changes(Arc<Vec<Change>>),
    /// The end of a good import: the repository's complete tag set and the new path answers.
    /// Everything sent so far becomes durable together with these.
    Commit {
        tags: Vec<Tag>,
        path_touches: Vec<PathTouch>,
    },
}

/// What the commit of a streamed git import writes besides the commits (see
/// [`GitImportMessage::Commit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitImportEnd {
    pub tags: Vec<Tag>,
    pub path_touches: Vec<PathTouch>,
}

impl GitImportMessage {
    /// Follows a streamed import up to its commit: hands every batch of commits to `insert`,
    /// then returns what the commit writes; `None` when the messages end without a commit (the
    /// producer failed, so nothing may be written).
    pub fn until_commit<E>(
        messages: &mut dyn Iterator<Item = GitImportMessage>,
        mut insert: impl FnMut(&[Change]) -> Result<(), E>,
    ) -> Result<Option<GitImportEnd>, E> {
        for message in messages {
            match message {
                GitImportMessage::Changes(changes) => insert(&changes)?,
                GitImportMessage::Commit { tags, path_touches } => {
                    return Ok(Some(GitImportEnd { tags, path_touches }));
                }
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTouch {
    pub paths_key: String,
    pub sha: String,
    pub touched: bool,
}

/// What a write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: usize,
    pub unchanged: usize,
    pub updated: usize,
    pub deleted: usize,
}

impl WriteCounts {
    /// Counts one record written with `outcome`.
    pub fn add(&mut self, outcome: EventOutcome) {
        match outcome {
            EventOutcome::Inserted => self.inserted += 1,
            EventOutcome::Updated => self.updated += 1,
            EventOutcome::Unchanged => self.unchanged += 1,
        }
    }

    /// The outcome of a write of one record, from its counts.
    pub fn outcome(&self) -> EventOutcome {
        if self.inserted > 0 {
            EventOutcome::Inserted
        } else if self.updated > 0 {
            EventOutcome::Updated
        } else {
            EventOutcome::Unchanged
        }
    }
}

/// The deployments of one service from one source that a write replaces as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentScope {
    pub source: Source,
    pub service: String,
}

impl DeploymentScope {
    /// The ids of the deployments in `deployments` that belong to this scope: what a replacing
    /// write keeps; the scope's other stored deployments are deleted.
    pub fn kept_ids<'a>(&self, deployments: &'a [Deployment]) -> impl Iterator<Item = &'a str> {
        deployments
            .iter()
            .filter(|d| d.source == self.source && d.service == self.service)
            .map(|d| d.id.as_str())
    }
}

/// Which deployments to read; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub source: Option<Source>,
}

/// Row counts per table, for diagnostics and tests of idempotence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub repositories: usize,
    pub changes: usize,
    pub tags: usize,
    pub deployments: usize,
    pub path_touches: usize,
}

/// A blob the report engine derived from stored data, with the key (the write versions and
/// settings it was derived under) that says whether it is still current. The store keeps it
/// without reading it; it is not part of an export and writing it moves no write version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub key: String,
    pub data: Vec<u8>,
}

/// What storing one event did. A re-sent event whose content is unchanged is `Unchanged`:
/// that is how duplicates are recognised and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Inserted,
    Updated,
    Unchanged,
}

impl EventOutcome {
    /// The outcome of an insert that leaves a stored record as it is.
    pub fn inserted_if(inserted: bool) -> Self {
        if inserted {
            EventOutcome::Inserted
        } else {
            EventOutcome::Unchanged
        }
    }
}

/// A webhook delivery, identified by its source's delivery id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub source: Source,
    pub id: String,
    /// The event name the source gave (e.g. `push`, `Merge Request Hook`).
    pub event: String,
    pub received_at: Timestamp,
}

/// What an API token may do. `Admin` includes the others; `Ingest` may write events; `Read`
/// may read reports.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    Ingest,
    Read,
    Admin,
}

impl TokenScope {
    pub const ALL: [TokenScope; 3] = [TokenScope::Ingest, TokenScope::Read, TokenScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Ingest => "ingest",
            TokenScope::Read => "read",
            TokenScope::Admin => "admin",
        }
    }

    /// Does a token of this scope allow `wanted`?
    pub fn allows(self, wanted: TokenScope) -> bool {
        self == TokenScope::Admin || self == wanted
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_keyword(text, TokenScope::ALL.map(|scope| (scope.as_str(), scope))).map_err(|other| {
            format!("unknown token scope {other:?}; expected ingest, read or admin")
        })
    }
}

/// The value whose name `text` is, case-insensitively and ignoring surrounding white space;
/// otherwise the text as it was compared (trimmed, lowercase), for the caller's message.
pub fn parse_keyword<T: Copy, const N: usize>(
    text: &str,
    choices: [(&str, T); N],
) -> Result<T, String> {
    let wanted = text.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| *value)
        .ok_or(wanted)
}

/// A stored API token: never the secret, only what it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What an [`Store::import`] did, per record kind (see [`ExportRecord::KINDS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub by_kind: BTreeMap<&'static str, WriteCounts>,
}

impl ImportCounts {
    /// Counts one record of `kind` as `outcome`.
    pub fn add(&mut self, kind: &'static str, outcome: EventOutcome) {
        self.by_kind.entry(kind).or_default().add(outcome);
    }

    /// Writes every record with `write` (a backend's write of one record, inside the import's
    /// transaction), counting each by its kind and adding the write scope it changed to
    /// `touched`. The first error, of a record or of its write, ends the import.
    pub fn import_each(
        records: &mut dyn Iterator<Item = Result<ExportRecord, StoreError>>,
        touched: &mut BTreeSet<String>,
        mut write: impl FnMut(&ExportRecord) -> Result<EventOutcome, StoreError>,
    ) -> Result<ImportCounts, StoreError> {
        let mut counts = ImportCounts::default();
        for record in records {
            let record = record?;
            let outcome = write(&record)?;
            touched.extend(versions::scope_of_record(&record, outcome));
            counts.add(record.kind(), outcome);
        }
        Ok(counts)
    }

    /// The sum over every kind.
    pub fn total(&self) -> WriteCounts {
        self.by_kind
            .values()
            .fold(WriteCounts::default(), |sum, counts| WriteCounts {
                inserted: sum.inserted + counts.inserted,
                unchanged: sum.unchanged + counts.unchanged,
                updated: sum.updated + counts.updated,
                deleted: sum.deleted + counts.deleted,
            })
    }
}

/// Where [`Store::export`] hands each record; an error stops the export and is returned.
pub type ExportSink<'a> = dyn FnMut(ExportRecord) -> Result<(), StoreError> + 'a;

/// The storage interface every backend implements.
///
/// Methods are synchronous: the CLI calls them directly and async callers hand them to a
/// blocking thread. Implementations are shared across threads.
pub trait Store: Send + Sync + Debug {
    /// The id of the repository at `locator` (a canonical path or URL), registering it if new.
    fn repository(&self, locator: &str) -> Result<RepositoryId, StoreError>;

    /// Every repository the store knows: (id, locator), by id.
    fn repositories(&self) -> Result<Vec<(RepositoryId, String)>, StoreError>;

    /// The id of the repository at `locator`, if the store knows it; registers nothing.
    fn find_repository(&self, locator: &str) -> Result<Option<RepositoryId>, StoreError>;

    /// Every stored commit of a repository, in no particular order.
    fn changes(&self, repository: RepositoryId) -> Result<Vec<Change>, StoreError>;

    /// The stored commits of a repository among `shas` (unknown shas are left out), in no
    /// particular order: the details of a few commits without reading the whole history.
    fn changes_by_sha(
        &self,
        repository: RepositoryId,
        shas: &[String],
    ) -> Result<Vec<Change>, StoreError>;

    /// The shas of a repository's commits that came from a git import (their parents are
    /// complete). A history walk may stop at these, never at a commit known only from a push
    /// payload, whose parents are known only within its push.
    fn git_change_shas(&self, repository: RepositoryId) -> Result<Vec<String>, StoreError>;

    /// How many of a repository's commits are known only from push payloads or change events
    /// (not from a git import).
    fn pushed_change_count(&self, repository: RepositoryId) -> Result<usize, StoreError>;

    /// The stored tags of a repository, by name.
    fn tags(&self, repository: RepositoryId) -> Result<Vec<Tag>, StoreError>;

    /// Cached path answers for one path set: sha → touched.
    fn path_touches(
        &self,
        repository: RepositoryId,
        paths_key: &str,
    ) -> Result<HashMap<String, bool>, StoreError>;

    /// Writes a batch of git history atomically; returns the counts for the changes. Git data
    /// wins: a commit stored before from a push payload is overwritten (counted as updated).
    fn apply_git_import(&self, import: GitImport<'_>) -> Result<WriteCounts, StoreError> {
        let messages = [
            GitImportMessage::Changes(Arc::new(import.new_changes.to_vec())),
            GitImportMessage::Commit {
                tags: import.tags.to_vec(),
                path_touches: import.path_touches.to_vec(),
            },
        ];
        Ok(self
            .import_git_stream(import.locator, &mut messages.into_iter())?
            .unwrap_or_default())
    }

    /// Writes git history as it arrives, in one transaction, so an import can overlap the walk
    /// that produces it. The transaction commits at [`GitImportMessage::Commit`]; if the
    /// messages end without one (the producer failed), nothing is written (not even the
    /// repository's registration) and `None` is returned.
    /// While the stream is open the store may refuse or delay other calls.
    fn import_git_stream(
        &self,
        locator: &str,
        messages: &mut dyn Iterator<Item = GitImportMessage>,
    ) -> Result<Option<WriteCounts>, StoreError>;

    /// Inserts or updates deployments by (source, id) atomically. With a scope, the scope's
    /// stored deployments that are not in `deployments` are deleted in the same transaction.
    fn upsert_deployments(
        &self,
        deployments: &[Deployment],
        replace: Option<&DeploymentScope>,
    ) -> Result<WriteCounts, StoreError>;

    /// Deployments matching the filter, ordered by (service, environment, time, id).
    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError>;

    fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// A cheap round trip to the database, for readiness checks.
    fn ping(&self) -> Result<(), StoreError>;

    /// Stores events in one transaction; one outcome per event, in order. A change event's
    /// commit is stored with source `api` and never overwrites a commit stored before (a git
    /// import's parents are complete, a push's are not).
    fn apply_events(&self, events: &[Event]) -> Result<Vec<EventOutcome>, StoreError>;

    /// Stores a webhook delivery and its events in one transaction. `None` when the delivery
    /// was stored before: a redelivery changes nothing. Pushed commits are stored with the
    /// delivery's source, under the same rule as [`Store::apply_events`].
    fn apply_delivery(
        &self,
        delivery: &Delivery,
        events: &[Event],
    ) -> Result<Option<Vec<EventOutcome>>, StoreError>;

    /// Incidents, of one service or all, ordered by start.
    fn incidents(&self, service: Option<&str>) -> Result<Vec<Incident>, StoreError>;

    /// Pull requests, of one repository or all, ordered by repository and number.
    fn pull_requests(&self, repository: Option<&str>) -> Result<Vec<PullRequest>, StoreError>;

    /// Reviews of one pull request, ordered by submission.
    fn pull_request_reviews(
        &self,
        repository: &str,
        number: u64,
    ) -> Result<Vec<PullRequestReview>, StoreError>;

    /// CI runs for a commit, every attempt, ordered by id and attempt.
    fn ci_runs(&self, sha: &str) -> Result<Vec<CiRun>, StoreError>;

    /// Feature flag changes, of one repository or all, ordered by repository, flag key and time.
    fn flag_changes(&self, repository: Option<&str>) -> Result<Vec<FlagChange>, StoreError>;

    /// Stores a new token by the hash of its secret. A name in use is a [`StoreError::Conflict`].
    fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        hash: &str,
        now: Timestamp,
    ) -> Result<Token, StoreError>;

    /// Every token, revoked ones too, by id.
    fn tokens(&self) -> Result<Vec<Token>, StoreError>;

    /// Revokes the named token; false when there is no such token or it was revoked already.
    fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// The live (not revoked) token whose secret hashes to `hash`.
    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError>;

    /// The schema version of the open database (after the migrations `open` ran).
    fn schema_version(&self) -> Result<i64, StoreError>;

    /// Every write scope (see [`versions`]) with its version, a number that grows whenever a
    /// write changes what reports read in that scope: a repository's commits and tags, a
    /// service's deployments, the incidents. Every service with stored deployments has its
    /// scope here, so this is also the list of services. A change becomes visible to readers
    /// no later than its scope's new version does, so data read after reading version `v`
    /// is at least as new as `v`: what is cached under `v` is stale once the version is
    /// greater.
    fn write_versions(&self) -> Result<versions::WriteVersions, StoreError>;

    /// The derived blob stored under (kind, scope, name), if any.
    fn derived(&self, kind: &str, scope: &str, name: &str) -> Result<Option<Derived>, StoreError>;

    /// Stores (or replaces) the derived blob under (kind, scope, name). It is not what reports
    /// read but what the engine made of it: no write version moves, and neither
    /// [`Store::export`] nor [`Store::counts`] sees it.
    fn put_derived(
        &self,
        kind: &str,
        scope: &str,
        name: &str,
        derived: &Derived,
    ) -> Result<(), StoreError>;

    /// Hands every stored entity to `sink`, one record at a time, from one consistent snapshot
    /// (one read transaction), in the canonical order of the [`export`](crate::export) module: kinds in
    /// [`ExportRecord::KINDS`] order, each sorted by the key its variant documents (text by its
    /// UTF-8 bytes, e.g. PostgreSQL's `COLLATE "C"`; numbers numerically), so every backend
    /// writes the same bytes for the same data. Records are
    /// streamed from the database, never collected first, so memory stays bounded whatever the
    /// store's size. Nothing is written. An error from `sink` ends the export with that error.
    fn export(&self, sink: &mut ExportSink<'_>) -> Result<(), StoreError>;

    /// Writes records (as [`Store::export`] produces them, in any order) in ONE transaction:
    /// the import commits when `records` ends; if it yields an `Err`, or any write fails,
    /// nothing is written and the error is returned. Idempotent: a record stored before is
    /// unchanged, so importing the same file twice stores nothing twice. Records merge with
    /// what is stored by the same rules as ordinary writes: a change takes its record's source
    /// and git history wins over pushed commits; tags and path touches are upserted (never
    /// deleted); deployments, reviews, incidents, CI runs and flag changes are upserted by their
    /// keys as [`Store::apply_events`] does (the record's content wins); pull requests merge
    /// snapshots ([`PullRequest::updated_with`]); deliveries are kept once; a token whose
    /// name exists with another hash is a [`StoreError::Conflict`], and a revocation in the
    /// file is applied to a live stored token.
    fn import(
        &self,
        records: &mut dyn Iterator<Item = Result<ExportRecord, StoreError>>,
    ) -> Result<ImportCounts, StoreError>;
}
