//! What the engine derives, kept in the store ([`Store::put_derived`]) so that a restart reads
//! it instead of deriving it again: each chain's analysis (without its incidents, which are
//! linked anew, and without its commits, which need the commit graph) with its provenance, and
//! the environments each service deploys to.
//!
//! A blob is stored with a key that names everything it was derived from: the format, the
//! write versions of the service's deployments and of its repository, and the settings that
//! shape the analysis. A blob whose key differs, that does not decode, or that contradicts
//! itself is ignored and derived again; the store never interprets it.
//!
//! [`Store::put_derived`]: loopwise_store::Store::put_derived

use crate::ChainShipped;
use crate::settings::ServiceSettings;
use loopwise_core::metrics::ChainAnalysis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Changes whenever the encoded shape changes, so an older blob is derived again, not misread.
const FORMAT: &str = "loopwise-derived/4";

/// The kind of a chain's analysis; its scope is the service, its name the environment.
pub(crate) const CHAIN: &str = "chain";
/// The kind of a service's environments; its scope is the service, its name empty.
pub(crate) const ENVIRONMENTS: &str = "environments";
/// The kind of the changes each deployment of a chain shipped; kept under the chain's key.
pub(crate) const SHIPPED: &str = "shipped";

#[derive(Serialize)]
struct ChainRef<'a> {
    analysis: &'a ChainAnalysis,
    provenance: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Chain {
    analysis: ChainAnalysis,
    provenance: BTreeMap<String, String>,
}

/// What a chain's analysis is derived from, as the key its blob is stored under.
#[derive(Debug)]
pub(crate) struct ChainInputs<'a> {
    pub deployments_version: i64,
    pub repository: Option<(i64, &'a str)>,
    pub repository_version: i64,
    pub settings: &'a ServiceSettings,
    pub link_window_seconds: i64,
}

impl ChainInputs<'_> {
    /// Every input spelled out (no `Debug` output, no hash): a change of any of them, or of
    /// the format, is a different key.
    pub(crate) fn key(&self) -> String {
        let settings = self.settings;
        let glob = |glob: Option<&loopwise_core::rules::TagGlob>| {
            glob.map(|glob| format!("{:?}", glob.as_str()))
                .unwrap_or_default()
        };
        let repository = self
            .repository
            .map(|(id, locator)| format!("{id}:{locator:?}@{}", self.repository_version))
            .unwrap_or_default();
        format!(
            "{FORMAT}; deployments@{}; repository {repository}; paths {:?}; deploy_tags {}; \
             hotfix_tags {}; hotfix_subject {:?}; link_window {}",
            self.deployments_version,
            settings.paths,
            glob(settings.deploy_tags.as_ref()),
            glob(settings.hotfix.tags.as_ref()),
            settings
                .hotfix
                .subject
                .as_ref()
                .map(|subject| subject.as_str()),
            self.link_window_seconds,
        )
    }
}

/// The key of a service's environments derived from its deployments at `deployments_version`.
pub(crate) fn environments_key(deployments_version: i64) -> String {
    format!("{FORMAT}; deployments@{deployments_version}")
}

pub(crate) fn encode_chain(
    analysis: &ChainAnalysis,
    provenance: &BTreeMap<String, String>,
) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(&ChainRef {
        analysis,
        provenance,
    })
}

/// The analysis and provenance in `bytes`, if they decode and agree with themselves.
pub(crate) fn decode_chain(bytes: &[u8]) -> Option<(ChainAnalysis, BTreeMap<String, String>)> {
    let chain: Chain = postcard::from_bytes(bytes).ok()?;
    chain
        .analysis
        .is_consistent()
        .then_some((chain.analysis, chain.provenance))
}

pub(crate) fn encode_shipped(shipped: &ChainShipped) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(shipped)
}

/// The shipped changes in `bytes`, if they decode and fit `analysis` (one list per deployment,
/// as long as the deployment's count of shipped changes).
pub(crate) fn decode_shipped(bytes: &[u8], analysis: &ChainAnalysis) -> Option<ChainShipped> {
    let shipped: ChainShipped = postcard::from_bytes(bytes).ok()?;
    let fits = shipped.by_deployment.len() == analysis.deployments.len()
        && shipped
            .by_deployment
            .iter()
            .zip(&analysis.deployments)
            .all(|(changes, facts)| changes.len() == facts.shipped_count);
    fits.then_some(shipped)
}

pub(crate) fn encode_environments(
    environments: &BTreeSet<String>,
) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(environments)
}

pub(crate) fn decode_environments(bytes: &[u8]) -> Option<BTreeSet<String>> {
    postcard::from_bytes(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
    use loopwise_core::graph::CommitGraph;
    use loopwise_core::metrics::{ChainInput, analyze_chain};

    fn change(sha: &str, parents: &[&str], author_time: i64) -> Change {
        Change {
            sha: sha.to_string(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            author_time,
            committer_time: author_time,
            author_name: "A".into(),
            author_email: "a@example.com".into(),
            subject: format!("change {sha}"),
            reverts: None,
        }
    }

    fn deployment(id: &str, sha: &str, time: i64, status: DeploymentStatus) -> Deployment {
        Deployment {
            source: Source::Api,
            id: id.to_string(),
            service: "api".into(),
            environment: "production".into(),
            sha: sha.to_string(),
            started_at: Some(time - 60),
            finished_at: Some(time),
            status,
            kind: DeploymentKind::Normal,
        }
    }

    /// a ← b ← c ← d, where d reverts c.
    fn graph() -> CommitGraph {
        let mut changes = vec![
            change("a000000", &[], 100),
            change("b000000", &["a000000"], 200),
            change("c000000", &["b000000"], 300),
            change("d000000", &["c000000"], 400),
        ];
        changes[3].reverts = Some("c000000".into());
        CommitGraph::from_changes(&changes)
    }

    /// [`graph`] deployed a, b (failed), c, d.
    fn analysed() -> ChainAnalysis {
        let graph = graph();
        analyze_chain(ChainInput {
            graph: &graph,
            deployments: vec![
                deployment("1", "a000000", 1_000, DeploymentStatus::Success),
                deployment("2", "b000000", 2_000, DeploymentStatus::Failure),
                deployment("3", "c000000", 3_000, DeploymentStatus::Success),
                deployment("4", "d000000", 5_000, DeploymentStatus::Success),
            ],
            relevant: None,
            hotfix_commits: None,
        })
    }

    #[test]
    fn a_chain_reads_back_as_it_was_written_without_its_commits() {
        let analysis = analysed();
        let provenance = BTreeMap::from([("changes".to_string(), "git history".to_string())]);
        let bytes = encode_chain(&analysis, &provenance).unwrap();
        let (read, read_provenance) = decode_chain(&bytes).expect("decodes");
        assert_eq!(read_provenance, provenance);
        assert!(read.commits().is_none(), "commits need the graph");
        assert_eq!(read.deployments.len(), 4);
        assert_eq!(
            format!("{:?}", read.deployments),
            format!("{:?}", analysis.deployments)
        );
        // The lead-time index came along: c and b shipped by 3 (3,000 − 300 and 3,000 − 200,
        // in walk order), d by 4 (5,000 − 400).
        let all = read.lead_times_of(0..4).unwrap();
        assert_eq!(all.seconds, &[2_700.0, 2_800.0, 4_600.0]);
        assert_eq!(all.baseline, 1, "a shipped with the first deployment");
        assert_eq!(
            read.deployments[2].failure_reasons.len(),
            1,
            "reverted by d"
        );
        assert_eq!(read.deployments[2].recovery_seconds, Some(2_000));
    }

    #[test]
    fn shipped_changes_read_back_only_for_the_chain_they_fit() {
        let analysis = analysed();
        let shipped = ChainShipped::of(&analysis, &graph()).expect("analysed with the graph");
        let shas = |position: usize| -> Vec<&str> {
            shipped.by_deployment[position]
                .iter()
                .map(|change| change.sha.as_str())
                .collect()
        };
        assert_eq!(shas(0), ["a000000"]);
        assert_eq!(
            shas(1),
            ["b000000"],
            "a failed deployment would have shipped b"
        );
        assert_eq!(shas(2), ["c000000", "b000000"], "in walk order");
        assert_eq!(shipped.by_deployment[3][0].authored_at, 400);
        let bytes = encode_shipped(&shipped).unwrap();
        assert_eq!(decode_shipped(&bytes, &analysis), Some(shipped.clone()));
        let mut other = analysis.clone();
        other.deployments.pop();
        assert_eq!(decode_shipped(&bytes, &other), None, "one deployment fewer");
        let mut other = analysis;
        other.deployments[2].shipped_count = 3;
        assert_eq!(decode_shipped(&bytes, &other), None, "another count");
        assert_eq!(decode_shipped(&bytes[..bytes.len() - 1], &other), None);
    }

    #[test]
    fn damaged_or_contradictory_blobs_are_ignored() {
        let analysis = analysed();
        let bytes = encode_chain(&analysis, &BTreeMap::new()).unwrap();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_chain(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A remediation that points past the chain's end.
        let mut broken = analysis.clone();
        broken.deployments[3].remediates = vec![9];
        let bytes = encode_chain(&broken, &BTreeMap::new()).unwrap();
        assert!(decode_chain(&bytes).is_none());
        // Deployments out of time order.
        let mut broken = analysis;
        broken.deployments.swap(0, 3);
        let bytes = encode_chain(&broken, &BTreeMap::new()).unwrap();
        assert!(decode_chain(&bytes).is_none());
    }

    #[test]
    fn every_input_is_in_the_key() {
        let settings = ServiceSettings::default();
        let base = ChainInputs {
            deployments_version: 3,
            repository: Some((1, "acme/api")),
            repository_version: 7,
            settings: &settings,
            link_window_seconds: 3_600,
        };
        let paths = ServiceSettings {
            paths: vec!["api/".into()],
            ..ServiceSettings::default()
        };
        let variants = [
            ChainInputs {
                deployments_version: 4,
                ..base
            },
            ChainInputs {
                repository: Some((2, "acme/api")),
                ..base
            },
            ChainInputs {
                repository: None,
                ..base
            },
            ChainInputs {
                repository_version: 8,
                ..base
            },
            ChainInputs {
                settings: &paths,
                ..base
            },
            ChainInputs {
                link_window_seconds: 7_200,
                ..base
            },
        ];
        let mut keys: BTreeSet<String> = variants.iter().map(ChainInputs::key).collect();
        keys.insert(base.key());
        assert_eq!(keys.len(), variants.len() + 1, "{keys:#?}");
    }
}
