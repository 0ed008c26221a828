//! The ground truth: PRODUCT.md section 4 computed with nothing but the git CLI.
//!
//! - Deployment time: an annotated tag's tagger date, a lightweight tag's commit's committer
//!   date (`--deploy-tags`); a first-parent commit's committer date (`--deploy-commits`).
//! - Deployments are ordered by (time, name).
//! - Changes of deployment `D_i`: `git rev-list --no-merges [--full-history] D_i ^D_1 … ^D_(i-1)
//!   [-- paths]` over the earlier *successful* deployments.
//! - Lead time: deployment time − `%at` of the change; the first successful deployment is the
//!   baseline (no lead time); negative lead times are excluded and counted.
//! - Median and p90: linear interpolation between closest ranks (Hyndman–Fan type 7).

use crate::support::{Repo, assert_seconds, int, number};
use serde_json::Value;
use std::collections::HashMap;

/// One deployment as the oracle sees it.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// Sorting key after the time (the tag name, or the sha).
    pub name: String,
    pub sha: String,
    pub time: i64,
    pub success: bool,
}

/// The deployments of every tag matching one of `patterns` (`git for-each-ref` patterns, e.g.
/// `refs/tags/v*`), in deployment order.
pub fn tag_deploys(repo: &Repo, patterns: &[&str]) -> Vec<Deploy> {
    let mut args = vec![
        "for-each-ref",
        "--format=%(refname:lstrip=2) %(objecttype) %(taggerdate:unix)",
    ];
    args.extend_from_slice(patterns);
    let listing = repo.out(&args);
    let mut deploys: Vec<Deploy> = listing
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().expect("tag name").to_string();
            let kind = fields.next().expect("object type");
            let time = match kind {
                // Annotated: the tagger date.
                "tag" => fields
                    .next()
                    .expect("tagger date")
                    .parse()
                    .expect("unix time"),
                // Lightweight: the committer date of the commit.
                _ => repo
                    .out(&["log", "-1", "--format=%ct", &name])
                    .parse()
                    .expect("unix time"),
            };
            let sha = repo.rev(&name);
            Deploy {
                name,
                sha,
                time,
                success: true,
            }
        })
        .collect();
    sort(&mut deploys);
    deploys
}

/// Every first-parent commit of HEAD, at its committer date.
pub fn first_parent_deploys(repo: &Repo) -> Vec<Deploy> {
    let listing = repo.out(&["log", "--first-parent", "--format=%H %ct", "HEAD"]);
    let mut deploys: Vec<Deploy> = listing
        .lines()
        .map(|line| {
            let (sha, time) = line.split_once(' ').expect("sha and time");
            Deploy {
                name: sha.to_string(),
                sha: sha.to_string(),
                time: time.parse().expect("unix time"),
                success: true,
            }
        })
        .collect();
    sort(&mut deploys);
    deploys
}

pub fn sort(deploys: &mut [Deploy]) {
    deploys.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.name.cmp(&b.name)));
}

/// What the report must say, per the definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Successful deployments in the window.
    pub deployments: usize,
    /// Lead times in seconds of the changes shipped by in-window, non-baseline deployments.
    pub lead_times: Vec<i64>,
    pub baseline_changes: usize,
    pub negative_excluded: usize,
}

impl Expected {
    pub fn median(&self) -> Option<f64> {
        quantile_type7(&self.lead_times, 0.5)
    }

    pub fn p90(&self) -> Option<f64> {
        quantile_type7(&self.lead_times, 0.9)
    }

    pub fn mean(&self) -> Option<f64> {
        (!self.lead_times.is_empty())
            .then(|| self.lead_times.iter().sum::<i64>() as f64 / self.lead_times.len() as f64)
    }
}

/// The `p`-quantile with linear interpolation between closest ranks, written with 1-based
/// ranks: `h = (n − 1)p + 1`, `Q = x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎)`.
pub fn quantile_type7(values: &[i64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let h = (n as f64 - 1.0) * p + 1.0;
    let lower_rank = h.floor() as usize; // 1-based
    let x = |rank: usize| sorted[rank.min(n) - 1] as f64;
    Some(x(lower_rank) + (h - h.floor()) * (x(lower_rank + 1) - x(lower_rank)))
}

#[test]
fn type7_quantiles_by_hand() {
    // 1..=4: median rank 2.5 → 2.5; p90 rank 3.7 → 3.7.
    assert_eq!(quantile_type7(&[4, 1, 3, 2], 0.5), Some(2.5));
    assert!((quantile_type7(&[4, 1, 3, 2], 0.9).unwrap() - 3.7).abs() < 1e-12);
    // One value: every quantile is it.
    assert_eq!(quantile_type7(&[7], 0.9), Some(7.0));
    // 10, 20, 30, 40, 50: p90 rank 4.6 → 40 + 0.6 × 10.
    assert_eq!(quantile_type7(&[50, 10, 40, 20, 30], 0.9), Some(46.0));
    assert_eq!(quantile_type7(&[], 0.5), None);
}

/// The non-merge changes each successful deployment ships (in deployment order), per git:
/// `rev-list --no-merges [--full-history] sha ^earlier... [-- paths]`.
pub fn shipped(repo: &Repo, deploys: &[Deploy], paths: &[&str]) -> Vec<Vec<String>> {
    let mut earlier: Vec<String> = Vec::new();
    let mut result = Vec::new();
    for deploy in deploys {
        if !deploy.success {
            result.push(Vec::new());
            continue;
        }
        let mut args: Vec<String> = vec!["rev-list".into(), "--no-merges".into()];
        if !paths.is_empty() {
            args.push("--full-history".into());
        }
        args.push(deploy.sha.clone());
        args.extend(earlier.iter().map(|sha| format!("^{sha}")));
        if !paths.is_empty() {
            args.push("--".into());
            args.extend(paths.iter().map(|p| p.to_string()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let listing = repo.out(&args);
        result.push(listing.lines().map(str::to_string).collect());
        earlier.push(deploy.sha.clone());
    }
    result
}

/// Author times (`%at`) of `shas`.
pub fn author_times(repo: &Repo, shas: &[String]) -> HashMap<String, i64> {
    if shas.is_empty() {
        return HashMap::new();
    }
    let mut args = vec!["log", "--no-walk=unsorted", "--format=%H %at"];
    args.extend(shas.iter().map(String::as_str));
    repo.out(&args)
        .lines()
        .map(|line| {
            let (sha, time) = line.split_once(' ').expect("sha and time");
            (sha.to_string(), time.parse().expect("unix time"))
        })
        .collect()
}

/// The expected figures of `deploys` over the window `[since, until)`.
pub fn expected(
    repo: &Repo,
    deploys: &[Deploy],
    paths: &[&str],
    (since, until): (i64, i64),
) -> Expected {
    let shipped = shipped(repo, deploys, paths);
    let all: Vec<String> = shipped.iter().flatten().cloned().collect();
    let at = author_times(repo, &all);
    let mut expected = Expected {
        deployments: 0,
        lead_times: Vec::new(),
        baseline_changes: 0,
        negative_excluded: 0,
    };
    let mut baseline_seen = false;
    for (deploy, changes) in deploys.iter().zip(&shipped) {
        if !deploy.success {
            continue;
        }
        let baseline = !baseline_seen;
        baseline_seen = true;
        if !(since <= deploy.time && deploy.time < until) {
            continue;
        }
        expected.deployments += 1;
        if baseline {
            expected.baseline_changes += changes.len();
            continue;
        }
        for change in changes {
            let lead = deploy.time - at[change];
            if lead < 0 {
                expected.negative_excluded += 1;
            } else {
                expected.lead_times.push(lead);
            }
        }
    }
    expected
}

/// The report's deployment count and lead time figures equal the oracle's, to the second.
pub fn assert_matches(service: &Value, expected: &Expected) {
    let context = format!("report: {service:#}\nexpected: {expected:?}");
    assert_eq!(
        int(&service["deployments"]["count"]) as usize,
        expected.deployments,
        "deployments.count\n{context}"
    );
    let lead = &service["lead_time"];
    assert_eq!(
        int(&lead["changes"]) as usize,
        expected.lead_times.len(),
        "lead_time.changes\n{context}"
    );
    assert_eq!(
        int(&lead["baseline_changes"]) as usize,
        expected.baseline_changes,
        "lead_time.baseline_changes\n{context}"
    );
    assert_eq!(
        int(&lead["negative_excluded"]) as usize,
        expected.negative_excluded,
        "lead_time.negative_excluded\n{context}"
    );
    assert_seconds(
        number(&lead["median_seconds"]),
        expected.median(),
        &format!("lead_time.median_seconds\n{context}"),
    );
    assert_seconds(
        number(&lead["p90_seconds"]),
        expected.p90(),
        &format!("lead_time.p90_seconds\n{context}"),
    );
    assert_seconds(
        number(&lead["mean_seconds"]),
        expected.mean(),
        &format!("lead_time.mean_seconds\n{context}"),
    );
}
