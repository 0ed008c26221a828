//! The writes, each inside a caller's transaction. Exactly-once rests on the tables' keys:
//! every insert is `ON CONFLICT … DO NOTHING` and tells by its row count whether it stored
//! anything, and every update applies only where a column differs (`IS DISTINCT FROM`), so
//! two nodes writing the same record store it once and one of them reports it unchanged.
//! Batches travel as arrays (`unnest`), a few statements per batch whatever its size.

use crate::{Tx, WriteError};
use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::{Event, PullRequest};
use loopwise_store::{Delivery, rows, versions};
use loopwise_store::{DeploymentScope, EventOutcome, PathTouch, RepositoryId, WriteCounts};
use std::collections::{HashMap, HashSet};

/// The id of a repository, registered on first sight. Reads first, so a known repository
/// costs no write (and no sequence number).
pub(crate) fn register_repository(
    tx: &mut Tx<'_>,
    locator: &str,
) -> Result<RepositoryId, WriteError> {
    const FIND: &str = "SELECT id FROM repositories WHERE locator = $1";
    if let Some(row) = tx.query_opt(FIND, &[&locator])? {
        return Ok(row.get(0));
    }
    tx.execute(
        "INSERT INTO repositories (locator) VALUES ($1) ON CONFLICT (locator) DO NOTHING",
        &[&locator],
    )?;
    // A new statement sees a row another node committed meanwhile, as well as our own.
    Ok(tx.query_one(FIND, &[&locator])?.get(0))
}

/// Stores a webhook delivery; false when it was stored before.
pub(crate) fn insert_delivery(tx: &mut Tx<'_>, delivery: &Delivery) -> Result<bool, WriteError> {
    Ok(tx.execute(
        "INSERT INTO deliveries (source, delivery_id, event, received_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (source, delivery_id) DO NOTHING",
        &[
            &delivery.source.as_str(),
            &delivery.id,
            &delivery.event,
            &delivery.received_at,
        ],
    )? == 1)
}

fn joined_parents(change: &Change) -> String {
    change.parents.join(" ")
}

/// Commits from a git import: new ones are inserted; stored ones known only from a push
/// payload take the git fields (git data wins, counted as updated); the rest are unchanged.
pub(crate) fn insert_git_changes(
    tx: &mut Tx<'_>,
    repository: RepositoryId,
    changes: &[Change],
    counts: &mut WriteCounts,
) -> Result<(), WriteError> {
    if changes.is_empty() {
        return Ok(());
    }
    let columns = ChangeColumns::new(changes);
    let inserted: HashSet<String> = tx
        .query(
            "INSERT INTO changes (repository_id, sha, parents, author_time, committer_time, \
             author_name, author_email, subject, reverts) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], \
             $7::text[], $8::text[], $9::text[]) \
             ON CONFLICT (repository_id, sha) DO NOTHING RETURNING sha",
            &columns.parameters(&repository),
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    counts.inserted += inserted.len();
    let rest: Vec<Change> = changes
        .iter()
        .filter(|change| !inserted.contains(&change.sha))
        .cloned()
        .collect();
    if rest.is_empty() {
        return Ok(());
    }
    let columns = ChangeColumns::new(&rest);
    let upgraded = tx.execute(
        "UPDATE changes c SET parents = i.parents, author_time = i.author_time, \
         committer_time = i.committer_time, author_name = i.author_name, \
         author_email = i.author_email, subject = i.subject, reverts = i.reverts, source = 'git' \
         FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], \
         $8::text[], $9::text[]) AS i (sha, parents, author_time, committer_time, author_name, \
         author_email, subject, reverts) \
         WHERE c.repository_id = $1 AND c.sha = i.sha AND c.source <> 'git'",
        &columns.parameters(&repository),
    )? as usize;
    counts.updated += upgraded;
    counts.unchanged += rest.len() - upgraded.min(rest.len());
    Ok(())
}

/// A batch of commits as one array per column.
struct ChangeColumns<'a> {
    sha: Vec<&'a str>,
    parents: Vec<String>,
    author_time: Vec<i64>,
    committer_time: Vec<i64>,
    author_name: Vec<&'a str>,
    author_email: Vec<&'a str>,
    subject: Vec<&'a str>,
    reverts: Vec<Option<&'a str>>,
}

type Parameter<'p> = &'p (dyn postgres::types::ToSql + Sync);

impl<'a> ChangeColumns<'a> {
    /// `$1` the repository, then one array per column, in the order of the statements.
    fn parameters<'p>(&'p self, repository: &'p RepositoryId) -> [Parameter<'p>; 9] {
        [
            repository,
            &self.sha,
            &self.parents,
            &self.author_time,
            &self.committer_time,
            &self.author_name,
            &self.author_email,
            &self.subject,
            &self.reverts,
        ]
    }

    fn new(changes: &'a [Change]) -> Self {
        Self {
            sha: changes.iter().map(|c| c.sha.as_str()).collect(),
            parents: changes.iter().map(joined_parents).collect(),
            author_time: changes.iter().map(|c| c.author_time).collect(),
            committer_time: changes.iter().map(|c| c.committer_time).collect(),
            author_name: changes.iter().map(|c| c.author_name.as_str()).collect(),
            author_email: changes.iter().map(|c| c.author_email.as_str()).collect(),
            subject: changes.iter().map(|c| c.subject.as_str()).collect(),
            reverts: changes.iter().map(|c| c.reverts.as_deref()).collect(),
        }
    }
}

/// A commit from a push payload, change event or import, stored under its source. Never
/// overwrites a stored commit: a git-imported one is exact, and the first push of a commit saw
/// its chain.
pub(crate) fn insert_pushed_change(
    tx: &mut Tx<'_>,
    repository: RepositoryId,
    change: &Change,
    source: Source,
) -> Result<bool, WriteError> {
    Ok(tx.execute(
        "INSERT INTO changes (repository_id, sha, parents, author_time, committer_time, author_name, \
         author_email, subject, reverts, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (repository_id, sha) DO NOTHING",
        &[
            &repository,
            &change.sha,
            &joined_parents(change),
            &change.author_time,
            &change.committer_time,
            &change.author_name,
            &change.author_email,
            &change.subject,
            &change.reverts,
            &source.as_str(),
        ],
    )? == 1)
}

/// The last of each key wins, as writing the rows one by one would have it; PostgreSQL refuses
/// an `ON CONFLICT DO UPDATE` that meets the same key twice.
fn last_per_key<'a, T, K: std::hash::Hash + Eq>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut position: HashMap<K, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        position.insert(key(item), index);
    }
    let mut kept: Vec<usize> = position.into_values().collect();
    kept.sort_unstable();
    kept.into_iter().map(|index| &items[index]).collect()
}

/// The new tag set replaces the stored one: moved tags are updated, deleted ones forgotten.
/// True when that changed anything.
pub(crate) fn replace_tags(
    tx: &mut Tx<'_>,
    repository: RepositoryId,
    tags: &[Tag],
) -> Result<bool, WriteError> {
    let tags = last_per_key(tags, |tag| tag.name.as_str());
    let names: Vec<&str> = tags.iter().map(|tag| tag.name.as_str()).collect();
    let deleted = tx.execute(
        "DELETE FROM tags WHERE repository_id = $1 AND NOT (name = ANY ($2::text[]))",
        &[&repository, &names],
    )?;
    let commits: Vec<&str> = tags.iter().map(|tag| tag.commit.as_str()).collect();
    let times: Vec<i64> = tags.iter().map(|tag| tag.time).collect();
    let annotated: Vec<bool> = tags.iter().map(|tag| tag.annotated).collect();
    let upserted = tx.execute(
        "INSERT INTO tags (repository_id, name, commit_sha, time, annotated) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int8[], $5::bool[]) \
         ON CONFLICT (repository_id, name) DO UPDATE SET commit_sha = excluded.commit_sha, \
         time = excluded.time, annotated = excluded.annotated \
         WHERE (tags.commit_sha, tags.time, tags.annotated) \
           IS DISTINCT FROM (excluded.commit_sha, excluded.time, excluded.annotated)",
        &[&repository, &names, &commits, &times, &annotated],
    )?;
    Ok(deleted + upserted > 0)
}

/// Whether any answer was new or different: what a report derived from the old ones is stale.
pub(crate) fn upsert_path_touches(
    tx: &mut Tx<'_>,
    repository: RepositoryId,
    touches: &[PathTouch],
) -> Result<bool, WriteError> {
    if touches.is_empty() {
        return Ok(false);
    }
    let touches = last_per_key(touches, |t| (t.paths_key.as_str(), t.sha.as_str()));
    let keys: Vec<&str> = touches.iter().map(|t| t.paths_key.as_str()).collect();
    let shas: Vec<&str> = touches.iter().map(|t| t.sha.as_str()).collect();
    let touched: Vec<bool> = touches.iter().map(|t| t.touched).collect();
    let changed = tx.execute(
        "INSERT INTO path_touches (repository_id, paths_key, sha, touched) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bool[]) \
         ON CONFLICT (repository_id, paths_key, sha) DO UPDATE SET touched = excluded.touched \
         WHERE path_touches.touched IS DISTINCT FROM excluded.touched",
        &[&repository, &keys, &shas, &touched],
    )?;
    Ok(changed > 0)
}

/// Deployments as one array per column.
struct DeploymentColumns<'a> {
    source: Vec<&'a str>,
    id: Vec<&'a str>,
    service: Vec<&'a str>,
    environment: Vec<&'a str>,
    sha: Vec<&'a str>,
    started_at: Vec<Option<i64>>,
    finished_at: Vec<Option<i64>>,
    status: Vec<&'a str>,
    kind: Vec<&'a str>,
}

impl<'a> DeploymentColumns<'a> {
    /// One array per column, in the order of the statements.
    fn parameters(&self) -> [Parameter<'_>; 9] {
        [
            &self.source,
            &self.id,
            &self.service,
            &self.environment,
            &self.sha,
            &self.started_at,
            &self.finished_at,
            &self.status,
            &self.kind,
        ]
    }

    fn new(deployments: &[&'a Deployment]) -> Self {
        Self {
            source: deployments.iter().map(|d| d.source.as_str()).collect(),
            id: deployments.iter().map(|d| d.id.as_str()).collect(),
            service: deployments.iter().map(|d| d.service.as_str()).collect(),
            environment: deployments.iter().map(|d| d.environment.as_str()).collect(),
            sha: deployments.iter().map(|d| d.sha.as_str()).collect(),
            started_at: deployments.iter().map(|d| d.started_at).collect(),
            finished_at: deployments.iter().map(|d| d.finished_at).collect(),
            status: deployments.iter().map(|d| d.status.as_str()).collect(),
            kind: deployments.iter().map(|d| d.kind.as_str()).collect(),
        }
    }
}

/// Upserts deployments whose keys are distinct: one insert of the new ones, one update of the
/// stored ones that differ. A separate update statement sees a row another node committed
/// after the insert began, so a concurrent writer's version is compared, not missed.
fn upsert_distinct_deployments(
    tx: &mut Tx<'_>,
    deployments: &[&Deployment],
) -> Result<Vec<EventOutcome>, WriteError> {
    let columns = DeploymentColumns::new(deployments);
    let inserted: HashSet<(String, String)> = tx
        .query(
            "INSERT INTO deployments (source, source_id, service, environment, sha, started_at, \
             finished_at, status, kind) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::int8[], $7::int8[], $8::text[], $9::text[]) \
             ON CONFLICT (source, source_id) DO NOTHING RETURNING source, source_id",
            &columns.parameters(),
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let key = |d: &Deployment| (d.source.as_str().to_string(), d.id.clone());
    let rest: Vec<&Deployment> = deployments
        .iter()
        .copied()
        .filter(|d| !inserted.contains(&key(d)))
        .collect();
    let mut updated: HashSet<(String, String)> = HashSet::new();
    if !rest.is_empty() {
        let columns = DeploymentColumns::new(&rest);
        let rows = tx.query(
                "UPDATE deployments d SET service = i.service, environment = i.environment, \
                 sha = i.sha, started_at = i.started_at, finished_at = i.finished_at, \
                 status = i.status, kind = i.kind \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::int8[], $7::int8[], $8::text[], $9::text[]) \
                 AS i (source, source_id, service, environment, sha, started_at, finished_at, status, kind), \
                 deployments stored \
                 WHERE d.source = i.source AND d.source_id = i.source_id \
                   AND stored.source = d.source AND stored.source_id = d.source_id \
                   AND (d.service, d.environment, d.sha, d.started_at, d.finished_at, d.status, d.kind) \
                   IS DISTINCT FROM \
                   (i.service, i.environment, i.sha, i.started_at, i.finished_at, i.status, i.kind) \
                 RETURNING d.source, d.source_id, d.service, stored.service",
                &columns.parameters(),
            )?;
        for row in rows {
            // The self-join reads the row as it was: an update that moved a deployment to
            // another service changed the one it left too.
            let (service, before): (&str, &str) = (row.get(2), row.get(3));
            if service != before {
                tx.touched.insert(versions::deployments(before));
            }
            updated.insert((row.get(0), row.get(1)));
        }
    }
    Ok(deployments
        .iter()
        .map(|d| {
            let key = key(d);
            if inserted.contains(&key) {
                EventOutcome::Inserted
            } else if updated.contains(&key) {
                EventOutcome::Updated
            } else {
                EventOutcome::Unchanged
            }
        })
        .collect())
}

/// Upserts deployments in order, as one-by-one writes would: a key that comes again within the
/// batch starts a new statement pair, so its second write sees its first.
fn upsert_deployments_in_order(
    tx: &mut Tx<'_>,
    deployments: &[&Deployment],
) -> Result<Vec<EventOutcome>, WriteError> {
    let mut outcomes = Vec::with_capacity(deployments.len());
    let mut start = 0;
    while start < deployments.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < deployments.len()
            && seen.insert((deployments[end].source, deployments[end].id.as_str()))
        {
            end += 1;
        }
        outcomes.extend(upsert_distinct_deployments(tx, &deployments[start..end])?);
        start = end;
    }
    Ok(outcomes)
}

pub(crate) fn write_deployments(
    tx: &mut Tx<'_>,
    deployments: &[Deployment],
    replace: Option<&DeploymentScope>,
) -> Result<WriteCounts, WriteError> {
    let mut counts = WriteCounts::default();
    let all: Vec<&Deployment> = deployments.iter().collect();
    for (deployment, outcome) in deployments
        .iter()
        .zip(upsert_deployments_in_order(tx, &all)?)
    {
        counts.add(outcome);
        if outcome != EventOutcome::Unchanged {
            tx.touched
                .insert(versions::deployments(&deployment.service));
        }
    }
    if let Some(scope) = replace {
        let keep: Vec<&str> = scope.kept_ids(deployments).collect();
        let deleted = tx.execute(
            "DELETE FROM deployments WHERE source = $1 AND service = $2 \
             AND NOT (source_id = ANY ($3::text[]))",
            &[&scope.source.as_str(), &scope.service, &keep],
        )? as usize;
        if deleted > 0 {
            tx.touched.insert(versions::deployments(&scope.service));
        }
        counts.deleted += deleted;
    }
    Ok(counts)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, WriteError> {
    serde_json::to_string(value).map_err(|e| {
        WriteError::Store(loopwise_store::StoreError::Database(format!(
            "cannot encode a record: {e}"
        )))
    })
}

/// Inserts, updates or leaves a JSON-bodied record: `insert_sql` inserts unless the key
/// exists; `update_sql` (same parameters) rewrites the row only where it differs.
pub(crate) fn upsert_row(
    tx: &mut Tx<'_>,
    insert_sql: &'static str,
    update_sql: &'static str,
    values: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<EventOutcome, WriteError> {
    if tx.execute(insert_sql, values)? == 1 {
        return Ok(EventOutcome::Inserted);
    }
    Ok(if tx.execute(update_sql, values)? == 1 {
        EventOutcome::Updated
    } else {
        EventOutcome::Unchanged
    })
}

/// Merges a pull request snapshot with the stored one. The stored row is locked while it is
/// merged, so two nodes merging snapshots of one pull request both count; when there is no row
/// yet and another node inserts it first, the loop comes round and merges with that.
fn write_pull_request(tx: &mut Tx<'_>, newer: &PullRequest) -> Result<EventOutcome, WriteError> {
    let number = newer.number as i64;
    loop {
        let stored = tx.query_opt(
            "SELECT body FROM pull_requests WHERE source = $1 AND repository = $2 AND number = $3 \
             FOR UPDATE",
            &[&newer.source.as_str(), &newer.repository, &number],
        )?;
        match stored {
            Some(row) => {
                let stored: PullRequest = serde_json::from_str(row.get(0))
                    .map_err(|e| rows::corrupt("pull request", e))?;
                let merged = stored.updated_with(newer);
                let body = to_json(&merged)?;
                let changed = tx.execute(
                    "UPDATE pull_requests SET merge_sha = $4, merged_at = $5, body = $6 \
                     WHERE source = $1 AND repository = $2 AND number = $3 \
                     AND body IS DISTINCT FROM $6",
                    &[
                        &merged.source.as_str(),
                        &merged.repository,
                        &number,
                        &merged.merge_sha,
                        &merged.merged_at,
                        &body,
                    ],
                )?;
                return Ok(if changed == 1 {
                    EventOutcome::Updated
                } else {
                    EventOutcome::Unchanged
                });
            }
            None => {
                let body = to_json(newer)?;
                let inserted = tx.execute(
                    "INSERT INTO pull_requests (source, repository, number, merge_sha, merged_at, body) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, repository, number) DO NOTHING",
                    &[
                        &newer.source.as_str(),
                        &newer.repository,
                        &number,
                        &newer.merge_sha,
                        &newer.merged_at,
                        &body,
                    ],
                )?;
                if inserted == 1 {
                    return Ok(EventOutcome::Inserted);
                }
            }
        }
    }
}

/// Stores events in order; one outcome each. `change_source`: the source recorded with pushed
/// commits (the delivery's, or `api`). Consecutive deployments are written as one batch.
pub(crate) fn write_events(
    tx: &mut Tx<'_>,
    events: &[Event],
    change_source: Source,
) -> Result<Vec<EventOutcome>, WriteError> {
    let mut outcomes = Vec::with_capacity(events.len());
    let mut repositories: HashMap<&str, RepositoryId> = HashMap::new();
    let mut index = 0;
    while index < events.len() {
        if let Event::Deployment(_) = &events[index] {
            let run: Vec<&Deployment> = events[index..]
                .iter()
                .map_while(|event| match event {
                    Event::Deployment(deployment) => Some(deployment),
                    _ => None,
                })
                .collect();
            index += run.len();
            outcomes.extend(upsert_deployments_in_order(tx, &run)?);
            continue;
        }
        let outcome = match &events[index] {
            Event::Deployment(_) => unreachable!("deployments are written as runs above"),
            Event::Change(pushed) => {
                let repository = match repositories.get(pushed.repository.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = register_repository(tx, &pushed.repository)?;
                        repositories.insert(&pushed.repository, id);
                        id
                    }
                };
                EventOutcome::inserted_if(insert_pushed_change(
                    tx,
                    repository,
                    &pushed.change,
                    change_source,
                )?)
            }
            Event::PullRequest(newer) => write_pull_request(tx, newer)?,
            Event::PullRequestReview(review) => {
                let body = to_json(review)?;
                let number = review.number as i64;
                upsert_row(
                    tx,
                    "INSERT INTO pull_request_reviews (source, id, repository, number, submitted_at, body) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, id) DO NOTHING",
                    "UPDATE pull_request_reviews SET repository = $3, number = $4, submitted_at = $5, \
                     body = $6 WHERE source = $1 AND id = $2 AND body IS DISTINCT FROM $6",
                    &[
                        &review.source.as_str(),
                        &review.id,
                        &review.repository,
                        &number,
                        &review.submitted_at,
                        &body,
                    ],
                )?
            }
            Event::Incident(incident) => {
                let body = to_json(incident)?;
                upsert_row(
                    tx,
                    "INSERT INTO incidents (source, id, service, started_at, body) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, id) DO NOTHING",
                    "UPDATE incidents SET service = $3, started_at = $4, body = $5 \
                     WHERE source = $1 AND id = $2 AND body IS DISTINCT FROM $5",
                    &[
                        &incident.source.as_str(),
                        &incident.id,
                        &incident.service,
                        &incident.started_at,
                        &body,
                    ],
                )?
            }
            Event::CiRun(run) => {
                let body = to_json(run)?;
                let attempt = i64::from(run.attempt);
                upsert_row(
                    tx,
                    "INSERT INTO ci_runs (source, id, attempt, sha, body) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (source, id, attempt) DO NOTHING",
                    "UPDATE ci_runs SET sha = $4, body = $5 \
                     WHERE source = $1 AND id = $2 AND attempt = $3 AND body IS DISTINCT FROM $5",
                    &[&run.source.as_str(), &run.id, &attempt, &run.sha, &body],
                )?
            }
            Event::FlagChange(flag) => {
                let body = to_json(flag)?;
                upsert_row(
                    tx,
                    "INSERT INTO flag_changes (source, repository, flag_id, changed_at, flag_key, body) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (source, repository, flag_id, changed_at) DO NOTHING",
                    "UPDATE flag_changes SET flag_key = $5, body = $6 WHERE source = $1 \
                     AND repository = $2 AND flag_id = $3 AND changed_at = $4 \
                     AND body IS DISTINCT FROM $6",
                    &[
                        &flag.source.as_str(),
                        &flag.repository,
                        &flag.flag_id,
                        &flag.changed_at,
                        &flag.key,
                        &body,
                    ],
                )?
            }
        };
        outcomes.push(outcome);
        index += 1;
    }
    tx.touched
        .extend(versions::scopes_of_events(events, &outcomes));
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn the_last_of_each_key_is_kept_in_first_seen_order_of_the_survivors() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4)];
        let kept: Vec<_> = last_per_key(&items, |item| item.0)
            .into_iter()
            .copied()
            .collect();
        assert_eq!(kept, [("b", 2), ("a", 3), ("c", 4)]);
    }
}
