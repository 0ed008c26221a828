//! The commit graph behind webhooks: bare mirrors of configured repositories, fetched when a
//! push for the repository is stored and periodically, and imported with the same git walk and
//! [`Store::import_git_stream`] as `loopwise analyze`, under the repository's webhook locator
//! (`owner/name` or project path), so reports use the exact graph instead of push chains.
//!
//! One worker task per repository waits on a [`Notify`]: a trigger while a fetch runs leaves
//! one permit, so a burst of pushes costs one more fetch, never one each, and a repository is
//! never fetched twice at once. The fetch and import run on a blocking thread; git has a
//! timeout and is killed when the server stops. Failures are logged (URL redacted) and counted
//! in `/metrics`; they never stop the server.

use loopwise_ingest::git::{GitError, GitRepository};
use loopwise_ingest::mirror::{FetchKind, Mirror, MirrorError};
use loopwise_store::{GitImportMessage, PathTouch, Store, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Which repositories to mirror and how often; validated by the binary.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    pub mirrors: Vec<Mirror>,
    /// Time between periodic fetches of every mirror; `None`: only on pushes (and at start).
    pub fetch_interval: Option<Duration>,
    /// Longest a single git command may run.
    pub fetch_timeout: Duration,
    /// Mirror key → the path sets of the monorepo services whose history it holds: each fetch
    /// answers, for every new commit, whether it touches each set (as `analyze --path` does).
    pub service_paths: BTreeMap<String, Vec<Vec<String>>>,
}

impl Default for MirrorSettings {
    fn default() -> Self {
        Self {
            mirrors: Vec::new(),
            fetch_interval: Some(Duration::from_secs(300)),
            fetch_timeout: Duration::from_secs(600),
            service_paths: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("reading the mirror: {0}")]
    Git(#[from] GitError),
    #[error("storing the mirror's history: {0}")]
    Store(#[from] StoreError),
}

/// What one fetch and import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOutcome {
    pub kind: FetchKind,
    /// Commits the walk read (new to the store's git history).
    pub walked: usize,
    pub inserted: usize,
    /// Commits stored before from push payloads, now with git's parents.
    pub upgraded: usize,
}

/// Fetches `mirror` and imports what is new into `store` under the mirror's key. The walk
/// stops only at commits a git import stored: a commit known only from a push is read again,
/// so its parents are completed.
pub fn sync_repository(
    store: &dyn Store,
    mirror: &Mirror,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<SyncOutcome, SyncError> {
    sync_repository_with_paths(store, mirror, &[], timeout, cancel)
}

/// [`sync_repository`] that also answers, for every commit not answered yet, whether its change
/// (a merge's: against its first parent) touches each of `path_sets`, so the report engine can
/// tell a monorepo service's changes from the others'.
pub fn sync_repository_with_paths(
    store: &dyn Store,
    mirror: &Mirror,
    path_sets: &[Vec<String>],
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<SyncOutcome, SyncError> {
    let kind = mirror.fetch(timeout, cancel)?;
    let stored = store.find_repository(mirror.key())?;
    let known: HashSet<String> = match stored {
        Some(id) => store.git_change_shas(id)?.into_iter().collect(),
        None => HashSet::new(),
    };
    let repository = GitRepository::open(mirror.path())?;
    // Walk first, then write in one short transaction: the store is not held while git
    // objects are read, so webhook deliveries keep being acknowledged during a large import.
    let mut messages = Vec::new();
    let mut walked: Vec<(String, Option<String>)> = Vec::new();
    let walk = repository.walk(&known, &mut |batch| {
        if !path_sets.is_empty() {
            walked.extend(
                batch
                    .iter()
                    .map(|change| (change.sha.clone(), change.parents.first().cloned())),
            );
        }
        messages.push(GitImportMessage::Changes(Arc::new(batch)));
    })?;
    let mut path_touches = Vec::new();
    for paths in path_sets {
        let paths_key = paths.join("\n");
        let answered = match stored {
            Some(id) => store.path_touches(id, &paths_key)?,
            None => HashMap::new(),
        };
        // Stored commits not answered for this set yet (the paths were configured later),
        // then this fetch's new ones.
        let mut missing: Vec<(String, Option<String>)> = Vec::new();
        if let Some(id) = stored {
            let unanswered: Vec<String> = known
                .iter()
                .filter(|sha| !answered.contains_key(*sha))
                .cloned()
                .collect();
            if !unanswered.is_empty() {
                missing.extend(
                    store
                        .changes_by_sha(id, &unanswered)?
                        .into_iter()
                        .map(|change| (change.sha, change.parents.into_iter().next())),
                );
            }
        }
        missing.extend(
            walked
                .iter()
                .filter(|(sha, _)| !answered.contains_key(sha))
                .cloned(),
        );
        let answers = repository.touches_paths(&missing, paths, &mut |_| {})?;
        path_touches.extend(missing.into_iter().zip(answers).map(|((sha, _), touched)| {
            PathTouch {
                paths_key: paths_key.clone(),
                sha,
                touched,
            }
        }));
    }
    messages.push(GitImportMessage::Commit {
        tags: walk.tags,
        path_touches,
    });
    let counts = store
        .import_git_stream(mirror.key(), &mut messages.into_iter())?
        .unwrap_or_default();
    Ok(SyncOutcome {
        kind,
        walked: walk.new_changes,
        inserted: counts.inserted,
        upgraded: counts.updated,
    })
}

/// What `/metrics` and tests see of one mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorStatus {
    pub fetches_succeeded: u64,
    pub fetches_failed: u64,
    /// Unix seconds of the last successful fetch and import.
    pub last_success: Option<i64>,
    /// The last failure, redacted.
    pub last_error: Option<String>,
    pub commits_imported: u64,
}

#[derive(Debug)]
struct Repository {
    mirror: Mirror,
    /// The path sets of the monorepo services whose history this is.
    path_sets: Vec<Vec<String>>,
    wake: Notify,
    status: Mutex<MirrorStatus>,
}

/// The server's mirrors and their workers.
#[derive(Debug)]
pub struct Mirrors {
    repositories: BTreeMap<String, Arc<Repository>>,
    fetch_interval: Option<Duration>,
    fetch_timeout: Duration,
    /// Set when the server stops: a running git is killed.
    cancel: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
}

impl Mirrors {
    pub fn new(settings: &MirrorSettings) -> Self {
        let repositories = settings
            .mirrors
            .iter()
            .map(|mirror| {
                (
                    mirror.key().to_string(),
                    Arc::new(Repository {
                        mirror: mirror.clone(),
                        path_sets: settings
                            .service_paths
                            .get(mirror.key())
                            .cloned()
                            .unwrap_or_default(),
                        wake: Notify::new(),
                        status: Mutex::default(),
                    }),
                )
            })
            .collect();
        Self {
            repositories,
            fetch_interval: settings.fetch_interval,
            fetch_timeout: settings.fetch_timeout,
            cancel: Arc::default(),
            stop: watch::channel(false).0,
        }
    }

    /// Does the server mirror this repository (`owner/name` or project path)?
    pub fn is_mirrored(&self, repository: &str) -> bool {
        self.repositories.contains_key(repository)
    }

    /// Asks for a fetch of `repository` soon; coalesces with a pending one. Never waits.
    pub fn trigger(&self, repository: &str) -> bool {
        match self.repositories.get(repository) {
            Some(state) => {
                state.wake.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn status(&self, repository: &str) -> Option<MirrorStatus> {
        self.repositories
            .get(repository)
            .and_then(|state| state.status.lock().ok().map(|status| status.clone()))
    }

    /// Starts one worker per mirror (each fetches at once) and the periodic trigger. Must be
    /// called on the runtime; the tasks end after [`Mirrors::stop`].
    pub fn start(self: &Arc<Self>, store: Arc<dyn Store>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for state in self.repositories.values() {
            state.wake.notify_one();
            tasks.push(tokio::spawn(worker(
                Arc::clone(state),
                Arc::clone(&store),
                self.fetch_timeout,
                Arc::clone(&self.cancel),
                self.stop.subscribe(),
            )));
        }
        if let Some(period) = self
            .fetch_interval
            .filter(|_| !self.repositories.is_empty())
        {
            let mirrors = Arc::clone(self);
            let mut stop = self.stop.subscribe();
            tasks.push(tokio::spawn(async move {
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => break,
                        _ = ticks.tick() => {
                            for state in mirrors.repositories.values() {
                                state.wake.notify_one();
                            }
                        }
                    }
                }
            }));
        }
        tasks
    }

    /// Stops the workers: a running git is killed, pending triggers are dropped.
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.stop.send_replace(true);
    }

    /// The mirrors' Prometheus series.
    pub fn render(&self, out: &mut String) {
        if self.repositories.is_empty() {
            return;
        }
        let statuses: Vec<(&str, MirrorStatus)> = self
            .repositories
            .iter()
            .filter_map(|(key, state)| {
                state
                    .status
                    .lock()
                    .ok()
                    .map(|status| (key.as_str(), status.clone()))
            })
            .collect();
        let _ = writeln!(
            out,
            "# HELP loopwise_mirror_fetches_total Fetches (and imports) of repository mirrors, by outcome."
        );
        let _ = writeln!(out, "# TYPE loopwise_mirror_fetches_total counter");
        for (key, status) in &statuses {
            let key = crate::metrics::escape(key);
            let _ = writeln!(
                out,
                "loopwise_mirror_fetches_total{{repository=\"{key}\",outcome=\"success\"}} {}",
                status.fetches_succeeded
            );
            let _ = writeln!(
                out,
                "loopwise_mirror_fetches_total{{repository=\"{key}\",outcome=\"failure\"}} {}",
                status.fetches_failed
            );
        }
        let _ = writeln!(
            out,
            "# HELP loopwise_mirror_last_success_timestamp_seconds When a mirror last fetched and imported successfully."
        );
        let _ = writeln!(
            out,
            "# TYPE loopwise_mirror_last_success_timestamp_seconds gauge"
        );
        for (key, status) in &statuses {
            if let Some(time) = status.last_success {
                let _ = writeln!(
                    out,
                    "loopwise_mirror_last_success_timestamp_seconds{{repository=\"{}\"}} {time}",
                    crate::metrics::escape(key)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP loopwise_mirror_commits_imported_total Commits imported (or completed) from mirrors."
        );
        let _ = writeln!(out, "# TYPE loopwise_mirror_commits_imported_total counter");
        for (key, status) in &statuses {
            let _ = writeln!(
                out,
                "loopwise_mirror_commits_imported_total{{repository=\"{}\"}} {}",
                crate::metrics::escape(key),
                status.commits_imported
            );
        }
    }
}

async fn worker(
    state: Arc<Repository>,
    store: Arc<dyn Store>,
    timeout: Duration,
    cancel: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            () = state.wake.notified() => {}
        }
        let job = Arc::clone(&state);
        let store = Arc::clone(&store);
        let cancel = Arc::clone(&cancel);
        let result = tokio::task::spawn_blocking(move || {
            sync_repository_with_paths(
                store.as_ref(),
                &job.mirror,
                &job.path_sets,
                timeout,
                &cancel,
            )
        })
        .await;
        let key = state.mirror.key();
        let mut status = match state.status.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        match result {
            Ok(Ok(outcome)) => {
                status.fetches_succeeded += 1;
                status.last_success = Some(crate::unix_now());
                status.last_error = None;
                status.commits_imported += (outcome.inserted + outcome.upgraded) as u64;
                tracing::info!(
                    repository = key,
                    url = %state.mirror.url(),
                    kind = ?outcome.kind,
                    walked = outcome.walked,
                    inserted = outcome.inserted,
                    upgraded = outcome.upgraded,
                    "mirror fetched and imported"
                );
            }
            Ok(Err(SyncError::Mirror(MirrorError::Cancelled { .. }))) => break,
            Ok(Err(error)) => {
                status.fetches_failed += 1;
                status.last_error = Some(error.to_string());
                tracing::warn!(repository = key, error = %error, "mirror fetch failed");
            }
            Err(panic) => {
                status.fetches_failed += 1;
                status.last_error = Some("the mirror task failed".to_string());
                tracing::error!(repository = key, error = %panic, "mirror task failed");
            }
        }
    }
}
