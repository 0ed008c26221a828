//! What the pages show, gathered in one pass over the selected chains
//! ([`loopwise_engine::Engine::analyze_chains`], whose analyses the report cache keeps): pooled
//! samples of the chosen window and the two before it, a weekly series, a breakdown by group,
//! and the incidents. The core computes every figure ([`Sample::figures`], `service_report`,
//! [`loopwise_core::trends`]); this module only sorts facts into place. Runs on a blocking
//! thread.

use loopwise_core::benchmark::Benchmark;
use loopwise_core::events::Incident;
use loopwise_core::metrics::{ChainAnalysis, DeploymentFacts, LinkRule};
use loopwise_core::report::{ChainLabels, ServiceReport, service_report};
use loopwise_core::rollup::{Bucket, Figures, GroupBy, Sample, SeriesBuilder, group_of};
use loopwise_core::time::{Timestamp, Window};
use loopwise_engine::{Engine, EngineError, ReportQuery, ShippedChange};
use loopwise_store::Store;
use std::collections::{BTreeMap, BTreeSet};

/// The chosen window and the two of the same length before it, oldest first.
pub fn three_windows(current: Window) -> [Window; 3] {
    let length = current.length_seconds();
    let shifted = |steps: i64| Window {
        since: current.since - steps * length,
        until: current.until - steps * length,
    };
    [shifted(2), shifted(1), current]
}

/// Samples of one selection over three consecutive windows.
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    samples: [Sample; 3],
}

impl Pooled {
    /// Adds a chain's facts of the three windows, the chosen window's also to `series`.
    fn add_with_series(
        &mut self,
        windows: &[Window; 3],
        analysis: &ChainAnalysis,
        series: &mut SeriesBuilder,
    ) {
        for (sample, window) in self.samples.iter_mut().zip(windows) {
            sample.has_history |= !analysis.deployments.is_empty();
            sample.add_chain(analysis, *window);
        }
        series.add_chain(analysis);
    }

    /// Adds every fact of `other`.
    fn absorb(&mut self, other: &Pooled) {
        for (sample, theirs) in self.samples.iter_mut().zip(&other.samples) {
            sample.absorb(theirs);
        }
    }

    /// The figures of each window, oldest first; the last is the chosen window's.
    pub fn figures(&self, windows: &[Window; 3], benchmark: &Benchmark) -> [Figures; 3] {
        self.clone().into_figures(windows, benchmark)
    }

    /// [`Pooled::figures`] without copying the samples first.
    pub fn into_figures(self, windows: &[Window; 3], benchmark: &Benchmark) -> [Figures; 3] {
        let [before_previous, previous, chosen] = self.samples;
        [
            before_previous.into_figures(windows[0], benchmark),
            previous.into_figures(windows[1], benchmark),
            chosen.into_figures(windows[2], benchmark),
        ]
    }
}

/// An incident with where it happened and the deployment it was linked to.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub incident: Incident,
    pub environment: String,
    pub rule: LinkRule,
    pub deployment: Option<DeploymentBrief>,
}

/// What a page says about one deployment.
#[derive(Debug, Clone)]
pub struct DeploymentBrief {
    pub id: String,
    pub source: String,
    pub sha: String,
    pub time: Timestamp,
    pub failed: bool,
    pub rework: bool,
    pub kind: String,
    pub status: String,
    pub failure_reasons: Vec<String>,
    pub recovery_seconds: Option<i64>,
    pub duration_seconds: Option<i64>,
    pub shipped: usize,
}

impl DeploymentBrief {
    /// What became of it, as one reads it beside why it failed: a deployment whose own status
    /// was success but that a revert, rollback, hotfix or incident failed later "went out,
    /// then failed", never "success".
    pub fn outcome(&self) -> &'static str {
        match (self.failed, self.status.as_str()) {
            (false, _) => "succeeded",
            (true, "failure") => "failed",
            (true, _) => "went out, then failed",
        }
    }

    fn of(facts: &DeploymentFacts) -> Self {
        Self {
            id: facts.deployment.id.clone(),
            source: facts.deployment.source.as_str().to_string(),
            sha: facts.deployment.sha.clone(),
            time: facts.time,
            failed: facts.failed(),
            rework: facts.is_rework(),
            kind: facts.kind.as_str().to_string(),
            status: facts.deployment.status.as_str().to_string(),
            failure_reasons: facts
                .failure_reasons
                .iter()
                .map(|reason| {
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|value| value.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect(),
            recovery_seconds: facts.recovery_seconds,
            duration_seconds: facts.deployment.duration_seconds(),
            shipped: facts.shipped_count,
        }
    }
}

fn incident_rows(
    labels: &ChainLabels,
    analysis: &ChainAnalysis,
    window: Option<Window>,
) -> Vec<IncidentRow> {
    analysis
        .incidents
        .iter()
        .filter(|facts| window.is_none_or(|w| w.contains(facts.incident.started_at)))
        .map(|facts| IncidentRow {
            incident: facts.incident.clone(),
            environment: labels.environment.clone(),
            rule: facts.rule,
            deployment: facts
                .deployment
                .and_then(|i| analysis.deployments.get(i))
                .map(DeploymentBrief::of),
        })
        .collect()
}

/// Everything an overview, team or tribe page shows: the figures are computed here, each
/// sample once and without copying it first, so the pages only lay them out.
#[derive(Debug)]
pub struct Summary {
    pub windows: [Window; 3],
    /// The figures of the whole selection in each window, oldest first.
    pub figures: [Figures; 3],
    /// The same per group of the breakdown.
    pub breakdown: BTreeMap<String, [Figures; 3]>,
    /// The chosen window's weekly buckets and their figures.
    pub weeks: Vec<(Bucket, Figures)>,
    pub incidents: Vec<IncidentRow>,
    pub chains: usize,
}

/// Gathers the selection of `query` for a summary page, broken down by `breakdown`.
pub fn summarise(
    store: &dyn Store,
    query: &ReportQuery,
    engine: &Engine,
    breakdown: GroupBy,
    series: &SeriesBuilder,
) -> Result<Summary, EngineError> {
    let windows = three_windows(query.window);
    let mut groups: BTreeMap<String, Pooled> = BTreeMap::new();
    let mut series = series.clone();
    let mut incidents = Vec::new();
    let mut chains = 0;
    engine.analyze_chains(store, query, |labels, analysis| {
        chains += 1;
        // Facts go to the chain's group only; the total is the union of the groups, made once.
        groups
            .entry(group_of(breakdown, &labels).to_string())
            .or_default()
            .add_with_series(&windows, analysis, &mut series);
        incidents.extend(incident_rows(&labels, analysis, Some(query.window)));
    })?;
    let benchmark = query.benchmark;
    let mut total = Pooled::default();
    for (index, sample) in total.samples.iter_mut().enumerate() {
        sample.reserve_for(groups.values().map(|pooled| &pooled.samples[index]));
    }
    let breakdown = groups
        .into_iter()
        .map(|(name, pooled)| {
            total.absorb(&pooled);
            (name, pooled.into_figures(&windows, benchmark))
        })
        .collect();
    incidents.sort_by_key(|row| std::cmp::Reverse(row.incident.started_at));
    Ok(Summary {
        windows,
        figures: total.into_figures(&windows, benchmark),
        breakdown,
        weeks: series.into_bucket_figures(benchmark),
        incidents,
        chains,
    })
}

/// The incidents of the selection that started in the window, latest first: no figures.
pub fn incidents(
    store: &dyn Store,
    query: &ReportQuery,
    engine: &Engine,
) -> Result<Vec<IncidentRow>, EngineError> {
    let mut rows = Vec::new();
    engine.analyze_chains(store, query, |labels, analysis| {
        rows.extend(incident_rows(&labels, analysis, Some(query.window)));
    })?;
    rows.sort_by_key(|row| std::cmp::Reverse(row.incident.started_at));
    Ok(rows)
}

/// A change a service shipped, with its lead time.
#[derive(Debug, Clone)]
pub struct RecentChange {
    pub sha: String,
    pub subject: Option<String>,
    pub author: Option<String>,
    pub authored_at: Timestamp,
    pub deployment: String,
    pub deployed_at: Timestamp,
    /// `None` for a baseline change (the chain's first deployment: no lead time).
    pub lead_seconds: Option<i64>,
}

impl RecentChange {
    /// `change` as `deployment` shipped it; subject and author come later
    /// ([`with_commit_text`]), read for the listed commits only.
    fn shipped(deployment: &DeploymentFacts, change: &ShippedChange) -> Self {
        let authored_at = change.authored_at;
        Self {
            sha: change.sha.clone(),
            subject: None,
            author: None,
            authored_at,
            deployment: deployment.deployment.id.clone(),
            deployed_at: deployment.time,
            lead_seconds: (!deployment.baseline).then(|| deployment.time - authored_at),
        }
    }
}

/// Fills in the subject and author of `changes` from the stored commits of `service`'s
/// repository, reading only those commits.
fn with_commit_text<'a>(
    store: &dyn Store,
    engine: &Engine,
    service: &str,
    changes: impl Iterator<Item = &'a mut RecentChange>,
) -> Result<(), EngineError> {
    let mut changes: Vec<&mut RecentChange> = changes.collect();
    if changes.is_empty() {
        return Ok(());
    }
    let Some(repository) = engine.service_repository(store, service)? else {
        return Ok(());
    };
    let wanted: Vec<String> = changes
        .iter()
        .map(|change| change.sha.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let details: BTreeMap<String, (String, String)> = store
        .changes_by_sha(repository, &wanted)?
        .into_iter()
        .map(|change| (change.sha, (change.subject, change.author_name)))
        .collect();
    for change in &mut changes {
        if let Some((subject, author)) = details.get(&change.sha) {
            change.subject = Some(subject.clone());
            change.author = Some(author.clone());
        }
    }
    Ok(())
}

/// One (service, environment) chain as its page shows it.
#[derive(Debug)]
pub struct ChainDetail {
    pub report: ServiceReport,
    pub windows: [Window; 3],
    pub pooled: Pooled,
    pub series: SeriesBuilder,
    /// The window's deployments, in time order.
    pub deployments: Vec<DeploymentBrief>,
    /// Position in `deployments` of the deployment that remediated each one, if in the window.
    pub remediated_by: Vec<Option<usize>>,
    pub lead_times: Vec<f64>,
    pub incidents: Vec<IncidentRow>,
    pub recent_changes: Vec<RecentChange>,
}

/// How many shipped changes the service page lists.
pub const RECENT_CHANGES: usize = 30;

/// Every selected chain of `service` (its production environments, or the asked one).
pub fn service_detail(
    store: &dyn Store,
    query: &ReportQuery,
    engine: &Engine,
    series: &SeriesBuilder,
) -> Result<Vec<ChainDetail>, EngineError> {
    let windows = three_windows(query.window);
    let mut chains = Vec::new();
    engine.analyze_chains_with_changes(store, query, |labels, analysis, shipped| {
        let range = analysis.deployment_range(query.window);
        let in_window = &analysis.deployments[range.clone()];
        let offset = range.start;
        let deployments: Vec<DeploymentBrief> = in_window.iter().map(DeploymentBrief::of).collect();
        let remediated_by = in_window
            .iter()
            .map(|facts| {
                facts
                    .remediated_by
                    .first()
                    .and_then(|&i| i.checked_sub(offset))
                    .filter(|&i| i < in_window.len())
            })
            .collect();
        let mut window_sample = Sample::default();
        window_sample.add_chain(analysis, query.window);
        let lead_times = window_sample.lead_times;
        let mut recent_changes = Vec::new();
        'latest: for position in range.rev() {
            let facts = &analysis.deployments[position];
            if !facts.succeeded() {
                continue;
            }
            for change in shipped.by_deployment.get(position).into_iter().flatten() {
                if recent_changes.len() == RECENT_CHANGES {
                    break 'latest;
                }
                recent_changes.push(RecentChange::shipped(facts, change));
            }
        }
        let mut pooled = Pooled::default();
        let mut series = series.clone();
        pooled.add_with_series(&windows, analysis, &mut series);
        chains.push(ChainDetail {
            incidents: incident_rows(&labels, analysis, Some(query.window)),
            report: service_report(labels, analysis, query.window, query.benchmark),
            windows,
            pooled,
            series,
            deployments,
            remediated_by,
            lead_times,
            recent_changes,
        });
    })?;
    // Subjects and authors of the listed commits only: the kept facts hold no text.
    if let Some(service) = &query.service {
        let changes = chains
            .iter_mut()
            .flat_map(|chain| &mut chain.recent_changes);
        with_commit_text(store, engine, service, changes)?;
    }
    Ok(chains)
}

/// An incident with its chain's view of it: the deployment it was linked to, that deployment's
/// shipped changes and its remediations.
#[derive(Debug)]
pub struct IncidentDetail {
    pub row: IncidentRow,
    pub team: Option<String>,
    pub tribe: Option<String>,
    pub shipped: Vec<RecentChange>,
    pub remediations: Vec<DeploymentBrief>,
}

/// The incident `(source, id)` and what it was linked to, or `None` if it is not stored.
pub fn incident_detail(
    store: &dyn Store,
    query: &ReportQuery,
    engine: &Engine,
    source: &str,
    id: &str,
) -> Result<Option<IncidentDetail>, EngineError> {
    let Some(incident) = store
        .incidents(None)?
        .into_iter()
        .find(|incident| incident.source.as_str() == source && incident.id == id)
    else {
        return Ok(None);
    };
    let (team, tribe) = incident
        .service
        .as_deref()
        .map(|service| engine.owners(service))
        .unwrap_or_default();
    let unlinked = IncidentDetail {
        row: IncidentRow {
            incident: incident.clone(),
            environment: String::new(),
            rule: LinkRule::Unlinked,
            deployment: None,
        },
        team: team.clone(),
        tribe: tribe.clone(),
        shipped: Vec::new(),
        remediations: Vec::new(),
    };
    let Some(service) = incident.service.clone() else {
        return Ok(Some(unlinked));
    };
    let query = ReportQuery {
        service: Some(service.clone()),
        team: None,
        tribe: None,
        ..query.clone()
    };
    let mut found: Option<IncidentDetail> = None;
    engine.analyze_chains_with_changes(store, &query, |labels, analysis, shipped| {
        let Some(facts) = analysis.incidents.iter().find(|facts| {
            facts.incident.source == incident.source && facts.incident.id == incident.id
        }) else {
            return;
        };
        // The chain where it was linked wins over one where it was not.
        if found.as_ref().is_some_and(|f| f.row.deployment.is_some()) {
            return;
        }
        let linked = facts.deployment.and_then(|i| analysis.deployments.get(i));
        let shipped: Vec<RecentChange> = facts
            .deployment
            .zip(linked)
            .map(|(position, deployment)| {
                shipped
                    .by_deployment
                    .get(position)
                    .into_iter()
                    .flatten()
                    .take(RECENT_CHANGES)
                    .map(|change| RecentChange::shipped(deployment, change))
                    .collect()
            })
            .unwrap_or_default();
        let remediations = linked
            .map(|deployment| {
                deployment
                    .remediated_by
                    .iter()
                    .filter_map(|&i| analysis.deployments.get(i))
                    .map(DeploymentBrief::of)
                    .collect()
            })
            .unwrap_or_default();
        found = Some(IncidentDetail {
            row: IncidentRow {
                incident: facts.incident.clone(),
                environment: labels.environment.clone(),
                rule: facts.rule,
                deployment: linked.map(DeploymentBrief::of),
            },
            team: labels.team.clone(),
            tribe: labels.tribe.clone(),
            shipped,
            remediations,
        });
    })?;
    let Some(mut detail) = found else {
        return Ok(Some(unlinked));
    };
    with_commit_text(store, engine, &service, detail.shipped.iter_mut())?;
    Ok(Some(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_failed_later_does_not_read_as_a_success() {
        let brief = |failed: bool, status: &str| DeploymentBrief {
            id: "d".into(),
            source: "api".into(),
            sha: "a".repeat(40),
            time: 0,
            failed,
            rework: false,
            kind: "normal".into(),
            status: status.into(),
            failure_reasons: Vec::new(),
            recovery_seconds: None,
            duration_seconds: None,
            shipped: 0,
        };
        assert_eq!(brief(false, "success").outcome(), "succeeded");
        assert_eq!(brief(true, "failure").outcome(), "failed");
        assert_eq!(brief(true, "success").outcome(), "went out, then failed");
    }

    #[test]
    fn three_windows_are_consecutive_and_equally_long() {
        let windows = three_windows(Window {
            since: 100,
            until: 130,
        });
        assert_eq!(
            windows.map(|w| (w.since, w.until)),
            [(40, 70), (70, 100), (100, 130)]
        );
    }
}
