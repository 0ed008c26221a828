//! A real headless Chromium for browser tests of the dashboard (feature `browser`).
//!
//! A small synchronous client of the Chrome DevTools Protocol (CDP): one websocket per page
//! (`tungstenite` over a blocking `TcpStream`, no TLS, no async runtime), JSON messages with
//! `serde_json`. Every wait has a deadline (default [`DEFAULT_TIMEOUT`]) and its error says what
//! was awaited. Events that arrive while a call or a wait reads the socket are recorded as they
//! come: console errors, JavaScript exceptions, dialogs (dismissed at once) and page loads.
//!
//! ```no_run
//! use loopwise_testkit::browser::require_browser;
//!
//! let Some(browser) = require_browser() else { return }; // SKIPPED without Chromium (not in CI)
//! let mut page = browser.new_page().unwrap();
//! page.goto("http://127.0.0.1:8080/").unwrap();
//! assert_eq!(page.text("h1").unwrap(), "Deployments");
//! page.click("a.sort-by-lead-time").unwrap(); // waits for the new page's load
//! assert!(page.url().unwrap().contains("sort=lead_time"));
//! page.screenshot("dashboard-sorted.png").unwrap(); // into artifacts_dir()
//! assert_eq!(page.console_errors().unwrap(), Vec::<String>::new());
//! assert_eq!(page.dialogs_opened().unwrap(), Vec::<String>::new());
//! ```

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long any single wait (launch, a DevTools call, a page load) may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The viewport of a new page, in CSS pixels at device scale factor 1: a 1280 px laptop
/// screen, the width every page must fit and every screenshot is taken at.
pub const DEFAULT_VIEWPORT: (u32, u32) = (1280, 900);

/// How long an action that may or may not navigate (a click the driver cannot classify, a key
/// press) waits for a navigation to start before it returns without one.
pub const DEFAULT_NAVIGATION_GRACE: Duration = Duration::from_millis(300);

/// The names looked up on `PATH` when `LOOPWISE_CHROMIUM` is not set, in this order.
pub const EXECUTABLE_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// What went wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No Chromium executable could be found.
    #[error("no chromium found: {0}")]
    NotFound(String),
    /// Chromium did not start or exited before it offered DevTools.
    #[error("chromium failed to start: {0}")]
    Launch(String),
    /// A wait ran past its deadline.
    #[error("timed out after {after:?} waiting for {awaited}")]
    Timeout {
        /// What was awaited.
        awaited: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The DevTools websocket failed or closed (Chromium gone, for instance).
    #[error("DevTools connection: {0}")]
    Connection(String),
    /// Chromium answered a DevTools method with an error.
    #[error("DevTools method {method} failed: {message}")]
    Protocol {
        /// The CDP method, such as `Page.navigate`.
        method: String,
        /// Chromium's message (or the navigation's `errorText`).
        message: String,
    },
    /// The page's JavaScript threw (or rejected) while the driver evaluated something.
    #[error("JavaScript exception: {0}")]
    Javascript(String),
    /// An element was missing or could not be acted on.
    #[error("element {selector:?}: {problem}")]
    Element {
        /// The CSS selector.
        selector: String,
        /// Why the action could not happen.
        problem: String,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this module.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BrowserError {
    move |source| BrowserError::Io {
        context: context.into(),
        source,
    }
}

/// True when `CI` is set to a non-empty value: browser tests must then run, never skip.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// The Chromium to run: `$LOOPWISE_CHROMIUM` (a path, or a name looked up on `PATH`), else the
/// first of [`EXECUTABLE_NAMES`] on `PATH`. `Ok(None)` when none is there; an error when
/// `LOOPWISE_CHROMIUM` names something that is not an executable, since that is a mistake to
/// report rather than a machine without Chromium.
pub fn find_chromium() -> Result<Option<PathBuf>> {
    if let Some(value) = std::env::var_os("LOOPWISE_CHROMIUM").filter(|value| !value.is_empty()) {
        let program = PathBuf::from(value);
        return match resolve_program(&program) {
            Some(path) => Ok(Some(path)),
            None => Err(BrowserError::NotFound(format!(
                "LOOPWISE_CHROMIUM={} is neither an executable file nor a command on PATH",
                program.display()
            ))),
        };
    }
    Ok(EXECUTABLE_NAMES
        .iter()
        .find_map(|name| resolve_program(Path::new(name))))
}

/// A path with a directory part is taken as is; a bare name is looked up on `PATH`.
fn resolve_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A launched browser for a test, or `None` after printing `SKIPPED: no chromium found (set
/// LOOPWISE_CHROMIUM)` when this machine has none.
///
/// Test helper: panics when `CI` is set and no Chromium is found (CI must run the browser
/// tests), when `LOOPWISE_CHROMIUM` names no executable, and when Chromium is there but fails to
/// launch — all of which are failures, not reasons to skip.
pub fn require_browser() -> Option<Browser> {
    match find_chromium() {
        Ok(Some(_)) => {}
        Ok(None) if in_ci() => panic!(
            "CI is set but no chromium was found (looked for {} on PATH): install Debian's \
             `chromium` package or set LOOPWISE_CHROMIUM",
            EXECUTABLE_NAMES.join(", ")
        ),
        Ok(None) => {
            eprintln!("SKIPPED: no chromium found (set LOOPWISE_CHROMIUM)");
            return None;
        }
        Err(error) => panic!("{error}"),
    }
    match Browser::launch() {
        Ok(browser) => Some(browser),
        Err(error) => panic!("chromium was found but could not be driven: {error}"),
    }
}

/// Launches a browser, or returns from the calling test after saying it skipped (see
/// [`browser::require_browser`](crate::browser::require_browser)).
#[macro_export]
macro_rules! require_browser {
    () => {
        match $crate::browser::require_browser() {
            Some(browser) => browser,
            None => return,
        }
    };
}

/// Where test artifacts such as screenshots go: `$LOOPWISE_ARTIFACTS`, else
/// `<workspace>/target/test-artifacts/`; created if missing.
///
/// Test helper: panics (naming the directory) when it cannot be created.
pub fn artifacts_dir() -> PathBuf {
    create_artifacts_dir().unwrap_or_else(|error| panic!("{error}"))
}

fn create_artifacts_dir() -> Result<PathBuf> {
    let directory = match std::env::var_os("LOOPWISE_ARTIFACTS").filter(|v| !v.is_empty()) {
        Some(directory) => PathBuf::from(directory),
        None => {
            normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts"))
        }
    };
    std::fs::create_dir_all(&directory).map_err(io_error(format!(
        "create the artifacts directory {}",
        directory.display()
    )))?;
    Ok(directory)
}

/// Drops `.` and folds `..` so paths in messages read plainly (no symlinks are resolved).
fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// How to launch Chromium; [`LaunchOptions::default`] is what [`Browser::launch`] uses.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// The executable; `None` finds it with [`find_chromium`].
    pub executable: Option<PathBuf>,
    /// The timeout of every wait of the browser and of its pages.
    pub timeout: Duration,
    /// `--window-size`, and the viewport new pages get.
    pub window_size: (u32, u32),
    /// More command-line switches, after the driver's own.
    pub extra_args: Vec<String>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            executable: None,
            timeout: DEFAULT_TIMEOUT,
            window_size: DEFAULT_VIEWPORT,
            extra_args: Vec::new(),
        }
    }
}

/// The Chromium child process and its profile directory: killed (if still running), reaped and
/// removed when dropped, so an early error in `launch` leaves nothing behind either.
#[derive(Debug)]
struct ChromiumProcess {
    child: Child,
    profile: PathBuf,
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Chromium's helper processes may still be finishing writes for a moment.
        for _ in 0..20 {
            match std::fs::remove_dir_all(&self.profile) {
                Err(error) if error.kind() != ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => break,
            }
        }
    }
}

/// A headless Chromium with a profile of its own. Dropping it closes the browser (killing it if
/// it does not exit within 5 s) and removes the profile directory.
#[derive(Debug)]
pub struct Browser {
    // Declared before `process` so the connection closes before the process is reaped.
    connection: Arc<Mutex<Connection>>,
    process: ChromiumProcess,
    /// `host:port` of the DevTools endpoint.
    address: String,
    timeout: Duration,
    viewport: (u32, u32),
}

/// Makes a fresh, unused profile directory name (process id, counter and clock, so parallel
/// tests and test processes never share one).
fn new_profile_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    loop {
        let directory = std::env::temp_dir().join(format!(
            "loopwise-chromium-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&directory) {
            Ok(()) => return Ok(directory),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(io_error(format!(
                    "create the chromium profile directory {}",
                    directory.display()
                ))(error));
            }
        }
    }
}

impl Browser {
    /// Whether a Chromium executable can be found (see [`find_chromium`]).
    pub fn available() -> bool {
        matches!(find_chromium(), Ok(Some(_)))
    }

    /// Launches headless Chromium with the default [`LaunchOptions`].
    pub fn launch() -> Result<Browser> {
        Browser::launch_with(LaunchOptions::default())
    }

    /// Launches headless Chromium: a fresh profile in a temporary directory, DevTools on a port
    /// the system picks (read back from Chromium's `DevTools listening on ws://…` line).
    pub fn launch_with(options: LaunchOptions) -> Result<Browser> {
        let executable = match options.executable {
            Some(executable) => executable,
            None => find_chromium()?.ok_or_else(|| {
                BrowserError::NotFound(format!(
                    "none of {} is on PATH (set LOOPWISE_CHROMIUM)",
                    EXECUTABLE_NAMES.join(", ")
                ))
            })?,
        };
        let profile = new_profile_dir()?;
        let (width, height) = options.window_size;
        let spawned = Command::new(&executable)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                // Small /dev/shm in containers crashes renderers otherwise.
                "--disable-dev-shm-usage",
                // Screenshots then have the viewport's exact width, with no scrollbar strip.
                "--hide-scrollbars",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-breakpad",
                "--mute-audio",
                "--password-store=basic",
                "--use-mock-keychain",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .args(&options.extra_args)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(io_error(format!("start {}", executable.display()))(error));
            }
        };
        let stderr = child.stderr.take();
        let mut process = ChromiumProcess { child, profile };
        let lines = drain_stderr(stderr)?;
        let browser_url = wait_for_devtools_url(&mut process, &lines, options.timeout)?;
        let address = browser_url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| {
                BrowserError::Launch(format!("unexpected DevTools address {browser_url:?}"))
            })?
            .to_string();
        let connection = Connection::open(&browser_url, options.timeout)?;
        Ok(Browser {
            connection: Arc::new(Mutex::new(connection)),
            process,
            address,
            timeout: options.timeout,
            viewport: options.window_size,
        })
    }

    /// The browser process's id (gone once the browser is dropped).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// The profile directory (removed once the browser is dropped).
    pub fn profile_dir(&self) -> &Path {
        &self.process.profile
    }

    /// Opens a new tab on `about:blank` with the default viewport, with the page, runtime and
    /// log events it records already enabled.
    pub fn new_page(&self) -> Result<Page> {
        let created = self.call("Target.createTarget", json!({ "url": "about:blank" }))?;
        let target_id = created["targetId"]
            .as_str()
            .ok_or_else(|| protocol_shape("Target.createTarget", &created))?
            .to_string();
        let url = format!("ws://{}/devtools/page/{target_id}", self.address);
        let page = Connection::open(&url, self.timeout).and_then(|connection| {
            Page::attach(
                connection,
                Arc::clone(&self.connection),
                target_id.clone(),
                self.timeout,
                self.viewport,
            )
        });
        if page.is_err() {
            let _ = self.call("Target.closeTarget", json!({ "targetId": target_id }));
        }
        page
    }

    /// Calls a browser-level DevTools method (events on this connection are not used).
    fn call(&self, method: &str, params: Value) -> Result<Value> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| BrowserError::Connection("browser connection poisoned".into()))?;
        let id = connection.send(method, params)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match connection.receive(deadline)? {
                Some(Incoming::Response { id: got, outcome }) if got == id => {
                    return outcome.map_err(|message| BrowserError::Protocol {
                        method: method.to_string(),
                        message,
                    });
                }
                Some(_) => {}
                None => {
                    return Err(BrowserError::Timeout {
                        awaited: format!("chromium's answer to {method}"),
                        after: self.timeout,
                    });
                }
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely first so Chromium takes its helper processes down with it; the
        // `ChromiumProcess` field kills whatever is left afterwards.
        if let Ok(mut connection) = self.connection.lock() {
            let _ = connection.send("Browser.close", json!({}));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.process.child.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads Chromium's stderr on a thread of its own for as long as the process runs, so it can
/// never block on a full pipe; lines go to the receiver until it is dropped.
fn drain_stderr(stderr: Option<std::process::ChildStderr>) -> Result<mpsc::Receiver<String>> {
    let (sender, receiver) = mpsc::channel();
    let stderr =
        stderr.ok_or_else(|| BrowserError::Launch("chromium's stderr was not piped".into()))?;
    std::thread::Builder::new()
        .name("chromium-stderr".into())
        .spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            let mut forwarding = true;
            // Bytes, not `lines()`: a non-UTF-8 line must not stop the draining.
            while reader
                .read_until(b'\n', &mut line)
                .is_ok_and(|read| read > 0)
            {
                if forwarding {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    forwarding = sender.send(text).is_ok();
                }
                line.clear();
            }
        })
        .map_err(io_error("start the thread reading chromium's stderr"))?;
    Ok(receiver)
}

fn wait_for_devtools_url(
    process: &mut ChromiumProcess,
    lines: &mpsc::Receiver<String>,
    timeout: Duration,
) -> Result<String> {
    const PREFIX: &str = "DevTools listening on ";
    let deadline = Instant::now() + timeout;
    let mut seen: VecDeque<String> = VecDeque::new();
    let tail = |seen: &VecDeque<String>| Vec::from(seen.clone()).join("\n");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining) {
            Ok(line) => {
                if let Some(position) = line.find(PREFIX) {
                    return Ok(line[position + PREFIX.len()..].trim().to_string());
                }
                if seen.len() == 30 {
                    seen.pop_front();
                }
                seen.push_back(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stderr closed: chromium is exiting; give it a moment to be reaped.
                let mut status = process.child.try_wait();
                for _ in 0..100 {
                    if !matches!(status, Ok(None)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    status = process.child.try_wait();
                }
                return Err(BrowserError::Launch(format!(
                    "chromium exited ({status:?}) before offering DevTools; its stderr ended \
                     with:\n{}",
                    tail(&seen)
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(BrowserError::Timeout {
                    awaited: format!(
                        "chromium to print its DevTools address; its stderr so far ended \
                         with:\n{}",
                        tail(&seen)
                    ),
                    after: timeout,
                });
            }
        }
    }
}

/// A message from Chromium: the answer to a call, or an event.
#[derive(Debug)]
enum Incoming {
    Response {
        id: u64,
        outcome: std::result::Result<Value, String>,
    },
    Event {
        method: String,
        params: Value,
    },
}

/// One DevTools websocket.
#[derive(Debug)]
struct Connection {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

impl Connection {
    fn open(url: &str, timeout: Duration) -> Result<Connection> {
        let address = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| BrowserError::Connection(format!("not a ws:// address: {url}")))?;
        let stream =
            TcpStream::connect(address).map_err(io_error(format!("connect to {address}")))?;
        let _ = stream.set_nodelay(true);
        // The handshake reads with this timeout; `receive` sets its own per deadline.
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(io_error("set socket timeouts"))?;
        // Full-page screenshots arrive as one large base64 message.
        let config = WebSocketConfig::default()
            .max_message_size(Some(1 << 30))
            .max_frame_size(Some(1 << 30));
        let (socket, _) = tungstenite::client::client_with_config(url, stream, Some(config))
            .map_err(|error| {
                BrowserError::Connection(format!("websocket handshake with {url}: {error}"))
            })?;
        Ok(Connection { socket, next_id: 0 })
    }

    /// Sends a call without waiting for its answer; returns its id.
    fn send(&mut self, method: &str, params: Value) -> Result<u64> {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(Message::text(text))
            .map_err(|error| BrowserError::Connection(format!("send {method}: {error}")))?;
        Ok(id)
    }

    /// The next message, or `None` once `deadline` has passed.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Incoming>> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            self.socket
                .get_mut()
                .set_read_timeout(Some(remaining))
                .map_err(io_error("set the socket's read timeout"))?;
            match self.socket.read() {
                Ok(Message::Text(text)) => return parse_incoming(text.as_str()).map(Some),
                Ok(Message::Close(frame)) => {
                    return Err(BrowserError::Connection(format!(
                        "chromium closed the connection ({frame:?})"
                    )));
                }
                Ok(_) => {}
                // A read timeout: tungstenite keeps any partial frame, so reading again resumes.
                Err(tungstenite::Error::Io(error))
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(error) => return Err(BrowserError::Connection(error.to_string())),
            }
        }
    }
}

fn parse_incoming(text: &str) -> Result<Incoming> {
    let mut message: Value = serde_json::from_str(text)
        .map_err(|error| BrowserError::Connection(format!("unreadable message: {error}")))?;
    if let Some(id) = message["id"].as_u64() {
        let outcome = match message.get("error") {
            Some(error) => Err(format!(
                "{} (code {})",
                error["message"].as_str().unwrap_or("no message"),
                error["code"]
            )),
            None => Ok(message["result"].take()),
        };
        return Ok(Incoming::Response { id, outcome });
    }
    match message["method"].as_str() {
        Some(method) => Ok(Incoming::Event {
            method: method.to_string(),
            params: message["params"].take(),
        }),
        None => Err(BrowserError::Connection(format!(
            "message with neither id nor method: {text}"
        ))),
    }
}

fn protocol_shape(method: &str, answer: &Value) -> BrowserError {
    BrowserError::Protocol {
        method: method.to_string(),
        message: format!("unexpected answer {answer}"),
    }
}

/// What the driver knows about the main frame's loading, from page events.
#[derive(Debug, Default)]
struct LoadState {
    /// A navigation of the main frame started since the current action began.
    started: bool,
    /// The main frame stopped loading after `started` (a load, or a cancelled navigation).
    stopped: bool,
    /// Main-frame `load` lifecycle events seen so far.
    loads: u64,
    /// The loader whose `load` came last.
    last_loaded_loader: Option<String>,
}

/// One tab. Every method reads the page's DevTools events as they arrive, so it takes
/// `&mut self`. The tab is closed when the `Page` is dropped.
#[derive(Debug)]
pub struct Page {
    connection: Connection,
    browser: Arc<Mutex<Connection>>,
    target_id: String,
    main_frame: String,
    timeout: Duration,
    navigation_grace: Duration,
    load: LoadState,
    console_errors: Vec<String>,
    dialogs: Vec<String>,
}

/// Installs (once per document) the listeners that tell whether the last click or submit will
/// navigate, and forgets the previous action's events.
const PROBE_ARM: &str = r#"(() => {
  if (!window.__loopwiseProbe) {
    const probe = { click: null, submit: null, navigate: null };
    addEventListener('click', (e) => { probe.click = e; }, true);
    addEventListener('submit', (e) => { probe.submit = e; }, true);
    if (window.navigation) navigation.addEventListener('navigate', (e) => { probe.navigate = e; });
    window.__loopwiseProbe = probe;
  }
  Object.assign(window.__loopwiseProbe, { click: null, submit: null, navigate: null });
})()"#;

/// After the action: "yes" when a form submission or a link click went through that navigates
/// this frame to another document; "unknown" otherwise (a script may still navigate). Read
/// after the events were fully dispatched, so `defaultPrevented` is final. A navigation the
/// page cancelled or intercepted (Navigation API: the URL is already the destination's) is
/// "unknown" too: it will bring no load event.
const PROBE_READ: &str = r#"(() => {
  const probe = window.__loopwiseProbe;
  if (!probe) return 'unknown';
  const nav = probe.navigate;
  if (nav && (nav.defaultPrevented || location.href === nav.destination.url)) return 'unknown';
  const self = (target) => !target || target === '_self';
  const submit = probe.submit;
  if (submit && !submit.defaultPrevented) {
    const form = submit.target, by = submit.submitter;
    const method = ((by && by.getAttribute('formmethod')) || form.method || 'get').toLowerCase();
    const target = by && by.hasAttribute('formtarget') ? by.getAttribute('formtarget') : form.target;
    if (method !== 'dialog' && self(target)) return 'yes';
  }
  const click = probe.click;
  if (click && !click.defaultPrevented && click.target instanceof Element) {
    const link = click.target.closest('a[href], area[href]');
    if (link && self(link.target) && !link.hasAttribute('download')) {
      const to = new URL(link.href, location.href);
      if (to.protocol === 'javascript:') return 'unknown';
      const sameDocument = to.hash !== '' && to.href.split('#')[0] === location.href.split('#')[0];
      return sameDocument ? 'unknown' : 'yes';
    }
  }
  return 'unknown';
})()"#;

impl Page {
    fn attach(
        connection: Connection,
        browser: Arc<Mutex<Connection>>,
        target_id: String,
        timeout: Duration,
        viewport: (u32, u32),
    ) -> Result<Page> {
        let mut page = Page {
            connection,
            browser,
            // A page target's main frame has the target's id.
            main_frame: target_id.clone(),
            target_id,
            timeout,
            navigation_grace: DEFAULT_NAVIGATION_GRACE,
            load: LoadState::default(),
            console_errors: Vec::new(),
            dialogs: Vec::new(),
        };
        page.call("Page.enable", json!({}))?;
        page.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true }))?;
        page.call("Runtime.enable", json!({}))?;
        page.call("Log.enable", json!({}))?;
        let tree = page.call("Page.getFrameTree", json!({}))?;
        if let Some(frame) = tree["frameTree"]["frame"]["id"].as_str() {
            page.main_frame = frame.to_string();
        }
        page.set_viewport(viewport.0, viewport.1)?;
        Ok(page)
    }

    /// Sets the timeout of this page's waits (default: the browser's, [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sets how long [`click`](Page::click) and [`press_key`](Page::press_key) wait for a
    /// navigation they cannot predict to start (default [`DEFAULT_NAVIGATION_GRACE`]).
    pub fn set_navigation_grace(&mut self, grace: Duration) {
        self.navigation_grace = grace;
    }

    /// Calls a DevTools method of this page and returns its result, recording the events that
    /// arrive meanwhile. For what the other methods do not cover.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.connection.send(method, params)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.connection.receive(deadline)? {
                Some(Incoming::Response { id: got, outcome }) if got == id => {
                    return outcome.map_err(|message| BrowserError::Protocol {
                        method: method.to_string(),
                        message,
                    });
                }
                // Answers to calls sent without waiting (dialog dismissals).
                Some(Incoming::Response { .. }) => {}
                Some(Incoming::Event { method, params }) => self.on_event(&method, &params)?,
                None => {
                    return Err(BrowserError::Timeout {
                        awaited: format!("chromium's answer to {method}"),
                        after: self.timeout,
                    });
                }
            }
        }
    }

    fn on_event(&mut self, method: &str, params: &Value) -> Result<()> {
        let main = |frame: &Value| frame.as_str() == Some(self.main_frame.as_str());
        match method {
            "Page.frameStartedLoading" if main(&params["frameId"]) => {
                self.load.started = true;
                self.load.stopped = false;
            }
            "Page.frameStoppedLoading" if main(&params["frameId"]) => self.load.stopped = true,
            "Page.lifecycleEvent" if params["name"] == "load" && main(&params["frameId"]) => {
                self.load.loads += 1;
                self.load.last_loaded_loader = params["loaderId"].as_str().map(str::to_string);
            }
            "Page.frameNavigated" if params["frame"]["parentId"].is_null() => {
                if let Some(frame) = params["frame"]["id"].as_str() {
                    self.main_frame = frame.to_string();
                }
            }
            "Page.javascriptDialogOpening" => {
                self.dialogs.push(format!(
                    "{}: {}",
                    params["type"].as_str().unwrap_or("dialog"),
                    params["message"].as_str().unwrap_or_default()
                ));
                // The page is blocked until the dialog goes; its answer is read (and ignored)
                // by whichever wait comes next.
                self.connection
                    .send("Page.handleJavaScriptDialog", json!({ "accept": false }))?;
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let mut entry = exception_message(details);
                if let Some(url) = details["url"].as_str().filter(|url| !url.is_empty()) {
                    let line = details["lineNumber"].as_u64().map_or(0, |line| line + 1);
                    entry.push_str(&format!(" (at {url}:{line})"));
                }
                self.console_errors.push(entry);
            }
            "Runtime.consoleAPICalled"
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                let arguments: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(remote_object_text)
                    .collect();
                self.console_errors.push(format!(
                    "console.{}: {}",
                    params["type"].as_str().unwrap_or("error"),
                    arguments.join(" ")
                ));
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                let entry = &params["entry"];
                let mut text = format!(
                    "{}: {}",
                    entry["source"].as_str().unwrap_or("log"),
                    entry["text"].as_str().unwrap_or_default()
                );
                if let Some(url) = entry["url"].as_str().filter(|url| !url.is_empty()) {
                    text.push_str(&format!(" ({url})"));
                }
                self.console_errors.push(text);
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads events until `done` holds; `false` when `deadline` passed first.
    fn pump_until(&mut self, deadline: Instant, done: impl Fn(&LoadState) -> bool) -> Result<bool> {
        loop {
            if done(&self.load) {
                return Ok(true);
            }
            match self.connection.receive(deadline)? {
                Some(Incoming::Event { method, params }) => self.on_event(&method, &params)?,
                Some(Incoming::Response { .. }) => {}
                None => return Ok(false),
            }
        }
    }

    fn wait_load(&mut self, awaited: String, done: impl Fn(&LoadState) -> bool) -> Result<()> {
        if self.pump_until(Instant::now() + self.timeout, done)? {
            Ok(())
        } else {
            Err(BrowserError::Timeout {
                awaited,
                after: self.timeout,
            })
        }
    }

    /// Navigates to `url` and waits for its load event. A failed navigation (refused
    /// connection, unknown host) is an error; an HTTP error status is not, as in a browser.
    pub fn goto(&mut self, url: &str) -> Result<()> {
        self.load.started = false;
        let answer = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(error) = answer["errorText"]
            .as_str()
            .filter(|error| !error.is_empty())
        {
            return Err(BrowserError::Protocol {
                method: "Page.navigate".into(),
                message: format!("{url}: {error}"),
            });
        }
        // No loader: a same-document navigation (a fragment), which has no load event.
        let Some(loader) = answer["loaderId"].as_str().map(str::to_string) else {
            return Ok(());
        };
        self.wait_load(format!("the load event of {url}"), |load| {
            load.last_loaded_loader.as_deref() == Some(loader.as_str())
        })
    }

    /// The page's current URL.
    pub fn url(&mut self) -> Result<String> {
        let value = self.evaluate("location.href")?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Evaluates a JavaScript expression in the page and returns its value as JSON, awaiting a
    /// promise. `undefined` is `Null`; `NaN`, `Infinity`, `-0` and bigints come as their text.
    /// A thrown exception or rejected promise is [`BrowserError::Javascript`] with its message.
    pub fn evaluate(&mut self, expression: &str) -> Result<Value> {
        let answer = self.call(
            "Runtime.evaluate",
            json!({
                "expression": expression,
                "returnByValue": true,
                "awaitPromise": true,
                "userGesture": true,
            }),
        )?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(BrowserError::Javascript(exception_message(details)));
        }
        let result = &answer["result"];
        if let Some(text) = result["unserializableValue"].as_str() {
            return Ok(Value::String(text.to_string()));
        }
        Ok(result["value"].clone())
    }

    /// Polls `expression` (every 50 ms) until it is truthy and returns its value; times out
    /// with the expression in the error.
    pub fn wait_for(&mut self, expression: &str) -> Result<Value> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let value = self.evaluate(expression)?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(flag) => *flag,
                Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
                Value::String(text) => !text.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    awaited: format!("`{expression}` to become truthy"),
                    after: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `body` (a JavaScript function body seeing `el`, the first match of `selector`, and
    /// `fail(problem)`) and returns what it returns.
    fn with_element(&mut self, selector: &str, body: &str) -> Result<Value> {
        let expression = format!(
            "(() => {{
  const el = document.querySelector({selector_js});
  if (!el) return {{ problem: 'no element matches it' }};
  const fail = (problem) => {{ throw {{ loopwiseProblem: problem }}; }};
  try {{ return {{ value: (() => {{ {body} }})() }}; }}
  catch (e) {{ if (e && e.loopwiseProblem) return {{ problem: e.loopwiseProblem }}; throw e; }}
}})()",
            selector_js = js_string(selector)
        );
        let mut answer = self.evaluate(&expression)?;
        if let Some(problem) = answer["problem"].as_str() {
            return Err(BrowserError::Element {
                selector: selector.to_string(),
                problem: problem.to_string(),
            });
        }
        Ok(answer["value"].take())
    }

    /// The rendered text (`innerText`, trimmed) of the first element matching `selector`.
    pub fn text(&mut self, selector: &str) -> Result<String> {
        let value = self.with_element(
            selector,
            "return (el.innerText ?? el.textContent ?? '').trim();",
        )?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// The rendered texts (trimmed) of every element matching `selector`, in document order:
    /// a table column, for instance.
    pub fn texts(&mut self, selector: &str) -> Result<Vec<String>> {
        let value = self.evaluate(&format!(
            "Array.from(document.querySelectorAll({}), (el) => (el.innerText ?? el.textContent ?? '').trim())",
            js_string(selector)
        ))?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .map(|text| text.as_str().unwrap_or_default().to_string())
            .collect())
    }

    /// The attribute `name` of the first element matching `selector`; `None` when it lacks it.
    pub fn attribute(&mut self, selector: &str, name: &str) -> Result<Option<String>> {
        let value = self.with_element(
            selector,
            &format!("return el.getAttribute({});", js_string(name)),
        )?;
        Ok(value.as_str().map(str::to_string))
    }

    /// How many elements match `selector`.
    pub fn count(&mut self, selector: &str) -> Result<usize> {
        let value = self.evaluate(&format!(
            "document.querySelectorAll({}).length",
            js_string(selector)
        ))?;
        Ok(value.as_u64().unwrap_or(0) as usize)
    }

    /// Clicks the first element matching `selector` as a user would: scrolls it into view and
    /// presses and releases the left mouse button at its centre (`Input.dispatchMouseEvent`).
    /// Fails when the element has no size or something else covers its centre. When the click
    /// navigates, waits for the new page's load event.
    pub fn click(&mut self, selector: &str) -> Result<()> {
        let point = self.with_element(
            selector,
            "el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) fail('has no size (hidden?)');
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (!hit || !(hit === el || el.contains(hit))) {
    fail('is covered at its centre by ' + (hit ? hit.outerHTML.slice(0, 80) : 'nothing (off screen?)'));
  }
  return { x, y };",
        )?;
        let (x, y) = (
            point["x"].as_f64().unwrap_or(0.0),
            point["y"].as_f64().unwrap_or(0.0),
        );
        self.before_action()?;
        let loads = self.load.loads;
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let mut event = json!({ "type": kind, "x": x, "y": y, "buttons": buttons });
            if kind != "mouseMoved" {
                event["button"] = json!("left");
                event["clickCount"] = json!(1);
            }
            self.call("Input.dispatchMouseEvent", event)?;
        }
        self.after_action(loads, &format!("clicking {selector:?}"))
    }

    /// Presses and releases a key (`Input.dispatchKeyEvent`) in the focused element: a key name
    /// such as `Tab`, `Enter`, `Escape`, `Backspace`, `Delete`, `Space`, `ArrowDown`, `Home`,
    /// `PageUp`, or one character, optionally after modifiers: `Shift+Tab`, `Control+a`. When
    /// the key navigates (Enter in a form), waits for the new page's load event.
    pub fn press_key(&mut self, key: &str) -> Result<()> {
        let stroke = parse_key(key).ok_or_else(|| BrowserError::Element {
            selector: "document.activeElement".into(),
            problem: format!("unknown key {key:?}"),
        })?;
        self.before_action()?;
        let loads = self.load.loads;
        let mut down = json!({
            "type": if stroke.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": stroke.key,
            "code": stroke.code,
            "windowsVirtualKeyCode": stroke.key_code,
            "nativeVirtualKeyCode": stroke.key_code,
            "modifiers": stroke.modifiers,
        });
        if let Some(text) = &stroke.text {
            down["text"] = json!(text);
            down["unmodifiedText"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down)?;
        self.call(
            "Input.dispatchKeyEvent",
            json!({
                "type": "keyUp",
                "key": stroke.key,
                "code": stroke.code,
                "windowsVirtualKeyCode": stroke.key_code,
                "nativeVirtualKeyCode": stroke.key_code,
                "modifiers": stroke.modifiers,
            }),
        )?;
        self.after_action(loads, &format!("pressing {key}"))
    }

    /// Focuses the first element matching `selector`, empties it and types `text` into it
    /// (`Input.insertText`, which fires `input` events as typing does).
    pub fn fill(&mut self, selector: &str, text: &str) -> Result<()> {
        self.with_element(
            selector,
            "el.scrollIntoView({ block: 'center', behavior: 'instant' });
  el.focus();
  if (document.activeElement !== el) fail('cannot take focus');
  if ('value' in el) el.value = '';
  else if (el.isContentEditable) document.execCommand('selectAll');",
        )?;
        self.call("Input.insertText", json!({ "text": text }))?;
        Ok(())
    }

    /// Chooses the option whose value is `value` in the `<select>` matching `selector`, firing
    /// `input` and `change` as a user's choice does.
    pub fn select_option(&mut self, selector: &str, value: &str) -> Result<()> {
        self.with_element(
            selector,
            &format!(
                "const value = {};
  if (!(el instanceof HTMLSelectElement)) fail('is not a <select>');
  if (!Array.from(el.options).some((o) => o.value === value)) fail('has no option ' + JSON.stringify(value));
  el.value = value;
  el.dispatchEvent(new Event('input', {{ bubbles: true }}));
  el.dispatchEvent(new Event('change', {{ bubbles: true }}));",
                js_string(value)
            ),
        )?;
        Ok(())
    }

    /// Submits the form matching `form_selector` (or the form around the matched element) as
    /// its submit button would (`requestSubmit`: validation and `submit` handlers run), and
    /// waits for the resulting page's load event.
    pub fn submit(&mut self, form_selector: &str) -> Result<()> {
        self.before_action()?;
        let loads = self.load.loads;
        self.with_element(
            form_selector,
            "const form = el instanceof HTMLFormElement ? el : el.closest('form');
  if (!form) fail('is not a form, nor inside one');
  form.requestSubmit();",
        )?;
        self.after_action(loads, &format!("submitting {form_selector:?}"))
    }

    fn before_action(&mut self) -> Result<()> {
        self.load.started = false;
        self.evaluate(PROBE_ARM)?;
        Ok(())
    }

    /// Waits for the load of the navigation an action caused, if it caused one: certainly
    /// when the probe saw a link click or form submission go through, otherwise when a
    /// navigation starts within the grace period.
    fn after_action(&mut self, loads_before: u64, action: &str) -> Result<()> {
        // Chromium holds this evaluation back while a navigation is in flight and runs it in
        // the new document, where the probe is gone: by then `started` is set. The probe
        // matters when the navigation had not reached the browser yet (a queued submission).
        let navigates = matches!(self.evaluate(PROBE_READ), Ok(Value::String(s)) if s == "yes");
        if !navigates && !self.load.started {
            let grace = Instant::now() + self.navigation_grace;
            self.pump_until(grace, |load| load.started)?;
        }
        if navigates || self.load.started {
            self.wait_load(format!("the page load after {action}"), |load| {
                load.loads > loads_before || (load.started && load.stopped)
            })?;
        }
        Ok(())
    }

    /// Sets the viewport (`Emulation.setDeviceMetricsOverride`, device scale factor 1, not
    /// mobile), in CSS pixels.
    pub fn set_viewport(&mut self, width: u32, height: u32) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        Ok(())
    }

    /// Saves a full-page PNG screenshot (the whole document, not only the viewport). A relative
    /// `path` is taken inside [`artifacts_dir`]; parent directories are created. Returns the
    /// file written.
    pub fn screenshot(&mut self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            create_artifacts_dir()?.join(path)
        };
        let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            return Err(protocol_shape("Page.getLayoutMetrics", &metrics));
        };
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "fromSurface": true,
                "clip": { "x": 0, "y": 0, "width": width.ceil(), "height": height.ceil(), "scale": 1 },
            }),
        )?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| protocol_shape("Page.captureScreenshot", &json!("no data")))?;
        let png = data_encoding::BASE64
            .decode(data.as_bytes())
            .map_err(|error| BrowserError::Protocol {
                method: "Page.captureScreenshot".into(),
                message: format!("undecodable base64: {error}"),
            })?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_error(format!("create {}", parent.display())))?;
        }
        std::fs::write(&path, png).map_err(io_error(format!("write {}", path.display())))?;
        Ok(path)
    }

    /// Reads the events that arrived so far: one round trip through the page's renderer, so
    /// everything it reported before is in.
    fn sync(&mut self) -> Result<()> {
        self.call("Runtime.evaluate", json!({ "expression": "0" }))?;
        Ok(())
    }

    /// Every error the page reported since it opened, oldest first: uncaught exceptions
    /// (`Uncaught Error: … (at URL:LINE)`), `console.error`/`console.assert` calls
    /// (`console.error: …`) and browser log errors such as failed loads (`network: …`).
    pub fn console_errors(&mut self) -> Result<Vec<String>> {
        self.sync()?;
        Ok(self.console_errors.clone())
    }

    /// Every JavaScript dialog the page opened since it opened, as `TYPE: MESSAGE` (`alert: 1`,
    /// `confirm: …`, `prompt: …`, `beforeunload: …`). Each was dismissed at once.
    pub fn dialogs_opened(&mut self) -> Result<Vec<String>> {
        self.sync()?;
        Ok(self.dialogs.clone())
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // Through the browser's connection: a page cannot close its own target reliably. Not
        // awaited; the browser connection skips the answer on its next call.
        if let Ok(mut browser) = self.browser.lock() {
            let _ = browser.send("Target.closeTarget", json!({ "targetId": self.target_id }));
        }
    }
}

/// A JSON string literal, which is also a JavaScript one: how text enters evaluated code.
fn js_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The message of CDP `exceptionDetails`: the exception's description (message and stack) for
/// an `Error`, its value for anything else thrown, else CDP's own text ("Uncaught").
fn exception_message(details: &Value) -> String {
    let exception = &details["exception"];
    let text = details["text"].as_str().unwrap_or("exception");
    if let Some(description) = exception["description"].as_str() {
        let first_line = description.lines().next().unwrap_or(description);
        return format!("{text} {first_line}").trim().to_string();
    }
    if !exception["value"].is_null() {
        return format!("{text} {}", remote_object_text(exception));
    }
    text.to_string()
}

/// A console argument (a CDP `RemoteObject`) as text.
fn remote_object_text(object: &Value) -> String {
    match &object["value"] {
        Value::String(text) => text.clone(),
        Value::Null => object["unserializableValue"]
            .as_str()
            .or(object["description"].as_str())
            .unwrap_or(object["type"].as_str().unwrap_or("undefined"))
            .to_string(),
        other => other.to_string(),
    }
}

/// One key press for `Input.dispatchKeyEvent`.
#[derive(Debug, PartialEq, Eq)]
struct KeyStroke {
    key: String,
    code: String,
    key_code: u32,
    text: Option<String>,
    /// CDP's bit field: Alt 1, Control 2, Meta 4, Shift 8.
    modifiers: u32,
}

fn parse_key(spec: &str) -> Option<KeyStroke> {
    // "+" alone, or a trailing "++", is the plus key itself.
    let (modifier_part, key) = match spec.strip_suffix("++") {
        Some(rest) => (rest, "+"),
        None if spec == "+" => ("", "+"),
        None => match spec.rsplit_once('+') {
            Some((modifiers, key)) => (modifiers, key),
            None => ("", spec),
        },
    };
    let mut modifiers = 0;
    for modifier in modifier_part.split('+').filter(|part| !part.is_empty()) {
        modifiers |= match modifier {
            "Alt" => 1,
            "Control" | "Ctrl" => 2,
            "Meta" => 4,
            "Shift" => 8,
            _ => return None,
        };
    }
    let named = |key: &str, code: &str, key_code: u32, text: Option<&str>| KeyStroke {
        key: key.to_string(),
        code: code.to_string(),
        key_code,
        text: text.map(str::to_string),
        modifiers,
    };
    let stroke = match key {
        "Enter" => named("Enter", "Enter", 13, Some("\r")),
        "Tab" => named("Tab", "Tab", 9, None),
        "Escape" => named("Escape", "Escape", 27, None),
        "Backspace" => named("Backspace", "Backspace", 8, None),
        "Delete" => named("Delete", "Delete", 46, None),
        "Space" | " " => named(" ", "Space", 32, Some(" ")),
        "ArrowLeft" => named("ArrowLeft", "ArrowLeft", 37, None),
        "ArrowUp" => named("ArrowUp", "ArrowUp", 38, None),
        "ArrowRight" => named("ArrowRight", "ArrowRight", 39, None),
        "ArrowDown" => named("ArrowDown", "ArrowDown", 40, None),
        "Home" => named("Home", "Home", 36, None),
        "End" => named("End", "End", 35, None),
        "PageUp" => named("PageUp", "PageUp", 33, None),
        "PageDown" => named("PageDown", "PageDown", 34, None),
        single if single.chars().count() == 1 => {
            let character = single.chars().next()?;
            let upper = character.to_ascii_uppercase();
            let (code, key_code) = if character.is_ascii_alphabetic() {
                (format!("Key{upper}"), u32::from(upper))
            } else if character.is_ascii_digit() {
                (format!("Digit{character}"), u32::from(character))
            } else {
                (String::new(), 0)
            };
            // Modified letters (Control+a) are shortcuts, not text.
            let text = (modifiers & !8 == 0).then(|| single.to_string());
            KeyStroke {
                key: single.to_string(),
                code,
                key_code,
                text,
                modifiers,
            }
        }
        _ => return None,
    };
    Some(stroke)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_modifiers() {
        let tab = parse_key("Shift+Tab").unwrap();
        assert_eq!(
            (tab.key.as_str(), tab.key_code, tab.modifiers),
            ("Tab", 9, 8)
        );
        assert_eq!(parse_key("Enter").unwrap().text.as_deref(), Some("\r"));
        let select_all = parse_key("Control+a").unwrap();
        assert_eq!(
            (
                select_all.code.as_str(),
                select_all.modifiers,
                select_all.text
            ),
            ("KeyA", 2, None)
        );
        assert_eq!(parse_key("+").unwrap().key, "+");
        assert_eq!(parse_key("Shift++").unwrap().modifiers, 8);
        assert_eq!(parse_key("Hyper+Tab"), None);
        assert_eq!(parse_key("NoSuchKey"), None);
    }

    #[test]
    fn text_enters_javascript_as_a_quoted_literal() {
        assert_eq!(js_string(r#"a[href="x"]'\"#), r#""a[href=\"x\"]'\\""#);
    }

    #[test]
    fn exception_messages_name_what_was_thrown() {
        let error = json!({ "text": "Uncaught", "exception": { "description": "Error: boom\n    at <anonymous>:1:7" } });
        assert_eq!(exception_message(&error), "Uncaught Error: boom");
        let thrown =
            json!({ "text": "Uncaught", "exception": { "type": "string", "value": "plain" } });
        assert_eq!(exception_message(&thrown), "Uncaught plain");
    }

    #[test]
    fn messages_are_told_apart_by_id() {
        match parse_incoming(r#"{"id":3,"error":{"code":-32000,"message":"No target"}}"#).unwrap() {
            Incoming::Response { id, outcome } => {
                assert_eq!(id, 3);
                assert_eq!(outcome.unwrap_err(), "No target (code -32000)");
            }
            other => panic!("{other:?}"),
        }
        match parse_incoming(r#"{"method":"Page.loadEventFired","params":{"timestamp":1}}"#)
            .unwrap()
        {
            Incoming::Event { method, params } => {
                assert_eq!(method, "Page.loadEventFired");
                assert_eq!(params["timestamp"], 1);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Serves one small page at `/`; any other path answers only after 5 s, so a navigation
    /// there stays pending while the probe is read in the page it started from.
    fn slow_server() -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut request = [0; 2048];
                    let read = stream.read(&mut request).unwrap_or(0);
                    if !request[..read].starts_with(b"GET / ") {
                        std::thread::sleep(Duration::from_secs(5));
                    }
                    let body = "<!doctype html><title>probe</title><body></body>";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        format!("http://{address}/")
    }

    /// The probe's verdicts, read before each navigation left the page: in ordinary runs the
    /// load events come fast enough to hide whether the probe saw the navigation.
    #[test]
    fn the_probe_recognises_navigating_clicks_and_submissions() {
        let Some(browser) = require_browser() else {
            return;
        };
        let home = slow_server();
        let setup = r##"document.body.innerHTML = `
  <a id="away" href="/slow/away">away</a>
  <a id="fragment" href="#part">fragment</a>
  <a id="blank" href="/slow/blank" target="_blank">blank</a>
  <a id="prevented" href="/slow/x" onclick="event.preventDefault()">prevented</a>
  <a id="cancelled" href="/slow/cancelled">cancelled by the Navigation API</a>
  <a id="intercepted" href="/slow/intercepted">intercepted by the Navigation API</a>
  <form id="get" action="/slow/search"><button id="send">send</button></form>
  <form id="dialog" method="dialog"><button>close</button></form>
  <form id="stopped" onsubmit="return false"><button>stopped</button></form>`;
  navigation.addEventListener('navigate', (e) => {
    if (e.destination.url.endsWith('/cancelled')) e.preventDefault();
    if (e.destination.url.endsWith('/intercepted')) e.intercept({ handler: async () => {} });
  });"##;
        for (action, expected) in [
            ("document.getElementById('away').click()", "yes"),
            ("document.getElementById('send').click()", "yes"),
            ("document.getElementById('get').requestSubmit()", "yes"),
            ("document.getElementById('fragment').click()", "unknown"),
            ("document.getElementById('blank').click()", "unknown"),
            ("document.getElementById('prevented').click()", "unknown"),
            ("document.getElementById('cancelled').click()", "unknown"),
            ("document.getElementById('intercepted').click()", "unknown"),
            (
                "document.getElementById('dialog').requestSubmit()",
                "unknown",
            ),
            (
                "document.getElementById('stopped').requestSubmit()",
                "unknown",
            ),
            ("document.body.click()", "unknown"),
        ] {
            // A fresh tab each time: the last case's navigation is still pending in its own.
            let mut page = browser.new_page().unwrap();
            page.goto(&home).unwrap();
            page.evaluate(setup).unwrap();
            page.evaluate(PROBE_ARM).unwrap();
            // In the same script: DevTools holds later evaluations back until a navigation
            // in flight commits, and then they would run in the new document.
            let verdict = page.evaluate(&format!("{action}; {PROBE_READ}")).unwrap();
            assert_eq!(verdict, json!(expected), "{action}");
        }
    }

    #[test]
    fn artifacts_go_under_the_workspace_target_directory() {
        if std::env::var_os("LOOPWISE_ARTIFACTS").is_none() {
            let directory = artifacts_dir();
            assert!(
                directory.ends_with("target/test-artifacts"),
                "{}",
                directory.display()
            );
            assert!(!directory.components().any(|c| c == Component::ParentDir));
            assert!(directory.is_dir());
        }
    }
}
