//! How figures move between consecutive windows: the change of each metric against the window
//! before, whether that is better or worse, and the "speed and stability move apart" warning
//! (one side of the loop optimised at the other's expense). Also the lead-time histogram of the
//! dashboard. Pure functions over [`Figures`]; the dashboard only draws what they say.

use crate::rollup::Figures;
use serde::Serialize;

/// The five DORA metrics, in the order the dashboard shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    DeploymentFrequency,
    LeadTime,
    ChangeFailureRate,
    RecoveryTime,
    ReworkRate,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::DeploymentFrequency,
        Metric::LeadTime,
        Metric::ChangeFailureRate,
        Metric::RecoveryTime,
        Metric::ReworkRate,
    ];

    /// The name the API uses (`/api/v1/metrics/{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::DeploymentFrequency => "deployment_frequency",
            Metric::LeadTime => "lead_time",
            Metric::ChangeFailureRate => "change_failure_rate",
            Metric::RecoveryTime => "recovery_time",
            Metric::ReworkRate => "rework_rate",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Metric::DeploymentFrequency => "Deployment frequency",
            Metric::LeadTime => "Lead time for changes",
            Metric::ChangeFailureRate => "Change failure rate",
            Metric::RecoveryTime => "Failed deployment recovery time",
            Metric::ReworkRate => "Rework rate",
        }
    }

    /// Whether a larger value is better (only deployment frequency).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::DeploymentFrequency)
    }

    /// The headline value of the metric in `figures`: successful deployments per week, median
    /// lead time and recovery time in seconds, the two rates as fractions; `None` without data.
    pub fn value(self, figures: &Figures) -> Option<f64> {
        match self {
            Metric::DeploymentFrequency => Some(figures.deployments.per_week),
            Metric::LeadTime => figures.lead_time.median_seconds,
            Metric::ChangeFailureRate => figures.change_failure_rate.rate,
            Metric::RecoveryTime => figures.recovery_time.median_seconds,
            Metric::ReworkRate => figures.rework_rate.rate,
        }
    }
}

/// Which way a metric moved against the window before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    Better,
    Worse,
    Unchanged,
}

/// A metric's value now and in the window before.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    pub current: Option<f64>,
    pub previous: Option<f64>,
    /// `current - previous` when both are known.
    pub delta: Option<f64>,
    /// `delta / previous` when both are known and `previous` is not 0.
    pub relative: Option<f64>,
    pub movement: Option<Movement>,
}

/// Relative moves smaller than this are "unchanged": noise, not a trend.
pub const UNCHANGED_BELOW: f64 = 0.05;

/// How `metric` moved from `previous` to `current`. A window before without a single
/// deployment (before the history began, say) has no figure to compare with: not even a
/// deployment frequency of 0, which would make any frequency "better".
pub fn change(metric: Metric, current: &Figures, previous: &Figures) -> Change {
    let now = metric.value(current);
    let before = metric
        .value(previous)
        .filter(|_| previous.change_failure_rate.deployments > 0);
    let delta = now.zip(before).map(|(now, before)| now - before);
    let relative = delta
        .zip(before)
        .filter(|(_, before)| *before != 0.0)
        .map(|(delta, before)| delta / before.abs());
    let movement = delta.map(|delta| {
        let small = match relative {
            Some(relative) => relative.abs() < UNCHANGED_BELOW,
            None => delta == 0.0,
        };
        if small {
            Movement::Unchanged
        } else if (delta > 0.0) == metric.higher_is_better() {
            Movement::Better
        } else {
            Movement::Worse
        }
    });
    Change {
        current: now,
        previous: before,
        delta,
        relative,
        movement,
    }
}

/// Which way speed and stability moved apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceKind {
    /// Delivering faster while failing more: throughput bought with stability.
    FasterButLessStable,
    /// Failing less while delivering slower: stability bought with throughput.
    StableButSlower,
}

/// Speed and stability moving in opposite directions over consecutive windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    pub kind: DivergenceKind,
    /// Deployments per week per window, oldest first.
    pub deploys_per_week: Vec<f64>,
    /// Change failure rate per window, oldest first.
    pub change_failure_rate: Vec<f64>,
}

/// Fewer deployments than this in a window tell no trend of the change failure rate.
pub const MIN_DEPLOYMENTS_PER_WINDOW: usize = 10;
/// Deployment frequency must move by at least this fraction from the first to the last window.
pub const MIN_SPEED_MOVE: f64 = 0.10;
/// The change failure rate must move by at least this many points (a fraction) in total.
pub const MIN_STABILITY_MOVE: f64 = 0.02;

/// Whether speed (deployments per week) and stability (change failure rate) moved apart over
/// `windows` (consecutive, equally long, oldest first; at least two): each step moves both the
/// same way as the whole span, and the span moves frequency by at least [`MIN_SPEED_MOVE`]
/// and the failure rate by at least [`MIN_STABILITY_MOVE`], with every window holding at
/// least [`MIN_DEPLOYMENTS_PER_WINDOW`] deployments. More deployments with a higher failure
/// rate is [`DivergenceKind::FasterButLessStable`]; fewer with a lower rate is
/// [`DivergenceKind::StableButSlower`].
pub fn divergence(windows: &[Figures]) -> Option<Divergence> {
    if windows.len() < 2
        || windows
            .iter()
            .any(|w| w.change_failure_rate.deployments < MIN_DEPLOYMENTS_PER_WINDOW)
    {
        return None;
    }
    let speed: Vec<f64> = windows.iter().map(|w| w.deployments.per_week).collect();
    let failure: Vec<f64> = windows
        .iter()
        .map(|w| w.change_failure_rate.rate)
        .collect::<Option<_>>()?;
    let (first_speed, last_speed) = (speed[0], speed[speed.len() - 1]);
    let (first_failure, last_failure) = (failure[0], failure[failure.len() - 1]);
    if first_speed <= 0.0 {
        return None;
    }
    let speed_move = (last_speed - first_speed) / first_speed;
    let failure_move = last_failure - first_failure;
    if speed_move.abs() < MIN_SPEED_MOVE || failure_move.abs() < MIN_STABILITY_MOVE {
        return None;
    }
    let steady = |values: &[f64], up: bool| {
        values.windows(2).all(|pair| {
            if up {
                pair[1] >= pair[0]
            } else {
                pair[1] <= pair[0]
            }
        })
    };
    let speed_up = speed_move > 0.0;
    let failure_up = failure_move > 0.0;
    if speed_up != failure_up || !steady(&speed, speed_up) || !steady(&failure, failure_up) {
        return None;
    }
    Some(Divergence {
        kind: if speed_up {
            DivergenceKind::FasterButLessStable
        } else {
            DivergenceKind::StableButSlower
        },
        deploys_per_week: speed,
        change_failure_rate: failure,
    })
}

/// Upper bounds (exclusive) of the lead-time histogram's bins, in seconds: an hour, four hours,
/// a day, two days, a week, two weeks, thirty days, ninety days; the last bin is open.
pub const LEAD_TIME_BIN_BOUNDS: [i64; 8] = [
    3_600,
    4 * 3_600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
    90 * 86_400,
];

/// Labels of the histogram's bins, matching [`LEAD_TIME_BIN_BOUNDS`] plus the open last bin.
pub const LEAD_TIME_BIN_LABELS: [&str; 9] = [
    "< 1 h",
    "1–4 h",
    "4 h–1 d",
    "1–2 d",
    "2–7 d",
    "1–2 w",
    "2 w–30 d",
    "30–90 d",
    "≥ 90 d",
];

/// Counts of lead times (seconds) per bin of [`LEAD_TIME_BIN_BOUNDS`].
pub fn lead_time_histogram(lead_times: impl IntoIterator<Item = f64>) -> [usize; 9] {
    let mut counts = [0; 9];
    for seconds in lead_times {
        let bin = LEAD_TIME_BIN_BOUNDS.partition_point(|&bound| bound as f64 <= seconds);
        counts[bin] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmark::Benchmark;
    use crate::rollup::{Fact, Sample};
    use crate::time::Window;

    /// Figures of a week with `deployments` of which `failed` failed.
    fn week(deployments: usize, failed: usize) -> Figures {
        let window = Window::new(0, 7 * 86_400).unwrap();
        let mut sample = Sample {
            has_history: true,
            ..Sample::default()
        };
        for n in 0..deployments {
            let failed = n < failed;
            sample.add(
                n as i64 * 60,
                Fact::Deployment {
                    succeeded: !failed,
                    failed,
                    rework: false,
                    duration_seconds: None,
                    recovery_seconds: None,
                },
            );
        }
        sample.figures(window, Benchmark::default_benchmark())
    }

    fn close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-9, "{actual:?} vs {expected:?}");
        }
    }

    #[test]
    fn faster_and_failing_more_is_a_divergence() {
        // 20 deployments, 1 failed (19 successful/week, 5%), then 30 with 3 (27/week, 10%),
        // then 40 with 6 (34/week, 15%).
        let windows = [week(20, 1), week(30, 3), week(40, 6)];
        let found = divergence(&windows).expect("a divergence");
        assert_eq!(found.kind, DivergenceKind::FasterButLessStable);
        close(&found.deploys_per_week, &[19.0, 27.0, 34.0]);
        close(&found.change_failure_rate, &[0.05, 0.1, 0.15]);
    }

    #[test]
    fn slower_and_failing_less_is_the_other_divergence() {
        let windows = [week(40, 6), week(20, 1)];
        assert_eq!(
            divergence(&windows).map(|d| d.kind),
            Some(DivergenceKind::StableButSlower)
        );
    }

    #[test]
    fn moving_together_or_too_little_is_no_divergence() {
        // Faster and failing less: both improve.
        assert_eq!(divergence(&[week(20, 4), week(40, 2)]), None);
        // Not steady: the failure rate falls back in between.
        assert_eq!(divergence(&[week(20, 1), week(30, 0), week(40, 6)]), None);
        // Too few deployments to tell.
        assert_eq!(divergence(&[week(5, 0), week(9, 3)]), None);
        // Failure rate up by less than two points (5% → 6.25% is 1.25 points).
        assert_eq!(divergence(&[week(20, 1), week(32, 2)]), None);
        // One window is no trend.
        assert_eq!(divergence(&[week(20, 1)]), None);
    }

    #[test]
    fn a_window_before_without_deployments_is_no_comparison() {
        let empty = week(0, 0);
        let now = week(20, 2);
        for metric in [Metric::DeploymentFrequency, Metric::ChangeFailureRate] {
            let moved = change(metric, &now, &empty);
            assert_eq!((moved.previous, moved.movement), (None, None), "{metric:?}");
        }
        // A window before with deployments, all failed: 0 per week is a figure.
        let all_failed = week(4, 4);
        let moved = change(Metric::DeploymentFrequency, &now, &all_failed);
        assert_eq!(moved.previous, Some(0.0));
        assert_eq!(moved.movement, Some(Movement::Better));
    }

    #[test]
    fn changes_know_which_way_is_better() {
        let before = week(20, 2); // 18/week, 10%
        let after = week(30, 6); // 24/week, 20%
        let frequency = change(Metric::DeploymentFrequency, &after, &before);
        close(&[frequency.delta.unwrap()], &[6.0]);
        close(&[frequency.relative.unwrap()], &[6.0 / 18.0]);
        assert_eq!(frequency.movement, Some(Movement::Better));
        let failure = change(Metric::ChangeFailureRate, &after, &before);
        assert_eq!(failure.movement, Some(Movement::Worse));
        let same = change(Metric::ChangeFailureRate, &before, &before);
        assert_eq!(same.movement, Some(Movement::Unchanged));
        // No lead times on either side: nothing to compare.
        let lead = change(Metric::LeadTime, &after, &before);
        assert_eq!(
            (lead.current, lead.delta, lead.movement),
            (None, None, None)
        );
    }

    #[test]
    fn histogram_bins_by_their_lower_bound() {
        let counts = lead_time_histogram([0.0, 3_599.0, 3_600.0, 86_400.0, 1e9]);
        assert_eq!(counts, [2, 1, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(LEAD_TIME_BIN_LABELS.len(), LEAD_TIME_BIN_BOUNDS.len() + 1);
    }
}
