//! The HTTP interface through the real router (in-process requests) and on a real socket.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{call, get};
use loopwise_server::auth::hash_token;
use loopwise_server::{AppState, Secret, ServerConfig, router};
use loopwise_store::{DeploymentFilter, Store, TokenScope};
use loopwise_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const INGEST: &str = "lw_ingest_secret";
const READ: &str = "lw_read_secret";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

struct Harness {
    _directory: tempfile::TempDir,
    store: Arc<SqliteStore>,
    state: AppState,
}

fn harness(config: ServerConfig) -> Harness {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&directory.path().join("server.db")).unwrap());
    store
        .create_token("ci", TokenScope::Ingest, &hash_token(INGEST), 0)
        .unwrap();
    store
        .create_token("dashboards", TokenScope::Read, &hash_token(READ), 0)
        .unwrap();
    let state = AppState::new(store.clone(), config);
    Harness {
        _directory: directory,
        store,
        state,
    }
}

fn events_request(token: Option<&str>, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post("/api/v1/events").header("content-type", content_type);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body.into()).unwrap()
}

fn deployment(id: &str) -> Value {
    json!({"type": "deployment", "id": id, "service": "checkout", "sha": SHA,
           "started_at": "2024-05-01T10:00:00Z", "finished_at": "2024-05-01T10:05:00+00:00"})
}

#[tokio::test]
async fn health_and_readiness() {
    let h = harness(ServerConfig::default());
    let (status, body) = call(
        &h.state,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = call(
        &h.state,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
    let (status, body) = call(&h.state, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn writes_need_an_ingest_token() {
    let h = harness(ServerConfig::default());
    let body = deployment("d1").to_string();
    let (status, answer) = call(
        &h.state,
        events_request(None, "application/json", body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "unauthorized");
    let (status, answer) = call(
        &h.state,
        events_request(Some("lw_wrong"), "application/json", body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown or revoked")
    );
    let (status, answer) = call(
        &h.state,
        events_request(Some(READ), "application/json", body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs ingest"),
        "{answer}"
    );
    h.store.revoke_token("ci", 1).unwrap();
    let (status, _) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", body),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused"
    );
    assert_eq!(
        h.store.counts().unwrap().deployments,
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn one_event_is_stored_once() {
    let h = harness(ServerConfig::default());
    let body = deployment("d1").to_string();
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(
        answer["results"][0],
        json!({"index": 0, "type": "deployment", "id": "d1", "status": "inserted"})
    );
    let (_, again) = call(
        &h.state,
        events_request(Some(INGEST), "application/json; charset=utf-8", body),
    )
    .await;
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(1))
    );
    let stored = h.store.deployments(&DeploymentFilter::default()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].environment, "production");
    assert_eq!(stored[0].finished_at, Some(1_714_557_900)); // 2024-05-01T10:05:00Z
    assert_eq!(stored[0].started_at, Some(1_714_557_600));
}

#[tokio::test]
async fn a_batch_keeps_its_good_events_and_names_each_bad_one() {
    let h = harness(ServerConfig::default());
    let mut missing_sha = deployment("d2");
    missing_sha.as_object_mut().unwrap().remove("sha");
    let batch = json!([
        deployment("d1"),
        missing_sha,
        {"type": "meteor", "id": "x"},
        {"type": "incident", "id": "inc-1", "service": "checkout", "started_at": "2024-05-01T11:00:00Z",
         "resolved_at": "2024-05-01T12:30:00Z", "action": "resolve", "caused_by": "d1"},
        {"type": "deployment", "id": "d3", "service": "checkout", "sha": SHA, "finished_at": "yesterday"},
        {"type": "deployment", "id": "d4", "service": "checkout", "sha": SHA, "finished_at": 1714557900, "colour": "red"},
        {"type": "pull_request", "repository": "acme/checkout", "number": 12, "state": "merged",
         "created_at": "2024-04-30", "merged_at": "2024-05-01T09:00:00Z", "merge_sha": SHA},
    ]);
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", batch.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 3, "{answer}");
    let rejected = answer["rejected"].as_array().unwrap();
    let summary: Vec<(u64, Option<&str>)> = rejected
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some("sha")),
            (2, None),
            (4, Some("finished_at")),
            (5, Some("colour"))
        ]
    );
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown variant `meteor`"),
        "{answer}"
    );
    let incidents = h.store.incidents(Some("checkout")).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        incidents[0].resolved_at.unwrap() - incidents[0].started_at,
        5_400
    );
    assert_eq!(
        h.store.pull_requests(None).unwrap()[0].merge_sha.as_deref(),
        Some(SHA)
    );
}

#[tokio::test]
async fn ndjson_rejections_name_their_lines() {
    let h = harness(ServerConfig::default());
    let body = format!("{}\n{{not json\n\n{}\n", deployment("d1"), deployment("d2"));
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/x-ndjson", body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"][0]["line"], 2);
    assert_eq!(answer["rejected"][0]["index"], 1);
    assert!(
        answer["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert_eq!(
        answer["results"][1]["index"], 2,
        "positions count events, not blank lines"
    );
}

#[tokio::test]
async fn malformed_bodies_get_4xx_json_errors_and_change_nothing() {
    let config = ServerConfig {
        body_limit_bytes: 1024,
        ..ServerConfig::default()
    };
    let h = harness(config);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            events_request(Some(INGEST), "application/json", "{\"type\": "),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            events_request(Some(INGEST), "text/plain", deployment("d1").to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            events_request(Some(INGEST), "application/json", vec![0xff, 0xfe, b'{']),
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
        ),
        (
            events_request(Some(INGEST), "application/json", "x".repeat(4096)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            events_request(Some(INGEST), "application/x-ndjson", "\n\n"),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            events_request(
                Some(INGEST),
                "application/json",
                "[{\"type\": \"deployment\"}]",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
    ];
    for (request, expected_status, code) in cases {
        let (status, answer) = call(&h.state, request).await;
        assert_eq!(status, expected_status, "{answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"]["code"], code, "{answer}");
        }
    }
    assert_eq!(h.store.counts().unwrap().deployments, 0);
    let (status, _) = call(
        &h.state,
        events_request(
            Some(INGEST),
            "application/json",
            deployment("d1").to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the server keeps serving");
}

#[tokio::test]
async fn webhooks_that_are_not_configured_are_refused() {
    let h = harness(ServerConfig::default());
    let request = Request::post("/webhooks/github")
        .body(Body::from("{}"))
        .unwrap();
    let (status, answer) = call(&h.state, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LOOPWISE_GITHUB_WEBHOOK_SECRET")
    );
    let config = ServerConfig {
        github_webhook_secret: Some(Secret::new("s3cret")),
        ..ServerConfig::default()
    };
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "secrets never show in Debug output"
    );
}

#[tokio::test]
async fn the_report_is_built_from_what_was_posted() {
    let h = harness(ServerConfig {
        organisation: loopwise_engine::Organisation {
            ownership: loopwise_engine::Ownership::new(
                [("checkout".to_string(), "payments".to_string())],
                [],
            )
            .unwrap(),
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    let a = "a".repeat(40);
    let b = "b".repeat(40);
    let c = "c".repeat(40);
    let events = json!([
        {"type": "change", "repository": "acme/checkout", "sha": a, "author_time": "2024-05-01T00:00:00Z"},
        {"type": "change", "repository": "acme/checkout", "sha": b, "parents": [a], "author_time": "2024-05-01T01:00:00Z"},
        {"type": "change", "repository": "acme/checkout", "sha": c, "parents": [b], "author_time": "2024-05-01T02:00:00Z"},
        {"type": "deployment", "id": "d1", "service": "checkout", "sha": a, "finished_at": "2024-05-01T00:30:00Z"},
        {"type": "deployment", "id": "d2", "service": "checkout", "sha": c, "finished_at": "2024-05-01T05:00:00Z"},
        {"type": "incident", "id": "inc-1", "service": "checkout", "started_at": "2024-05-01T06:00:00Z",
         "resolved_at": "2024-05-01T07:00:00Z"}
    ]);
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", events.to_string()),
    )
    .await;
    assert_eq!(
        (status, answer["accepted"].clone()),
        (StatusCode::OK, json!(6)),
        "{answer}"
    );

    let path = "/api/v1/report?since=2024-05-01&until=2024-05-02";
    let (status, _) = call(&h.state, get(path, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, report) = call(&h.state, get(path, Some(READ))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["schema"], "loopwise.report.v1");
    assert_eq!(
        report["window"],
        json!({"since": "2024-05-01T00:00:00Z", "until": "2024-05-02T00:00:00Z"})
    );
    let service = &report["services"][0];
    assert_eq!(service["service"], "checkout");
    assert_eq!(service["team"], "payments");
    assert_eq!(service["deployments"]["count"], 2);
    // d2 at 05:00 ships b (01:00) and c (02:00): 4 h and 3 h → median 3.5 h.
    assert_eq!(service["lead_time"]["median_seconds"], 12_600.0);
    assert_eq!(service["lead_time"]["baseline_changes"], 1);
    // The incident at 06:00 links to d2 (latest before); resolved at 07:00.
    assert_eq!(service["change_failure_rate"]["failed"], 1);
    assert_eq!(service["recovery_time"]["median_seconds"], 7_200.0);
    assert_eq!(service["time_to_restore"]["median_seconds"], 3_600.0);
    assert_eq!(service["incidents"][0]["rule"], "latest-before");

    // A team the configuration does not know is an error naming it, not an empty report.
    let (status, refused) = call(
        &h.state,
        get(
            "/api/v1/report?since=2024-05-01&until=2024-05-02&team=platform",
            Some(READ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["field"], "team");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"platform\""),
        "{refused}"
    );
    let (_, filtered) = call(
        &h.state,
        get(
            "/api/v1/report?since=2024-05-02&until=2024-05-03&team=payments",
            Some(READ),
        ),
    )
    .await;
    assert_eq!(
        filtered["services"][0]["deployments"]["count"], 0,
        "{filtered}"
    );
    for (query, field) in [
        ("since=someday", "since"),
        ("since=2024-05-02&until=2024-05-01", "since"),
        ("benchmark=dora-1999", "benchmark"),
    ] {
        let (status, answer) = call(
            &h.state,
            get(&format!("/api/v1/report?{query}"), Some(READ)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{query}: {answer}");
    }
    let (status, answer) = call(&h.state, get("/api/v1/report?colour=red", Some(READ))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn public_reads_need_no_token() {
    let h = harness(ServerConfig {
        public_reads: true,
        ..ServerConfig::default()
    });
    let (status, report) = call(&h.state, get("/api/v1/report", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["services"], json!([]));
}

#[tokio::test]
async fn metrics_expose_dora_figures_and_request_counts() {
    let h = harness(ServerConfig::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let events = json!([
        {"type": "deployment", "id": "d1", "service": "check\"out", "sha": SHA, "finished_at": now - 7_200},
        {"type": "deployment", "id": "d2", "service": "check\"out", "sha": SHA, "finished_at": now - 3_600, "status": "failure"}
    ]);
    let (status, _) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", events.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = router(h.state.clone())
        .oneshot(get("/metrics", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let labels = "service=\"check\\\"out\",environment=\"production\"";
    assert!(
        text.contains(&format!("loopwise_deployments_total{{{labels}}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("loopwise_failed_deployments_total{{{labels}}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("loopwise_change_failure_rate{{{labels}}} 0.5")),
        "{text}"
    );
    assert!(
        text.contains("loopwise_http_requests_total{method=\"POST\",route=\"/api/v1/events\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE loopwise_http_request_duration_seconds histogram"));
}

/// Events are parsed once, straight into the wire types; what is refused keeps the reasons of a
/// two-step parse (JSON first, then the event), with no JSON position in type errors.
#[tokio::test]
async fn single_pass_parsing_keeps_every_reason() {
    let h = harness(ServerConfig::default());
    let mut missing_sha = deployment("d2");
    missing_sha.as_object_mut().unwrap().remove("sha");
    let lines = [
        deployment("d1").to_string(),
        missing_sha.to_string(),
        // Unknown type, then broken JSON: the line is not JSON, whatever its type says.
        r#"{"type": "meteor", "id": "#.to_string(),
        format!(
            r#"{{"type": "pull_request", "repository": "acme/a", "number": "twelve", "state": "open", "created_at": "2024-05-01", "merge_sha": "{SHA}"}}"#
        ),
        // A repeated key: the last one wins, as JSON parsers commonly do.
        format!(
            r#"{{"type": "deployment", "id": "first", "id": "d3", "service": "checkout", "sha": "{SHA}", "finished_at": 1714557960}}"#
        ),
        r#"{"type": "deployment", "id": "d4", "service": "checkout", "sha": "XYZ", "finished_at": 1714557900}"#.to_string(),
    ];
    let ndjson = lines.join("\n");
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/x-ndjson", ndjson),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let ids: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d1", "d3"], "{answer}");
    let rejected: Vec<(u64, u64, &str, Option<&str>)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap(),
                r["field"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, 2, "missing field `sha`", Some("sha")),
            (
                2,
                3,
                "invalid JSON: EOF while parsing a value at line 1 column 25",
                None
            ),
            (3, 4, "invalid type: string \"twelve\", expected u64", None),
            (
                5,
                6,
                "\"XYZ\" is not a commit id (hexadecimal)",
                Some("sha")
            ),
        ],
        "{answer}"
    );

    // The same events as a JSON array: the same reasons, no lines.
    let array = format!(
        "[{}, {}, {}]",
        deployment("d5"),
        missing_sha,
        r#"{"type": "deployment", "id": "d6", "service": " ", "sha": "abcd", "finished_at": 1}"#
    );
    let (status, answer) = call(
        &h.state,
        events_request(Some(INGEST), "application/json", array),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(
        answer["rejected"],
        json!([
            {"index": 1, "reason": "missing field `sha`", "field": "sha"},
            {"index": 2, "reason": "must not be empty", "field": "service"},
        ])
    );
    let stored = h.store.deployments(&DeploymentFilter::default()).unwrap();
    let stored_ids: Vec<&str> = stored.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(stored_ids, ["d1", "d5", "d3"], "ordered by finish time");
}
