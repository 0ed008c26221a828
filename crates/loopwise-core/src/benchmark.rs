//! The published DORA benchmarks as versioned data, and the tier rules built on them.
//!
//! Each benchmark keeps two things from its report year (see `reference/dora-benchmarks.md`):
//!
//! * the **clusters** as published: per metric the band (or, for change failure rate from 2023
//!   on, the single cluster median) of each performance level. The overall tier is the cluster
//!   nearest to the measured vector, because DORA's levels are cluster memberships over all
//!   metrics, never a single metric's verdict.
//! * the **per-metric rating thresholds**: a value gets the best tier whose published band holds
//!   it, and a value that falls in a gap between two bands gets the next tier below. For
//!   `dora-2024` the change failure rate is not monotone across levels (high 20%, medium 10%), so
//!   its per-metric label is the level with the nearest cluster median and says so.
//!
//! Deployment frequency is rated on "effective deploys per week": the median number of days
//! with a deployment per week when that is at least one, otherwise the mean number of
//! deployments per week (a weekly median of zero cannot tell monthly from half-yearly).

use crate::time::{SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_WEEK};
use serde::Serialize;
use std::fmt;

/// A DORA performance level. The derived order is best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At least this many measured changes before lead time gets a tier.
pub const MIN_CHANGES_FOR_TIER: usize = 5;
/// At least this many deployments before change failure rate gets a tier.
pub const MIN_DEPLOYMENTS_FOR_TIER: usize = 5;
/// At least this many recovered failures before recovery time gets a tier.
pub const MIN_RECOVERIES_FOR_TIER: usize = 1;
/// A window shorter than a week cannot say how often a team deploys.
pub const MIN_WINDOW_DAYS_FOR_FREQUENCY_TIER: f64 = 7.0;

const HOUR: f64 = SECONDS_PER_HOUR as f64;
const DAY: f64 = SECONDS_PER_DAY as f64;
const WEEK: f64 = SECONDS_PER_WEEK as f64;
const MONTH: f64 = 30.0 * DAY;
const SIX_MONTHS: f64 = 180.0 * DAY;
const INF: f64 = f64::INFINITY;
/// Once a month and once every six months, as deployments per week.
const MONTHLY: f64 = 12.0 / 52.0;
const HALF_YEARLY: f64 = 2.0 / 52.0;

/// `[low, high)` on a metric's scale; for change failure rate a closed band or a single point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

const fn band(low: f64, high: f64) -> Band {
    Band { low, high }
}

const fn point(value: f64) -> Band {
    Band {
        low: value,
        high: value,
    }
}

/// One performance level of one report year, as published.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    pub tier: Tier,
    pub deploys_per_week: Band,
    pub lead_time_seconds: Band,
    pub change_failure_rate: Band,
    pub recovery_seconds: Band,
    /// Share of respondents, as published.
    pub share: &'static str,
}

/// A benchmark: one DORA report year's clusters and the rating thresholds derived from them.
#[derive(Debug)]
pub struct Benchmark {
    pub name: &'static str,
    pub description: &'static str,
    pub clusters: [Cluster; 4],
    /// Minimum effective deploys per week, best tier first; the last entry catches the rest.
    pub deployment_frequency: &'static [(Tier, f64)],
    /// Exclusive upper bound in seconds, best tier first.
    pub lead_time: &'static [(Tier, f64)],
    /// Inclusive upper bound as a fraction, best tier first.
    pub change_failure_rate: &'static [(Tier, f64)],
    /// Exclusive upper bound in seconds, best tier first.
    pub recovery_time: &'static [(Tier, f64)],
    /// True when change failure rate does not order the levels (2024).
    pub change_failure_rate_is_not_monotone: bool,
}

pub const DEFAULT_BENCHMARK: &str = "dora-2024";

// Rating thresholds that several report years publish alike.

/// Deployment frequency of 2023 and 2024: daily (5 a week), weekly, monthly, less.
const DAILY_WEEKLY_MONTHLY: &[(Tier, f64)] = &[
    (Tier::Elite, 5.0),
    (Tier::High, 1.0),
    (Tier::Medium, MONTHLY),
    (Tier::Low, 0.0),
];

/// Lead time of 2023 and 2024: under a day, a week, a month, more.
const DAY_WEEK_MONTH: &[(Tier, f64)] = &[
    (Tier::Elite, DAY),
    (Tier::High, WEEK),
    (Tier::Medium, MONTH),
    (Tier::Low, INF),
];

/// Recovery time of 2021 and 2023: under an hour, a day, a week, more.
const HOUR_DAY_WEEK: &[(Tier, f64)] = &[
    (Tier::Elite, HOUR),
    (Tier::High, DAY),
    (Tier::Medium, WEEK),
    (Tier::Low, INF),
];

static DORA_2024: Benchmark = Benchmark {
    name: "dora-2024",
    description: "DORA Accelerate State of DevOps 2024, four clusters on the four original metrics (p. 13)",
    clusters: [
        Cluster {
            tier: Tier::Elite,
            deploys_per_week: band(5.0, INF),
            lead_time_seconds: band(0.0, DAY),
            change_failure_rate: point(0.05),
            recovery_seconds: band(0.0, HOUR),
            share: "19%",
        },
        Cluster {
            tier: Tier::High,
            deploys_per_week: band(1.0, 5.0),
            lead_time_seconds: band(DAY, WEEK),
            change_failure_rate: point(0.20),
            recovery_seconds: band(0.0, DAY),
            share: "22%",
        },
        Cluster {
            tier: Tier::Medium,
            deploys_per_week: band(MONTHLY, 1.0),
            lead_time_seconds: band(WEEK, MONTH),
            change_failure_rate: point(0.10),
            recovery_seconds: band(0.0, DAY),
            share: "35%",
        },
        Cluster {
            tier: Tier::Low,
            deploys_per_week: band(HALF_YEARLY, MONTHLY),
            lead_time_seconds: band(MONTH, SIX_MONTHS),
            change_failure_rate: point(0.40),
            recovery_seconds: band(WEEK, MONTH),
            share: "25%",
        },
    ],
    deployment_frequency: DAILY_WEEKLY_MONTHLY,
    lead_time: DAY_WEEK_MONTH,
    // Nearest cluster median: elite 5%, medium 10%, high 20%, low 40%; bounds at the midpoints.
    change_failure_rate: &[
        (Tier::Elite, 0.075),
        (Tier::Medium, 0.15),
        (Tier::High, 0.30),
        (Tier::Low, 1.0),
    ],
    // High and medium share "less than one day"; one day to one week is a gap below them.
    recovery_time: &[(Tier::Elite, HOUR), (Tier::High, DAY), (Tier::Low, INF)],
    change_failure_rate_is_not_monotone: true,
};

static DORA_2023: Benchmark = Benchmark {
    name: "dora-2023",
    description: "DORA Accelerate State of DevOps 2023 clusters",
    clusters: [
        Cluster {
            tier: Tier::Elite,
            deploys_per_week: band(5.0, INF),
            lead_time_seconds: band(0.0, DAY),
            change_failure_rate: point(0.05),
            recovery_seconds: band(0.0, HOUR),
            share: "18%",
        },
        Cluster {
            tier: Tier::High,
            deploys_per_week: band(1.0, 5.0),
            lead_time_seconds: band(DAY, WEEK),
            change_failure_rate: point(0.10),
            recovery_seconds: band(0.0, DAY),
            share: "31%",
        },
        Cluster {
            tier: Tier::Medium,
            deploys_per_week: band(MONTHLY, 1.0),
            lead_time_seconds: band(WEEK, MONTH),
            change_failure_rate: point(0.15),
            recovery_seconds: band(DAY, WEEK),
            share: "33%",
        },
        Cluster {
            tier: Tier::Low,
            deploys_per_week: band(MONTHLY, 1.0),
            lead_time_seconds: band(WEEK, MONTH),
            change_failure_rate: point(0.64),
            recovery_seconds: band(MONTH, SIX_MONTHS),
            share: "17%",
        },
    ],
    deployment_frequency: DAILY_WEEKLY_MONTHLY,
    lead_time: DAY_WEEK_MONTH,
    change_failure_rate: &[
        (Tier::Elite, 0.05),
        (Tier::High, 0.10),
        (Tier::Medium, 0.15),
        (Tier::Low, 1.0),
    ],
    recovery_time: HOUR_DAY_WEEK,
    change_failure_rate_is_not_monotone: false,
};

static DORA_2021: Benchmark = Benchmark {
    name: "dora-2021",
    description: "DORA Accelerate State of DevOps 2021 clusters (pp. 9-13)",
    clusters: [
        Cluster {
            tier: Tier::Elite,
            deploys_per_week: band(5.0, INF),
            lead_time_seconds: band(0.0, HOUR),
            change_failure_rate: band(0.0, 0.15),
            recovery_seconds: band(0.0, HOUR),
            share: "26%",
        },
        Cluster {
            tier: Tier::High,
            deploys_per_week: band(MONTHLY, 1.0),
            lead_time_seconds: band(DAY, WEEK),
            change_failure_rate: band(0.16, 0.30),
            recovery_seconds: band(0.0, DAY),
            share: "40%",
        },
        Cluster {
            tier: Tier::Medium,
            deploys_per_week: band(HALF_YEARLY, MONTHLY),
            lead_time_seconds: band(MONTH, SIX_MONTHS),
            change_failure_rate: band(0.16, 0.30),
            recovery_seconds: band(DAY, WEEK),
            share: "28%",
        },
        Cluster {
            tier: Tier::Low,
            deploys_per_week: band(0.0, HALF_YEARLY),
            lead_time_seconds: band(SIX_MONTHS, INF),
            change_failure_rate: band(0.16, 0.30),
            recovery_seconds: band(SIX_MONTHS, INF),
            share: "7%",
        },
    ],
    deployment_frequency: &[
        (Tier::Elite, 5.0),
        (Tier::High, MONTHLY),
        (Tier::Medium, HALF_YEARLY),
        (Tier::Low, 0.0),
    ],
    lead_time: &[
        (Tier::Elite, HOUR),
        (Tier::High, WEEK),
        (Tier::Medium, SIX_MONTHS),
        (Tier::Low, INF),
    ],
    // High, medium and low share 16-30%; above 30% no band holds it.
    change_failure_rate: &[(Tier::Elite, 0.15), (Tier::High, 0.30), (Tier::Low, 1.0)],
    recovery_time: HOUR_DAY_WEEK,
    change_failure_rate_is_not_monotone: false,
};

static BENCHMARKS: [&Benchmark; 3] = [&DORA_2024, &DORA_2023, &DORA_2021];

/// The measured values the tiers are decided from; `None` where there is too little data.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    pub deploys_per_week: Option<f64>,
    pub lead_time_median_seconds: Option<f64>,
    pub change_failure_rate: Option<f64>,
    pub recovery_median_seconds: Option<f64>,
}

/// The overall tier and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overall {
    pub tier: Option<Tier>,
    pub reason: String,
}

impl Benchmark {
    pub fn all() -> impl Iterator<Item = &'static Benchmark> {
        BENCHMARKS.iter().copied()
    }

    pub fn names() -> Vec<&'static str> {
        Self::all().map(|b| b.name).collect()
    }

    pub fn by_name(name: &str) -> Option<&'static Benchmark> {
        Self::all().find(|b| b.name.eq_ignore_ascii_case(name.trim()))
    }

    pub fn default_benchmark() -> &'static Benchmark {
        &DORA_2024
    }

    pub fn rate_deployment_frequency(&self, deploys_per_week: f64) -> Tier {
        rate_at_least(self.deployment_frequency, deploys_per_week)
    }

    pub fn rate_lead_time(&self, median_seconds: f64) -> Tier {
        rate_below(self.lead_time, median_seconds, false)
    }

    pub fn rate_change_failure_rate(&self, rate: f64) -> Tier {
        rate_below(self.change_failure_rate, rate, true)
    }

    pub fn rate_recovery_time(&self, median_seconds: f64) -> Tier {
        rate_below(self.recovery_time, median_seconds, false)
    }

    /// The nearest cluster to the measured vector. Needs deployment frequency and lead time;
    /// change failure rate and recovery time join when measured.
    pub fn overall(&self, measured: &Measured) -> Overall {
        let (Some(frequency), Some(lead_time)) =
            (measured.deploys_per_week, measured.lead_time_median_seconds)
        else {
            return Overall {
                tier: None,
                reason:
                    "too little data: an overall tier needs both deployment frequency and lead time"
                        .to_string(),
            };
        };
        let mut used = vec!["deployment frequency", "lead time"];
        if measured.change_failure_rate.is_some() {
            used.push("change failure rate");
        }
        if measured.recovery_median_seconds.is_some() {
            used.push("recovery time");
        }
        let mut distances: Vec<(Tier, f64)> = self
            .clusters
            .iter()
            .map(|cluster| {
                let mut distance = log_distance(frequency, cluster.deploys_per_week)
                    + log_distance(lead_time, cluster.lead_time_seconds);
                if let Some(rate) = measured.change_failure_rate {
                    distance += rate_distance(rate, cluster.change_failure_rate);
                }
                if let Some(recovery) = measured.recovery_median_seconds {
                    distance += log_distance(recovery, cluster.recovery_seconds);
                }
                (cluster.tier, distance)
            })
            .collect();
        // Stable sort: on a tie the better-listed cluster would win, so break ties towards the
        // worse tier instead; a tier is a claim, and the cautious claim is the lower one.
        distances.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let (tier, distance) = distances[0];
        let (next_tier, next_distance) = distances[1];
        let mut reason = format!(
            "nearest {} cluster to the measured {} (distance {:.2}; next: {} at {:.2})",
            self.name,
            join_names(&used),
            distance,
            next_tier,
            next_distance
        );
        if self.change_failure_rate_is_not_monotone {
            reason.push_str("; change failure rate never decides the tier on its own");
        }
        Overall {
            tier: Some(tier),
            reason,
        }
    }
}

fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

fn rate_at_least(thresholds: &[(Tier, f64)], value: f64) -> Tier {
    thresholds
        .iter()
        .find(|(_, minimum)| value >= *minimum)
        .map(|(tier, _)| *tier)
        .unwrap_or(Tier::Low)
}

fn rate_below(thresholds: &[(Tier, f64)], value: f64, inclusive: bool) -> Tier {
    thresholds
        .iter()
        .find(|(_, bound)| {
            if inclusive {
                value <= *bound
            } else {
                value < *bound
            }
        })
        .map(|(tier, _)| *tier)
        .unwrap_or(Tier::Low)
}

/// Distance per metric is capped so one extreme value cannot outweigh all the others.
const MAX_METRIC_DISTANCE: f64 = 3.0;

/// Orders of magnitude between `value` and the band (0 inside it).
fn log_distance(value: f64, band: Band) -> f64 {
    // One deployment in ten years or one second: below that, logarithms stop meaning anything.
    let value = value.max(1e-3);
    let distance = if band.low > 0.0 && value < band.low {
        (band.low / value).log10()
    } else if value > band.high && band.high > 0.0 {
        (value / band.high).log10()
    } else {
        0.0
    };
    distance.min(MAX_METRIC_DISTANCE)
}

/// Units of 40 percentage points between the rate and the band (0 inside it): the whole spread
/// of the published clusters (5% to 40% in 2024) weighs as much as one order of magnitude of a
/// time metric, so stability informs the nearest cluster without outvoting throughput.
fn rate_distance(rate: f64, band: Band) -> f64 {
    let outside = if rate < band.low {
        band.low - rate
    } else if rate > band.high {
        rate - band.high
    } else {
        0.0
    };
    (outside / 0.40).min(MAX_METRIC_DISTANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dora(name: &str) -> &'static Benchmark {
        Benchmark::by_name(name).unwrap()
    }

    #[test]
    fn names_are_selectable() {
        assert_eq!(
            Benchmark::names(),
            vec!["dora-2024", "dora-2023", "dora-2021"]
        );
        assert_eq!(Benchmark::default_benchmark().name, DEFAULT_BENCHMARK);
        assert!(Benchmark::by_name("DORA-2021").is_some());
        assert!(Benchmark::by_name("dora-2019").is_none());
    }

    #[test]
    fn lead_time_bands() {
        let b = dora("dora-2024");
        assert_eq!(b.rate_lead_time(3_600.0), Tier::Elite);
        assert_eq!(
            b.rate_lead_time(DAY),
            Tier::High,
            "a day is not less than a day"
        );
        assert_eq!(b.rate_lead_time(6.0 * DAY), Tier::High);
        assert_eq!(b.rate_lead_time(20.0 * DAY), Tier::Medium);
        assert_eq!(b.rate_lead_time(400.0 * DAY), Tier::Low);
        // 2021: the gap between one hour and one day belongs to high.
        assert_eq!(dora("dora-2021").rate_lead_time(5.0 * HOUR), Tier::High);
        assert_eq!(dora("dora-2021").rate_lead_time(100.0 * DAY), Tier::Medium);
    }

    #[test]
    fn deployment_frequency_bands() {
        let b = dora("dora-2024");
        assert_eq!(b.rate_deployment_frequency(5.0), Tier::Elite);
        assert_eq!(b.rate_deployment_frequency(2.0), Tier::High);
        assert_eq!(b.rate_deployment_frequency(0.5), Tier::Medium);
        assert_eq!(b.rate_deployment_frequency(0.1), Tier::Low);
        assert_eq!(b.rate_deployment_frequency(0.0), Tier::Low);
        assert_eq!(dora("dora-2021").rate_deployment_frequency(2.0), Tier::High);
        assert_eq!(
            dora("dora-2021").rate_deployment_frequency(0.1),
            Tier::Medium
        );
        assert_eq!(dora("dora-2021").rate_deployment_frequency(0.01), Tier::Low);
    }

    #[test]
    fn change_failure_rate_2024_is_nearest_cluster_not_an_order() {
        let b = dora("dora-2024");
        assert_eq!(b.rate_change_failure_rate(0.0), Tier::Elite);
        assert_eq!(b.rate_change_failure_rate(0.10), Tier::Medium);
        assert_eq!(b.rate_change_failure_rate(0.20), Tier::High);
        assert_eq!(b.rate_change_failure_rate(0.5), Tier::Low);
        let b = dora("dora-2023");
        assert_eq!(b.rate_change_failure_rate(0.05), Tier::Elite);
        assert_eq!(b.rate_change_failure_rate(0.12), Tier::Medium);
        assert_eq!(dora("dora-2021").rate_change_failure_rate(0.25), Tier::High);
        assert_eq!(dora("dora-2021").rate_change_failure_rate(0.31), Tier::Low);
    }

    #[test]
    fn recovery_bands() {
        let b = dora("dora-2024");
        assert_eq!(b.rate_recovery_time(1_800.0), Tier::Elite);
        assert_eq!(b.rate_recovery_time(10.0 * HOUR), Tier::High);
        assert_eq!(
            b.rate_recovery_time(3.0 * DAY),
            Tier::Low,
            "one day to one week is a gap in 2024"
        );
        assert_eq!(
            dora("dora-2023").rate_recovery_time(3.0 * DAY),
            Tier::Medium
        );
    }

    #[test]
    fn overall_is_nearest_cluster() {
        let b = dora("dora-2024");
        let high = Measured {
            deploys_per_week: Some(2.0),
            lead_time_median_seconds: Some(3.0 * DAY),
            change_failure_rate: Some(0.20),
            recovery_median_seconds: Some(5.0 * HOUR),
        };
        let overall = b.overall(&high);
        assert_eq!(overall.tier, Some(Tier::High));
        assert!(
            overall.reason.starts_with("nearest dora-2024 cluster"),
            "{}",
            overall.reason
        );
        assert!(overall.reason.contains("never decides"));
    }

    #[test]
    fn change_failure_rate_alone_never_decides_2024() {
        // Medium throughput with exactly high's change failure rate stays medium.
        let b = dora("dora-2024");
        let measured = Measured {
            deploys_per_week: Some(0.4),
            lead_time_median_seconds: Some(2.5 * WEEK),
            change_failure_rate: Some(0.20),
            recovery_median_seconds: Some(5.0 * HOUR),
        };
        assert_eq!(b.overall(&measured).tier, Some(Tier::Medium));
        // And an elite change failure rate does not lift a low team.
        let measured = Measured {
            deploys_per_week: Some(0.05),
            lead_time_median_seconds: Some(120.0 * DAY),
            change_failure_rate: Some(0.0),
            recovery_median_seconds: None,
        };
        assert_eq!(b.overall(&measured).tier, Some(Tier::Low));
    }

    #[test]
    fn no_overall_without_throughput() {
        let overall = dora("dora-2024").overall(&Measured {
            deploys_per_week: Some(3.0),
            ..Measured::default()
        });
        assert_eq!(overall.tier, None);
        assert!(overall.reason.starts_with("too little data"));
    }

    #[test]
    fn distances() {
        assert_eq!(log_distance(5.0, band(1.0, 10.0)), 0.0);
        assert!((log_distance(100.0, band(1.0, 10.0)) - 1.0).abs() < 1e-12);
        assert!((log_distance(0.1, band(1.0, 10.0)) - 1.0).abs() < 1e-12);
        assert_eq!(log_distance(0.0, band(0.0, 10.0)), 0.0);
        assert_eq!(log_distance(1e12, band(0.0, 1.0)), MAX_METRIC_DISTANCE);
        assert!((rate_distance(0.50, point(0.10)) - 1.0).abs() < 1e-12);
        assert_eq!(rate_distance(0.2, band(0.16, 0.30)), 0.0);
    }
}
