//! The rules of PRODUCT.md section 4 that turn git facts into figures, one test each, with the
//! figures worked out by hand: deploy days per week over whole Monday weeks, reverts of merges
//! under service paths, reverts committed but not deployed, every revert line (abbreviated,
//! ambiguous, too short), hotfixes first in their chain, and first-parent deployments of a
//! monorepo service.

use crate::support::{
    DAY, HOUR, Repo, Scratch, T0, WIDE, analyze, assert_seconds, int, number, only_service,
    stored_deployments,
};
use serde_json::Value;

/// (failed, deployments, recovered, rework) of a service, checked to agree with each other.
fn failure_counts(service: &Value) -> (i64, i64, i64, i64) {
    assert_eq!(
        service["recovery_time"]["failures"], service["change_failure_rate"]["failed"],
        "recovery_time.failures counts the failed deployments"
    );
    assert_eq!(
        service["rework_rate"]["deployments"], service["change_failure_rate"]["deployments"],
        "both rates divide by all deployments"
    );
    (
        int(&service["change_failure_rate"]["failed"]),
        int(&service["change_failure_rate"]["deployments"]),
        int(&service["recovery_time"]["recovered"]),
        int(&service["rework_rate"]["rework"]),
    )
}

fn notes(service: &Value) -> Vec<String> {
    service["notes"]
        .as_array()
        .expect("notes array")
        .iter()
        .map(|note| note.as_str().expect("a note is text").to_string())
        .collect()
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    let actual = number(actual).unwrap_or_else(|| panic!("{what}: null"));
    assert!(
        (actual - expected).abs() < 1e-9 * expected.abs().max(1.0),
        "{what}: loopwise says {actual}, expected {expected}"
    );
}

#[test]
fn deploy_days_per_week_count_whole_utc_monday_weeks_and_never_exceed_seven() {
    let scratch = Scratch::new();
    let repo = scratch.repo("twice-daily");
    // A deployment (first-parent commit) every 12 hours for 3 weeks: 42 of them, at 06:00 and
    // 18:00 UTC from Wednesday 2024-01-03 06:00 to Tuesday 2024-01-23 18:00 (T0 is Monday
    // 2024-01-01 00:00 UTC), so every day from the 3rd to the 23rd has two.
    let first = T0 + 2 * DAY + 6 * HOUR;
    for i in 0..42 {
        repo.commit("app.txt", first + i * 12 * HOUR, &format!("c{i}"));
    }
    let db = scratch.db("x");
    let deployments = |window: (&str, &str)| {
        let report = analyze(&scratch, &repo.path, &db, window, &["--deploy-commits"]);
        only_service(&report)["deployments"].clone()
    };
    let monday_noon = "2024-01-01T12:00:00Z";

    // Monday 1st 12:00 to Monday 22nd 00:00 (20.5 days). The week of the 1st starts before the
    // window, so the whole weeks are those of the 8th and the 15th, each with a deployment on all
    // 7 days: median 7. (Weeks counted from the window's start, noon to noon, would span 8 UTC
    // days, Monday 18:00 to the next Monday 06:00: 8.) Deployments from the 3rd 06:00 to the 21st
    // 18:00: 19 days × 2 = 38; per week 38 / 20.5 × 7.
    let fully_covered = deployments((monday_noon, "2024-01-22"));
    assert_eq!(int(&fully_covered["count"]), 38, "{fully_covered:#}");
    assert_close(&fully_covered["per_week"], 38.0 / 20.5 * 7.0, "per week");
    assert_close(
        &fully_covered["deploy_days_per_week_median"],
        7.0,
        "deploy days per week, two fully covered weeks",
    );

    // Until Monday 5 February: whole weeks of the 8th (7 days), 15th (7), 22nd (Monday 22nd and
    // Tuesday 23rd: 2) and 29th (no deployment: 0). Sorted 0 2 7 7: median (2 + 7) / 2 = 4.5.
    // All 42 deployments are inside; per week 42 / 34.5 × 7.
    let with_quiet_weeks = deployments((monday_noon, "2024-02-05"));
    assert_eq!(int(&with_quiet_weeks["count"]), 42, "{with_quiet_weeks:#}");
    assert_close(&with_quiet_weeks["per_week"], 42.0 / 34.5 * 7.0, "per week");
    assert_close(
        &with_quiet_weeks["deploy_days_per_week_median"],
        4.5,
        "deploy days per week, with a partly covered and an empty week",
    );

    // Monday 1st 12:00 to Monday 8th 12:00: seven days long, but no Monday-to-Monday week lies
    // inside, so no value. Deployments: the 3rd to the 7th (10) and the 8th at 06:00: 11.
    let no_whole_week = deployments((monday_noon, "2024-01-08T12:00:00Z"));
    assert_eq!(int(&no_whole_week["count"]), 11, "{no_whole_week:#}");
    assert!(
        no_whole_week["deploy_days_per_week_median"].is_null(),
        "{no_whole_week:#}"
    );
}

/// init; feature branch (api + web) merged; api tweak; `revert -m 1` of the merge; a web-only
/// branch merged after an api commit; `revert -m 1` of that merge. Tags v1 … v6.
fn merge_revert_history(repo: &Repo) -> (String, String) {
    let api = "services/api/app.txt";
    let web = "web/page.txt";
    repo.commit_files(&[api, web], T0, T0, "init");
    repo.tag("v1", "HEAD", T0 + HOUR);
    repo.checkout_new("feature", "main");
    repo.commit("services/api/feature.txt", T0 + DAY, "api: feature");
    repo.commit(web, T0 + DAY + HOUR, "web: feature");
    repo.checkout("main");
    repo.commit("web/other.txt", T0 + DAY + 2 * HOUR, "web: other");
    let merge = repo.merge("feature", T0 + 2 * DAY);
    repo.tag("v2", "HEAD", T0 + 2 * DAY + HOUR);
    repo.commit(api, T0 + 3 * DAY, "api: tweak");
    repo.tag("v3", "HEAD", T0 + 3 * DAY + HOUR);
    repo.revert_merge(&merge, T0 + 4 * DAY);
    repo.tag("v4", "HEAD", T0 + 5 * DAY);
    repo.checkout_new("web-work", "main");
    repo.commit("web/work.txt", T0 + 6 * DAY, "web: work");
    repo.checkout("main");
    repo.commit(api, T0 + 6 * DAY + HOUR, "api: more");
    let web_merge = repo.merge("web-work", T0 + 7 * DAY);
    repo.tag("v5", "HEAD", T0 + 7 * DAY + HOUR);
    repo.revert_merge(&web_merge, T0 + 8 * DAY);
    repo.tag("v6", "HEAD", T0 + 9 * DAY);
    (merge, web_merge)
}

#[test]
fn reverting_a_merge_that_touched_the_service_paths_fails_the_deployment_that_shipped_it() {
    let scratch = Scratch::new();
    let repo = scratch.repo("merge-revert");
    let (merge, _) = merge_revert_history(&repo);
    let message = repo.out(&["log", "-1", "--format=%B", "v4"]);
    assert!(
        message.contains(&format!("This reverts commit {merge}, reversing")),
        "{message}"
    );
    let db = scratch.db("x");

    // Service api, path services/api. Deployments v1 (1h), v2 (2d 1h), v3 (3d 1h), v4 (5d),
    // v5 (7d 1h), v6 (9d). The first merge's diff against its first parent adds
    // services/api/feature.txt, so reverting it (in v4) fails v2, which shipped it, and v4
    // remediates v2: recovery 5d − 2d 1h = 255600. The second merge changed only web/: its
    // revert (in v6) fails nothing of the api. Failed 1 of 6, recovered 1, rework 1 (v4).
    // Lead times of the api's changes: v1 is the baseline (init); v2 "api: feature"
    // 2d 1h − 1d = 90000; v3 "api: tweak" 3600; v4 the revert 5d − 4d = 86400; v5 "api: more"
    // 7d 1h − 6d 1h = 86400; v6 ships nothing of the api. Sorted 3600 86400 86400 90000:
    // median 86400, p90 h = 2.7 → 86400 + 0.7 × 3600 = 88920, mean 266400 / 4 = 66600.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &[
            "--deploy-tags",
            "v*",
            "--path",
            "services/api",
            "--service",
            "api",
        ],
    );
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (1, 6, 1, 1), "{service:#}");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(255_600.0),
        "recovery median",
    );
    assert_seconds(
        number(&service["recovery_time"]["p90_seconds"]),
        Some(255_600.0),
        "recovery p90",
    );
    let lead = &service["lead_time"];
    assert_eq!(int(&lead["changes"]), 4, "{service:#}");
    assert_eq!(int(&lead["baseline_changes"]), 1, "{service:#}");
    assert_seconds(number(&lead["median_seconds"]), Some(86_400.0), "median");
    assert_seconds(number(&lead["p90_seconds"]), Some(88_920.0), "p90");
    assert_seconds(number(&lead["mean_seconds"]), Some(66_600.0), "mean");

    // Without paths both merges belong to the service: v2 fails (remediated by v4, 255600) and
    // v5 fails (remediated by v6, 9d − 7d 1h = 169200). Failed 2 of 6, rework 2, median
    // (169200 + 255600) / 2 = 212400.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &["--deploy-tags", "v*", "--service", "whole"],
    );
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (2, 6, 2, 2), "{service:#}");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(212_400.0),
        "recovery median",
    );
}

#[test]
fn a_revert_committed_but_not_deployed_fails_at_once_with_recovery_open() {
    let scratch = Scratch::new();
    let repo = scratch.repo("open-revert");
    repo.commit("base.txt", T0, "init");
    repo.tag("v1", "HEAD", T0 + HOUR);
    let x = repo.commit("feature.txt", T0 + DAY, "X: risky feature");
    repo.commit("other.txt", T0 + DAY + HOUR, "c2");
    repo.tag("v2", "HEAD", T0 + 2 * DAY);
    repo.revert(&x, T0 + 3 * DAY);
    let db = scratch.db("x");
    let tags = ["--deploy-tags", "v*"];
    let open_note = |service: &Value| {
        notes(service)
            .into_iter()
            .filter(|note| note.contains("committed but not deployed yet"))
            .collect::<Vec<_>>()
    };

    // v2 shipped X; its revert is committed (3d) but no deployment ships it: v2 is failed at
    // once, not recovered, and nothing is rework. Failed 1 of 2, recovered 0, no recovery time.
    let report = analyze(&scratch, &repo.path, &db, WIDE, &tags);
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (1, 2, 0, 0), "{service:#}");
    assert_close(&service["change_failure_rate"]["rate"], 0.5, "rate");
    assert!(service["recovery_time"]["median_seconds"].is_null());
    let open = open_note(service);
    assert_eq!(open.len(), 1, "{service:#}");
    assert!(
        open[0].starts_with("1 deployment failed by a revert")
            && open[0].contains("recovery is still open"),
        "{open:?}"
    );

    // Hindsight: a window that ends (2024-01-03 12:00) before the revert was committed still
    // sees v2 (2024-01-03 00:00) failed.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        ("2024-01-01", "2024-01-03T12:00:00Z"),
        &tags,
    );
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (1, 2, 0, 0), "{service:#}");

    // Once v3 (5d) ships the revert, v2 is recovered: 5d − 2d = 259200, v3 is rework, and the
    // note is gone. Failed 1 of 3, recovered 1, rework 1.
    repo.tag("v3", "HEAD", T0 + 5 * DAY);
    let report = analyze(&scratch, &repo.path, &db, WIDE, &tags);
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (1, 3, 1, 1), "{service:#}");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(259_200.0),
        "recovery median",
    );
    assert!(open_note(service).is_empty(), "{service:#}");
}

#[test]
fn every_revert_line_counts_in_squashes_and_merges_with_full_or_abbreviated_ids() {
    let scratch = Scratch::new();
    let repo = scratch.repo("revert-lines");
    repo.commit("base.txt", T0, "init");
    repo.tag("v1", "HEAD", T0 + HOUR);
    let x1 = repo.commit("x1.txt", T0 + DAY, "X1");
    repo.tag("v2", "HEAD", T0 + DAY + HOUR);
    let x2 = repo.commit("x2.txt", T0 + 2 * DAY, "X2");
    repo.tag("v3", "HEAD", T0 + 2 * DAY + HOUR);
    let x3 = repo.commit("x3.txt", T0 + 3 * DAY, "X3");
    repo.tag("v4", "HEAD", T0 + 3 * DAY + HOUR);
    // One commit squashing two reverts, two lines: X1 by its full id, X2 by 7 hex digits.
    repo.revert_staged(&x2);
    repo.revert_staged(&x1);
    repo.commit_staged(
        T0 + 4 * DAY,
        &format!(
            "Revert X1 and X2\n\nThis reverts commit {x1}.\nThis reverts commit {}.\n",
            &x2[..7]
        ),
    );
    // A merge commit whose own message carries the revert line of X3, by 10 hex digits.
    repo.checkout_new("cleanup", "main");
    repo.commit("cleanup.txt", T0 + 4 * DAY + HOUR, "cleanup");
    repo.checkout("main");
    repo.merge_message(
        "cleanup",
        T0 + 4 * DAY + 2 * HOUR,
        &format!(
            "Merge branch 'cleanup'\n\nThis reverts commit {}.\n",
            &x3[..10]
        ),
        &[],
    );
    repo.tag("v5", "HEAD", T0 + 5 * DAY);

    // v2, v3 and v4 each shipped one reverted commit; v5 ships both carriers and remediates all
    // three. Failed 3 of 5, recovered 3, rework 1 (v5). Recovery: 5d − 1d 1h = 342000,
    // 5d − 2d 1h = 255600, 5d − 3d 1h = 169200; sorted 169200 255600 342000: median 255600,
    // p90 h = 1.8 → 255600 + 0.8 × 86400 = 324720.
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (3, 5, 3, 1), "{service:#}");
    assert_close(&service["change_failure_rate"]["rate"], 0.6, "rate");
    assert_close(&service["rework_rate"]["rate"], 0.2, "rework rate");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(255_600.0),
        "recovery median",
    );
    assert_seconds(
        number(&service["recovery_time"]["p90_seconds"]),
        Some(324_720.0),
        "recovery p90",
    );
    assert!(
        !notes(service)
            .iter()
            .any(|note| note.contains("revert line")),
        "{service:#}"
    );
}

#[test]
fn ambiguous_revert_prefixes_are_ignored_and_counted_and_short_ones_ignored() {
    let scratch = Scratch::new();
    let repo = scratch.repo("ambiguous");
    repo.commit("base.txt", T0, "init");
    repo.tag("v1", "HEAD", T0 + HOUR);
    // Two root commits whose ids share their first 7 hex digits (found in about 3 s with
    // `git fast-import`); twin A is merged into main and shipped by v2, twin B is only on its
    // branch, which the import walks too.
    let (twin_a, twin_b) = repo.twin_commits(7, T0 + DAY);
    let shared = &twin_a[..7];
    assert_eq!(shared, &twin_b[..7]);
    let y = repo.commit("y.txt", T0 + 2 * DAY, "Y");
    repo.merge_message(
        "twin-a",
        T0 + 2 * DAY + HOUR,
        "Merge twin A",
        &["--allow-unrelated-histories"],
    );
    repo.tag("v2", "HEAD", T0 + 2 * DAY + 2 * HOUR);
    // Y by 6 digits: too short, ignored outright (not counted). The twins' shared 7 digits:
    // ambiguous, ignored and counted.
    repo.commit_message(
        "notes.txt",
        T0 + 3 * DAY,
        &format!("Revert Y\n\nThis reverts commit {}.\n", &y[..6]),
    );
    repo.commit_message(
        "notes.txt",
        T0 + 3 * DAY + HOUR,
        &format!("Revert a twin\n\nThis reverts commit {shared}.\n"),
    );
    repo.tag("v3", "HEAD", T0 + 4 * DAY);
    let db = scratch.db("x");
    let tags = ["--deploy-tags", "v*"];
    let ambiguous_notes = |service: &Value| {
        notes(service)
            .into_iter()
            .filter(|note| note.contains("revert line"))
            .collect::<Vec<_>>()
    };

    // v2 shipped Y and twin A, but neither line names one of them: nothing failed. One
    // ambiguous line, noted.
    let report = analyze(&scratch, &repo.path, &db, WIDE, &tags);
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (0, 3, 0, 0), "{service:#}");
    let ambiguous = ambiguous_notes(service);
    assert_eq!(ambiguous.len(), 1, "{service:#}");
    assert!(
        ambiguous[0].starts_with("1 revert line names an ambiguous")
            && ambiguous[0].contains("ambiguous abbreviated commit id"),
        "{ambiguous:?}"
    );

    // A digit more than the twins share names twin A alone: v2 fails, v4 (5d) remediates it,
    // 5d − 2d 2h = 252000. The ambiguous line is still counted. Failed 1 of 4, rework 1.
    let unique = twin_a
        .bytes()
        .zip(twin_b.bytes())
        .take_while(|(a, b)| a == b)
        .count()
        + 1;
    repo.commit_message(
        "notes.txt",
        T0 + 4 * DAY + HOUR,
        &format!(
            "Revert twin A\n\nThis reverts commit {}.\n",
            &twin_a[..unique]
        ),
    );
    repo.tag("v4", "HEAD", T0 + 5 * DAY);
    let report = analyze(&scratch, &repo.path, &db, WIDE, &tags);
    let service = only_service(&report);
    assert_eq!(failure_counts(service), (1, 4, 1, 1), "{service:#}");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(252_000.0),
        "recovery median",
    );
    assert_eq!(ambiguous_notes(service).len(), 1, "{service:#}");
}

#[test]
fn a_hotfix_first_in_its_chain_is_not_rework_and_hotfix_tags_are_deployments() {
    let scratch = Scratch::new();
    let repo = scratch.repo("hotfix-first");
    repo.commit("f.txt", T0, "init");
    repo.tag("hotfix-0", "HEAD", T0 + HOUR);
    repo.commit("f.txt", T0 + DAY, "feature one");
    repo.tag("v1", "HEAD", T0 + DAY + HOUR);
    repo.commit("f.txt", T0 + 2 * DAY, "fix one");
    repo.tag("hotfix-1", "HEAD", T0 + 2 * DAY + 2 * HOUR);
    repo.commit("f.txt", T0 + 3 * DAY, "feature two");
    repo.tag("v2", "HEAD", T0 + 3 * DAY + HOUR);
    repo.tag("nightly-3", "HEAD", T0 + 3 * DAY + 2 * HOUR);
    let db = scratch.db("x");

    // "v*" does not match the hotfix tags, "hotfix-*" makes them deployments anyway; nightly-3
    // matches neither. Deployments hotfix-0 (1h), v1 (1d 1h), hotfix-1 (2d 2h), v2 (3d 1h).
    // hotfix-0 is first in the chain: it remediates nothing and is not rework. hotfix-1
    // remediates v1: recovery 2d 2h − 1d 1h = 90000. Failed 1 of 4, recovered 1, rework 1.
    // Lead times: hotfix-0 ships the baseline (init); "feature one" 3600, "fix one" 7200,
    // "feature two" 3600: median 3600.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &[
            "--deploy-tags",
            "v*",
            "--hotfix-tags",
            "hotfix-*",
            "--service",
            "app",
        ],
    );
    let service = only_service(&report);
    assert_eq!(int(&service["deployments"]["count"]), 4, "{service:#}");
    assert_eq!(failure_counts(service), (1, 4, 1, 1), "{service:#}");
    assert_close(&service["rework_rate"]["rate"], 0.25, "rework rate");
    assert_seconds(
        number(&service["recovery_time"]["median_seconds"]),
        Some(90_000.0),
        "recovery median",
    );
    let lead = &service["lead_time"];
    assert_eq!(int(&lead["changes"]), 3, "{service:#}");
    assert_eq!(int(&lead["baseline_changes"]), 1, "{service:#}");
    assert_seconds(number(&lead["median_seconds"]), Some(3_600.0), "median");
    let provenance = &service["provenance"];
    assert_eq!(provenance["deployments"], "git-tags", "{provenance:#}");
    assert_eq!(
        provenance["deployment_rule"], "tags matching \"v*\"; hotfix tags matching \"hotfix-*\"",
        "{provenance:#}"
    );
    let kinds: Vec<(String, String)> = stored_deployments(&db, "app")
        .into_iter()
        .map(|(id, _, _, kind)| (id, kind))
        .collect();
    let expected: Vec<(String, String)> = [
        ("hotfix-0", "hotfix"),
        ("v1", "normal"),
        ("hotfix-1", "hotfix"),
        ("v2", "normal"),
    ]
    .into_iter()
    .map(|(tag, kind)| (format!("app:production:tag:{tag}"), kind.to_string()))
    .collect();
    assert_eq!(kinds, expected);
}

#[test]
fn deploy_commits_with_paths_deploy_only_first_parent_commits_that_touch_them() {
    let scratch = Scratch::new();
    let repo = scratch.repo("mono-trunk");
    let api = "services/api/app.txt";
    let c0 = repo.commit(api, T0, "api: init");
    repo.commit("web/w.txt", T0 + DAY, "web: one");
    let c2 = repo.commit(api, T0 + 2 * DAY, "api: two");
    repo.checkout_new("feature", "main");
    repo.commit("services/api/b.txt", T0 + 2 * DAY + HOUR, "api: feature");
    repo.commit("web/x.txt", T0 + 2 * DAY + 2 * HOUR, "web: feature");
    repo.checkout("main");
    repo.commit("web/w.txt", T0 + 2 * DAY + 3 * HOUR, "web: three");
    let merge = repo.merge("feature", T0 + 3 * DAY);
    repo.checkout_new("web-only", "main");
    repo.commit("web/y.txt", T0 + 3 * DAY + HOUR, "web: branch");
    repo.checkout("main");
    repo.merge("web-only", T0 + 4 * DAY);
    // A sibling directory whose name starts like the path is not under it.
    repo.commit(
        "services/api-gateway/g.txt",
        T0 + 5 * DAY,
        "gateway: not the api",
    );
    let c5 = repo.commit_files(
        &[api, "web/w.txt"],
        T0 + 6 * DAY,
        T0 + 6 * DAY,
        "both: five",
    );
    let db = scratch.db("x");

    // First-parent commits: api: init, web: one, api: two, web: three, the feature merge, the
    // web-only merge, gateway, both: five. Those whose change (a merge's against its first
    // parent) touches services/api deploy the api, at their committer time: api: init (0),
    // api: two (2d), the feature merge (3d, it brings services/api/b.txt), both: five (6d).
    // "api: feature" touches the path but is not first-parent: it ships with the merge.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &[
            "--deploy-commits",
            "--path",
            "services/api",
            "--service",
            "api",
        ],
    );
    let service = only_service(&report);
    assert_eq!(service["provenance"]["deployments"], "git-first-parent");
    let deployed: Vec<(String, i64)> = stored_deployments(&db, "api")
        .into_iter()
        .map(|(_, sha, time, _)| (sha, time))
        .collect();
    assert_eq!(
        deployed,
        vec![
            (c0, T0),
            (c2, T0 + 2 * DAY),
            (merge, T0 + 3 * DAY),
            (c5, T0 + 6 * DAY),
        ]
    );
    assert_eq!(int(&service["deployments"]["count"]), 4, "{service:#}");
    // The api's changes: "api: init" is the baseline; "api: two" and "both: five" deploy
    // themselves (0); the merge ships "api: feature", 3d − 2d 1h = 82800. Sorted 0 0 82800:
    // median 0, p90 h = 1.8 → 0.8 × 82800 = 66240, mean 27600.
    let lead = &service["lead_time"];
    assert_eq!(int(&lead["changes"]), 3, "{service:#}");
    assert_eq!(int(&lead["baseline_changes"]), 1, "{service:#}");
    assert_seconds(number(&lead["median_seconds"]), Some(0.0), "median");
    assert_seconds(number(&lead["p90_seconds"]), Some(66_240.0), "p90");
    assert_seconds(number(&lead["mean_seconds"]), Some(27_600.0), "mean");

    // Without paths every first-parent commit deploys: 8.
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &["--deploy-commits", "--service", "all"],
    );
    assert_eq!(
        int(&only_service(&report)["deployments"]["count"]),
        8,
        "{report:#}"
    );
    assert_eq!(stored_deployments(&db, "all").len(), 8);
}
