//! Re-running on the same database: identical output, no duplicates, and new history gives the
//! same figures as a fresh database.

use crate::ground_truth::linear_history;
use crate::oracle::{assert_matches, expected, tag_deploys};
use crate::support::{
    DAY, HOUR, Repo, Scratch, T0, WIDE, WIDE_T, analyze_text, only_service, rows,
};
use std::path::Path;

fn git_count(repo: &Repo, args: &[&str]) -> i64 {
    repo.out(args).parse().expect("a count")
}

/// Stored rows equal what git has: every commit of every ref once, every tag once, and one
/// deployment per matching tag.
fn assert_no_duplicates(repo: &Repo, db: &Path, deployments: usize) {
    assert_eq!(
        rows(db, "changes"),
        git_count(repo, &["rev-list", "--all", "--count"]),
        "changes"
    );
    let tags = repo.out(&["tag", "--list"]).lines().count() as i64;
    assert_eq!(rows(db, "tags"), tags, "tags");
    assert_eq!(rows(db, "deployments"), deployments as i64, "deployments");
    assert_eq!(rows(db, "repositories"), 1, "repositories");
}

#[test]
fn reruns_are_idempotent_and_new_history_is_picked_up_incrementally() {
    let scratch = Scratch::new();
    let repo = scratch.repo("service");
    linear_history(&repo, 5, 7);
    let db = scratch.db("shared");
    let flags = ["--deploy-tags", "v*"];

    let first = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    let second = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    assert_eq!(first, second, "a re-run prints byte-identical JSON");
    assert_no_duplicates(&repo, &db, 6);

    // New work: a feature branch merged with --no-ff, a direct commit, a new release.
    let tip_time: i64 = repo.out(&["log", "-1", "--format=%ct"]).parse().unwrap();
    let t = tip_time + DAY;
    repo.checkout_new("feature", "main");
    repo.commit("src/feature.rs", t, "feature part 1");
    repo.commit("src/feature.rs", t + HOUR, "feature part 2");
    repo.checkout("main");
    repo.commit("src/main.rs", t + 2 * HOUR, "direct fix");
    repo.merge("feature", t + 3 * HOUR);
    repo.tag("v2.0.0", "HEAD", t + 5 * HOUR);

    let incremental = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    let fresh = analyze_text(&scratch, &repo.path, &scratch.db("fresh"), WIDE, &flags);
    assert_eq!(incremental, fresh, "incremental run equals a fresh-db run");
    assert_ne!(incremental, first, "the new release shows");
    assert_no_duplicates(&repo, &db, 7);
    assert_no_duplicates(&repo, &scratch.db("fresh"), 7);
    let report: serde_json::Value = serde_json::from_str(&incremental).unwrap();
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_matches(
        only_service(&report),
        &expected(&repo, &deploys, &[], WIDE_T),
    );

    // Again, unchanged.
    let again = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    assert_eq!(again, incremental);
    assert_no_duplicates(&repo, &db, 7);

    // A release tag deleted: the stored tags and deployments follow git.
    repo.git(&["tag", "-d", "v1.2.0"], T0);
    let after_delete = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    let fresh = analyze_text(&scratch, &repo.path, &scratch.db("fresh2"), WIDE, &flags);
    assert_eq!(
        after_delete, fresh,
        "a deleted tag is no deployment any more"
    );
    assert_no_duplicates(&repo, &db, 6);
}

#[test]
fn monorepo_path_answers_are_cached_once_per_commit() {
    let scratch = Scratch::new();
    let repo = scratch.repo("mono");
    repo.commit("services/api/a.rs", T0, "api 1");
    repo.commit("services/web/w.ts", T0 + HOUR, "web 1");
    repo.tag("v1.0", "HEAD", T0 + 2 * HOUR);
    repo.commit("services/api/a.rs", T0 + DAY, "api 2");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY);
    let db = scratch.db("shared");
    let flags = [
        "--deploy-tags",
        "v*",
        "--path",
        "services/api",
        "--service",
        "api",
    ];
    let first = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    assert_eq!(
        first,
        analyze_text(&scratch, &repo.path, &db, WIDE, &flags),
        "byte-identical"
    );
    repo.checkout_new("side", "main");
    repo.commit("services/web/w.ts", T0 + 3 * DAY, "web 2");
    repo.commit("services/api/b.rs", T0 + 3 * DAY + HOUR, "api 3");
    repo.checkout("main");
    repo.merge("side", T0 + 4 * DAY);
    repo.tag("v1.2", "HEAD", T0 + 4 * DAY + HOUR);
    let incremental = analyze_text(&scratch, &repo.path, &db, WIDE, &flags);
    let fresh = analyze_text(&scratch, &repo.path, &scratch.db("fresh"), WIDE, &flags);
    assert_eq!(incremental, fresh);
    // One answer per commit (a merge's against its first parent), none twice.
    assert_eq!(
        rows(&db, "path_touches"),
        git_count(&repo, &["rev-list", "--all", "--count"])
    );
    assert_no_duplicates(&repo, &db, 3);
    let report: serde_json::Value = serde_json::from_str(&incremental).unwrap();
    let deploys = tag_deploys(&repo, &["refs/tags/v*"]);
    assert_matches(
        only_service(&report),
        &expected(&repo, &deploys, &["services/api"], WIDE_T),
    );
}
