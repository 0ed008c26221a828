//! Test support shared across the workspace. Only dev-dependencies use this crate: finding the
//! shared fixtures, running the real binary and talking HTTP to it ([`process`]), and driving a
//! real headless Chromium for the dashboard's browser tests ([`browser`], feature `browser`, on
//! by default).
//!
//! The real payloads and reports other projects published live outside the repository, in
//! `../shared/fixtures` beside the workspace (or wherever `LOOPWISE_FIXTURES` points); they are
//! read in place, never copied in. [`fixtures_dir`] is the one place that finds them.

use std::path::PathBuf;

#[cfg(feature = "browser")]
pub mod browser;
pub mod process;

/// The shared fixtures directory: `$LOOPWISE_FIXTURES`, else `../shared/fixtures` from the
/// workspace root; `None` (with a visible message on stderr) when it is absent, so a test can
/// skip instead of failing on a machine without it.
pub fn fixtures_dir() -> Option<PathBuf> {
    let candidate = match std::env::var_os("LOOPWISE_FIXTURES") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if candidate.is_dir() {
        Some(candidate)
    } else {
        eprintln!(
            "SKIPPED: shared fixtures not found at {} (set LOOPWISE_FIXTURES to their directory)",
            candidate.display()
        );
        None
    }
}

/// Returns the fixtures directory, or returns from the calling test after saying it skipped.
#[macro_export]
macro_rules! require_fixtures {
    () => {
        match $crate::fixtures_dir() {
            Some(directory) => directory,
            None => return,
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_shared_fixtures_beside_the_workspace() {
        // In this repository's layout the fixtures are beside the workspace; CI has them too.
        if let Some(directory) = super::fixtures_dir() {
            assert!(
                directory.join("webhooks").is_dir(),
                "{}",
                directory.display()
            );
        }
    }
}
