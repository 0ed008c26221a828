//! `loopwise demo` end to end: the real binary fills a database with the generator's
//! organisation (the same counts the generator gives), a re-run stores nothing twice, the demo
//! serves its dashboard data, the written configuration is accepted by `loopwise serve
//! --config`, a database with other data (or another demo) or a bad flag is refused with exit
//! status 2, and the demo on PostgreSQL answers every API question as on SQLite.

use loopwise_core::entities::{Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_ingest::demo::{DEFAULT_SEED, DemoCounts, DemoOrganisation};
use loopwise_store::Store;
use loopwise_store_sqlite::SqliteStore;
use loopwise_testkit::process::{ServeProcess, loopwise_command};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const END: &str = "2026-12-01";
/// 2026-12-01T00:00:00Z.
const END_SECONDS: i64 = 1_796_083_200;
/// The last 90 days of the demo's history.
const LAST_90_DAYS: &str = "since=2026-09-02&until=2026-12-01";

fn loopwise(home: &Path) -> Command {
    let mut command = loopwise_command(env!("CARGO_BIN_EXE_loopwise"), home);
    command.current_dir(home);
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run loopwise");
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).expect("UTF-8 stdout"),
        String::from_utf8(stderr).expect("UTF-8 stderr"),
    )
}

/// What the database holds, counted as the generator counts (tribes and squads live in the
/// configuration, not the database).
fn stored(db: &Path) -> DemoCounts {
    stored_in(&SqliteStore::open(db).expect("open the demo database"))
}

fn stored_in(store: &dyn Store) -> DemoCounts {
    let counts = store.counts().expect("counts");
    assert_eq!(counts.repositories, counts_of_generator().services);
    DemoCounts {
        tribes: 0,
        squads: 0,
        services: store
            .write_versions()
            .map(|versions| loopwise_store::versions::services(&versions).count())
            .expect("versions"),
        changes: counts.changes,
        deployments: counts.deployments,
        incidents: store.incidents(None).expect("incidents").len(),
    }
}

fn counts_of_generator() -> DemoCounts {
    DemoOrganisation::generate(DEFAULT_SEED, END_SECONDS).counts()
}

fn without_owners(counts: DemoCounts) -> DemoCounts {
    DemoCounts {
        tribes: 0,
        squads: 0,
        ..counts
    }
}

fn get(server: &ServeProcess, path: &str) -> Value {
    let response = server.request("GET", path, &[], "");
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    response.json()
}

fn groups(board: &Value) -> BTreeSet<String> {
    board["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            assert!(
                row["deployments"]["count"].as_u64() > Some(0),
                "every group deployed in the last 90 days: {row}"
            );
            row["group"].as_str().expect("group").to_string()
        })
        .collect()
}

fn tribes() -> BTreeSet<String> {
    ["commerce", "discovery", "fulfilment", "platform"]
        .map(String::from)
        .into()
}

#[test]
fn demo_fills_its_own_database_once_and_serves_it() {
    let home = tempfile::tempdir().expect("temporary directory");
    let expected = counts_of_generator();

    // Defaults: the database and its configuration in the current directory.
    let (status, stdout, stderr) =
        run(loopwise(home.path()).args(["demo", "--no-serve", "--end", END]));
    assert_eq!(status, 0, "{stderr}");
    let db = home.path().join("loopwise-demo.db");
    let config = home.path().join("loopwise-demo.toml");
    assert!(db.is_file() && config.is_file(), "{stdout}");
    for (what, count) in [
        ("tribes", expected.tribes),
        ("squads", expected.squads),
        ("services", expected.services),
        ("changes", expected.changes),
        ("deployments", expected.deployments),
        ("incidents", expected.incidents),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.split_whitespace().eq([what, &count.to_string()])),
            "{what} {count} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("next: loopwise serve --db loopwise-demo.db --config loopwise-demo.toml"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("open http://"),
        "--no-serve serves nothing"
    );
    assert_eq!(stored(&db), without_owners(expected));

    // Again, serving this time: nothing is stored twice, and the dashboard's data is there.
    let mut demo = loopwise(home.path());
    demo.args(["demo", "--end", END, "--listen", "127.0.0.1:0"]);
    let server = ServeProcess::spawn(demo);
    let board = get(
        &server,
        &format!("/api/v1/leaderboard?group_by=tribe&{LAST_90_DAYS}"),
    );
    assert_eq!(groups(&board), tribes());
    drop(server);
    assert_eq!(
        stored(&db),
        without_owners(expected),
        "a re-run stores nothing twice"
    );

    // Without --end, the demo the database holds is written again as it was (the default
    // end, today, would otherwise make another one each day); another end or seed is refused.
    let (status, _, stderr) = run(loopwise(home.path()).args(["demo", "--no-serve"]));
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("ending 2026-12-01T00:00:00Z")
            && stderr.contains("already holds this demo"),
        "{stderr}"
    );
    for (args, named) in [
        (
            ["--end", "2026-11-01", "--seed", "7"],
            "--end 2026-11-01T00:00:00Z",
        ),
        (["--end", END, "--seed", "8"], "--seed 8"),
    ] {
        let (status, _, stderr) = run(loopwise(home.path())
            .args(["demo", "--no-serve"])
            .args(args));
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(named) && stderr.contains("loopwise-demo.db holds"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        stored(&db),
        without_owners(expected),
        "refusals write nothing"
    );

    // The written configuration is what `loopwise serve --config` reads.
    let mut serve = loopwise(home.path());
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config);
    let server = ServeProcess::spawn(serve);
    let board = get(
        &server,
        &format!("/api/v1/leaderboard?group_by=tribe&{LAST_90_DAYS}"),
    );
    assert_eq!(groups(&board), tribes());
    let squads = get(
        &server,
        &format!("/api/v1/leaderboard?group_by=squad&{LAST_90_DAYS}"),
    );
    assert_eq!(groups(&squads).len(), expected.squads, "{squads}");
    // The service whose name needs escaping is owned and has its history.
    let report = get(
        &server,
        &format!("/api/v1/report?team=partners&{LAST_90_DAYS}"),
    );
    let partner = report["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|service| service["service"] == "o'reilly \"books\" & co")
        .unwrap_or_else(|| panic!("the partner service in {report}"));
    assert_eq!(partner["tribe"], "fulfilment");
    assert!(
        partner["provenance"]["changes"]
            .as_str()
            .is_some_and(|text| text.starts_with("git history of acme/o'reilly")),
        "{partner}"
    );
}

#[test]
fn demo_refuses_a_database_with_other_data() {
    let home = tempfile::tempdir().expect("temporary directory");
    let db = home.path().join("team.db");
    let store = SqliteStore::open(&db).expect("open");
    store
        .upsert_deployments(
            &[Deployment {
                source: Source::Api,
                id: "d-1".into(),
                service: "checkout-api".into(),
                environment: "production".into(),
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                started_at: None,
                finished_at: Some(END_SECONDS - 86_400),
                status: DeploymentStatus::Success,
                kind: DeploymentKind::Normal,
            }],
            None,
        )
        .expect("a real deployment");
    drop(store);
    let (status, stdout, stderr) = run(loopwise(home.path())
        .args(["demo", "--no-serve", "--end", END, "--db"])
        .arg(&db));
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "the database {} already holds 1 deployment from other sources",
            db.display()
        )) && stderr.contains("choose another --db"),
        "{stderr}"
    );
    assert!(!home.path().join("team.toml").exists(), "no config written");
    let store = SqliteStore::open(&db).expect("open");
    let counts = store.counts().expect("counts");
    assert_eq!(
        (counts.deployments, counts.changes),
        (1, 0),
        "nothing written"
    );
}

#[test]
fn bad_flags_are_named_with_exit_status_2() {
    let home = tempfile::tempdir().expect("temporary directory");
    for (args, named) in [
        (vec!["--end", "nonsense"], "--end"),
        (vec!["--end", "tomorrowish"], "--end"),
        (vec!["--seed", "many"], "--seed"),
        (vec!["--db", "mysql://h/db"], "--db"),
        (vec!["--db", "x.toml"], "--config-out"),
    ] {
        let (status, _, stderr) = run(loopwise(home.path())
            .args(["demo", "--no-serve"])
            .args(&args));
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(
        !home.path().join("loopwise-demo.db").exists(),
        "nothing created"
    );
}

#[test]
fn demo_on_postgres_answers_as_on_sqlite() {
    use loopwise_store_postgres::testing::ScratchDatabase;
    let Some(postgres) = ScratchDatabase::create() else {
        return;
    };
    let home = tempfile::tempdir().expect("temporary directory");
    let expected = without_owners(counts_of_generator());
    let sqlite = home.path().join("demo.db");
    let targets = [
        (
            sqlite.display().to_string(),
            home.path().join("sqlite.toml"),
        ),
        (
            postgres.url().to_string(),
            home.path().join("postgres.toml"),
        ),
    ];
    let mut answers = Vec::new();
    for (db, config) in &targets {
        let (status, stdout, stderr) = run(loopwise(home.path())
            .args([
                "demo",
                "--no-serve",
                "--end",
                END,
                "--db",
                db,
                "--config-out",
            ])
            .arg(config));
        assert_eq!(status, 0, "{db}: {stderr}");
        assert!(stdout.contains("next: loopwise serve --db "), "{stdout}");
        let mut serve = loopwise(home.path());
        serve
            .args(["serve", "--listen", "127.0.0.1:0", "--db", db, "--config"])
            .arg(config);
        let server = ServeProcess::spawn(serve);
        let mut answer = Vec::new();
        for path in [
            format!("/api/v1/report?{LAST_90_DAYS}"),
            "/api/v1/report?since=2024-12-01&until=2026-12-01".to_string(),
            format!("/api/v1/leaderboard?group_by=squad&{LAST_90_DAYS}"),
            "/api/v1/metrics/lead_time?since=2024-12-01&until=2026-12-01&interval=week".to_string(),
        ] {
            answer.push((path.clone(), get(&server, &path)));
        }
        answers.push(answer);
    }
    assert_eq!(stored(&sqlite), expected);
    let store = loopwise_store_postgres::PostgresStore::open(postgres.url()).expect("open");
    assert_eq!(stored_in(&store), expected);
    for ((path, on_sqlite), (_, on_postgres)) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(on_sqlite, on_postgres, "{path}");
    }
    assert_eq!(
        std::fs::read_to_string(&targets[0].1).expect("config"),
        std::fs::read_to_string(&targets[1].1).expect("config"),
        "the same ownership"
    );
}

/// The demo never writes into the user's usual database: with `LOOPWISE_DB` (and
/// `LOOPWISE_CONFIG`) set it still fills `loopwise-demo.db` in the current directory.
#[test]
fn the_demo_leaves_the_usual_database_alone() {
    let directory = tempfile::tempdir().unwrap();
    let usual = directory.path().join("usual.db");
    let (code, _, stderr) = run(loopwise(directory.path())
        .env("LOOPWISE_DB", &usual)
        .env("LOOPWISE_CONFIG", directory.path().join("usual.toml"))
        .args(["demo", "--no-serve", "--end", "2026-01-01"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!usual.exists(), "LOOPWISE_DB was not touched");
    let demo = directory.path().join("loopwise-demo.db");
    assert!(
        stored(&demo).deployments > 0,
        "the demo went to its own file"
    );
}
