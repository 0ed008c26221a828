//! `loopwise db migrate|export|import`: the database as a whole, to move a team between
//! backends (SQLite ↔ PostgreSQL) without loss.
//!
//! The format is [`loopwise_store::export`]'s NDJSON; the store streams records out and takes
//! them back in one transaction. An import checks every line before it opens the target, so a
//! bad file changes nothing (not even creating the database).

use crate::cli::{DbArgs, DbCommand};
use crate::errors::bad_input;
use crate::store;
use anyhow::Context;
use loopwise_store::export::{
    EXPORT_SCHEMA, ExportEnd, ExportHeader, ExportLine, ExportRecord, parse_header, parse_line,
};
use loopwise_store::{ImportCounts, StoreError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub fn run(args: DbArgs) -> anyhow::Result<()> {
    let db = args.db.as_deref();
    match args.command {
        DbCommand::Migrate => migrate(db),
        DbCommand::Export { output } => export(db, &output),
        DbCommand::Import { input } => import(db, &input),
    }
}

fn migrate(db: Option<&str>) -> anyhow::Result<()> {
    let before = store::stored_schema_version(db)?;
    let store = store::open(db)?;
    let after = store.schema_version()?;
    let mut stdout = std::io::stdout().lock();
    match before {
        None => writeln!(stdout, "schema version none -> {after} (created)")?,
        Some(before) if before == after => {
            writeln!(stdout, "schema version {after} -> {after} (up to date)")?
        }
        Some(before) => writeln!(stdout, "schema version {before} -> {after} (migrated)")?,
    }
    Ok(())
}

/// The header's time: `SOURCE_DATE_EPOCH` when set (reproducible exports), else now.
fn exported_at() -> anyhow::Result<String> {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<i64>().map_err(|_| {
            bad_input(format!(
                "SOURCE_DATE_EPOCH: {text:?} is not a number of seconds"
            ))
        })?,
        Err(_) => jiff::Timestamp::now().as_second(),
    };
    Ok(loopwise_core::time::format_rfc3339(seconds))
}

fn export(db: Option<&str>, output: &Path) -> anyhow::Result<()> {
    let exported_at = exported_at()?;
    let store = store::open(db)?;
    let header = ExportHeader {
        schema: EXPORT_SCHEMA.to_string(),
        schema_version: store.schema_version()?,
        exported_at,
    };
    let to_stdout = output.as_os_str() == "-";
    // A file is written beside its name and renamed when complete, so a failed export never
    // leaves a partial file that looks whole.
    let partial = PathBuf::from(format!("{}.partial", output.display()));
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        )
    };
    let mut writer = BufWriter::with_capacity(1 << 16, sink);
    serde_json::to_writer(&mut writer, &header)?;
    writer.write_all(b"\n")?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut write_failure: Option<std::io::Error> = None;
    let result = store.export(&mut |record| {
        let written = serde_json::to_writer(&mut writer, &record)
            .map_err(std::io::Error::from)
            .and_then(|()| writer.write_all(b"\n"));
        match written {
            Ok(()) => {
                *counts.entry(record.kind()).or_default() += 1;
                Ok(())
            }
            Err(error) => {
                write_failure = Some(error);
                Err(StoreError::Database(
                    "the output could not be written".into(),
                ))
            }
        }
    });
    let total: usize = counts.values().sum();
    let finished = match (write_failure, result) {
        (Some(error), _) => Err(anyhow::Error::new(error).context("writing the export")),
        (None, Err(error)) => Err(error.into()),
        (None, Ok(())) => writeln!(
            writer,
            "{}",
            ExportEnd {
                records: total as u64
            }
            .to_line()
        )
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            writer
                .into_inner()
                .map_err(|e| anyhow::Error::new(e.into_error()))
        })
        .and_then(|mut sink| Ok(sink.flush()?))
        .context("writing the export"),
    };
    if let Err(error) = finished {
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        return Err(error);
    }
    if !to_stdout {
        std::fs::rename(&partial, output)
            .with_context(|| format!("cannot rename {} to its name", partial.display()))?;
    }
    let detail = ExportRecord::KINDS
        .iter()
        .map(|kind| format!("{} {kind}", counts.get(kind).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!("exported {total} records: {detail}");
    Ok(())
}

/// The lines of an export, numbered from 1, as bytes: any bytes are read without failing.
struct NumberedLines<R> {
    reader: R,
    number: usize,
}

impl<R: BufRead> NumberedLines<R> {
    fn new(reader: R) -> Self {
        Self { reader, number: 0 }
    }

    /// The next line without its line ending, or `None` at the end.
    fn next_line(&mut self, buffer: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
        buffer.clear();
        if self.reader.read_until(b'\n', buffer)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
            if buffer.last() == Some(&b'\r') {
                buffer.pop();
            }
        }
        Ok(Some(self.number))
    }
}

/// Why a line of `name` is bad, as the user sees it: `file:line: field X: reason`.
fn line_error(name: &str, line: usize, error: impl std::fmt::Display) -> String {
    format!("{name}:{line}: {error}")
}

/// Reads an export, checking the header against `supported` and every record, and hands each
/// record to `each`. The first bad line ends it with a message naming file, line and field.
fn read_export<R: BufRead>(
    reader: R,
    name: &str,
    supported: i64,
    each: &mut dyn FnMut(ExportRecord),
) -> Result<usize, ReadError> {
    let mut lines = NumberedLines::new(reader);
    let mut buffer = Vec::new();
    let mut header_seen = false;
    let mut records = 0;
    let mut end_line = None;
    while let Some(number) = lines.next_line(&mut buffer).map_err(ReadError::Io)? {
        if buffer.iter().all(u8::is_ascii_whitespace) {
            // Blank lines carry nothing; an editor may add one at the end.
            continue;
        }
        let text = std::str::from_utf8(&buffer)
            .map_err(|e| ReadError::Bad(line_error(name, number, format!("not UTF-8: {e}"))))?;
        if !header_seen {
            parse_header(text, supported)
                .map_err(|e| ReadError::Bad(line_error(name, number, e)))?;
            header_seen = true;
            continue;
        }
        if let Some(end) = end_line {
            return Err(ReadError::Bad(line_error(
                name,
                number,
                format!("a line after the end line (line {end})"),
            )));
        }
        match parse_line(text).map_err(|e| ReadError::Bad(line_error(name, number, e)))? {
            ExportLine::Record(record) => {
                records += 1;
                each(record);
            }
            ExportLine::End(end) => {
                if end.records != records as u64 {
                    return Err(ReadError::Bad(line_error(
                        name,
                        number,
                        format!(
                            "field records: the end line counts {} records, the file has {records}",
                            end.records
                        ),
                    )));
                }
                end_line = Some(number);
            }
        }
    }
    if !header_seen {
        return Err(ReadError::Bad(format!(
            "{name}: empty; an export starts with the header line {{\"schema\":\"{EXPORT_SCHEMA}\",…}}"
        )));
    }
    if end_line.is_none() {
        return Err(ReadError::Bad(format!(
            "{name}:{}: the file ends without its end line {{\"kind\":\"end\",…}}: it is truncated",
            lines.number
        )));
    }
    Ok(records)
}

#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Bad(String),
}

impl From<ReadError> for anyhow::Error {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(error) => anyhow::Error::new(error).context("reading the export"),
            ReadError::Bad(message) => bad_input(message),
        }
    }
}

fn open_input(input: &Path) -> anyhow::Result<BufReader<std::fs::File>> {
    let file = std::fs::File::open(input)
        .map_err(|e| bad_input(format!("cannot open {}: {e}", input.display())))?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

fn import(db: Option<&str>, input: &Path) -> anyhow::Result<()> {
    let supported = store::supported_schema_version(db)?;
    let from_stdin = input.as_os_str() == "-";
    let name = if from_stdin {
        "stdin".to_string()
    } else {
        input.display().to_string()
    };
    // Pass one: check every line before the database is touched. Stdin cannot be read twice,
    // so its records are kept; a file is read again in pass two, in bounded memory.
    let mut kept = Vec::new();
    if from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        read_export(&bytes[..], &name, supported, &mut |record| {
            kept.push(record)
        })?;
    } else {
        read_export(open_input(input)?, &name, supported, &mut |_| {})?;
    }
    let store = store::open(db)?;
    let counts = if from_stdin {
        store.import(&mut kept.into_iter().map(Ok))
    } else {
        // Pass two streams the file into one transaction; a file that changed in between and
        // no longer reads ends the transaction without writing anything.
        let (sender, receiver) =
            std::sync::mpsc::sync_channel::<Result<ExportRecord, StoreError>>(1024);
        let reader = open_input(input)?;
        let reading_name = name.clone();
        let producer = std::thread::spawn(move || {
            let mut failed = None;
            let result = read_export(reader, &reading_name, supported, &mut |record| {
                if failed.is_none() && sender.send(Ok(record)).is_err() {
                    failed = Some(());
                }
            });
            if let Err(error) = result {
                let reason = match error {
                    ReadError::Io(error) => error.to_string(),
                    ReadError::Bad(message) => {
                        format!("the file changed while importing: {message}")
                    }
                };
                let _ = sender.send(Err(StoreError::Database(reason)));
            }
        });
        let counts = store.import(&mut receiver.into_iter());
        let _ = producer.join();
        counts
    };
    let counts = counts.map_err(|error| match error {
        StoreError::Conflict(message) => bad_input(format!("{name}: {message}")),
        other => other.into(),
    })?;
    report_counts(&name, &counts);
    Ok(())
}

fn report_counts(name: &str, counts: &ImportCounts) {
    let total = counts.total();
    eprintln!(
        "imported {name}: {} records: {} new, {} updated, {} unchanged",
        total.inserted + total.updated + total.unchanged,
        total.inserted,
        total.updated,
        total.unchanged
    );
    let in_export_order = ExportRecord::KINDS
        .iter()
        .filter_map(|kind| counts.by_kind.get(kind).map(|c| (kind, c)));
    for (kind, kind_counts) in in_export_order {
        eprintln!(
            "  {kind}: {} new, {} updated, {} unchanged",
            kind_counts.inserted, kind_counts.updated, kind_counts.unchanged
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<usize, String> {
        read_export(text, "f.ndjson", 4, &mut |_| {}).map_err(|e| match e {
            ReadError::Bad(message) => message,
            ReadError::Io(error) => error.to_string(),
        })
    }

    const HEADER: &str = r#"{"schema":"loopwise.export.v1","schema_version":4,"exported_at":"2026-01-01T00:00:00Z"}"#;

    #[test]
    fn lines_are_numbered_and_blank_ones_skipped() {
        let text = format!(
            "{HEADER}\r\n\n{{\"kind\":\"repository\",\"locator\":\"a\"}}\n{{\"kind\":\"end\",\"records\":1}}\n\n"
        );
        assert_eq!(read(text.as_bytes()), Ok(1));
        let cut = text.replace("{\"kind\":\"end\",\"records\":1}", "");
        assert_eq!(
            read(cut.as_bytes()).unwrap_err(),
            "f.ndjson:5: the file ends without its end line {\"kind\":\"end\",…}: it is truncated"
        );
        let miscounted = text.replace("\"records\":1", "\"records\":2");
        assert!(read(miscounted.as_bytes()).unwrap_err().starts_with(
            "f.ndjson:4: field records: the end line counts 2 records, the file has 1"
        ),);
        let after = format!("{text}{{\"kind\":\"repository\",\"locator\":\"b\"}}\n");
        assert_eq!(
            read(after.as_bytes()).unwrap_err(),
            "f.ndjson:6: a line after the end line (line 4)"
        );
        let text = format!(
            "{HEADER}\n{{\"kind\":\"repository\",\"locator\":\"a\"}}\n{{\"kind\":\"repository\",\"locator\":7}}"
        );
        assert_eq!(
            read(text.as_bytes()).unwrap_err(),
            "f.ndjson:3: field locator: invalid type: integer `7`, expected a string"
        );
        assert!(read(b"").unwrap_err().starts_with("f.ndjson: empty"));
        let bad = read(&[HEADER.as_bytes(), b"\n\xff\xfe"].concat()).unwrap_err();
        assert!(bad.starts_with("f.ndjson:2: not UTF-8"), "{bad}");
    }

    /// Arbitrary bytes and mutated lines never panic the parser: a tiny deterministic fuzzer
    /// (the core's SplitMix64) that flips, drops and inserts bytes of a valid export.
    #[test]
    fn mutated_exports_never_panic() {
        let valid = format!(
            "{HEADER}\n{}\n{}\n{{\"kind\":\"end\",\"records\":2}}\n",
            r#"{"kind":"change","repository":"r","source":"git","change":{"sha":"a1","parents":["b2"],"author_time":1,"committer_time":2,"author_name":"A","author_email":"a@x","subject":"s","reverts":null}}"#,
            r#"{"kind":"token","name":"ci","scope":"ingest","hash":"h","created_at":5,"revoked_at":null}"#
        );
        assert_eq!(read(valid.as_bytes()), Ok(2));
        let mut random = loopwise_core::random::SplitMix64::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || random.next_u64();
        let mut rejected = 0;
        for _ in 0..5_000 {
            let mut bytes = valid.as_bytes().to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 4 {
                    0 => bytes[at] = next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, b"{}[]\":,0\n\\"[(next() % 10) as usize]),
                    _ => bytes.truncate(at),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if read(&bytes).is_err() {
                rejected += 1;
            }
        }
        // Most mutations break the JSON; the rest must still be well-formed records.
        assert!(rejected > 2_500, "{rejected}");
        for _ in 0..2_000 {
            let length = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..length).map(|_| next() as u8).collect();
            let _ = read(&bytes);
            let _ = read(&[HEADER.as_bytes(), b"\n", &bytes].concat());
        }
    }
}
