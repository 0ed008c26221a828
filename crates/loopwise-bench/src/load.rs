//! `ingest-load`: issue 3's ingest throughput target, measured against the real server.
//!
//! The target: on loopback with the embedded SQLite store, at least 5,000 single-event POSTs per
//! second from 16 concurrent keep-alive clients with a p99 latency under 50 ms, and at least
//! 100,000 events per second through NDJSON batches.
//!
//! The benchmark runs the real binary (`loopwise token create`, then `loopwise serve` on
//! `127.0.0.1:0`) against a fresh database in a temporary directory, drives it with a minimal
//! HTTP/1.1 client over `std::net::TcpStream` (one keep-alive connection per client thread),
//! stops it with SIGTERM and checks that the database holds exactly the acknowledged events.
//! The load generator runs on the same machine as the server, so both share its cores; the CPU
//! time each side used is printed for that reason.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

#[derive(Debug, Clone)]
pub struct Options {
    pub loopwise: PathBuf,
    /// Clients of phase 1 (single events), one keep-alive connection each.
    pub clients: usize,
    /// Measured duration of each phase.
    pub seconds: f64,
    /// Unmeasured load before each phase's measurement starts.
    pub warmup: f64,
    /// Events per NDJSON request in phase 2.
    pub batch: usize,
    /// Clients of phase 2 (NDJSON batches).
    pub batch_clients: usize,
    pub min_requests_per_second: f64,
    pub max_p99: Duration,
    pub min_events_per_second: f64,
}

/// Upper bound on the requests one client sends in one phase, whatever the duration.
const MAX_REQUESTS_PER_CLIENT: u64 = 2_000_000;
/// A client gives up after this many failed requests in a phase.
const MAX_ERRORS_PER_CLIENT: u64 = 50;
/// No single request may take longer than this (a stuck server must not hang the benchmark).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest response head accepted by the client.
const MAX_HEAD_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Latency statistics

/// Latency figures of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

/// The nearest-rank percentile `p` (0-100] of ascending `sorted` values: the smallest value
/// with at least `p`% of the values at or below it. Zero for no values.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts `values` and summarises them.
pub fn summarize(values: &mut [Duration]) -> Latency {
    values.sort_unstable();
    let count = values.len();
    let total: Duration = values.iter().sum();
    Latency {
        count,
        p50: percentile(values, 50.0),
        p95: percentile(values, 95.0),
        p99: percentile(values, 99.0),
        max: values.last().copied().unwrap_or_default(),
        mean: if count == 0 {
            Duration::ZERO
        } else {
            total / count as u32
        },
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request at a time on one keep-alive connection.

/// What the client needs from a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_length: usize,
    /// The server said `Connection: close`: the connection cannot be reused.
    pub close: bool,
}

/// Parses a response head (status line and headers, up to and including the blank line).
/// Only `Content-Length` bodies are supported; a chunked or unbounded body is an error.
pub fn parse_head(head: &[u8]) -> Result<ResponseHead> {
    let text = std::str::from_utf8(head).context("the response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    ensure!(
        version.starts_with("HTTP/1."),
        "not an HTTP/1.x status line: {status_line:?}"
    );
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|code| (100..1000).contains(code))
        .with_context(|| format!("no status code in {status_line:?}"))?;
    let mut content_length = None;
    let mut close = version == "HTTP/1.0";
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("malformed header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length: usize = value
                .parse()
                .with_context(|| format!("bad Content-Length {value:?}"))?;
            ensure!(
                content_length.is_none_or(|seen| seen == length),
                "conflicting Content-Length headers"
            );
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("Transfer-Encoding {value:?} is not supported by this client");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"));
        }
    }
    let content_length = match (content_length, status) {
        (Some(length), _) => length,
        (None, 204 | 304) | (None, 100..=199) => 0,
        (None, _) => bail!("status {status} without Content-Length"),
    };
    Ok(ResponseHead {
        status,
        content_length,
        close,
    })
}

/// Reads one response from `reader`: its head, and its body into `body` (replacing it).
pub fn read_response(reader: &mut impl BufRead, body: &mut Vec<u8>) -> Result<ResponseHead> {
    let mut head = Vec::with_capacity(256);
    read_response_keeping_head(reader, &mut head, body)
}

/// [`read_response`], keeping the raw head (status line and headers) in `head` (replacing it),
/// for headers the parsed [`ResponseHead`] does not carry.
pub fn read_response_keeping_head(
    reader: &mut impl BufRead,
    head: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> Result<ResponseHead> {
    head.clear();
    loop {
        let before = head.len();
        let n = reader
            .read_until(b'\n', head)
            .context("reading the response head")?;
        ensure!(
            n > 0,
            "the server closed the connection{}",
            if before == 0 {
                ""
            } else {
                " in the middle of a response head"
            }
        );
        // Blank line: the head is complete (a bare `\r\n`, right after the previous line).
        if &head[before..] == b"\r\n" {
            break;
        }
        ensure!(
            head.len() <= MAX_HEAD_BYTES,
            "response head longer than {MAX_HEAD_BYTES} bytes"
        );
    }
    let parsed = parse_head(head)?;
    body.clear();
    body.resize(parsed.content_length, 0);
    reader
        .read_exact(body)
        .context("reading the response body")?;
    Ok(parsed)
}

/// The `accepted` count at the top level of an events API answer (`{"accepted": N, ...}`),
/// without parsing the whole document: the answer of a batch lists every event, and the
/// client shares the machine with the server.
pub fn accepted_count(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"accepted\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &body[start..];
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// One keep-alive connection to the server.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    /// The request line and the headers that never change.
    prefix: String,
    request: Vec<u8>,
    body: Vec<u8>,
}

impl Client {
    fn connect(address: SocketAddr, token: &str) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        Ok(Self {
            writer: stream,
            reader,
            prefix: format!(
                "POST /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n"
            ),
            request: Vec::with_capacity(4096),
            body: Vec::with_capacity(4096),
        })
    }

    /// Sends one POST (head and body in one write) and reads the answer: its head is returned,
    /// its body left in `self.body`.
    fn post(&mut self, content_type: &str, payload: &[u8]) -> Result<ResponseHead> {
        self.request.clear();
        self.request.extend_from_slice(self.prefix.as_bytes());
        write!(
            self.request,
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )?;
        self.request.extend_from_slice(payload);
        self.writer
            .write_all(&self.request)
            .context("sending the request")?;
        read_response(&mut self.reader, &mut self.body)
    }
}

// ---------------------------------------------------------------------------------------------
// Events

const SERVICES: [&str; 8] = [
    "checkout",
    "billing",
    "search",
    "catalog",
    "auth",
    "payments",
    "web",
    "mobile-api",
];

/// Appends one deployment event as a JSON object, unique to (`phase`, `client`, `seq`).
fn push_deployment(out: &mut String, phase: char, client: usize, seq: u64) {
    // A reproducible, commit-like sha and a finish time spread over May 2024.
    let mut rng =
        crate::rng::SplitMix64::new(((client as u64) << 40) ^ seq ^ ((phase as u64) << 56));
    let (a, b, c) = (rng.next_u64(), rng.next_u64(), rng.next_u64() as u32);
    let t = seq % (31 * 86_400);
    let _ = write!(
        out,
        r#"{{"type":"deployment","id":"load-{phase}{client:02}-{seq:09}","service":"{}","sha":"{a:016x}{b:016x}{c:08x}","finished_at":"2024-05-{:02}T{:02}:{:02}:{:02}Z","status":"{}"}}"#,
        SERVICES[(seq as usize + client) % SERVICES.len()],
        1 + t / 86_400,
        t / 3600 % 24,
        t / 60 % 60,
        t % 60,
        if seq % 20 == 7 { "failure" } else { "success" },
    );
}

// ---------------------------------------------------------------------------------------------
// Load phases

#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    /// Distinguishes the event ids of the phases.
    pub(crate) tag: char,
    /// Events per request; 1 sends `application/json`, more send NDJSON.
    pub(crate) batch: usize,
    pub(crate) clients: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
}

/// What one client thread saw.
#[derive(Debug, Default)]
struct ClientReport {
    /// Latency of each successful request started in the measured window.
    latencies: Vec<Duration>,
    /// Events acknowledged (`accepted`) in the measured window.
    measured_events: u64,
    /// Events acknowledged over the whole phase, warm-up included.
    acknowledged: u64,
    errors: u64,
    first_error: Option<String>,
    /// When the last measured request completed.
    last_done: Option<Instant>,
}

fn note_error(report: &mut ClientReport, message: String) {
    report.errors += 1;
    report.first_error.get_or_insert(message);
}

fn run_client(
    address: SocketAddr,
    token: &str,
    phase: Phase,
    index: usize,
    measure_from: Instant,
    end: Instant,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut client = match Client::connect(address, token) {
        Ok(client) => Some(client),
        Err(e) => {
            note_error(&mut report, format!("{e:#}"));
            None
        }
    };
    let content_type = if phase.batch == 1 {
        "application/json"
    } else {
        "application/x-ndjson"
    };
    let mut payload = String::with_capacity(phase.batch * 200);
    let mut seq: u64 = 0;
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        if report.errors >= MAX_ERRORS_PER_CLIENT {
            break;
        }
        let Some(connection) = client.as_mut() else {
            break;
        };
        payload.clear();
        for _ in 0..phase.batch {
            push_deployment(&mut payload, phase.tag, index, seq);
            seq += 1;
            if phase.batch > 1 {
                payload.push('\n');
            }
        }
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result = connection.post(content_type, payload.as_bytes());
        let done = Instant::now();
        match result {
            Ok(head) => {
                let accepted = accepted_count(&connection.body);
                report.acknowledged += accepted.unwrap_or(0);
                if head.status == 200 && accepted == Some(phase.batch as u64) {
                    if started >= measure_from {
                        report.latencies.push(done - started);
                        report.measured_events += phase.batch as u64;
                        report.last_done = Some(done);
                    }
                } else {
                    let body = String::from_utf8_lossy(&connection.body);
                    let excerpt: String = body.chars().take(300).collect();
                    note_error(
                        &mut report,
                        format!(
                            "status {}, accepted {accepted:?} of {}: {excerpt}",
                            head.status, phase.batch
                        ),
                    );
                }
                if head.close {
                    client = Client::connect(address, token)
                        .map_err(|e| note_error(&mut report, format!("{e:#}")))
                        .ok();
                }
            }
            Err(e) => {
                note_error(&mut report, format!("{e:#}"));
                // The connection's state is unknown: start a new one.
                std::thread::sleep(Duration::from_millis(10));
                client = Client::connect(address, token)
                    .map_err(|e| note_error(&mut report, format!("{e:#}")))
                    .ok();
            }
        }
    }
    report
}

/// The figures of one phase.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    pub events: u64,
    pub window: Duration,
    pub latency: Latency,
    pub acknowledged: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// CPU time (user + system) of the server and of this process during the phase.
    pub server_cpu: Option<Duration>,
    pub bench_cpu: Option<Duration>,
    /// The whole machine's CPU time during the phase (all processes, all cores).
    pub machine: Option<MachineCpu>,
    pub wall: Duration,
}

impl PhaseResult {
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.latency.count as u64, self.window)
    }

    pub fn events_per_second(&self) -> f64 {
        per_second(self.events, self.window)
    }
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        count as f64 / window.as_secs_f64()
    }
}

/// Total CPU time of the server processes.
fn servers_cpu(pids: &[u32]) -> Option<Duration> {
    pids.iter()
        .map(|pid| process_cpu(&format!("/proc/{pid}/stat")))
        .sum()
}

/// Runs one phase; client `i` talks to `addresses[i % addresses.len()]` (one or more nodes).
pub(crate) fn run_phase(
    addresses: &[SocketAddr],
    token: &str,
    phase: Phase,
    server_pids: &[u32],
) -> PhaseResult {
    let server_cpu_before = servers_cpu(server_pids);
    let bench_cpu_before = process_cpu("/proc/self/stat");
    let machine_before = machine_cpu();
    let start = Instant::now();
    let measure_from = start + phase.warmup;
    let end = measure_from + phase.measure;
    let reports: Vec<ClientReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..phase.clients)
            .map(|index| {
                let address = addresses[index % addresses.len()];
                scope.spawn(move || run_client(address, token, phase, index, measure_from, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| ClientReport {
                    errors: 1,
                    first_error: Some("a client thread panicked".into()),
                    ..ClientReport::default()
                })
            })
            .collect()
    });
    let wall = start.elapsed();
    let machine = machine_cpu()
        .zip(machine_before)
        .map(|(after, before)| after.since(&before));
    let server_cpu = servers_cpu(server_pids)
        .zip(server_cpu_before)
        .and_then(|(after, before)| after.checked_sub(before));
    let bench_cpu = process_cpu("/proc/self/stat")
        .zip(bench_cpu_before)
        .and_then(|(after, before)| after.checked_sub(before));
    let last_done = reports.iter().filter_map(|r| r.last_done).max();
    let mut latencies: Vec<Duration> = reports
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    PhaseResult {
        events: reports.iter().map(|r| r.measured_events).sum(),
        window: last_done.map_or(Duration::ZERO, |done| {
            done.saturating_duration_since(measure_from)
        }),
        latency: summarize(&mut latencies),
        acknowledged: reports.iter().map(|r| r.acknowledged).sum(),
        errors: reports.iter().map(|r| r.errors).sum(),
        first_error: reports.iter().find_map(|r| r.first_error.clone()),
        server_cpu,
        bench_cpu,
        machine,
        wall,
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// User + system CPU time of a process from its `/proc/<pid>/stat` (fields 14 and 15, in
/// USER_HZ ticks, which Linux fixes at 100 per second for user space).
pub(crate) fn process_cpu(stat_path: &str) -> Option<Duration> {
    parse_process_cpu(&std::fs::read_to_string(stat_path).ok()?)
}

pub fn parse_process_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2) is parenthesised and may contain spaces; count from after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime).saturating_mul(10)))
}

/// CPU time of the whole machine by kind, from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq: time spent running anything.
    pub busy: Duration,
    pub idle: Duration,
    /// Idle while some disk I/O was outstanding.
    pub iowait: Duration,
    /// Time a virtual machine's vCPUs were ready but the host ran something else.
    pub steal: Duration,
}

impl MachineCpu {
    pub(crate) fn since(&self, before: &Self) -> Self {
        Self {
            busy: self.busy.saturating_sub(before.busy),
            idle: self.idle.saturating_sub(before.idle),
            iowait: self.iowait.saturating_sub(before.iowait),
            steal: self.steal.saturating_sub(before.steal),
        }
    }
}

pub(crate) fn machine_cpu() -> Option<MachineCpu> {
    parse_machine_cpu(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal
/// (guest time is already counted in user), in USER_HZ ticks of 10 ms.
pub fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0);
    let ms = |t: u64| Duration::from_millis(t.saturating_mul(10));
    if ticks.len() < 4 {
        return None;
    }
    Some(MachineCpu {
        busy: ms(field(0) + field(1) + field(2) + field(5) + field(6)),
        idle: ms(field(3)),
        iowait: ms(field(4)),
        steal: ms(field(7)),
    })
}

pub(crate) fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

pub(crate) fn create_token(loopwise: &Path, db: &Path) -> Result<String> {
    create_token_with(loopwise, db, "ingest", "ingest-load")
}

/// A token of `scope` named `name`, made with `loopwise token create`.
pub(crate) fn create_token_with(
    loopwise: &Path,
    db: &Path,
    scope: &str,
    name: &str,
) -> Result<String> {
    let out = Command::new(loopwise)
        .args(["token", "create", "--scope", scope, "--name", name, "--db"])
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} token create", loopwise.display()))?;
    ensure!(
        out.status.success(),
        "loopwise token create failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let token = String::from_utf8(out.stdout)
        .context("loopwise token create printed non-UTF-8")?
        .trim()
        .to_owned();
    ensure!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "loopwise token create printed {token:?}, not a single token"
    );
    Ok(token)
}

/// The running server; killed if still running when dropped (after an error).
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: SocketAddr,
    /// The server's stderr lines after the address line, collected by a thread.
    pub(crate) log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn start_server(loopwise: &Path, db: &Path) -> Result<Server> {
    start_server_with(loopwise, db, &[])
}

/// [`start_server`] with more arguments for `serve`.
pub(crate) fn start_server_with(loopwise: &Path, db: &Path, extra: &[&str]) -> Result<Server> {
    let mut child = Command::new(loopwise)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} serve", loopwise.display()))?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let (address_tx, address_rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let (log_tx, log_rx) = mpsc::channel::<String>();
    // The reader thread keeps draining stderr for the server's whole life, so its logs can
    // never fill the pipe and block it.
    std::thread::spawn(move || {
        let mut early = Vec::new();
        let mut address_tx = Some(address_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &address_tx {
                if let Some(rest) = line.strip_prefix("loopwise listening on http://") {
                    let parsed = rest
                        .trim()
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("bad address in {line:?}: {e}"));
                    let _ = tx.send(parsed);
                    address_tx = None;
                    continue;
                }
                early.push(line);
                continue;
            }
            let _ = log_tx.send(line);
        }
        if let Some(tx) = address_tx {
            let _ = tx.send(Err(format!(
                "the server exited without printing its address:\n{}",
                early.join("\n")
            )));
        }
    });
    let mut server = Server {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        log: log_rx,
    };
    server.address = match address_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(address)) => address,
        Ok(Err(message)) => bail!("{message}"),
        Err(_) => bail!("the server printed no address within 30 s"),
    };
    ensure!(
        server.address.ip().is_loopback(),
        "the server listens on {}, not on loopback",
        server.address
    );
    Ok(server)
}

/// SIGTERM, then wait (bounded) for a clean exit.
pub(crate) fn stop_server(server: &mut Server) -> Result<()> {
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .context("running kill -TERM")?;
    ensure!(status.success(), "kill -TERM {pid} failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait()? {
            ensure!(
                status.success(),
                "the server exited with {status} after SIGTERM"
            );
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the server did not exit within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stored_deployments(db: &Path) -> Result<u64> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", db.display()))?;
    let count: i64 = connection
        .query_row("SELECT count(*) FROM deployments", [], |row| row.get(0))
        .context("counting deployments")?;
    Ok(count as u64)
}

// ---------------------------------------------------------------------------------------------
// The benchmark

pub(crate) fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn cpu(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

pub(crate) fn print_phase(title: &str, phase: Phase, result: &PhaseResult) {
    println!("{title}");
    println!(
        "  {:<34} {} client(s), {} event(s) per request, {:.1} s warm-up, {:.1} s measured",
        "setup",
        phase.clients,
        phase.batch,
        phase.warmup.as_secs_f64(),
        phase.measure.as_secs_f64()
    );
    println!(
        "  {:<34} {} requests, {} events in {:.2} s",
        "measured",
        result.latency.count,
        result.events,
        result.window.as_secs_f64()
    );
    println!(
        "  {:<34} {:.0} requests/s, {:.0} events/s",
        "throughput",
        result.requests_per_second(),
        result.events_per_second()
    );
    let l = &result.latency;
    println!(
        "  {:<34} p50 {}, p95 {}, p99 {}, max {}, mean {}",
        "latency per request",
        millis(l.p50),
        millis(l.p95),
        millis(l.p99),
        millis(l.max),
        millis(l.mean)
    );
    println!(
        "  {:<34} server {}, load generator {} (whole phase, warm-up included)",
        "CPU time",
        cpu(result.server_cpu),
        cpu(result.bench_cpu)
    );
    if let Some(cpu) = result.server_cpu.filter(|_| result.acknowledged > 0) {
        // Less sensitive to other work on the machine than the throughput.
        println!(
            "  {:<34} {:.2} us (server CPU time / {} events acknowledged in the whole phase)",
            "server CPU per event",
            cpu.as_secs_f64() * 1e6 / result.acknowledged as f64,
            result.acknowledged
        );
    }
    if let Some(m) = result.machine {
        // What else ran: a busy machine or a noisy host makes the figures above unreliable.
        let other = m
            .busy
            .saturating_sub(result.server_cpu.unwrap_or_default())
            .saturating_sub(result.bench_cpu.unwrap_or_default());
        let pct = |d: Duration| 100.0 * d.as_secs_f64() / result.wall.as_secs_f64().max(1e-9);
        println!(
            "  {:<34} busy {:.0}%, idle {:.0}%, iowait {:.0}%, steal {:.0}%, other processes {:.0}% (100% = one core)",
            "machine CPU during the phase",
            pct(m.busy),
            pct(m.idle),
            pct(m.iowait),
            pct(m.steal),
            pct(other)
        );
    }
    println!("  {:<34} {}", "errors", result.errors);
    if let Some(e) = &result.first_error {
        println!("  {:<34} {e}", "first error");
    }
}

/// Runs both phases and prints the figures and verdicts. A missed target is reported, not an
/// error; failed requests and a database that disagrees with the acknowledgements are errors.
pub fn run(opts: &Options) -> Result<()> {
    ensure!(opts.clients >= 1, "--clients must be at least 1");
    ensure!(
        opts.batch_clients >= 1,
        "--batch-clients must be at least 1"
    );
    ensure!(opts.batch >= 2, "--batch must be at least 2");
    ensure!(
        opts.seconds > 0.0 && opts.seconds <= 600.0,
        "--seconds must be in (0, 600]"
    );
    ensure!(
        (0.0..=60.0).contains(&opts.warmup),
        "--warmup must be in [0, 60]"
    );
    ensure!(
        opts.loopwise.is_file(),
        "loopwise binary {} not found; build it with `cargo build --release -p loopwise` or pass --loopwise",
        opts.loopwise.display()
    );
    let version = Command::new(&opts.loopwise)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let dir = tempfile::Builder::new()
        .prefix("loopwise-load-")
        .tempdir()
        .context("creating a temporary directory for the database")?;
    let db = dir.path().join("load.db");
    let token = create_token(&opts.loopwise, &db)?;
    let mut server = start_server(&opts.loopwise, &db)?;
    let address = server.address;
    let pid = server.child.id();

    println!(
        "ingest-load: loopwise serve on http://{address}, SQLite {}",
        db.display()
    );
    println!(
        "  {:<34} {} ({version})",
        "loopwise binary",
        opts.loopwise.display()
    );
    if let Some(load) = load_average() {
        println!("  {:<34} {load}", "load average before (1/5/15 min)");
    }
    println!(
        "  {:<34} {}",
        "cores (available parallelism)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let warmup = Duration::from_secs_f64(opts.warmup);
    let measure = Duration::from_secs_f64(opts.seconds);
    let single_phase = Phase {
        tag: 's',
        batch: 1,
        clients: opts.clients,
        warmup,
        measure,
    };
    let single = run_phase(&[address], &token, single_phase, &[pid]);
    print_phase(
        "phase 1: single deployment events (application/json), keep-alive",
        single_phase,
        &single,
    );
    let batch_phase = Phase {
        tag: 'b',
        batch: opts.batch,
        clients: opts.batch_clients,
        warmup,
        measure,
    };
    let batches = run_phase(&[address], &token, batch_phase, &[pid]);
    print_phase(
        "phase 2: NDJSON batches of deployment events",
        batch_phase,
        &batches,
    );

    stop_server(&mut server)?;
    let server_log: Vec<String> = server.log.try_iter().collect();
    let acknowledged = single.acknowledged + batches.acknowledged;
    let stored = stored_deployments(&db)?;
    println!("verification");
    println!(
        "  {:<34} {acknowledged} acknowledged, {stored} stored: {}",
        "deployments",
        if stored == acknowledged {
            "equal"
        } else {
            "DIFFERENT"
        }
    );
    if !server_log.is_empty() {
        println!(
            "  {:<34} {} line(s), the last: {}",
            "server log (stderr)",
            server_log.len(),
            server_log.last().map(String::as_str).unwrap_or_default()
        );
    }

    let single_ok = single.requests_per_second() >= opts.min_requests_per_second
        && single.latency.p99 < opts.max_p99
        && single.latency.count > 0;
    let batch_ok = batches.events_per_second() >= opts.min_events_per_second && batches.events > 0;
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!("targets (issue 3)");
    println!(
        "  {:<34} {:.0} req/s, p99 {}  (target >= {:.0} req/s, p99 < {})  {}",
        "single events, 16 keep-alive",
        single.requests_per_second(),
        millis(single.latency.p99),
        opts.min_requests_per_second,
        millis(opts.max_p99),
        verdict(single_ok)
    );
    println!(
        "  {:<34} {:.0} events/s  (target >= {:.0} events/s)  {}",
        "NDJSON batches",
        batches.events_per_second(),
        opts.min_events_per_second,
        verdict(batch_ok)
    );

    let errors = single.errors + batches.errors;
    ensure!(
        errors == 0,
        "{errors} request(s) failed; the first: {}",
        single
            .first_error
            .as_deref()
            .or(batches.first_error.as_deref())
            .unwrap_or("?")
    );
    ensure!(
        stored == acknowledged,
        "the database holds {stored} deployments but the server acknowledged {acknowledged}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        assert_eq!(percentile(&[ms(7)], 50.0), ms(7));
        assert_eq!(percentile(&[ms(7)], 99.0), ms(7));
        let hundred: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&hundred, 50.0), ms(50));
        assert_eq!(percentile(&hundred, 95.0), ms(95));
        assert_eq!(percentile(&hundred, 99.0), ms(99));
        assert_eq!(percentile(&hundred, 100.0), ms(100));
        assert_eq!(percentile(&hundred, 0.0), ms(1));
        // 1,000 values: p99 is the 990th, so the ten slowest do not hide it.
        let mut thousand: Vec<Duration> = (1..=1000).map(ms).collect();
        assert_eq!(percentile(&thousand, 99.0), ms(990));
        thousand.reverse();
        let l = summarize(&mut thousand);
        assert_eq!(
            l,
            Latency {
                count: 1000,
                p50: ms(500),
                p95: ms(950),
                p99: ms(990),
                max: ms(1000),
                mean: Duration::from_micros(500_500),
            }
        );
        assert_eq!(summarize(&mut []), Latency::default());
    }

    #[test]
    fn parses_response_heads() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\ndate: x\r\n\r\n";
        assert_eq!(
            parse_head(head).unwrap(),
            ResponseHead {
                status: 200,
                content_length: 42,
                close: false
            }
        );
        let closing = b"HTTP/1.1 422 Unprocessable Entity\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_head(closing).unwrap(),
            ResponseHead {
                status: 422,
                content_length: 0,
                close: true
            }
        );
        let http10 = b"HTTP/1.0 204 No Content\r\n\r\n";
        assert_eq!(
            parse_head(http10).unwrap(),
            ResponseHead {
                status: 204,
                content_length: 0,
                close: true
            }
        );
        for bad in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 OK\r\ncontent-length: 0\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reads_consecutive_responses_from_one_connection() {
        let mut body = Vec::new();
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"accepted\":1}HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}";
        let mut reader = Cursor::new(&wire[..]);
        let first = read_response(&mut reader, &mut body).unwrap();
        assert_eq!(
            (first.status, body.as_slice()),
            (200, &b"{\"accepted\":1}"[..])
        );
        let second = read_response(&mut reader, &mut body).unwrap();
        assert_eq!((second.status, body.as_slice()), (401, &b"{}"[..]));
        // The connection is now at its end.
        let eof = read_response(&mut reader, &mut body).unwrap_err();
        assert!(
            format!("{eof:#}").contains("closed the connection"),
            "{eof:#}"
        );
        // Cut off in the middle of a head or of a body.
        let mut cut = Cursor::new(&b"HTTP/1.1 200 OK\r\nContent-Le"[..]);
        assert!(read_response(&mut cut, &mut body).is_err());
        let mut short = Cursor::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..]);
        assert!(read_response(&mut short, &mut body).is_err());
    }

    #[test]
    fn finds_the_accepted_count() {
        assert_eq!(
            accepted_count(br#"{"accepted":1000,"duplicates":0,"rejected":[],"results":[]}"#),
            Some(1000)
        );
        assert_eq!(accepted_count(br#"{ "accepted" : 2 }"#), Some(2));
        assert_eq!(accepted_count(br#"{"accepted":0,"duplicates":1}"#), Some(0));
        assert_eq!(
            accepted_count(br#"{"error":{"code":"unauthorized"}}"#),
            None
        );
        assert_eq!(accepted_count(br#"{"accepted":"x"}"#), None);
        assert_eq!(accepted_count(b""), None);
    }

    #[test]
    fn generated_events_are_valid_unique_json() {
        let mut seen = std::collections::HashSet::new();
        for (phase, client, seq) in [
            ('s', 0, 0),
            ('s', 0, 1),
            ('s', 1, 0),
            ('b', 0, 0),
            ('s', 15, 2_678_399),
        ] {
            let mut out = String::new();
            push_deployment(&mut out, phase, client, seq);
            let value: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(value["type"], "deployment");
            let sha = value["sha"].as_str().unwrap();
            assert_eq!(sha.len(), 40);
            assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
            let finished = value["finished_at"].as_str().unwrap();
            assert_eq!(finished.len(), "2024-05-01T00:00:00Z".len(), "{finished}");
            assert!(seen.insert(value["id"].as_str().unwrap().to_owned()));
        }
    }

    #[test]
    fn parses_process_cpu_from_proc_stat() {
        let stat = "4242 (loopwise (x) b) S 1 2 3 4 5 6 7 8 9 10 250 37 20 0 1 0 100";
        assert_eq!(parse_process_cpu(stat), Some(Duration::from_millis(2870)));
        assert_eq!(parse_process_cpu("garbage"), None);
    }

    #[test]
    fn parses_machine_cpu_from_proc_stat() {
        let stat = "cpu  100 5 20 1000 7 1 2 30 0 0\ncpu0 50 2 10 500 3 0 1 15 0 0\nintr 1\n";
        assert_eq!(
            parse_machine_cpu(stat),
            Some(MachineCpu {
                busy: Duration::from_millis(1280),
                idle: Duration::from_millis(10000),
                iowait: Duration::from_millis(70),
                steal: Duration::from_millis(300),
            })
        );
        // Old kernels without a steal column.
        assert_eq!(
            parse_machine_cpu("cpu 1 2 3 4\n").map(|m| m.steal),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_machine_cpu("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_machine_cpu("cpu 1 x 3 4\n"), None);
    }

    #[test]
    fn bad_options_and_missing_binary_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            loopwise: dir.path().join("no-such-loopwise"),
            clients: 16,
            seconds: 1.0,
            warmup: 0.0,
            batch: 1000,
            batch_clients: 4,
            min_requests_per_second: 5000.0,
            max_p99: ms(50),
            min_events_per_second: 100_000.0,
        };
        assert!(run(&opts).is_err());
        assert!(
            run(&Options {
                clients: 0,
                ..opts.clone()
            })
            .is_err()
        );
        assert!(run(&Options { batch: 1, ..opts }).is_err());
    }
}
