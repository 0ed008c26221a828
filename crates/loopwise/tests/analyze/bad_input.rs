//! Bad input: exit status 2, one line on stderr starting with `error:` that names the problem,
//! and nothing in the database changed.

use crate::support::{
    DAY, HOUR, SINCE, Scratch, T0, UNTIL, WIDE, analyze, analyze_run, loopwise, only_service,
    row_counts,
};

#[test]
fn bad_input_exits_2_with_one_named_error_line_and_leaves_the_db_alone() {
    let scratch = Scratch::new();
    let repo = scratch.repo("svc");
    let c1 = repo.commit("f.txt", T0, "c1");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    repo.commit("f.txt", T0 + DAY, "c2");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY);
    let db = scratch.db("x");
    analyze(&scratch, &repo.path, &db, WIDE, &["--deploy-tags", "v*"]);
    let before = row_counts(&db);
    // New history that a run which wrongly wrote before validating would store.
    repo.commit("f.txt", T0 + 3 * DAY, "c3");
    repo.tag("v1.2", "HEAD", T0 + 4 * DAY);

    let plain = scratch.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let missing = scratch.path().join("missing");
    let malformed = scratch.file(
        "malformed.csv",
        &format!("sha,time\n{c1},2024-01-02T00:00:00Z\n{c1},not-a-time\n"),
    );
    let unknown = scratch.file(
        "unknown.csv",
        &format!(
            "sha,time\n{c1},2024-01-02T00:00:00Z\ndeadbeefdeadbeefdeadbeefdeadbeefdeadbeef,2024-01-03\n"
        ),
    );
    let repo_path = repo.path.to_str().unwrap().to_string();
    let db_text = db.to_str().unwrap().to_string();
    let plain_text = plain.to_str().unwrap().to_string();
    let missing_text = missing.to_str().unwrap().to_string();
    let malformed_text = malformed.to_str().unwrap().to_string();
    let unknown_text = unknown.to_str().unwrap().to_string();

    // (path, extra flags, what the message must name)
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            &plain_text,
            vec![],
            vec![plain_text.as_str(), "not a git repository"],
        ),
        (
            &missing_text,
            vec![],
            vec![missing_text.as_str(), "no such file"],
        ),
        (
            &repo_path,
            vec!["--deploy-tags", "zzz*"],
            vec!["--deploy-tags", "zzz*", "matches no tag"],
        ),
        (
            &repo_path,
            vec!["--since", "2024-13-45"],
            vec!["--since", "2024-13-45"],
        ),
        (
            &repo_path,
            vec!["--since", "2025-01-01", "--until", "2024-01-01"],
            vec!["--since", "--until"],
        ),
        (
            &repo_path,
            vec!["--deploy-log", &malformed_text],
            vec![&malformed_text, "malformed.csv:3:", "time", "not-a-time"],
        ),
        (
            &repo_path,
            vec!["--deploy-log", &unknown_text],
            vec![&unknown_text, "unknown.csv:3:", "sha", "deadbeef"],
        ),
        (
            &repo_path,
            vec!["--benchmark", "dora-1999"],
            vec!["--benchmark", "dora-1999"],
        ),
        (
            &repo_path,
            vec!["--hotfix-subject", "("],
            vec!["--hotfix-subject"],
        ),
        (&repo_path, vec!["--db", "mysql://x"], vec!["--db", "mysql"]),
        (
            &repo_path,
            vec!["--db", "postgres://u@host:notaport/db"],
            vec!["--db", "not a valid PostgreSQL URL"],
        ),
    ];
    for (path, extra, named) in cases {
        // The usual flags, unless the case gives its own.
        let mut args = vec!["analyze", path, "--format", "json"];
        for (flag, value) in [
            ("--db", db_text.as_str()),
            ("--since", SINCE),
            ("--until", UNTIL),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend(extra.iter().copied());
        let run = loopwise(&scratch.home(), &args);
        let context = format!("{args:?}\nstatus {}\nstderr: {:?}", run.status, run.stderr);
        assert_eq!(run.status, 2, "{context}");
        assert!(run.stdout.is_empty(), "nothing on stdout: {context}");
        assert!(run.stderr.starts_with("error:"), "{context}");
        assert!(run.stderr.ends_with('\n'), "{context}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {context}");
        for name in named {
            assert!(
                run.stderr.to_lowercase().contains(&name.to_lowercase()),
                "names {name:?}: {context}"
            );
        }
        assert_eq!(row_counts(&db), before, "db unchanged: {context}");
    }

    // The same database still takes good input, and the new history arrives then.
    let report = analyze(&scratch, &repo.path, &db, WIDE, &["--deploy-tags", "v*"]);
    assert_eq!(only_service(&report)["deployments"]["count"], 3);
    assert_ne!(row_counts(&db), before);
}

#[test]
fn a_window_without_deployments_is_a_note_not_an_error() {
    let scratch = Scratch::new();
    let repo = scratch.repo("quiet");
    repo.commit("f.txt", T0, "c1");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    repo.commit("f.txt", T0 + DAY, "c2");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY);
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("x"),
        ("2020-01-01", "2020-03-01"),
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    assert_eq!(service["deployments"]["count"], 0);
    assert_eq!(service["lead_time"]["changes"], 0);
    assert!(service["lead_time"]["median_seconds"].is_null());
    assert!(service["change_failure_rate"]["rate"].is_null());
    assert!(service["recovery_time"]["median_seconds"].is_null());
    assert!(service["rework_rate"]["rate"].is_null());
    let notes: Vec<&str> = service["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("no deployments")),
        "{notes:?}"
    );
}

#[test]
fn bad_input_on_a_repository_the_db_never_saw_registers_nothing() {
    let scratch = Scratch::new();
    let known = scratch.repo("known");
    known.commit("f.txt", T0, "c1");
    known.tag("v1.0", "HEAD", T0 + HOUR);
    let db = scratch.db("x");
    analyze(&scratch, &known.path, &db, WIDE, &["--deploy-tags", "v*"]);
    let before = row_counts(&db);

    let stranger = scratch.repo("stranger");
    stranger.commit("f.txt", T0, "c1");
    let run = analyze_run(
        &scratch,
        &stranger.path,
        &db,
        WIDE,
        &["--deploy-tags", "zzz*"],
    );
    assert_eq!(run.status, 2, "{:?}", run.stderr);
    assert_eq!(row_counts(&db), before, "not even a repositories row");
}

/// Git shows a history with a commit whose author date is not a number; so does analyze:
/// the commit is stored, gives no lead time (its start is unknown), and the report says so.
#[test]
fn a_commit_with_an_unreadable_date_is_counted_not_fatal() {
    let scratch = Scratch::new();
    let repo = scratch.repo("odd");
    let base = repo.commit("a.txt", T0, "base");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    let tree = repo.out(&["rev-parse", "HEAD^{tree}"]);
    let odd = repo
        .git_with_input(
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                "--literally",
                "--stdin",
            ],
            format!(
                "tree {tree}\nparent {base}\nauthor Odd <odd@example.com> notadate +0000\n\
             committer Odd <odd@example.com> {} +0000\n\nodd\n",
                T0 + DAY
            )
            .as_bytes(),
        )
        .trim()
        .to_string();
    repo.git(&["update-ref", "refs/heads/main", &odd], T0);
    repo.git(&["reset", "-q", "--hard", &odd], T0);
    repo.commit("b.txt", T0 + 2 * DAY, "after");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY + HOUR);
    let report = analyze(
        &scratch,
        &repo.path,
        &scratch.db("odd"),
        WIDE,
        &["--deploy-tags", "v*"],
    );
    let service = only_service(&report);
    // v1.1 ships "odd" (no lead time: its author date is unknown) and "after" (1 h).
    assert_eq!(service["lead_time"]["changes"], 1, "{service:#}");
    assert_eq!(service["lead_time"]["implausible_excluded"], 1);
    assert_eq!(service["lead_time"]["median_seconds"], HOUR as f64);
    let notes: Vec<&str> = service["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|note| note.as_str())
        .collect();
    assert!(
        notes.iter().any(
            |note| note.starts_with("1 commit with an unreadable date was stored")
                && note.contains(&odd)
        ),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|note| note.contains("implausible author date")),
        "{notes:?}"
    );
}
