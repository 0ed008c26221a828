//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the HTTP interface, generated from
//! the code by `utoipa`: the handlers carry `#[utoipa::path]` attributes and the wire types
//! derive `ToSchema`, so the document changes with them. A test compares its paths with the
//! routes of [`crate::router`], so a route cannot be added without being documented.

use crate::error::{ErrorBody, ErrorDetail};
use crate::events::{
    EventResult, IngestAnswer, Rejection, WireChange, WireDeployment, WireEvent, WireIncident,
    WirePullRequest, WireTime,
};
use axum::Json;
use loopwise_core::benchmark::{Overall, Tier};
use loopwise_core::metrics::LinkRule;
use loopwise_core::report::{
    ChangeFailureFigures, DeploymentFigures, IncidentLinkFigure, LeadTimeFigures, RecoveryFigures,
    Report, RestoreFigures, ReworkFigures, ServiceReport,
};
use loopwise_core::rollup::{
    ChainName, Figures, GroupBy, Interval, Leaderboard, LeaderboardRow, SeriesMetric, SeriesPoint,
};
use loopwise_core::time::WindowText;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The body of `POST /api/v1/events` as JSON: one event or an array of events. Only a schema:
/// the handler reads the body itself.
#[derive(Debug, utoipa::ToSchema)]
#[allow(clippy::large_enum_variant)]
#[serde(untagged)]
pub enum EventBody {
    One(WireEvent),
    Many(Vec<WireEvent>),
}

/// The answer of the health checks.
#[derive(Debug, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
}

/// Adds the bearer token scheme the `security` entries of the paths refer to.
#[derive(Debug)]
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `loopwise token create --scope ingest|read|admin`",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "loopwise",
        description = "DORA metrics from webhooks, CI events and git history: the events API, GitHub and GitLab webhooks, reports, metric series, the leaderboard and Prometheus metrics. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}` with a 4xx status for bad input."
    ),
    paths(
        crate::healthz,
        crate::readyz,
        crate::events::post_events,
        crate::report::get_report,
        crate::reads::get_series,
        crate::reads::get_leaderboard,
        crate::metrics::get_metrics,
        crate::webhooks::github,
        crate::webhooks::gitlab,
        get_openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Status, EventBody, WireEvent, WireTime, WireDeployment, WireChange,
        WirePullRequest, WireIncident, IngestAnswer, Rejection, EventResult,
        crate::webhooks::DeliveryAnswer, Report, ServiceReport, DeploymentFigures,
        LeadTimeFigures, ChangeFailureFigures, RecoveryFigures, RestoreFigures, ReworkFigures,
        IncidentLinkFigure, Overall, Tier, LinkRule, WindowText, SeriesMetric, SeriesPoint,
        Interval, GroupBy, Leaderboard, LeaderboardRow, ChainName, Figures,
    )),
    modifiers(&BearerToken),
    tags(
        (name = "operations", description = "Health, readiness, Prometheus metrics and this document"),
        (name = "ingest", description = "The generic events API"),
        (name = "webhooks", description = "GitHub and GitLab deliveries"),
        (name = "reads", description = "The report, metric series and the leaderboard"),
    )
)]
pub struct ApiDoc;

/// The document, built once, as JSON.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut document = ApiDoc::openapi();
        document.info.version = env!("CARGO_PKG_VERSION").to_string();
        let mut value = serde_json::to_value(document).unwrap_or_default();
        inline_event_tags(&mut value);
        value
    });
    &DOCUMENT
}

/// The event schemas refuse unknown fields (`additionalProperties: false`), and the generated
/// `WireEvent` adds the `type` tag beside them in an `allOf`, which a strict validator would
/// then refuse as unknown. So each event schema gets its own `type` property, copied from the
/// tag the generator wrote.
fn inline_event_tags(document: &mut serde_json::Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    let variants: Vec<(String, serde_json::Value)> = schemas
        .get("WireEvent")
        .and_then(|event| event["oneOf"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|variant| {
            let parts = variant["allOf"].as_array()?;
            let name = parts[0]["$ref"].as_str()?.rsplit('/').next()?.to_string();
            Some((name, parts.get(1)?["properties"]["type"].clone()))
        })
        .collect();
    for (name, tag) in variants {
        let Some(schema) = schemas.get_mut(&name) else {
            continue;
        };
        if let Some(properties) = schema["properties"].as_object_mut() {
            properties.insert("type".to_string(), tag);
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.insert(0, serde_json::Value::from("type"));
        }
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", body = serde_json::Value))
)]
pub async fn get_openapi() -> Json<&'static serde_json::Value> {
    Json(document())
}
