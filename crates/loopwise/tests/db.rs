//! `loopwise db migrate|export|import` end to end: the real binary on real SQLite files,
//! filled by `analyze` on a git repository built with the git CLI, by `token`, and with every
//! event kind through the store API.

#[allow(dead_code)]
#[path = "analyze/support.rs"]
mod support;

use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{
    CiRun, CiStatus, Event, FlagChange, Incident, PullRequest, PullRequestReview, PullRequestState,
    PushedChange, ReviewState,
};
use loopwise_store::export::ExportRecord;
use loopwise_store::{Delivery, Store};
use loopwise_store_sqlite::SqliteStore;
use loopwise_testkit::process::loopwise_command;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::{DAY, HOUR, Repo, Run, Scratch, T0, WIDE};

/// 2026-01-01T00:00:00Z, the header time of every export here.
const EPOCH: &str = "1767225600";

/// Runs `loopwise` hermetically, with `SOURCE_DATE_EPOCH` set and optional stdin.
fn loopwise(scratch: &Scratch, args: &[&str], stdin: Option<&[u8]>) -> Run {
    use std::io::Write;
    let mut command = loopwise_command(env!("CARGO_BIN_EXE_loopwise"), &scratch.home());
    command
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(scratch.home())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run loopwise");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).expect("write stdin");
    }
    drop(input);
    let output = child.wait_with_output().expect("wait for loopwise");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Asserts that `run`, a `loopwise db import` of `records` records, succeeded and said it
/// stored `new` of them and found the rest unchanged.
fn assert_imported(run: &Run, records: usize, new: usize) {
    assert_eq!(run.status, 0, "{}", run.stderr);
    let unchanged = records - new;
    assert!(
        run.stderr.contains(&format!(
            "{records} records: {new} new, 0 updated, {unchanged} unchanged"
        )),
        "{}",
        run.stderr
    );
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Every table of a loopwise database that an export carries, and its row count, read with SQL,
/// not the store. `derived_facts` is left out: it holds what the engine derived, is not exported,
/// and is rebuilt where it is missing.
fn table_counts(db: &Path) -> Vec<(String, i64)> {
    let connection =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    let mut statement = connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'derived_facts' \
             ORDER BY name",
        )
        .unwrap();
    let tables: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let count = connection
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap();
            (table, count)
        })
        .collect()
}

/// A service repository: three releases, a hotfix and a commit under `web/` only, so the
/// path filter of `--path api` caches both answers.
fn build_repository(scratch: &Scratch) -> (Repo, Vec<String>) {
    let repo = scratch.repo("checkout");
    let mut shas = Vec::new();
    shas.push(repo.commit("api/main.rs", T0, "first"));
    shas.push(repo.commit("web/index.html", T0 + HOUR, "page"));
    repo.tag("v1.0.0", "HEAD", T0 + 2 * HOUR);
    shas.push(repo.commit("api/main.rs", T0 + DAY, "feature"));
    repo.tag("v1.1.0", "HEAD", T0 + DAY + 3 * HOUR);
    shas.push(repo.commit("api/lib.rs", T0 + 2 * DAY, "fix checkout"));
    repo.tag("v1.1.1", "HEAD", T0 + 2 * DAY + HOUR);
    (repo, shas)
}

/// Every event kind, written through the store API as the server would.
fn write_events(db: &Path, shas: &[String]) {
    let store = SqliteStore::open(db).unwrap();
    let tip = shas.last().unwrap().clone();
    let pushed = |sha: &str, parent: &str, time: i64| PushedChange {
        repository: "acme/checkout".into(),
        branch: Some("main".into()),
        change: Change {
            sha: sha.into(),
            parents: vec![parent.into()],
            author_time: time,
            committer_time: time,
            author_name: "Ada".into(),
            author_email: "ada@example.com".into(),
            subject: format!("pushed {sha}"),
            reverts: None,
        },
    };
    let run = |attempt: u32, status: CiStatus| CiRun {
        source: Source::Github,
        id: "run-77".into(),
        attempt,
        repository: "acme/checkout".into(),
        pipeline: "CI".into(),
        sha: tip.clone(),
        branch: Some("main".into()),
        status,
        started_at: Some(T0 + 2 * DAY + 60 * attempt as i64),
        finished_at: Some(T0 + 2 * DAY + 90 * attempt as i64),
        url: None,
    };
    let events = vec![
        Event::Change(pushed(&"e".repeat(40), &tip, T0 + 3 * DAY)),
        Event::Deployment(Deployment {
            source: Source::Api,
            id: "deploy-42".into(),
            service: "checkout".into(),
            environment: "production".into(),
            sha: tip.clone(),
            started_at: Some(T0 + 2 * DAY + 2 * HOUR),
            finished_at: Some(T0 + 2 * DAY + 3 * HOUR),
            status: DeploymentStatus::Failure,
            kind: DeploymentKind::Hotfix,
        }),
        Event::PullRequest(PullRequest {
            source: Source::Github,
            repository: "acme/checkout".into(),
            number: 12,
            title: "Fix checkout".into(),
            author: "ada".into(),
            state: PullRequestState::Merged,
            created_at: T0 + DAY + 5 * HOUR,
            merged_at: Some(T0 + 2 * DAY),
            closed_at: Some(T0 + 2 * DAY),
            merge_sha: Some(tip.clone()),
            head_sha: Some("f".repeat(40)),
            base_branch: Some("main".into()),
            additions: Some(20),
            deletions: Some(4),
        }),
        Event::PullRequestReview(PullRequestReview {
            source: Source::Github,
            repository: "acme/checkout".into(),
            number: 12,
            id: "review-1".into(),
            reviewer: "bob".into(),
            state: ReviewState::Approved,
            submitted_at: T0 + DAY + 8 * HOUR,
        }),
        Event::Incident(Incident {
            source: Source::Api,
            id: "INC-9".into(),
            service: Some("checkout".into()),
            title: "Checkout errors".into(),
            severity: Some("sev2".into()),
            started_at: T0 + DAY + 4 * HOUR,
            acknowledged_at: Some(T0 + DAY + 5 * HOUR),
            resolved_at: Some(T0 + DAY + 9 * HOUR),
            caused_by: None,
            url: Some("https://status.example.com/INC-9".into()),
        }),
        Event::CiRun(run(1, CiStatus::Failure)),
        Event::CiRun(run(2, CiStatus::Success)),
        Event::FlagChange(FlagChange {
            source: Source::Gitlab,
            repository: "acme/checkout".into(),
            flag_id: "17".into(),
            key: "new-checkout".into(),
            description: Some("the new flow".into()),
            active: true,
            changed_at: T0 + DAY,
            actor: Some("ada".into()),
        }),
    ];
    store.apply_events(&events).unwrap();
    let delivery = Delivery {
        source: Source::Github,
        id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        event: "push".into(),
        received_at: T0 + 3 * DAY,
    };
    let delivered = [Event::Change(pushed(
        &"d".repeat(40),
        &"e".repeat(40),
        T0 + 3 * DAY + HOUR,
    ))];
    assert!(
        store
            .apply_delivery(&delivery, &delivered)
            .unwrap()
            .is_some()
    );
}

/// Database A with every entity kind: analyze, tokens and events.
fn populated(scratch: &Scratch) -> (Repo, PathBuf) {
    let (repo, shas) = build_repository(scratch);
    let a = scratch.db("a");
    let flags = ["--deploy-tags", "v*", "--path", "api"];
    support::analyze_text(scratch, &repo.path, &a, WIDE, &flags);
    for (name, scope) in [("ci", "ingest"), ("dash", "read"), ("root", "admin")] {
        let created = loopwise(
            scratch,
            &[
                "token",
                "create",
                "--db",
                text(&a),
                "--scope",
                scope,
                "--name",
                name,
            ],
            None,
        );
        assert_eq!(created.status, 0, "{}", created.stderr);
    }
    let revoked = loopwise(
        scratch,
        &["token", "revoke", "--db", text(&a), "root"],
        None,
    );
    assert_eq!(revoked.status, 0, "{}", revoked.stderr);
    write_events(&a, &shas);
    (repo, a)
}

fn report_json(db: &Path) -> String {
    report_json_of(&SqliteStore::open(db).unwrap())
}

fn report_json_of(store: &dyn Store) -> String {
    use loopwise_core::time::Window;
    use loopwise_engine::{Engine, ReportQuery};
    let query = ReportQuery::organisation(Window::new(T0 - DAY, T0 + 10 * DAY).unwrap());
    serde_json::to_string(&Engine::default().report(store, &query).unwrap()).unwrap()
}

fn export_file(scratch: &Scratch, db: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let path = scratch.path().join(name);
    let run = loopwise(
        scratch,
        &["db", "export", "--db", text(db), "--output", text(&path)],
        None,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(!scratch.path().join(format!("{name}.partial")).exists());
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn sqlite_to_sqlite_and_back_loses_nothing() {
    let scratch = Scratch::new();
    let (repo, a) = populated(&scratch);
    let (export_a, bytes_a) = export_file(&scratch, &a, "a.ndjson");

    // Every kind is in the file, after the header.
    let text_a = String::from_utf8(bytes_a.clone()).unwrap();
    let mut lines = text_a.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["schema"], "loopwise.export.v1");
    assert_eq!(
        header["schema_version"],
        loopwise_store_sqlite::SCHEMA_VERSION
    );
    assert_eq!(header["exported_at"], "2026-01-01T00:00:00Z");
    let end = text_a.lines().last().unwrap();
    let records = text_a.lines().count() - 2;
    assert_eq!(end, format!(r#"{{"kind":"end","records":{records}}}"#));
    let kinds: BTreeSet<String> = lines
        .take(records)
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["kind"].as_str().unwrap().to_string()
        })
        .collect();
    let all: BTreeSet<String> = ExportRecord::KINDS.iter().map(|k| k.to_string()).collect();
    assert_eq!(kinds, all);
    // Tokens carry their hash, never a secret: the file has no `lw_` secret prefix.
    assert!(!text_a.contains("\"lw_"));

    // Into a fresh B.
    let b = scratch.db("b");
    let imported = loopwise(
        &scratch,
        &["db", "import", text(&export_a), "--db", text(&b)],
        None,
    );
    assert_imported(&imported, records, records);
    let (_, bytes_b) = export_file(&scratch, &b, "b.ndjson");
    assert!(bytes_a == bytes_b, "the two exports are byte-identical");
    assert_eq!(table_counts(&a), table_counts(&b));
    // Every table holds something, so the equality above is about real rows.
    for (table, count) in table_counts(&a) {
        assert!(count > 0, "table {table} is empty in A");
    }
    assert_eq!(report_json(&a), report_json(&b));
    assert!(report_json(&a).contains("\"checkout\""));

    // analyze on B continues from B's history exactly as on A.
    let flags = ["--deploy-tags", "v*", "--path", "api"];
    let on_a = support::analyze_text(&scratch, &repo.path, &a, WIDE, &flags);
    let on_b = support::analyze_text(&scratch, &repo.path, &b, WIDE, &flags);
    assert_eq!(on_a, on_b);
    assert_eq!(table_counts(&a), table_counts(&b));

    // Tokens work on B: the admin token was revoked on A and stays revoked.
    let listed = loopwise(&scratch, &["token", "list", "--db", text(&b)], None);
    let root = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("root "))
        .unwrap();
    assert!(!root.trim_end().ends_with(" -"), "{root}");

    // Importing again, from stdin this time, stores nothing twice.
    let again = loopwise(
        &scratch,
        &["db", "import", "-", "--db", text(&b)],
        Some(&bytes_a),
    );
    assert_imported(&again, records, 0);
    assert_eq!(table_counts(&a), table_counts(&b));
    // And to stdout: the same bytes.
    let to_stdout = loopwise(&scratch, &["db", "export", "--db", text(&b)], None);
    assert_eq!(to_stdout.status, 0, "{}", to_stdout.stderr);
    assert!(to_stdout.stdout.as_bytes() == bytes_a);
    assert!(
        to_stdout
            .stderr
            .starts_with(&format!("exported {records} records: 2 repository,")),
        "{}",
        to_stdout.stderr
    );
}

#[test]
fn sqlite_to_postgres_and_back_loses_nothing() {
    use loopwise_store_postgres::PostgresStore;
    use loopwise_store_postgres::testing::ScratchDatabase;
    let Some(postgres) = ScratchDatabase::create() else {
        return;
    };
    let url = postgres.url();
    let scratch = Scratch::new();
    let (_, a) = populated(&scratch);
    let (export_a, bytes_a) = export_file(&scratch, &a, "a.ndjson");
    let records = String::from_utf8(bytes_a.clone()).unwrap().lines().count() - 2;

    let migrated = loopwise(&scratch, &["db", "migrate", "--db", url], None);
    assert_eq!(migrated.status, 0, "{}", migrated.stderr);
    let latest = loopwise_store_postgres::SCHEMA_VERSION;
    assert_eq!(
        migrated.stdout,
        format!("schema version none -> {latest} (created)\n")
    );
    let imported = loopwise(
        &scratch,
        &["db", "import", text(&export_a), "--db", url],
        None,
    );
    assert_imported(&imported, records, records);
    // PostgreSQL exports the very bytes SQLite did, and reports the same figures.
    let from_postgres = loopwise(&scratch, &["db", "export", "--db", url], None);
    assert_eq!(from_postgres.status, 0, "{}", from_postgres.stderr);
    assert!(from_postgres.stdout.as_bytes() == bytes_a, "byte-identical");
    let store = PostgresStore::open(url).unwrap();
    assert_eq!(report_json_of(&store), report_json(&a));
    assert!(report_json_of(&store).contains("\"checkout\""));

    // Importing into PostgreSQL again stores nothing twice.
    let again = loopwise(
        &scratch,
        &["db", "import", "-", "--db", url],
        Some(&bytes_a),
    );
    assert_imported(&again, records, 0);

    // And back to a fresh SQLite file: the same rows, the same bytes.
    let c = scratch.db("c");
    let back = loopwise(
        &scratch,
        &["db", "import", "-", "--db", text(&c)],
        Some(from_postgres.stdout.as_bytes()),
    );
    assert_eq!(back.status, 0, "{}", back.stderr);
    let (_, bytes_c) = export_file(&scratch, &c, "c.ndjson");
    assert!(bytes_c == bytes_a, "byte-identical after the round trip");
    assert_eq!(table_counts(&a), table_counts(&c));
    assert_eq!(report_json(&a), report_json(&c));
}

/// Replaces line `number` (1-based) of `text`.
fn with_line(text: &str, number: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[number - 1] = line;
    lines.join("\n") + "\n"
}

#[test]
fn bad_files_exit_2_naming_line_and_field_and_change_nothing() {
    let scratch = Scratch::new();
    let (_, a) = populated(&scratch);
    let (_, bytes) = export_file(&scratch, &a, "a.ndjson");
    let good = String::from_utf8(bytes).unwrap();
    // B holds one good import already; a bad file must leave it exactly so.
    let b = scratch.db("b");
    let first = loopwise(
        &scratch,
        &["db", "import", "-", "--db", text(&b)],
        Some(good.as_bytes()),
    );
    assert_eq!(first.status, 0, "{}", first.stderr);
    let (_, before) = export_file(&scratch, &b, "b-before.ndjson");
    let counts_before = table_counts(&b);

    let lines: Vec<&str> = good.lines().collect();
    let last = lines.len();
    let cut_at_a_line = lines[..last - 1].join("\n") + "\n";
    let after_the_end = format!("{good}{}\n", lines[1]);
    let deployment_line = 1 + lines
        .iter()
        .position(|l| l.starts_with(r#"{"kind":"deployment""#))
        .unwrap();
    let truncated = {
        let mut text = good.clone();
        text.truncate(good.len() - 25);
        text
    };
    let cases: Vec<(&str, String, String)> = vec![
        (
            "truncated last line",
            truncated,
            format!(":{last}: not valid JSON"),
        ),
        (
            "cut at a line boundary",
            cut_at_a_line,
            format!(":{}: the file ends without its end line", last - 1),
        ),
        (
            "a line after the end",
            after_the_end,
            format!(":{}: a line after the end line (line {last})", last + 1),
        ),
        (
            "unknown kind",
            with_line(&good, 3, r#"{"kind":"commit","sha":"a1"}"#),
            ":3: field kind: unknown kind \"commit\"".into(),
        ),
        (
            "wrong type",
            with_line(
                &good,
                deployment_line,
                &lines[deployment_line - 1].replacen(r#""status":"#, r#""status":7,"x":"#, 1),
            ),
            format!(":{deployment_line}: field deployment.status:"),
        ),
        (
            "newer schema version",
            with_line(
                &good,
                1,
                r#"{"schema":"loopwise.export.v1","schema_version":999,"exported_at":"2030-01-01T00:00:00Z"}"#,
            ),
            ":1: field schema_version: the export is from schema version 999".into(),
        ),
        (
            "newer format",
            with_line(
                &good,
                1,
                r#"{"schema":"loopwise.export.v2","schema_version":1,"exported_at":"2030-01-01T00:00:00Z"}"#,
            ),
            ":1: field schema: unknown export schema \"loopwise.export.v2\"".into(),
        ),
        (
            "no header",
            good.lines().skip(1).collect::<Vec<_>>().join("\n"),
            ":1: field schema: missing".into(),
        ),
    ];
    for (what, content, expected) in cases {
        let file = scratch.file("bad.ndjson", &content);
        let run = loopwise(
            &scratch,
            &["db", "import", text(&file), "--db", text(&b)],
            None,
        );
        assert_eq!(run.status, 2, "{what}: {}", run.stderr);
        let wanted = format!("error: {}{expected}", file.display());
        assert!(
            run.stderr.starts_with(&wanted),
            "{what}: {}\nwanted {wanted}",
            run.stderr
        );
        let (_, after) = export_file(&scratch, &b, "b-after.ndjson");
        assert!(after == before, "{what}: B changed");
        assert_eq!(table_counts(&b), counts_before, "{what}");
        // Into a database that does not exist: it is not even created.
        let c = scratch.db("never");
        let run = loopwise(
            &scratch,
            &["db", "import", text(&file), "--db", text(&c)],
            None,
        );
        assert_eq!(run.status, 2, "{what}");
        assert!(!c.exists(), "{what}: the database was created");
    }
    let missing = loopwise(
        &scratch,
        &["db", "import", "/nonexistent/x.ndjson", "--db", text(&b)],
        None,
    );
    assert_eq!(missing.status, 2);
    assert!(
        missing.stderr.contains("/nonexistent/x.ndjson"),
        "{}",
        missing.stderr
    );
}

#[test]
fn migrate_reports_the_version_before_and_after() {
    let scratch = Scratch::new();
    let latest = loopwise_store_sqlite::SCHEMA_VERSION;
    let db = scratch.db("m");
    let created = loopwise(&scratch, &["db", "migrate", "--db", text(&db)], None);
    assert_eq!(created.status, 0, "{}", created.stderr);
    assert_eq!(
        created.stdout,
        format!("schema version none -> {latest} (created)\n")
    );
    let again = loopwise(&scratch, &["db", "migrate", "--db", text(&db)], None);
    assert_eq!(
        again.stdout,
        format!("schema version {latest} -> {latest} (up to date)\n")
    );

    // A database at version 3 (the first three migrations, applied by hand) is brought up.
    let old = scratch.db("old");
    {
        let connection = rusqlite::Connection::open(&old).unwrap();
        for sql in [
            include_str!("../../loopwise-store-sqlite/migrations/0001_initial.sql"),
            include_str!("../../loopwise-store-sqlite/migrations/0002_events.sql"),
            include_str!("../../loopwise-store-sqlite/migrations/0003_flag_changes.sql"),
        ] {
            connection.execute_batch(sql).unwrap();
        }
        connection.pragma_update(None, "user_version", 3).unwrap();
    }
    let migrated = loopwise(&scratch, &["db", "migrate", "--db", text(&old)], None);
    assert_eq!(migrated.status, 0, "{}", migrated.stderr);
    assert_eq!(
        migrated.stdout,
        format!("schema version 3 -> {latest} (migrated)\n")
    );

    // A newer database is refused and left alone.
    let newer = scratch.db("newer");
    {
        let connection = rusqlite::Connection::open(&newer).unwrap();
        connection.pragma_update(None, "user_version", 99).unwrap();
    }
    let refused = loopwise(&scratch, &["db", "migrate", "--db", text(&newer)], None);
    assert_eq!(refused.status, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("schema version 99, newer"),
        "{}",
        refused.stderr
    );
    let connection = rusqlite::Connection::open(&newer).unwrap();
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 99);
}
