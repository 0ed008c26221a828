//! The export format: every stored entity as NDJSON, so a store can be moved to another
//! backend (SQLite → PostgreSQL and back) without loss.
//!
//! A file is a header line ([`ExportHeader`]), then one [`ExportRecord`] per line, each a
//! JSON object whose `"kind"` names what it is, then an end line ([`ExportEnd`]) with the
//! record count, so a truncated file is recognised. Records are built from the core's entities, so
//! this module is the one place the shapes live; backends produce them with
//! [`crate::Store::export`] and consume them with [`crate::Store::import`]. A backend exports in
//! the canonical order of [`ExportRecord::KINDS`], each kind sorted by its key (see each
//! variant), so two exports of the same data are byte-identical whichever backend wrote them.
//!
//! Parsing ([`parse_header`], [`parse_record`]) checks every field and names the one that is
//! wrong; it never panics, whatever the bytes.

use crate::{Delivery, StoreError, TokenScope};
use loopwise_core::entities::{Change, Deployment, Source, Tag};
use loopwise_core::events::{CiRun, Event, FlagChange, Incident, PullRequest, PullRequestReview};
use loopwise_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The `schema` of the header this build writes and reads.
pub const EXPORT_SCHEMA: &str = "loopwise.export.v1";

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always [`EXPORT_SCHEMA`] for this format.
    pub schema: String,
    /// The exporting store's schema version: an import refuses a file from a newer schema,
    /// whose records may carry facts this build would drop.
    pub schema_version: i64,
    /// When the export was taken, RFC 3339 UTC.
    pub exported_at: String,
}

/// A repository, by its locator (stores number repositories themselves; numbers are not
/// exported). Order: by locator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRecord {
    pub locator: String,
}

/// A commit of a repository and where it came from: `git` (an import; its parents are
/// complete) or the webhook/API source that pushed it. Order: by repository locator, then sha.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecord {
    pub repository: String,
    pub source: Source,
    pub change: Change,
}

/// A tag of a repository. Order: by repository locator, then tag name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRecord {
    pub repository: String,
    pub tag: Tag,
}

/// A cached "does this commit touch these paths?" answer. Order: by repository locator, paths
/// key, sha.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathTouchRecord {
    pub repository: String,
    pub paths_key: String,
    pub sha: String,
    pub touched: bool,
}

/// A webhook delivery already processed. Order: by source, id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRecord {
    pub source: Source,
    pub id: String,
    pub event: String,
    pub received_at: Timestamp,
}

impl From<&DeliveryRecord> for Delivery {
    fn from(record: &DeliveryRecord) -> Self {
        Delivery {
            source: record.source,
            id: record.id.clone(),
            event: record.event.clone(),
            received_at: record.received_at,
        }
    }
}

/// An API token: the SHA-256 hash the store keeps, never a secret (the store has none).
/// Order: by creation time, then name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub name: String,
    pub scope: TokenScope,
    pub hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Importing this token where a token of its name is stored (its `hash`, `scope` and
    /// `revoked_at` as stored): it must be the same token (hash and scope), else the import is a
    /// [`StoreError::Conflict`]; `Some(time)` when the file's revocation is to be applied to the
    /// still live stored token.
    pub fn revocation_over(
        &self,
        hash: &str,
        scope: &str,
        revoked_at: Option<Timestamp>,
    ) -> Result<Option<Timestamp>, StoreError> {
        if hash != self.hash || scope != self.scope.as_str() {
            return Err(StoreError::Conflict(format!(
                "a token named {:?} exists already with another secret or scope",
                self.name
            )));
        }
        Ok(match (revoked_at, self.revoked_at) {
            (None, Some(revoked)) => Some(revoked),
            _ => None,
        })
    }

    /// Why this token cannot be imported when no stored token has its name but one has its
    /// hash.
    pub fn hash_taken(&self) -> StoreError {
        StoreError::Conflict(format!(
            "token {:?}: a token of another name has the same hash",
            self.name
        ))
    }
}

/// One line of an export after the header. Serialised with its kind first:
/// `{"kind":"deployment","deployment":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportRecord {
    Repository(RepositoryRecord),
    Change(ChangeRecord),
    Tag(TagRecord),
    PathTouch(PathTouchRecord),
    /// Order: by source, id.
    Deployment {
        deployment: Deployment,
    },
    /// The stored (merged) snapshot. Order: by source, repository, number.
    PullRequest {
        pull_request: PullRequest,
    },
    /// Order: by source, id.
    PullRequestReview {
        review: PullRequestReview,
    },
    /// Order: by source, id.
    Incident {
        incident: Incident,
    },
    /// Every attempt. Order: by source, id, attempt.
    CiRun {
        ci_run: CiRun,
    },
    /// Order: by source, repository, flag id, time.
    FlagChange {
        flag_change: FlagChange,
    },
    Delivery(DeliveryRecord),
    Token(TokenRecord),
}

impl ExportRecord {
    /// Every kind, in the order an export writes them.
    pub const KINDS: [&'static str; 12] = [
        "repository",
        "change",
        "tag",
        "path_touch",
        "deployment",
        "pull_request",
        "pull_request_review",
        "incident",
        "ci_run",
        "flag_change",
        "delivery",
        "token",
    ];

    /// The record's `"kind"`, one of [`ExportRecord::KINDS`].
    pub fn kind(&self) -> &'static str {
        let index = match self {
            ExportRecord::Repository(_) => 0,
            ExportRecord::Change(_) => 1,
            ExportRecord::Tag(_) => 2,
            ExportRecord::PathTouch(_) => 3,
            ExportRecord::Deployment { .. } => 4,
            ExportRecord::PullRequest { .. } => 5,
            ExportRecord::PullRequestReview { .. } => 6,
            ExportRecord::Incident { .. } => 7,
            ExportRecord::CiRun { .. } => 8,
            ExportRecord::FlagChange { .. } => 9,
            ExportRecord::Delivery(_) => 10,
            ExportRecord::Token(_) => 11,
        };
        Self::KINDS[index]
    }

    /// What importing this record writes: the kinds that events carry (deployments, pull
    /// requests, reviews, incidents, CI runs, flag changes) as their event, merged with what is
    /// stored by the events' rules; a change as git history or as a pushed commit, by its
    /// source; the others as they are.
    pub fn import_write(&self) -> ImportWrite<'_> {
        let event = match self {
            ExportRecord::Repository(record) => return ImportWrite::Repository(record),
            ExportRecord::Change(record) if record.source == Source::Git => {
                return ImportWrite::GitChange(record);
            }
            ExportRecord::Change(record) => return ImportWrite::PushedChange(record),
            ExportRecord::Tag(record) => return ImportWrite::Tag(record),
            ExportRecord::PathTouch(record) => return ImportWrite::PathTouch(record),
            ExportRecord::Delivery(record) => return ImportWrite::Delivery(record),
            ExportRecord::Token(record) => return ImportWrite::Token(record),
            ExportRecord::Deployment { deployment } => Event::Deployment(deployment.clone()),
            ExportRecord::PullRequest { pull_request } => Event::PullRequest(pull_request.clone()),
            ExportRecord::PullRequestReview { review } => Event::PullRequestReview(review.clone()),
            ExportRecord::Incident { incident } => Event::Incident(incident.clone()),
            ExportRecord::CiRun { ci_run } => Event::CiRun(ci_run.clone()),
            ExportRecord::FlagChange { flag_change } => Event::FlagChange(flag_change.clone()),
        };
        ImportWrite::Event(event)
    }

    /// The record as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a backend writes to import one record (see [`ExportRecord::import_write`]).
// One value per record, written straight away: boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportWrite<'a> {
    /// Written as [`crate::Store::apply_events`] writes it, with pushed commits' source `import`.
    Event(Event),
    Repository(&'a RepositoryRecord),
    /// A commit from git (source `git`): stored unless known, and git data wins over a commit
    /// known only from a push (counted as updated).
    GitChange(&'a ChangeRecord),
    /// A commit from a push or a change event, under its record's source: stored unless known,
    /// never overwriting a stored commit.
    PushedChange(&'a ChangeRecord),
    Tag(&'a TagRecord),
    PathTouch(&'a PathTouchRecord),
    Delivery(&'a DeliveryRecord),
    Token(&'a TokenRecord),
}

/// Why a line is not a valid header or record: the field (a dotted path, or empty for the line
/// as a whole) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if field.is_empty() { String::new() } else { format!("field {field}: ") })]
pub struct RecordError {
    pub field: String,
    pub reason: String,
}

impl RecordError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Parses a header line. `supported_schema_version` is the reading store's: a file from a
/// newer store schema is refused, as is any `schema` but [`EXPORT_SCHEMA`].
pub fn parse_header(
    line: &str,
    supported_schema_version: i64,
) -> Result<ExportHeader, RecordError> {
    let object = parse_object(line)?;
    match object.get("schema") {
        Some(serde_json::Value::String(schema)) if schema == EXPORT_SCHEMA => {}
        Some(serde_json::Value::String(schema)) => {
            return Err(RecordError::new(
                "schema",
                format!(
                    "unknown export schema {schema:?} (a newer loopwise?); this build reads {EXPORT_SCHEMA:?}"
                ),
            ));
        }
        Some(_) => return Err(RecordError::new("schema", "expected a string")),
        None => {
            return Err(RecordError::new(
                "schema",
                format!(
                    "missing: the first line must be the header {{\"schema\":\"{EXPORT_SCHEMA}\",…}}"
                ),
            ));
        }
    }
    let header: ExportHeader = typed(serde_json::Value::Object(object), "")?;
    if header.schema_version > supported_schema_version {
        return Err(RecordError::new(
            "schema_version",
            format!(
                "the export is from schema version {}, newer than this store's {supported_schema_version}; upgrade loopwise",
                header.schema_version
            ),
        ));
    }
    if loopwise_core::time::parse_instant(&header.exported_at).is_err() {
        return Err(RecordError::new(
            "exported_at",
            format!("{:?} is not a time (RFC 3339 expected)", header.exported_at),
        ));
    }
    if header.schema_version < 1 {
        return Err(RecordError::new("schema_version", "must be at least 1"));
    }
    Ok(header)
}

/// The last line of a complete export: `{"kind":"end","records":N}`, N the number of record
/// lines between header and end. A file cut short, even at a line boundary, lacks it, so an
/// import can tell a truncated file from a whole one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    pub records: u64,
}

impl ExportEnd {
    pub fn to_line(self) -> String {
        format!(r#"{{"kind":"end","records":{}}}"#, self.records)
    }
}

/// A line after the header: a record or the end line.
// One value per line, moved straight on: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportLine {
    Record(ExportRecord),
    End(ExportEnd),
}

/// Parses one record line and checks it: every field of the right type, no unknown field, key
/// fields not empty.
pub fn parse_record(line: &str) -> Result<ExportRecord, RecordError> {
    match parse_line(line)? {
        ExportLine::Record(record) => Ok(record),
        ExportLine::End(_) => Err(RecordError::new("kind", "an end line is not a record")),
    }
}

/// Parses a line after the header: a record (checked as [`parse_record`] does) or the end line.
pub fn parse_line(line: &str) -> Result<ExportLine, RecordError> {
    let mut object = parse_object(line)?;
    let kind = match object.remove("kind") {
        Some(serde_json::Value::String(kind)) => kind,
        Some(_) => return Err(RecordError::new("kind", "expected a string")),
        None => return Err(RecordError::new("kind", "missing")),
    };
    let value = serde_json::Value::Object(object);
    let record = match kind.as_str() {
        "end" => return Ok(ExportLine::End(typed(value, "")?)),
        "repository" => ExportRecord::Repository(typed(value, "")?),
        "change" => ExportRecord::Change(typed(value, "")?),
        "tag" => ExportRecord::Tag(typed(value, "")?),
        "path_touch" => ExportRecord::PathTouch(typed(value, "")?),
        "deployment" => ExportRecord::Deployment {
            deployment: field(value, "deployment")?,
        },
        "pull_request" => ExportRecord::PullRequest {
            pull_request: field(value, "pull_request")?,
        },
        "pull_request_review" => ExportRecord::PullRequestReview {
            review: field(value, "review")?,
        },
        "incident" => ExportRecord::Incident {
            incident: field(value, "incident")?,
        },
        "ci_run" => ExportRecord::CiRun {
            ci_run: field(value, "ci_run")?,
        },
        "flag_change" => ExportRecord::FlagChange {
            flag_change: field(value, "flag_change")?,
        },
        "delivery" => ExportRecord::Delivery(typed(value, "")?),
        "token" => ExportRecord::Token(typed(value, "")?),
        other => {
            return Err(RecordError::new(
                "kind",
                format!(
                    "unknown kind {other:?}; expected one of: {}",
                    ExportRecord::KINDS.join(", ")
                ),
            ));
        }
    };
    check_keys(&record)?;
    Ok(ExportLine::Record(record))
}

fn parse_object(line: &str) -> Result<serde_json::Map<String, serde_json::Value>, RecordError> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(RecordError::new("", "expected a JSON object")),
        Err(error) => Err(RecordError::new("", format!("not valid JSON: {error}"))),
    }
}

/// Deserialises `value`, naming the failing field by its path under `prefix`.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, RecordError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let path = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => String::new(),
            (true, _) => path,
            (false, ".") => prefix.to_string(),
            (false, _) => format!("{prefix}.{path}"),
        };
        // serde names a missing field in its message, not in the path.
        match missing_field(&inner) {
            Some(missing) if path.is_empty() => RecordError::new(missing, "missing"),
            Some(missing) => RecordError::new(format!("{path}.{missing}"), "missing"),
            None => RecordError::new(path, inner),
        }
    })
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// A record that is one object under `name` and nothing else.
fn field<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    name: &str,
) -> Result<T, RecordError> {
    let serde_json::Value::Object(mut object) = value else {
        return Err(RecordError::new("", "expected a JSON object"));
    };
    let inner = object
        .remove(name)
        .ok_or_else(|| RecordError::new(name, "missing"))?;
    if let Some(extra) = object.keys().next() {
        return Err(RecordError::new(extra.as_str(), "unknown field"));
    }
    typed(inner, name)
}

/// Key fields must not be empty: an empty id would collide with every other empty id.
fn check_keys(record: &ExportRecord) -> Result<(), RecordError> {
    let keys: Vec<(&str, &str)> = match record {
        ExportRecord::Repository(r) => vec![("locator", &r.locator)],
        ExportRecord::Change(c) => {
            vec![("repository", &c.repository), ("change.sha", &c.change.sha)]
        }
        ExportRecord::Tag(t) => vec![("repository", &t.repository), ("tag.name", &t.tag.name)],
        ExportRecord::PathTouch(p) => vec![
            ("repository", &p.repository),
            ("paths_key", &p.paths_key),
            ("sha", &p.sha),
        ],
        ExportRecord::Deployment { deployment } => vec![("deployment.id", &deployment.id)],
        ExportRecord::PullRequest { pull_request } => {
            vec![("pull_request.repository", &pull_request.repository)]
        }
        ExportRecord::PullRequestReview { review } => vec![("review.id", &review.id)],
        ExportRecord::Incident { incident } => vec![("incident.id", &incident.id)],
        ExportRecord::CiRun { ci_run } => vec![("ci_run.id", &ci_run.id)],
        ExportRecord::FlagChange { flag_change } => vec![
            ("flag_change.repository", &flag_change.repository),
            ("flag_change.flag_id", &flag_change.flag_id),
        ],
        ExportRecord::Delivery(d) => vec![("id", &d.id)],
        ExportRecord::Token(t) => vec![("name", &t.name), ("hash", &t.hash)],
    };
    for (name, value) in keys {
        if value.trim().is_empty() {
            return Err(RecordError::new(name, "must not be empty"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::entities::{DeploymentKind, DeploymentStatus};

    fn deployment() -> ExportRecord {
        ExportRecord::Deployment {
            deployment: Deployment {
                source: Source::Api,
                id: "d1".into(),
                service: "api".into(),
                environment: "production".into(),
                sha: "a".repeat(40),
                started_at: None,
                finished_at: Some(100),
                status: DeploymentStatus::Success,
                kind: DeploymentKind::Normal,
            },
        }
    }

    #[test]
    fn a_record_line_starts_with_its_kind_and_parses_back() {
        let line = deployment().to_line();
        assert!(
            line.starts_with(r#"{"kind":"deployment","deployment":{"source":"api","id":"d1""#),
            "{line}"
        );
        assert_eq!(parse_record(&line), Ok(deployment()));
        let token = ExportRecord::Token(TokenRecord {
            name: "ci".into(),
            scope: TokenScope::Ingest,
            hash: "ab".into(),
            created_at: 5,
            revoked_at: None,
        });
        assert_eq!(
            token.to_line(),
            r#"{"kind":"token","name":"ci","scope":"ingest","hash":"ab","created_at":5,"revoked_at":null}"#
        );
        assert_eq!(parse_record(&token.to_line()), Ok(token));
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let line = deployment()
            .to_line()
            .replace(r#""finished_at":100"#, r#""finished_at":"soon""#);
        let error = parse_record(&line).unwrap_err();
        assert_eq!(error.field, "deployment.finished_at");
        let line = deployment().to_line().replace(r#""id":"d1","#, "");
        assert_eq!(parse_record(&line).unwrap_err().field, "deployment.id");
        let error = parse_record(r#"{"kind":"repo","locator":"x"}"#).unwrap_err();
        assert_eq!(error.field, "kind");
        assert!(error.reason.contains("unknown kind \"repo\""), "{error}");
        let error = parse_record(r#"{"kind":"repository","locator":"x","extra":1}"#).unwrap_err();
        assert_eq!(error.field, "extra");
        let error = parse_record(r#"{"kind":"repository","locator":" "}"#).unwrap_err();
        assert_eq!(error, RecordError::new("locator", "must not be empty"));
        let error = parse_record(r#"{"kind":"repository"}"#).unwrap_err();
        assert_eq!(error, RecordError::new("locator", "missing"));
        assert_eq!(parse_record("[1]").unwrap_err().field, "");
        assert_eq!(parse_record(r#"{"kind":"repos"#).unwrap_err().field, "");
    }

    #[test]
    fn a_header_of_another_schema_or_a_newer_version_is_refused() {
        let good = r#"{"schema":"loopwise.export.v1","schema_version":4,"exported_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(parse_header(good, 4).unwrap().schema_version, 4);
        assert_eq!(parse_header(good, 5).unwrap().schema_version, 4);
        assert_eq!(parse_header(good, 3).unwrap_err().field, "schema_version");
        let newer = good.replace("export.v1", "export.v2");
        assert_eq!(parse_header(&newer, 4).unwrap_err().field, "schema");
        assert_eq!(
            parse_header(r#"{"kind":"repository","locator":"x"}"#, 4)
                .unwrap_err()
                .field,
            "schema"
        );
        let typo = good.replace("schema_version\":4", "schema_version\":\"4\"");
        assert_eq!(parse_header(&typo, 4).unwrap_err().field, "schema_version");
        let undated = good.replace("2026-01-01T00:00:00Z", "yesterday");
        assert_eq!(parse_header(&undated, 4).unwrap_err().field, "exported_at");
    }

    #[test]
    fn the_end_line_counts_records() {
        let end = ExportEnd { records: 21 };
        assert_eq!(end.to_line(), r#"{"kind":"end","records":21}"#);
        assert_eq!(parse_line(&end.to_line()), Ok(ExportLine::End(end)));
        assert_eq!(parse_record(&end.to_line()).unwrap_err().field, "kind");
        let error = parse_line(r#"{"kind":"end","records":-1}"#).unwrap_err();
        assert_eq!(error.field, "records");
    }

    #[test]
    fn kinds_are_listed_in_export_order() {
        assert_eq!(deployment().kind(), "deployment");
        let mut sorted = ExportRecord::KINDS.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), ExportRecord::KINDS.len());
    }
}
