//! `loopwise analyze`: import a repository's history and its deployments into the store, then
//! ask the report engine, as `loopwise report` and the server do, for the service's report. So
//! the figures include whatever else the database holds for the service (incidents, deploy
//! events), and a flag means what the same `[services.NAME]` setting means everywhere.
//!
//! Order matters for "nothing half-written": every input is read and validated first (flags,
//! repository, deploy log), then the store is written (history in one transaction, deployments
//! in another), then the engine reads the store.

use crate::cli::AnalyzeArgs;
use crate::config;
use crate::errors::{bad_input, regex_error_line};
use crate::{output, progress, store};
use anyhow::Context;
use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::graph::CommitGraph;
use loopwise_core::rules::{
    TagGlob, first_parent_deployments, is_release_like, logged_deployments, path_relevance,
    tag_deployments,
};
use loopwise_engine::{Engine, QueryText, ServiceSettings};
use loopwise_ingest::deploy_log::read_deploy_log;
use loopwise_ingest::git::GitRepository;
use loopwise_store::{DeploymentScope, GitImportMessage, PathTouch, Store};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

const DEFAULT_ENVIRONMENT: &str = loopwise_engine::DEFAULT_ENVIRONMENT;

/// Where this run's deployments come from.
enum DeploymentSource {
    Tags(TagGlob),
    Log(std::path::PathBuf),
    FirstParent,
    Automatic,
}

impl DeploymentSource {
    /// Git-derived deployments are recomputed each run and replace the stored ones; a deploy
    /// log's are upserted by id.
    fn is_git_derived(&self) -> bool {
        !matches!(self, DeploymentSource::Log(_))
    }
}

fn glob(flag: &str, pattern: &str) -> anyhow::Result<TagGlob> {
    TagGlob::new(pattern).map_err(|e| bad_input(format!("{flag} {e}")))
}

/// The service's settings: its `[services.NAME]` section, with this run's flags on top.
fn service_settings(
    args: &AnalyzeArgs,
    configured: &ServiceSettings,
    locator: String,
) -> anyhow::Result<ServiceSettings> {
    let mut settings = configured.clone();
    settings.repository = Some(locator);
    if !args.paths.is_empty() {
        settings.paths = config::normalize_paths("--path", &args.paths)?;
    }
    if let Some(pattern) = &args.deploy_tags {
        settings.deploy_tags = Some(glob("--deploy-tags", pattern)?);
    }
    if let Some(pattern) = &args.hotfix_tags {
        settings.hotfix.tags = Some(glob("--hotfix-tags", pattern)?);
    }
    if let Some(pattern) = &args.hotfix_subject {
        settings.hotfix.subject = Some(Regex::new(pattern).map_err(|e| {
            bad_input(format!(
                "--hotfix-subject {pattern:?} is not a valid regular expression: {}",
                regex_error_line(&e)
            ))
        })?);
    }
    Ok(settings)
}

/// `--service` / `--environment` as given: blank is an error, not a default.
fn non_empty(flag: &str, value: &Option<String>) -> anyhow::Result<Option<String>> {
    match value {
        Some(text) if text.trim().is_empty() => Err(bad_input(format!("{flag} is empty"))),
        Some(text) => Ok(Some(text.trim().to_string())),
        None => Ok(None),
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let mut organisation = config::organisation_from(args.config.as_deref())?;
    let service_flag = non_empty("--service", &args.service)?;
    let environment_flag = non_empty("--environment", &args.environment)?;
    // The window and benchmark are checked before the repository is even opened.
    let text = QueryText {
        service: service_flag.clone(),
        environment: environment_flag.clone(),
        since: args.window.since.clone(),
        until: args.window.until.clone(),
        benchmark: args.window.benchmark.clone(),
        ..QueryText::default()
    };
    let checked = loopwise_engine::ReportQuery::parse(&text, now, &organisation.ownership)
        .map_err(|e| bad_input(format!("--{}: {}", e.field.replace('_', "-"), e.message)))?;
    let repository = GitRepository::open(&args.path)
        .map_err(|e| bad_input(e.to_string()))?
        .with_all_refs(args.all_refs);
    let service = service_flag.unwrap_or_else(|| repository.default_name());
    let settings = service_settings(&args, organisation.service(&service), repository.locator())?;
    let source = if let Some(path) = &args.deploy_log {
        DeploymentSource::Log(path.clone())
    } else if args.deploy_commits {
        DeploymentSource::FirstParent
    } else if let Some(glob) = &settings.deploy_tags {
        DeploymentSource::Tags(glob.clone())
    } else {
        DeploymentSource::Automatic
    };
    let environment = environment_flag.unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());
    let store = store::open(args.db.as_deref())?;
    let (history, graph) = import(
        &settings,
        &source,
        &repository,
        store.as_ref(),
        &service,
        &environment,
    )?;
    organisation.services.insert(service.clone(), settings);
    let engine = Engine::new(organisation);
    // The history is in memory already: the report need not read it back.
    engine
        .prime_repository(
            store.as_ref(),
            &repository.locator(),
            graph,
            history.changes(),
            history.tags.clone(),
        )
        .map_err(crate::report::engine_error)?;
    let query = loopwise_engine::ReportQuery {
        service: Some(service),
        ..checked
    };
    let mut report = engine
        .report(store.as_ref(), &query)
        .map_err(crate::report::engine_error)?;
    // What the walk could not read is known to this run only: git shows such history, so it
    // is skipped and said, never a failure.
    for service in &mut report.services {
        service.notes.extend(history.unreadable.iter().cloned());
    }
    output::print(&report, args.format)
}

/// The repository's history: what the store had plus what this run's walk found.
struct History {
    stored: Vec<Change>,
    /// New commits in the batches the walk produced; shared with the writer thread.
    batches: Vec<Arc<Vec<Change>>>,
    tags: Vec<Tag>,
    head: Option<String>,
    /// What this walk could not read as it is, for the report's notes.
    unreadable: Vec<String>,
}

impl History {
    fn changes(&self) -> impl Iterator<Item = &Change> + Clone {
        self.stored
            .iter()
            .chain(self.batches.iter().flat_map(|batch| batch.iter()))
    }
}

/// What the run will write once every input has been validated.
struct Prepared {
    history: History,
    graph: CommitGraph,
    new_touches: Vec<PathTouch>,
    deployments: Vec<Deployment>,
}

/// Imports the repository's new history, its path answers and its derived deployments.
fn import(
    settings: &ServiceSettings,
    source: &DeploymentSource,
    repository: &GitRepository,
    store: &dyn Store,
    service: &str,
    environment: &str,
) -> anyhow::Result<(History, CommitGraph)> {
    // Reads only: a run that fails validation must not even register the repository.
    let locator = repository.locator();
    let repository_id = store.find_repository(&locator)?;
    let stored = match repository_id {
        Some(id) => store.changes(id).context("reading the stored history")?,
        None => Vec::new(),
    };
    let paths_key = settings.paths_key();
    let cached_touches = match (repository_id, &paths_key) {
        (Some(id), Some(key)) => store.path_touches(id, key)?,
        _ => HashMap::new(),
    };

    // The store writes new commits on its own thread while the walk reads more: on two cores
    // a first import costs about the walk alone. The transaction commits only once every input
    // is validated; on any error the sender is dropped and the writer rolls back.
    let (prepared, counts) = std::thread::scope(|scope| -> anyhow::Result<_> {
        // A few batches of slack: the walk never waits on a momentarily slower writer.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<GitImportMessage>(8);
        let locator = &locator;
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn_scoped(scope, move || {
                store.import_git_stream(locator, &mut receiver.into_iter())
            })
            .context("starting the store's writer thread")?;
        let prepared = prepare(
            settings,
            source,
            repository,
            stored,
            &cached_touches,
            paths_key.as_deref(),
            service,
            environment,
            &sender,
        );
        let prepared = match prepared {
            Ok(prepared) => {
                let commit = GitImportMessage::Commit {
                    tags: prepared.history.tags.clone(),
                    path_touches: prepared.new_touches.clone(),
                };
                // A failed send means the writer already stopped; its join says why.
                let _ = sender.send(commit);
                prepared
            }
            Err(error) => {
                drop(sender);
                let _ = writer.join();
                return Err(error);
            }
        };
        drop(sender);
        let counts = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the store's writer thread panicked"))?
            .context("storing the imported history")?
            .context("the history import was not committed")?;
        Ok((prepared, counts))
    })?;
    tracing::info!(inserted = counts.inserted, "stored history");
    let scope = source.is_git_derived().then(|| DeploymentScope {
        source: Source::Git,
        service: service.to_string(),
    });
    store
        .upsert_deployments(&prepared.deployments, scope.as_ref())
        .context("storing the deployments")?;
    Ok((prepared.history, prepared.graph))
}

/// Reads and validates every input: walks the repository (sending new commits to the store's
/// writer), builds the graph, answers path questions and derives the deployments.
#[allow(clippy::too_many_arguments)]
fn prepare(
    settings: &ServiceSettings,
    source: &DeploymentSource,
    repository: &GitRepository,
    stored: Vec<Change>,
    cached_touches: &HashMap<String, bool>,
    paths_key: Option<&str>,
    service: &str,
    environment: &str,
    sender: &SyncSender<GitImportMessage>,
) -> anyhow::Result<Prepared> {
    let known: HashSet<String> = stored.iter().map(|change| change.sha.clone()).collect();
    let started = std::time::Instant::now();
    let bar = progress::counter("reading commits");
    let mut batches = Vec::new();
    let mut read = 0u64;
    let walk = repository.walk(&known, &mut |batch| {
        read += batch.len() as u64;
        bar.set_position(read);
        let batch = Arc::new(batch);
        batches.push(Arc::clone(&batch));
        // If the writer stopped, the error surfaces when it is joined.
        let _ = sender.send(GitImportMessage::Changes(batch));
    })?;
    bar.finish_and_clear();
    tracing::info!(
        stored = stored.len(),
        new = walk.new_changes,
        tags = walk.tags.len(),
        elapsed = ?started.elapsed(),
        "walked history"
    );
    let mut unreadable = Vec::new();
    for (one, many, found) in [
        (
            "commit with an unreadable date was stored with the date git could read (an unreadable author date gives no lead time)",
            "commits with an unreadable date were stored with the date git could read (an unreadable author date gives no lead time)",
            &walk.unparseable_dates,
        ),
        (
            "commit could not be read at all and was skipped",
            "commits could not be read at all and were skipped",
            &walk.skipped_commits,
        ),
        (
            "tag without any readable date was left out",
            "tags without any readable date were left out",
            &walk.skipped_tags,
        ),
    ] {
        if !found.is_empty() {
            unreadable.push(format!(
                "{} (first: {})",
                loopwise_core::report::agreeing(found.count, one, many),
                found.first.join(", ")
            ));
        }
    }
    let history = History {
        stored,
        batches,
        tags: walk.tags,
        head: walk.head,
        unreadable,
    };

    let started = std::time::Instant::now();
    let graph = CommitGraph::from_changes(history.changes());
    tracing::info!(commits = graph.len(), elapsed = ?started.elapsed(), "built commit graph");

    // Monorepo paths: answers cached in the store per path set; only new commits are asked.
    let (relevant, new_touches) = match paths_key {
        None => (None, Vec::new()),
        Some(key) => {
            let (flags, touches) = path_answers(
                &settings.paths,
                repository,
                &history,
                &graph,
                cached_touches,
                key,
            )?;
            (Some(flags), touches)
        }
    };
    if let Some(flags) = &relevant
        && !flags.contains(&true)
    {
        for path in &settings.paths {
            tracing::warn!(
                "--path {path}: no commit of the history changes anything under it, so the \
                 service has no changes; check the spelling (paths are relative to the \
                 repository's root)"
            );
        }
    }
    let deployments = derive_deployments(
        settings,
        source,
        &history,
        &graph,
        relevant.as_deref(),
        service,
        environment,
    )?;
    Ok(Prepared {
        history,
        graph,
        new_touches,
        deployments,
    })
}

/// Per commit of the graph: does its change (a merge's: against its first parent) touch the
/// service's paths? Returns the new answers to store.
fn path_answers(
    paths: &[String],
    repository: &GitRepository,
    history: &History,
    graph: &CommitGraph,
    cached: &HashMap<String, bool>,
    paths_key: &str,
) -> anyhow::Result<(Vec<bool>, Vec<PathTouch>)> {
    let mut missing = Vec::new();
    for change in history.changes() {
        if !cached.contains_key(&change.sha) {
            missing.push((change.sha.clone(), change.parents.first().cloned()));
        }
    }
    let bar = progress::bar("checking paths", missing.len() as u64);
    let answers =
        repository.touches_paths(&missing, paths, &mut |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let mut all = cached.clone();
    let mut touches = Vec::with_capacity(missing.len());
    for ((sha, _), touched) in missing.into_iter().zip(answers) {
        all.insert(sha.clone(), touched);
        touches.push(PathTouch {
            paths_key: paths_key.to_string(),
            sha,
            touched,
        });
    }
    Ok((path_relevance(graph, &all), touches))
}

/// The deployments of this run, by the rules of the core.
fn derive_deployments(
    settings: &ServiceSettings,
    source: &DeploymentSource,
    history: &History,
    graph: &CommitGraph,
    relevant: Option<&[bool]>,
    service: &str,
    environment: &str,
) -> anyhow::Result<Vec<Deployment>> {
    let hotfix = settings.hotfix.tags.as_ref();
    let first_parent = || -> anyhow::Result<Vec<Deployment>> {
        let head = history
            .head
            .as_deref()
            .ok_or_else(|| bad_input("the repository has no HEAD commit to follow"))?;
        let tip = graph
            .index_of(head)
            .context("HEAD is not in the imported history")?;
        Ok(first_parent_deployments(
            graph,
            tip,
            relevant,
            service,
            environment,
        ))
    };
    match source {
        DeploymentSource::Tags(glob) => {
            let deployments = tag_deployments(
                &history.tags,
                &|name| glob.is_match(name),
                hotfix,
                service,
                environment,
            );
            if deployments.is_empty() {
                let examples: Vec<&str> = history
                    .tags
                    .iter()
                    .rev()
                    .take(5)
                    .map(|t| t.name.as_str())
                    .collect();
                let known = if examples.is_empty() {
                    "the repository has no tags".to_string()
                } else {
                    format!(
                        "the repository's {} tags include {}",
                        history.tags.len(),
                        examples.join(", ")
                    )
                };
                return Err(bad_input(format!(
                    "--deploy-tags {:?} matches no tag; {known}",
                    glob.as_str()
                )));
            }
            Ok(deployments)
        }
        DeploymentSource::Log(path) => {
            let records = read_deploy_log(path).map_err(|e| bad_input(e.to_string()))?;
            logged_deployments(records, graph, service, environment).map_err(|e| {
                bad_input(format!(
                    "{}:{}: field `sha`: {}",
                    path.display(),
                    e.line,
                    e.error
                ))
            })
        }
        DeploymentSource::FirstParent => first_parent(),
        DeploymentSource::Automatic => {
            let deployments = tag_deployments(
                &history.tags,
                &is_release_like,
                hotfix,
                service,
                environment,
            );
            if deployments.is_empty() {
                first_parent()
            } else {
                Ok(deployments)
            }
        }
    }
}
