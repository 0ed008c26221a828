//! PRODUCT.md section 4 as code: which changes each deployment ships, which deployments failed
//! and which remediated them, and from those the five figures of a window.
//!
//! One chain is the deployments of one (service, environment). The whole history of the chain
//! is analysed, then the window only selects deployments by their time, so a deployment early
//! in the window still has its true baseline and a failure is still seen when its remediation
//! falls after the window's end.

use crate::entities::{Deployment, DeploymentKind, DeploymentStatus};
use crate::events::Incident;
use crate::graph::{CommitGraph, CommitIndex};
use crate::time::{Timestamp, Window};
use serde::{Deserialize, Serialize};
use std::ops::Range;

const NOT_SHIPPED: u32 = u32::MAX;

/// Everything one chain is computed from.
#[derive(Debug)]
pub struct ChainInput<'a> {
    pub graph: &'a CommitGraph,
    /// The deployments of one (service, environment), in any order.
    pub deployments: Vec<Deployment>,
    /// Per commit: does it belong to the service (monorepo paths)? `None`: every commit does.
    pub relevant: Option<&'a [bool]>,
    /// Per commit: does its subject mark a hotfix? `None`: no hotfix pattern.
    pub hotfix_commits: Option<&'a [bool]>,
}

/// Why a deployment counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureReason {
    /// The deployment's own status is failure.
    Status,
    /// A later rollback deployment undid it.
    RolledBack,
    /// A later deployment shipped a revert of one of its changes.
    Reverted,
    /// A later hotfix deployment remediated it.
    Hotfixed,
    /// An incident names it, or was linked to it, as its cause.
    CausedIncident,
}

/// How an incident was tied to a deployment (PRODUCT.md section 4, "Incident linking").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LinkRule {
    /// The incident named the deployment (by id) or a commit it shipped.
    Explicit,
    /// The latest successful deployment of the service that finished before the incident
    /// started, within the link window.
    LatestBefore,
    /// No deployment fits; the incident still counts for time to restore.
    Unlinked,
}

/// Default look-back of the latest-before rule.
pub const DEFAULT_INCIDENT_LINK_WINDOW_SECONDS: i64 = 72 * 3_600;

/// One incident of a chain and the deployment it was linked to.
#[derive(Debug, Clone)]
pub struct IncidentFacts {
    pub incident: Incident,
    /// Position in [`ChainAnalysis::deployments`].
    pub deployment: Option<usize>,
    pub rule: LinkRule,
}

/// One deployment of a chain with what the analysis found out about it. Which commits it
/// shipped are kept apart, in [`ChainCommits`], so that these facts stand without the commit
/// graph they were derived from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentFacts {
    pub deployment: Deployment,
    pub time: Timestamp,
    /// How many of the service's non-merge changes this deployment ships (for a failed
    /// deployment: would have shipped).
    pub shipped_count: usize,
    /// The first successful deployment of the chain: its changes have no lead time.
    pub baseline: bool,
    /// Rollback or hotfix, given or inferred from a hotfix pattern.
    pub kind: DeploymentKind,
    pub failure_reasons: Vec<FailureReason>,
    /// Positions (in [`ChainAnalysis::deployments`]) of the failed deployments this one remediates.
    pub remediates: Vec<usize>,
    /// Positions of the deployments that remediated this one.
    pub remediated_by: Vec<usize>,
    pub recovery_seconds: Option<i64>,
    /// Unplanned remediation: it remediates an earlier deployment, or it is a rollback or hotfix
    /// with an earlier deployment in its chain (one without remediates nothing).
    pub rework: bool,
}

impl DeploymentFacts {
    pub fn succeeded(&self) -> bool {
        self.deployment.status == DeploymentStatus::Success
    }

    pub fn failed(&self) -> bool {
        !self.failure_reasons.is_empty()
    }

    /// Unplanned remediation: a rollback or hotfix after an earlier deployment, or a deployment
    /// that fixed an earlier one.
    pub fn is_rework(&self) -> bool {
        self.rework || !self.remediates.is_empty()
    }
}

/// Which commits each deployment of a chain names and ships, by position in
/// [`ChainAnalysis::deployments`]: indices into the commit graph the chain was analysed with.
#[derive(Debug, Clone, Default)]
pub struct ChainCommits {
    /// The commit each deployment names, if the history has it.
    pub commit: Vec<Option<CommitIndex>>,
    /// The service's non-merge changes each deployment ships (for a failed deployment: would
    /// have shipped).
    pub shipped: Vec<Vec<CommitIndex>>,
}

/// The analysed chain, deployments in deployment order (time, then id). Everything but the
/// incidents and the commits is plain data that stands without the commit graph, so it can
/// be kept (serialized) and read back instead of being derived again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChainAnalysis {
    pub deployments: Vec<DeploymentFacts>,
    /// Deployments whose commit is not in the history; they ship nothing we can see.
    pub unknown_commits: usize,
    /// Deployments with neither start nor finish time; left out.
    pub undated: usize,
    /// The chain's incidents, after [`link_incidents`]: never kept, linked anew.
    #[serde(skip)]
    pub incidents: Vec<IncidentFacts>,
    /// Deployments failed by a revert that no deployment has shipped yet: failed, not yet
    /// recovered.
    pub open_reverts: usize,
    /// Revert lines of the history that name an ambiguous abbreviated commit id, ignored.
    pub ambiguous_reverts: usize,
    /// The service has paths (a monorepo service) and no commit of the history touches them:
    /// most likely a mistyped path, so the report says so instead of showing no changes.
    pub paths_match_nothing: bool,
    /// Built last by [`analyze_chain`]; private, so no other code can leave it stale.
    lead_times: LeadTimes,
    /// Present when the analysis was made with the commit graph (not read back from storage).
    #[serde(skip)]
    commits: Option<ChainCommits>,
}

/// What a successful deployment's shipped change contributes to lead time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeLead {
    /// Shipped by the chain's first deployment: no baseline, no lead time.
    Baseline,
    /// Authored after its deployment (clock skew): left out and counted.
    Negative,
    /// An author time that cannot be believed (1970, or years before the history began): left
    /// out and counted.
    Implausible,
    Seconds(i64),
}

/// The lead time of `change` shipped by `facts` (a successful deployment).
pub fn change_lead(
    graph: &CommitGraph,
    facts: &DeploymentFacts,
    change: CommitIndex,
) -> ChangeLead {
    if facts.baseline {
        return ChangeLead::Baseline;
    }
    if !graph.has_plausible_author_time(change) {
        return ChangeLead::Implausible;
    }
    let seconds = facts.time.saturating_sub(graph.author_time(change));
    if seconds < 0 {
        ChangeLead::Negative
    } else {
        ChangeLead::Seconds(seconds)
    }
}

/// Every lead time of a chain in deployment order, so that the lead times of a run of
/// deployments (a window, a bucket) are one slice to copy: a window's figures then cost a
/// copy per chain instead of a commit-graph lookup per change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LeadTimes {
    /// In seconds, of the changes successful deployments shipped, where there is one. Whole
    /// numbers, kept as integers (varints: half the bytes of the floats).
    #[serde(with = "whole_seconds")]
    seconds: Vec<f64>,
    /// `deployments + 1` running totals; the entry at position `i` counts deployments `..i`.
    before: Vec<LeadCounts>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct LeadCounts {
    seconds: usize,
    baseline: usize,
    negative: usize,
    implausible: usize,
}

impl LeadTimes {
    fn index(
        graph: &CommitGraph,
        deployments: &[DeploymentFacts],
        shipped: &[Vec<CommitIndex>],
    ) -> Self {
        let mut index = Self {
            seconds: Vec::new(),
            before: Vec::with_capacity(deployments.len() + 1),
        };
        let mut counts = LeadCounts::default();
        index.before.push(counts);
        for (facts, shipped) in deployments.iter().zip(shipped) {
            if facts.succeeded() {
                for &change in shipped {
                    match change_lead(graph, facts, change) {
                        ChangeLead::Baseline => counts.baseline += 1,
                        ChangeLead::Negative => counts.negative += 1,
                        ChangeLead::Implausible => counts.implausible += 1,
                        ChangeLead::Seconds(seconds) => index.seconds.push(seconds as f64),
                    }
                }
            }
            counts.seconds = index.seconds.len();
            index.before.push(counts);
        }
        index
    }
}

/// Lead times are differences of whole seconds: they are stored as the integers they are. The
/// round trip is exact for every `i64` difference (one that a float cannot hold exactly
/// saturates to the same float either way).
mod whole_seconds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        seconds: &[f64],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(seconds.iter().map(|&s| s as i64))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<i64>::deserialize(deserializer)?
            .into_iter()
            .map(|s| s as f64)
            .collect())
    }
}

/// The lead times of a run of deployments: their values, and how many shipped changes have none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeadSlice<'a> {
    pub seconds: &'a [f64],
    pub baseline: usize,
    pub negative: usize,
    pub implausible: usize,
}

impl ChainAnalysis {
    /// The positions of the deployments in `window`. They are in time order, so the window's
    /// are one range, found in log time: a window costs its own deployments, not the chain's
    /// whole history.
    pub fn deployment_range(&self, window: Window) -> Range<usize> {
        let first = self
            .deployments
            .partition_point(|facts| facts.time < window.since);
        let end =
            first + self.deployments[first..].partition_point(|facts| facts.time < window.until);
        first..end
    }

    /// The deployments in `window`.
    pub fn deployments_in(&self, window: Window) -> &[DeploymentFacts] {
        &self.deployments[self.deployment_range(window)]
    }

    /// Which commits each deployment names and ships, when the analysis was made with the
    /// commit graph; `None` for one read back from storage (analyse the chain again with the
    /// graph to have them).
    pub fn commits(&self) -> Option<&ChainCommits> {
        self.commits.as_ref()
    }

    /// The changes the deployment at `position` shipped, when [`ChainAnalysis::commits`] are
    /// known.
    pub fn shipped(&self, position: usize) -> Option<&[CommitIndex]> {
        Some(self.commits.as_ref()?.shipped.get(position)?.as_slice())
    }

    /// Checks what a deserialized analysis claims of itself, so that facts read back from
    /// storage (possibly damaged, possibly of another version) are used only when every
    /// position and count in them is within bounds and agrees with the rest.
    pub fn is_consistent(&self) -> bool {
        let count = self.deployments.len();
        let positions_ok = self.deployments.iter().all(|facts| {
            facts
                .remediates
                .iter()
                .chain(&facts.remediated_by)
                .all(|&i| i < count)
        });
        let leads = &self.lead_times;
        let counts_ok = leads.before.len() == count + 1
            && leads.before.windows(2).all(|pair| {
                let (a, b) = (&pair[0], &pair[1]);
                a.seconds <= b.seconds
                    && a.baseline <= b.baseline
                    && a.negative <= b.negative
                    && a.implausible <= b.implausible
            })
            && leads.before.last().map(|last| last.seconds) == Some(leads.seconds.len())
            && leads.before.first().is_some_and(|first| first.seconds == 0);
        let ordered = self
            .deployments
            .windows(2)
            .all(|pair| pair[0].time <= pair[1].time);
        positions_ok && counts_ok && ordered
    }

    /// The lead times of the changes the deployments at `positions` shipped, in deployment
    /// order; `None` for an analysis [`analyze_chain`] did not make, or positions out of range.
    pub fn lead_times_of(&self, positions: Range<usize>) -> Option<LeadSlice<'_>> {
        if self.lead_times.before.len() != self.deployments.len() + 1 {
            return None;
        }
        let first = self.lead_times.before.get(positions.start)?;
        let last = self.lead_times.before.get(positions.end)?;
        // Checked: an index read back from storage is only as sound as `is_consistent` found it.
        Some(LeadSlice {
            seconds: self.lead_times.seconds.get(first.seconds..last.seconds)?,
            baseline: last.baseline.checked_sub(first.baseline)?,
            negative: last.negative.checked_sub(first.negative)?,
            implausible: last.implausible.checked_sub(first.implausible)?,
        })
    }
}

/// Links each incident of the chain's service to the deployment that caused it: an explicit
/// `caused_by` (a deployment id, or a commit: the successful deployment that shipped it),
/// otherwise the latest successful deployment that finished before the incident started,
/// within `window_seconds`. A linked deployment is failed; its recovery ends at the incident's
/// resolution if that comes before its first remediating deployment.
///
/// A cause that names a commit is found through the commits each deployment shipped, so it
/// needs `graph` and an analysis that has its [`ChainAnalysis::commits`]; without them (see
/// [`needs_commits`]) only deployment ids and the commits deployments name are matched.
pub fn link_incidents(
    analysis: &mut ChainAnalysis,
    graph: Option<&CommitGraph>,
    incidents: &[Incident],
    window_seconds: i64,
) {
    if incidents.is_empty() {
        return;
    }
    // Successful deployments by the commits they shipped, for commit-named causes.
    let mut shipper_of = std::collections::HashMap::new();
    let graph = graph.filter(|_| analysis.commits.is_some());
    if let Some(commits) = analysis.commits.as_ref().filter(|_| graph.is_some()) {
        for (position, facts) in analysis.deployments.iter().enumerate() {
            if facts.succeeded() {
                for &commit in commits.shipped.get(position).into_iter().flatten() {
                    shipper_of.insert(commit, position);
                }
            }
        }
    }
    let successful_times: Vec<(Timestamp, usize)> = analysis
        .deployments
        .iter()
        .enumerate()
        .filter(|(_, facts)| facts.succeeded())
        .map(|(position, facts)| (facts.time, position))
        .collect();
    for incident in incidents {
        let explicit = incident.caused_by.as_deref().and_then(|cause| {
            let cause = cause.trim();
            analysis
                .deployments
                .iter()
                .position(|facts| facts.deployment.id == cause)
                .or_else(|| {
                    let graph = graph?;
                    let commit = graph
                        .index_of(cause)
                        .or_else(|| graph.resolve(cause).ok())?;
                    shipper_of.get(&commit).copied()
                })
                .or_else(|| {
                    let lower = cause.to_ascii_lowercase();
                    (lower.len() >= 7).then_some(()).and_then(|()| {
                        analysis.deployments.iter().rposition(|facts| {
                            facts.deployment.sha.starts_with(&lower)
                                && facts.time <= incident.started_at
                        })
                    })
                })
        });
        let (deployment, rule) = match explicit {
            Some(position) => (Some(position), LinkRule::Explicit),
            None => {
                // Latest successful deployment at or before the start, within the window.
                let before =
                    successful_times.partition_point(|(time, _)| *time <= incident.started_at);
                match before.checked_sub(1).map(|i| successful_times[i]) {
                    Some((time, position))
                        if incident.started_at.saturating_sub(time) <= window_seconds =>
                    {
                        (Some(position), LinkRule::LatestBefore)
                    }
                    _ => (None, LinkRule::Unlinked),
                }
            }
        };
        if let Some(position) = deployment {
            let facts = &mut analysis.deployments[position];
            if !facts
                .failure_reasons
                .contains(&FailureReason::CausedIncident)
            {
                facts.failure_reasons.push(FailureReason::CausedIncident);
            }
            if let Some(resolved) = incident.resolved_at {
                let until_resolution = resolved.saturating_sub(facts.time);
                if until_resolution >= 0 {
                    facts.recovery_seconds = Some(
                        facts
                            .recovery_seconds
                            .map_or(until_resolution, |r| r.min(until_resolution)),
                    );
                }
            }
        }
        analysis.incidents.push(IncidentFacts {
            incident: incident.clone(),
            deployment,
            rule,
        });
    }
}

/// Whether linking `incidents` to `analysis` needs the commits each deployment shipped: some
/// incident names a cause that is not one of the chain's deployment ids.
pub fn needs_commits(analysis: &ChainAnalysis, incidents: &[Incident]) -> bool {
    incidents.iter().any(|incident| {
        incident.caused_by.as_deref().is_some_and(|cause| {
            let cause = cause.trim();
            !analysis
                .deployments
                .iter()
                .any(|facts| facts.deployment.id == cause)
        })
    })
}

/// Analyses one chain. Cost: every commit is visited once by the successful deployments; a
/// failed deployment walks only the not-yet-shipped commits below it.
pub fn analyze_chain(input: ChainInput<'_>) -> ChainAnalysis {
    let ChainInput {
        graph,
        deployments,
        relevant,
        hotfix_commits,
    } = input;
    let mut analysis = ChainAnalysis {
        ambiguous_reverts: graph.ambiguous_reverts(),
        paths_match_nothing: !graph.is_empty()
            && relevant.is_some_and(|flags| !flags.contains(&true)),
        ..ChainAnalysis::default()
    };
    let mut commits = ChainCommits::default();
    let mut dated: Vec<(Timestamp, Deployment)> = Vec::with_capacity(deployments.len());
    for deployment in deployments {
        match deployment.time() {
            Some(time) => dated.push((time, deployment)),
            None => analysis.undated += 1,
        }
    }
    // Ids are source-scoped, so two sources can each have a deployment with the same id at the
    // same time: the source completes the key, or the order would be the caller's row order.
    dated.sort_by(|(time_a, a), (time_b, b)| {
        time_a
            .cmp(time_b)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.source.cmp(&b.source))
    });

    let is_relevant = |commit: CommitIndex| relevant.is_none_or(|flags| flags[commit as usize]);
    let mut shipped_by = vec![NOT_SHIPPED; graph.len()];
    let mut visit_stamp = vec![0u32; graph.len()];
    let mut stamp = 0u32;
    let mut stack: Vec<CommitIndex> = Vec::new();
    let mut seen_success = false;
    // (position, commit): a successful deployment and a revert-carrying commit it first shipped,
    // merge or not, for the service or not (the reverted commit decides).
    let mut shipped_reverts: Vec<(usize, CommitIndex)> = Vec::new();

    for (time, deployment) in dated {
        let position = analysis.deployments.len();
        let commit = graph
            .index_of(&deployment.sha)
            .or_else(|| graph.resolve(&deployment.sha).ok());
        if commit.is_none() {
            analysis.unknown_commits += 1;
        }
        let succeeded = deployment.status == DeploymentStatus::Success;
        let mut shipped = Vec::new();
        if let Some(tip) = commit {
            stack.clear();
            stack.push(tip);
            if succeeded {
                while let Some(current) = stack.pop() {
                    if shipped_by[current as usize] != NOT_SHIPPED {
                        continue;
                    }
                    shipped_by[current as usize] = position as u32;
                    if !graph.is_merge(current) && is_relevant(current) {
                        shipped.push(current);
                    }
                    if !graph.reverts(current).is_empty() {
                        shipped_reverts.push((position, current));
                    }
                    stack.extend_from_slice(graph.parents(current));
                }
            } else {
                stamp += 1;
                while let Some(current) = stack.pop() {
                    let index = current as usize;
                    if shipped_by[index] != NOT_SHIPPED || visit_stamp[index] == stamp {
                        continue;
                    }
                    visit_stamp[index] = stamp;
                    if !graph.is_merge(current) && is_relevant(current) {
                        shipped.push(current);
                    }
                    stack.extend_from_slice(graph.parents(current));
                }
            }
        }
        let baseline = succeeded && commit.is_some() && !seen_success;
        seen_success |= succeeded && commit.is_some();
        let ships_hotfix =
            hotfix_commits.is_some_and(|flags| shipped.iter().any(|&c| flags[c as usize]));
        let kind = if deployment.kind == DeploymentKind::Normal && ships_hotfix {
            DeploymentKind::Hotfix
        } else {
            deployment.kind
        };
        let failure_reasons = if succeeded {
            Vec::new()
        } else {
            vec![FailureReason::Status]
        };
        analysis.deployments.push(DeploymentFacts {
            deployment,
            time,
            shipped_count: shipped.len(),
            baseline,
            kind,
            failure_reasons,
            remediates: Vec::new(),
            remediated_by: Vec::new(),
            recovery_seconds: None,
            rework: position > 0
                && matches!(kind, DeploymentKind::Rollback | DeploymentKind::Hotfix),
        });
        commits.commit.push(commit);
        commits.shipped.push(shipped);
    }

    // Remediation links; only a deployment that went out can remediate.
    let mut links: Vec<(usize, usize, FailureReason)> = Vec::new();
    for (position, facts) in analysis.deployments.iter().enumerate() {
        if !facts.succeeded() {
            continue;
        }
        if position > 0 {
            match facts.kind {
                DeploymentKind::Rollback => {
                    links.push((position - 1, position, FailureReason::RolledBack))
                }
                DeploymentKind::Hotfix => {
                    links.push((position - 1, position, FailureReason::Hotfixed))
                }
                DeploymentKind::Normal => {}
            }
        }
    }
    for &(position, carrier) in &shipped_reverts {
        for &reverted in graph.reverts(carrier) {
            let shipper = shipped_by[reverted as usize];
            // A revert shipped together with what it reverts never left a failure in production.
            if shipper != NOT_SHIPPED && (shipper as usize) < position && is_relevant(reverted) {
                links.push((shipper as usize, position, FailureReason::Reverted));
            }
        }
    }
    for (failed, remediation, reason) in links {
        let target = &mut analysis.deployments[failed];
        if !target.failure_reasons.contains(&reason) {
            target.failure_reasons.push(reason);
        }
        if !target.remediated_by.contains(&remediation) {
            target.remediated_by.push(remediation);
        }
        let fixer = &mut analysis.deployments[remediation];
        if !fixer.remediates.contains(&failed) {
            fixer.remediates.push(failed);
        }
    }
    // A revert committed but not shipped yet: the failure is known, its recovery still open.
    for &carrier in graph.revert_carriers() {
        if shipped_by[carrier as usize] != NOT_SHIPPED {
            continue;
        }
        for &reverted in graph.reverts(carrier) {
            let shipper = shipped_by[reverted as usize];
            if shipper != NOT_SHIPPED && is_relevant(reverted) {
                let target = &mut analysis.deployments[shipper as usize];
                if !target.failure_reasons.contains(&FailureReason::Reverted) {
                    target.failure_reasons.push(FailureReason::Reverted);
                    if target.remediated_by.is_empty() {
                        analysis.open_reverts += 1;
                    }
                }
            }
        }
    }
    let times: Vec<Timestamp> = analysis
        .deployments
        .iter()
        .map(|facts| facts.time)
        .collect();
    for facts in &mut analysis.deployments {
        facts.recovery_seconds = facts
            .remediated_by
            .iter()
            // Saturating: instants are untrusted input and may be anywhere in i64.
            .map(|&fixer| times[fixer].saturating_sub(facts.time))
            .filter(|&s| s >= 0)
            .min();
    }
    analysis.lead_times = LeadTimes::index(graph, &analysis.deployments, &commits.shipped);
    analysis.commits = Some(commits);
    analysis
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::entities::Source;
    use crate::graph::tests::change;

    pub(crate) fn deployment(id: &str, sha: &str, time: Timestamp) -> Deployment {
        Deployment {
            source: Source::Import,
            id: id.to_string(),
            service: "svc".into(),
            environment: "production".into(),
            sha: sha.to_string(),
            started_at: None,
            finished_at: Some(time),
            status: DeploymentStatus::Success,
            kind: DeploymentKind::Normal,
        }
    }

    fn shipped_shas(graph: &CommitGraph, analysis: &ChainAnalysis, position: usize) -> Vec<String> {
        let mut shas: Vec<String> = analysis
            .shipped(position)
            .expect("analysed with the graph")
            .iter()
            .map(|&c| graph.sha(c).to_string())
            .collect();
        shas.sort();
        shas
    }

    /// The chain of `deployments` over `graph`, without path or hotfix flags.
    pub(crate) fn analyze(graph: &CommitGraph, deployments: Vec<Deployment>) -> ChainAnalysis {
        analyze_chain(ChainInput {
            graph,
            deployments,
            relevant: None,
            hotfix_commits: None,
        })
    }

    /// a ← b ← r, where r reverts b.
    fn reverted() -> CommitGraph {
        let mut changes = vec![
            change("a0", &[], 100),
            change("b0", &["a0"], 200),
            change("r0", &["b0"], 300),
        ];
        changes[2].reverts = Some("b0".into());
        CommitGraph::from_changes(&changes)
    }

    /// [`reverted`] deployed one commit at a time: b at 250, its revert at 1250.
    fn revert_deployed_later() -> (CommitGraph, ChainAnalysis) {
        let graph = reverted();
        let analysis = analyze(
            &graph,
            vec![
                deployment("0", "a0", 150),
                deployment("1", "b0", 250),
                deployment("2", "r0", 1250),
            ],
        );
        (graph, analysis)
    }

    /// a ← b ← m(b, c) ← d, with c on a side branch from a.
    fn diamond() -> CommitGraph {
        CommitGraph::from_changes(&[
            change("a0", &[], 100),
            change("b0", &["a0"], 200),
            change("c0", &["a0"], 300),
            change("m0", &["b0", "c0"], 400),
            change("d0", &["m0"], 500),
        ])
    }

    /// A lead-time index whose running counts go down (damaged storage) is found out, and
    /// reading it gives no slice instead of subtracting below zero.
    #[test]
    fn a_damaged_lead_time_index_is_inconsistent_and_never_underflows() {
        let (_, mut analysis) = revert_deployed_later();
        assert!(analysis.is_consistent());
        analysis.lead_times.before[1].baseline = 5;
        assert!(!analysis.is_consistent());
        assert_eq!(analysis.lead_times_of(1..2), None);
    }

    #[test]
    fn ships_graph_difference_without_merges() {
        let graph = diamond();
        let analysis = analyze(
            &graph,
            vec![deployment("2", "d0", 1000), deployment("1", "b0", 600)],
        );
        let [first, second] = &analysis.deployments[..] else {
            panic!("two deployments")
        };
        assert_eq!(first.deployment.id, "1", "ordered by time");
        assert!(first.baseline);
        assert_eq!(shipped_shas(&graph, &analysis, 0), vec!["a0", "b0"]);
        assert!(!second.baseline);
        assert_eq!(
            shipped_shas(&graph, &analysis, 1),
            vec!["c0", "d0"],
            "the merge itself is not a change"
        );
    }

    #[test]
    fn failed_status_ships_nothing_for_the_next() {
        let graph = diamond();
        let mut failed = deployment("2", "m0", 700);
        failed.status = DeploymentStatus::Failure;
        let analysis = analyze(
            &graph,
            vec![
                deployment("1", "b0", 600),
                failed,
                deployment("3", "d0", 800),
            ],
        );
        let facts = &analysis.deployments;
        assert_eq!(shipped_shas(&graph, &analysis, 1), vec!["c0"]);
        assert_eq!(facts[1].failure_reasons, vec![FailureReason::Status]);
        assert_eq!(
            shipped_shas(&graph, &analysis, 2),
            vec!["c0", "d0"],
            "c0 first ships with the success"
        );
        assert_eq!(facts[1].recovery_seconds, None, "nothing remediated it");
    }

    #[test]
    fn revert_marks_the_shipping_deployment_failed() {
        let (_, analysis) = revert_deployed_later();
        let facts = &analysis.deployments;
        assert_eq!(facts[1].failure_reasons, vec![FailureReason::Reverted]);
        assert_eq!(facts[1].recovery_seconds, Some(1000));
        assert_eq!(facts[2].remediates, vec![1]);
        assert!(facts[2].is_rework());
        assert!(!facts[0].failed() && !facts[2].failed());
    }

    #[test]
    fn revert_in_the_same_deployment_is_no_failure() {
        let graph = reverted();
        let analysis = analyze(
            &graph,
            vec![deployment("0", "a0", 150), deployment("1", "r0", 400)],
        );
        assert!(
            analysis
                .deployments
                .iter()
                .all(|facts| !facts.failed() && !facts.is_rework())
        );
    }

    #[test]
    fn rollback_and_hotfix_remediate_the_previous_deployment() {
        let graph = diamond();
        let mut rollback = deployment("2", "b0", 900);
        rollback.kind = DeploymentKind::Rollback;
        let flags = vec![false, false, false, false, true]; // d0 is a hotfix commit
        let analysis = analyze_chain(ChainInput {
            graph: &graph,
            deployments: vec![
                deployment("0", "b0", 600),
                deployment("1", "m0", 700),
                rollback,
                deployment("3", "d0", 1000),
            ],
            relevant: None,
            hotfix_commits: Some(&flags),
        });
        let facts = &analysis.deployments;
        assert_eq!(facts[1].failure_reasons, vec![FailureReason::RolledBack]);
        assert_eq!(facts[1].recovery_seconds, Some(200));
        assert!(
            analysis.shipped(2) == Some(&[][..]) && facts[2].shipped_count == 0,
            "rolling back ships nothing new"
        );
        assert_eq!(facts[3].kind, DeploymentKind::Hotfix);
        assert_eq!(facts[2].failure_reasons, vec![FailureReason::Hotfixed]);
        assert_eq!(facts[2].recovery_seconds, Some(100));
        assert_eq!(facts.iter().filter(|f| f.is_rework()).count(), 2);
    }

    #[test]
    fn relevance_filters_changes_but_not_the_walk() {
        let graph = diamond();
        let relevant = vec![false, true, false, false, true];
        let analysis = analyze_chain(ChainInput {
            graph: &graph,
            deployments: vec![deployment("1", "a0", 150), deployment("2", "d0", 1000)],
            relevant: Some(&relevant),
            hotfix_commits: None,
        });
        assert_eq!(analysis.deployments[0].shipped_count, 0);
        assert_eq!(shipped_shas(&graph, &analysis, 1), vec!["b0", "d0"]);
    }

    #[test]
    fn a_revert_committed_but_not_deployed_fails_at_once_with_recovery_open() {
        let graph = reverted();
        let analysis = analyze(
            &graph,
            vec![deployment("0", "a0", 150), deployment("1", "b0", 250)],
        );
        let facts = &analysis.deployments;
        assert_eq!(facts[1].failure_reasons, vec![FailureReason::Reverted]);
        assert!(facts[1].remediated_by.is_empty());
        assert_eq!(facts[1].recovery_seconds, None, "not recovered yet");
        assert_eq!(analysis.open_reverts, 1);
    }

    #[test]
    fn every_revert_line_counts_merges_too() {
        // a ← b ← c ← m(c, r): r reverts b and c in one commit, merged by m.
        let mut changes = vec![
            change("a0", &[], 100),
            change("b0", &["a0"], 200),
            change("c0", &["b0"], 300),
            change("r0", &["c0"], 400),
            change("m0", &["c0", "r0"], 500),
        ];
        changes[3].reverts = Some("b0 c0".into());
        let graph = CommitGraph::from_changes(&changes);
        let analysis = analyze(
            &graph,
            vec![
                deployment("0", "a0", 150),
                deployment("1", "b0", 250),
                deployment("2", "c0", 350),
                deployment("3", "m0", 550),
            ],
        );
        let facts = &analysis.deployments;
        assert!(facts[1].failed() && facts[2].failed());
        assert_eq!(facts[3].remediates, vec![1, 2]);
        assert_eq!(facts[1].recovery_seconds, Some(300));
        assert_eq!(facts[2].recovery_seconds, Some(200));

        // The revert lines in the merge commit itself count as well.
        changes[3].reverts = None;
        changes[4].reverts = Some("c0".into());
        let graph = CommitGraph::from_changes(&changes);
        let analysis = analyze(
            &graph,
            vec![
                deployment("0", "b0", 250),
                deployment("1", "c0", 350),
                deployment("2", "m0", 550),
            ],
        );
        assert_eq!(
            analysis.deployments[1].failure_reasons,
            vec![FailureReason::Reverted]
        );
        assert_eq!(analysis.deployments[2].remediates, vec![1]);
    }

    #[test]
    fn reverting_a_merge_that_touched_the_paths_is_a_failure() {
        // a ← m(a, f) ← r: f is a feature commit of the service merged by m; r reverts m.
        let mut changes = vec![
            change("a0", &[], 100),
            change("f0", &["a0"], 150),
            change("m0", &["a0", "f0"], 200),
            change("r0", &["m0"], 300),
        ];
        changes[3].reverts = Some("m0".into());
        let graph = CommitGraph::from_changes(&changes);
        // The merge's diff against its first parent touches the paths, as f and r do.
        let relevant = vec![false, true, true, true];
        let analysis = analyze_chain(ChainInput {
            graph: &graph,
            deployments: vec![
                deployment("0", "a0", 110),
                deployment("1", "m0", 250),
                deployment("2", "r0", 350),
            ],
            relevant: Some(&relevant),
            hotfix_commits: None,
        });
        let facts = &analysis.deployments;
        assert_eq!(facts[1].failure_reasons, vec![FailureReason::Reverted]);
        assert_eq!(facts[2].remediates, vec![1]);
        assert!(facts[2].is_rework());
    }

    #[test]
    fn ambiguous_revert_prefixes_are_ignored_and_counted() {
        let mut changes = vec![
            change("abcdef0111", &[], 100),
            change("abcdef0222", &["abcdef0111"], 200),
            change("1234567890", &["abcdef0222"], 300),
            change("9999999999", &["1234567890"], 400),
        ];
        changes[2].reverts = Some("abcdef0".into()); // fits both
        changes[3].reverts = Some("abcdef02".into()); // fits one
        let graph = CommitGraph::from_changes(&changes);
        assert_eq!(graph.ambiguous_reverts(), 1);
        assert!(graph.reverts(2).is_empty());
        assert_eq!(graph.reverts(3), &[1]);
    }

    #[test]
    fn a_hotfix_with_no_earlier_deployment_is_not_rework() {
        let graph = diamond();
        let mut first = deployment("0", "b0", 600);
        first.kind = DeploymentKind::Hotfix;
        let mut second = deployment("1", "d0", 700);
        second.kind = DeploymentKind::Hotfix;
        let analysis = analyze(&graph, vec![first, second]);
        let facts = &analysis.deployments;
        assert!(!facts[0].is_rework(), "it remediates nothing");
        assert!(facts[0].remediates.is_empty());
        assert!(facts[1].is_rework());
        assert_eq!(facts[0].failure_reasons, vec![FailureReason::Hotfixed]);
    }

    pub(crate) fn incident(
        id: &str,
        started_at: Timestamp,
        resolved_at: Option<Timestamp>,
        caused_by: Option<&str>,
    ) -> Incident {
        Incident {
            source: Source::Api,
            id: id.into(),
            service: Some("svc".into()),
            title: String::new(),
            severity: None,
            started_at,
            acknowledged_at: None,
            resolved_at,
            caused_by: caused_by.map(str::to_string),
            url: None,
        }
    }

    #[test]
    fn incidents_link_by_id_commit_or_latest_before_within_the_window() {
        let graph = diamond();
        let mut analysis = analyze(
            &graph,
            vec![
                deployment("1", "b0", 1_000),
                deployment("2", "m0", 2_000),
                deployment("3", "d0", 10_000),
            ],
        );
        let incidents = [
            incident("by-id", 2_500, Some(2_900), Some("1")),
            incident("by-commit", 3_000, None, Some("c0")), // c0 shipped with deployment 2
            incident("latest", 10_050, Some(10_400), None),
            incident("too-late", 10_000 + 100_000, None, None),
            incident("before-any", 500, Some(600), None),
        ];
        link_incidents(&mut analysis, Some(&graph), &incidents, 3_600);
        let links: Vec<(Option<usize>, LinkRule)> = analysis
            .incidents
            .iter()
            .map(|i| (i.deployment, i.rule))
            .collect();
        assert_eq!(
            links,
            vec![
                (Some(0), LinkRule::Explicit),
                (Some(1), LinkRule::Explicit),
                (Some(2), LinkRule::LatestBefore),
                (None, LinkRule::Unlinked),
                (None, LinkRule::Unlinked),
            ]
        );
        let facts = &analysis.deployments;
        assert_eq!(
            facts[0].failure_reasons,
            vec![FailureReason::CausedIncident]
        );
        assert_eq!(
            facts[0].recovery_seconds,
            Some(1_900),
            "to the incident's resolution"
        );
        assert_eq!(
            facts[1].recovery_seconds, None,
            "its incident is not resolved"
        );
        assert_eq!(facts[2].recovery_seconds, Some(400));
    }

    #[test]
    fn recovery_is_the_earlier_of_remediation_and_resolution() {
        let (graph, mut analysis) = revert_deployed_later();
        link_incidents(
            &mut analysis,
            Some(&graph),
            &[incident("i", 300, Some(5_000), Some("1"))],
            3_600,
        );
        let failed = &analysis.deployments[1];
        assert_eq!(
            failed.failure_reasons,
            vec![FailureReason::Reverted, FailureReason::CausedIncident]
        );
        assert_eq!(
            failed.recovery_seconds,
            Some(1_000),
            "the revert came before the resolution"
        );
    }

    #[test]
    fn unknown_and_undated_deployments_are_counted() {
        let graph = diamond();
        let mut undated = deployment("9", "a0", 0);
        undated.finished_at = None;
        let analysis = analyze(
            &graph,
            vec![
                deployment("1", "ffff", 100),
                undated,
                deployment("2", "b0", 600),
            ],
        );
        assert_eq!(analysis.unknown_commits, 1);
        assert_eq!(analysis.undated, 1);
        assert!(!analysis.deployments[0].baseline);
        assert!(
            analysis.deployments[1].baseline,
            "the first deployment with a known commit is the baseline"
        );
    }
}
