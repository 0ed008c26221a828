//! `loopwise serve` as a real process on a real socket: tokens from the CLI, events over HTTP,
//! graceful shutdown, and no acknowledged event lost when the process is killed mid-load.

use loopwise_testkit::process::{ServeProcess, loopwise_command, post_events};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const BINARY: &str = env!("CARGO_BIN_EXE_loopwise");

fn loopwise(home: &Path) -> Command {
    loopwise_command(BINARY, home)
}

fn serve(home: &Path, db: &Path) -> ServeProcess {
    let mut command = loopwise(home);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db);
    let server = ServeProcess::spawn(command);
    // stderr is a pipe here: plain text, no terminal colour codes.
    let startup = server.startup_log();
    assert!(
        !startup.contains('\u{1b}'),
        "colour codes in a pipe: {startup:?}"
    );
    server
}

fn create_token(home: &Path, db: &Path) -> String {
    loopwise_testkit::process::create_token(BINARY, home, db.to_str().unwrap(), "ingest", "ci")
}

/// `POST /api/v1/events`: the status and the answer as JSON.
fn post(server: &ServeProcess, token: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = server.post_events(token, content_type, body);
    (response.status, response.json())
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
    let server = serve(directory.path(), &db);
    let (status, answer) = post(&server, &token, "application/json", &deployment(1));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1);
    let (status, answer) = post(&server, "lw_nope", "application/json", &deployment(2));
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "unauthorized");

    // Revoked from the CLI while the server runs: refused at once.
    let revoke = loopwise(directory.path())
        .args(["token", "revoke", "ci", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let (status, _) = post(&server, &token, "application/json", &deployment(3));
    assert_eq!(status, 401);

    let (exit, _) = server.terminate();
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
    let server = serve(directory.path(), &db);
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
                        post_events(&address, &token, "application/json", &deployment(id))
                    });
                    match attempt {
                        Ok(response) if response.status == 200 => acknowledged.push(id),
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
    let restarted = serve(directory.path(), &db);
    let resent: Vec<usize> = results
        .iter()
        .enumerate()
        .flat_map(|(sender, (_, tried))| sender * PER_SENDER..=*tried)
        .collect();
    let batch: Vec<String> = resent.iter().map(|id| deployment(*id)).collect();
    let (status, answer) = post(
        &restarted,
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
    let mut command = loopwise(directory.path());
    command
        .env("LOOPWISE_GITHUB_WEBHOOK_SECRET", "hush-hush-secret")
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
        ]);
    let (exit, log) = ServeProcess::spawn(command).terminate();
    assert!(exit.success());
    // Every line but the announcement of the address, which is plain text.
    let logged: Vec<&str> = log
        .lines()
        .filter(|line| !line.starts_with("loopwise listening on http://"))
        .collect();
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

/// A port someone else holds is the machine's state (exit 1), and the message says how to
/// choose another; no database is written meanwhile.
#[test]
fn a_busy_port_says_how_to_choose_another() {
    let directory = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = loopwise(directory.path())
        .args(["serve", "--listen", &address, "--db"])
        .arg(directory.path().join("x.db"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&address)
            && stderr.contains("already in use")
            && stderr.contains("--listen"),
        "{stderr}"
    );
}

/// An explicit database in a folder that does not exist is refused, naming both, and no
/// folder is created; the default database's folder still is.
#[test]
fn a_database_in_a_missing_folder_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("no-such-folder").join("deeper");
    let db = missing.join("lw.db");
    for command in [
        vec!["serve", "--listen", "127.0.0.1:0", "--db"],
        vec!["report", "--db"],
        vec!["token", "create", "--scope", "read", "--name", "x", "--db"],
    ] {
        let output = loopwise(directory.path())
            .args(&command)
            .arg(&db)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("does not exist") && stderr.contains(&missing.display().to_string()),
            "{command:?}: {stderr}"
        );
    }
    assert!(
        !directory.path().join("no-such-folder").exists(),
        "no folder created"
    );
    let output = loopwise(directory.path())
        .args(["token", "create", "--scope", "read", "--name", "default"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the default database: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        directory
            .path()
            .join(".local/share/loopwise/loopwise.db")
            .is_file()
    );
}
