//! The rules that turn git facts into deployments and failures (PRODUCT.md section 4, "From git
//! alone"), as pure functions: revert lines of commit messages, release-like tags, deployments
//! from tags, first-parent commits or a deploy log, hotfix tag globs and subject patterns, and
//! service paths. The importers read the facts; the engine and `analyze` apply these rules, so
//! a rule means the same wherever it is used.

use crate::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source, Tag};
use crate::graph::{CommitGraph, CommitIndex, MIN_REVERT_PREFIX, ResolveError};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::fmt;

/// Every commit id that git's revert line `This reverts commit <id>` names in `message`: full
/// ids and abbreviations of at least [`MIN_REVERT_PREFIX`] hex digits, lowercased, in order,
/// without repeats, separated by spaces (the form [`Change::reverts`] keeps); `None` without any.
pub fn revert_targets(message: &[u8]) -> Option<String> {
    const MARKER: &[u8] = b"This reverts commit ";
    let mut targets: Vec<String> = Vec::new();
    let mut rest = message;
    while let Some(position) = find(rest, MARKER) {
        let candidate = &rest[position + MARKER.len()..];
        let hex_length = candidate
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let followed_by_word = candidate
            .get(hex_length)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if (MIN_REVERT_PREFIX..=40).contains(&hex_length) && !followed_by_word {
            let target: String = candidate[..hex_length]
                .iter()
                .map(|b| char::from(b.to_ascii_lowercase()))
                .collect();
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        rest = &candidate[hex_length..];
    }
    (!targets.is_empty()).then(|| targets.join(" "))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Does a tag name look like a release (`v1.2`, `1.2.3`, `release-2.0`, `api/v3.1.0`)?
pub fn is_release_like(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    let version =
        last.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_');
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().take_while(|b| b.is_ascii_digit()).count() > 0
}

/// A glob over tag names (globset's syntax: `*`, `?`, `[abc]`, `{a,b}`), kept with its text
/// for provenance.
#[derive(Clone)]
pub struct TagGlob {
    text: String,
    matcher: globset::GlobMatcher,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{glob:?} is not a valid glob: {reason}")]
pub struct GlobError {
    pub glob: String,
    pub reason: String,
}

impl fmt::Debug for TagGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagGlob({:?})", self.text)
    }
}

impl fmt::Display for TagGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for TagGlob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for TagGlob {}

impl TagGlob {
    pub fn new(text: &str) -> Result<Self, GlobError> {
        let error = |reason: String| GlobError {
            glob: text.to_string(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(error("it is empty".into()));
        }
        let glob = globset::Glob::new(text).map_err(|e| error(e.kind().to_string()))?;
        Ok(Self {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches the whole glob.
    pub fn is_match(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

/// Optional hotfix patterns: a deployment of a tag matching the glob, or one shipping a commit
/// whose subject matches the pattern, remediates the deployment before it.
#[derive(Debug, Clone, Default)]
pub struct HotfixRules {
    pub tags: Option<TagGlob>,
    pub subject: Option<regex::Regex>,
}

impl HotfixRules {
    pub fn is_empty(&self) -> bool {
        self.tags.is_none() && self.subject.is_none()
    }

    /// Per commit of `graph`: does its subject mark a hotfix? `None` without a subject pattern.
    pub fn hotfix_commits<'a>(
        &self,
        graph: &CommitGraph,
        changes: impl IntoIterator<Item = &'a Change>,
    ) -> Option<Vec<bool>> {
        let pattern = self.subject.as_ref()?;
        let mut flags = vec![false; graph.len()];
        for change in changes {
            if let Some(index) = graph.index_of(&change.sha) {
                flags[index as usize] = pattern.is_match(&change.subject);
            }
        }
        Some(flags)
    }

    /// Marks as hotfixes the normal deployments of a commit that a tag matching the hotfix glob
    /// names (or that name such a tag, `refs/tags/<name>`).
    pub fn mark_hotfix_tags(&self, deployments: &mut [Deployment], tags: &[Tag]) {
        let Some(glob) = &self.tags else { return };
        let hotfix_commits: std::collections::HashSet<&str> = tags
            .iter()
            .filter(|tag| glob.is_match(&tag.name))
            .map(|tag| tag.commit.as_str())
            .collect();
        for deployment in deployments {
            let named_tag = deployment
                .sha
                .strip_prefix("refs/tags/")
                .is_some_and(|name| glob.is_match(name));
            if deployment.kind == DeploymentKind::Normal
                && (named_tag || hotfix_commits.contains(deployment.sha.as_str()))
            {
                deployment.kind = DeploymentKind::Hotfix;
            }
        }
    }
}

/// The id of a deployment derived from git: `service:environment:what`.
fn git_deployment(
    service: &str,
    environment: &str,
    what: String,
    sha: &str,
    time: Timestamp,
    kind: DeploymentKind,
) -> Deployment {
    Deployment {
        source: Source::Git,
        id: format!("{service}:{environment}:{what}"),
        service: service.to_string(),
        environment: environment.to_string(),
        sha: sha.to_string(),
        started_at: None,
        finished_at: Some(time),
        status: DeploymentStatus::Success,
        kind,
    }
}

/// The deployments of tags whose name `deploys`, plus every tag the hotfix glob matches (as
/// hotfixes, even when `deploys` does not match them), at the tag's time.
pub fn tag_deployments(
    tags: &[Tag],
    deploys: &dyn Fn(&str) -> bool,
    hotfix: Option<&TagGlob>,
    service: &str,
    environment: &str,
) -> Vec<Deployment> {
    tags.iter()
        .filter_map(|tag| {
            let is_hotfix = hotfix.is_some_and(|glob| glob.is_match(&tag.name));
            (is_hotfix || deploys(&tag.name)).then(|| {
                let kind = if is_hotfix {
                    DeploymentKind::Hotfix
                } else {
                    DeploymentKind::Normal
                };
                git_deployment(
                    service,
                    environment,
                    format!("tag:{}", tag.name),
                    &tag.commit,
                    tag.time,
                    kind,
                )
            })
        })
        .collect()
}

/// One deployment per first-parent commit of `head`, at its committer time. With service
/// paths (`relevant`), only the commits whose change (against their first parent) touches the
/// service's paths: a monorepo service is not deployed by commits to other services.
pub fn first_parent_deployments(
    graph: &CommitGraph,
    head: CommitIndex,
    relevant: Option<&[bool]>,
    service: &str,
    environment: &str,
) -> Vec<Deployment> {
    graph
        .first_parent_chain(head)
        .into_iter()
        .filter(|&commit| relevant.is_none_or(|flags| flags[commit as usize]))
        .map(|commit| {
            let sha = graph.sha(commit);
            git_deployment(
                service,
                environment,
                format!("commit:{sha}"),
                sha,
                graph.committer_time(commit),
                DeploymentKind::Normal,
            )
        })
        .collect()
}

/// One line of a deploy log, validated, before its commit is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDeployment {
    /// 1-based line in the file.
    pub line: usize,
    pub sha: String,
    pub time: Timestamp,
    pub started_at: Option<Timestamp>,
    pub status: DeploymentStatus,
    pub kind: DeploymentKind,
    pub environment: Option<String>,
    pub id: Option<String>,
    pub service: Option<String>,
}

/// A deploy log line whose commit cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: field `sha`: {error}")]
pub struct LoggedDeploymentError {
    pub line: usize,
    pub error: ResolveError,
}

/// The deployments of `service` in a deploy log: lines naming another service are skipped;
/// abbreviated commits are resolved against `graph`; the environment defaults to
/// `environment`, the id to `service:environment:sha:time`.
pub fn logged_deployments(
    records: Vec<LoggedDeployment>,
    graph: &CommitGraph,
    service: &str,
    environment: &str,
) -> Result<Vec<Deployment>, LoggedDeploymentError> {
    let mut deployments = Vec::with_capacity(records.len());
    for record in records {
        if record.service.as_deref().is_some_and(|s| s != service) {
            continue;
        }
        let commit = graph
            .index_of(&record.sha)
            .map_or_else(|| graph.resolve(&record.sha), Ok)
            .map_err(|error| LoggedDeploymentError {
                line: record.line,
                error,
            })?;
        let sha = graph.sha(commit).to_string();
        let record_environment = record
            .environment
            .unwrap_or_else(|| environment.to_string());
        let id = record
            .id
            .unwrap_or_else(|| format!("{service}:{record_environment}:{sha}:{}", record.time));
        deployments.push(Deployment {
            source: Source::Import,
            id,
            service: service.to_string(),
            environment: record_environment,
            sha,
            started_at: record.started_at,
            finished_at: Some(record.time),
            status: record.status,
            kind: record.kind,
        });
    }
    Ok(deployments)
}

/// Per commit of `graph`: does its change touch the service's paths, as `touches` (sha →
/// answer, for merges the diff against the first parent) says? Commits without an answer
/// do not.
pub fn path_relevance(graph: &CommitGraph, touches: &HashMap<String, bool>) -> Vec<bool> {
    let mut flags = vec![false; graph.len()];
    for (sha, &touched) in touches {
        if touched && let Some(index) = graph.index_of(sha) {
            flags[index as usize] = true;
        }
    }
    flags
}

/// What kind of git-derived deployment an id names (`service:environment:tag:NAME` or
/// `service:environment:commit:SHA`), for provenance.
pub fn git_deployment_rule(id: &str) -> Option<&'static str> {
    let mut parts = id.splitn(4, ':');
    let kind = parts.nth(2)?;
    parts.next()?;
    match kind {
        "tag" => Some("git-tags"),
        "commit" => Some("git-first-parent"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_revert_target() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let message = format!("Revert \"thing\"\n\nThis reverts commit {sha}.\n");
        assert_eq!(revert_targets(message.as_bytes()), Some(sha.to_string()));
        let merge = format!(
            "Revert\n\nThis reverts commit {}, reversing\nchanges made to x.",
            sha.to_uppercase()
        );
        assert_eq!(revert_targets(merge.as_bytes()), Some(sha.to_string()));
        assert_eq!(
            revert_targets(b"This reverts commit 0123abc."),
            Some("0123abc".into()),
            "seven digits are enough"
        );
        assert_eq!(
            revert_targets(b"This reverts commit 0123ab."),
            None,
            "six are not"
        );
        assert_eq!(
            revert_targets(b"This reverts commit 0123abcz."),
            None,
            "not an id"
        );
        let squash = format!(
            "Revert two\n\nThis reverts commit {sha}.\nThis reverts commit abcdef12.\nThis reverts commit {sha}."
        );
        assert_eq!(
            revert_targets(squash.as_bytes()),
            Some(format!("{sha} abcdef12")),
            "every line, without repeats"
        );
        assert_eq!(revert_targets(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn revert_parsing_never_panics(message in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = revert_targets(&message);
        }

        #[test]
        fn finds_any_full_sha_after_the_marker(prefix in "[^T]{0,40}", sha in "[0-9a-f]{40}", suffix in "\\PC{0,40}") {
            let message = format!("{prefix}This reverts commit {sha}{suffix}");
            let word = suffix.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            let expected = (!word).then(|| sha.clone());
            proptest::prop_assert_eq!(revert_targets(message.as_bytes()), expected);
        }

    }

    #[test]
    fn globs() {
        let glob = |text: &str| TagGlob::new(text).unwrap();
        assert!(glob("v*").is_match("v1.2.3"));
        assert!(!glob("v*").is_match("release-1"));
        assert!(glob("hotfix-[0-9]*").is_match("hotfix-12"));
        assert!(!glob("hotfix-[0-9]*").is_match("hotfix-x"));
        assert!(TagGlob::new("[abc").is_err());
        assert!(TagGlob::new(" ").is_err());
        assert_eq!(glob("v*").to_string(), "v*");
    }

    #[test]
    fn release_like_tags() {
        for name in [
            "v1.2",
            "1.2.3",
            "release-2.0",
            "api/v3.1.0",
            "v10.0.0-rc.1",
            "V2.1",
        ] {
            assert!(is_release_like(name), "{name}");
        }
        for name in [
            "nightly",
            "v1",
            "latest",
            "build-123",
            "v.1",
            "deploy/prod",
            "",
        ] {
            assert!(!is_release_like(name), "{name}");
        }
    }

    #[test]
    fn hotfix_tags_are_deployments_even_when_the_deploy_glob_misses_them() {
        let tag = |name: &str, commit: &str, time| Tag {
            name: name.into(),
            commit: commit.into(),
            time,
            annotated: false,
        };
        let tags = [
            tag("v1.0", "a", 10),
            tag("hotfix-1", "b", 20),
            tag("nightly", "c", 30),
        ];
        let v = TagGlob::new("v*").unwrap();
        let hotfix = TagGlob::new("hotfix-*").unwrap();
        let deployments = tag_deployments(
            &tags,
            &|n| v.is_match(n),
            Some(&hotfix),
            "api",
            "production",
        );
        let found: Vec<(&str, DeploymentKind)> = deployments
            .iter()
            .map(|d| (d.id.as_str(), d.kind))
            .collect();
        assert_eq!(
            found,
            vec![
                ("api:production:tag:v1.0", DeploymentKind::Normal),
                ("api:production:tag:hotfix-1", DeploymentKind::Hotfix),
            ]
        );
        assert_eq!(
            git_deployment_rule("api:production:tag:v1.0"),
            Some("git-tags")
        );
        assert_eq!(
            git_deployment_rule("api:production:commit:abc"),
            Some("git-first-parent")
        );
        assert_eq!(git_deployment_rule("deploy-17"), None);
    }
}
