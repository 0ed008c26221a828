//! The report: the figures of one analysed chain over a window, rated against a benchmark.
//!
//! Field names follow PRODUCT.md section 5 (`loopwise.report.v1`): they are a contract. A figure
//! without data is `None` (JSON `null`), never 0.

use crate::benchmark::{
    Benchmark, MIN_CHANGES_FOR_TIER, MIN_DEPLOYMENTS_FOR_TIER, MIN_RECOVERIES_FOR_TIER,
    MIN_WINDOW_DAYS_FOR_FREQUENCY_TIER, Measured, Overall, Tier,
};
use crate::metrics::{ChainAnalysis, LeadSlice, LinkRule};
use crate::stats::Summary;
use crate::time::format_rfc3339;
use crate::time::{SECONDS_PER_DAY, SECONDS_PER_WEEK, Timestamp, Window, WindowText};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;

pub const REPORT_SCHEMA: &str = "loopwise.report.v1";

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub schema: &'static str,
    pub window: WindowText,
    pub benchmark: String,
    pub services: Vec<ServiceReport>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceReport {
    pub service: String,
    pub environment: String,
    pub team: Option<String>,
    /// The tribe of the team, from the ownership configuration.
    pub tribe: Option<String>,
    pub deployments: DeploymentFigures,
    pub lead_time: LeadTimeFigures,
    pub change_failure_rate: ChangeFailureFigures,
    pub recovery_time: RecoveryFigures,
    pub time_to_restore: RestoreFigures,
    pub rework_rate: ReworkFigures,
    pub overall: Overall,
    pub provenance: BTreeMap<String, String>,
    /// The window's incidents and the deployment each was linked to, with the rule that did it.
    pub incidents: Vec<IncidentLinkFigure>,
    /// What a reader should know about the figures (too little data, unknown commits, …).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentFigures {
    /// Successful deployments in the window.
    pub count: usize,
    pub per_day: f64,
    pub per_week: f64,
    /// Median over the whole calendar weeks (Monday to Monday, UTC) inside the window of the
    /// number of UTC days with a successful deployment; `None` when the window holds no whole
    /// week.
    pub deploy_days_per_week_median: Option<f64>,
    /// What the tier is decided from; see [`crate::benchmark`].
    pub effective_deploys_per_week: f64,
    /// Average seconds from start to finish, where both are known.
    pub average_duration_seconds: Option<f64>,
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadTimeFigures {
    /// Changes with a measured lead time.
    pub changes: usize,
    /// Changes shipped by the chain's first deployment, which has no baseline.
    pub baseline_changes: usize,
    /// Changes whose author time is after their deployment (clock skew), left out.
    pub negative_excluded: usize,
    /// Changes whose author time cannot be believed (1970, or years before the history's
    /// first commit), left out.
    pub implausible_excluded: usize,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub mean_seconds: Option<f64>,
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeFailureFigures {
    pub failed: usize,
    /// All deployments in the window, whatever their status.
    pub deployments: usize,
    pub rate: Option<f64>,
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryFigures {
    /// Failed deployments in the window.
    pub failures: usize,
    /// Those with a remediation, whose recovery time is measured.
    pub recovered: usize,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentLinkFigure {
    pub id: String,
    pub started_at: String,
    pub resolved_at: Option<String>,
    /// The id of the deployment it was linked to.
    pub deployment: Option<String>,
    pub rule: LinkRule,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreFigures {
    pub incidents: usize,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReworkFigures {
    pub rework: usize,
    pub deployments: usize,
    pub rate: Option<f64>,
}

/// What the report says about a chain beyond its figures.
#[derive(Debug, Clone, Default)]
pub struct ChainLabels {
    pub service: String,
    pub environment: String,
    pub team: Option<String>,
    pub tribe: Option<String>,
    /// Shared: worked out once per analysed chain, not per report that visits it.
    pub provenance: std::sync::Arc<BTreeMap<String, String>>,
}

/// `count` and the sentence that agrees with it: `1 deployment was …`, `2 deployments were …`.
pub fn agreeing(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// The figures of `analysis` over `window`, rated against `benchmark`.
pub fn service_report(
    labels: ChainLabels,
    analysis: &ChainAnalysis,
    window: Window,
    benchmark: &Benchmark,
) -> ServiceReport {
    let mut notes = Vec::new();
    let range = analysis.deployment_range(window);
    let in_window: Vec<_> = analysis.deployments[range.clone()].iter().collect();
    let successful: Vec<_> = in_window.iter().filter(|facts| facts.succeeded()).collect();

    // Deployment frequency.
    let durations: Vec<f64> = successful
        .iter()
        .filter_map(|f| f.deployment.duration_seconds())
        .map(|s| s as f64)
        .collect();
    if analysis.deployments.is_empty() {
        notes.push("no deployments found for this service and environment".to_string());
    } else if in_window.is_empty() {
        notes.push("no deployments in the window".to_string());
    }
    if window.length_days() < MIN_WINDOW_DAYS_FOR_FREQUENCY_TIER {
        notes.push("the window is shorter than a week: no deployment frequency tier".to_string());
    }
    let deployments = DeploymentFigures::of(
        window,
        successful.iter().map(|f| f.time),
        &durations,
        !analysis.deployments.is_empty(),
        benchmark,
    );

    // Lead time: the window's deployments' lead times, one slice of the chain's index.
    let leads = analysis.lead_times_of(range).unwrap_or(LeadSlice {
        seconds: &[],
        baseline: 0,
        negative: 0,
        implausible: 0,
    });
    let (lead_times, baseline_changes, negative_excluded, implausible_excluded) = (
        leads.seconds.to_vec(),
        leads.baseline,
        leads.negative,
        leads.implausible,
    );
    let lead_time = LeadTimeFigures::of(
        lead_times,
        baseline_changes,
        negative_excluded,
        implausible_excluded,
        benchmark,
    );
    if (1..MIN_CHANGES_FOR_TIER).contains(&lead_time.changes) {
        notes.push(format!(
            "fewer than {MIN_CHANGES_FOR_TIER} changes with a lead time: no lead time tier"
        ));
    }

    // Change failure rate, recovery, rework.
    let failed: Vec<_> = in_window.iter().filter(|facts| facts.failed()).collect();
    let total = in_window.len();
    if (1..MIN_DEPLOYMENTS_FOR_TIER).contains(&total) {
        notes.push(format!(
            "fewer than {MIN_DEPLOYMENTS_FOR_TIER} deployments in the window: no change failure rate tier"
        ));
    }
    let change_failure_rate = ChangeFailureFigures::of(failed.len(), total, benchmark);
    let recoveries = failed
        .iter()
        .filter_map(|f| f.recovery_seconds)
        .map(|s| s as f64)
        .collect();
    let recovery_time = RecoveryFigures::of(failed.len(), recoveries, benchmark);
    let rework = in_window.iter().filter(|facts| facts.is_rework()).count();
    let rework_rate = ReworkFigures::of(rework, total);

    if analysis.unknown_commits > 0 {
        notes.push(agreeing(
            analysis.unknown_commits,
            "deployment names a commit that is not in the imported history; it ships no known change",
            "deployments name a commit that is not in the imported history; they ship no known change",
        ));
    }
    if analysis.undated > 0 {
        notes.push(agreeing(
            analysis.undated,
            "deployment without a time was left out",
            "deployments without a time were left out",
        ));
    }
    if negative_excluded > 0 {
        notes.push(agreeing(
            negative_excluded,
            "change authored after its deployment (clock skew) was left out",
            "changes authored after their deployment (clock skew) were left out",
        ));
    }
    if implausible_excluded > 0 {
        notes.push(agreeing(
            implausible_excluded,
            "change with an implausible author date (1970, or years before the history began) was left out of lead time",
            "changes with an implausible author date (1970, or years before the history began) were left out of lead time",
        ));
    }
    if analysis.open_reverts > 0 {
        notes.push(agreeing(
            analysis.open_reverts,
            "deployment failed by a revert that is committed but not deployed yet: its recovery is still open",
            "deployments failed by a revert that is committed but not deployed yet: their recovery is still open",
        ));
    }
    if analysis.paths_match_nothing {
        let paths = labels
            .provenance
            .get("paths")
            .map_or(String::new(), |paths| format!(" ({paths})"));
        notes.push(format!(
            "no commit of the history touches the service's paths{paths}, so no change is counted: check the paths"
        ));
    }
    if analysis.ambiguous_reverts > 0 {
        notes.push(agreeing(
            analysis.ambiguous_reverts,
            "revert line names an ambiguous abbreviated commit id (it fits several commits) and was ignored",
            "revert lines name an ambiguous abbreviated commit id (it fits several commits) and were ignored",
        ));
    }

    // Time to restore: per incident that started in the window, resolved minus impact start.
    let window_incidents: Vec<_> = analysis
        .incidents
        .iter()
        .filter(|facts| window.contains(facts.incident.started_at))
        .collect();
    let restores = window_incidents
        .iter()
        .filter_map(|facts| {
            facts
                .incident
                .resolved_at
                .map(|r| r.saturating_sub(facts.incident.started_at))
        })
        .filter(|&seconds| seconds >= 0)
        .map(|seconds| seconds as f64)
        .collect();
    let time_to_restore = RestoreFigures::of(window_incidents.len(), restores);
    let incident_links = window_incidents
        .iter()
        .map(|facts| IncidentLinkFigure {
            id: facts.incident.id.clone(),
            started_at: format_rfc3339(facts.incident.started_at),
            resolved_at: facts.incident.resolved_at.map(format_rfc3339),
            deployment: facts
                .deployment
                .map(|position| analysis.deployments[position].deployment.id.clone()),
            rule: facts.rule,
        })
        .collect();

    let overall = overall(
        benchmark,
        &deployments,
        &lead_time,
        &change_failure_rate,
        &recovery_time,
    );

    ServiceReport {
        service: labels.service,
        environment: labels.environment,
        team: labels.team,
        tribe: labels.tribe,
        deployments,
        lead_time,
        change_failure_rate,
        recovery_time,
        time_to_restore,
        rework_rate,
        overall,
        provenance: BTreeMap::clone(&labels.provenance),
        incidents: incident_links,
        notes,
    }
}

// Each figure from what it is counted from, with its tier rule and minimum sample size: one
// place for what a number means, whether one chain's report or a rollup's bucket or group
// counted it.

impl DeploymentFigures {
    /// Deployment frequency is rated over a week or more, and only where the chains have
    /// deployments at all (`has_history`: in or out of the window).
    pub(crate) fn of(
        window: Window,
        successful_times: impl ExactSizeIterator<Item = Timestamp>,
        durations: &[f64],
        has_history: bool,
        benchmark: &Benchmark,
    ) -> Self {
        let days = window.length_days();
        let count = successful_times.len();
        let per_day = count as f64 / days;
        let per_week = per_day * 7.0;
        let deploy_days_per_week_median = deploy_days_per_week_median(window, successful_times);
        let effective_deploys_per_week = match deploy_days_per_week_median {
            Some(median) if median >= 1.0 => median,
            _ => per_week,
        };
        let average_duration_seconds =
            (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64);
        let rated = days >= MIN_WINDOW_DAYS_FOR_FREQUENCY_TIER && has_history;
        Self {
            count,
            per_day,
            per_week,
            deploy_days_per_week_median,
            effective_deploys_per_week,
            average_duration_seconds,
            tier: rated.then(|| benchmark.rate_deployment_frequency(effective_deploys_per_week)),
        }
    }
}

impl LeadTimeFigures {
    pub(crate) fn of(
        lead_times: Vec<f64>,
        baseline_changes: usize,
        negative_excluded: usize,
        implausible_excluded: usize,
        benchmark: &Benchmark,
    ) -> Self {
        let summary = Summary::of(lead_times);
        let changes = summary.map_or(0, |s| s.count);
        Self {
            changes,
            baseline_changes,
            negative_excluded,
            implausible_excluded,
            median_seconds: summary.map(|s| s.median),
            p90_seconds: summary.map(|s| s.p90),
            mean_seconds: summary.map(|s| s.mean),
            tier: summary
                .filter(|_| changes >= MIN_CHANGES_FOR_TIER)
                .map(|s| benchmark.rate_lead_time(s.median)),
        }
    }
}

impl ChangeFailureFigures {
    pub(crate) fn of(failed: usize, deployments: usize, benchmark: &Benchmark) -> Self {
        let rate = (deployments > 0).then(|| failed as f64 / deployments as f64);
        Self {
            failed,
            deployments,
            rate,
            tier: rate
                .filter(|_| deployments >= MIN_DEPLOYMENTS_FOR_TIER)
                .map(|r| benchmark.rate_change_failure_rate(r)),
        }
    }
}

impl RecoveryFigures {
    pub(crate) fn of(failures: usize, recoveries: Vec<f64>, benchmark: &Benchmark) -> Self {
        let summary = Summary::of(recoveries);
        Self {
            failures,
            recovered: summary.map_or(0, |s| s.count),
            median_seconds: summary.map(|s| s.median),
            p90_seconds: summary.map(|s| s.p90),
            tier: summary
                .filter(|s| s.count >= MIN_RECOVERIES_FOR_TIER)
                .map(|s| benchmark.rate_recovery_time(s.median)),
        }
    }
}

impl RestoreFigures {
    pub(crate) fn of(incidents: usize, restores: Vec<f64>) -> Self {
        let summary = Summary::of(restores);
        Self {
            incidents,
            median_seconds: summary.map(|s| s.median),
            p90_seconds: summary.map(|s| s.p90),
        }
    }
}

impl ReworkFigures {
    pub(crate) fn of(rework: usize, deployments: usize) -> Self {
        Self {
            rework,
            deployments,
            rate: (deployments > 0).then(|| rework as f64 / deployments as f64),
        }
    }
}

/// The overall tier, decided from the figures that earned a tier of their own.
pub(crate) fn overall(
    benchmark: &Benchmark,
    deployments: &DeploymentFigures,
    lead_time: &LeadTimeFigures,
    change_failure_rate: &ChangeFailureFigures,
    recovery_time: &RecoveryFigures,
) -> Overall {
    benchmark.overall(&Measured {
        deploys_per_week: deployments
            .tier
            .map(|_| deployments.effective_deploys_per_week),
        lead_time_median_seconds: lead_time.tier.and(lead_time.median_seconds),
        change_failure_rate: change_failure_rate.tier.and(change_failure_rate.rate),
        recovery_median_seconds: recovery_time.tier.and(recovery_time.median_seconds),
    })
}

/// The first Monday 00:00 UTC of the Unix epoch (1970-01-05): calendar weeks count from it.
pub const FIRST_MONDAY: Timestamp = 4 * SECONDS_PER_DAY;

/// The whole calendar weeks (Monday 00:00 to Monday 00:00 UTC) lying inside `window`, as a
/// range of week numbers counted from [`FIRST_MONDAY`]; empty when the window holds none.
pub fn whole_weeks(window: Window) -> Range<i64> {
    let first = (window.since - FIRST_MONDAY + SECONDS_PER_WEEK - 1).div_euclid(SECONDS_PER_WEEK);
    let end = (window.until - FIRST_MONDAY).div_euclid(SECONDS_PER_WEEK);
    first..end.max(first)
}

/// Windows of up to this many weeks (about two thousand years) count deploy days densely.
const DENSE_WEEKS_MAX: i64 = 100_000;

/// The median, over the whole calendar weeks inside the window ([`whole_weeks`]), of the number
/// of distinct UTC calendar days with a deployment; a week without one counts as 0, so the
/// value lies between 0 and 7. `None` when the window holds no whole week.
pub fn deploy_days_per_week_median(
    window: Window,
    times: impl Iterator<Item = i64>,
) -> Option<f64> {
    let weeks = whole_weeks(window);
    let total = usize::try_from(weeks.end - weeks.start).ok()?;
    if total == 0 {
        return None;
    }
    // Week number and weekday (0 = Monday) of an instant.
    let place = |time: i64| {
        let day = (time - FIRST_MONDAY).div_euclid(SECONDS_PER_DAY);
        (day.div_euclid(7), day.rem_euclid(7) as u32)
    };
    let mut counts: Vec<f64> = if weeks.end - weeks.start <= DENSE_WEEKS_MAX {
        // Dense: one bit per weekday, so each deployment costs a shift and an or.
        let mut days = vec![0u8; total];
        for time in times {
            let (week, weekday) = place(time);
            if weeks.contains(&week) {
                days[(week - weeks.start) as usize] |= 1 << weekday;
            }
        }
        days.iter()
            .filter(|mask| **mask != 0)
            .map(|mask| f64::from(mask.count_ones()))
            .collect()
    } else {
        // Sparse: a window of centuries has millions of weeks but only the deployed ones hold days.
        let mut days_by_week: BTreeMap<i64, u8> = BTreeMap::new();
        for time in times {
            let (week, weekday) = place(time);
            if weeks.contains(&week) {
                *days_by_week.entry(week).or_default() |= 1 << weekday;
            }
        }
        days_by_week
            .values()
            .map(|mask| f64::from(mask.count_ones()))
            .collect()
    };
    counts.sort_by(f64::total_cmp);
    let empty_weeks = total - counts.len();
    // The k-th smallest of all weeks: the empty weeks (zero) come first.
    let kth = |k: usize| {
        if k < empty_weeks {
            0.0
        } else {
            counts[k - empty_weeks]
        }
    };
    let rank = (total - 1) as f64 * 0.5;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(total - 1);
    Some(kth(lower) + (rank - lower as f64) * (kth(upper) - kth(lower)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_agree_with_their_counts() {
        assert_eq!(
            agreeing(1, "tag was left out", "tags were left out"),
            "1 tag was left out"
        );
        assert_eq!(
            agreeing(3, "tag was left out", "tags were left out"),
            "3 tags were left out"
        );
    }

    const DAY: i64 = SECONDS_PER_DAY;

    /// The definition, spelled out with jiff's calendar instead of arithmetic: walk the
    /// Mondays from the first at or after `since`; every week that ends by `until` is a whole
    /// week; count the distinct UTC dates with a deployment in it; take the median.
    fn naive_deploy_days_median(window: Window, times: &[i64]) -> Option<f64> {
        use jiff::civil::{Date, Weekday};
        let date_of = |t: i64| {
            jiff::Timestamp::from_second(t)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
        };
        let midnight = |d: Date| {
            d.to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
        };
        let mut monday = date_of(window.since);
        while monday.weekday() != Weekday::Monday || midnight(monday) < window.since {
            monday = monday.tomorrow().unwrap();
        }
        let mut counts = Vec::new();
        loop {
            let next = monday.checked_add(jiff::Span::new().days(7)).unwrap();
            if midnight(next) > window.until {
                break;
            }
            let mut dates: Vec<Date> = times
                .iter()
                .map(|&t| date_of(t))
                .filter(|d| *d >= monday && *d < next)
                .collect();
            dates.sort();
            dates.dedup();
            counts.push(dates.len() as f64);
            monday = next;
        }
        counts.sort_by(f64::total_cmp);
        crate::stats::quantile_sorted(&counts, 0.5)
    }

    proptest::proptest! {
        #[test]
        fn deploy_days_are_counted_as_defined(
            since in 1_600_000_000i64..1_700_000_000,
            length in 1i64..(80 * DAY),
            offsets in proptest::collection::vec(0.0f64..1.0, 0..200),
        ) {
            let window = Window::new(since, since + length).unwrap();
            let times: Vec<i64> = offsets.iter().map(|f| since + (f * length as f64) as i64).collect();
            let median = deploy_days_per_week_median(window, times.iter().copied());
            proptest::prop_assert_eq!(median, naive_deploy_days_median(window, &times));
            proptest::prop_assert!(median.is_none_or(|m| (0.0..=7.0).contains(&m)));
        }
    }

    #[test]
    fn centuries_of_weeks_are_counted_sparsely_alike() {
        let since = -100_000_000_000; // about 1200 BC: far more weeks than the dense limit
        let window = Window::new(since, 1_700_000_000).unwrap();
        let times = [1_699_000_000, 1_699_000_100, 1_699_100_000, 1_600_000_000];
        assert_eq!(
            deploy_days_per_week_median(window, times.iter().copied()),
            Some(0.0),
            "four deployed weeks among millions of empty ones"
        );
    }

    #[test]
    fn incidents_give_time_to_restore_and_fail_their_deployments() {
        use crate::graph::CommitGraph;
        use crate::graph::tests::change;
        use crate::metrics::link_incidents;
        use crate::metrics::tests::{analyze, deployment, incident};
        let graph =
            CommitGraph::from_changes(&[change("aaaa", &[], 0), change("bbbb", &["aaaa"], DAY)]);
        let mut analysis = analyze(
            &graph,
            vec![
                deployment("d1", "aaaa", DAY / 2),
                deployment("d2", "bbbb", 2 * DAY),
            ],
        );
        let incidents = [
            incident("i1", 2 * DAY + 3_600, Some(2 * DAY + 3 * 3_600), None),
            incident("i2", 9 * DAY, None, None),
        ];
        link_incidents(&mut analysis, Some(&graph), &incidents, 72 * 3_600);
        let window = Window::new(0, 10 * DAY).unwrap();
        let report = service_report(
            ChainLabels::default(),
            &analysis,
            window,
            Benchmark::default_benchmark(),
        );
        assert_eq!(report.time_to_restore.incidents, 2);
        assert_eq!(
            report.time_to_restore.median_seconds,
            Some(7_200.0),
            "only i1 is resolved: 2 h"
        );
        assert_eq!(
            report.change_failure_rate.failed, 1,
            "i1 fails d2; i2 is past the 72 h window"
        );
        assert_eq!(
            report.recovery_time.median_seconds,
            Some(3.0 * 3_600.0),
            "d2 at day 2 to i1's resolution"
        );
        let rules: Vec<(Option<&str>, LinkRule)> = report
            .incidents
            .iter()
            .map(|i| (i.deployment.as_deref(), i.rule))
            .collect();
        assert_eq!(
            rules,
            vec![
                (Some("d2"), LinkRule::LatestBefore),
                (None, LinkRule::Unlinked)
            ]
        );
    }

    #[test]
    fn deploy_days_median_counts_whole_calendar_weeks() {
        // 2024-01-01 was a Monday.
        let monday = 1_704_067_200;
        let window = Window::new(monday, monday + 21 * DAY + 3 * DAY).unwrap();
        let times = [
            monday,
            monday + 10,
            monday + DAY,
            monday + 2 * DAY, // week 1: Mon, Tue, Wed → 3
            monday + 8 * DAY, // week 2: 1
            // week 3: 0
            monday + 22 * DAY, // the trailing three days are no whole week: dropped
        ];
        assert_eq!(
            deploy_days_per_week_median(window, times.into_iter()),
            Some(1.0)
        );
        let short = Window::new(monday, monday + 3 * DAY).unwrap();
        assert_eq!(
            deploy_days_per_week_median(short, [monday, monday + DAY].into_iter()),
            None,
            "no whole week, no value"
        );
    }

    #[test]
    fn a_window_starting_at_noon_never_gives_eight_days() {
        // Noon on Monday 2024-01-01 to Monday 2024-01-15 noon: the only whole week is
        // 2024-01-08 .. 2024-01-15. A deployment every 12 hours touches each of its 7 days.
        let monday = 1_704_067_200;
        let window = Window::new(monday + DAY / 2, monday + 14 * DAY + DAY / 2).unwrap();
        let times = (0..30).map(|i| monday + DAY / 2 + i * DAY / 2);
        assert_eq!(whole_weeks(window).count(), 1);
        assert_eq!(deploy_days_per_week_median(window, times), Some(7.0));
    }
}
