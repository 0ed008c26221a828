//! The webhook endpoints with the real payloads of the shared fixtures, signed as the sources
//! sign them.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use loopwise_ingest::webhooks::github::sign;
use loopwise_server::{AppState, Secret, ServerConfig, router};
use loopwise_store::{DeploymentFilter, Store};
use loopwise_store_sqlite::SqliteStore;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITLAB_TOKEN: &str = "gitlab-shared-token";

fn state() -> (tempfile::TempDir, Arc<SqliteStore>, AppState) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&directory.path().join("hooks.db")).unwrap());
    let config = ServerConfig {
        github_webhook_secret: Some(Secret::new(GITHUB_SECRET)),
        gitlab_webhook_token: Some(Secret::new(GITLAB_TOKEN)),
        ..ServerConfig::default()
    };
    let state = AppState::new(store.clone(), config);
    (directory, store, state)
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn github(event: &str, delivery: &str, signature: Option<&str>, body: &[u8]) -> Request<Body> {
    let mut request = Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn every_github_fixture_is_accepted_with_a_valid_signature_and_refused_without() {
    let fixtures = loopwise_testkit::require_fixtures!();
    let (_directory, store, state) = state();
    let mut deliveries = 0;
    for event_dir in std::fs::read_dir(fixtures.join("webhooks/github")).unwrap() {
        let event_dir = event_dir.unwrap().path();
        if !event_dir.is_dir() {
            continue;
        }
        let event = event_dir.file_name().unwrap().to_str().unwrap().to_string();
        for file in std::fs::read_dir(&event_dir).unwrap() {
            let path = file.unwrap().path();
            let body = std::fs::read(&path).unwrap();
            let delivery = format!("{event}/{}", path.file_name().unwrap().to_string_lossy());
            let (status, answer) = send(
                &state,
                github(
                    &event,
                    &delivery,
                    Some(&sign(GITHUB_SECRET.as_bytes(), &body)),
                    &body,
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{delivery}: {answer}");
            assert!(
                ["stored", "ignored"].contains(&answer["status"].as_str().unwrap()),
                "{delivery}: {answer}"
            );
            let (status, answer) = send(
                &state,
                github(
                    &event,
                    &delivery,
                    Some(&sign(GITHUB_SECRET.as_bytes(), &body)),
                    &body,
                ),
            )
            .await;
            assert_eq!(
                (status, answer["status"].as_str()),
                (StatusCode::OK, Some("duplicate")),
                "{delivery} replayed"
            );
            let (status, _) = send(
                &state,
                github(&event, "other", Some(&sign(b"wrong secret", &body)), &body),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{delivery} with a wrong secret"
            );
            let (status, _) = send(&state, github(&event, "other", None, &body)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{delivery} unsigned");
            deliveries += 1;
        }
    }
    assert!(deliveries >= 30, "read the fixtures: {deliveries}");
    // The deployment_status fixture: deployment 145988746 of Codertocat/Hello-World, sha
    // f95f852…, success at 2019-05-15T15:20:55Z = 1557933655.
    let deployments = store
        .deployments(&DeploymentFilter {
            service: Some("Hello-World".into()),
            ..Default::default()
        })
        .unwrap();
    let deployment = deployments
        .iter()
        .find(|d| d.id == "145988746")
        .expect("the fixture's deployment");
    assert_eq!(deployment.sha, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
    assert_eq!(deployment.environment, "production");
    assert_eq!(deployment.finished_at, Some(1_557_933_655));
}

#[tokio::test]
async fn a_tampered_body_fails_its_signature_and_stores_nothing() {
    let (_directory, store, state) = state();
    let body = br#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
    let signature = sign(GITHUB_SECRET.as_bytes(), body);
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    let (status, answer) = send(&state, github("ping", "d-1", Some(&signature), &tampered)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !answer.to_string().contains(GITHUB_SECRET),
        "no secret in errors"
    );
    let (status, answer) = send(&state, github("ping", "d-1", Some(&signature), body)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    assert_eq!(store.counts().unwrap().deployments, 0);
}

#[tokio::test]
async fn a_payload_with_a_missing_field_is_a_named_400() {
    let (_directory, _store, state) = state();
    let body = br#"{"action": "created", "deployment_status": {"state": "success", "created_at": "2024-01-01T00:00:00Z"}, "repository": {"full_name": "a/b"}}"#;
    let (status, answer) = send(
        &state,
        github(
            "deployment_status",
            "d-2",
            Some(&sign(GITHUB_SECRET.as_bytes(), body)),
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_payload");
    assert!(
        answer["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("deployment"),
        "{answer}"
    );
}

fn gitlab(token: Option<&str>, idempotency_key: &str, body: &[u8]) -> Request<Body> {
    let mut request = Request::post("/webhooks/gitlab")
        .header("content-type", "application/json")
        .header("idempotency-key", idempotency_key);
    if let Some(token) = token {
        request = request.header("x-gitlab-token", token);
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn every_gitlab_fixture_is_accepted_with_the_token_and_refused_without() {
    let fixtures = loopwise_testkit::require_fixtures!();
    let (_directory, store, state) = state();
    let mut deliveries = 0;
    for file in std::fs::read_dir(fixtures.join("webhooks/gitlab")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let key = path.file_name().unwrap().to_string_lossy().to_string();
        let (status, answer) = send(&state, gitlab(Some(GITLAB_TOKEN), &key, &body)).await;
        assert_eq!(status, StatusCode::OK, "{key}: {answer}");
        let (_, answer) = send(&state, gitlab(Some(GITLAB_TOKEN), &key, &body)).await;
        assert_eq!(
            answer["status"], "duplicate",
            "{key} retried with the same Idempotency-Key"
        );
        let (status, _) = send(&state, gitlab(Some("wrong"), "x", &body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key} with a wrong token");
        let (status, _) = send(&state, gitlab(None, "y", &body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key} without a token");
        deliveries += 1;
    }
    assert!(deliveries >= 10, "read the fixtures: {deliveries}");
    let deployments = store
        .deployments(&DeploymentFilter {
            source: Some(loopwise_core::entities::Source::Gitlab),
            ..Default::default()
        })
        .unwrap();
    // deployment.json: deployment 15 of root/test-deployment-webhooks to staging, full sha from
    // the end of commit_url, status changed 2021-04-28 21:50:00 +0200 = 19:50:00Z = 1619639400.
    assert_eq!(
        deployments.len(),
        1,
        "the deployment fixture: {deployments:?}"
    );
    assert_eq!(
        deployments[0].sha,
        "279484c09fbe69ededfced8c1bb6e6d24616b468"
    );
    assert_eq!(deployments[0].environment, "staging");
    assert_eq!(deployments[0].finished_at, Some(1_619_639_400));
    // job.json: the second attempt (retries_count 1) of job auto_deploy:start in pipeline
    // 743121198, stored once although delivered twice.
    let runs = store
        .ci_runs("95d49d1efbd941908580e79d65e4b5ecaf4a8305")
        .unwrap();
    let attempts: Vec<(&str, u32)> = runs.iter().map(|r| (r.id.as_str(), r.attempt)).collect();
    assert_eq!(attempts, [("job:743121198:auto_deploy:start", 2)]);
    // feature_flag.json: flag 6 of gitlabhq/gitlab-test switched on, at the receipt time.
    let flags = store.flag_changes(Some("gitlabhq/gitlab-test")).unwrap();
    let flags: Vec<(&str, bool)> = flags.iter().map(|f| (f.key.as_str(), f.active)).collect();
    assert_eq!(flags, [("test-feature-flag", true)]);
}
