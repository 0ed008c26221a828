//! Git history through gitoxide.
//!
//! The walk starts at every reference (branches, remote branches, tags, HEAD), like
//! `git log --all`, and stops at commits the caller already knows, so a re-run costs only the
//! new history. Each commit object is read and decoded once.

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
        let path = git_dir.canonicalize().unwrap_or(git_dir);
        Ok(Self { repository, path })
    }

    /// The canonical path of the repository's git directory: its identity in the store.
    pub fn locator(&self) -> String {
        self.path.display().to_string()
    }

    /// A name for the service when none is given: the work tree's or bare repository's name.
    pub fn default_name(&self) -> String {
        let base = match self.repository.workdir() {
            Some(workdir) => workdir
                .canonicalize()
                .unwrap_or_else(|_| workdir.to_path_buf()),
            None => self.path.clone(),
        };
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

        let mut stack: Vec<ObjectId> = tips
            .into_iter()
            .chain(head)
            .filter(|id| !known_ids.contains(id))
            .collect();
        let mut seen = known_ids;
        let mut batch = Vec::with_capacity(WALK_BATCH);
        let mut new_changes = 0;
        let mut buffer = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let commit = repo
                .objects
                .find_commit(&id, &mut buffer)
                .map_err(|e| self.read_error(format!("commit {id}"), e))?;
            let change = change_from_commit(id, &commit);
            for parent in commit.parents() {
                if !seen.contains(&parent) {
                    stack.push(parent);
                }
            }
            batch.push(change);
            new_changes += 1;
            if batch.len() == WALK_BATCH {
                sink(std::mem::replace(
                    &mut batch,
                    Vec::with_capacity(WALK_BATCH),
                ));
            }
        }
        if !batch.is_empty() {
            sink(batch);
        }

        let mut tags = Vec::with_capacity(tag_targets.len());
        for target in tag_targets {
            tags.push(self.resolve_tag(target)?);
        }
        tags.retain(|tag: &Option<Tag>| tag.is_some());
        let mut tags: Vec<Tag> = tags.into_iter().flatten().collect();
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Walk {
            new_changes,
            tags,
            head: head.map(|id| id.to_string()),
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
    /// commit for a lightweight one. `None` for tags of trees or blobs.
    fn resolve_tag(&self, (name, target): TagReference) -> Result<Option<Tag>, GitError> {
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
                    let tag = gix::objs::TagRef::from_bytes(&object.data, hash_kind)
                        .map_err(|e| self.read_error(format!("tag {name}"), e))?;
                    if tagger_time.is_none() {
                        tagger_time = tag
                            .tagger()
                            .ok()
                            .flatten()
                            .map(|signature| signature.seconds());
                    }
                    id = tag.target();
                }
                gix::object::Kind::Commit => {
                    let commit = gix::objs::CommitRef::from_bytes(&object.data, hash_kind)
                        .map_err(|e| self.read_error(format!("commit of tag {name}"), e))?;
                    let committer_time =
                        commit.committer().map(|s| s.seconds()).unwrap_or_default();
                    let annotated = id != target;
                    return Ok(Some(Tag {
                        name,
                        commit: id.to_string(),
                        time: tagger_time.unwrap_or(committer_time),
                        annotated,
                    }));
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
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

fn lossy(text: &BStr) -> String {
    text.to_str_lossy().trim().to_string()
}

fn change_from_commit(id: ObjectId, commit: &gix::objs::CommitRef<'_>) -> Change {
    let author = commit.author().ok();
    let committer_time = commit.committer().map(|s| s.seconds()).unwrap_or_default();
    let message = commit.message();
    Change {
        sha: id.to_string(),
        parents: commit.parents().map(|p| p.to_string()).collect(),
        author_time: author
            .as_ref()
            .map(|a| a.seconds())
            .unwrap_or(committer_time),
        committer_time,
        author_name: author.as_ref().map(|a| lossy(a.name)).unwrap_or_default(),
        author_email: author.as_ref().map(|a| lossy(a.email)).unwrap_or_default(),
        subject: lossy(message.title),
        reverts: revert_targets(commit.message.as_ref()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
