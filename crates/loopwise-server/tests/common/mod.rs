//! A small posted history shared by the read tests (API and dashboard): every expected value
//! is worked out by hand in the comments. Real SQLite store, requests through the router.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use loopwise_server::auth::hash_token;
use loopwise_server::{AppState, ServerConfig, router};
use loopwise_store::{Store, TokenScope};
use loopwise_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

pub const INGEST: &str = "lw_ingest_reads";
pub const READ: &str = "lw_read_reads";
pub const WINDOW: &str = "since=2024-04-01&until=2024-05-06";

pub fn pairs(items: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Two tribes, three squads: commerce = payments (checkout, billing) + storefront (web);
/// growth = discovery (search). `legacy` has no owner.
pub fn config() -> ServerConfig {
    let ownership = loopwise_engine::Ownership::new(
        pairs(&[
            ("checkout", "payments"),
            ("billing", "payments"),
            ("web", "storefront"),
            ("search", "discovery"),
        ]),
        pairs(&[
            ("payments", "commerce"),
            ("storefront", "commerce"),
            ("discovery", "growth"),
        ]),
    )
    .unwrap();
    ServerConfig {
        organisation: loopwise_engine::Organisation {
            ownership,
            ..Default::default()
        },
        ..ServerConfig::default()
    }
}

pub async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}));
    (status, value)
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

pub async fn read(state: &AppState, path: &str) -> Value {
    let (status, body) = call(state, get(path, Some(READ))).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

pub fn sha(letter: char) -> String {
    letter.to_string().repeat(40)
}

pub fn deployment(id: &str, service: &str, sha: &str, finished: &str) -> Value {
    json!({"type": "deployment", "id": id, "service": service, "sha": sha, "finished_at": finished})
}

/// The history (all times UTC; 2024-04-01 is a Monday):
///
/// checkout, commits a (04-01 00:00) ← b (04-02 00:00) ← c (04-08 12:00) ← d (04-09 00:00):
/// - d1 a at 04-01 06:00, started 05:50 (600 s): the baseline.
/// - d2 b at 04-03 00:00, started 04-02 23:40 (1200 s): ships b, lead time 1 day = 86 400 s.
/// - d3 d at 04-10 00:00, failure.
/// - d4 d at 04-10 06:00, hotfix: ships c (1.75 d = 151 200 s) and d (1.25 d = 108 000 s);
///   remediates d3, whose recovery is 6 h = 21 600 s.
/// - d5 d at 05-02 00:00: ships nothing new.
/// - a staging deployment on 04-04, which production figures leave out.
/// - incident inc-1 from 04-20 10:00 to 12:30 (9 000 s); no deployment in the 72 h before.
///
/// billing: b1 at 04-02 00:00 started 04-01 23:50 (600 s); b2 at 04-16, failure.
/// web: w1..w5 on 04-05, 04-12, 04-19, 04-26, 05-03. search: s1 04-04 03:00 → 04:00 (3600 s).
/// legacy: l1 04-06, l2 04-07.
pub async fn posted() -> (tempfile::TempDir, AppState) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&directory.path().join("reads.db")).unwrap());
    store
        .create_token("ci", TokenScope::Ingest, &hash_token(INGEST), 0)
        .unwrap();
    store
        .create_token("dash", TokenScope::Read, &hash_token(READ), 0)
        .unwrap();
    let state = AppState::new(store, config());
    let (a, b, c, d) = (sha('a'), sha('b'), sha('c'), sha('d'));
    let change = |sha: &str, parent: Option<&str>, time: &str| {
        json!({"type": "change", "repository": "acme/checkout", "sha": sha,
               "parents": parent.map(|p| vec![p]).unwrap_or_default(), "author_time": time})
    };
    let mut d1 = deployment("d1", "checkout", &a, "2024-04-01T06:00:00Z");
    d1["started_at"] = json!("2024-04-01T05:50:00Z");
    let mut d2 = deployment("d2", "checkout", &b, "2024-04-03T00:00:00Z");
    d2["started_at"] = json!("2024-04-02T23:40:00Z");
    let mut d3 = deployment("d3", "checkout", &d, "2024-04-10T00:00:00Z");
    d3["status"] = json!("failure");
    let mut d4 = deployment("d4", "checkout", &d, "2024-04-10T06:00:00Z");
    d4["kind"] = json!("hotfix");
    let mut staging = deployment("st1", "checkout", &d, "2024-04-04T00:00:00Z");
    staging["environment"] = json!("staging");
    let mut b1 = deployment("b1", "billing", &sha('e'), "2024-04-02T00:00:00Z");
    b1["started_at"] = json!("2024-04-01T23:50:00Z");
    let mut b2 = deployment("b2", "billing", &sha('e'), "2024-04-16T00:00:00Z");
    b2["status"] = json!("failure");
    let mut s1 = deployment("s1", "search", &sha('f'), "2024-04-04T04:00:00Z");
    s1["started_at"] = json!("2024-04-04T03:00:00Z");
    let mut events = vec![
        change(&a, None, "2024-04-01T00:00:00Z"),
        change(&b, Some(&a), "2024-04-02T00:00:00Z"),
        change(&c, Some(&b), "2024-04-08T12:00:00Z"),
        change(&d, Some(&c), "2024-04-09T00:00:00Z"),
        d1,
        d2,
        d3,
        d4,
        deployment("d5", "checkout", &d, "2024-05-02T00:00:00Z"),
        staging,
        json!({"type": "incident", "id": "inc-1", "service": "checkout",
               "started_at": "2024-04-20T10:00:00Z", "resolved_at": "2024-04-20T12:30:00Z"}),
        b1,
        b2,
        s1,
        deployment("l1", "legacy", &sha('9'), "2024-04-06T00:00:00Z"),
        deployment("l2", "legacy", &sha('9'), "2024-04-07T00:00:00Z"),
    ];
    for (i, day) in ["05", "12", "19", "26"].iter().enumerate() {
        events.push(deployment(
            &format!("w{}", i + 1),
            "web",
            &sha('7'),
            &format!("2024-04-{day}T12:00:00Z"),
        ));
    }
    events.push(deployment("w5", "web", &sha('7'), "2024-05-03T12:00:00Z"));
    let answer = post_events(&state, &Value::Array(events.clone())).await;
    assert_eq!(answer["accepted"], events.len(), "{answer}");
    (directory, state)
}

pub fn close(value: &Value, expected: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|v| (v - expected).abs() <= 1e-9 * expected.abs().max(1.0))
}

pub fn values(points: &Value) -> Vec<Value> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].clone())
        .collect()
}

pub fn dates(points: &Value) -> Vec<&str> {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["date"].as_str().unwrap())
        .collect()
}

/// Posts `events` (a JSON array) with the ingest token; the answer, after checking it is 200.
pub async fn post_events(state: &AppState, events: &Value) -> Value {
    let request = Request::post("/api/v1/events")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {INGEST}"))
        .body(Body::from(events.to_string()))
        .unwrap();
    let (status, answer) = call(state, request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}
