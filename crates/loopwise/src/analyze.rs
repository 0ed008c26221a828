//! `loopwise analyze`: import a repository's history into the store, derive its deployments,
//! and print the report.
//!
//! Order matters for "nothing half-written": every input is read and validated first (flags,
//! repository, deploy log), then the store is written (history in one transaction, deployments
//! in another), then the report is computed from the same in-memory history.

use crate::cli::AnalyzeArgs;
use crate::errors::bad_input;
use crate::{output, progress, store};
use anyhow::Context;
use globset::{Glob, GlobMatcher};
use loopwise_core::benchmark::Benchmark;
use loopwise_core::entities::{
    Change, Deployment, DeploymentKind, DeploymentStatus, ProductionEnvironments, Source, Tag,
};
use loopwise_core::graph::CommitGraph;
use loopwise_core::metrics::{ChainInput, analyze_chain};
use loopwise_core::report::{ChainLabels, REPORT_SCHEMA, Report, service_report};
use loopwise_core::time::{Window, parse_instant};
use loopwise_ingest::deploy_log::read_deploy_log;
use loopwise_ingest::git::{GitRepository, normalize_repository_path};
use loopwise_store::{DeploymentScope, GitImportMessage, PathTouch, Store};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

const DEFAULT_ENVIRONMENT: &str = "production";

/// The analysis settings after validation: everything the run needs, nothing unchecked.
struct Settings {
    window: Window,
    benchmark: &'static Benchmark,
    deployment_source: DeploymentSource,
    service: Option<String>,
    environment: Option<String>,
    paths: Vec<String>,
    hotfix_tags: Option<(String, GlobMatcher)>,
    hotfix_subject: Option<Regex>,
}

enum DeploymentSource {
    Tags {
        pattern: String,
        matcher: GlobMatcher,
    },
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

fn glob(flag: &str, pattern: &str) -> anyhow::Result<GlobMatcher> {
    Glob::new(pattern)
        .map(|glob| glob.compile_matcher())
        .map_err(|e| bad_input(format!("{flag} {pattern:?} is not a valid glob: {e}")))
}

/// A regex error on one line: syntax errors draw the pattern with a caret over several lines,
/// and their last line says what is wrong.
fn regex_error_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn instant(flag: &str, text: &str) -> anyhow::Result<i64> {
    parse_instant(text).map_err(|e| bad_input(format!("{flag}: {e}")))
}

impl Settings {
    fn from_args(args: &AnalyzeArgs, now: i64) -> anyhow::Result<Self> {
        let until = args
            .until
            .as_deref()
            .map(|t| instant("--until", t))
            .transpose()?
            .unwrap_or(now);
        let since = match args.since.as_deref() {
            Some(text) => instant("--since", text)?,
            None => Window::last_90_days(until).since,
        };
        let window = Window::new(since, until).map_err(|e| bad_input(e.to_string()))?;
        let benchmark = Benchmark::by_name(&args.benchmark).ok_or_else(|| {
            bad_input(format!(
                "--benchmark {:?} is not known; choose one of: {}",
                args.benchmark,
                Benchmark::names().join(", ")
            ))
        })?;
        let deployment_source = if let Some(pattern) = &args.deploy_tags {
            DeploymentSource::Tags {
                pattern: pattern.clone(),
                matcher: glob("--deploy-tags", pattern)?,
            }
        } else if let Some(path) = &args.deploy_log {
            DeploymentSource::Log(path.clone())
        } else if args.deploy_commits {
            DeploymentSource::FirstParent
        } else {
            DeploymentSource::Automatic
        };
        let mut paths = Vec::new();
        for path in &args.paths {
            let normalized = normalize_repository_path(path).ok_or_else(|| {
                bad_input(format!(
                    "--path {path:?} must name a directory or file inside the repository"
                ))
            })?;
            paths.push(normalized);
        }
        paths.sort();
        paths.dedup();
        let non_empty = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<String>> {
            match value {
                Some(text) if text.trim().is_empty() => Err(bad_input(format!("{flag} is empty"))),
                Some(text) => Ok(Some(text.trim().to_string())),
                None => Ok(None),
            }
        };
        Ok(Self {
            window,
            benchmark,
            deployment_source,
            service: non_empty("--service", &args.service)?,
            environment: non_empty("--environment", &args.environment)?,
            paths,
            hotfix_tags: args
                .hotfix_tags
                .as_ref()
                .map(|pattern| {
                    Ok::<_, anyhow::Error>((pattern.clone(), glob("--hotfix-tags", pattern)?))
                })
                .transpose()?,
            hotfix_subject: args
                .hotfix_subject
                .as_deref()
                .map(|pattern| {
                    Regex::new(pattern).map_err(|e| {
                        bad_input(format!(
                            "--hotfix-subject {pattern:?} is not a valid regular expression: {}",
                            regex_error_line(&e)
                        ))
                    })
                })
                .transpose()?,
        })
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let settings = Settings::from_args(&args, now)?;
    let repository = GitRepository::open(&args.path).map_err(|e| bad_input(e.to_string()))?;
    let store = store::open(args.db.as_deref())?;
    let report = analyze(&settings, &repository, store.as_ref())?;
    output::print(&report, args.format)
}

/// The repository's history: what the store had plus what this run's walk found.
struct History {
    stored: Vec<Change>,
    /// New commits in the batches the walk produced; shared with the writer thread.
    batches: Vec<Arc<Vec<Change>>>,
    tags: Vec<Tag>,
    head: Option<String>,
}

impl History {
    fn changes(&self) -> impl Iterator<Item = &Change> {
        self.stored
            .iter()
            .chain(self.batches.iter().flat_map(|batch| batch.iter()))
    }
}

/// What the run will write once every input has been validated.
struct Prepared {
    history: History,
    graph: CommitGraph,
    relevant: Option<Vec<bool>>,
    new_touches: Vec<PathTouch>,
    deployments: Vec<Deployment>,
    provenance: BTreeMap<String, String>,
}

fn analyze(
    settings: &Settings,
    repository: &GitRepository,
    store: &dyn Store,
) -> anyhow::Result<Report> {
    // Reads only: a run that fails validation must not even register the repository.
    let locator = repository.locator();
    let repository_id = store.find_repository(&locator)?;
    let stored = match repository_id {
        Some(id) => store.changes(id).context("reading the stored history")?,
        None => Vec::new(),
    };
    let paths_key = settings.paths.join("\n");
    let cached_touches = match repository_id {
        Some(id) if !settings.paths.is_empty() => store.path_touches(id, &paths_key)?,
        _ => HashMap::new(),
    };
    let service = settings
        .service
        .clone()
        .unwrap_or_else(|| repository.default_name());
    let environment = settings
        .environment
        .clone()
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());

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
            repository,
            stored,
            &cached_touches,
            &paths_key,
            &service,
            &environment,
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
    let Prepared {
        graph,
        relevant,
        deployments,
        mut provenance,
        history,
        ..
    } = prepared;

    let scope = settings
        .deployment_source
        .is_git_derived()
        .then(|| DeploymentScope {
            source: Source::Git,
            service: service.clone(),
        });
    store
        .upsert_deployments(&deployments, scope.as_ref())
        .context("storing the deployments")?;

    let hotfix_commits = settings.hotfix_subject.as_ref().map(|pattern| {
        let mut flags = vec![false; graph.len()];
        for change in history.changes() {
            if let Some(index) = graph.index_of(&change.sha) {
                flags[index as usize] = pattern.is_match(&change.subject);
            }
        }
        flags
    });

    // One chain per reported environment.
    let production = ProductionEnvironments::default();
    let mut chains: BTreeMap<String, Vec<Deployment>> = BTreeMap::new();
    for deployment in deployments {
        let reported = match &settings.environment {
            Some(wanted) => deployment.environment == *wanted,
            None => production.is_production(&deployment.environment),
        };
        if reported && deployment.service == service {
            chains
                .entry(deployment.environment.clone())
                .or_default()
                .push(deployment);
        }
    }
    if chains.is_empty() {
        chains.insert(environment.clone(), Vec::new());
    }
    if !settings.paths.is_empty() {
        provenance.insert("paths".to_string(), settings.paths.join(", "));
    }
    provenance.insert(
        "failures".to_string(),
        failure_provenance(
            settings,
            matches!(settings.deployment_source, DeploymentSource::Log(_)),
        ),
    );
    provenance.insert(
        "lead_time_start".to_string(),
        "commit-author-time".to_string(),
    );

    let mut services = Vec::new();
    for (chain_environment, chain) in chains {
        let analysis = analyze_chain(ChainInput {
            graph: &graph,
            deployments: chain,
            relevant: relevant.as_deref(),
            hotfix_commits: hotfix_commits.as_deref(),
        });
        let labels = ChainLabels {
            service: service.clone(),
            environment: chain_environment,
            team: None,
            tribe: None,
            provenance: provenance.clone(),
        };
        services.push(service_report(
            labels,
            &graph,
            &analysis,
            settings.window,
            settings.benchmark,
        ));
    }
    Ok(Report {
        schema: REPORT_SCHEMA,
        window: settings.window.into(),
        benchmark: settings.benchmark.name.to_string(),
        services,
    })
}

/// Reads and validates every input: walks the repository (sending new commits to the store's
/// writer), builds the graph, answers path questions and derives the deployments.
#[allow(clippy::too_many_arguments)]
fn prepare(
    settings: &Settings,
    repository: &GitRepository,
    stored: Vec<Change>,
    cached_touches: &HashMap<String, bool>,
    paths_key: &str,
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
    let history = History {
        stored,
        batches,
        tags: walk.tags,
        head: walk.head,
    };

    let started = std::time::Instant::now();
    let graph = CommitGraph::from_changes(history.changes());
    tracing::info!(commits = graph.len(), elapsed = ?started.elapsed(), "built commit graph");

    // Monorepo paths: answers cached in the store per path set; only new commits are asked.
    let (relevant, new_touches) = if settings.paths.is_empty() {
        (None, Vec::new())
    } else {
        let (flags, touches) = path_relevance(
            settings,
            repository,
            &history,
            &graph,
            cached_touches,
            paths_key,
        )?;
        (Some(flags), touches)
    };
    let (deployments, provenance) =
        derive_deployments(settings, &history, &graph, service, environment)?;
    Ok(Prepared {
        history,
        graph,
        relevant,
        new_touches,
        deployments,
        provenance,
    })
}

fn failure_provenance(settings: &Settings, from_log: bool) -> String {
    let mut parts = Vec::new();
    if from_log {
        parts.push("deploy-log-status-and-kind");
    }
    parts.push("inferred-from-reverts");
    if settings.hotfix_tags.is_some() || settings.hotfix_subject.is_some() {
        parts.push("inferred-from-hotfixes");
    }
    parts.join(", ")
}

/// Per commit of the graph: does it touch the service's paths? Returns the new answers to cache.
fn path_relevance(
    settings: &Settings,
    repository: &GitRepository,
    history: &History,
    graph: &CommitGraph,
    cached: &HashMap<String, bool>,
    paths_key: &str,
) -> anyhow::Result<(Vec<bool>, Vec<PathTouch>)> {
    let mut flags = vec![false; graph.len()];
    let mut missing = Vec::new();
    for change in history.changes().filter(|change| !change.is_merge()) {
        let Some(index) = graph.index_of(&change.sha) else {
            continue;
        };
        match cached.get(&change.sha) {
            Some(&touched) => flags[index as usize] = touched,
            None => missing.push((change.sha.clone(), change.parents.first().cloned())),
        }
    }
    let bar = progress::counter("checking paths");
    let answers = repository.touches_paths(&missing, &settings.paths, &mut |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let mut touches = Vec::with_capacity(missing.len());
    for ((sha, _), touched) in missing.into_iter().zip(answers) {
        if let Some(index) = graph.index_of(&sha) {
            flags[index as usize] = touched;
        }
        touches.push(PathTouch {
            paths_key: paths_key.to_string(),
            sha,
            touched,
        });
    }
    Ok((flags, touches))
}

/// Does a tag name look like a release (`v1.2`, `1.2.3`, `release-2.0`, `api/v3.1.0`)?
fn is_release_like(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    let version =
        last.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_');
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().take_while(|b| b.is_ascii_digit()).count() > 0
}

fn git_deployment(
    service: &str,
    environment: &str,
    id: String,
    sha: &str,
    time: i64,
    kind: DeploymentKind,
) -> Deployment {
    Deployment {
        source: Source::Git,
        id: format!("{service}:{environment}:{id}"),
        service: service.to_string(),
        environment: environment.to_string(),
        sha: sha.to_string(),
        started_at: None,
        finished_at: Some(time),
        status: DeploymentStatus::Success,
        kind,
    }
}

fn derive_deployments(
    settings: &Settings,
    history: &History,
    graph: &CommitGraph,
    service: &str,
    environment: &str,
) -> anyhow::Result<(Vec<Deployment>, BTreeMap<String, String>)> {
    let mut provenance = BTreeMap::new();
    let hotfix_tag = |name: &str| {
        settings
            .hotfix_tags
            .as_ref()
            .is_some_and(|(_, m)| m.is_match(name))
    };
    let from_tags = |matches: &dyn Fn(&str) -> bool| -> Vec<Deployment> {
        history
            .tags
            .iter()
            .filter(|tag| matches(&tag.name) || hotfix_tag(&tag.name))
            .map(|tag| {
                let kind = if hotfix_tag(&tag.name) {
                    DeploymentKind::Hotfix
                } else {
                    DeploymentKind::Normal
                };
                git_deployment(
                    service,
                    environment,
                    format!("tag:{}", tag.name),
                    &tag.commit,
                    tag.time,
                    kind,
                )
            })
            .collect()
    };
    let first_parent = || -> anyhow::Result<Vec<Deployment>> {
        let head = history
            .head
            .as_deref()
            .ok_or_else(|| bad_input("the repository has no HEAD commit to follow"))?;
        let tip = graph
            .index_of(head)
            .context("HEAD is not in the imported history")?;
        Ok(graph
            .first_parent_chain(tip)
            .into_iter()
            .map(|commit| {
                let sha = graph.sha(commit);
                git_deployment(
                    service,
                    environment,
                    format!("commit:{sha}"),
                    sha,
                    graph.committer_time(commit),
                    DeploymentKind::Normal,
                )
            })
            .collect())
    };
    let deployments = match &settings.deployment_source {
        DeploymentSource::Tags { pattern, matcher } => {
            let deployments = from_tags(&|name| matcher.is_match(name));
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
                    "--deploy-tags {pattern:?} matches no tag; {known}"
                )));
            }
            provenance.insert("deployments".into(), "git-tags".into());
            provenance.insert(
                "deployment_rule".into(),
                format!("tags matching {pattern:?}"),
            );
            deployments
        }
        DeploymentSource::Log(path) => {
            let records = read_deploy_log(path).map_err(|e| bad_input(e.to_string()))?;
            let mut deployments = Vec::with_capacity(records.len());
            for record in records {
                if record.service.as_deref().is_some_and(|s| s != service) {
                    continue;
                }
                let commit = graph.resolve(&record.sha).map_err(|e| {
                    bad_input(format!(
                        "{}:{}: field `sha`: {e}",
                        path.display(),
                        record.line
                    ))
                })?;
                let sha = graph.sha(commit).to_string();
                let record_environment = record
                    .environment
                    .unwrap_or_else(|| environment.to_string());
                let id = record.id.unwrap_or_else(|| {
                    format!("{service}:{record_environment}:{sha}:{}", record.time)
                });
                deployments.push(Deployment {
                    source: Source::Import,
                    id,
                    service: service.to_string(),
                    environment: record_environment,
                    sha,
                    started_at: record.started_at,
                    finished_at: Some(record.time),
                    status: record.status,
                    kind: record.kind,
                });
            }
            provenance.insert("deployments".into(), "deploy-log".into());
            provenance.insert(
                "deployment_rule".into(),
                format!("lines of {}", path.display()),
            );
            deployments
        }
        DeploymentSource::FirstParent => {
            provenance.insert("deployments".into(), "git-first-parent".into());
            provenance.insert(
                "deployment_rule".into(),
                "every first-parent commit of HEAD".into(),
            );
            first_parent()?
        }
        DeploymentSource::Automatic => {
            let deployments = from_tags(&is_release_like);
            if deployments.is_empty() {
                provenance.insert("deployments".into(), "git-first-parent".into());
                provenance.insert(
                    "deployment_rule".into(),
                    "automatic: no release-like tags, so every first-parent commit of HEAD".into(),
                );
                first_parent()?
            } else {
                provenance.insert("deployments".into(), "git-tags".into());
                provenance.insert(
                    "deployment_rule".into(),
                    "automatic: release-like tags (v1.2, 1.2.3, …)".into(),
                );
                deployments
            }
        }
    };
    Ok((deployments, provenance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_errors_fit_on_one_line() {
        // Built at run time, or clippy rejects the deliberately broken pattern.
        let unclosed = String::from("(");
        let error = Regex::new(&unclosed).unwrap_err();
        assert_eq!(regex_error_line(&error), "unclosed group");
        let error = Regex::new("a{99999999}").unwrap_err();
        assert!(!regex_error_line(&error).contains('\n'));
    }

    #[test]
    fn release_like_tags() {
        for name in [
            "v1.2",
            "1.2.3",
            "release-2.0",
            "api/v3.1.0",
            "v10.0.0-rc.1",
            "V2.1",
        ] {
            assert!(is_release_like(name), "{name}");
        }
        for name in [
            "nightly",
            "v1",
            "latest",
            "build-123",
            "v.1",
            "deploy/prod",
            "",
        ] {
            assert!(!is_release_like(name), "{name}");
        }
    }
}
