//! Deployment history kept outside git: CSV with a header row, or NDJSON (one JSON object per
//! line). Fields, by name:
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `sha` | yes | the deployed commit, full or abbreviated |
//! | `time` | yes | when the deployment finished (RFC 3339, a date, or Unix seconds) |
//! | `status` | no | `success` (default) or `failure` |
//! | `environment` | no | defaults to the `--environment` of the run |
//! | `id` | no | the deployment's id; defaults to `environment:sha:time` |
//! | `kind` | no | `normal` (default), `rollback` or `hotfix` |
//! | `service` | no | defaults to the service of the run |
//! | `started_at` | no | when it started, for deploy durations |
//!
//! Unknown fields are errors, because a misspelt column would silently lose data. Blank lines
//! and lines starting with `#` are skipped.

use loopwise_core::entities::{DeploymentKind, DeploymentStatus};
use loopwise_core::rules::LoggedDeployment;
use loopwise_core::time::parse_instant;
use std::path::Path;

pub const FIELDS: &[&str] = &[
    "sha",
    "time",
    "status",
    "environment",
    "id",
    "kind",
    "service",
    "started_at",
];

/// One deployment line as written, validated: the core's [`LoggedDeployment`], which its rules
/// turn into a deployment once the commit is resolved.
pub type DeployRecord = LoggedDeployment;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployLogError {
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}:{line}: {reason}")]
    Line {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}:{line}: field `{field}`: {reason}")]
    Field {
        file: String,
        line: usize,
        field: String,
        reason: String,
    },
    #[error("{file}: no deployments in the file")]
    Empty { file: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// Reads and validates a deploy log; the format comes from the extension, else the content.
pub fn read_deploy_log(path: &Path) -> Result<Vec<DeployRecord>, DeployLogError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DeployLogError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| DeployLogError::Read {
        file: file.clone(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let format = match extension.as_str() {
        "csv" => Format::Csv,
        "ndjson" | "jsonl" | "json" => Format::Ndjson,
        _ if text.trim_start().starts_with('{') => Format::Ndjson,
        _ => Format::Csv,
    };
    parse_deploy_log(&file, &text, format)
}

/// Parses a deploy log's text; `file` names it in errors.
pub fn parse_deploy_log(
    file: &str,
    text: &str,
    format: Format,
) -> Result<Vec<DeployRecord>, DeployLogError> {
    let records = match format {
        Format::Csv => parse_csv(file, text)?,
        Format::Ndjson => parse_ndjson(file, text)?,
    };
    if records.is_empty() {
        return Err(DeployLogError::Empty {
            file: file.to_string(),
        });
    }
    Ok(records)
}

/// The raw text fields of one line, before validation.
#[derive(Debug, Default)]
struct RawRecord {
    line: usize,
    fields: Vec<(String, Option<String>)>,
}

fn field_error(file: &str, line: usize, field: &str, reason: impl Into<String>) -> DeployLogError {
    DeployLogError::Field {
        file: file.to_string(),
        line,
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn validate(file: &str, mut raw: RawRecord) -> Result<DeployRecord, DeployLogError> {
    let line = raw.line;
    let mut get = |name: &str| -> Option<String> {
        raw.fields
            .iter_mut()
            .find(|(field, _)| field == name)
            .and_then(|(_, value)| value.take())
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    let sha = get("sha").ok_or_else(|| field_error(file, line, "sha", "missing"))?;
    if sha.len() < 4 || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(field_error(
            file,
            line,
            "sha",
            format!("{sha:?} is not a commit id (4 to 40 hex digits)"),
        ));
    }
    let time_text = get("time").ok_or_else(|| field_error(file, line, "time", "missing"))?;
    let time =
        parse_instant(&time_text).map_err(|e| field_error(file, line, "time", e.to_string()))?;
    let started_at = get("started_at")
        .map(|text| {
            parse_instant(&text).map_err(|e| field_error(file, line, "started_at", e.to_string()))
        })
        .transpose()?;
    if started_at.is_some_and(|start| start > time) {
        return Err(field_error(
            file,
            line,
            "started_at",
            "is after `time` (the finish)",
        ));
    }
    let status = get("status")
        .map(|text| {
            text.parse()
                .map_err(|e: loopwise_core::entities::UnknownValue| {
                    field_error(file, line, "status", e.to_string())
                })
        })
        .transpose()?
        .unwrap_or(DeploymentStatus::Success);
    let kind = get("kind")
        .map(|text| {
            text.parse()
                .map_err(|e: loopwise_core::entities::UnknownValue| {
                    field_error(file, line, "kind", e.to_string())
                })
        })
        .transpose()?
        .unwrap_or(DeploymentKind::Normal);
    Ok(DeployRecord {
        line,
        sha: sha.to_ascii_lowercase(),
        time,
        started_at,
        status,
        kind,
        environment: get("environment"),
        id: get("id"),
        service: get("service"),
    })
}

fn check_field_name(file: &str, line: usize, name: &str) -> Result<(), DeployLogError> {
    if FIELDS.contains(&name) {
        Ok(())
    } else {
        Err(DeployLogError::Line {
            file: file.to_string(),
            line,
            reason: format!("unknown field `{name}`; expected: {}", FIELDS.join(", ")),
        })
    }
}

/// Where the physical lines of a text start, and which lines hold content, computed once so a
/// byte offset turns into a line number by binary search instead of a count from the start.
///
/// A line's number is one more than the newlines at or before the offset: the csv crate ends
/// a line at the `\r` of a `\r\n` and places the next record at its `\n`, which belongs to the
/// line after it. An offset on a blank or `#` comment line moves on to the next line with
/// content (the csv crate places a record at the start of the blank and comment lines it
/// skipped before it).
struct LineIndex {
    /// Byte offset of each line's first byte: 0, then one past every `\n`.
    starts: Vec<usize>,
    /// Per physical line (as `str::lines` yields them, plus one past the last), the first line
    /// at or after it that is neither blank nor a comment, or one past the last line.
    next_content: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 64 + 1);
        starts.push(0);
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, byte)| byte == b'\n')
                .map(|(index, _)| index + 1),
        );
        let skipped: Vec<bool> = text.lines().map(is_blank_or_comment).collect();
        let mut next_content = vec![skipped.len(); skipped.len() + 1];
        for line in (0..skipped.len()).rev() {
            next_content[line] = if skipped[line] {
                next_content[line + 1]
            } else {
                line
            };
        }
        Self {
            starts,
            next_content,
        }
    }

    /// The 1-based line of the content at or after `byte`.
    fn line_at(&self, byte: u64) -> usize {
        let byte = usize::try_from(byte).unwrap_or(usize::MAX);
        // The newlines at or before `byte`: every start after the first that is at or before
        // the byte after it.
        let newlines_before = self
            .starts
            .partition_point(|&start| start <= byte.saturating_add(1))
            .saturating_sub(1);
        // `str::lines` yields at most one line per newline plus one: never out of range, but
        // fall back to the line itself rather than panic.
        let line = self
            .next_content
            .get(newlines_before)
            .copied()
            .unwrap_or(newlines_before);
        line + 1
    }

    /// The 1-based line of the first content line (the CSV header), or 1 when there is none.
    fn first_content_line(&self) -> usize {
        match self.next_content.first() {
            Some(&line) if line + 1 < self.next_content.len() => line + 1,
            _ => 1,
        }
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    line.trim().is_empty() || line.trim_start().starts_with('#')
}

fn parse_csv(file: &str, text: &str) -> Result<Vec<DeployRecord>, DeployLogError> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // The csv crate does not count skipped comment lines, so lines come from byte offsets.
    let lines = LineIndex::new(text);
    let csv_error = |error: csv::Error| {
        let line = error.position().map_or(1, |p| lines.line_at(p.byte()));
        DeployLogError::Line {
            file: file.to_string(),
            line,
            reason: error.to_string(),
        }
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let header_line = lines.first_content_line();
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for name in &names {
        check_field_name(file, header_line, name)?;
    }
    for required in ["sha", "time"] {
        if !names.iter().any(|n| n == required) {
            return Err(DeployLogError::Line {
                file: file.to_string(),
                line: header_line,
                reason: format!(
                    "the header has no `{required}` column (header: {})",
                    names.join(",")
                ),
            });
        }
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let line = row.position().map_or(0, |p| lines.line_at(p.byte()));
        let fields = names
            .iter()
            .cloned()
            .zip(row.iter().map(|v| Some(v.to_string())))
            .collect();
        records.push(validate(file, RawRecord { line, fields })?);
    }
    Ok(records)
}

fn parse_ndjson(file: &str, text: &str) -> Result<Vec<DeployRecord>, DeployLogError> {
    let mut records = Vec::new();
    for (index, line_text) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = line_text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| DeployLogError::Line {
                file: file.to_string(),
                line,
                reason: format!("invalid JSON: {e}"),
            })?;
        let serde_json::Value::Object(object) = value else {
            return Err(DeployLogError::Line {
                file: file.to_string(),
                line,
                reason: "expected a JSON object".to_string(),
            });
        };
        let mut fields = Vec::with_capacity(object.len());
        for (name, value) in object {
            check_field_name(file, line, &name)?;
            let text = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(text),
                serde_json::Value::Number(number) if name == "time" || name == "started_at" => {
                    Some(number.as_i64().map(|n| n.to_string()).ok_or_else(|| {
                        field_error(
                            file,
                            line,
                            &name,
                            format!("{number} is not whole Unix seconds"),
                        )
                    })?)
                }
                other => {
                    return Err(field_error(
                        file,
                        line,
                        &name,
                        format!("expected a string, found {other}"),
                    ));
                }
            };
            fields.push((name, text));
        }
        records.push(validate(file, RawRecord { line, fields })?);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn parses_csv_with_optional_columns() {
        let text = format!(
            "sha,time,status,environment,kind\n# a comment\n{SHA},2024-05-01T10:00:00Z,success,prod,\n\
             0123abc,2024-05-02,failure,,rollback\n"
        );
        let records = parse_deploy_log("d.csv", &text, Format::Csv).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, 3);
        assert_eq!(records[0].sha, SHA);
        assert_eq!(records[0].time, 1_714_557_600);
        assert_eq!(records[0].environment.as_deref(), Some("prod"));
        assert_eq!(records[0].kind, DeploymentKind::Normal);
        assert_eq!(records[1].status, DeploymentStatus::Failure);
        assert_eq!(records[1].kind, DeploymentKind::Rollback);
        assert_eq!(records[1].environment, None);
        assert_eq!(records[1].line, 4);
    }

    #[test]
    fn parses_ndjson() {
        let text = format!(
            "{{\"sha\":\"{SHA}\",\"time\":1714557600,\"id\":\"deploy-7\"}}\n\n{{\"sha\":\"{SHA}\",\"time\":\"2024-05-02\",\"status\":\"failure\",\"started_at\":null}}\n"
        );
        let records = parse_deploy_log("d.ndjson", &text, Format::Ndjson).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id.as_deref(), Some("deploy-7"));
        assert_eq!(records[0].time, 1_714_557_600);
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].status, DeploymentStatus::Failure);
    }

    fn error(text: &str, format: Format) -> String {
        parse_deploy_log("deploys.log", text, format)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_line_and_field() {
        assert_eq!(
            error(
                &format!("sha,time\n{SHA},2024-01-01\n{SHA},yesterday\n"),
                Format::Csv
            ),
            "deploys.log:3: field `time`: invalid time \"yesterday\": expected an RFC 3339 timestamp \
             (2024-05-01T12:00:00Z), a date (2024-05-01, midnight UTC) or Unix seconds"
        );
        assert_eq!(
            error("sha,time\nnot-a-sha,2024-01-01\n", Format::Csv),
            "deploys.log:2: field `sha`: \"not-a-sha\" is not a commit id (4 to 40 hex digits)"
        );
        assert!(
            error("sha,when\n", Format::Csv).starts_with("deploys.log:1: unknown field `when`")
        );
        assert!(error("sha,status\n", Format::Csv).contains("no `time` column"));
        assert!(
            error(
                &format!("sha,time,status\n{SHA},2024-01-01,broken\n"),
                Format::Csv
            )
            .starts_with("deploys.log:2: field `status`: unknown deployment status \"broken\"")
        );
        assert!(
            error(&format!("{{\"sha\":\"{SHA}\"}}\n"), Format::Ndjson)
                .starts_with("deploys.log:1: field `time`: missing")
        );
        assert!(
            error("{\"sha\": oops}\n", Format::Ndjson).starts_with("deploys.log:1: invalid JSON")
        );
        assert!(
            error("[1,2]\n", Format::Ndjson).starts_with("deploys.log:1: expected a JSON object")
        );
        assert!(
            error(
                &format!("{{\"sha\":\"{SHA}\",\"time\":1.5}}"),
                Format::Ndjson
            )
            .contains("not whole Unix seconds")
        );
        assert_eq!(
            error("sha,time\n", Format::Csv),
            "deploys.log: no deployments in the file"
        );
        assert!(
            error(&format!("sha,time\n{SHA},2024-01-01,extra\n"), Format::Csv)
                .starts_with("deploys.log:2:")
        );
    }

    /// The definition of a line number, deliberately slow: count the newlines at or before the
    /// offset, then move past blank and comment lines one by one.
    fn line_by_counting(text: &str, byte: usize) -> usize {
        let physical: Vec<&str> = text.lines().collect();
        let mut line = text.as_bytes()[..byte.saturating_add(1).min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        while physical
            .get(line)
            .is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            line += 1;
        }
        line + 1
    }

    #[test]
    fn line_numbers_by_hand() {
        // Lines: 1 comment, 2 blank, 3 header, 4 row, 5 comment, 6 blank, 7 row (no newline).
        let text = "# deploys\n\nsha,time\nabcd,1\n# skipped\n\nabcd,2";
        let lines = LineIndex::new(text);
        assert_eq!(lines.first_content_line(), 3);
        assert_eq!(
            lines.line_at(0),
            3,
            "the comment and blank line before the header"
        );
        assert_eq!(lines.line_at(11), 3);
        assert_eq!(lines.line_at(20), 4);
        assert_eq!(
            lines.line_at(27),
            7,
            "a record placed at the comment before it"
        );
        assert_eq!(lines.line_at(text.len() as u64), 7);
        assert_eq!(lines.line_at(u64::MAX), 7);
        assert_eq!(LineIndex::new("").first_content_line(), 1);
        assert_eq!(LineIndex::new("").line_at(0), 1);
        assert_eq!(LineIndex::new("#\n\n").first_content_line(), 1);
        assert_eq!(LineIndex::new("#\n\n").line_at(1), 3);
        // The csv crate places a record after a `\r\n` at its `\n` (offset 9 here).
        assert_eq!(LineIndex::new("sha,time\r\nabcd,1\r\n").line_at(9), 2);
    }

    /// Windows line endings: each row on its own line, not the one before (the csv crate
    /// places a record at the `\n` of the `\r\n` before it).
    #[test]
    fn crlf_rows_are_numbered_like_lf_rows() {
        let text = format!("sha,time\r\n{SHA},1\r\n# c\r\n\r\n{SHA},2\r\n{SHA},x\r\n");
        let error = parse_deploy_log("d.csv", &text, Format::Csv).unwrap_err();
        assert!(
            error.to_string().starts_with("d.csv:6: field `time`"),
            "{error}"
        );
        let text = text.replace(",x", ",3");
        let records = parse_deploy_log("d.csv", &text, Format::Csv).unwrap();
        let lines: Vec<usize> = records.iter().map(|record| record.line).collect();
        assert_eq!(lines, [2, 5, 6]);
    }

    /// One physical line of a generated CSV deploy log.
    #[derive(Debug, Clone)]
    enum Piece {
        /// A deployment; `quoted_newline` puts a newline inside its quoted `id`.
        Row {
            quoted_newline: bool,
        },
        Blank,
        Comment,
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = Piece> {
        use proptest::prelude::*;
        prop_oneof![
            3 => any::<bool>().prop_map(|quoted_newline| Piece::Row { quoted_newline }),
            1 => Just(Piece::Blank),
            1 => Just(Piece::Comment),
        ]
    }

    proptest::proptest! {
        #[test]
        fn line_index_matches_counting_newlines(
            lines in proptest::collection::vec(
                "(|   |\r|#|# c,d|  # indented|sha,time|[a-f0-9]{4},20|\"x\"|ü)", 0..30),
            crlf in proptest::bool::ANY,
            trailing_newline in proptest::bool::ANY,
        ) {
            let ending = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(ending);
            if trailing_newline {
                text.push_str(ending);
            }
            let index = LineIndex::new(&text);
            for byte in 0..=text.len() + 2 {
                proptest::prop_assert_eq!(
                    index.line_at(byte as u64),
                    line_by_counting(&text, byte),
                    "byte {}", byte
                );
            }
            let header = text
                .lines()
                .position(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
                .map_or(1, |index| index + 1);
            proptest::prop_assert_eq!(index.first_content_line(), header);
        }

        #[test]
        fn csv_records_and_errors_carry_the_counted_line(
            before_header in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(Piece::Blank), proptest::strategy::Just(Piece::Comment)], 0..4),
            pieces in proptest::collection::vec(piece(), 1..40),
            crlf in proptest::bool::ANY,
            broken in proptest::option::of(0usize..40),
        ) {
            let ending = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            let push = |text: &mut String, piece: &Piece, row: usize, broken: bool| {
                match piece {
                    Piece::Blank => {}
                    Piece::Comment => text.push_str("# a comment, with a comma"),
                    Piece::Row { quoted_newline } => {
                        let time = if broken { "yesterday".to_string() } else { (1_700_000_000 + row).to_string() };
                        let id = if *quoted_newline { format!("\"deploy{ending}{row}\"") } else { format!("d{row}") };
                        text.push_str(&format!("{SHA},{time},{id}"));
                    }
                }
                text.push_str(ending);
            };
            for piece in &before_header {
                push(&mut text, piece, 0, false);
            }
            text.push_str("sha,time,id");
            text.push_str(ending);
            // The byte offset at which each row starts, and the broken row's.
            let mut row_starts = Vec::new();
            let mut broken_start = None;
            for piece in &pieces {
                let start = text.len();
                let row = row_starts.len();
                let is_broken = matches!(piece, Piece::Row { .. }) && broken == Some(row);
                push(&mut text, piece, row, is_broken);
                if matches!(piece, Piece::Row { .. }) {
                    row_starts.push(start);
                    if is_broken {
                        broken_start = Some(start);
                    }
                }
            }
            let counted = |start: usize| 1 + text[..start].matches('\n').count();
            match (parse_deploy_log("d.csv", &text, Format::Csv), broken_start) {
                (Err(DeployLogError::Field { line, field, .. }), Some(start)) => {
                    proptest::prop_assert_eq!(field, "time");
                    proptest::prop_assert_eq!(line, counted(start));
                }
                (Ok(records), None) => {
                    let lines: Vec<usize> = records.iter().map(|r| r.line).collect();
                    let expected: Vec<usize> = row_starts.iter().map(|&s| counted(s)).collect();
                    proptest::prop_assert_eq!(lines, expected);
                }
                (Err(DeployLogError::Empty { .. }), None) => {
                    proptest::prop_assert!(row_starts.is_empty());
                }
                (other, broken_start) => {
                    proptest::prop_assert!(false, "{other:?} with the broken row at {broken_start:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC*") {
            let _ = parse_deploy_log("fuzz", &text, Format::Csv);
            let _ = parse_deploy_log("fuzz", &text, Format::Ndjson);
        }

        #[test]
        fn never_panics_on_csv_like_text(text in "(sha|time|status|[0-9a-f]{4,40}|20[0-9]{2}-[0-9]{2}-[0-9]{2}|,|\n|\"|success|failure){0,40}") {
            let _ = parse_deploy_log("fuzz", &text, Format::Csv);
        }
    }
}
