//! Export and import (`loopwise db export|import`): every entity as records, in the canonical
//! order, so that PostgreSQL writes the same bytes as SQLite for the same data.

use crate::writes::{
    insert_git_changes, insert_pushed_change, register_repository, upsert_row, write_events,
};
use crate::{Tx, WriteError, parse_stored, read_body, read_change, read_deployment};
use loopwise_core::entities::{Source, Tag};
use loopwise_core::events::Event;
use loopwise_store::export::{
    ChangeRecord, DeliveryRecord, ExportRecord, PathTouchRecord, RepositoryRecord, TagRecord,
    TokenRecord,
};
use loopwise_store::{EventOutcome, ExportSink, StoreError, TokenScope, WriteCounts};
use postgres::Row;

/// Rows fetched per round trip while exporting: memory stays bounded whatever the store's size.
const EXPORT_FETCH_ROWS: i32 = 5_000;

/// Runs `sql` through a portal, a batch of rows at a time, and hands each row as a record to
/// `sink`.
fn stream(
    tx: &mut Tx<'_>,
    sql: &str,
    record: impl Fn(&Row) -> Result<ExportRecord, StoreError>,
    sink: &mut ExportSink<'_>,
) -> Result<(), WriteError> {
    let portal = tx.transaction.bind(sql, &[])?;
    loop {
        let rows = tx.transaction.query_portal(&portal, EXPORT_FETCH_ROWS)?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            sink(record(row)?)?;
        }
    }
}

/// Streams every entity to `sink` in the canonical export order. Key columns are `COLLATE "C"`,
/// so text sorts by its bytes as the format requires.
pub(crate) fn export_all(tx: &mut Tx<'_>, sink: &mut ExportSink<'_>) -> Result<(), WriteError> {
    stream(
        tx,
        "SELECT locator FROM repositories ORDER BY locator",
        |row| {
            Ok(ExportRecord::Repository(RepositoryRecord {
                locator: row.get(0),
            }))
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT r.locator, c.source, c.sha, c.parents, c.author_time, c.committer_time, \
         c.author_name, c.author_email, c.subject, c.reverts \
         FROM changes c JOIN repositories r ON r.id = c.repository_id ORDER BY r.locator, c.sha",
        |row| {
            Ok(ExportRecord::Change(ChangeRecord {
                repository: row.get(0),
                source: parse_stored("change source", row.get(1))?,
                change: read_change(row, 2),
            }))
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT r.locator, t.name, t.commit_sha, t.time, t.annotated FROM tags t \
         JOIN repositories r ON r.id = t.repository_id ORDER BY r.locator, t.name",
        |row| {
            Ok(ExportRecord::Tag(TagRecord {
                repository: row.get(0),
                tag: Tag {
                    name: row.get(1),
                    commit: row.get(2),
                    time: row.get(3),
                    annotated: row.get(4),
                },
            }))
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT r.locator, p.paths_key, p.sha, p.touched FROM path_touches p \
         JOIN repositories r ON r.id = p.repository_id ORDER BY r.locator, p.paths_key, p.sha",
        |row| {
            Ok(ExportRecord::PathTouch(PathTouchRecord {
                repository: row.get(0),
                paths_key: row.get(1),
                sha: row.get(2),
                touched: row.get(3),
            }))
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT source, source_id, service, environment, sha, started_at, finished_at, status, kind \
         FROM deployments ORDER BY source, source_id",
        |row| {
            Ok(ExportRecord::Deployment {
                deployment: read_deployment(row)?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT body FROM pull_requests ORDER BY source, repository, number",
        |row| {
            Ok(ExportRecord::PullRequest {
                pull_request: read_body(row, "pull request")?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT body FROM pull_request_reviews ORDER BY source, id",
        |row| {
            Ok(ExportRecord::PullRequestReview {
                review: read_body(row, "pull request review")?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT body FROM incidents ORDER BY source, id",
        |row| {
            Ok(ExportRecord::Incident {
                incident: read_body(row, "incident")?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT body FROM ci_runs ORDER BY source, id, attempt",
        |row| {
            Ok(ExportRecord::CiRun {
                ci_run: read_body(row, "CI run")?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT body FROM flag_changes ORDER BY source, repository, flag_id, changed_at",
        |row| {
            Ok(ExportRecord::FlagChange {
                flag_change: read_body(row, "flag change")?,
            })
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT source, delivery_id, event, received_at FROM deliveries ORDER BY source, delivery_id",
        |row| {
            Ok(ExportRecord::Delivery(DeliveryRecord {
                source: parse_stored("delivery source", row.get(0))?,
                id: row.get(1),
                event: row.get(2),
                received_at: row.get(3),
            }))
        },
        sink,
    )?;
    stream(
        tx,
        "SELECT name, scope, hash, created_at, revoked_at FROM tokens ORDER BY created_at, name",
        |row| {
            Ok(ExportRecord::Token(TokenRecord {
                name: row.get(0),
                scope: parse_stored::<TokenScope>("token scope", row.get(1))?,
                hash: row.get(2),
                created_at: row.get(3),
                revoked_at: row.get(4),
            }))
        },
        sink,
    )
}

fn inserted_or_unchanged(rows: u64) -> EventOutcome {
    if rows == 1 {
        EventOutcome::Inserted
    } else {
        EventOutcome::Unchanged
    }
}

/// Writes one imported record under the rules of `Store::import`.
pub(crate) fn import_record(
    tx: &mut Tx<'_>,
    record: &ExportRecord,
) -> Result<EventOutcome, WriteError> {
    let event = |tx: &mut Tx<'_>, event: Event| Ok(write_events(tx, &[event], Source::Import)?[0]);
    match record {
        ExportRecord::Repository(repository) => Ok(inserted_or_unchanged(tx.execute(
            "INSERT INTO repositories (locator) VALUES ($1) ON CONFLICT (locator) DO NOTHING",
            &[&repository.locator],
        )?)),
        ExportRecord::Change(record) => {
            let repository = register_repository(tx, &record.repository)?;
            if record.source == Source::Git {
                let mut counts = WriteCounts::default();
                insert_git_changes(
                    tx,
                    repository,
                    std::slice::from_ref(&record.change),
                    &mut counts,
                )?;
                Ok(if counts.inserted == 1 {
                    EventOutcome::Inserted
                } else if counts.updated == 1 {
                    EventOutcome::Updated
                } else {
                    EventOutcome::Unchanged
                })
            } else if insert_pushed_change(tx, repository, &record.change, record.source)? {
                Ok(EventOutcome::Inserted)
            } else {
                Ok(EventOutcome::Unchanged)
            }
        }
        ExportRecord::Tag(record) => {
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
        ExportRecord::PathTouch(record) => {
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
        ExportRecord::Deployment { deployment } => event(tx, Event::Deployment(deployment.clone())),
        ExportRecord::PullRequest { pull_request } => {
            event(tx, Event::PullRequest(pull_request.clone()))
        }
        ExportRecord::PullRequestReview { review } => {
            event(tx, Event::PullRequestReview(review.clone()))
        }
        ExportRecord::Incident { incident } => event(tx, Event::Incident(incident.clone())),
        ExportRecord::CiRun { ci_run } => event(tx, Event::CiRun(ci_run.clone())),
        ExportRecord::FlagChange { flag_change } => {
            event(tx, Event::FlagChange(flag_change.clone()))
        }
        ExportRecord::Delivery(delivery) => Ok(inserted_or_unchanged(tx.execute(
            "INSERT INTO deliveries (source, delivery_id, event, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (source, delivery_id) DO NOTHING",
            &[
                &delivery.source.as_str(),
                &delivery.id,
                &delivery.event,
                &delivery.received_at,
            ],
        )?)),
        ExportRecord::Token(token) => import_token(tx, token),
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
            return Err(StoreError::Conflict(format!(
                "token {:?}: a token of another name has the same hash",
                token.name
            ))
            .into());
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
    if hash != token.hash || scope != token.scope.as_str() {
        return Err(StoreError::Conflict(format!(
            "a token named {:?} exists already with another secret or scope",
            token.name
        ))
        .into());
    }
    match (revoked_at, token.revoked_at) {
        (None, Some(revoked)) => {
            tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1",
                &[&token.name, &revoked],
            )?;
            Ok(EventOutcome::Updated)
        }
        _ => Ok(EventOutcome::Unchanged),
    }
}
