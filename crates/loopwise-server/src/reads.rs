//! `GET /api/v1/metrics/{metric}` (a series of one metric by day, week or month) and
//! `GET /api/v1/leaderboard` (figures per squad, tribe, service or environment). Both take the
//! report's filters and are built from one analysis of each selected chain; the core's
//! `rollup` module computes every number.

use crate::AppState;
use crate::error::{AppError, ErrorBody};
use crate::report::{ReportParameters, query_rejection, report_query, require_read};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use loopwise_core::rollup::{
    GroupBy, Interval, Leaderboard, SeriesBuilder, SeriesMetric, SeriesPoint,
};
use loopwise_store::report::{build_leaderboard, build_series};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesParameters {
    /// `day`, `week` (default; weeks start on Monday) or `month`; UTC calendar buckets.
    pub interval: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only the services of this team (squad).
    pub team: Option<String>,
    /// Only the services of this tribe's teams.
    pub tribe: Option<String>,
    /// Only this environment; default: every production environment.
    pub environment: Option<String>,
    /// Window start, inclusive (RFC 3339, date or Unix seconds). Default: 90 days before `until`.
    pub since: Option<String>,
    /// Window end, exclusive. Default: now.
    pub until: Option<String>,
    /// `dora-2024` (default), `dora-2023` or `dora-2021`.
    pub benchmark: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardParameters {
    /// `squad` (default; `team` is accepted too), `tribe`, `service` or `environment`.
    pub group_by: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only the services of this team (squad).
    pub team: Option<String>,
    /// Only the services of this tribe's teams.
    pub tribe: Option<String>,
    /// Only this environment; default: every production environment.
    pub environment: Option<String>,
    /// Window start, inclusive (RFC 3339, date or Unix seconds). Default: 90 days before `until`.
    pub since: Option<String>,
    /// Window end, exclusive. Default: now.
    pub until: Option<String>,
    /// `dora-2024` (default), `dora-2023` or `dora-2021`.
    pub benchmark: Option<String>,
}

/// A metric's series: one point per bucket of the window, oldest first. `value` is the
/// bucket's figure, `null` where it has no data; the count fields say what it was computed from.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/{metric}",
    tag = "reads",
    params(
        ("metric" = SeriesMetric, Path, description = "deployment_frequency (successful deployments per bucket), lead_time (median seconds of the changes deployed in the bucket), change_failure_rate, recovery_time (median seconds), time_to_restore (median seconds), rework_rate"),
        SeriesParameters
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The series", body = Vec<SeriesPoint>),
        (status = 400, description = "A parameter is invalid (`interval`, `since`, …); `field` names it", body = ErrorBody),
        (status = 401, description = "No valid read token (unless reads are public)", body = ErrorBody),
        (status = 404, description = "No such metric; the message lists the metrics", body = ErrorBody),
    )
)]
pub async fn get_series(
    State(state): State<AppState>,
    headers: HeaderMap,
    metric: Result<Path<String>, PathRejection>,
    parameters: Result<Query<SeriesParameters>, QueryRejection>,
) -> Result<Json<Vec<SeriesPoint>>, AppError> {
    require_read(&state, &headers).await?;
    let Path(name) = metric.map_err(|e| {
        AppError::bad_request("invalid_parameter", e.body_text()).with_field("metric")
    })?;
    let metric = SeriesMetric::from_name(&name).ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            "unknown_metric",
            format!(
                "unknown metric {name:?}; choose one of: {}",
                SeriesMetric::ALL.map(SeriesMetric::name).join(", ")
            ),
        )
        .with_field("metric")
    })?;
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let interval = match parameters.interval.as_deref() {
        None => Interval::Week,
        Some(text) => Interval::from_name(text).ok_or_else(|| {
            AppError::bad_request(
                "invalid_parameter",
                format!(
                    "unknown interval {text:?}; choose one of: {}",
                    Interval::NAMES.join(", ")
                ),
            )
            .with_field("interval")
        })?,
    };
    let filters = ReportParameters {
        service: parameters.service,
        team: parameters.team,
        tribe: parameters.tribe,
        environment: parameters.environment,
        since: parameters.since,
        until: parameters.until,
        benchmark: parameters.benchmark,
    };
    let query = report_query(&filters, &state, crate::unix_now())?;
    let series = SeriesBuilder::new(query.window, interval).map_err(|e| {
        AppError::bad_request("invalid_parameter", e.to_string()).with_field("interval")
    })?;
    let store = state.store.clone();
    let cache = state.reports.clone();
    let points = tokio::task::spawn_blocking(move || {
        build_series(store.as_ref(), &query, &cache, series, metric)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(Json(points))
}

/// The leaderboard: per group, successful and total deployments, average deploy duration and
/// the DORA figures with tiers, pooled over the group's (service, environment) chains. Rows are
/// sorted by successful deployments, most first, then by group name; services without an owner
/// form the `unassigned` group.
#[utoipa::path(
    get,
    path = "/api/v1/leaderboard",
    tag = "reads",
    params(LeaderboardParameters),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The `loopwise.leaderboard.v1` leaderboard", body = Leaderboard),
        (status = 400, description = "A parameter is invalid (`group_by`, `since`, …); `field` names it", body = ErrorBody),
        (status = 401, description = "No valid read token (unless reads are public)", body = ErrorBody),
    )
)]
pub async fn get_leaderboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    parameters: Result<Query<LeaderboardParameters>, QueryRejection>,
) -> Result<Json<Leaderboard>, AppError> {
    require_read(&state, &headers).await?;
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let group_by = match parameters.group_by.as_deref() {
        None => GroupBy::Squad,
        Some(text) => GroupBy::from_name(text).ok_or_else(|| {
            AppError::bad_request(
                "invalid_parameter",
                format!(
                    "unknown group_by {text:?}; choose one of: {}",
                    GroupBy::NAMES.join(", ")
                ),
            )
            .with_field("group_by")
        })?,
    };
    let filters = ReportParameters {
        service: parameters.service,
        team: parameters.team,
        tribe: parameters.tribe,
        environment: parameters.environment,
        since: parameters.since,
        until: parameters.until,
        benchmark: parameters.benchmark,
    };
    let query = report_query(&filters, &state, crate::unix_now())?;
    let store = state.store.clone();
    let cache = state.reports.clone();
    let board = tokio::task::spawn_blocking(move || {
        build_leaderboard(store.as_ref(), &query, &cache, group_by)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(Json(board))
}
