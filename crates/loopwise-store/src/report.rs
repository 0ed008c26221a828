//! The report over what a store holds: the deployments of each (service, environment), the
//! commit graph of the service's repository and the service's incidents, handed to the core.
//! This module only gathers; the core decides every number.

use crate::{DeploymentFilter, RepositoryId, Store, StoreError, versions};
use loopwise_core::benchmark::Benchmark;
use loopwise_core::entities::{Deployment, ProductionEnvironments, Tag};
use loopwise_core::events::Incident;
use loopwise_core::graph::CommitGraph;
use loopwise_core::metrics::{ChainAnalysis, ChainInput, analyze_chain, link_incidents};
use loopwise_core::report::{ChainLabels, REPORT_SCHEMA, Report, service_report};
use loopwise_core::rollup::{
    ChainName, GroupBy, Leaderboard, LeaderboardBuilder, SeriesBuilder, SeriesMetric, SeriesPoint,
    group_of,
};
use loopwise_core::time::Window;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub service: Option<String>,
    /// When given, only this environment; otherwise every production environment.
    pub environment: Option<String>,
    pub window: Window,
    pub benchmark: &'static Benchmark,
    pub production: ProductionEnvironments,
    pub incident_link_window_seconds: i64,
    /// Service → repository locator, where the name alone does not tell.
    pub repositories: HashMap<String, String>,
    /// Service → team, for the report's `team` field.
    pub teams: HashMap<String, String>,
    /// Team → tribe, for the report's `tribe` field.
    pub tribes: HashMap<String, String>,
    /// When given, only the services of this team.
    pub team: Option<String>,
    /// When given, only the services of this tribe's teams.
    pub tribe: Option<String>,
}

impl ReportQuery {
    /// The team and tribe that own `service`, if the configuration says.
    pub fn owners(&self, service: &str) -> (Option<String>, Option<String>) {
        let team = self.teams.get(service).cloned();
        let tribe = team
            .as_ref()
            .and_then(|team| self.tribes.get(team))
            .cloned();
        (team, tribe)
    }

    fn selects_owners(&self, team: Option<&str>, tribe: Option<&str>) -> bool {
        self.team
            .as_deref()
            .is_none_or(|wanted| team == Some(wanted))
            && self
                .tribe
                .as_deref()
                .is_none_or(|wanted| tribe == Some(wanted))
    }
}

/// The last path segment of a locator, without `.git`: `/srv/api/.git` and `acme/api.git` are `api`.
fn repository_name(locator: &str) -> &str {
    let trimmed = locator.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/.git").unwrap_or(trimmed);
    let last = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    last.strip_suffix(".git").unwrap_or(last)
}

/// The repository whose history a service ships: the configured one, else the one named after
/// the service.
fn repository_of(
    service: &str,
    query: &ReportQuery,
    known: &[(RepositoryId, String)],
) -> Option<RepositoryId> {
    if let Some(locator) = query.repositories.get(service) {
        return known
            .iter()
            .find(|(_, known)| known == locator)
            .map(|(id, _)| *id);
    }
    known
        .iter()
        .find(|(_, locator)| repository_name(locator) == service)
        .map(|(id, _)| *id)
}

/// The repository whose history `service` ships (configured, else named after it), if stored.
pub fn service_repository(
    store: &dyn Store,
    query: &ReportQuery,
    service: &str,
) -> Result<Option<RepositoryId>, StoreError> {
    Ok(repository_of(service, query, &store.repositories()?))
}

/// What a report needs of one repository, built once per write version of it.
#[derive(Debug)]
struct RepositoryFacts {
    graph: CommitGraph,
    tags: Vec<Tag>,
    pushed: usize,
}

/// How long a cached entry is reused at most, even when its write version has not moved: a
/// safety net for a version bump lost between a commit and the bump (a crash at that moment).
pub const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Entry<T> {
    versions: Vec<i64>,
    loaded: Instant,
    value: T,
}

type Shelf<K, T> = Mutex<HashMap<K, Entry<T>>>;

/// The (service, environment) of a chain, and the repository whose history it ships.
type ChainKey = (String, String, Option<RepositoryId>);

/// A service, the asked environment (none: every production one) and the production set.
type SelectionKey = (String, Option<String>, String);

/// A service's selected chains: each environment with the positions of its deployments in the
/// service's cached deployments.
type Selection = Vec<(String, Vec<usize>)>;

/// A service's stored deployments and, worked out from exactly these, its chain selections
/// (kept with them so that positions always refer to this vector).
#[derive(Debug)]
struct ServiceDeployments {
    all: Vec<Deployment>,
    selections: Mutex<HashMap<SelectionKey, Arc<Selection>>>,
}

impl ServiceDeployments {
    /// The chains of `query`: each selected environment with the positions of its deployments.
    fn selection(&self, key: SelectionKey, query: &ReportQuery) -> Arc<Selection> {
        let mut selections = self
            .selections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(selections.entry(key).or_insert_with(|| {
            let mut chains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (position, deployment) in self.all.iter().enumerate() {
                let selected = match &query.environment {
                    Some(environment) => deployment.environment == *environment,
                    None => query.production.is_production(&deployment.environment),
                };
                if selected {
                    chains
                        .entry(deployment.environment.as_str())
                        .or_default()
                        .push(position);
                }
            }
            Arc::new(
                chains
                    .into_iter()
                    .map(|(environment, positions)| (environment.to_string(), positions))
                    .collect(),
            )
        }))
    }
}

/// An analysed chain and the sources of its deployments (for its provenance), worked out once.
#[derive(Debug)]
struct Analysed {
    analysis: ChainAnalysis,
    sources: String,
}

/// What reports gather and work out, kept between reports under the write versions
/// ([`crate::versions`]) of the data it came from: a service's deployments, a repository's
/// commit graph, each chain's analysis. A report re-reads only the scopes written since, so on a
/// large store a report costs the figures of the window, not a reading of every commit.
/// Cached values are shared read-only (`Arc`); concurrent reports may both load a missing entry,
/// never see a half-built one.
#[derive(Debug)]
pub struct ReportCache {
    max_age: Duration,
    deployments: Shelf<String, Arc<ServiceDeployments>>,
    repositories: Shelf<RepositoryId, Arc<RepositoryFacts>>,
    incidents: Shelf<(), Arc<HashMap<String, Vec<Incident>>>>,
    analyses: Shelf<ChainKey, Arc<Analysed>>,
    linked: Shelf<(ChainKey, i64), Arc<ChainAnalysis>>,
}

impl Default for ReportCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_MAX_AGE)
    }
}

impl ReportCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            deployments: Mutex::default(),
            repositories: Mutex::default(),
            incidents: Mutex::default(),
            analyses: Mutex::default(),
            linked: Mutex::default(),
        }
    }

    /// The value under `key` if it was built under `versions` (and is not too old), else what
    /// `load` builds, which is kept.
    fn get<K: Hash + Eq, T: Clone>(
        &self,
        shelf: &Shelf<K, T>,
        key: K,
        versions: Vec<i64>,
        load: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = || {
            shelf
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(entry) = lock().get(&key)
            && entry.versions == versions
            && entry.loaded.elapsed() < self.max_age
        {
            return Ok(entry.value.clone());
        }
        let value = load()?;
        lock().insert(
            key,
            Entry {
                versions,
                loaded: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }
}

/// Analyses every (service, environment) chain the query selects, once each, and hands it to
/// `visit` with its labels and its commit graph. The report, the metric series and the
/// leaderboard are all built from this one pass; `cache` keeps what it can for the next.
pub fn analyze_chains(
    store: &dyn Store,
    query: &ReportQuery,
    cache: &ReportCache,
    mut visit: impl FnMut(ChainLabels, &CommitGraph, &ChainAnalysis),
) -> Result<(), StoreError> {
    // Versions first, data after: what is read is at least as new as these versions.
    let written = store.write_versions()?;
    let services: Vec<String> = match &query.service {
        Some(service) => vec![service.clone()],
        None => versions::services(&written).map(str::to_string).collect(),
    };
    let known = store.repositories()?;
    let incidents_version = versions::version_of(&written, versions::INCIDENTS);
    let empty = Arc::new(RepositoryFacts {
        graph: CommitGraph::default(),
        tags: Vec::new(),
        pushed: 0,
    });
    for service in services {
        let (team, tribe) = query.owners(&service);
        if !query.selects_owners(team.as_deref(), tribe.as_deref()) {
            continue;
        }
        let deployments_version = versions::version_of(&written, &versions::deployments(&service));
        let all = cache.get(
            &cache.deployments,
            service.clone(),
            vec![deployments_version],
            || {
                let filter = DeploymentFilter {
                    service: Some(service.clone()),
                    environment: None,
                    source: None,
                };
                Ok(Arc::new(ServiceDeployments {
                    all: store.deployments(&filter)?,
                    selections: Mutex::default(),
                }))
            },
        )?;
        // Which deployments form which chain, worked out once per version of the service's
        // deployments: a report over cached analyses then costs its chains, not a pass over
        // every deployment.
        let selection_key: SelectionKey = (
            service.clone(),
            query.environment.clone(),
            format!("{:?}", query.production),
        );
        let selection = all.selection(selection_key, query);
        let repository = repository_of(&service, query, &known);
        let locator = repository
            .and_then(|id| known.iter().find(|(known_id, _)| *known_id == id))
            .map(|(_, locator)| locator.as_str());
        let repository_version = locator
            .map(|locator| versions::version_of(&written, &versions::repository(locator)))
            .unwrap_or(0);
        let facts = match repository {
            Some(id) => cache.get(&cache.repositories, id, vec![repository_version], || {
                Ok(Arc::new(RepositoryFacts {
                    graph: CommitGraph::from_changes(&store.changes(id)?),
                    tags: store.tags(id)?,
                    pushed: store.pushed_change_count(id)?,
                }))
            })?,
            None => empty.clone(),
        };
        for (environment, positions) in selection.iter() {
            let key: ChainKey = (service.clone(), environment.clone(), repository);
            let chain_versions = vec![deployments_version, repository_version];
            let analysis =
                cache.get(&cache.analyses, key.clone(), chain_versions.clone(), || {
                    let mut deployments: Vec<Deployment> =
                        positions.iter().map(|&i| all.all[i].clone()).collect();
                    if deployments.iter().any(|d| d.sha.starts_with(TAG_PREFIX)) {
                        resolve_tag_refs(&mut deployments, &facts.tags);
                    }
                    let analysis = analyze_chain(ChainInput {
                        graph: &facts.graph,
                        deployments,
                        relevant: None,
                        hotfix_commits: None,
                    });
                    let sources = deployment_sources(&analysis);
                    Ok(Arc::new(Analysed { analysis, sources }))
                })?;
            let mut linked_versions = chain_versions;
            linked_versions.push(incidents_version);
            let linked = cache.get(
                &cache.linked,
                (key, query.incident_link_window_seconds),
                linked_versions,
                || {
                    let incidents =
                        cache.get(&cache.incidents, (), vec![incidents_version], || {
                            let mut by_service: HashMap<String, Vec<Incident>> = HashMap::new();
                            for incident in store.incidents(None)? {
                                if let Some(service) = &incident.service {
                                    by_service
                                        .entry(service.clone())
                                        .or_default()
                                        .push(incident);
                                }
                            }
                            Ok(Arc::new(by_service))
                        })?;
                    let mut linked = ChainAnalysis::clone(&analysis.analysis);
                    link_incidents(
                        &mut linked,
                        &facts.graph,
                        incidents.get(&service).map_or(&[], Vec::as_slice),
                        query.incident_link_window_seconds,
                    );
                    Ok(Arc::new(linked))
                },
            )?;
            let labels = ChainLabels {
                team: team.clone(),
                tribe: tribe.clone(),
                service: service.clone(),
                environment: environment.to_string(),
                provenance: provenance(&analysis.sources, locator, facts.graph.len(), facts.pushed),
            };
            visit(labels, &facts.graph, &linked);
        }
    }
    Ok(())
}

/// The sources of a chain's deployments, sorted, without repeats: `api, github`.
fn deployment_sources(analysis: &ChainAnalysis) -> String {
    let mut sources: Vec<&str> = analysis
        .deployments
        .iter()
        .map(|f| f.deployment.source.as_str())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    sources.join(", ")
}

/// Where a chain's figures came from, for the report's `provenance`.
fn provenance(
    sources: &str,
    locator: Option<&str>,
    commits: usize,
    pushed: usize,
) -> BTreeMap<String, String> {
    let mut provenance = BTreeMap::new();
    provenance.insert("deployments".to_string(), format!("stored ({sources})"));
    let changes = match locator {
        Some(locator) => changes_provenance(locator, commits, pushed),
        None => changes_provenance("", 0, 0),
    };
    provenance.insert("changes".to_string(), changes);
    provenance.insert(
        "failures".to_string(),
        "status, rollback, revert, hotfix and incident links".to_string(),
    );
    provenance.insert(
        "incident_links".to_string(),
        "explicit, else latest deployment before".to_string(),
    );
    provenance
}

/// Builds the report of every matching (service, environment) chain the store holds.
pub fn build_report(
    store: &dyn Store,
    query: &ReportQuery,
    cache: &ReportCache,
) -> Result<Report, StoreError> {
    let mut services = Vec::new();
    analyze_chains(store, query, cache, |labels, graph, analysis| {
        services.push(service_report(
            labels,
            graph,
            analysis,
            query.window,
            query.benchmark,
        ));
    })?;
    Ok(Report {
        schema: REPORT_SCHEMA,
        window: query.window.into(),
        benchmark: query.benchmark.name.to_string(),
        services,
    })
}

const TAG_PREFIX: &str = "refs/tags/";

/// Deployments that name a tag instead of a commit (`refs/tags/v1.2`: a GitHub release whose
/// target is a branch) get the tag's commit from the repository's stored tags, which a mirror
/// keeps up to date. An unknown tag stays as it is and ships nothing.
fn resolve_tag_refs(deployments: &mut [Deployment], tags: &[Tag]) {
    for deployment in deployments {
        if let Some(name) = deployment.sha.strip_prefix(TAG_PREFIX)
            && let Some(tag) = tags.iter().find(|tag| tag.name == name)
        {
            deployment.sha = tag.commit.clone();
        }
    }
}

/// Where a chain's commit graph came from: git history (a mirror or `analyze`: exact parents),
/// push payloads only (parents known only within each push), or both while a fetch is pending.
fn changes_provenance(locator: &str, commits: usize, pushed: usize) -> String {
    let git = commits.saturating_sub(pushed);
    match (git, pushed) {
        (0, 0) => "none: no stored history for this service, so no lead times".to_string(),
        (_, 0) => format!("git history of {locator} (exact commit graph)"),
        (0, _) => format!(
            "push payload commit chains of {locator} (approximate: parents known only within \
             each push; configure a clone URL to mirror the repository for the exact graph)"
        ),
        (_, _) => format!(
            "git history of {locator} (exact commit graph), plus {pushed} commits known only \
             from push payloads (approximate parents) until the mirror fetches them"
        ),
    }
}

/// The points of `metric` over the matching chains, pooled, one per bucket of `series` (built
/// by the caller for the query's window, so a window with too many buckets is refused before
/// any work).
pub fn build_series(
    store: &dyn Store,
    query: &ReportQuery,
    cache: &ReportCache,
    mut series: SeriesBuilder,
    metric: SeriesMetric,
) -> Result<Vec<SeriesPoint>, StoreError> {
    analyze_chains(store, query, cache, |_, graph, analysis| {
        series.add_chain(graph, analysis)
    })?;
    Ok(series.into_points(metric, query.benchmark))
}

/// The leaderboard of the matching chains grouped by `group_by`; chains without an owner go to
/// the `unassigned` group.
pub fn build_leaderboard(
    store: &dyn Store,
    query: &ReportQuery,
    cache: &ReportCache,
    group_by: GroupBy,
) -> Result<Leaderboard, StoreError> {
    let mut board = LeaderboardBuilder::new(query.window, group_by);
    analyze_chains(store, query, cache, |labels, graph, analysis| {
        let chain = ChainName {
            service: labels.service.clone(),
            environment: labels.environment.clone(),
        };
        board.add_chain(group_of(group_by, &labels), chain, graph, analysis);
    })?;
    Ok(board.finish(query.benchmark))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_refs_resolve_to_the_tags_commit() {
        let deployment = |sha: &str| Deployment {
            source: loopwise_core::entities::Source::Github,
            id: "release:1".into(),
            service: "api".into(),
            environment: "production".into(),
            sha: sha.into(),
            started_at: None,
            finished_at: Some(10),
            status: loopwise_core::entities::DeploymentStatus::Success,
            kind: loopwise_core::entities::DeploymentKind::Normal,
        };
        let tags = [Tag {
            name: "v1.2".into(),
            commit: "c".repeat(40),
            time: 5,
            annotated: true,
        }];
        let mut deployments = vec![
            deployment("refs/tags/v1.2"),
            deployment("refs/tags/v9"),
            deployment(&"a".repeat(40)),
        ];
        resolve_tag_refs(&mut deployments, &tags);
        let shas: Vec<&str> = deployments.iter().map(|d| d.sha.as_str()).collect();
        assert_eq!(
            shas,
            vec!["c".repeat(40), "refs/tags/v9".to_string(), "a".repeat(40)]
        );
    }

    #[test]
    fn changes_provenance_tells_git_from_push_chains() {
        assert!(changes_provenance("acme/api", 5, 0).starts_with("git history of acme/api"));
        assert!(changes_provenance("acme/api", 5, 5).starts_with("push payload commit chains"));
        let mixed = changes_provenance("acme/api", 5, 2);
        assert!(
            mixed.starts_with("git history") && mixed.contains("plus 2 commits"),
            "{mixed}"
        );
        assert!(changes_provenance("", 0, 0).starts_with("none"));
    }

    #[test]
    fn repository_names_from_locators() {
        assert_eq!(repository_name("/srv/git/api/.git"), "api");
        assert_eq!(repository_name("/srv/git/api.git"), "api");
        assert_eq!(repository_name("acme/api"), "api");
        assert_eq!(repository_name("api"), "api");
    }
}
