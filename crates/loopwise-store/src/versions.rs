//! Write scopes and their versions: how a report cache knows what is still fresh.
//!
//! Every write that changes what reports read bumps the version of its scope, so a cached
//! graph, deployment list or analysis is reused exactly as long as its scope's version is the
//! one it was built under. Scopes are named by these functions; backends and readers never
//! spell them out themselves.

use crate::export::ExportRecord;
use crate::{EventOutcome, WriteCounts};
use loopwise_core::events::Event;
use std::collections::{BTreeMap, BTreeSet};

/// Scope name → version.
pub type WriteVersions = BTreeMap<String, i64>;

const REPOSITORY_PREFIX: &str = "repository:";
const DEPLOYMENTS_PREFIX: &str = "deployments:";

/// The commits, tags and path answers of the repository at `locator`.
pub fn repository(locator: &str) -> String {
    format!("{REPOSITORY_PREFIX}{locator}")
}

/// The deployments of one service.
pub fn deployments(service: &str) -> String {
    format!("{DEPLOYMENTS_PREFIX}{service}")
}

/// Every incident (they are few; one scope for all).
pub const INCIDENTS: &str = "incidents";

/// The services with a deployments scope, in byte order.
pub fn services(versions: &WriteVersions) -> impl Iterator<Item = &str> {
    versions
        .keys()
        .filter_map(|scope| scope.strip_prefix(DEPLOYMENTS_PREFIX))
}

/// The version of a scope; 0 when it was never written.
pub fn version_of(versions: &WriteVersions, scope: &str) -> i64 {
    versions.get(scope).copied().unwrap_or(0)
}

/// The scope an event's write changed, if it changed anything reports read. A deployment
/// whose update moved it from another service also changes that service: backends add it.
pub fn scope_of_event(event: &Event, outcome: EventOutcome) -> Option<String> {
    if outcome == EventOutcome::Unchanged {
        return None;
    }
    match event {
        Event::Change(pushed) => Some(repository(&pushed.repository)),
        Event::Deployment(deployment) => Some(deployments(&deployment.service)),
        Event::Incident(_) => Some(INCIDENTS.to_string()),
        Event::PullRequest(_)
        | Event::PullRequestReview(_)
        | Event::CiRun(_)
        | Event::FlagChange(_) => None,
    }
}

/// The scope an imported record's write changed, under the same rule.
pub fn scope_of_record(record: &ExportRecord, outcome: EventOutcome) -> Option<String> {
    if outcome == EventOutcome::Unchanged {
        return None;
    }
    match record {
        ExportRecord::Change(record) => Some(repository(&record.repository)),
        ExportRecord::Tag(record) => Some(repository(&record.repository)),
        ExportRecord::PathTouch(record) => Some(repository(&record.repository)),
        ExportRecord::Deployment { deployment } => Some(deployments(&deployment.service)),
        ExportRecord::Incident { .. } => Some(INCIDENTS.to_string()),
        ExportRecord::Repository(_)
        | ExportRecord::PullRequest { .. }
        | ExportRecord::PullRequestReview { .. }
        | ExportRecord::CiRun { .. }
        | ExportRecord::FlagChange { .. }
        | ExportRecord::Delivery(_)
        | ExportRecord::Token(_) => None,
    }
}

/// The scope a git import changed: the repository's, when it stored or upgraded a commit,
/// changed the tag set, or stored a new or different answer to a path question (which commits
/// touch a service's paths: reports derived from the old answers are stale).
pub fn scope_of_git_import(
    locator: &str,
    tags_or_paths_changed: bool,
    counts: &WriteCounts,
) -> Option<String> {
    (tags_or_paths_changed || counts.inserted + counts.updated > 0).then(|| repository(locator))
}

/// Collects the scopes of a batch's writes.
pub fn scopes_of_events(events: &[Event], outcomes: &[EventOutcome]) -> BTreeSet<String> {
    events
        .iter()
        .zip(outcomes)
        .filter_map(|(event, outcome)| scope_of_event(event, *outcome))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_read_back_from_their_scopes() {
        let mut versions = WriteVersions::new();
        versions.insert(deployments("web"), 2);
        versions.insert(deployments("api"), 1);
        versions.insert(repository("acme/api"), 7);
        versions.insert(INCIDENTS.to_string(), 3);
        assert_eq!(services(&versions).collect::<Vec<_>>(), ["api", "web"]);
        assert_eq!(version_of(&versions, &repository("acme/api")), 7);
        assert_eq!(version_of(&versions, &repository("acme/web")), 0);
    }
}
