//! `GET /api/v1/report`: the `loopwise.report.v1` JSON over what the store holds. Query:
//! `service`, `team`, `environment`, `since`, `until` (RFC 3339 or dates; default the 90 days
//! ending now), `benchmark`.

use crate::AppState;
use crate::error::AppError;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use loopwise_core::benchmark::Benchmark;
use loopwise_core::entities::ProductionEnvironments;
use loopwise_core::metrics::DEFAULT_INCIDENT_LINK_WINDOW_SECONDS;
use loopwise_core::report::Report;
use loopwise_core::time::{Window, parse_instant};
use loopwise_store::TokenScope;
use loopwise_store::report::{ReportQuery, build_report};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParameters {
    pub service: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub benchmark: Option<String>,
}

fn instant(name: &str, text: &str) -> Result<i64, AppError> {
    parse_instant(text)
        .map_err(|e| AppError::bad_request("invalid_parameter", e.to_string()).with_field(name))
}

/// Validates the query into what the store's report builder needs.
pub fn report_query(
    parameters: &ReportParameters,
    state: &AppState,
    now: i64,
) -> Result<ReportQuery, AppError> {
    let until = parameters
        .until
        .as_deref()
        .map(|t| instant("until", t))
        .transpose()?
        .unwrap_or(now);
    let since = match parameters.since.as_deref() {
        Some(text) => instant("since", text)?,
        None => Window::last_90_days(until).since,
    };
    let window = Window::new(since, until).map_err(|e| {
        AppError::bad_request("invalid_parameter", e.to_string()).with_field("since")
    })?;
    let benchmark = match parameters.benchmark.as_deref() {
        None => Benchmark::default_benchmark(),
        Some(name) => Benchmark::by_name(name).ok_or_else(|| {
            AppError::bad_request(
                "invalid_parameter",
                format!(
                    "unknown benchmark {name:?}; choose one of: {}",
                    Benchmark::names().join(", ")
                ),
            )
            .with_field("benchmark")
        })?,
    };
    let teams = state.config.teams.clone();
    Ok(ReportQuery {
        service: parameters.service.clone().filter(|s| !s.trim().is_empty()),
        environment: parameters
            .environment
            .clone()
            .filter(|e| !e.trim().is_empty()),
        window,
        benchmark,
        production: ProductionEnvironments::default(),
        incident_link_window_seconds: DEFAULT_INCIDENT_LINK_WINDOW_SECONDS,
        repositories: state.config.service_repositories.clone(),
        teams,
    })
}

pub async fn get_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    parameters: Result<Query<ReportParameters>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, AppError> {
    if !state.config.public_reads {
        crate::auth::require(&state, &headers, TokenScope::Read).await?;
    }
    let Query(parameters) =
        parameters.map_err(|e| AppError::bad_request("invalid_parameter", e.body_text()))?;
    let now = crate::unix_now();
    let query = report_query(&parameters, &state, now)?;
    let team = parameters.team.clone().filter(|t| !t.trim().is_empty());
    let store = state.store.clone();
    let mut report = tokio::task::spawn_blocking(move || build_report(store.as_ref(), &query))
        .await
        .map_err(AppError::internal)??;
    if let Some(team) = team {
        report
            .services
            .retain(|service| service.team.as_deref() == Some(team.as_str()));
    }
    Ok(Json(report))
}
