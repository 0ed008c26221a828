//! Issue 4's two targets, against a real PostgreSQL server and real `loopwise serve` processes:
//!
//! - `nodes-load`: NDJSON ingest through two nodes on one database, against one node (target:
//!   at least 1.5x);
//! - `org-report`: report latency over a synthetic organisation of 200 services, 1,000,000
//!   deployments and 10,000,000 changes (target: p95 under 1 s). `org-generate` fills the
//!   database, through the store's own write path (the same batched statements a git import and
//!   the events API use).
//!
//! Unless given `--postgres-url`, each starts a private PostgreSQL server in a temporary
//! directory (initdb, a free port on 127.0.0.1) and removes it afterwards.

use crate::load::{
    Phase, create_token, load_average, millis, print_phase, run_phase, start_server, stop_server,
};
use crate::rng::SplitMix64;
use anyhow::{Context, Result, bail, ensure};
use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{Event, Incident};
use loopwise_store::{GitImportMessage, Store};
use loopwise_store_postgres::PostgresStore;
use loopwise_store_postgres::testing::{PrivateServer, with_database};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// PostgreSQL's durable defaults (fsync, synchronous_commit on), with memory for the machine.
const DURABLE_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "2GB"),
    ("max_connections", "200"),
    ("max_wal_size", "8GB"),
];

fn private_server() -> Result<PrivateServer> {
    PrivateServer::start_with_settings(DURABLE_SETTINGS).context(
        "no PostgreSQL binaries (initdb, pg_ctl) found; install PostgreSQL or pass --postgres-url",
    )
}

/// The server to use: the one at `url`, or a private one (kept alive by the returned handle).
pub(crate) fn postgres_server(url: &Option<String>) -> Result<(Option<PrivateServer>, String)> {
    match url {
        Some(url) => Ok((None, url.clone())),
        None => {
            let server = private_server()?;
            let url = server.url();
            Ok((Some(server), url))
        }
    }
}

pub(crate) fn create_database(admin_url: &str, name: &str) -> Result<String> {
    let mut admin = postgres::Client::connect(admin_url, postgres::NoTls)
        .with_context(|| format!("connecting to {admin_url}"))?;
    // Two statements: neither may run inside a transaction block.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(with_database(admin_url, name))
}

/// `VACUUM ANALYZE` (fresh statistics, as a running installation has them), then prints the
/// size of each table with its indexes.
pub(crate) fn analyze_and_show_sizes(url: &str) -> Result<()> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute("VACUUM ANALYZE")?;
    for row in client.query(
        "SELECT relname::text, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class \
         WHERE relname IN ('changes', 'deployments', 'incidents', 'write_versions') ORDER BY 1",
        &[],
    )? {
        let (table, size): (String, String) = (row.get(0), row.get(1));
        println!("  {:<34} {size} (with indexes)", format!("table {table}"));
    }
    Ok(())
}

fn count_deployments(url: &str) -> Result<u64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let count: i64 = client
        .query_one("SELECT count(*) FROM deployments", &[])?
        .get(0);
    Ok(count as u64)
}

// ---------------------------------------------------------------------------------------------
// nodes-load

#[derive(Debug, Clone)]
pub struct NodesOptions {
    pub loopwise: PathBuf,
    pub postgres_url: Option<String>,
    pub seconds: f64,
    pub warmup: f64,
    pub batch: usize,
    /// Clients in each configuration, spread evenly over its nodes.
    pub clients: usize,
    pub min_ratio: f64,
}

pub fn nodes_load(opts: &NodesOptions) -> Result<()> {
    ensure!(
        opts.loopwise.is_file(),
        "loopwise binary {} not found",
        opts.loopwise.display()
    );
    ensure!(
        opts.clients >= 2 && opts.batch >= 2,
        "--clients and --batch must be at least 2"
    );
    let (_server, admin_url) = postgres_server(&opts.postgres_url)?;
    println!("nodes-load: NDJSON batches through 1 and 2 loopwise serve nodes on one PostgreSQL");
    if let Some(load) = load_average() {
        println!("  {:<34} {load}", "load average before (1/5/15 min)");
    }
    println!(
        "  {:<34} {DURABLE_SETTINGS:?} (otherwise PostgreSQL's defaults)",
        "PostgreSQL settings"
    );
    let mut throughput = Vec::new();
    for nodes in [1usize, 2] {
        let url = create_database(&admin_url, &format!("loopwise_nodes_{nodes}"))?;
        let db = Path::new(&url);
        let token = create_token(&opts.loopwise, db)?;
        let mut servers = (0..nodes)
            .map(|_| start_server(&opts.loopwise, db))
            .collect::<Result<Vec<_>>>()?;
        let addresses: Vec<_> = servers.iter().map(|s| s.address).collect();
        let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
        let phase = Phase {
            tag: if nodes == 1 { 'o' } else { 't' },
            batch: opts.batch,
            clients: opts.clients,
            warmup: Duration::from_secs_f64(opts.warmup),
            measure: Duration::from_secs_f64(opts.seconds),
        };
        let result = run_phase(&addresses, &token, phase, &pids);
        print_phase(
            &format!("{nodes} node(s): {} clients spread over them", opts.clients),
            phase,
            &result,
        );
        for server in &mut servers {
            stop_server(server)?;
        }
        let stored = count_deployments(&url)?;
        println!(
            "  {:<34} {stored} stored, {} acknowledged: {}",
            "verification",
            result.acknowledged,
            if stored == result.acknowledged {
                "equal"
            } else {
                "MISMATCH"
            }
        );
        ensure!(
            stored == result.acknowledged,
            "stored deployments differ from acknowledged"
        );
        ensure!(
            result.errors == 0,
            "{} requests failed: {:?}",
            result.errors,
            result.first_error
        );
        throughput.push(result.events_per_second());
    }
    let ratio = throughput[1] / throughput[0].max(1e-9);
    println!(
        "verdict: two nodes {:.0} events/s, one node {:.0} events/s: {ratio:.2}x (target >= {:.1}x): {}",
        throughput[1],
        throughput[0],
        opts.min_ratio,
        if ratio >= opts.min_ratio {
            "PASS"
        } else {
            "FAIL"
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The synthetic organisation

#[derive(Debug, Clone)]
pub struct OrgShape {
    pub services: usize,
    pub deployments: usize,
    pub changes: usize,
    pub seed: u64,
}

/// The organisation's history ends here (2026-12-01T00:00:00Z) and spans two years.
pub const ORG_END: i64 = 1_796_083_200;
const ORG_SPAN: i64 = 2 * 365 * 86_400;
const SQUAD_SIZE: usize = 5;
const SQUADS_PER_TRIBE: usize = 5;

fn service_name(index: usize) -> String {
    format!("svc-{index:03}")
}

fn sha(rng: &mut SplitMix64) -> String {
    format!(
        "{:016x}{:016x}{:08x}",
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64() as u32
    )
}

/// One service's repository and deployments. History: a main line fed by three-commit
/// feature branches merged with merge commits, plus a direct commit after each merge; about
/// one deployment per `changes / deployments` commits, 5% failed, each failure followed by a
/// rollback-free fix; a few incidents linked by time.
fn service_history(shape: &OrgShape, index: usize) -> (Vec<Change>, Vec<Deployment>, Vec<Event>) {
    let commits = shape.changes / shape.services;
    let deployments = shape.deployments / shape.services;
    let mut rng = SplitMix64::new(shape.seed ^ ((index as u64 + 1) << 32));
    let start = ORG_END - ORG_SPAN;
    let step = ORG_SPAN / commits as i64;
    let mut changes: Vec<Change> = Vec::with_capacity(commits);
    let mut main: Option<String> = None;
    let mut branch: Option<String> = None;
    for k in 0..commits {
        let time = start + k as i64 * step + rng.below(step as usize / 2) as i64;
        let sha = sha(&mut rng);
        let (parents, on_main) = match k % 5 {
            // Feature commits, on a branch from the main line.
            0 => (main.iter().cloned().collect::<Vec<_>>(), false),
            1 | 2 => (branch.iter().cloned().collect(), false),
            // The merge, then a direct commit.
            3 => (main.iter().cloned().chain(branch.clone()).collect(), true),
            _ => (main.iter().cloned().collect(), true),
        };
        let lag = if rng.below(3) == 0 {
            rng.below(3 * 3_600) as i64
        } else {
            0
        };
        changes.push(Change {
            sha: sha.clone(),
            parents,
            author_time: time - lag,
            committer_time: time,
            author_name: format!("dev{}", rng.below(12)),
            author_email: format!("dev{}@acme.example", rng.below(12)),
            subject: format!("change {k} of {}", service_name(index)),
            reverts: None,
        });
        if on_main {
            main = Some(sha);
        } else {
            branch = Some(sha);
        }
    }
    let service = service_name(index);
    let every = (commits / deployments).max(1);
    let mut shipped = Vec::with_capacity(deployments);
    for d in 0..deployments {
        // The latest main-line commit at or before position `(d + 1) * every - 1`.
        let mut position = ((d + 1) * every - 1).min(commits - 1);
        while position % 5 < 3 && position > 0 {
            position -= 1;
        }
        let commit = &changes[position];
        let finished = commit.committer_time + 600 + rng.below(3_600) as i64;
        shipped.push(Deployment {
            source: Source::Demo,
            id: format!("{service}-{d:06}"),
            service: service.clone(),
            environment: "production".into(),
            sha: commit.sha.clone(),
            started_at: Some(finished - 300 - rng.below(600) as i64),
            finished_at: Some(finished),
            status: if rng.below(20) == 0 {
                DeploymentStatus::Failure
            } else {
                DeploymentStatus::Success
            },
            kind: DeploymentKind::Normal,
        });
    }
    let incidents = (0..12)
        .map(|n| {
            let after = &shipped[rng.below(shipped.len())];
            let started = after.finished_at.unwrap_or_default() + 1_800;
            Event::Incident(Incident {
                source: Source::Demo,
                id: format!("{service}-inc-{n}"),
                service: Some(service.clone()),
                title: format!("{service} degraded"),
                severity: Some("sev2".into()),
                started_at: started,
                acknowledged_at: Some(started + 300),
                resolved_at: Some(started + 3_600 + rng.below(7_200) as i64),
                caused_by: None,
                url: None,
            })
        })
        .collect();
    (changes, shipped, incidents)
}

/// The ownership configuration of the organisation: squads of five services, tribes of five
/// squads.
pub fn org_config(shape: &OrgShape) -> String {
    let mut config = String::from("[teams]\n");
    for squad in 0..shape.services.div_ceil(SQUAD_SIZE) {
        let services: Vec<String> = (squad * SQUAD_SIZE
            ..((squad + 1) * SQUAD_SIZE).min(shape.services))
            .map(|index| format!("\"{}\"", service_name(index)))
            .collect();
        config.push_str(&format!(
            "[teams.squad-{squad:02}]\ntribe = \"tribe-{}\"\nservices = [{}]\n",
            squad / SQUADS_PER_TRIBE,
            services.join(", ")
        ));
    }
    config
}

/// Writes the organisation into `store` (SQLite or PostgreSQL), two services at a time,
/// through the store's own write path: the batched statements a git import and the events API
/// use.
pub fn org_generate(store: &dyn Store, shape: &OrgShape) -> Result<()> {
    ensure!(shape.services >= 1, "--services must be at least 1");
    ensure!(
        shape.changes >= 5 * shape.services && shape.deployments >= shape.services,
        "at least 5 changes and 1 deployment per service"
    );
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let next = &next;
                scope.spawn(move || -> Result<()> {
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if index >= shape.services {
                            return Ok(());
                        }
                        let (changes, deployments, incidents) = service_history(shape, index);
                        let locator = format!("acme/{}", service_name(index));
                        let mut messages = changes
                            .chunks(10_000)
                            .map(|chunk| GitImportMessage::Changes(Arc::new(chunk.to_vec())))
                            .chain(std::iter::once(GitImportMessage::Commit {
                                tags: Vec::new(),
                                path_touches: Vec::new(),
                            }));
                        store
                            .import_git_stream(&locator, &mut messages)?
                            .context("the import did not commit")?;
                        for chunk in deployments.chunks(5_000) {
                            store.upsert_deployments(chunk, None)?;
                        }
                        store.apply_events(&incidents)?;
                        if (index + 1).is_multiple_of(20) {
                            println!(
                                "  generated {} of {} services in {:.0} s",
                                index + 1,
                                shape.services,
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    let counts = store.counts()?;
    println!(
        "  generated {} repositories, {} changes, {} deployments in {:.1} s",
        counts.repositories,
        counts.changes,
        counts.deployments,
        started.elapsed().as_secs_f64()
    );
    ensure!(counts.changes == shape.changes / shape.services * shape.services);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// org-report

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub loopwise: PathBuf,
    pub postgres_url: Option<String>,
    pub shape: OrgShape,
    /// Requests per kind of query.
    pub requests: usize,
    /// Reuse the database at `--postgres-url` as it is (generated before).
    pub skip_generate: bool,
    pub max_p95: Duration,
}

/// One GET; the status and body length, or an error.
fn get(address: std::net::SocketAddr, path: &str, token: &str) -> Result<(u16, usize)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no response head")?;
    let status = std::str::from_utf8(&response[..head_end])?
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status")?;
    Ok((status, response.len() - head_end - 4))
}

fn post_event(address: std::net::SocketAddr, token: &str, body: &str) -> Result<u16> {
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "POST /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    BufReader::new(stream).read_line(&mut response)?;
    Ok(response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// A process's resident memory as `/proc` says it (`123456 kB`), or `n/a`.
pub(crate) fn resident_memory(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The path of the `i`th request of one kind of query.
type QueryPath<'a> = Box<dyn FnMut(usize) -> String + 'a>;

pub fn org_report(opts: &ReportOptions) -> Result<()> {
    ensure!(
        opts.loopwise.is_file(),
        "loopwise binary {} not found",
        opts.loopwise.display()
    );
    let (_server, admin_url) = postgres_server(&opts.postgres_url)?;
    let shape = &opts.shape;
    println!(
        "org-report: {} services, {} deployments, {} changes on PostgreSQL",
        shape.services, shape.deployments, shape.changes
    );
    let url = if opts.skip_generate {
        admin_url.clone()
    } else {
        let url = create_database(&admin_url, "loopwise_org")?;
        org_generate(&PostgresStore::open(&url)?, shape)?;
        url
    };
    analyze_and_show_sizes(&url)?;
    let db = Path::new(&url);
    // Admin: it reads reports and writes the deployments of the after-a-write queries.
    // A name of its own per run, so a database measured before (--skip-generate) takes another.
    let name = format!(
        "org-report-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    );
    let token = crate::load::create_token_with(&opts.loopwise, db, "admin", &name)?;
    let directory = tempfile::tempdir()?;
    let config = directory.path().join("org.toml");
    std::fs::write(&config, org_config(shape))?;
    let config = config.to_str().context("UTF-8 path")?;
    let window = format!(
        "since={}&until={}",
        rfc3339(ORG_END - 90 * 86_400),
        rfc3339(ORG_END)
    );
    // The first start of a node on this database derives every chain from its history and
    // keeps the facts in the store (unless a node kept them before); a restart reads them.
    let start = |label: &str, what: &str| -> Result<crate::load::Server> {
        let started = Instant::now();
        let node = crate::load::start_server_with(&opts.loopwise, db, &["--config", config])?;
        let warm = loop {
            match node.log.recv_timeout(Duration::from_secs(600)) {
                Ok(line) if line.contains("warmed the report cache") => break started.elapsed(),
                Ok(line) if line.contains("cannot warm") => bail!("{line}"),
                Ok(_) => continue,
                Err(_) => bail!("the node did not warm its cache within 600 s"),
            }
        };
        let rss = resident_memory(node.child.id());
        println!(
            "  {label:<34} {:.1} s from start ({what}); node memory {rss}",
            warm.as_secs_f64()
        );
        Ok(node)
    };
    let mut first = start("first start: cache warmed", "derives what was not kept")?;
    stop_server(&mut first)?;
    let restarted = Instant::now();
    let mut node = start("restart: cache warmed", "reads the kept facts")?;
    let (status, _) = get(node.address, &format!("/api/v1/report?{window}"), &token)?;
    ensure!(
        status == 200,
        "first report after the restart: status {status}"
    );
    println!(
        "  {:<34} {:.1} s from start; node memory {}",
        "restart: first 90-day report",
        restarted.elapsed().as_secs_f64(),
        resident_memory(node.child.id())
    );
    let two_years = format!(
        "since={}&until={}",
        rfc3339(ORG_END - ORG_SPAN),
        rfc3339(ORG_END)
    );
    let mut rng = SplitMix64::new(opts.shape.seed);
    let kinds: Vec<(&str, QueryPath<'_>)> = vec![
        (
            "organisation report, 90 days",
            Box::new(|_| format!("/api/v1/report?{window}")),
        ),
        (
            "organisation report, 2 years",
            Box::new(|_| format!("/api/v1/report?{two_years}")),
        ),
        (
            "one service, 90 days",
            Box::new(|i| {
                format!(
                    "/api/v1/report?service={}&{window}",
                    service_name(i * 7 % shape.services)
                )
            }),
        ),
        (
            "one squad, 90 days",
            Box::new(|i| {
                format!(
                    "/api/v1/report?team=squad-{:02}&{window}",
                    i % shape.services.div_ceil(SQUAD_SIZE)
                )
            }),
        ),
        (
            "leaderboard by squad, 90 days",
            Box::new(|_| format!("/api/v1/leaderboard?group_by=squad&{window}")),
        ),
        (
            "weekly deployment frequency, 2 years",
            Box::new(|_| format!("/api/v1/metrics/deployment_frequency?interval=week&{two_years}")),
        ),
    ];
    let mut worst = Duration::ZERO;
    println!(
        "  {:<40} {:>10} {:>10} {:>10} {:>10}",
        "warm: query", "p50", "p95", "max", "bytes"
    );
    let mut measure = |label: &str, latencies: &mut Vec<Duration>, bytes: usize| {
        let summary = crate::load::summarize(latencies);
        worst = worst.max(summary.p95);
        println!(
            "  {label:<40} {:>10} {:>10} {:>10} {bytes:>10}",
            millis(summary.p50),
            millis(summary.p95),
            millis(summary.max)
        );
    };
    for (label, mut path) in kinds {
        let mut latencies = Vec::with_capacity(opts.requests);
        let mut bytes = 0;
        for i in 0..opts.requests {
            let path = path(i);
            let begun = Instant::now();
            let (status, length) = get(node.address, &path, &token)?;
            latencies.push(begun.elapsed());
            ensure!(status == 200, "{path}: status {status}");
            bytes = length;
        }
        measure(label, &mut latencies, bytes);
    }
    // After a write: one new deployment of a service, then the organisation report, which
    // derives that service's chain again and nothing else. The first write to a service since
    // the start also reads its repository's history (the graph is not kept in memory until a
    // chain needs it); a second write to it finds the graph in memory. Deployment ids are new
    // on every run, so a run over a database measured before writes too.
    let mut first_writes = Vec::with_capacity(opts.requests);
    let mut second_writes = Vec::with_capacity(opts.requests);
    let mut bytes = 0;
    let mut services: Vec<usize> = (0..shape.services).collect();
    for i in 0..opts.requests.min(shape.services) {
        let pick = i + rng.below(services.len() - i);
        services.swap(i, pick);
        let service = service_name(services[i]);
        for (attempt, latencies) in [&mut first_writes, &mut second_writes]
            .into_iter()
            .enumerate()
        {
            let event = format!(
                r#"{{"type":"deployment","id":"bench-write-{name}-{i}-{attempt}","service":"{service}","sha":"{}","finished_at":{}}}"#,
                "0".repeat(40),
                ORG_END - 3_600 + attempt as i64
            );
            ensure!(
                post_event(node.address, &token, &event)? == 200,
                "posting a deployment failed"
            );
            let begun = Instant::now();
            let (status, length) = get(node.address, &format!("/api/v1/report?{window}"), &token)?;
            latencies.push(begun.elapsed());
            ensure!(status == 200, "report after a write: status {status}");
            bytes = length;
        }
    }
    measure(
        "org report after a service's 1st write",
        &mut first_writes,
        bytes,
    );
    measure("org report after its 2nd write", &mut second_writes, bytes);
    println!(
        "  {:<34} {}",
        "node memory at the end",
        resident_memory(node.child.id())
    );
    stop_server(&mut node)?;
    println!(
        "verdict: worst p95 {} (target < {}): {}",
        millis(worst),
        millis(opts.max_p95),
        if worst < opts.max_p95 { "PASS" } else { "FAIL" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_history_has_the_asked_shape_and_a_connected_graph() {
        let shape = OrgShape {
            services: 2,
            deployments: 40,
            changes: 1_000,
            seed: 1,
        };
        let (changes, deployments, incidents) = service_history(&shape, 0);
        assert_eq!(changes.len(), 500);
        assert_eq!(deployments.len(), 20);
        assert_eq!(incidents.len(), 12);
        let graph = loopwise_core::graph::CommitGraph::from_changes(&changes);
        assert_eq!(graph.len(), 500);
        // Every deployment ships a main-line commit, in order of time.
        for pair in deployments.windows(2) {
            assert!(pair[0].finished_at < pair[1].finished_at);
        }
        let merges = changes.iter().filter(|c| c.parents.len() == 2).count();
        assert_eq!(
            merges, 99,
            "one merge per five commits, the first has one parent"
        );
        assert_eq!(
            service_history(&shape, 0).0[7].sha,
            changes[7].sha,
            "deterministic"
        );
        assert_ne!(service_history(&shape, 1).0[7].sha, changes[7].sha);
    }

    #[test]
    fn the_config_groups_services_into_squads_and_tribes() {
        let shape = OrgShape {
            services: 12,
            deployments: 12,
            changes: 60,
            seed: 1,
        };
        let config = org_config(&shape);
        assert!(
            config.contains(
                "[teams.squad-02]\ntribe = \"tribe-0\"\nservices = [\"svc-010\", \"svc-011\"]"
            ),
            "{config}"
        );
        assert_eq!(config.matches("[teams.squad-").count(), 3);
    }
}
