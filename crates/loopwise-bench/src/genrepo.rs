//! `gen-repo`: a realistic, deterministic monorepo history streamed into `git fast-import`.
//!
//! Shape: a `main` line fed by short feature branches merged with merge commits (about one merge
//! per four commits), some direct commits and hotfixes on `main`, about 2% revert commits in
//! git's exact message form, annotated `vMAJOR.MINOR.PATCH` release tags on main-line commits,
//! annotated `nightly-YYYY-MM-DD` tags and a few lightweight tags. Everything derives from the
//! seed, so the same arguments give the same repository (same shas) on every machine.
//!
//! Revert messages need the sha of the reverted commit, which only git knows; fast-import's
//! `get-mark` command (answered on `--cat-blob-fd`, here its stdout) gives it to us mid-stream,
//! so one fast-import run suffices.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::rng::{Draws, SplitMix64};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub commits: usize,
    pub tags: usize,
    pub seed: u64,
    pub bare: bool,
}

/// Counts of what was generated, for the user and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub commits: usize,
    pub merges: usize,
    pub direct: usize,
    pub reverts: usize,
    pub release_tags: usize,
    pub nightly_tags: usize,
    pub lightweight_tags: usize,
    pub unmerged_branches: usize,
}

/// 2020-01-06T09:00:00Z, a Monday morning; the history spans five years from here.
const START: i64 = 1_578_301_200;
const SPAN_SECS: f64 = 5.0 * 365.25 * 86_400.0;
const REVERT_SHARE: f64 = 0.02;
const DIRECT_SHARE: f64 = 0.12;
const MAX_OPEN_BRANCHES: usize = 3;
const MAX_FILE_LINES: usize = 40;
/// Merged branch refs kept at the end, like the stale branches of a real remote.
const KEEP_MERGED_REFS: usize = 8;
const REVERT_WINDOW: usize = 40;

#[derive(Debug)]
struct Area {
    dir: &'static str,
    short: &'static str,
    ext: &'static str,
    files: usize,
    weight: usize,
}

/// Top-level directories of the monorepo, so a `--path services/api` filter is meaningful.
#[rustfmt::skip]
const AREAS: &[Area] = &[
    Area { dir: "services/api", short: "api", ext: "rs", files: 60, weight: 24 },
    Area { dir: "services/web", short: "web", ext: "ts", files: 60, weight: 20 },
    Area { dir: "services/billing", short: "billing", ext: "go", files: 40, weight: 12 },
    Area { dir: "services/auth", short: "auth", ext: "rs", files: 30, weight: 8 },
    Area { dir: "libs/core", short: "core", ext: "rs", files: 50, weight: 14 },
    Area { dir: "libs/ui", short: "ui", ext: "ts", files: 40, weight: 10 },
    Area { dir: "docs", short: "docs", ext: "md", files: 30, weight: 6 },
    Area { dir: "infra", short: "infra", ext: "yaml", files: 20, weight: 4 },
    Area { dir: ".github/workflows", short: "ci", ext: "yml", files: 4, weight: 2 },
];

const NOUNS: &[&str] = &[
    "orders", "invoices", "sessions", "tokens", "users", "payments", "cache", "search", "config",
    "metrics", "routing", "schema", "export", "import", "retry", "webhooks", "audit", "limits",
    "queue", "profile", "billing", "cart", "catalog", "pricing", "reports", "alerts", "storage",
];
const MODULES: &[&str] = &[
    "handlers",
    "models",
    "storage",
    "jobs",
    "util",
    "client",
    "config",
    "telemetry",
];
const SECTIONS: &[&str] = &["guides", "reference", "adr", "runbooks"];
const VERBS: &[&str] = &[
    "add", "fix", "refactor", "simplify", "handle", "validate", "speed up", "clean up", "document",
    "log", "cache", "paginate", "rename", "extract", "test",
];
const DETAILS: &[&str] = &[
    "for empty input",
    "on timeout",
    "in the hot path",
    "behind a flag",
    "for large accounts",
    "after migration",
    "in batch mode",
    "for legacy clients",
    "with retries",
    "per tenant",
];
const KINDS: &[&str] = &["feat", "fix", "refactor", "chore", "perf", "test"];
const LIGHTWEIGHT_TAGS: &[&str] = &[
    "pre-monorepo-migration",
    "archive/legacy-web",
    "backup-before-rewrite",
    "demo-customer-summit",
    "perf-baseline",
];

#[derive(Debug)]
struct Person {
    name: &'static str,
    email: &'static str,
    tz: &'static str,
}

#[rustfmt::skip]
const PEOPLE: &[Person] = &[
    Person { name: "Ana Souza", email: "ana.souza@acme.dev", tz: "-0300" },
    Person { name: "Ben Carter", email: "ben@acme.dev", tz: "-0500" },
    Person { name: "Chen Wei", email: "chen.wei@acme.dev", tz: "+0800" },
    Person { name: "Dana Kowalski", email: "dana.k@acme.dev", tz: "+0100" },
    Person { name: "Emeka Obi", email: "emeka@acme.dev", tz: "+0100" },
    Person { name: "Fatima Zahra", email: "fatima@acme.dev", tz: "+0000" },
    Person { name: "Gustav Lind", email: "gustav.lind@acme.dev", tz: "+0200" },
    Person { name: "Hiro Tanaka", email: "hiro@acme.dev", tz: "+0900" },
    Person { name: "Ines Duarte", email: "ines@acme.dev", tz: "+0000" },
    Person { name: "Jon Baker", email: "jon.baker@acme.dev", tz: "-0800" },
    Person { name: "Kavya Rao", email: "kavya@acme.dev", tz: "+0530" },
    Person { name: "Luca Bianchi", email: "luca@acme.dev", tz: "+0100" },
    Person { name: "Maya Cohen", email: "maya@acme.dev", tz: "+0200" },
    Person { name: "Nils Berg", email: "nils@acme.dev", tz: "+0100" },
];
const GITHUB: Person = Person {
    name: "GitHub",
    email: "noreply@github.com",
    tz: "+0000",
};
const RELEASE_BOT: Person = Person {
    name: "Release Bot",
    email: "release-bot@acme.dev",
    tz: "+0000",
};
const CI_BOT: Person = Person {
    name: "CI",
    email: "ci@acme.dev",
    tz: "+0000",
};

/// Git's own message for `git revert <sha>` of a non-merge commit.
pub fn revert_message(subject: &str, sha: &str) -> String {
    format!("Revert \"{subject}\"\n\nThis reverts commit {sha}.\n")
}

/// Next release version: mostly patches, some minors, rare majors.
fn bump(version: (u32, u32, u32), rng: &mut SplitMix64) -> (u32, u32, u32) {
    let (major, minor, patch) = version;
    let u = rng.unit();
    if u < 0.015 {
        (major + 1, 0, 0)
    } else if u < 0.17 {
        (major, minor + 1, 0)
    } else {
        (major, minor, patch + 1)
    }
}

#[derive(Debug)]
struct FileState {
    path: String,
    lines: Vec<String>,
}

/// One commit of a feature branch that may later be reverted on `main`.
#[derive(Debug, Clone)]
struct Change {
    mark: u64,
    subject: String,
    /// (file, content before, content after) as rendered text.
    edits: Vec<(usize, Vec<String>, Vec<String>)>,
}

#[derive(Debug)]
struct Branch {
    name: String,
    area: usize,
    owner: usize,
    title: String,
    planned: usize,
    tip: u64,
    /// The branch's view of the files it changed; merged into `main` by the merge commit.
    overlay: HashMap<usize, Vec<String>>,
    changes: Vec<Change>,
}

struct NewCommit<'a> {
    branch: &'a str,
    author: &'a Person,
    author_time: i64,
    committer: &'a Person,
    committer_time: i64,
    message: &'a str,
    from: Option<u64>,
    merge: Option<u64>,
    files: Vec<(usize, String)>,
}

/// The stream writer and the model of the history being written.
struct Generator<W: Write, R: BufRead> {
    out: W,
    marks: R,
    rng: SplitMix64,
    target: usize,
    tags: usize,
    files: Vec<FileState>,
    area_files: Vec<Vec<usize>>,
    next_mark: u64,
    clock: i64,
    mean_gap: f64,
    main_tip: u64,
    open: Vec<Branch>,
    merged_refs: VecDeque<String>,
    revertable: VecDeque<Change>,
    version: (u32, u32, u32),
    next_release_at: f64,
    nightly_every: f64,
    next_nightly_at: f64,
    lightweight_done: usize,
    ticket: u64,
    pr: u64,
    line_no: u64,
    stats: Stats,
}

impl<W: Write, R: BufRead> Generator<W, R> {
    fn new(out: W, marks: R, opts: &Options) -> Self {
        let nightlies = (opts.tags / 15).max(1);
        let mut g = Generator {
            out,
            marks,
            rng: SplitMix64::new(opts.seed),
            target: opts.commits,
            tags: opts.tags,
            files: Vec::new(),
            area_files: vec![Vec::new(); AREAS.len()],
            next_mark: 1,
            clock: START,
            mean_gap: SPAN_SECS / opts.commits as f64,
            main_tip: 0,
            open: Vec::new(),
            merged_refs: VecDeque::new(),
            revertable: VecDeque::new(),
            version: (0, 1, 0),
            next_release_at: 0.0,
            nightly_every: opts.commits as f64 / nightlies as f64,
            next_nightly_at: 0.0,
            lightweight_done: 0,
            ticket: 100,
            pr: 1,
            line_no: 0,
            stats: Stats::default(),
        };
        g.next_release_at = g.release_milestone(0);
        g.next_nightly_at = g.nightly_every * 0.5;
        for (area, spec) in AREAS.iter().enumerate() {
            for _ in 0..spec.files {
                g.add_file(area);
            }
        }
        g
    }

    /// Commit count after which release `k` is due: evenly spaced with jitter below half a
    /// slot, so releases stay in order and the last one lands before the end of history.
    fn release_milestone(&mut self, k: usize) -> f64 {
        let slot = self.target as f64 / self.tags.max(1) as f64;
        (k as f64 + 0.5 + (self.rng.unit() - 0.5) * 0.8) * slot
    }

    fn add_file(&mut self, area: usize) -> usize {
        let spec = &AREAS[area];
        let n = self.area_files[area].len();
        let noun = NOUNS[n % NOUNS.len()];
        // Nested modules keep directories small, as in real code bases (and fast-import's
        // linear tree updates fast).
        let path = match spec.ext {
            "rs" | "ts" | "go" => {
                let module = MODULES[(n / 3) % MODULES.len()];
                format!("{}/src/{module}/{noun}_{n}.{}", spec.dir, spec.ext)
            }
            "md" => {
                let section = SECTIONS[n % SECTIONS.len()];
                format!("{}/{section}/{noun}-{n}.md", spec.dir)
            }
            _ => format!("{}/{noun}-{n}.{}", spec.dir, spec.ext),
        };
        let lines = (0..10).map(|i| format!("{noun} line {i}")).collect();
        self.files.push(FileState { path, lines });
        let idx = self.files.len() - 1;
        self.area_files[area].push(idx);
        idx
    }

    fn tick(&mut self) -> i64 {
        self.clock += self.rng.exponential(self.mean_gap).round().max(1.0) as i64;
        self.clock
    }

    /// Author time of an ordinary commit: usually equal to or a little before the commit time,
    /// sometimes days before (a rebased or long-lived local commit), never after it.
    fn author_time(&mut self, committer_time: i64) -> i64 {
        let u = self.rng.unit();
        if u < 0.6 {
            committer_time
        } else if u < 0.97 {
            committer_time - self.rng.between(30, 3 * 3600)
        } else {
            committer_time - self.rng.between(86_400, 30 * 86_400)
        }
    }

    fn person(&mut self) -> usize {
        self.rng.below(PEOPLE.len())
    }

    fn pick_area(&mut self) -> usize {
        let total: usize = AREAS.iter().map(|a| a.weight).sum();
        let mut x = self.rng.below(total);
        for (i, a) in AREAS.iter().enumerate() {
            if x < a.weight {
                return i;
            }
            x -= a.weight;
        }
        0
    }

    /// A file to touch, mostly in `area`, sometimes elsewhere, occasionally a brand new one.
    fn pick_file(&mut self, area: usize) -> usize {
        let area = if self.rng.chance(0.85) {
            area
        } else {
            self.pick_area()
        };
        if self.rng.chance(0.015) {
            return self.add_file(area);
        }
        let candidates = &self.area_files[area];
        candidates[self.rng.below(candidates.len())]
    }

    /// A small edit: insert one line, or replace one once the file is long enough.
    fn edit(&mut self, base: &[String]) -> Vec<String> {
        self.line_no += 1;
        let noun = self.rng.pick(NOUNS).copied().unwrap_or("x");
        let verb = self.rng.pick(VERBS).copied().unwrap_or("x");
        let line = format!("{verb} {noun} #{}", self.line_no);
        let mut lines = base.to_vec();
        if lines.is_empty() {
            lines.push(line);
        } else if lines.len() >= MAX_FILE_LINES || self.rng.chance(0.35) {
            let at = self.rng.below(lines.len());
            lines[at] = line;
        } else {
            let at = self.rng.below(lines.len() + 1);
            lines.insert(at, line);
        }
        lines
    }

    fn subject(&mut self, area: usize) -> String {
        let kind = self.rng.pick(KINDS).copied().unwrap_or("chore");
        let verb = self.rng.pick(VERBS).copied().unwrap_or("fix");
        let noun = self.rng.pick(NOUNS).copied().unwrap_or("code");
        let detail = self.rng.pick(DETAILS).copied().unwrap_or("");
        if self.rng.chance(0.5) {
            format!("{kind}({}): {verb} {noun} {detail}", AREAS[area].short)
        } else {
            format!("{}: {verb} {noun} {detail}", AREAS[area].short)
        }
    }

    fn emit_commit(&mut self, c: NewCommit<'_>) -> Result<u64> {
        let mark = self.next_mark;
        self.next_mark += 1;
        let mut s = String::with_capacity(512);
        let _ = writeln!(s, "commit refs/heads/{}\nmark :{mark}", c.branch);
        let _ = writeln!(
            s,
            "author {} <{}> {} {}",
            c.author.name, c.author.email, c.author_time, c.author.tz
        );
        let _ = writeln!(
            s,
            "committer {} <{}> {} {}",
            c.committer.name, c.committer.email, c.committer_time, c.committer.tz
        );
        let _ = writeln!(s, "data {}\n{}", c.message.len(), c.message);
        if let Some(from) = c.from {
            let _ = writeln!(s, "from :{from}");
        }
        if let Some(merge) = c.merge {
            let _ = writeln!(s, "merge :{merge}");
        }
        for (file, content) in &c.files {
            let path = &self.files[*file].path;
            let _ = writeln!(
                s,
                "M 100644 inline {path}\ndata {}\n{content}",
                content.len()
            );
        }
        s.push('\n');
        self.out
            .write_all(s.as_bytes())
            .context("writing to git fast-import")?;
        self.stats.commits += 1;
        Ok(mark)
    }

    fn render(lines: &[String]) -> String {
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }

    /// Asks fast-import for the sha of a mark it has already written.
    fn sha_of(&mut self, mark: u64) -> Result<String> {
        writeln!(self.out, "get-mark :{mark}").context("writing to git fast-import")?;
        self.out.flush().context("writing to git fast-import")?;
        let mut line = String::new();
        self.marks
            .read_line(&mut line)
            .context("reading a mark from git fast-import")?;
        let sha = line.trim_end().to_owned();
        ensure!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "git fast-import answered {sha:?} for get-mark :{mark}"
        );
        Ok(sha)
    }

    fn initial_commit(&mut self) -> Result<()> {
        let t = self.clock;
        let files = (0..self.files.len())
            .map(|i| (i, Self::render(&self.files[i].lines)))
            .collect();
        self.main_tip = self.emit_commit(NewCommit {
            branch: "main",
            author: &PEOPLE[0],
            author_time: t,
            committer: &PEOPLE[0],
            committer_time: t,
            message: "Initial import of the monorepo\n",
            from: None,
            merge: None,
            files,
        })?;
        self.after_main_commit(self.main_tip, t)
    }

    /// A commit straight on `main`: chores, docs, and hotfixes pushed without a pull request.
    fn direct_commit(&mut self) -> Result<()> {
        let area = self.pick_area();
        let who = self.person();
        let t = self.tick();
        let at = self.author_time(t);
        let subject = if self.rng.chance(0.15) {
            let noun = self.rng.pick(NOUNS).copied().unwrap_or("service");
            format!("hotfix: {} {noun} outage", AREAS[area].short)
        } else {
            self.subject(area)
        };
        let mut edits = Vec::new();
        let mut files = Vec::new();
        for _ in 0..1 + self.rng.below(2) {
            let f = self.pick_file(area);
            let before = self.files[f].lines.clone();
            let after = self.edit(&before);
            files.push((f, Self::render(&after)));
            self.files[f].lines = after.clone();
            edits.push((f, before, after));
        }
        let message = format!("{subject}\n");
        let mark = self.emit_commit(NewCommit {
            branch: "main",
            author: &PEOPLE[who],
            author_time: at,
            committer: &PEOPLE[who],
            committer_time: t,
            message: &message,
            from: Some(self.main_tip),
            merge: None,
            files,
        })?;
        self.main_tip = mark;
        self.stats.direct += 1;
        self.remember(Change {
            mark,
            subject,
            edits,
        });
        self.after_main_commit(mark, t)
    }

    fn remember(&mut self, change: Change) {
        self.revertable.push_back(change);
        while self.revertable.len() > REVERT_WINDOW {
            self.revertable.pop_front();
        }
    }

    /// `git revert` of a recent main-line change, pushed directly to `main`.
    fn revert_commit(&mut self) -> Result<()> {
        let i = self.rng.below(self.revertable.len());
        let Some(change) = self.revertable.remove(i) else {
            return Ok(());
        };
        let sha = self.sha_of(change.mark)?;
        let message = revert_message(&change.subject, &sha);
        let mut files = Vec::new();
        for (f, before, after) in &change.edits {
            // Restore the old content when nothing touched the file since; otherwise the revert
            // "resolves a conflict", which for a fixture is just another small edit.
            let restored = if self.files[*f].lines == *after {
                before.clone()
            } else {
                let current = self.files[*f].lines.clone();
                self.edit(&current)
            };
            files.push((*f, Self::render(&restored)));
            self.files[*f].lines = restored;
        }
        let who = self.person();
        let t = self.tick();
        let mark = self.emit_commit(NewCommit {
            branch: "main",
            author: &PEOPLE[who],
            author_time: t,
            committer: &PEOPLE[who],
            committer_time: t,
            message: &message,
            from: Some(self.main_tip),
            merge: None,
            files,
        })?;
        self.main_tip = mark;
        self.stats.reverts += 1;
        self.after_main_commit(mark, t)
    }

    fn open_branch(&mut self) -> usize {
        let area = self.pick_area();
        self.ticket += 1 + self.rng.below(3) as u64;
        let prefix = if self.rng.chance(0.7) {
            "feature"
        } else {
            "fix"
        };
        let name = format!("{prefix}/{}-{}", AREAS[area].short, self.ticket);
        let planned = match self.rng.below(20) {
            0..=4 => 1,
            5..=10 => 2,
            11..=14 => 3,
            15..=17 => 4,
            _ => 5,
        };
        let owner = self.person();
        let title = self.subject(area);
        self.open.push(Branch {
            name,
            area,
            owner,
            title,
            planned,
            tip: self.main_tip,
            overlay: HashMap::new(),
            changes: Vec::new(),
        });
        self.open.len() - 1
    }

    fn branch_commit(&mut self, b: usize) -> Result<()> {
        let area = self.open[b].area;
        let who = if self.rng.chance(0.9) {
            self.open[b].owner
        } else {
            self.person()
        };
        let t = self.tick();
        let at = self.author_time(t);
        let subject = if self.open[b].changes.is_empty() {
            self.open[b].title.clone()
        } else {
            self.subject(area)
        };
        let mut edits = Vec::new();
        let mut files = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let f = self.pick_file(area);
            let before = match self.open[b].overlay.get(&f) {
                Some(lines) => lines.clone(),
                None => self.files[f].lines.clone(),
            };
            let after = self.edit(&before);
            files.push((f, Self::render(&after)));
            self.open[b].overlay.insert(f, after.clone());
            edits.push((f, before, after));
        }
        let message = format!("{subject}\n");
        let name = self.open[b].name.clone();
        let mark = self.emit_commit(NewCommit {
            branch: &name,
            author: &PEOPLE[who],
            author_time: at,
            committer: &PEOPLE[who],
            committer_time: t,
            message: &message,
            from: Some(self.open[b].tip),
            merge: None,
            files,
        })?;
        let branch = &mut self.open[b];
        branch.tip = mark;
        branch.changes.push(Change {
            mark,
            subject,
            edits,
        });
        Ok(())
    }

    /// Merges a finished branch into `main` with a merge commit, the way a pull request lands.
    fn merge_branch(&mut self, b: usize) -> Result<()> {
        let branch = self.open.swap_remove(b);
        let t = self.tick();
        let mut overlay: Vec<_> = branch.overlay.into_iter().collect();
        overlay.sort_by_key(|(f, _)| *f); // HashMap order is random; the stream must not be.
        let mut files = Vec::with_capacity(overlay.len());
        for (f, lines) in overlay {
            files.push((f, Self::render(&lines)));
            self.files[f].lines = lines;
        }
        let merger = self.person();
        let (message, committer) = if self.rng.chance(0.75) {
            self.pr += 1 + self.rng.below(2) as u64;
            let msg = format!(
                "Merge pull request #{} from acme/{}\n\n{}\n",
                self.pr, branch.name, branch.title
            );
            (msg, &GITHUB)
        } else {
            (format!("Merge branch '{}'\n", branch.name), &PEOPLE[merger])
        };
        let mark = self.emit_commit(NewCommit {
            branch: "main",
            author: &PEOPLE[merger],
            author_time: t,
            committer,
            committer_time: t,
            message: &message,
            from: Some(self.main_tip),
            merge: Some(branch.tip),
            files,
        })?;
        self.main_tip = mark;
        self.stats.merges += 1;
        for change in branch.changes {
            self.remember(change);
        }
        // Most merged branches get deleted on the remote; a `reset` without `from` makes
        // fast-import drop the ref. Keep the last few, like stale branches nobody cleaned up.
        self.merged_refs.push_back(branch.name);
        if self.merged_refs.len() > KEEP_MERGED_REFS
            && let Some(old) = self.merged_refs.pop_front()
        {
            writeln!(self.out, "reset refs/heads/{old}\n").context("writing to git fast-import")?;
        }
        self.after_main_commit(mark, t)
    }

    fn branch_step(&mut self) -> Result<()> {
        let new =
            self.open.is_empty() || (self.open.len() < MAX_OPEN_BRANCHES && self.rng.chance(0.35));
        let b = if new {
            self.open_branch()
        } else {
            self.rng.below(self.open.len())
        };
        if self.open[b].changes.len() >= self.open[b].planned {
            self.merge_branch(b)
        } else {
            self.branch_commit(b)
        }
    }

    /// Tags due after a main-line commit: releases, nightlies and the odd lightweight tag.
    fn after_main_commit(&mut self, mark: u64, t: i64) -> Result<()> {
        let done = self.stats.commits as f64;
        if self.stats.release_tags < self.tags && done >= self.next_release_at {
            self.release_tag(mark, t)?;
        }
        if done >= self.next_nightly_at {
            self.next_nightly_at += self.nightly_every;
            let tagged = t + self.rng.between(60, 6 * 3600);
            let date = loopwise_core::rollup::format_date(tagged);
            let name = format!("nightly-{date}");
            let msg = format!("Nightly build {date}\n");
            self.annotated_tag(&name, mark, &CI_BOT, tagged, &msg)?;
            self.stats.nightly_tags += 1;
        }
        let lw_due = (self.lightweight_done + 1) as f64 / (LIGHTWEIGHT_TAGS.len() + 1) as f64;
        if self.lightweight_done < LIGHTWEIGHT_TAGS.len() && done >= lw_due * self.target as f64 {
            let name = LIGHTWEIGHT_TAGS[self.lightweight_done];
            writeln!(self.out, "reset refs/tags/{name}\nfrom :{mark}\n")
                .context("writing to git fast-import")?;
            self.lightweight_done += 1;
            self.stats.lightweight_tags += 1;
        }
        Ok(())
    }

    fn release_tag(&mut self, mark: u64, t: i64) -> Result<()> {
        let (major, minor, patch) = self.version;
        let name = format!("v{major}.{minor}.{patch}");
        // Tagged by the release pipeline a few minutes to an hour and a half after the commit.
        let tagged = t + self.rng.between(120, 90 * 60);
        self.annotated_tag(
            &name,
            mark,
            &RELEASE_BOT,
            tagged,
            &format!("Release {name}\n"),
        )?;
        self.version = bump(self.version, &mut self.rng);
        self.stats.release_tags += 1;
        self.next_release_at = self.release_milestone(self.stats.release_tags);
        Ok(())
    }

    fn annotated_tag(
        &mut self,
        name: &str,
        mark: u64,
        who: &Person,
        t: i64,
        msg: &str,
    ) -> Result<()> {
        write!(
            self.out,
            "tag {name}\nfrom :{mark}\ntagger {} <{}> {t} {}\ndata {}\n{msg}\n",
            who.name,
            who.email,
            who.tz,
            msg.len()
        )
        .context("writing to git fast-import")
    }

    fn run(&mut self) -> Result<()> {
        self.initial_commit()?;
        while self.stats.commits < self.target {
            let u = self.rng.unit();
            if u < REVERT_SHARE && !self.revertable.is_empty() {
                self.revert_commit()?;
            } else if u < REVERT_SHARE + DIRECT_SHARE {
                self.direct_commit()?;
            } else {
                self.branch_step()?;
            }
        }
        // Milestones end half a slot before the last commit, so this only fires for tiny
        // histories with few main-line commits; the count asked for is still honoured.
        while self.stats.release_tags < self.tags {
            let t = self.clock;
            self.release_tag(self.main_tip, t)?;
        }
        self.stats.unmerged_branches = self.open.len();
        writeln!(self.out, "done").context("writing to git fast-import")?;
        self.out.flush().context("writing to git fast-import")
    }
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    cmd
}

fn run_git(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("running {cmd:?} (is git installed?)"))?;
    ensure!(status.success(), "{cmd:?} failed with {status}");
    Ok(())
}

/// Validates the options, so bad input yields an error rather than a strange repository.
fn check(opts: &Options) -> Result<()> {
    ensure!(
        opts.commits >= 20,
        "--commits must be at least 20 (got {})",
        opts.commits
    );
    ensure!(
        opts.tags * 4 <= opts.commits,
        "--tags {} is too many for {} commits (at most one release per 4 commits)",
        opts.tags,
        opts.commits
    );
    if opts.out.exists() {
        let mut entries = fs::read_dir(&opts.out).with_context(|| {
            format!(
                "{} exists and is not a readable directory",
                opts.out.display()
            )
        })?;
        if entries.next().is_some() {
            bail!(
                "{} already exists and is not empty; remove it or choose another --out",
                opts.out.display()
            );
        }
    }
    Ok(())
}

/// Generates the repository at `opts.out`; returns what was generated and how long it took.
pub fn generate(opts: &Options) -> Result<(Stats, Duration)> {
    check(opts)?;
    let started = Instant::now();
    fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    let mut init = Command::new("git");
    init.args(["init", "-q", "--initial-branch=main"]);
    if opts.bare {
        init.arg("--bare");
    }
    run_git(init.arg(&opts.out))?;

    let mut child = git(&opts.out)
        .args([
            "fast-import",
            "--quiet",
            "--done",
            "--cat-blob-fd=1",
            "--active-branches=16",
        ])
        // fast-import sets up a fresh ~256 KiB zlib stream per object; glibc hands that memory
        // back to the kernel on every free, and re-faulting it doubled the import time. Keeping
        // freed memory in the process only affects this generator, never a measurement.
        .env(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=536870912:glibc.malloc.top_pad=16777216",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting git fast-import")?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("git fast-import started without pipes");
    };
    let mut generator = Generator::new(
        BufWriter::with_capacity(1 << 20, stdin),
        BufReader::new(stdout),
        opts,
    );
    let outcome = generator.run();
    let stats = generator.stats.clone();
    drop(generator); // closes fast-import's stdin so it can finish
    let status = child.wait().context("waiting for git fast-import")?;
    outcome.context("streaming the history into git fast-import")?;
    ensure!(status.success(), "git fast-import failed with {status}");
    eprintln!(
        "fast-import: {} commits in {:.1} s",
        stats.commits,
        started.elapsed().as_secs_f64()
    );
    let packing = Instant::now();

    // Pack like a fresh clone: one pack, packed refs, and a checked-out main in a work tree.
    run_git(git(&opts.out).args(["symbolic-ref", "HEAD", "refs/heads/main"]))?;
    run_git(git(&opts.out).args(["repack", "-adfq"]))?;
    run_git(git(&opts.out).args(["pack-refs", "--all", "--prune"]))?;
    if !opts.bare {
        run_git(git(&opts.out).args(["reset", "-q", "--hard", "main"]))?;
    }
    eprintln!(
        "packing and checkout: {:.1} s",
        packing.elapsed().as_secs_f64()
    );
    Ok((stats, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAKE_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn stream(opts: &Options) -> (String, Stats) {
        // Enough fake get-mark answers for any revert count of a small history.
        let answers = format!("{FAKE_SHA}\n").repeat(opts.commits);
        let mut out = Vec::new();
        let mut g = Generator::new(&mut out, answers.as_bytes(), opts);
        g.run().unwrap();
        let stats = g.stats.clone();
        (String::from_utf8(out).unwrap(), stats)
    }

    fn opts(commits: usize, tags: usize, seed: u64) -> Options {
        Options {
            out: PathBuf::from("unused"),
            commits,
            tags,
            seed,
            bare: true,
        }
    }

    #[test]
    fn revert_message_is_gits_exact_form() {
        assert_eq!(
            revert_message("api: fix retry", FAKE_SHA),
            format!("Revert \"api: fix retry\"\n\nThis reverts commit {FAKE_SHA}.\n")
        );
    }

    #[test]
    fn stream_is_deterministic_and_shaped_as_asked() {
        let o = opts(2000, 40, 7);
        let (a, stats) = stream(&o);
        let (b, _) = stream(&o);
        assert_eq!(a, b, "same seed must give the same stream");
        assert_ne!(a, stream(&opts(2000, 40, 8)).0);
        assert_eq!(stats.commits, 2000);
        assert_eq!(stats.release_tags, 40);
        assert_eq!(a.lines().filter(|l| l.starts_with("tag v")).count(), 40);
        // Roughly one merge per 3-5 commits and about 2% reverts.
        let per_merge = stats.commits as f64 / stats.merges as f64;
        assert!(
            (3.0..=5.0).contains(&per_merge),
            "{per_merge} commits per merge"
        );
        assert!(
            (15..=70).contains(&stats.reverts),
            "{} reverts",
            stats.reverts
        );
        assert_eq!(
            a.matches(&format!("This reverts commit {FAKE_SHA}."))
                .count(),
            stats.reverts
        );
        assert!(a.ends_with("done\n"));
    }

    #[test]
    fn bad_options_are_errors_not_panics() {
        assert!(check(&opts(5, 0, 1)).is_err());
        assert!(check(&opts(100, 50, 1)).is_err());
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), "x").unwrap();
        let mut o = opts(100, 5, 1);
        o.out = dir.path().to_owned();
        assert!(check(&o).unwrap_err().to_string().contains("not empty"));
    }

    #[test]
    fn generates_a_valid_repository() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(400, 12, 3);
        o.out = dir.path().join("repo");
        o.bare = false;
        let (stats, _) = generate(&o).unwrap();
        let count = |args: &[&str]| {
            let out = git(&o.out).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(count(&["rev-list", "--all", "--count"]).trim(), "400");
        assert_eq!(count(&["tag", "--list", "v*"]).lines().count(), 12);
        assert_eq!(
            count(&["log", "--all", "--merges", "--format=%H"])
                .lines()
                .count(),
            stats.merges
        );
        let reverts = count(&[
            "log",
            "--all",
            "--grep",
            "This reverts commit",
            "--format=%B",
        ]);
        // Every revert names a real commit of this repository.
        for sha in reverts
            .lines()
            .filter_map(|l| l.strip_prefix("This reverts commit "))
        {
            let sha = sha.trim_end_matches('.');
            assert_eq!(count(&["cat-file", "-t", sha]).trim(), "commit");
        }
        count(&["fsck", "--no-progress"]);
        assert!(o.out.join("services/api").is_dir());
    }
}
