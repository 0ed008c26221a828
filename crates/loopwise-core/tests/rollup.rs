//! Property tests of series and leaderboard figures against the report itself as the naive
//! reference: a series bucket must hold exactly the figures of a report run over that bucket's
//! part of the window, a bucket or group holding a single chain's whole window must equal the
//! chain's report, and counts must add up over buckets and groups.

use loopwise_core::events::Incident;
use loopwise_core::graph::CommitGraph;
use loopwise_core::metrics::{ChainAnalysis, ChainInput, analyze_chain, link_incidents};
use loopwise_core::report::{ChainLabels, ServiceReport, service_report};
use loopwise_core::rollup::{
    ChainName, GroupBy, Interval, LeaderboardBuilder, Sample, SeriesBuilder, SeriesMetric,
    bucket_start, buckets, chain_facts, format_date,
};
use loopwise_core::time::SECONDS_PER_DAY;
use loopwise_core::{Benchmark, Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::{Timestamp, Window};
use proptest::prelude::*;

/// 2024-01-01T00:00:00Z: a Monday, so week and month buckets do not line up with the window.
const EPOCH: Timestamp = 1_704_067_200;
const SPAN: Timestamp = 70 * SECONDS_PER_DAY;
const QUARTER_DAY: Timestamp = SECONDS_PER_DAY / 4;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

fn sha(i: usize) -> String {
    format!("{i:040x}")
}

#[derive(Debug, Clone)]
struct Scenario {
    changes: Vec<Change>,
    deployments: Vec<Deployment>,
    incidents: Vec<Incident>,
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let commits = prop::collection::vec((0..SPAN, any::<bool>(), 0usize..8), 1..14);
    // Deployment and incident times on a 6-hour grid, so some fall exactly on bucket starts.
    let grid = || (0..SPAN / QUARTER_DAY).prop_map(|step| step * QUARTER_DAY);
    let deployments = prop::collection::vec(
        (
            0usize..16,
            grid(),
            prop::option::of(0..7_200i64),
            0u8..5,
            0u8..6,
        ),
        0..14,
    );
    let incidents = prop::collection::vec(
        (
            grid(),
            prop::option::of(0..3 * SECONDS_PER_DAY),
            prop::option::of(0usize..14),
        ),
        0..5,
    );
    (commits, deployments, incidents).prop_map(|(commits, deployments, incidents)| {
        let changes = commits
            .iter()
            .enumerate()
            .map(|(i, &(offset, reverts, target))| Change {
                sha: sha(i),
                parents: if i == 0 { vec![] } else { vec![sha(i - 1)] },
                author_time: EPOCH + offset,
                committer_time: EPOCH + offset,
                author_name: String::new(),
                author_email: String::new(),
                subject: String::new(),
                reverts: (reverts && target < i).then(|| sha(target)),
            })
            .collect();
        let deployments = deployments
            .iter()
            .enumerate()
            .map(
                |(i, &(commit, offset, duration, status, kind))| Deployment {
                    source: Source::Api,
                    id: format!("d{i}"),
                    service: "svc".into(),
                    environment: "production".into(),
                    // Indices past the history name unknown commits.
                    sha: sha(commit),
                    started_at: duration.map(|d| EPOCH + offset - d),
                    finished_at: Some(EPOCH + offset),
                    status: if status == 0 {
                        DeploymentStatus::Failure
                    } else {
                        DeploymentStatus::Success
                    },
                    kind: match kind {
                        0 => DeploymentKind::Rollback,
                        1 => DeploymentKind::Hotfix,
                        _ => DeploymentKind::Normal,
                    },
                },
            )
            .collect();
        let incidents = incidents
            .iter()
            .enumerate()
            .map(|(i, &(offset, resolved, cause))| Incident {
                source: Source::Api,
                id: format!("i{i}"),
                service: Some("svc".into()),
                title: String::new(),
                severity: None,
                started_at: EPOCH + offset,
                acknowledged_at: None,
                resolved_at: resolved.map(|r| EPOCH + offset + r),
                caused_by: cause.map(|d| format!("d{d}")),
                url: None,
            })
            .collect();
        Scenario {
            changes,
            deployments,
            incidents,
        }
    })
}

fn arb_window() -> impl Strategy<Value = Window> {
    // On the 6-hour grid too (sometimes off it), so bounds meet bucket starts and deployments.
    let offset = prop_oneof![3 => Just(0i64), 1 => 0..QUARTER_DAY];
    (0..30 * 4i64, 2..60 * 4i64, offset)
        .prop_map(|(start, length, offset)| (start * QUARTER_DAY + offset, length * QUARTER_DAY))
        .prop_map(|(start, length)| Window {
            since: EPOCH + start - 5 * SECONDS_PER_DAY,
            until: EPOCH + start - 5 * SECONDS_PER_DAY + length,
        })
}

fn arb_interval() -> impl Strategy<Value = Interval> {
    prop_oneof![
        Just(Interval::Day),
        Just(Interval::Week),
        Just(Interval::Month)
    ]
}

fn analyse(scenario: &Scenario) -> (CommitGraph, ChainAnalysis) {
    let graph = CommitGraph::from_changes(&scenario.changes);
    let mut analysis = analyze_chain(ChainInput {
        graph: &graph,
        deployments: scenario.deployments.clone(),
        relevant: None,
        hotfix_commits: None,
    });
    link_incidents(&mut analysis, Some(&graph), &scenario.incidents, 72 * 3_600);
    (graph, analysis)
}

fn report(analysis: &ChainAnalysis, window: Window) -> ServiceReport {
    let labels = ChainLabels {
        service: "svc".into(),
        environment: "production".into(),
        ..ChainLabels::default()
    };
    service_report(labels, analysis, window, Benchmark::default_benchmark())
}

fn json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

/// The value a series point should have, read from a report over the bucket.
fn reference_value(report: &ServiceReport, metric: SeriesMetric) -> Option<f64> {
    match metric {
        SeriesMetric::DeploymentFrequency => Some(report.deployments.count as f64),
        SeriesMetric::LeadTime => report.lead_time.median_seconds,
        SeriesMetric::ChangeFailureRate => report.change_failure_rate.rate,
        SeriesMetric::RecoveryTime => report.recovery_time.median_seconds,
        SeriesMetric::TimeToRestore => report.time_to_restore.median_seconds,
        SeriesMetric::ReworkRate => report.rework_rate.rate,
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// One definition of every number: the sample of a chain's whole window has the report's
    /// figures, field for field, tiers and overall included.
    #[test]
    fn a_whole_window_sample_equals_the_report(scenario in arb_scenario(), window in arb_window()) {
        let (graph, analysis) = analyse(&scenario);
        let mut sample = Sample { has_history: !analysis.deployments.is_empty(), ..Sample::default() };
        chain_facts(&graph, &analysis, window, |time, fact| sample.add(time, fact));
        let figures = sample.figures(window, Benchmark::default_benchmark());
        let expected = report(&analysis, window);
        prop_assert_eq!(json(&figures.deployments), json(&expected.deployments));
        prop_assert_eq!(json(&figures.lead_time), json(&expected.lead_time));
        prop_assert_eq!(json(&figures.change_failure_rate), json(&expected.change_failure_rate));
        prop_assert_eq!(json(&figures.recovery_time), json(&expected.recovery_time));
        prop_assert_eq!(json(&figures.time_to_restore), json(&expected.time_to_restore));
        prop_assert_eq!(json(&figures.rework_rate), json(&expected.rework_rate));
        prop_assert_eq!(json(&figures.overall), json(&expected.overall));
    }

    /// The bulk path (a window's lead times copied as one slice from the chain's index) adds
    /// exactly what the fact-by-fact definition adds, in the same order.
    #[test]
    fn adding_a_chain_in_bulk_equals_adding_its_facts(scenario in arb_scenario(), window in arb_window()) {
        let (graph, analysis) = analyse(&scenario);
        let mut by_fact = Sample::default();
        chain_facts(&graph, &analysis, window, |time, fact| by_fact.add(time, fact));
        let mut in_bulk = Sample::default();
        in_bulk.add_chain(&analysis, window);
        prop_assert_eq!(format!("{in_bulk:?}"), format!("{by_fact:?}"));
    }

    /// Each bucket of a series equals a report run over that bucket alone (the naive, one
    /// report per bucket reference), and the bucket counts add up to the window's report.
    #[test]
    fn series_buckets_equal_reports_over_each_bucket(
        scenario in arb_scenario(),
        window in arb_window(),
        interval in arb_interval(),
    ) {
        let (_, analysis) = analyse(&scenario);
        let mut series = SeriesBuilder::new(window, interval).unwrap();
        series.add_chain(&analysis);
        let benchmark = Benchmark::default_benchmark();
        let cut = buckets(window, interval).unwrap();
        let whole = report(&analysis, window);
        for metric in SeriesMetric::ALL {
            let points = series.points(metric, benchmark);
            prop_assert_eq!(points.len(), cut.len());
            for (point, bucket) in points.iter().zip(&cut) {
                let expected = report(&analysis, bucket.window);
                prop_assert_eq!(point.value, reference_value(&expected, metric), "{} {}", metric.name(), &point.date);
                prop_assert_eq!(&point.date, &format_date(bucket_start(bucket.window.since, interval)));
            }
            let total = |f: fn(&loopwise_core::rollup::SeriesPoint) -> Option<usize>| {
                points.iter().filter_map(f).sum::<usize>()
            };
            match metric {
                SeriesMetric::DeploymentFrequency => prop_assert_eq!(total(|p| p.count), whole.deployments.count),
                SeriesMetric::LeadTime => prop_assert_eq!(total(|p| p.changes), whole.lead_time.changes),
                SeriesMetric::ChangeFailureRate => {
                    prop_assert_eq!(total(|p| p.failed), whole.change_failure_rate.failed);
                    prop_assert_eq!(total(|p| p.deployments), whole.change_failure_rate.deployments);
                }
                SeriesMetric::RecoveryTime => {
                    prop_assert_eq!(total(|p| p.failures), whole.recovery_time.failures);
                    prop_assert_eq!(total(|p| p.recovered), whole.recovery_time.recovered);
                }
                SeriesMetric::TimeToRestore => prop_assert_eq!(total(|p| p.incidents), whole.time_to_restore.incidents),
                SeriesMetric::ReworkRate => prop_assert_eq!(total(|p| p.rework), whole.rework_rate.rework),
            }
            // Rates and medians without data are null, never 0.
            for point in &points {
                match metric {
                    SeriesMetric::DeploymentFrequency => prop_assert!(point.value.is_some()),
                    SeriesMetric::LeadTime => prop_assert_eq!(point.value.is_none(), point.changes == Some(0)),
                    SeriesMetric::ChangeFailureRate | SeriesMetric::ReworkRate => {
                        prop_assert_eq!(point.value.is_none(), point.deployments == Some(0))
                    }
                    SeriesMetric::RecoveryTime => prop_assert_eq!(point.value.is_none(), point.recovered == Some(0)),
                    SeriesMetric::TimeToRestore => {
                        prop_assert!(point.incidents != Some(0) || point.value.is_none())
                    }
                }
            }
        }
    }

    /// A leaderboard group pools its chains: its counts are the sums of the chains' reports,
    /// and a group with one chain is that chain's report.
    #[test]
    fn leaderboard_groups_pool_their_chains(
        first in arb_scenario(),
        second in arb_scenario(),
        window in arb_window(),
    ) {
        let (_, analysis_a) = analyse(&first);
        let (_, analysis_b) = analyse(&second);
        let name = |service: &str| ChainName { service: service.into(), environment: "production".into() };
        let mut board = LeaderboardBuilder::new(window, GroupBy::Team);
        board.add_chain("both", name("a"), &analysis_a);
        board.add_chain("both", name("b"), &analysis_b);
        board.add_chain("only-a", name("a"), &analysis_a);
        let board = board.finish(Benchmark::default_benchmark());
        let a = report(&analysis_a, window);
        let b = report(&analysis_b, window);
        let row = |group: &str| board.rows.iter().find(|row| row.group == group).unwrap();
        let both = &row("both").figures;
        prop_assert_eq!(both.deployments.count, a.deployments.count + b.deployments.count);
        prop_assert_eq!(both.change_failure_rate.failed, a.change_failure_rate.failed + b.change_failure_rate.failed);
        prop_assert_eq!(both.change_failure_rate.deployments, a.change_failure_rate.deployments + b.change_failure_rate.deployments);
        prop_assert_eq!(both.lead_time.changes, a.lead_time.changes + b.lead_time.changes);
        prop_assert_eq!(both.rework_rate.rework, a.rework_rate.rework + b.rework_rate.rework);
        prop_assert_eq!(both.time_to_restore.incidents, a.time_to_restore.incidents + b.time_to_restore.incidents);
        let only_a = &row("only-a").figures;
        prop_assert_eq!(json(&only_a.lead_time), json(&a.lead_time));
        prop_assert_eq!(json(&only_a.recovery_time), json(&a.recovery_time));
        prop_assert_eq!(json(&only_a.deployments), json(&a.deployments));
        // Sorted by deployments, most first, then by name; ranks follow.
        for pair in board.rows.windows(2) {
            let (x, y) = (&pair[0], &pair[1]);
            prop_assert!(x.figures.deployments.count > y.figures.deployments.count
                || (x.figures.deployments.count == y.figures.deployments.count && x.group < y.group));
            prop_assert_eq!(x.rank + 1, y.rank);
        }
    }

    /// Bucket starts against jiff's calendar: at or before the instant, less than one bucket
    /// before it, on a Monday for weeks and on the 1st for months.
    #[test]
    fn bucket_starts_are_calendar_boundaries(instant in -2_208_988_800i64..4_102_444_800, interval in arb_interval()) {
        let start = bucket_start(instant, interval);
        prop_assert!(start <= instant);
        let date = |t: i64| jiff::Timestamp::from_second(t).unwrap().to_zoned(jiff::tz::TimeZone::UTC);
        let zoned = date(start);
        prop_assert_eq!((zoned.hour(), zoned.minute(), zoned.second()), (0, 0, 0));
        let of_instant = date(instant);
        match interval {
            Interval::Day => prop_assert_eq!(zoned.date(), of_instant.date()),
            Interval::Week => {
                prop_assert_eq!(zoned.weekday(), jiff::civil::Weekday::Monday);
                prop_assert!(instant - start < 7 * SECONDS_PER_DAY);
            }
            Interval::Month => {
                prop_assert_eq!(zoned.day(), 1);
                prop_assert_eq!((zoned.year(), zoned.month()), (of_instant.year(), of_instant.month()));
            }
        }
        prop_assert_eq!(format_date(start), zoned.strftime("%Y-%m-%d").to_string());
    }
}
