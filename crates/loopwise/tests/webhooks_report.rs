//! End to end on a real socket: a git repository built with the git CLI, `loopwise serve`
//! mirroring it from a `file://` clone URL, signed GitHub `push` and `deployment_status`
//! deliveries for its real commits, and `GET /api/v1/report` compared with `loopwise analyze`
//! of the same repository and deployments (a deploy log) and with figures worked out by hand.
//! Without a mirror, the report falls back to the push payloads' commit chains and says so.

#[path = "analyze/support.rs"]
#[allow(dead_code)]
mod support;

use loopwise_ingest::webhooks::github::sign;
use loopwise_testkit::process::{ServeProcess, loopwise_command};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{HOUR, Repo, Scratch, T0, WIDE, analyze, assert_seconds, int, number, only_service};

const SECRET: &str = "e2e-webhook-secret";
const CLONE_TOKEN: &str = "e2e-clone-token";
const NULL_SHA: &str = "0000000000000000000000000000000000000000";

/// `loopwise serve` as a child process, logging at info; its stderr (logs) is collected.
struct Server(ServeProcess);

impl Server {
    fn start(home: &Path, db: &Path, config: &Path) -> Server {
        let mut command = loopwise_command(env!("CARGO_BIN_EXE_loopwise"), home);
        command
            .env("RUST_LOG", "info")
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .arg("--config")
            .arg(config);
        Server(ServeProcess::spawn(command))
    }

    /// One HTTP/1.1 request on a new connection: (status, body).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let response = self.0.request(method, path, headers, body);
        (response.status, response.body)
    }

    /// A signed GitHub delivery; asserts it was stored.
    fn deliver(&self, event: &str, delivery: &str, payload: &Value) {
        let body = payload.to_string();
        let signature = sign(SECRET.as_bytes(), body.as_bytes());
        let headers = [
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &signature),
            ("User-Agent", "GitHub-Hookshot/e2e"),
        ];
        let (status, answer) = self.request("POST", "/webhooks/github", &headers, &body);
        assert_eq!(status, 200, "{event} {delivery}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["status"], "stored", "{event} {delivery}: {answer}");
    }

    fn report(&self) -> Value {
        let (status, body) = self.request(
            "GET",
            &format!("/api/v1/report?since={}&until={}", WIDE.0, WIDE.1),
            &[],
            "",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn log(&self) -> String {
        self.0.log()
    }

    /// SIGTERM, and a clean exit.
    fn stop(self) {
        let (exit, log) = self.0.terminate();
        assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}\n{log}");
    }
}

/// The history, with its deployments (sha, deployment id, finished at):
///
/// ```text
/// main:    A ──────────── B ── M ── C ── R        R reverts C
///           \                 /
/// feature:   F1 ── F2 ────────
/// d1 = A at 2h, d2 = M at 8h, d3 = C at 10h, d4 = R at 12h (times after T0)
/// ```
struct History {
    a: String,
    f1: String,
    f2: String,
    b: String,
    m: String,
    c: String,
    r: String,
}

fn first_commit(repo: &Repo) -> String {
    repo.commit("a.txt", T0, "Add a")
}

fn rest_of_history(repo: &Repo, a: String) -> History {
    repo.checkout_new("feature", &a);
    let f1 = repo.commit("f1.txt", T0 + 3 * HOUR, "Feature part one");
    let f2 = repo.commit("f2.txt", T0 + 4 * HOUR, "Feature part two");
    repo.checkout("main");
    let b = repo.commit("b.txt", T0 + 5 * HOUR, "Add b");
    let m = repo.merge("feature", T0 + 6 * HOUR);
    let c = repo.commit("c.txt", T0 + 9 * HOUR, "Risky change");
    let r = repo.revert(&c, T0 + 11 * HOUR);
    History {
        a,
        f1,
        f2,
        b,
        m,
        c,
        r,
    }
}

impl History {
    fn deployments(&self) -> Vec<(&str, u64, i64)> {
        vec![
            (self.a.as_str(), 1001, T0 + 2 * HOUR),
            (self.m.as_str(), 1002, T0 + 8 * HOUR),
            (self.c.as_str(), 1003, T0 + 10 * HOUR),
            (self.r.as_str(), 1004, T0 + 12 * HOUR),
        ]
    }

    /// The pushes to main, as `git push` would have made them: (before, commits oldest first).
    fn pushes(&self) -> Vec<(&str, Vec<&str>)> {
        vec![
            (NULL_SHA, vec![self.a.as_str()]),
            (
                self.a.as_str(),
                vec![
                    self.f1.as_str(),
                    self.f2.as_str(),
                    self.b.as_str(),
                    self.m.as_str(),
                ],
            ),
            (self.m.as_str(), vec![self.c.as_str()]),
            (self.c.as_str(), vec![self.r.as_str()]),
        ]
    }
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).unwrap().to_string()
}

fn repository_json() -> Value {
    json!({
        "id": 4242, "node_id": "R_e2e", "name": "api", "full_name": "acme/api", "private": true,
        "owner": {"name": "acme", "login": "acme", "id": 77, "type": "Organization"},
        "html_url": "https://github.com/acme/api", "clone_url": "https://github.com/acme/api.git",
        "default_branch": "main", "master_branch": "main"
    })
}

/// A `push` payload in the shape of the fixtures in `shared/fixtures/webhooks/github/push/`.
fn push_payload(repo: &Repo, before: &str, commits: &[&str]) -> Value {
    let after = *commits.last().unwrap();
    let commit = |sha: &str| {
        let message = repo.out(&["log", "-1", "--format=%B", sha]);
        let timestamp = repo.out(&["log", "-1", "--format=%aI", sha]);
        json!({
            "id": sha, "tree_id": repo.out(&["rev-parse", &format!("{sha}^{{tree}}")]),
            "distinct": true, "message": message, "timestamp": timestamp,
            "url": format!("https://github.com/acme/api/commit/{sha}"),
            "author": {"name": "Loop Tester", "email": "tester@example.com", "username": "tester"},
            "committer": {"name": "Loop Tester", "email": "tester@example.com", "username": "tester"},
            "added": [], "removed": [], "modified": []
        })
    };
    let listed: Vec<Value> = commits.iter().map(|sha| commit(sha)).collect();
    json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": before == NULL_SHA, "deleted": false, "forced": false, "base_ref": null,
        "compare": format!("https://github.com/acme/api/compare/{before}...{after}"),
        "commits": listed, "head_commit": commit(after),
        "repository": repository_json(),
        "pusher": {"name": "tester", "email": "tester@example.com"},
        "sender": {"login": "tester", "id": 99, "type": "User"}
    })
}

/// A `deployment_status` payload in the shape of the fixtures.
fn deployment_status_payload(sha: &str, id: u64, finished: i64) -> Value {
    json!({
        "action": "created",
        "deployment_status": {
            "id": id * 10, "state": "success", "environment": "production", "description": "",
            "created_at": rfc3339(finished), "updated_at": rfc3339(finished),
            "creator": {"login": "deploy-bot", "id": 5}
        },
        "deployment": {
            "id": id, "sha": sha, "ref": "main", "task": "deploy", "payload": {},
            "original_environment": "production", "environment": "production", "description": null,
            "created_at": rfc3339(finished - 600), "updated_at": rfc3339(finished),
            "creator": {"login": "deploy-bot", "id": 5}
        },
        "repository": repository_json(),
        "sender": {"login": "deploy-bot", "id": 5, "type": "Bot"}
    })
}

fn deliver_history(server: &Server, repo: &Repo, history: &History) {
    for (index, (before, commits)) in history.pushes().into_iter().enumerate() {
        server.deliver(
            "push",
            &format!("push-{index}"),
            &push_payload(repo, before, &commits),
        );
    }
    for (sha, id, finished) in history.deployments() {
        server.deliver(
            "deployment_status",
            &format!("status-{id}"),
            &deployment_status_payload(sha, id, finished),
        );
    }
}

fn write_config(scratch: &Scratch, name: &str, repositories: &str) -> std::path::PathBuf {
    let mirrors = scratch.path().join(format!("{name}-mirrors"));
    scratch.file(
        &format!("{name}.toml"),
        &format!(
            "version = 1\ngithub_webhook_secret = \"{SECRET}\"\npublic_reads = true\n\
             [mirror]\ndirectory = {:?}\n# Only pushes trigger fetches here.\nfetch_interval_seconds = 0\n\
             fetch_timeout_seconds = 60\n{repositories}",
            mirrors.display().to_string()
        ),
    )
}

/// The figures both reports must agree on.
fn figures(service: &Value) -> Value {
    json!({
        "service": service["service"], "environment": service["environment"],
        "deployments": service["deployments"]["count"],
        "lead_time": {
            "changes": service["lead_time"]["changes"],
            "baseline_changes": service["lead_time"]["baseline_changes"],
            "negative_excluded": service["lead_time"]["negative_excluded"],
            "median_seconds": service["lead_time"]["median_seconds"],
            "p90_seconds": service["lead_time"]["p90_seconds"],
            "mean_seconds": service["lead_time"]["mean_seconds"],
        },
        "change_failure_rate": service["change_failure_rate"],
        "recovery_time": {
            "failures": service["recovery_time"]["failures"],
            "recovered": service["recovery_time"]["recovered"],
            "median_seconds": service["recovery_time"]["median_seconds"],
            "p90_seconds": service["recovery_time"]["p90_seconds"],
        },
        "rework_rate": service["rework_rate"],
    })
}

#[test]
fn webhooks_in_report_out_matches_analyze_of_the_same_history() {
    let scratch = Scratch::new();
    let repo = scratch.repo("api");
    let a = first_commit(&repo);
    let clone_url = format!("file://{}", repo.path.display());
    let config = write_config(
        &scratch,
        "mirrored",
        &format!(
            "[repositories.\"acme/api\"]\nclone_url = {clone_url:?}\n\
             [repositories.\"acme/broken\"]\nclone_url = \"http://ada:{CLONE_TOKEN}@127.0.0.1:1/acme/broken.git\"\n"
        ),
    );
    // The server clones the repository at start, when it holds only A; everything after comes
    // through fetches that push deliveries trigger.
    let server = Server::start(&scratch.home(), &scratch.db("serve"), &config);
    let history = rest_of_history(&repo, a);
    deliver_history(&server, &repo, &history);

    // The webhook answers do not wait for the fetch: poll until the mirror's graph is in.
    let started = Instant::now();
    let report = loop {
        let report = server.report();
        let provenance = report["services"][0]["provenance"]["changes"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if provenance == "git history of acme/api (exact commit graph)" {
            break report;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the mirror never caught up: {provenance}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let served = only_service(&report);

    // By hand: d1 ships A (baseline). d2 ships F1, F2, B (the merge M is no change): lead times
    // 8h-3h, 8h-4h, 8h-5h. d3 ships C (1h), d4 ships R (1h). Sorted 1, 1, 3, 4, 5 h: median 3h,
    // p90 at rank 0.9 * 4 = 3.6 → 4h + 0.6h = 4.6h, mean 14h / 5. R reverts C, so d3 failed
    // and d4 remediated it 2h later: 1 of 4 failed, recovery 2h, rework 1 of 4.
    let lead = &served["lead_time"];
    assert_eq!(served["service"], "api");
    assert_eq!(served["environment"], "production");
    assert_eq!(served["deployments"]["count"], 4);
    assert_eq!(
        (int(&lead["changes"]), int(&lead["baseline_changes"])),
        (5, 1)
    );
    assert_eq!(lead["negative_excluded"], 0);
    let hours = |h: i64| Some((h * HOUR) as f64);
    assert_seconds(
        number(&lead["median_seconds"]),
        hours(3),
        "median lead time",
    );
    assert_seconds(
        number(&lead["p90_seconds"]),
        Some((46 * HOUR) as f64 / 10.0),
        "p90 lead time",
    );
    assert_seconds(
        number(&lead["mean_seconds"]),
        Some((14 * HOUR) as f64 / 5.0),
        "mean lead time",
    );
    let recovery = &served["recovery_time"];
    assert_eq!(
        (int(&recovery["failures"]), int(&recovery["recovered"])),
        (1, 1)
    );
    assert_seconds(
        number(&recovery["median_seconds"]),
        hours(2),
        "median recovery",
    );
    assert_seconds(number(&recovery["p90_seconds"]), hours(2), "p90 recovery");
    assert_eq!(served["change_failure_rate"]["failed"], 1);
    assert_eq!(served["change_failure_rate"]["deployments"], 4);
    assert_eq!(served["change_failure_rate"]["rate"], 0.25);
    assert_eq!(served["rework_rate"]["rework"], 1);
    assert_eq!(served["rework_rate"]["rate"], 0.25);

    // `loopwise analyze` of the same repository with the same deployments as a deploy log.
    let mut log = String::from("sha,time,status,id\n");
    for (sha, id, finished) in history.deployments() {
        log.push_str(&format!("{sha},{},success,{id}\n", rfc3339(finished)));
    }
    let deploy_log = scratch.file("deploys.csv", &log);
    let analyzed = analyze(
        &scratch,
        &repo.path,
        &scratch.db("analyze"),
        WIDE,
        &["--deploy-log", deploy_log.to_str().unwrap()],
    );
    assert_eq!(figures(only_service(&analyzed)), figures(served));

    // Fetches are visible in /metrics; the broken repository's failures are counted and its
    // token appears nowhere in the logs.
    let (status, metrics) = server.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    let fetches = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "loopwise_mirror_fetches_total{repository=\"acme/api\",outcome=\"success\"} ",
            )
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        (2..=6).contains(&fetches),
        "the start and at least one push fetched, bursts coalesced: {fetches}"
    );
    assert!(
        metrics.contains(
            "loopwise_mirror_fetches_total{repository=\"acme/broken\",outcome=\"failure\"} 1"
        ),
        "{metrics}"
    );
    let log = server.log();
    assert!(log.contains("mirror fetch failed"), "{log}");
    assert!(log.contains("ada:***@127.0.0.1:1"), "{log}");
    assert!(!log.contains(CLONE_TOKEN), "the clone token leaked: {log}");
    assert!(!log.contains(SECRET), "the webhook secret leaked");
    server.stop();
}

#[test]
fn without_a_mirror_the_report_says_it_used_push_chains() {
    let scratch = Scratch::new();
    let repo = scratch.repo("api");
    let a = first_commit(&repo);
    let history = rest_of_history(&repo, a);
    let config = write_config(&scratch, "pushes", "");
    let server = Server::start(&scratch.home(), &scratch.db("serve"), &config);
    deliver_history(&server, &repo, &history);
    let report = server.report();
    let served = only_service(&report);
    let provenance = served["provenance"]["changes"].as_str().unwrap();
    assert!(
        provenance.starts_with("push payload commit chains of acme/api (approximate"),
        "{provenance}"
    );
    // The chain A ← F1 ← F2 ← B ← M ← C ← R: without the mirror M has one known parent, so
    // it counts as a change: d2 ships F1, F2, B and M (8h-6h). Lead times 1, 1, 2, 3, 4, 5 h:
    // median 2.5h. The revert is in R's message, so the failure is still found.
    assert_eq!(served["lead_time"]["changes"], 6);
    assert_eq!(served["lead_time"]["baseline_changes"], 1);
    assert_seconds(
        number(&served["lead_time"]["median_seconds"]),
        Some((5 * HOUR) as f64 / 2.0),
        "median lead time",
    );
    assert_eq!(served["change_failure_rate"]["failed"], 1);
    assert_seconds(
        number(&served["recovery_time"]["median_seconds"]),
        Some((2 * HOUR) as f64),
        "median recovery",
    );
    server.stop();
}

#[test]
fn a_bad_repository_setting_is_exit_2_naming_it_without_the_token() {
    let scratch = Scratch::new();
    let config = write_config(
        &scratch,
        "bad",
        &format!(
            "[repositories.\"acme/api\"]\nclone_url = \"ftp://ada:{CLONE_TOKEN}@example.com/api\"\n"
        ),
    );
    let run = support::loopwise(
        &scratch.home(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            scratch.db("bad").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("repositories.\"acme/api\".clone_url") && run.stderr.contains("scheme"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(CLONE_TOKEN), "{}", run.stderr);
}
