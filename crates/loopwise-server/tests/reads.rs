//! The metric series and the leaderboard over a small posted history, with every expected
//! value worked out by hand in the comments. Real SQLite store, requests through the router.

mod common;

use axum::http::StatusCode;
use common::*;
use loopwise_server::{AppState, ServerConfig};
use loopwise_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn deployment_frequency_by_day_week_and_month() {
    let (_directory, state) = posted().await;
    let path = |interval: &str| {
        format!(
            "/api/v1/metrics/deployment_frequency?service=checkout&interval={interval}&{WINDOW}"
        )
    };
    let days = read(&state, &path("day")).await;
    // 04-01 … 05-05: 35 days; successful checkout deployments on 04-01, 04-03, 04-10 (d4;
    // d3 failed) and 05-02; the staging one on 04-04 is not production.
    assert_eq!(days.as_array().unwrap().len(), 35);
    assert_eq!(dates(&days)[0], "2024-04-01");
    assert_eq!(dates(&days)[34], "2024-05-05");
    for (i, point) in days.as_array().unwrap().iter().enumerate() {
        let expected = if [0, 2, 9, 31].contains(&i) { 1 } else { 0 };
        assert_eq!(point["value"], json!(expected as f64), "day {i}: {point}");
        assert_eq!(point["count"], json!(expected), "day {i}");
    }
    let weeks = read(&state, &path("week")).await;
    assert_eq!(
        dates(&weeks),
        [
            "2024-04-01",
            "2024-04-08",
            "2024-04-15",
            "2024-04-22",
            "2024-04-29"
        ]
    );
    assert_eq!(
        values(&weeks),
        [json!(2.0), json!(1.0), json!(0.0), json!(0.0), json!(1.0)]
    );
    let months = read(&state, &path("month")).await;
    assert_eq!(dates(&months), ["2024-04-01", "2024-05-01"]);
    assert_eq!(values(&months), [json!(3.0), json!(1.0)]);
    // The default interval is the week.
    let default = read(
        &state,
        &format!("/api/v1/metrics/deployment_frequency?service=checkout&{WINDOW}"),
    )
    .await;
    assert_eq!(default, weeks);
    // A window starting mid-week: the first bucket is dated by its Monday.
    let cut = read(
        &state,
        "/api/v1/metrics/deployment_frequency?service=checkout&interval=week&since=2024-04-03&until=2024-04-11",
    )
    .await;
    assert_eq!(dates(&cut), ["2024-04-01", "2024-04-08"]);
    assert_eq!(
        values(&cut),
        [json!(1.0), json!(1.0)],
        "d1 is before the window"
    );
}

#[tokio::test]
async fn lead_time_failure_rate_recovery_restore_and_rework_series() {
    let (_directory, state) = posted().await;
    let series = |metric: &str, interval: &str| {
        format!("/api/v1/metrics/{metric}?service=checkout&interval={interval}&{WINDOW}")
    };
    let lead = read(&state, &series("lead_time", "week")).await;
    // Week 04-01: b, 86 400 s (a is the baseline). Week 04-08: c 151 200 and d 108 000 →
    // median 129 600. No changes after.
    assert_eq!(
        values(&lead),
        [
            json!(86_400.0),
            json!(129_600.0),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(lead[1]["changes"], 2);
    assert_eq!(lead[2]["changes"], 0);
    // p90 of {108 000, 151 200}: 108 000 + 0.9 × 43 200 = 146 880.
    assert!(close(&lead[1]["p90_seconds"], 146_880.0), "{}", lead[1]);

    let failure = read(&state, &series("change_failure_rate", "week")).await;
    // Week 04-01: 0 of 2 (a real zero); 04-08: d3 of d3, d4; none in 04-15 and 04-22.
    assert_eq!(
        values(&failure),
        [json!(0.0), json!(0.5), Value::Null, Value::Null, json!(0.0)]
    );
    assert_eq!(
        (
            failure[1]["failed"].clone(),
            failure[1]["deployments"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_eq!(failure[2]["deployments"], 0);

    let recovery = read(&state, &series("recovery_time", "week")).await;
    assert_eq!(
        values(&recovery),
        [
            Value::Null,
            json!(21_600.0),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(
        (
            recovery[1]["failures"].clone(),
            recovery[1]["recovered"].clone()
        ),
        (json!(1), json!(1))
    );

    let restore = read(&state, &series("time_to_restore", "week")).await;
    assert_eq!(
        values(&restore),
        [
            Value::Null,
            Value::Null,
            json!(9_000.0),
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(restore[2]["incidents"], 1);

    let rework = read(&state, &series("rework_rate", "month")).await;
    // April: d4 of d1, d2, d3, d4; May: 0 of d5.
    assert_eq!(values(&rework), [json!(0.25), json!(0.0)]);
    assert_eq!(rework[0]["rework"], 1);

    // The monthly counts add up to the report's figures over the same window.
    let report = read(&state, &format!("/api/v1/report?service=checkout&{WINDOW}")).await;
    let service = &report["services"][0];
    assert_eq!(service["deployments"]["count"], 4);
    assert_eq!(service["change_failure_rate"]["deployments"], 5);
    assert_eq!(service["rework_rate"]["rework"], 1);
}

#[tokio::test]
async fn series_pool_the_chains_the_filters_select() {
    let (_directory, state) = posted().await;
    // Squad payments: checkout and billing. Week 04-01: d1, d2, b1; 04-08: d4; 04-15: none
    // successful (b2 failed); 04-29: d5.
    let payments = read(
        &state,
        &format!("/api/v1/metrics/deployment_frequency?team=payments&interval=week&{WINDOW}"),
    )
    .await;
    assert_eq!(
        values(&payments),
        [json!(3.0), json!(1.0), json!(0.0), json!(0.0), json!(1.0)]
    );
    let failure = read(
        &state,
        &format!("/api/v1/metrics/change_failure_rate?team=payments&interval=week&{WINDOW}"),
    )
    .await;
    assert_eq!(
        values(&failure),
        [json!(0.0), json!(0.5), json!(1.0), Value::Null, json!(0.0)]
    );
    // Tribe growth: search only, one deployment on 04-04.
    let growth = read(
        &state,
        &format!("/api/v1/metrics/deployment_frequency?tribe=growth&interval=month&{WINDOW}"),
    )
    .await;
    assert_eq!(values(&growth), [json!(1.0), json!(0.0)]);
    // The staging environment alone.
    let staging = read(
        &state,
        &format!(
            "/api/v1/metrics/deployment_frequency?environment=staging&interval=month&{WINDOW}"
        ),
    )
    .await;
    assert_eq!(values(&staging), [json!(1.0), json!(0.0)]);
    // Every production deployment: 4 checkout + 1 billing + 5 web + 1 search + 2 legacy.
    let all = read(
        &state,
        &format!("/api/v1/metrics/deployment_frequency?interval=month&{WINDOW}"),
    )
    .await;
    let total: f64 = values(&all).iter().map(|v| v.as_f64().unwrap()).sum();
    assert_eq!(total, 13.0);
}

fn row<'a>(board: &'a Value, group: &str) -> &'a Value {
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["group"] == group)
        .unwrap_or_else(|| panic!("no row {group} in {board}"))
}

fn groups(board: &Value) -> Vec<&str> {
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["group"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_leaderboard_groups_by_squad_tribe_service_and_environment() {
    let (_directory, state) = posted().await;
    let board = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=squad&{WINDOW}"),
    )
    .await;
    assert_eq!(board["schema"], "loopwise.leaderboard.v1");
    assert_eq!(board["group_by"], "team");
    // Successful deployments: payments 5 (d1, d2, d4, d5, b1), storefront 5, unassigned 2
    // (legacy), discovery 1; the tie is broken by name.
    assert_eq!(
        groups(&board),
        ["payments", "storefront", "unassigned", "discovery"]
    );
    let ranks: Vec<i64> = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rank"].as_i64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4]);
    let payments = row(&board, "payments");
    assert_eq!(
        payments["chains"],
        json!([{"service": "billing", "environment": "production"},
               {"service": "checkout", "environment": "production"}])
    );
    assert_eq!(payments["deployments"]["count"], 5);
    // Durations of successful deployments with both times: d1 600, d2 1200, b1 600 → 800.
    assert_eq!(payments["deployments"]["average_duration_seconds"], 800.0);
    // All deployments 7 (with d3 and b2), failed 2.
    assert_eq!(payments["change_failure_rate"]["deployments"], 7);
    assert_eq!(payments["change_failure_rate"]["failed"], 2);
    assert_eq!(payments["change_failure_rate"]["rate"], 2.0 / 7.0);
    assert_eq!(payments["rework_rate"]["rate"], 1.0 / 7.0);
    // Lead times 86 400, 151 200, 108 000 (billing has no history) → median 108 000.
    assert_eq!(payments["lead_time"]["median_seconds"], 108_000.0);
    assert_eq!(payments["lead_time"]["changes"], 3);
    assert_eq!(payments["recovery_time"]["median_seconds"], 21_600.0);
    assert_eq!(payments["time_to_restore"]["median_seconds"], 9_000.0);
    // 5 deployments over 35 days: 1.0 per week. Days with a deployment per week: 3 (04-01,
    // 04-02, 04-03), 1, 0, 0, 1 → median 1.
    assert!(close(&payments["deployments"]["per_week"], 1.0));
    assert_eq!(payments["deployments"]["deploy_days_per_week_median"], 1.0);
    assert!(payments["deployments"]["tier"].is_string());
    assert!(payments["overall"]["reason"].is_string());
    let storefront = row(&board, "storefront");
    assert_eq!(
        storefront["deployments"]["average_duration_seconds"],
        Value::Null
    );
    assert_eq!(storefront["change_failure_rate"]["rate"], 0.0);
    assert_eq!(storefront["lead_time"]["median_seconds"], Value::Null);
    assert_eq!(
        row(&board, "discovery")["deployments"]["average_duration_seconds"],
        3600.0
    );
    assert_eq!(
        row(&board, "unassigned")["chains"],
        json!([{"service": "legacy", "environment": "production"}])
    );

    let tribes = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=tribe&{WINDOW}"),
    )
    .await;
    assert_eq!(groups(&tribes), ["commerce", "unassigned", "growth"]);
    let commerce = row(&tribes, "commerce");
    assert_eq!(commerce["deployments"]["count"], 10);
    assert_eq!(commerce["change_failure_rate"]["deployments"], 12);
    assert_eq!(commerce["chains"].as_array().unwrap().len(), 3);

    let services = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=service&{WINDOW}"),
    )
    .await;
    assert_eq!(
        groups(&services),
        ["web", "checkout", "legacy", "billing", "search"]
    );
    let environments = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=environment&{WINDOW}"),
    )
    .await;
    assert_eq!(groups(&environments), ["production"]);
    assert_eq!(row(&environments, "production")["deployments"]["count"], 13);

    // Filters select chains before grouping; `team` is accepted for `squad`.
    let commerce_squads = read(
        &state,
        &format!("/api/v1/leaderboard?group_by=team&tribe=commerce&{WINDOW}"),
    )
    .await;
    assert_eq!(groups(&commerce_squads), ["payments", "storefront"]);
    // The default grouping is by squad.
    let default = read(&state, &format!("/api/v1/leaderboard?{WINDOW}")).await;
    assert_eq!(default["group_by"], "team");
}

#[tokio::test]
async fn the_report_carries_tribes_and_filters_by_them() {
    let (_directory, state) = posted().await;
    let report = read(&state, &format!("/api/v1/report?tribe=commerce&{WINDOW}")).await;
    let services: Vec<(&str, &str, &str)> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap(),
                s["team"].as_str().unwrap(),
                s["tribe"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            ("billing", "payments", "commerce"),
            ("checkout", "payments", "commerce"),
            ("web", "storefront", "commerce")
        ]
    );
    let legacy = read(&state, &format!("/api/v1/report?service=legacy&{WINDOW}")).await;
    assert_eq!(legacy["services"][0]["team"], Value::Null);
    assert_eq!(legacy["services"][0]["tribe"], Value::Null);
}

#[tokio::test]
async fn bad_reads_are_named_errors() {
    let (_directory, state) = posted().await;
    let (status, body) = call(
        &state,
        get("/api/v1/metrics/velocity?interval=week", Some(READ)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_metric");
    assert_eq!(body["error"]["field"], "metric");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"velocity\"") && message.contains("lead_time"),
        "{message}"
    );
    for (path, field) in [
        ("/api/v1/metrics/lead_time?interval=year", "interval"),
        (
            "/api/v1/metrics/lead_time?interval=day&since=1990-01-01&until=2024-01-01",
            "interval",
        ),
        ("/api/v1/metrics/lead_time?since=yesterday", "since"),
        ("/api/v1/metrics/lead_time?benchmark=dora-1999", "benchmark"),
        ("/api/v1/metrics/lead_time?colour=red", "colour"),
        ("/api/v1/leaderboard?group_by=org", "group_by"),
        (
            "/api/v1/leaderboard?since=2024-05-01&until=2024-04-01",
            "since",
        ),
        ("/api/v1/leaderboard?colour=red", "colour"),
        ("/api/v1/report?since=2024-01-01&since=2024-02-01", "since"),
        ("/api/v1/report?team=ghosts", "team"),
        ("/api/v1/report?service=ghost", "service"),
        ("/api/v1/report?environment=moon", "environment"),
        ("/api/v1/leaderboard?group_by=team&tribe=nowhere", "tribe"),
    ] {
        let (status, body) = call(&state, get(path, Some(READ))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 10);
    }
    for path in ["/api/v1/metrics/lead_time", "/api/v1/leaderboard"] {
        let (status, body) = call(&state, get(path, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let (status, _) = call(&state, get(path, Some(INGEST))).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{path}: an ingest token cannot read"
        );
    }
}

#[tokio::test]
async fn public_reads_open_series_and_leaderboard() {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&directory.path().join("public.db")).unwrap());
    let state = AppState::new(
        store,
        ServerConfig {
            public_reads: true,
            ..ServerConfig::default()
        },
    );
    let (status, series) = call(
        &state,
        get(
            "/api/v1/metrics/change_failure_rate?interval=month&since=2024-01-01&until=2024-03-01",
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Nothing stored: rates are null, not 0.
    assert_eq!(values(&series), [Value::Null, Value::Null]);
    assert_eq!(series[0]["deployments"], 0);
    let (status, board) = call(&state, get("/api/v1/leaderboard", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(board["rows"], json!([]));
}
