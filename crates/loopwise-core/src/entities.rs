//! The nouns of PRODUCT.md section 3 that the metrics need.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a record came from. With a source-scoped id it makes every record's identity, so the
/// same event arriving twice is stored once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Git,
    Github,
    Gitlab,
    Api,
    Import,
    Demo,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Git,
        Source::Github,
        Source::Gitlab,
        Source::Api,
        Source::Import,
        Source::Demo,
    ];
}

/// A commit, as far as delivery metrics care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Full lowercase hexadecimal object id.
    pub sha: String,
    pub parents: Vec<String>,
    pub author_time: Timestamp,
    pub committer_time: Timestamp,
    pub author_name: String,
    pub author_email: String,
    pub subject: String,
    /// The commits this one reverts, from every "This reverts commit <id>" line of its message
    /// ([`crate::rules::revert_targets`]): full or abbreviated ids, separated by spaces.
    pub reverts: Option<String>,
}

impl Change {
    /// The commit ids this one's message says it reverts.
    pub fn revert_targets(&self) -> impl Iterator<Item = &str> {
        self.reverts
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
    }

    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// A commit message's subject: its first line, trimmed.
    pub fn subject_of(message: &str) -> String {
        message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// A tag of a repository, resolved to the commit it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Short name, e.g. `v1.2.0`.
    pub name: String,
    pub commit: String,
    /// Tagger time for annotated tags, the commit's committer time for lightweight ones.
    pub time: Timestamp,
    pub annotated: bool,
}

/// Did the deployment itself go out?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    Success,
    Failure,
}

/// Why a deployment happened. Rollbacks and hotfixes are unplanned remediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentKind {
    Normal,
    Rollback,
    Hotfix,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, $($variant:ident => $text:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        value: text.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

text_enum!(DeploymentStatus, "deployment status", Success => "success", Failure => "failure");
text_enum!(DeploymentKind, "deployment kind", Normal => "normal", Rollback => "rollback", Hotfix => "hotfix");
text_enum!(Source, "source", Git => "git", Github => "github", Gitlab => "gitlab", Api => "api", Import => "import", Demo => "demo");

/// A text that names none of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {}", expected.join(", "))]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// A deployment of one service to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub source: Source,
    /// Unique within `source`.
    pub id: String,
    pub service: String,
    pub environment: String,
    pub sha: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub status: DeploymentStatus,
    pub kind: DeploymentKind,
}

impl Deployment {
    /// The deployment time: `finished_at`, else `started_at`.
    pub fn time(&self) -> Option<Timestamp> {
        self.finished_at.or(self.started_at)
    }

    /// Seconds from start to finish when both are known, in order, and the difference fits.
    pub fn duration_seconds(&self) -> Option<i64> {
        match (self.started_at, self.finished_at) {
            (Some(start), Some(finish)) if finish >= start => finish.checked_sub(start),
            _ => None,
        }
    }
}

/// Which environments count as production (PRODUCT.md section 4: configurable, default
/// `production`, `prod`, `live`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionEnvironments {
    names: Vec<String>,
}

impl Default for ProductionEnvironments {
    fn default() -> Self {
        Self::new(["production", "prod", "live"])
    }
}

impl ProductionEnvironments {
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            names: names
                .into_iter()
                .map(|name| name.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    pub fn is_production(&self, environment: &str) -> bool {
        self.names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(environment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_enums_and_names_the_choices() {
        assert_eq!(
            "Failure".parse::<DeploymentStatus>(),
            Ok(DeploymentStatus::Failure)
        );
        assert_eq!(
            " hotfix ".parse::<DeploymentKind>(),
            Ok(DeploymentKind::Hotfix)
        );
        let error = "broken".parse::<DeploymentStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown deployment status \"broken\"; expected one of: success, failure"
        );
    }

    #[test]
    fn deployment_time_prefers_finish() {
        let mut deployment = Deployment {
            source: Source::Import,
            id: "1".into(),
            service: "s".into(),
            environment: "production".into(),
            sha: "a".into(),
            started_at: Some(10),
            finished_at: Some(25),
            status: DeploymentStatus::Success,
            kind: DeploymentKind::Normal,
        };
        assert_eq!(deployment.time(), Some(25));
        assert_eq!(deployment.duration_seconds(), Some(15));
        deployment.finished_at = None;
        assert_eq!(deployment.time(), Some(10));
        assert_eq!(deployment.duration_seconds(), None);
    }

    #[test]
    fn production_is_configurable() {
        let default = ProductionEnvironments::default();
        assert!(default.is_production("Prod"));
        assert!(!default.is_production("staging"));
        assert!(ProductionEnvironments::new(["eu-prod"]).is_production("eu-prod"));
    }
}
