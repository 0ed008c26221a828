//! The commit graph as compact arrays, built once per analysis.
//!
//! Commits are numbered `0..n`; parents are kept in one flat list with offsets, so a walk touches
//! two vectors and never hashes. Parents that are not in the graph (a shallow clone, or history
//! not imported) are dropped: the graph is what we know.

use crate::entities::Change;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Commit ids are already uniformly random: a multiply-and-rotate over their bytes spreads them
/// well and costs a fraction of SipHash, which guards against attacker-chosen keys that a
/// content hash cannot be (keys here come from git objects, not free text).
#[derive(Debug, Default, Clone, Copy)]
pub struct ShaHasher(u64);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type ShaMap = HashMap<String, CommitIndex, BuildHasherDefault<ShaHasher>>;

pub type CommitIndex = u32;

#[derive(Debug, Default)]
pub struct CommitGraph {
    shas: Vec<String>,
    index_by_sha: ShaMap,
    /// Indices sorted by sha, for abbreviated-sha lookups; built on the first one.
    sorted_by_sha: OnceLock<Vec<CommitIndex>>,
    parent_offsets: Vec<u32>,
    parent_list: Vec<CommitIndex>,
    author_time: Vec<Timestamp>,
    committer_time: Vec<Timestamp>,
    is_merge: Vec<bool>,
    /// The commits each commit reverts, as offsets into `revert_list` (like the parents).
    revert_offsets: Vec<u32>,
    revert_list: Vec<CommitIndex>,
    /// The commits that revert at least one commit of the graph, in index order.
    revert_carriers: Vec<CommitIndex>,
    /// "This reverts commit X" lines whose X abbreviates more than one commit: ignored.
    ambiguous_reverts: usize,
    /// Author times before this are not believable for this history (see
    /// [`CommitGraph::has_plausible_author_time`]).
    plausible_author_since: Timestamp,
}

/// Revert targets shorter than this many hex digits are not trusted to name one commit.
pub const MIN_REVERT_PREFIX: usize = 7;

/// How far before the repository's first commit an author time may lie and still be believed
/// (history imported from an older system keeps its author dates).
pub const AUTHOR_TIME_SLACK_SECONDS: i64 = 365 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("commit {0:?} is not in the repository's history")]
    NotFound(String),
    #[error("abbreviated commit {0:?} is ambiguous; give more hex digits")]
    Ambiguous(String),
    #[error("{0:?} is not a commit id: expected 4 to 40 hexadecimal digits")]
    Malformed(String),
}

impl CommitGraph {
    /// Builds the graph from changes in any order. Duplicate shas keep their first occurrence.
    pub fn from_changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Self {
        let changes = changes.into_iter();
        let mut graph = CommitGraph::default();
        graph.shas.reserve(changes.size_hint().0);
        graph.index_by_sha.reserve(changes.size_hint().0);
        let mut kept = Vec::with_capacity(changes.size_hint().0);
        for change in changes {
            let index = graph.shas.len() as CommitIndex;
            if let Entry::Vacant(slot) = graph.index_by_sha.entry(change.sha.clone()) {
                slot.insert(index);
                graph.shas.push(change.sha.clone());
                kept.push(change);
            }
        }
        graph.parent_offsets.reserve(kept.len() + 1);
        graph.parent_offsets.push(0);
        graph.revert_offsets.reserve(kept.len() + 1);
        graph.revert_offsets.push(0);
        let mut earliest_commit: Option<Timestamp> = None;
        for change in &kept {
            for parent in &change.parents {
                if let Some(&parent_index) = graph.index_by_sha.get(parent) {
                    graph.parent_list.push(parent_index);
                }
            }
            graph.parent_offsets.push(graph.parent_list.len() as u32);
            graph.author_time.push(change.author_time);
            graph.committer_time.push(change.committer_time);
            graph.is_merge.push(change.is_merge());
            if change.committer_time > 0 {
                earliest_commit = Some(
                    earliest_commit.map_or(change.committer_time, |e| e.min(change.committer_time)),
                );
            }
        }
        // Revert targets may abbreviate: resolved once every sha is known.
        for (index, change) in kept.iter().enumerate() {
            let before = graph.revert_list.len();
            for target in change.revert_targets() {
                match graph.revert_target(target) {
                    Ok(Some(reverted)) if !graph.revert_list[before..].contains(&reverted) => {
                        graph.revert_list.push(reverted)
                    }
                    Ok(_) => {}
                    Err(()) => graph.ambiguous_reverts += 1,
                }
            }
            if graph.revert_list.len() > before {
                graph.revert_carriers.push(index as CommitIndex);
            }
            graph.revert_offsets.push(graph.revert_list.len() as u32);
        }
        graph.plausible_author_since = earliest_commit.map_or(1, |earliest| {
            earliest.saturating_sub(AUTHOR_TIME_SLACK_SECONDS).max(1)
        });
        graph
    }

    /// The commit a revert line names: `Ok(None)` when it is not in the graph (or too short to
    /// trust), `Err(())` when the abbreviation fits several commits.
    fn revert_target(&self, target: &str) -> Result<Option<CommitIndex>, ()> {
        if let Some(index) = self.index_of(target) {
            return Ok(Some(index));
        }
        if target.len() < MIN_REVERT_PREFIX {
            return Ok(None);
        }
        match self.resolve(target) {
            Ok(index) => Ok(Some(index)),
            Err(ResolveError::Ambiguous(_)) => Err(()),
            Err(_) => Ok(None),
        }
    }

    pub fn len(&self) -> usize {
        self.shas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shas.is_empty()
    }

    pub fn sha(&self, commit: CommitIndex) -> &str {
        &self.shas[commit as usize]
    }

    pub fn index_of(&self, sha: &str) -> Option<CommitIndex> {
        self.index_by_sha.get(sha).copied()
    }

    /// Resolves a full or abbreviated (at least 4 digits) commit id, case-insensitively.
    pub fn resolve(&self, text: &str) -> Result<CommitIndex, ResolveError> {
        let wanted = text.trim().to_ascii_lowercase();
        if wanted.len() < 4 || wanted.len() > 40 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ResolveError::Malformed(text.to_string()));
        }
        if let Some(index) = self.index_of(&wanted) {
            return Ok(index);
        }
        let sorted = self.sorted_by_sha.get_or_init(|| {
            let mut sorted: Vec<CommitIndex> = (0..self.shas.len() as CommitIndex).collect();
            sorted.sort_unstable_by(|a, b| self.shas[*a as usize].cmp(&self.shas[*b as usize]));
            sorted
        });
        let start = sorted.partition_point(|&i| self.shas[i as usize].as_str() < wanted.as_str());
        let mut matches = sorted[start..]
            .iter()
            .take_while(|&&i| self.shas[i as usize].starts_with(&wanted));
        match (matches.next(), matches.next()) {
            (Some(&index), None) => Ok(index),
            (Some(_), Some(_)) => Err(ResolveError::Ambiguous(text.to_string())),
            (None, _) => Err(ResolveError::NotFound(text.to_string())),
        }
    }

    pub fn parents(&self, commit: CommitIndex) -> &[CommitIndex] {
        let start = self.parent_offsets[commit as usize] as usize;
        let end = self.parent_offsets[commit as usize + 1] as usize;
        &self.parent_list[start..end]
    }

    pub fn author_time(&self, commit: CommitIndex) -> Timestamp {
        self.author_time[commit as usize]
    }

    pub fn committer_time(&self, commit: CommitIndex) -> Timestamp {
        self.committer_time[commit as usize]
    }

    pub fn is_merge(&self, commit: CommitIndex) -> bool {
        self.is_merge[commit as usize]
    }

    /// The commits this one reverts (every "This reverts commit X" line of its message whose X
    /// is in the graph), without repeats.
    pub fn reverts(&self, commit: CommitIndex) -> &[CommitIndex] {
        let start = self.revert_offsets[commit as usize] as usize;
        let end = self.revert_offsets[commit as usize + 1] as usize;
        &self.revert_list[start..end]
    }

    /// The commits that revert at least one commit of the graph.
    pub fn revert_carriers(&self) -> &[CommitIndex] {
        &self.revert_carriers
    }

    /// Revert lines ignored because their abbreviated commit id fits several commits.
    pub fn ambiguous_reverts(&self) -> usize {
        self.ambiguous_reverts
    }

    /// Whether a commit's author time can be believed: after 1970-01-01 and not more than
    /// [`AUTHOR_TIME_SLACK_SECONDS`] before the history's earliest commit. An implausible
    /// author time gives no lead time (it is counted instead).
    pub fn has_plausible_author_time(&self, commit: CommitIndex) -> bool {
        self.author_time[commit as usize] >= self.plausible_author_since
    }

    /// `tip`, its first parent, that one's first parent, … down to the root (tip first).
    pub fn first_parent_chain(&self, tip: CommitIndex) -> Vec<CommitIndex> {
        let mut chain = vec![tip];
        let mut current = tip;
        while let Some(&parent) = self.parents(current).first() {
            // A cycle cannot come from git, but input is untrusted: never loop forever.
            if chain.len() > self.len() {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A change with a readable fake sha (`name` padded with zeros to 40 hex digits is not
    /// needed: the graph treats shas as opaque text except for abbreviation lookups).
    pub fn change(sha: &str, parents: &[&str], author_time: Timestamp) -> Change {
        Change {
            sha: sha.to_string(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author_time,
            committer_time: author_time,
            author_name: "a".into(),
            author_email: "a@example.com".into(),
            subject: format!("commit {sha}"),
            reverts: None,
        }
    }

    #[test]
    fn builds_parents_and_drops_unknown_ones() {
        let graph = CommitGraph::from_changes(&[
            change("aa01", &[], 1),
            change("bb02", &["aa01", "ffff"], 2),
            change("cc03", &["bb02", "aa01"], 3),
        ]);
        assert_eq!(graph.len(), 3);
        assert_eq!(graph.parents(1), &[0]);
        assert_eq!(graph.parents(2), &[1, 0]);
        assert!(graph.is_merge(2));
        assert!(
            graph.is_merge(1),
            "a merge stays a merge even when a parent is unknown"
        );
        assert_eq!(graph.first_parent_chain(2), vec![2, 1, 0]);
    }

    #[test]
    fn resolves_abbreviations() {
        let graph = CommitGraph::from_changes(&[
            change("abcd1234", &[], 1),
            change("abcd9999", &[], 1),
            change("ef012345", &[], 1),
        ]);
        assert_eq!(graph.resolve("EF01"), Ok(2));
        assert_eq!(graph.resolve("abcd1"), Ok(0));
        assert_eq!(
            graph.resolve("abcd"),
            Err(ResolveError::Ambiguous("abcd".into()))
        );
        assert_eq!(
            graph.resolve("0123"),
            Err(ResolveError::NotFound("0123".into()))
        );
        assert_eq!(
            graph.resolve("xyz!"),
            Err(ResolveError::Malformed("xyz!".into()))
        );
        assert_eq!(
            graph.resolve("ab"),
            Err(ResolveError::Malformed("ab".into()))
        );
    }
}
