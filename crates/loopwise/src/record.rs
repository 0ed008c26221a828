//! `loopwise record deployment|incident|change`: a small client for CI scripts that posts one
//! event to a loopwise server's events API (docs/events.md).
//!
//! Everything that can be checked locally is checked before any network call (times, commit
//! ids, the server URL, the token's presence), and is bad input: exit status 2. The event is
//! then posted, and retried with exponential backoff on transient failures: connection errors,
//! timeouts, 408, 429, 502, 503 and 504, honouring `Retry-After` seconds. Retrying is safe
//! because the server stores an event once by (source, type, id). Any other 4xx is the server
//! rejecting the event: exit status 2 with its reason. Other failures, and retries exhausted,
//! are exit status 1 with a message that names the server's URL. The token is never printed.

use crate::cli::{RecordArgs, RecordChange, RecordDeployment, RecordEvent, RecordIncident};
use crate::errors::bad_input;
use loopwise_core::time::{Timestamp, format_rfc3339, parse_instant};
use serde_json::{Map, Value};
use std::io::Write;
use std::time::Duration;

/// The longest delay between two attempts, whatever the backoff or `Retry-After` says.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// The most of an answer's body that is read.
const ANSWER_LIMIT: u64 = 1024 * 1024;

pub fn run(args: RecordArgs) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().as_second();
    let (kind, event) = match &args.event {
        RecordEvent::Deployment(deployment) => ("deployment", deployment_event(deployment, now)?),
        RecordEvent::Incident(incident) => ("incident", incident_event(incident)?),
        RecordEvent::Change(change) => ("change", change_event(change)?),
    };
    let endpoint = events_url(&args.server)?;
    let token = args
        .token
        .as_ref()
        .map(|secret| secret.0.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| bad_input("no token: pass --token or set LOOPWISE_TOKEN"))?;
    if args.timeout == 0 {
        return Err(bad_input("--timeout must be at least 1 second"));
    }
    let client = Client {
        agent: agent(Duration::from_secs(args.timeout)),
        url: endpoint,
        token: token.to_string(),
        timeout: Duration::from_secs(args.timeout),
    };
    let body = Value::Object(event).to_string();
    let stored = client.post_with_retries(&body, args.retries, args.backoff_ms)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "recorded {kind} {} ({})", stored.id, stored.status)?;
    Ok(())
}

// ---- The event, built and checked locally ------------------------------------------------

/// An instant from a flag, as RFC 3339 text for the wire.
fn instant(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    parse_instant(text).map_err(|e| bad_input(format!("{flag}: {e}")))
}

/// A commit id: 4 to 64 hexadecimal digits, lowercased (as the server normalises it).
fn commit_id(flag: &str, text: &str) -> anyhow::Result<String> {
    let sha = text.trim().to_ascii_lowercase();
    if sha.len() < 4 || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_input(format!(
            "{flag}: {text:?} is not a commit id (4 to 64 hexadecimal digits)"
        )));
    }
    Ok(sha)
}

fn non_empty(flag: &str, text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad_input(format!("{flag} must not be empty")));
    }
    Ok(trimmed.to_string())
}

fn put(event: &mut Map<String, Value>, field: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        event.insert(field.to_string(), value.into());
    }
}

fn new_event(kind: &str, source: &Option<String>) -> anyhow::Result<Map<String, Value>> {
    let mut event = Map::new();
    event.insert("type".into(), kind.into());
    put(
        &mut event,
        "source",
        source
            .as_deref()
            .map(|s| non_empty("--source", s))
            .transpose()?,
    );
    Ok(event)
}

fn deployment_event(args: &RecordDeployment, now: Timestamp) -> anyhow::Result<Map<String, Value>> {
    let service = non_empty("--service", &args.service)?;
    let sha = commit_id("--sha", &args.sha)?;
    let environment = args
        .environment
        .as_deref()
        .map(|e| non_empty("--environment", e))
        .transpose()?;
    let started_at = args
        .started_at
        .as_deref()
        .map(|t| instant("--started-at", t))
        .transpose()?;
    let finished_at = match args.finished_at.as_deref() {
        Some(text) => instant("--finished-at", text)?,
        None => now,
    };
    if started_at.is_some_and(|started| started > finished_at) {
        return Err(bad_input("--started-at is after --finished-at"));
    }
    let id = match args.id.as_deref() {
        Some(id) => non_empty("--id", id)?,
        None => deployment_id(&service, environment.as_deref(), &sha, finished_at),
    };
    let mut event = new_event("deployment", &args.source)?;
    event.insert("id".into(), id.into());
    event.insert("service".into(), service.into());
    put(&mut event, "environment", environment);
    event.insert("sha".into(), sha.into());
    put(&mut event, "status", args.status.clone());
    put(&mut event, "kind", args.kind.clone());
    put(&mut event, "started_at", started_at.map(format_rfc3339));
    event.insert("finished_at".into(), format_rfc3339(finished_at).into());
    Ok(event)
}

/// The default id of a deployment: `d-` and the 64-bit FNV-1a hash, in hex, of service,
/// environment (empty when not given), lowercase sha and finished-at in Unix seconds, each
/// followed by a NUL byte. The same flags give the same id, so a retried CI step stores the
/// deployment once. FNV-1a is fixed by its definition, so ids stay the same across versions.
pub fn deployment_id(
    service: &str,
    environment: Option<&str>,
    sha: &str,
    finished_at: Timestamp,
) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let finished = finished_at.to_string();
    for part in [service, environment.unwrap_or(""), sha, finished.as_str()] {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("d-{hash:016x}")
}

fn incident_event(args: &RecordIncident) -> anyhow::Result<Map<String, Value>> {
    let id = non_empty("--id", &args.id)?;
    let started_at = instant("--started-at", &args.started_at)?;
    let acknowledged_at = args
        .acknowledged_at
        .as_deref()
        .map(|t| instant("--acknowledged-at", t))
        .transpose()?;
    let resolved_at = args
        .resolved_at
        .as_deref()
        .map(|t| instant("--resolved-at", t))
        .transpose()?;
    if args.action.as_deref() == Some("resolve") && resolved_at.is_none() {
        return Err(bad_input("--action resolve needs --resolved-at"));
    }
    if resolved_at.is_some_and(|resolved| resolved < started_at) {
        return Err(bad_input("--resolved-at is before --started-at"));
    }
    let mut event = new_event("incident", &args.source)?;
    event.insert("id".into(), id.into());
    put(&mut event, "action", args.action.clone());
    put(&mut event, "service", args.service.clone());
    put(&mut event, "title", args.title.clone());
    put(&mut event, "severity", args.severity.clone());
    event.insert("started_at".into(), format_rfc3339(started_at).into());
    put(
        &mut event,
        "acknowledged_at",
        acknowledged_at.map(format_rfc3339),
    );
    put(&mut event, "resolved_at", resolved_at.map(format_rfc3339));
    put(&mut event, "caused_by", args.caused_by.clone());
    put(&mut event, "url", args.url.clone());
    Ok(event)
}

fn change_event(args: &RecordChange) -> anyhow::Result<Map<String, Value>> {
    let repository = non_empty("--repository", &args.repository)?;
    let sha = commit_id("--sha", &args.sha)?;
    let author_time = instant("--author-time", &args.author_time)?;
    let committer_time = args
        .committer_time
        .as_deref()
        .map(|t| instant("--committer-time", t))
        .transpose()?;
    let parents = args
        .parents
        .iter()
        .filter(|parent| !parent.trim().is_empty())
        .map(|parent| commit_id("--parents", parent).map(Value::from))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    let mut event = new_event("change", &args.source)?;
    event.insert("repository".into(), repository.into());
    event.insert("sha".into(), sha.into());
    if !parents.is_empty() {
        event.insert("parents".into(), parents.into());
    }
    event.insert("author_time".into(), format_rfc3339(author_time).into());
    put(
        &mut event,
        "committer_time",
        committer_time.map(format_rfc3339),
    );
    put(&mut event, "author_name", args.author_name.clone());
    put(&mut event, "author_email", args.author_email.clone());
    put(&mut event, "message", args.message.clone());
    put(&mut event, "branch", args.branch.clone());
    Ok(event)
}

// ---- The server --------------------------------------------------------------------------

/// `{server}/api/v1/events`, after checking that the server is an http(s) URL with a host.
fn events_url(server: &str) -> anyhow::Result<String> {
    let server = server.trim().trim_end_matches('/');
    let uri: ureq::http::Uri = server.parse().map_err(|e| {
        bad_input(format!(
            "--server {:?} is not a URL like http://127.0.0.1:7878: {e}",
            redact(server)
        ))
    })?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) || uri.query().is_some() {
        return Err(bad_input(format!(
            "--server {:?} is not a URL like http://127.0.0.1:7878",
            redact(server)
        )));
    }
    Ok(format!("{server}/api/v1/events"))
}

/// A URL for messages: any `user:password@` in it replaced by `***@`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .user_agent(format!("loopwise/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
    timeout: Duration,
}

/// What the server said the event became.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    id: String,
    /// `inserted`, `updated` or `duplicate`.
    status: String,
}

/// The outcome of one attempt.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Stored(Stored),
    /// Worth another try, after `retry_after` when the server said so.
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    /// The server refused the event: bad input, exit status 2.
    Rejected(String),
    /// Anything else: exit status 1.
    Failed(String),
}

impl Client {
    fn post_with_retries(
        &self,
        body: &str,
        retries: u32,
        backoff_ms: u64,
    ) -> anyhow::Result<Stored> {
        let shown = redact(&self.url);
        let mut attempt = 0;
        loop {
            match self.post_once(body) {
                Attempt::Stored(stored) => return Ok(stored),
                Attempt::Rejected(reason) => {
                    return Err(bad_input(format!(
                        "the server rejected the event: {reason}"
                    )));
                }
                Attempt::Failed(why) => {
                    anyhow::bail!("could not record the event at {shown}: {why}");
                }
                Attempt::Transient { why, retry_after } => {
                    if attempt >= retries {
                        let tries = attempt + 1;
                        anyhow::bail!(
                            "could not record the event at {shown} after {tries} attempt{}: {why}",
                            if tries == 1 { "" } else { "s" }
                        );
                    }
                    let delay = retry_after
                        .map(|d| d.min(MAX_DELAY))
                        .unwrap_or_else(|| backoff(attempt, backoff_ms, jitter_seed()));
                    attempt += 1;
                    eprintln!(
                        "loopwise: {shown}: {why}; retry {attempt} of {retries} in {:.1} s",
                        delay.as_secs_f64()
                    );
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn post_once(&self, body: &str) -> Attempt {
        let sent = self
            .agent
            .post(&self.url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json")
            .content_type("application/json")
            .send(body);
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return self.transport_failure(error),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match response
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .lossy_utf8(true)
            .read_to_string()
        {
            Ok(text) => text,
            // The event may or may not be stored; sending it again is safe.
            Err(error) => return self.transport_failure(error),
        };
        classify(status, retry_after, location.as_deref(), &text)
    }

    fn transport_failure(&self, error: ureq::Error) -> Attempt {
        match error {
            ureq::Error::Timeout(_) => Attempt::Transient {
                why: format!("no answer within {} s", self.timeout.as_secs()),
                retry_after: None,
            },
            ureq::Error::Io(io) => Attempt::Transient {
                why: io.to_string(),
                retry_after: None,
            },
            ureq::Error::HostNotFound => Attempt::Transient {
                why: "the host name was not found".into(),
                retry_after: None,
            },
            ureq::Error::ConnectionFailed => Attempt::Transient {
                why: "the connection failed".into(),
                retry_after: None,
            },
            other => Attempt::Failed(other.to_string()),
        }
    }
}

/// What an answer means: the status decides; the body gives the id or the reason.
fn classify(
    status: u16,
    retry_after: Option<Duration>,
    location: Option<&str>,
    text: &str,
) -> Attempt {
    let json: Option<Value> = serde_json::from_str(text).ok();
    match status {
        200..=299 => match json.as_ref().and_then(stored) {
            Some(stored) => Attempt::Stored(stored),
            None => Attempt::Failed(format!(
                "HTTP {status}, but the answer is not a loopwise events answer: {}",
                excerpt(text)
            )),
        },
        300..=399 => Attempt::Failed(format!(
            "HTTP {status}: the server redirects to {}; pass that as --server",
            location
                .map(redact)
                .unwrap_or_else(|| "another address".into())
        )),
        408 | 429 | 502 | 503 | 504 => Attempt::Transient {
            why: format!(
                "HTTP {status}{}",
                reason(json.as_ref(), text)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            retry_after,
        },
        400..=499 => Attempt::Rejected(format!(
            "{} (HTTP {status})",
            reason(json.as_ref(), text).unwrap_or_else(|| "no reason given".into())
        )),
        _ => Attempt::Failed(format!(
            "HTTP {status}{}",
            reason(json.as_ref(), text)
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
    }
}

/// The first result of an events answer.
fn stored(answer: &Value) -> Option<Stored> {
    let result = answer.get("results")?.get(0)?;
    Some(Stored {
        id: result.get("id")?.as_str()?.to_string(),
        status: result.get("status")?.as_str()?.to_string(),
    })
}

/// Why the server refused: `error.message`, or the first rejection's reason, or the body.
fn reason(json: Option<&Value>, text: &str) -> Option<String> {
    let with_field = |message: &str, field: Option<&str>| match field {
        Some(field) if !message.contains(field) => one_line(&format!("{field}: {message}")),
        _ => one_line(message),
    };
    if let Some(json) = json {
        if let Some(error) = json.get("error")
            && let Some(message) = error.get("message").and_then(Value::as_str)
        {
            return Some(with_field(
                message,
                error.get("field").and_then(Value::as_str),
            ));
        }
        if let Some(rejection) = json.get("rejected").and_then(|r| r.get(0))
            && let Some(message) = rejection.get("reason").and_then(Value::as_str)
        {
            return Some(with_field(
                message,
                rejection.get("field").and_then(Value::as_str),
            ));
        }
    }
    let text = excerpt(text);
    (!text.is_empty()).then_some(text)
}

/// Text on one line, whitespace runs folded to one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The start of a body, on one line, for messages.
fn excerpt(text: &str) -> String {
    let line = one_line(text);
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The delay before retry `attempt + 1`: `base_ms` doubled per attempt, capped, plus up to a
/// fifth more from `seed`.
fn backoff(attempt: u32, base_ms: u64, seed: u64) -> Duration {
    let delay = base_ms
        .saturating_mul(1u64 << attempt.min(20))
        .min(MAX_DELAY.as_millis() as u64);
    let jitter = seed % (delay / 5 + 1);
    Duration::from_millis(delay + jitter).min(MAX_DELAY)
}

/// A little randomness from the clock, so that many CI jobs do not retry in step.
fn jitter_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_micros()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_are_stable_and_depend_on_every_part() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let id = deployment_id("checkout", Some("production"), sha, 1_714_557_600);
        assert_eq!(
            id,
            deployment_id("checkout", Some("production"), sha, 1_714_557_600)
        );
        assert!(id.starts_with("d-") && id.len() == 18, "{id}");
        for other in [
            deployment_id("cart", Some("production"), sha, 1_714_557_600),
            deployment_id("checkout", None, sha, 1_714_557_600),
            deployment_id("checkout", Some("staging"), sha, 1_714_557_600),
            deployment_id("checkout", Some("production"), "abcd", 1_714_557_600),
            deployment_id("checkout", Some("production"), sha, 1_714_557_601),
        ] {
            assert_ne!(id, other);
        }
        // Separators keep ("ab", "c") apart from ("a", "bc").
        assert_ne!(
            deployment_id("ab", Some("c"), sha, 1),
            deployment_id("a", Some("bc"), sha, 1)
        );
        // FNV-1a is fixed by its definition (checked against an independent implementation):
        // this value must never change, or re-run CI steps would record a second deployment.
        assert_eq!(id, "d-1f115c7aba65f2ee");
    }

    #[test]
    fn backoff_doubles_is_capped_and_jitters_a_little() {
        assert_eq!(backoff(0, 500, 0), Duration::from_millis(500));
        assert_eq!(backoff(1, 500, 0), Duration::from_millis(1000));
        assert_eq!(backoff(2, 500, 0), Duration::from_millis(2000));
        assert_eq!(backoff(30, 500, 0), MAX_DELAY);
        let jittered = backoff(1, 500, 12_345);
        assert!(jittered >= Duration::from_millis(1000) && jittered <= Duration::from_millis(1200));
        assert_eq!(backoff(3, 0, 99), Duration::ZERO);
    }

    #[test]
    fn answers_are_classified_by_status() {
        let ok = r#"{"accepted":1,"duplicates":0,"rejected":[],"results":[{"index":0,"type":"deployment","id":"d-42","status":"inserted"}]}"#;
        assert_eq!(
            classify(200, None, None, ok),
            Attempt::Stored(Stored {
                id: "d-42".into(),
                status: "inserted".into()
            })
        );
        let rejected = r#"{"accepted":0,"duplicates":0,"rejected":[{"index":0,"reason":"is before started_at","field":"resolved_at"}],"results":[]}"#;
        assert_eq!(
            classify(422, None, None, rejected),
            Attempt::Rejected("resolved_at: is before started_at (HTTP 422)".into())
        );
        let unauthorized =
            r#"{"error":{"code":"unauthorized","message":"the token is unknown or revoked"}}"#;
        assert_eq!(
            classify(401, None, None, unauthorized),
            Attempt::Rejected("the token is unknown or revoked (HTTP 401)".into())
        );
        assert_eq!(
            classify(503, Some(Duration::from_secs(5)), None, "busy\nnow"),
            Attempt::Transient {
                why: "HTTP 503: busy now".into(),
                retry_after: Some(Duration::from_secs(5))
            }
        );
        assert!(matches!(
            classify(429, None, None, ""),
            Attempt::Transient { .. }
        ));
        assert!(matches!(classify(500, None, None, ""), Attempt::Failed(_)));
        assert!(matches!(
            classify(200, None, None, "<html>"),
            Attempt::Failed(_)
        ));
        assert_eq!(
            classify(404, None, None, ""),
            Attempt::Rejected("no reason given (HTTP 404)".into())
        );
        match classify(301, None, Some("https://u:p@example.test/"), "") {
            Attempt::Failed(why) => assert!(why.contains("https://***@example.test/"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_urls_are_checked_and_credentials_never_shown() {
        assert_eq!(
            events_url("http://127.0.0.1:7878/").unwrap(),
            "http://127.0.0.1:7878/api/v1/events"
        );
        assert_eq!(
            events_url("https://ci.example.test/loopwise").unwrap(),
            "https://ci.example.test/loopwise/api/v1/events"
        );
        for bad in [
            "127.0.0.1:7878",
            "ftp://host",
            "http://",
            "not a url",
            "http://h/?q=1",
        ] {
            let error = events_url(bad).unwrap_err();
            assert!(
                error.downcast_ref::<crate::errors::BadInput>().is_some(),
                "{bad}"
            );
        }
        assert_eq!(
            redact("https://user:pw@host:1/x@y"),
            "https://***@host:1/x@y"
        );
        assert_eq!(redact("http://host/a@b"), "http://host/a@b");
    }
}
