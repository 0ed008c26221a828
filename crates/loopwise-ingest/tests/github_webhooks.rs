//! GitHub webhook parsing against octokit's published payloads (the shared fixtures, read in
//! place) and against variants written here: GitHub Enterprise Server pushes, failed and
//! rolled-back deployments, closed incidents, re-run deployment workflows.
//!
//! Expected values were read from the fixture files by hand; times are Unix seconds of the
//! fixtures' UTC timestamps (e.g. 2019-05-15T15:20:55Z = 1557878400 + 15*3600 + 20*60 + 55).

use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{
    CiRun, CiStatus, Event, Incident, PullRequest, PullRequestReview, PullRequestState,
    PushedChange, ReviewState,
};
use loopwise_ingest::webhooks::github::{parse, sign, verify_signature};
use loopwise_ingest::webhooks::{AuthError, Parsed, WebhookError, WebhookSettings};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const REPO: &str = "Codertocat/Hello-World";

fn github_dir() -> Option<PathBuf> {
    let directory = loopwise_testkit::fixtures_dir()?.join("webhooks/github");
    assert!(directory.is_dir(), "{}", directory.display());
    Some(directory)
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    let path = github_dir()?.join(name);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Every `.json` file below `directory`, sorted.
fn json_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Settings under which every fixture means as much as it can.
fn everything_on() -> WebhookSettings {
    WebhookSettings {
        incident_labels: vec!["bug".to_string()],
        releases_are_deployments: true,
        ..WebhookSettings::default()
    }
    .with_deployment_workflows(&["*".to_string()])
    .unwrap()
}

fn events(event: &str, body: &[u8], settings: &WebhookSettings) -> Vec<Event> {
    let parsed = parse(event, body, settings).unwrap();
    assert_eq!(parsed.ignored, None, "{event}");
    parsed.events
}

fn ignored(event: &str, body: &[u8], settings: &WebhookSettings) -> String {
    let parsed = parse(event, body, settings).unwrap();
    assert!(parsed.events.is_empty(), "{event}: {:?}", parsed.events);
    parsed.ignored.expect("a reason")
}

fn only(events: Vec<Event>) -> Event {
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

#[test]
fn every_fixture_parses_and_its_signature_verifies() {
    let Some(directory) = github_dir() else {
        return;
    };
    let files = json_files(&directory);
    assert!(files.len() > 100, "{} files", files.len());
    let secret = b"loopwise test secret";
    for path in files {
        let event = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for settings in [WebhookSettings::default(), everything_on()] {
            let parsed = parse(event, &bytes, &settings)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Each delivery either yields events or says why not.
            assert!(
                parsed.events.is_empty() != parsed.ignored.is_none(),
                "{}: {parsed:?}",
                path.display()
            );
        }
        let signature = sign(secret, &bytes);
        assert_eq!(verify_signature(secret, &bytes, Some(&signature)), Ok(()));
        let mismatch = Err(AuthError::Mismatch {
            header: "X-Hub-Signature-256",
        });
        assert_eq!(
            verify_signature(b"another secret", &bytes, Some(&signature)),
            mismatch
        );
        let mut tampered = bytes.clone();
        let last = tampered.iter().rposition(|b| b.is_ascii_digit()).unwrap();
        tampered[last] = if tampered[last] == b'9' { b'8' } else { b'9' };
        assert_eq!(
            verify_signature(secret, &tampered, Some(&signature)),
            mismatch
        );
        let mut appended = bytes.clone();
        appended.push(b'\n');
        assert_eq!(
            verify_signature(secret, &appended, Some(&signature)),
            mismatch
        );
    }
}

#[test]
fn unused_events_are_ignored_not_rejected() {
    let Some(directory) = github_dir() else {
        return;
    };
    for event in [
        "ping",
        "deployment",
        "check_run",
        "check_suite",
        "status",
        "create",
        "delete",
        "workflow_job",
    ] {
        for path in json_files(&directory.join(event)) {
            let bytes = std::fs::read(&path).unwrap();
            let reason = ignored(event, &bytes, &everything_on());
            assert!(!reason.is_empty(), "{}", path.display());
        }
    }
    assert!(ignored("ping", b"{}", &everything_on()).contains("ping"));
    assert!(ignored("deployment", b"{}", &everything_on()).contains("deployment_status"));
    // Not even the body is read for events loopwise does not use.
    assert!(ignored("star", b"not json", &everything_on()).contains("star"));
}

// ---------------------------------------------------------------------------------------------
// push

#[test]
fn push_of_a_new_branch_yields_its_commit_without_a_parent() {
    let Some(bytes) = fixture("push/with-new-branch.payload.json") else {
        return;
    };
    let expected = Event::Change(PushedChange {
        repository: REPO.to_string(),
        branch: Some("master".to_string()),
        change: Change {
            sha: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_string(),
            // `before` is zeros: the branch is new, the parent unknown (not a root commit).
            parents: vec![],
            author_time: 1_557_933_565, // 2019-05-15T15:19:25Z
            committer_time: 1_557_933_565,
            author_name: "Codertocat".to_string(),
            author_email: "21031067+Codertocat@users.noreply.github.com".to_string(),
            subject: "Initial commit".to_string(),
            reverts: None,
        },
    });
    let settings = WebhookSettings::default();
    assert_eq!(only(events("push", &bytes, &settings)), expected);
    let Some(no_username) = fixture("push/with-no-username-committer.payload.json") else {
        return;
    };
    assert_eq!(only(events("push", &no_username, &settings)), expected);
}

#[test]
fn tag_deletions_are_ignored() {
    for name in [
        "push/payload.json",
        "push/1.payload.json",
        "push/with-organization.payload.json",
        "push/with-installation.payload.json",
    ] {
        let Some(bytes) = fixture(name) else {
            return;
        };
        let reason = ignored("push", &bytes, &WebhookSettings::default());
        assert!(reason.contains("deletes") && reason.contains("refs/tags/simple-tag"));
        // No event, but a ref moved: the repository's mirror should fetch.
        let parsed = parse("push", &bytes, &WebhookSettings::default()).unwrap();
        assert_eq!(parsed.refs_moved.as_deref(), Some("Codertocat/Hello-World"));
    }
}

/// A GitHub Enterprise Server delivery: `enterprise` object, its own host in every URL, Unix
/// seconds in `repository.created_at`, three commits of which one reverts an earlier commit.
fn enterprise_push() -> Value {
    json!({
        "ref": "refs/heads/release/2.4",
        "before": "1111111111111111111111111111111111111111",
        "after": "3333333333333333333333333333333333333333",
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": "https://ghe.example.com/platform/checkout/compare/111111111111...333333333333",
        "commits": [
            {
                "id": "2222222222222222222222222222222222222222",
                "tree_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "distinct": true,
                "message": "Add retry to payment client\n\nLonger explanation.",
                "timestamp": "2024-03-01T10:00:00+01:00",
                "url": "https://ghe.example.com/platform/checkout/commit/2222222222222222222222222222222222222222",
                "author": {"name": "Ada", "email": "ada@corp.example", "username": "ada"},
                "committer": {"name": "GitHub Enterprise", "email": "noreply@ghe.example.com"},
                "added": [], "removed": [], "modified": ["client.rs"]
            },
            {
                "id": "ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD",
                "tree_id": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "distinct": true,
                "message": "Revert \"Enable new checkout\"\r\n\r\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\r\n",
                "timestamp": "2024-03-01T09:30:00Z",
                "url": "https://ghe.example.com/platform/checkout/commit/abcdefabcdefabcdefabcdefabcdefabcdefabcd",
                "author": {"name": "Bob", "email": null},
                "committer": {"name": "Bob", "email": null},
                "added": [], "removed": [], "modified": []
            },
            {
                "id": "3333333333333333333333333333333333333333",
                "tree_id": "cccccccccccccccccccccccccccccccccccccccc",
                "distinct": false,
                "message": "Merge branch 'main' into release/2.4",
                "timestamp": 1709287200,
                "url": "https://ghe.example.com/platform/checkout/commit/3333333333333333333333333333333333333333",
                "author": {"name": " Ada ", "email": "ada@corp.example"},
                "committer": {"name": "Ada", "email": "ada@corp.example"},
                "added": [], "removed": [], "modified": []
            }
        ],
        "head_commit": null,
        "repository": {
            "id": 42,
            "name": "checkout",
            "full_name": "platform/checkout",
            "html_url": "https://ghe.example.com/platform/checkout",
            "url": "https://ghe.example.com/api/v3/repos/platform/checkout",
            "created_at": 1546300800,
            "pushed_at": 1709287300
        },
        "pusher": {"name": "ada", "email": "ada@corp.example"},
        "enterprise": {
            "id": 1,
            "slug": "corp",
            "name": "Corp",
            "html_url": "https://ghe.example.com/enterprises/corp"
        },
        "sender": {"login": "ada", "url": "https://ghe.example.com/api/v3/users/ada"}
    })
}

#[test]
fn enterprise_push_chains_parents_and_reads_reverts() {
    let settings = WebhookSettings::default();
    let changes: Vec<PushedChange> = events("push", &body(&enterprise_push()), &settings)
        .into_iter()
        .map(|event| match event {
            Event::Change(change) => change,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(changes.len(), 3);
    for change in &changes {
        assert_eq!(change.repository, "platform/checkout");
        assert_eq!(change.branch.as_deref(), Some("release/2.4"));
    }
    let [first, second, third] = [&changes[0].change, &changes[1].change, &changes[2].change];
    assert_eq!(first.parents, ["1111111111111111111111111111111111111111"]);
    assert_eq!(first.author_time, 1_709_283_600); // 2024-03-01T09:00:00Z
    assert_eq!(first.subject, "Add retry to payment client");
    assert_eq!(first.author_email, "ada@corp.example");
    assert_eq!(first.reverts, None);
    // Upper-case ids are normalised, and the chain follows the push's order.
    assert_eq!(second.sha, "abcdefabcdefabcdefabcdefabcdefabcdefabcd");
    assert_eq!(second.parents, [first.sha.as_str()]);
    assert_eq!(second.subject, "Revert \"Enable new checkout\"");
    assert_eq!(second.author_email, "");
    assert_eq!(
        second.reverts.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(second.author_time, 1_709_285_400);
    assert_eq!(third.parents, [second.sha.as_str()]);
    assert_eq!(
        (third.author_time, third.committer_time),
        (1_709_287_200, 1_709_287_200)
    );
    assert_eq!(third.author_name, "Ada");

    // After a force push `before` is the overwritten tip, not the first commit's parent.
    let mut forced = enterprise_push();
    forced["forced"] = json!(true);
    let Event::Change(first) = events("push", &body(&forced), &settings).remove(0) else {
        panic!("a change");
    };
    assert!(first.change.parents.is_empty());
}

#[test]
fn push_errors_name_the_field() {
    let settings = WebhookSettings::default();
    let mut bad_time = enterprise_push();
    bad_time["commits"][1]["timestamp"] = json!("yesterday");
    assert!(matches!(
        parse("push", &body(&bad_time), &settings),
        Err(WebhookError::Invalid { path, .. }) if path == "commits[1].timestamp"
    ));
    let mut short_sha = enterprise_push();
    short_sha["commits"][0]["id"] = json!("2222222");
    assert!(matches!(
        parse("push", &body(&short_sha), &settings),
        Err(WebhookError::Invalid { path, .. }) if path == "commits[0].id"
    ));
    let mut no_repository = enterprise_push();
    no_repository["repository"] = Value::Null;
    assert_eq!(
        parse("push", &body(&no_repository), &settings),
        Err(WebhookError::Missing {
            path: "repository.full_name".to_string()
        })
    );
    let mut other_ref = enterprise_push();
    other_ref["ref"] = json!("refs/notes/commits");
    assert!(ignored("push", &body(&other_ref), &settings).contains("not a branch"));
    let branch_push = parse("push", &body(&enterprise_push()), &settings).unwrap();
    assert_eq!(
        branch_push.refs_moved,
        enterprise_push()["repository"]["full_name"]
            .as_str()
            .map(str::to_string)
    );
    // Events of other kinds move no ref.
    let ping = parse("ping", b"{}", &settings).unwrap();
    assert_eq!(ping.refs_moved, None);
}

// ---------------------------------------------------------------------------------------------
// pull requests and reviews

fn pull_request(state: PullRequestState) -> PullRequest {
    PullRequest {
        source: Source::Github,
        repository: REPO.to_string(),
        number: 2,
        title: "Update the README with new information.".to_string(),
        author: "Codertocat".to_string(),
        state,
        created_at: 1_557_933_633, // 2019-05-15T15:20:33Z
        merged_at: None,
        closed_at: None,
        merge_sha: None,
        head_sha: Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821".to_string()),
        base_branch: Some("master".to_string()),
        additions: Some(1),
        deletions: Some(1),
    }
}

#[test]
fn pull_requests_are_merged_only_when_github_says_so() {
    let Some(closed) = fixture("pull_request/closed.payload.json") else {
        return;
    };
    let settings = WebhookSettings::default();
    // Closed without merge although `merge_commit_sha` is set (GitHub's test merge).
    let expected = PullRequest {
        closed_at: Some(1_557_933_678), // 2019-05-15T15:21:18Z
        ..pull_request(PullRequestState::Closed)
    };
    assert_eq!(
        only(events("pull_request", &closed, &settings)),
        Event::PullRequest(expected)
    );

    let Some(opened) = fixture("pull_request/opened.payload.json") else {
        return;
    };
    assert_eq!(
        only(events("pull_request", &opened, &settings)),
        Event::PullRequest(pull_request(PullRequestState::Open))
    );
    // Every pull_request fixture is a snapshot of PR #2.
    let directory = github_dir().unwrap().join("pull_request");
    for path in json_files(&directory) {
        let bytes = std::fs::read(&path).unwrap();
        let Event::PullRequest(pr) = only(events("pull_request", &bytes, &settings)) else {
            panic!("{}", path.display());
        };
        assert_eq!((pr.number, pr.merge_sha), (2, None), "{}", path.display());
    }

    // The same delivery as a merge.
    let mut merged: Value = serde_json::from_slice(&closed).unwrap();
    merged["pull_request"]["merged"] = json!(true);
    merged["pull_request"]["merged_at"] = json!("2019-05-15T15:21:18Z");
    let expected = PullRequest {
        merged_at: Some(1_557_933_678),
        closed_at: Some(1_557_933_678),
        merge_sha: Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85".to_string()),
        ..pull_request(PullRequestState::Merged)
    };
    assert_eq!(
        only(events("pull_request", &body(&merged), &settings)),
        Event::PullRequest(expected)
    );
}

#[test]
fn reviews_map_their_state() {
    let Some(submitted) = fixture("pull_request_review/submitted.payload.json") else {
        return;
    };
    let settings = WebhookSettings::default();
    let review = |state| {
        Event::PullRequestReview(PullRequestReview {
            source: Source::Github,
            repository: REPO.to_string(),
            number: 2,
            id: "237895671".to_string(),
            reviewer: "Codertocat".to_string(),
            state,
            submitted_at: 1_557_933_638, // 2019-05-15T15:20:38Z
        })
    };
    assert_eq!(
        only(events("pull_request_review", &submitted, &settings)),
        review(ReviewState::Commented)
    );
    let Some(dismissed) = fixture("pull_request_review/dismissed.payload.json") else {
        return;
    };
    assert_eq!(
        only(events("pull_request_review", &dismissed, &settings)),
        review(ReviewState::Dismissed)
    );

    let mut value: Value = serde_json::from_slice(&submitted).unwrap();
    value["review"]["state"] = json!("APPROVED");
    assert_eq!(
        only(events("pull_request_review", &body(&value), &settings)),
        review(ReviewState::Approved)
    );
    value["review"]["state"] = json!("changes_requested");
    assert_eq!(
        only(events("pull_request_review", &body(&value), &settings)),
        review(ReviewState::ChangesRequested)
    );
    // A pending review has no submission time yet.
    value["review"]["state"] = json!("pending");
    value["review"]["submitted_at"] = Value::Null;
    assert!(ignored("pull_request_review", &body(&value), &settings).contains("pending"));
    value["review"]["state"] = json!("approved");
    assert!(ignored("pull_request_review", &body(&value), &settings).contains("submitted_at"));
}

// ---------------------------------------------------------------------------------------------
// deployments

fn fixture_deployment() -> Deployment {
    Deployment {
        source: Source::Github,
        id: "145988746".to_string(),
        service: "Hello-World".to_string(),
        environment: "production".to_string(),
        sha: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e".to_string(),
        started_at: Some(1_557_933_653), // deployment.created_at 2019-05-15T15:20:53Z
        // The success status's created_at, 15:20:55Z (equal to deployment.updated_at here,
        // which is not read: it moves when GitHub later marks the deployment inactive).
        finished_at: Some(1_557_933_655),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    }
}

#[test]
fn terminal_deployment_statuses_are_deployments() {
    let Some(bytes) = fixture("deployment_status/payload.json") else {
        return;
    };
    let mut settings = WebhookSettings::default();
    assert_eq!(
        only(events("deployment_status", &bytes, &settings)),
        Event::Deployment(fixture_deployment())
    );
    settings
        .services
        .insert(REPO.to_string(), "greeter".to_string());
    let Event::Deployment(mapped) = only(events("deployment_status", &bytes, &settings)) else {
        panic!("a deployment");
    };
    assert_eq!(mapped.service, "greeter");

    let Some(in_progress) = fixture("deployment_status/gh-pages.payload.json") else {
        return;
    };
    assert!(ignored("deployment_status", &in_progress, &settings).contains("in_progress"));
    for state in ["pending", "queued", "waiting", "inactive", "something_new"] {
        let mut value: Value = serde_json::from_slice(&bytes).unwrap();
        value["deployment_status"]["state"] = json!(state);
        assert!(ignored("deployment_status", &body(&value), &settings).contains(state));
    }
    let Some(created) = fixture("deployment/payload.json") else {
        return;
    };
    ignored("deployment", &created, &settings);
}

/// A failed rollback deployment reported by a CD tool through the Deployments API, with the
/// environment only on the status.
#[test]
fn failed_rollback_deployment_status() {
    let payload = json!({
        "action": "created",
        "deployment_status": {
            "id": 2,
            "state": "failure",
            "environment": "prod-eu",
            "description": "health checks failed",
            "created_at": "2024-05-02T12:10:00Z",
            "updated_at": "2024-05-02T12:10:00Z"
        },
        "deployment": {
            "id": 9001,
            "sha": "89ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "ref": "v2.3.1",
            "task": "deploy:rollback",
            "environment": null,
            "payload": {},
            "created_at": "2024-05-02T12:00:00Z",
            "updated_at": "2024-05-02T12:10:00Z"
        },
        "repository": {"full_name": "platform/checkout"}
    });
    let settings = WebhookSettings::default();
    let expected = Deployment {
        source: Source::Github,
        id: "9001".to_string(),
        service: "checkout".to_string(),
        environment: "prod-eu".to_string(),
        sha: "89abcdef0123456789abcdef0123456789abcdef".to_string(),
        started_at: Some(1_714_651_200),
        finished_at: Some(1_714_651_800),
        status: DeploymentStatus::Failure,
        kind: DeploymentKind::Rollback,
    };
    assert_eq!(
        only(events("deployment_status", &body(&payload), &settings)),
        Event::Deployment(expected.clone())
    );
    let mut error = payload.clone();
    error["deployment_status"]["state"] = json!("error");
    error["deployment"]["task"] = json!("deploy");
    let Event::Deployment(deployment) = only(events("deployment_status", &body(&error), &settings))
    else {
        panic!("a deployment");
    };
    assert_eq!(
        (deployment.status, deployment.kind),
        (DeploymentStatus::Failure, DeploymentKind::Normal)
    );
    let mut no_sha = payload;
    no_sha["deployment"].as_object_mut().unwrap().remove("sha");
    assert_eq!(
        parse("deployment_status", &body(&no_sha), &settings),
        Err(WebhookError::Missing {
            path: "deployment.sha".to_string()
        })
    );
}

// ---------------------------------------------------------------------------------------------
// workflow runs

fn fixture_run(status: CiStatus, finished_at: Option<i64>) -> CiRun {
    CiRun {
        source: Source::Github,
        id: "289782451".to_string(),
        attempt: 1,
        repository: "octo-org/octo-repo".to_string(),
        // `workflow_run.name` is "" in the fixture: the workflow's name stands in.
        pipeline: "test".to_string(),
        sha: "3484a3fb816e0859fd6e1cea078d76385ff50625".to_string(),
        branch: Some("master".to_string()),
        status,
        started_at: Some(1_601_915_629), // run_started_at 2020-10-05T16:33:49Z
        finished_at,
        url: Some("https://github.com/octo-org/octo-repo/actions/runs/289782451".to_string()),
    }
}

#[test]
fn workflow_runs_are_ci_runs_and_deployments_when_configured() {
    let Some(completed) = fixture("workflow_run/completed.payload.json") else {
        return;
    };
    let run = Event::CiRun(fixture_run(CiStatus::Success, Some(1_601_915_629)));
    let plain = WebhookSettings::default();
    assert_eq!(only(events("workflow_run", &completed, &plain)), run);

    let deploying = WebhookSettings::default()
        .with_deployment_workflows(&["test".to_string()])
        .unwrap();
    let expected = vec![
        run,
        Event::Deployment(Deployment {
            source: Source::Github,
            id: "289782451:1".to_string(),
            service: "octo-repo".to_string(),
            environment: "production".to_string(),
            sha: "3484a3fb816e0859fd6e1cea078d76385ff50625".to_string(),
            started_at: Some(1_601_915_629),
            finished_at: Some(1_601_915_629), // updated_at of the completed run
            status: DeploymentStatus::Success,
            kind: DeploymentKind::Normal,
        }),
    ];
    assert_eq!(events("workflow_run", &completed, &deploying), expected);
    let Some(with_prs) = fixture("workflow_run/completed.with-pull-requests.payload.json") else {
        return;
    };
    assert_eq!(events("workflow_run", &with_prs, &deploying), expected);

    let Some(requested) = fixture("workflow_run/requested.payload.json") else {
        return;
    };
    assert_eq!(
        only(events("workflow_run", &requested, &deploying)),
        Event::CiRun(fixture_run(CiStatus::Queued, None))
    );
    // "completed" with `action_required`: waiting for approval, neither finished nor deployed.
    let Some(approval) = fixture("workflow_run/requested.with-conclusion.payload.json") else {
        return;
    };
    assert_eq!(
        only(events("workflow_run", &approval, &deploying)),
        Event::CiRun(fixture_run(CiStatus::Queued, None))
    );
}

/// A deployment workflow re-run after a failure: the second attempt is a deployment of its
/// own, so the failed first attempt still counts in the change failure rate.
#[test]
fn rerun_deployment_workflows_are_new_attempts() {
    let run = |attempt: u64, conclusion: &str| {
        json!({
            "action": "completed",
            "workflow_run": {
                "id": 7_000_000_001u64,
                "name": "Deploy production",
                "path": ".github/workflows/deploy.yml",
                "head_branch": null,
                "head_sha": "4444444444444444444444444444444444444444",
                "status": "completed",
                "conclusion": conclusion,
                "run_attempt": attempt,
                "run_started_at": "2024-06-01T08:00:00Z",
                "created_at": "2024-06-01T07:00:00Z",
                "updated_at": "2024-06-01T08:05:00Z",
                "html_url": "https://github.com/platform/checkout/actions/runs/7000000001/attempts/2"
            },
            "workflow": {"name": "Deploy production", "path": ".github/workflows/deploy.yml"},
            "repository": {"full_name": "platform/checkout"}
        })
    };
    let settings = WebhookSettings {
        default_environment: "prod".to_string(),
        ..WebhookSettings::default()
    }
    .with_deployment_workflows(&["Deploy*".to_string()])
    .unwrap();
    let parsed = events("workflow_run", &body(&run(2, "failure")), &settings);
    let [Event::CiRun(ci), Event::Deployment(deployment)] = parsed.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!((ci.id.as_str(), ci.attempt), ("7000000001", 2));
    assert_eq!(ci.status, CiStatus::Failure);
    assert_eq!(ci.branch, None);
    assert_eq!(deployment.id, "7000000001:2");
    assert_eq!(deployment.status, DeploymentStatus::Failure);
    assert_eq!(deployment.environment, "prod");
    assert_eq!(deployment.started_at, Some(1_717_228_800));
    assert_eq!(deployment.finished_at, Some(1_717_229_100));

    let timed_out = events("workflow_run", &body(&run(3, "timed_out")), &settings);
    assert!(matches!(&timed_out[1], Event::Deployment(d) if d.id == "7000000001:3"));
    // Cancelled and skipped runs deployed nothing.
    for (conclusion, status) in [
        ("cancelled", CiStatus::Cancelled),
        ("skipped", CiStatus::Skipped),
    ] {
        let Event::CiRun(ci) = only(events(
            "workflow_run",
            &body(&run(1, conclusion)),
            &settings,
        )) else {
            panic!("a run");
        };
        assert_eq!(ci.status, status);
    }
    let mut in_progress = run(1, "failure");
    in_progress["workflow_run"]["status"] = json!("in_progress");
    in_progress["workflow_run"]["conclusion"] = Value::Null;
    let Event::CiRun(ci) = only(events("workflow_run", &body(&in_progress), &settings)) else {
        panic!("a run");
    };
    assert_eq!((ci.status, ci.finished_at), (CiStatus::Running, None));
    // A completed run must say how it ended.
    let mut no_conclusion = run(1, "success");
    no_conclusion["workflow_run"]["conclusion"] = Value::Null;
    assert_eq!(
        parse("workflow_run", &body(&no_conclusion), &settings),
        Err(WebhookError::Missing {
            path: "workflow_run.conclusion".to_string()
        })
    );
}

// ---------------------------------------------------------------------------------------------
// incidents

#[test]
fn labelled_issues_are_incidents() {
    let Some(labeled) = fixture("issues/labeled.payload.json") else {
        return;
    };
    // The fixture's label is `bug`: an incident only where `bug` is an incident label.
    assert!(ignored("issues", &labeled, &WebhookSettings::default()).contains("#1"));
    let settings = everything_on();
    let expected = Incident {
        source: Source::Github,
        id: "Codertocat/Hello-World#1".to_string(),
        service: Some("Hello-World".to_string()),
        title: "Spelling error in the README file".to_string(),
        severity: None,
        started_at: 1_557_933_618, // 2019-05-15T15:20:18Z
        acknowledged_at: None,
        resolved_at: None,
        caused_by: None,
        url: Some("https://github.com/Codertocat/Hello-World/issues/1".to_string()),
    };
    assert_eq!(
        only(events("issues", &labeled, &settings)),
        Event::Incident(expected.clone())
    );
    // On `labeled` the added label counts even if `issue.labels` lags behind.
    let mut lagging: Value = serde_json::from_slice(&labeled).unwrap();
    lagging["issue"]["labels"] = json!([]);
    assert_eq!(
        only(events("issues", &body(&lagging), &settings)),
        Event::Incident(expected)
    );
    // Reopened: `closed_at` of the earlier closing is there, but it is not resolved.
    let Some(reopened) = fixture("issues/reopened.payload.json") else {
        return;
    };
    let Event::Incident(incident) = only(events("issues", &reopened, &settings)) else {
        panic!("an incident");
    };
    assert_eq!(
        (incident.started_at, incident.resolved_at),
        (1_625_508_324, None)
    );
    // Issue events of pull requests, deletions and transfers are not incidents.
    for name in [
        "issues/milestoned.payload.json",
        "issues/deleted.payload.json",
        "issues/transferred.payload.json",
        "issues/pinned.payload.json",
    ] {
        let Some(bytes) = fixture(name) else {
            return;
        };
        ignored("issues", &bytes, &settings);
    }
}

#[test]
fn closed_incident_with_root_cause_and_severity() {
    let payload = json!({
        "action": "closed",
        "issue": {
            "number": 318,
            "title": "Checkout returns 502",
            "body": "Impact: EU customers.\n\nroot cause: 2BB7F0FE43EC8E6ED6C59DC64E1E7C95E75B9E3E\n",
            "state": "closed",
            "state_reason": "completed",
            "created_at": "2024-04-10T09:15:00Z",
            "closed_at": "2024-04-10T11:45:30Z",
            "labels": [{"name": "Incident"}, {"name": "SEV-2"}],
            "html_url": "https://github.com/platform/checkout/issues/318"
        },
        "repository": {"full_name": "platform/checkout"}
    });
    let settings = WebhookSettings::default();
    assert_eq!(
        only(events("issues", &body(&payload), &settings)),
        Event::Incident(Incident {
            source: Source::Github,
            id: "platform/checkout#318".to_string(),
            service: Some("checkout".to_string()),
            title: "Checkout returns 502".to_string(),
            severity: Some("sev2".to_string()),
            started_at: 1_712_740_500,
            acknowledged_at: None,
            resolved_at: Some(1_712_749_530),
            caused_by: Some("2bb7f0fe43ec8e6ed6c59dc64e1e7c95e75b9e3e".to_string()),
            url: Some("https://github.com/platform/checkout/issues/318".to_string()),
        })
    );
    let mut unclosed = payload.clone();
    unclosed["issue"]["closed_at"] = Value::Null;
    assert_eq!(
        parse("issues", &body(&unclosed), &settings),
        Err(WebhookError::Missing {
            path: "issue.closed_at".to_string()
        })
    );
    let mut bad_label = payload;
    bad_label["issue"]["labels"][1] = json!({"name": 7});
    assert!(matches!(
        parse("issues", &body(&bad_label), &settings),
        Err(WebhookError::Invalid { path, .. }) if path == "issue.labels[1].name"
    ));
}

// ---------------------------------------------------------------------------------------------
// releases

#[test]
fn published_releases_are_deployments_when_enabled() {
    let Some(published) = fixture("release/published.payload.json") else {
        return;
    };
    assert!(ignored("release", &published, &WebhookSettings::default()).contains("off"));
    let settings = everything_on();
    // `target_commitish` is "master": the tag ref stands in for the sha.
    let expected = Event::Deployment(Deployment {
        source: Source::Github,
        id: "release:17372790".to_string(),
        service: "Hello-World".to_string(),
        environment: "production".to_string(),
        sha: "refs/tags/0.0.1".to_string(),
        started_at: None,
        finished_at: Some(1_557_933_653), // published_at 2019-05-15T15:20:53Z
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    });
    assert_eq!(only(events("release", &published, &settings)), expected);
    let Some(released) = fixture("release/released.json") else {
        return;
    };
    // `released` follows `published` for the same release: the same deployment.
    assert_eq!(only(events("release", &released, &settings)), expected);
    for name in [
        "release/created.payload.json",
        "release/prereleased.payload.json",
        "release/edited.payload.json",
        "release/deleted.payload.json",
    ] {
        let Some(bytes) = fixture(name) else {
            return;
        };
        ignored("release", &bytes, &settings);
    }
    let mut pinned: Value = serde_json::from_slice(&published).unwrap();
    pinned["release"]["target_commitish"] = json!("6113728F27AE82C7B1A177C8D03F9E96E0ADF246");
    let Event::Deployment(deployment) = only(events("release", &body(&pinned), &settings)) else {
        panic!("a deployment");
    };
    assert_eq!(deployment.sha, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    pinned["release"]["prerelease"] = json!(true);
    assert!(ignored("release", &body(&pinned), &settings).contains("prerelease"));
}

// ---------------------------------------------------------------------------------------------
// bad bodies

#[test]
fn bad_bodies_are_errors_not_panics() {
    let settings = everything_on();
    for event in ["push", "issues", "deployment_status"] {
        assert!(matches!(
            parse(event, b"{\"ref\": ", &settings),
            Err(WebhookError::Json(_))
        ));
        assert!(matches!(
            parse(event, b"[1, 2]", &settings),
            Err(WebhookError::Invalid { path, .. }) if path == "$"
        ));
    }
    let Err(WebhookError::Json(message)) = parse("push", b"payload=%7B%7D", &settings) else {
        panic!("a JSON error");
    };
    assert!(message.contains("application/json"));
    assert_eq!(
        parse(
            "push",
            br#"{"ref": "refs/heads/main", "repository": {"full_name": "a/b"}, "commits": []}"#,
            &settings
        ),
        Ok(Parsed::ignored("push to \"main\" carries no commits").with_refs_moved("a/b"))
    );
    assert!(matches!(
        parse("push", br#"{"ref": "refs/heads/main", "repository": "x", "commits": [1]}"#, &settings),
        Err(WebhookError::Invalid { path, .. }) if path == "repository"
    ));
}

const EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_review",
    "deployment_status",
    "workflow_run",
    "issues",
    "release",
    "ping",
    "deployment",
    "check_run",
];

fn json_value() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "ref",
        "before",
        "after",
        "deleted",
        "forced",
        "commits",
        "id",
        "message",
        "timestamp",
        "author",
        "name",
        "email",
        "repository",
        "full_name",
        "pull_request",
        "number",
        "merged",
        "merged_at",
        "state",
        "created_at",
        "closed_at",
        "merge_commit_sha",
        "head",
        "sha",
        "base",
        "user",
        "login",
        "title",
        "review",
        "submitted_at",
        "action",
        "deployment",
        "deployment_status",
        "environment",
        "task",
        "workflow_run",
        "workflow",
        "status",
        "conclusion",
        "run_attempt",
        "run_started_at",
        "updated_at",
        "head_sha",
        "head_branch",
        "issue",
        "labels",
        "label",
        "body",
        "release",
        "tag_name",
        "target_commitish",
        "published_at",
        "draft",
        "prerelease",
        "html_url",
    ];
    const TEXTS: &[&str] = &[
        "refs/heads/main",
        "refs/tags/v1",
        "0000000000000000000000000000000000000000",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "2019-05-15T15:20:55Z",
        "success",
        "failure",
        "completed",
        "closed",
        "labeled",
        "published",
        "incident",
        "dismissed",
        "root cause: 1",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(TEXTS).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|fields| {
                Value::Object(
                    fields
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value))
                        .collect(),
                )
            }),
        ]
    })
}

/// Replaces the value reached by walking `choices` (an index into each level) with
/// `replacement`.
fn mutate(value: &mut Value, choices: &[usize], replacement: Value) {
    let child = match value {
        Value::Object(map) if !map.is_empty() && !choices.is_empty() => {
            let index = choices[0] % map.len();
            map.values_mut().nth(index)
        }
        Value::Array(items) if !items.is_empty() && !choices.is_empty() => {
            let index = choices[0] % items.len();
            items.get_mut(index)
        }
        _ => None,
    };
    match child {
        Some(child) => mutate(child, &choices[1..], replacement),
        None => *value = replacement,
    }
}

fn valid_payloads() -> Vec<(&'static str, Value)> {
    vec![
        ("push", enterprise_push()),
        (
            "workflow_run",
            json!({"action": "completed", "workflow_run": {"id": 1, "name": "deploy", "head_sha": "4444444444444444444444444444444444444444", "status": "completed", "conclusion": "success", "run_attempt": 1, "updated_at": "2024-06-01T08:05:00Z"}, "repository": {"full_name": "a/b"}}),
        ),
        (
            "deployment_status",
            json!({"deployment_status": {"state": "success", "created_at": "2024-05-02T12:10:00Z"}, "deployment": {"id": 1, "sha": "4444444444444444444444444444444444444444", "environment": "prod", "task": "deploy"}, "repository": {"full_name": "a/b"}}),
        ),
        (
            "issues",
            json!({"action": "labeled", "label": {"name": "bug"}, "issue": {"number": 1, "title": "t", "body": "root cause: 1", "state": "closed", "created_at": 1, "closed_at": 2, "labels": [{"name": "sev1"}]}, "repository": {"full_name": "a/b"}}),
        ),
        (
            "release",
            json!({"action": "published", "release": {"id": 1, "tag_name": "v1", "target_commitish": "main", "published_at": "2024-05-02T12:10:00Z"}, "repository": {"full_name": "a/b"}}),
        ),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        event in prop::sample::select(EVENTS),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = parse(event, &bytes, &everything_on());
    }

    #[test]
    fn arbitrary_json_never_panics(event in prop::sample::select(EVENTS), value in json_value()) {
        let settings = everything_on();
        let _ = parse(event, &body(&value), &settings);
        let _ = parse(event, &body(&json!({"action": "completed", "x": value})), &settings);
    }

    #[test]
    fn mutated_valid_payloads_never_panic(
        which in 0usize..5,
        choices in prop::collection::vec(any::<usize>(), 0..6),
        replacement in json_value(),
    ) {
        let (event, mut value) = valid_payloads().swap_remove(which);
        prop_assert!(!parse(event, &body(&value), &everything_on()).unwrap().events.is_empty());
        mutate(&mut value, &choices, replacement);
        let _ = parse(event, &body(&value), &everything_on());
    }

    #[test]
    fn arbitrary_signature_headers_never_panic(header in "\\PC{0,80}", body in ".{0,40}") {
        let _ = verify_signature(b"secret", body.as_bytes(), Some(&header));
    }
}
