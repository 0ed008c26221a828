//! `loopwise report` as a user runs it: over a database `analyze` wrote, with a leaderboard by
//! `--group-by`, and refusing what it cannot answer (exit 2, the flag named) instead of printing
//! an empty report.

#[allow(dead_code)]
#[path = "analyze/support.rs"]
mod support;

use support::{DAY, HOUR, Scratch, T0};

#[test]
fn a_database_is_reported_on_without_importing_and_bad_filters_are_named() {
    let scratch = Scratch::new();
    let repo = scratch.repo("api");
    repo.commit("a.rs", T0 + HOUR, "first");
    repo.tag("v1.0", "HEAD", T0 + 2 * HOUR);
    repo.commit("b.rs", T0 + DAY, "second");
    repo.tag("v1.1", "HEAD", T0 + DAY + 3 * HOUR);
    let db = scratch.db("report");
    let home = scratch.home();
    let db_text = db.to_str().unwrap().to_string();
    let config = scratch.file(
        "loopwise.toml",
        "[teams.core]\ntribe = \"platform\"\nservices = [\"api\"]\n",
    );
    let config_text = config.to_str().unwrap().to_string();
    support::loopwise(
        &home,
        &[
            "analyze",
            repo.path.to_str().unwrap(),
            "--deploy-tags",
            "v*",
            "--db",
            &db_text,
            "--format",
            "json",
        ],
    )
    .ok();
    let rows_before = support::row_counts(&db);

    let window = ["--since", "2023-12-25", "--until", "2024-01-22"];
    let run = |extra: &[&str]| {
        let mut args = vec!["report", "--db", &db_text, "--config", &config_text];
        args.extend_from_slice(&window);
        args.extend_from_slice(extra);
        support::loopwise(&home, &args)
    };
    let report: serde_json::Value =
        serde_json::from_str(&run(&["--format", "json", "--team", "core"]).ok()).unwrap();
    let api = support::only_service(&report);
    assert_eq!(api["team"], "core");
    assert_eq!(api["deployments"]["count"], 2);
    // v1.1 ships "second", authored at T0 + 1 d and deployed 3 h later.
    assert_eq!(api["lead_time"]["median_seconds"], 3.0 * HOUR as f64);

    let board: serde_json::Value =
        serde_json::from_str(&run(&["--group-by", "tribe", "--format", "json"]).ok()).unwrap();
    assert_eq!(board["group_by"], "tribe");
    assert_eq!(board["rows"][0]["group"], "platform");
    assert_eq!(board["rows"][0]["deployments"]["count"], 2);
    let csv = run(&["--group-by", "team", "--format", "csv"]).ok();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("rank,group,deployments,"));
    assert!(lines.next().unwrap().starts_with("1,core,2,"), "{csv}");
    let table = run(&["--group-by", "service"]).ok();
    assert!(table.contains("Leaderboard by Service"), "{table}");

    for (extra, named) in [
        (&["--team", "ghosts"][..], "--team"),
        (&["--tribe", "core"][..], "--tribe"),
        (&["--service", "nothing"][..], "--service"),
        (&["--environment", "moon"][..], "--environment"),
        (&["--group-by", "planet"][..], "--group-by"),
        (&["--benchmark", "dora-1999"][..], "--benchmark"),
    ] {
        let refused = run(extra);
        assert_eq!(refused.status, 2, "{extra:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(named),
            "{extra:?}: {}",
            refused.stderr
        );
        assert!(refused.stdout.is_empty(), "{extra:?}: {}", refused.stdout);
    }
    assert_eq!(
        support::row_counts(&db),
        rows_before,
        "report writes nothing"
    );

    let missing = scratch.path().join("nowhere.db");
    let refused = support::loopwise(&home, &["report", "--db", missing.to_str().unwrap()]);
    assert_eq!(refused.status, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("nowhere.db"), "{}", refused.stderr);
    assert!(!missing.exists(), "no database is created by a report");
}
