//! The reads of `loopwise serve` as a real process: ownership from a config file (teams with
//! their tribes and services, beside the short `service = "team"` form) reaches the report, the
//! leaderboard and the series; the OpenAPI document is served.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn loopwise(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopwise"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    command
}

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(home: &Path, db: &Path, config: &Path) -> Server {
    let mut child = loopwise(home)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--config")
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start loopwise serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0 {
        if let Some(address) = line.trim().strip_prefix("loopwise listening on http://") {
            let address = address.to_string();
            std::thread::spawn(move || for _ in stderr.lines() {});
            return Server { child, address };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server exited before listening");
}

/// One HTTP/1.1 request on a new connection.
fn request(address: &str, head: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{head}\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get(server: &Server, path: &str) -> Value {
    let (status, body) = request(&server.address, &format!("GET {path} HTTP/1.1"), "");
    assert_eq!(status, 200, "{path}: {body}");
    body
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
    let (status, answer) = request(
        &server.address,
        &format!(
            "POST /api/v1/events HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json"
        ),
        &body,
    );
    assert_eq!(
        (status, answer["accepted"].clone()),
        (200, json!(6)),
        "{answer}"
    );

    let window = "since=2024-04-01&until=2024-04-15";
    let tribes = get(
        &server,
        &format!("/api/v1/leaderboard?group_by=tribe&{window}"),
    );
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
    let squads = get(
        &server,
        &format!("/api/v1/leaderboard?group_by=squad&{window}"),
    );
    let names: Vec<&str> = squads["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    // payments 3, then 1 each by name: discovery, ops, unassigned (orphan).
    assert_eq!(names, ["payments", "discovery", "ops", "unassigned"]);

    let report = get(&server, &format!("/api/v1/report?team=ops&{window}"));
    assert_eq!(report["services"][0]["service"], "legacy");
    assert_eq!(report["services"][0]["tribe"], Value::Null);

    let weeks = get(
        &server,
        &format!("/api/v1/metrics/deployment_frequency?tribe=commerce&interval=week&{window}"),
    );
    assert_eq!(
        weeks,
        json!([{"date": "2024-04-01", "value": 2.0, "count": 2},
               {"date": "2024-04-08", "value": 1.0, "count": 1}])
    );

    let document = get(&server, "/api/v1/openapi.json");
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
