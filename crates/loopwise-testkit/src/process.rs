//! The real `loopwise` binary as a child process, and plain HTTP/1.1 requests to it: what the
//! end-to-end tests of the binary share.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
/// token, which the command prints alone on stdout. Panics, with its stderr, if it fails.
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
    String::from_utf8(output.stdout)
        .expect("UTF-8 token")
        .trim()
        .to_string()
}

/// A running `loopwise serve`, killed when dropped.
#[derive(Debug)]
pub struct ServeProcess {
    pub child: Child,
    /// `host:port` it announced.
    pub address: String,
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
        let mut line = String::new();
        while stderr.read_line(&mut line).expect("read stderr") > 0 {
            if let Some(address) = line.trim().strip_prefix("loopwise listening on http://") {
                let address = address.to_string();
                // Keep draining stderr so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in stderr.lines() {});
                return ServeProcess { child, address };
            }
            seen.push_str(&line);
            line.clear();
        }
        let status = child.wait();
        panic!("the server exited ({status:?}) before listening:\n{seen}");
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
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
