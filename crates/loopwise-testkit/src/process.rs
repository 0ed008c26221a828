//! The real `loopwise` binary as a child process, and plain HTTP/1.1 requests to it: what the
//! end-to-end tests of the binary share.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// `binary` (a test's `env!("CARGO_BIN_EXE_loopwise")`) with a clean environment: only `PATH`
/// and `HOME`, so no setting of the developer's leaks in.
pub fn loopwise_command(binary: &str, home: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    command
}

/// `loopwise token create --scope SCOPE --name NAME --db DB` run as `binary` in `home`; the new
/// token, which the command must print alone on stdout. Panics, with its stderr, if it fails.
pub fn create_token(binary: &str, home: &Path, db: &str, scope: &str, name: &str) -> String {
    let output = loopwise_command(binary, home)
        .current_dir(home)
        .args([
            "token", "create", "--scope", scope, "--name", name, "--db", db,
        ])
        .output()
        .expect("run loopwise token create");
    assert!(
        output.status.success(),
        "loopwise token create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("UTF-8 token");
    assert_eq!(
        token.lines().count(),
        1,
        "the token alone on stdout: {token:?}"
    );
    token.trim().to_string()
}

/// The line `loopwise serve` writes on stderr once it accepts connections.
const ANNOUNCEMENT: &str = "loopwise listening on http://";

/// A running `loopwise serve`, killed when dropped. Its stderr is read to the end by a thread
/// of its own (so the server never blocks on a full pipe) and kept, for tests that check what
/// it logged.
#[derive(Debug)]
pub struct ServeProcess {
    pub child: Child,
    /// `host:port` it announced.
    pub address: String,
    /// What it wrote on stderr up to and including the announcement.
    startup_log: String,
    /// All it has written on stderr so far.
    log: Arc<Mutex<String>>,
    /// Disconnected once the reading thread has seen the end of stderr (in a mutex so that
    /// tests can share the process between threads).
    drained: Mutex<mpsc::Receiver<()>>,
}

impl ServeProcess {
    /// Spawns `command` (a `loopwise serve` with `--listen 127.0.0.1:0`) and waits until it
    /// announces its address. Panics, with what it wrote, if it exits first.
    pub fn spawn(mut command: Command) -> ServeProcess {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start loopwise serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut seen = String::new();
        while let Some(line) = read_line(&mut stderr) {
            seen.push_str(&line);
            if let Some(address) = line.trim().strip_prefix(ANNOUNCEMENT) {
                let address = address.to_string();
                let log = Arc::new(Mutex::new(seen.clone()));
                let sink = Arc::clone(&log);
                let (done, drained) = mpsc::channel::<()>();
                std::thread::spawn(move || {
                    let _done = done;
                    while let Some(line) = read_line(&mut stderr) {
                        sink.lock().expect("the server's log").push_str(&line);
                    }
                });
                return ServeProcess {
                    child,
                    address,
                    startup_log: seen,
                    log,
                    drained: Mutex::new(drained),
                };
            }
        }
        let status = child.wait();
        panic!("the server exited ({status:?}) before listening:\n{seen}");
    }

    /// `http://host:port`, for clients that take a base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What it wrote on stderr before it accepted connections, the announcement included.
    pub fn startup_log(&self) -> &str {
        &self.startup_log
    }

    /// All it has written on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("the server's log").clone()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        http(&self.address, method, path, headers, body)
    }

    /// `GET path`, which must answer 200; the body as JSON.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.request("GET", path, &[], "");
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        response.json()
    }

    /// See [`post_events`].
    pub fn post_events(&self, token: &str, content_type: &str, body: &str) -> HttpResponse {
        post_events(&self.address, token, content_type, body)
    }

    /// Stops it as a service manager would, with SIGTERM, and waits for it to exit: its exit
    /// status and all it wrote on stderr, to the last line.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
        let status = self.child.wait().expect("wait for loopwise serve");
        // Its last lines may still be on their way through the pipe.
        if let Ok(drained) = self.drained.get_mut() {
            let _ = drained.recv_timeout(Duration::from_secs(10));
        }
        (status, self.log())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of `reader`, its newline included (bytes that are not UTF-8 replaced, so reading
/// never stops early); `None` at the end.
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = Vec::new();
    match reader.read_until(b'\n', &mut line).expect("read stderr") {
        0 => None,
        _ => Some(String::from_utf8_lossy(&line).into_owned()),
    }
}

/// `POST /api/v1/events` with `body` of `content_type` (`application/json` or
/// `application/x-ndjson`), authorised by the bearer `token`.
pub fn post_events(address: &str, token: &str, content_type: &str, body: &str) -> HttpResponse {
    let authorization = format!("Bearer {token}");
    http(
        address,
        "POST",
        "/api/v1/events",
        &[
            ("Authorization", &authorization),
            ("Content-Type", content_type),
        ],
        body,
    )
}

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(header, _)| *header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`); panics when the server
/// cannot be reached or does not answer within 30 s.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}
