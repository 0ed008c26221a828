//! GitLab deliveries: `X-Gitlab-Token` verification and parsing of the events that feed the
//! metrics.
//!
//! Three pure functions for the server: [`verify_token`] (is the delivery from our GitLab?),
//! [`delivery_id`] (has this delivery been processed before?) and [`parse`] (what does it
//! mean?). Payload shapes are those of `reference/webhooks.md` section 2 and go-gitlab's
//! `testdata/webhooks`.
//!
//! # What each delivery yields
//!
//! [`parse`] dispatches on the body's `object_kind`, not on the `X-Gitlab-Event` header: the
//! header names the *hook* (`Job Hook` carries `object_kind: "build"`, and GitLab has sent
//! work items under `Issue Hook`) and may be dropped by proxies, while `object_kind` is what
//! shapes the fields that follow it.
//!
//! | `object_kind` (action / status) | events |
//! |---|---|
//! | `push` to a branch | one [`Event::Change`] per `commits[]` entry (see *Pushes* below) |
//! | `push` deleting a branch (`after` all zeros), or listing no commits | ignored |
//! | `tag_push` | no event: a tag is not a deployment by itself; tags come from the git import (the server's mirror fetches on it) and deployments from `deployment` / `release` events |
//! | `merge_request` (any action) | [`Event::PullRequest`] |
//! | `merge_request` (`approved`, `approval`) | also a [`PullRequestReview`] with state `Approved` |
//! | `pipeline` | [`Event::CiRun`] (attempt 1) |
//! | `pipeline` named like `deployment_workflows`, status `success` / `failed` | also an [`Event::Deployment`] (id `pipeline:<id>`) |
//! | `build` (job) with a known `build_status` | [`Event::CiRun`] (id `job:<pipeline_id>:<build_name>`, attempt `retries_count + 1`; see *Jobs* below) |
//! | `build` (job) in a status this module does not know | ignored |
//! | `deployment` (`success`, `failed`) | [`Event::Deployment`] (id = `deployment_id`) |
//! | `deployment` (`running`, `canceled`, other) | ignored: not finished, or never went out |
//! | `issue`, `work_item` of type `Incident` or with an incident label | [`Event::Incident`] (id `<project path>#<iid>`) |
//! | `issue`, `work_item` otherwise | ignored |
//! | `release` (`create`), with `releases_are_deployments` | [`Event::Deployment`] (id `release:<id>`) |
//! | `release` otherwise (setting off, `update`, `delete`) | ignored |
//! | `feature_flag` | [`Event::FlagChange`] at the delivery's receipt time (the payload has no time) |
//! | `note`, anything else, a body without `object_kind` | ignored |
//!
//! Ignored deliveries are `Ok` with a reason ([`Parsed::ignored`]), never errors: GitLab
//! disables a hook whose deliveries keep failing. So are merge requests in a `state` and
//! pipelines in a `status` this module does not know (a newer GitLab's). A delivery of a used
//! kind that lacks a field the kind needs, or has one of the wrong type, is a
//! [`WebhookError::Missing`] / [`WebhookError::Invalid`] naming the JSON path
//! (`object_attributes.iid`, `commits[1].id`); a body that is not JSON is
//! [`WebhookError::Json`]. Nothing here panics on any input.
//!
//! # Pushes
//!
//! The push payload lists commits without their parents. Parents are inferred along the pushed
//! chain: each listed commit's parent is the commit listed before it (oldest first), and the
//! oldest one's parent is `before`. That is exact for the common linear push and is an
//! approximation otherwise:
//!
//! * GitLab has listed commits oldest-first (its documentation, the fixture) and, in some
//!   versions, newest-first; the order is therefore taken from the data: the listed end that is
//!   `after` is the newest. When neither end is `after`, the order is unknown and no parents are
//!   set rather than wrong ones.
//! * `commits[]` holds at most 20 commits; `total_commits_count` has the real number. When
//!   fewer are listed, the oldest listed commit's parent is not `before` and is left unknown
//!   (empty); the commits that are listed are still emitted. So is it when `before` is all
//!   zeros (a new branch: GitLab lists the commits not on the default branch).
//! * A push that contains merges, or a force push, does not form a chain: its merge commits
//!   appear with one parent and the oldest commit's real parent may not be `before`. The
//!   server fills and corrects the graph from a mirror of the repository; these events give it
//!   the commits' times and authors early.
//!
//! GitLab sends one `timestamp` per commit; it is used as both author and committer time. The
//! subject is the message's first line (GitLab's `title` is cut at 100 characters), else
//! `title`.
//!
//! # Jobs
//!
//! A retried GitLab job is a new job (a new `build_id`) in the same pipeline, carrying
//! `retries_count`. So a job's run is identified by its pipeline and name, and each retry is
//! the next attempt of that run: a job that failed and passed on retry is one run with two
//! attempts, which is what flaky-job tracking needs. The job's repository is the project path,
//! from `project.path_with_namespace` when the payload has it, else the path of
//! `repository.homepage` (job payloads carry only a display `project_name`). A job that deploys
//! to an environment is not a deployment here: GitLab sends a `deployment` event for it, and
//! counting both would count the deployment twice.
//!
//! # Merge requests
//!
//! The author is a username only when the delivery's actor (`user`) is the author
//! (`user.id == object_attributes.author_id`), e.g. on `open`; otherwise the payload names the
//! author only by id, which is then used as text. `merged_at` is the `updated_at` of the
//! `action: "merge"` delivery (the payload has no merge time); later deliveries about a merged
//! merge request carry no `merged_at`. An approval's time is the merge request's `updated_at`,
//! which approvals do not always move.

use super::{AuthError, Parsed, WebhookError, WebhookSettings, parse_webhook_time};
use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{
    CiRun, CiStatus, Event, FlagChange, Incident, PullRequest, PullRequestReview, PullRequestState,
    PushedChange, ReviewState,
};
use loopwise_core::rules::revert_targets;
use loopwise_core::time::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header that carries the hook's secret token, in plain text.
pub const TOKEN_HEADER: &str = "X-Gitlab-Token";

/// The headers [`delivery_id`] reads, in order of preference.
pub const DELIVERY_ID_HEADERS: [&str; 2] = ["Idempotency-Key", "X-Gitlab-Webhook-UUID"];

/// Checks the `X-Gitlab-Token` header against the configured secret.
///
/// GitLab sends the secret itself, not a signature, so the comparison is of SHA-256 digests of
/// both values in constant time: the time taken does not depend on how much of the secret a
/// guess gets right, and a guess of another length is compared like any other. An empty
/// secret authenticates nothing. Errors name the header, never a value.
pub fn verify_token(secret: &[u8], header: Option<&str>) -> Result<(), AuthError> {
    let presented = match header {
        Some(value) if !value.is_empty() => value,
        _ => {
            return Err(AuthError::Missing {
                header: TOKEN_HEADER,
            });
        }
    };
    let expected = Sha256::digest(secret);
    let received = Sha256::digest(presented.as_bytes());
    let equal: bool = expected.as_slice().ct_eq(received.as_slice()).into();
    if equal && !secret.is_empty() {
        Ok(())
    } else {
        Err(AuthError::Mismatch {
            header: TOKEN_HEADER,
        })
    }
}

/// The key a delivery is deduplicated by, from the request headers (`headers` looks a header
/// up by name; the caller matches names case-insensitively, as HTTP does).
///
/// * `Idempotency-Key` (GitLab 17.4+) stays the same when GitLab retries or an administrator
///   resends the delivery, and differs between events: exactly a deduplication key.
/// * Else `X-Gitlab-Webhook-UUID` (GitLab 16.2+), a new random value per request: it never
///   merges two events, it just does not recognise a retry (the events themselves are still
///   stored once, by their own ids).
/// * `X-Gitlab-Event-UUID` is deliberately not used: GitLab documents that "recursive webhooks
///   have the same value", so when a bot reacts to one delivery through the API (approves,
///   merges, closes), the next, different event arrives with the same value, and keying on it
///   would drop that event as a redelivery.
///
/// `None` when neither header is present; the delivery is then processed without a key.
pub fn delivery_id(headers: impl Fn(&str) -> Option<String>) -> Option<String> {
    DELIVERY_ID_HEADERS.iter().find_map(|name| {
        headers(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    })
}

/// Turns one delivery into core events; see the module documentation for what each
/// `object_kind` yields. `event_header` (`X-Gitlab-Event`) is used only to explain ignored
/// deliveries: the body's `object_kind` decides. `received_at` is when the delivery arrived,
/// the time of events whose payload carries none (feature flag changes).
pub fn parse(
    event_header: Option<&str>,
    body: &[u8],
    settings: &WebhookSettings,
    received_at: Timestamp,
) -> Result<Parsed, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| WebhookError::Json(error.to_string()))?;
    let root = Node::root(&value)?;
    let Some(kind) = root.opt_str("object_kind")? else {
        let name = match root.opt_str("event_name") {
            Ok(Some(name)) => name,
            _ => event_header.unwrap_or("unnamed"),
        };
        return Ok(Parsed::ignored(format!(
            "{} without object_kind: not an event loopwise uses",
            quoted(name)
        )));
    };
    match kind {
        "push" => parse_push(&root),
        "tag_push" => parse_tag_push(&root),
        "merge_request" => parse_merge_request(&root),
        "pipeline" => parse_pipeline(&root, settings),
        "build" => parse_job(&root),
        "deployment" => parse_deployment(&root, settings),
        "issue" | "work_item" => parse_issue(&root, settings),
        "release" => parse_release(&root, settings),
        "feature_flag" => parse_feature_flag(&root, received_at),
        other => Ok(Parsed::ignored(format!(
            "object_kind {}: not an event loopwise uses",
            quoted(other)
        ))),
    }
}

// --- push -------------------------------------------------------------------------------------

fn parse_push(root: &Node<'_>) -> Result<Parsed, WebhookError> {
    let repository = root.str("project.path_with_namespace")?.to_string();
    let reference = root.str("ref")?;
    let after = root.sha("after")?;
    if is_null_sha(&after) {
        return Ok(Parsed::ignored("push deleting a branch").with_refs_moved(&repository));
    }
    let commits = root.opt_array("commits")?;
    if commits.is_empty() {
        return Ok(Parsed::ignored("push listing no commits").with_refs_moved(&repository));
    }
    let before = root.opt_sha("before")?;
    let total = root.opt_u64("total_commits_count")?;
    let mut changes = commits
        .iter()
        .map(change_from_commit)
        .collect::<Result<Vec<_>, _>>()?;

    let newest_first = changes.first().is_some_and(|c| c.sha == after)
        && changes.last().is_some_and(|c| c.sha != after);
    let order_known = changes.last().is_some_and(|c| c.sha == after) || newest_first;
    if newest_first {
        changes.reverse();
    }
    if order_known {
        let complete = total.is_none_or(|total| total <= changes.len() as u64);
        for index in 1..changes.len() {
            let parent = changes[index - 1].sha.clone();
            changes[index].parents = vec![parent];
        }
        if let (true, Some(before), Some(oldest)) = (complete, before, changes.first_mut())
            && !is_null_sha(&before)
        {
            oldest.parents = vec![before];
        }
    }

    let branch = reference.strip_prefix("refs/heads/").map(str::to_string);
    Ok(Parsed::events(
        changes
            .into_iter()
            .map(|change| {
                Event::Change(PushedChange {
                    repository: repository.clone(),
                    branch: branch.clone(),
                    change,
                })
            })
            .collect(),
    )
    .with_refs_moved(&repository))
}

/// A tag push yields no event (a tag is not a deployment by itself, and its time is not in the
/// payload) but moves a ref: the mirror fetches the tag, which a release deployment may name.
fn parse_tag_push(root: &Node<'_>) -> Result<Parsed, WebhookError> {
    let repository = root.str("project.path_with_namespace")?;
    Ok(Parsed::ignored(
        "tag push: tags are read by the repository's mirror and deployments come from \
         deployment and release events",
    )
    .with_refs_moved(repository))
}

fn change_from_commit(commit: &Node<'_>) -> Result<Change, WebhookError> {
    let sha = commit.sha("id")?;
    let message = commit.opt_str("message")?.unwrap_or("");
    let first_line = message.lines().next().unwrap_or("").trim();
    let subject = if first_line.is_empty() {
        commit.opt_str("title")?.unwrap_or("").trim().to_string()
    } else {
        first_line.to_string()
    };
    let time = commit.time("timestamp")?;
    Ok(Change {
        sha,
        parents: Vec::new(),
        author_time: time,
        committer_time: time,
        author_name: commit.str("author.name")?.trim().to_string(),
        author_email: commit
            .opt_str("author.email")?
            .unwrap_or("")
            .trim()
            .to_string(),
        subject,
        reverts: revert_targets(message.as_bytes()),
    })
}

// --- merge requests ---------------------------------------------------------------------------

fn parse_merge_request(root: &Node<'_>) -> Result<Parsed, WebhookError> {
    let repository = root.str("project.path_with_namespace")?.to_string();
    let attributes = root.get("object_attributes")?;
    let state = match attributes.str("state")? {
        "merged" => PullRequestState::Merged,
        "closed" => PullRequestState::Closed,
        "opened" | "locked" => PullRequestState::Open,
        other => {
            return Ok(Parsed::ignored(format!(
                "merge request state {}: not one loopwise knows",
                quoted(other)
            )));
        }
    };
    let number = attributes.u64("iid")?;
    let action = attributes.opt_str("action")?;
    let created_at = attributes.time("created_at")?;
    let (merged_at, closed_at) = match action {
        Some("merge") => {
            let merged = attributes.time("updated_at")?;
            (Some(merged), Some(merged))
        }
        Some("close") => (None, Some(attributes.time("updated_at")?)),
        _ => (None, None),
    };
    let merge_sha = match state {
        PullRequestState::Merged => attributes.opt_sha("merge_commit_sha")?,
        _ => None,
    };
    let pull = PullRequest {
        source: Source::Gitlab,
        repository: repository.clone(),
        number,
        title: attributes.opt_str("title")?.unwrap_or("").to_string(),
        author: merge_request_author(root, &attributes)?,
        state,
        created_at,
        merged_at,
        closed_at,
        merge_sha,
        head_sha: attributes.opt_sha("last_commit.id")?,
        base_branch: attributes.opt_str("target_branch")?.map(str::to_string),
        additions: None,
        deletions: None,
    };
    let mut events = vec![Event::PullRequest(pull)];
    if matches!(action, Some("approved" | "approval")) {
        let reviewer = root.str("user.username")?.to_string();
        events.push(Event::PullRequestReview(PullRequestReview {
            source: Source::Gitlab,
            repository,
            number,
            // "approval" (one approver) and "approved" (the rules are met) can both follow
            // one click: one id for both, so they are stored once.
            id: format!("{}:approved:{reviewer}", attributes.id("id")?),
            reviewer,
            state: ReviewState::Approved,
            submitted_at: attributes.time("updated_at")?,
        }));
    }
    Ok(Parsed::events(events))
}

/// The author's username when known, else their numeric id as text (module docs).
fn merge_request_author(root: &Node<'_>, attributes: &Node<'_>) -> Result<String, WebhookError> {
    if let Some(username) = attributes.opt_str("author.username")? {
        return Ok(username.to_string());
    }
    let author_id = attributes.id("author_id")?;
    if root.opt_id("user.id")?.as_deref() == Some(author_id.as_str())
        && let Some(username) = root.opt_str("user.username")?
    {
        return Ok(username.to_string());
    }
    Ok(author_id)
}

// --- pipelines --------------------------------------------------------------------------------

fn parse_pipeline(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed, WebhookError> {
    let repository = root.str("project.path_with_namespace")?.to_string();
    let attributes = root.get("object_attributes")?;
    let status_text = attributes.str("status")?;
    let Some(status) = pipeline_status(status_text) else {
        return Ok(Parsed::ignored(format!(
            "pipeline status {}: not one loopwise knows",
            quoted(status_text)
        )));
    };
    let id = attributes.id("id")?;
    let sha = attributes.sha("sha")?;
    let reference = attributes.opt_str("ref")?;
    let is_tag = attributes.opt_bool("tag")?.unwrap_or(false);
    let pipeline = match (attributes.opt_str("name")?, reference) {
        (Some(name), _) if !name.trim().is_empty() => name.trim().to_string(),
        (_, Some(reference)) if !reference.is_empty() => reference.to_string(),
        _ => "pipeline".to_string(),
    };
    let started_at = attributes.opt_time("created_at")?;
    let finished_at = attributes.opt_time("finished_at")?;
    let url = match attributes.opt_str("url")? {
        Some(url) => Some(url.to_string()),
        None => root
            .opt_str("project.web_url")?
            .map(|web| format!("{}/-/pipelines/{id}", web.trim_end_matches('/'))),
    };

    // A deployment pipeline is matched by the name the run is stored under: the pipeline's
    // `name` (GitLab 16.3+), else its ref, so `main` can mark every main pipeline a deployment.
    let deployment_status = match status {
        CiStatus::Success => Some(DeploymentStatus::Success),
        CiStatus::Failure => Some(DeploymentStatus::Failure),
        _ => None,
    };
    let deployment = deployment_status
        .filter(|_| settings.deployment_workflows.is_match(&pipeline))
        .map(|deployment_status| Deployment {
            source: Source::Gitlab,
            id: format!("pipeline:{id}"),
            service: settings.service_for(&repository),
            environment: settings.default_environment.clone(),
            sha: sha.clone(),
            started_at,
            finished_at,
            status: deployment_status,
            kind: DeploymentKind::Normal,
        });
    let run = CiRun {
        source: Source::Gitlab,
        id,
        // Retrying jobs keeps the pipeline (and its id) and GitLab reports no attempt number
        // for pipelines: each pipeline is one attempt.
        attempt: 1,
        repository,
        pipeline,
        sha,
        branch: reference.filter(|_| !is_tag).map(str::to_string),
        status,
        started_at,
        finished_at,
        url,
    };
    let mut events = vec![Event::CiRun(run)];
    events.extend(deployment.map(Event::Deployment));
    Ok(Parsed::events(events))
}

fn parse_job(root: &Node<'_>) -> Result<Parsed, WebhookError> {
    let status_text = root.str("build_status")?;
    let Some(status) = pipeline_status(status_text) else {
        return Ok(Parsed::ignored(format!(
            "job status {}: not one loopwise knows",
            quoted(status_text)
        )));
    };
    let repository = job_repository(root)?;
    let pipeline_id = root.id("pipeline_id")?;
    let name = root.str("build_name")?.trim();
    if name.is_empty() {
        return Err(WebhookError::Invalid {
            path: "build_name".to_string(),
            reason: "expected a job name".to_string(),
        });
    }
    let job_id = root.id("build_id")?;
    let retries = root.opt_u64("retries_count")?.unwrap_or(0);
    let attempt = u32::try_from(retries.saturating_add(1)).map_err(|_| WebhookError::Invalid {
        path: "retries_count".to_string(),
        reason: "too large".to_string(),
    })?;
    let sha = match root.opt_sha("sha")? {
        Some(sha) => sha,
        None => root.sha("commit.sha")?,
    };
    let is_tag = root.opt_bool("tag")?.unwrap_or(false);
    let branch = root
        .opt_str("ref")?
        .filter(|reference| !is_tag && !reference.is_empty())
        .map(str::to_string);
    let url = root
        .opt_str("repository.homepage")?
        .map(|home| format!("{}/-/jobs/{job_id}", home.trim_end_matches('/')));
    Ok(Parsed::events(vec![Event::CiRun(CiRun {
        source: Source::Gitlab,
        id: format!("job:{pipeline_id}:{name}"),
        attempt,
        repository,
        pipeline: name.to_string(),
        sha,
        branch,
        status,
        started_at: root.opt_time("build_started_at")?,
        finished_at: root.opt_time("build_finished_at")?,
        url,
    })]))
}

/// The project path of a job: `project.path_with_namespace`, else the path of
/// `repository.homepage` (`https://gitlab.com/group/sub/project` → `group/sub/project`).
fn job_repository(root: &Node<'_>) -> Result<String, WebhookError> {
    if let Some(path) = root.opt_str("project.path_with_namespace")? {
        return Ok(path.to_string());
    }
    let homepage = root.str("repository.homepage")?;
    homepage
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path.trim_matches('/'))
        .filter(|path| !path.is_empty())
        .map(str::to_string)
        .ok_or_else(|| WebhookError::Invalid {
            path: "repository.homepage".to_string(),
            reason: "expected a project URL like https://gitlab.example.com/group/project"
                .to_string(),
        })
}

fn pipeline_status(status: &str) -> Option<CiStatus> {
    Some(match status {
        "created" | "pending" | "waiting_for_resource" | "preparing" | "scheduled" => {
            CiStatus::Queued
        }
        // "canceling" (GitLab 17+): a cancel in progress; the run ends with "canceled".
        "running" | "canceling" => CiStatus::Running,
        "success" => CiStatus::Success,
        "failed" => CiStatus::Failure,
        "canceled" => CiStatus::Cancelled,
        "skipped" | "manual" => CiStatus::Skipped,
        _ => return None,
    })
}

// --- feature flags ----------------------------------------------------------------------------

fn parse_feature_flag(root: &Node<'_>, received_at: Timestamp) -> Result<Parsed, WebhookError> {
    let repository = root.str("project.path_with_namespace")?.to_string();
    let attributes = root.get("object_attributes")?;
    let key = attributes.str("name")?.trim();
    if key.is_empty() {
        return Err(WebhookError::Invalid {
            path: "object_attributes.name".to_string(),
            reason: "expected a flag name".to_string(),
        });
    }
    let active = attributes
        .opt_bool("active")?
        .ok_or_else(|| WebhookError::Missing {
            path: "object_attributes.active".to_string(),
        })?;
    Ok(Parsed::events(vec![Event::FlagChange(FlagChange {
        source: Source::Gitlab,
        repository,
        flag_id: attributes.id("id")?,
        key: key.to_string(),
        description: attributes
            .opt_str("description")?
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_string),
        active,
        changed_at: received_at,
        actor: root.opt_str("user.username")?.map(str::to_string),
    })]))
}

// --- deployments ------------------------------------------------------------------------------

fn parse_deployment(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed, WebhookError> {
    let status = match root.str("status")? {
        "success" => DeploymentStatus::Success,
        "failed" => DeploymentStatus::Failure,
        other => {
            return Ok(Parsed::ignored(format!(
                "deployment status {}: only finished deployments (success, failed) count",
                quoted(other)
            )));
        }
    };
    let repository = root.str("project.path_with_namespace")?;
    Ok(Parsed::events(vec![Event::Deployment(Deployment {
        source: Source::Gitlab,
        id: root.id("deployment_id")?,
        service: settings.service_for(repository),
        environment: root.str("environment")?.to_string(),
        sha: deployed_sha(root)?,
        started_at: None,
        finished_at: Some(root.time("status_changed_at")?),
        status,
        kind: DeploymentKind::Normal,
    })]))
}

/// The deployment event has only `short_sha` and `commit_url`: the full sha is the URL's last
/// segment when that is one (as Four Keys does), else the short sha, to be resolved later.
fn deployed_sha(root: &Node<'_>) -> Result<String, WebhookError> {
    if let Some(url) = root.opt_str("commit_url")? {
        let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if is_full_sha(last) {
            return Ok(last.to_ascii_lowercase());
        }
    }
    let short = root.get("short_sha")?;
    let text = short.as_str()?;
    if text.len() < 4 || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(short.invalid("expected an abbreviated commit sha"));
    }
    Ok(text.to_ascii_lowercase())
}

// --- incidents --------------------------------------------------------------------------------

fn parse_issue(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed, WebhookError> {
    let attributes = root.get("object_attributes")?;
    let typed_incident = [
        attributes.opt_str("type")?,
        attributes.opt_str("issue_type")?,
    ]
    .into_iter()
    .flatten()
    .any(|kind| kind.trim().eq_ignore_ascii_case("incident"));
    let labelled_incident = label_titles(&attributes)?
        .into_iter()
        .chain(label_titles(root)?)
        .any(|label| settings.is_incident_label(label));
    if !typed_incident && !labelled_incident {
        return Ok(Parsed::ignored(
            "issue that is not an incident (neither of type Incident nor with an incident label)",
        ));
    }
    let repository = root.str("project.path_with_namespace")?;
    let resolved_at = if attributes.opt_str("state")? == Some("closed") {
        let mut closed = attributes.opt_time("closed_at")?;
        if closed.is_none() {
            closed = root.opt_time("changes.closed_at.current")?;
        }
        if closed.is_none() && attributes.opt_str("action")? == Some("close") {
            closed = attributes.opt_time("updated_at")?;
        }
        closed
    } else {
        None
    };
    let severity = attributes
        .opt_str("severity")?
        .map(|severity| severity.trim().to_ascii_lowercase())
        // GitLab's default severity: nobody said.
        .filter(|severity| !severity.is_empty() && severity != "unknown");
    Ok(Parsed::events(vec![Event::Incident(Incident {
        source: Source::Gitlab,
        id: format!("{repository}#{}", attributes.u64("iid")?),
        service: Some(settings.service_for(repository)),
        title: attributes.opt_str("title")?.unwrap_or("").to_string(),
        severity,
        started_at: attributes.time("created_at")?,
        acknowledged_at: None,
        resolved_at,
        caused_by: None,
        url: attributes.opt_str("url")?.map(str::to_string),
    })]))
}

/// `labels[].title` under `node`.
fn label_titles<'a>(node: &Node<'a>) -> Result<Vec<&'a str>, WebhookError> {
    node.opt_array("labels")?
        .iter()
        .filter_map(|label| label.opt_str("title").transpose())
        .collect()
}

// --- releases ---------------------------------------------------------------------------------

fn parse_release(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed, WebhookError> {
    if !settings.releases_are_deployments {
        return Ok(Parsed::ignored(
            "release: releases are not deployments here (releases_are_deployments is off)",
        ));
    }
    if let Some(action) = root.opt_str("action")?
        && action != "create"
    {
        return Ok(Parsed::ignored(format!(
            "release action {}: only a created release is a deployment",
            quoted(action)
        )));
    }
    let repository = root.str("project.path_with_namespace")?;
    // `released_at` may be set in the past (a historical release) or the future (an upcoming
    // one); the earlier of it and `created_at` is when the release existed.
    let finished_at = match (root.opt_time("released_at")?, root.opt_time("created_at")?) {
        (Some(released), Some(created)) => released.min(created),
        (Some(time), None) | (None, Some(time)) => time,
        (None, None) => return Err(root.missing("released_at")),
    };
    Ok(Parsed::events(vec![Event::Deployment(Deployment {
        source: Source::Gitlab,
        id: format!("release:{}", root.id("id")?),
        service: settings.service_for(repository),
        environment: settings.default_environment.clone(),
        sha: root.sha("commit.id")?,
        started_at: None,
        finished_at: Some(finished_at),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    })]))
}

// --- typed field access -----------------------------------------------------------------------

/// A JSON value and the path it was found at, so every error names the field at fault.
#[derive(Debug, Clone)]
struct Node<'a> {
    value: &'a Value,
    /// Dotted path from the body's root; empty for the root itself.
    path: String,
}

impl<'a> Node<'a> {
    fn root(value: &'a Value) -> Result<Self, WebhookError> {
        if !value.is_object() {
            return Err(WebhookError::Invalid {
                path: "$".to_string(),
                reason: "the body must be a JSON object".to_string(),
            });
        }
        Ok(Self {
            value,
            path: String::new(),
        })
    }

    fn join(&self, dotted: &str) -> String {
        if self.path.is_empty() {
            dotted.to_string()
        } else {
            format!("{}.{dotted}", self.path)
        }
    }

    fn missing(&self, dotted: &str) -> WebhookError {
        WebhookError::Missing {
            path: self.join(dotted),
        }
    }

    fn invalid(&self, reason: &str) -> WebhookError {
        WebhookError::Invalid {
            path: if self.path.is_empty() {
                "$".to_string()
            } else {
                self.path.clone()
            },
            reason: reason.to_string(),
        }
    }

    /// The value at `dotted` (keys separated by dots) below this node; `None` when it or an
    /// object on the way is absent or null.
    fn find(&self, dotted: &str) -> Result<Option<Node<'a>>, WebhookError> {
        let mut current = self.clone();
        for key in dotted.split('.') {
            let Value::Object(map) = current.value else {
                return Err(current.invalid("expected an object"));
            };
            match map.get(key) {
                None | Some(Value::Null) => return Ok(None),
                Some(value) => {
                    current = Node {
                        value,
                        path: current.join(key),
                    }
                }
            }
        }
        Ok(Some(current))
    }

    fn get(&self, dotted: &str) -> Result<Node<'a>, WebhookError> {
        self.find(dotted)?.ok_or_else(|| self.missing(dotted))
    }

    fn as_str(&self) -> Result<&'a str, WebhookError> {
        self.value
            .as_str()
            .ok_or_else(|| self.invalid("expected a string"))
    }

    fn str(&self, dotted: &str) -> Result<&'a str, WebhookError> {
        self.get(dotted)?.as_str()
    }

    fn opt_str(&self, dotted: &str) -> Result<Option<&'a str>, WebhookError> {
        self.find(dotted)?.map(|node| node.as_str()).transpose()
    }

    fn opt_bool(&self, dotted: &str) -> Result<Option<bool>, WebhookError> {
        self.find(dotted)?
            .map(|node| {
                node.value
                    .as_bool()
                    .ok_or_else(|| node.invalid("expected true or false"))
            })
            .transpose()
    }

    fn as_u64(&self) -> Result<u64, WebhookError> {
        self.value
            .as_u64()
            .ok_or_else(|| self.invalid("expected a non-negative whole number"))
    }

    fn u64(&self, dotted: &str) -> Result<u64, WebhookError> {
        self.get(dotted)?.as_u64()
    }

    fn opt_u64(&self, dotted: &str) -> Result<Option<u64>, WebhookError> {
        self.find(dotted)?.map(|node| node.as_u64()).transpose()
    }

    /// An identifier GitLab sends as a number (or, in some payloads, a string), as text.
    fn as_id(&self) -> Result<String, WebhookError> {
        match self.value {
            Value::Number(number) if number.is_u64() || number.is_i64() => Ok(number.to_string()),
            Value::String(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
            _ => Err(self.invalid("expected an identifier (a whole number or a string)")),
        }
    }

    fn id(&self, dotted: &str) -> Result<String, WebhookError> {
        self.get(dotted)?.as_id()
    }

    fn opt_id(&self, dotted: &str) -> Result<Option<String>, WebhookError> {
        self.find(dotted)?.map(|node| node.as_id()).transpose()
    }

    fn as_time(&self) -> Result<Timestamp, WebhookError> {
        parse_webhook_time(self.as_str()?).ok_or_else(|| {
            self.invalid("expected a time (RFC 3339, or `YYYY-MM-DD hh:mm:ss UTC` / `+hhmm`)")
        })
    }

    fn time(&self, dotted: &str) -> Result<Timestamp, WebhookError> {
        self.get(dotted)?.as_time()
    }

    fn opt_time(&self, dotted: &str) -> Result<Option<Timestamp>, WebhookError> {
        self.find(dotted)?.map(|node| node.as_time()).transpose()
    }

    /// A full commit sha (40 hexadecimal digits, or 64 in SHA-256 repositories), lowercased.
    fn as_sha(&self) -> Result<String, WebhookError> {
        let text = self.as_str()?;
        if is_full_sha(text) {
            Ok(text.to_ascii_lowercase())
        } else {
            Err(self.invalid("expected a full commit sha (40 or 64 hexadecimal digits)"))
        }
    }

    fn sha(&self, dotted: &str) -> Result<String, WebhookError> {
        self.get(dotted)?.as_sha()
    }

    fn opt_sha(&self, dotted: &str) -> Result<Option<String>, WebhookError> {
        self.find(dotted)?.map(|node| node.as_sha()).transpose()
    }

    /// The elements of the array at `dotted`, each with its `[index]` path; empty when absent.
    fn opt_array(&self, dotted: &str) -> Result<Vec<Node<'a>>, WebhookError> {
        let Some(node) = self.find(dotted)? else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = node.value else {
            return Err(node.invalid("expected an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                value,
                path: format!("{}[{index}]", node.path),
            })
            .collect())
    }
}

fn is_full_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `before` / `after` of a push that creates / deletes a branch.
fn is_null_sha(sha: &str) -> bool {
    sha.bytes().all(|b| b == b'0')
}

/// Untrusted text for a message: quoted, and cut to a readable length.
fn quoted(text: &str) -> String {
    const LIMIT: usize = 64;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse_value(value: &Value) -> Result<Parsed, WebhookError> {
        parse(
            None,
            value.to_string().as_bytes(),
            &WebhookSettings::default(),
            0,
        )
    }

    #[test]
    fn token_is_compared_whole() {
        assert_eq!(verify_token(b"s3cret", Some("s3cret")), Ok(()));
        for wrong in ["s3cre", "s3cret ", "S3CRET", "x"] {
            assert_eq!(
                verify_token(b"s3cret", Some(wrong)),
                Err(AuthError::Mismatch {
                    header: TOKEN_HEADER
                })
            );
        }
        assert_eq!(
            verify_token(b"", Some("anything")),
            Err(AuthError::Mismatch {
                header: TOKEN_HEADER
            }),
            "an empty secret authenticates nothing"
        );
    }

    #[test]
    fn field_errors_name_the_path() {
        let body = json!({"object_kind": "merge_request", "project": {"path_with_namespace": "a/b"},
            "object_attributes": {"state": "opened", "iid": "seven"}});
        assert_eq!(
            parse_value(&body),
            Err(WebhookError::Invalid {
                path: "object_attributes.iid".into(),
                reason: "expected a non-negative whole number".into()
            })
        );
        let body = json!({"object_kind": "pipeline", "project": {"path_with_namespace": "a/b"},
            "object_attributes": {"status": "success", "id": 3, "sha": "abc"}});
        assert!(matches!(
            parse_value(&body),
            Err(WebhookError::Invalid { path, .. }) if path == "object_attributes.sha"
        ));
        let body = json!({"object_kind": "push", "project": "a/b"});
        assert_eq!(
            parse_value(&body),
            Err(WebhookError::Invalid {
                path: "project".into(),
                reason: "expected an object".into()
            })
        );
        let body = json!({"object_kind": "push", "project": {"path_with_namespace": "a/b"},
            "ref": "refs/heads/main", "after": "1".repeat(40),
            "commits": [{"id": "2".repeat(40), "timestamp": "2020-01-01T00:00:00Z"}]});
        assert_eq!(
            parse_value(&body),
            Err(WebhookError::Missing {
                path: "commits[0].author.name".into()
            })
        );
        assert_eq!(
            parse(None, b"[1]", &WebhookSettings::default(), 0),
            Err(WebhookError::Invalid {
                path: "$".into(),
                reason: "the body must be a JSON object".into()
            })
        );
    }

    #[test]
    fn quoting_cuts_long_untrusted_text() {
        assert_eq!(quoted("note"), "\"note\"");
        let long = "é".repeat(100);
        assert_eq!(quoted(&long), format!("{:?}…", "é".repeat(64)));
    }

    /// Keys the parser reads, so generated documents reach past the first lookup.
    const KEYS: &[&str] = &[
        "object_kind",
        "object_attributes",
        "project",
        "path_with_namespace",
        "ref",
        "before",
        "after",
        "commits",
        "id",
        "iid",
        "message",
        "title",
        "timestamp",
        "author",
        "name",
        "email",
        "total_commits_count",
        "state",
        "action",
        "created_at",
        "updated_at",
        "merge_commit_sha",
        "last_commit",
        "target_branch",
        "author_id",
        "user",
        "username",
        "status",
        "sha",
        "tag",
        "finished_at",
        "url",
        "web_url",
        "deployment_id",
        "environment",
        "short_sha",
        "commit_url",
        "status_changed_at",
        "type",
        "issue_type",
        "labels",
        "severity",
        "closed_at",
        "changes",
        "current",
        "released_at",
        "commit",
    ];
    const KINDS: &[&str] = &[
        "push",
        "tag_push",
        "merge_request",
        "pipeline",
        "build",
        "deployment",
        "issue",
        "work_item",
        "release",
        "feature_flag",
        "note",
    ];

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec![
                "0000000000000000000000000000000000000000",
                "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                "2021-04-28 21:50:00 +0200",
                "2016-08-12 15:23:28 UTC",
                "2013-12-03T17:23:34Z",
                "success",
                "failed",
                "merged",
                "closed",
                "opened",
                "merge",
                "approved",
                "incident",
                "Incident",
                "create",
                "refs/heads/main",
                "http://x/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
            ])
            .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ]
    }

    fn json_tree() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(
                    |map| Value::Object(map.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(Some("Push Hook"), &body, &WebhookSettings::default(), 0);
        }

        #[test]
        fn arbitrary_documents_of_every_kind_never_panic(
            kind in prop::sample::select(KINDS),
            tree in json_tree(),
            releases in any::<bool>(),
        ) {
            let mut document = match tree {
                Value::Object(map) => map,
                other => {
                    let mut map = serde_json::Map::new();
                    map.insert("object_attributes".into(), other);
                    map
                }
            };
            document.insert("object_kind".into(), Value::from(kind));
            let settings = WebhookSettings {
                releases_are_deployments: releases,
                ..WebhookSettings::default()
            }
            .with_deployment_workflows(&["*".to_string()])
            .unwrap();
            let body = Value::Object(document).to_string();
            let _ = parse(None, body.as_bytes(), &settings, 0);
        }

        #[test]
        fn token_check_never_panics(secret in ".{0,40}", header in proptest::option::of(".{0,40}")) {
            let result = verify_token(secret.as_bytes(), header.as_deref());
            prop_assert_eq!(result.is_ok(), !secret.is_empty() && header.as_deref() == Some(secret.as_str()));
        }
    }
}
