//! Property tests of the metric definitions (PRODUCT.md section 4) against deliberately naive
//! reference implementations written here.
//!
//! The references are written to be obviously right, not fast: reachability is an explicit
//! `HashSet` per deployment, "earlier" is a plain sort by (time, id), quantiles are exact
//! rational arithmetic on integers. Inputs are random commit DAGs and random deployment lists.
//! When a property fails, proptest records the shrunk input in
//! `properties.proptest-regressions` next to this file; that file is committed so the case is
//! replayed forever.

use loopwise_core::benchmark::Measured;
use loopwise_core::graph::CommitGraph;
use loopwise_core::metrics::{ChainAnalysis, ChainInput, analyze_chain};
use loopwise_core::report::{ChainLabels, ServiceReport, service_report};
use loopwise_core::stats::{Summary, median, quantile_sorted};
use loopwise_core::{
    Benchmark, Change, Deployment, DeploymentKind, DeploymentStatus, Source, Tier, Window,
};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeSet, HashMap, HashSet};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// `cases` per property, unless `PROPTEST_CASES` asks for more (or fewer) for a deeper run.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

const MAX_COMMITS: usize = 40;
const MAX_DEPLOYMENTS: usize = 24;
/// Deployment times sit on a coarse grid (about 7 hours) so that equal times, whose order is
/// decided by the id, are common.
const GRID: i64 = 25_000;
/// About 11.5 days of history.
const GRID_STEPS: i64 = 40;
const HISTORY_SPAN: i64 = GRID * GRID_STEPS;

/// A readable full sha for commit `i`. The first 8 digits are distinct for distinct `i` (an
/// odd multiplier is a bijection on u32), so an 8-digit abbreviation names exactly one commit.
fn sha(i: usize) -> String {
    format!("{:08x}{:032x}", (i as u32).wrapping_mul(0x9E37_79B1), i)
}

fn change(sha: String, parents: Vec<String>, author_time: i64, reverts: Option<String>) -> Change {
    Change {
        subject: format!("commit {sha}"),
        sha,
        parents,
        author_time,
        committer_time: author_time,
        author_name: "a".into(),
        author_email: "a@example.com".into(),
        reverts,
    }
}

/// A random DAG in topological order: commit `i` has 0-2 distinct parents among commits
/// `0..i`, a random author time (sometimes after the deployment that ships it: clock skew), and
/// sometimes reverts an earlier commit.
fn arb_changes() -> impl Strategy<Value = Vec<Change>> {
    let parent_count = prop_oneof![1 => Just(0usize), 5 => Just(1), 3 => Just(2)];
    let spec = (
        parent_count,
        any::<Index>(),
        any::<Index>(),
        // On the grid too, so a change authored at its deployment's instant (lead time 0) occurs.
        prop_oneof![0..HISTORY_SPAN, arb_grid_time()],
        prop::option::weighted(0.15, any::<Index>()),
    );
    prop::collection::vec(spec, 1..=MAX_COMMITS).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (count, first, second, author_time, revert))| {
                let mut parents = Vec::new();
                if i > 0 && count >= 1 {
                    parents.push(first.index(i));
                }
                if i > 1 && count == 2 {
                    // The second parent is any earlier commit other than the first.
                    let other = second.index(i - 1);
                    parents.push(if other >= parents[0] {
                        other + 1
                    } else {
                        other
                    });
                }
                let reverts = (i > 0).then_some(revert).flatten().map(|r| sha(r.index(i)));
                change(
                    sha(i),
                    parents.into_iter().map(sha).collect(),
                    author_time,
                    reverts,
                )
            })
            .collect()
    })
}

/// What a deployment names as its commit.
#[derive(Debug, Clone)]
enum Target {
    /// A commit's full sha.
    Full(Index),
    /// A commit's first 8 digits, upper case and padded with spaces when `sloppy`.
    Abbreviated(Index, bool),
    /// Text that names no commit, or ("0000") a 4-digit abbreviation.
    Text(&'static str),
}

fn arb_target() -> impl Strategy<Value = Target> {
    let unknown = prop::sample::select(vec![
        "",
        "main",
        "zzzz",
        "0000",
        "ffffffffffffffffffffffffffffffffffffffff",
    ]);
    prop_oneof![
        8 => any::<Index>().prop_map(Target::Full),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, sloppy)| Target::Abbreviated(i, sloppy)),
        1 => unknown.prop_map(Target::Text),
    ]
}

fn resolve_target(target: &Target, commits: usize) -> String {
    match target {
        Target::Full(i) => sha(i.index(commits)),
        Target::Abbreviated(i, false) => sha(i.index(commits))[..8].to_string(),
        Target::Abbreviated(i, true) => format!(" {} ", sha(i.index(commits))[..8].to_uppercase()),
        Target::Text(text) => text.to_string(),
    }
}

fn arb_grid_time() -> impl Strategy<Value = i64> {
    (0..GRID_STEPS).prop_map(|step| step * GRID)
}

fn arb_status() -> impl Strategy<Value = DeploymentStatus> {
    prop_oneof![4 => Just(DeploymentStatus::Success), 1 => Just(DeploymentStatus::Failure)]
}

fn arb_kind() -> impl Strategy<Value = DeploymentKind> {
    prop_oneof![
        6 => Just(DeploymentKind::Normal),
        1 => Just(DeploymentKind::Rollback),
        1 => Just(DeploymentKind::Hotfix),
    ]
}

fn arb_source() -> impl Strategy<Value = Source> {
    prop::sample::select(Source::ALL.to_vec())
}

#[derive(Debug, Clone)]
struct DeploymentSpec {
    target: Target,
    /// Decides where the id sorts among deployments with the same time.
    id_prefix: u8,
    source: Source,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    status: DeploymentStatus,
    kind: DeploymentKind,
}

fn arb_deployment_spec() -> impl Strategy<Value = DeploymentSpec> {
    (
        arb_target(),
        0..100u8,
        arb_source(),
        prop::option::weighted(0.5, arb_grid_time()),
        prop::option::weighted(0.85, arb_grid_time()),
        arb_status(),
        arb_kind(),
    )
        .prop_map(
            |(target, id_prefix, source, started_at, finished_at, status, kind)| DeploymentSpec {
                target,
                id_prefix,
                source,
                started_at,
                finished_at,
                status,
                kind,
            },
        )
}

/// One chain: a history and the deployments of one (service, environment).
#[derive(Debug, Clone)]
struct Scenario {
    changes: Vec<Change>,
    /// Ids are unique within the chain.
    deployments: Vec<Deployment>,
    relevant: Option<Vec<bool>>,
    hotfix_commits: Option<Vec<bool>>,
}

fn arb_flags(probability: f64) -> impl Strategy<Value = Option<Vec<bool>>> {
    prop::option::weighted(
        0.3,
        prop::collection::vec(prop::bool::weighted(probability), MAX_COMMITS),
    )
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    (
        arb_changes(),
        prop::collection::vec(arb_deployment_spec(), 0..=MAX_DEPLOYMENTS),
        arb_flags(0.7),
        arb_flags(0.1),
    )
        .prop_map(|(changes, specs, relevant, hotfix_commits)| {
            let commits = changes.len();
            let deployments = specs
                .iter()
                .enumerate()
                .map(|(k, spec)| Deployment {
                    source: spec.source,
                    // The `-k` suffix keeps ids unique; the prefix shuffles their order.
                    id: format!("{:02}-{k}", spec.id_prefix),
                    service: "svc".into(),
                    environment: "production".into(),
                    sha: resolve_target(&spec.target, commits),
                    started_at: spec.started_at,
                    finished_at: spec.finished_at,
                    status: spec.status,
                    kind: spec.kind,
                })
                .collect();
            let fit = |flags: Option<Vec<bool>>| {
                flags.map(|mut flags| {
                    flags.truncate(commits);
                    flags
                })
            };
            Scenario {
                changes,
                deployments,
                relevant: fit(relevant),
                hotfix_commits: fit(hotfix_commits),
            }
        })
}

/// Windows over (and a little around) the generated history, often on the grid so deployments
/// fall exactly on `since` or `until`, sometimes longer than a week so frequency is rated.
fn arb_window() -> impl Strategy<Value = Window> {
    (
        -4..GRID_STEPS,
        1..GRID_STEPS + 30,
        prop_oneof![Just(0), 0..GRID],
    )
        .prop_map(|(start, length, jitter)| {
            let since = start * GRID - jitter;
            Window::new(since, since + length * GRID).expect("length is positive")
        })
}

fn arb_benchmark() -> impl Strategy<Value = &'static Benchmark> {
    prop::sample::select(Benchmark::all().collect::<Vec<_>>())
}

fn analyze(
    scenario: &Scenario,
    graph: &CommitGraph,
    deployments: Vec<Deployment>,
) -> ChainAnalysis {
    analyze_chain(ChainInput {
        graph,
        deployments,
        relevant: scenario.relevant.as_deref(),
        hotfix_commits: scenario.hotfix_commits.as_deref(),
    })
}

fn report(analysis: &ChainAnalysis, window: Window, benchmark: &Benchmark) -> ServiceReport {
    let labels = ChainLabels {
        service: "svc".into(),
        environment: "production".into(),
        ..ChainLabels::default()
    };
    service_report(labels, analysis, window, benchmark)
}

// ---------------------------------------------------------------------------------------------
// The naive reference
// ---------------------------------------------------------------------------------------------

/// The history as plain maps from sha to commit; nothing precomputed.
struct History<'a> {
    changes: HashMap<&'a str, (usize, &'a Change)>,
    relevant: Option<&'a [bool]>,
}

impl<'a> History<'a> {
    fn new(scenario: &'a Scenario) -> Self {
        Self {
            changes: scenario
                .changes
                .iter()
                .enumerate()
                .map(|(i, change)| (change.sha.as_str(), (i, change)))
                .collect(),
            relevant: scenario.relevant.as_deref(),
        }
    }

    /// The commit a deployment names: its exact sha, else a case-insensitive abbreviation of
    /// 4 to 40 hex digits that starts exactly one sha.
    fn resolve(&self, text: &str) -> Option<&'a str> {
        if let Some((&sha, _)) = self.changes.get_key_value(text) {
            return Some(sha);
        }
        let wanted = text.trim().to_ascii_lowercase();
        if !(4..=40).contains(&wanted.len()) || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let matches: Vec<&str> = self
            .changes
            .keys()
            .copied()
            .filter(|sha| sha.starts_with(&wanted))
            .collect();
        match matches[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Every commit reachable from `tip` through parents, `tip` included.
    fn reachable(&self, tip: &'a str) -> HashSet<&'a str> {
        let mut seen = HashSet::new();
        let mut todo = vec![tip];
        while let Some(sha) = todo.pop() {
            if !seen.insert(sha) {
                continue;
            }
            for parent in &self.changes[sha].1.parents {
                if let Some((&known, _)) = self.changes.get_key_value(parent.as_str()) {
                    todo.push(known);
                }
            }
        }
        seen
    }

    /// A change in the sense of the definitions: not a merge, and of the service.
    fn is_change(&self, sha: &str) -> bool {
        let (position, change) = self.changes[sha];
        change.parents.len() < 2 && self.relevant.is_none_or(|flags| flags[position])
    }

    fn author_time(&self, sha: &str) -> i64 {
        self.changes[sha].1.author_time
    }
}

/// What the definitions say about one deployment, computed the slow, obvious way.
#[derive(Debug)]
struct Expected<'a> {
    deployment: &'a Deployment,
    time: i64,
    commit: Option<&'a str>,
    shipped: BTreeSet<&'a str>,
    baseline: bool,
}

impl Expected<'_> {
    fn succeeded(&self) -> bool {
        self.deployment.status == DeploymentStatus::Success
    }
}

/// The chain by the book: dated deployments ordered by (time, id); each ships the changes
/// reachable from its commit and from no earlier successful deployment's commit; the first
/// successful deployment with a known commit is the baseline.
fn expected_chain<'a>(scenario: &'a Scenario, history: &History<'a>) -> Vec<Expected<'a>> {
    let mut dated: Vec<(i64, &Deployment)> = scenario
        .deployments
        .iter()
        .filter_map(|d| Some((d.finished_at.or(d.started_at)?, d)))
        .collect();
    dated.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    let mut earlier_successes: Vec<HashSet<&str>> = Vec::new();
    let mut chain = Vec::new();
    for (time, deployment) in dated {
        let commit = history.resolve(&deployment.sha);
        let reachable = commit.map(|c| history.reachable(c)).unwrap_or_default();
        let shipped = reachable
            .iter()
            .copied()
            .filter(|c| history.is_change(c))
            .filter(|c| !earlier_successes.iter().any(|earlier| earlier.contains(c)))
            .collect();
        let succeeded = deployment.status == DeploymentStatus::Success;
        let baseline = succeeded && commit.is_some() && earlier_successes.is_empty();
        if succeeded && commit.is_some() {
            earlier_successes.push(reachable);
        }
        chain.push(Expected {
            deployment,
            time,
            commit,
            shipped,
            baseline,
        });
    }
    chain
}

/// Hyndman-Fan type 7 on integers, by the book: sort indices, then with `h = (n-1)·num/den`
/// computed exactly, `x[⌊h⌋] + (h-⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])` in exact integer arithmetic.
fn reference_quantile(values: &[i64], num: u64, den: u64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&i| values[i]);
    let rank = last as u64 * num;
    let lower = (rank / den) as usize;
    let remainder = i128::from(rank % den);
    let low = i128::from(values[order[lower]]);
    let high = i128::from(values[order[(lower + 1).min(last)]]);
    let den = i128::from(den);
    Some((low * den + remainder * (high - low)) as f64 / den as f64)
}

/// Equal up to floating-point rounding, relative to the magnitude of the data.
fn close(actual: f64, expected: f64, magnitude: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * (1.0 + magnitude.abs())
}

fn in_window(window: Window, time: i64) -> bool {
    window.since <= time && time < window.until
}

// ---------------------------------------------------------------------------------------------
// 1 and 5. Changes shipped, and the baseline
// ---------------------------------------------------------------------------------------------

fn shipped_shas<'g>(
    graph: &'g CommitGraph,
    analysis: &ChainAnalysis,
    position: usize,
) -> Vec<&'g str> {
    let shipped = analysis.shipped(position).expect("analysed with the graph");
    shipped.iter().map(|&c| graph.sha(c)).collect()
}

proptest! {
    #![proptest_config(cases(512))]

    /// PRODUCT.md 4, "Changes a deployment ships": the graph difference, per deployment in
    /// (time, id) order, against explicit reachability sets.
    #[test]
    fn shipped_changes_are_the_reachability_difference(scenario in arb_scenario()) {
        let graph = CommitGraph::from_changes(&scenario.changes);
        let history = History::new(&scenario);
        let expected = expected_chain(&scenario, &history);
        let analysis = analyze(&scenario, &graph, scenario.deployments.clone());

        prop_assert_eq!(analysis.deployments.len(), expected.len());
        prop_assert_eq!(analysis.undated, scenario.deployments.len() - expected.len());
        prop_assert_eq!(
            analysis.unknown_commits,
            expected.iter().filter(|e| e.commit.is_none()).count()
        );
        let mut shipped_by_success = BTreeSet::new();
        let mut reachable_from_success = HashSet::new();
        let commits = analysis.commits().expect("analysed with the graph");
        for (position, (facts, want)) in analysis.deployments.iter().zip(&expected).enumerate() {
            prop_assert_eq!(&facts.deployment.id, &want.deployment.id, "deployment order");
            prop_assert_eq!(facts.time, want.time);
            prop_assert_eq!(commits.commit[position].map(|c| graph.sha(c)), want.commit);
            let shipped = shipped_shas(&graph, &analysis, position);
            let shipped_set: BTreeSet<&str> = shipped.iter().copied().collect();
            prop_assert_eq!(shipped_set.len(), shipped.len(), "a change is listed twice");
            prop_assert_eq!(&shipped_set, &want.shipped, "deployment {}", want.deployment.id);
            if facts.succeeded() {
                for sha in &shipped_set {
                    // Every change ships with at most one successful deployment.
                    prop_assert!(shipped_by_success.insert(*sha), "{} shipped twice", sha);
                }
                if let Some(tip) = want.commit {
                    reachable_from_success.extend(history.reachable(tip));
                }
            }
        }
        // Nothing reachable from a successful deployment is lost.
        let everything: BTreeSet<&str> = reachable_from_success
            .into_iter()
            .filter(|sha| history.is_change(sha))
            .collect();
        prop_assert_eq!(shipped_by_success, everything);
    }

    /// The first successful deployment with a known commit, and only it, has no baseline.
    #[test]
    fn exactly_the_first_known_success_is_the_baseline(scenario in arb_scenario()) {
        let graph = CommitGraph::from_changes(&scenario.changes);
        let history = History::new(&scenario);
        let analysis = analyze(&scenario, &graph, scenario.deployments.clone());
        let first = analysis
            .deployments
            .iter()
            .position(|f| f.succeeded() && history.resolve(&f.deployment.sha).is_some());
        let baselines: Vec<usize> = analysis
            .deployments
            .iter()
            .enumerate()
            .filter(|(_, f)| f.baseline)
            .map(|(position, _)| position)
            .collect();
        prop_assert_eq!(baselines, first.into_iter().collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Order independence
// ---------------------------------------------------------------------------------------------

/// Random sort keys, one per deployment: the deployments sorted by them are a random
/// permutation that shrinks (towards the original order) independently of the scenario.
fn arb_permutation() -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(any::<u16>(), MAX_DEPLOYMENTS)
}

fn permuted(deployments: &[Deployment], keys: &[u16]) -> Vec<Deployment> {
    let mut keyed: Vec<(u16, &Deployment)> = keys.iter().copied().zip(deployments).collect();
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, d)| d.clone()).collect()
}

/// Ids are source-scoped (PRODUCT.md 3): keep only their first character, so that the same id
/// from two sources, at the same time, is common; drop repeated (source, id) pairs.
fn with_source_scoped_ids(mut scenario: Scenario) -> Scenario {
    for deployment in &mut scenario.deployments {
        deployment.id.truncate(1);
    }
    let mut seen = HashSet::new();
    scenario
        .deployments
        .retain(|d| seen.insert((d.source, d.id.clone())));
    scenario
}

/// The whole observable result of a chain: the analysis and the report as JSON.
fn observe(
    scenario: &Scenario,
    graph: &CommitGraph,
    deployments: Vec<Deployment>,
    window: Window,
    benchmark: &Benchmark,
) -> (String, serde_json::Value) {
    let analysis = analyze(scenario, graph, deployments);
    let report = report(&analysis, window, benchmark);
    (
        format!("{analysis:?}"),
        serde_json::to_value(&report).expect("a report serialises"),
    )
}

proptest! {
    #![proptest_config(cases(256))]

    /// Deployments arrive in whatever order the store returns them; nothing may depend on it.
    #[test]
    fn input_order_changes_nothing(
        scenario in arb_scenario(),
        keys in arb_permutation(),
        window in arb_window(),
        benchmark in arb_benchmark(),
    ) {
        let graph = CommitGraph::from_changes(&scenario.changes);
        let shuffled = permuted(&scenario.deployments, &keys);
        let original = observe(&scenario, &graph, scenario.deployments.clone(), window, benchmark);
        let reordered = observe(&scenario, &graph, shuffled, window, benchmark);
        prop_assert_eq!(original.0, reordered.0);
        prop_assert_eq!(original.1, reordered.1);
    }

    /// The same, when two sources each have a deployment with the same id at the same time.
    #[test]
    fn input_order_changes_nothing_with_source_scoped_ids(
        scenario in arb_scenario().prop_map(with_source_scoped_ids),
        keys in arb_permutation(),
        window in arb_window(),
        benchmark in arb_benchmark(),
    ) {
        let graph = CommitGraph::from_changes(&scenario.changes);
        let shuffled = permuted(&scenario.deployments, &keys);
        let original = observe(&scenario, &graph, scenario.deployments.clone(), window, benchmark);
        let reordered = observe(&scenario, &graph, shuffled, window, benchmark);
        prop_assert_eq!(original.0, reordered.0);
        prop_assert_eq!(original.1, reordered.1);
    }
}

/// Found by `input_order_changes_nothing_with_source_scoped_ids`: deployment "7" from git and
/// deployment "7" from the API at the same instant were ordered by input position, so which
/// one was the baseline, and so the lead-time figures, depended on the store's row order.
#[test]
fn same_time_and_id_from_two_sources_do_not_depend_on_input_order() {
    let changes = vec![
        change(sha(0), vec![], 100, None),
        change(sha(1), vec![sha(0)], 200, None),
    ];
    let graph = CommitGraph::from_changes(&changes);
    let deployment = |source, commit| Deployment {
        source,
        id: "7".into(),
        service: "svc".into(),
        environment: "production".into(),
        sha: sha(commit),
        started_at: None,
        finished_at: Some(1_000),
        status: DeploymentStatus::Success,
        kind: DeploymentKind::Normal,
    };
    let shipped = |deployments: Vec<Deployment>| {
        analyze_chain(ChainInput {
            graph: &graph,
            deployments,
            relevant: None,
            hotfix_commits: None,
        })
        .deployments
        .iter()
        .map(|f| (f.deployment.source, f.baseline, f.shipped_count))
        .collect::<Vec<_>>()
    };
    let git_first = shipped(vec![deployment(Source::Git, 1), deployment(Source::Api, 0)]);
    let api_first = shipped(vec![deployment(Source::Api, 0), deployment(Source::Git, 1)]);
    assert_eq!(git_first, api_first);
}

// ---------------------------------------------------------------------------------------------
// 3. Quantiles
// ---------------------------------------------------------------------------------------------

/// Integer samples (durations in whole seconds): wide ones, and narrow ones full of ties.
fn arb_sample() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::vec(-1_000_000_000_000i64..1_000_000_000_000, 1..60),
        prop::collection::vec(-5i64..5, 1..60),
        prop::collection::vec(0i64..100_000_000, 1..4),
    ]
}

fn as_floats(values: &[i64]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

fn sorted_floats(values: &[i64]) -> Vec<f64> {
    let mut sorted = as_floats(values);
    sorted.sort_by(f64::total_cmp);
    sorted
}

proptest! {
    #![proptest_config(cases(512))]

    /// `quantile_sorted` is type 7 at any p, checked against exact integer arithmetic.
    #[test]
    fn quantile_is_type_7(values in arb_sample(), thousandths in 0u64..=1000) {
        let sorted = sorted_floats(&values);
        let magnitude = sorted.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let actual = quantile_sorted(&sorted, thousandths as f64 / 1000.0).unwrap();
        let expected = reference_quantile(&values, thousandths, 1000).unwrap();
        prop_assert!(close(actual, expected, magnitude), "{} vs {}", actual, expected);
    }

    /// `Summary`: ordered, exact against the reference, and blind to the sample's order.
    #[test]
    fn summary_is_ordered_exact_and_order_free(
        (values, shuffled) in arb_sample().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let summary = Summary::of(as_floats(&values)).unwrap();
        let min = *values.iter().min().unwrap() as f64;
        let max = *values.iter().max().unwrap() as f64;
        let magnitude = min.abs().max(max.abs());
        prop_assert_eq!(summary.count, values.len());
        prop_assert!(min <= summary.median, "{:?}", summary);
        prop_assert!(summary.median <= summary.p90, "{:?}", summary);
        prop_assert!(summary.p90 <= max, "{:?}", summary);
        prop_assert!(min <= summary.mean && summary.mean <= max, "{:?}", summary);
        let median_by_book = reference_quantile(&values, 5, 10).unwrap();
        let p90_by_book = reference_quantile(&values, 9, 10).unwrap();
        let mean_by_book =
            values.iter().map(|&v| i128::from(v)).sum::<i128>() as f64 / values.len() as f64;
        prop_assert!(close(summary.median, median_by_book, magnitude));
        prop_assert!(close(summary.p90, p90_by_book, magnitude));
        prop_assert!(close(summary.mean, mean_by_book, magnitude));

        let reversed: Vec<i64> = values.iter().rev().copied().collect();
        prop_assert_eq!(Summary::of(as_floats(&reversed)), Some(summary));
        prop_assert_eq!(Summary::of(as_floats(&shuffled)), Some(summary));
        prop_assert_eq!(median(as_floats(&shuffled)), Some(summary.median));
        prop_assert_eq!(median(as_floats(&reversed)), Some(summary.median));
    }

    /// Quantiles are monotone in p on any finite sample, not only on integers.
    #[test]
    fn quantile_is_monotone_in_p(
        values in prop::collection::vec(-1e15f64..1e15, 1..40),
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let mut sorted = values;
        sorted.sort_by(f64::total_cmp);
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let q_low = quantile_sorted(&sorted, low).unwrap();
        let q_high = quantile_sorted(&sorted, high).unwrap();
        prop_assert!(sorted[0] <= q_low, "{} below the minimum", q_low);
        prop_assert!(q_low <= q_high, "q({}) = {} > q({}) = {}", low, q_low, high, q_high);
        prop_assert!(q_high <= sorted[sorted.len() - 1], "{} above the maximum", q_high);
    }
}

#[test]
fn empty_samples_have_no_quantiles() {
    assert_eq!(quantile_sorted(&[], 0.5), None);
    assert_eq!(Summary::of(Vec::new()), None);
    assert_eq!(median(Vec::new()), None);
}

// ---------------------------------------------------------------------------------------------
// 4. Report figures
// ---------------------------------------------------------------------------------------------

fn is_rate(rate: Option<f64>) -> bool {
    rate.is_none_or(|r| (0.0..=1.0).contains(&r))
}

proptest! {
    #![proptest_config(cases(512))]

    /// Rates stay in [0, 1], counts nest, lead-time counts add up to the changes shipped in the
    /// window (by the reference), and a figure without a sample is `None`, never 0.
    #[test]
    fn report_figures_are_consistent(
        scenario in arb_scenario(),
        window in arb_window(),
        benchmark in arb_benchmark(),
    ) {
        let graph = CommitGraph::from_changes(&scenario.changes);
        let history = History::new(&scenario);
        let expected = expected_chain(&scenario, &history);
        let analysis = analyze(&scenario, &graph, scenario.deployments.clone());
        let report = report(&analysis, window, benchmark);

        let expected_in_window: Vec<&Expected> =
            expected.iter().filter(|e| in_window(window, e.time)).collect();
        let successes: Vec<&&Expected> =
            expected_in_window.iter().filter(|e| e.succeeded()).collect();

        // Deployment frequency.
        let deployments = &report.deployments;
        prop_assert_eq!(deployments.count, successes.len());
        prop_assert!(deployments.per_day >= 0.0 && deployments.per_week >= 0.0);
        let durations = successes
            .iter()
            .filter(|e| matches!(
                (e.deployment.started_at, e.deployment.finished_at),
                (Some(start), Some(finish)) if finish >= start
            ))
            .count();
        prop_assert_eq!(deployments.average_duration_seconds.is_none(), durations == 0);

        // Change failure rate and rework rate.
        let cfr = &report.change_failure_rate;
        prop_assert_eq!(cfr.deployments, expected_in_window.len());
        prop_assert!(cfr.failed <= cfr.deployments);
        let status_failures = expected_in_window.iter().filter(|e| !e.succeeded()).count();
        prop_assert!(cfr.failed >= status_failures, "a failed status is a failure");
        prop_assert!(is_rate(cfr.rate), "{:?}", cfr);
        prop_assert_eq!(cfr.rate.is_none(), cfr.deployments == 0);
        prop_assert!(cfr.tier.is_none() || cfr.rate.is_some());
        let rework = &report.rework_rate;
        prop_assert_eq!(rework.deployments, cfr.deployments);
        prop_assert!(rework.rework <= rework.deployments);
        prop_assert!(is_rate(rework.rate), "{:?}", rework);
        prop_assert_eq!(rework.rate.is_none(), rework.deployments == 0);

        // Recovery.
        let recovery = &report.recovery_time;
        prop_assert_eq!(recovery.failures, cfr.failed);
        prop_assert!(recovery.recovered <= recovery.failures);
        prop_assert_eq!(recovery.median_seconds.is_none(), recovery.recovered == 0);
        prop_assert_eq!(recovery.p90_seconds.is_none(), recovery.recovered == 0);
        prop_assert!(recovery.tier.is_none() || recovery.recovered > 0);
        prop_assert!(recovery.median_seconds.is_none_or(|s| s >= 0.0));

        // Lead time, recomputed from the reference's shipped sets.
        let mut lead_times = Vec::new();
        let mut baseline_changes = 0;
        let mut negative = 0;
        let mut implausible = 0;
        // Author times before 1970-01-01T00:00:01 or more than a year before the earliest
        // commit are not believed.
        let believed_since = history
            .changes
            .values()
            .map(|(_, change)| change.committer_time)
            .filter(|&time| time > 0)
            .min()
            .map_or(1, |earliest| (earliest - 365 * 86_400).max(1));
        for e in &successes {
            if e.baseline {
                baseline_changes += e.shipped.len();
                continue;
            }
            for sha in &e.shipped {
                if history.author_time(sha) < believed_since {
                    implausible += 1;
                    continue;
                }
                let seconds = e.time - history.author_time(sha);
                if seconds < 0 { negative += 1 } else { lead_times.push(seconds) }
            }
        }
        let lead = &report.lead_time;
        let shipped_in_window: usize = successes.iter().map(|e| e.shipped.len()).sum();
        prop_assert_eq!(
            lead.changes + lead.baseline_changes + lead.negative_excluded + lead.implausible_excluded,
            shipped_in_window
        );
        prop_assert_eq!(lead.changes, lead_times.len());
        prop_assert_eq!(lead.baseline_changes, baseline_changes);
        prop_assert_eq!(lead.negative_excluded, negative);
        prop_assert_eq!(lead.implausible_excluded, implausible);
        prop_assert_eq!(lead.median_seconds.is_none(), lead.changes == 0);
        prop_assert_eq!(lead.p90_seconds.is_none(), lead.changes == 0);
        prop_assert_eq!(lead.mean_seconds.is_none(), lead.changes == 0);
        prop_assert!(lead.tier.is_none() || lead.changes > 0);
        if let Some(median_seconds) = lead.median_seconds {
            let by_book = reference_quantile(&lead_times, 5, 10).unwrap();
            prop_assert!(close(median_seconds, by_book, HISTORY_SPAN as f64));
            let by_book = reference_quantile(&lead_times, 9, 10).unwrap();
            prop_assert!(close(lead.p90_seconds.unwrap(), by_book, HISTORY_SPAN as f64));
        }

        // No incidents are passed in, so time to restore has no sample.
        prop_assert_eq!(report.time_to_restore.incidents, 0);
        prop_assert!(report.time_to_restore.median_seconds.is_none());
        prop_assert!(report.time_to_restore.p90_seconds.is_none());

        // An overall tier needs both throughput figures.
        if report.overall.tier.is_some() {
            prop_assert!(report.deployments.tier.is_some() && lead.tier.is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Benchmarks
// ---------------------------------------------------------------------------------------------

/// Values across every band: log-uniform over many orders of magnitude, the published
/// thresholds themselves and their neighbours, zero and infinity.
fn arb_metric_value(thresholds: Vec<f64>) -> impl Strategy<Value = f64> + Clone {
    let edges: Vec<f64> = thresholds
        .iter()
        .flat_map(|&t| [t, t * (1.0 - 1e-9), t * (1.0 + 1e-9)])
        .collect();
    prop_oneof![
        4 => (-4.0f64..9.0).prop_map(|exponent| 10f64.powf(exponent)),
        2 => prop::sample::select(edges),
        1 => Just(0.0),
        1 => Just(f64::INFINITY),
    ]
}

fn thresholds(table: &[(Tier, f64)]) -> Vec<f64> {
    table
        .iter()
        .map(|&(_, t)| t)
        .filter(|t| t.is_finite())
        .collect()
}

/// Two values of a metric, smaller first, for a random benchmark.
fn arb_pair(
    table: fn(&Benchmark) -> &'static [(Tier, f64)],
) -> impl Strategy<Value = (&'static Benchmark, f64, f64)> {
    arb_benchmark().prop_flat_map(move |benchmark| {
        let values = arb_metric_value(thresholds(table(benchmark)));
        (Just(benchmark), values.clone(), values)
            .prop_map(|(benchmark, a, b)| (benchmark, a.min(b), a.max(b)))
    })
}

fn arb_measure() -> impl Strategy<Value = Option<f64>> {
    prop::option::weighted(
        0.7,
        prop_oneof![
            3 => (-4.0f64..9.0).prop_map(|exponent| 10f64.powf(exponent)),
            1 => proptest::num::f64::ANY,
        ],
    )
}

proptest! {
    #![proptest_config(cases(512))]

    /// A longer lead time never earns a better tier (`Tier` orders best first).
    #[test]
    fn lead_time_tier_is_monotone((benchmark, low, high) in arb_pair(|b| b.lead_time)) {
        prop_assert!(benchmark.rate_lead_time(low) <= benchmark.rate_lead_time(high));
    }

    /// A longer recovery never earns a better tier.
    #[test]
    fn recovery_tier_is_monotone((benchmark, low, high) in arb_pair(|b| b.recovery_time)) {
        prop_assert!(benchmark.rate_recovery_time(low) <= benchmark.rate_recovery_time(high));
    }

    /// Deploying more often never earns a worse tier.
    #[test]
    fn deployment_frequency_tier_is_monotone(
        (benchmark, low, high) in arb_pair(|b| b.deployment_frequency),
    ) {
        prop_assert!(
            benchmark.rate_deployment_frequency(low) >= benchmark.rate_deployment_frequency(high)
        );
    }

    /// A higher change failure rate never earns a better tier, except in dora-2024 whose
    /// clusters are not ordered by it (high 20%, medium 10%).
    #[test]
    fn change_failure_rate_tier_is_monotone_where_published_so(
        (benchmark, low, high) in arb_pair(|b| b.change_failure_rate),
    ) {
        let low = low.min(1.0);
        let high = high.min(1.0);
        if !benchmark.change_failure_rate_is_not_monotone {
            prop_assert!(
                benchmark.rate_change_failure_rate(low) <= benchmark.rate_change_failure_rate(high)
            );
        }
        prop_assert!(benchmark.name != "dora-2024" || benchmark.change_failure_rate_is_not_monotone);
    }

    /// The overall tier never panics, whatever is measured (NaN and infinities included), and
    /// exists exactly when both throughput figures do.
    #[test]
    fn overall_tier_needs_frequency_and_lead_time(
        benchmark in arb_benchmark(),
        deploys_per_week in arb_measure(),
        lead_time_median_seconds in arb_measure(),
        change_failure_rate in arb_measure(),
        recovery_median_seconds in arb_measure(),
    ) {
        let overall = benchmark.overall(&Measured {
            deploys_per_week,
            lead_time_median_seconds,
            change_failure_rate,
            recovery_median_seconds,
        });
        prop_assert_eq!(
            overall.tier.is_some(),
            deploys_per_week.is_some() && lead_time_median_seconds.is_some()
        );
        prop_assert!(!overall.reason.is_empty());
    }
}

/// Found by `nothing_panics_on_messy_input` once instants beyond jiff's range were allowed (a
/// commit's author time comes from git unchecked, and any library caller may pass any `i64`):
/// differences of two instants overflowed (a panic in debug builds, a wrapped, meaningless
/// figure in release).
#[test]
fn extreme_instants_do_not_overflow() {
    let changes = vec![
        change(sha(0), vec![], 0, None),
        change(sha(1), vec![sha(0)], i64::MIN, None),
    ];
    let graph = CommitGraph::from_changes(&changes);
    let deployment = |id: &str, commit, started_at, finished_at, kind| Deployment {
        source: Source::Import,
        id: id.into(),
        service: "svc".into(),
        environment: "production".into(),
        sha: sha(commit),
        started_at,
        finished_at: Some(finished_at),
        status: DeploymentStatus::Success,
        kind,
    };
    let analysis = analyze_chain(ChainInput {
        graph: &graph,
        deployments: vec![
            deployment("0", 0, None, i64::MIN, DeploymentKind::Normal),
            // Rolls back "0": its recovery time is far beyond i64::MAX seconds.
            deployment("1", 0, Some(i64::MIN), 10, DeploymentKind::Rollback),
            // Ships a commit authored at i64::MIN: an implausible author time, left out.
            deployment("2", 1, None, 20, DeploymentKind::Normal),
        ],
        relevant: None,
        hotfix_commits: None,
    });
    assert_eq!(analysis.deployments[0].recovery_seconds, Some(i64::MAX));
    assert_eq!(analysis.deployments[1].deployment.duration_seconds(), None);
    let report = report(
        &analysis,
        Window::new(0, 100).unwrap(),
        Benchmark::default_benchmark(),
    );
    assert_eq!(report.lead_time.changes, 0);
    assert_eq!(report.lead_time.implausible_excluded, 1);
    assert_eq!(report.lead_time.median_seconds, None);
    assert_eq!(report.deployments.average_duration_seconds, None);
}

// ---------------------------------------------------------------------------------------------
// 7. Nothing panics
// ---------------------------------------------------------------------------------------------

/// Commit ids as untrusted text: colliding, abbreviated, upper case, padded, not hex at all.
fn arb_messy_sha() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "a0",
            "A0",
            "abcd",
            "abcd1234",
            "ABCD1234",
            " abcd1234 ",
            "abcd9999",
            "ffff",
            "zz",
            "é",
            "0000000000000000000000000000000000000000",
        ])
        .prop_map(str::to_string),
        "[0-9a-fA-Fz ]{0,12}",
    ]
}

/// jiff's range (years -9999 to 9999): what `--since` and `--until` can be parsed into.
const EARLIEST: i64 = -377_705_116_800;
const LATEST: i64 = 253_402_207_199;

/// Commit and deployment instants as untrusted input may give them: any `i64` (a crafted
/// commit's author time is not range-checked), with many collisions.
fn arb_any_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => arb_grid_time(),
        1 => EARLIEST..=LATEST,
        1 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, EARLIEST, 0, LATEST, i64::MAX]),
    ]
}

/// Windows come from parsed text, so they stay within jiff's range.
fn arb_messy_window() -> impl Strategy<Value = Window> {
    let instant = prop_oneof![
        arb_grid_time(),
        EARLIEST..=LATEST,
        Just(EARLIEST),
        Just(LATEST)
    ];
    prop_oneof![
        4 => arb_window(),
        1 => (instant.clone(), instant).prop_filter_map("empty window", |(a, b)| {
            Window::new(a.min(b), a.max(b)).ok()
        }),
    ]
}

#[derive(Debug, Clone)]
struct Mess {
    changes: Vec<Change>,
    deployments: Vec<Deployment>,
    relevant: Option<Vec<bool>>,
    hotfix_commits: Option<Vec<bool>>,
}

/// Histories with duplicate shas, unknown and cyclic parents, reverts of anything; deployments
/// with duplicate ids, equal times, unknown or ambiguous commits.
fn arb_mess() -> impl Strategy<Value = Mess> {
    let changes = (
        arb_messy_sha(),
        prop::collection::vec(arb_messy_sha(), 0..4),
        arb_any_time(),
        prop::option::of(arb_messy_sha()),
    )
        .prop_map(|(sha, parents, time, reverts)| change(sha, parents, time, reverts));
    let deployments = (
        "[0-2]",
        arb_source(),
        arb_messy_sha(),
        prop::option::of(arb_any_time()),
        prop::option::of(arb_any_time()),
        arb_status(),
        arb_kind(),
    )
        .prop_map(
            |(id, source, sha, started_at, finished_at, status, kind)| Deployment {
                source,
                id,
                service: "svc".into(),
                environment: "production".into(),
                sha,
                started_at,
                finished_at,
                status,
                kind,
            },
        );
    (
        prop::collection::vec(changes, 0..20),
        prop::collection::vec(deployments, 0..20),
        arb_flags(0.5),
        arb_flags(0.3),
    )
        .prop_map(|(changes, deployments, relevant, hotfix_commits)| Mess {
            changes,
            deployments,
            relevant,
            hotfix_commits,
        })
}

/// Flags sized to the graph, as the contract of `ChainInput` asks.
fn fit_flags(flags: &Option<Vec<bool>>, len: usize) -> Option<Vec<bool>> {
    flags.as_ref().map(|flags| {
        let mut flags = flags.clone();
        flags.resize(len, true);
        flags
    })
}

proptest! {
    #![proptest_config(cases(384))]

    #[test]
    fn nothing_panics_on_messy_input(
        mess in arb_mess(),
        window in arb_messy_window(),
        benchmark in arb_benchmark(),
    ) {
        let graph = CommitGraph::from_changes(&mess.changes);
        let relevant = fit_flags(&mess.relevant, graph.len());
        let hotfix_commits = fit_flags(&mess.hotfix_commits, graph.len());
        let analysis = analyze_chain(ChainInput {
            graph: &graph,
            deployments: mess.deployments.clone(),
            relevant: relevant.as_deref(),
            hotfix_commits: hotfix_commits.as_deref(),
        });
        prop_assert_eq!(
            analysis.deployments.len() + analysis.undated,
            mess.deployments.len()
        );
        for (position, facts) in analysis.deployments.iter().enumerate() {
            // Walks terminate on cycles and list each commit once.
            let shipped = analysis.shipped(position).expect("analysed with the graph");
            let distinct: HashSet<_> = shipped.iter().collect();
            prop_assert_eq!(distinct.len(), shipped.len());
            prop_assert_eq!(facts.shipped_count, shipped.len());
            prop_assert!(facts.recovery_seconds.is_none_or(|s| s >= 0));
        }
        let report = report(&analysis, window, benchmark);
        prop_assert!(is_rate(report.change_failure_rate.rate));
        prop_assert!(is_rate(report.rework_rate.rate));
        prop_assert!(serde_json::to_string(&report).is_ok());
    }
}
