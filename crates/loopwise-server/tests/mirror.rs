//! Repository mirrors with real git: a bare mirror cloned from a `file://` repository built with
//! the git CLI, fetched again after new commits, imported into a real SQLite store and checked
//! against `git log`'s own parents; pushed commits completed by the mirror; failures reported
//! (redacted), counted and survived; bursts of triggers coalesced.

use loopwise_core::entities::{Change, Source};
use loopwise_core::events::{Event, PushedChange};
use loopwise_ingest::mirror::{CloneUrl, FetchKind, Mirror, MirrorError};
use loopwise_server::mirrors::{
    MirrorSettings, Mirrors, SyncError, sync_repository, sync_repository_with_paths,
};
use loopwise_store::{Delivery, Store};
use loopwise_store_sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const T0: i64 = 1_704_067_200;
const TIMEOUT: Duration = Duration::from_secs(60);

struct Repo {
    path: PathBuf,
}

impl Repo {
    fn init(path: PathBuf) -> Repo {
        std::fs::create_dir_all(&path).unwrap();
        let repo = Repo { path };
        repo.git(&["init", "-q", "-b", "main"], T0);
        repo
    }

    fn git(&self, args: &[&str], time: i64) -> String {
        let output = Command::new("git")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Loop Tester")
            .env("GIT_AUTHOR_EMAIL", "tester@example.com")
            .env("GIT_COMMITTER_NAME", "Loop Tester")
            .env("GIT_COMMITTER_EMAIL", "tester@example.com")
            .env("GIT_AUTHOR_DATE", format!("{time} +0000"))
            .env("GIT_COMMITTER_DATE", format!("{time} +0000"))
            .args(["-c", "commit.gpgSign=false", "-c", "gc.auto=0"])
            .current_dir(&self.path)
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn commit(&self, subject: &str, time: i64) -> String {
        // One file per commit, so branches merge without conflicts.
        let name = format!("{subject}.txt");
        std::fs::write(self.path.join(&name), subject).unwrap();
        self.git(&["add", &name], time);
        self.git(&["commit", "-q", "-m", subject], time);
        self.git(&["rev-parse", "HEAD"], time)
    }

    fn url(&self) -> CloneUrl {
        CloneUrl::new(format!("file://{}", self.path.display())).unwrap()
    }

    /// sha → parents, as git itself lists every commit of every branch and tag.
    fn graph(&self) -> BTreeMap<String, Vec<String>> {
        self.git(&["log", "--branches", "--tags", "--format=%H %P"], T0)
            .lines()
            .map(|line| {
                let mut parts = line.split_whitespace().map(str::to_string);
                (parts.next().unwrap(), parts.collect())
            })
            .collect()
    }
}

/// A history with a merge: main a - b - m, a feature branch f1 merged at m.
fn history(root: &Path) -> Repo {
    let repo = Repo::init(root.join("origin"));
    repo.commit("a", T0);
    repo.git(&["checkout", "-q", "-b", "feature"], T0);
    repo.commit("f1", T0 + 100);
    repo.git(&["checkout", "-q", "main"], T0);
    repo.commit("b", T0 + 200);
    repo.git(
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
        T0 + 300,
    );
    repo
}

fn stored_graph(store: &dyn Store, key: &str) -> BTreeMap<String, Vec<String>> {
    let id = store.find_repository(key).unwrap().expect("imported");
    store
        .changes(id)
        .unwrap()
        .into_iter()
        .map(|change| (change.sha, change.parents))
        .collect()
}

fn no_cancel() -> AtomicBool {
    AtomicBool::new(false)
}

#[test]
fn a_mirror_is_cloned_imported_and_refetched_without_duplicates() {
    let scratch = tempfile::tempdir().unwrap();
    let origin = history(scratch.path());
    let store = SqliteStore::open(&scratch.path().join("lw.db")).unwrap();
    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/api", origin.url()).unwrap();

    let first = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap();
    assert_eq!(first.kind, FetchKind::Cloned);
    assert_eq!(
        (first.walked, first.inserted),
        (4, 4),
        "a, f1, b and the merge"
    );
    assert!(mirror.path().join("HEAD").is_file(), "a bare repository");
    assert_eq!(stored_graph(&store, "acme/api"), origin.graph());

    // New commits upstream, one on a new branch: the next fetch imports exactly those.
    origin.commit("c", T0 + 400);
    origin.git(&["checkout", "-q", "-b", "hotfix"], T0);
    origin.commit("h", T0 + 500);
    let second = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap();
    assert_eq!(second.kind, FetchKind::Fetched);
    assert_eq!((second.walked, second.inserted, second.upgraded), (2, 2, 0));
    assert_eq!(stored_graph(&store, "acme/api"), origin.graph());

    // Nothing new: nothing read, nothing written, no duplicate rows.
    let third = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap();
    assert_eq!((third.walked, third.inserted, third.upgraded), (0, 0, 0));
    assert_eq!(store.counts().unwrap().changes, 6);
    assert_eq!(store.counts().unwrap().repositories, 1);
}

#[test]
fn a_pushed_commit_gets_its_parents_from_the_mirror() {
    let scratch = tempfile::tempdir().unwrap();
    let origin = history(scratch.path());
    let merge = origin.git(&["rev-parse", "main"], T0);
    let store = SqliteStore::open_in_memory().unwrap();
    // The push that brought the merge, as a new-branch push: no parents in the payload.
    let pushed = Change {
        sha: merge.clone(),
        parents: vec![],
        author_time: T0 + 300,
        committer_time: T0 + 300,
        author_name: "Loop Tester".into(),
        author_email: "tester@example.com".into(),
        subject: "Merge feature".into(),
        reverts: None,
    };
    let delivery = Delivery {
        source: Source::Github,
        id: "guid-1".into(),
        event: "push".into(),
        received_at: T0,
    };
    store
        .apply_delivery(
            &delivery,
            &[Event::Change(PushedChange {
                repository: "acme/api".into(),
                branch: Some("main".into()),
                change: pushed,
            })],
        )
        .unwrap();
    let id = store.find_repository("acme/api").unwrap().unwrap();
    assert_eq!(store.pushed_change_count(id).unwrap(), 1);

    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/api", origin.url()).unwrap();
    let outcome = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap();
    assert_eq!(
        (outcome.walked, outcome.inserted, outcome.upgraded),
        (4, 3, 1),
        "the pushed merge did not stop the walk; it was completed"
    );
    let graph = stored_graph(&store, "acme/api");
    assert_eq!(graph[&merge].len(), 2, "the merge has both parents now");
    assert_eq!(graph, origin.graph());
    assert_eq!(store.pushed_change_count(id).unwrap(), 0);
}

#[test]
fn bad_clone_urls_are_errors_with_credentials_redacted() {
    let scratch = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_memory().unwrap();
    let missing = CloneUrl::new(format!(
        "file://{}",
        scratch.path().join("no-such-repo").display()
    ))
    .unwrap();
    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/gone", missing).unwrap();
    let error = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap_err();
    assert!(
        matches!(error, SyncError::Mirror(MirrorError::Failed { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("no-such-repo"), "{error}");
    assert_eq!(store.counts().unwrap().repositories, 0, "nothing stored");

    // Nothing listens on port 1 of loopback: git fails at once, and neither the error nor
    // git's own message shows the password.
    let secret = CloneUrl::new("http://ada:s3cret-token@127.0.0.1:1/acme/api.git").unwrap();
    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/api", secret).unwrap();
    let error = sync_repository(&store, &mirror, TIMEOUT, &no_cancel()).unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("s3cret-token"), "{text}");
    assert!(text.contains("ada:***@127.0.0.1:1"), "{text}");

    // Without git: an error that says so, nothing created.
    let origin = history(scratch.path());
    let no_git = Mirror::new(&scratch.path().join("mirrors"), "acme/nogit", origin.url())
        .unwrap()
        .with_git(scratch.path().join("no-such-git"));
    let error = sync_repository(&store, &no_git, TIMEOUT, &no_cancel()).unwrap_err();
    assert!(
        matches!(error, SyncError::Mirror(MirrorError::GitMissing { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("install git"), "{error}");
    assert_eq!(store.counts().unwrap().repositories, 0);

    // A cancelled fetch stops at once.
    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/x", origin.url()).unwrap();
    let error = sync_repository(&store, &mirror, TIMEOUT, &AtomicBool::new(true)).unwrap_err();
    assert!(
        matches!(error, SyncError::Mirror(MirrorError::Cancelled { .. })),
        "{error}"
    );
}

/// Polls `done` every 20 ms for at most 20 s.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn workers_coalesce_bursts_count_failures_and_stop() {
    let scratch = tempfile::tempdir().unwrap();
    let origin = history(scratch.path());
    let directory = scratch.path().join("mirrors");
    let broken = CloneUrl::new("http://ada:s3cret-token@127.0.0.1:1/acme/broken.git").unwrap();
    let settings = MirrorSettings {
        mirrors: vec![
            Mirror::new(&directory, "acme/api", origin.url()).unwrap(),
            Mirror::new(&directory, "acme/broken", broken).unwrap(),
        ],
        fetch_interval: None,
        fetch_timeout: TIMEOUT,
        service_paths: BTreeMap::new(),
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mirrors = Arc::new(Mirrors::new(&settings));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let workers = runtime.block_on(async { mirrors.start(Arc::clone(&store)) });
    // A burst of pushes while the first fetch runs: one fetch more at most, not twenty.
    for _ in 0..20 {
        assert!(mirrors.trigger("acme/api"));
    }
    assert!(!mirrors.trigger("acme/unknown"), "not mirrored");
    let succeeded = || mirrors.status("acme/api").unwrap().fetches_succeeded;
    assert!(wait_for(|| succeeded() >= 1), "the first fetch finished");
    // Settled: no fetch for a while.
    let mut last = succeeded();
    let mut quiet_since = Instant::now();
    assert!(wait_for(|| {
        let now = succeeded();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
        quiet_since.elapsed() > Duration::from_millis(500)
    }));
    assert!(
        (1..=2).contains(&succeeded()),
        "21 triggers coalesced into {} fetches",
        succeeded()
    );
    let status = mirrors.status("acme/api").unwrap();
    assert!(status.last_success.is_some() && status.last_error.is_none());
    assert_eq!(status.commits_imported, 4);

    assert!(wait_for(|| mirrors
        .status("acme/broken")
        .unwrap()
        .fetches_failed
        == 1));
    let broken = mirrors.status("acme/broken").unwrap();
    assert_eq!(broken.fetches_succeeded, 0);
    let error = broken.last_error.unwrap();
    assert!(
        !error.contains("s3cret-token") && error.contains("***"),
        "{error}"
    );

    let mut metrics = String::new();
    mirrors.render(&mut metrics);
    assert!(
        metrics.contains(
            "loopwise_mirror_fetches_total{repository=\"acme/broken\",outcome=\"failure\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("loopwise_mirror_commits_imported_total{repository=\"acme/api\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loopwise_mirror_last_success_timestamp_seconds{repository=\"acme/api\"}")
    );
    assert!(!metrics.contains("last_success_timestamp_seconds{repository=\"acme/broken\"}"));

    mirrors.stop();
    runtime.block_on(async {
        for worker in workers {
            tokio::time::timeout(Duration::from_secs(10), worker)
                .await
                .expect("workers stop")
                .unwrap();
        }
    });
    assert!(!mirrors.trigger("acme/nope"));
}

#[test]
fn the_interval_fetches_new_commits_without_a_push() {
    let scratch = tempfile::tempdir().unwrap();
    let origin = history(scratch.path());
    let settings = MirrorSettings {
        mirrors: vec![
            Mirror::new(&scratch.path().join("mirrors"), "acme/api", origin.url()).unwrap(),
        ],
        fetch_interval: Some(Duration::from_millis(200)),
        fetch_timeout: TIMEOUT,
        service_paths: BTreeMap::new(),
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mirrors = Arc::new(Mirrors::new(&settings));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let workers = runtime.block_on(async { mirrors.start(Arc::clone(&store)) });
    let imported = || mirrors.status("acme/api").unwrap().commits_imported;
    assert!(
        wait_for(|| imported() == 4),
        "the start fetched the history"
    );
    origin.commit("later", T0 + 1_000);
    assert!(
        wait_for(|| imported() == 5),
        "the interval fetched the new commit"
    );
    assert_eq!(stored_graph(store.as_ref(), "acme/api"), origin.graph());
    assert!(mirrors.status("acme/api").unwrap().fetches_succeeded >= 2);
    mirrors.stop();
    runtime.block_on(async {
        for worker in workers {
            tokio::time::timeout(Duration::from_secs(10), worker)
                .await
                .expect("the interval task and the worker stop")
                .unwrap();
        }
    });
}

/// Polls `done` every 20 ms for at most 20 s without blocking the runtime.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_gitlab_push_triggers_its_repositorys_fetch() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use loopwise_server::{AppState, Secret, ServerConfig, router};
    use tower::ServiceExt;

    let fixtures = loopwise_testkit::require_fixtures!();
    let body = std::fs::read(fixtures.join("webhooks/gitlab/push.json")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let origin = history(scratch.path());
    // Keyed as the fixture's project path, the locator its pushed commits are stored under.
    let mirror = Mirror::new(
        &scratch.path().join("mirrors"),
        "mike/diaspora",
        origin.url(),
    )
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&scratch.path().join("lw.db")).unwrap());
    // tag_push.json's project: a tag push yields no event but must fetch too.
    let tagged = Mirror::new(
        &scratch.path().join("mirrors"),
        "jsmith/example",
        origin.url(),
    )
    .unwrap();
    let config = ServerConfig {
        gitlab_webhook_token: Some(Secret::new("token")),
        mirrors: MirrorSettings {
            mirrors: vec![mirror, tagged],
            fetch_interval: None,
            fetch_timeout: TIMEOUT,
            service_paths: BTreeMap::new(),
        },
        ..ServerConfig::default()
    };
    let state = AppState::new(Arc::clone(&store), config);
    let workers = state.mirrors.start(Arc::clone(&store));
    let fetches = || {
        state
            .mirrors
            .status("mike/diaspora")
            .unwrap()
            .fetches_succeeded
    };
    assert!(eventually(|| fetches() == 1).await, "the start fetched");

    let post = |key: &str| {
        Request::post("/webhooks/gitlab")
            .header("content-type", "application/json")
            .header("x-gitlab-token", "token")
            .header("idempotency-key", key)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let response = router(state.clone()).oneshot(post("push-1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        eventually(|| fetches() == 2).await,
        "the push triggered a fetch"
    );
    // The fixture's commits are not in this origin: they stay push-only, beside the mirror's.
    let id = store.find_repository("mike/diaspora").unwrap().unwrap();
    assert_eq!(store.pushed_change_count(id).unwrap(), 2);
    assert_eq!(store.git_change_shas(id).unwrap().len(), 4);

    // A redelivery stores nothing, so it fetches nothing.
    let response = router(state.clone()).oneshot(post("push-1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fetches(), 2);

    let tag_fetches = || {
        state
            .mirrors
            .status("jsmith/example")
            .unwrap()
            .fetches_succeeded
    };
    assert!(eventually(|| tag_fetches() == 1).await, "the start fetched");
    let tag_push = std::fs::read(fixtures.join("webhooks/gitlab/tag_push.json")).unwrap();
    let request = Request::post("/webhooks/gitlab")
        .header("content-type", "application/json")
        .header("x-gitlab-token", "token")
        .header("idempotency-key", "tag-1")
        .body(Body::from(tag_push))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        eventually(|| tag_fetches() == 2).await,
        "the tag push triggered a fetch"
    );
    assert_eq!(fetches(), 2, "and only of its own repository");

    state.mirrors.stop();
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(10), worker)
            .await
            .expect("workers stop")
            .unwrap();
    }
}

/// A monorepo mirrored for the server: the fetch answers the configured services' path
/// questions, so the engine counts only each service's own changes, as `analyze --path` does;
/// a second fetch asks only about new commits.
#[test]
fn a_mirrored_monorepo_gives_each_service_its_own_changes() {
    use loopwise_core::entities::{Deployment, DeploymentKind, DeploymentStatus};
    use loopwise_core::time::Window;
    use loopwise_engine::{Engine, Organisation, ReportQuery, ServiceSettings};
    let scratch = tempfile::tempdir().unwrap();
    let origin = Repo::init(scratch.path().join("origin"));
    let commit_in = |dir: &str, subject: &str, time: i64| {
        std::fs::create_dir_all(origin.path.join(dir)).unwrap();
        std::fs::write(
            origin.path.join(dir).join(format!("{subject}.txt")),
            subject,
        )
        .unwrap();
        origin.git(&["add", "."], time);
        origin.git(&["commit", "-q", "-m", subject], time);
        origin.git(&["rev-parse", "HEAD"], time)
    };
    let first = commit_in("services/api", "api-1", T0);
    commit_in("services/web", "web-1", T0 + 3_600);
    commit_in("services/api", "api-2", T0 + 2 * 3_600);
    let shipped = commit_in("services/web", "web-2", T0 + 3 * 3_600);
    let store = SqliteStore::open(&scratch.path().join("lw.db")).unwrap();
    let mirror = Mirror::new(&scratch.path().join("mirrors"), "acme/mono", origin.url()).unwrap();
    let paths = vec![vec!["services/api".to_string()]];
    sync_repository_with_paths(&store, &mirror, &paths, TIMEOUT, &no_cancel()).unwrap();
    let id = store.find_repository("acme/mono").unwrap().unwrap();
    let touches = store.path_touches(id, "services/api").unwrap();
    assert_eq!(touches.len(), 4, "one answer per commit");
    assert_eq!(touches.values().filter(|touched| **touched).count(), 2);

    let deployment = |id: &str, sha: &str, time: i64| Deployment {
        source: Source::Api,
        id: id.into(),
        service: "api".into(),
        environment: "production".into(),
        sha: sha.into(),
        started_at: None,
        finished_at: Some(time),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    };
    store
        .apply_events(&[
            Event::Deployment(deployment("d1", &first, T0 + 600)),
            Event::Deployment(deployment("d2", &shipped, T0 + 5 * 3_600)),
        ])
        .unwrap();
    let organisation = Organisation {
        services: [(
            "api".to_string(),
            ServiceSettings {
                repository: Some("acme/mono".into()),
                paths: vec!["services/api".into()],
                ..ServiceSettings::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Organisation::default()
    };
    let engine = Engine::new(organisation);
    let report = engine
        .report(
            &store,
            &ReportQuery::organisation(Window::new(T0, T0 + 86_400).unwrap()),
        )
        .unwrap();
    let api = &report.services[0];
    // d2 ships api-2 (5 h − 2 h = 3 h) but not web-1 or web-2: they are another service's.
    assert_eq!(api.lead_time.changes, 1);
    assert_eq!(api.lead_time.baseline_changes, 1, "api-1, with d1");
    assert_eq!(api.lead_time.median_seconds, Some(3.0 * 3_600.0));
    assert_eq!(api.provenance["paths"], "services/api");

    // New commits: only they are asked about.
    commit_in("services/api", "api-3", T0 + 6 * 3_600);
    sync_repository_with_paths(&store, &mirror, &paths, TIMEOUT, &no_cancel()).unwrap();
    assert_eq!(store.path_touches(id, "services/api").unwrap().len(), 5);
}
