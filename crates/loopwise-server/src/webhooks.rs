//! `POST /webhooks/github` and `POST /webhooks/gitlab`: authenticate the delivery, parse it into
//! core events, and store the delivery id with its events in one transaction, so a redelivery
//! is acknowledged and changes nothing. Irrelevant events are acknowledged, not errors.

use crate::AppState;
use crate::error::AppError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use loopwise_core::entities::Source;
use loopwise_core::events::Event;
use loopwise_ingest::webhooks::{
    AuthError, Parsed, WebhookError, github as github_events, gitlab as gitlab_events,
};
use loopwise_store::Delivery;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAnswer {
    pub delivery: String,
    /// `stored`, `duplicate` or `ignored`.
    pub status: &'static str,
    pub events: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn auth_error(error: AuthError) -> AppError {
    AppError::unauthorized(error.to_string())
}

fn payload_error(error: WebhookError) -> AppError {
    let field = match &error {
        WebhookError::Missing { path } | WebhookError::Invalid { path, .. } => Some(path.clone()),
        WebhookError::Json(_) => None,
    };
    let app_error = AppError::bad_request("invalid_payload", error.to_string());
    match field {
        Some(field) => app_error.with_field(field),
        None => app_error,
    }
}

async fn store_delivery(
    state: &AppState,
    delivery: Delivery,
    parsed: Parsed,
) -> Result<Json<DeliveryAnswer>, AppError> {
    let Parsed {
        events,
        ignored,
        refs_moved,
    } = parsed;
    let count = events.len();
    let mut pushed: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            Event::Change(change) => Some(change.repository.clone()),
            _ => None,
        })
        .chain(refs_moved)
        .collect();
    pushed.sort_unstable();
    pushed.dedup();
    let id = delivery.id.clone();
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || store.apply_delivery(&delivery, &events))
        .await
        .map_err(AppError::internal)??;
    let status = match (&stored, &ignored) {
        (None, _) => "duplicate",
        (Some(_), Some(_)) => "ignored",
        (Some(_), None) => "stored",
    };
    tracing::info!(delivery = %id, status, events = count, "webhook delivery");
    // The push is stored: the mirror fetches the commits' real parents (and any new tag) in
    // the background; the answer does not wait for it.
    if stored.is_some() {
        for repository in &pushed {
            state.mirrors.trigger(repository);
        }
    }
    Ok(Json(DeliveryAnswer {
        delivery: id,
        status,
        events: count,
        reason: ignored,
    }))
}

fn not_configured(what: &str, variable: &str) -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "not_configured",
        format!("{what} webhooks are not enabled on this server (set {variable})"),
    )
}

/// A GitHub webhook delivery (push, pull_request, pull_request_review, deployment,
/// deployment_status, workflow_run, issues, release, ping; others are acknowledged and ignored).
#[utoipa::path(
    post,
    path = "/webhooks/github",
    tag = "webhooks",
    params(
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` + hex HMAC-SHA256 of the raw body with the webhook secret"),
        ("X-GitHub-Event" = String, Header, description = "The event name"),
        ("X-GitHub-Delivery" = String, Header, description = "The delivery id; a redelivery is stored once"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "GitHub's payload"),
    responses(
        (status = 200, description = "Stored, duplicate or ignored", body = DeliveryAnswer),
        (status = 400, description = "A header is missing or the payload is malformed; `field` names it", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = crate::error::ErrorBody),
        (status = 403, description = "GitHub webhooks are not configured", body = crate::error::ErrorBody),
    )
)]
pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeliveryAnswer>, AppError> {
    let body = body.map_err(crate::body_rejection)?;
    let secret = state
        .config
        .github_webhook_secret
        .as_ref()
        .ok_or_else(|| not_configured("GitHub", "LOOPWISE_GITHUB_WEBHOOK_SECRET"))?;
    github_events::verify_signature(
        secret.expose().as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256").as_deref(),
    )
    .map_err(auth_error)?;
    let event = header(&headers, "x-github-event").ok_or_else(|| {
        AppError::bad_request("missing_header", "the X-GitHub-Event header is missing")
            .with_field("X-GitHub-Event")
    })?;
    let delivery_id = header(&headers, "x-github-delivery").ok_or_else(|| {
        AppError::bad_request("missing_header", "the X-GitHub-Delivery header is missing")
            .with_field("X-GitHub-Delivery")
    })?;
    let parsed =
        github_events::parse(&event, &body, &state.config.webhooks).map_err(payload_error)?;
    let delivery = Delivery {
        source: Source::Github,
        id: delivery_id,
        event,
        received_at: crate::unix_now(),
    };
    store_delivery(&state, delivery, parsed).await
}

/// A GitLab webhook delivery (push, tag push, merge request, deployment, pipeline, job, issue,
/// release, feature flag; others are acknowledged and ignored).
#[utoipa::path(
    post,
    path = "/webhooks/gitlab",
    tag = "webhooks",
    params(
        ("X-Gitlab-Token" = String, Header, description = "The webhook's secret token"),
        ("X-Gitlab-Event" = Option<String>, Header, description = "The event name (the body's object_kind decides)"),
        ("Idempotency-Key" = Option<String>, Header, description = "The delivery id (else X-Gitlab-Webhook-UUID, else a hash of the body); a redelivery is stored once"),
        ("X-Gitlab-Webhook-UUID" = Option<String>, Header, description = "The delivery id of older GitLab versions"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "GitLab's payload"),
    responses(
        (status = 200, description = "Stored, duplicate or ignored", body = DeliveryAnswer),
        (status = 400, description = "The payload is malformed; `field` names it", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or wrong token", body = crate::error::ErrorBody),
        (status = 403, description = "GitLab webhooks are not configured", body = crate::error::ErrorBody),
    )
)]
pub async fn gitlab(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeliveryAnswer>, AppError> {
    let body = body.map_err(crate::body_rejection)?;
    let token = state
        .config
        .gitlab_webhook_token
        .as_ref()
        .ok_or_else(|| not_configured("GitLab", "LOOPWISE_GITLAB_WEBHOOK_TOKEN"))?;
    gitlab_events::verify_token(
        token.expose().as_bytes(),
        header(&headers, "x-gitlab-token").as_deref(),
    )
    .map_err(auth_error)?;
    let event = header(&headers, "x-gitlab-event");
    let received_at = crate::unix_now();
    let parsed = gitlab_events::parse(event.as_deref(), &body, &state.config.webhooks, received_at)
        .map_err(payload_error)?;
    // Without a delivery id header (older GitLab), the body itself identifies the delivery.
    let delivery_id =
        gitlab_events::delivery_id(|name| header(&headers, name)).unwrap_or_else(|| {
            format!(
                "body-sha256:{}",
                crate::auth::hash_token(&String::from_utf8_lossy(&body))
            )
        });
    let delivery = Delivery {
        source: Source::Gitlab,
        id: delivery_id,
        event: event.unwrap_or_default(),
        received_at,
    };
    store_delivery(&state, delivery, parsed).await
}
