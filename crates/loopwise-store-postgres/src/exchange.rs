//! Export and import (`loopwise db export|import`): every entity as records, in the canonical
//! order, so that PostgreSQL writes the same bytes as SQLite for the same data.

use crate::writes::{
    insert_delivery, insert_git_changes, insert_pushed_change, register_repository, upsert_row,
    write_events,
};
use crate::{Columns, Tx, WriteError};
use loopwise_core::entities::Source;
use loopwise_store::export::{ExportRecord, ImportWrite, TokenRecord};
use loopwise_store::rows::EXPORT_QUERIES;
use loopwise_store::{EventOutcome, ExportSink, WriteCounts};

/// Rows fetched per round trip while exporting: memory stays bounded whatever the store's size.
const EXPORT_FETCH_ROWS: i32 = 5_000;

/// Streams every entity to `sink` in the canonical export order, each kind through a portal,
/// a batch of rows at a time. Key columns are `COLLATE "C"`, so text sorts by its bytes as the
/// format requires.
pub(crate) fn export_all(tx: &mut Tx<'_>, sink: &mut ExportSink<'_>) -> Result<(), WriteError> {
    for query in &EXPORT_QUERIES {
        let portal = tx.transaction.bind(query.sql, &[])?;
        loop {
            let rows = tx.transaction.query_portal(&portal, EXPORT_FETCH_ROWS)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                sink(query.record(&Columns(row))?)?;
            }
        }
    }
    Ok(())
}

/// Writes one imported record under the rules of `Store::import`.
pub(crate) fn import_record(
    tx: &mut Tx<'_>,
    record: &ExportRecord,
) -> Result<EventOutcome, WriteError> {
    match record.import_write() {
        ImportWrite::Event(event) => Ok(write_events(tx, &[event], Source::Import)?[0]),
        ImportWrite::Repository(repository) => Ok(EventOutcome::inserted_if(
            tx.execute(
                "INSERT INTO repositories (locator) VALUES ($1) ON CONFLICT (locator) DO NOTHING",
                &[&repository.locator],
            )? == 1,
        )),
        ImportWrite::GitChange(record) => {
            let repository = register_repository(tx, &record.repository)?;
            let mut counts = WriteCounts::default();
            insert_git_changes(
                tx,
                repository,
                std::slice::from_ref(&record.change),
                &mut counts,
            )?;
            Ok(counts.outcome())
        }
        ImportWrite::PushedChange(record) => {
            let repository = register_repository(tx, &record.repository)?;
            insert_pushed_change(tx, repository, &record.change, record.source)
                .map(EventOutcome::inserted_if)
        }
        ImportWrite::Tag(record) => {
            let repository = register_repository(tx, &record.repository)?;
            let tag = &record.tag;
            upsert_row(
                tx,
                "INSERT INTO tags (repository_id, name, commit_sha, time, annotated) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repository_id, name) DO NOTHING",
                "UPDATE tags SET commit_sha = $3, time = $4, annotated = $5 \
                 WHERE repository_id = $1 AND name = $2 \
                 AND (commit_sha, time, annotated) IS DISTINCT FROM ($3, $4, $5)",
                &[
                    &repository,
                    &tag.name,
                    &tag.commit,
                    &tag.time,
                    &tag.annotated,
                ],
            )
        }
        ImportWrite::PathTouch(record) => {
            let repository = register_repository(tx, &record.repository)?;
            upsert_row(
                tx,
                "INSERT INTO path_touches (repository_id, paths_key, sha, touched) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (repository_id, paths_key, sha) DO NOTHING",
                "UPDATE path_touches SET touched = $4 WHERE repository_id = $1 AND paths_key = $2 \
                 AND sha = $3 AND touched IS DISTINCT FROM $4",
                &[&repository, &record.paths_key, &record.sha, &record.touched],
            )
        }
        ImportWrite::Delivery(delivery) => {
            insert_delivery(tx, &delivery.into()).map(EventOutcome::inserted_if)
        }
        ImportWrite::Token(token) => import_token(tx, token),
    }
}

/// A token is inserted by name; a stored token of that name must be the same token (hash and
/// scope), and takes the file's revocation if it is still live.
fn import_token(tx: &mut Tx<'_>, token: &TokenRecord) -> Result<EventOutcome, WriteError> {
    let stored = tx.query_opt(
        "SELECT hash, scope, revoked_at FROM tokens WHERE name = $1 FOR UPDATE",
        &[&token.name],
    )?;
    let Some(stored) = stored else {
        let hash_taken: i64 = tx
            .query_one(
                "SELECT count(*) FROM tokens WHERE hash = $1",
                &[&token.hash],
            )?
            .get(0);
        if hash_taken > 0 {
            return Err(token.hash_taken().into());
        }
        tx.execute(
            "INSERT INTO tokens (name, scope, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &token.name,
                &token.scope.as_str(),
                &token.hash,
                &token.created_at,
                &token.revoked_at,
            ],
        )?;
        return Ok(EventOutcome::Inserted);
    };
    let hash: &str = stored.get(0);
    let scope: &str = stored.get(1);
    let revoked_at: Option<i64> = stored.get(2);
    match token.revocation_over(hash, scope, revoked_at)? {
        Some(revoked) => {
            tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1",
                &[&token.name, &revoked],
            )?;
            Ok(EventOutcome::Updated)
        }
        None => Ok(EventOutcome::Unchanged),
    }
}
