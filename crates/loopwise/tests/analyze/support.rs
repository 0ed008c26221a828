//! Building hermetic git repositories with the git CLI, running the real `loopwise` binary on
//! them, and reading its SQLite database.

use serde_json::Value;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
/// 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200;

/// A wide window around every scenario's history.
pub const SINCE: &str = "2023-06-01";
pub const UNTIL: &str = "2025-06-01";
pub const WIDE: (&str, &str) = (SINCE, UNTIL);
/// [`WIDE`] in Unix seconds (`date -u -d 2023-06-01 +%s`, `date -u -d 2025-06-01 +%s`).
pub const WIDE_T: (i64, i64) = (1_685_577_600, 1_748_736_000);

/// Settings passed to every git invocation, so the user's and the system's config never leak in.
const GIT_CONFIG: &[&str] = &[
    "-c",
    "user.name=Loop Tester",
    "-c",
    "user.email=tester@example.com",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "core.autocrlf=false",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
];

/// A scratch directory holding a home directory, databases and one or more repositories.
#[derive(Debug)]
pub struct Scratch {
    dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("loopwise-analyze-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A database file in the scratch directory (created by loopwise on first use).
    pub fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    /// Writes a file in the scratch directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }

    /// A new, empty repository (work tree) named `name` in the scratch directory.
    pub fn repo(&self, name: &str) -> Repo {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("repo dir");
        let repo = Repo {
            path,
            home: self.home(),
            zone: RefCell::new("+0000".to_string()),
        };
        repo.git(&["init", "-q"], T0);
        repo
    }
}

/// A git work tree driven through the git CLI with fixed identities and dates.
#[derive(Debug)]
pub struct Repo {
    pub path: PathBuf,
    home: PathBuf,
    /// The time zone git records with dates (`+0000` unless set); the instants do not change.
    zone: RefCell<String>,
}

/// Git's raw date: Unix seconds (absolute) and the zone it was written in.
fn git_date(time: i64, zone: &str) -> String {
    format!("{time} {zone}")
}

impl Repo {
    fn command(&self, args: &[&str], author: i64, committer: i64) -> Command {
        let mut command = Command::new("git");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Loop Tester")
            .env("GIT_AUTHOR_EMAIL", "tester@example.com")
            .env("GIT_COMMITTER_NAME", "Loop Tester")
            .env("GIT_COMMITTER_EMAIL", "tester@example.com")
            .env("GIT_AUTHOR_DATE", git_date(author, &self.zone.borrow()))
            .env(
                "GIT_COMMITTER_DATE",
                git_date(committer, &self.zone.borrow()),
            )
            .current_dir(&self.path)
            .args(GIT_CONFIG)
            .args(args);
        command
    }

    fn run(&self, args: &[&str], author: i64, committer: i64) -> String {
        let output = self
            .command(args, author, committer)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("git output is UTF-8")
    }

    /// Records the following dates in time zone `zone` (e.g. `+0530`).
    pub fn set_zone(&self, zone: &str) {
        *self.zone.borrow_mut() = zone.to_string();
    }

    /// Runs git with both dates at `time`; returns stdout.
    pub fn git(&self, args: &[&str], time: i64) -> String {
        self.run(args, time, time)
    }

    /// Runs a read-only git command; returns stdout, trimmed.
    pub fn out(&self, args: &[&str]) -> String {
        self.git(args, T0).trim().to_string()
    }

    pub fn rev(&self, rev: &str) -> String {
        self.out(&["rev-parse", &format!("{rev}^{{commit}}")])
    }

    /// Appends the subject as a line to each of `files` and commits them with the given author
    /// and committer times.
    pub fn commit_files(
        &self,
        files: &[&str],
        author: i64,
        committer: i64,
        subject: &str,
    ) -> String {
        for file in files {
            let path = self.path.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create dirs");
            }
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(subject);
            text.push('\n');
            std::fs::write(&path, text).expect("write file");
        }
        let mut add = vec!["add", "--"];
        add.extend_from_slice(files);
        self.run(&add, author, committer);
        self.run(&["commit", "-q", "-m", subject], author, committer);
        self.rev("HEAD")
    }

    /// Appends a line to `file` and commits it with the given author and committer times.
    pub fn commit_dated(&self, file: &str, author: i64, committer: i64, subject: &str) -> String {
        self.commit_files(&[file], author, committer, subject)
    }

    /// Overwrites `file` with `text` and commits it at `time`.
    pub fn commit_text(&self, file: &str, text: &str, time: i64, subject: &str) -> String {
        let path = self.path.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write file");
        self.git(&["add", "--", file], time);
        self.git(&["commit", "-q", "-m", subject], time);
        self.rev("HEAD")
    }

    /// `git mv from to` committed at `time`.
    pub fn commit_move(&self, from: &str, to: &str, time: i64, subject: &str) -> String {
        if let Some(parent) = self.path.join(to).parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        self.git(&["mv", from, to], time);
        self.git(&["commit", "-q", "-m", subject], time);
        self.rev("HEAD")
    }

    /// A commit authored and committed at `time`.
    pub fn commit(&self, file: &str, time: i64, subject: &str) -> String {
        self.commit_dated(file, time, time, subject)
    }

    /// An annotated tag on `target` whose tagger date is `time`.
    pub fn tag(&self, name: &str, target: &str, time: i64) {
        self.git(&["tag", "-a", name, "-m", name, target], time);
    }

    /// A lightweight tag on `target`; `time` is deliberately far from the commit's dates, since
    /// a lightweight tag records no time of its own.
    pub fn lightweight_tag(&self, name: &str, target: &str) {
        self.git(&["tag", name, target], T0 + 999 * DAY);
    }

    pub fn checkout_new(&self, branch: &str, from: &str) {
        self.git(&["checkout", "-q", "-b", branch, from], T0);
    }

    pub fn checkout(&self, branch: &str) {
        self.git(&["checkout", "-q", branch], T0);
    }

    /// `git merge --no-ff` of `branch` into the current branch at `time`.
    pub fn merge(&self, branch: &str, time: i64) -> String {
        let message = format!("Merge branch '{branch}'");
        self.git(&["merge", "-q", "--no-ff", "-m", &message, branch], time);
        self.rev("HEAD")
    }

    /// `git revert` of `sha` at `time`.
    pub fn revert(&self, sha: &str, time: i64) -> String {
        self.git(&["revert", "--no-edit", sha], time);
        self.rev("HEAD")
    }

    /// `git revert -m 1` of the merge commit `sha` at `time`: undoes what the merge brought in
    /// against its first parent.
    pub fn revert_merge(&self, sha: &str, time: i64) -> String {
        self.git(&["revert", "--no-edit", "-m", "1", sha], time);
        self.rev("HEAD")
    }

    /// `git revert --no-commit` of `sha`: the undo is staged, for one commit of several reverts.
    pub fn revert_staged(&self, sha: &str) {
        self.git(&["revert", "--no-commit", sha], T0);
    }

    /// Commits what is staged with the whole `message` (subject, blank line, body) at `time`.
    pub fn commit_staged(&self, time: i64, message: &str) -> String {
        self.git(&["commit", "-q", "--cleanup=verbatim", "-m", message], time);
        self.rev("HEAD")
    }

    /// Appends a line to `file` and commits it with the whole `message` at `time`.
    pub fn commit_message(&self, file: &str, time: i64, message: &str) -> String {
        let path = self.path.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str("line\n");
        std::fs::write(&path, text).expect("write file");
        self.git(&["add", "--", file], time);
        self.commit_staged(time, message)
    }

    /// `git merge --no-ff` of `branch` with the whole `message` at `time`; `extra` flags such as
    /// `--allow-unrelated-histories` go before the branch.
    pub fn merge_message(&self, branch: &str, time: i64, message: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "merge",
            "-q",
            "--no-ff",
            "--cleanup=verbatim",
            "-m",
            message,
        ];
        args.extend_from_slice(extra);
        args.push(branch);
        self.git(&args, time);
        self.rev("HEAD")
    }

    /// Runs git with `input` on its stdin; returns stdout.
    pub fn git_with_input(&self, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = self
            .command(args, T0, T0)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run git");
        child
            .stdin
            .take()
            .expect("git's stdin")
            .write_all(input)
            .expect("write to git");
        let output = child.wait_with_output().expect("wait for git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("git output is UTF-8")
    }

    /// Two parentless commits (empty tree, committed at `time`) whose ids share their first
    /// `digits` hex digits, as `(earlier, later)`, with branches `twin-a` and `twin-b` on them.
    ///
    /// Numbered candidates are written in batches by one `git fast-import` each (no checkout,
    /// no process per commit) until two ids collide; for 7 digits (28 bits) the birthday bound
    /// expects that around 20,000 candidates (about 3 s in all). Each candidate is a root of its
    /// own, written through one scratch ref that every batch moves (hence `--force`) and that is
    /// deleted at the end, so only the two found are reachable from a reference. Their contents
    /// are fixed, so every run finds the same pair.
    pub fn twin_commits(&self, digits: usize, time: i64) -> (String, String) {
        const BATCH: usize = 8_192;
        const MAX_BATCHES: usize = 16;
        let marks = self.path.join(".git").join("twin-marks");
        let marks_flag = format!("--export-marks={}", marks.display());
        let mut by_prefix: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for batch in 0..MAX_BATCHES {
            let mut stream = String::with_capacity(BATCH * 200);
            for number in batch * BATCH + 1..=(batch + 1) * BATCH {
                let message = format!("twin candidate {number}\n");
                stream.push_str(&format!(
                    "reset refs/twin-candidates\n\
                     commit refs/twin-candidates\n\
                     mark :{number}\n\
                     author Loop Tester <tester@example.com> {time} +0000\n\
                     committer Loop Tester <tester@example.com> {time} +0000\n\
                     data {}\n{message}\n",
                    message.len()
                ));
            }
            self.git_with_input(
                &["fast-import", "--quiet", "--force", &marks_flag],
                stream.as_bytes(),
            );
            let text = std::fs::read_to_string(&marks).expect("read fast-import marks");
            let mut found: Vec<(usize, String)> = text
                .lines()
                .filter_map(|line| {
                    let (mark, sha) = line.strip_prefix(':')?.split_once(' ')?;
                    Some((mark.parse().ok()?, sha.to_string()))
                })
                .collect();
            found.sort();
            for (_, sha) in found {
                let prefix = sha[..digits].to_string();
                if let Some(earlier) = by_prefix.insert(prefix, sha.clone()) {
                    self.git(&["update-ref", "-d", "refs/twin-candidates"], T0);
                    self.git(&["branch", "twin-a", &earlier], T0);
                    self.git(&["branch", "twin-b", &sha], T0);
                    return (earlier, sha);
                }
            }
        }
        panic!(
            "no two of {} candidates share {digits} hex digits",
            BATCH * MAX_BATCHES
        );
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Self {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// The stdout, checked to be a successful run.
    pub fn ok(self) -> String {
        assert_eq!(
            self.status, 0,
            "loopwise failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

/// Runs `loopwise` with `args` in a hermetic environment (HOME in the scratch directory, no
/// `LOOPWISE_*` or `RUST_LOG` from the caller).
pub fn loopwise(home: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_loopwise"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .current_dir(home)
        .args(args)
        .output()
        .expect("run loopwise");
    Run::from_output(output)
}

/// `loopwise analyze REPO --db DB --since SINCE --until UNTIL --format json EXTRA...`.
pub fn analyze_run(
    scratch: &Scratch,
    repo: &Path,
    db: &Path,
    window: (&str, &str),
    extra: &[&str],
) -> Run {
    let repo = repo.to_str().expect("UTF-8 path");
    let db = db.to_str().expect("UTF-8 path");
    let mut args = vec![
        "analyze", repo, "--db", db, "--since", window.0, "--until", window.1, "--format", "json",
    ];
    args.extend_from_slice(extra);
    loopwise(&scratch.home(), &args)
}

/// The raw JSON text of a successful analyze run.
pub fn analyze_text(
    scratch: &Scratch,
    repo: &Path,
    db: &Path,
    window: (&str, &str),
    extra: &[&str],
) -> String {
    analyze_run(scratch, repo, db, window, extra).ok()
}

/// The parsed report of a successful analyze run.
pub fn analyze(
    scratch: &Scratch,
    repo: &Path,
    db: &Path,
    window: (&str, &str),
    extra: &[&str],
) -> Value {
    let text = analyze_text(scratch, repo, db, window, extra);
    let report: Value = serde_json::from_str(&text).expect("stdout is JSON");
    assert_eq!(report["schema"], "loopwise.report.v1");
    report
}

/// The only service of a report.
pub fn only_service(report: &Value) -> &Value {
    let services = report["services"].as_array().expect("services array");
    assert_eq!(services.len(), 1, "one service expected: {report:#}");
    &services[0]
}

/// An integer figure of the report.
pub fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("expected an integer, got {value}"))
}

/// A nullable number of the report.
pub fn number(value: &Value) -> Option<f64> {
    if value.is_null() {
        None
    } else {
        Some(
            value
                .as_f64()
                .unwrap_or_else(|| panic!("expected a number or null, got {value}")),
        )
    }
}

/// Two optional seconds figures agree well within a second.
pub fn assert_seconds(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!(
            (a - e).abs() < 1e-6,
            "{what}: loopwise says {a}, expected {e}"
        ),
        (a, e) => assert_eq!(a, e, "{what}"),
    }
}

/// Row counts of every table of a loopwise database.
pub fn row_counts(db: &Path) -> Vec<(&'static str, i64)> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database");
    [
        "repositories",
        "changes",
        "tags",
        "path_touches",
        "deployments",
    ]
    .into_iter()
    .map(|table| {
        let count: i64 = connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count rows");
        (table, count)
    })
    .collect()
}

/// Row count of one table.
pub fn rows(db: &Path, table: &str) -> i64 {
    row_counts(db)
        .into_iter()
        .find(|(name, _)| *name == table)
        .map(|(_, count)| count)
        .expect("known table")
}

/// A deployment stored for `service`: (id, sha, finished at, kind), in deployment order.
pub fn stored_deployments(db: &Path, service: &str) -> Vec<(String, String, i64, String)> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database");
    let mut statement = connection
        .prepare(
            "SELECT source_id, sha, finished_at, kind FROM deployments \
             WHERE service = ?1 ORDER BY finished_at, source_id",
        )
        .expect("prepare");
    statement
        .query_map([service], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .expect("query deployments")
        .map(|row| row.expect("read a deployment"))
        .collect()
}
