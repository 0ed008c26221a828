//! Git history through gitoxide.
//!
//! The walk starts at the branches, remote branches, tags and HEAD (every reference, like
//! `git log --all`, when asked), and stops at commits the caller already knows, so a re-run costs only the
//! new history. Each commit object is read and decoded once.
//!
//! # Dates that cannot be read
//!
//! Real histories hold commits whose author or committer date is not a number of seconds that
//! fits in 64 bits (empty, text, or too many digits); git shows them at 1970. The walk never
//! fails on one and counts what it did in [`Walk`]:
//!
//! * An unreadable author date is stored as [`UNKNOWN_AUTHOR_TIME`] (0): the report engine
//!   treats it as implausible, so the change gets no lead time and the report's notes count it
//!   (a lead time needs a real start; a stand-in would invent one).
//! * An unreadable committer date (it orders commits and dates first-parent deployments): the
//!   author date stands in, or, with both unreadable, the committer date of the child the walk
//!   reached the commit from (it existed when its child was committed). Counted in
//!   [`Walk::unparseable_dates`], as are unreadable author dates. A commit that no walked commit has as a parent has no
//!   child to go by and is skipped (not stored), counted in [`Walk::skipped_commits`]; the walk
//!   goes on below it.
//! * A commit that gitoxide refuses (a date that is not a number) is read again by a lenient
//!   reader of its header lines; one that cannot be decoded even so (its tree or parent lines
//!   are not object ids, or the object is not a commit) is skipped, counted in
//!   [`Walk::skipped_commits`], and its history is not reachable through it.
//! * A tag takes its tagger date, else its commit's committer date, else its author date (as
//!   above); with none of them readable it is left out, counted in [`Walk::skipped_tags`].

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use gix::prelude::FindExt;
use loopwise_core::entities::{Change, Tag};
use loopwise_core::rules::revert_targets;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not a git repository (or cannot be read): {reason}")]
    NotARepository { path: PathBuf, reason: String },
    #[error("cannot read {what} of the repository at {path}: {reason}")]
    Read {
        path: PathBuf,
        what: String,
        reason: String,
    },
}

/// A tag's short name and the object its reference names (a tag object or a commit).
type TagReference = (String, ObjectId);

/// An opened repository.
pub struct GitRepository {
    repository: gix::Repository,
    path: PathBuf,
    /// The path it was opened with, as given (a symlink is not resolved): its name is the
    /// service's default name.
    given: PathBuf,
    /// Walk every reference, not only branches and tags ([`GitRepository::with_all_refs`]).
    all_refs: bool,
}

/// The references whose history is the repository's: branches, remote-tracking branches and
/// tags. Others (`refs/pull/*` of a GitHub clone, `refs/merge-requests/*`, notes, the stash)
/// hold commits that never were on a branch: tokio's `refs/pull/*` alone are about 19,000.
pub fn is_history_reference(full_name: &str) -> bool {
    ["refs/heads/", "refs/remotes/", "refs/tags/"]
        .iter()
        .any(|prefix| full_name.starts_with(prefix))
}

impl std::fmt::Debug for GitRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepository")
            .field("path", &self.path)
            .finish()
    }
}

/// Commits are handed to the caller in batches of this many, so storing can overlap walking.
pub const WALK_BATCH: usize = 4096;

/// What one walk found besides the commits.
#[derive(Debug, Default)]
pub struct Walk {
    /// How many commits not known before were read.
    pub new_changes: usize,
    /// Every tag that names a commit, by name.
    pub tags: Vec<Tag>,
    /// The commit HEAD names, if any.
    pub head: Option<String>,
    /// Commits stored with an unreadable date (see the module doc).
    pub unparseable_dates: Unreadable,
    /// Commits not stored: undecodable, or with no date to go by (see the module doc).
    pub skipped_commits: Unreadable,
    /// Tags left out because neither they nor their commit have a readable date.
    pub skipped_tags: Unreadable,
}

/// How many commits (or tags) of a walk could not be read as they are, and the first few.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub count: usize,
    /// The first [`UNREADABLE_EXAMPLES`] shas (tag names for tags), in the order the walk met
    /// them.
    pub first: Vec<String>,
}

/// How many examples an [`Unreadable`] keeps.
pub const UNREADABLE_EXAMPLES: usize = 5;

impl Unreadable {
    fn note(&mut self, name: impl std::fmt::Display) {
        self.count += 1;
        if self.first.len() < UNREADABLE_EXAMPLES {
            self.first.push(name.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The author time stored for a commit whose author date cannot be read: 1970-01-01, which the
/// report engine never believes (see `CommitGraph::has_plausible_author_time`).
pub const UNKNOWN_AUTHOR_TIME: i64 = 0;

/// What the walk keeps of a commit object.
struct CommitFields {
    parents: Vec<ObjectId>,
    author_time: Option<i64>,
    committer_time: Option<i64>,
    author_name: String,
    author_email: String,
    subject: String,
    reverts: Option<String>,
}

impl CommitFields {
    /// Decodes a commit object: with gitoxide, or where it refuses the object, leniently;
    /// `None` when even that cannot find its tree and parents.
    fn decode(data: &[u8], hash_kind: gix::hash::Kind) -> Option<Self> {
        let Ok(commit) = gix::objs::CommitRef::from_bytes(data, hash_kind) else {
            return Self::decode_leniently(data);
        };
        // The decoder validated both signatures, so these do not fail.
        let author = commit.author().ok();
        Some(Self {
            parents: commit.parents().collect(),
            author_time: author.as_ref().and_then(|a| seconds(a.time)),
            committer_time: commit.committer().ok().and_then(|c| seconds(c.time)),
            author_name: author.as_ref().map(|a| lossy(a.name)).unwrap_or_default(),
            author_email: author.as_ref().map(|a| lossy(a.email)).unwrap_or_default(),
            subject: lossy(commit.message().title),
            reverts: revert_targets(commit.message.as_ref()),
        })
    }

    /// Header lines as git writes them (`tree`, `parent`, `author`, `committer`), without
    /// gitoxide's validation of the signatures.
    fn decode_leniently(data: &[u8]) -> Option<Self> {
        let (headers, message) = header_lines(data);
        let mut headers = headers.into_iter().peekable();
        let (b"tree", tree) = headers.next()? else {
            return None;
        };
        ObjectId::from_hex(tree).ok()?;
        let mut parents = Vec::new();
        while let Some((b"parent", parent)) = headers.peek() {
            parents.push(ObjectId::from_hex(parent).ok()?);
            headers.next();
        }
        let mut author = None;
        let mut committer = None;
        for (name, value) in headers {
            match name {
                b"author" if author.is_none() => author = Some(value),
                b"committer" if committer.is_none() => committer = Some(value),
                _ => {}
            }
        }
        let (author_name, author_email, author_time) =
            author.map(lenient_signature).unwrap_or_default();
        Some(Self {
            parents,
            author_time,
            committer_time: committer.and_then(|value| lenient_signature(value).2),
            author_name,
            author_email,
            subject: lossy(gix::objs::commit::MessageRef::from_bytes(message).title),
            reverts: revert_targets(message),
        })
    }
}

/// Seconds since the epoch of a signature's raw time (`<seconds> <offset>`), or `None` when
/// they are missing or not a whole number that fits in 64 bits. The offset does not matter:
/// the seconds are UTC already.
fn seconds(time: &str) -> Option<i64> {
    time.split_whitespace().next()?.parse().ok()
}

/// A header line of an object: its name and value.
type HeaderLine<'a> = (&'a [u8], &'a [u8]);

/// The header lines of a commit or tag object (name, value) up to the blank line that ends
/// them, and the message after it. Continuation lines (of a multi-line header such as
/// `gpgsig`) are left out.
fn header_lines(data: &[u8]) -> (Vec<HeaderLine<'_>>, &[u8]) {
    let (head, message) = match data.find(b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &data[data.len()..]),
    };
    let headers = head
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.starts_with(b" "))
        .filter_map(|line| line.split_once_str(" "))
        .collect();
    (headers, message)
}

/// Name, email and seconds of a signature (`Name <email> <seconds> <offset>`), each as far
/// as it can be read.
fn lenient_signature(value: &[u8]) -> (String, String, Option<i64>) {
    let open = value.find_byte(b'<');
    let close = value.rfind_byte(b'>');
    match (open, close) {
        (Some(open), Some(close)) if open < close => (
            lossy(value[..open].as_bstr()),
            lossy(value[open + 1..close].as_bstr()),
            seconds(&value[close + 1..].to_str_lossy()),
        ),
        _ => (lossy(value.as_bstr()), String::new(), None),
    }
}

impl GitRepository {
    /// Opens the repository that contains `path` (a work tree, a directory in one, or a bare
    /// repository).
    pub fn open(path: &Path) -> Result<Self, GitError> {
        let not_a_repository = |reason: String| GitError::NotARepository {
            path: path.to_path_buf(),
            reason,
        };
        if !path.exists() {
            return Err(not_a_repository("no such file or directory".into()));
        }
        let repository = gix::discover(path).map_err(|e| not_a_repository(e.to_string()))?;
        let git_dir = repository.common_dir().to_path_buf();
        let given = path.to_path_buf();
        let path = git_dir.canonicalize().unwrap_or(git_dir);
        Ok(Self {
            repository,
            path,
            given,
            all_refs: false,
        })
    }

    /// Walks every reference (pull-request heads, notes, the stash too), as `git log --all`
    /// does; by default only branches and tags ([`is_history_reference`]).
    pub fn with_all_refs(mut self, all_refs: bool) -> Self {
        self.all_refs = all_refs;
        self
    }

    /// The canonical path of the repository's git directory: its identity in the store.
    pub fn locator(&self) -> String {
        self.path.display().to_string()
    }

    /// A name for the service when none is given: the work tree's or bare repository's name,
    /// as the path given names it (a symlink `api` to `/srv/checkout-7f3` names `api`).
    pub fn default_name(&self) -> String {
        let root = match self.repository.workdir() {
            Some(workdir) => workdir
                .canonicalize()
                .unwrap_or_else(|_| workdir.to_path_buf()),
            None => self.path.clone(),
        };
        // The root as the given path reaches it: as many levels above the given path as the
        // given path lies below the root.
        let given = lexically_absolute(&self.given);
        let depth = given.canonicalize().ok().and_then(|resolved| {
            [&root, &self.path]
                .iter()
                .find_map(|top| resolved.strip_prefix(top).ok())
                .map(|below| below.components().count())
        });
        let base = depth
            .and_then(|depth| given.ancestors().nth(depth))
            .filter(|top| top.file_name().is_some())
            .map_or(root, Path::to_path_buf);
        let name = base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.strip_suffix(".git").unwrap_or(&name).to_string();
        if name.is_empty() {
            "repository".to_string()
        } else {
            name
        }
    }

    fn read_error(&self, what: impl Into<String>, reason: impl std::fmt::Display) -> GitError {
        GitError::Read {
            path: self.path.clone(),
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// Walks every commit reachable from any reference and not in `known` (full hex shas),
    /// handing new commits to `sink` in batches of [`WALK_BATCH`]; a commit's parents may come
    /// in a later batch.
    pub fn walk(
        &self,
        known: &HashSet<String>,
        sink: &mut dyn FnMut(Vec<Change>),
    ) -> Result<Walk, GitError> {
        let repo = &self.repository;
        let mut known_ids: gix::hashtable::HashSet<ObjectId> = gix::hashtable::HashSet::default();
        known_ids.reserve(known.len());
        for sha in known {
            if let Ok(id) = ObjectId::from_hex(sha.as_bytes()) {
                known_ids.insert(id);
            }
        }

        let (tips, tag_targets) = self.tips()?;
        let head = repo.head_id().ok().map(|id| id.detach());

        // Each commit with the committer time of the child the walk reached it from, a stand-in
        // for a commit with no readable date (see the module doc).
        let mut stack: Vec<(ObjectId, Option<i64>)> = tips
            .into_iter()
            .chain(head)
            .filter(|id| !known_ids.contains(id))
            .map(|id| (id, None))
            .collect();
        let mut seen = known_ids;
        let mut batch = Vec::with_capacity(WALK_BATCH);
        let mut new_changes = 0;
        let mut buffer = Vec::new();
        let mut unparseable_dates = Unreadable::default();
        let mut skipped_commits = Unreadable::default();
        // Commits with no readable date met as a reference's tip, with their parents: kept
        // until the walk shows whether some commit has them as a parent.
        let mut undated_tips: Vec<(ObjectId, Vec<ObjectId>)> = Vec::new();
        loop {
            while let Some((id, child_time)) = stack.pop() {
                if seen.contains(&id) {
                    continue;
                }
                let object = repo
                    .objects
                    .find(&id, &mut buffer)
                    .map_err(|e| self.read_error(format!("commit {id}"), e))?;
                let fields = match object.kind {
                    gix::object::Kind::Commit => {
                        CommitFields::decode(object.data, object.object_hash)
                    }
                    _ => None,
                };
                let Some(fields) = fields else {
                    seen.insert(id);
                    skipped_commits.note(id);
                    continue;
                };
                let (author_time, committer_time) =
                    match (fields.author_time, fields.committer_time, child_time) {
                        (Some(author), Some(committer), _) => (author, committer),
                        (Some(author), None, _) => {
                            unparseable_dates.note(id);
                            (author, author)
                        }
                        (None, Some(time), _) | (None, None, Some(time)) => {
                            unparseable_dates.note(id);
                            (UNKNOWN_AUTHOR_TIME, time)
                        }
                        (None, None, None) => {
                            undated_tips.push((id, fields.parents));
                            continue;
                        }
                    };
                seen.insert(id);
                for &parent in &fields.parents {
                    if !seen.contains(&parent) {
                        stack.push((parent, Some(committer_time)));
                    }
                }
                batch.push(Change {
                    sha: id.to_string(),
                    parents: fields.parents.iter().map(|p| p.to_string()).collect(),
                    author_time,
                    committer_time,
                    author_name: fields.author_name,
                    author_email: fields.author_email,
                    subject: fields.subject,
                    reverts: fields.reverts,
                });
                new_changes += 1;
                if batch.len() == WALK_BATCH {
                    sink(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(WALK_BATCH),
                    ));
                }
            }
            // Undated tips that no walked commit has as a parent: nothing to date them by.
            for (id, parents) in std::mem::take(&mut undated_tips) {
                if seen.insert(id) {
                    skipped_commits.note(id);
                    stack.extend(parents.into_iter().map(|parent| (parent, None)));
                }
            }
            if stack.is_empty() {
                break;
            }
        }
        if !batch.is_empty() {
            sink(batch);
        }

        let mut tags = Vec::with_capacity(tag_targets.len());
        let mut skipped_tags = Unreadable::default();
        for target in tag_targets {
            match self.resolve_tag(target)? {
                ResolvedTag::Commit(tag) => tags.push(tag),
                ResolvedTag::NotACommit => {}
                ResolvedTag::Undated(name) => skipped_tags.note(name),
            }
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        for (what, unreadable) in [
            (
                "commits stored with a stand-in for an unreadable date",
                &unparseable_dates,
            ),
            ("commits skipped (undecodable or undated)", &skipped_commits),
            ("tags without a readable date left out", &skipped_tags),
        ] {
            if !unreadable.is_empty() {
                tracing::warn!(
                    repository = %self.path.display(),
                    count = unreadable.count,
                    first = ?unreadable.first,
                    "{what}"
                );
            }
        }
        Ok(Walk {
            new_changes,
            tags,
            head: head.map(|id| id.to_string()),
            unparseable_dates,
            skipped_commits,
            skipped_tags,
        })
    }

    /// Commit ids of every reference, and the tags to resolve.
    fn tips(&self) -> Result<(Vec<ObjectId>, Vec<TagReference>), GitError> {
        let repo = &self.repository;
        let platform = repo
            .references()
            .map_err(|e| self.read_error("references", e))?;
        let mut tips = Vec::new();
        let mut tags = Vec::new();
        for reference in platform
            .all()
            .map_err(|e| self.read_error("references", e))?
        {
            let mut reference = reference.map_err(|e| self.read_error("a reference", e))?;
            let full_name = reference.name().as_bstr().to_string();
            let Some(direct) = reference.target().try_id().map(|id| id.to_owned()) else {
                // Symbolic references (e.g. refs/remotes/origin/HEAD) point at another reference.
                continue;
            };
            if !self.all_refs && !is_history_reference(&full_name) {
                continue;
            }
            if let Some(short) = full_name.strip_prefix("refs/tags/") {
                tags.push((short.to_string(), direct));
            }
            // A reference to a tree or blob, or a broken one, is not history: skip it.
            if let Ok(id) = reference.peel_to_id()
                && let Ok(object) = repo.find_header(id.detach())
                && object.kind() == gix::object::Kind::Commit
            {
                tips.push(id.detach());
            }
        }
        Ok((tips, tags))
    }

    /// A tag's commit and time: the tagger date of an annotated tag, the committer date of the
    /// commit for a lightweight one (each as the module doc says when it cannot be read).
    fn resolve_tag(&self, (name, target): TagReference) -> Result<ResolvedTag, GitError> {
        let repo = &self.repository;
        let hash_kind = repo.object_hash();
        let mut id = target;
        let mut tagger_time = None;
        // Tags of tags are legal; follow them, but never forever.
        for _ in 0..16 {
            let object = repo
                .find_object(id)
                .map_err(|e| self.read_error(format!("tag {name}"), e))?;
            match object.kind {
                gix::object::Kind::Tag => {
                    let (tagged, time) =
                        match gix::objs::TagRef::from_bytes(&object.data, hash_kind) {
                            Ok(tag) => (
                                Some(tag.target()),
                                tag.tagger().ok().flatten().and_then(|t| seconds(t.time)),
                            ),
                            Err(_) => lenient_tag(&object.data),
                        };
                    let Some(tagged) = tagged else {
                        return Ok(ResolvedTag::Undated(name));
                    };
                    tagger_time = tagger_time.or(time);
                    id = tagged;
                }
                gix::object::Kind::Commit => {
                    let Some(commit) = CommitFields::decode(&object.data, hash_kind) else {
                        return Ok(ResolvedTag::Undated(name));
                    };
                    let Some(time) = tagger_time.or(commit.committer_time).or(commit.author_time)
                    else {
                        return Ok(ResolvedTag::Undated(name));
                    };
                    let annotated = id != target;
                    return Ok(ResolvedTag::Commit(Tag {
                        name,
                        commit: id.to_string(),
                        time,
                        annotated,
                    }));
                }
                _ => return Ok(ResolvedTag::NotACommit),
            }
        }
        Ok(ResolvedTag::NotACommit)
    }

    /// For each `(commit, first parent)` pair: does the commit change anything under `paths`
    /// (directories or files, relative to the repository root)? Compared by the object id of
    /// each path's entry, which differs exactly when something beneath it changed. A root
    /// commit touches a path that exists in it.
    pub fn touches_paths(
        &self,
        commits: &[(String, Option<String>)],
        paths: &[String],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<bool>, GitError> {
        let mut entries_by_commit: HashMap<ObjectId, Vec<Option<ObjectId>>> = HashMap::new();
        let mut answers = Vec::with_capacity(commits.len());
        for (done, (commit, parent)) in commits.iter().enumerate() {
            let commit_entries = self.path_entries(commit, paths, &mut entries_by_commit)?;
            let parent_entries = match parent {
                Some(parent) => self.path_entries(parent, paths, &mut entries_by_commit)?,
                None => vec![None; paths.len()],
            };
            answers.push(commit_entries != parent_entries);
            if done % 1024 == 1023 {
                progress(done + 1);
            }
        }
        progress(commits.len());
        Ok(answers)
    }

    fn path_entries(
        &self,
        sha: &str,
        paths: &[String],
        cache: &mut HashMap<ObjectId, Vec<Option<ObjectId>>>,
    ) -> Result<Vec<Option<ObjectId>>, GitError> {
        let id = ObjectId::from_hex(sha.as_bytes())
            .map_err(|e| self.read_error(format!("commit {sha}"), e))?;
        if let Some(entries) = cache.get(&id) {
            return Ok(entries.clone());
        }
        let tree = self
            .repository
            .find_commit(id)
            .and_then(|commit| commit.tree())
            .map_err(|e| self.read_error(format!("tree of commit {sha}"), e))?;
        let mut entries = Vec::with_capacity(paths.len());
        for path in paths {
            let entry = tree
                .lookup_entry_by_path(Path::new(path))
                .map_err(|e| self.read_error(format!("path {path} in commit {sha}"), e))?;
            entries.push(entry.map(|entry| entry.object_id()));
        }
        // Each commit is asked for as itself and as its children's parent: keep the cache small
        // by dropping it once it grows, the walk order makes hits local anyway.
        if cache.len() > 65_536 {
            cache.clear();
        }
        cache.insert(id, entries.clone());
        Ok(entries)
    }
}

/// What a tag reference names.
enum ResolvedTag {
    Commit(Tag),
    /// A tree or a blob: no history.
    NotACommit,
    /// A commit, but no readable date for the tag (or the commit cannot be decoded).
    Undated(String),
}

/// The target and tagger seconds of a tag object gitoxide refuses (an unreadable tagger date).
fn lenient_tag(data: &[u8]) -> (Option<ObjectId>, Option<i64>) {
    let (headers, _) = header_lines(data);
    let mut target = None;
    let mut time = None;
    for (name, value) in headers {
        match name {
            b"object" if target.is_none() => target = ObjectId::from_hex(value).ok(),
            b"tagger" if time.is_none() => time = lenient_signature(value).2,
            _ => {}
        }
    }
    (target, time)
}

fn lossy(text: &BStr) -> String {
    text.to_str_lossy().trim().to_string()
}

/// Abbreviated paths that a user may type (`./api/`, `api//v1`) as the repository-relative
/// form gitoxide looks up (`api`, `api/v1`); `None` for a path that leaves the repository.
pub fn normalize_repository_path(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `path` made absolute without resolving symlinks, `.` and `..` taken lexically.
fn lexically_absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_branches_remote_branches_and_tags() {
        for name in [
            "refs/heads/main",
            "refs/remotes/origin/main",
            "refs/tags/v1.0",
        ] {
            assert!(is_history_reference(name), "{name}");
        }
        for name in [
            "refs/pull/12/head",
            "refs/pull/12/merge",
            "refs/merge-requests/3/head",
            "refs/notes/commits",
            "refs/stash",
            "refs/keep-around/abc",
        ] {
            assert!(!is_history_reference(name), "{name}");
        }
    }

    #[test]
    fn reads_seconds_that_fit_in_64_bits_and_nothing_else() {
        assert_eq!(seconds("1528473343 -0230"), Some(1_528_473_343));
        assert_eq!(
            seconds(" 0 +0000"),
            Some(0),
            "a date of 0 is what the commit says"
        );
        assert_eq!(seconds("-5 +0000"), Some(-5));
        assert_eq!(seconds("\t42\t+0100"), Some(42));
        assert_eq!(seconds("9223372036854775807 +0000"), Some(i64::MAX));
        assert_eq!(seconds("9223372036854775808 +0000"), None);
        assert_eq!(seconds("-99999999999999999999 +0000"), None);
        assert_eq!(seconds(""), None);
        assert_eq!(seconds("   "), None);
        assert_eq!(seconds("notadate +0000"), None);
    }

    #[test]
    fn reads_signatures_and_headers_leniently() {
        assert_eq!(
            lenient_signature(b"Tess Ter <tess@example.com> 1000 +0000"),
            ("Tess Ter".into(), "tess@example.com".into(), Some(1000))
        );
        assert_eq!(
            lenient_signature(b"Tess <t@x> someday"),
            ("Tess".into(), "t@x".into(), None)
        );
        assert_eq!(
            lenient_signature(b"nobody"),
            ("nobody".into(), "".into(), None)
        );
        assert_eq!(
            lenient_signature(b"a > b < c"),
            ("a > b < c".into(), "".into(), None)
        );
        let (headers, message) = header_lines(
            b"tree 1\nparent 2\ngpgsig -----\n line\n -----\nauthor x\n\nsubject\n\nbody",
        );
        let names: Vec<&[u8]> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, [&b"tree"[..], b"parent", b"gpgsig", b"author"]);
        assert_eq!(message, b"subject\n\nbody");
        assert_eq!(header_lines(b"tree 1").1, b"");
        assert!(CommitFields::decode_leniently(b"parent 1\n\nx").is_none());
        assert!(CommitFields::decode_leniently(b"").is_none());
    }

    const TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    proptest::proptest! {
        /// On every commit gitoxide accepts, the lenient reader reads the same fields.
        #[test]
        fn the_lenient_reader_agrees_with_gitoxide(
            parents in proptest::collection::vec("[0-9a-f]{40}", 0..3),
            name in "[A-Za-z][A-Za-z ]{0,10}[A-Za-z]",
            author_seconds in proptest::option::of(proptest::num::i64::ANY),
            committer_seconds in proptest::option::of(0i64..4_000_000_000),
            subject in "[a-z][a-z ]{0,20}",
            body in proptest::option::of("[a-z ]{0,20}"),
        ) {
            let date = |seconds: Option<i64>| seconds.map_or_else(String::new, |s| format!("{s} +0100"));
            let mut text = format!("tree {TREE}\n");
            for parent in &parents {
                text.push_str(&format!("parent {parent}\n"));
            }
            text.push_str(&format!(
                "author {name} <a@x> {}\ncommitter {name} <c@x> {}\n\n{subject}\n",
                date(author_seconds),
                date(committer_seconds)
            ));
            if let Some(body) = &body {
                text.push_str(&format!("\n{body}\n"));
            }
            let strict = gix::objs::CommitRef::from_bytes(text.as_bytes(), gix::hash::Kind::Sha1);
            proptest::prop_assert!(strict.is_ok(), "gitoxide refused {text:?}");
            let decoded = CommitFields::decode(text.as_bytes(), gix::hash::Kind::Sha1).unwrap();
            let lenient = CommitFields::decode_leniently(text.as_bytes()).unwrap();
            proptest::prop_assert_eq!(&decoded.parents, &lenient.parents);
            proptest::prop_assert_eq!(decoded.author_time, author_seconds);
            proptest::prop_assert_eq!(lenient.author_time, author_seconds);
            proptest::prop_assert_eq!(decoded.committer_time, committer_seconds);
            proptest::prop_assert_eq!(lenient.committer_time, committer_seconds);
            proptest::prop_assert_eq!(&decoded.author_name, &lenient.author_name);
            proptest::prop_assert_eq!(&decoded.author_email, &lenient.author_email);
            proptest::prop_assert_eq!(&decoded.subject, &lenient.subject);
            proptest::prop_assert_eq!(&decoded.subject, subject.trim());
        }

        #[test]
        fn decoding_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = CommitFields::decode(&data, gix::hash::Kind::Sha1);
            let _ = CommitFields::decode_leniently(&data);
            let _ = lenient_tag(&data);
        }

        #[test]
        fn decoding_commit_like_text_never_panics(
            text in "(tree |parent |author |committer |[0-9a-f]{40}|<|>|x@y| |\n|[0-9]{1,25}|\\+0000|-)*"
        ) {
            let _ = CommitFields::decode(text.as_bytes(), gix::hash::Kind::Sha1);
            let _ = CommitFields::decode_leniently(text.as_bytes());
            let _ = lenient_tag(text.as_bytes());
        }
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(
            normalize_repository_path("./services/api/"),
            Some("services/api".into())
        );
        assert_eq!(normalize_repository_path("a//b"), Some("a/b".into()));
        assert_eq!(normalize_repository_path("../x"), None);
        assert_eq!(normalize_repository_path("/"), None);
    }
}
