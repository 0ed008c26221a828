//! Change failure rate, recovery time and rework from git alone (reverts, hotfix patterns) and
//! from deploy logs (failure status, rollbacks), computed by hand.

use crate::oracle::{Deploy, assert_matches, expected, sort, tag_deploys};
use crate::support::{
    DAY, HOUR, Scratch, T0, WIDE, WIDE_T, analyze, assert_seconds, int, number, only_service,
};
use serde_json::Value;

/// The counted failure figures of a service.
#[derive(Debug, PartialEq)]
struct Failures {
    failed: i64,
    deployments: i64,
    recovered: i64,
    rework: i64,
}

fn failures(service: &Value) -> Failures {
    assert_eq!(
        service["recovery_time"]["failures"], service["change_failure_rate"]["failed"],
        "recovery_time.failures counts the failed deployments"
    );
    assert_eq!(
        service["rework_rate"]["deployments"], service["change_failure_rate"]["deployments"],
        "both rates divide by all deployments"
    );
    Failures {
        failed: int(&service["change_failure_rate"]["failed"]),
        deployments: int(&service["change_failure_rate"]["deployments"]),
        recovered: int(&service["recovery_time"]["recovered"]),
        rework: int(&service["rework_rate"]["rework"]),
    }
}

fn assert_rate(value: &Value, numerator: i64, denominator: i64, what: &str) {
    assert_seconds(
        number(value),
        Some(numerator as f64 / denominator as f64),
        what,
    );
}

#[test]
fn e_a_revert_shipped_later_fails_the_deployment_that_shipped_the_original() {
    let scratch = Scratch::new();
    let repo = scratch.repo("reverts");
    repo.commit("base.txt", T0, "c1");
    repo.tag("v1", "HEAD", T0 + HOUR);
    let x = repo.commit("feature.txt", T0 + DAY, "X: risky feature");
    repo.commit("other.txt", T0 + DAY + HOUR, "c2");
    repo.tag("v2", "HEAD", T0 + 2 * DAY);
    repo.commit("other.txt", T0 + 3 * DAY, "c3");
    repo.revert(&x, T0 + 4 * DAY);
    repo.tag("v3", "HEAD", T0 + 5 * DAY);
    // A revert shipped together with what it reverts never failed in production.
    let y = repo.commit("feature2.txt", T0 + 6 * DAY, "Y: another idea");
    repo.commit("other.txt", T0 + 6 * DAY + HOUR, "c4");
    repo.revert(&y, T0 + 6 * DAY + 2 * HOUR);
    repo.tag("v4", "HEAD", T0 + 7 * DAY);

    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    // By hand: v2 shipped X and v3 shipped its revert → v2 failed, v3 remediated it (rework).
    // v4 shipped Y and its revert together → neither failed nor rework.
    assert_eq!(
        failures(service),
        Failures {
            failed: 1,
            deployments: 4,
            recovered: 1,
            rework: 1,
        },
        "{service:#}"
    );
    assert_rate(&service["change_failure_rate"]["rate"], 1, 4, "rate");
    assert_rate(&service["rework_rate"]["rate"], 1, 4, "rework rate");
    // Recovery: time(v3) − time(v2) = 5d − 2d.
    let recovery = &service["recovery_time"];
    assert_seconds(
        number(&recovery["median_seconds"]),
        Some((3 * DAY) as f64),
        "recovery median",
    );
    assert_seconds(
        number(&recovery["p90_seconds"]),
        Some((3 * DAY) as f64),
        "recovery p90",
    );
    // Reverts are changes like any other for lead time.
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_matches(service, &expected(&repo, &deploys, &[], WIDE_T));
}

/// v1, v2, hotfix-2.1, v3 (ships a commit whose subject starts with "hotfix"), v4, hotfix-4.1,
/// hotfix-4.2; all on main.
fn hotfix_history(repo: &crate::support::Repo) {
    repo.commit("f.txt", T0, "init");
    repo.tag("v1", "HEAD", T0 + DAY);
    repo.commit("f.txt", T0 + 2 * DAY, "feature two");
    repo.tag("v2", "HEAD", T0 + 3 * DAY);
    repo.commit("f.txt", T0 + 3 * DAY + 2 * HOUR, "fix crash");
    repo.tag("hotfix-2.1", "HEAD", T0 + 3 * DAY + 4 * HOUR);
    repo.commit("f.txt", T0 + 5 * DAY, "feature three");
    repo.commit("f.txt", T0 + 5 * DAY + HOUR, "hotfix: null check in parser");
    repo.tag("v3", "HEAD", T0 + 6 * DAY);
    // Not a match for '^hotfix': the regular expression is case-sensitive and anchored.
    repo.commit("f.txt", T0 + 8 * DAY, "Hotfix-style refactor, not a hotfix");
    repo.commit("f.txt", T0 + 8 * DAY + HOUR, "refactor the hotfix path");
    repo.tag("v4", "HEAD", T0 + 9 * DAY);
    repo.commit("f.txt", T0 + 9 * DAY + HOUR, "fix crash again");
    repo.tag("hotfix-4.1", "HEAD", T0 + 9 * DAY + 2 * HOUR);
    repo.commit("f.txt", T0 + 9 * DAY + 4 * HOUR, "fix the fix");
    repo.tag("hotfix-4.2", "HEAD", T0 + 9 * DAY + 5 * HOUR);
}

#[test]
fn f_hotfix_tags_and_hotfix_subjects_remediate_the_deployment_before() {
    let scratch = Scratch::new();
    let repo = scratch.repo("hotfixes");
    hotfix_history(&repo);

    // Hotfix tags are deployments too, each remediating the deployment before it:
    //   hotfix-2.1 → v2 failed, recovered in 4h
    //   hotfix-4.1 → v4 failed, recovered in 2h
    //   hotfix-4.2 → hotfix-4.1 failed, recovered in 3h
    // failed 3 of 7; recovery 7200, 10800, 14400: median 10800, p90 h = 1.8 → 13680; rework 3.
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("tags"),
        WIDE,
        &["--deploy-tags", "v*", "--hotfix-tags", "hotfix-*"],
    );
    let service = only_service(&report);
    assert_eq!(
        failures(service),
        Failures {
            failed: 3,
            deployments: 7,
            recovered: 3,
            rework: 3,
        },
        "{service:#}"
    );
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(10_800.0),
        "recovery median",
    );
    assert_seconds(
        number(&service["recovery_time"]["p90_seconds"]),
        Some(13_680.0),
        "recovery p90",
    );
    let deploys = tag_deploys(&repo, &["refs/tags/v*", "refs/tags/hotfix-*"]);
    assert_eq!(deploys.len(), 7);
    assert_matches(service, &expected(&repo, &deploys, &[], WIDE_T));

    // Subjects only: v1 … v4 are the deployments. v3 ships "hotfix: null check in parser", so
    // it remediates v2: failed 1 of 4, recovery 6d − 3d = 259200, rework 1. v4's subjects do
    // not match '^hotfix'.
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("subjects"),
        WIDE,
        &["--deploy-tags", "v*", "--hotfix-subject", "^hotfix"],
    );
    let service = only_service(&report);
    assert_eq!(
        failures(service),
        Failures {
            failed: 1,
            deployments: 4,
            recovered: 1,
            rework: 1,
        },
        "{service:#}"
    );
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some((3 * DAY) as f64),
        "recovery median",
    );
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_matches(service, &expected(&repo, &deploys, &[], WIDE_T));

    // Both: hotfix-2.1 ships "fix crash", so v3 ships only "feature three" and the hotfix
    // commit, and remediates the deployment before it, hotfix-2.1.
    //   v2 failed (hotfix-2.1, 4h = 14400); hotfix-2.1 failed (v3, 6d − 3d4h = 244800);
    //   v4 failed (2h = 7200); hotfix-4.1 failed (3h = 10800)
    // failed 4 of 7; recovery sorted 7200 10800 14400 244800: median 12600,
    // p90 h = 2.7 → 14400 + 0.7 × 230400 = 175680; rework 4 (hotfix-2.1, v3, hotfix-4.1, -4.2).
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("both"),
        WIDE,
        &[
            "--deploy-tags",
            "v*",
            "--hotfix-tags",
            "hotfix-*",
            "--hotfix-subject",
            "^hotfix",
        ],
    );
    let service = only_service(&report);
    assert_eq!(
        failures(service),
        Failures {
            failed: 4,
            deployments: 7,
            recovered: 4,
            rework: 4,
        },
        "{service:#}"
    );
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(12_600.0),
        "recovery median",
    );
    assert_seconds(
        number(&service["recovery_time"]["p90_seconds"]),
        Some(175_680.0),
        "recovery p90",
    );
}

/// c1 … c8 on main, c_i authored and committed at T0 + 6h·i.
fn deploy_log_history(repo: &crate::support::Repo) -> Vec<String> {
    (1..=8)
        .map(|i| repo.commit("app.txt", T0 + i * 6 * HOUR, &format!("c{i}")))
        .collect()
}

/// The figures both deploy logs below must give, by hand.
///
/// | # | sha | time | status | kind |
/// |---|---|---|---|---|
/// | D1 | c2 | 1d | success | normal |
/// | D2 | c4 | 3d | success | normal |
/// | D3 | c6 | 4d | failure | normal |
/// | D4 | c6 | 4d 6h | success | normal |
/// | D5 | c8 | 5d | success | normal |
/// | D6 | c6 | 5d 2h | success | rollback |
///
/// - Failed: D3 (its status) and D5 (rolled back by D6): 2 of 6; rework: D6, 1 of 6.
/// - Recovery: D5 → D6 = 2h = 7200; D3 has no remediating deployment (1 of 2 recovered).
/// - Successful deployments: 5.
/// - Lead time: D1 is the baseline (c1, c2). D2 ships c3 (54h), c4 (48h). D3 failed, so its
///   commits c5, c6 first reach production with D4: 102h − 30h = 72h, 102h − 36h = 66h. D5
///   ships c7 (78h), c8 (72h). The rollback D6 ships nothing.
///   Sorted hours 48 54 66 72 72 78: median 69h = 248400, p90 h = 4.5 → 75h = 270000.
fn check_deploy_log_figures(service: &Value) {
    assert_eq!(
        failures(service),
        Failures {
            failed: 2,
            deployments: 6,
            recovered: 1,
            rework: 1,
        },
        "{service:#}"
    );
    assert_rate(&service["change_failure_rate"]["rate"], 2, 6, "rate");
    assert_rate(&service["rework_rate"]["rate"], 1, 6, "rework rate");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(7_200.0),
        "recovery median",
    );
    assert_eq!(int(&service["deployments"]["count"]), 5, "{service:#}");
    let lead = &service["lead_time"];
    assert_eq!(int(&lead["changes"]), 6, "{service:#}");
    assert_eq!(int(&lead["baseline_changes"]), 2, "{service:#}");
    assert_seconds(
        number(&lead["median_seconds"]),
        Some(248_400.0),
        "lead median",
    );
    assert_seconds(number(&lead["p90_seconds"]), Some(270_000.0), "lead p90");
}

#[test]
fn h_deploy_logs_with_failures_and_rollbacks() {
    let scratch = Scratch::new();
    let repo = scratch.repo("logged");
    let c = deploy_log_history(&repo);
    let csv = format!(
        "sha,time,status,kind\n\
         {c2},2024-01-02T00:00:00Z,success,normal\n\
         {c4},2024-01-04T00:00:00Z,,\n\
         {c6},2024-01-05T00:00:00Z,failure,\n\
         {c6},2024-01-05T06:00:00Z,success,\n\
         {c8},2024-01-06T00:00:00Z,success,normal\n\
         {c6},2024-01-06T02:00:00Z,success,rollback\n",
        c2 = c[1],
        c4 = c[3],
        c6 = c[5],
        c8 = c[7],
    );
    let csv_path = scratch.file("deploys.csv", &csv);
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("csv"),
        WIDE,
        &["--deploy-log", csv_path.to_str().unwrap()],
    );
    let csv_service = only_service(&report).clone();
    assert_eq!(csv_service["provenance"]["deployments"], "deploy-log");
    check_deploy_log_figures(&csv_service);

    // The same deployments as NDJSON: Unix seconds, abbreviated shas, a comment, a blank line,
    // lines in another order (order comes from the times).
    let short = |sha: &String| sha[..10].to_string();
    let ndjson = format!(
        "# deployments of logged\n\
         {{\"sha\":\"{c8}\",\"time\":{t5}}}\n\
         {{\"sha\":\"{c2}\",\"time\":{t1},\"status\":\"success\"}}\n\
         \n\
         {{\"sha\":\"{c4}\",\"time\":{t2}}}\n\
         {{\"sha\":\"{c6}\",\"time\":{t3},\"status\":\"failure\"}}\n\
         {{\"sha\":\"{c6}\",\"time\":{t4}}}\n\
         {{\"sha\":\"{c6}\",\"time\":{t6},\"kind\":\"rollback\"}}\n",
        c2 = short(&c[1]),
        c4 = short(&c[3]),
        c6 = short(&c[5]),
        c8 = short(&c[7]),
        t1 = T0 + DAY,
        t2 = T0 + 3 * DAY,
        t3 = T0 + 4 * DAY,
        t4 = T0 + 4 * DAY + 6 * HOUR,
        t5 = T0 + 5 * DAY,
        t6 = T0 + 5 * DAY + 2 * HOUR,
    );
    let ndjson_path = scratch.file("deploys.ndjson", &ndjson);
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("ndjson"),
        WIDE,
        &["--deploy-log", ndjson_path.to_str().unwrap()],
    );
    let ndjson_service = only_service(&report);
    check_deploy_log_figures(ndjson_service);
    for figure in [
        "deployments",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
    ] {
        assert_eq!(csv_service[figure], ndjson_service[figure], "{figure}");
    }

    // The lead times agree with the oracle over the successful deployments.
    let mut deploys: Vec<Deploy> = [
        (1, T0 + DAY, true),
        (3, T0 + 3 * DAY, true),
        (5, T0 + 4 * DAY, false),
        (5, T0 + 4 * DAY + 6 * HOUR, true),
        (7, T0 + 5 * DAY, true),
        (5, T0 + 5 * DAY + 2 * HOUR, true),
    ]
    .into_iter()
    .map(|(index, time, success)| Deploy {
        name: c[index].clone(),
        sha: c[index].clone(),
        time,
        success,
    })
    .collect();
    sort(&mut deploys);
    assert_matches(ndjson_service, &expected(&repo, &deploys, &[], WIDE_T));
}

#[test]
fn h_when_the_first_deployment_failed_the_first_successful_one_is_the_baseline() {
    let scratch = Scratch::new();
    let repo = scratch.repo("firstfail");
    let c = deploy_log_history(&repo);
    let log = scratch.file(
        "deploys.csv",
        &format!(
            "time,sha,status\n\
             2024-01-02T00:00:00Z,{c2},failure\n\
             2024-01-02T01:00:00Z,{c2},success\n\
             2024-01-03T00:00:00Z,{c4},success\n",
            c2 = c[1],
            c4 = c[3],
        ),
    );
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-log", log.to_str().unwrap()],
    );
    let service = only_service(&report);
    // By hand: D1 failed (status) and nothing remediated it. D2 (1d 1h) is the first successful
    // deployment, so c1 and c2 are baseline changes. D3 (2d) ships c3 (48h − 18h = 108000) and
    // c4 (48h − 24h = 86400): median 97200, p90 86400 + 0.9 × 21600 = 105840.
    assert_eq!(
        failures(service),
        Failures {
            failed: 1,
            deployments: 3,
            recovered: 0,
            rework: 0,
        },
        "{service:#}"
    );
    assert!(service["recovery_time"]["median_seconds"].is_null());
    assert_eq!(int(&service["deployments"]["count"]), 2);
    let lead = &service["lead_time"];
    assert_eq!(int(&lead["baseline_changes"]), 2, "{service:#}");
    assert_eq!(int(&lead["changes"]), 2, "{service:#}");
    assert_seconds(number(&lead["median_seconds"]), Some(97_200.0), "median");
    assert_seconds(number(&lead["p90_seconds"]), Some(105_840.0), "p90");
}
