//! `GET /api/v1/metrics/{metric}` (a series of one metric by day, week or month) and
//! `GET /api/v1/leaderboard` (figures per squad, tribe, service or environment). Both take the
//! report's filters and are built from one analysis of each selected chain; the core's
//! `rollup` module computes every number.

use crate::AppState;
use crate::error::{AppError, ErrorBody};
use crate::report::{
    ReadQuery, ReadRefused, build_blocking, named_parameter, read_parameters, report_query,
    require_read,
};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use loopwise_core::rollup::{
    GroupBy, Interval, Leaderboard, SeriesBuilder, SeriesMetric, SeriesPoint,
};

read_parameters! {
    pub struct SeriesParameters {
        /// `day`, `week` (default; weeks start on Monday) or `month`; UTC calendar buckets.
        pub interval,
    }
}

read_parameters! {
    pub struct LeaderboardParameters {
        /// `squad` (default; `team` is accepted too), `tribe`, `service` or `environment`.
        pub group_by,
    }
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
        ReadRefused,
        (status = 404, description = "No such metric; the message lists the metrics", body = ErrorBody),
    )
)]
pub async fn get_series(
    State(state): State<AppState>,
    headers: HeaderMap,
    metric: Result<Path<String>, PathRejection>,
    parameters: Result<ReadQuery<SeriesParameters>, AppError>,
) -> Result<Json<Vec<SeriesPoint>>, AppError> {
    require_read(&state, &headers).await?;
    let Path(name) = metric.map_err(|e| {
        AppError::bad_request("invalid_parameter", e.body_text()).with_field("metric")
    })?;
    // A metric that does not exist is a missing resource, not a bad parameter.
    let metric = SeriesMetric::from_name(&name).ok_or_else(|| AppError {
        status: StatusCode::NOT_FOUND,
        code: "unknown_metric",
        ..AppError::unknown_name("metric", &name, &SeriesMetric::ALL.map(SeriesMetric::name))
    })?;
    let ReadQuery(parameters) = parameters?;
    let interval = named_parameter(
        "interval",
        parameters.interval.as_deref(),
        Interval::Week,
        Interval::from_name,
        &Interval::NAMES,
    )?;
    let query = report_query(&parameters.into_filters(), &state, crate::unix_now())?;
    let series = SeriesBuilder::new(query.window, interval).map_err(|e| {
        AppError::bad_request("invalid_parameter", e.to_string()).with_field("interval")
    })?;
    let points = build_blocking(&state, move |store, engine| {
        engine.series(store, &query, series, metric)
    })
    .await?;
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
        ReadRefused,
    )
)]
pub async fn get_leaderboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    parameters: Result<ReadQuery<LeaderboardParameters>, AppError>,
) -> Result<Json<Leaderboard>, AppError> {
    require_read(&state, &headers).await?;
    let ReadQuery(parameters) = parameters?;
    let group_by = named_parameter(
        "group_by",
        parameters.group_by.as_deref(),
        GroupBy::Team,
        GroupBy::from_name,
        &GroupBy::NAMES,
    )?;
    let query = report_query(&parameters.into_filters(), &state, crate::unix_now())?;
    let board = build_blocking(&state, move |store, engine| {
        engine.leaderboard(store, &query, group_by)
    })
    .await?;
    Ok(Json(board))
}
