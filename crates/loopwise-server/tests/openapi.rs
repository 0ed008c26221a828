//! The OpenAPI document: served, valid JSON, covering exactly the routes of the router (read
//! from the router's definition in `src/lib.rs`, so a new undocumented route fails here), with
//! the error shape everywhere and the event schemas `docs/events.md` describes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use loopwise_server::{AppState, ServerConfig, router};
use loopwise_store_sqlite::SqliteStore;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tower::ServiceExt;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn served_document() -> (tempfile::TempDir, AppState, Value) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&directory.path().join("doc.db")).unwrap());
    let state = AppState::new(store, ServerConfig::default());
    let response = router(state.clone())
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let document: Value = serde_json::from_slice(&bytes).expect("the document is JSON");
    (directory, state, document)
}

/// (method, path) of every `.route(...)` in the router's source.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/lib.rs");
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(\"").skip(1) {
        let (path, rest) = chunk.split_once('"').unwrap();
        // The handlers of this route: up to the next route or the end of the builder.
        let handlers = rest.split(".route(").next().unwrap();
        let handlers = handlers.split(".fallback").next().unwrap();
        let mut found = false;
        for method in METHODS {
            for (position, _) in handlers.match_indices(&format!("{method}(")) {
                let before = handlers[..position].chars().last();
                if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
                    routes.insert((method.to_string(), path.to_string()));
                    found = true;
                }
            }
        }
        assert!(found, "no method found for route {path}");
    }
    routes
}

fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_document_covers_exactly_the_routes_of_the_router() {
    let (_directory, state, document) = served_document().await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["info"]["title"], "loopwise");
    let routes = routes_in_source();
    // The parser itself: the routes PRODUCT.md section 5 lists are all found.
    for expected in [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("post", "/api/v1/events"),
        ("get", "/api/v1/report"),
        ("get", "/api/v1/metrics/{metric}"),
        ("get", "/api/v1/leaderboard"),
        ("get", "/metrics"),
        ("post", "/webhooks/github"),
        ("post", "/webhooks/gitlab"),
        ("get", "/api/v1/openapi.json"),
    ] {
        assert!(
            routes.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not found in the router source"
        );
    }
    assert_eq!(documented_operations(&document), routes);
    // And each documented operation is routed (not answered by the fallback).
    for (method, path) in documented_operations(&document) {
        let uri = path.replace("{metric}", "lead_time");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(body["error"]["code"], "not_found", "{method} {uri}");
    }
}

/// Every `$ref` points at a schema of the document.
fn check_refs(value: &Value, schemas: &serde_json::Map<String, Value>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
                assert!(schemas.contains_key(name), "dangling $ref {reference}");
            }
            map.values().for_each(|v| check_refs(v, schemas));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(v, schemas)),
        _ => {}
    }
}

#[tokio::test]
async fn errors_have_the_documented_shape_and_refs_resolve() {
    let (_directory, _state, document) = served_document().await;
    let schemas = document["components"]["schemas"].as_object().unwrap();
    check_refs(&document, schemas);
    let detail = &schemas["ErrorDetail"];
    assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
    for field in ["code", "message", "field"] {
        assert!(detail["properties"][field].is_object(), "{field}");
    }
    assert_eq!(
        schemas["ErrorBody"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let mut client_errors = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                // 422 of the events API is the usual answer, listing every rejection.
                let answer_with_rejections = path == "/api/v1/events" && status == "422";
                if (status.starts_with('4') || status.starts_with('5')) && !answer_with_rejections {
                    client_errors += 1;
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(client_errors >= 20, "{client_errors}");
    assert!(
        document["components"]["securitySchemes"]["bearer"]["scheme"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    );
}

#[tokio::test]
async fn webhooks_and_reads_document_their_parameters() {
    let (_directory, _state, document) = served_document().await;
    let parameters = |method: &str, path: &str| -> BTreeMap<String, (String, bool)> {
        document["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no parameters"))
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    (
                        p["in"].as_str().unwrap().to_string(),
                        p["required"].as_bool().unwrap_or(false),
                    ),
                )
            })
            .collect()
    };
    let github = parameters("post", "/webhooks/github");
    for name in ["X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery"] {
        assert_eq!(github[name], ("header".to_string(), true), "{name}");
    }
    let gitlab = parameters("post", "/webhooks/gitlab");
    assert_eq!(gitlab["X-Gitlab-Token"], ("header".to_string(), true));
    assert_eq!(gitlab["Idempotency-Key"].0, "header");
    let series = parameters("get", "/api/v1/metrics/{metric}");
    assert_eq!(series["metric"], ("path".to_string(), true));
    let filters = [
        "service",
        "team",
        "tribe",
        "environment",
        "since",
        "until",
        "benchmark",
    ];
    for name in filters.iter().chain(&["interval"]) {
        assert_eq!(series[*name], ("query".to_string(), false), "{name}");
    }
    let board = parameters("get", "/api/v1/leaderboard");
    for name in filters.iter().chain(&["group_by"]) {
        assert_eq!(board[*name], ("query".to_string(), false), "{name}");
    }
    let report = parameters("get", "/api/v1/report");
    for name in filters {
        assert_eq!(report[name], ("query".to_string(), false), "{name}");
    }
    let schemas = &document["components"]["schemas"];
    let metrics: Vec<&str> = schemas["SeriesMetric"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        [
            "deployment_frequency",
            "lead_time",
            "change_failure_rate",
            "recovery_time",
            "time_to_restore",
            "rework_rate"
        ]
    );
    // The report's contract fields (PRODUCT.md section 5) are in its schema.
    let service = &schemas["ServiceReport"]["properties"];
    for field in [
        "service",
        "environment",
        "team",
        "tribe",
        "deployments",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "time_to_restore",
        "rework_rate",
        "overall",
        "provenance",
    ] {
        assert!(service[field].is_object(), "ServiceReport.{field}");
    }
    assert_eq!(
        document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["text/plain; version=0.0.4"]
    );
}

/// The required and optional fields of each event type, as the table of `docs/events.md`
/// states them. Alternatives ("`a` or `b`") and conditional fields (after ";") are neither.
fn events_table() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let text = include_str!("../../../docs/events.md");
    let names = |cell: &str| -> BTreeSet<String> {
        let unconditional = cell.split(';').next().unwrap();
        // Drop parenthesised value lists and remarks.
        let mut plain = String::new();
        let mut depth = 0;
        for c in unconditional.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => plain.push(c),
                _ => {}
            }
        }
        plain
            .split(',')
            .filter(|item| !item.contains(" or "))
            .filter_map(|item| {
                let name = item.split('`').nth(1)?;
                Some(name.to_string())
            })
            .collect()
    };
    let mut table = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let kind = cells[1].trim_matches('`').to_string();
        table.insert(kind, (names(cells[2]), names(cells[3])));
    }
    table
}

#[tokio::test]
async fn event_schemas_match_docs_events_md() {
    let (_directory, _state, document) = served_document().await;
    let table = events_table();
    assert_eq!(
        table.keys().map(String::as_str).collect::<Vec<_>>(),
        ["change", "deployment", "incident", "pull_request"]
    );
    assert_eq!(table["deployment"].0.len(), 3, "{:?}", table["deployment"]);
    let schemas = &document["components"]["schemas"];
    let variants = schemas["WireEvent"]["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    let mut seen = BTreeSet::new();
    for variant in variants {
        let parts = variant["allOf"].as_array().unwrap();
        let reference = parts[0]["$ref"].as_str().unwrap();
        let tag = parts[1]["properties"]["type"]["enum"][0]
            .as_str()
            .unwrap()
            .to_string();
        let schema = &schemas[reference.rsplit('/').next().unwrap()];
        let required: BTreeSet<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .filter(|name| name != "type")
            .collect();
        let (doc_required, doc_optional) = &table[&tag];
        assert_eq!(&required, doc_required, "required fields of {tag}");
        let properties = schema["properties"].as_object().unwrap();
        for name in doc_optional {
            assert!(properties.contains_key(name), "{tag}.{name} is documented");
            assert!(!required.contains(name), "{tag}.{name} is optional");
        }
        // Unknown fields are refused, and the tag is part of the object itself, so the event
        // validates against its schema.
        assert_eq!(schema["additionalProperties"], false, "{tag}");
        assert_eq!(schema["properties"]["type"]["enum"][0], tag.as_str());
        seen.insert(tag);
    }
    assert_eq!(seen.len(), 4);
    // The body is one event or an array of them; NDJSON is documented as its own media type.
    let body = &document["paths"]["/api/v1/events"]["post"]["requestBody"]["content"];
    assert_eq!(
        body["application/json"]["schema"]["$ref"],
        "#/components/schemas/EventBody"
    );
    assert!(body["application/x-ndjson"].is_object());
}
