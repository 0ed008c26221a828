//! `deploy-log`: issue 12's target, measured: a deploy log of 1,000,000 rows is read, and a whole
//! `loopwise analyze --deploy-log` with it runs, well under a minute (60 s fails).
//!
//! Everything is generated from the seed: a small repository (`gen-repo`, a few thousand
//! commits, so the history costs little next to the log) and a log of `--rows` deployments of
//! its main line in time order. Each row has a unique `id` and a later `time` than the row
//! before; it deploys the newest main-line commit committed by then (so the same commit is
//! deployed many times over), about 2% fail and half of those are followed by a `rollback` to
//! the last good commit, and about 10% name their commit by a 12-digit abbreviation. The same
//! rows are written as CSV and as NDJSON.
//!
//! Per format, two figures: (a) the parse alone, in this process, through
//! `loopwise_ingest::deploy_log::read_deploy_log`; (b) the whole `loopwise analyze REPO
//! --deploy-log FILE --db <fresh SQLite file> --since 2000-01-01 --until 2100-01-01 --format
//! json` as a process, with `RUST_LOG=info` so its log lines show when each phase ended.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::genrepo;
use crate::ratio::{ReportSummary, children_cpu, summarize};
use crate::rng::SplitMix64;

/// A deploy log's format, as the file's extension names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Csv,
    Ndjson,
}

impl LogFormat {
    fn extension(self) -> &'static str {
        match self {
            LogFormat::Csv => "csv",
            LogFormat::Ndjson => "ndjson",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub loopwise: PathBuf,
    pub rows: usize,
    pub commits: usize,
    pub seed: u64,
    pub formats: Vec<LogFormat>,
    /// Above this, a figure fails.
    pub limit: Duration,
    /// Where to write the repository and the logs (kept); a temporary directory otherwise.
    pub directory: Option<PathBuf>,
}

/// Share of deployments that fail, and of those the share followed by a rollback.
const FAILURE_SHARE: f64 = 0.02;
const ROLLBACK_AFTER_FAILURE: f64 = 0.5;
/// Share of rows that name their commit by an abbreviation.
const ABBREVIATED_SHARE: f64 = 0.1;
const ABBREVIATION: usize = 12;

/// One row of the generated log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    pub id: String,
    /// The commit, in full or abbreviated.
    pub sha: &'a str,
    /// Index of the commit in the main line.
    pub commit: usize,
    pub time: i64,
    pub failed: bool,
    pub rollback: bool,
}

/// The rows of the log, one at a time: deterministic from the main line (oldest first, with
/// committer times), the row count and the seed.
#[derive(Debug)]
pub struct Rows<'a> {
    main_line: &'a [(String, i64)],
    count: usize,
    next: usize,
    rng: SplitMix64,
    start: i64,
    step: f64,
    previous_time: Option<i64>,
    newest: usize,
    last_good: Option<usize>,
    rollback_due: bool,
}

impl<'a> Rows<'a> {
    pub fn new(main_line: &'a [(String, i64)], count: usize, seed: u64) -> Self {
        let (first, last) = match (main_line.first(), main_line.last()) {
            (Some(first), Some(last)) => (first.1, last.1),
            _ => (0, 0),
        };
        // From a minute after the first commit to a day after the last one.
        let start = first + 60;
        let end = last.max(first) + 86_400;
        Self {
            main_line,
            count: if main_line.is_empty() { 0 } else { count },
            next: 0,
            rng: SplitMix64::new(seed),
            start,
            step: (end - start) as f64 / count.max(1) as f64,
            previous_time: None,
            newest: 0,
            last_good: None,
            rollback_due: false,
        }
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Row<'a>;

    fn next(&mut self) -> Option<Row<'a>> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let planned = self.start + (index as f64 * self.step) as i64;
        let time = match self.previous_time {
            Some(previous) => planned.max(previous + 1),
            None => planned,
        };
        self.previous_time = Some(time);
        while self
            .main_line
            .get(self.newest + 1)
            .is_some_and(|(_, committed)| *committed <= time)
        {
            self.newest += 1;
        }
        let (commit, failed, rollback) = match self.last_good {
            Some(good) if self.rollback_due => {
                self.rollback_due = false;
                (good, false, true)
            }
            _ => {
                let failed = self.rng.chance(FAILURE_SHARE);
                if failed {
                    self.rollback_due = self.rng.chance(ROLLBACK_AFTER_FAILURE);
                } else {
                    // A failure before any good deployment has nothing to roll back to.
                    self.rollback_due = false;
                    self.last_good = Some(self.newest);
                }
                (self.newest, failed, false)
            }
        };
        let full = self.main_line[commit].0.as_str();
        let sha = if self.rng.chance(ABBREVIATED_SHARE) {
            full.get(..ABBREVIATION).unwrap_or(full)
        } else {
            full
        };
        Some(Row {
            id: format!("deploy-{index:07}"),
            sha,
            commit,
            time,
            failed,
            rollback,
        })
    }
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Row<'_> {
    fn status(&self) -> &'static str {
        if self.failed { "failure" } else { "success" }
    }

    fn kind(&self) -> &'static str {
        if self.rollback { "rollback" } else { "normal" }
    }
}

/// Writes the rows in `format`, after one comment line; returns how many were written.
pub fn write_log<'a>(
    rows: impl Iterator<Item = Row<'a>>,
    format: LogFormat,
    out: &mut impl Write,
) -> Result<usize> {
    let mut written = 0;
    let mut line = String::with_capacity(160);
    writeln!(out, "# generated by loopwise-bench deploy-log")?;
    if format == LogFormat::Csv {
        writeln!(out, "id,sha,time,status,kind")?;
    }
    for row in rows {
        line.clear();
        let time = rfc3339(row.time);
        match format {
            LogFormat::Csv => writeln!(
                line,
                "{},{},{time},{},{}",
                row.id,
                row.sha,
                row.status(),
                row.kind()
            )?,
            // Every value is ASCII letters, digits and punctuation that JSON needs no escape for.
            LogFormat::Ndjson => writeln!(
                line,
                r#"{{"id":"{}","sha":"{}","time":"{time}","status":"{}","kind":"{}"}}"#,
                row.id,
                row.sha,
                row.status(),
                row.kind()
            )?,
        }
        out.write_all(line.as_bytes())?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}

/// The main line of `main`, oldest first, with committer times.
fn main_line(repo: &Path) -> Result<Vec<(String, i64)>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "log",
            "--first-parent",
            "--reverse",
            "--format=%H %ct",
            "main",
        ])
        .output()
        .context("running git log (is git installed?)")?;
    ensure!(
        out.status.success(),
        "git log of {} failed: {}",
        repo.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8(out.stdout).context("git log printed non-UTF-8")?;
    text.lines()
        .map(|line| {
            let (sha, time) = line
                .split_once(' ')
                .with_context(|| format!("unexpected git log line {line:?}"))?;
            Ok((sha.to_string(), time.parse().context("a committer time")?))
        })
        .collect()
}

/// One measured `loopwise analyze`.
#[derive(Debug)]
struct Analyze {
    wall: Duration,
    cpu: Option<Duration>,
    /// Peak resident memory in bytes, as the last look at `VmHWM` before the process ended
    /// saw it.
    peak_memory: Option<u64>,
    /// When the process was started, for the log lines' times.
    started_at: jiff::Timestamp,
    summary: Option<ReportSummary>,
    log: String,
}

/// `VmHWM` of a running process, in bytes.
fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_peak_memory(&status)
}

fn parse_peak_memory(status: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?;
    let kilobytes: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kilobytes.checked_mul(1024)
}

/// A log line with its timestamp replaced by the seconds since `started_at`.
fn relative_log_line(line: &str, started_at: jiff::Timestamp) -> String {
    let Some((time, rest)) = line.split_once(' ') else {
        return line.to_string();
    };
    match time.parse::<jiff::Timestamp>() {
        Ok(time) => {
            let seconds = time.duration_since(started_at).as_secs_f64();
            format!("+{seconds:7.3} s {}", rest.trim_start())
        }
        Err(_) => line.to_string(),
    }
}

fn analyze(opts: &Options, repo: &Path, log: &Path, db: &Path) -> Result<Analyze> {
    let mut command = Command::new(&opts.loopwise);
    command
        .arg("analyze")
        .arg(repo)
        .arg("--deploy-log")
        .arg(log)
        .arg("--db")
        .arg(db)
        .args(["--since", "2000-01-01", "--until", "2100-01-01"])
        .args(["--format", "json"])
        .env("RUST_LOG", "info")
        .env("LOOPWISE_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cpu_before = children_cpu();
    let started_at = jiff::Timestamp::now();
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = child.id();
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("{command:?} started without pipes");
    };
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).map(|_| bytes)
    });
    let mut peak = None;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for loopwise")? {
            break status;
        }
        peak = peak_memory(pid).or(peak);
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed();
    let cpu = children_cpu()
        .zip(cpu_before)
        .and_then(|(after, before)| after.checked_sub(before));
    let report = out_reader
        .join()
        .map_err(|_| anyhow::anyhow!("the stdout reader panicked"))?
        .context("reading loopwise's output")?;
    let log = String::from_utf8_lossy(
        &err_reader
            .join()
            .map_err(|_| anyhow::anyhow!("the stderr reader panicked"))?
            .context("reading loopwise's log")?,
    )
    .into_owned();
    if !status.success() {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{command:?} failed with {status}:\n{}", tail.join("\n"));
    }
    Ok(Analyze {
        wall,
        cpu,
        peak_memory: peak,
        started_at,
        summary: summarize(&report),
        log,
    })
}

fn rate(rows: usize, took: Duration) -> String {
    if took.is_zero() {
        return "n/a".into();
    }
    let per_second = (rows as f64 / took.as_secs_f64()).round() as u64;
    // Thousands separated, as the tables in BENCHMARKS.md write them.
    let digits = per_second.to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs the benchmark and prints its table; `Ok(false)` when a figure is over the limit.
pub fn run(opts: &Options) -> Result<bool> {
    ensure!(opts.rows >= 1, "--rows must be at least 1");
    ensure!(!opts.formats.is_empty(), "no --formats");
    ensure!(
        opts.loopwise.is_file(),
        "loopwise binary {} not found (cargo build --release -p loopwise) or pass --loopwise",
        opts.loopwise.display()
    );
    let temporary = tempfile::Builder::new()
        .prefix("loopwise-bench-deploy-log-")
        .tempdir()
        .context("creating a temporary directory")?;
    let directory = opts
        .directory
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let repo = directory.join(format!("repo-{}-seed{}", opts.commits, opts.seed));
    if !repo.exists() {
        genrepo::generate(&genrepo::Options {
            out: repo.clone(),
            commits: opts.commits,
            tags: opts.commits / 100,
            seed: opts.seed,
            bare: true,
        })?;
    }
    let main_line = main_line(&repo)?;
    ensure!(!main_line.is_empty(), "the repository has no main line");

    println!(
        "deploy-log: {} rows deploying the main line of a generated repository",
        opts.rows
    );
    if let Some(load) = crate::load::load_average() {
        println!("  {:<34} {load}", "load average before (1/5/15 min)");
    }
    println!(
        "  {:<34} {} ({} commits, {} on the main line, seed {})",
        "repository",
        repo.display(),
        opts.commits,
        main_line.len(),
        opts.seed
    );
    println!("  {:<34} {}", "loopwise binary", opts.loopwise.display());

    let mut results = Vec::new();
    for &format in &opts.formats {
        let log = directory.join(format!(
            "deploys-{}-seed{}.{}",
            opts.rows,
            opts.seed,
            format.extension()
        ));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let written = write_log(
            Rows::new(&main_line, opts.rows, opts.seed),
            format,
            &mut BufWriter::with_capacity(1 << 20, file),
        )
        .with_context(|| format!("writing {}", log.display()))?;
        let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);

        let started = Instant::now();
        let records = loopwise_ingest::deploy_log::read_deploy_log(&log)?;
        let parse = started.elapsed();
        ensure!(
            records.len() == written,
            "{} parsed into {} records, not {written}",
            log.display(),
            records.len()
        );
        drop(records);

        let db = directory.join(format!("analyze-{}.db", format.extension()));
        for stale in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{stale}", db.display()));
        }
        let analyzed = analyze(opts, &repo, &log, &db)?;
        results.push((format, log, size, parse, analyzed));
    }

    println!(
        "  {:<7} {:>11} {:>12} {:>11} {:>12} {:>11} {:>9} {:>12}  limit {} s",
        "format",
        "file",
        "parse",
        "rows/s",
        "analyze",
        "rows/s",
        "cpu",
        "peak memory",
        opts.limit.as_secs()
    );
    let mut passed = true;
    for (format, _, size, parse, analyzed) in &results {
        let pass = *parse < opts.limit && analyzed.wall < opts.limit;
        passed &= pass;
        println!(
            "  {:<7} {:>11} {:>10.3} s {:>11} {:>10.3} s {:>11} {:>9} {:>12}  {}",
            format.extension(),
            mebibytes(*size),
            parse.as_secs_f64(),
            rate(opts.rows, *parse),
            analyzed.wall.as_secs_f64(),
            rate(opts.rows, analyzed.wall),
            analyzed
                .cpu
                .map_or_else(|| "n/a".into(), |c| format!("{:.2} s", c.as_secs_f64())),
            analyzed.peak_memory.map_or_else(|| "n/a".into(), mebibytes),
            if pass { "PASS" } else { "FAIL" }
        );
    }
    for (format, log, _, _, analyzed) in &results {
        match analyzed.summary {
            Some(s) => println!(
                "  {} report: {} service(s), {} deployments in the window, {} changes with a lead time",
                format.extension(),
                s.services,
                s.deployments,
                s.changes
            ),
            None => println!(
                "  {} report: not a loopwise.report.v1 document",
                format.extension()
            ),
        }
        println!(
            "  {} log of the analyze ({}), times since its start:",
            format.extension(),
            log.display()
        );
        for line in analyzed.log.lines() {
            println!("    {}", relative_log_line(line, analyzed.started_at));
        }
        println!("    +{:7.3} s exited", analyzed.wall.as_secs_f64());
    }
    let summaries: Vec<_> = results.iter().map(|r| r.4.summary).collect();
    if summaries.windows(2).any(|pair| pair[0] != pair[1]) {
        println!("  warning: the formats' reports differ");
    }
    if opts.directory.is_some() {
        println!("  kept in {}", directory.display());
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::entities::{DeploymentKind, DeploymentStatus};
    use loopwise_ingest::deploy_log::{Format, parse_deploy_log};

    fn main_line() -> Vec<(String, i64)> {
        // Five commits an hour apart.
        (0..5)
            .map(|i| (format!("{i:x}").repeat(40), 1_600_000_000 + i * 3_600))
            .collect()
    }

    #[test]
    fn rows_deploy_the_newest_commit_in_time_order_with_unique_ids() {
        let main_line = main_line();
        let rows: Vec<Row> = Rows::new(&main_line, 2_000, 7).collect();
        assert_eq!(rows.len(), 2_000);
        assert_eq!(rows, Rows::new(&main_line, 2_000, 7).collect::<Vec<_>>());
        assert_ne!(rows, Rows::new(&main_line, 2_000, 8).collect::<Vec<_>>());
        // From a minute after the first commit to a day after the last one.
        assert_eq!(rows[0].time, 1_600_000_060);
        assert!(rows[1999].time < 1_600_000_000 + 4 * 3_600 + 86_400);
        assert!(rows.windows(2).all(|pair| pair[0].time < pair[1].time));
        let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 2_000);
        assert_eq!(rows[0].id, "deploy-0000000");
        for row in &rows {
            let (full, committed) = &main_line[row.commit];
            assert!(full.starts_with(row.sha));
            assert!(row.sha.len() == 40 || row.sha.len() == ABBREVIATION);
            assert!(*committed <= row.time);
            if !row.rollback {
                // The newest commit committed by then.
                let newest = main_line.iter().rposition(|(_, c)| *c <= row.time).unwrap();
                assert_eq!(row.commit, newest);
            }
        }
        let failed = rows.iter().filter(|r| r.failed).count();
        let rollbacks = rows.iter().filter(|r| r.rollback).count();
        assert!((10..=80).contains(&failed), "{failed} failures");
        assert!(
            rollbacks >= 3 && rollbacks <= failed,
            "{rollbacks} rollbacks"
        );
        let abbreviated = rows.iter().filter(|r| r.sha.len() < 40).count();
        assert!((100..=300).contains(&abbreviated), "{abbreviated}");
        // A rollback follows a failure and redeploys the last good commit.
        for pair in rows.windows(2) {
            if pair[1].rollback {
                assert!(pair[0].failed);
                assert!(!pair[1].failed);
            }
        }
        assert_eq!(Rows::new(&[], 10, 1).count(), 0);
    }

    #[test]
    fn both_formats_parse_into_the_same_records_as_the_rows() {
        let main_line = main_line();
        let rows: Vec<Row> = Rows::new(&main_line, 300, 3).collect();
        for format in [LogFormat::Csv, LogFormat::Ndjson] {
            let mut text = Vec::new();
            let written = write_log(rows.iter().cloned(), format, &mut text).unwrap();
            assert_eq!(written, 300);
            let text = String::from_utf8(text).unwrap();
            let parsed = parse_deploy_log(
                "generated",
                &text,
                match format {
                    LogFormat::Csv => Format::Csv,
                    LogFormat::Ndjson => Format::Ndjson,
                },
            )
            .unwrap();
            assert_eq!(parsed.len(), rows.len());
            for (record, row) in parsed.iter().zip(&rows) {
                assert_eq!(record.id.as_deref(), Some(row.id.as_str()));
                assert_eq!(record.sha, row.sha);
                assert_eq!(record.time, row.time);
                let status = if row.failed {
                    DeploymentStatus::Failure
                } else {
                    DeploymentStatus::Success
                };
                assert_eq!(record.status, status);
                let kind = if row.rollback {
                    DeploymentKind::Rollback
                } else {
                    DeploymentKind::Normal
                };
                assert_eq!(record.kind, kind);
            }
            // After the comment line (and the CSV header), one line per row.
            let first = if format == LogFormat::Csv { 3 } else { 2 };
            assert_eq!(parsed[0].line, first);
            assert_eq!(parsed[299].line, first + 299);
        }
    }

    #[test]
    fn reads_the_peak_memory_and_log_times() {
        let status = "Name:\tloopwise\nVmPeak:\t  900 kB\nVmHWM:\t  654092 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_peak_memory(status), Some(654_092 * 1024));
        assert_eq!(parse_peak_memory("VmHWM: lots"), None);
        assert_eq!(parse_peak_memory(""), None);
        let start: jiff::Timestamp = "2026-12-07T02:09:55Z".parse().unwrap();
        assert_eq!(
            relative_log_line(
                "2026-12-07T02:09:57.5Z  INFO loopwise::analyze: stored history",
                start
            ),
            "+  2.500 s INFO loopwise::analyze: stored history"
        );
        assert_eq!(relative_log_line("no time here", start), "no time here");
    }

    #[test]
    fn rates_are_grouped_by_thousands() {
        assert_eq!(rate(1_000_000, Duration::from_secs(4)), "250,000");
        assert_eq!(rate(999, Duration::from_secs(1)), "999");
        assert_eq!(rate(1_000, Duration::from_secs(1)), "1,000");
        assert_eq!(rate(1, Duration::ZERO), "n/a");
    }
}
