//! End-to-end ground truth for `loopwise analyze`: the real binary on git repositories built
//! with the git CLI, its figures compared with what the git CLI itself gives under PRODUCT.md
//! section 4.

#[path = "analyze/support.rs"]
mod support;

#[path = "analyze/oracle.rs"]
mod oracle;

#[path = "analyze/ground_truth.rs"]
mod ground_truth;

#[path = "analyze/failures.rs"]
mod failures;

#[path = "analyze/incremental.rs"]
mod incremental;

#[path = "analyze/bad_input.rs"]
mod bad_input;

#[path = "analyze/formats.rs"]
mod formats;

#[path = "analyze/rules.rs"]
mod rules;

#[path = "analyze/guard_rails.rs"]
mod guard_rails;
