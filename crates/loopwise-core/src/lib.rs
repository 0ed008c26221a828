//! The domain core of loopwise: what every number means.
//!
//! This crate holds the entities (changes, deployments, tags), the commit graph, the metric
//! definitions of PRODUCT.md section 4 as pure functions, the DORA benchmark tables as
//! versioned data, and the tier rules. It does no I/O, reads no clock, knows no SQL and no
//! HTTP: callers pass in everything, including "now". Nothing else in the workspace may
//! redefine a metric; the store, the importers and the server only feed this crate.

pub mod benchmark;
pub mod entities;
pub mod events;
pub mod graph;
pub mod metrics;
pub mod random;
pub mod report;
pub mod rollup;
pub mod rules;
pub mod stats;
pub mod time;
pub mod trends;

pub use benchmark::{Benchmark, Tier};
pub use entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
pub use graph::CommitGraph;
pub use time::{Timestamp, Window};
