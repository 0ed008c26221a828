//! How figures read on a page: durations in the largest sensible unit, rates as percentages,
//! instants as UTC dates and times. The raw value always travels beside the text (in a
//! `data-value` attribute) so tests and scripts compare numbers, not prose.

use loopwise_core::benchmark::Tier;
use loopwise_core::time::{Timestamp, format_rfc3339};
use loopwise_core::trends::Metric;

/// The unit a chart axis or a figure is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds, shown as minutes, hours, days or weeks.
    Duration,
    /// A fraction, shown as a percentage.
    Rate,
    /// A count (deployments).
    Count,
    /// Deployments per week.
    PerWeek,
}

impl Unit {
    pub fn of(metric: Metric) -> Self {
        match metric {
            Metric::DeploymentFrequency => Unit::PerWeek,
            Metric::LeadTime | Metric::RecoveryTime => Unit::Duration,
            Metric::ChangeFailureRate | Metric::ReworkRate => Unit::Rate,
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Duration => duration(value),
            Unit::Rate => percent(value),
            Unit::Count => count(value),
            Unit::PerWeek => format!("{} / week", decimal(value)),
        }
    }
}

/// A duration in seconds, in the largest unit that keeps it readable: `45 min`, `3.2 h`,
/// `2.5 d`, `3.1 w`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < 3_600.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 48.0 * 3_600.0 {
        format!("{:.1} h", seconds / 3_600.0)
    } else if seconds < 14.0 * 86_400.0 {
        format!("{:.1} d", seconds / 86_400.0)
    } else {
        format!("{:.1} w", seconds / (7.0 * 86_400.0))
    }
}

pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

pub fn count(value: f64) -> String {
    format!("{value:.0}")
}

/// One decimal below 10, none above: `0.4`, `7.5`, `42`.
pub fn decimal(value: f64) -> String {
    if value.abs() < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// A figure or an em dash where there is none (never 0 for "no data").
pub fn figure(value: Option<f64>, unit: Unit) -> String {
    value.map_or_else(|| "—".to_string(), |value| unit.format(value))
}

/// The raw value for a `data-value` attribute: the number as JSON writes it, empty for none.
pub fn raw(value: Option<f64>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

pub fn metric_value(metric: Metric, value: Option<f64>) -> String {
    figure(value, Unit::of(metric))
}

/// `2024-05-01 13:45 UTC`.
pub fn instant(time: Timestamp) -> String {
    let text = format_rfc3339(time);
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => text,
    }
}

/// `2024-05-01`.
pub fn date(time: Timestamp) -> String {
    let text = format_rfc3339(time);
    text.get(..10).unwrap_or(&text).to_string()
}

pub fn tier(tier: Option<Tier>) -> &'static str {
    tier.map_or("no tier", Tier::as_str)
}

/// The first 10 characters of a commit sha.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(30.0), "30 s");
        assert_eq!(duration(45.0 * 60.0), "45 min");
        assert_eq!(duration(3.25 * 3_600.0), "3.2 h");
        assert_eq!(duration(47.0 * 3_600.0), "47.0 h");
        assert_eq!(duration(2.5 * 86_400.0), "2.5 d");
        assert_eq!(duration(21.0 * 86_400.0), "3.0 w");
    }

    #[test]
    fn rates_counts_and_missing_figures() {
        assert_eq!(percent(0.0625), "6.2%");
        assert_eq!(figure(None, Unit::Rate), "—");
        assert_eq!(Unit::PerWeek.format(7.46), "7.5 / week");
        assert_eq!(Unit::PerWeek.format(42.4), "42 / week");
        assert_eq!(raw(Some(0.5)), "0.5");
        assert_eq!(raw(None), "");
    }

    #[test]
    fn instants_read_in_utc() {
        assert_eq!(instant(1_714_571_100), "2024-05-01 13:45 UTC");
        assert_eq!(date(1_714_571_100), "2024-05-01");
        assert_eq!(short_sha("0123456789abcdef"), "0123456789");
        assert_eq!(short_sha("abc"), "abc");
    }
}
