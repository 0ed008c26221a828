//! Deployment counts and lead times against the git-CLI oracle: tags (annotated, lightweight),
//! merges, monorepo paths, first-parent deployments, bare clones, windows, clock skew.

use crate::oracle::{Deploy, assert_matches, expected, first_parent_deploys, shipped, tag_deploys};
use crate::support::{
    DAY, HOUR, Repo, Scratch, T0, WIDE, WIDE_T, analyze, analyze_text, only_service,
};
use std::collections::HashMap;

/// A small deterministic generator, so "random" histories are the same on every run.
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in `0..n`.
    pub fn below(&mut self, n: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as i64
    }
}

/// `releases` annotated release tags `v1.0.0`, `v1.1.0`, … over several weeks on a linear
/// history, a non-matching annotated tag `nightly`, a maintenance release `v1.2.1` whose commit
/// only its tag reaches, and unreleased work after the last release. Some commits are committed
/// long after they were authored (rebased or amended work); dates are written in many zones.
pub fn linear_history(repo: &Repo, releases: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let mut t = T0;
    let zones = ["+0000", "+0530", "-0800", "+1400", "-1100"];
    for release in 0..releases {
        let commits = 2 + release % 3 + rng.below(3) as usize;
        for k in 0..commits {
            // Dates written in many zones: only the instants count.
            repo.set_zone(zones[rng.below(zones.len() as i64) as usize]);
            t += HOUR + rng.below(30 * HOUR);
            let author = t;
            let committer = if k % 3 == 2 {
                t + rng.below(2 * DAY)
            } else {
                t
            };
            repo.commit_dated(
                &format!("src/file{k}.rs"),
                author,
                committer,
                &format!("release {release} change {k}"),
            );
            t = committer;
        }
        let tag_time = t + HOUR + rng.below(DAY);
        repo.tag(&format!("v1.{release}.0"), "HEAD", tag_time);
        t = tag_time + rng.below(3 * DAY);
        if release == 2 {
            repo.tag("nightly", "HEAD~1", t);
        }
    }
    // A maintenance release from a branch deleted afterwards: its commit is reachable from
    // the tag alone, and the release comes after later releases of main.
    if releases >= 3 {
        repo.checkout_new("maint", "v1.2.0");
        repo.commit("src/patch.rs", t + 2 * HOUR, "backport a fix");
        repo.tag("v1.2.1", "HEAD", t + 3 * HOUR);
        repo.checkout("main");
        repo.git(&["branch", "-q", "-D", "maint"], t);
    }
    repo.commit("src/wip.rs", t + DAY, "work in progress");
}

#[test]
fn a_linear_history_with_release_tags_matches_git() {
    let scratch = Scratch::new();
    let repo = scratch.repo("shop");
    linear_history(&repo, 6, 42);
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_eq!(deploys.len(), 7, "the non-matching tag is no deployment");
    assert_eq!(
        deploys.last().unwrap().name,
        "v1.2.1",
        "the maintenance release is last"
    );
    let expected = expected(&repo, &deploys, &[], WIDE_T);
    assert!(expected.lead_times.len() >= 10, "a meaningful sample");
    assert!(expected.baseline_changes >= 2);

    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("tags"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    assert_eq!(service["service"], "shop", "named after the work tree");
    assert_eq!(service["environment"], "production");
    assert_eq!(service["provenance"]["deployments"], "git-tags");
    assert_matches(service, &expected);

    // Without a deployment flag, release-like tags are found automatically; `nightly` is not one.
    let report = analyze(&scratch, &repo.path, &scratch.db("auto"), WIDE, &[]);
    assert_matches(only_service(&report), &expected);
}

/// main with three feature branches merged by `--no-ff` merges between tags `v1` … `v6`:
///
/// ```text
/// c1 ─ c2 ─ m1 ─ c3 ─ m2 ─ c4 ─ m3 ─ c5        (main)
///  │ ╲    ╱            ╱       ╱
///  │  b1─b2 (feat-b)   ╱      x2 (feat-c, forked at m1, synced with main after m2)
///  └─ a1 ─ a2 ────────┘      ╱
///                     x1 ─ sync(main)
/// ```
///
/// Tags: v1 → c1, v2 → m1, v3 → m2, v4 → c4, v5 → m3 (a merge), v6 → c5; `ci-build-17` → x1.
/// `a1` is authored before v1 exists but only reaches production with v3.
pub fn merge_history(repo: &Repo) -> HashMap<&'static str, String> {
    let mut s = HashMap::new();
    s.insert("c1", repo.commit("main.txt", T0, "c1"));
    repo.tag("v1", "HEAD", T0 + HOUR);
    repo.checkout_new("feat-a", "main");
    s.insert(
        "a1",
        repo.commit_dated("a.txt", T0 + 30 * 60, T0 + 2 * HOUR, "a1"),
    );
    s.insert("a2", repo.commit("a.txt", T0 + DAY, "a2"));
    repo.checkout("main");
    s.insert("c2", repo.commit("main.txt", T0 + 3 * HOUR, "c2"));
    repo.checkout_new("feat-b", "main");
    s.insert("b1", repo.commit("b.txt", T0 + 4 * HOUR, "b1"));
    s.insert("b2", repo.commit("b.txt", T0 + 5 * HOUR, "b2"));
    repo.checkout("main");
    s.insert("m1", repo.merge("feat-b", T0 + DAY + 2 * HOUR));
    repo.tag("v2", "HEAD", T0 + 2 * DAY);
    s.insert("c3", repo.commit("main.txt", T0 + 3 * DAY, "c3"));
    s.insert("m2", repo.merge("feat-a", T0 + 4 * DAY));
    repo.tag("v3", "HEAD", T0 + 4 * DAY + HOUR);
    repo.checkout_new("feat-c", &s["m1"]);
    s.insert("x1", repo.commit("c.txt", T0 + 5 * DAY, "x1"));
    repo.merge("main", T0 + 5 * DAY + HOUR);
    s.insert("x2", repo.commit("c.txt", T0 + 6 * DAY, "x2"));
    repo.checkout("main");
    s.insert("c4", repo.commit("main.txt", T0 + 6 * DAY + HOUR, "c4"));
    repo.tag("v4", "HEAD", T0 + 6 * DAY + 2 * HOUR);
    s.insert("m3", repo.merge("feat-c", T0 + 7 * DAY));
    repo.tag("v5", "HEAD", T0 + 7 * DAY + HOUR);
    s.insert("c5", repo.commit("main.txt", T0 + 8 * DAY, "c5"));
    repo.tag("v6", "HEAD", T0 + 9 * DAY);
    repo.tag("ci-build-17", &s["x1"], T0 + 5 * DAY + 30 * 60);
    s
}

fn sorted(mut shas: Vec<String>) -> Vec<String> {
    shas.sort();
    shas
}

fn names(s: &HashMap<&'static str, String>, wanted: &[&str]) -> Vec<String> {
    sorted(wanted.iter().map(|name| s[name].clone()).collect())
}

#[test]
fn b_feature_branches_merged_between_tags_match_git() {
    let scratch = Scratch::new();
    let repo = scratch.repo("merges");
    let s = merge_history(&repo);
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);

    // The oracle's sets, checked against the drawing: merges are no changes, and side-branch
    // commits ship with the first tag that reaches them.
    let by_tag: Vec<Vec<String>> = shipped(&repo, &deploys, &[])
        .into_iter()
        .map(sorted)
        .collect();
    assert_eq!(by_tag[0], names(&s, &["c1"]));
    assert_eq!(by_tag[1], names(&s, &["c2", "b1", "b2"]));
    assert_eq!(by_tag[2], names(&s, &["c3", "a1", "a2"]));
    assert_eq!(by_tag[3], names(&s, &["c4"]));
    assert_eq!(by_tag[4], names(&s, &["x1", "x2"]));
    assert_eq!(by_tag[5], names(&s, &["c5"]));

    let expected = expected(&repo, &deploys, &[], WIDE_T);
    // By hand, tag time − author time:
    //   v2 (2d):     c2 2d−3h = 162000, b1 2d−4h = 158400, b2 2d−5h = 154800
    //   v3 (4d+1h):  c3 1d+1h = 90000, a1 4d+30m = 347400, a2 3d+1h = 262800
    //   v4 (6d+2h):  c4 3600
    //   v5 (7d+1h):  x1 2d+1h = 176400, x2 1d+1h = 90000
    //   v6 (9d):     c5 86400
    // sorted: 3600 86400 90000 90000 154800 158400 162000 176400 262800 347400
    // median: (154800 + 158400) / 2 = 156600; p90: h = 8.1 → 262800 + 0.1 × 84600 = 271260
    assert_eq!(expected.deployments, 6);
    assert_eq!(expected.baseline_changes, 1);
    assert_eq!(expected.lead_times.len(), 10);
    assert_eq!(expected.median(), Some(156_600.0));
    assert!((expected.p90().unwrap() - 271_260.0).abs() < 1e-6);

    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    assert_matches(only_service(&report), &expected);
}

#[test]
fn c_lightweight_tags_use_the_commit_committer_date() {
    let scratch = Scratch::new();
    let repo = scratch.repo("light");
    repo.commit("f.txt", T0, "c1");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    repo.commit("f.txt", T0 + 2 * HOUR, "c2");
    // Authored at 1d, committed at 2d: the lightweight tag's time is 2d.
    let c3 = repo.commit_dated("f.txt", T0 + DAY, T0 + 2 * DAY, "c3");
    repo.lightweight_tag("v1.1", &c3);
    repo.commit("f.txt", T0 + 3 * DAY, "c4");
    repo.tag("v1.2", "HEAD", T0 + 3 * DAY + 30 * 60);
    // An annotated tag of the annotated tag v1.2: its own tagger date counts; it ships nothing.
    repo.git(
        &["tag", "-a", "v1.2-final", "-m", "final", "v1.2"],
        T0 + 4 * DAY,
    );

    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    let times: Vec<i64> = deploys.iter().map(|d: &Deploy| d.time).collect();
    assert_eq!(
        times,
        vec![
            T0 + HOUR,
            T0 + 2 * DAY,
            T0 + 3 * DAY + 30 * 60,
            T0 + 4 * DAY
        ]
    );
    let expected = expected(&repo, &deploys, &[], WIDE_T);
    // By hand: v1.1 (2d): c2 2d−2h = 165600, c3 2d−1d = 86400; v1.2: c4 1800.
    // sorted 1800 86400 165600: median 86400; p90: h = 1.8 → 86400 + 0.8 × 79200 = 149760.
    assert_eq!(expected.lead_times.len(), 3);
    assert_eq!(expected.median(), Some(86_400.0));
    assert!((expected.p90().unwrap() - 149_760.0).abs() < 1e-6);

    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    assert_matches(only_service(&report), &expected);
}

/// `services/api`, `services/web` and `libs/shared` in one repository, with merges, a commit
/// touching both services, a move from one to the other, root-only commits, and a side branch
/// whose two api commits cancel out (so its merge does not change api at all).
fn monorepo(repo: &Repo) {
    let api = "services/api/main.rs";
    let web = "services/web/app.ts";
    repo.commit("README.md", T0, "readme");
    repo.commit(api, T0 + HOUR, "api: start");
    repo.commit(web, T0 + 2 * HOUR, "web: start");
    repo.commit("services/web/shared.ts", T0 + 3 * HOUR, "web: shared");
    repo.tag("v1", "HEAD", T0 + 4 * HOUR);

    repo.commit(api, T0 + DAY, "api: endpoint");
    repo.checkout_new("feature", "main");
    repo.commit(web, T0 + DAY + HOUR, "web: page");
    repo.commit_text(
        "services/api/flag.rs",
        "on\n",
        T0 + DAY + 2 * HOUR,
        "api: flag on",
    );
    repo.git(&["rm", "-q", "services/api/flag.rs"], T0 + DAY + 3 * HOUR);
    repo.git(
        &["commit", "-q", "-m", "api: flag gone"],
        T0 + DAY + 3 * HOUR,
    );
    repo.commit("libs/shared/lib.rs", T0 + DAY + 4 * HOUR, "libs: helper");
    repo.checkout("main");
    repo.commit("README.md", T0 + DAY + 5 * HOUR, "docs");
    repo.merge("feature", T0 + 2 * DAY);
    repo.tag("v2", "HEAD", T0 + 2 * DAY + HOUR);

    repo.commit_files(
        &[api, web],
        T0 + 3 * DAY,
        T0 + 3 * DAY,
        "both: rename field",
    );
    repo.commit_move(
        "services/web/shared.ts",
        "services/api/shared.ts",
        T0 + 3 * DAY + HOUR,
        "move shared code to api",
    );
    repo.tag("v3", "HEAD", T0 + 4 * DAY);

    repo.commit(web, T0 + 5 * DAY, "web: only");
    repo.commit("libs/shared/lib.rs", T0 + 5 * DAY + HOUR, "libs: fix");
    repo.tag("v4", "HEAD", T0 + 6 * DAY);

    repo.checkout_new("api-work", "main");
    repo.commit(api, T0 + 6 * DAY + HOUR, "api: tune");
    repo.commit(web, T0 + 6 * DAY + 2 * HOUR, "web: tune");
    repo.checkout("main");
    repo.commit(
        "services/api/hot.rs",
        T0 + 6 * DAY + 3 * HOUR,
        "api: hotpath",
    );
    repo.merge("api-work", T0 + 7 * DAY);
    repo.tag("v5", "HEAD", T0 + 7 * DAY + 2 * HOUR);

    // The api's own release tags, later than the repository-wide ones.
    repo.tag("api/1.0", "v2", T0 + 2 * DAY + 3 * HOUR);
    repo.tag("api/1.1", "v3", T0 + 4 * DAY + HOUR);
    repo.tag("api/1.2", "v5", T0 + 7 * DAY + 3 * HOUR);
}

#[test]
fn d_monorepo_paths_match_git_pathspecs() {
    let scratch = Scratch::new();
    let repo = scratch.repo("mono");
    monorepo(&repo);
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_eq!(deploys.len(), 5);
    let db = scratch.db("x");
    let unfiltered = expected(&repo, &deploys, &[], WIDE_T);

    for (service, paths) in [
        ("api", vec!["services/api"]),
        ("web", vec!["services/web"]),
        ("api-and-libs", vec!["services/api", "libs/shared"]),
    ] {
        let expected = expected(&repo, &deploys, &paths, WIDE_T);
        assert_ne!(
            expected.lead_times.len(),
            unfiltered.lead_times.len(),
            "{service}: the path filter must matter"
        );
        let mut args = vec!["--deploy-tags", "v*", "--service", service];
        for path in &paths {
            args.extend(["--path", path]);
        }
        let report = analyze(&scratch, &repo.path, &db, WIDE, &args);
        let report_service = only_service(&report);
        assert_eq!(report_service["service"], service);
        let mut listed = paths.clone();
        listed.sort();
        assert_eq!(
            report_service["provenance"]["paths"],
            listed.join(", "),
            "{service}"
        );
        assert_matches(report_service, &expected);
    }

    // Per-service release tags.
    let api_deploys = tag_deploys(&repo, &["refs/tags/api/*"]);
    assert_eq!(api_deploys.len(), 3);
    let expected_api = expected(&repo, &api_deploys, &["services/api"], WIDE_T);
    // By hand: api/1.0 is the baseline ("api: start", "api: endpoint", "api: flag on", "api: flag
    // gone"); api/1.1 ships 2, api/1.2 ships 2.
    assert_eq!(expected_api.baseline_changes, 4);
    assert_eq!(expected_api.lead_times.len(), 4);
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &[
            "--deploy-tags",
            "api/*",
            "--path",
            "services/api",
            "--service",
            "api",
        ],
    );
    assert_matches(only_service(&report), &expected_api);

    // By hand for api (rev-list --full-history -- services/api): v1 ships "api: start"
    // (baseline); v2 "api: endpoint", "api: flag on", "api: flag gone"; v3 "both: rename
    // field", "move shared code to api"; v4 nothing; v5 "api: tune", "api: hotpath".
    let api = expected(&repo, &deploys, &["services/api"], WIDE_T);
    assert_eq!(api.baseline_changes, 1);
    assert_eq!(api.lead_times.len(), 7);
}

#[test]
fn g_every_first_parent_commit_is_a_deployment() {
    let scratch = Scratch::new();
    let repo = scratch.repo("trunk");
    merge_history(&repo);
    let deploys = first_parent_deploys(&repo);
    // c1 c2 m1 c3 m2 c4 m3 c5
    assert_eq!(deploys.len(), 8);
    let expected = expected(&repo, &deploys, &[], WIDE_T);
    // By hand, committer time of the first-parent commit − author time:
    //   c2, c3, c4, c5 ship themselves: 0 each
    //   m1 (1d+2h) ships b1 (4h) 79200, b2 (5h) 75600
    //   m2 (4d) ships a1 (30m) 343800, a2 (1d) 259200
    //   m3 (7d) ships x1 (5d) 172800, x2 (6d) 86400
    // sorted: 0 0 0 0 75600 79200 86400 172800 259200 343800
    // median (75600 + 79200) / 2 = 77400; p90: h = 8.1 → 259200 + 0.1 × 84600 = 267660
    assert_eq!(expected.baseline_changes, 1);
    assert_eq!(expected.median(), Some(77_400.0));
    assert!((expected.p90().unwrap() - 267_660.0).abs() < 1e-6);

    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-commits"],
    );
    let service = only_service(&report);
    assert_eq!(service["provenance"]["deployments"], "git-first-parent");
    assert_matches(service, &expected);
}

#[test]
fn i_a_bare_clone_gives_the_same_report_as_its_work_tree() {
    let scratch = Scratch::new();
    let repo = scratch.repo("proj");
    merge_history(&repo);
    let bare = scratch.path().join("bare").join("proj.git");
    repo.git(
        &[
            "clone",
            "-q",
            "--bare",
            repo.path.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        T0,
    );
    for flags in [&["--deploy-tags", "v*"][..], &["--deploy-commits"][..]] {
        let work_tree = analyze_text(&scratch, &repo.path, &scratch.db("work"), WIDE, flags);
        let bare_report = analyze_text(&scratch, &bare, &scratch.db("bare"), WIDE, flags);
        // Equal but for where the history was read from, which provenance names.
        let without_locator = |text: &str| {
            let mut report: serde_json::Value = serde_json::from_str(text).unwrap();
            let changes = &mut report["services"][0]["provenance"]["changes"];
            assert!(
                changes.as_str().unwrap().starts_with("git history of "),
                "{changes}"
            );
            *changes = serde_json::Value::Null;
            report
        };
        assert_eq!(
            without_locator(&work_tree),
            without_locator(&bare_report),
            "{flags:?}"
        );
        let report: serde_json::Value = serde_json::from_str(&bare_report).unwrap();
        assert_eq!(only_service(&report)["service"], "proj");
    }
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    let report = analyze(
        &scratch,
        &bare,
        &scratch.db("bare"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    assert_matches(
        only_service(&report),
        &expected(&repo, &deploys, &[], WIDE_T),
    );
}

#[test]
fn j_window_bounds_are_inclusive_then_exclusive_at_exact_instants() {
    let scratch = Scratch::new();
    let repo = scratch.repo("weekly");
    // Releases at exactly midnight UTC of days 1, 8, 15, 22, 29 (2024-01-02, -09, -16, -23, -30).
    for (week, day) in [1, 8, 15, 22, 29].into_iter().enumerate() {
        for k in 0..3 {
            let t = T0 + (day - 4) * DAY + k * 5 * HOUR;
            repo.commit("w.txt", t, &format!("week {week} change {k}"));
        }
        repo.tag(&format!("r{week}"), "HEAD", T0 + day * DAY);
    }
    let deploys = tag_deploys(&repo, &["refs/tags/r*"]);
    let db = scratch.db("x");
    let since_day8 = T0 + 8 * DAY;
    let until_day22 = T0 + 22 * DAY;
    for (since, until, window, count) in [
        // r1 (day 8) is in, r3 (day 22) is out: r1, r2.
        (
            "2024-01-09T00:00:00Z",
            "2024-01-23T00:00:00Z",
            (since_day8, until_day22),
            2,
        ),
        // Dates are midnight UTC: the same window.
        ("2024-01-09", "2024-01-23", (since_day8, until_day22), 2),
        // An offset names the same instants.
        (
            "2024-01-09T01:00:00+01:00",
            "2024-01-22T19:00:00-05:00",
            (since_day8, until_day22),
            2,
        ),
        // One second later at both ends: r2, r3.
        (
            "2024-01-09T00:00:01Z",
            "2024-01-23T00:00:01Z",
            (since_day8 + 1, until_day22 + 1),
            2,
        ),
        // From the first release (the baseline) on: r0 … r4.
        (
            "2024-01-02",
            "2024-01-30T00:00:01Z",
            (T0 + DAY, T0 + 29 * DAY + 1),
            5,
        ),
        // Up to, not including, the last release: r0 … r3.
        ("2024-01-02", "2024-01-30", (T0 + DAY, T0 + 29 * DAY), 4),
    ] {
        let expected = expected(&repo, &deploys, &[], window);
        assert_eq!(expected.deployments, count, "{since} … {until}");
        let report = analyze(
            &scratch,
            &repo.path,
            &db,
            (since, until),
            &["--deploy-tags", "r*"],
        );
        assert_matches(only_service(&report), &expected);
    }
    let report = analyze(
        &scratch,
        &repo.path,
        &db,
        ("2024-01-09T01:00:00+01:00", "2024-01-23"),
        &["--deploy-tags", "r*"],
    );
    assert_eq!(report["window"]["since"], "2024-01-09T00:00:00Z");
    assert_eq!(report["window"]["until"], "2024-01-23T00:00:00Z");
}

#[test]
fn k_negative_lead_times_are_excluded_and_counted() {
    let scratch = Scratch::new();
    let repo = scratch.repo("skew");
    repo.commit("f.txt", T0, "c1");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    // Authored 10 days in the future (a skewed clock), committed at 1d.
    repo.commit_dated("f.txt", T0 + 10 * DAY, T0 + DAY, "c2 from the future");
    repo.commit("f.txt", T0 + DAY + HOUR, "c3");
    // Boundaries: authored exactly at the tag's time (lead time 0, kept) and one second after
    // it (−1, excluded).
    repo.commit_dated("f.txt", T0 + 2 * DAY, T0 + DAY + 2 * HOUR, "c4");
    repo.commit_dated("f.txt", T0 + 2 * DAY + 1, T0 + DAY + 3 * HOUR, "c5");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY);
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    let expected = expected(&repo, &deploys, &[], WIDE_T);
    // By hand: c2 (8 days negative) and c5 (−1 s) are excluded; c3: 2d − (1d+1h) = 82800;
    // c4: 0.
    assert_eq!(expected.negative_excluded, 2);
    let mut lead_times = expected.lead_times.clone();
    lead_times.sort();
    assert_eq!(lead_times, vec![0, 82_800]);
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    assert_matches(service, &expected);
    assert!(
        service["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note.as_str().unwrap().contains("clock skew")),
        "{service:#}"
    );
}
