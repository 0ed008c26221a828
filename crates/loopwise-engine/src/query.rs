//! A report query, parsed once from text: the command line's flags, the API's query string and
//! the dashboard's form all arrive as [`QueryText`] and leave as [`ReportQuery`] or a
//! [`QueryError`] that names the field. Values that need the store to check (an unknown
//! service or environment) are checked when the query runs ([`crate::EngineError`]).

use crate::settings::Ownership;
use loopwise_core::benchmark::Benchmark;
use loopwise_core::rollup::GroupBy;
use loopwise_core::time::{Timestamp, Window, parse_instant};

/// A query as typed: every field optional text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryText {
    pub service: Option<String>,
    pub team: Option<String>,
    pub tribe: Option<String>,
    pub environment: Option<String>,
    /// Inclusive: RFC 3339, a date (midnight UTC) or Unix seconds. Default: 90 days before
    /// `until`.
    pub since: Option<String>,
    /// Exclusive. Default: now.
    pub until: Option<String>,
    pub benchmark: Option<String>,
    pub group_by: Option<String>,
}

/// What to report on, checked.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub service: Option<String>,
    /// Only the services of this team.
    pub team: Option<String>,
    /// Only the services of this tribe's teams.
    pub tribe: Option<String>,
    /// When given, only this environment; otherwise every production environment.
    pub environment: Option<String>,
    pub window: Window,
    pub benchmark: &'static Benchmark,
    pub group_by: Option<GroupBy>,
}

/// A query field that does not parse; `field` is its name as the API spells it (the command
/// line prefixes `--`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QueryError {
    pub field: &'static str,
    pub message: String,
}

impl QueryError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Text that is present and not blank, trimmed.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl ReportQuery {
    /// The whole organisation's production environments over `window`, with the default
    /// benchmark.
    pub fn organisation(window: Window) -> Self {
        Self {
            service: None,
            team: None,
            tribe: None,
            environment: None,
            window,
            benchmark: Benchmark::default_benchmark(),
            group_by: None,
        }
    }

    /// Parses `text`; `now` ends the default window. Teams and tribes are checked against
    /// `ownership`: an unknown one is an error, never an empty report.
    pub fn parse(
        text: &QueryText,
        now: Timestamp,
        ownership: &Ownership,
    ) -> Result<Self, QueryError> {
        let instant = |field: &'static str, value: &str| {
            parse_instant(value).map_err(|e| QueryError::new(field, e.to_string()))
        };
        let until = given(&text.until)
            .map(|t| instant("until", t))
            .transpose()?
            .unwrap_or(now);
        let since = match given(&text.since) {
            Some(t) => instant("since", t)?,
            None => Window::last_90_days(until).since,
        };
        let window = Window::new(since, until).map_err(|e| {
            let field = if text.since.is_some() {
                "since"
            } else {
                "until"
            };
            QueryError::new(field, e.to_string())
        })?;
        let benchmark = match given(&text.benchmark) {
            None => Benchmark::default_benchmark(),
            Some(name) => Benchmark::by_name(name).ok_or_else(|| {
                QueryError::new(
                    "benchmark",
                    format!(
                        "{name:?} is not known; choose one of: {}",
                        Benchmark::names().join(", ")
                    ),
                )
            })?,
        };
        let group_by = given(&text.group_by)
            .map(|name| {
                GroupBy::from_name(name).ok_or_else(|| {
                    QueryError::new(
                        "group_by",
                        format!(
                            "{name:?} is not known; choose one of: {} (squad means team)",
                            GroupBy::NAMES.join(", ")
                        ),
                    )
                })
            })
            .transpose()?;
        let team = given(&text.team).map(str::to_string);
        if let Some(team) = &team
            && !ownership.has_team(team)
        {
            return Err(QueryError::new(
                "team",
                unknown("team", team, &ownership.team_names()),
            ));
        }
        let tribe = given(&text.tribe).map(str::to_string);
        if let Some(tribe) = &tribe
            && !ownership.has_tribe(tribe)
        {
            return Err(QueryError::new(
                "tribe",
                unknown("tribe", tribe, &ownership.tribe_names()),
            ));
        }
        Ok(Self {
            service: given(&text.service).map(str::to_string),
            team,
            tribe,
            environment: given(&text.environment).map(str::to_string),
            window,
            benchmark,
            group_by,
        })
    }

    /// Whether a service owned by `team` in `tribe` is selected by the team and tribe filters.
    pub fn selects_owners(&self, team: Option<&str>, tribe: Option<&str>) -> bool {
        self.team
            .as_deref()
            .is_none_or(|wanted| team == Some(wanted))
            && self
                .tribe
                .as_deref()
                .is_none_or(|wanted| tribe == Some(wanted))
    }
}

/// "no team "x" is configured; the configured teams are: a, b" (or: none is).
pub(crate) fn unknown(what: &str, value: &str, known: &[&str]) -> String {
    const SHOWN: usize = 20;
    if known.is_empty() {
        return format!("no {what} {value:?} is known: none is configured");
    }
    let mut list = known
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if known.len() > SHOWN {
        list.push_str(&format!(", … ({} in all)", known.len()));
    }
    format!("no {what} {value:?} is known; the known ones are: {list}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_700_000_000;

    fn ownership() -> Ownership {
        Ownership::new(
            [("api".to_string(), "core".to_string())],
            [("core".to_string(), "platform".to_string())],
        )
        .unwrap()
    }

    fn text(pairs: &[(&str, &str)]) -> QueryText {
        let mut text = QueryText::default();
        for (key, value) in pairs {
            let value = Some(value.to_string());
            match *key {
                "service" => text.service = value,
                "team" => text.team = value,
                "tribe" => text.tribe = value,
                "environment" => text.environment = value,
                "since" => text.since = value,
                "until" => text.until = value,
                "benchmark" => text.benchmark = value,
                "group_by" => text.group_by = value,
                other => panic!("{other}"),
            }
        }
        text
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ReportQuery, QueryError> {
        ReportQuery::parse(&text(pairs), NOW, &ownership())
    }

    #[test]
    fn defaults_are_the_90_days_ending_now() {
        let query = parse(&[]).unwrap();
        assert_eq!(query.window, Window::last_90_days(NOW));
        assert_eq!(query.benchmark.name, "dora-2024");
        assert_eq!(
            format!("{query:?}"),
            format!("{:?}", ReportQuery::organisation(Window::last_90_days(NOW)))
        );
    }

    #[test]
    fn fields_parse_and_blank_means_absent() {
        let query = parse(&[
            ("service", " api "),
            ("team", "core"),
            ("tribe", "platform"),
            ("environment", " "),
            ("since", "2024-01-01"),
            ("until", "2024-02-01T00:00:00Z"),
            ("benchmark", "dora-2021"),
            ("group_by", "squad"),
        ])
        .unwrap();
        assert_eq!(query.service.as_deref(), Some("api"));
        assert_eq!(query.environment, None);
        assert_eq!(
            query.window,
            Window::new(1_704_067_200, 1_706_745_600).unwrap()
        );
        assert_eq!(query.benchmark.name, "dora-2021");
        assert_eq!(query.group_by, Some(GroupBy::Team));
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        let field = |pairs: &[(&str, &str)]| {
            let error = parse(pairs).unwrap_err();
            (error.field, error.message)
        };
        assert_eq!(field(&[("since", "yesterday")]).0, "since");
        assert_eq!(
            field(&[("since", "2024-02-01"), ("until", "2024-01-01")]).0,
            "since"
        );
        assert_eq!(field(&[("until", "1969-13-01")]).0, "until");
        let (name, message) = field(&[("benchmark", "dora-1999")]);
        assert_eq!(name, "benchmark");
        assert!(message.contains("dora-1999") && message.contains("dora-2024"));
        let (name, message) = field(&[("team", "ghosts")]);
        assert_eq!(name, "team");
        assert_eq!(
            message,
            "no team \"ghosts\" is known; the known ones are: core"
        );
        let (name, message) = field(&[("tribe", "core")]);
        assert_eq!(name, "tribe");
        assert!(message.contains("platform"), "{message}");
        assert_eq!(field(&[("group_by", "planet")]).0, "group_by");
    }
}
