//! `loopwise record` as a real process: against a real `loopwise serve` on a real socket, and
//! against tiny scripted servers for the retry paths.

use loopwise_testkit::process::{ServeProcess, loopwise_command};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const BINARY: &str = env!("CARGO_BIN_EXE_loopwise");

fn loopwise(home: &Path) -> Command {
    loopwise_command(BINARY, home)
}

/// `loopwise record deployment --service SERVICE --sha SHA`, for a test to add the rest to.
fn record_deployment(home: &Path, service: &str) -> Command {
    let mut command = loopwise(home);
    command.args(["record", "deployment", "--service", service, "--sha", SHA]);
    command
}

fn serve(home: &Path, db: &Path) -> ServeProcess {
    let mut command = loopwise(home);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db);
    ServeProcess::spawn(command)
}

fn create_token(home: &Path, db: &Path) -> String {
    loopwise_testkit::process::create_token(BINARY, home, db.to_str().unwrap(), "ingest", "ci")
}

fn count(db: &Path, table: &str) -> i64 {
    let connection = rusqlite::Connection::open(db).unwrap();
    connection
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One request read off a connection: its head and its body.
fn read_request(stream: &mut TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned();
                return (head, body);
            }
        }
        let read = stream.read(&mut buffer).expect("read the request");
        assert!(read > 0, "the client closed the connection mid-request");
        data.extend_from_slice(&buffer[..read]);
    }
}

/// A server that answers one connection after another with the given raw responses, then stops
/// listening; it reports each request it read.
fn scripted_server(responses: Vec<String>) -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let request = read_request(&mut stream);
            let _ = sender.send(request);
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.flush();
        }
    });
    (format!("http://{address}"), receiver)
}

fn response(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn records_events_once_and_says_so_when_sent_again() {
    let directory = tempfile::tempdir().unwrap();
    let db = directory.path().join("record.db");
    let token = create_token(directory.path(), &db);
    let server = serve(directory.path(), &db);
    let deployment = [
        "record",
        "deployment",
        "--service",
        "checkout",
        "--sha",
        SHA,
        "--environment",
        "production",
        "--started-at",
        "2024-05-01T09:55:00Z",
        "--finished-at",
        "2024-05-01T10:00:00Z",
    ];
    let first = loopwise(directory.path())
        .args(deployment)
        .args(["--server", &server.url(), "--token", &token])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", describe(&first));
    let line = text(&first.stdout);
    assert!(
        line.starts_with("recorded deployment d-") && line.ends_with(" (inserted)\n"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);

    // Sent again, by the environment this time: the derived id is the same, so it is a
    // duplicate and stored once.
    let again = loopwise(directory.path())
        .args(deployment)
        .env("LOOPWISE_SERVER", server.url())
        .env("LOOPWISE_TOKEN", &token)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", describe(&again));
    assert_eq!(
        text(&again.stdout),
        line.replace("(inserted)", "(duplicate)")
    );
    assert_eq!(count(&db, "deployments"), 1);

    let incident = loopwise(directory.path())
        .args([
            "record",
            "--server",
            &server.url(),
            "--token",
            &token,
            "incident",
            "--id",
            "inc-7",
            "--action",
            "resolve",
            "--service",
            "checkout",
            "--title",
            "Checkout down",
            "--started-at",
            "2024-05-01T10:05:00Z",
            "--resolved-at",
            "1714558500",
            "--caused-by",
            SHA,
        ])
        .output()
        .unwrap();
    assert!(incident.status.success(), "{}", describe(&incident));
    assert_eq!(
        text(&incident.stdout),
        "recorded incident inc-7 (inserted)\n"
    );

    let change = loopwise(directory.path())
        .args(["record", "change", "--repository", "acme/checkout"])
        .args(["--sha", SHA, "--author-time", "2024-04-30"])
        .args(["--parents", "abcdef1,abcdef2", "--message", "Fix\n\nbody"])
        .args(["--server", &server.url(), "--token", &token])
        .output()
        .unwrap();
    assert!(change.status.success(), "{}", describe(&change));
    assert_eq!(
        text(&change.stdout),
        format!("recorded change {SHA} (inserted)\n")
    );
}

#[test]
fn a_rejection_exits_2_with_the_reason_and_never_shows_the_token() {
    let directory = tempfile::tempdir().unwrap();
    let db = directory.path().join("reject.db");
    let token = create_token(directory.path(), &db);
    let server = serve(directory.path(), &db);
    let secret = "lw_not_a_real_token_0123456789";
    let output = record_deployment(directory.path(), "checkout")
        .args(["--server", &server.url(), "--retries", "3"])
        .env("LOOPWISE_TOKEN", secret)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr,
        "error: the server rejected the event: the token is unknown or revoked (HTTP 401)\n"
    );
    assert!(output.stdout.is_empty());
    assert!(!stderr.contains(secret));

    // The help never shows the token from the environment.
    let help = loopwise(directory.path())
        .args(["record", "deployment", "--help"])
        .env("LOOPWISE_TOKEN", secret)
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("LOOPWISE_TOKEN"));
    assert!(!text(&help.stdout).contains(secret));

    // Valid here, refused by the server (422): the server's reason is shown.
    let output = record_deployment(directory.path(), "checkout")
        .args(["--source", "carrier-pigeon"])
        .args(["--server", &server.url(), "--token", &token])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .starts_with("error: the server rejected the event: unknown source \"carrier-pigeon\"")
            && stderr.contains("(HTTP 422)")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
    assert_eq!(count(&db, "deployments"), 0);
}

#[test]
fn bad_input_exits_2_before_any_request() {
    let directory = tempfile::tempdir().unwrap();
    // A listener that would see any connection; it is never accepted from.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "deployment",
                "--service",
                "s",
                "--sha",
                SHA,
                "--finished-at",
                "yesterday",
            ],
            "--finished-at: invalid time \"yesterday\"",
        ),
        (
            &["incident", "--id", "i", "--started-at", "2024-13-01"],
            "--started-at: invalid time",
        ),
        (
            &[
                "change",
                "--repository",
                "r",
                "--sha",
                "not-hex",
                "--author-time",
                "0",
            ],
            "--sha: \"not-hex\" is not a commit id",
        ),
        (
            &[
                "incident",
                "--id",
                "i",
                "--started-at",
                "2024-05-01",
                "--action",
                "resolve",
            ],
            "--action resolve needs --resolved-at",
        ),
        (
            &["deployment", "--service", "s", "--sha", SHA, "--token", ""],
            "no token: pass --token or set LOOPWISE_TOKEN",
        ),
    ];
    for (args, message) in cases {
        let output = loopwise(directory.path())
            .arg("record")
            .args(args)
            .args(["--server", &server, "--retries", "0"])
            .env("LOOPWISE_TOKEN", "lw_x")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
    }
    let no_token = record_deployment(directory.path(), "s")
        .args(["--server", &server])
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2), "{}", describe(&no_token));
    let bad_server = record_deployment(directory.path(), "s")
        .args(["--server", "127.0.0.1:7878", "--token", "lw_x"])
        .output()
        .unwrap();
    assert_eq!(
        bad_server.status.code(),
        Some(2),
        "{}",
        describe(&bad_server)
    );
    assert!(text(&bad_server.stderr).contains("--server"));
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a request was made: {other:?}"),
    }
}

#[test]
fn a_server_that_is_down_is_retried_then_named() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let output = record_deployment(directory.path(), "s")
        .args(["--server", &url, "--token", "lw_secret_token"])
        .args(["--retries", "2", "--backoff-ms", "10"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("retry ").count(), 2, "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: could not record the event at {url}/api/v1/events after 3 attempts: "
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("lw_secret_token"));
    assert!(output.stdout.is_empty());
}

#[test]
fn a_503_is_retried_after_its_retry_after_and_then_succeeds() {
    let directory = tempfile::tempdir().unwrap();
    let unavailable = response(
        "503 Service Unavailable",
        "Retry-After: 0\r\n",
        r#"{"error":{"code":"unavailable","message":"the database is unavailable; retry later"}}"#,
    );
    let ok = response(
        "200 OK",
        "",
        r#"{"accepted":1,"duplicates":0,"rejected":[],"results":[{"index":0,"type":"deployment","id":"d-42","status":"inserted"}]}"#,
    );
    let (url, requests) = scripted_server(vec![unavailable, ok]);
    let started = Instant::now();
    let output = record_deployment(directory.path(), "checkout")
        .args(["--id", "d-42", "--finished-at", "2024-05-01T10:00:00+02:00"])
        .args(["--server", &url, "--token", "lw_tok"])
        // Without Retry-After the wait would be a minute; the server's 0 is honoured.
        .args(["--backoff-ms", "60000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        text(&output.stdout),
        "recorded deployment d-42 (inserted)\n"
    );
    assert!(
        text(&output.stderr).contains("HTTP 503: the database is unavailable; retry later"),
        "{}",
        describe(&output)
    );
    let (head, body) = requests.recv().unwrap();
    let (second_head, second_body) = requests.recv().unwrap();
    assert_eq!(body, second_body, "the same event both times");
    assert!(
        head.starts_with("POST /api/v1/events HTTP/1.1\r\n"),
        "{head}"
    );
    let lower = second_head.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nauthorization: bearer lw_tok"),
        "{second_head}"
    );
    assert!(
        lower.contains("\r\ncontent-type: application/json"),
        "{second_head}"
    );
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        event,
        serde_json::json!({"type": "deployment", "id": "d-42", "service": "checkout",
                           "sha": SHA, "finished_at": "2024-05-01T08:00:00Z"})
    );
}

#[test]
fn other_client_errors_are_not_retried_and_server_errors_exit_1() {
    let directory = tempfile::tempdir().unwrap();
    let bad_request = response(
        "400 Bad Request",
        "",
        r#"{"error":{"code":"invalid_json","message":"the body is not valid JSON"}}"#,
    );
    let (url, requests) = scripted_server(vec![bad_request.clone(), bad_request]);
    let output = record_deployment(directory.path(), "s")
        .args(["--server", &url, "--token", "lw_tok", "--backoff-ms", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(
        text(&output.stderr),
        "error: the server rejected the event: the body is not valid JSON (HTTP 400)\n"
    );
    requests.recv().unwrap();
    assert!(requests.try_recv().is_err(), "a 400 is not retried");

    let (url, requests) = scripted_server(vec![response(
        "500 Internal Server Error",
        "",
        r#"{"error":{"code":"internal","message":"internal error"}}"#,
    )]);
    let output = record_deployment(directory.path(), "s")
        .args(["--server", &url, "--token", "lw_tok", "--backoff-ms", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: could not record the event at {url}/api/v1/events: HTTP 500: internal error\n"
        )
    );
    requests.recv().unwrap();
}

#[test]
fn a_silent_server_times_out() {
    let directory = tempfile::tempdir().unwrap();
    // Connections complete in the backlog, but nothing ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let started = Instant::now();
    let output = record_deployment(directory.path(), "s")
        .args(["--server", &url, "--token", "lw_tok"])
        .args(["--timeout", "1", "--retries", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        text(&output.stderr).contains("after 1 attempt: no answer within 1 s"),
        "{}",
        describe(&output)
    );
    drop(listener);
}
