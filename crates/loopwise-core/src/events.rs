//! The delivery events every source is normalised into: webhooks, the generic events API, CI
//! `record` calls and file imports all produce these, and the store keeps them by
//! (source, kind, id), so the same event arriving twice is stored once.

use crate::entities::{Change, Deployment, Source};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a pull (or merge) request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestState {
    Open,
    Closed,
    Merged,
}

/// A pull request (GitHub) or merge request (GitLab): optional enrichment of lead time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub source: Source,
    /// `owner/name` (GitHub) or the project path (GitLab).
    pub repository: String,
    pub number: u64,
    pub title: String,
    pub author: String,
    pub state: PullRequestState,
    pub created_at: Timestamp,
    pub merged_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// The commit the merge put on the base branch (a merge, squash or rebase result).
    pub merge_sha: Option<String>,
    pub head_sha: Option<String>,
    pub base_branch: Option<String>,
    pub additions: Option<u64>,
    pub deletions: Option<u64>,
}

impl PullRequest {
    /// This (stored) pull request brought up to date by a newer snapshot of it. Sources send
    /// whole snapshots, but not every snapshot carries every fact: a later edit of a merged
    /// request may lack its merge time. So facts once known are kept, and merged is final.
    pub fn updated_with(&self, newer: &PullRequest) -> PullRequest {
        let mut merged = newer.clone();
        merged.created_at = self.created_at.min(newer.created_at);
        merged.merged_at = newer.merged_at.or(self.merged_at);
        merged.closed_at = newer.closed_at.or(self.closed_at);
        merged.merge_sha = newer.merge_sha.clone().or_else(|| self.merge_sha.clone());
        merged.head_sha = newer.head_sha.clone().or_else(|| self.head_sha.clone());
        merged.base_branch = newer
            .base_branch
            .clone()
            .or_else(|| self.base_branch.clone());
        merged.additions = newer.additions.or(self.additions);
        merged.deletions = newer.deletions.or(self.deletions);
        if self.state == PullRequestState::Merged {
            merged.state = PullRequestState::Merged;
        }
        if merged.title.is_empty() {
            merged.title = self.title.clone();
        }
        if merged.author.is_empty() {
            merged.author = self.author.clone();
        }
        merged
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Commented,
    ChangesRequested,
    Approved,
    Dismissed,
}

/// One review of a pull request; a pull request's first review and approval come from these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestReview {
    pub source: Source,
    pub repository: String,
    pub number: u64,
    /// The review's id at its source.
    pub id: String,
    pub reviewer: String,
    pub state: ReviewState,
    pub submitted_at: Timestamp,
}

/// A production incident. Linked to the deployment that caused it explicitly (`caused_by`: a
/// deployment id or a commit sha) or by the linking rule of PRODUCT.md section 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub source: Source,
    pub id: String,
    pub service: Option<String>,
    pub title: String,
    pub severity: Option<String>,
    /// Impact start (or creation when the impact start is unknown).
    pub started_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub caused_by: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    Queued,
    Running,
    Success,
    Failure,
    Cancelled,
    Skipped,
}

/// One attempt of a CI pipeline or workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiRun {
    pub source: Source,
    /// The run's id at its source; re-runs keep it and raise `attempt`.
    pub id: String,
    pub attempt: u32,
    pub repository: String,
    /// The workflow or pipeline name.
    pub pipeline: String,
    pub sha: String,
    pub branch: Option<String>,
    pub status: CiStatus,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub url: Option<String>,
}

/// A commit seen by a push: its parents are known only along the push's own commit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedChange {
    pub repository: String,
    pub branch: Option<String>,
    pub change: Change,
}

/// A feature flag switched on or off, or edited: one entry of the flag's history, the raw
/// material of flag lifecycle tracking (a flag left on everywhere long after release is debt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagChange {
    pub source: Source,
    /// `owner/name` (GitHub) or the project path (GitLab) the flag belongs to.
    pub repository: String,
    /// The flag's id at its source.
    pub flag_id: String,
    /// The flag's key, as code refers to it.
    pub key: String,
    pub description: Option<String>,
    /// Whether the flag is on after this change.
    pub active: bool,
    /// When the change was made; sources that send no time give the delivery's receipt time.
    pub changed_at: Timestamp,
    /// Who made the change (a username), when known.
    pub actor: Option<String>,
}

/// One normalised delivery event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Change(PushedChange),
    PullRequest(PullRequest),
    PullRequestReview(PullRequestReview),
    Deployment(Deployment),
    Incident(Incident),
    CiRun(CiRun),
    FlagChange(FlagChange),
}

impl Event {
    /// The event's kind, as used in idempotency keys and API answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Change(_) => "change",
            Event::PullRequest(_) => "pull_request",
            Event::PullRequestReview(_) => "pull_request_review",
            Event::Deployment(_) => "deployment",
            Event::Incident(_) => "incident",
            Event::CiRun(_) => "ci_run",
            Event::FlagChange(_) => "flag_change",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(state: PullRequestState) -> PullRequest {
        PullRequest {
            source: Source::Gitlab,
            repository: "acme/api".into(),
            number: 3,
            title: "Faster checkout".into(),
            author: "ada".into(),
            state,
            created_at: 100,
            merged_at: None,
            closed_at: None,
            merge_sha: None,
            head_sha: Some("h1".into()),
            base_branch: Some("main".into()),
            additions: None,
            deletions: None,
        }
    }

    #[test]
    fn a_later_snapshot_never_forgets_a_merge() {
        let mut merged = pull(PullRequestState::Merged);
        merged.merged_at = Some(500);
        merged.merge_sha = Some("m1".into());
        let mut edited = pull(PullRequestState::Closed);
        edited.title = String::new();
        edited.additions = Some(7);
        let updated = merged.updated_with(&edited);
        assert_eq!(updated.state, PullRequestState::Merged);
        assert_eq!(updated.merged_at, Some(500));
        assert_eq!(updated.merge_sha.as_deref(), Some("m1"));
        assert_eq!(updated.title, "Faster checkout");
        assert_eq!(updated.additions, Some(7));
        // Updating with the same snapshot changes nothing.
        assert_eq!(merged.updated_with(&merged), merged);
    }
}
