//! `GET /api/v1/report`: the `loopwise.report.v1` JSON over what the store holds. Query:
//! `service`, `team`, `tribe`, `environment`, `since`, `until` (RFC 3339 or dates; default the
//! 90 days ending now), `benchmark`. The same filters select the chains of the metric series
//! and the leaderboard (`reads`).

use crate::AppState;
use crate::error::{AppError, ErrorBody};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use loopwise_core::report::Report;
use loopwise_engine::{Engine, QueryText, ReportQuery};
use loopwise_store::{Store, TokenScope};

/// Declares a read endpoint's query parameters: its own fields first, then the report's
/// filters, so every read takes the same filters under the same names. The query refuses
/// unknown fields, so the filters cannot simply be flattened in.
macro_rules! read_parameters {
    (@struct $(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, ::serde::Deserialize, ::utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
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

        impl $crate::report::KnownParameters for $name {
            const NAMES: &'static [&'static str] = &[
                $(stringify!($field),)*
                "service", "team", "tribe", "environment", "since", "until", "benchmark",
            ];
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
            /// The report's filters of this query, as text for the engine's one parser.
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

/// The query parameters a read endpoint takes, by name.
pub trait KnownParameters {
    const NAMES: &'static [&'static str];
}

/// A query string checked against the parameters `T` takes before it is read: a parameter `T`
/// does not take, or one given twice, is a 400 whose `field` names it. Every value is text, so
/// nothing else can be refused here; the engine's parser checks the values.
#[derive(Debug)]
pub struct ReadQuery<T>(pub T);

impl<S: Send + Sync, T: KnownParameters + serde::de::DeserializeOwned>
    axum::extract::FromRequestParts<S> for ReadQuery<T>
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut seen: Vec<std::borrow::Cow<'_, str>> = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !T::NAMES.contains(&name.as_ref()) {
                return Err(AppError::bad_request(
                    "invalid_parameter",
                    format!(
                        "unknown parameter {name:?}; this endpoint takes: {}",
                        T::NAMES.join(", ")
                    ),
                )
                .with_field(name.into_owned()));
            }
            if seen.contains(&name) {
                return Err(AppError::bad_request(
                    "invalid_parameter",
                    format!("parameter {name:?} is given more than once"),
                )
                .with_field(name.into_owned()));
            }
            seen.push(name);
        }
        let Query(parameters) = Query::<T>::try_from_uri(&parts.uri).map_err(|rejection| {
            AppError::bad_request("invalid_parameter", rejection.body_text())
        })?;
        Ok(Self(parameters))
    }
}

impl ReportParameters {
    /// The filters as the engine's query text.
    pub fn text(&self) -> QueryText {
        QueryText {
            service: self.service.clone(),
            team: self.team.clone(),
            tribe: self.tribe.clone(),
            environment: self.environment.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            benchmark: self.benchmark.clone(),
            group_by: None,
        }
    }
}

/// Validates the query with the engine's one parser; errors name the parameter.
pub fn report_query(
    parameters: &ReportParameters,
    state: &AppState,
    now: i64,
) -> Result<ReportQuery, AppError> {
    Ok(state.engine.parse_query(&parameters.text(), now)?)
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

/// Runs a build over the store and the engine on a blocking thread: the store reads
/// synchronously.
pub(crate) async fn build_blocking<T: Send + 'static, E: Into<AppError> + Send + 'static>(
    state: &AppState,
    build: impl FnOnce(&dyn Store, &Engine) -> Result<T, E> + Send + 'static,
) -> Result<T, AppError> {
    let store = state.store.clone();
    let engine = state.engine.clone();
    let built = tokio::task::spawn_blocking(move || build(store.as_ref(), &engine))
        .await
        .map_err(AppError::internal)?;
    built.map_err(Into::into)
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
    parameters: Result<ReadQuery<ReportParameters>, AppError>,
) -> Result<Json<Report>, AppError> {
    require_read(&state, &headers).await?;
    let ReadQuery(parameters) = parameters?;
    let now = crate::unix_now();
    let query = report_query(&parameters, &state, now)?;
    let report = build_blocking(&state, move |store, engine| engine.report(store, &query)).await?;
    Ok(Json(report))
}
