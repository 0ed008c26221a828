//! The pages. Each gathers what it shows (`gather`), lets the core compute the figures, and
//! lays them out; figures carry their raw value in `data-value` beside the formatted text.

use super::charts::{self, TimelineMark, TrendPoint};
use super::format::{self, Unit};
use super::gather::{self, IncidentRow, RecentChange, Summary};
use super::{
    Context, Nav, Page, PageError, PageQuery, WINDOW_PRESETS, given, segment, url, window_text,
};
use loopwise_core::benchmark::{Benchmark, Tier};
use loopwise_core::metrics::LinkRule;
use loopwise_core::rollup::{
    Bucket, Figures, GroupBy, Interval, LeaderboardRow, SeriesMetric, SeriesPoint, format_date,
};
use loopwise_core::time::Window;
use loopwise_core::trends::{self, DivergenceKind, Metric, Movement};
use maud::{Markup, html};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Shared parts

/// Which selectors the filter form shows: a page scoped to a team has no team selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Organisation,
    Tribe,
    Team,
    Service,
}

fn tribes_and_teams(context: &Context) -> (BTreeSet<String>, BTreeSet<String>) {
    let ownership = &context.state.engine.organisation().ownership;
    let teams: BTreeSet<String> = ownership.teams().values().cloned().collect();
    let tribes: BTreeSet<String> = ownership.tribes().values().cloned().collect();
    (tribes, teams)
}

fn options(name: &str, all_label: &str, values: &BTreeSet<String>, chosen: Option<&str>) -> Markup {
    html! {
        select #(format!("filter-{name}")) name=(name) {
            option value="" selected[chosen.is_none()] { (all_label) }
            @for value in values {
                option value=(value) selected[chosen == Some(value.as_str())] { (value) }
            }
        }
    }
}

/// The filter form: a GET form, so every filtered view is a link.
fn filters(context: &Context, action: &str, scope: Scope, extra: Markup) -> Markup {
    let page = &context.page;
    let (tribes, teams) = tribes_and_teams(context);
    let custom = super::is_custom(page);
    html! {
        form #filters.filters method="get" action=(action) aria-label="Filters" {
            label for="filter-window" { "Window" }
            select #filter-window name="window" {
                @if custom {
                    option value="custom" selected { "custom: " (window_text(context.report.window)) }
                }
                @for (value, label, _) in WINDOW_PRESETS {
                    option value=(value) selected[!custom && context.preset == Some(value)] { (label) }
                }
            }
            @if custom {
                input type="hidden" name="since" value=(page.since.clone().unwrap_or_default());
            }
            @if let Some(until) = given(&page.until) {
                input type="hidden" name="until" value=(until);
            }
            @if scope == Scope::Organisation {
                label for="filter-tribe" { "Tribe" }
                (options("tribe", "every tribe", &tribes, given(&page.tribe)))
                label for="filter-team" { "Team" }
                (options("team", "every team", &teams, given(&page.team)))
            }
            @if scope == Scope::Tribe {
                label for="filter-team" { "Team" }
                (options("team", "every team", &teams, given(&page.team)))
            }
            label for="filter-environment" { "Environment" }
            input #filter-environment name="environment" placeholder="production"
                value=(page.environment.clone().unwrap_or_default());
            label for="filter-benchmark" { "Benchmark" }
            select #filter-benchmark name="benchmark" {
                @for name in Benchmark::names() {
                    option value=(name) selected[context.report.benchmark.name == name] { (name) }
                }
            }
            (extra)
            button type="submit" { "Apply" }
        }
        p.window-note {
            "Window: " strong #window { (window_text(context.report.window)) }
            " (" (super::window_ends_text(context.report.window)) ") · benchmark " strong { (context.report.benchmark.name) }
        }
    }
}

fn tier_badge(tier: Option<Tier>) -> Markup {
    let class = tier.map_or("tier none", |tier| match tier {
        Tier::Elite => "tier elite",
        Tier::High => "tier high",
        Tier::Medium => "tier medium",
        Tier::Low => "tier low",
    });
    html! { span class=(class) data-tier=(format::tier(tier)) { (format::tier(tier)) } }
}

fn metric_tier(metric: Metric, figures: &Figures) -> Option<Tier> {
    match metric {
        Metric::DeploymentFrequency => figures.deployments.tier,
        Metric::LeadTime => figures.lead_time.tier,
        Metric::ChangeFailureRate => figures.change_failure_rate.tier,
        Metric::RecoveryTime => figures.recovery_time.tier,
        // The benchmarks rate no rework rate.
        Metric::ReworkRate => None,
    }
}

/// What a figure was computed from, under its value.
fn basis(metric: Metric, figures: &Figures) -> String {
    match metric {
        Metric::DeploymentFrequency => match figures.deployments.deploy_days_per_week_median {
            Some(median) => format!(
                "{} successful deployments; median {} deploy days a week",
                figures.deployments.count,
                format::decimal(median)
            ),
            None => format!(
                "{} successful deployments; no whole calendar week to count deploy days in",
                figures.deployments.count
            ),
        },
        Metric::LeadTime => format!(
            "median of {} changes; p90 {}",
            figures.lead_time.changes,
            format::figure(figures.lead_time.p90_seconds, Unit::Duration)
        ),
        Metric::ChangeFailureRate => format!(
            "{} failed of {} deployments",
            figures.change_failure_rate.failed, figures.change_failure_rate.deployments
        ),
        Metric::RecoveryTime => format!(
            "median of {} recovered of {} failures",
            figures.recovery_time.recovered, figures.recovery_time.failures
        ),
        Metric::ReworkRate => format!(
            "{} remediation deployments of {}",
            figures.rework_rate.rework, figures.rework_rate.deployments
        ),
    }
}

fn change_text(metric: Metric, current: &Figures, previous: &Figures) -> Markup {
    let change = trends::change(metric, current, previous);
    let Some(movement) = change.movement else {
        return html! { p.change.none data-movement="none" { "no figure in the window before to compare with" } };
    };
    let (class, word, comparison) = match movement {
        Movement::Better => ("change better", "better", "better than"),
        Movement::Worse => ("change worse", "worse", "worse than"),
        Movement::Unchanged => ("change unchanged", "unchanged", "about the same as"),
    };
    let arrow = match change.delta {
        Some(delta) if delta > 0.0 => "▲",
        Some(delta) if delta < 0.0 => "▼",
        _ => "■",
    };
    let amount = match (metric, change.relative) {
        (Metric::ChangeFailureRate | Metric::ReworkRate, _) => change
            .delta
            .map(|d| format!("{:+.1} points", d * 100.0))
            .unwrap_or_default(),
        (_, Some(relative)) => format!("{:+.0}%", relative * 100.0),
        (_, None) => String::new(),
    };
    html! {
        p class=(class) data-movement=(word) data-previous=(format::raw(change.previous)) {
            span aria-hidden="true" { (arrow) } " " (amount) " — " (comparison) " the window before ("
            (format::metric_value(metric, change.previous)) ")"
        }
    }
}

/// The points of `metric` out of the series' bucket figures (computed once per page); a bucket
/// the window cuts short of its `interval` is partial.
fn series_points(
    buckets: &[(Bucket, Figures)],
    metric: Metric,
    interval: Interval,
) -> Vec<TrendPoint> {
    let Some(series_metric) = SeriesMetric::from_name(metric.name()) else {
        return Vec::new();
    };
    let whole = match interval {
        Interval::Day => 86_400,
        _ => 7 * 86_400,
    };
    buckets
        .iter()
        .map(|(bucket, figures)| TrendPoint {
            date: format_date(bucket.start),
            value: SeriesPoint::of(String::new(), series_metric, figures).value,
            partial: bucket.window.length_seconds() < whole,
        })
        .collect()
}

/// The five metric cards: value, tier, change against the window before, trend by `interval`.
fn metric_cards(
    figures: &[Figures; 3],
    buckets: &[(Bucket, Figures)],
    interval: Interval,
    benchmark: &Benchmark,
) -> Markup {
    let per = if interval == Interval::Day {
        "day"
    } else {
        "week"
    };
    let current = &figures[2];
    let previous = &figures[1];
    html! {
        section.cards aria-label="The five DORA metrics" {
            @for metric in Metric::ALL {
                @let value = metric.value(current);
                @let unit = Unit::of(metric);
                @let trend_unit = if metric == Metric::DeploymentFrequency { Unit::Count } else { unit };
                @let trend_title = if metric == Metric::DeploymentFrequency {
                    format!("Successful deployments per {per}")
                } else {
                    format!("{} per {per}", metric.title())
                };
                article.card data-metric=(metric.name()) {
                    h2 { (metric.title()) }
                    p.meaning { (meaning(metric)) " " a href={"/definitions#" (metric.name())} { "Definition" } }
                    p.value {
                        data.figure value=(format::raw(value)) data-value=(format::raw(value)) {
                            (format::metric_value(metric, value))
                        }
                        " " (tier_badge(metric_tier(metric, current)))
                    }
                    p.basis { (basis(metric, current)) }
                    (tier_bands(metric, benchmark, metric_tier(metric, current)))
                    (change_text(metric, current, previous))
                    (charts::trend(&format!("trend-{}", metric.name()), &trend_title, trend_unit,
                        &series_points(buckets, metric, interval), interval))
                }
            }
        }
    }
}

/// What a metric means, in one sentence (the definitions page has the whole rule).
fn meaning(metric: Metric) -> &'static str {
    match metric {
        Metric::DeploymentFrequency => {
            "How often changes reach production: successful deployments per week."
        }
        Metric::LeadTime => {
            "How long a change waits: from its commit to the deployment that ships it (median)."
        }
        Metric::ChangeFailureRate => {
            "How often a deployment goes wrong: failed, rolled back, hotfixed, reverted or causing an incident."
        }
        Metric::RecoveryTime => {
            "How long a failed deployment hurts: until the deployment that fixes it (median)."
        }
        Metric::ReworkRate => {
            "How much delivery is unplanned repair: rollbacks, hotfixes and fixes among the deployments."
        }
    }
}

/// The tier of each rated metric, in the order the overall sentence names them.
fn rated_tiers(figures: &Figures) -> Vec<(&'static str, Option<Tier>)> {
    vec![
        ("deployment frequency", figures.deployments.tier),
        ("lead time", figures.lead_time.tier),
        ("change failure rate", figures.change_failure_rate.tier),
        ("recovery time", figures.recovery_time.tier),
    ]
}

/// The overall tier in words people use: which metrics carry it and which hold it back; the
/// benchmark's own reasoning (nearest cluster, distances) stays one click away.
fn plain_overall(figures: &Figures) -> String {
    let tiers = rated_tiers(figures);
    let rated: Vec<(&str, Tier)> = tiers
        .iter()
        .filter_map(|&(name, tier)| tier.map(|tier| (name, tier)))
        .collect();
    let unrated: Vec<&str> = tiers
        .iter()
        .filter(|(_, tier)| tier.is_none())
        .map(|&(name, _)| name)
        .collect();
    let Some(tier) = figures.overall.tier else {
        return format!(
            "Not rated overall: too little data in the window for {}.",
            if unrated.is_empty() {
                "a tier".to_string()
            } else {
                unrated.join(", ")
            }
        );
    };
    let best = rated.iter().map(|(_, tier)| *tier).min();
    let worst = rated.iter().map(|(_, tier)| *tier).max();
    let names = |wanted: Option<Tier>| -> String {
        rated
            .iter()
            .filter(|(_, tier)| Some(*tier) == wanted)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut sentence = format!(
        "{} overall: the figures are closest to the benchmark's {} performers.",
        capitalised(tier.as_str()),
        tier.as_str()
    );
    if best == worst {
        if let Some(best) = best {
            sentence.push_str(&format!(" Every rated metric is {best}."));
        }
    } else {
        sentence.push_str(&format!(
            " Strongest: {} ({}). Holding it back: {} ({}).",
            names(best),
            best.map_or("", Tier::as_str),
            names(worst),
            worst.map_or("", Tier::as_str)
        ));
    }
    if !unrated.is_empty() {
        sentence.push_str(&format!(
            " Not enough data to rate: {}.",
            unrated.join(", ")
        ));
    }
    sentence
}

fn capitalised(word: &str) -> String {
    let mut letters = word.chars();
    match letters.next() {
        Some(first) => first.to_uppercase().chain(letters).collect(),
        None => String::new(),
    }
}

fn overall(figures: &Figures) -> Markup {
    html! {
        section.overall aria-label="Overall" {
            p { "Overall: " (tier_badge(figures.overall.tier)) " " span #overall-reason { (plain_overall(figures)) } }
            details.overall-method {
                summary { "How the overall tier is worked out" }
                p { (figures.overall.reason) }
            }
        }
    }
}

/// A benchmark's bound of one tier.
type TierBound = (Tier, f64);

/// The text of band `i` of a metric's bounds.
type DescribeBand = fn(&[TierBound], usize) -> String;

/// The tier bands of `metric` in `benchmark`, the band of the card's tier marked: where the
/// value sits among them.
fn tier_bands(metric: Metric, benchmark: &Benchmark, tier: Option<Tier>) -> Markup {
    let (bands, describe): (&[TierBound], DescribeBand) = match metric {
        Metric::DeploymentFrequency => (benchmark.deployment_frequency, |bands, i| {
            let (_, minimum) = bands[i];
            if i + 1 == bands.len() {
                "less".to_string()
            } else {
                format!("≥ {} / week", format::decimal(minimum))
            }
        }),
        Metric::LeadTime | Metric::RecoveryTime => (
            if metric == Metric::LeadTime {
                benchmark.lead_time
            } else {
                benchmark.recovery_time
            },
            |bands, i| {
                let (_, bound) = bands[i];
                if bound.is_infinite() {
                    "longer".to_string()
                } else {
                    format!("< {}", format::figure(Some(bound), Unit::Duration))
                }
            },
        ),
        Metric::ChangeFailureRate => (benchmark.change_failure_rate, |bands, i| {
            let (_, bound) = bands[i];
            if bound >= 1.0 {
                "more".to_string()
            } else {
                format!("≤ {}", format::percent(bound))
            }
        }),
        Metric::ReworkRate => {
            return html! { p.bands { "No tiers: DORA publishes no bands for rework." } };
        }
    };
    html! {
        p.bands {
            (benchmark.name) ": "
            @for (i, (band_tier, _)) in bands.iter().enumerate() {
                @if i > 0 { " · " }
                @if Some(*band_tier) == tier {
                    strong.band.current aria-current="true" data-tier=(band_tier.as_str()) { (band_tier.as_str()) " " (describe(bands, i)) }
                } @else {
                    span.band data-tier=(band_tier.as_str()) { (band_tier.as_str()) " " (describe(bands, i)) }
                }
            }
        }
    }
}

/// The rules behind every figure, in words: PRODUCT.md section 4 for people.
pub fn definitions(_context: &Context) -> Result<Page, PageError> {
    let entries: [(&str, &str, &[&str]); 6] = [
        (
            "deployment_frequency",
            "Deployment frequency",
            &[
                "Successful production deployments in the window, per week (the count divided by the window's length in weeks).",
                "Days with a deployment per week: the median, over the whole Monday-to-Sunday UTC weeks inside the window, of the UTC days that had one.",
                "Tiers need a window of at least a week.",
            ],
        ),
        (
            "lead_time",
            "Lead time for changes",
            &[
                "For every change (non-merge commit) a successful deployment ships: the time from the change's author date to that deployment. The report gives the median, the 90th percentile and the mean.",
                "A deployment ships the commits reachable from its commit that no earlier successful deployment of the same service and environment shipped. The first deployment of a chain is the baseline: its changes have no lead time.",
                "Changes dated after their deployment (clock skew) and implausible author dates are left out and counted. Tiers need at least five changes.",
            ],
        ),
        (
            "change_failure_rate",
            "Change failure rate",
            &[
                "Failed deployments divided by all deployments in the window.",
                "A deployment failed when its own status is failure, or it was later rolled back, hotfixed, had a shipped commit reverted (\"This reverts commit …\"), or an incident was linked to it. A revert fails the deployment as soon as it is committed; the failure stays open until a deployment ships the revert.",
                "Tiers need at least five deployments.",
            ],
        ),
        (
            "recovery_time",
            "Failed deployment recovery time",
            &[
                "For each failed deployment: the time to the first deployment that remediated it (a rollback, hotfix, the revert, or any deployment linked as the fix), or to the resolution of the incident it caused, whichever comes first. The report gives the median.",
            ],
        ),
        (
            "rework_rate",
            "Rework rate",
            &[
                "Deployments that were unplanned remediation (rollbacks, hotfixes, deployments carrying a revert or linked as a fix) divided by all deployments in the window. A hotfix with no earlier deployment in its chain is not rework. DORA publishes no tiers for it.",
            ],
        ),
        (
            "incidents",
            "Incidents and time to restore",
            &[
                "An incident is linked to the deployment it names (by id, or a commit that deployment shipped), else to the latest successful production deployment of its service that finished before the incident started, within the link window (72 hours unless configured). Time to restore is the median from an incident's start to its resolution.",
            ],
        ),
    ];
    let body = html! {
        h1 { "What the figures mean" }
        p.lead { "Every number loopwise shows follows these rules, the same in the command line, the API and these pages. Windows are UTC; a window includes its first day and ends before its end." }
        @for (anchor, title, rules) in entries {
            section id=(anchor) aria-labelledby={(anchor) "-heading"} {
                h2 id={(anchor) "-heading"} { (title) }
                @for rule in rules { p { (rule) } }
            }
        }
        section #tiers aria-labelledby="tiers-heading" {
            h2 #tiers-heading { "Tiers" }
            p { "Each metric is rated elite, high, medium or low against the bands of the chosen benchmark (a published DORA report). The overall tier is the benchmark's performance cluster nearest to the measured figures; a card shows its metric's bands with the current one marked." }
        }
    };
    Ok(Page {
        title: "Definitions".to_string(),
        nav: Nav::None,
        body,
    })
}

fn divergence_warning(figures: &[Figures; 3], windows: &[Window; 3]) -> Markup {
    let Some(found) = trends::divergence(figures) else {
        return html! {};
    };
    let steps: Vec<String> = windows
        .iter()
        .zip(
            found
                .deploys_per_week
                .iter()
                .zip(&found.change_failure_rate),
        )
        .map(|(window, (speed, failure))| {
            format!(
                "{}: {} deployments a week, {} failed",
                window_text(*window),
                format::decimal(*speed),
                format::percent(*failure)
            )
        })
        .collect();
    let (kind, headline, advice) = match found.kind {
        DivergenceKind::FasterButLessStable => (
            "faster-but-less-stable",
            "Speed and stability are moving apart: deployments are up while the change failure rate rises.",
            "Deploying more often pays only if each change stays safe: look at what the failed deployments shipped, and at the tests and reviews before them, before pushing frequency further.",
        ),
        DivergenceKind::StableButSlower => (
            "stable-but-slower",
            "Speed and stability are moving apart: failures are down while deployments slow down.",
            "Fewer failures bought with fewer, larger deployments is the trap of optimising one ceremony: small, frequent changes are what keep failures small.",
        ),
    };
    html! {
        aside.divergence role="alert" data-divergence=(kind) {
            h2 { "Warning" }
            p { strong { (headline) } }
            ul { @for step in &steps { li { (step) } } }
            p { (advice) }
        }
    }
}

fn group_link(group_by: GroupBy, name: &str, query: &PageQuery) -> Markup {
    let carried = query.carried();
    let href = match group_by {
        GroupBy::Team if name != loopwise_core::rollup::UNASSIGNED => {
            Some(url(&format!("/teams/{}", segment(name)), &carried))
        }
        GroupBy::Tribe if name != loopwise_core::rollup::UNASSIGNED => {
            Some(url(&format!("/tribes/{}", segment(name)), &carried))
        }
        GroupBy::Service => Some(url(&format!("/services/{}", segment(name)), &carried)),
        _ => None,
    };
    html! {
        @match href {
            Some(href) => a href=(href) { (name) },
            None => (name),
        }
    }
}

fn figure_cell(column: &str, value: Option<f64>, unit: Unit) -> Markup {
    html! { td.num data-column=(column) data-value=(format::raw(value)) { (format::figure(value, unit)) } }
}

/// The heading of the column that names a row's group.
fn group_heading(group_by: GroupBy) -> &'static str {
    match group_by {
        GroupBy::Tribe => "Tribe",
        GroupBy::Team => "Team",
        GroupBy::Service => "Service",
        GroupBy::Environment => "Environment",
    }
}

/// The breakdown of a summary page: one row per tribe, team or service.
/// How a group's speed and stability moved against the window before, with their sizes:
/// `deploys ▲ +42% · failures ▲ +5.0 pts`.
fn trend_summary(figures: &[Figures; 3]) -> Markup {
    let (now, before) = (&figures[2], &figures[1]);
    let arrow = |delta: Option<f64>| match delta {
        Some(delta) if delta > 0.0 => "▲",
        Some(delta) if delta < 0.0 => "▼",
        _ => "■",
    };
    let speed = trends::change(Metric::DeploymentFrequency, now, before);
    let failures = trends::change(Metric::ChangeFailureRate, now, before);
    let speed_text = match (speed.movement, speed.relative) {
        (None, _) => None,
        (Some(_), Some(relative)) => {
            Some(format!("{} {:+.0}%", arrow(speed.delta), relative * 100.0))
        }
        (Some(_), None) => Some(format!("{} from 0", arrow(speed.delta))),
    };
    let failure_text = failures
        .movement
        .and(failures.delta)
        .map(|delta| format!("{} {:+.1} pts", arrow(Some(delta)), delta * 100.0));
    html! {
        @if speed_text.is_none() && failure_text.is_none() {
            span.muted data-trend="none" { "no window before to compare" }
        } @else {
            span data-trend="deploys" data-movement=(speed.movement.map_or("none", movement_word)) {
                "deploys " (speed_text.clone().unwrap_or_else(|| "—".into()))
            }
            " · "
            span data-trend="failures" data-movement=(failures.movement.map_or("none", movement_word)) {
                "failures " (failure_text.clone().unwrap_or_else(|| "—".into()))
            }
        }
    }
}

fn movement_word(movement: Movement) -> &'static str {
    match movement {
        Movement::Better => "better",
        Movement::Worse => "worse",
        Movement::Unchanged => "unchanged",
    }
}

fn breakdown(summary: &Summary, group_by: GroupBy, context: &Context, heading: &str) -> Markup {
    html! {
        section aria-labelledby="breakdown-heading" {
            h2 #breakdown-heading { (heading) }
            div.table-wrap {
                table #breakdown.data {
                    thead {
                        tr {
                            th scope="col" { (group_heading(group_by)) }
                            th scope="col" { "Deploys / week" }
                            th scope="col" { "Lead time (median)" }
                            th scope="col" { "Change failure rate" }
                            th scope="col" { "Recovery (median)" }
                            th scope="col" { "Rework rate" }
                            th scope="col" { "Overall" }
                            th scope="col" { "Trend" }
                        }
                    }
                    tbody {
                        @for (name, figures) in &summary.breakdown {
                            @let now = &figures[2];
                            tr data-group=(name) {
                                th scope="row" { (group_link(group_by, name, &context.page)) }
                                (figure_cell("frequency", Some(now.deployments.per_week), Unit::PerWeek))
                                (figure_cell("lead_time", now.lead_time.median_seconds, Unit::Duration))
                                (figure_cell("cfr", now.change_failure_rate.rate, Unit::Rate))
                                (figure_cell("recovery", now.recovery_time.median_seconds, Unit::Duration))
                                (figure_cell("rework", now.rework_rate.rate, Unit::Rate))
                                td data-column="tier" { (tier_badge(now.overall.tier)) }
                                td data-column="trend" {
                                    (trend_summary(figures))
                                    @match trends::divergence(figures).map(|d| d.kind) {
                                        Some(DivergenceKind::FasterButLessStable) => { " " span.flag.worse { "faster, less stable" } },
                                        Some(DivergenceKind::StableButSlower) => { " " span.flag.worse { "stabler, slower" } },
                                        None => {},
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn rule_text(rule: LinkRule) -> &'static str {
    match rule {
        LinkRule::Explicit => "explicit: the incident names the deployment or a commit it shipped",
        LinkRule::LatestBefore => "latest successful deployment before the incident (within 72 h)",
        LinkRule::Unlinked => "unlinked: no deployment fits",
    }
}

fn rule_name(rule: LinkRule) -> &'static str {
    match rule {
        LinkRule::Explicit => "explicit",
        LinkRule::LatestBefore => "latest-before",
        LinkRule::Unlinked => "unlinked",
    }
}

fn incident_href(row: &IncidentRow, query: &PageQuery) -> String {
    url(
        &format!(
            "/incidents/{}/{}",
            segment(row.incident.source.as_str()),
            segment(&row.incident.id)
        ),
        &query.carried(),
    )
}

fn incidents_table(
    rows: &[IncidentRow],
    query: &PageQuery,
    limit: usize,
    with_service: bool,
) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "No incidents started in the window." }
        } @else {
            div.table-wrap {
                table #incidents.data {
                    thead {
                        tr {
                            th scope="col" { "Incident" }
                            @if with_service { th scope="col" { "Service" } }
                            th scope="col" { "Severity" }
                            th scope="col" { "Started" }
                            th scope="col" { "Time to restore" }
                            th scope="col" { "Linked deployment" }
                            th scope="col" { "Linked by" }
                        }
                    }
                    tbody {
                        @for row in rows.iter().take(limit) {
                            @let restore = row.incident.resolved_at.map(|r| (r - row.incident.started_at) as f64).filter(|s| *s >= 0.0);
                            tr data-incident=(row.incident.id) data-rule=(rule_name(row.rule)) {
                                td { a href=(incident_href(row, query)) { (row.incident.title) } }
                                @if with_service {
                                    td { @if let Some(service) = &row.incident.service {
                                        a href=(url(&format!("/services/{}", segment(service)), &query.carried())) { (service) }
                                    } }
                                }
                                td { (row.incident.severity.clone().unwrap_or_else(|| "—".into())) }
                                td { (format::instant(row.incident.started_at)) }
                                (figure_cell("restore", restore, Unit::Duration))
                                td { @match &row.deployment {
                                    Some(deployment) => { code { (deployment.id) } },
                                    None => "—",
                                } }
                                td title=(rule_text(row.rule)) { (rule_name(row.rule)) }
                            }
                        }
                    }
                }
            }
            @if rows.len() > limit {
                p.more { "Showing " (limit) " of " (rows.len()) " incidents. " a href=(url("/incidents", &query.all_pairs())) { "All incidents" } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Overview, team and tribe pages

/// The breakdown a summary page shows: tribes of the organisation (teams if no tribe is
/// configured, services if no team is), teams of a tribe, services of a team. An overview
/// narrowed by its filters to one tribe or team breaks down as that tribe's or team's page.
fn breakdown_of(context: &Context, scope: Scope) -> GroupBy {
    let ownership = &context.state.engine.organisation().ownership;
    let page = &context.page;
    let scope = match scope {
        Scope::Organisation if given(&page.service).is_some() || given(&page.team).is_some() => {
            Scope::Team
        }
        Scope::Organisation if given(&page.tribe).is_some() => Scope::Tribe,
        scope => scope,
    };
    match scope {
        Scope::Organisation if !ownership.tribes().is_empty() => GroupBy::Tribe,
        Scope::Organisation | Scope::Tribe if !ownership.teams().is_empty() => GroupBy::Team,
        _ => GroupBy::Service,
    }
}

fn summary_page(
    context: &Context,
    scope: Scope,
    title: String,
    action: &str,
    subtitle: Markup,
) -> Result<Page, PageError> {
    let group_by = breakdown_of(context, scope);
    let state = &context.state;
    let summary = gather::summarise(
        state.store.as_ref(),
        &context.report,
        &state.engine,
        group_by,
        &context.series,
    )?;
    if summary.chains == 0 && scope != Scope::Organisation {
        return Err(PageError::not_found(format!(
            "{title}: no deployments are stored for its services in the selected environments"
        )));
    }
    let figures = &summary.figures;
    let heading = match group_by {
        GroupBy::Tribe => "Tribes",
        GroupBy::Team => "Teams",
        _ => "Services",
    };
    let body = html! {
        h1 { (title) }
        (subtitle)
        (filters(context, action, scope, html! {}))
        @if summary.chains == 0 {
            p.empty { "No deployments are stored yet. Send them with webhooks or "
                code { "loopwise record deployment" } ", import history with "
                code { "loopwise analyze" } ", or fill a demo database with " code { "loopwise demo" } "." }
        } @else {
            (divergence_warning(figures, &summary.windows))
            (overall(&figures[2]))
            (metric_cards(figures, &summary.weeks, context.series.interval(), context.report.benchmark))
            (breakdown(&summary, group_by, context, heading))
            section aria-labelledby="incidents-heading" {
                h2 #incidents-heading { "Incidents in the window" }
                (incidents_table(&summary.incidents, &context.page, 10, true))
            }
            p { a href=(url("/leaderboard", &context.page.all_pairs())) { "Leaderboard of these services" } }
        }
    };
    Ok(Page {
        title,
        nav: if scope == Scope::Organisation {
            Nav::Overview
        } else {
            Nav::None
        },
        body,
    })
}

pub fn overview(context: &Context) -> Result<Page, PageError> {
    let page = &context.page;
    let title = match (given(&page.service), given(&page.team), given(&page.tribe)) {
        (Some(service), _, _) => format!("Service {service}"),
        (None, Some(team), _) => format!("Team {team}"),
        (None, None, Some(tribe)) => format!("Tribe {tribe}"),
        _ => "Organisation".to_string(),
    };
    summary_page(
        context,
        Scope::Organisation,
        title,
        "/",
        html! {
            p.lead { "The five DORA metrics of every production deployment, against the "
                (context.report.benchmark.name) " benchmark." }
        },
    )
}

pub fn team(context: &Context) -> Result<Page, PageError> {
    let team = given(&context.page.team).unwrap_or_default().to_string();
    let ownership = &context.state.engine.organisation().ownership;
    let tribe = ownership.tribes().get(&team).cloned();
    let services: Vec<&String> = ownership
        .teams()
        .iter()
        .filter(|(_, owner)| **owner == team)
        .map(|(service, _)| service)
        .collect();
    if services.is_empty() {
        return Err(PageError::not_found(format!(
            "no team {team:?} in the configuration's [teams]"
        )));
    }
    let carried = context.page.carried();
    let subtitle = html! {
        p.lead {
            "Team"
            @if let Some(tribe) = &tribe {
                " of tribe " a href=(url(&format!("/tribes/{}", segment(tribe)), &carried)) { (tribe) }
            }
            ", owning " (services.len()) " services."
        }
    };
    summary_page(
        context,
        Scope::Team,
        format!("Team {team}"),
        &format!("/teams/{}", segment(&team)),
        subtitle,
    )
}

pub fn tribe(context: &Context) -> Result<Page, PageError> {
    let tribe = given(&context.page.tribe).unwrap_or_default().to_string();
    let teams: Vec<&String> = context
        .state
        .engine
        .organisation()
        .ownership
        .tribes()
        .iter()
        .filter(|(_, owner)| **owner == tribe)
        .map(|(team, _)| team)
        .collect();
    if teams.is_empty() {
        return Err(PageError::not_found(format!(
            "no tribe {tribe:?} in the configuration's [teams]"
        )));
    }
    let subtitle = html! { p.lead { "Tribe of " (teams.len()) " teams." } };
    summary_page(
        context,
        Scope::Tribe,
        format!("Tribe {tribe}"),
        &format!("/tribes/{}", segment(&tribe)),
        subtitle,
    )
}

// ---------------------------------------------------------------------------------------------
// Leaderboard

/// The leaderboard's sortable columns: (key, heading, numeric, what the heading means). Few and
/// narrow, so the stability columns and the overall tier fit a 1280 px screen; what a group
/// is made of (services, environments, durations) is on the group's own page.
const COLUMNS: [(&str, &str, bool, &str); 10] = [
    ("group", "Group", false, ""),
    ("team", "Team", false, "the team that owns it"),
    ("tribe", "Tribe", false, "the tribe the team belongs to"),
    (
        "deployments",
        "Deploys",
        true,
        "deployments in the window, failed ones included",
    ),
    (
        "frequency",
        "Per week",
        true,
        "successful deployments per week",
    ),
    (
        "lead_time",
        "Lead time",
        true,
        "median lead time for changes",
    ),
    ("cfr", "Failure rate", true, "change failure rate"),
    (
        "recovery",
        "Recovery",
        true,
        "median failed-deployment recovery time",
    ),
    (
        "rework",
        "Rework",
        true,
        "rework rate: unplanned fixes among the deployments",
    ),
    ("tier", "Overall", true, "overall performance tier"),
];

/// A leaderboard row with who it is, ready to sort and filter.
struct BoardRow {
    row: LeaderboardRow,
    teams: Vec<String>,
    tribes: Vec<String>,
    environments: Vec<String>,
    services: Vec<String>,
}

impl BoardRow {
    fn text(&self, column: &str) -> String {
        match column {
            "group" => self.row.group.clone(),
            "team" => self.teams.join(", "),
            "tribe" => self.tribes.join(", "),
            "environment" => self.environments.join(", "),
            "service" => self.services.join(", "),
            _ => String::new(),
        }
    }

    fn number(&self, column: &str) -> Option<f64> {
        let f = &self.row.figures;
        match column {
            "deployments" => Some(f.change_failure_rate.deployments as f64),
            "frequency" => Some(f.deployments.per_week),
            "lead_time" => f.lead_time.median_seconds,
            "cfr" => f.change_failure_rate.rate,
            "recovery" => f.recovery_time.median_seconds,
            "rework" => f.rework_rate.rate,
            // Elite first when ascending.
            "tier" => f.overall.tier.map(|tier| match tier {
                Tier::Elite => 0.0,
                Tier::High => 1.0,
                Tier::Medium => 2.0,
                Tier::Low => 3.0,
            }),
            _ => None,
        }
    }

    fn matches(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        ["group", "team", "tribe", "environment", "service"]
            .iter()
            .any(|column| self.text(column).to_lowercase().contains(&needle))
    }
}

pub fn leaderboard(context: &Context) -> Result<Page, PageError> {
    let page = &context.page;
    let group_by = match given(&page.group_by) {
        None => GroupBy::Team,
        Some(name) => GroupBy::from_name(name).ok_or_else(|| {
            PageError::bad_request(format!(
                "group_by: unknown grouping {name:?}; choose one of: {}",
                GroupBy::NAMES.join(", ")
            ))
        })?,
    };
    let sort = match given(&page.sort) {
        None => None,
        Some(key) => Some(
            COLUMNS
                .iter()
                .find(|(column, _, _, _)| *column == key)
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                        "sort: unknown column {key:?}; choose one of: {}",
                        COLUMNS.map(|(column, _, _, _)| column).join(", ")
                    ))
                })?,
        ),
    };
    let descending = match given(&page.order) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(PageError::bad_request(format!(
                "order: {other:?} is neither asc nor desc"
            )));
        }
    };
    let state = &context.state;
    let board = state
        .engine
        .leaderboard(state.store.as_ref(), &context.report, group_by)?;
    let mut rows: Vec<BoardRow> = board
        .rows
        .into_iter()
        .map(|row| {
            let mut teams = BTreeSet::new();
            let mut tribes = BTreeSet::new();
            let mut environments = BTreeSet::new();
            let mut services = BTreeSet::new();
            for chain in &row.chains {
                let (team, tribe) = context.state.engine.owners(&chain.service);
                teams.extend(team);
                tribes.extend(tribe);
                environments.insert(chain.environment.clone());
                services.insert(chain.service.clone());
            }
            BoardRow {
                row,
                teams: teams.into_iter().collect(),
                tribes: tribes.into_iter().collect(),
                environments: environments.into_iter().collect(),
                services: services.into_iter().collect(),
            }
        })
        .collect();
    let total = rows.len();
    if let Some(needle) = given(&page.q) {
        rows.retain(|row| row.matches(needle));
    }
    if let Some((column, _, numeric, _)) = sort {
        rows.sort_by(|a, b| {
            let order = if *numeric {
                // Rows without the figure go last whichever the order.
                match (a.number(column), b.number(column)) {
                    (Some(x), Some(y)) => {
                        let order = x.total_cmp(&y);
                        if descending { order.reverse() } else { order }
                    }
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            } else {
                let order = a
                    .text(column)
                    .to_lowercase()
                    .cmp(&b.text(column).to_lowercase());
                if descending { order.reverse() } else { order }
            };
            order.then_with(|| a.row.rank.cmp(&b.row.rank))
        });
    }
    let sort_href = |column: &str| {
        let mut pairs: Vec<(&str, String)> = page
            .all_pairs()
            .into_iter()
            .filter(|(name, _)| *name != "sort" && *name != "order")
            .collect();
        let currently_ascending = sort.is_some_and(|(c, _, _, _)| *c == column) && !descending;
        pairs.push(("sort", column.to_string()));
        pairs.push((
            "order",
            if currently_ascending { "desc" } else { "asc" }.to_string(),
        ));
        url("/leaderboard", &pairs)
    };
    let groupings = html! {
        label for="filter-group-by" { "Group by" }
        select #filter-group-by name="group_by" {
            @for name in ["team", "tribe", "service", "environment"] {
                option value=(name) selected[GroupBy::from_name(name) == Some(group_by)] { (name) }
            }
        }
        label for="filter-q" { "Name contains" }
        input #filter-q type="search" name="q" value=(page.q.clone().unwrap_or_default()) placeholder="filter rows";
        @if let Some((column, _, _, _)) = sort {
            input type="hidden" name="sort" value=(column);
            input type="hidden" name="order" value=(if descending { "desc" } else { "asc" });
        }
    };
    let carried = page.carried();
    // Who owns the group, where that is one name: a service's team and tribe, a team's tribe.
    let shown = |column: &str| match column {
        "team" => group_by == GroupBy::Service,
        "tribe" => matches!(group_by, GroupBy::Service | GroupBy::Team),
        _ => true,
    };
    let body = html! {
        h1 { "Leaderboard" }
        p.lead { "Every group's figures pooled over its services' production deployments. Select a column heading to sort; the rank follows the order shown. A group's page has its services and the details." }
        (filters(context, "/leaderboard", Scope::Organisation, groupings))
        p #row-count { "Showing " (rows.len()) " of " (total) " " (GroupBy::NAMES[group_by as usize]) " rows." }
        div.table-wrap {
            table #leaderboard.data.sortable {
                caption.visually-hidden { "Leaderboard by " (GroupBy::NAMES[group_by as usize]) }
                thead {
                    tr {
                        th scope="col" { "#" }
                        @for (column, heading, _, meaning) in COLUMNS.iter().copied().filter(|(c, _, _, _)| shown(c)) {
                            @let sorted = sort.is_some_and(|(c, _, _, _)| *c == column);
                            th scope="col" data-column=(column) title=(meaning)
                                aria-sort=(if !sorted { "none" } else if descending { "descending" } else { "ascending" }) {
                                a href=(sort_href(column)) data-sort=(column) {
                                    (if column == "group" { group_heading(group_by) } else { heading })
                                    @if sorted { span aria-hidden="true" { (if descending { " ▼" } else { " ▲" }) } }
                                }
                            }
                        }
                    }
                }
                tbody {
                    @for (position, row) in rows.iter().enumerate() {
                        @let f = &row.row.figures;
                        tr data-group=(row.row.group) data-rank=(row.row.rank) {
                            td.num data-column="rank" { (position + 1) }
                            th scope="row" data-column="group" data-value=(row.row.group) { (group_link(group_by, &row.row.group, page)) }
                            @if shown("team") { td data-column="team" data-value=(row.text("team")) {
                                @for (i, team) in row.teams.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href=(url(&format!("/teams/{}", segment(team)), &carried)) { (team) }
                                }
                            } }
                            @if shown("tribe") { td data-column="tribe" data-value=(row.text("tribe")) {
                                @for (i, tribe) in row.tribes.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href=(url(&format!("/tribes/{}", segment(tribe)), &carried)) { (tribe) }
                                }
                            } }
                            (figure_cell("deployments", Some(f.change_failure_rate.deployments as f64), Unit::Count))
                            (figure_cell("frequency", Some(f.deployments.per_week), Unit::PerWeek))
                            (figure_cell("lead_time", f.lead_time.median_seconds, Unit::Duration))
                            (figure_cell("cfr", f.change_failure_rate.rate, Unit::Rate))
                            (figure_cell("recovery", f.recovery_time.median_seconds, Unit::Duration))
                            (figure_cell("rework", f.rework_rate.rate, Unit::Rate))
                            td data-column="tier" data-value=(format::tier(f.overall.tier)) { (tier_badge(f.overall.tier)) }
                        }
                    }
                }
            }
        }
    };
    Ok(Page {
        title: "Leaderboard".to_string(),
        nav: Nav::Leaderboard,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Service page

fn changes_table(changes: &[RecentChange], id: &str) -> Markup {
    html! {
        @if changes.is_empty() {
            p.empty { "No changes were shipped in the window." }
        } @else {
            div.table-wrap {
                table.data id=(id) {
                    thead { tr {
                        th scope="col" { "Commit" } th scope="col" { "Subject" } th scope="col" { "Author" }
                        th scope="col" { "Authored" } th scope="col" { "Deployed by" } th scope="col" { "Lead time" }
                    } }
                    tbody {
                        @for change in changes {
                            tr data-sha=(change.sha) {
                                td { code title=(change.sha) { (format::short_sha(&change.sha)) } }
                                td { (change.subject.clone().unwrap_or_else(|| "—".into())) }
                                td { (change.author.clone().unwrap_or_else(|| "—".into())) }
                                td { (format::instant(change.authored_at)) }
                                td { code { (change.deployment) } " " span.muted { (format::instant(change.deployed_at)) } }
                                @match change.lead_seconds {
                                    Some(seconds) => (figure_cell("lead_time", Some(seconds as f64), Unit::Duration)),
                                    None => td.num data-column="lead_time" data-value="" title="shipped by the first deployment: no baseline" { "baseline" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn service(context: &Context) -> Result<Page, PageError> {
    let service = given(&context.page.service).unwrap_or_default().to_string();
    let state = &context.state;
    let chains = gather::service_detail(
        state.store.as_ref(),
        &context.report,
        &state.engine,
        &context.series,
    )?;
    let Some(chain) = chains.first() else {
        return Err(PageError::not_found(format!(
            "no deployments of service {service:?} are stored in the selected environments"
        )));
    };
    let benchmark = context.report.benchmark;
    let figures = chain.pooled.figures(&chain.windows, benchmark);
    let report = &chain.report;
    let carried = context.page.carried();
    let marks: Vec<TimelineMark> = chain
        .deployments
        .iter()
        .zip(&chain.remediated_by)
        .map(|(deployment, remediated_by)| TimelineMark {
            id: deployment.id.clone(),
            time: deployment.time,
            failed: deployment.failed,
            remediation: deployment.rework,
            remediated_by: *remediated_by,
            label: format!(
                "{} at {}: {}{}",
                deployment.id,
                format::instant(deployment.time),
                deployment.outcome(),
                if deployment.failure_reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", deployment.failure_reasons.join(", "))
                }
            ),
        })
        .collect();
    let histogram = trends::lead_time_histogram(chain.lead_times.iter().copied());
    let environments: Vec<&str> = chains
        .iter()
        .map(|c| c.report.environment.as_str())
        .collect();
    let body = html! {
        h1 { "Service " (service) }
        p.lead {
            @if let Some(team) = &report.team {
                "Owned by team " a href=(url(&format!("/teams/{}", segment(team)), &carried)) { (team) }
                @if let Some(tribe) = &report.tribe {
                    " of tribe " a href=(url(&format!("/tribes/{}", segment(tribe)), &carried)) { (tribe) }
                }
                ". "
            } @else {
                "No team owns this service in the configuration. "
            }
            "Environment " strong #environment { (report.environment) }
            @if environments.len() > 1 {
                " (also: "
                @for other in environments.iter().skip(1) {
                    a href=(url(&format!("/services/{}", segment(&service)), &[("environment", other.to_string())])) { (other) } " "
                }
                ")"
            }
            "."
        }
        (filters(context, &format!("/services/{}", segment(&service)), Scope::Service, html! {}))
        (divergence_warning(&figures, &chain.windows))
        (overall(&figures[2]))
        (metric_cards(&figures, &chain.series.bucket_figures(benchmark), context.series.interval(), benchmark))
        section aria-labelledby="timeline-heading" {
            h2 #timeline-heading { "Deployments" }
            (charts::timeline(context.report.window, &marks))
            details {
                summary { "Latest deployments" }
                div.table-wrap {
                    table #deployments.data {
                        thead { tr {
                            th scope="col" { "Deployment" } th scope="col" { "Finished" } th scope="col" { "Status" }
                            th scope="col" { "Kind" } th scope="col" { "Failed because" } th scope="col" { "Recovery" }
                            th scope="col" { "Duration" } th scope="col" { "Changes" }
                        } }
                        tbody {
                            @for deployment in chain.deployments.iter().rev().take(25) {
                                tr data-deployment=(deployment.id) data-failed=(deployment.failed) {
                                    td { code { (deployment.id) } }
                                    td { (format::instant(deployment.time)) }
                                    td { (deployment.outcome()) }
                                    td { (deployment.kind) @if deployment.rework { " (remediation)" } }
                                    td { (deployment.failure_reasons.join(", ")) }
                                    (figure_cell("recovery", deployment.recovery_seconds.map(|s| s as f64), Unit::Duration))
                                    (figure_cell("duration", deployment.duration_seconds.map(|s| s as f64), Unit::Duration))
                                    td.num { (deployment.shipped) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="lead-heading" {
            h2 #lead-heading { "Lead time distribution" }
            (charts::lead_time_histogram(&histogram, report.lead_time.median_seconds, report.lead_time.p90_seconds))
        }
        section aria-labelledby="incidents-heading" {
            h2 #incidents-heading { "Incidents" }
            p { "Each incident is linked to the deployment that caused it: the one it names, else the latest successful deployment that finished before it started, within 72 hours." }
            (incidents_table(&chain.incidents, &context.page, 50, false))
        }
        section aria-labelledby="changes-heading" {
            h2 #changes-heading { "Recent changes" }
            (changes_table(&chain.recent_changes, "changes"))
        }
    };
    Ok(Page {
        title: format!("Service {service}"),
        nav: Nav::None,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Incidents

pub fn incidents(context: &Context) -> Result<Page, PageError> {
    let state = &context.state;
    let incidents = gather::incidents(state.store.as_ref(), &context.report, &state.engine)?;
    let linked = incidents
        .iter()
        .filter(|row| row.deployment.is_some())
        .count();
    let body = html! {
        h1 { "Incidents" }
        p.lead { (incidents.len()) " incidents started in the window; " (linked) " are linked to a deployment." }
        (filters(context, "/incidents", Scope::Organisation, html! {}))
        (incidents_table(&incidents, &context.page, 500, true))
    };
    Ok(Page {
        title: "Incidents".to_string(),
        nav: Nav::Incidents,
        body,
    })
}

fn deployment_row(deployment: &gather::DeploymentBrief) -> Markup {
    html! {
        tr data-deployment=(deployment.id) {
            td { code { (deployment.id) } }
            td { (format::instant(deployment.time)) }
            td { (deployment.outcome()) " · " (deployment.kind) " · " (deployment.source) }
            td { code title=(deployment.sha) { (format::short_sha(&deployment.sha)) } }
            td { (deployment.failure_reasons.join(", ")) }
            (figure_cell("recovery", deployment.recovery_seconds.map(|s| s as f64), Unit::Duration))
        }
    }
}

pub fn incident(context: &Context, source: &str, id: &str) -> Result<Page, PageError> {
    let state = &context.state;
    let detail = gather::incident_detail(
        state.store.as_ref(),
        &context.report,
        &state.engine,
        source,
        id,
    )?
    .ok_or_else(|| PageError::not_found(format!("no incident {id:?} from {source:?} is stored")))?;
    let incident = &detail.row.incident;
    let carried = context.page.carried();
    let restore = incident
        .resolved_at
        .map(|r| (r - incident.started_at) as f64)
        .filter(|s| *s >= 0.0);
    let acknowledge = incident
        .acknowledged_at
        .map(|a| (a - incident.started_at) as f64)
        .filter(|s| *s >= 0.0);
    let head = html! { tr { th scope="col" { "Deployment" } th scope="col" { "Finished" } th scope="col" { "Status" }
    th scope="col" { "Commit" } th scope="col" { "Failed because" } th scope="col" { "Recovery" } } };
    let body = html! {
        h1 { "Incident: " (incident.title) }
        dl.facts #incident-facts {
            dt { "Service" }
            dd { @match &incident.service {
                Some(service) => a href=(url(&format!("/services/{}", segment(service)), &carried)) { (service) },
                None => "none named",
            } }
            @if let Some(team) = &detail.team {
                dt { "Team" } dd { a href=(url(&format!("/teams/{}", segment(team)), &carried)) { (team) } }
            }
            @if let Some(tribe) = &detail.tribe {
                dt { "Tribe" } dd { a href=(url(&format!("/tribes/{}", segment(tribe)), &carried)) { (tribe) } }
            }
            @if !detail.row.environment.is_empty() {
                dt { "Environment" } dd { (detail.row.environment) }
            }
            dt { "Source" } dd { (incident.source.as_str()) " · " code { (incident.id) } }
            dt { "Severity" } dd { (incident.severity.clone().unwrap_or_else(|| "—".into())) }
            dt { "Impact started" } dd { (format::instant(incident.started_at)) }
            dt { "Acknowledged" } dd data-value=(format::raw(acknowledge)) {
                (incident.acknowledged_at.map(format::instant).unwrap_or_else(|| "—".into()))
                @if let Some(seconds) = acknowledge { " (after " (format::duration(seconds)) ")" }
            }
            dt { "Resolved" } dd { (incident.resolved_at.map(format::instant).unwrap_or_else(|| "not yet".into())) }
            dt { "Time to restore" } dd #time-to-restore data-value=(format::raw(restore)) { (format::figure(restore, Unit::Duration)) }
            @if let Some(link) = &incident.url {
                dt { "Link" } dd { a href=(link) rel="noopener noreferrer" { (link) } }
            }
            dt { "Linked by" } dd #link-rule data-rule=(rule_name(detail.row.rule)) { (rule_text(detail.row.rule)) }
            @if let Some(caused_by) = &incident.caused_by {
                dt { "Names as its cause" } dd { code { (caused_by) } }
            }
        }
        section aria-labelledby="cause-heading" {
            h2 #cause-heading { "Linked deployment" }
            @match &detail.row.deployment {
                Some(deployment) => {
                    div.table-wrap { table #linked-deployment.data { thead { (head) } tbody { (deployment_row(deployment)) } } }
                    h3 { "Its remediation" }
                    @if detail.remediations.is_empty() {
                        p.empty { "No later deployment remediated it." }
                    } @else {
                        div.table-wrap { table #remediations.data { thead { (head) } tbody {
                            @for fix in &detail.remediations { (deployment_row(fix)) }
                        } } }
                    }
                    h3 { "The changes it shipped" }
                    (changes_table(&detail.shipped, "shipped"))
                },
                None => p.empty { "No deployment is linked to this incident; it still counts for time to restore." },
            }
        }
    };
    Ok(Page {
        title: format!("Incident {}", incident.title),
        nav: Nav::Incidents,
        body,
    })
}
