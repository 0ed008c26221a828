//! One engine, three doors: for the same repository and deployments, `loopwise analyze
//! --format json`, `loopwise report --format json` on the database it wrote, and `GET
//! /api/v1/report` of a server on that database give equal JSON, including an incident
//! recorded through the events API. The figures are also checked against values worked out by
//! hand, so the three cannot agree on something wrong.

#[allow(dead_code)]
#[path = "analyze/support.rs"]
mod support;

use loopwise_testkit::process::{ServeProcess, create_token, loopwise_command};
use serde_json::Value;
use support::{DAY, HOUR, Scratch, T0};

const BINARY: &str = env!("CARGO_BIN_EXE_loopwise");
/// Four whole calendar weeks, Monday 2023-12-25 to Monday 2024-01-22.
const SINCE: &str = "2023-12-25";
const UNTIL: &str = "2024-01-22";

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn analyze_report_and_the_api_give_equal_json() {
    let scratch = Scratch::new();
    let repo = scratch.repo("shop");
    // T0 is Monday 2024-01-01 00:00 UTC. services/api is the service; services/web is another.
    repo.commit("services/api/a.rs", T0 + HOUR, "api: first");
    repo.tag("v1.0", "HEAD", T0 + 2 * HOUR);
    repo.commit("services/web/w.ts", T0 + DAY, "web: page");
    let broken = repo.commit("services/api/a.rs", T0 + 2 * DAY, "api: retry");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY + HOUR);
    repo.revert(&broken, T0 + 3 * DAY);
    repo.tag("v1.2", "HEAD", T0 + 3 * DAY + 2 * HOUR);
    repo.commit("services/api/b.rs", T0 + 5 * DAY, "hotfix: timeouts");
    repo.tag("v1.3", "HEAD", T0 + 5 * DAY + HOUR);
    repo.commit("services/api/c.rs", T0 + 8 * DAY, "api: cache");
    repo.tag("v1.4", "HEAD", T0 + 8 * DAY + 2 * HOUR);

    let db = scratch.db("parity");
    let config = scratch.file(
        "loopwise.toml",
        &format!(
            "public_reads = true\n\
             [services.api]\n\
             repository = {:?}\n\
             paths = [\"services/api\"]\n\
             deploy_tags = \"v*\"\n\
             hotfix_subject = \"^hotfix\"\n\
             [teams.checkout]\ntribe = \"commerce\"\nservices = [\"api\"]\n",
            repo.path.display().to_string()
        ),
    );
    let home = scratch.home();
    let text = |path: &std::path::Path| path.to_str().unwrap().to_string();
    // The flags say what the config's [services.api] says: the same meaning everywhere.
    let analyze_args = [
        "analyze".to_string(),
        text(&repo.path),
        "--service".into(),
        "api".into(),
        "--path".into(),
        "services/api".into(),
        "--deploy-tags".into(),
        "v*".into(),
        "--hotfix-subject".into(),
        "^hotfix".into(),
        "--since".into(),
        SINCE.into(),
        "--until".into(),
        UNTIL.into(),
        "--format".into(),
        "json".into(),
        "--db".into(),
        text(&db),
        "--config".into(),
        text(&config),
    ];
    let analyze = || {
        let args: Vec<&str> = analyze_args.iter().map(String::as_str).collect();
        support::loopwise(&home, &args).ok()
    };
    analyze();

    // An incident reaches the database through the events API of a server on it.
    let token = create_token(BINARY, &home, &text(&db), "ingest", "ci");
    let mut command = loopwise_command(BINARY, &home);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config);
    let server = ServeProcess::spawn(command);
    let incident = serde_json::json!({
        "type": "incident", "id": "inc-1", "service": "api", "title": "cache stampede",
        "started_at": "2024-01-09T05:00:00Z", "resolved_at": "2024-01-09T07:00:00Z"
    });
    let posted = server.post_events(&token, "application/json", &incident.to_string());
    assert_eq!(posted.status, 200, "{}", posted.body);

    let from_analyze = json_of(&analyze());
    let report = |extra: &[&str]| {
        let mut args = vec![
            "report", "--since", SINCE, "--until", UNTIL, "--format", "json", "--db",
        ];
        let (db, config) = (text(&db), text(&config));
        args.extend([db.as_str(), "--config", config.as_str()]);
        args.extend_from_slice(extra);
        json_of(&support::loopwise(&home, &args).ok())
    };
    let from_report = report(&["--service", "api"]);
    let from_api = server.get_json(&format!(
        "/api/v1/report?service=api&since={SINCE}&until={UNTIL}"
    ));
    assert_eq!(from_analyze, from_report, "analyze and report");
    assert_eq!(from_report, from_api, "report and the API");
    // The server derived nothing at start: it read the facts `analyze` kept in the database
    // (same settings from the config as analyze had from its flags, so the same key).
    let warmed = wait_for_line(&server, "warmed the report cache");
    assert!(
        warmed.contains("derived=0") && warmed.contains("read_kept=1"),
        "{warmed}"
    );

    // The whole organisation is the one service: web has no deployments of its own.
    let organisation = report(&[]);
    assert_eq!(organisation, from_analyze);

    // By hand. Deployments v1.0 … v1.4, all successful: 5.
    let api = &from_analyze["services"][0];
    assert_eq!(api["team"], "checkout");
    assert_eq!(api["tribe"], "commerce");
    assert_eq!(api["deployments"]["count"], 5);
    // Deploy days per whole week: Dec 25: 0; Jan 1: Jan 1, 3, 4, 6 = 4; Jan 8: Jan 9 = 1;
    // Jan 15: 0. Median of 0, 0, 1, 4 = 0.5.
    assert_eq!(api["deployments"]["deploy_days_per_week_median"], 0.5);
    // Lead times of the api's changes (web's commit is not the service's): v1.1 ships "retry"
    // 1 h after it; v1.2 the revert, 2 h; v1.3 the hotfix, 1 h; v1.4 "cache", 2 h. v1.0's
    // change is the baseline. Median of 1 h, 1 h, 2 h, 2 h = 1.5 h.
    assert_eq!(api["lead_time"]["changes"], 4);
    assert_eq!(api["lead_time"]["baseline_changes"], 1);
    assert_eq!(api["lead_time"]["median_seconds"], 5_400.0);
    // Failed: v1.1 (reverted by v1.2), v1.2 (hotfixed by v1.3), v1.4 (the incident, 3 h after
    // it, within 72 h). 3 of 5.
    assert_eq!(api["change_failure_rate"]["failed"], 3);
    assert_eq!(api["change_failure_rate"]["rate"], 0.6);
    // Recovery: v1.1 → v1.2 = 1 d 1 h; v1.2 → v1.3 = 1 d 23 h; v1.4 → resolved = 5 h.
    // Median 1 d 1 h = 90,000 s.
    assert_eq!(api["recovery_time"]["recovered"], 3);
    assert_eq!(api["recovery_time"]["median_seconds"], 90_000.0);
    // Rework: v1.2 (carries the revert) and v1.3 (the hotfix): 2 of 5.
    assert_eq!(api["rework_rate"]["rework"], 2);
    assert_eq!(api["time_to_restore"]["median_seconds"], 7_200.0);
    assert_eq!(api["incidents"][0]["rule"], "latest-before");
    assert_eq!(api["incidents"][0]["deployment"], "api:production:tag:v1.4");
    let provenance = &api["provenance"];
    assert_eq!(provenance["deployments"], "git-tags");
    assert_eq!(provenance["paths"], "services/api");
    assert!(
        provenance["deployment_rule"]
            .as_str()
            .unwrap()
            .contains("tags matching \"v*\""),
        "{provenance}"
    );
    server.terminate();
}

/// The first line of the server's log that contains `needle`, waiting up to 60 s for it.
fn wait_for_line(server: &ServeProcess, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(line) = server.log().lines().find(|line| line.contains(needle)) {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in the server's log:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
