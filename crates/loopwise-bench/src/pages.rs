//! `dashboard-pages`: issue 5's target, the server-side render time of the web dashboard.
//!
//! The target: every page renders in under 100 ms (p95, server side) with the demo
//! organisation, and in under 300 ms at 1,000,000 deployments.
//!
//! Two scenarios, both with the release `loopwise` binary as a real `serve` process on a SQLite
//! database:
//!
//! - `demo`: `loopwise demo --no-serve --db <tmp>/demo.db --end 2026-12-01`, which also writes
//!   the ownership configuration `<tmp>/demo.toml` (with `public_reads = true`);
//! - `org`: the synthetic organisation of [`crate::scale`] (by default 200 services, 1,000,000
//!   deployments, 5,000,000 changes) written into SQLite through the store's own write path, with
//!   its squads and tribes in the configuration.
//!
//! Then `loopwise serve --db … --config … --listen 127.0.0.1:0`; once `/readyz` answers 200 and
//! the server logged `warmed the report cache`, one request of each page kind in turn (the
//! *cold* figures: the first request of each kind after start-up), then `--requests` of each kind
//! one at a time on one keep-alive connection (the *warm* figures, which the target is about).
//! Every answer's `Server-Timing: render;dur=<ms>` header is the server-side time; the client
//! side is the time from writing the request to having read the whole answer.

use crate::load::{
    MachineCpu, load_average, machine_cpu, millis, process_cpu, read_response_keeping_head,
    start_server_with, stop_server, summarize,
};
use crate::scale::{
    OrgShape, analyze_and_show_sizes, create_database, org_config, org_generate, postgres_server,
    resident_memory,
};
use anyhow::{Context, Result, bail, ensure};
use loopwise_store::Store;
use loopwise_store_postgres::PostgresStore;
use loopwise_store_sqlite::SqliteStore;
use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The end of both organisations' history; every page asks for windows ending here.
pub const UNTIL: &str = "2026-12-01";

/// The leaderboard's sort columns.
const SORT_COLUMNS: [&str; 10] = [
    "group",
    "team",
    "tribe",
    "deployments",
    "frequency",
    "lead_time",
    "cfr",
    "recovery",
    "rework",
    "tier",
];

/// The window presets the dashboard understands.
pub const WINDOWS: [&str; 6] = ["7d", "30d", "90d", "180d", "365d", "730d"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The demo organisation of `loopwise demo` (target: p95 < 100 ms).
    Demo,
    /// The synthetic organisation of `org-report`, in SQLite (target: p95 < 300 ms).
    Org,
    /// The same organisation in PostgreSQL: a private server, or the one at `--postgres-url`
    /// (target: p95 < 300 ms).
    OrgPostgres,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub loopwise: PathBuf,
    pub scenario: Scenario,
    /// Warm requests per page kind.
    pub requests: usize,
    /// The window presets to measure every page kind at (`all`: every preset).
    pub windows: Vec<String>,
    /// The organisation of scenario `org`.
    pub shape: OrgShape,
    /// The database to generate (or, with `skip_generate`, to reuse) instead of a temporary one.
    pub db: Option<PathBuf>,
    pub skip_generate: bool,
    /// Scenario `org-postgres`: an existing server (a superuser URL); with `skip_generate`,
    /// the database to measure as it is.
    pub postgres_url: Option<String>,
    /// The target: the warm p95 of every page kind, server side, stays under this.
    pub max_p95: Duration,
}

// ---------------------------------------------------------------------------------------------
// Names, paths and answers

/// Encodes `name` as one path segment: everything but RFC 3986's unreserved characters is
/// percent-encoded, so `/`, `?`, `#`, quotes and spaces stay inside the segment.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Encodes `value` for a query string (`application/x-www-form-urlencoded`).
fn query_value(value: &str) -> String {
    segment(value)
}

/// Who the ownership configuration names: services, squads and tribes (each sorted, unique).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    pub services: Vec<String>,
    pub squads: Vec<String>,
    pub tribes: Vec<String>,
}

/// The services, squads and tribes of a configuration file's `[teams]` (both the
/// `[teams.NAME]` tables with `tribe` and `services`, and the short `service = "team"` form)
/// and `[services]` (repository = service).
pub fn owners(config: &str) -> Result<Owners> {
    let table: toml::Table = config.parse().context("parsing the configuration")?;
    let mut services = BTreeSet::new();
    let mut squads = BTreeSet::new();
    let mut tribes = BTreeSet::new();
    if let Some(teams) = table.get("teams").and_then(toml::Value::as_table) {
        for (name, entry) in teams {
            match entry {
                toml::Value::String(team) => {
                    services.insert(name.clone());
                    squads.insert(team.clone());
                }
                toml::Value::Table(team) => {
                    squads.insert(name.clone());
                    if let Some(tribe) = team.get("tribe").and_then(toml::Value::as_str) {
                        tribes.insert(tribe.to_string());
                    }
                    for service in team
                        .get("services")
                        .and_then(toml::Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(toml::Value::as_str)
                    {
                        services.insert(service.to_string());
                    }
                }
                other => bail!("[teams] {name}: unexpected {other}"),
            }
        }
    }
    if let Some(map) = table.get("services").and_then(toml::Value::as_table) {
        services.extend(
            map.values()
                .filter_map(toml::Value::as_str)
                .map(String::from),
        );
    }
    Ok(Owners {
        services: services.into_iter().collect(),
        squads: squads.into_iter().collect(),
        tribes: tribes.into_iter().collect(),
    })
}

/// The paths of the incident pages an incidents page links to, in its order, without their
/// query (the links carry the page's window), deduplicated.
pub fn incident_links(html: &str) -> Vec<String> {
    const START: &str = "href=\"/incidents/";
    let mut links = Vec::new();
    let mut seen = BTreeSet::new();
    let mut rest = html;
    while let Some(at) = rest.find(START) {
        let after = &rest[at + "href=\"".len()..];
        let Some(end) = after.find('"') else { break };
        let path = after[..end].split('?').next().unwrap_or_default();
        if path.matches('/').count() == 3 && seen.insert(path.to_string()) {
            links.push(path.to_string());
        }
        rest = &after[end..];
    }
    links
}

/// The `render;dur=<milliseconds>` of a response head's `Server-Timing` header.
pub fn server_timing(head: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("server-timing"))
        .flat_map(|(_, value)| value.split(','))
        .filter(|metric| metric.trim().starts_with("render"))
        .flat_map(|metric| metric.split(';'))
        .find_map(|part| part.trim().strip_prefix("dur="))
        .and_then(|ms| ms.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
}

/// One answered page.
#[derive(Debug)]
struct Answer {
    status: u16,
    server: Option<Duration>,
    client: Duration,
    body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closes it.
#[derive(Debug)]
struct Client {
    address: SocketAddr,
    connection: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(address: SocketAddr) -> Self {
        Self {
            address,
            connection: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.connection.is_none() {
            let stream = TcpStream::connect(self.address)
                .with_context(|| format!("connecting to {}", self.address))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(600)))?;
            stream.set_write_timeout(Some(Duration::from_secs(60)))?;
            self.connection = Some(BufReader::new(stream));
        }
        self.connection.as_mut().context("no connection")
    }

    /// GET `path`; on a reused connection that turns out closed, once more on a new one.
    fn get(&mut self, path: &str) -> Result<Answer> {
        let reused = self.connection.is_some();
        match self.try_get(path) {
            Ok(answer) => Ok(answer),
            Err(_) if reused => {
                self.connection = None;
                self.try_get(path)
            }
            Err(error) => Err(error),
        }
    }

    fn try_get(&mut self, path: &str) -> Result<Answer> {
        let address = self.address;
        let connection = self.connect()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/html\r\nUser-Agent: loopwise-bench\r\n\r\n"
        );
        let mut head = Vec::with_capacity(1024);
        let mut body = Vec::new();
        let begun = Instant::now();
        let outcome = connection
            .get_mut()
            .write_all(request.as_bytes())
            .context("writing the request")
            .and_then(|()| read_response_keeping_head(connection, &mut head, &mut body));
        let client = begun.elapsed();
        let parsed = match outcome {
            Ok(parsed) => parsed,
            Err(error) => {
                self.connection = None;
                return Err(error.context(format!("GET {path}")));
            }
        };
        if parsed.close {
            self.connection = None;
        }
        Ok(Answer {
            status: parsed.status,
            server: server_timing(&head),
            client,
            body,
        })
    }
}

/// GET `path`, which must answer 200 with a `Server-Timing` render duration.
fn page(client: &mut Client, path: &str) -> Result<(Duration, Duration, Vec<u8>)> {
    let answer = client.get(path)?;
    if answer.status != 200 {
        let text = String::from_utf8_lossy(&answer.body);
        let message = text
            .find("role=\"alert\"")
            .and_then(|at| text[at..].split_once('>'))
            .and_then(|(_, rest)| rest.split_once('<'))
            .map_or("", |(message, _)| message);
        bail!("GET {path}: status {}: {message}", answer.status);
    }
    let server = answer
        .server
        .with_context(|| format!("GET {path}: no Server-Timing render duration"))?;
    Ok((server, answer.client, answer.body))
}

// ---------------------------------------------------------------------------------------------
// The page kinds

/// What a page kind is, where that matters to the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Other,
    /// The incidents page: its links give the incident pages' paths.
    IncidentList,
    /// Incident pages: their paths come from the incidents page of the same window.
    IncidentPages,
}

/// One kind of page at one window, and the paths its requests take in turn.
#[derive(Debug)]
struct Kind {
    label: String,
    paths: Vec<String>,
    role: Role,
}

/// Every page kind at `window` (a preset), with at most `requests` distinct paths each.
fn kinds(owners: &Owners, window: &str, requests: usize) -> Vec<Kind> {
    let query = format!("until={UNTIL}&window={window}");
    let take = |names: &[String], path: &dyn Fn(&str) -> String| -> Vec<String> {
        names
            .iter()
            .take(requests.max(1))
            .map(|n| path(n))
            .collect()
    };
    let kind = |label: &str, paths: Vec<String>| Kind {
        label: format!("{label} ({window})"),
        paths,
        role: Role::Other,
    };
    let mut kinds = vec![kind("overview /", vec![format!("/?{query}")])];
    for group_by in ["team", "tribe", "service", "environment"] {
        kinds.push(kind(
            &format!("leaderboard by {group_by}"),
            vec![format!("/leaderboard?group_by={group_by}&{query}")],
        ));
    }
    // Every sort column in turn, ascending then descending.
    let sorted = (0..(2 * SORT_COLUMNS.len()).min(requests.max(1)))
        .map(|i| {
            let order = if i < SORT_COLUMNS.len() {
                "asc"
            } else {
                "desc"
            };
            format!(
                "/leaderboard?group_by=service&sort={}&order={order}&{query}",
                SORT_COLUMNS[i % SORT_COLUMNS.len()]
            )
        })
        .collect();
    kinds.push(kind("leaderboard by service, sorted", sorted));
    // A text filter: the first four characters of each service's name in turn.
    let filtered = take(&owners.services, &|name| {
        let needle: String = name.chars().take(4).collect();
        format!(
            "/leaderboard?group_by=service&q={}&{query}",
            query_value(&needle)
        )
    });
    kinds.push(kind("leaderboard by service, q=text", filtered));
    kinds.push(kind(
        "service /services/{name}",
        take(&owners.services, &|name| {
            format!("/services/{}?{query}", segment(name))
        }),
    ));
    kinds.push(kind(
        "squad /teams/{squad}",
        take(&owners.squads, &|name| {
            format!("/teams/{}?{query}", segment(name))
        }),
    ));
    kinds.push(kind(
        "tribe /tribes/{tribe}",
        take(&owners.tribes, &|name| {
            format!("/tribes/{}?{query}", segment(name))
        }),
    ));
    kinds.push(Kind {
        role: Role::IncidentList,
        ..kind("incidents /incidents", vec![format!("/incidents?{query}")])
    });
    kinds.push(Kind {
        role: Role::IncidentPages,
        ..kind("incident /incidents/{source}/{id}", Vec::new())
    });
    // A configuration without squads or tribes has no such pages.
    kinds.retain(|kind| kind.role == Role::IncidentPages || !kind.paths.is_empty());
    kinds
}

/// The figures of one page kind.
#[derive(Debug)]
struct Measured {
    label: String,
    cold_server: Duration,
    cold_client: Duration,
    server: Vec<Duration>,
    client: Vec<Duration>,
    /// Smallest and largest answer, in bytes.
    bytes: (usize, usize),
    distinct: usize,
}

// ---------------------------------------------------------------------------------------------
// Preparing the scenarios

fn file_size(path: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(&name).map(|m| m.len()).unwrap_or(0);
    }
    total
}

/// `loopwise demo --no-serve`; the path of the configuration it wrote.
fn prepare_demo(opts: &Options, db: &Path) -> Result<PathBuf> {
    let config = db.with_extension("toml");
    if opts.skip_generate {
        ensure!(
            db.is_file() && config.is_file(),
            "--skip-generate: {} or {} does not exist",
            db.display(),
            config.display()
        );
        return Ok(config);
    }
    let started = Instant::now();
    let out = Command::new(&opts.loopwise)
        .args(["demo", "--no-serve", "--end", UNTIL, "--db"])
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} demo", opts.loopwise.display()))?;
    ensure!(
        out.status.success(),
        "loopwise demo failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    println!(
        "  {:<34} {:.1} s: loopwise demo --no-serve --db {} --end {UNTIL}",
        "generated",
        started.elapsed().as_secs_f64(),
        db.display()
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("    {line}");
    }
    ensure!(
        config.is_file(),
        "loopwise demo wrote no configuration at {}",
        config.display()
    );
    Ok(config)
}

/// The synthetic organisation in SQLite; the path of its configuration (in `directory`).
fn prepare_org(opts: &Options, db: &Path, directory: &Path) -> Result<PathBuf> {
    let shape = &opts.shape;
    if opts.skip_generate {
        ensure!(
            db.is_file(),
            "--skip-generate: {} does not exist",
            db.display()
        );
    } else {
        ensure!(
            !db.exists(),
            "{} exists; pass --skip-generate to measure it as it is, or delete it",
            db.display()
        );
        println!(
            "  generating {} services, {} deployments, {} changes (seed {}) into {}",
            shape.services,
            shape.deployments,
            shape.changes,
            shape.seed,
            db.display()
        );
        let store = SqliteStore::open(db)?;
        org_generate(&store, shape)?;
    }
    let counts = SqliteStore::open(db)?.counts()?;
    println!(
        "  {:<34} {} repositories, {} changes, {} deployments; {:.0} MB on disk",
        "database",
        counts.repositories,
        counts.changes,
        counts.deployments,
        file_size(db) as f64 / 1e6
    );
    matches_shape(&counts, shape)?;
    write_org_config(shape, directory)
}

/// The synthetic organisation in PostgreSQL, in a database `loopwise_pages` created on the
/// server at `admin_url` (or, with `--skip-generate`, the database at that URL as it is); the
/// database's URL and the path of its configuration (in `directory`).
fn prepare_org_postgres(
    opts: &Options,
    admin_url: &str,
    directory: &Path,
) -> Result<(String, PathBuf)> {
    let shape = &opts.shape;
    let url = if opts.skip_generate {
        admin_url.to_string()
    } else {
        println!(
            "  generating {} services, {} deployments, {} changes (seed {}) into PostgreSQL",
            shape.services, shape.deployments, shape.changes, shape.seed
        );
        let url = create_database(admin_url, "loopwise_pages")?;
        org_generate(&PostgresStore::open(&url)?, shape)?;
        url
    };
    analyze_and_show_sizes(&url)?;
    let counts = PostgresStore::open(&url)?.counts()?;
    println!(
        "  {:<34} {} repositories, {} changes, {} deployments",
        "database", counts.repositories, counts.changes, counts.deployments
    );
    matches_shape(&counts, shape)?;
    Ok((url, write_org_config(shape, directory)?))
}

/// Refuses a database generated with another number of services than `shape` names.
fn matches_shape(counts: &loopwise_store::StoreCounts, shape: &OrgShape) -> Result<()> {
    ensure!(
        counts.repositories == shape.services,
        "the database holds {} repositories, the shape {} services: pass the --services it was \
         generated with",
        counts.repositories,
        shape.services
    );
    Ok(())
}

/// The organisation's ownership, readable without a token, as `org.toml` in `directory`.
fn write_org_config(shape: &OrgShape, directory: &Path) -> Result<PathBuf> {
    let config = directory.join("org.toml");
    std::fs::write(
        &config,
        format!("version = 1\npublic_reads = true\n\n{}", org_config(shape)),
    )?;
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/// Runs the scenario and prints its figures; `Ok(false)` when a page missed the target.
pub fn run(opts: &Options) -> Result<bool> {
    ensure!(
        opts.loopwise.is_file(),
        "loopwise binary {} not found (cargo build --release -p loopwise)",
        opts.loopwise.display()
    );
    ensure!(opts.requests >= 1, "--requests must be at least 1");
    let windows: Vec<String> = if opts.windows.iter().any(|w| w == "all") {
        WINDOWS.iter().map(|w| w.to_string()).collect()
    } else {
        opts.windows.clone()
    };
    ensure!(!windows.is_empty(), "no --windows");
    for window in &windows {
        ensure!(
            WINDOWS.contains(&window.as_str()),
            "--windows: unknown window {window:?}; choose from {} or all",
            WINDOWS.join(", ")
        );
    }
    match opts.scenario {
        Scenario::OrgPostgres => ensure!(
            !opts.skip_generate || opts.postgres_url.is_some(),
            "--skip-generate with scenario org-postgres needs --postgres-url"
        ),
        _ => ensure!(
            !opts.skip_generate || opts.db.is_some(),
            "--skip-generate needs --db"
        ),
    }
    let directory = tempfile::tempdir()?;
    let name = match opts.scenario {
        Scenario::Demo => "demo",
        Scenario::Org => "org",
        Scenario::OrgPostgres => "org-postgres",
    };
    let mut db = opts
        .db
        .clone()
        .unwrap_or_else(|| directory.path().join(format!("{name}.db")));
    // Kept alive until the measurement ends.
    let mut _postgres = None;
    println!(
        "dashboard-pages: scenario {name}, server-side render time of every dashboard page kind"
    );
    if let Some(load) = load_average() {
        println!("  {:<34} {load}", "load average before (1/5/15 min)");
    }
    let config = match opts.scenario {
        Scenario::Demo => prepare_demo(opts, &db)?,
        Scenario::Org => prepare_org(opts, &db, directory.path())?,
        Scenario::OrgPostgres => {
            let (server, admin_url) = postgres_server(&opts.postgres_url)?;
            _postgres = server;
            let (url, config) = prepare_org_postgres(opts, &admin_url, directory.path())?;
            // The server takes the URL where a path would go.
            db = PathBuf::from(url);
            config
        }
    };
    let owners = owners(&std::fs::read_to_string(&config)?)?;
    println!(
        "  {:<34} {} services, {} squads, {} tribes ({})",
        "configuration",
        owners.services.len(),
        owners.squads.len(),
        owners.tribes.len(),
        config.display()
    );

    let started = Instant::now();
    let mut node = start_server_with(
        &opts.loopwise,
        &db,
        &["--config", config.to_str().context("a UTF-8 path")?],
    )?;
    let mut client = Client::new(node.address);
    let ready = loop {
        if let Ok(answer) = client.get("/readyz")
            && answer.status == 200
        {
            break started.elapsed();
        }
        ensure!(
            started.elapsed() < Duration::from_secs(120),
            "/readyz did not answer 200 within 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let warm = loop {
        match node.log.recv_timeout(Duration::from_secs(1800)) {
            Ok(line) if line.contains("warmed the report cache") => break started.elapsed(),
            Ok(line) if line.contains("cannot warm") => bail!("{line}"),
            Ok(_) => continue,
            Err(_) => bail!("the server did not warm its report cache within 1800 s"),
        }
    };
    println!(
        "  {:<34} /readyz 200 after {:.2} s, report cache warmed after {:.2} s; node memory {}",
        "start-up",
        ready.as_secs_f64(),
        warm.as_secs_f64(),
        resident_memory(node.child.id())
    );

    // Cold: the first request of each kind after start-up, all kinds in turn.
    let mut measured: Vec<(Kind, Measured)> = Vec::new();
    for window in &windows {
        let mut incident_list = String::new();
        for mut kind in kinds(&owners, window, opts.requests) {
            if kind.role == Role::IncidentPages {
                kind.paths = incident_links(&incident_list)
                    .into_iter()
                    .take(opts.requests)
                    .map(|path| format!("{path}?until={UNTIL}&window={window}"))
                    .collect();
                if kind.paths.is_empty() {
                    println!("  ({}: no incident in the window; skipped)", kind.label);
                    continue;
                }
            }
            let (server, client_time, body) = page(&mut client, &kind.paths[0])?;
            if kind.role == Role::IncidentList {
                incident_list = String::from_utf8_lossy(&body).into_owned();
            }
            let result = Measured {
                label: kind.label.clone(),
                cold_server: server,
                cold_client: client_time,
                server: Vec::with_capacity(opts.requests),
                client: Vec::with_capacity(opts.requests),
                bytes: (body.len(), body.len()),
                distinct: kind.paths.len(),
            };
            measured.push((kind, result));
        }
    }

    // Warm: `requests` of each kind, one at a time, its paths in turn.
    let cpu_before = (
        process_cpu(&format!("/proc/{}/stat", node.child.id())),
        process_cpu("/proc/self/stat"),
        machine_cpu(),
    );
    let warm_started = Instant::now();
    for (kind, result) in &mut measured {
        for i in 0..opts.requests {
            let (server, client_time, body) = page(&mut client, &kind.paths[i % kind.paths.len()])?;
            result.server.push(server);
            result.client.push(client_time);
            result.bytes = (
                result.bytes.0.min(body.len()),
                result.bytes.1.max(body.len()),
            );
        }
    }
    let warm_wall = warm_started.elapsed();
    let cpu_after = (
        process_cpu(&format!("/proc/{}/stat", node.child.id())),
        process_cpu("/proc/self/stat"),
        machine_cpu(),
    );
    let memory = resident_memory(node.child.id());
    stop_server(&mut node)?;

    println!(
        "  {:<44} {:>5} {:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>15}  verdict",
        "warm: page kind (window)",
        "n",
        "pages",
        "p50",
        "p95",
        "max",
        "client p95",
        "cold",
        "cold client",
        "bytes"
    );
    let mut worst: Option<(Duration, String)> = None;
    let mut failed = Vec::new();
    for (_, result) in &mut measured {
        let server = summarize(&mut result.server);
        let client_time = summarize(&mut result.client);
        let pass = server.p95 < opts.max_p95;
        if !pass {
            failed.push(result.label.clone());
        }
        if worst.as_ref().is_none_or(|(p95, _)| server.p95 > *p95) {
            worst = Some((server.p95, result.label.clone()));
        }
        let bytes = if result.bytes.0 == result.bytes.1 {
            result.bytes.0.to_string()
        } else {
            format!("{}-{}", result.bytes.0, result.bytes.1)
        };
        println!(
            "  {:<44} {:>5} {:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>15}  {}",
            result.label,
            server.count,
            result.distinct,
            millis(server.p50),
            millis(server.p95),
            millis(server.max),
            millis(client_time.p95),
            millis(result.cold_server),
            millis(result.cold_client),
            bytes,
            if pass { "PASS" } else { "FAIL" }
        );
    }
    println!(
        "  (server: Server-Timing render;dur; client: request written to answer read, loopback; \
         cold: the first request of that kind after start-up; warm: {} per kind, each kind's \
         distinct pages in turn)",
        opts.requests
    );
    print_cpu(cpu_before, cpu_after, warm_wall);
    println!("  {:<34} {memory}", "node memory after the run");
    let (worst_p95, worst_label) = worst.unwrap_or_default();
    let pass = failed.is_empty();
    println!(
        "verdict: worst warm p95 (server) {} ({worst_label}), target < {}: {}",
        millis(worst_p95),
        millis(opts.max_p95),
        if pass {
            "PASS".to_string()
        } else {
            format!(
                "FAIL ({} of {} kinds: {})",
                failed.len(),
                measured.len(),
                failed.join("; ")
            )
        }
    );
    Ok(pass)
}

type CpuReading = (Option<Duration>, Option<Duration>, Option<MachineCpu>);

/// What the server, the benchmark and everything else used during the warm requests.
fn print_cpu(before: CpuReading, after: CpuReading, wall: Duration) {
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let (Some(server0), Some(bench0), Some(machine0)) = before else {
        return;
    };
    let (Some(server1), Some(bench1), Some(machine1)) = after else {
        return;
    };
    let server = server1.saturating_sub(server0);
    let bench = bench1.saturating_sub(bench0);
    let machine = machine1.since(&machine0);
    let other = machine.busy.saturating_sub(server).saturating_sub(bench);
    println!(
        "  {:<34} {:.1} s wall; server {:.0}%, benchmark {:.0}%, other processes {:.0}%, \
         steal {:.0}% (100% = one core)",
        "CPU during the warm requests",
        wall.as_secs_f64(),
        pct(server),
        pct(bench),
        pct(other),
        pct(machine.steal)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_ask_for_the_end_of_the_org_history() {
        let until: jiff::civil::Date = UNTIL.parse().unwrap();
        let until = until.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
        assert_eq!(until.as_second(), crate::scale::ORG_END);
    }

    #[test]
    fn a_name_stays_one_path_segment() {
        assert_eq!(segment("svc-001"), "svc-001");
        assert_eq!(
            segment("o'reilly \"books\" & co"),
            "o%27reilly%20%22books%22%20%26%20co"
        );
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn owners_come_from_both_forms_of_teams_and_from_services() {
        let config = r#"
version = 1
public_reads = true

[services]
"acme/web" = "web"

[teams]
lone = "solo-squad"

[teams.payments]
tribe = "commerce"
services = ["checkout", "o'reilly \"books\" & co"]

[teams.search]
tribe = "discovery"
services = ["search-api"]
"#;
        let owners = owners(config).unwrap();
        assert_eq!(
            owners.services,
            [
                "checkout",
                "lone",
                "o'reilly \"books\" & co",
                "search-api",
                "web"
            ]
        );
        assert_eq!(owners.squads, ["payments", "search", "solo-squad"]);
        assert_eq!(owners.tribes, ["commerce", "discovery"]);
    }

    #[test]
    fn the_org_config_names_every_service() {
        let shape = OrgShape {
            services: 12,
            deployments: 12,
            changes: 60,
            seed: 1,
        };
        let owners = owners(&format!("public_reads = true\n{}", org_config(&shape))).unwrap();
        assert_eq!(owners.services.len(), 12);
        assert_eq!(owners.squads, ["squad-00", "squad-01", "squad-02"]);
        assert_eq!(owners.tribes, ["tribe-0"]);
    }

    #[test]
    fn incident_links_are_read_from_the_page() {
        let html = r#"<a href="/incidents?window=90d">x</a>
<td><a href="/incidents/demo/svc-001-inc-3?until=2026-12-01&amp;window=90d">t</a></td>
<td><a href="/incidents/pagerduty/P%2F1">u</a></td>
<td><a href="/incidents/demo/svc-001-inc-3?until=2026-12-01">again</a></td>"#;
        assert_eq!(
            incident_links(html),
            [
                "/incidents/demo/svc-001-inc-3",
                "/incidents/pagerduty/P%2F1"
            ]
        );
    }

    #[test]
    fn the_render_duration_is_read_from_server_timing() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nServer-Timing: render;dur=12.50\r\n\r\n";
        assert_eq!(server_timing(head), Some(Duration::from_micros(12_500)));
        let head = b"HTTP/1.1 200 OK\r\nserver-timing: db;dur=1, render;dur=3\r\n\r\n";
        assert_eq!(server_timing(head), Some(Duration::from_millis(3)));
        assert_eq!(server_timing(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn every_kind_has_paths_and_the_sorted_leaderboard_covers_every_column() {
        let owners = Owners {
            services: vec!["a b".into(), "c".into()],
            squads: vec!["s".into()],
            tribes: vec![],
        };
        let kinds = kinds(&owners, "90d", 50);
        assert!(
            kinds
                .iter()
                .all(|k| k.role == Role::IncidentPages || !k.paths.is_empty())
        );
        assert!(!kinds.iter().any(|k| k.label.starts_with("tribe")));
        let sorted = kinds
            .iter()
            .find(|k| k.label.starts_with("leaderboard by service, sorted"))
            .unwrap();
        assert_eq!(sorted.paths.len(), 20);
        let service = kinds
            .iter()
            .find(|k| k.label.starts_with("service"))
            .unwrap();
        assert_eq!(
            service.paths,
            [
                "/services/a%20b?until=2026-12-01&window=90d",
                "/services/c?until=2026-12-01&window=90d"
            ]
        );
    }
}
