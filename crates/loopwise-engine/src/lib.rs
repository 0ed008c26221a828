//! The report engine of loopwise: the one pipeline from a store to every figure the product
//! shows. `loopwise analyze`, `loopwise report`, the API and the dashboard all ask an
//! [`Engine`]; none computes a metric its own way.
//!
//! A query is parsed once ([`query`]); the engine selects the (service, environment) chains
//! it asks for, with ownership from the [`settings`], gathers each chain's deployments, its
//! repository's commit graph, its path and hotfix flags and its service's incidents, hands them
//! to the core (which decides every number) and keeps what it derived in its cache until a
//! write moves the versions of the data it came from.

mod cache;
mod keeper;
mod persist;
pub mod query;
pub mod settings;

use cache::{Budget, Shelf};
use keeper::{Keeper, Kept};
use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::Incident;
use loopwise_core::graph::CommitGraph;
use loopwise_core::metrics::{
    ChainAnalysis, ChainCommits, ChainInput, analyze_chain, link_incidents, needs_commits,
};
use loopwise_core::report::{ChainLabels, REPORT_SCHEMA, Report, service_report};
use loopwise_core::rollup::{
    ChainName, GroupBy, Leaderboard, LeaderboardBuilder, SeriesBuilder, SeriesMetric, SeriesPoint,
    group_of,
};
use loopwise_core::rules::{git_deployment_rule, path_relevance};
use loopwise_store::{DeploymentFilter, RepositoryId, Store, StoreError, versions};
pub use query::{QueryError, QueryText, ReportQuery};
pub use settings::{Organisation, Ownership, ServiceSettings};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many commits the commit graphs kept in memory may hold together (about 230 bytes
/// each): past it, the graph used longest ago is let go and read again when a chain of its
/// repository is next derived. Reports never need it: they read the analyses.
pub const GRAPH_COMMITS_KEPT: usize = 2_000_000;

/// How many shipped changes (about 80 bytes each) the lists kept in memory for the pages may
/// hold together; past it, the list used longest ago is let go and read again from the store.
pub const SHIPPED_CHANGES_KEPT: usize = 2_000_000;

/// The environment of a selected service that has no deployments at all yet.
pub const DEFAULT_ENVIRONMENT: &str = "production";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A filter names something the store and the configuration do not know.
    #[error("{field}: {message}")]
    Unknown {
        field: &'static str,
        message: String,
    },
}

/// The last path segment of a locator, without `.git`: `/srv/api/.git` and `acme/api.git` are `api`.
pub fn repository_name(locator: &str) -> &str {
    let trimmed = same_repository(locator);
    let last = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    last.strip_suffix(".git").unwrap_or(last)
}

/// A locator as compared: a work tree and its `.git` directory (`analyze` stores the latter)
/// are the same repository, with or without a trailing slash.
fn same_repository(locator: &str) -> &str {
    let trimmed = locator.trim_end_matches('/');
    trimmed.strip_suffix("/.git").unwrap_or(trimmed)
}

/// What a report needs of one repository, built once per write version of it.
#[derive(Debug)]
struct RepositoryFacts {
    graph: CommitGraph,
    tags: Vec<Tag>,
    pushed: usize,
    /// Per service with a hotfix subject pattern: which commits' subjects match it.
    hotfix_commits: HashMap<String, Vec<bool>>,
}

/// An analysed chain (incidents not linked yet) and its provenance, derived or read back.
#[derive(Debug)]
pub(crate) struct Analysed {
    pub(crate) analysis: Arc<ChainAnalysis>,
    pub(crate) provenance: Arc<BTreeMap<String, String>>,
}

/// The (service, environment) of a chain.
type ChainKey = (String, String);

/// The environments a service has deployments in.
type Environments = Arc<BTreeSet<String>>;

/// What one service's chains are derived from, worked out once per service of a request.
#[derive(Debug)]
struct ServiceSources<'a> {
    store: &'a dyn Store,
    service: &'a str,
    settings: &'a ServiceSettings,
    repository: Option<RepositoryId>,
    locator: Option<&'a str>,
    known: &'a [(RepositoryId, String)],
    deployments_version: i64,
    repository_version: i64,
}

impl ServiceSources<'_> {
    /// The write versions a chain of this service is derived from, as the cache keys it.
    fn chain_versions(&self) -> Vec<i64> {
        vec![
            self.deployments_version,
            self.repository_version,
            self.repository.unwrap_or(0),
        ]
    }

    fn inputs(&self, link_window_seconds: i64) -> persist::ChainInputs<'_> {
        persist::ChainInputs {
            deployments_version: self.deployments_version,
            repository: self.repository.zip(self.locator),
            repository_version: self.repository_version,
            settings: self.settings,
            link_window_seconds,
        }
    }
}

/// A change a deployment shipped, as the pages that list changes show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShippedChange {
    pub sha: String,
    pub authored_at: i64,
}

/// The changes each deployment of a chain shipped (a failed one: would have shipped), by
/// position in [`ChainAnalysis::deployments`], in the order the analysis walked them. Kept in
/// the store beside the chain's analysis, so the pages that list changes do not need the
/// commit graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainShipped {
    pub by_deployment: Vec<Vec<ShippedChange>>,
}

impl ChainShipped {
    /// From an analysis made with `graph`; `None` for one read back from storage.
    fn of(analysis: &ChainAnalysis, graph: &CommitGraph) -> Option<Self> {
        let commits: &ChainCommits = analysis.commits()?;
        let by_deployment = commits
            .shipped
            .iter()
            .map(|changes| {
                changes
                    .iter()
                    .map(|&change| ShippedChange {
                        sha: graph.sha(change).to_string(),
                        authored_at: graph.author_time(change),
                    })
                    .collect()
            })
            .collect();
        Some(Self { by_deployment })
    }

    /// How many changes it lists, all deployments together.
    fn len(&self) -> usize {
        self.by_deployment.iter().map(Vec::len).sum()
    }
}

/// The one report engine: the organisation's settings and the cache of what it derived. What
/// it derives is also kept in the store ([`persist`]), so a restarted engine reads each
/// chain's facts instead of every commit of every history.
#[derive(Debug)]
pub struct Engine {
    organisation: Organisation,
    environments: Shelf<String, Environments>,
    repositories: Shelf<RepositoryId, Arc<RepositoryFacts>>,
    relevance: Shelf<String, Arc<Option<Vec<bool>>>>,
    incidents: Shelf<(), Arc<HashMap<String, Vec<Incident>>>>,
    analyses: Shelf<ChainKey, Arc<Analysed>>,
    linked: Shelf<ChainKey, Arc<ChainAnalysis>>,
    shipped: Shelf<ChainKey, Arc<ChainShipped>>,
    keeper: Option<Keeper>,
    derived: AtomicUsize,
    read_kept: AtomicUsize,
}

/// How the engine came by the chains it analysed since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derivations {
    /// Derived from the deployments and the commit history.
    pub derived: usize,
    /// Read back from the facts kept in the store.
    pub read_kept: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(Organisation::default())
    }
}

impl Engine {
    pub fn new(organisation: Organisation) -> Self {
        Self {
            organisation,
            environments: Shelf::default(),
            repositories: Shelf::with_budget(Budget {
                limit: GRAPH_COMMITS_KEPT,
                weigh: |facts: &Arc<RepositoryFacts>| facts.graph.len(),
            }),
            relevance: Shelf::default(),
            incidents: Shelf::default(),
            analyses: Shelf::default(),
            linked: Shelf::default(),
            shipped: Shelf::with_budget(Budget {
                limit: SHIPPED_CHANGES_KEPT,
                weigh: |shipped: &Arc<ChainShipped>| shipped.len(),
            }),
            keeper: None,
            derived: AtomicUsize::new(0),
            read_kept: AtomicUsize::new(0),
        }
    }

    /// How many chains were derived from history, and how many read back from kept facts,
    /// since this engine started.
    pub fn derivations(&self) -> Derivations {
        Derivations {
            derived: self.derived.load(Ordering::Relaxed),
            read_kept: self.read_kept.load(Ordering::Relaxed),
        }
    }

    pub fn organisation(&self) -> &Organisation {
        &self.organisation
    }

    /// Parses a query against this organisation's ownership.
    pub fn parse_query(&self, text: &QueryText, now: i64) -> Result<ReportQuery, QueryError> {
        ReportQuery::parse(text, now, &self.organisation.ownership)
    }

    /// The team and tribe that own `service`.
    pub fn owners(&self, service: &str) -> (Option<String>, Option<String>) {
        self.organisation.ownership.owners(service)
    }

    /// The repository whose history `service` ships: the configured one, else the one named
    /// after the service.
    fn repository_of(
        &self,
        service: &str,
        known: &[(RepositoryId, String)],
    ) -> Option<RepositoryId> {
        if let Some(locator) = &self.organisation.service(service).repository {
            let wanted = same_repository(locator);
            return known
                .iter()
                .find(|(_, known)| same_repository(known) == wanted)
                .map(|(id, _)| *id);
        }
        known
            .iter()
            .find(|(_, locator)| repository_name(locator) == service)
            .map(|(id, _)| *id)
    }

    /// The repository whose history `service` ships, if stored.
    pub fn service_repository(
        &self,
        store: &dyn Store,
        service: &str,
    ) -> Result<Option<RepositoryId>, StoreError> {
        Ok(self.repository_of(service, &store.repositories()?))
    }

    /// The services a query may name: those with stored deployments, and those the
    /// configuration knows.
    fn known_services(&self, written: &versions::WriteVersions) -> BTreeSet<String> {
        let mut known: BTreeSet<String> = versions::services(written).map(str::to_string).collect();
        known.extend(self.organisation.services.keys().cloned());
        known.extend(self.organisation.ownership.teams().keys().cloned());
        known
    }

    /// Analyses every (service, environment) chain the query selects, once each, and hands it
    /// to `visit` with its labels. The report, the metric series, the leaderboard and the
    /// dashboard are all built from this one pass. Chains whose data was not written since
    /// are read from the cache, else from the facts kept in the store; only a chain written
    /// since is derived again from its history.
    pub fn analyze_chains(
        &self,
        store: &dyn Store,
        query: &ReportQuery,
        mut visit: impl FnMut(ChainLabels, &ChainAnalysis),
    ) -> Result<(), EngineError> {
        self.walk_chains(store, query, false, |labels, analysis, _| {
            visit(labels, analysis)
        })
    }

    /// [`Engine::analyze_chains`], with the changes each deployment shipped: for the pages
    /// that list them. They are kept in the store with the chain, so this costs a read of them
    /// (meant for queries that select one service), and the commit graph only for a chain
    /// derived before they were kept.
    pub fn analyze_chains_with_changes(
        &self,
        store: &dyn Store,
        query: &ReportQuery,
        mut visit: impl FnMut(ChainLabels, &ChainAnalysis, &ChainShipped),
    ) -> Result<(), EngineError> {
        self.walk_chains(store, query, true, |labels, analysis, shipped| {
            if let Some(shipped) = shipped {
                visit(labels, analysis, shipped)
            }
        })
    }

    fn walk_chains(
        &self,
        store: &dyn Store,
        query: &ReportQuery,
        with_changes: bool,
        mut visit: impl FnMut(ChainLabels, &ChainAnalysis, Option<&ChainShipped>),
    ) -> Result<(), EngineError> {
        // Versions first, data after: what is read is at least as new as these versions.
        let written = store.write_versions()?;
        let services: Vec<String> = match &query.service {
            Some(service) => {
                let known = self.known_services(&written);
                if !known.contains(service) {
                    let names: Vec<&str> = known.iter().map(String::as_str).collect();
                    return Err(EngineError::Unknown {
                        field: "service",
                        message: query::unknown("service", service, &names),
                    });
                }
                vec![service.clone()]
            }
            None => versions::services(&written).map(str::to_string).collect(),
        };
        let known = store.repositories()?;
        let incidents_version = versions::version_of(&written, versions::INCIDENTS);
        let incidents = self.incidents.get((), vec![incidents_version], || {
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
        let mut environments_seen: BTreeSet<String> = BTreeSet::new();
        let mut visited = 0usize;
        for service in services {
            let (team, tribe) = self.owners(&service);
            if !query.selects_owners(team.as_deref(), tribe.as_deref()) {
                continue;
            }
            let repository = self.repository_of(&service, &known);
            let locator = repository
                .and_then(|id| known.iter().find(|(known_id, _)| *known_id == id))
                .map(|(_, locator)| locator.as_str());
            let sources = ServiceSources {
                store,
                service: &service,
                settings: self.organisation.service(&service),
                repository,
                locator,
                known: &known,
                deployments_version: versions::version_of(
                    &written,
                    &versions::deployments(&service),
                ),
                repository_version: locator
                    .map(|locator| versions::version_of(&written, &versions::repository(locator)))
                    .unwrap_or(0),
            };
            let (environments, mut loaded) = self.environments_of(&sources)?;
            if query.environment.is_some() {
                environments_seen.extend(environments.iter().cloned());
            }
            let mut chains: Vec<&str> = environments
                .iter()
                .filter(|environment| match &query.environment {
                    Some(asked) => *environment == asked,
                    None => self.organisation.production.is_production(environment),
                })
                .map(String::as_str)
                .collect();
            // A service asked for by name is reported even without deployments, so the
            // answer says so instead of being empty.
            let no_deployments = query
                .environment
                .clone()
                .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());
            if chains.is_empty() && query.service.is_some() {
                chains.push(&no_deployments);
            }
            for environment in chains {
                let key: ChainKey = (service.clone(), environment.to_string());
                let chain_versions = sources.chain_versions();
                let mut analysed =
                    self.analyses.get(key.clone(), chain_versions.clone(), || {
                        self.derive_chain(&sources, environment, false, &mut loaded)
                    })?;
                let chain_incidents = incidents
                    .get(&service)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut linked_versions = chain_versions.clone();
                linked_versions.push(incidents_version);
                // A chain linked before is ready as it is (the checks below cost a pass over
                // its incidents and deployments).
                let linked = match self.linked.peek(&key, &linked_versions) {
                    Some(linked) => linked,
                    None => {
                        // An incident that names a commit is linked through the commits.
                        let needs_commits = needs_commits(&analysed.analysis, chain_incidents);
                        if needs_commits && analysed.analysis.commits().is_none() {
                            analysed =
                                self.with_commits(&sources, environment, &key, &mut loaded)?;
                        }
                        let facts = match (needs_commits, repository) {
                            (true, Some(id)) => Some(self.repository_facts_of(&sources, id)?),
                            _ => None,
                        };
                        self.linked.get(key.clone(), linked_versions, || {
                            // Without incidents the linked chain is the analysed one: shared,
                            // not copied.
                            if chain_incidents.is_empty() {
                                return Ok(Arc::clone(&analysed.analysis));
                            }
                            let mut linked = ChainAnalysis::clone(&analysed.analysis);
                            link_incidents(
                                &mut linked,
                                facts.as_ref().map(|facts| &facts.graph),
                                chain_incidents,
                                self.organisation.incident_link_window_seconds,
                            );
                            Ok(Arc::new(linked))
                        })?
                    }
                };
                let shipped = match with_changes {
                    true => Some(self.shipped_of(
                        &sources,
                        environment,
                        &key,
                        &mut analysed,
                        &mut loaded,
                    )?),
                    false => None,
                };
                let labels = ChainLabels {
                    team: team.clone(),
                    tribe: tribe.clone(),
                    service: service.clone(),
                    environment: environment.to_string(),
                    provenance: Arc::clone(&analysed.provenance),
                };
                visited += 1;
                visit(labels, &linked, shipped.as_deref());
            }
        }
        if let Some(environment) = &query.environment
            && visited == 0
            && !environments_seen.contains(environment)
            && !self.organisation.production.is_production(environment)
        {
            let names: Vec<&str> = environments_seen.iter().map(String::as_str).collect();
            return Err(EngineError::Unknown {
                field: "environment",
                message: query::unknown("environment", environment, &names),
            });
        }
        Ok(())
    }

    /// The chain's analysis made with the commit graph (one read back from storage has no
    /// commits), replacing the cached one.
    fn with_commits(
        &self,
        sources: &ServiceSources<'_>,
        environment: &str,
        key: &ChainKey,
        loaded: &mut Option<Vec<Deployment>>,
    ) -> Result<Arc<Analysed>, StoreError> {
        let derived = self.derive_chain(sources, environment, true, loaded)?;
        self.analyses.get_where(
            key.clone(),
            sources.chain_versions(),
            |cached| cached.analysis.commits().is_some(),
            || Ok(derived),
        )
    }

    /// The changes each deployment of the chain shipped: cached, else kept in the store, else
    /// worked out with the commit graph (and kept).
    fn shipped_of(
        &self,
        sources: &ServiceSources<'_>,
        environment: &str,
        key: &ChainKey,
        analysed: &mut Arc<Analysed>,
        loaded: &mut Option<Vec<Deployment>>,
    ) -> Result<Arc<ChainShipped>, StoreError> {
        self.shipped.get(key.clone(), sources.chain_versions(), || {
            let kept_key = sources
                .inputs(self.organisation.incident_link_window_seconds)
                .key();
            if let Some(kept) =
                sources
                    .store
                    .derived(persist::SHIPPED, sources.service, environment)?
                && kept.key == kept_key
                && let Some(shipped) = persist::decode_shipped(&kept.data, &analysed.analysis)
            {
                return Ok(Arc::new(shipped));
            }
            if analysed.analysis.commits().is_none() {
                *analysed = self.with_commits(sources, environment, key, loaded)?;
            }
            let graph = match sources.repository {
                Some(id) => Some(self.repository_facts_of(sources, id)?),
                None => None,
            };
            let empty = CommitGraph::default();
            let graph = graph.as_ref().map_or(&empty, |facts| &facts.graph);
            let shipped = Arc::new(ChainShipped::of(&analysed.analysis, graph).unwrap_or_default());
            self.keep(
                sources.store,
                Kept::Shipped {
                    service: sources.service.to_string(),
                    environment: environment.to_string(),
                    key: kept_key,
                    shipped: Arc::clone(&shipped),
                },
            );
            Ok(shipped)
        })
    }

    /// The environments `service` has deployments in: cached, else kept in the store, else
    /// read from its deployments (and kept). When it had to read the deployments, they come
    /// along, so that deriving the service's chains does not read them again.
    fn environments_of(
        &self,
        sources: &ServiceSources<'_>,
    ) -> Result<(Environments, Option<Vec<Deployment>>), StoreError> {
        let service = sources.service;
        let mut loaded = None;
        let environments = self.environments.get(
            service.to_string(),
            vec![sources.deployments_version],
            || {
                let key = persist::environments_key(sources.deployments_version);
                if let Some(kept) = sources.store.derived(persist::ENVIRONMENTS, service, "")?
                    && kept.key == key
                    && let Some(environments) = persist::decode_environments(&kept.data)
                {
                    return Ok(Arc::new(environments));
                }
                let filter = DeploymentFilter {
                    service: Some(service.to_string()),
                    environment: None,
                    source: None,
                };
                let deployments = sources.store.deployments(&filter)?;
                let environments: Arc<BTreeSet<String>> = Arc::new(
                    deployments
                        .iter()
                        .map(|deployment| deployment.environment.clone())
                        .collect(),
                );
                loaded = Some(deployments);
                self.keep(
                    sources.store,
                    Kept::Environments {
                        service: service.to_string(),
                        key,
                        environments: Arc::clone(&environments),
                    },
                );
                Ok(environments)
            },
        )?;
        Ok((environments, loaded))
    }

    /// The commit graph and tags of the repository `id`, cached under its write version.
    fn repository_facts_of(
        &self,
        sources: &ServiceSources<'_>,
        id: RepositoryId,
    ) -> Result<Arc<RepositoryFacts>, StoreError> {
        self.repositories
            .get(id, vec![sources.repository_version], || {
                self.load_repository(sources.store, id, sources.known)
            })
    }

    /// The analysis of `service`'s chain in `environment`: read back from the store when it
    /// was kept under the same inputs, else derived from the deployments and the history, and
    /// kept. With `with_commits` it is derived with the graph whatever was kept: the caller
    /// needs the commits, and holds the analysis read back from what is kept (so that stays).
    fn derive_chain(
        &self,
        sources: &ServiceSources<'_>,
        environment: &str,
        with_commits: bool,
        loaded: &mut Option<Vec<Deployment>>,
    ) -> Result<Arc<Analysed>, StoreError> {
        let service = sources.service;
        let key = sources
            .inputs(self.organisation.incident_link_window_seconds)
            .key();
        if !with_commits
            && let Some(kept) = sources
                .store
                .derived(persist::CHAIN, service, environment)?
            && kept.key == key
        {
            // A blob that does not decode (damaged, or of a format without a new name) is
            // derived again and replaced below.
            if let Some((analysis, provenance)) = persist::decode_chain(&kept.data) {
                self.read_kept.fetch_add(1, Ordering::Relaxed);
                return Ok(Arc::new(Analysed {
                    analysis: Arc::new(analysis),
                    provenance: Arc::new(provenance),
                }));
            }
            tracing::warn!(
                service,
                environment,
                "kept facts do not decode; derived again"
            );
        }
        self.derived.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let filter = DeploymentFilter {
            service: Some(service.to_string()),
            environment: Some(environment.to_string()),
            source: None,
        };
        // The service's deployments read for its environments are handed over, not copied:
        // this chain's are taken, the others' left for the next chain.
        let mut deployments = match loaded.take() {
            Some(all) => {
                let (mine, others): (Vec<Deployment>, Vec<Deployment>) = all
                    .into_iter()
                    .partition(|deployment| deployment.environment == environment);
                if !others.is_empty() {
                    *loaded = Some(others);
                }
                mine
            }
            None => sources.store.deployments(&filter)?,
        };
        let read_deployments = started.elapsed();
        let facts = match sources.repository {
            Some(id) => self.repository_facts_of(sources, id)?,
            None => Arc::new(RepositoryFacts {
                graph: CommitGraph::default(),
                tags: Vec::new(),
                pushed: 0,
                hotfix_commits: HashMap::new(),
            }),
        };
        let settings = sources.settings;
        let relevance = match (sources.repository, settings.paths_key()) {
            (Some(id), Some(paths_key)) => self.relevance.get(
                service.to_string(),
                vec![sources.repository_version, id],
                || {
                    let touches = sources.store.path_touches(id, &paths_key)?;
                    Ok(Arc::new(Some(path_relevance(&facts.graph, &touches))))
                },
            )?,
            _ => Arc::new(None),
        };
        settings
            .hotfix
            .mark_hotfix_tags(&mut deployments, &facts.tags);
        if deployments.iter().any(|d| d.sha.starts_with(TAG_PREFIX)) {
            resolve_tag_refs(&mut deployments, &facts.tags);
        }
        let read_history = started.elapsed();
        let analysis = analyze_chain(ChainInput {
            graph: &facts.graph,
            deployments,
            relevant: relevance.as_deref(),
            hotfix_commits: facts.hotfix_commits.get(service).map(Vec::as_slice),
        });
        let provenance = self.provenance(
            settings,
            &deployment_sources(&analysis),
            sources.locator,
            &facts,
        );
        let analysed = Arc::new(Analysed {
            analysis: Arc::new(analysis),
            provenance: Arc::new(provenance),
        });
        if !with_commits {
            // The changes it shipped are kept with it, so the pages that list them need no
            // graph after a restart either.
            if let Some(shipped) = ChainShipped::of(&analysed.analysis, &facts.graph) {
                let shipped = Arc::new(shipped);
                let chain: ChainKey = (service.to_string(), environment.to_string());
                let _ = self
                    .shipped
                    .get(chain, sources.chain_versions(), || Ok(Arc::clone(&shipped)));
                self.keep(
                    sources.store,
                    Kept::Shipped {
                        service: service.to_string(),
                        environment: environment.to_string(),
                        key: key.clone(),
                        shipped,
                    },
                );
            }
            self.keep(
                sources.store,
                Kept::Chain {
                    service: service.to_string(),
                    environment: environment.to_string(),
                    key,
                    analysed: Arc::clone(&analysed),
                },
            );
        }
        tracing::debug!(
            service,
            environment,
            ?read_deployments,
            ?read_history,
            total = ?started.elapsed(),
            "derived a chain"
        );
        Ok(analysed)
    }

    /// Keeps derived facts in the store: at once, or by the background keeper if the engine
    /// has one ([`Engine::keeping_in_background`]).
    fn keep(&self, store: &dyn Store, kept: Kept) {
        match &self.keeper {
            Some(keeper) => keeper.keep(kept),
            None => kept.write(store),
        }
    }

    /// Hands the keeping of derived facts to a thread of its own, writing to `store` (the one
    /// every call of this engine reads), so that a report after a write does not wait while
    /// the chain it derived again is written back. Pending facts are written in order, only
    /// the latest of each; [`Engine::flush_kept`] waits for them.
    pub fn keeping_in_background(mut self, store: Arc<dyn Store>) -> Self {
        self.keeper = Some(Keeper::start(store));
        self
    }

    /// Waits until every derived fact handed to the background keeper is written.
    pub fn flush_kept(&self) {
        if let Some(keeper) = &self.keeper {
            keeper.flush();
        }
    }

    fn load_repository(
        &self,
        store: &dyn Store,
        id: RepositoryId,
        known: &[(RepositoryId, String)],
    ) -> Result<Arc<RepositoryFacts>, StoreError> {
        let changes = store.changes(id)?;
        let graph = CommitGraph::from_changes(&changes);
        self.repository_facts(store, id, known, graph, &changes, store.tags(id)?)
    }

    fn repository_facts<'a>(
        &self,
        store: &dyn Store,
        id: RepositoryId,
        known: &[(RepositoryId, String)],
        graph: CommitGraph,
        changes: impl IntoIterator<Item = &'a Change> + Clone,
        tags: Vec<Tag>,
    ) -> Result<Arc<RepositoryFacts>, StoreError> {
        let mut hotfix_commits = HashMap::new();
        for (service, settings) in &self.organisation.services {
            if settings.hotfix.subject.is_some()
                && self.repository_of(service, known) == Some(id)
                && let Some(flags) = settings.hotfix.hotfix_commits(&graph, changes.clone())
            {
                hotfix_commits.insert(service.clone(), flags);
            }
        }
        Ok(Arc::new(RepositoryFacts {
            graph,
            tags,
            pushed: store.pushed_change_count(id)?,
            hotfix_commits,
        }))
    }

    /// Hands the engine the whole history of the repository at `locator` that the caller has
    /// just stored (its commit graph, every commit, and its tags), so that the next report
    /// does not read it back from the store: `analyze` walks the history and builds the graph
    /// anyway. Kept under the repository's write version as it is now, like anything the
    /// engine loads itself.
    pub fn prime_repository<'a>(
        &self,
        store: &dyn Store,
        locator: &str,
        graph: CommitGraph,
        changes: impl IntoIterator<Item = &'a Change> + Clone,
        tags: Vec<Tag>,
    ) -> Result<(), EngineError> {
        let written = store.write_versions()?;
        let known = store.repositories()?;
        let Some(id) = known
            .iter()
            .find(|(_, known)| known == locator)
            .map(|(id, _)| *id)
        else {
            return Ok(());
        };
        let version = versions::version_of(&written, &versions::repository(locator));
        let facts = self.repository_facts(store, id, &known, graph, changes, tags)?;
        self.repositories
            .get(id, vec![version], || Ok(facts))
            .map(drop)
            .map_err(EngineError::from)
    }

    /// Where a chain's figures came from, for the report's `provenance`.
    fn provenance(
        &self,
        settings: &ServiceSettings,
        deployment_sources: &str,
        locator: Option<&str>,
        facts: &RepositoryFacts,
    ) -> BTreeMap<String, String> {
        let mut provenance = BTreeMap::new();
        provenance.insert("deployments".to_string(), deployment_sources.to_string());
        let mut rules = Vec::new();
        if let Some(glob) = &settings.deploy_tags {
            rules.push(format!("tags matching {:?}", glob.as_str()));
        }
        if let Some(glob) = &settings.hotfix.tags {
            rules.push(format!("hotfix tags matching {:?}", glob.as_str()));
        }
        if let Some(subject) = &settings.hotfix.subject {
            rules.push(format!(
                "hotfix commit subjects matching /{}/",
                subject.as_str()
            ));
        }
        if !rules.is_empty() {
            provenance.insert("deployment_rule".to_string(), rules.join("; "));
        }
        let changes = match locator {
            Some(locator) => changes_provenance(locator, facts.graph.len(), facts.pushed),
            None => changes_provenance("", 0, 0),
        };
        provenance.insert("changes".to_string(), changes);
        if !settings.paths.is_empty() {
            provenance.insert("paths".to_string(), settings.paths.join(", "));
        }
        let mut failures = vec!["deployment-status-and-kind", "inferred-from-reverts"];
        if !settings.hotfix.is_empty() {
            failures.push("inferred-from-hotfixes");
        }
        failures.push("incident-links");
        provenance.insert("failures".to_string(), failures.join(", "));
        provenance.insert(
            "incident_links".to_string(),
            format!(
                "explicit, else the latest production deployment within {} before",
                duration_text(self.organisation.incident_link_window_seconds)
            ),
        );
        provenance.insert(
            "lead_time_start".to_string(),
            "commit-author-time".to_string(),
        );
        provenance
    }

    /// The report of every matching (service, environment) chain the store holds.
    pub fn report(&self, store: &dyn Store, query: &ReportQuery) -> Result<Report, EngineError> {
        let mut services = Vec::new();
        self.analyze_chains(store, query, |labels, analysis| {
            services.push(service_report(
                labels,
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

    /// The points of `metric` over the matching chains, pooled, one per bucket of `series`
    /// (built by the caller for the query's window, so a window with too many buckets is
    /// refused before any work).
    pub fn series(
        &self,
        store: &dyn Store,
        query: &ReportQuery,
        mut series: SeriesBuilder,
        metric: SeriesMetric,
    ) -> Result<Vec<SeriesPoint>, EngineError> {
        self.analyze_chains(store, query, |_, analysis| series.add_chain(analysis))?;
        Ok(series.into_points(metric, query.benchmark))
    }

    /// The leaderboard of the matching chains grouped by `group_by`; chains without an owner
    /// go to the `unassigned` group.
    pub fn leaderboard(
        &self,
        store: &dyn Store,
        query: &ReportQuery,
        group_by: GroupBy,
    ) -> Result<Leaderboard, EngineError> {
        let mut board = LeaderboardBuilder::new(query.window, group_by);
        self.analyze_chains(store, query, |labels, analysis| {
            let chain = ChainName {
                service: labels.service.clone(),
                environment: labels.environment.clone(),
            };
            board.add_chain(group_of(group_by, &labels), chain, analysis);
        })?;
        Ok(board.finish(query.benchmark))
    }
}

/// `72 h`, `3 d`: a link window as people say it.
fn duration_text(seconds: i64) -> String {
    if seconds % 86_400 == 0 && seconds >= 86_400 * 2 {
        format!("{} d", seconds / 86_400)
    } else if seconds % 3_600 == 0 {
        format!("{} h", seconds / 3_600)
    } else {
        format!("{seconds} s")
    }
}

/// The kinds of a chain's deployments, sorted, without repeats: `git-tags`, `deploy-log`,
/// `api, github`; `none` for a chain without any.
fn deployment_sources(analysis: &ChainAnalysis) -> String {
    let mut sources: Vec<&str> = analysis
        .deployments
        .iter()
        .map(|f| match f.deployment.source {
            Source::Git => git_deployment_rule(&f.deployment.id).unwrap_or("git"),
            Source::Import => "deploy-log",
            other => other.as_str(),
        })
        .collect();
    sources.sort_unstable();
    sources.dedup();
    if sources.is_empty() {
        return "none".to_string();
    }
    sources.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::entities::DeploymentKind;

    #[test]
    fn tag_refs_resolve_to_the_tags_commit() {
        let deployment = |sha: &str| Deployment {
            source: Source::Github,
            id: "release:1".into(),
            service: "api".into(),
            environment: "production".into(),
            sha: sha.into(),
            started_at: None,
            finished_at: Some(10),
            status: loopwise_core::entities::DeploymentStatus::Success,
            kind: DeploymentKind::Normal,
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

    #[test]
    fn a_work_tree_names_its_git_directory() {
        assert_eq!(
            same_repository("/srv/shop/.git"),
            same_repository("/srv/shop/")
        );
        assert_ne!(same_repository("/srv/shop"), same_repository("/srv/shop2"));
    }

    /// A restarted engine takes a chain's facts from the store without reading the history:
    /// facts doctored in the store show up in its report, until a write moves their versions.
    #[test]
    fn kept_facts_are_read_instead_of_derived_until_a_write() {
        use loopwise_core::events::Event;
        use loopwise_core::time::Window;
        use loopwise_store::Derived;
        use loopwise_store::conformance::{change, deployment, git_import};
        let store = loopwise_store_sqlite::SqliteStore::open_in_memory().unwrap();
        store
            .apply_git_import(git_import(
                "/srv/git/shop",
                &[change("a1", &[], 0), change("b2", &["a1"], 100)],
            ))
            .unwrap();
        let deploy = |id: &str, sha: &str, time: i64| {
            Event::Deployment(Deployment {
                sha: sha.into(),
                ..deployment(Source::Api, id, "shop", "production", time)
            })
        };
        store
            .apply_events(&[deploy("d1", "a1", 50), deploy("d2", "b2", 400)])
            .unwrap();
        let query = ReportQuery::organisation(Window::new(0, 1_000).unwrap());
        let report = |engine: &Engine| engine.report(&store, &query).unwrap().services;
        let derived = report(&Engine::default());
        assert_eq!(derived[0].lead_time.median_seconds, Some(300.0));

        let kept = store
            .derived(persist::CHAIN, "shop", "production")
            .unwrap()
            .unwrap();
        let (analysis, mut provenance) = persist::decode_chain(&kept.data).unwrap();
        provenance.insert("changes".into(), "doctored in the store".into());
        let doctored = persist::encode_chain(&analysis, &provenance).unwrap();
        store
            .put_derived(
                persist::CHAIN,
                "shop",
                "production",
                &Derived {
                    key: kept.key,
                    data: doctored,
                },
            )
            .unwrap();
        let engine = Engine::default();
        let restarted = report(&engine);
        assert_eq!(
            engine.derivations(),
            Derivations {
                derived: 0,
                read_kept: 1
            }
        );
        assert_eq!(
            restarted[0].provenance["changes"], "doctored in the store",
            "read from the store, not derived"
        );
        assert_eq!(restarted[0].lead_time.median_seconds, Some(300.0));
        // The changes each deployment shipped are kept too: listing them derives nothing.
        let mut listed = Vec::new();
        engine
            .analyze_chains_with_changes(&store, &query, |_, analysis, shipped| {
                for (facts, changes) in analysis.deployments.iter().zip(&shipped.by_deployment) {
                    for change in changes {
                        listed.push(format!(
                            "{} {} {}",
                            facts.deployment.id, change.sha, change.authored_at
                        ));
                    }
                }
            })
            .unwrap();
        assert_eq!(listed, ["d1 a1 0", "d2 b2 100"]);
        assert_eq!(engine.derivations().derived, 0, "read, not derived");

        // Under the right key, a blob that does not decode is derived again, and replaced.
        let current = store
            .derived(persist::CHAIN, "shop", "production")
            .unwrap()
            .unwrap();
        let garbage = Derived {
            key: current.key.clone(),
            data: vec![0xFF; 64],
        };
        store
            .put_derived(persist::CHAIN, "shop", "production", &garbage)
            .unwrap();
        let rederived = report(&Engine::default());
        assert_eq!(rederived[0].lead_time.median_seconds, Some(300.0));
        let replaced = store
            .derived(persist::CHAIN, "shop", "production")
            .unwrap()
            .unwrap();
        assert_eq!(replaced.key, current.key);
        assert!(persist::decode_chain(&replaced.data).is_some(), "replaced");

        store.apply_events(&[deploy("d3", "b2", 900)]).unwrap();
        let after_write = report(&Engine::default());
        assert!(
            after_write[0].provenance["changes"].starts_with("git history"),
            "derived again after a write: {:?}",
            after_write[0].provenance
        );
        assert_eq!(after_write[0].deployments.count, 3);
    }

    #[test]
    fn link_windows_read_as_people_say_them() {
        assert_eq!(duration_text(72 * 3_600), "3 d");
        assert_eq!(duration_text(24 * 3_600), "24 h");
        assert_eq!(duration_text(90), "90 s");
    }
}
