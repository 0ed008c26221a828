//! The SQLite store against the shared conformance suite, plus what only SQLite has: a file.

use loopwise_store::{GitImport, Store, StoreError};
use loopwise_store_sqlite::{SCHEMA_VERSION, SqliteStore};

loopwise_store::store_conformance_tests!(Box::new(SqliteStore::open_in_memory().unwrap()));

#[test]
fn a_file_database_keeps_its_data_across_opens() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested/dir/loopwise.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let batch = [loopwise_store::conformance::change("a1", &[], 1)];
        store
            .apply_git_import(GitImport {
                locator: "repo",
                new_changes: &batch,
                tags: &[],
                path_touches: &[],
            })
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.counts().unwrap().changes, 1);
}

#[test]
fn synchronous_is_normal_by_default_and_full_on_request() {
    use loopwise_store_sqlite::Synchronous;
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&directory.path().join("sync.db")).unwrap();
    assert_eq!(store.synchronous().unwrap(), Synchronous::Normal);
    store.set_synchronous(Synchronous::Full).unwrap();
    assert_eq!(store.synchronous().unwrap(), Synchronous::Full);
    assert_eq!("FULL".parse(), Ok(Synchronous::Full));
    assert_eq!(" normal".parse(), Ok(Synchronous::Normal));
    assert!(
        "off".parse::<Synchronous>().is_err(),
        "no setting that loses commits"
    );
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("future.db");
    {
        let connection = rusqlite_connection(&path);
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade loopwise"));
    let connection = rusqlite_connection(&path);
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0, "nothing was created in a database we refused");
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("not.db");
    std::fs::write(
        &path,
        b"this is a text file, long enough to look like a header........",
    )
    .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("not.db"), "{error}");
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// A database as loopwise left it at schema version 2: migrations 1 and 2 and some deployments.
fn version_2_database(path: &std::path::Path) {
    let connection = rusqlite_connection(path);
    connection
        .execute_batch(include_str!("../migrations/0001_initial.sql"))
        .unwrap();
    connection
        .execute_batch(include_str!("../migrations/0002_events.sql"))
        .unwrap();
    connection
        .execute_batch(
            "INSERT INTO deployments VALUES ('import', 'd1', 'api', 'production', 'aaaa', 100, 160, 'success', 'normal');
             INSERT INTO deployments VALUES ('api', 'd2', 'api', 'staging', 'bbbb', NULL, 200, 'failure', 'hotfix');
             INSERT INTO deployments VALUES ('api', 'd3', 'web', 'production', 'cccc', 300, NULL, 'success', 'rollback');
             INSERT INTO incidents VALUES ('api', 'i1', 'api', 150, '{}');
             PRAGMA user_version = 2;",
        )
        .unwrap();
}

type DeploymentRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
);

fn deployment_rows(connection: &rusqlite::Connection) -> Vec<DeploymentRow> {
    let mut statement = connection
        .prepare("SELECT * FROM deployments ORDER BY source, source_id")
        .unwrap();
    statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_2_database_migrates_keeping_its_deployments_and_their_rules() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("v2.db");
    version_2_database(&path);
    let before = deployment_rows(&rusqlite_connection(&path));
    assert_eq!(before.len(), 3);

    let store = SqliteStore::open(&path).unwrap();
    drop(store);
    let connection = rusqlite_connection(&path);
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, loopwise_store_sqlite::SCHEMA_VERSION);
    assert_eq!(
        version, 7,
        "flag changes (3), cheap checks (4), write versions (5), the pushed-changes index (6) \
         and derived facts (7)"
    );
    assert_eq!(
        deployment_rows(&connection),
        before,
        "every row, every value"
    );
    let other_tables: i64 = connection
        .query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(other_tables, 1);
    // Write versions start at 1 for every service with deployments, and for the incidents.
    let services: Vec<String> = connection
        .prepare("SELECT DISTINCT service FROM deployments ORDER BY service")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!services.is_empty());
    let mut expected_versions: loopwise_store::versions::WriteVersions = services
        .iter()
        .map(|service| (loopwise_store::versions::deployments(service), 1))
        .collect();
    expected_versions.insert(loopwise_store::versions::INCIDENTS.to_string(), 1);
    let store = SqliteStore::open(&path).unwrap();
    let mut versions = store.write_versions().unwrap();
    versions.retain(|scope, _| !scope.starts_with("repository:"));
    assert_eq!(versions, expected_versions);
    drop(store);

    // Same columns in the same order, same key, same chain index.
    let columns: Vec<(String, String, bool, i64)> = connection
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('deployments')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(String, String, bool, i64)> = [
        ("source", "TEXT", true, 1),
        ("source_id", "TEXT", true, 2),
        ("service", "TEXT", true, 0),
        ("environment", "TEXT", true, 0),
        ("sha", "TEXT", true, 0),
        ("started_at", "INTEGER", false, 0),
        ("finished_at", "INTEGER", false, 0),
        ("status", "TEXT", true, 0),
        ("kind", "TEXT", true, 0),
    ]
    .into_iter()
    .map(|(n, t, nn, pk)| (n.to_string(), t.to_string(), nn, pk))
    .collect();
    assert_eq!(columns, expected);
    let chain_index: Vec<String> = connection
        .prepare("SELECT name FROM pragma_index_info('deployments_by_chain') ORDER BY seqno")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chain_index, ["service", "environment", "finished_at"]);
    let leftovers: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'deployments_%' AND name <> 'deployments_by_chain'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0, "the rebuild leaves no temporary table behind");

    // The rebuilt table still refuses what the old CHECKs refused, and keeps its key.
    let insert = |status: &str, kind: &str, id: &str| {
        connection.execute(
            "INSERT INTO deployments VALUES ('api', ?3, 'api', 'production', 'dddd', 1, 2, ?1, ?2)",
            [status, kind, id],
        )
    };
    for (status, kind) in [
        ("succeeded", "normal"),
        ("success", "Normal"),
        ("success", "canary"),
        ("", "hotfix"),
    ] {
        let error = insert(status, kind, "new").unwrap_err();
        assert!(
            error.to_string().contains("CHECK constraint failed"),
            "{status}/{kind}: {error}"
        );
    }
    for (i, (status, kind)) in [
        ("success", "normal"),
        ("failure", "rollback"),
        ("success", "hotfix"),
    ]
    .into_iter()
    .enumerate()
    {
        insert(status, kind, &format!("ok{i}")).unwrap();
    }
    let duplicate_key = insert("success", "normal", "d2").unwrap_err();
    assert!(
        duplicate_key.to_string().contains("UNIQUE"),
        "{duplicate_key}"
    );
}

#[test]
fn migrated_deployments_are_read_and_upserted_through_the_store() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("v2.db");
    version_2_database(&path);
    let store = SqliteStore::open(&path).unwrap();
    let stored = store
        .deployments(&loopwise_store::DeploymentFilter::default())
        .unwrap();
    let ids: Vec<(&str, Option<i64>)> = stored
        .iter()
        .map(|d| (d.id.as_str(), d.started_at))
        .collect();
    // Ordered by service, environment, finish (or start) time.
    assert_eq!(ids, [("d1", Some(100)), ("d2", None), ("d3", Some(300))]);
    let counts = store.upsert_deployments(&stored, None).unwrap();
    assert_eq!(counts.unchanged, 3, "{counts:?}");
}
