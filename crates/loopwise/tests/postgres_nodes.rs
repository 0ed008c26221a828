//! Several `loopwise serve` processes on one PostgreSQL database, on real sockets: nodes that
//! start together migrate once; the same and different events sent to both concurrently are
//! stored exactly once; a lost database turns `/readyz` unready and writes into 503 with a
//! retry hint, and the node recovers by itself when the database returns.
//!
//! Needs a PostgreSQL server: run under `scripts/with-postgres.sh` (CI does). Without one the
//! tests skip with a message, except in CI.

use loopwise_store_postgres::testing::{PrivateServer, ScratchDatabase};
use loopwise_testkit::process::{HttpResponse, ServeProcess, loopwise_command};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const BINARY: &str = env!("CARGO_BIN_EXE_loopwise");

fn serve(home: &Path, db: &str) -> ServeProcess {
    let mut command = loopwise_command(BINARY, home);
    command.args(["serve", "--listen", "127.0.0.1:0", "--db", db]);
    // A short wait for a connection, so an outage is answered quickly.
    command.env("LOOPWISE_POSTGRES_CONNECT_TIMEOUT_SECONDS", "2");
    ServeProcess::spawn(command)
}

fn create_token(home: &Path, db: &str, name: &str) -> String {
    loopwise_testkit::process::create_token(BINARY, home, db, "admin", name)
}

fn deployment(id: &str, finished_at: i64) -> String {
    json!({"type": "deployment", "id": id, "service": "checkout", "sha": SHA,
           "finished_at": finished_at})
    .to_string()
}

fn post_events(node: &ServeProcess, token: &str, body: &str, ndjson: bool) -> HttpResponse {
    let content_type = if ndjson {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    node.post_events(token, content_type, body)
}

/// The statuses (`inserted`, `duplicate`, ...) of a batch answer, by event id.
fn outcomes(response: &HttpResponse) -> Vec<(String, String)> {
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| {
            (
                result["id"].as_str().unwrap().to_string(),
                result["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn stored_deployment_ids(url: &str) -> Vec<String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query("SELECT source_id FROM deployments ORDER BY source_id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[test]
fn two_nodes_store_the_same_and_different_events_exactly_once() {
    let Some(database) = ScratchDatabase::create() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // Both nodes start on an empty database at the same moment: both migrate, under the
    // advisory lock, and neither fails.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| serve(home.path(), database.url()));
        let b = scope.spawn(|| serve(home.path(), database.url()));
        (a.join().unwrap(), b.join().unwrap())
    });
    let token = create_token(home.path(), database.url(), "ci");

    const SHARED: usize = 300;
    const OWN: usize = 150;
    let shared: Vec<String> = (0..SHARED)
        .map(|i| deployment(&format!("shared-{i:04}"), 1_714_557_600 + i as i64))
        .collect();
    let own = |node: &str| -> Vec<String> {
        (0..OWN)
            .map(|i| deployment(&format!("{node}-{i:04}"), 1_714_600_000 + i as i64))
            .collect()
    };
    // Per node: the shared events in batches of 25 (node B in reverse order, so the nodes'
    // row locks cross) and its own events one by one, all from concurrent clients.
    let run_node = |node: &ServeProcess, name: &str, reverse: bool| {
        let mut batches: Vec<String> = shared.chunks(25).map(|c| c.join("\n")).collect();
        if reverse {
            batches.reverse();
        }
        let own = own(name);
        std::thread::scope(|scope| {
            let batch_client = scope.spawn(|| {
                batches
                    .iter()
                    .flat_map(|batch| outcomes(&post_events(node, &token, batch, true)))
                    .collect::<Vec<_>>()
            });
            let single_client = scope.spawn(|| {
                own.iter()
                    .flat_map(|event| outcomes(&post_events(node, &token, event, false)))
                    .collect::<Vec<_>>()
            });
            let mut all = batch_client.join().unwrap();
            all.extend(single_client.join().unwrap());
            all
        })
    };
    let (from_a, from_b) = std::thread::scope(|scope| {
        let from_a = scope.spawn(|| run_node(&a, "a", false));
        let from_b = scope.spawn(|| run_node(&b, "b", true));
        (from_a.join().unwrap(), from_b.join().unwrap())
    });

    // Every shared event was inserted by exactly one node and a duplicate on the other.
    for i in 0..SHARED {
        let id = format!("shared-{i:04}");
        let statuses: Vec<&str> = from_a
            .iter()
            .chain(&from_b)
            .filter(|(event, _)| *event == id)
            .map(|(_, status)| status.as_str())
            .collect();
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["duplicate", "inserted"], "{id}: {statuses:?}");
    }
    let own_inserted = |answers: &[(String, String)], prefix: &str| {
        answers
            .iter()
            .filter(|(id, status)| id.starts_with(prefix) && status == "inserted")
            .count()
    };
    assert_eq!(own_inserted(&from_a, "a-"), OWN);
    assert_eq!(own_inserted(&from_b, "b-"), OWN);

    let stored = stored_deployment_ids(database.url());
    assert_eq!(stored.len(), SHARED + 2 * OWN, "each event stored once");
    let mut unique = stored.clone();
    unique.dedup();
    assert_eq!(unique.len(), stored.len());

    // Re-sending everything to the other node changes nothing.
    let everything: Vec<String> = shared.iter().cloned().chain(own("a")).collect();
    let again = outcomes(&post_events(&b, &token, &everything.join("\n"), true));
    assert!(again.iter().all(|(_, status)| status == "duplicate"));
    assert_eq!(
        stored_deployment_ids(database.url()).len(),
        SHARED + 2 * OWN
    );

    // SIGTERM stops a PostgreSQL node cleanly (exit 0), as it does a SQLite one.
    let mut b = b;
    let pid = b.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = b.child.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    let b = serve(home.path(), database.url());

    // Both nodes report the same: they read one database.
    let authorization = format!("Bearer {token}");
    let report = |node: &ServeProcess| {
        let response = node.request(
            "GET",
            "/api/v1/report?since=2024-01-01&until=2024-12-31",
            &[("Authorization", &authorization)],
            "",
        );
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()
    };
    let report_a = report(&a);
    assert_eq!(report_a, report(&b));
    let checkout = &report_a["services"][0];
    assert_eq!(checkout["service"], "checkout");
    assert_eq!(checkout["deployments"]["count"], SHARED + 2 * OWN);
}

fn ready(node: &ServeProcess) -> HttpResponse {
    node.request("GET", "/readyz", &[], "")
}

#[test]
fn a_lost_database_makes_the_node_unready_and_it_recovers_by_itself() {
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let node = serve(home.path(), &url);
    let token = create_token(home.path(), &url, "ci");
    assert_eq!(ready(&node).status, 200);
    let before = post_events(&node, &token, &deployment("before", 1_714_557_600), false);
    assert_eq!(outcomes(&before), [("before".into(), "inserted".into())]);

    server.stop();
    let unready = ready(&node);
    assert_eq!(unready.status, 503, "{}", unready.body);
    let refused = post_events(&node, &token, &deployment("during", 1_714_557_700), false);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(refused.json()["error"]["code"], "unavailable");
    assert!(
        !refused.body.contains("127.0.0.1"),
        "no internals in the answer: {}",
        refused.body
    );

    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(&node).status != 200 {
        assert!(Instant::now() < deadline, "the node did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = post_events(&node, &token, &deployment("after", 1_714_557_800), false);
    assert_eq!(outcomes(&after), [("after".into(), "inserted".into())]);
    assert_eq!(stored_deployment_ids(&url), ["after", "before"]);
}

#[test]
fn an_unreachable_database_at_start_is_a_clear_error_and_exit() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let home = tempfile::tempdir().unwrap();
    let url = format!("postgres://loopwise:hunter2@127.0.0.1:{port}/loopwise");
    let output = loopwise_command(BINARY, home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--db", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "postgres://loopwise:***@127.0.0.1:{port}/loopwise"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
