//! `POST /api/v1/events`: one JSON event, a JSON array, or NDJSON. Each event is validated on
//! its own; the valid ones are stored in one transaction before the answer is sent, and every
//! rejection names its position and the reason. Idempotent by (source, type, id).
//!
//! The wire shapes live here and only here; they become core events after validation.

use crate::AppState;
use crate::error::AppError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{Event, Incident, PullRequest, PullRequestState, PushedChange};
use loopwise_core::rules::revert_targets;
use loopwise_core::time::Timestamp;
use loopwise_ingest::webhooks::parse_webhook_time;
use loopwise_store::{EventOutcome, TokenScope};
use serde::{Deserialize, Serialize};

/// A time on the wire: RFC 3339 text, a date, or Unix seconds.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum WireTime {
    Seconds(i64),
    Text(String),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireEvent {
    Deployment(WireDeployment),
    Change(WireChange),
    PullRequest(WirePullRequest),
    Incident(WireIncident),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireDeployment {
    pub source: Option<String>,
    pub id: String,
    pub service: String,
    pub environment: Option<String>,
    pub sha: String,
    pub started_at: Option<WireTime>,
    pub finished_at: Option<WireTime>,
    pub status: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireChange {
    pub source: Option<String>,
    pub repository: String,
    pub sha: String,
    #[serde(default)]
    pub parents: Vec<String>,
    pub author_time: WireTime,
    pub committer_time: Option<WireTime>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// The whole message; its first line is the subject and a revert line is recognised.
    pub message: Option<String>,
    pub branch: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WirePullRequest {
    pub source: Option<String>,
    pub repository: String,
    pub number: u64,
    pub title: Option<String>,
    pub author: Option<String>,
    pub state: String,
    pub created_at: WireTime,
    pub merged_at: Option<WireTime>,
    pub closed_at: Option<WireTime>,
    pub merge_sha: Option<String>,
    pub head_sha: Option<String>,
    pub base_branch: Option<String>,
    pub additions: Option<u64>,
    pub deletions: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireIncident {
    pub source: Option<String>,
    pub id: String,
    /// `create` (default), `update` or `resolve`; each sends the whole incident.
    pub action: Option<String>,
    pub service: Option<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub started_at: WireTime,
    pub acknowledged_at: Option<WireTime>,
    pub resolved_at: Option<WireTime>,
    pub caused_by: Option<String>,
    pub url: Option<String>,
}

/// Why one event was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    /// 0-based position in the array or the NDJSON stream.
    pub index: usize,
    /// 1-based line for NDJSON bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventResult {
    pub index: usize,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    /// `inserted`, `updated` or `duplicate`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestAnswer {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
    pub results: Vec<EventResult>,
}

struct Invalid {
    reason: String,
    field: Option<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Invalid {
    Invalid {
        reason: reason.into(),
        field: Some(field.to_string()),
    }
}

fn time(field: &str, value: &WireTime) -> Result<Timestamp, Invalid> {
    match value {
        WireTime::Seconds(seconds) => loopwise_core::time::parse_instant(&seconds.to_string())
            .map_err(|_| invalid(field, format!("{seconds} is out of range"))),
        WireTime::Text(text) => parse_webhook_time(text).ok_or_else(|| {
            invalid(field, format!("invalid time {text:?}: expected RFC 3339 (2024-05-01T12:00:00Z), a date or Unix seconds"))
        }),
    }
}

fn optional_time(field: &str, value: &Option<WireTime>) -> Result<Option<Timestamp>, Invalid> {
    value.as_ref().map(|v| time(field, v)).transpose()
}

fn source(value: &Option<String>) -> Result<Source, Invalid> {
    match value {
        None => Ok(Source::Api),
        Some(text) => text
            .parse()
            .map_err(|e: loopwise_core::entities::UnknownValue| invalid("source", e.to_string())),
    }
}

/// The trimmed text; the wire's own string when it needs no trimming (no copy).
fn non_empty(field: &str, value: String) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(invalid(field, "must not be empty"))
    } else if trimmed.len() == value.len() {
        Ok(value)
    } else {
        Ok(trimmed.to_string())
    }
}

/// A commit id in lowercase hex; the wire's own string when it is already in that form.
fn commit_id(field: &str, value: String) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.len() < 4 || trimmed.len() > 64 || !trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            field,
            format!("{value:?} is not a commit id (hexadecimal)"),
        ));
    }
    if trimmed.len() == value.len() && !trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(value)
    } else {
        Ok(trimmed.to_ascii_lowercase())
    }
}

fn to_event(wire: WireEvent, default_environment: &str) -> Result<Event, Invalid> {
    Ok(match wire {
        WireEvent::Deployment(d) => {
            let started_at = optional_time("started_at", &d.started_at)?;
            let finished_at = optional_time("finished_at", &d.finished_at)?;
            if started_at.is_none() && finished_at.is_none() {
                return Err(invalid(
                    "finished_at",
                    "a deployment needs finished_at or started_at",
                ));
            }
            let status = match &d.status {
                None => DeploymentStatus::Success,
                Some(text) => {
                    text.parse()
                        .map_err(|e: loopwise_core::entities::UnknownValue| {
                            invalid("status", e.to_string())
                        })?
                }
            };
            let kind = match &d.kind {
                None => DeploymentKind::Normal,
                Some(text) => {
                    text.parse()
                        .map_err(|e: loopwise_core::entities::UnknownValue| {
                            invalid("kind", e.to_string())
                        })?
                }
            };
            Event::Deployment(Deployment {
                source: source(&d.source)?,
                id: non_empty("id", d.id)?,
                service: non_empty("service", d.service)?,
                environment: d
                    .environment
                    .map(|e| non_empty("environment", e))
                    .transpose()?
                    .unwrap_or_else(|| default_environment.to_string()),
                sha: commit_id("sha", d.sha)?,
                started_at,
                finished_at,
                status,
                kind,
            })
        }
        WireEvent::Change(c) => {
            let author_time = time("author_time", &c.author_time)?;
            let message = c.message.unwrap_or_default();
            let mut parents = Vec::with_capacity(c.parents.len());
            for (i, parent) in c.parents.into_iter().enumerate() {
                parents.push(commit_id(&format!("parents[{i}]"), parent)?);
            }
            Event::Change(PushedChange {
                repository: non_empty("repository", c.repository)?,
                branch: c.branch,
                change: Change {
                    sha: commit_id("sha", c.sha)?,
                    parents,
                    author_time,
                    committer_time: optional_time("committer_time", &c.committer_time)?
                        .unwrap_or(author_time),
                    author_name: c.author_name.unwrap_or_default(),
                    author_email: c.author_email.unwrap_or_default(),
                    subject: Change::subject_of(&message),
                    reverts: revert_targets(message.as_bytes()),
                },
            })
        }
        WireEvent::PullRequest(p) => {
            let state = match p.state.trim().to_ascii_lowercase().as_str() {
                "open" | "opened" => PullRequestState::Open,
                "closed" => PullRequestState::Closed,
                "merged" => PullRequestState::Merged,
                other => {
                    return Err(invalid(
                        "state",
                        format!("unknown state {other:?}; expected open, closed or merged"),
                    ));
                }
            };
            let merged_at = optional_time("merged_at", &p.merged_at)?;
            if state == PullRequestState::Merged && merged_at.is_none() {
                return Err(invalid(
                    "merged_at",
                    "a merged pull request needs merged_at",
                ));
            }
            Event::PullRequest(PullRequest {
                source: source(&p.source)?,
                repository: non_empty("repository", p.repository)?,
                number: p.number,
                title: p.title.unwrap_or_default(),
                author: p.author.unwrap_or_default(),
                state,
                created_at: time("created_at", &p.created_at)?,
                merged_at,
                closed_at: optional_time("closed_at", &p.closed_at)?,
                merge_sha: p.merge_sha.map(|s| commit_id("merge_sha", s)).transpose()?,
                head_sha: p.head_sha.map(|s| commit_id("head_sha", s)).transpose()?,
                base_branch: p.base_branch,
                additions: p.additions,
                deletions: p.deletions,
            })
        }
        WireEvent::Incident(i) => {
            let resolved_at = optional_time("resolved_at", &i.resolved_at)?;
            match i.action.as_deref().map(|a| a.trim().to_ascii_lowercase()) {
                None => {}
                Some(action) if action == "create" || action == "update" => {}
                Some(action) if action == "resolve" && resolved_at.is_none() => {
                    return Err(invalid("resolved_at", "a resolve action needs resolved_at"));
                }
                Some(action) if action == "resolve" => {}
                Some(other) => {
                    return Err(invalid(
                        "action",
                        format!("unknown action {other:?}; expected create, update or resolve"),
                    ));
                }
            }
            let started_at = time("started_at", &i.started_at)?;
            if resolved_at.is_some_and(|resolved| resolved < started_at) {
                return Err(invalid("resolved_at", "is before started_at"));
            }
            Event::Incident(Incident {
                source: source(&i.source)?,
                id: non_empty("id", i.id)?,
                service: i.service,
                title: i.title.unwrap_or_default(),
                severity: i.severity,
                started_at,
                acknowledged_at: optional_time("acknowledged_at", &i.acknowledged_at)?,
                resolved_at,
                caused_by: i.caused_by,
                url: i.url,
            })
        }
    })
}

fn event_id(event: Event) -> String {
    match event {
        Event::Change(pushed) => pushed.change.sha,
        Event::PullRequest(pull) => format!("{}#{}", pull.repository, pull.number),
        Event::PullRequestReview(review) => review.id,
        Event::Deployment(deployment) => deployment.id,
        Event::Incident(incident) => incident.id,
        Event::CiRun(run) => format!("{}:{}", run.id, run.attempt),
        Event::FlagChange(flag) => {
            format!("{}:{}@{}", flag.repository, flag.flag_id, flag.changed_at)
        }
    }
}

/// One item of the body before validation: its position and its wire event, or why it is not one.
type Item = (usize, Option<usize>, Result<WireEvent, Invalid>);

/// One event's JSON text as a wire event, parsed once in the usual case.
///
/// Text that does not parse straight into [`WireEvent`] goes the long way (a
/// `serde_json::Value` first, then the wire type), which decides what happens to it: that way a
/// refused event gets the same reason and field as always (syntax errors say "invalid JSON",
/// type errors carry no position), and the rare text that only the long way accepts (a repeated
/// key, where the last one wins) is still accepted.
fn parse_item(text: &str) -> Result<WireEvent, Invalid> {
    serde_json::from_str::<WireEvent>(text).or_else(|_| {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Invalid {
            reason: format!("invalid JSON: {e}"),
            field: None,
        })?;
        serde_json::from_value(value).map_err(wire_error)
    })
}

fn split_body(body: &str, ndjson: bool) -> Result<Vec<Item>, AppError> {
    if ndjson {
        let mut items = Vec::new();
        for (line_index, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            items.push((items.len(), Some(line_index + 1), parse_item(line)));
        }
        return Ok(items);
    }
    // The usual case, a whole array (or one object) of valid events, is parsed in one pass.
    let fast = if body.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<WireEvent>>(body).ok()
    } else {
        serde_json::from_str::<WireEvent>(body)
            .ok()
            .map(|wire| vec![wire])
    };
    if let Some(wires) = fast {
        return Ok(wires
            .into_iter()
            .enumerate()
            .map(|(i, wire)| (i, None, Ok(wire)))
            .collect());
    }
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let from_value = |value| serde_json::from_value::<WireEvent>(value).map_err(wire_error);
    Ok(match value {
        serde_json::Value::Array(values) => values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i, None, from_value(v)))
            .collect(),
        object => vec![(0, None, from_value(object))],
    })
}

/// Why serde refused an event, in one line, with the field when serde names one.
fn wire_error(error: serde_json::Error) -> Invalid {
    let text = error.to_string();
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| {
            text.starts_with("missing field")
                || text.starts_with("unknown field")
                || text.starts_with("invalid type")
        })
        .map(str::to_string);
    Invalid {
        reason: text,
        field,
    }
}

/// Ingests one JSON event, a JSON array of events, or NDJSON (one event per line); see
/// `docs/events.md`. Valid events are stored in one transaction before the answer is sent.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "ingest",
    request_body(description = "One event, an array of events (application/json), or one event per line (application/x-ndjson)", content(
        (crate::openapi::EventBody = "application/json"),
        (String = "application/x-ndjson"),
    )),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "At least one event was stored or was a duplicate", body = IngestAnswer),
        (status = 422, description = "No event of the body was valid; `rejected` says why", body = IngestAnswer),
        (status = 400, description = "Not JSON, not UTF-8, or no events", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "The token lacks the ingest scope", body = crate::error::ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = crate::error::ErrorBody),
        (status = 415, description = "Another content type", body = crate::error::ErrorBody),
    )
)]
pub async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    crate::auth::require(&state, &headers, TokenScope::Ingest).await?;
    let body = body.map_err(crate::body_rejection)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let ndjson = match content_type.as_str() {
        "application/json" => false,
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => true,
        other => {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {other:?} is not accepted; send application/json or application/x-ndjson"
                ),
            ));
        }
    };
    let text = std::str::from_utf8(&body).map_err(|e| {
        AppError::bad_request(
            "invalid_utf8",
            format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let items = split_body(text, ndjson)?;
    if items.is_empty() {
        return Err(AppError::bad_request("empty", "the body holds no events"));
    }
    let mut rejected = Vec::new();
    let mut positions: Vec<usize> = Vec::with_capacity(items.len());
    let mut events: Vec<Event> = Vec::with_capacity(items.len());
    for (index, line, parsed) in items {
        let outcome =
            parsed.and_then(|wire| to_event(wire, &state.config.webhooks.default_environment));
        match outcome {
            Ok(event) => {
                positions.push(index);
                events.push(event);
            }
            Err(Invalid { reason, field }) => rejected.push(Rejection {
                index,
                line,
                reason,
                field,
            }),
        }
    }
    let store = state.store.clone();
    // The events travel to the blocking thread and back, so they are not copied.
    let (events, outcomes) = if events.is_empty() {
        (events, Vec::new())
    } else {
        tokio::task::spawn_blocking(move || {
            let outcomes = store.apply_events(&events);
            (events, outcomes)
        })
        .await
        .map(|(events, outcomes)| outcomes.map(|outcomes| (events, outcomes)))
        .map_err(AppError::internal)??
    };
    let mut answer = IngestAnswer {
        accepted: 0,
        duplicates: 0,
        rejected,
        results: Vec::with_capacity(events.len()),
    };
    for ((index, event), outcome) in positions.into_iter().zip(events).zip(outcomes) {
        let status = match outcome {
            EventOutcome::Inserted => "inserted",
            EventOutcome::Updated => "updated",
            EventOutcome::Unchanged => "duplicate",
        };
        if outcome == EventOutcome::Unchanged {
            answer.duplicates += 1;
        } else {
            answer.accepted += 1;
        }
        answer.results.push(EventResult {
            index,
            kind: event.kind(),
            id: event_id(event),
            status,
        });
    }
    let status = if answer.accepted + answer.duplicates == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)).into_response())
}
