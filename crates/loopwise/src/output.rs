//! Rendering a report: table (for people), JSON (the `loopwise.report.v1` contract), Markdown
//! and CSV. Renderers only format; every figure comes from the core's report.

use crate::cli::OutputFormat;
use loopwise_core::benchmark::Tier;
use loopwise_core::report::{Report, ServiceReport};
use loopwise_core::rollup::Leaderboard;
use std::fmt::Write as _;
use std::io::Write;

pub fn print(report: &Report, format: OutputFormat) -> anyhow::Result<()> {
    let text = render(report, format)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub fn render(report: &Report, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => serde_json::to_string_pretty(report)? + "\n",
        OutputFormat::Table => table(report),
        OutputFormat::Markdown => markdown(report),
        OutputFormat::Csv => csv(report),
    })
}

pub fn print_leaderboard(board: &Leaderboard, format: OutputFormat) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(board)? + "\n",
        OutputFormat::Table | OutputFormat::Markdown | OutputFormat::Csv => {
            leaderboard_rows(board, format)
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// One line per group: rank, group, deployments, the four keys with tiers, rework, overall.
fn leaderboard_rows(board: &Leaderboard, format: OutputFormat) -> String {
    let header = [
        "rank",
        "group",
        "deployments",
        "deploys/week",
        "lead time (median)",
        "change failure rate",
        "recovery (median)",
        "rework rate",
        "overall",
    ];
    let rows: Vec<[String; 9]> = board
        .rows
        .iter()
        .map(|row| {
            let f = &row.figures;
            [
                row.rank.to_string(),
                row.group.clone(),
                f.deployments.count.to_string(),
                format!("{:.2}", f.deployments.per_week),
                format!(
                    "{} ({})",
                    duration(f.lead_time.median_seconds),
                    tier(f.lead_time.tier)
                ),
                format!(
                    "{} ({})",
                    percent(f.change_failure_rate.rate),
                    tier(f.change_failure_rate.tier)
                ),
                format!(
                    "{} ({})",
                    duration(f.recovery_time.median_seconds),
                    tier(f.recovery_time.tier)
                ),
                percent(f.rework_rate.rate),
                tier(f.overall.tier).to_string(),
            ]
        })
        .collect();
    let mut out = String::new();
    match format {
        OutputFormat::Csv => {
            let _ = writeln!(out, "{}", header.join(","));
            for row in &rows {
                let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                let _ = writeln!(out, "{}", fields.join(","));
            }
        }
        OutputFormat::Markdown => {
            let _ = writeln!(
                out,
                "## Leaderboard by {:?}, {} to {} ({})\n",
                board.group_by, board.window.since, board.window.until, board.benchmark
            );
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
            for row in &rows {
                let fields: Vec<String> = row.iter().map(|f| markdown_escape(f)).collect();
                let _ = writeln!(out, "| {} |", fields.join(" | "));
            }
        }
        _ => {
            let _ = writeln!(
                out,
                "Leaderboard by {:?}, {} to {} ({})",
                board.group_by, board.window.since, board.window.until, board.benchmark
            );
            let widths: Vec<usize> = (0..header.len())
                .map(|i| {
                    rows.iter()
                        .map(|row| row[i].chars().count())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |fields: Vec<&str>| {
                fields
                    .iter()
                    .zip(&widths)
                    .map(|(field, width)| format!("{field:<width$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            let _ = writeln!(out, "{}", line(header.to_vec()));
            for row in &rows {
                let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
            }
            if rows.is_empty() {
                let _ = writeln!(out, "(no deployments match the filters)");
            }
        }
    }
    out
}

/// `3d 4h`, `2h 5m`, `45m`, `12s`: the two largest units, for people.
pub fn human_duration(seconds: f64) -> String {
    let total = seconds.round().max(0.0) as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3_600,
        total % 3_600 / 60,
        total % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

fn duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "—".to_string(), human_duration)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn tier(tier: Option<Tier>) -> &'static str {
    tier.map_or("no tier", Tier::as_str)
}

/// Rows of (metric, value, tier) shared by the table and Markdown renderers.
fn rows(service: &ServiceReport) -> Vec<(&'static str, String, &'static str)> {
    let d = &service.deployments;
    let l = &service.lead_time;
    let c = &service.change_failure_rate;
    let r = &service.recovery_time;
    let t = &service.time_to_restore;
    let w = &service.rework_rate;
    vec![
        (
            "Deployment frequency",
            match d.deploy_days_per_week_median {
                Some(median) => format!(
                    "{} {}, {:.2}/week, median {median:.1} deploy days/week",
                    d.count,
                    plural(d.count, "deployment", "deployments"),
                    d.per_week
                ),
                None => format!(
                    "{} {}, {:.2}/week (no whole calendar week for deploy days)",
                    d.count,
                    plural(d.count, "deployment", "deployments"),
                    d.per_week
                ),
            },
            tier(d.tier),
        ),
        (
            "Lead time for changes",
            if l.changes == 0 {
                format!("— (0 changes measured, {} baseline)", l.baseline_changes)
            } else {
                format!(
                    "median {}, p90 {}, mean {} ({}, {} baseline)",
                    duration(l.median_seconds),
                    duration(l.p90_seconds),
                    duration(l.mean_seconds),
                    counted(l.changes, "change", "changes"),
                    l.baseline_changes
                )
            },
            tier(l.tier),
        ),
        (
            "Change failure rate",
            format!(
                "{} ({} of {})",
                percent(c.rate),
                c.failed,
                counted(c.deployments, "deployment", "deployments")
            ),
            tier(c.tier),
        ),
        (
            "Failed deployment recovery time",
            if r.recovered == 0 {
                format!(
                    "— ({}, none with a measured recovery)",
                    counted(r.failures, "failure", "failures")
                )
            } else {
                format!(
                    "median {}, p90 {} ({} of {} recovered)",
                    duration(r.median_seconds),
                    duration(r.p90_seconds),
                    r.recovered,
                    counted(r.failures, "failure", "failures")
                )
            },
            tier(r.tier),
        ),
        (
            "Time to restore service",
            if t.incidents == 0 {
                "— (no incidents)".to_string()
            } else {
                format!("median {}", duration(t.median_seconds))
            },
            "",
        ),
        (
            "Rework rate",
            format!(
                "{} ({} of {})",
                percent(w.rate),
                w.rework,
                counted(w.deployments, "deployment", "deployments")
            ),
            "",
        ),
    ]
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    for service in &report.services {
        let _ = writeln!(
            out,
            "{} ({}) · {} → {} · {}",
            service.service,
            service.environment,
            report.window.since,
            report.window.until,
            report.benchmark
        );
        let rows = rows(service);
        let name_width = rows
            .iter()
            .map(|(name, _, _)| name.chars().count())
            .max()
            .unwrap_or(0);
        let value_width = rows
            .iter()
            .map(|(_, value, _)| value.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value, tier) in rows {
            let line = format!("  {name:<name_width$}  {value:<value_width$}  {tier}");
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let overall = service
            .overall
            .tier
            .map_or("NO TIER".to_string(), |t| t.as_str().to_uppercase());
        let _ = writeln!(
            out,
            "  {:<name_width$}  {overall}: {}",
            "Overall", service.overall.reason
        );
        let provenance: Vec<String> = service
            .provenance
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "  Provenance: {}", provenance.join("; "));
        for note in &service.notes {
            let _ = writeln!(out, "  Note: {note}");
        }
        out.push('\n');
    }
    out
}

fn markdown_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    for service in &report.services {
        let _ = writeln!(
            out,
            "## {} ({})\n\nWindow {} → {}, benchmark {}.\n",
            markdown_escape(&service.service),
            markdown_escape(&service.environment),
            report.window.since,
            report.window.until,
            report.benchmark
        );
        let _ = writeln!(out, "| Metric | Value | Tier |\n|---|---|---|");
        for (name, value, tier) in rows(service) {
            let _ = writeln!(out, "| {name} | {} | {tier} |", markdown_escape(&value));
        }
        let overall = service.overall.tier.map_or("no tier", Tier::as_str);
        let _ = writeln!(
            out,
            "| **Overall** | {} | **{overall}** |",
            markdown_escape(&service.overall.reason)
        );
        out.push('\n');
        for (key, value) in &service.provenance {
            let _ = writeln!(out, "- {key}: {}", markdown_escape(value));
        }
        for note in &service.notes {
            let _ = writeln!(out, "- Note: {}", markdown_escape(note));
        }
        out.push('\n');
    }
    out
}

const CSV_HEADER: &[&str] = &[
    "service",
    "environment",
    "since",
    "until",
    "benchmark",
    "deployments",
    "deployments_per_week",
    "deploy_days_per_week_median",
    "deployment_frequency_tier",
    "lead_time_changes",
    "lead_time_baseline_changes",
    "lead_time_negative_excluded",
    "lead_time_median_seconds",
    "lead_time_p90_seconds",
    "lead_time_mean_seconds",
    "lead_time_tier",
    "failed_deployments",
    "all_deployments",
    "change_failure_rate",
    "change_failure_rate_tier",
    "recovered_failures",
    "recovery_median_seconds",
    "recovery_p90_seconds",
    "recovery_tier",
    "incidents",
    "time_to_restore_median_seconds",
    "rework_deployments",
    "rework_rate",
    "overall_tier",
    "overall_reason",
];

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn csv(report: &Report) -> String {
    let number = |value: Option<f64>| value.map_or(String::new(), |v| v.to_string());
    let tier_text = |tier: Option<Tier>| tier.map_or(String::new(), |t| t.as_str().to_string());
    let mut out = CSV_HEADER.join(",") + "\n";
    for s in &report.services {
        let fields = [
            s.service.clone(),
            s.environment.clone(),
            report.window.since.clone(),
            report.window.until.clone(),
            report.benchmark.clone(),
            s.deployments.count.to_string(),
            s.deployments.per_week.to_string(),
            number(s.deployments.deploy_days_per_week_median),
            tier_text(s.deployments.tier),
            s.lead_time.changes.to_string(),
            s.lead_time.baseline_changes.to_string(),
            s.lead_time.negative_excluded.to_string(),
            number(s.lead_time.median_seconds),
            number(s.lead_time.p90_seconds),
            number(s.lead_time.mean_seconds),
            tier_text(s.lead_time.tier),
            s.change_failure_rate.failed.to_string(),
            s.change_failure_rate.deployments.to_string(),
            number(s.change_failure_rate.rate),
            tier_text(s.change_failure_rate.tier),
            s.recovery_time.recovered.to_string(),
            number(s.recovery_time.median_seconds),
            number(s.recovery_time.p90_seconds),
            tier_text(s.recovery_time.tier),
            s.time_to_restore.incidents.to_string(),
            number(s.time_to_restore.median_seconds),
            s.rework_rate.rework.to_string(),
            number(s.rework_rate.rate),
            tier_text(s.overall.tier),
            s.overall.reason.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// "1 deployment", "2 deployments".
fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

/// `1 deployment`, `2 deployments`.
fn counted(count: usize, one: &'static str, many: &'static str) -> String {
    format!("{count} {}", plural(count, one, many))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(0.0), "0s");
        assert_eq!(human_duration(59.4), "59s");
        assert_eq!(human_duration(61.0), "1m 1s");
        assert_eq!(human_duration(3_660.0), "1h 1m");
        assert_eq!(human_duration(90_000.0), "1d 1h");
        assert_eq!(human_duration(-5.0), "0s");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(counted(1, "deployment", "deployments"), "1 deployment");
        assert_eq!(counted(0, "deployment", "deployments"), "0 deployments");
        assert_eq!(counted(2, "failure", "failures"), "2 failures");
    }

    #[test]
    fn markdown_escapes_tables_and_html() {
        assert_eq!(markdown_escape("a|b <script>"), "a\\|b &lt;script&gt;");
    }
}
