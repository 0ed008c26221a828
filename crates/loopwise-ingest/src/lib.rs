//! loopwise's importers: read outside data and turn it into core entities.
//!
//! * [`git`]: a repository's commits and tags with gitoxide, in one pass, skipping what the
//!   store already has.
//! * [`deploy_log`]: deployment history kept outside git (CSV or NDJSON).
//! * [`mirror`]: bare mirrors of remote repositories, fetched with the git CLI (timeout,
//!   cancel, credentials redacted), whose history [`git`] then reads.
//! * [`webhooks`]: GitHub and GitLab deliveries, verified and normalised into core events.
//! * [`demo`]: a generated, deterministic demo organisation (ownership, histories,
//!   deployments, incidents) and its writing through the store, for `loopwise demo`.
//!
//! Importers never write to the store (only the demo does, through the `Store` trait) and
//! never decide a metric: they parse, validate and report errors that name the file, line and
//! field. Nothing here panics on bad input.

pub mod demo;
pub mod deploy_log;
pub mod git;
pub mod mirror;
pub mod webhooks;
