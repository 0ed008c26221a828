//! `GET /api/v1/report`: the `loopwise.report.v1` JSON over what the store holds. Query:
//! `service`, `team`, `tribe`, `environment`, `since`, `until` (RFC 3339 or dates; default the
//! 90 days ending now), `benchmark`. The same filters select the chains of the metric series
//! and the leaderboard (`reads`).

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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParameters {
    /// Only this service.
    pub service: Option<String>,
    /// Only the services of this team (squad), as the configuration assigns them.
    pub team: Option<String>,
    /// Only the services of this tribe's teams.
    pub tribe: Option<String>,
    /// Only this environment; default: every production environment.
    pub environment: Option<String>,
    /// Window start, inclusive: RFC 3339, a date (midnight UTC) or Unix seconds. Default: 90 days before `until`.
    pub since: Option<String>,
    /// Window end, exclusive. Default: now.
    pub until: Option<String>,
    /// `dora-2024` (default), `dora-2023` or `dora-2021`.
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
    let filter = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
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
        teams: state.config.teams.clone(),
        tribes: state.config.tribes.clone(),
        team: filter(&parameters.team),
        tribe: filter(&parameters.tribe),
    })
}

/// Read endpoints need a `read` token unless the server is configured with public reads.
pub(crate) async fn require_read(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if !state.config.public_reads {
        crate::auth::require(state, headers, TokenScope::Read).await?;
    }
    Ok(())
}

/// A query string that does not fit the parameters: the message names the parameter.
pub(crate) fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> AppError {
    let text = rejection.body_text();
    let error = AppError::bad_request("invalid_parameter", text.clone());
    match text.split('`').nth(1) {
        Some(field) if text.contains("unknown field") || text.contains("invalid") => {
            error.with_field(field)
        }
        _ => error,
    }
}

/// The report: the figures of every matching (service, environment) over the window.
#[utoipa::path(
    get,
    path = "/api/v1/report",
    tag = "reads",
    params(ReportParameters),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The `loopwise.report.v1` report", body = Report),
        (status = 400, description = "A parameter is invalid; `field` names it", body = crate::error::ErrorBody),
        (status = 401, description = "No valid read token (unless reads are public)", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the read scope", body = crate::error::ErrorBody),
    )
)]
pub async fn get_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    parameters: Result<Query<ReportParameters>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, AppError> {
    require_read(&state, &headers).await?;
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let now = crate::unix_now();
    let query = report_query(&parameters, &state, now)?;
    let store = state.store.clone();
    let cache = state.reports.clone();
    let report = tokio::task::spawn_blocking(move || build_report(store.as_ref(), &query, &cache))
        .await
        .map_err(AppError::internal)??;
    Ok(Json(report))
}
