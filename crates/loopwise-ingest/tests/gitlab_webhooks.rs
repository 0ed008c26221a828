//! GitLab webhook parsing against the shared go-gitlab payloads (read in place, never copied)
//! and against variants written here for cases the fixtures lack.

use loopwise_core::entities::{DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{CiStatus, Event, PullRequestState, ReviewState};
use loopwise_ingest::webhooks::gitlab::{self, TOKEN_HEADER};
use loopwise_ingest::webhooks::{AuthError, Parsed, WebhookError, WebhookSettings};
use serde_json::{Value, json};
use std::path::PathBuf;

/// When the deliveries of these tests arrived: 2023-11-14T22:13:20Z.
const RECEIVED: i64 = 1_700_000_000;

fn fixture(name: &str) -> Option<Vec<u8>> {
    let directory = loopwise_testkit::fixtures_dir()?.join("webhooks/gitlab");
    Some(std::fs::read(directory.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// Parses a fixture, or returns from the test (with the testkit's message) without fixtures.
macro_rules! parse_fixture {
    ($name:literal, $settings:expr) => {
        match fixture($name) {
            Some(body) => gitlab::parse(None, &body, &$settings, RECEIVED)
                .unwrap_or_else(|e| panic!("{}: {e}", $name)),
            None => return,
        }
    };
}

fn parse_json(value: &Value, settings: &WebhookSettings) -> Result<Parsed, WebhookError> {
    gitlab::parse(None, value.to_string().as_bytes(), settings, RECEIVED)
}

fn events(parsed: &Parsed) -> &[Event] {
    assert_eq!(parsed.ignored, None, "{parsed:?}");
    &parsed.events
}

fn ignored_reason(parsed: &Parsed) -> &str {
    assert!(parsed.events.is_empty(), "{parsed:?}");
    parsed.ignored.as_deref().expect("a reason")
}

// --- every fixture --------------------------------------------------------------------------

#[test]
fn every_gitlab_fixture_parses() {
    let directory: PathBuf = loopwise_testkit::require_fixtures!().join("webhooks/gitlab");
    let mut seen = 0;
    for entry in std::fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        for settings in [
            WebhookSettings::default(),
            WebhookSettings {
                releases_are_deployments: true,
                incident_labels: vec!["API".into()],
                ..WebhookSettings::default()
            }
            .with_deployment_workflows(&["*".to_string()])
            .unwrap(),
        ] {
            if let Err(error) = gitlab::parse(None, &body, &settings, RECEIVED) {
                panic!("{}: {error}", path.display());
            }
        }
        seen += 1;
    }
    assert!(
        seen >= 11,
        "expected the go-gitlab payloads in {directory:?}"
    );
}

#[test]
fn push_fixture_yields_the_listed_commits_chained() {
    let parsed = parse_fixture!("push.json", WebhookSettings::default());
    assert_eq!(parsed.refs_moved.as_deref(), Some("mike/diaspora"));
    let events = events(&parsed);
    // total_commits_count is 4 but only 2 are listed (the cap): both are emitted.
    assert_eq!(events.len(), 2);
    let [Event::Change(first), Event::Change(second)] = events else {
        panic!("{events:?}")
    };
    for pushed in [first, second] {
        assert_eq!(pushed.repository, "mike/diaspora");
        assert_eq!(pushed.branch.as_deref(), Some("master"));
    }
    let merge = &first.change;
    assert_eq!(merge.sha, "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
    // The list is incomplete, so the oldest listed commit's parent is unknown, not `before`.
    assert!(merge.parents.is_empty(), "{:?}", merge.parents);
    // 2011-12-12T14:27:31+02:00 = 12:27:31Z; 2011-01-01 is 1_293_840_000, Dec 12 is day 345
    // (0-based): + 345 * 86_400 = 1_323_648_000, + 12:27:31 (44_851 s) = 1_323_692_851.
    assert_eq!(merge.author_time, 1_323_692_851);
    assert_eq!(merge.committer_time, 1_323_692_851);
    assert_eq!(merge.author_name, "Jordi Mallach");
    assert_eq!(merge.author_email, "jordi@softcatala.org");
    assert_eq!(merge.subject, "Merge branch 'some-feature' into 'master'");
    assert_eq!(merge.reverts, None);

    let readme = &second.change;
    assert_eq!(readme.sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(readme.parents, vec![merge.sha.clone()]);
    // 2012-01-03T23:36:29+02:00 = 21:36:29Z; 2012-01-01 is 1_325_376_000, + 2 days
    // = 1_325_548_800, + 21:36:29 (77_789 s) = 1_325_626_589.
    assert_eq!(readme.author_time, 1_325_626_589);
    assert_eq!(readme.author_name, "GitLab dev user");
    assert_eq!(readme.author_email, "gitlabdev@dv6700.(none)");
    assert_eq!(readme.subject, "fixed readme");
}

#[test]
fn object_kind_decides_not_the_header() {
    let Some(body) = fixture("push.json") else {
        return;
    };
    let settings = WebhookSettings::default();
    let plain = gitlab::parse(None, &body, &settings, RECEIVED).unwrap();
    let mislabelled = gitlab::parse(Some("Issue Hook"), &body, &settings, RECEIVED).unwrap();
    assert_eq!(plain, mislabelled);
    assert_eq!(plain.events.len(), 2);
}

#[test]
fn tag_push_fixture_is_ignored() {
    let parsed = parse_fixture!("tag_push.json", WebhookSettings::default());
    assert!(ignored_reason(&parsed).contains("tag push"));
    // No event, but the mirror of jsmith/example should fetch the new tag.
    assert_eq!(parsed.refs_moved.as_deref(), Some("jsmith/example"));
}

#[test]
fn merge_request_fixture_yields_the_pull_request() {
    let parsed = parse_fixture!("merge_request.json", WebhookSettings::default());
    let [Event::PullRequest(pull)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(pull.source, Source::Gitlab);
    assert_eq!(pull.repository, "gitlabhq/gitlab-test");
    assert_eq!(pull.number, 1);
    assert_eq!(pull.title, "MS-Viewport");
    // The actor (user 1) is not the author (51): the payload names the author only by id.
    assert_eq!(pull.author, "51");
    assert_eq!(pull.state, PullRequestState::Open);
    // 2013-12-03T17:23:34Z: 2013-01-01 is 1_356_998_400, Dec 3 is day 336: + 29_030_400
    // = 1_386_028_800, + 17:23:34 (62_614 s) = 1_386_091_414.
    assert_eq!(pull.created_at, 1_386_091_414);
    assert_eq!(pull.merged_at, None);
    assert_eq!(pull.closed_at, None);
    assert_eq!(pull.merge_sha, None);
    assert_eq!(
        pull.head_sha.as_deref(),
        Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    );
    assert_eq!(pull.base_branch.as_deref(), Some("master"));
    assert_eq!((pull.additions, pull.deletions), (None, None));
}

#[test]
fn pipeline_fixture_yields_a_ci_run_and_a_deployment_when_named_so() {
    let parsed = parse_fixture!("pipeline.json", WebhookSettings::default());
    let [Event::CiRun(run)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(run.source, Source::Gitlab);
    assert_eq!(run.id, "31");
    assert_eq!(run.attempt, 1);
    assert_eq!(run.repository, "gitlab-org/gitlab-test");
    // No `name`: the pipeline is known by its ref.
    assert_eq!(run.pipeline, "master");
    assert_eq!(run.sha, "bcbb5ec396a2c0f828686f14fac9b80b780504f2");
    assert_eq!(run.branch.as_deref(), Some("master"));
    assert_eq!(run.status, CiStatus::Success);
    // 2016-08-12 15:23:28 UTC: 2016-01-01 is 1_451_606_400, Aug 12 is day 224 (leap year):
    // + 19_353_600 = 1_470_960_000, + 15:23:28 (55_408 s) = 1_471_015_408; finished at
    // 15:26:29 (55_589 s) = 1_471_015_589.
    assert_eq!(run.started_at, Some(1_471_015_408));
    assert_eq!(run.finished_at, Some(1_471_015_589));
    assert_eq!(
        run.url.as_deref(),
        Some("http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31")
    );

    let settings = WebhookSettings::default()
        .with_deployment_workflows(&["mast*".to_string()])
        .unwrap();
    let parsed = parse_fixture!("pipeline.json", settings);
    let [Event::CiRun(again), Event::Deployment(deployment)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(again, run);
    assert_eq!(deployment.source, Source::Gitlab);
    assert_eq!(deployment.id, "pipeline:31");
    assert_eq!(deployment.service, "gitlab-test");
    assert_eq!(deployment.environment, "production");
    assert_eq!(deployment.sha, run.sha);
    assert_eq!(deployment.started_at, Some(1_471_015_408));
    assert_eq!(deployment.finished_at, Some(1_471_015_589));
    assert_eq!(deployment.status, DeploymentStatus::Success);
    assert_eq!(deployment.kind, DeploymentKind::Normal);
}

#[test]
fn job_fixtures_are_attempts_of_their_pipeline_job() {
    let parsed = parse_fixture!("job.json", WebhookSettings::default());
    let [Event::CiRun(run)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(run.source, Source::Gitlab);
    // Retries make new job ids in the same pipeline: the run is the pipeline's named job.
    assert_eq!(run.id, "job:743121198:auto_deploy:start");
    // retries_count 1: the second attempt.
    assert_eq!(run.attempt, 2);
    // No `project` object: the path of repository.homepage.
    assert_eq!(run.repository, "jsmithy2/release-tools-fake");
    assert_eq!(run.pipeline, "auto_deploy:start");
    // `sha`, not `commit.id` (which is the pipeline id).
    assert_eq!(run.sha, "95d49d1efbd941908580e79d65e4b5ecaf4a8305");
    assert_eq!(run.branch.as_deref(), Some("main"));
    assert_eq!(run.status, CiStatus::Success);
    // 2023-01-10 13:50:05 UTC: 2023-01-01 is 1_672_531_200, + 9 days (777_600 s) =
    // 1_673_308_800, + 13:50:05 (49_805 s) = 1_673_358_605; finished at 13:50:54 (+49 s).
    assert_eq!(run.started_at, Some(1_673_358_605));
    assert_eq!(run.finished_at, Some(1_673_358_654));
    assert_eq!(
        run.url.as_deref(),
        Some("https://gitlab.com/jsmithy2/release-tools-fake/-/jobs/3580121225")
    );
    // A job with an environment is still only a CI run: its deployment event counts it.
    let deploying = WebhookSettings::default()
        .with_deployment_workflows(&["auto_deploy*".to_string()])
        .unwrap();
    let parsed_again = parse_fixture!("job.json", deploying);
    assert_eq!(parsed_again, parsed);

    let parsed = parse_fixture!("build.json", WebhookSettings::default());
    let [Event::CiRun(run)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(run.id, "job:2366:test");
    // No retries_count: the first attempt.
    assert_eq!(run.attempt, 1);
    assert_eq!(run.repository, "gitlab-org/gitlab-test");
    assert_eq!(run.status, CiStatus::Queued, "build_status created");
    assert_eq!(run.branch.as_deref(), Some("gitlab-script-trigger"));
    assert_eq!((run.started_at, run.finished_at), (None, None));
}

#[test]
fn jobs_name_what_is_wrong_and_skip_unknown_statuses() {
    let job = json!({
        "object_kind": "build", "ref": "v1.2.0", "tag": true,
        "sha": "2293ada6b400935a1378653304eaf6221e0fdb8f",
        "build_id": 7, "build_name": "deploy", "build_status": "failed",
        "build_started_at": "2021-02-23T02:41:37Z", "build_finished_at": null,
        "retries_count": 0, "pipeline_id": 9,
        "project": {"path_with_namespace": "group/sub/api"},
        "repository": {"homepage": "https://gitlab.example.com/other/path"}
    });
    let parsed = parse_json(&job, &WebhookSettings::default()).unwrap();
    let [Event::CiRun(run)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    // The project object wins over the homepage; a tag is no branch.
    assert_eq!(run.repository, "group/sub/api");
    assert_eq!(run.branch, None);
    assert_eq!(run.status, CiStatus::Failure);
    assert_eq!(run.attempt, 1);

    let mut unknown = job.clone();
    unknown["build_status"] = json!("exploded");
    let parsed = parse_json(&unknown, &WebhookSettings::default()).unwrap();
    assert!(ignored_reason(&parsed).contains("exploded"));

    let mut no_project = job.clone();
    no_project.as_object_mut().unwrap().remove("project");
    no_project["repository"]["homepage"] = json!("not a url");
    assert_eq!(
        parse_json(&no_project, &WebhookSettings::default()).unwrap_err(),
        WebhookError::Invalid {
            path: "repository.homepage".into(),
            reason: "expected a project URL like https://gitlab.example.com/group/project".into()
        }
    );
    let mut bad_sha = job.clone();
    bad_sha["sha"] = json!("abc");
    assert!(matches!(
        parse_json(&bad_sha, &WebhookSettings::default()).unwrap_err(),
        WebhookError::Invalid { path, .. } if path == "sha"
    ));
    let mut no_pipeline = job;
    no_pipeline.as_object_mut().unwrap().remove("pipeline_id");
    assert_eq!(
        parse_json(&no_pipeline, &WebhookSettings::default()).unwrap_err(),
        WebhookError::Missing {
            path: "pipeline_id".into()
        }
    );
}

#[test]
fn deployment_fixture_yields_the_deployment_with_the_full_sha() {
    let parsed = parse_fixture!("deployment.json", WebhookSettings::default());
    let [Event::Deployment(deployment)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(deployment.source, Source::Gitlab);
    assert_eq!(deployment.id, "15");
    assert_eq!(deployment.service, "test-deployment-webhooks");
    assert_eq!(deployment.environment, "staging");
    // From the end of commit_url, not short_sha (279484c0).
    assert_eq!(deployment.sha, "279484c09fbe69ededfced8c1bb6e6d24616b468");
    assert_eq!(deployment.started_at, None);
    // 2021-04-28 21:50:00 +0200 = 19:50:00Z: 2021-01-01 is 1_609_459_200, Apr 28 is day 117:
    // + 10_108_800 = 1_619_568_000, + 19:50 (71_400 s) = 1_619_639_400.
    assert_eq!(deployment.finished_at, Some(1_619_639_400));
    assert_eq!(deployment.status, DeploymentStatus::Success);
    assert_eq!(deployment.kind, DeploymentKind::Normal);
}

#[test]
fn issue_fixture_is_an_incident_only_when_labelled_so() {
    let parsed = parse_fixture!("issue.json", WebhookSettings::default());
    assert!(ignored_reason(&parsed).contains("not an incident"));

    let settings = WebhookSettings {
        incident_labels: vec!["api".into()],
        ..WebhookSettings::default()
    };
    let parsed = parse_fixture!("issue.json", settings);
    let [Event::Incident(incident)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(incident.source, Source::Gitlab);
    assert_eq!(incident.id, "gitlabhq/gitlab-test#23");
    assert_eq!(incident.service.as_deref(), Some("gitlab-test"));
    assert_eq!(incident.title, "New API: create/update/delete file");
    assert_eq!(incident.severity.as_deref(), Some("high"));
    // 2013-12-03T17:15:43Z: 1_386_028_800 (Dec 3) + 17:15:43 (62_143 s) = 1_386_090_943.
    assert_eq!(incident.started_at, 1_386_090_943);
    // Still open: the fixture's changes.closed_at is not a resolution.
    assert_eq!(incident.resolved_at, None);
    assert_eq!(incident.acknowledged_at, None);
    assert_eq!(incident.caused_by, None);
    assert_eq!(
        incident.url.as_deref(),
        Some("http://example.com/diaspora/issues/23")
    );
}

#[test]
fn release_fixture_is_a_deployment_only_when_configured() {
    let parsed = parse_fixture!("release.json", WebhookSettings::default());
    assert!(ignored_reason(&parsed).contains("releases_are_deployments"));

    let settings = WebhookSettings {
        releases_are_deployments: true,
        default_environment: "prod".into(),
        ..WebhookSettings::default()
    };
    let parsed = parse_fixture!("release.json", settings);
    let [Event::Deployment(deployment)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(deployment.source, Source::Gitlab);
    assert_eq!(deployment.id, "release:8273642");
    assert_eq!(deployment.service, "example-project");
    assert_eq!(deployment.environment, "prod");
    assert_eq!(deployment.sha, "2626dbdb936782b5c54816b1c6d45b1279303c6d");
    // 2021-02-25 21:23:34 UTC: 1_609_459_200 + 55 days (4_752_000) = 1_614_211_200,
    // + 21:23:34 (77_014 s) = 1_614_288_214.
    assert_eq!(deployment.finished_at, Some(1_614_288_214));
    assert_eq!(deployment.status, DeploymentStatus::Success);
}

#[test]
fn note_fixture_is_ignored() {
    let parsed = parse_fixture!("note_merge_request.json", WebhookSettings::default());
    assert!(ignored_reason(&parsed).contains("not an event loopwise uses"));
}

#[test]
fn feature_flag_fixture_is_a_flag_change_at_receipt_time() {
    let parsed = parse_fixture!("feature_flag.json", WebhookSettings::default());
    let [Event::FlagChange(flag)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(flag.source, Source::Gitlab);
    assert_eq!(flag.repository, "gitlabhq/gitlab-test");
    assert_eq!(flag.flag_id, "6");
    assert_eq!(flag.key, "test-feature-flag");
    assert_eq!(
        flag.description.as_deref(),
        Some("test-feature-flag-description")
    );
    assert!(flag.active);
    // The payload has no time of its own.
    assert_eq!(flag.changed_at, RECEIVED);
    assert_eq!(flag.actor.as_deref(), Some("root"));

    let off = json!({"object_kind": "feature_flag", "project": {"path_with_namespace": "a/b"},
                     "object_attributes": {"id": 9, "name": "new-checkout", "description": "",
                                           "active": false}});
    let parsed = parse_json(&off, &WebhookSettings::default()).unwrap();
    let [Event::FlagChange(flag)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert!(!flag.active);
    assert_eq!((&flag.description, &flag.actor), (&None, &None));

    let mut no_state = off.clone();
    no_state["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("active");
    assert_eq!(
        parse_json(&no_state, &WebhookSettings::default()).unwrap_err(),
        WebhookError::Missing {
            path: "object_attributes.active".into()
        }
    );
    let mut unnamed = off;
    unnamed["object_attributes"]["name"] = json!(" ");
    assert!(matches!(
        parse_json(&unnamed, &WebhookSettings::default()).unwrap_err(),
        WebhookError::Invalid { path, .. } if path == "object_attributes.name"
    ));
}

/// Every fixture with one value anywhere in it replaced by another of any type: never a panic,
/// and a rejection always names a field.
#[test]
fn mutated_fixtures_never_panic() {
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::{Config, TestRunner};

    fn pointers(value: &Value, at: String, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    pointers(
                        child,
                        format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                        into,
                    );
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    pointers(child, format!("{at}/{index}"), into);
                }
            }
            _ => {}
        }
        into.push(at);
    }

    let directory = loopwise_testkit::require_fixtures!().join("webhooks/gitlab");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let mut paths = Vec::new();
            pointers(&document, String::new(), &mut paths);
            paths.retain(|pointer| !pointer.is_empty() && !pointer.ends_with("/object_kind"));
            documents.push((document, paths));
        }
    }
    let replacement = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!("0000000000000000000000000000000000000000")),
        Just(json!("2024-13-01 00:00:00 UTC")),
    ];
    let settings = WebhookSettings {
        releases_are_deployments: true,
        incident_labels: vec!["API".into()],
        ..WebhookSettings::default()
    }
    .with_deployment_workflows(&["*".to_string()])
    .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 1_000,
        ..Config::default()
    });
    runner
        .run(
            &(any::<Index>(), any::<Index>(), replacement),
            |(document, field, value)| {
                let (document, paths) = document.get(&documents);
                let mut document = document.clone();
                let pointer: &String = field.get(paths);
                *document.pointer_mut(pointer).unwrap() = value;
                match gitlab::parse(None, document.to_string().as_bytes(), &settings, RECEIVED) {
                    Ok(_) => {}
                    Err(WebhookError::Missing { path } | WebhookError::Invalid { path, .. }) => {
                        prop_assert!(!path.is_empty())
                    }
                    Err(WebhookError::Json(error)) => {
                        prop_assert!(false, "re-serialised JSON rejected: {}", error)
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

// --- variants written here ------------------------------------------------------------------

const PROJECT: &str = "acme/shop";

fn project() -> Value {
    json!({"path_with_namespace": PROJECT, "web_url": "https://gitlab.example/acme/shop"})
}

fn sha(digit: char) -> String {
    digit.to_string().repeat(40)
}

fn commit(id: &str, message: &str, timestamp: &str) -> Value {
    json!({"id": id, "message": message, "title": message.lines().next().unwrap_or(""),
        "timestamp": timestamp, "author": {"name": "Ada", "email": "ada@example.com"}})
}

#[test]
fn a_complete_push_chains_from_before_in_either_listing_order() {
    let oldest_first = json!({
        "object_kind": "push", "ref": "refs/heads/main", "project": project(),
        "before": sha('a'), "after": sha('c'), "total_commits_count": 2,
        "commits": [
            commit(&sha('b'), "Add cart\n\nbody", "2024-03-01T10:00:00Z"),
            commit(&sha('c'), &format!("Revert \"Add cart\"\n\nThis reverts commit {}.", sha('b')),
                "2024-03-01T11:00:00+01:00"),
        ]
    });
    let mut newest_first = oldest_first.clone();
    newest_first["commits"].as_array_mut().unwrap().reverse();
    let settings = WebhookSettings::default();
    let expected = parse_json(&oldest_first, &settings).unwrap();
    assert_eq!(parse_json(&newest_first, &settings).unwrap(), expected);
    let [Event::Change(add), Event::Change(revert)] = events(&expected) else {
        panic!("{expected:?}")
    };
    assert_eq!(add.change.parents, vec![sha('a')]);
    assert_eq!(revert.change.parents, vec![sha('b')]);
    assert_eq!(add.change.subject, "Add cart");
    assert_eq!(revert.change.reverts, Some(sha('b')));
    // 2024-03-01T10:00:00Z: 2024-01-01 is 1_704_067_200, + 60 days (5_184_000) = 1_709_251_200,
    // + 10 h = 1_709_287_200; 11:00+01:00 is the same instant.
    assert_eq!(add.change.author_time, 1_709_287_200);
    assert_eq!(revert.change.author_time, 1_709_287_200);

    // A new branch (before = zeros): the oldest commit's parent is unknown.
    let mut new_branch = oldest_first.clone();
    new_branch["before"] = json!("0".repeat(40));
    let parsed = parse_json(&new_branch, &settings).unwrap();
    let [Event::Change(first), _] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert!(first.change.parents.is_empty());

    // Neither end is `after`: the order is unknown, so no parents at all.
    let mut unordered = oldest_first.clone();
    unordered["after"] = json!(sha('d'));
    let parsed = parse_json(&unordered, &settings).unwrap();
    assert!(parsed.events.iter().all(|event| matches!(
        event, Event::Change(pushed) if pushed.change.parents.is_empty()
    )));

    // Deleting the branch.
    let mut deletion = oldest_first;
    deletion["after"] = json!("0".repeat(40));
    deletion["commits"] = json!([]);
    assert!(ignored_reason(&parse_json(&deletion, &settings).unwrap()).contains("deleting"));
}

fn merge_request(action: &str, state: &str) -> Value {
    json!({
        "object_kind": "merge_request", "project": project(),
        "user": {"id": 7, "username": "bob"},
        "object_attributes": {
            "id": 901, "iid": 12, "title": "Cart", "author_id": 5, "state": state,
            "action": action, "created_at": "2024-03-01T09:00:00Z",
            "updated_at": "2024-03-01 10:15:00 UTC", "target_branch": "main",
            "merge_commit_sha": sha('e'), "last_commit": {"id": sha('f')}
        }
    })
}

#[test]
fn merged_and_approved_merge_requests() {
    let settings = WebhookSettings::default();
    let parsed = parse_json(&merge_request("merge", "merged"), &settings).unwrap();
    let [Event::PullRequest(pull)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(pull.state, PullRequestState::Merged);
    // 2024-03-01 10:15:00 UTC: 1_709_251_200 + 36_900 = 1_709_288_100.
    assert_eq!(pull.merged_at, Some(1_709_288_100));
    assert_eq!(pull.closed_at, Some(1_709_288_100));
    assert_eq!(pull.merge_sha, Some(sha('e')));
    assert_eq!(pull.head_sha, Some(sha('f')));

    // An open merge request's merge_commit_sha is not a merge.
    let parsed = parse_json(&merge_request("update", "opened"), &settings).unwrap();
    let [Event::PullRequest(open)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!((open.merge_sha.as_deref(), open.merged_at), (None, None));

    for action in ["approved", "approval"] {
        let parsed = parse_json(&merge_request(action, "opened"), &settings).unwrap();
        let [Event::PullRequest(pull), Event::PullRequestReview(review)] = events(&parsed) else {
            panic!("{parsed:?}")
        };
        assert_eq!(pull.author, "5");
        assert_eq!(review.id, "901:approved:bob", "one id for both actions");
        assert_eq!(review.number, 12);
        assert_eq!(review.repository, PROJECT);
        assert_eq!(review.reviewer, "bob");
        assert_eq!(review.state, ReviewState::Approved);
        assert_eq!(review.submitted_at, 1_709_288_100);
    }

    // The actor is the author: their username is known.
    let mut opened = merge_request("open", "opened");
    opened["user"]["id"] = json!(5);
    let parsed = parse_json(&opened, &settings).unwrap();
    let [Event::PullRequest(pull)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(pull.author, "bob");
}

fn deployment(status: &str, commit_url: &str) -> Value {
    json!({
        "object_kind": "deployment", "status": status, "deployment_id": 77,
        "status_changed_at": "2024-03-01 11:15:00 +0100", "environment": "production",
        "project": project(), "short_sha": "AbC1234f", "commit_url": commit_url
    })
}

#[test]
fn a_failed_deployment_and_unfinished_ones() {
    let settings = WebhookSettings::default();
    let parsed = parse_json(
        &deployment(
            "failed",
            "https://gitlab.example/acme/shop/-/commit/abc1234f",
        ),
        &settings,
    )
    .unwrap();
    let [Event::Deployment(failed)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(failed.status, DeploymentStatus::Failure);
    assert_eq!(failed.id, "77");
    assert_eq!(failed.service, "shop");
    // The URL ends in no full sha: the abbreviated one, lowercased, for later resolution.
    assert_eq!(failed.sha, "abc1234f");
    // 11:15:00 +0100 = 10:15:00Z = 1_709_288_100.
    assert_eq!(failed.finished_at, Some(1_709_288_100));

    for status in ["running", "canceled", "created"] {
        let parsed = parse_json(&deployment(status, ""), &settings).unwrap();
        assert!(ignored_reason(&parsed).contains(status));
    }
}

fn incident(object_kind: &str, attributes: Value, changes: Value) -> Value {
    json!({
        "object_kind": object_kind, "project": project(),
        "object_attributes": attributes, "changes": changes
    })
}

#[test]
fn a_closed_incident_is_resolved_at_its_closing_time() {
    let settings = WebhookSettings::default();
    let attributes = json!({
        "iid": 4, "title": "Checkout down", "type": "Incident", "state": "closed",
        "action": "close", "created_at": "2024-03-01T09:00:00Z",
        "updated_at": "2024-03-01T12:00:00Z", "severity": "CRITICAL",
        "url": "https://gitlab.example/acme/shop/-/issues/4"
    });
    let changes = json!({"closed_at": {"previous": null, "current": "2024-03-01 10:15:00 UTC"}});
    for kind in ["issue", "work_item"] {
        let parsed = parse_json(
            &incident(kind, attributes.clone(), changes.clone()),
            &settings,
        )
        .unwrap();
        let [Event::Incident(resolved)] = events(&parsed) else {
            panic!("{parsed:?}")
        };
        assert_eq!(resolved.id, "acme/shop#4");
        assert_eq!(resolved.service.as_deref(), Some("shop"));
        assert_eq!(resolved.severity.as_deref(), Some("critical"));
        // 2024-03-01T09:00:00Z = 1_709_251_200 + 32_400 = 1_709_283_600.
        assert_eq!(resolved.started_at, 1_709_283_600);
        // From changes.closed_at.current, not updated_at.
        assert_eq!(resolved.resolved_at, Some(1_709_288_100));
    }

    // An incident by label, with GitLab's "unknown" severity, reopened.
    let attributes = json!({
        "iid": 5, "title": "Slow search", "state": "opened", "action": "reopen",
        "created_at": "2024-03-01T09:00:00Z", "severity": "unknown",
        "labels": [{"title": "Incident"}]
    });
    let parsed = parse_json(&incident("issue", attributes, changes), &settings).unwrap();
    let [Event::Incident(open)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!((open.resolved_at, open.severity.as_deref()), (None, None));
}

#[test]
fn a_cancelled_tag_pipeline_is_no_deployment() {
    let settings = WebhookSettings::default()
        .with_deployment_workflows(&["Deploy *".to_string()])
        .unwrap();
    let mut pipeline = json!({
        "object_kind": "pipeline", "project": project(),
        "object_attributes": {
            "id": 555, "name": "Deploy production", "ref": "v1.2.0", "tag": true,
            "sha": sha('9'), "status": "canceled", "created_at": "2024-03-01 09:00:00 UTC",
            "finished_at": null, "url": "https://gitlab.example/acme/shop/-/pipelines/555"
        }
    });
    let parsed = parse_json(&pipeline, &settings).unwrap();
    let [Event::CiRun(run)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(run.status, CiStatus::Cancelled);
    assert_eq!(run.pipeline, "Deploy production");
    assert_eq!(run.branch, None, "a tag is not a branch");
    assert_eq!(run.started_at, Some(1_709_283_600));
    assert_eq!(run.finished_at, None);
    assert_eq!(
        run.url.as_deref(),
        Some("https://gitlab.example/acme/shop/-/pipelines/555")
    );

    pipeline["object_attributes"]["status"] = json!("failed");
    let parsed = parse_json(&pipeline, &settings).unwrap();
    let [Event::CiRun(_), Event::Deployment(deployment)] = events(&parsed) else {
        panic!("{parsed:?}")
    };
    assert_eq!(deployment.status, DeploymentStatus::Failure);

    pipeline["object_attributes"]["status"] = json!("some_future_status");
    let parsed = parse_json(&pipeline, &settings).unwrap();
    assert!(ignored_reason(&parsed).contains("some_future_status"));
}

#[test]
fn bad_deliveries_are_errors_naming_the_field() {
    let settings = WebhookSettings::default();
    assert!(matches!(
        gitlab::parse(None, b"{not json", &settings, RECEIVED),
        Err(WebhookError::Json(_))
    ));
    let mut broken = deployment("success", "");
    broken.as_object_mut().unwrap().remove("status_changed_at");
    assert_eq!(
        parse_json(&broken, &settings),
        Err(WebhookError::Missing {
            path: "status_changed_at".into()
        })
    );
    let mut broken = merge_request("open", "opened");
    broken["object_attributes"]["created_at"] = json!("yesterday");
    assert!(matches!(
        parse_json(&broken, &settings),
        Err(WebhookError::Invalid { path, .. }) if path == "object_attributes.created_at"
    ));
    // Unknown kinds and bodies without object_kind are acknowledged, not rejected.
    for body in [
        json!({"object_kind": "wiki_page"}),
        json!({"event_name": "user_create"}),
    ] {
        assert!(ignored_reason(&parse_json(&body, &settings).unwrap()).contains("not an event"));
    }
}

// --- authenticity and deduplication ---------------------------------------------------------

#[test]
fn token_right_wrong_missing_empty() {
    let secret = b"gl-hook-secret";
    assert_eq!(gitlab::verify_token(secret, Some("gl-hook-secret")), Ok(()));
    let mismatch = Err(AuthError::Mismatch {
        header: TOKEN_HEADER,
    });
    assert_eq!(
        gitlab::verify_token(secret, Some("gl-hook-secreT")),
        mismatch
    );
    assert_eq!(gitlab::verify_token(secret, Some("gl-hook")), mismatch);
    let missing = Err(AuthError::Missing {
        header: TOKEN_HEADER,
    });
    assert_eq!(gitlab::verify_token(secret, None), missing);
    assert_eq!(gitlab::verify_token(secret, Some("")), missing);
    let message = gitlab::verify_token(secret, Some("guess"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("X-Gitlab-Token"), "{message}");
    assert!(!message.contains("gl-hook-secret") && !message.contains("guess"));
}

#[test]
fn delivery_id_prefers_the_retry_stable_key() {
    let headers = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.to_string())
        }
    };
    assert_eq!(
        gitlab::delivery_id(headers(&[
            ("X-Gitlab-Event-UUID", "event"),
            ("X-Gitlab-Webhook-UUID", "request"),
            ("idempotency-key", "retry-stable"),
        ])),
        Some("retry-stable".into())
    );
    assert_eq!(
        gitlab::delivery_id(headers(&[
            ("X-Gitlab-Event-UUID", "event"),
            ("X-Gitlab-Webhook-UUID", " request "),
            ("Idempotency-Key", ""),
        ])),
        Some("request".into())
    );
    // The event UUID is shared by recursive hooks: never a key on its own.
    assert_eq!(
        gitlab::delivery_id(headers(&[("X-Gitlab-Event-UUID", "event")])),
        None
    );
}
