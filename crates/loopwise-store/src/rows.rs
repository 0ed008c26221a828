//! Stored rows as the core's entities and the export's records, read the same way by every
//! backend.
//!
//! A backend wraps its row type in a [`StoredRow`] (typed access to a column by its index); the
//! readers here take the columns a query selected, in the order each one documents, and name
//! the stored value that does not convert ([`StoreError::Corrupt`]). The export's queries,
//! [`EXPORT_QUERIES`], live here too: their columns are what the record readers read and their
//! `ORDER BY` is the canonical order of the format, so both backends run the same text and
//! write the same bytes. They are portable SQL (no placeholder, no backend's dialect); every
//! other statement belongs to its backend.

use crate::export::{
    ChangeRecord, DeliveryRecord, ExportRecord, PathTouchRecord, RepositoryRecord, TagRecord,
    TokenRecord,
};
use crate::{StoreError, Token, TokenScope};
use loopwise_core::entities::{Change, Deployment, Tag};
use std::fmt::Display;
use std::str::FromStr;

/// One row of a query's result, as a backend reads it: each method reads the column at
/// `column` (from 0) as that type (`None` for NULL), and fails with the backend's error when
/// the stored value is not of it.
pub trait StoredRow {
    fn optional_text(&self, column: usize) -> Result<Option<&str>, StoreError>;
    fn optional_integer(&self, column: usize) -> Result<Option<i64>, StoreError>;
    fn boolean(&self, column: usize) -> Result<bool, StoreError>;

    /// A text column that is never NULL.
    fn text(&self, column: usize) -> Result<&str, StoreError> {
        self.optional_text(column)?
            .ok_or_else(|| null_column(column, "text"))
    }

    /// An integer column that is never NULL.
    fn integer(&self, column: usize) -> Result<i64, StoreError> {
        self.optional_integer(column)?
            .ok_or_else(|| null_column(column, "an integer"))
    }
}

fn null_column(column: usize, expected: &str) -> StoreError {
    StoreError::Database(format!(
        "column {column} is NULL where {expected} is stored"
    ))
}

/// A stored value that is not valid: `what` names it (e.g. `deployment status`).
pub fn corrupt(what: &'static str, reason: impl Display) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_string(),
    }
}

/// Stored text as the value it spells (a source, a status, a scope …).
pub fn parse_stored<T: FromStr>(what: &'static str, text: &str) -> Result<T, StoreError>
where
    T::Err: Display,
{
    text.parse().map_err(|e| corrupt(what, e))
}

/// The columns [`change`] reads, in its order, as a literal for `concat!`: every backend's
/// query of whole changes selects them through this, so the list and the reader cannot drift.
#[macro_export]
macro_rules! change_columns {
    () => {
        "sha, parents, author_time, committer_time, author_name, author_email, subject, reverts"
    };
}

/// The columns from `first` on: sha, parents (space-separated), author_time, committer_time,
/// author_name, author_email, subject, reverts ([`change_columns!`]).
pub fn change(row: &dyn StoredRow, first: usize) -> Result<Change, StoreError> {
    Ok(Change {
        sha: row.text(first)?.to_string(),
        parents: row
            .text(first + 1)?
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        author_time: row.integer(first + 2)?,
        committer_time: row.integer(first + 3)?,
        author_name: row.text(first + 4)?.to_string(),
        author_email: row.text(first + 5)?.to_string(),
        subject: row.text(first + 6)?.to_string(),
        reverts: row.optional_text(first + 7)?.map(str::to_string),
    })
}

/// The columns from `first` on: name, commit_sha, time, annotated.
pub fn tag(row: &dyn StoredRow, first: usize) -> Result<Tag, StoreError> {
    Ok(Tag {
        name: row.text(first)?.to_string(),
        commit: row.text(first + 1)?.to_string(),
        time: row.integer(first + 2)?,
        annotated: row.boolean(first + 3)?,
    })
}

/// The columns from `first` on: source, source_id, service, environment, sha, started_at,
/// finished_at, status, kind.
pub fn deployment(row: &dyn StoredRow, first: usize) -> Result<Deployment, StoreError> {
    Ok(Deployment {
        source: parse_stored("deployment source", row.text(first)?)?,
        id: row.text(first + 1)?.to_string(),
        service: row.text(first + 2)?.to_string(),
        environment: row.text(first + 3)?.to_string(),
        sha: row.text(first + 4)?.to_string(),
        started_at: row.optional_integer(first + 5)?,
        finished_at: row.optional_integer(first + 6)?,
        status: parse_stored("deployment status", row.text(first + 7)?)?,
        kind: parse_stored("deployment kind", row.text(first + 8)?)?,
    })
}

/// The columns id, name, scope, created_at, revoked_at.
pub fn token(row: &dyn StoredRow) -> Result<Token, StoreError> {
    Ok(Token {
        id: row.integer(0)?,
        name: row.text(1)?.to_string(),
        scope: parse_stored::<TokenScope>("token scope", row.text(2)?)?,
        created_at: row.integer(3)?,
        revoked_at: row.optional_integer(4)?,
    })
}

/// The JSON `body` column (the first) of an event table, as the record it holds.
pub fn body<T: serde::de::DeserializeOwned>(
    row: &dyn StoredRow,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(row.text(0)?).map_err(|e| corrupt(what, e))
}

/// What an export reads for one kind of record.
#[derive(Clone, Copy)]
pub struct ExportQuery {
    /// One of [`ExportRecord::KINDS`].
    pub kind: &'static str,
    /// The query: the columns [`ExportQuery::record`] reads, sorted by the kind's key (text
    /// keys by their bytes: SQLite's BINARY collation, PostgreSQL's `COLLATE "C"` columns).
    pub sql: &'static str,
    read: fn(&dyn StoredRow) -> Result<ExportRecord, StoreError>,
}

impl ExportQuery {
    /// A row of [`ExportQuery::sql`] as its record.
    pub fn record(&self, row: &dyn StoredRow) -> Result<ExportRecord, StoreError> {
        (self.read)(row)
    }
}

impl std::fmt::Debug for ExportQuery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ExportQuery")
            .field("kind", &self.kind)
            .field("sql", &self.sql)
            .finish_non_exhaustive()
    }
}

/// Every kind's query, in [`ExportRecord::KINDS`] order: an export runs them one after the
/// other in one read snapshot and hands each row's record to its sink as it is read.
pub const EXPORT_QUERIES: [ExportQuery; 12] = [
    ExportQuery {
        kind: "repository",
        sql: "SELECT locator FROM repositories ORDER BY locator",
        read: |row| {
            Ok(ExportRecord::Repository(RepositoryRecord {
                locator: row.text(0)?.to_string(),
            }))
        },
    },
    ExportQuery {
        kind: "change",
        sql: "SELECT r.locator, c.source, c.sha, c.parents, c.author_time, c.committer_time, \
              c.author_name, c.author_email, c.subject, c.reverts \
              FROM changes c JOIN repositories r ON r.id = c.repository_id ORDER BY r.locator, c.sha",
        read: |row| {
            Ok(ExportRecord::Change(ChangeRecord {
                repository: row.text(0)?.to_string(),
                source: parse_stored("change source", row.text(1)?)?,
                change: change(row, 2)?,
            }))
        },
    },
    ExportQuery {
        kind: "tag",
        sql: "SELECT r.locator, t.name, t.commit_sha, t.time, t.annotated FROM tags t \
              JOIN repositories r ON r.id = t.repository_id ORDER BY r.locator, t.name",
        read: |row| {
            Ok(ExportRecord::Tag(TagRecord {
                repository: row.text(0)?.to_string(),
                tag: tag(row, 1)?,
            }))
        },
    },
    ExportQuery {
        kind: "path_touch",
        sql: "SELECT r.locator, p.paths_key, p.sha, p.touched FROM path_touches p \
              JOIN repositories r ON r.id = p.repository_id ORDER BY r.locator, p.paths_key, p.sha",
        read: |row| {
            Ok(ExportRecord::PathTouch(PathTouchRecord {
                repository: row.text(0)?.to_string(),
                paths_key: row.text(1)?.to_string(),
                sha: row.text(2)?.to_string(),
                touched: row.boolean(3)?,
            }))
        },
    },
    ExportQuery {
        kind: "deployment",
        sql: "SELECT source, source_id, service, environment, sha, started_at, finished_at, \
              status, kind FROM deployments ORDER BY source, source_id",
        read: |row| {
            Ok(ExportRecord::Deployment {
                deployment: deployment(row, 0)?,
            })
        },
    },
    ExportQuery {
        kind: "pull_request",
        sql: "SELECT body FROM pull_requests ORDER BY source, repository, number",
        read: |row| {
            Ok(ExportRecord::PullRequest {
                pull_request: body(row, "pull request")?,
            })
        },
    },
    ExportQuery {
        kind: "pull_request_review",
        sql: "SELECT body FROM pull_request_reviews ORDER BY source, id",
        read: |row| {
            Ok(ExportRecord::PullRequestReview {
                review: body(row, "pull request review")?,
            })
        },
    },
    ExportQuery {
        kind: "incident",
        sql: "SELECT body FROM incidents ORDER BY source, id",
        read: |row| {
            Ok(ExportRecord::Incident {
                incident: body(row, "incident")?,
            })
        },
    },
    ExportQuery {
        kind: "ci_run",
        sql: "SELECT body FROM ci_runs ORDER BY source, id, attempt",
        read: |row| {
            Ok(ExportRecord::CiRun {
                ci_run: body(row, "CI run")?,
            })
        },
    },
    ExportQuery {
        kind: "flag_change",
        sql: "SELECT body FROM flag_changes ORDER BY source, repository, flag_id, changed_at",
        read: |row| {
            Ok(ExportRecord::FlagChange {
                flag_change: body(row, "flag change")?,
            })
        },
    },
    ExportQuery {
        kind: "delivery",
        sql: "SELECT source, delivery_id, event, received_at FROM deliveries \
              ORDER BY source, delivery_id",
        read: |row| {
            Ok(ExportRecord::Delivery(DeliveryRecord {
                source: parse_stored("delivery source", row.text(0)?)?,
                id: row.text(1)?.to_string(),
                event: row.text(2)?.to_string(),
                received_at: row.integer(3)?,
            }))
        },
    },
    ExportQuery {
        kind: "token",
        sql: "SELECT name, scope, hash, created_at, revoked_at FROM tokens \
              ORDER BY created_at, name",
        read: |row| {
            Ok(ExportRecord::Token(TokenRecord {
                name: row.text(0)?.to_string(),
                scope: parse_stored::<TokenScope>("token scope", row.text(1)?)?,
                hash: row.text(2)?.to_string(),
                created_at: row.integer(3)?,
                revoked_at: row.optional_integer(4)?,
            }))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of text, integer and NULL columns.
    enum Value {
        Text(&'static str),
        Integer(i64),
        Null,
    }

    struct Row(Vec<Value>);

    fn wrong(column: usize) -> StoreError {
        StoreError::Database(format!("column {column} has another type"))
    }

    impl StoredRow for Row {
        fn optional_text(&self, column: usize) -> Result<Option<&str>, StoreError> {
            match self.0.get(column) {
                Some(Value::Text(text)) => Ok(Some(*text)),
                Some(Value::Null) => Ok(None),
                _ => Err(wrong(column)),
            }
        }
        fn optional_integer(&self, column: usize) -> Result<Option<i64>, StoreError> {
            match self.0.get(column) {
                Some(Value::Integer(value)) => Ok(Some(*value)),
                Some(Value::Null) => Ok(None),
                _ => Err(wrong(column)),
            }
        }
        fn boolean(&self, column: usize) -> Result<bool, StoreError> {
            self.integer(column).map(|value| value != 0)
        }
    }

    #[test]
    fn the_queries_follow_the_export_order_of_kinds() {
        let kinds: Vec<&str> = EXPORT_QUERIES.iter().map(|query| query.kind).collect();
        assert_eq!(kinds, ExportRecord::KINDS);
    }

    #[test]
    fn a_change_row_is_read_from_its_first_column() {
        use Value::{Integer, Null, Text};
        let row = Row(vec![
            Text("repo"),
            Text("api"),
            Text("b2"),
            Text("a1 c3"),
            Integer(10),
            Integer(15),
            Text("Ada"),
            Text("ada@example.com"),
            Text("Subject"),
            Null,
        ]);
        let record = EXPORT_QUERIES[1].record(&row).unwrap();
        let ExportRecord::Change(record) = record else {
            panic!("{record:?}")
        };
        assert_eq!(record.repository, "repo");
        assert_eq!(record.change.parents, ["a1", "c3"]);
        assert_eq!(record.change.committer_time, 15);
        assert_eq!(record.change.reverts, None);
    }

    #[test]
    fn a_value_that_does_not_convert_is_named() {
        use Value::{Integer, Null, Text};
        let row = Row(vec![
            Text("api"),
            Text("d1"),
            Text("api"),
            Text("production"),
            Text("abcd"),
            Null,
            Integer(100),
            Text("exploded"),
            Text("normal"),
        ]);
        match deployment(&row, 0) {
            Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "deployment status"),
            other => panic!("{other:?}"),
        }
        let token_row = Row(vec![Integer(1), Text("ci"), Text("root"), Integer(5), Null]);
        match token(&token_row) {
            Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "token scope"),
            other => panic!("{other:?}"),
        }
    }
}
