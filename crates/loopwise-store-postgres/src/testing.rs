//! Real PostgreSQL for tests: a throwaway database on the server that
//! `LOOPWISE_TEST_POSTGRES_URL` names (`scripts/with-postgres.sh` starts one and sets it), and
//! a private server of a test's own for tests that stop and restart the database.
//!
//! Without a server the tests skip with a visible message, except in CI (`CI` set), where a
//! missing PostgreSQL fails them: the PostgreSQL run is not optional there.

use crate::PostgresStore;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const URL_VARIABLE: &str = "LOOPWISE_TEST_POSTGRES_URL";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// Says why a PostgreSQL test cannot run: a failure in CI, a visible skip elsewhere.
fn unavailable(reason: &str) {
    assert!(
        !in_ci(),
        "PostgreSQL tests must run in CI, but {reason} (run them under scripts/with-postgres.sh)"
    );
    eprintln!("SKIPPED: {reason}; run `scripts/with-postgres.sh cargo test` to include PostgreSQL");
}

/// The URL of the test server, if one is configured.
pub fn server_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            unavailable(&format!("{URL_VARIABLE} is not set"));
            None
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut result = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// A database of its own, created empty on the test server and dropped afterwards.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// A new empty database, or `None` (having said why) when there is no test server.
    pub fn create() -> Option<Self> {
        let admin_url = server_url()?;
        let name = format!(
            "loopwise_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.subsec_nanos())
                .unwrap_or_default()
        );
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test server {admin_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A migrated store on a scratch database: what the conformance suite runs against.
#[derive(Debug)]
pub struct TestDatabase {
    // Declared first so the pool closes before the database is dropped.
    store: PostgresStore,
    scratch: ScratchDatabase,
}

impl TestDatabase {
    pub fn create() -> Option<Self> {
        let scratch = ScratchDatabase::create()?;
        let store = PostgresStore::open(scratch.url())
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"));
        Some(Self { store, scratch })
    }

    pub fn url(&self) -> &str {
        self.scratch.url()
    }
}

impl std::ops::Deref for TestDatabase {
    type Target = PostgresStore;
    fn deref(&self) -> &PostgresStore {
        &self.store
    }
}

/// A PostgreSQL server of a test's own, in a temporary directory on a free port, that the test
/// may stop and start. Run as the `postgres` user when the tests run as root (PostgreSQL
/// refuses root).
#[derive(Debug)]
pub struct PrivateServer {
    directory: PathBuf,
    port: u16,
    run_as: Option<String>,
    /// `-c name=value` settings the server starts with.
    settings: Vec<(String, String)>,
}

/// Tests trade durability for speed: nothing here must survive a power cut.
const TEST_SETTINGS: &[(&str, &str)] = &[("fsync", "off")];

fn find_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin").join(name)))
            .filter(|candidate| candidate.is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

impl PrivateServer {
    /// Initialises and starts a server that trusts every local connection, or `None` (having
    /// said why) without PostgreSQL binaries.
    pub fn start() -> Option<Self> {
        Self::start_with(None, TEST_SETTINGS)
    }

    /// A trusting server started with these settings instead of the tests' (`fsync=off`):
    /// benchmarks pass PostgreSQL's durable defaults and their own memory sizes.
    pub fn start_with_settings(settings: &[(&str, &str)]) -> Option<Self> {
        Self::start_with(None, settings)
    }

    /// A server whose `postgres` user must give `password` (SCRAM), to test credentials.
    pub fn start_with_password(password: &str) -> Option<Self> {
        Self::start_with(Some(password), TEST_SETTINGS)
    }

    fn start_with(password: Option<&str>, settings: &[(&str, &str)]) -> Option<Self> {
        let (Some(initdb), Some(_)) = (find_binary("initdb"), find_binary("pg_ctl")) else {
            unavailable("initdb and pg_ctl are not installed");
            return None;
        };
        let directory = std::env::temp_dir().join(format!(
            "loopwise-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&directory).expect("create the server directory");
        let run_as = running_as_root().then(|| "postgres".to_string());
        let server = Self {
            directory,
            port: free_port(),
            run_as,
            settings: settings
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        };
        if let Some(user) = &server.run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&server.directory)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of the server directory failed");
        }
        let data = server.data().display().to_string();
        let mut arguments = vec!["-D", &data, "-U", "postgres", "-E", "UTF8", "--no-sync"];
        let password_file = server.directory.join("password");
        let password_option = format!("--pwfile={}", password_file.display());
        match password {
            Some(password) => {
                std::fs::write(&password_file, password).expect("write the password file");
                arguments.extend(["-A", "scram-sha-256", &password_option]);
            }
            None => arguments.extend(["-A", "trust"]),
        }
        server.run(&initdb, &arguments);
        server.start_again();
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.directory.join("data")
    }

    /// Where the server keeps its data and log.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `program` as the server's user.
    fn command(&self, program: &Path) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &Path, arguments: &[&str]) {
        let output = self
            .command(program)
            .args(arguments)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            output.status.success(),
            "{} {arguments:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl(&self, arguments: &[&str]) {
        let pg_ctl = find_binary("pg_ctl").expect("pg_ctl");
        let data = self.data().display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(arguments);
        self.run(&pg_ctl, &all);
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.directory.display()
        );
        for (name, value) in &self.settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let log = self.directory.join("server.log").display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
    }

    /// Stops the server at once, as a crash or an operator would: clients lose their
    /// connections.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists()
            && let Some(pg_ctl) = find_binary("pg_ctl")
        {
            let data = self.data().display().to_string();
            let _ = self
                .command(&pg_ctl)
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// A port nobody listens on now (the kernel's choice; a race with another process is unlikely
/// and would only fail the start loudly).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("find a free port")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
    }
}
