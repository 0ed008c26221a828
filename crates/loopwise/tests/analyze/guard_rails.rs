//! The traps of a first hour (issue 13), each with the real binary on a repository built with
//! the git CLI.

use crate::support::{DAY, Scratch, T0, WIDE, analyze, only_service};

fn stored_changes(db: &std::path::Path) -> i64 {
    let connection = rusqlite::Connection::open(db).expect("open the database");
    connection
        .query_row("SELECT count(*) FROM changes", [], |row| row.get(0))
        .expect("count changes")
}

/// A GitHub clone holds every pull request's head under `refs/pull/*`: commits that never were
/// on a branch. They are not read unless `--all-refs` asks, as `git log --all` would.
#[test]
fn pull_request_refs_are_not_history_unless_asked() {
    let scratch = Scratch::new();
    let repo = scratch.repo("shop");
    repo.commit("app.txt", T0, "a");
    repo.commit("app.txt", T0 + DAY, "b");
    repo.checkout_new("pr-head", "HEAD");
    let unmerged = repo.commit("app.txt", T0 + 2 * DAY, "never merged");
    repo.checkout("main");
    repo.git(&["update-ref", "refs/pull/1/head", &unmerged], T0 + 2 * DAY);
    repo.git(&["branch", "-D", "pr-head"], T0 + 2 * DAY);
    let path = repo.path.clone();

    let db = scratch.db("branches");
    analyze(&scratch, &path, &db, WIDE, &["--deploy-commits"]);
    assert_eq!(
        stored_changes(&db),
        2,
        "a and b; not the pull request's head"
    );

    let db = scratch.db("all");
    analyze(
        &scratch,
        &path,
        &db,
        WIDE,
        &["--deploy-commits", "--all-refs"],
    );
    assert_eq!(stored_changes(&db), 3, "--all-refs reads refs/pull/* too");
}

/// A repository reached through a symlink is named as the path given names it.
#[test]
fn a_symlinked_repository_is_named_by_the_path_given() {
    let scratch = Scratch::new();
    let repo = scratch.repo("checkout-7f3a");
    repo.commit("app.txt", T0, "a");
    repo.commit("app.txt", T0 + DAY, "b");
    let link = scratch.path().join("payments");
    std::os::unix::fs::symlink(&repo.path, &link).expect("symlink");
    let report = analyze(
        &scratch,
        &link,
        &scratch.db("x"),
        WIDE,
        &["--deploy-commits"],
    );
    assert_eq!(only_service(&report)["service"], "payments");
    // Through the real path, the real name; from a folder inside it, the work tree's name.
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("y"),
        WIDE,
        &["--deploy-commits"],
    );
    assert_eq!(only_service(&report)["service"], "checkout-7f3a");
    std::fs::create_dir_all(repo.path.join("src")).expect("a folder");
    let inside = link.join("src");
    let report = analyze(
        &scratch,
        &inside,
        &scratch.db("z"),
        WIDE,
        &["--deploy-commits"],
    );
    assert_eq!(only_service(&report)["service"], "payments");
}

/// A `--path` that no commit touches (a typo) is said twice: a warning on stderr naming it,
/// and a note in the report, instead of a quiet "0 changes".
#[test]
fn a_path_that_matches_nothing_is_said() {
    let scratch = Scratch::new();
    let repo = scratch.repo("mono");
    repo.commit("services/api/a.txt", T0, "api: one");
    repo.commit("services/api/a.txt", T0 + DAY, "api: two");
    let db = scratch.db("x");
    let run = crate::support::analyze_run(
        &scratch,
        &repo.path,
        &db,
        WIDE,
        &[
            "--deploy-commits",
            "--path",
            "services/apii",
            "--service",
            "api",
        ],
    );
    let stderr = run.stderr.clone();
    let report: serde_json::Value = serde_json::from_str(&run.ok()).expect("JSON");
    assert!(
        stderr.contains("services/apii") && stderr.contains("WARN"),
        "{stderr}"
    );
    let service = only_service(&report);
    assert_eq!(service["lead_time"]["changes"], 0);
    let notes = service["notes"].to_string();
    assert!(
        notes.contains("no commit of the history touches the service's paths (services/apii)"),
        "{notes}"
    );
    // The right path: no such note.
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("y"),
        WIDE,
        &[
            "--deploy-commits",
            "--path",
            "services/api",
            "--service",
            "api",
        ],
    );
    assert!(
        !only_service(&report)["notes"]
            .to_string()
            .contains("touches the service's paths")
    );
}
