//! The SQLite store against the shared conformance suite, plus what only SQLite has: a file.

use loopwise_store::{GitImport, Store, StoreError};
use loopwise_store_sqlite::{SCHEMA_VERSION, SqliteStore};

loopwise_store::store_conformance_tests!(SqliteStore::open_in_memory().unwrap());

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
