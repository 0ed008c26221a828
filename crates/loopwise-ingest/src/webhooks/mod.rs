//! Webhook deliveries from GitHub and GitLab: authenticity checks and parsing into core
//! [`Event`]s, as pure functions over the raw body and headers. The server does HTTP; this
//! module decides what a delivery means.

pub mod github;
pub mod gitlab;

use globset::{Glob, GlobSet, GlobSetBuilder};
use loopwise_core::events::Event;
use loopwise_core::time::Timestamp;
use std::collections::HashMap;

/// How deliveries are interpreted; comes from the server's configuration.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Issues carrying one of these labels (case-insensitive) are incidents.
    pub incident_labels: Vec<String>,
    /// Workflow (GitHub Actions) or pipeline names matching these globs are deployments.
    pub deployment_workflows: GlobSet,
    /// Published releases count as production deployments.
    pub releases_are_deployments: bool,
    /// Repository (`owner/name` or project path) → service; default: the repository's name.
    pub services: HashMap<String, String>,
    /// The environment of deployments that name none (workflows, releases).
    pub default_environment: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            incident_labels: vec!["incident".to_string()],
            deployment_workflows: GlobSet::empty(),
            releases_are_deployments: false,
            services: HashMap::new(),
            default_environment: "production".to_string(),
        }
    }
}

impl WebhookSettings {
    /// Compiles workflow-name globs; the error names the bad pattern.
    pub fn with_deployment_workflows(
        mut self,
        patterns: &[String],
    ) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(Glob::new(pattern)?);
        }
        self.deployment_workflows = builder.build()?;
        Ok(self)
    }

    /// The service a repository's events belong to.
    pub fn service_for(&self, repository: &str) -> String {
        if let Some(service) = self.services.get(repository) {
            return service.clone();
        }
        repository
            .rsplit('/')
            .next()
            .unwrap_or(repository)
            .to_string()
    }

    pub fn is_incident_label(&self, label: &str) -> bool {
        self.incident_labels
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(label.trim()))
    }
}

/// What one delivery yielded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub events: Vec<Event>,
    /// Why a delivery yielded nothing (an irrelevant event or action); acknowledged, not an error.
    pub ignored: Option<String>,
    /// The repository whose branches or tags the delivery says moved (any push, tag pushes
    /// and deletions included), so a mirror of it knows to fetch.
    pub refs_moved: Option<String>,
}

impl Parsed {
    pub fn ignored(reason: impl Into<String>) -> Self {
        Self {
            events: Vec::new(),
            ignored: Some(reason.into()),
            refs_moved: None,
        }
    }

    pub fn events(events: Vec<Event>) -> Self {
        Self {
            events,
            ignored: None,
            refs_moved: None,
        }
    }

    /// This result, noting that `repository`'s refs moved.
    pub fn with_refs_moved(mut self, repository: &str) -> Self {
        self.refs_moved = Some(repository.to_string());
        self
    }
}

/// A delivery that cannot be understood. Messages name the JSON path at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("field `{path}` is missing")]
    Missing { path: String },
    #[error("field `{path}`: {reason}")]
    Invalid { path: String, reason: String },
}

/// Why an authenticity check failed. Says which header, never the secret or the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the {header} header is missing")]
    Missing { header: &'static str },
    #[error("the {header} header is malformed")]
    Malformed { header: &'static str },
    #[error("the {header} header does not match")]
    Mismatch { header: &'static str },
}

/// Parses the time formats webhooks use: RFC 3339 (`Z` or offsets, fractions), GitLab's
/// `2016-08-12 15:23:28 UTC` and `2021-04-28 21:50:00 +0200`, and whole Unix seconds.
pub fn parse_webhook_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(seconds) = loopwise_core::time::parse_instant(text) {
        return Some(seconds);
    }
    if let Some(utc) = text.strip_suffix(" UTC") {
        let civil: jiff::civil::DateTime = utc.trim().parse().ok()?;
        return civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    // `2021-04-28 21:50:00 +0200`
    let (civil, offset) = text.rsplit_once(' ')?;
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = offset.get(1..)?.replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    let offset = jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()?;
    let civil: jiff::civil::DateTime = civil.trim().parse().ok()?;
    offset.to_timestamp(civil).ok().map(|ts| ts.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_webhook_time_format() {
        // All the same instant: 2021-04-28T19:50:00Z.
        let expected = Some(1_619_639_400);
        assert_eq!(parse_webhook_time("2021-04-28T19:50:00Z"), expected);
        assert_eq!(parse_webhook_time("2021-04-28T21:50:00+02:00"), expected);
        assert_eq!(parse_webhook_time("2021-04-28T19:50:00.886Z"), expected);
        assert_eq!(parse_webhook_time("2021-04-28 19:50:00 UTC"), expected);
        assert_eq!(parse_webhook_time("2021-04-28 21:50:00 +0200"), expected);
        assert_eq!(parse_webhook_time("2021-04-28 16:50:00 -0300"), expected);
        assert_eq!(parse_webhook_time("1619639400"), expected);
        for bad in [
            "",
            "soon",
            "2021-04-28 21:50:00 +02",
            "2021-04-28 21:50:00 0200",
            "2021-13-28 21:50:00 UTC",
        ] {
            assert_eq!(parse_webhook_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn settings_map_repositories_to_services() {
        let mut settings = WebhookSettings::default();
        assert_eq!(settings.service_for("octo-org/checkout"), "checkout");
        settings
            .services
            .insert("octo-org/monolith".into(), "payments".into());
        assert_eq!(settings.service_for("octo-org/monolith"), "payments");
        assert!(settings.is_incident_label(" Incident "));
        let settings = settings
            .with_deployment_workflows(&["deploy*".to_string()])
            .unwrap();
        assert!(settings.deployment_workflows.is_match("deploy-prod"));
    }

    proptest::proptest! {
        #[test]
        fn time_parsing_never_panics(text in "\\PC{0,40}") {
            let _ = parse_webhook_time(&text);
        }
    }
}
