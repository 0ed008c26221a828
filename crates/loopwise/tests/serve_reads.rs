//! The reads of `loopwise serve` as a real process: ownership from a config file (teams with
//! their tribes and services, beside the short `service = "team"` form) reaches the report, the
//! leaderboard and the series; the OpenAPI document is served.

use loopwise_testkit::process::{ServeProcess, loopwise_command};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn loopwise(home: &Path) -> Command {
    loopwise_command(env!("CARGO_BIN_EXE_loopwise"), home)
}

fn start(home: &Path, db: &Path, config: &Path) -> ServeProcess {
    let mut command = loopwise(home);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--config")
        .arg(config);
    ServeProcess::spawn(command)
}

#[test]
fn ownership_from_the_config_file_reaches_reports_leaderboard_and_series() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("reads.db");
    let config = home.path().join("loopwise.toml");
    std::fs::write(
        &config,
        r#"version = 1
public_reads = true

[teams]
legacy = "ops"

[teams.payments]
tribe = "commerce"
services = ["checkout", "billing"]

[teams.discovery]
tribe = "growth"
services = ["search"]
"#,
    )
    .unwrap();
    let output = loopwise(home.path())
        .args(["token", "create", "--scope", "ingest", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let server = start(home.path(), &db, &config);

    let sha = "0123456789abcdef0123456789abcdef01234567";
    // checkout: 04-01 and 04-02 (a Monday and Tuesday); billing 04-09; search 04-03;
    // legacy 04-04; orphan (no owner at all) 04-05.
    let events: Vec<Value> = [
        ("c1", "checkout", "2024-04-01T10:00:00Z"),
        ("c2", "checkout", "2024-04-02T10:00:00Z"),
        ("b1", "billing", "2024-04-09T10:00:00Z"),
        ("s1", "search", "2024-04-03T10:00:00Z"),
        ("l1", "legacy", "2024-04-04T10:00:00Z"),
        ("o1", "orphan", "2024-04-05T10:00:00Z"),
    ]
    .iter()
    .map(|(id, service, time)| {
        json!({"type": "deployment", "id": id, "service": service, "sha": sha, "finished_at": time})
    })
    .collect();
    let body = Value::Array(events).to_string();
    let posted = server.post_events(&token, "application/json", &body);
    let (status, answer) = (posted.status, posted.json());
    assert_eq!(
        (status, answer["accepted"].clone()),
        (200, json!(6)),
        "{answer}"
    );

    let window = "since=2024-04-01&until=2024-04-15";
    let tribes = server.get_json(&format!("/api/v1/leaderboard?group_by=tribe&{window}"));
    let rows: Vec<(String, i64)> = tribes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap().to_string(),
                r["deployments"]["count"].as_i64().unwrap(),
            )
        })
        .collect();
    // commerce: c1, c2, b1; unassigned: legacy (team ops has no tribe) and orphan; growth: s1.
    assert_eq!(
        rows,
        [
            ("commerce".to_string(), 3),
            ("unassigned".to_string(), 2),
            ("growth".to_string(), 1)
        ]
    );
    let squads = server.get_json(&format!("/api/v1/leaderboard?group_by=squad&{window}"));
    let names: Vec<&str> = squads["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    // payments 3, then 1 each by name: discovery, ops, unassigned (orphan).
    assert_eq!(names, ["payments", "discovery", "ops", "unassigned"]);

    let report = server.get_json(&format!("/api/v1/report?team=ops&{window}"));
    assert_eq!(report["services"][0]["service"], "legacy");
    assert_eq!(report["services"][0]["tribe"], Value::Null);

    let weeks = server.get_json(&format!(
        "/api/v1/metrics/deployment_frequency?tribe=commerce&interval=week&{window}"
    ));
    assert_eq!(
        weeks,
        json!([{"date": "2024-04-01", "value": 2.0, "count": 2},
               {"date": "2024-04-08", "value": 1.0, "count": 1}])
    );

    let document = server.get_json("/api/v1/openapi.json");
    assert!(document["paths"]["/api/v1/leaderboard"]["get"].is_object());
}

#[test]
fn a_service_owned_twice_stops_serve_with_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("loopwise.toml");
    std::fs::write(
        &config,
        "[teams]\ncheckout = \"growth\"\n[teams.payments]\nservices = [\"checkout\"]\n",
    )
    .unwrap();
    let output = loopwise(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(home.path().join("x.db"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"checkout\""), "{stderr}");
}
