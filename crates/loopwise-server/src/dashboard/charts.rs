//! Charts drawn by the server as inline SVG: a weekly trend line, the lead-time histogram and
//! the deployment timeline. Every chart has a title and a description for screen readers
//! (`role="img"`), axes with units, a legend, and its data as a table beside it. Text goes
//! through maud, so names in charts are escaped like everywhere else. Colours come from the
//! stylesheet (classes), so they keep the page's contrast and its dark mode.

use super::format::{self, Unit};
use loopwise_core::rollup::Interval;
use loopwise_core::time::{Timestamp, Window};
use loopwise_core::trends::{LEAD_TIME_BIN_BOUNDS, LEAD_TIME_BIN_LABELS};
use maud::{Markup, html};

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 34.0;

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_ceiling(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|bound| *bound >= max)
        .unwrap_or(10.0 * magnitude)
}

/// A value axis: its top, and how its ticks read. Durations are given one unit for the whole
/// axis (minutes, hours, days or weeks, the largest the top reaches) and a round top in it, so
/// the ticks read `0 d`, `2.5 d`, `5 d`, never `0 s`, `2.9 d`, `5.8 d`.
struct Axis {
    ceiling: f64,
    /// Seconds per unit, and its suffix (durations only).
    duration_unit: Option<(f64, &'static str)>,
}

impl Axis {
    fn for_values(max: f64, unit: Unit) -> Self {
        if unit != Unit::Duration {
            return Self {
                ceiling: nice_ceiling(max),
                duration_unit: None,
            };
        }
        const UNITS: [(f64, &str); 4] = [
            (60.0, "min"),
            (3_600.0, "h"),
            (86_400.0, "d"),
            (604_800.0, "w"),
        ];
        let (per, suffix) = UNITS
            .iter()
            .rev()
            .find(|(per, _)| max >= *per)
            .copied()
            .unwrap_or(UNITS[0]);
        Self {
            ceiling: nice_ceiling(max / per) * per,
            duration_unit: Some((per, suffix)),
        }
    }

    fn label(&self, value: f64, unit: Unit) -> String {
        match self.duration_unit {
            Some((per, suffix)) => {
                let amount = value / per;
                let text = format!("{amount:.1}");
                format!("{} {suffix}", text.strip_suffix(".0").unwrap_or(&text))
            }
            None => unit.format(value),
        }
    }
}

fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

/// One point of a trend: the bucket's first day and its value (`None`: no data that week).
#[derive(Debug, Clone)]
pub struct TrendPoint {
    pub date: String,
    pub value: Option<f64>,
    /// The window cuts this week: drawn hollow and left off the line, since a part of a week
    /// is not comparable with whole ones.
    pub partial: bool,
}

/// A trend line, one point per day or week (`interval`), with a y axis in `unit` and gaps where
/// a bucket has no data.
pub fn trend(
    id: &str,
    title: &str,
    unit: Unit,
    points: &[TrendPoint],
    interval: Interval,
) -> Markup {
    let (bucket, buckets, adjective, axis_title) = match interval {
        Interval::Day => ("day", "days", "daily", "day (UTC)"),
        _ => ("week", "weeks", "weekly", "week starting (UTC)"),
    };
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let max = points
        .iter()
        .filter_map(|p| p.value)
        .fold(0.0_f64, f64::max);
    let axis = Axis::for_values(max, unit);
    let ceiling = axis.ceiling;
    let step = if points.len() > 1 {
        plot_width / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x = |index: usize| LEFT + index as f64 * step;
    let y = |value: f64| TOP + plot_height * (1.0 - value / ceiling);
    // Runs of consecutive known values become one line each.
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run = Vec::new();
    for (index, point) in points.iter().enumerate() {
        match point.value.filter(|_| !point.partial) {
            Some(value) => run.push((x(index), y(value))),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let known = points.iter().filter(|p| p.value.is_some()).count();
    let description = match (points.first(), points.last()) {
        (Some(first), Some(last)) if known == 0 => format!(
            "{title}, {buckets} from {} to {}: no data in the window.",
            first.date, last.date
        ),
        (Some(first), Some(last)) => format!(
            "{title}, one point per {bucket} from {} to {}; {known} of {} {buckets} have data; axis from 0 to {}.",
            first.date,
            last.date,
            points.len(),
            axis.label(ceiling, unit)
        ),
        _ => format!("{title}: no {buckets} in the window."),
    };
    // Without a single value there is no scale to show: one empty axis, said in words.
    let ticks: Vec<f64> = if known == 0 {
        Vec::new()
    } else {
        vec![0.0, ceiling / 2.0, ceiling]
    };
    let mut labelled: Vec<usize> = match points.len() {
        0 => Vec::new(),
        1 => vec![0],
        n => vec![0, n / 2, n - 1],
    };
    labelled.dedup();
    let title_id = format!("{id}-title");
    let description_id = format!("{id}-desc");
    html! {
        figure.chart {
            svg.trend id=(id) viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img"
                aria-labelledby={(title_id) " " (description_id)} {
                title id=(title_id) { (title) }
                desc id=(description_id) { (description) }
                @for tick in ticks {
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(coordinate(y(tick))) y2=(coordinate(y(tick))) {}
                    text.axis x=(LEFT - 6.0) y=(coordinate(y(tick) + 4.0)) text-anchor="end" { (axis.label(tick, unit)) }
                }
                @if known == 0 {
                    text.axis.no-data x=(LEFT + plot_width / 2.0) y=(TOP + plot_height / 2.0) text-anchor="middle" { "no data in the window" }
                }
                line.axis-line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_height) {}
                line.axis-line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(TOP + plot_height) y2=(TOP + plot_height) {}
                @for index in &labelled {
                    text.axis x=(coordinate(x(*index))) y=(HEIGHT - BOTTOM + 16.0)
                        text-anchor=(if *index == 0 { "start" } else if *index + 1 == points.len() { "end" } else { "middle" }) {
                        (points[*index].date)
                    }
                }
                text.axis x=(LEFT + plot_width / 2.0) y=(HEIGHT - 4.0) text-anchor="middle" { (axis_title) }
                @for run in &runs {
                    polyline.series points=(run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")) {}
                }
                @for (index, point) in points.iter().enumerate() {
                    @if let Some(value) = point.value {
                        circle class=(if point.partial { "point partial" } else { "point" })
                            cx=(coordinate(x(index))) cy=(coordinate(y(value))) r="2.5"
                            data-date=(point.date) data-value=(value) {
                            title { (point.date) ": " (unit.format(value)) @if point.partial { " (part of a " (bucket) ")" } }
                        }
                    }
                }
            }
            figcaption {
                span.legend-line {} " " (adjective) " value; gaps are " (buckets) " without data"
                @if points.iter().any(|p| p.partial) {
                    "; " span.legend-partial {} " part of a " (bucket) ", cut by the window"
                }
            }
            details {
                summary { "Data of " (title) }
                table.data {
                    thead { tr { th scope="col" { (if interval == Interval::Day { "Day" } else { "Week" }) } th scope="col" { "Value" } } }
                    tbody {
                        @for point in points {
                            tr { td { (point.date) } td data-value=(format::raw(point.value)) { (format::figure(point.value, unit)) } }
                        }
                    }
                }
            }
        }
    }
}

/// Where a lead time falls on the histogram's x axis, in bins (bin `i` spans `[i, i + 1)`),
/// linear within a bin; the open last bin is drawn as wide as the one before it.
fn bin_position(seconds: f64) -> f64 {
    let bin = LEAD_TIME_BIN_BOUNDS.partition_point(|&bound| bound as f64 <= seconds);
    let lower = if bin == 0 {
        0.0
    } else {
        LEAD_TIME_BIN_BOUNDS[bin - 1] as f64
    };
    let upper = match LEAD_TIME_BIN_BOUNDS.get(bin) {
        Some(&bound) => bound as f64,
        None => 2.0 * lower,
    };
    let fraction = ((seconds - lower) / (upper - lower)).clamp(0.0, 1.0);
    bin as f64 + fraction
}

/// The lead-time distribution: changes per bin, with the median and p90 marked.
pub fn lead_time_histogram(counts: &[usize; 9], median: Option<f64>, p90: Option<f64>) -> Markup {
    let width = 720.0;
    let height = 220.0;
    let plot_width = width - LEFT - RIGHT;
    let plot_height = height - TOP - BOTTOM - 14.0;
    let bins = counts.len() as f64;
    let bin_width = plot_width / bins;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let ceiling = nice_ceiling(max);
    let y = |value: f64| TOP + plot_height * (1.0 - value / ceiling);
    let total: usize = counts.iter().sum();
    let marker_x = |seconds: f64| LEFT + bin_position(seconds) * bin_width;
    let description = format!(
        "{total} changes by lead time; median {}, 90th percentile {}.",
        format::figure(median, Unit::Duration),
        format::figure(p90, Unit::Duration)
    );
    html! {
        figure.chart.wide {
            svg #lead-time-histogram viewBox={"0 0 " (width) " " (height)} role="img"
                aria-labelledby="histogram-title histogram-desc"
                data-median=(format::raw(median)) data-p90=(format::raw(p90)) data-changes=(total) {
                title #histogram-title { "Lead time distribution" }
                desc #histogram-desc { (description) }
                @for tick in [0.0, ceiling / 2.0, ceiling] {
                    line.grid x1=(LEFT) x2=(width - RIGHT) y1=(coordinate(y(tick))) y2=(coordinate(y(tick))) {}
                    text.axis x=(LEFT - 6.0) y=(coordinate(y(tick) + 4.0)) text-anchor="end" { (format::count(tick)) }
                }
                text.axis x="12" y=(TOP + plot_height / 2.0) text-anchor="middle"
                    transform={"rotate(-90 12 " (TOP + plot_height / 2.0) ")"} { "changes" }
                @for (bin, count) in counts.iter().enumerate() {
                    @let left = LEFT + bin as f64 * bin_width;
                    rect.bar x=(coordinate(left + 2.0)) y=(coordinate(y(*count as f64)))
                        width=(coordinate(bin_width - 4.0)) height=(coordinate(TOP + plot_height - y(*count as f64)))
                        data-bin=(LEAD_TIME_BIN_LABELS[bin]) data-count=(count) {
                        title { (LEAD_TIME_BIN_LABELS[bin]) ": " (count) " changes" }
                    }
                    text.axis x=(coordinate(left + bin_width / 2.0)) y=(TOP + plot_height + 16.0) text-anchor="middle" {
                        (LEAD_TIME_BIN_LABELS[bin])
                    }
                }
                text.axis x=(LEFT + plot_width / 2.0) y=(height - 6.0) text-anchor="middle" { "lead time (first commit to production)" }
                @if let Some(median) = median {
                    line.median x1=(coordinate(marker_x(median))) x2=(coordinate(marker_x(median))) y1=(TOP) y2=(TOP + plot_height) {}
                }
                @if let Some(p90) = p90 {
                    line.p90 x1=(coordinate(marker_x(p90))) x2=(coordinate(marker_x(p90))) y1=(TOP) y2=(TOP + plot_height) {}
                }
            }
            figcaption {
                span.legend-bar {} " changes per lead-time bin  "
                span.legend-median {} " median " strong #histogram-median { (format::figure(median, Unit::Duration)) } "  "
                span.legend-p90 {} " 90th percentile " strong #histogram-p90 { (format::figure(p90, Unit::Duration)) }
            }
        }
    }
}

/// One deployment on the timeline.
#[derive(Debug, Clone)]
pub struct TimelineMark {
    pub id: String,
    pub time: Timestamp,
    pub failed: bool,
    pub remediation: bool,
    /// Index (in the marks) of the deployment that remediated this one, if it is drawn.
    pub remediated_by: Option<usize>,
    pub label: String,
}

/// Deployments over the window in three lanes: successful, failed, remediation; a failed
/// deployment is joined to the deployment that remediated it.
pub fn timeline(window: Window, marks: &[TimelineMark]) -> Markup {
    let width = 720.0;
    let height = 150.0;
    let plot_width = width - 110.0 - RIGHT;
    let length = window.length_seconds().max(1) as f64;
    let x = |time: Timestamp| 110.0 + plot_width * ((time - window.since) as f64 / length);
    let lane = |mark: &TimelineMark| {
        if mark.remediation {
            95.0
        } else if mark.failed {
            60.0
        } else {
            25.0
        }
    };
    let failed = marks.iter().filter(|m| m.failed).count();
    let remediation = marks.iter().filter(|m| m.remediation).count();
    let description = format!(
        "{} deployments from {} to {}: {failed} failed, {remediation} remediations.",
        marks.len(),
        format::date(window.since),
        format::date(window.until - 1)
    );
    html! {
        figure.chart.wide {
            svg #timeline viewBox={"0 0 " (width) " " (height)} role="img" aria-labelledby="timeline-title timeline-desc"
                data-deployments=(marks.len()) data-failed=(failed) data-remediations=(remediation) {
                title #timeline-title { "Deployment timeline" }
                desc #timeline-desc { (description) }
                @for (label, y) in [("successful", 25.0), ("failed", 60.0), ("remediation", 95.0)] {
                    line.grid x1="110" x2=(width - RIGHT) y1=(y) y2=(y) {}
                    text.axis x="100" y=(y + 4.0) text-anchor="end" { (label) }
                }
                @for (index, mark) in marks.iter().enumerate() {
                    @if let Some(fix) = mark.remediated_by.and_then(|i| marks.get(i).map(|m| (i, m))) {
                        line.remediates x1=(coordinate(x(mark.time))) y1=(lane(mark)) x2=(coordinate(x(fix.1.time))) y2=(lane(fix.1))
                            data-from=(index) data-to=(fix.0) {}
                    }
                }
                @for mark in marks {
                    @let class = if mark.remediation { "mark remediation" } else if mark.failed { "mark failed" } else { "mark ok" };
                    @if mark.failed && !mark.remediation {
                        path class=(class) d={"M" (coordinate(x(mark.time) - 4.0)) " " (lane(mark) - 4.0) " l8 8 m0 -8 l-8 8"} data-deployment=(mark.id) {
                            title { (mark.label) }
                        }
                    } @else {
                        circle class=(class) cx=(coordinate(x(mark.time))) cy=(lane(mark)) r="3.5" data-deployment=(mark.id) {
                            title { (mark.label) }
                        }
                    }
                }
                line.axis-line x1="110" x2=(width - RIGHT) y1="120" y2="120" {}
                text.axis x="110" y="136" text-anchor="start" { (format::date(window.since)) }
                text.axis x=(width - RIGHT) y="136" text-anchor="end" { (format::date(window.until - 1)) }
                text.axis x=(110.0 + plot_width / 2.0) y="136" text-anchor="middle" { "deployment time (UTC)" }
            }
            figcaption {
                span.legend-ok {} " successful  "
                // The same cross the chart draws for a failure, not a stand-in shape.
                svg.legend-symbol width="10" height="10" viewBox="0 0 10 10" aria-hidden="true" {
                    path.mark.failed d="M1 1 L9 9 M9 1 L1 9" {}
                }
                " failed  "
                span.legend-remediation {} " remediation (rollback, hotfix or fix of a failure); a line joins a failure to its remediation"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.13), 0.2);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(340.0), 500.0);
    }

    #[test]
    fn histogram_markers_sit_inside_their_bin() {
        assert_eq!(bin_position(0.0), 0.0);
        assert_eq!(bin_position(1_800.0), 0.5);
        // 2.5 h is half-way through the 1–4 h bin.
        assert_eq!(bin_position(2.5 * 3_600.0), 1.5);
        assert_eq!(bin_position(1e12), 9.0);
    }

    fn point(date: &str, value: Option<f64>, partial: bool) -> TrendPoint {
        TrendPoint {
            date: date.into(),
            value,
            partial,
        }
    }

    /// The tick labels of a chart, in order.
    fn tick_labels(svg: &str) -> Vec<String> {
        let axis_x = format!("x=\"{}\" y=", LEFT - 6.0);
        svg.split(axis_x.as_str())
            .skip(1)
            .map(|rest| {
                let text = &rest[rest.find('>').unwrap() + 1..];
                text[..text.find('<').unwrap()].to_string()
            })
            .collect()
    }

    #[test]
    fn duration_axes_are_round_in_one_unit() {
        // A top of 5.8 days: the axis is 0 to 10 days, in days.
        let points = [
            point("2024-01-01", Some(5.8 * 86_400.0), false),
            point("2024-01-08", Some(3_600.0), false),
        ];
        let svg = trend("t", "lead", Unit::Duration, &points, Interval::Week).into_string();
        assert_eq!(tick_labels(&svg), ["0 d", "5 d", "10 d"]);
        // Four hours at most: hours.
        let points = [point("2024-01-01", Some(4.0 * 3_600.0), false)];
        let svg = trend("t", "lead", Unit::Duration, &points, Interval::Week).into_string();
        assert_eq!(tick_labels(&svg), ["0 h", "2.5 h", "5 h"]);
        // Rates keep their own format.
        let points = [point("2024-01-01", Some(0.3), false)];
        let svg = trend("t", "cfr", Unit::Rate, &points, Interval::Week).into_string();
        assert_eq!(tick_labels(&svg).len(), 3);
    }

    #[test]
    fn an_empty_chart_has_no_duplicate_labels() {
        let points = [
            point("2024-01-01", None, false),
            point("2024-01-08", None, false),
        ];
        let svg = trend("t", "lead", Unit::Duration, &points, Interval::Week).into_string();
        assert!(tick_labels(&svg).is_empty(), "{svg}");
        assert!(svg.contains("no data in the window"));
        // Two weeks: each date once.
        let drawn = &svg[..svg.find("</svg>").unwrap()];
        assert_eq!(drawn.matches(">2024-01-08<").count(), 1, "{svg}");
        assert!(!drawn.contains("axis from"), "no scale to describe: {svg}");
    }

    #[test]
    fn trend_text_is_escaped_and_gaps_split_the_line() {
        let points = [
            point("2024-01-01", Some(1.0), false),
            point("2024-01-08", Some(2.0), false),
            point("2024-01-15", None, false),
            point("2024-01-22", Some(3.0), false),
            point("2024-01-29", Some(0.5), true),
        ];
        let svg = trend("t", "<b>title</b>", Unit::Count, &points, Interval::Week).into_string();
        assert!(svg.contains("&lt;b&gt;title&lt;/b&gt;"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert_eq!(
            svg.matches("point partial").count(),
            1,
            "the cut week is hollow"
        );
    }
}
