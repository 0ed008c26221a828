//! `GET /api/v1/report`: the `loopwise.report.v1` JSON over what the store holds. Query:
//! `service`, `team`, `tribe`, `environment`, `since`, `until` (RFC 3339 or dates; default the
//! 90 days ending now), `benchmark`. The same filters select the chains of the metric series
//! and the leaderboard (`reads`).

use crate::AppState;
use crate::error::{AppError, ErrorBody};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use loopwise_core::benchmark::Benchmark;
use loopwise_core::entities::ProductionEnvironments;
use loopwise_core::metrics::DEFAULT_INCIDENT_LINK_WINDOW_SECONDS;
use loopwise_core::report::Report;
use loopwise_core::time::{Window, parse_instant};
use loopwise_store::report::{ReportCache, ReportQuery, build_report};
use loopwise_store::{Store, StoreError, TokenScope};

/// Declares a read endpoint's query parameters: its own fields first, then the report's
/// filters, so every read takes the same filters under the same names. The query refuses
/// unknown fields, so the filters cannot simply be flattened in.
macro_rules! read_parameters {
    (@struct $(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, ::serde::Deserialize, ::utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: Option<String>,)*
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
    };
    ($(#[$meta:meta])* pub struct $name:ident {}) => {
        read_parameters!(@struct $(#[$meta])* $name {});
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident,)+ }
    ) => {
        read_parameters!(@struct $(#[$meta])* $name { $($(#[$field_meta])* $field,)+ });

        impl $name {
            /// The report's filters of this query.
            pub(crate) fn into_filters(self) -> $crate::report::ReportParameters {
                $crate::report::ReportParameters {
                    service: self.service,
                    team: self.team,
                    tribe: self.tribe,
                    environment: self.environment,
                    since: self.since,
                    until: self.until,
                    benchmark: self.benchmark,
                }
            }
        }
    };
}
pub(crate) use read_parameters;

read_parameters! {
    /// The report's filters.
    pub struct ReportParameters {}
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
    let benchmark = named_parameter(
        "benchmark",
        parameters.benchmark.as_deref(),
        Benchmark::default_benchmark(),
        Benchmark::by_name,
        &Benchmark::names(),
    )?;
    let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    Ok(ReportQuery {
        service: non_empty(&parameters.service),
        environment: non_empty(&parameters.environment),
        benchmark,
        team: non_empty(&parameters.team),
        tribe: non_empty(&parameters.tribe),
        ..organisation_query(state, window)
    })
}

/// The report over every service, as the configuration names owners, for `window`.
pub(crate) fn organisation_query(state: &AppState, window: Window) -> ReportQuery {
    ReportQuery {
        service: None,
        environment: None,
        window,
        benchmark: Benchmark::default_benchmark(),
        production: ProductionEnvironments::default(),
        incident_link_window_seconds: DEFAULT_INCIDENT_LINK_WINDOW_SECONDS,
        repositories: state.config.service_repositories.clone(),
        teams: state.config.teams.clone(),
        tribes: state.config.tribes.clone(),
        team: None,
        tribe: None,
    }
}

/// A query parameter that names one of a fixed set; `default` when it is absent.
pub(crate) fn named_parameter<T>(
    parameter: &str,
    text: Option<&str>,
    default: T,
    by_name: impl FnOnce(&str) -> Option<T>,
    allowed: &[&str],
) -> Result<T, AppError> {
    match text {
        None => Ok(default),
        Some(text) => by_name(text).ok_or_else(|| AppError::unknown_name(parameter, text, allowed)),
    }
}

/// The refusals of [`require_read`], for the read endpoints' `responses`.
#[derive(Debug, utoipa::IntoResponses)]
pub enum ReadRefused {
    #[response(
        status = 401,
        description = "No valid read token (unless reads are public)"
    )]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "The token lacks the read scope")]
    Forbidden(ErrorBody),
}

/// Read endpoints need a `read` token unless the server is configured with public reads.
pub(crate) async fn require_read(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if !state.config.public_reads {
        crate::auth::require(state, headers, TokenScope::Read).await?;
    }
    Ok(())
}

/// Runs a build over the store and the report cache on a blocking thread: the store reads
/// synchronously.
pub(crate) async fn build_blocking<T: Send + 'static>(
    state: &AppState,
    build: impl FnOnce(&dyn Store, &ReportCache) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    let store = state.store.clone();
    let cache = state.reports.clone();
    let built = tokio::task::spawn_blocking(move || build(store.as_ref(), &cache))
        .await
        .map_err(AppError::internal)?;
    Ok(built?)
}

/// A query string that does not fit the parameters: the message names the parameter.
pub(crate) fn query_rejection(rejection: QueryRejection) -> AppError {
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
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        ReadRefused,
    )
)]
pub async fn get_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    parameters: Result<Query<ReportParameters>, QueryRejection>,
) -> Result<Json<Report>, AppError> {
    require_read(&state, &headers).await?;
    let Query(parameters) = parameters.map_err(query_rejection)?;
    let now = crate::unix_now();
    let query = report_query(&parameters, &state, now)?;
    let report = build_blocking(&state, move |store, cache| {
        build_report(store, &query, cache)
    })
    .await?;
    Ok(Json(report))
}
