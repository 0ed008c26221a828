//! GitHub deliveries: `X-Hub-Signature-256` verification and parsing of the events that feed the
//! metrics.
//!
//! Both are pure functions over the raw body and header values; the server does HTTP, stores
//! the events and deduplicates deliveries by `X-GitHub-Delivery`. Every event carries
//! [`Source::Github`] and a GitHub-scoped id, and a later delivery about the same object (a pull
//! request merged after it was opened, an incident issue closed after it was labelled) yields
//! the same id with newer fields: the store should keep the latest.

use super::{AuthError, Parsed, WebhookError, WebhookSettings, parse_webhook_time};
use hmac::{Hmac, KeyInit, Mac};
use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{
    CiRun, CiStatus, Event, Incident, PullRequest, PullRequestReview, PullRequestState,
    PushedChange, ReviewState,
};
use loopwise_core::rules::revert_targets;
use loopwise_core::time::Timestamp;
use serde_json::Value;
use sha2::Sha256;

/// The header carrying the event name.
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// The header carrying the delivery's GUID (the same on redelivery: an idempotency key).
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
/// The header carrying `sha256=` + hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const SIGNATURE_PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;
type Result<T> = std::result::Result<T, WebhookError>;

/// Checks the `X-Hub-Signature-256` header (`header`: its value, `None` when absent) against
/// the HMAC-SHA256 of the exact `body` bytes received, keyed with the webhook `secret`.
///
/// * The value must be `sha256=` (lower case, as GitHub sends it) followed by exactly 64 hex
///   digits; surrounding whitespace is ignored. Hex digits are accepted in either case: GitHub
///   sends lower case, and the case of a digit does not change the bytes compared.
/// * The comparison of the MAC bytes is constant-time (`hmac`'s `verify_slice`).
/// * An empty `secret` never verifies: an HMAC keyed with nothing is forgeable by anyone, so a
///   misconfigured server fails closed.
///
/// Errors name the header, never the secret or the expected value: [`AuthError::Missing`]
/// without a header, [`AuthError::Malformed`] for a wrong prefix, length or digit, and
/// [`AuthError::Mismatch`] for a well-formed signature of other bytes or another secret.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> std::result::Result<(), AuthError> {
    let value = header.ok_or(AuthError::Missing {
        header: SIGNATURE_HEADER,
    })?;
    let malformed = AuthError::Malformed {
        header: SIGNATURE_HEADER,
    };
    let digits = value
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(malformed.clone())?;
    let given = decode_hex(digits)
        .filter(|bytes| bytes.len() == 32)
        .ok_or(malformed)?;
    let mismatch = AuthError::Mismatch {
        header: SIGNATURE_HEADER,
    };
    if secret.is_empty() {
        return Err(mismatch);
    }
    // HMAC takes keys of any length, so this cannot fail; mapped rather than unwrapped anyway.
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| mismatch.clone())?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| mismatch)
}

/// The `X-Hub-Signature-256` value GitHub would send for `body`: for tests and for tools that
/// replay deliveries.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut hex = String::from(SIGNATURE_PREFIX);
    if let Ok(mut mac) = HmacSha256::new_from_slice(secret) {
        mac.update(body);
        for byte in mac.finalize().into_bytes() {
            hex.push_str(&format!("{byte:02x}"));
        }
    }
    hex
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Turns one delivery into core events. `event` is the `X-GitHub-Event` header, `body` the raw
/// JSON body.
///
/// | event (action) | yields |
/// |---|---|
/// | `push` to `refs/heads/<branch>` | one [`Event::Change`] per entry of `commits[]`, in order. Parents follow the push's own chain: `commits[0]`'s parent is `before` (none when `before` is 40 zeros, a new branch, or `forced`, a rewrite); `commits[i]`'s is `commits[i-1]`. Author and committer time are both `timestamp`; subject is the first message line; `reverts` from `This reverts commit <sha>` |
/// | `push` of a tag, a deletion, another ref, or without commits | ignored |
/// | `pull_request` (every action) | [`Event::PullRequest`] snapshot; `Merged` only when `merged` is true or `merged_at` is set (a closed PR with a `merge_commit_sha` is `Closed`); `merge_sha` only when merged |
/// | `pull_request_review` (`submitted`, `edited`, `dismissed`) | [`Event::PullRequestReview`] with id `review.id`; the `dismissed` action or state gives `Dismissed`; a pending review (no `submitted_at`) is ignored |
/// | `deployment_status` `success` | [`Event::Deployment`] `Success`, id `deployment.id`, started `deployment.created_at`, finished at the status's `created_at` |
/// | `deployment_status` `failure` / `error` | the same with `Failure` |
/// | `deployment_status` `pending`, `in_progress`, `queued`, `waiting`, `inactive`, unknown | ignored |
/// | `deployment` (`created`) | ignored: its terminal `deployment_status` carries the outcome |
/// | `workflow_run` (every action) | [`Event::CiRun`] with id `workflow_run.id` and `attempt` `run_attempt` |
/// | `workflow_run` completed, name matching `deployment_workflows`, conclusion `success` / `failure` / `timed_out` | also an [`Event::Deployment`] with id `<run id>:<attempt>` (each re-run is a new deployment attempt) in `default_environment` |
/// | `issues` with a label that [`WebhookSettings::is_incident_label`] accepts (on `labeled` also `label.name`) | [`Event::Incident`] with id `<owner>/<repo>#<number>`; `resolved_at` = `closed_at` when closed; `caused_by` from a `root cause: <sha or id>` body line; `severity` from a `severity: <x>` or `sev<n>` label |
/// | `issues` without such a label, `deleted`, `transferred`, or on a pull request | ignored |
/// | `release` `published` / `released` with `releases_are_deployments`, neither draft nor prerelease | [`Event::Deployment`] `Success` with id `release:<release id>`, finished `published_at`, in `default_environment`; `sha` is `target_commitish` when that is a full sha, otherwise `refs/tags/<tag_name>`, a ref the server must resolve with its mirror |
/// | `release` otherwise | ignored |
/// | `ping` and every other event (`check_run`, `check_suite`, `status`, `create`, `delete`, `workflow_job`, …) | ignored, without reading the body |
///
/// A `deployment_status` or `workflow_run` deployment whose `task` or name mentions "rollback"
/// (`rollback`, `roll-back`, `roll_back`, any case) has kind `Rollback`; others are `Normal`.
/// Unknown values of an enumeration GitHub may extend (a state, a conclusion) are ignored with
/// a reason rather than rejected, so GitHub adding one never makes deliveries fail.
///
/// Errors: [`WebhookError::Json`] for a body that is not JSON (or is form-encoded),
/// [`WebhookError::Missing`] / [`WebhookError::Invalid`] naming the JSON path (e.g.
/// `deployment.sha`, `commits[1].timestamp`) of a required field that is absent or of the
/// wrong type. Never panics.
pub fn parse(event: &str, body: &[u8], settings: &WebhookSettings) -> Result<Parsed> {
    type Handler = fn(&Node<'_>, &WebhookSettings) -> Result<Parsed>;
    let handler: Handler = match event.trim() {
        "push" => push,
        "pull_request" => pull_request,
        "pull_request_review" => pull_request_review,
        "deployment_status" => deployment_status,
        "workflow_run" => workflow_run,
        "issues" => issues,
        "release" => release,
        "ping" => return Ok(Parsed::ignored("ping: GitHub checking the webhook")),
        "deployment" => {
            return Ok(Parsed::ignored(
                "deployment created: waiting for its terminal deployment_status",
            ));
        }
        "" => return Ok(Parsed::ignored("no event name")),
        other => {
            return Ok(Parsed::ignored(format!(
                "event {} does not feed the metrics",
                quoted(other)
            )));
        }
    };
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        if body.starts_with(b"payload=") {
            WebhookError::Json(
                "a form-encoded delivery; set the webhook's content type to application/json"
                    .to_string(),
            )
        } else {
            WebhookError::Json(error.to_string())
        }
    })?;
    if !value.is_object() {
        return Err(invalid("$", "expected a JSON object"));
    }
    handler(&Node::root(&value), settings)
}

fn ignored(reason: impl Into<String>) -> Result<Parsed> {
    Ok(Parsed::ignored(reason))
}

/// A value from the payload, shown debug-escaped and cut short, for ignore reasons that end up
/// in logs.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    format!("{short:?}")
}

// ---------------------------------------------------------------------------------------------
// push

fn push(root: &Node<'_>, _settings: &WebhookSettings) -> Result<Parsed> {
    let git_ref = root.str("ref")?;
    let repository = root.str("repository.full_name")?;
    // Every push moves a ref, so even one that yields no changes tells a mirror to fetch (a
    // new tag may be what a release deployment names).
    let moved = |reason: String| Ok(Parsed::ignored(reason).with_refs_moved(repository));
    if root.bool_or("deleted", false)? {
        return moved(format!("push deletes {}", quoted(git_ref)));
    }
    let Some(branch) = git_ref.strip_prefix("refs/heads/") else {
        if git_ref.starts_with("refs/tags/") {
            return moved(format!("tag push {}: not a branch", quoted(git_ref)));
        }
        return moved(format!("push to {}: not a branch", quoted(git_ref)));
    };
    let commits = root.items("commits")?;
    if commits.is_empty() {
        return moved(format!("push to {} carries no commits", quoted(branch)));
    }
    // `before` is the first commit's parent only when the push extends an existing branch: on
    // a new branch it is zeros, and after a force push it is the overwritten tip.
    let mut previous = match root.opt_str("before")? {
        Some(before) if !root.bool_or("forced", false)? && !is_null_sha(before) => {
            Some(root.sha("before")?)
        }
        _ => None,
    };
    let mut events = Vec::with_capacity(commits.len());
    for commit in commits {
        let sha = commit.sha("id")?;
        let message = commit.str("message")?;
        let time = commit.time("timestamp")?;
        let change = Change {
            sha: sha.clone(),
            parents: previous.take().into_iter().collect(),
            author_time: time,
            // The payload has one time per commit; the committer's is not sent.
            committer_time: time,
            author_name: commit.str("author.name")?.trim().to_string(),
            author_email: commit
                .opt_str("author.email")?
                .unwrap_or_default()
                .trim()
                .to_string(),
            subject: Change::subject_of(message),
            reverts: revert_targets(message.as_bytes()),
        };
        events.push(Event::Change(PushedChange {
            repository: repository.to_string(),
            branch: Some(branch.to_string()),
            change,
        }));
        previous = Some(sha);
    }
    Ok(Parsed::events(events).with_refs_moved(repository))
}

fn is_null_sha(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b == b'0')
}

// ---------------------------------------------------------------------------------------------
// pull requests and reviews

fn pull_request(root: &Node<'_>, _settings: &WebhookSettings) -> Result<Parsed> {
    let pr = root.node("pull_request")?;
    let number = match pr.opt_u64("number")? {
        Some(number) => number,
        None => root.u64("number")?,
    };
    let merged_at = pr.opt_time("merged_at")?;
    let merged = pr.bool_or("merged", false)? || merged_at.is_some();
    let closed_at = pr.opt_time("closed_at")?;
    let closed = match pr.opt_str("state")? {
        Some(state) => state.eq_ignore_ascii_case("closed"),
        None => closed_at.is_some(),
    };
    let state = if merged {
        PullRequestState::Merged
    } else if closed {
        PullRequestState::Closed
    } else {
        PullRequestState::Open
    };
    // An unmerged PR's `merge_commit_sha` is GitHub's test merge, not a commit on the base.
    let merge_sha = if merged {
        pr.opt_sha("merge_commit_sha")?
    } else {
        None
    };
    Ok(Parsed::events(vec![Event::PullRequest(PullRequest {
        source: Source::Github,
        repository: root.str("repository.full_name")?.to_string(),
        number,
        title: pr.str("title")?.to_string(),
        author: pr.str("user.login")?.to_string(),
        state,
        created_at: pr.time("created_at")?,
        merged_at,
        closed_at,
        merge_sha,
        head_sha: pr.opt_sha("head.sha")?,
        base_branch: pr.opt_str("base.ref")?.map(str::to_string),
        additions: pr.opt_u64("additions")?,
        deletions: pr.opt_u64("deletions")?,
    })]))
}

fn pull_request_review(root: &Node<'_>, _settings: &WebhookSettings) -> Result<Parsed> {
    let review = root.node("review")?;
    let state_text = review.str("state")?;
    let state = if root.opt_str("action")? == Some("dismissed") {
        ReviewState::Dismissed
    } else {
        // Webhooks send lower case, the REST API upper case.
        match state_text.to_ascii_lowercase().as_str() {
            "approved" => ReviewState::Approved,
            "changes_requested" => ReviewState::ChangesRequested,
            "commented" => ReviewState::Commented,
            "dismissed" => ReviewState::Dismissed,
            "pending" => return ignored("pending review: not submitted yet"),
            _ => return ignored(format!("unknown review state {}", quoted(state_text))),
        }
    };
    let Some(submitted_at) = review.opt_time("submitted_at")? else {
        return ignored("review without submitted_at: not submitted yet");
    };
    Ok(Parsed::events(vec![Event::PullRequestReview(
        PullRequestReview {
            source: Source::Github,
            repository: root.str("repository.full_name")?.to_string(),
            number: root.u64("pull_request.number")?,
            id: review.id("id")?,
            reviewer: review.str("user.login")?.to_string(),
            state,
            submitted_at,
        },
    )]))
}

// ---------------------------------------------------------------------------------------------
// deployments

fn deployment_status(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed> {
    let status_node = root.node("deployment_status")?;
    let state = status_node.str("state")?;
    let status = match state.to_ascii_lowercase().as_str() {
        "success" => DeploymentStatus::Success,
        "failure" | "error" => DeploymentStatus::Failure,
        "pending" | "in_progress" | "queued" | "waiting" | "inactive" => {
            return ignored(format!(
                "deployment status {} is not terminal",
                quoted(state)
            ));
        }
        _ => return ignored(format!("unknown deployment status {}", quoted(state))),
    };
    let deployment = root.node("deployment")?;
    let environment = match deployment.opt_str("environment")? {
        Some(environment) if !environment.trim().is_empty() => environment,
        _ => status_node.str("environment")?,
    };
    let kind = match deployment.opt_str("task")? {
        Some(task) if mentions_rollback(task) => DeploymentKind::Rollback,
        _ => DeploymentKind::Normal,
    };
    let repository = root.str("repository.full_name")?;
    Ok(Parsed::events(vec![Event::Deployment(Deployment {
        source: Source::Github,
        id: deployment.id("id")?,
        service: settings.service_for(repository),
        environment: environment.trim().to_string(),
        sha: deployment.sha("sha")?,
        started_at: deployment.opt_time("created_at")?,
        // The terminal status's own time: `deployment.updated_at` moves again when GitHub later
        // marks the deployment inactive (DevLake #8302).
        finished_at: Some(status_node.time("created_at")?),
        status,
        kind,
    })]))
}

/// "rollback", "roll-back", "Roll_Back", "deploy:rollback", … but not "rollout".
fn mentions_rollback(text: &str) -> bool {
    text.to_ascii_lowercase()
        .replace(['-', '_', ' '], "")
        .contains("rollback")
}

// ---------------------------------------------------------------------------------------------
// workflow runs

fn workflow_run(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed> {
    let run = root.node("workflow_run")?;
    let id = run.id("id")?;
    // `run_attempt` arrived in 2021; older GitHub Enterprise Server payloads lack it.
    let attempt = match run.opt_u64("run_attempt")? {
        Some(attempt) => u32::try_from(attempt)
            .map_err(|_| invalid(run.path_of("run_attempt"), "too large for an attempt"))?,
        None => 1,
    };
    let pipeline = workflow_name(root, &run)?;
    let status_text = run.str("status")?;
    let conclusion = run.opt_str("conclusion")?;
    let completed = status_text.eq_ignore_ascii_case("completed");
    let status = if completed {
        let conclusion = conclusion.ok_or_else(|| missing(run.path_of("conclusion")))?;
        match ci_conclusion(conclusion) {
            Some(status) => status,
            None => {
                return ignored(format!(
                    "unknown workflow run conclusion {}",
                    quoted(conclusion)
                ));
            }
        }
    } else {
        match status_text.to_ascii_lowercase().as_str() {
            "in_progress" => CiStatus::Running,
            "requested" | "queued" | "waiting" | "pending" => CiStatus::Queued,
            _ => {
                return ignored(format!(
                    "unknown workflow run status {}",
                    quoted(status_text)
                ));
            }
        }
    };
    // `action_required` is "completed" while it waits for approval: not finished.
    let finished = completed && status != CiStatus::Queued;
    let finished_at = if finished {
        Some(run.time("updated_at")?)
    } else {
        None
    };
    let started_at = match run.opt_time("run_started_at")? {
        Some(time) => Some(time),
        None => run.opt_time("created_at")?,
    };
    let repository = root.str("repository.full_name")?;
    let sha = run.sha("head_sha")?;
    let mut events = vec![Event::CiRun(CiRun {
        source: Source::Github,
        id: id.clone(),
        attempt,
        repository: repository.to_string(),
        pipeline: pipeline.to_string(),
        sha: sha.clone(),
        branch: run.opt_str("head_branch")?.map(str::to_string),
        status,
        started_at,
        finished_at,
        url: run.opt_str("html_url")?.map(str::to_string),
    })];
    if finished && settings.deployment_workflows.is_match(pipeline) {
        let outcome = conclusion.map(|c| c.to_ascii_lowercase());
        // Cancelled, skipped and neutral runs deployed nothing; they are not failed deployments.
        let status = match outcome.as_deref() {
            Some("success") => Some(DeploymentStatus::Success),
            Some("failure" | "timed_out") => Some(DeploymentStatus::Failure),
            _ => None,
        };
        if let Some(status) = status {
            events.push(Event::Deployment(Deployment {
                source: Source::Github,
                // A re-run keeps the run id: each attempt is its own deployment.
                id: format!("{id}:{attempt}"),
                service: settings.service_for(repository),
                environment: settings.default_environment.clone(),
                sha,
                started_at,
                finished_at,
                status,
                kind: if mentions_rollback(pipeline) {
                    DeploymentKind::Rollback
                } else {
                    DeploymentKind::Normal
                },
            }));
        }
    }
    Ok(Parsed::events(events))
}

/// `workflow_run.name` can be empty (it is in octokit's fixture); then `workflow.name`, then the
/// workflow file's path.
fn workflow_name<'a>(root: &Node<'a>, run: &Node<'a>) -> Result<&'a str> {
    for (node, field) in [(run, "name"), (root, "workflow.name"), (run, "path")] {
        if let Some(name) = node.opt_str(field)?
            && !name.trim().is_empty()
        {
            return Ok(name.trim());
        }
    }
    Err(missing(run.path_of("name")))
}

fn ci_conclusion(conclusion: &str) -> Option<CiStatus> {
    Some(match conclusion.to_ascii_lowercase().as_str() {
        "success" | "neutral" => CiStatus::Success,
        "failure" | "timed_out" | "startup_failure" => CiStatus::Failure,
        "cancelled" | "stale" => CiStatus::Cancelled,
        "skipped" => CiStatus::Skipped,
        "action_required" => CiStatus::Queued,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// incidents

fn issues(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed> {
    let action = root.opt_str("action")?.unwrap_or_default();
    if matches!(action, "deleted" | "transferred") {
        // A deletion cannot be expressed as an event; a transfer is followed by `opened` in
        // the new repository.
        return ignored(format!("issue {action}"));
    }
    let issue = root.node("issue")?;
    if issue.lookup("pull_request")?.is_some() {
        return ignored("issue event of a pull request");
    }
    let mut labels = Vec::new();
    for label in issue.opt_items("labels")? {
        labels.push(label.str("name")?);
    }
    if action == "labeled"
        && let Some(added) = root.opt_str("label.name")?
    {
        labels.push(added);
    }
    let number = issue.u64("number")?;
    if !labels.iter().any(|label| settings.is_incident_label(label)) {
        return ignored(format!("issue #{number} has no incident label"));
    }
    let repository = root.str("repository.full_name")?;
    let closed = issue
        .opt_str("state")?
        .is_some_and(|state| state.eq_ignore_ascii_case("closed"));
    let resolved_at = if closed {
        Some(issue.time("closed_at")?)
    } else {
        None
    };
    Ok(Parsed::events(vec![Event::Incident(Incident {
        source: Source::Github,
        id: format!("{repository}#{number}"),
        service: Some(settings.service_for(repository)),
        title: issue.str("title")?.to_string(),
        severity: labels.iter().find_map(|label| severity_from_label(label)),
        started_at: issue.time("created_at")?,
        acknowledged_at: None,
        resolved_at,
        caused_by: issue.opt_str("body")?.and_then(root_cause),
        url: issue.opt_str("html_url")?.map(str::to_string),
    })]))
}

/// `severity: high` → `high`; `Severity/1`, `sev1`, `SEV-2` → `sev1`, `sev2`.
fn severity_from_label(label: &str) -> Option<String> {
    let lower = label.trim().to_ascii_lowercase();
    let separators = [':', '/', '=', '-', '_', ' '];
    let numbered = |digits: &str| {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("sev{digits}"))
    };
    if let Some(rest) = lower.strip_prefix("severity") {
        let value = rest.trim_start_matches(separators).trim();
        if value.is_empty() || rest.len() == value.len() {
            // `severity` alone, or `severityx` without a separator.
            return None;
        }
        return numbered(value).or_else(|| Some(value.to_string()));
    }
    numbered(lower.strip_prefix("sev")?.trim_start_matches(separators))
}

/// The Four Keys convention: a `root cause: <sha or deployment id>` line in the issue body. A
/// token without digits ("unknown", "TBD") is not a link; the next such line is tried.
fn root_cause(body: &str) -> Option<String> {
    const MARKER: &str = "root cause:";
    for line in body.lines() {
        // ASCII lowering keeps byte offsets, so `position` indexes `line` as well.
        let Some(position) = line.to_ascii_lowercase().find(MARKER) else {
            continue;
        };
        let rest = line[position + MARKER.len()..]
            .trim_start()
            .trim_start_matches(['`', '*', '"', '\'']);
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
            .collect();
        let token = token.trim_end_matches(['.', ':']);
        if let Some(sha) = object_id(token) {
            return Some(sha);
        }
        // Shas and deployment ids have digits; "unknown" or "tbd" are not links.
        if token.bytes().any(|b| b.is_ascii_digit()) {
            return Some(token.to_string());
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// releases

fn release(root: &Node<'_>, settings: &WebhookSettings) -> Result<Parsed> {
    if !settings.releases_are_deployments {
        return ignored("releases are not deployments here (releases_are_deployments is off)");
    }
    let action = root.opt_str("action")?.unwrap_or_default();
    // A published release sends both; they share the release id, so it is stored once.
    if !matches!(action, "published" | "released") {
        return ignored(format!("release {}: not a publication", quoted(action)));
    }
    let release = root.node("release")?;
    if release.bool_or("draft", false)? {
        return ignored("draft release");
    }
    if release.bool_or("prerelease", false)? {
        return ignored("prerelease: not a production deployment");
    }
    let tag = release.str("tag_name")?;
    // `target_commitish` is usually a branch name, which says nothing about the tagged commit;
    // then the tag ref stands in for the sha, for the server to resolve with its mirror.
    let sha = release
        .opt_str("target_commitish")?
        .and_then(object_id)
        .unwrap_or_else(|| format!("refs/tags/{}", tag.trim()));
    let repository = root.str("repository.full_name")?;
    Ok(Parsed::events(vec![Event::Deployment(Deployment {
        source: Source::Github,
        // Release ids and deployment ids are separate id spaces: keep them apart.
        id: format!("release:{}", release.id("id")?),
        service: settings.service_for(repository),
        environment: settings.default_environment.clone(),
        sha,
        started_at: None,
        finished_at: Some(release.time("published_at")?),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    })]))
}

// ---------------------------------------------------------------------------------------------
// typed access to the payload, with JSON paths in errors

fn missing(path: impl Into<String>) -> WebhookError {
    WebhookError::Missing { path: path.into() }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> WebhookError {
    WebhookError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

/// A full hexadecimal object id (SHA-1 or SHA-256), lower-cased.
fn object_id(text: &str) -> Option<String> {
    let text = text.trim();
    ((text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// An object of the payload and its JSON path; field names below are dotted paths relative to
/// it, and `null` counts as absent.
#[derive(Debug, Clone)]
struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    fn path_of(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    /// The value at `field`; `None` when it or an enclosing object is absent or `null`.
    fn lookup(&self, field: &str) -> Result<Option<&'a Value>> {
        let mut current = self.value;
        let mut walked = self.path.clone();
        for key in field.split('.') {
            if current.is_null() {
                return Ok(None);
            }
            let Some(object) = current.as_object() else {
                return Err(invalid(
                    if walked.is_empty() { "$" } else { &walked },
                    "expected an object",
                ));
            };
            let Some(next) = object.get(key) else {
                return Ok(None);
            };
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(key);
            current = next;
        }
        Ok((!current.is_null()).then_some(current))
    }

    fn required(&self, field: &str) -> Result<&'a Value> {
        self.lookup(field)?
            .ok_or_else(|| missing(self.path_of(field)))
    }

    fn node(&self, field: &str) -> Result<Node<'a>> {
        let value = self.required(field)?;
        if !value.is_object() {
            return Err(invalid(self.path_of(field), "expected an object"));
        }
        Ok(Node {
            value,
            path: self.path_of(field),
        })
    }

    fn str(&self, field: &str) -> Result<&'a str> {
        self.opt_str(field)?
            .ok_or_else(|| missing(self.path_of(field)))
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>> {
        match self.lookup(field)? {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(invalid(self.path_of(field), "expected a string")),
        }
    }

    fn u64(&self, field: &str) -> Result<u64> {
        self.opt_u64(field)?
            .ok_or_else(|| missing(self.path_of(field)))
    }

    fn opt_u64(&self, field: &str) -> Result<Option<u64>> {
        match self.lookup(field)? {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(self.path_of(field), "expected a non-negative integer")),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.lookup(field)? {
            None => Ok(default),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(_) => Err(invalid(self.path_of(field), "expected true or false")),
        }
    }

    fn time(&self, field: &str) -> Result<Timestamp> {
        self.opt_time(field)?
            .ok_or_else(|| missing(self.path_of(field)))
    }

    /// RFC 3339 text (GitHub's usual form) or Unix seconds (push payloads use both).
    fn opt_time(&self, field: &str) -> Result<Option<Timestamp>> {
        match self.lookup(field)? {
            None => Ok(None),
            Some(Value::String(text)) => parse_webhook_time(text)
                .map(Some)
                .ok_or_else(|| invalid(self.path_of(field), format!("not a time: {text:?}"))),
            Some(Value::Number(number)) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| invalid(self.path_of(field), "not whole Unix seconds")),
            Some(_) => Err(invalid(self.path_of(field), "expected a time")),
        }
    }

    /// GitHub's numeric ids, as text; a non-empty string is taken as it is.
    fn id(&self, field: &str) -> Result<String> {
        match self.required(field)? {
            Value::Number(number) if number.as_u64().is_some() => Ok(number.to_string()),
            Value::String(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
            _ => Err(invalid(self.path_of(field), "expected an id")),
        }
    }

    fn sha(&self, field: &str) -> Result<String> {
        self.opt_sha(field)?
            .ok_or_else(|| missing(self.path_of(field)))
    }

    fn opt_sha(&self, field: &str) -> Result<Option<String>> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(text) => object_id(text)
                .map(Some)
                .ok_or_else(|| invalid(self.path_of(field), "expected a full commit sha")),
        }
    }

    /// The elements of a required array, each with its path (`commits[2]`).
    fn items(&self, field: &str) -> Result<Vec<Node<'a>>> {
        self.lookup(field)?
            .ok_or_else(|| missing(self.path_of(field)))?;
        self.opt_items(field)
    }

    fn opt_items(&self, field: &str) -> Result<Vec<Node<'a>>> {
        let Some(value) = self.lookup(field)? else {
            return Ok(Vec::new());
        };
        let Some(elements) = value.as_array() else {
            return Err(invalid(self.path_of(field), "expected an array"));
        };
        Ok(elements
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                value,
                path: format!("{}[{index}]", self.path_of(field)),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn check(header: Option<&str>) -> std::result::Result<(), AuthError> {
        verify_signature(SECRET, BODY, header)
    }

    #[test]
    fn verifies_githubs_documented_vector() {
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        assert_eq!(check(Some(SIGNATURE)), Ok(()));
        assert_eq!(check(Some(&format!("  {SIGNATURE}\r\n"))), Ok(()));
        // Upper-case digits name the same bytes; accepted (documented above).
        let upper = format!("sha256={}", SIGNATURE[7..].to_ascii_uppercase());
        assert_eq!(check(Some(&upper)), Ok(()));
    }

    #[test]
    fn rejects_missing_malformed_and_mismatching_signatures() {
        let header = SIGNATURE_HEADER;
        assert_eq!(check(None), Err(AuthError::Missing { header }));
        let malformed = Err(AuthError::Malformed { header });
        let digits = &SIGNATURE[7..];
        for bad in [
            String::new(),
            digits.to_string(),                   // no prefix
            format!("sha1={digits}"),             // another algorithm
            format!("SHA256={digits}"),           // the prefix is lower case
            format!("sha256={}", &digits[..63]),  // odd length
            format!("sha256={}", &digits[..62]),  // one byte short
            format!("sha256={digits}00"),         // one byte long
            format!("sha256={}g", &digits[..63]), // not hex
            format!("sha256={}é", &digits[..62]), // not ASCII
            format!("sha256= {digits}"),          // space inside
        ] {
            assert_eq!(check(Some(&bad)), malformed, "{bad:?}");
        }
        let mismatch = Err(AuthError::Mismatch { header });
        assert_eq!(verify_signature(b"wrong", BODY, Some(SIGNATURE)), mismatch);
        assert_eq!(
            verify_signature(SECRET, b"Hello, World?", Some(SIGNATURE)),
            mismatch
        );
        let flipped = format!("sha256={}0", &digits[..63]);
        assert_eq!(check(Some(&flipped)), mismatch);
        // An empty secret never verifies, even a signature made with it.
        assert_eq!(
            verify_signature(b"", BODY, Some(&sign(b"", BODY))),
            mismatch
        );
    }

    #[test]
    fn auth_errors_never_show_the_secret_or_expected_value() {
        let error = check(Some("sha256=00")).unwrap_err().to_string()
            + &verify_signature(SECRET, b"x", Some(SIGNATURE))
                .unwrap_err()
                .to_string();
        assert!(error.contains(SIGNATURE_HEADER));
        assert!(
            !error.contains("Secret") && !error.contains("757107"),
            "{error}"
        );
    }

    #[test]
    fn reads_severity_labels() {
        assert_eq!(severity_from_label("severity: high"), Some("high".into()));
        assert_eq!(severity_from_label("Severity/1"), Some("sev1".into()));
        assert_eq!(severity_from_label("SEV1"), Some("sev1".into()));
        assert_eq!(severity_from_label("sev-2"), Some("sev2".into()));
        for none in ["severity", "severityx", "seven", "sev", "incident", "sev1a"] {
            assert_eq!(severity_from_label(none), None, "{none}");
        }
    }

    #[test]
    fn reads_root_cause_lines() {
        let sha = "2bb7f0fe43ec8e6ed6c59dc64e1e7c95e75b9e3e";
        let body = format!(
            "Checkout down.\r\n\r\nRoot Cause: `{}`.\n",
            sha.to_uppercase()
        );
        assert_eq!(root_cause(&body), Some(sha.to_string()));
        assert_eq!(
            root_cause("root cause: deploy-42"),
            Some("deploy-42".to_string())
        );
        assert_eq!(root_cause("root cause: unknown yet"), None);
        assert_eq!(
            root_cause("Root cause: TBD\nroot cause: 1234567"),
            Some("1234567".to_string())
        );
        assert_eq!(root_cause("root cause: \nno token"), None);
        assert_eq!(root_cause("ünïcode root cause:"), None);
    }

    #[test]
    fn recognises_rollbacks() {
        for yes in ["rollback", "deploy:rollback", "Roll-Back prod", "roll_back"] {
            assert!(mentions_rollback(yes), "{yes}");
        }
        for no in ["deploy", "rollout", "roll forward"] {
            assert!(!mentions_rollback(no), "{no}");
        }
    }

    #[test]
    fn errors_name_the_json_path() {
        let value: Value = serde_json::json!({
            "a": {"b": "text", "n": -1, "list": [{"id": 1}, {"id": "x"}], "null": null},
            "s": "str"
        });
        let root = Node::root(&value);
        assert_eq!(root.str("a.b"), Ok("text"));
        assert_eq!(root.str("a.c"), Err(missing("a.c")));
        assert_eq!(root.str("a.null"), Err(missing("a.null")));
        assert_eq!(root.opt_str("a.null.deeper"), Ok(None));
        assert_eq!(
            root.u64("a.n"),
            Err(invalid("a.n", "expected a non-negative integer"))
        );
        assert_eq!(root.str("s.x"), Err(invalid("s", "expected an object")));
        let list = root.node("a").unwrap().items("list").unwrap();
        assert_eq!(
            list[1].u64("id"),
            Err(invalid("a.list[1].id", "expected a non-negative integer"))
        );
        assert_eq!(
            list[0].sha("id"),
            Err(invalid("a.list[0].id", "expected a string"))
        );
    }
}
