//! The behaviour every backend must show, as plain functions over `&dyn Store`.
//!
//! A backend's integration tests call [`store_conformance_tests!`] with an expression that makes
//! a fresh, empty store (anything that dereferences to one); each check then runs as its own
//! test. The expression may `return` from the test to skip it.

use crate::export::ExportRecord;
use crate::{
    Delivery, DeploymentFilter, DeploymentScope, Derived, EventOutcome, GitImport,
    GitImportMessage, ImportCounts, PathTouch, Store, StoreError, TokenScope, WriteCounts,
};
use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source, Tag};
use loopwise_core::events::{
    CiRun, CiStatus, Event, FlagChange, Incident, PullRequest, PullRequestReview, PullRequestState,
    PushedChange, ReviewState,
};
use std::sync::Arc;

/// Generates one `#[test]` per conformance check.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make_store:expr) => {
        $crate::store_conformance_tests!(@tests $make_store;
            repositories_are_registered_once,
            changes_round_trip_and_insert_once,
            changes_are_found_by_sha,
            tags_are_replaced_as_a_set,
            path_touches_are_cached_per_key,
            deployments_upsert_by_source_and_id,
            deployment_scope_replaces_only_its_own_rows,
            deployments_are_filtered_and_ordered,
            repositories_are_isolated,
            an_unfinished_import_stream_writes_nothing,
            an_import_stream_commits_all_batches_together,
            an_aborted_import_registers_no_repository,
            events_are_stored_once_and_updates_are_told_apart,
            deployment_events_tell_every_changed_column,
            a_redelivered_webhook_changes_nothing,
            tokens_are_created_listed_found_and_revoked,
            flag_changes_are_a_history_stored_once,
            git_history_wins_over_pushed_commits,
            the_schema_version_is_known,
            an_export_streams_every_entity_in_canonical_order,
            an_import_restores_an_export_and_is_idempotent,
            an_import_merges_with_what_is_stored,
            a_failed_import_writes_nothing,
            write_versions_grow_with_every_write_reports_read,
            derived_blobs_are_kept_apart_from_what_reports_read,
        );
    };
    (@tests $make_store:expr; $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                // Anything that dereferences to a store: a `Box`, or a backend's test database.
                let store = $make_store;
                $crate::conformance::$check(&*store);
            }
        )+
    };
}

pub fn change(sha: &str, parents: &[&str], time: i64) -> Change {
    Change {
        sha: sha.to_string(),
        parents: parents.iter().map(|p| p.to_string()).collect(),
        author_time: time,
        committer_time: time + 5,
        author_name: "Ada Lovelace".into(),
        author_email: "ada@example.com".into(),
        subject: format!("Change {sha} with 'quotes' & ünïcode"),
        reverts: None,
    }
}

pub fn deployment(
    source: Source,
    id: &str,
    service: &str,
    environment: &str,
    time: i64,
) -> Deployment {
    Deployment {
        source,
        id: id.to_string(),
        service: service.to_string(),
        environment: environment.to_string(),
        sha: "a".repeat(40),
        started_at: Some(time - 60),
        finished_at: Some(time),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    }
}

/// A pull request from GitHub by ada, merged into main; a check sets what else it needs.
fn pull_request(repository: &str, number: u64, created_at: i64, merged_at: i64) -> PullRequest {
    PullRequest {
        source: Source::Github,
        repository: repository.into(),
        number,
        title: String::new(),
        author: "ada".into(),
        state: PullRequestState::Merged,
        created_at,
        merged_at: Some(merged_at),
        closed_at: Some(merged_at),
        merge_sha: None,
        head_sha: None,
        base_branch: Some("main".into()),
        additions: None,
        deletions: None,
    }
}

/// bob's approval `r1` of a pull request.
fn approval(repository: &str, number: u64, submitted_at: i64) -> PullRequestReview {
    PullRequestReview {
        source: Source::Github,
        repository: repository.into(),
        number,
        id: "r1".into(),
        reviewer: "bob".into(),
        state: ReviewState::Approved,
        submitted_at,
    }
}

/// An open incident of a service, from the API, with no details; a check sets what it needs.
pub fn incident(id: &str, service: &str, started_at: i64) -> Incident {
    Incident {
        source: Source::Api,
        id: id.into(),
        service: Some(service.into()),
        title: String::new(),
        severity: None,
        started_at,
        acknowledged_at: None,
        resolved_at: None,
        caused_by: None,
        url: None,
    }
}

/// A git import of `new_changes` alone: no tags, no path answers.
pub fn git_import<'a>(locator: &'a str, new_changes: &'a [Change]) -> GitImport<'a> {
    GitImport {
        locator,
        new_changes,
        tags: &[],
        path_touches: &[],
    }
}

fn sorted_changes(store: &dyn Store, repository: i64) -> Vec<Change> {
    let mut changes = store.changes(repository).unwrap();
    changes.sort_by(|a, b| a.sha.cmp(&b.sha));
    changes
}

pub fn repositories_are_registered_once(store: &dyn Store) {
    let first = store.repository("/srv/git/app.git").unwrap();
    let again = store.repository("/srv/git/app.git").unwrap();
    let other = store.repository("/srv/git/other.git").unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(store.counts().unwrap().repositories, 2);
}

pub fn changes_round_trip_and_insert_once(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let mut revert = change("c3", &["b2"], 300);
    revert.reverts = Some("b2".into());
    let merge = change("m4", &["c3", "b2"], 400);
    let batch = vec![
        change("a1", &[], 100),
        change("b2", &["a1"], 200),
        revert,
        merge,
    ];
    let import = git_import("repo", &batch);
    let counts = store.apply_git_import(import).unwrap();
    assert_eq!(
        counts,
        WriteCounts {
            inserted: 4,
            ..WriteCounts::default()
        }
    );
    assert_eq!(sorted_changes(store, repository), batch);
    // The same batch again stores nothing twice.
    let counts = store.apply_git_import(import).unwrap();
    assert_eq!(
        counts,
        WriteCounts {
            unchanged: 4,
            ..WriteCounts::default()
        }
    );
    assert_eq!(store.counts().unwrap().changes, 4);
}

pub fn changes_are_found_by_sha(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let other = store.repository("other").unwrap();
    let mut revert = change("c3", &["b2"], 300);
    revert.reverts = Some("b2".into());
    let batch = [change("a1", &[], 100), change("b2", &["a1"], 200), revert];
    for locator in ["repo", "other"] {
        store
            .apply_git_import(git_import(
                locator,
                &batch[..if locator == "repo" { 3 } else { 1 }],
            ))
            .unwrap();
    }
    let wanted: Vec<String> = ["c3", "a1", "zz"].map(String::from).to_vec();
    let mut found = store.changes_by_sha(repository, &wanted).unwrap();
    found.sort_by(|a, b| a.sha.cmp(&b.sha));
    assert_eq!(found, vec![batch[0].clone(), batch[2].clone()]);
    // Only the asked repository's commits.
    let found = store.changes_by_sha(other, &wanted).unwrap();
    assert_eq!(found, vec![batch[0].clone()]);
    assert!(store.changes_by_sha(repository, &[]).unwrap().is_empty());
}

pub fn tags_are_replaced_as_a_set(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let tag = |name: &str, commit: &str, time: i64, annotated: bool| Tag {
        name: name.into(),
        commit: commit.into(),
        time,
        annotated,
    };
    let first = vec![tag("v1.0", "a1", 10, true), tag("v1.1", "b2", 20, false)];
    // Then v1.0 moved, v1.1 deleted, v2.0 added.
    let second = vec![tag("v1.0", "c3", 30, true), tag("v2.0", "d4", 40, true)];
    for tags in [first, second] {
        let import = GitImport {
            tags: &tags,
            ..git_import("repo", &[])
        };
        store.apply_git_import(import).unwrap();
        assert_eq!(store.tags(repository).unwrap(), tags);
    }
}

pub fn path_touches_are_cached_per_key(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let touch = |key: &str, sha: &str, touched: bool| PathTouch {
        paths_key: key.into(),
        sha: sha.into(),
        touched,
    };
    let touches = vec![
        touch("api", "a1", true),
        touch("api", "b2", false),
        touch("web", "a1", false),
    ];
    let import = GitImport {
        path_touches: &touches,
        ..git_import("repo", &[])
    };
    store.apply_git_import(import).unwrap();
    store.apply_git_import(import).unwrap();
    let api = store.path_touches(repository, "api").unwrap();
    assert_eq!(api.len(), 2);
    assert_eq!(api.get("a1"), Some(&true));
    assert_eq!(api.get("b2"), Some(&false));
    assert_eq!(store.path_touches(repository, "web").unwrap().len(), 1);
    assert!(store.path_touches(repository, "docs").unwrap().is_empty());
}

pub fn deployments_upsert_by_source_and_id(store: &dyn Store) {
    let first = deployment(Source::Import, "d1", "api", "production", 1_000);
    let counts = store
        .upsert_deployments(std::slice::from_ref(&first), None)
        .unwrap();
    assert_eq!(counts.inserted, 1);
    let counts = store
        .upsert_deployments(std::slice::from_ref(&first), None)
        .unwrap();
    assert_eq!(
        counts,
        WriteCounts {
            unchanged: 1,
            ..WriteCounts::default()
        }
    );
    // Same id from another source is another deployment.
    let other_source = deployment(Source::Api, "d1", "api", "production", 1_000);
    assert_eq!(
        store
            .upsert_deployments(&[other_source], None)
            .unwrap()
            .inserted,
        1
    );
    // A changed record under the same identity is updated, not duplicated.
    let mut failed = first.clone();
    failed.status = DeploymentStatus::Failure;
    failed.kind = DeploymentKind::Hotfix;
    failed.started_at = None;
    assert_eq!(
        store
            .upsert_deployments(std::slice::from_ref(&failed), None)
            .unwrap()
            .updated,
        1
    );
    let stored = store
        .deployments(&DeploymentFilter {
            source: Some(Source::Import),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(stored, vec![failed]);
    assert_eq!(store.counts().unwrap().deployments, 2);
}

pub fn deployment_scope_replaces_only_its_own_rows(store: &dyn Store) {
    let keep_other_service = deployment(Source::Git, "web:v1", "web", "production", 5);
    let keep_other_source = deployment(Source::Import, "api:x", "api", "production", 6);
    let old = deployment(Source::Git, "api:v1", "api", "production", 7);
    store
        .upsert_deployments(
            &[keep_other_service.clone(), keep_other_source.clone(), old],
            None,
        )
        .unwrap();
    let new = deployment(Source::Git, "api:v2", "api", "production", 8);
    let scope = DeploymentScope {
        source: Source::Git,
        service: "api".into(),
    };
    let counts = store
        .upsert_deployments(std::slice::from_ref(&new), Some(&scope))
        .unwrap();
    assert_eq!((counts.inserted, counts.deleted), (1, 1));
    let all = store.deployments(&DeploymentFilter::default()).unwrap();
    assert_eq!(
        all,
        vec![keep_other_source, new, keep_other_service],
        "by service, environment, time"
    );
}

pub fn deployments_are_filtered_and_ordered(store: &dyn Store) {
    let rows = vec![
        deployment(Source::Import, "3", "api", "production", 30),
        deployment(Source::Import, "1", "api", "production", 10),
        deployment(Source::Import, "2", "api", "staging", 20),
        deployment(Source::Import, "4", "web", "production", 5),
        deployment(Source::Import, "0", "api", "production", 10),
    ];
    store.upsert_deployments(&rows, None).unwrap();
    let api_production = store
        .deployments(&DeploymentFilter {
            service: Some("api".into()),
            environment: Some("production".into()),
            source: None,
        })
        .unwrap();
    let ids: Vec<&str> = api_production.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, vec!["0", "1", "3"], "ordered by time, then id");
    let all = store.deployments(&DeploymentFilter::default()).unwrap();
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, vec!["0", "1", "3", "2", "4"]);
}

pub fn repositories_are_isolated(store: &dyn Store) {
    let one = store.repository("one").unwrap();
    let two = store.repository("two").unwrap();
    let batch = [change("a1", &[], 1)];
    store.apply_git_import(git_import("one", &batch)).unwrap();
    let counts = store.apply_git_import(git_import("two", &batch)).unwrap();
    assert_eq!(
        counts.inserted, 1,
        "the same sha in another repository is another row"
    );
    assert_eq!(store.changes(one).unwrap().len(), 1);
    assert_eq!(store.changes(two).unwrap().len(), 1);
}

pub fn an_unfinished_import_stream_writes_nothing(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let tags = vec![Tag {
        name: "v1".into(),
        commit: "a1".into(),
        time: 1,
        annotated: false,
    }];
    store
        .apply_git_import(GitImport {
            tags: &tags,
            ..git_import("repo", &[change("a1", &[], 1)])
        })
        .unwrap();
    // The producer fails after one batch: the stream ends without a commit message.
    let mut messages = vec![GitImportMessage::Changes(Arc::new(vec![change(
        "b2",
        &["a1"],
        2,
    )]))]
    .into_iter();
    assert_eq!(
        store.import_git_stream("repo", &mut messages).unwrap(),
        None
    );
    assert_eq!(
        sorted_changes(store, repository),
        vec![change("a1", &[], 1)]
    );
    assert_eq!(
        store.tags(repository).unwrap(),
        tags,
        "the stored tags are untouched"
    );
    // The store is usable afterwards.
    assert_eq!(store.counts().unwrap().changes, 1);
}

pub fn an_import_stream_commits_all_batches_together(store: &dyn Store) {
    let repository = store.repository("repo").unwrap();
    let mut messages = vec![
        GitImportMessage::Changes(Arc::new(vec![
            change("a1", &[], 1),
            change("b2", &["a1"], 2),
        ])),
        GitImportMessage::Changes(Arc::new(vec![
            change("b2", &["a1"], 2),
            change("c3", &["b2"], 3),
        ])),
        GitImportMessage::Commit {
            tags: vec![],
            path_touches: vec![],
        },
    ]
    .into_iter();
    let counts = store
        .import_git_stream("repo", &mut messages)
        .unwrap()
        .unwrap();
    assert_eq!((counts.inserted, counts.unchanged), (3, 1));
    assert_eq!(store.changes(repository).unwrap().len(), 3);
}

pub fn an_aborted_import_registers_no_repository(store: &dyn Store) {
    assert_eq!(store.find_repository("new").unwrap(), None);
    let mut messages = vec![GitImportMessage::Changes(Arc::new(vec![change(
        "a1",
        &[],
        1,
    )]))]
    .into_iter();
    assert_eq!(store.import_git_stream("new", &mut messages).unwrap(), None);
    assert_eq!(store.find_repository("new").unwrap(), None);
    assert_eq!(store.counts().unwrap().repositories, 0);
    let mut messages = vec![
        GitImportMessage::Changes(Arc::new(vec![change("a1", &[], 1)])),
        GitImportMessage::Commit {
            tags: vec![],
            path_touches: vec![],
        },
    ]
    .into_iter();
    store
        .import_git_stream("new", &mut messages)
        .unwrap()
        .unwrap();
    let id = store
        .find_repository("new")
        .unwrap()
        .expect("registered by the import");
    assert_eq!(store.repository("new").unwrap(), id);
    assert_eq!(store.changes(id).unwrap().len(), 1);
}

fn sample_events() -> Vec<Event> {
    vec![
        Event::Change(PushedChange {
            repository: "octo/api".into(),
            branch: Some("main".into()),
            change: change("c1", &["c0"], 100),
        }),
        Event::PullRequest(PullRequest {
            title: "Add <thing> & more".into(),
            merge_sha: Some("c1".into()),
            head_sha: Some("h1".into()),
            additions: Some(10),
            ..pull_request("octo/api", 7, 50, 90)
        }),
        Event::PullRequestReview(approval("octo/api", 7, 80)),
        Event::Deployment(deployment(Source::Github, "d1", "api", "production", 200)),
        Event::Incident(Incident {
            title: "Checkout down".into(),
            severity: Some("sev1".into()),
            caused_by: Some("d1".into()),
            ..incident("inc-1", "api", 300)
        }),
        Event::CiRun(CiRun {
            source: Source::Github,
            id: "run-1".into(),
            attempt: 1,
            repository: "octo/api".into(),
            pipeline: "CI".into(),
            sha: "c1".into(),
            branch: Some("main".into()),
            status: CiStatus::Success,
            started_at: Some(60),
            finished_at: Some(70),
            url: None,
        }),
    ]
}

pub fn events_are_stored_once_and_updates_are_told_apart(store: &dyn Store) {
    let events = sample_events();
    let outcomes = store.apply_events(&events).unwrap();
    assert_eq!(outcomes, vec![EventOutcome::Inserted; events.len()]);
    let again = store.apply_events(&events).unwrap();
    assert_eq!(
        again,
        vec![EventOutcome::Unchanged; events.len()],
        "re-sending stores nothing twice"
    );

    let Event::Incident(mut incident) = events[4].clone() else {
        unreachable!()
    };
    incident.resolved_at = Some(900);
    let Event::CiRun(mut rerun) = events[5].clone() else {
        unreachable!()
    };
    rerun.attempt = 2;
    rerun.status = CiStatus::Failure;
    let outcomes = store
        .apply_events(&[
            Event::Incident(incident.clone()),
            Event::CiRun(rerun.clone()),
        ])
        .unwrap();
    assert_eq!(
        outcomes,
        vec![EventOutcome::Updated, EventOutcome::Inserted],
        "a re-run is a new attempt"
    );

    assert_eq!(store.incidents(Some("api")).unwrap(), vec![incident]);

    // A later snapshot of a merged pull request without its merge facts keeps them.
    let Event::PullRequest(mut edited) = events[1].clone() else {
        unreachable!()
    };
    edited.state = PullRequestState::Closed;
    edited.merged_at = None;
    edited.merge_sha = None;
    edited.title = "Renamed".into();
    assert_eq!(
        store.apply_events(&[Event::PullRequest(edited)]).unwrap(),
        vec![EventOutcome::Updated]
    );
    let kept = store.pull_requests(Some("octo/api")).unwrap().remove(0);
    assert_eq!(
        (kept.state, kept.merged_at, kept.title.as_str()),
        (PullRequestState::Merged, Some(90), "Renamed")
    );
    let Event::PullRequest(original) = &events[1] else {
        unreachable!()
    };
    let mut restored = original.clone();
    restored.title = "Add <thing> & more".into();
    store.apply_events(&[Event::PullRequest(restored)]).unwrap();
    assert!(store.incidents(Some("web")).unwrap().is_empty());
    let Event::PullRequest(pull) = &events[1] else {
        unreachable!()
    };
    assert_eq!(
        store.pull_requests(Some("octo/api")).unwrap(),
        vec![pull.clone()]
    );
    let Event::PullRequestReview(review) = &events[2] else {
        unreachable!()
    };
    assert_eq!(
        store.pull_request_reviews("octo/api", 7).unwrap(),
        vec![review.clone()]
    );
    let Event::CiRun(first) = &events[5] else {
        unreachable!()
    };
    assert_eq!(store.ci_runs("c1").unwrap(), vec![first.clone(), rerun]);
    let repository = store
        .find_repository("octo/api")
        .unwrap()
        .expect("a push registers its repository");
    assert_eq!(store.changes(repository).unwrap().len(), 1);
    assert_eq!(store.counts().unwrap().deployments, 1);
}

pub fn flag_changes_are_a_history_stored_once(store: &dyn Store) {
    let change = |repository: &str, key: &str, active: bool, at: i64| FlagChange {
        source: Source::Gitlab,
        repository: repository.into(),
        flag_id: format!("{key}-id"),
        key: key.into(),
        description: None,
        active,
        changed_at: at,
        actor: Some("ada".into()),
    };
    let on = change("acme/api", "new-checkout", true, 100);
    let off = change("acme/api", "new-checkout", false, 200);
    let other = change("acme/web", "dark-mode", true, 150);
    let events: Vec<Event> = [&off, &other, &on]
        .into_iter()
        .map(|flag| Event::FlagChange(flag.clone()))
        .collect();
    assert_eq!(
        store.apply_events(&events).unwrap(),
        vec![EventOutcome::Inserted; 3]
    );
    assert_eq!(
        store.apply_events(&events).unwrap(),
        vec![EventOutcome::Unchanged; 3]
    );
    // The same change reported again with a new description is an update, not a new entry.
    let mut described = on.clone();
    described.description = Some("Checkout v2".into());
    assert_eq!(
        store
            .apply_events(&[Event::FlagChange(described.clone())])
            .unwrap(),
        vec![EventOutcome::Updated]
    );
    assert_eq!(
        store.flag_changes(Some("acme/api")).unwrap(),
        vec![described.clone(), off.clone()],
        "one repository's history, in time order"
    );
    assert_eq!(
        store.flag_changes(None).unwrap(),
        vec![described, off, other]
    );
    assert!(store.flag_changes(Some("acme/none")).unwrap().is_empty());
}

/// Each column of a deployment, changed alone, makes a re-sent event `Updated`; sending the
/// same content again is `Unchanged`; within one batch the outcomes follow the order.
pub fn deployment_events_tell_every_changed_column(store: &dyn Store) {
    let base = deployment(Source::Api, "d1", "api", "production", 1_000);
    let apply = |deployments: &[&Deployment]| {
        let events: Vec<Event> = deployments
            .iter()
            .map(|d| Event::Deployment((*d).clone()))
            .collect();
        store.apply_events(&events).unwrap()
    };
    use EventOutcome::{Inserted, Unchanged, Updated};
    assert_eq!(apply(&[&base, &base]), [Inserted, Unchanged]);
    type Edit = fn(&mut Deployment);
    let edits: Vec<(&str, Edit)> = vec![
        ("service", |d| d.service = "api-v2".into()),
        ("environment", |d| d.environment = "staging".into()),
        ("sha", |d| d.sha = "b".repeat(40)),
        ("started_at to none", |d| d.started_at = None),
        ("started_at from none", |d| d.started_at = Some(900)),
        ("finished_at", |d| d.finished_at = Some(1_001)),
        ("finished_at to none", |d| d.finished_at = None),
        ("status", |d| d.status = DeploymentStatus::Failure),
        ("kind", |d| d.kind = DeploymentKind::Rollback),
        ("kind again", |d| d.kind = DeploymentKind::Hotfix),
    ];
    let mut current = base.clone();
    for (what, edit) in edits {
        edit(&mut current);
        assert_eq!(apply(&[&current]), [Updated], "{what}");
        assert_eq!(apply(&[&current]), [Unchanged], "{what}, sent again");
        let stored = store
            .deployments(&DeploymentFilter {
                source: Some(Source::Api),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(stored, vec![current.clone()], "{what}");
    }
    let other = deployment(Source::Api, "d2", "api", "production", 2_000);
    let mut back = current.clone();
    back.service = "api".into();
    assert_eq!(
        apply(&[&other, &current, &back, &back, &other]),
        [Inserted, Unchanged, Updated, Unchanged, Unchanged]
    );
    assert_eq!(store.counts().unwrap().deployments, 2);
}

pub fn a_redelivered_webhook_changes_nothing(store: &dyn Store) {
    let delivery = Delivery {
        source: Source::Github,
        id: "guid-1".into(),
        event: "push".into(),
        received_at: 5,
    };
    let events = sample_events();
    let first = store.apply_delivery(&delivery, &events).unwrap();
    assert_eq!(first.map(|o| o.len()), Some(events.len()));
    assert_eq!(store.apply_delivery(&delivery, &events).unwrap(), None);
    // The same id from another source is another delivery.
    let gitlab = Delivery {
        source: Source::Gitlab,
        ..delivery
    };
    assert_eq!(store.apply_delivery(&gitlab, &[]).unwrap(), Some(vec![]));
}

pub fn tokens_are_created_listed_found_and_revoked(store: &dyn Store) {
    let ci = store
        .create_token("ci", TokenScope::Ingest, "hash-ci", 10)
        .unwrap();
    let admin = store
        .create_token("admin", TokenScope::Admin, "hash-admin", 11)
        .unwrap();
    assert_ne!(ci.id, admin.id);
    assert!(matches!(
        store.create_token("ci", TokenScope::Read, "hash-other", 12),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.token_by_hash("hash-ci").unwrap(), Some(ci.clone()));
    assert_eq!(store.token_by_hash("nope").unwrap(), None);
    assert!(store.revoke_token("ci", 20).unwrap());
    assert!(
        !store.revoke_token("ci", 21).unwrap(),
        "revoking twice changes nothing"
    );
    assert!(!store.revoke_token("missing", 21).unwrap());
    assert_eq!(
        store.token_by_hash("hash-ci").unwrap(),
        None,
        "a revoked token no longer authenticates"
    );
    let listed = store.tokens().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at, Some(20));
    assert_eq!(listed[1], admin);
    assert!(TokenScope::Admin.allows(TokenScope::Ingest));
    assert!(!TokenScope::Read.allows(TokenScope::Ingest));
}

pub fn git_history_wins_over_pushed_commits(store: &dyn Store) {
    let push = |sha: &str, parents: &[&str], time: i64| {
        let mut change = change(sha, parents, time);
        // A push payload has one time per commit and a shortened view of it.
        change.committer_time = time;
        change.subject = format!("pushed {sha}");
        Event::Change(PushedChange {
            repository: "acme/api".into(),
            branch: Some("main".into()),
            change,
        })
    };
    // A push that created the branch: b2's parent a1 is not in the payload.
    let delivery = Delivery {
        source: Source::Github,
        id: "push-1".into(),
        event: "push".into(),
        received_at: 1,
    };
    let outcomes = store
        .apply_delivery(&delivery, &[push("b2", &[], 200), push("c3", &["b2"], 300)])
        .unwrap();
    assert_eq!(outcomes, Some(vec![EventOutcome::Inserted; 2]));
    let repository = store.find_repository("acme/api").unwrap().unwrap();
    assert!(
        store.git_change_shas(repository).unwrap().is_empty(),
        "pushed commits are not git history, so a walk must not stop at them"
    );
    assert_eq!(store.pushed_change_count(repository).unwrap(), 2);

    // The mirror's import brings the whole graph: a1 is new, b2 and c3 take git's fields.
    let history = vec![
        change("a1", &[], 100),
        change("b2", &["a1"], 200),
        change("c3", &["b2"], 300),
    ];
    let import = git_import("acme/api", &history);
    let counts = store.apply_git_import(import).unwrap();
    assert_eq!(
        (counts.inserted, counts.updated, counts.unchanged),
        (1, 2, 0)
    );
    assert_eq!(sorted_changes(store, repository), history);
    let mut shas = store.git_change_shas(repository).unwrap();
    shas.sort();
    assert_eq!(shas, vec!["a1", "b2", "c3"]);
    assert_eq!(store.pushed_change_count(repository).unwrap(), 0);

    // Re-importing changes nothing; a later push of the same commits never downgrades them,
    // through a webhook or the events API.
    let counts = store.apply_git_import(import).unwrap();
    assert_eq!(
        (counts.inserted, counts.updated, counts.unchanged),
        (0, 0, 3)
    );
    let again = Delivery {
        id: "push-2".into(),
        ..delivery
    };
    assert_eq!(
        store
            .apply_delivery(&again, &[push("b2", &[], 200)])
            .unwrap(),
        Some(vec![EventOutcome::Unchanged])
    );
    assert_eq!(
        store.apply_events(&[push("c3", &[], 300)]).unwrap(),
        vec![EventOutcome::Unchanged]
    );
    assert_eq!(sorted_changes(store, repository), history);
    assert_eq!(store.pushed_change_count(repository).unwrap(), 0);
    assert_eq!(store.counts().unwrap().changes, 3);

    // A commit pushed after the import is the one pushed-only commit until the next fetch.
    store.apply_events(&[push("d4", &["c3"], 400)]).unwrap();
    assert_eq!(store.pushed_change_count(repository).unwrap(), 1);
    assert_eq!(store.git_change_shas(repository).unwrap().len(), 3);
}

pub fn the_schema_version_is_known(store: &dyn Store) {
    assert!(store.schema_version().unwrap() >= 1);
}

/// One record of every kind, in the canonical export order, as [`populate_every_kind`] stores
/// them through the ordinary write methods.
pub fn sample_export() -> Vec<ExportRecord> {
    use crate::export::{
        ChangeRecord, DeliveryRecord, PathTouchRecord, RepositoryRecord, TagRecord, TokenRecord,
    };
    let app = "/srv/git/app";
    let api = "acme/api";
    let mut pushed = change("c3", &["b2"], 300);
    pushed.reverts = Some("b2".into());
    let ci_run = |attempt: u32, status: CiStatus| CiRun {
        source: Source::Github,
        id: "run-5".into(),
        attempt,
        repository: api.into(),
        pipeline: "CI".into(),
        sha: "c3".into(),
        branch: Some("main".into()),
        status,
        started_at: Some(310 + i64::from(attempt)),
        finished_at: Some(320 + i64::from(attempt)),
        url: Some("https://ci.example.com/run-5".into()),
    };
    let flag_change = |time: i64, active: bool| FlagChange {
        source: Source::Api,
        repository: api.into(),
        flag_id: "f1".into(),
        key: "new-checkout".into(),
        description: None,
        active,
        changed_at: time,
        actor: Some("ada".into()),
    };
    let mut failed = deployment(Source::Github, "gh-9", "api", "staging", 500);
    failed.status = DeploymentStatus::Failure;
    failed.started_at = None;
    vec![
        ExportRecord::Repository(RepositoryRecord {
            locator: app.into(),
        }),
        ExportRecord::Repository(RepositoryRecord {
            locator: api.into(),
        }),
        ExportRecord::Change(ChangeRecord {
            repository: app.into(),
            source: Source::Git,
            change: change("a1", &[], 100),
        }),
        ExportRecord::Change(ChangeRecord {
            repository: app.into(),
            source: Source::Git,
            change: change("b2", &["a1"], 200),
        }),
        ExportRecord::Change(ChangeRecord {
            repository: api.into(),
            source: Source::Github,
            change: pushed,
        }),
        ExportRecord::Change(ChangeRecord {
            repository: api.into(),
            source: Source::Api,
            change: change("d4", &["c3"], 400),
        }),
        ExportRecord::Tag(TagRecord {
            repository: app.into(),
            tag: Tag {
                name: "v1.0.0".into(),
                commit: "b2".into(),
                time: 205,
                annotated: true,
            },
        }),
        ExportRecord::PathTouch(PathTouchRecord {
            repository: app.into(),
            paths_key: "services/api".into(),
            sha: "a1".into(),
            touched: true,
        }),
        ExportRecord::PathTouch(PathTouchRecord {
            repository: app.into(),
            paths_key: "services/api".into(),
            sha: "b2".into(),
            touched: false,
        }),
        ExportRecord::Deployment {
            deployment: deployment(Source::Api, "dep-1", "api", "production", 450),
        },
        ExportRecord::Deployment { deployment: failed },
        ExportRecord::PullRequest {
            pull_request: PullRequest {
                title: "Faster checkout".into(),
                merge_sha: Some("c3".into()),
                head_sha: Some("h7".into()),
                additions: Some(12),
                deletions: Some(3),
                ..pull_request(api, 7, 250, 300)
            },
        },
        ExportRecord::PullRequestReview {
            review: approval(api, 7, 280),
        },
        ExportRecord::Incident {
            incident: Incident {
                title: "Checkout down".into(),
                severity: Some("sev1".into()),
                acknowledged_at: Some(610),
                resolved_at: Some(700),
                caused_by: Some("dep-1".into()),
                ..incident("inc-1", "api", 600)
            },
        },
        ExportRecord::CiRun {
            ci_run: ci_run(1, CiStatus::Failure),
        },
        ExportRecord::CiRun {
            ci_run: ci_run(2, CiStatus::Success),
        },
        ExportRecord::FlagChange {
            flag_change: flag_change(100, true),
        },
        ExportRecord::FlagChange {
            flag_change: flag_change(200, false),
        },
        ExportRecord::Delivery(DeliveryRecord {
            source: Source::Github,
            id: "del-1".into(),
            event: "push".into(),
            received_at: 1_000,
        }),
        ExportRecord::Token(TokenRecord {
            name: "ci".into(),
            scope: TokenScope::Ingest,
            hash: "hash-ci".into(),
            created_at: 10,
            revoked_at: None,
        }),
        ExportRecord::Token(TokenRecord {
            name: "old".into(),
            scope: TokenScope::Admin,
            hash: "hash-old".into(),
            created_at: 20,
            revoked_at: Some(30),
        }),
    ]
}

/// Stores what [`sample_export`] lists through the ordinary write methods (tokens first, in
/// another order than the export's, so the export's order is the store's doing).
pub fn populate_every_kind(store: &dyn Store) {
    let records = sample_export();
    store
        .create_token("old", TokenScope::Admin, "hash-old", 20)
        .unwrap();
    store
        .create_token("ci", TokenScope::Ingest, "hash-ci", 10)
        .unwrap();
    assert!(store.revoke_token("old", 30).unwrap());
    let (mut changes, mut tags, mut touches) = (Vec::new(), Vec::new(), Vec::new());
    let mut events = Vec::new();
    let mut delivered = Vec::new();
    for record in &records {
        match record {
            ExportRecord::Change(c) if c.source == Source::Git => changes.push(c.change.clone()),
            ExportRecord::Change(c) => {
                let event = Event::Change(PushedChange {
                    repository: c.repository.clone(),
                    branch: Some("main".into()),
                    change: c.change.clone(),
                });
                if c.source == Source::Github {
                    delivered.push(event);
                } else {
                    events.push(event);
                }
            }
            ExportRecord::Tag(t) => tags.push(t.tag.clone()),
            ExportRecord::PathTouch(p) => touches.push(PathTouch {
                paths_key: p.paths_key.clone(),
                sha: p.sha.clone(),
                touched: p.touched,
            }),
            ExportRecord::Deployment { deployment } => {
                events.push(Event::Deployment(deployment.clone()))
            }
            ExportRecord::PullRequest { pull_request } => {
                events.push(Event::PullRequest(pull_request.clone()))
            }
            ExportRecord::PullRequestReview { review } => {
                events.push(Event::PullRequestReview(review.clone()))
            }
            ExportRecord::Incident { incident } => events.push(Event::Incident(incident.clone())),
            ExportRecord::CiRun { ci_run } => events.push(Event::CiRun(ci_run.clone())),
            ExportRecord::FlagChange { flag_change } => {
                events.push(Event::FlagChange(flag_change.clone()))
            }
            _ => {}
        }
    }
    events.reverse();
    store.apply_events(&events).unwrap();
    for record in records.iter().filter(|r| r.kind() == "delivery") {
        let ExportRecord::Delivery(delivery) = record else {
            unreachable!()
        };
        let stored = store.apply_delivery(&delivery.into(), &delivered).unwrap();
        assert_eq!(stored, Some(vec![EventOutcome::Inserted]));
    }
    store
        .apply_git_import(GitImport {
            locator: "/srv/git/app",
            new_changes: &changes,
            tags: &tags,
            path_touches: &touches,
        })
        .unwrap();
}

fn exported(store: &dyn Store) -> Vec<ExportRecord> {
    let mut records = Vec::new();
    store
        .export(&mut |record| {
            records.push(record);
            Ok(())
        })
        .unwrap();
    records
}

fn import_all(store: &dyn Store, records: &[ExportRecord]) -> Result<ImportCounts, StoreError> {
    store.import(&mut records.iter().cloned().map(Ok))
}

/// Counts of `inserted` for each kind, as [`ImportCounts`] keeps them.
fn inserted_per_kind(records: &[ExportRecord]) -> ImportCounts {
    let mut counts = ImportCounts::default();
    for record in records {
        counts.add(record.kind(), EventOutcome::Inserted);
    }
    counts
}

pub fn an_export_streams_every_entity_in_canonical_order(store: &dyn Store) {
    assert_eq!(exported(store), [], "an empty store exports nothing");
    populate_every_kind(store);
    let records = exported(store);
    assert_eq!(records, sample_export());
    let kinds: Vec<&str> = records.iter().map(ExportRecord::kind).collect();
    let mut distinct = kinds.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        ExportRecord::KINDS,
        "every kind, once each, in order"
    );
    // A failing sink stops the export with its error.
    let mut seen = 0;
    let error = store
        .export(&mut |_| {
            seen += 1;
            Err(StoreError::Database("disk full".into()))
        })
        .unwrap_err();
    assert_eq!(error.to_string(), "database error: disk full");
    assert_eq!(seen, 1);
}

pub fn an_import_restores_an_export_and_is_idempotent(store: &dyn Store) {
    let records = sample_export();
    let counts = import_all(store, &records).unwrap();
    assert_eq!(counts, inserted_per_kind(&records));
    assert_eq!(counts.total().inserted, 21);
    assert_eq!(exported(store), records);
    // What the finer methods read agrees.
    let app = store.find_repository("/srv/git/app").unwrap().unwrap();
    let api = store.find_repository("acme/api").unwrap().unwrap();
    let mut git = store.git_change_shas(app).unwrap();
    git.sort();
    assert_eq!(git, ["a1", "b2"]);
    assert_eq!(store.pushed_change_count(api).unwrap(), 2);
    assert_eq!(store.ci_runs("c3").unwrap().len(), 2);
    assert_eq!(store.pull_request_reviews("acme/api", 7).unwrap().len(), 1);
    assert_eq!(
        store.token_by_hash("hash-ci").unwrap().map(|t| t.name),
        Some("ci".into())
    );
    assert_eq!(
        store.token_by_hash("hash-old").unwrap(),
        None,
        "still revoked"
    );
    let touches = store.path_touches(app, "services/api").unwrap();
    assert_eq!(touches.get("a1"), Some(&true));
    assert_eq!(touches.get("b2"), Some(&false));
    // The same records again store nothing twice.
    let again = import_all(store, &records).unwrap();
    assert_eq!(
        again.total(),
        WriteCounts {
            unchanged: 21,
            ..WriteCounts::default()
        }
    );
    assert_eq!(exported(store), records);
    assert_eq!(store.counts().unwrap().changes, 4);
}

pub fn an_import_merges_with_what_is_stored(store: &dyn Store) {
    use crate::export::{ChangeRecord, TokenRecord};
    // Stored before: c3 only from a push; the file has it from git, which wins.
    let pushed = Event::Change(PushedChange {
        repository: "acme/api".into(),
        branch: None,
        change: change("c3", &[], 300),
    });
    store.apply_events(&[pushed]).unwrap();
    store
        .create_token("ci", TokenScope::Ingest, "hash-ci", 10)
        .unwrap();
    let git = ExportRecord::Change(ChangeRecord {
        repository: "acme/api".into(),
        source: Source::Git,
        change: change("c3", &["b2"], 300),
    });
    let revoked = ExportRecord::Token(TokenRecord {
        name: "ci".into(),
        scope: TokenScope::Ingest,
        hash: "hash-ci".into(),
        created_at: 10,
        revoked_at: Some(40),
    });
    let counts = import_all(store, &[git.clone(), revoked.clone()]).unwrap();
    assert_eq!(counts.total().updated, 2);
    assert_eq!(exported(store)[1..], [git, revoked]);
    // A token of a stored name with another hash is a conflict, and nothing is written.
    let before = exported(store);
    let impostor = ExportRecord::Token(TokenRecord {
        name: "ci".into(),
        scope: TokenScope::Admin,
        hash: "hash-other".into(),
        created_at: 50,
        revoked_at: None,
    });
    let dep = ExportRecord::Deployment {
        deployment: deployment(Source::Api, "d9", "api", "production", 100),
    };
    let error = import_all(store, &[dep, impostor]).unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    assert_eq!(exported(store), before);
}

pub fn a_failed_import_writes_nothing(store: &dyn Store) {
    let records = sample_export();
    let mut stream = records
        .iter()
        .cloned()
        .map(Ok)
        .chain([Err(StoreError::Database("the file changed".into()))]);
    let error = store.import(&mut stream).unwrap_err();
    assert_eq!(error.to_string(), "database error: the file changed");
    assert_eq!(exported(store), []);
    assert_eq!(store.counts().unwrap(), Default::default());
    assert_eq!(store.tokens().unwrap(), []);
}

/// The version of `scope` now.
fn version(store: &dyn Store, scope: &str) -> i64 {
    crate::versions::version_of(&store.write_versions().unwrap(), scope)
}

pub fn write_versions_grow_with_every_write_reports_read(store: &dyn Store) {
    use crate::versions::{INCIDENTS, deployments, repository, services};
    let api = deployments("api");
    assert_eq!(version(store, &api), 0);

    // A deployment creates its service's scope; an identical one changes nothing.
    let first = deployment(Source::Api, "d1", "api", "production", 1_000);
    store
        .apply_events(&[Event::Deployment(first.clone())])
        .unwrap();
    let v1 = version(store, &api);
    assert!(v1 > 0);
    store
        .apply_events(&[Event::Deployment(first.clone())])
        .unwrap();
    assert_eq!(
        version(store, &api),
        v1,
        "an unchanged event is not a write"
    );

    // An update bumps it; moving the deployment to another service bumps both.
    let mut failed = first.clone();
    failed.status = DeploymentStatus::Failure;
    store
        .apply_events(&[Event::Deployment(failed.clone())])
        .unwrap();
    let v2 = version(store, &api);
    assert!(v2 > v1);
    let mut moved = failed.clone();
    moved.service = "web".into();
    store.apply_events(&[Event::Deployment(moved)]).unwrap();
    let v3 = version(store, &api);
    assert!(v3 > v2, "the service the deployment left changed too");
    assert!(version(store, &deployments("web")) > 0);
    let listed: Vec<String> = services(&store.write_versions().unwrap())
        .map(str::to_string)
        .collect();
    assert_eq!(listed, ["api", "web"]);

    // Deployments written in bulk, and a scope's deletions.
    let kept = deployment(Source::Import, "i1", "api", "production", 2_000);
    let stale = deployment(Source::Import, "i2", "api", "production", 2_100);
    store
        .upsert_deployments(&[kept.clone(), stale], None)
        .unwrap();
    let v4 = version(store, &api);
    assert!(v4 > v3);
    let scope = DeploymentScope {
        source: Source::Import,
        service: "api".into(),
    };
    let counts = store
        .upsert_deployments(std::slice::from_ref(&kept), Some(&scope))
        .unwrap();
    assert_eq!(counts.deleted, 1);
    assert!(version(store, &api) > v4, "a deletion is a write");

    // Git history and pushed commits bump their repository.
    let repo = repository("acme/api");
    store
        .apply_git_import(git_import("acme/api", &[change("a1", &[], 10)]))
        .unwrap();
    let r1 = version(store, &repo);
    assert!(r1 > 0);
    store
        .apply_events(&[Event::Change(PushedChange {
            repository: "acme/api".into(),
            branch: Some("main".into()),
            change: change("a2", &["a1"], 20),
        })])
        .unwrap();
    let r2 = version(store, &repo);
    assert!(r2 > r1);

    // New answers to a path question (a mirror answering for a newly configured monorepo
    // service) bump the repository too, though no commit is new; the same answers again do not.
    let touches = [PathTouch {
        paths_key: "services/api".into(),
        sha: "a1".into(),
        touched: true,
    }];
    let answer = |touches: &[PathTouch]| {
        store
            .apply_git_import(GitImport {
                path_touches: touches,
                ..git_import("acme/api", &[])
            })
            .unwrap();
    };
    answer(&touches);
    let r3 = version(store, &repo);
    assert!(r3 > r2, "a new answer is a write");
    answer(&touches);
    assert_eq!(version(store, &repo), r3, "the same answer is not");
    let changed = [PathTouch {
        touched: false,
        ..touches[0].clone()
    }];
    answer(&changed);
    assert!(version(store, &repo) > r3, "a different answer is a write");

    // Incidents have one scope; events reports do not read change nothing.
    let incidents = version(store, INCIDENTS);
    let before = store.write_versions().unwrap();
    let mut events = sample_events();
    events.retain(|event| {
        !matches!(
            event,
            Event::Change(_) | Event::Deployment(_) | Event::Incident(_)
        )
    });
    assert!(!events.is_empty());
    store.apply_events(&events).unwrap();
    assert_eq!(store.write_versions().unwrap(), before);
    let incident = sample_events()
        .into_iter()
        .find(|event| matches!(event, Event::Incident(_)))
        .unwrap();
    store.apply_events(&[incident]).unwrap();
    assert!(version(store, INCIDENTS) > incidents);

    // A delivery's events and an import bump their scopes as ordinary writes do.
    let delivered = deployment(Source::Github, "g1", "billing", "production", 3_000);
    let delivery = Delivery {
        source: Source::Github,
        id: "versions-1".into(),
        event: "deployment_status".into(),
        received_at: 5,
    };
    store
        .apply_delivery(&delivery, &[Event::Deployment(delivered)])
        .unwrap();
    assert!(version(store, &deployments("billing")) > 0);
    let imported = ExportRecord::Deployment {
        deployment: deployment(Source::Import, "x1", "search", "production", 4_000),
    };
    store.import(&mut std::iter::once(Ok(imported))).unwrap();
    assert!(version(store, &deployments("search")) > 0);
}

/// A blob of `size` bytes from a counter pattern: every byte value (0x00 and 0xFF too) in
/// every 256 bytes, shifted every 256 bytes and by `seed`, so no two blobs share a prefix.
fn blob(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add((i >> 8) as u8 ^ seed)
        })
        .collect()
}

/// Asserts that `at` holds `expected`, naming the first differing byte rather than printing
/// megabytes of blob.
fn assert_derived(store: &dyn Store, (kind, scope, name): (&str, &str, &str), expected: &Derived) {
    let stored = store
        .derived(kind, scope, name)
        .unwrap()
        .unwrap_or_else(|| panic!("nothing stored under ({kind}, {scope}, {name})"));
    assert_eq!(
        stored.key, expected.key,
        "the key under ({kind}, {scope}, {name})"
    );
    assert_eq!(
        stored.data.len(),
        expected.data.len(),
        "the length of the blob under ({kind}, {scope}, {name})"
    );
    let differs = stored
        .data
        .iter()
        .zip(&expected.data)
        .position(|(a, b)| a != b);
    assert_eq!(
        differs, None,
        "the first differing byte under ({kind}, {scope}, {name})"
    );
}

pub fn derived_blobs_are_kept_apart_from_what_reports_read(store: &dyn Store) {
    let chain = ("chain", "api", "production");
    assert_eq!(store.derived(chain.0, chain.1, chain.2).unwrap(), None);
    populate_every_kind(store);
    let versions = store.write_versions().unwrap();
    let export = exported(store);
    let counts = store.counts().unwrap();

    // Two megabytes, every byte value, back as they went in.
    let first = Derived {
        key: "repository:/srv/git/app=3;deployments:api=2;settings=v1".into(),
        data: blob(2 * 1024 * 1024, 0),
    };
    assert!(first.data.contains(&0x00) && first.data.contains(&0xFF));
    store
        .put_derived(chain.0, chain.1, chain.2, &first)
        .unwrap();
    assert_derived(store, chain, &first);

    // A second put under the same (kind, scope, name) replaces the first, shorter or not.
    let second = Derived {
        key: "repository:/srv/git/app=4;deployments:api=2;settings=v1".into(),
        data: blob(1024 * 1024 + 7, 0x5A),
    };
    store
        .put_derived(chain.0, chain.1, chain.2, &second)
        .unwrap();
    assert_derived(store, chain, &second);

    // Kind, scope and name each tell entries apart (the first neighbour's blob is empty).
    let neighbours = [
        ("chain", "api", "staging"),
        ("chain", "web", "production"),
        ("graph", "api", "production"),
    ];
    for (at, neighbour) in neighbours.into_iter().enumerate() {
        let (kind, scope, name) = neighbour;
        assert_eq!(store.derived(kind, scope, name).unwrap(), None);
        let other = Derived {
            key: format!("neighbour {at}"),
            data: vec![at as u8; at],
        };
        store.put_derived(kind, scope, name, &other).unwrap();
        assert_derived(store, neighbour, &other);
    }
    assert_derived(store, chain, &second);

    // None of it is what reports read: no version moved, the export and counts are as before.
    assert_eq!(store.write_versions().unwrap(), versions);
    assert_eq!(exported(store), export);
    assert_eq!(store.counts().unwrap(), counts);
}
