//! `loopwise serve` as a real process on a real socket: tokens from the CLI, events over HTTP,
//! graceful shutdown, and no acknowledged event lost when the process is killed mid-load.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

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

impl Server {
    fn start(home: &Path, db: &Path) -> Server {
        let mut child = loopwise(home)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                db.to_str().unwrap(),
            ])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start loopwise serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while stderr.read_line(&mut line).expect("read stderr") > 0 {
            // stderr is a pipe here: plain text, no terminal colour codes.
            assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
            if let Some(address) = line.trim().strip_prefix("loopwise listening on http://") {
                let address = address.to_string();
                // Keep draining stderr so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in stderr.lines() {});
                return Server { child, address };
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server exited before listening");
    }

    fn post(&self, path: &str, token: &str, content_type: &str, body: &str) -> (u16, Value) {
        post(&self.address, path, token, content_type, body)
    }
}

/// One HTTP/1.1 request on a new connection; panics when the server cannot be reached.
fn post(address: &str, path: &str, token: &str, content_type: &str, body: &str) -> (u16, Value) {
    {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            address,
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_token(home: &Path, db: &Path) -> String {
    let output = loopwise(home)
        .args([
            "token",
            "create",
            "--scope",
            "ingest",
            "--name",
            "ci",
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(token.lines().count(), 1, "the token alone on stdout");
    token.trim().to_string()
}

fn deployment(id: usize) -> String {
    json!({"type": "deployment", "id": format!("d{id}"), "service": "checkout", "sha": SHA,
           "finished_at": 1_714_557_600 + id as i64})
    .to_string()
}

fn stored_deployments(db: &Path) -> i64 {
    let connection = rusqlite::Connection::open(db).unwrap();
    connection
        .query_row("SELECT count(*) FROM deployments", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn serves_events_with_cli_tokens_and_stops_gracefully() {
    let directory = tempfile::tempdir().unwrap();
    let db = directory.path().join("serve.db");
    let token = create_token(directory.path(), &db);
    let server = Server::start(directory.path(), &db);
    let (status, answer) =
        server.post("/api/v1/events", &token, "application/json", &deployment(1));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1);
    let (status, answer) = server.post(
        "/api/v1/events",
        "lw_nope",
        "application/json",
        &deployment(2),
    );
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "unauthorized");

    // Revoked from the CLI while the server runs: refused at once.
    let revoke = loopwise(directory.path())
        .args(["token", "revoke", "ci", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let (status, _) = server.post("/api/v1/events", &token, "application/json", &deployment(3));
    assert_eq!(status, 401);

    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    assert_eq!(stored_deployments(&db), 1);
}

#[test]
fn no_acknowledged_event_is_lost_when_the_server_is_killed() {
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 100_000;
    let directory = tempfile::tempdir().unwrap();
    let db = directory.path().join("kill.db");
    let token = create_token(directory.path(), &db);
    let server = Server::start(directory.path(), &db);
    // Concurrent clients (so the store commits their events in shared groups) send events one
    // by one, each its own ids, and remember which were acknowledged and the last one tried,
    // until the server dies under them.
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let address = server.address.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut tried = 0;
                for id in sender * PER_SENDER..(sender + 1) * PER_SENDER {
                    tried = id;
                    let attempt = std::panic::catch_unwind(|| {
                        post(
                            &address,
                            "/api/v1/events",
                            &token,
                            "application/json",
                            &deployment(id),
                        )
                    });
                    match attempt {
                        Ok((200, _)) => acknowledged.push(id),
                        _ => break,
                    }
                }
                (acknowledged, tried)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: no chance to clean up
    server.child.wait().unwrap();
    let results: Vec<(Vec<usize>, usize)> =
        senders.into_iter().map(|s| s.join().unwrap()).collect();
    let acknowledged: Vec<usize> = results.iter().flat_map(|(ids, _)| ids.clone()).collect();
    assert!(
        results.iter().all(|(ids, _)| ids.len() > 10),
        "every sender ran before the kill: {:?}",
        results.iter().map(|(ids, _)| ids.len()).collect::<Vec<_>>()
    );

    let stored: std::collections::HashSet<String> = {
        let connection = rusqlite::Connection::open(&db).unwrap();
        let mut statement = connection
            .prepare("SELECT source_id FROM deployments")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let lost: Vec<&usize> = acknowledged
        .iter()
        .filter(|id| !stored.contains(&format!("d{id}")))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // Re-sending everything each sender tried, the unanswered last ones included, creates no
    // duplicates.
    let restarted = Server::start(directory.path(), &db);
    let resent: Vec<usize> = results
        .iter()
        .enumerate()
        .flat_map(|(sender, (_, tried))| sender * PER_SENDER..=*tried)
        .collect();
    let batch: Vec<String> = resent.iter().map(|id| deployment(*id)).collect();
    let (status, answer) = restarted.post(
        "/api/v1/events",
        &token,
        "application/x-ndjson",
        &batch.join("\n"),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["accepted"].as_u64().unwrap() + answer["duplicates"].as_u64().unwrap(),
        resent.len() as u64
    );
    assert!(answer["duplicates"].as_u64().unwrap() >= acknowledged.len() as u64);
    assert_eq!(
        stored_deployments(&db),
        resent.len() as i64,
        "each event stored exactly once"
    );
}

#[test]
fn config_default_prints_a_file_that_serve_accepts() {
    let directory = tempfile::tempdir().unwrap();
    let output = loopwise(directory.path())
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("version = 1"));
    let bad = directory.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\nlisten = \"127.0.0.1:0\"\nlistn = 3\n").unwrap();
    let output = loopwise(directory.path())
        .args([
            "serve",
            "--config",
            bad.to_str().unwrap(),
            "--db",
            directory.path().join("x.db").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml") && stderr.contains("listn"),
        "{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_without_secrets() {
    let directory = tempfile::tempdir().unwrap();
    let db = directory.path().join("logs.db");
    let mut child = loopwise(directory.path())
        .env("LOOPWISE_GITHUB_WEBHOOK_SECRET", "hush-hush-secret")
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut logged = Vec::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if line.starts_with("loopwise listening on http://") {
            break;
        }
        logged.push(std::mem::take(&mut line));
    }
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let rest: Vec<String> = stderr.lines().map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    logged.extend(rest);
    let objects: Vec<Value> = logged
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    // Without RUST_LOG, serve logs at info: its start (with the bound address as a field) and
    // its stop.
    let serving = objects
        .iter()
        .find(|object| object["message"] == "loopwise serving")
        .unwrap_or_else(|| panic!("{logged:?}"));
    assert_eq!(serving["level"], "INFO");
    assert!(
        serving["address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(objects.iter().any(|o| o["message"] == "loopwise stopped"));
    assert!(!logged.concat().contains("hush-hush-secret"));
}
