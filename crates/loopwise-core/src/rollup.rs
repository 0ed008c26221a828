//! Figures over several chains or over parts of a window: metric series by day, week or month,
//! and leaderboard rows per squad, tribe, service or environment.
//!
//! Each analysed chain is read once: [`chain_facts`] turns it into the dated facts the report
//! counts (a deployment, a change's lead time, an incident's time to restore), with the same
//! selection rules as [`crate::report::service_report`]. The facts are then dropped into
//! buckets or groups ([`Sample`]), and [`Sample::figures`] computes the report's figures for one
//! bucket or group. So a series costs one pass over the facts, not one report per bucket, and a
//! bucket or group that holds a single chain's whole window has exactly that chain's report
//! figures (property-tested in `tests/rollup.rs`).

use crate::benchmark::{Benchmark, Overall};
use crate::graph::CommitGraph;
pub use crate::metrics::ChangeLead;
use crate::metrics::{ChainAnalysis, DeploymentFacts, change_lead};
use crate::report::{
    ChangeFailureFigures, DeploymentFigures, LeadTimeFigures, RecoveryFigures, RestoreFigures,
    ReworkFigures, overall,
};
use crate::time::{SECONDS_PER_DAY, Timestamp, Window, WindowText, midnight, utc_date, week_start};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;

/// One dated fact of a chain, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact {
    /// A deployment in the window (dated by its deployment time).
    Deployment {
        succeeded: bool,
        failed: bool,
        rework: bool,
        /// Start to finish, for successful deployments that know both.
        duration_seconds: Option<i64>,
        /// For failed deployments with a remediation.
        recovery_seconds: Option<i64>,
    },
    /// A change shipped by a successful deployment (dated by that deployment's time).
    Change(ChangeLead),
    /// An incident that started in the window (dated by its impact start).
    Incident { restore_seconds: Option<i64> },
}

/// Calls `emit(time, fact)` for every fact of `analysis` that falls in `window`, selected as
/// [`crate::report::service_report`] selects them: the definition, fact by fact, that
/// [`Sample::add_chain`] and [`SeriesBuilder::add_chain`] compute in bulk.
pub fn chain_facts(
    graph: &CommitGraph,
    analysis: &ChainAnalysis,
    window: Window,
    mut emit: impl FnMut(Timestamp, Fact),
) {
    let range = analysis.deployment_range(window);
    for (position, facts) in range.clone().zip(&analysis.deployments[range]) {
        emit(facts.time, deployment_fact(facts));
        if !facts.succeeded() {
            continue;
        }
        for &change in analysis.shipped(position).unwrap_or_default() {
            emit(facts.time, Fact::Change(change_lead(graph, facts, change)));
        }
    }
    for (time, fact) in incident_facts(analysis, window) {
        emit(time, fact);
    }
}

/// What a deployment in the window counts for, itself (its changes apart).
fn deployment_fact(facts: &DeploymentFacts) -> Fact {
    let succeeded = facts.succeeded();
    let failed = facts.failed();
    Fact::Deployment {
        succeeded,
        failed,
        rework: facts.is_rework(),
        duration_seconds: succeeded
            .then(|| facts.deployment.duration_seconds())
            .flatten(),
        recovery_seconds: failed.then_some(facts.recovery_seconds).flatten(),
    }
}

/// The incidents that started in `window`, dated by their impact start.
fn incident_facts(
    analysis: &ChainAnalysis,
    window: Window,
) -> impl Iterator<Item = (Timestamp, Fact)> + '_ {
    analysis
        .incidents
        .iter()
        .filter(move |facts| window.contains(facts.incident.started_at))
        .map(|facts| {
            let restore_seconds = facts
                .incident
                .resolved_at
                .map(|resolved| resolved.saturating_sub(facts.incident.started_at))
                .filter(|&seconds| seconds >= 0);
            (
                facts.incident.started_at,
                Fact::Incident { restore_seconds },
            )
        })
}

/// The facts of one bucket or group, ready to become figures.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Whether any chain in it has deployments at all (in or out of the window): without any,
    /// there is nothing to rate deployment frequency on.
    pub has_history: bool,
    pub deployments: usize,
    pub successful_times: Vec<Timestamp>,
    pub failed: usize,
    pub rework: usize,
    pub durations: Vec<f64>,
    pub recoveries: Vec<f64>,
    pub lead_times: Vec<f64>,
    pub baseline_changes: usize,
    pub negative_excluded: usize,
    pub implausible_excluded: usize,
    pub incidents: usize,
    pub restores: Vec<f64>,
}

/// The report's figures of one bucket or group.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    pub deployments: DeploymentFigures,
    pub lead_time: LeadTimeFigures,
    pub change_failure_rate: ChangeFailureFigures,
    pub recovery_time: RecoveryFigures,
    pub time_to_restore: RestoreFigures,
    pub rework_rate: ReworkFigures,
    pub overall: Overall,
}

impl Sample {
    pub fn add(&mut self, time: Timestamp, fact: Fact) {
        match fact {
            Fact::Deployment {
                succeeded,
                failed,
                rework,
                duration_seconds,
                recovery_seconds,
            } => {
                self.deployments += 1;
                if succeeded {
                    self.successful_times.push(time);
                }
                self.failed += usize::from(failed);
                self.rework += usize::from(rework);
                self.durations.extend(duration_seconds.map(|s| s as f64));
                self.recoveries.extend(recovery_seconds.map(|s| s as f64));
            }
            Fact::Change(ChangeLead::Baseline) => self.baseline_changes += 1,
            Fact::Change(ChangeLead::Negative) => self.negative_excluded += 1,
            Fact::Change(ChangeLead::Implausible) => self.implausible_excluded += 1,
            Fact::Change(ChangeLead::Seconds(seconds)) => self.lead_times.push(seconds as f64),
            Fact::Incident { restore_seconds } => {
                self.incidents += 1;
                self.restores.extend(restore_seconds.map(|s| s as f64));
            }
        }
    }

    /// Adds every fact of `analysis` in `window`: what [`chain_facts`] gives, with the lead
    /// times copied as one slice.
    pub fn add_chain(&mut self, analysis: &ChainAnalysis, window: Window) {
        self.add_deployments(analysis, analysis.deployment_range(window));
        for (time, fact) in incident_facts(analysis, window) {
            self.add(time, fact);
        }
    }

    /// Adds the deployments at `positions` of `analysis` and the changes they shipped.
    fn add_deployments(&mut self, analysis: &ChainAnalysis, positions: Range<usize>) {
        let leads = analysis.lead_times_of(positions.clone());
        for facts in &analysis.deployments[positions] {
            self.add(facts.time, deployment_fact(facts));
        }
        if let Some(leads) = leads {
            self.lead_times.extend_from_slice(leads.seconds);
            self.baseline_changes += leads.baseline;
            self.negative_excluded += leads.negative;
            self.implausible_excluded += leads.implausible;
        }
    }

    /// Makes room for absorbing every sample of `parts` at once, so the union is allocated
    /// once at its final size instead of growing (and copying) step by step.
    pub fn reserve_for<'a>(&mut self, parts: impl Iterator<Item = &'a Sample> + Clone) {
        let total = |length: fn(&Sample) -> usize| parts.clone().map(length).sum::<usize>();
        self.successful_times
            .reserve(total(|s| s.successful_times.len()));
        self.durations.reserve(total(|s| s.durations.len()));
        self.recoveries.reserve(total(|s| s.recoveries.len()));
        self.lead_times.reserve(total(|s| s.lead_times.len()));
        self.restores.reserve(total(|s| s.restores.len()));
    }

    /// Adds every fact of `other`: the sample of the union of both selections.
    pub fn absorb(&mut self, other: &Sample) {
        self.has_history |= other.has_history;
        self.deployments += other.deployments;
        self.successful_times
            .extend_from_slice(&other.successful_times);
        self.failed += other.failed;
        self.rework += other.rework;
        self.durations.extend_from_slice(&other.durations);
        self.recoveries.extend_from_slice(&other.recoveries);
        self.lead_times.extend_from_slice(&other.lead_times);
        self.baseline_changes += other.baseline_changes;
        self.negative_excluded += other.negative_excluded;
        self.implausible_excluded += other.implausible_excluded;
        self.incidents += other.incidents;
        self.restores.extend_from_slice(&other.restores);
    }

    /// The figures over `window` (the bucket or the whole window), with the report's tier
    /// rules and minimum sample sizes.
    pub fn figures(&self, window: Window, benchmark: &Benchmark) -> Figures {
        let values = Durations {
            lead_times: self.lead_times.clone(),
            recoveries: self.recoveries.clone(),
            restores: self.restores.clone(),
        };
        self.figures_of(values, self.has_history, window, benchmark)
    }

    /// [`Sample::figures`] of a sample no longer needed: its durations are selected in place,
    /// not copied first (millions of lead times in a large organisation's window).
    pub fn into_figures(self, window: Window, benchmark: &Benchmark) -> Figures {
        let has_history = self.has_history;
        self.into_figures_with_history(has_history, window, benchmark)
    }

    /// [`Sample::into_figures`] with `has_history` in place of the sample's own flag.
    pub fn into_figures_with_history(
        mut self,
        has_history: bool,
        window: Window,
        benchmark: &Benchmark,
    ) -> Figures {
        let values = Durations {
            lead_times: std::mem::take(&mut self.lead_times),
            recoveries: std::mem::take(&mut self.recoveries),
            restores: std::mem::take(&mut self.restores),
        };
        self.figures_of(values, has_history, window, benchmark)
    }

    /// The figures of this sample's counts and deployment times, with `values` as its
    /// durations (which quantile selection reorders, so they are handed over).
    fn figures_of(
        &self,
        values: Durations,
        has_history: bool,
        window: Window,
        benchmark: &Benchmark,
    ) -> Figures {
        let deployments = DeploymentFigures::of(
            window,
            self.successful_times.iter().copied(),
            &self.durations,
            has_history,
            benchmark,
        );
        let lead_time = LeadTimeFigures::of(
            values.lead_times,
            self.baseline_changes,
            self.negative_excluded,
            self.implausible_excluded,
            benchmark,
        );
        let change_failure_rate =
            ChangeFailureFigures::of(self.failed, self.deployments, benchmark);
        let recovery_time = RecoveryFigures::of(self.failed, values.recoveries, benchmark);
        let time_to_restore = RestoreFigures::of(self.incidents, values.restores);
        let rework_rate = ReworkFigures::of(self.rework, self.deployments);
        let overall = overall(
            benchmark,
            &deployments,
            &lead_time,
            &change_failure_rate,
            &recovery_time,
        );
        Figures {
            deployments,
            lead_time,
            change_failure_rate,
            recovery_time,
            time_to_restore,
            rework_rate,
            overall,
        }
    }
}

/// The duration values of a sample that its figures summarise.
struct Durations {
    lead_times: Vec<f64>,
    recoveries: Vec<f64>,
    restores: Vec<f64>,
}

// ---------------------------------------------------------------------------------------------
// Calendar buckets

/// The width of a series' buckets. Buckets are UTC calendar days, ISO weeks (starting Monday)
/// or calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub const NAMES: [&'static str; 3] = ["day", "week", "month"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }
}

/// Most buckets a series may have (a decade of days), so a wide window cannot make the server
/// build millions of empty points.
pub const MAX_SERIES_POINTS: usize = 3_700;

/// The start of the bucket holding `instant`.
pub fn bucket_start(instant: Timestamp, interval: Interval) -> Timestamp {
    match interval {
        Interval::Day => instant.div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY,
        Interval::Week => week_start(instant),
        Interval::Month => midnight(utc_date(instant).first_of_month()),
    }
}

/// The start of the bucket after the one starting at `start`.
fn next_bucket_start(start: Timestamp, interval: Interval) -> Timestamp {
    match interval {
        Interval::Day => start.saturating_add(SECONDS_PER_DAY),
        Interval::Week => start.saturating_add(7 * SECONDS_PER_DAY),
        Interval::Month => {
            let first = utc_date(start).first_of_month();
            match first.checked_add(jiff::Span::new().months(1)) {
                Ok(next) => midnight(next),
                // Past the calendar's end: one bucket to the end of time.
                Err(_) => Timestamp::MAX,
            }
        }
    }
}

/// `YYYY-MM-DD` of the UTC day holding `instant`.
pub fn format_date(instant: Timestamp) -> String {
    utc_date(instant).to_string()
}

/// One bucket of a series: where it starts on the calendar, and the part of the window it
/// covers (the first and last buckets may be cut by the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub window: Window,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the window holds more than {max} {interval:?} buckets; choose a wider interval or a shorter window"
)]
pub struct TooManyBuckets {
    pub interval: Interval,
    pub max: usize,
}

/// The buckets covering `window`, in order, each cut to the window.
pub fn buckets(window: Window, interval: Interval) -> Result<Vec<Bucket>, TooManyBuckets> {
    let mut buckets = Vec::new();
    let mut start = bucket_start(window.since, interval);
    while start < window.until {
        if buckets.len() == MAX_SERIES_POINTS {
            return Err(TooManyBuckets {
                interval,
                max: MAX_SERIES_POINTS,
            });
        }
        let next = next_bucket_start(start, interval);
        if next <= start {
            break; // saturated at the end of time
        }
        buckets.push(Bucket {
            start,
            window: Window {
                since: start.max(window.since),
                until: next.min(window.until),
            },
        });
        start = next;
    }
    Ok(buckets)
}

// ---------------------------------------------------------------------------------------------
// Series

/// The metrics a series can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SeriesMetric {
    /// Successful deployments in the bucket.
    DeploymentFrequency,
    /// Median seconds from author time to deployment of the changes deployed in the bucket.
    LeadTime,
    /// Failed ÷ all deployments in the bucket.
    ChangeFailureRate,
    /// Median recovery seconds of the failed deployments in the bucket.
    RecoveryTime,
    /// Median seconds from impact start to resolution of the incidents that started in the bucket.
    TimeToRestore,
    /// Remediation ÷ all deployments in the bucket.
    ReworkRate,
}

impl SeriesMetric {
    pub const ALL: [SeriesMetric; 6] = [
        Self::DeploymentFrequency,
        Self::LeadTime,
        Self::ChangeFailureRate,
        Self::RecoveryTime,
        Self::TimeToRestore,
        Self::ReworkRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DeploymentFrequency => "deployment_frequency",
            Self::LeadTime => "lead_time",
            Self::ChangeFailureRate => "change_failure_rate",
            Self::RecoveryTime => "recovery_time",
            Self::TimeToRestore => "time_to_restore",
            Self::ReworkRate => "rework_rate",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|metric| metric.name() == name)
    }
}

/// One point of a series. `value` is `null` where the bucket has no data for the metric (no
/// deployments for a rate, no changes for lead time, …), never 0; the count fields say what the
/// value was computed from and appear only for the metrics they belong to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesPoint {
    /// The bucket's start on the calendar (UTC; weeks start on Monday), `YYYY-MM-DD`.
    pub date: String,
    pub value: Option<f64>,
    /// deployment_frequency: successful deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// change_failure_rate, rework_rate: all deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployments: Option<usize>,
    /// change_failure_rate: failed deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<usize>,
    /// rework_rate: remediation deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rework: Option<usize>,
    /// lead_time: changes with a lead time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<usize>,
    /// recovery_time: failed deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<usize>,
    /// recovery_time: failed deployments with a measured recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<usize>,
    /// time_to_restore: incidents that started in the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<usize>,
    /// lead_time, recovery_time, time_to_restore: the bucket's p90.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_seconds: Option<f64>,
}

impl SeriesPoint {
    pub fn of(date: String, metric: SeriesMetric, figures: &Figures) -> Self {
        let mut point = SeriesPoint {
            date,
            ..SeriesPoint::default()
        };
        match metric {
            SeriesMetric::DeploymentFrequency => {
                let count = figures.deployments.count;
                point.value = Some(count as f64);
                point.count = Some(count);
            }
            SeriesMetric::LeadTime => {
                point.value = figures.lead_time.median_seconds;
                point.changes = Some(figures.lead_time.changes);
                point.p90_seconds = figures.lead_time.p90_seconds;
            }
            SeriesMetric::ChangeFailureRate => {
                point.value = figures.change_failure_rate.rate;
                point.failed = Some(figures.change_failure_rate.failed);
                point.deployments = Some(figures.change_failure_rate.deployments);
            }
            SeriesMetric::RecoveryTime => {
                point.value = figures.recovery_time.median_seconds;
                point.failures = Some(figures.recovery_time.failures);
                point.recovered = Some(figures.recovery_time.recovered);
                point.p90_seconds = figures.recovery_time.p90_seconds;
            }
            SeriesMetric::TimeToRestore => {
                point.value = figures.time_to_restore.median_seconds;
                point.incidents = Some(figures.time_to_restore.incidents);
                point.p90_seconds = figures.time_to_restore.p90_seconds;
            }
            SeriesMetric::ReworkRate => {
                point.value = figures.rework_rate.rate;
                point.rework = Some(figures.rework_rate.rework);
                point.deployments = Some(figures.rework_rate.deployments);
            }
        }
        point
    }
}

/// Collects the facts of many chains into the buckets of one series.
#[derive(Debug, Clone)]
pub struct SeriesBuilder {
    window: Window,
    interval: Interval,
    buckets: Vec<Bucket>,
    samples: Vec<Sample>,
    has_history: bool,
    /// The bucket of the last fact added.
    cursor: usize,
}

impl SeriesBuilder {
    pub fn new(window: Window, interval: Interval) -> Result<Self, TooManyBuckets> {
        let buckets = buckets(window, interval)?;
        let samples = vec![Sample::default(); buckets.len()];
        Ok(Self {
            window,
            interval,
            buckets,
            samples,
            has_history: false,
            cursor: 0,
        })
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// Adds one analysed chain: each fact goes to the bucket holding its time. The
    /// deployments of one bucket are one run of the chain's, added (with their lead times) at
    /// once, so a chain costs its buckets with data and its deployments, not its changes.
    pub fn add_chain(&mut self, analysis: &ChainAnalysis) {
        // Set once here, not per bucket: a chain costs its facts, not the number of buckets.
        self.has_history |= !analysis.deployments.is_empty();
        let positions = analysis.deployment_range(self.window);
        let mut first = positions.start;
        while first < positions.end {
            let bucket = self.bucket_of(analysis.deployments[first].time);
            // Before the first bucket, nothing counts.
            let until = match bucket {
                Some(bucket) => self.bucket_until(bucket),
                None => self.buckets.first().map_or(Timestamp::MAX, |b| b.start),
            };
            let end = first
                + analysis.deployments[first..positions.end]
                    .partition_point(|facts| facts.time < until);
            if let Some(bucket) = bucket {
                self.samples[bucket].add_deployments(analysis, first..end);
            }
            first = end.max(first + 1);
        }
        for (time, fact) in incident_facts(analysis, self.window) {
            if let Some(position) = self.bucket_of(time) {
                self.samples[position].add(time, fact);
            }
        }
    }

    /// The bucket holding `time`: the last one starting at or before it, the one of the
    /// previous call tried first (facts mostly come in time order). `None` outside the window.
    fn bucket_of(&mut self, time: Timestamp) -> Option<usize> {
        if !self.window.contains(time) {
            return None;
        }
        let position = match self.buckets.get(self.cursor) {
            Some(bucket) if bucket.start <= time && time < self.bucket_until(self.cursor) => {
                self.cursor
            }
            _ => self
                .buckets
                .partition_point(|bucket| bucket.start <= time)
                .checked_sub(1)?,
        };
        self.cursor = position;
        Some(position)
    }

    /// Where bucket `position` ends: the next one's start, the window's end for the last.
    fn bucket_until(&self, position: usize) -> Timestamp {
        self.buckets
            .get(position + 1)
            .map_or(self.window.until, |bucket| bucket.start)
    }

    /// The points of `metric`, one per bucket, oldest first.
    pub fn points(&self, metric: SeriesMetric, benchmark: &Benchmark) -> Vec<SeriesPoint> {
        self.clone().into_points(metric, benchmark)
    }

    /// [`SeriesBuilder::points`] of a series no longer needed, without copying its samples.
    pub fn into_points(self, metric: SeriesMetric, benchmark: &Benchmark) -> Vec<SeriesPoint> {
        self.into_bucket_figures(benchmark)
            .into_iter()
            .map(|(bucket, figures)| SeriesPoint::of(format_date(bucket.start), metric, &figures))
            .collect()
    }

    /// Every bucket with all its figures, oldest first: several metrics' points from one
    /// computation ([`SeriesPoint::of`] picks one metric out of them).
    pub fn bucket_figures(&self, benchmark: &Benchmark) -> Vec<(Bucket, Figures)> {
        self.clone().into_bucket_figures(benchmark)
    }

    /// [`SeriesBuilder::bucket_figures`] of a series no longer needed, without copying its
    /// samples first.
    pub fn into_bucket_figures(self, benchmark: &Benchmark) -> Vec<(Bucket, Figures)> {
        // Whether there is history at all is the series' question, not the bucket's.
        let has_history = self.has_history;
        self.buckets
            .into_iter()
            .zip(self.samples)
            .map(|(bucket, sample)| {
                let figures =
                    sample.into_figures_with_history(has_history, bucket.window, benchmark);
                (bucket, figures)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Leaderboard

/// What a leaderboard groups chains by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The team (squad) that owns the service, as `[teams]` says.
    Team,
    Tribe,
    Service,
    Environment,
}

impl GroupBy {
    pub const NAMES: [&'static str; 4] = ["team", "tribe", "service", "environment"];

    /// `squad`, the name the API used first, is accepted for `team`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "team" | "squad" => Some(Self::Team),
            "tribe" => Some(Self::Tribe),
            "service" => Some(Self::Service),
            "environment" => Some(Self::Environment),
            _ => None,
        }
    }
}

/// The group of chains without an owner (no squad, or a squad without a tribe).
pub const UNASSIGNED: &str = "unassigned";

/// The group a chain belongs to: its squad, its squad's tribe, its service or its environment;
/// [`UNASSIGNED`] where the ownership configuration says nothing.
pub fn group_of(group_by: GroupBy, labels: &crate::report::ChainLabels) -> &str {
    match group_by {
        GroupBy::Team => labels.team.as_deref().unwrap_or(UNASSIGNED),
        GroupBy::Tribe => labels.tribe.as_deref().unwrap_or(UNASSIGNED),
        GroupBy::Service => &labels.service,
        GroupBy::Environment => &labels.environment,
    }
}

/// One (service, environment) in a leaderboard row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainName {
    pub service: String,
    pub environment: String,
}

/// One row of the leaderboard: a group's figures over the window, pooled over its chains
/// (rates are failed ÷ deployments over all of them, medians over all their values).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaderboardRow {
    /// 1-based position in the sort order.
    pub rank: usize,
    /// The squad, tribe, service or environment; `unassigned` for chains without an owner.
    pub group: String,
    pub chains: Vec<ChainName>,
    #[serde(flatten)]
    pub figures: Figures,
}

pub const LEADERBOARD_SCHEMA: &str = "loopwise.leaderboard.v1";

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Leaderboard {
    /// `loopwise.leaderboard.v1`.
    pub schema: &'static str,
    pub window: WindowText,
    pub benchmark: String,
    pub group_by: GroupBy,
    /// By successful deployments, most first; ties by group name.
    pub rows: Vec<LeaderboardRow>,
}

/// Collects analysed chains into leaderboard groups.
#[derive(Debug, Clone)]
pub struct LeaderboardBuilder {
    window: Window,
    group_by: GroupBy,
    groups: BTreeMap<String, (Vec<ChainName>, Sample)>,
}

impl LeaderboardBuilder {
    pub fn new(window: Window, group_by: GroupBy) -> Self {
        Self {
            window,
            group_by,
            groups: BTreeMap::new(),
        }
    }

    pub fn group_by(&self) -> GroupBy {
        self.group_by
    }

    /// Adds one analysed chain to `group`.
    pub fn add_chain(&mut self, group: &str, chain: ChainName, analysis: &ChainAnalysis) {
        let (chains, sample) = self.groups.entry(group.to_string()).or_default();
        chains.push(chain);
        sample.has_history |= !analysis.deployments.is_empty();
        sample.add_chain(analysis, self.window);
    }

    pub fn finish(self, benchmark: &Benchmark) -> Leaderboard {
        let window = self.window;
        let mut rows: Vec<LeaderboardRow> = self
            .groups
            .into_iter()
            .map(|(group, (mut chains, sample))| {
                chains.sort();
                LeaderboardRow {
                    rank: 0,
                    group,
                    chains,
                    figures: sample.into_figures(window, benchmark),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.figures
                .deployments
                .count
                .cmp(&a.figures.deployments.count)
                .then_with(|| a.group.cmp(&b.group))
        });
        for (position, row) in rows.iter_mut().enumerate() {
            row.rank = position + 1;
        }
        Leaderboard {
            schema: LEADERBOARD_SCHEMA,
            window: window.into(),
            benchmark: benchmark.name.to_string(),
            group_by: self.group_by,
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        crate::time::parse_instant(text).unwrap()
    }

    #[test]
    fn buckets_start_on_days_mondays_and_firsts() {
        let instant = at("2024-05-01T13:45:00Z"); // a Wednesday
        assert_eq!(bucket_start(instant, Interval::Day), at("2024-05-01"));
        assert_eq!(bucket_start(instant, Interval::Week), at("2024-04-29"));
        assert_eq!(bucket_start(instant, Interval::Month), at("2024-05-01"));
        let sunday = at("2024-05-05T23:59:59Z");
        assert_eq!(bucket_start(sunday, Interval::Week), at("2024-04-29"));
        assert_eq!(
            bucket_start(at("2024-05-06"), Interval::Week),
            at("2024-05-06")
        );
        assert_eq!(
            bucket_start(at("2024-02-29T12:00:00Z"), Interval::Month),
            at("2024-02-01")
        );
        assert_eq!(bucket_start(-1, Interval::Day), -SECONDS_PER_DAY);
        assert_eq!(format_date(at("2024-02-29T23:00:00Z")), "2024-02-29");
        assert_eq!(
            next_bucket_start(at("2024-12-01"), Interval::Month),
            at("2025-01-01")
        );
        assert_eq!(
            format_date(i64::MAX),
            "9999-12-30",
            "clamped to jiff's last instant, no panic"
        );
        assert_eq!(
            bucket_start(i64::MIN, Interval::Month),
            jiff::Timestamp::MIN.as_second()
        );
    }

    #[test]
    fn buckets_cover_the_window_and_are_cut_by_it() {
        let window = Window::new(at("2024-01-15"), at("2024-03-10")).unwrap();
        let months = buckets(window, Interval::Month).unwrap();
        let starts: Vec<String> = months.iter().map(|b| format_date(b.start)).collect();
        assert_eq!(starts, ["2024-01-01", "2024-02-01", "2024-03-01"]);
        assert_eq!(months[0].window.since, at("2024-01-15"));
        assert_eq!(months[0].window.until, at("2024-02-01"));
        assert_eq!(months[2].window.until, at("2024-03-10"));
        let december = Window::new(at("2024-12-20"), at("2025-01-02")).unwrap();
        let starts: Vec<String> = buckets(december, Interval::Month)
            .unwrap()
            .iter()
            .map(|b| format_date(b.start))
            .collect();
        assert_eq!(starts, ["2024-12-01", "2025-01-01"]);
        let days = buckets(
            Window::new(at("2024-01-01"), at("2024-01-08")).unwrap(),
            Interval::Day,
        )
        .unwrap();
        assert_eq!(days.len(), 7);
        let wide = Window::new(at("1900-01-01"), at("2024-01-01")).unwrap();
        assert!(buckets(wide, Interval::Day).is_err());
        assert_eq!(buckets(wide, Interval::Month).unwrap().len(), 124 * 12);
    }

    #[test]
    fn an_absorbed_sample_is_the_union_of_the_facts() {
        let facts = [
            (10, Fact::Change(ChangeLead::Seconds(30))),
            (
                20,
                Fact::Deployment {
                    succeeded: false,
                    failed: true,
                    rework: false,
                    duration_seconds: None,
                    recovery_seconds: Some(60),
                },
            ),
            (30, Fact::Change(ChangeLead::Seconds(10))),
            (
                40,
                Fact::Deployment {
                    succeeded: true,
                    failed: false,
                    rework: true,
                    duration_seconds: Some(5),
                    recovery_seconds: None,
                },
            ),
            (
                50,
                Fact::Incident {
                    restore_seconds: Some(7),
                },
            ),
            (60, Fact::Change(ChangeLead::Baseline)),
        ];
        let mut whole = Sample::default();
        let (mut left, mut right) = (Sample::default(), Sample::default());
        for (n, (time, fact)) in facts.iter().enumerate() {
            whole.add(*time, *fact);
            if n % 2 == 0 {
                left.add(*time, *fact)
            } else {
                right.add(*time, *fact)
            }
        }
        left.absorb(&right);
        let window = Window::new(0, 7 * SECONDS_PER_DAY).unwrap();
        let benchmark = Benchmark::default_benchmark();
        let (union, expected) = (
            left.figures(window, benchmark),
            whole.figures(window, benchmark),
        );
        assert_eq!(
            serde_json::to_value(&union).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
        assert_eq!(union.lead_time.median_seconds, Some(20.0));
        assert_eq!(union.change_failure_rate.deployments, 2);
    }

    #[test]
    fn names_round_trip() {
        for metric in SeriesMetric::ALL {
            assert_eq!(SeriesMetric::from_name(metric.name()), Some(metric));
        }
        assert_eq!(SeriesMetric::from_name("velocity"), None);
        assert_eq!(Interval::from_name("Week"), Some(Interval::Week));
        assert_eq!(Interval::from_name("year"), None);
        assert_eq!(GroupBy::from_name("team"), Some(GroupBy::Team));
        assert_eq!(GroupBy::from_name("org"), None);
    }
}
