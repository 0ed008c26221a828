//! Bare mirrors of remote repositories, kept with the git CLI, so the server has the exact
//! commit graph that push payloads only sketch.
//!
//! A mirror is a bare repository under the mirror directory, at the repository's key (its
//! `owner/name` or GitLab project path) plus `.git`. [`Mirror::fetch`] creates it on first use
//! and fetches the remote's branches and tags into it with `--prune`, so it follows force pushes
//! and deletions. The clone URL is passed on each fetch and never written to the mirror's
//! config: a token in it stays out of the mirror directory. The URL may carry credentials
//! (`https://user:token@host/…`), so it is a [`CloneUrl`], whose `Debug` and `Display` redact
//! them, and every message git prints is redacted before it reaches an error or a log.
//!
//! Fetches run git as a child process with a timeout and a cancel flag, on the caller's
//! (blocking) thread; the history is then read with [`crate::git::GitRepository`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What is fetched: branches and tags, not the remote's other refs (GitHub's `refs/pull/*`
/// would bring every unmerged pull request's commits).
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
/// Most of git's stderr kept for an error message.
const STDERR_LIMIT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("repository key {key:?} cannot name a mirror: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("clone URL {url}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("the git command is not available ({reason}); install git to mirror repositories")]
    GitMissing { reason: String },
    #[error("git {action} of {url} failed ({status}): {stderr}")]
    Failed {
        action: &'static str,
        /// Redacted.
        url: String,
        status: String,
        /// Redacted.
        stderr: String,
    },
    #[error("git {action} of {url} did not finish within {seconds} s and was stopped")]
    TimedOut {
        action: &'static str,
        url: String,
        seconds: u64,
    },
    #[error("git {action} of {url} was cancelled: the server is stopping")]
    Cancelled { action: &'static str, url: String },
    #[error("mirror directory {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// A clone URL that may carry credentials; shown only redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct CloneUrl(String);

impl CloneUrl {
    /// Checks the URL's form: `https://`, `http://`, `ssh://`, `git://`, `file://`, or the
    /// scp-like `user@host:path`. Errors show the URL redacted.
    pub fn new(url: impl Into<String>) -> Result<Self, MirrorError> {
        let url = url.into();
        let invalid = |reason| MirrorError::InvalidUrl {
            url: redact_urls(&url),
            reason,
        };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains whitespace or control characters"));
        }
        // A leading dash would be read by git as an option.
        if trimmed.starts_with('-') {
            return Err(invalid("it starts with '-'"));
        }
        match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let known = ["https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"];
                if !known.contains(&scheme.to_ascii_lowercase().as_str()) {
                    return Err(invalid(
                        "its scheme is not one of https, http, ssh, git or file",
                    ));
                }
                if rest.is_empty() {
                    return Err(invalid("it names no repository"));
                }
            }
            None => {
                // scp-like syntax: `git@github.com:acme/api.git`.
                let (host, path) = trimmed.split_once(':').ok_or_else(|| {
                    invalid("it is neither a URL (scheme://…) nor scp-like (user@host:path)")
                })?;
                if host.is_empty() || path.is_empty() || host.contains('/') {
                    return Err(invalid(
                        "it is neither a URL (scheme://…) nor scp-like (user@host:path)",
                    ));
                }
            }
        }
        Ok(Self(trimmed.to_string()))
    }

    /// The URL with its credentials, for git alone.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with credentials replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_urls(&self.0)
    }
}

impl std::fmt::Debug for CloneUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CloneUrl({})", self.redacted())
    }
}

impl std::fmt::Display for CloneUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Every `scheme://userinfo@` in `text` with the secret part replaced by `***`: the password
/// of `user:password@`, or the whole user of `token@` over http(s) (where a lone user is how
/// tokens are passed). An ssh user (`ssh://git@host`) is not a secret and is kept.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("://") {
        let scheme_start = rest[..position]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let scheme = rest[scheme_start..position].to_ascii_lowercase();
        out.push_str(&rest[..position + 3]);
        let after = &rest[position + 3..];
        // The authority ends at the first '/', whitespace or quote; userinfo is before its last '@'.
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '>'))
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None if scheme.starts_with("http") => out.push_str("***"),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// One repository's bare mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    key: String,
    url: CloneUrl,
    path: PathBuf,
    /// The git program: `git` from `PATH` unless told otherwise.
    git: PathBuf,
}

/// Was the mirror created by this fetch, or brought up to date?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    Cloned,
    Fetched,
}

impl Mirror {
    /// The mirror of `key` (`owner/name` or a GitLab project path) under `directory`. The key's
    /// segments become directories, so they must be plain names: no `..`, no hidden names.
    pub fn new(directory: &Path, key: &str, url: CloneUrl) -> Result<Self, MirrorError> {
        let invalid = |reason| MirrorError::InvalidKey {
            key: key.to_string(),
            reason,
        };
        let segments: Vec<&str> = key.split('/').collect();
        if key.is_empty() || segments.iter().any(|s| s.is_empty()) {
            return Err(invalid(
                "it must be owner/name or a project path, without empty segments",
            ));
        }
        for segment in &segments {
            if segment.starts_with('.') {
                return Err(invalid("a segment starts with '.'"));
            }
            if !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(invalid(
                    "segments may hold only letters, digits, '-', '_' and '.'",
                ));
            }
        }
        let mut path = directory.to_path_buf();
        let (last, parents) = segments.split_last().unwrap_or((&"", &[]));
        for segment in parents {
            path.push(segment);
        }
        path.push(format!("{last}.git"));
        Ok(Self {
            key: key.to_string(),
            url,
            path,
            git: PathBuf::from("git"),
        })
    }

    /// The same mirror run with another git program.
    pub fn with_git(mut self, program: impl Into<PathBuf>) -> Self {
        self.git = program.into();
        self
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn url(&self) -> &CloneUrl {
        &self.url
    }

    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn exists(&self) -> bool {
        self.path.join("HEAD").is_file() && self.path.join("objects").is_dir()
    }

    /// Creates the mirror if needed, then fetches the remote's branches and tags into it,
    /// pruning what the remote deleted. Stops git after `timeout`, or soon after `cancel` is set.
    pub fn fetch(&self, timeout: Duration, cancel: &AtomicBool) -> Result<FetchKind, MirrorError> {
        let kind = if self.exists() {
            FetchKind::Fetched
        } else {
            std::fs::create_dir_all(&self.path).map_err(|e| MirrorError::Io {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
            let mut init = git_command(&self.git);
            init.args(["init", "--bare", "--quiet"]).arg(&self.path);
            self.run("init", init, timeout, cancel)?;
            FetchKind::Cloned
        };
        let mut fetch = git_command(&self.git);
        fetch
            .arg("-C")
            .arg(&self.path)
            .args(["fetch", "--prune", "--quiet", "--no-write-fetch-head", "--"])
            .arg(self.url.expose())
            .args(REFSPECS);
        self.run(
            if kind == FetchKind::Cloned {
                "clone"
            } else {
                "fetch"
            },
            fetch,
            timeout,
            cancel,
        )?;
        Ok(kind)
    }

    fn run(
        &self,
        action: &'static str,
        mut command: Command,
        timeout: Duration,
        cancel: &AtomicBool,
    ) -> Result<(), MirrorError> {
        let url = self.url.redacted();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| MirrorError::GitMissing {
                reason: e.to_string(),
            })?;
        // Drained on its own thread so git never blocks on a full pipe.
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                text
            })
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(MirrorError::Io {
                        path: self.path.clone(),
                        reason: format!("waiting for git: {e}"),
                    });
                }
            }
            let stop = if cancel.load(Ordering::Relaxed) {
                Some(MirrorError::Cancelled {
                    action,
                    url: url.clone(),
                })
            } else if started.elapsed() >= timeout {
                Some(MirrorError::TimedOut {
                    action,
                    url: url.clone(),
                    seconds: timeout.as_secs(),
                })
            } else {
                None
            };
            if let Some(error) = stop {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = stderr
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&stderr);
        // git may quote the URL it was given: redact that exact text as well as any URL.
        let text = text.replace(self.url.expose(), &url);
        let mut text = redact_urls(text.trim());
        if text.len() > STDERR_LIMIT {
            let mut cut = STDERR_LIMIT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        Err(MirrorError::Failed {
            action,
            url,
            status: status.to_string(),
            stderr: text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }
}

/// git with nothing interactive: no terminal prompt for credentials, ssh in batch mode, and no
/// user or system config that could redirect or prompt.
fn git_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("LC_ALL", "C");
    if std::env::var_os("GIT_SSH_COMMAND").is_none() {
        command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_urls("https://ada:s3cret@github.com/acme/api.git"),
            "https://ada:***@github.com/acme/api.git"
        );
        assert_eq!(
            redact_urls(
                "fatal: unable to access 'https://ghp_token123@github.com/acme/api.git/': x"
            ),
            "fatal: unable to access 'https://***@github.com/acme/api.git/': x"
        );
        assert_eq!(
            redact_urls("ssh://git@github.com/acme/api.git and http://u:p@h:8080"),
            "ssh://git@github.com/acme/api.git and http://u:***@h:8080"
        );
        assert_eq!(
            redact_urls("file:///srv/git/api.git"),
            "file:///srv/git/api.git"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        // A password holding '@' is cut at the last '@' of the authority.
        assert_eq!(
            redact_urls("https://ada:p@ss@host/x"),
            "https://ada:***@host/x"
        );
        let url = CloneUrl::new("https://ada:s3cret@github.com/acme/api.git").unwrap();
        assert!(!format!("{url} {url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "https://ada:s3cret@github.com/acme/api.git");
    }

    #[test]
    fn clone_urls_are_checked_and_errors_redacted() {
        for good in [
            "https://github.com/acme/api.git",
            "file:///tmp/x",
            "git@github.com:acme/api.git",
            "ssh://git@host:22/acme/api",
        ] {
            assert!(CloneUrl::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "   ",
            "ftp://host/x",
            "-upload-pack=evil",
            "just-a-name",
            "https://",
        ] {
            assert!(CloneUrl::new(bad).is_err(), "{bad:?}");
        }
        let error = CloneUrl::new("gopher://ada:s3cret@host/x")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("s3cret") && error.contains("ada:***@host"),
            "{error}"
        );
    }

    #[test]
    fn keys_become_paths_inside_the_directory() {
        let url = CloneUrl::new("file:///x").unwrap();
        let mirror = Mirror::new(Path::new("/m"), "acme/api", url.clone()).unwrap();
        assert_eq!(mirror.path(), Path::new("/m/acme/api.git"));
        let mirror = Mirror::new(Path::new("/m"), "group/sub/project", url.clone()).unwrap();
        assert_eq!(mirror.path(), Path::new("/m/group/sub/project.git"));
        for bad in [
            "",
            "../etc",
            "acme/../x",
            "acme//api",
            "/abs",
            "acme/.git",
            "a b/c",
        ] {
            assert!(
                Mirror::new(Path::new("/m"), bad, url.clone()).is_err(),
                "{bad:?}"
            );
        }
    }
}
