//! Server settings, in order of precedence: flag, environment (`LOOPWISE_` + upper-cased key
//! path), config file (TOML), default. The file carries a `version` and unknown keys are errors,
//! so a typo is caught instead of silently ignored.

use crate::errors::bad_input;
use loopwise_core::entities::ProductionEnvironments;
use loopwise_core::metrics::DEFAULT_INCIDENT_LINK_WINDOW_SECONDS;
use loopwise_core::rules::{HotfixRules, TagGlob};
use loopwise_engine::{Organisation, Ownership, ServiceSettings};
use loopwise_ingest::git::normalize_repository_path;
use loopwise_ingest::mirror::{CloneUrl, Mirror};
use loopwise_ingest::webhooks::WebhookSettings;
use loopwise_server::mirrors::MirrorSettings;
use loopwise_server::{Secret, ServerConfig};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
const CONFIG_VERSION: u32 = 1;

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub version: Option<u32>,
    pub listen: Option<String>,
    pub db: Option<String>,
    pub github_webhook_secret: Option<String>,
    pub gitlab_webhook_token: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub public_reads: Option<bool>,
    #[serde(default)]
    pub webhooks: FileWebhooks,
    /// Ownership: `service = "team"` entries, and `[teams.NAME]` tables with the team's
    /// `tribe` and the `services` it owns.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamEntry>,
    /// `"owner/name" = "service"`: the service a webhook repository feeds; `[services.NAME]`
    /// tables: where a service's history lives and its hotfix patterns.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceEntry>,
    #[serde(default)]
    pub environments: FileEnvironments,
    #[serde(default)]
    pub incidents: FileIncidents,
    #[serde(default)]
    pub mirror: FileMirror,
    #[serde(default)]
    pub sqlite: FileSqlite,
    #[serde(default)]
    pub postgres: FilePostgres,
    /// Repository (`owner/name` or project path, as webhooks name it) → how to mirror it.
    #[serde(default)]
    pub repositories: BTreeMap<String, FileRepository>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSqlite {
    /// `normal` or `full`.
    pub synchronous: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePostgres {
    /// Most connections one node opens.
    pub max_connections: Option<u32>,
    /// Seconds to wait for a connection before a request is answered 503.
    pub connect_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMirror {
    pub directory: Option<String>,
    pub fetch_interval_seconds: Option<u64>,
    pub fetch_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRepository {
    /// May carry credentials; never logged.
    pub clone_url: Option<String>,
    /// The name of an environment variable holding the clone URL, to keep a token out of the file.
    pub clone_url_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhooks {
    pub incident_labels: Option<Vec<String>>,
    pub deployment_workflows: Option<Vec<String>>,
    pub releases_are_deployments: Option<bool>,
    pub default_environment: Option<String>,
}

/// `[environments]`: which environment names are production.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEnvironments {
    pub production: Option<Vec<String>>,
}

/// `[incidents]`: how incidents are linked to deployments.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIncidents {
    /// How long before an incident's start its deployment may have finished, in hours.
    pub link_window_hours: Option<u64>,
}

/// An entry of a section that takes two forms: a name (`key = "name"`) or a table
/// (`[section.key]`), as `[teams]` and `[services]` do, so version-1 files keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrTable<T> {
    Name(String),
    Table(T),
}

/// What a table form is called in the error for an entry of neither form.
pub trait TableForm {
    const EXPECTING: &'static str;
}

impl<'de, T: Deserialize<'de> + TableForm> Deserialize<'de> for NameOrTable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + TableForm> serde::de::Visitor<'de> for EntryVisitor<T> {
            type Value = NameOrTable<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(T::EXPECTING)
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(NameOrTable::Name(name.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                // Through the table's own derive, so an unknown key is named.
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(NameOrTable::Table)
            }
        }
        deserializer.deserialize_any(EntryVisitor(std::marker::PhantomData))
    }
}

/// One entry of `[services]`: the name form names the service a webhook repository feeds
/// (`"acme/checkout-api" = "checkout"`: the key is a repository); a table describes a service
/// (`[services.checkout]`: the key is the service).
pub type ServiceEntry = NameOrTable<ServiceTable>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTable {
    /// The repository whose history it ships: a path (as `analyze` stores it) or `owner/name`.
    pub repository: Option<String>,
    /// Monorepo directories whose changes are the service's.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Tags of its git-derived production deployments (analyze's default `--deploy-tags`).
    pub deploy_tags: Option<String>,
    /// Tags that are hotfix deployments.
    pub hotfix_tags: Option<String>,
    /// A regular expression over commit subjects that marks hotfixes.
    pub hotfix_subject: Option<String>,
}

impl TableForm for ServiceTable {
    const EXPECTING: &'static str = "a service name (\"owner/repository\" = \"service\") or a service table with `repository`, `paths`, `deploy_tags`, `hotfix_tags`, `hotfix_subject`";
}

/// One entry of `[teams]`: the name form maps a service to its team (`checkout =
/// "payments"`: the key is a service); a table describes a team (`[teams.payments]` with
/// `tribe` and `services`). Both may be mixed.
pub type TeamEntry = NameOrTable<TeamTable>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamTable {
    pub tribe: Option<String>,
    #[serde(default)]
    pub services: Vec<String>,
}

impl TableForm for TeamTable {
    const EXPECTING: &'static str =
        "a team name (service = \"team\") or a team table with `tribe` and `services`";
}

/// Who owns what, from `[teams]`: the engine's [`Ownership`], which refuses a service claimed
/// by two teams (naming both) and empty names.
pub fn ownership(teams: BTreeMap<String, TeamEntry>) -> anyhow::Result<Ownership> {
    let mut services = Vec::new();
    let mut tribes = Vec::new();
    for (key, entry) in teams {
        match entry {
            NameOrTable::Name(team) => services.push((key, team)),
            NameOrTable::Table(table) => {
                services.extend(table.services.into_iter().map(|s| (s, key.clone())));
                if let Some(tribe) = table.tribe {
                    tribes.push((key, tribe));
                }
            }
        }
    }
    Ownership::new(services, tribes).map_err(|e| bad_input(format!("teams: {e}")))
}

/// What the report engine needs of the configuration: ownership, each service's repository,
/// paths and hotfix patterns, the production environments and the incident-linking window.
/// Errors name the key.
pub fn organisation(
    teams: BTreeMap<String, TeamEntry>,
    services: &BTreeMap<String, ServiceEntry>,
    environments: FileEnvironments,
    incidents: FileIncidents,
    environment: &dyn Environment,
) -> anyhow::Result<Organisation> {
    let ownership = ownership(teams)?;
    let mut settings: BTreeMap<String, ServiceSettings> = BTreeMap::new();
    for (key, entry) in services {
        match entry {
            NameOrTable::Name(service) => {
                let service = service.trim();
                if service.is_empty() {
                    return Err(bad_input(format!(
                        "services.{key:?}: the service name is empty"
                    )));
                }
                let entry = settings.entry(service.to_string()).or_default();
                if let Some(other) = &entry.repository
                    && other != key
                {
                    return Err(bad_input(format!(
                        "services: service {service:?} is fed by both {other:?} and {key:?}"
                    )));
                }
                entry.repository = Some(key.clone());
            }
            NameOrTable::Table(table) => {
                let parsed = service_settings(key, table)?;
                let entry = settings.entry(key.clone()).or_default();
                if let (Some(first), Some(second)) = (&entry.repository, &parsed.repository)
                    && first != second
                {
                    return Err(bad_input(format!(
                        "services.{key}.repository: {second:?}, but [services] already feeds {key:?} from {first:?}"
                    )));
                }
                let repository = parsed.repository.clone().or(entry.repository.take());
                *entry = ServiceSettings {
                    repository,
                    ..parsed
                };
            }
        }
    }
    let env = |key: &str| environment.get(&format!("LOOPWISE_{key}"));
    let production = match env("ENVIRONMENTS_PRODUCTION").map(|text| list(&text)) {
        Some(names) => production_names("LOOPWISE_ENVIRONMENTS_PRODUCTION", names)?,
        None => match environments.production {
            Some(names) => production_names("environments.production", names)?,
            None => ProductionEnvironments::default(),
        },
    };
    let link_window_hours = match env("INCIDENTS_LINK_WINDOW_HOURS") {
        Some(text) => u64::from(positive("LOOPWISE_INCIDENTS_LINK_WINDOW_HOURS", &text)?),
        None => match incidents.link_window_hours {
            Some(hours) => u64::from(positive("incidents.link_window_hours", &hours.to_string())?),
            None => (DEFAULT_INCIDENT_LINK_WINDOW_SECONDS / 3_600) as u64,
        },
    };
    Ok(Organisation {
        ownership,
        services: settings,
        production,
        incident_link_window_seconds: i64::try_from(link_window_hours.saturating_mul(3_600))
            .unwrap_or(i64::MAX),
    })
}

fn production_names(key: &str, names: Vec<String>) -> anyhow::Result<ProductionEnvironments> {
    let names: Vec<String> = names
        .into_iter()
        .map(|name| name.trim().to_string())
        .collect();
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(bad_input(format!(
            "{key}: name at least one production environment, none of them empty"
        )));
    }
    Ok(ProductionEnvironments::new(names))
}

/// A `[services.NAME]` table, checked: globs, the regular expression and paths.
pub fn service_settings(service: &str, table: &ServiceTable) -> anyhow::Result<ServiceSettings> {
    let key = |field: &str| format!("services.{service}.{field}");
    let glob = |field: &str, text: &Option<String>| -> anyhow::Result<Option<TagGlob>> {
        text.as_deref()
            .map(|text| TagGlob::new(text).map_err(|e| bad_input(format!("{}: {e}", key(field)))))
            .transpose()
    };
    let subject = table
        .hotfix_subject
        .as_deref()
        .map(|text| {
            regex::Regex::new(text).map_err(|e| {
                bad_input(format!(
                    "{}: {text:?} is not a valid regular expression: {}",
                    key("hotfix_subject"),
                    crate::errors::regex_error_line(&e)
                ))
            })
        })
        .transpose()?;
    Ok(ServiceSettings {
        repository: table.repository.clone(),
        paths: normalize_paths(&key("paths"), &table.paths)?,
        deploy_tags: glob("deploy_tags", &table.deploy_tags)?,
        hotfix: HotfixRules {
            tags: glob("hotfix_tags", &table.hotfix_tags)?,
            subject,
        },
    })
}

/// Monorepo paths as the repository names them (`./api/` is `api`), sorted, without repeats;
/// `name` is the flag or key named in errors.
pub fn normalize_paths(name: &str, paths: &[String]) -> anyhow::Result<Vec<String>> {
    let mut normalized = Vec::with_capacity(paths.len());
    for path in paths {
        normalized.push(normalize_repository_path(path).ok_or_else(|| {
            bad_input(format!(
                "{name} {path:?} must name a directory or file inside the repository"
            ))
        })?);
    }
    normalized.sort();
    normalized.dedup();
    Ok(normalized)
}

/// The engine's settings from a config file (or none), for commands that read a database.
pub fn organisation_from(path: Option<&Path>) -> anyhow::Result<Organisation> {
    let file = match path {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    organisation(
        file.teams,
        &file.services,
        file.environments,
        file.incidents,
        &ProcessEnvironment,
    )
}

/// A commented default file, printed by `loopwise config default`.
pub const DEFAULT_FILE: &str = r#"# loopwise configuration. Every key can also be set with an environment variable named
# LOOPWISE_ + the upper-cased key path (e.g. LOOPWISE_LISTEN, LOOPWISE_WEBHOOKS_INCIDENT_LABELS);
# command-line flags win over the environment, which wins over this file.
version = 1

# Address to listen on. Loopback only by default; use 0.0.0.0:7878 to accept other machines.
listen = "127.0.0.1:7878"

# Database: a SQLite path or sqlite:// URL. Default: loopwise.db in the user's data directory.
# db = "/var/lib/loopwise/loopwise.db"

# Shared secret of GitHub webhooks (X-Hub-Signature-256). Unset: /webhooks/github refuses.
# github_webhook_secret = "..."

# Secret token of GitLab webhooks (X-Gitlab-Token). Unset: /webhooks/gitlab refuses.
# gitlab_webhook_token = "..."

# Largest request body accepted, in bytes.
body_limit_bytes = 16777216

# Reports readable without a token (true) or with a read-scope token only (false).
public_reads = false

[webhooks]
# Issues with one of these labels are incidents (comma-separated in the environment).
incident_labels = ["incident"]
# Workflow or pipeline names (globs) whose successful runs are production deployments.
deployment_workflows = []
# Published releases count as production deployments.
releases_are_deployments = false
# Environment of deployments that name none (workflow runs, releases).
default_environment = "production"

[services]
# Repository → service name, for webhooks; default: the repository's own name.
# "acme/checkout-api" = "checkout"
# A service's history and rules, for the server, `report` and `analyze` alike:
# [services.checkout]
# repository = "acme/monorepo"         # default: the stored repository named like the service
# paths = ["services/checkout"]        # monorepo: only changes under these paths are its own
# deploy_tags = "checkout-v*"          # analyze's default --deploy-tags
# hotfix_tags = "checkout-hotfix-*"    # deployments of these tags remediate the one before
# hotfix_subject = "^hotfix"           # as do deployments shipping a commit whose subject matches

[environments]
# Environments whose deployments are production (figures are per production environment).
production = ["production", "prod", "live"]

[incidents]
# An incident without an explicit cause is linked to the latest production deployment of its
# service that finished at most this many hours before it started.
link_window_hours = 72

[teams]
# Who owns what, for reports (team, tribe), their team= and tribe= filters and the leaderboard.
# A team (squad) with its tribe and the services it owns:
# [teams.payments]
# tribe = "commerce"
# services = ["checkout", "billing"]
# The short form maps one service to its team (no tribe):
# checkout = "payments"
# Services no team owns are grouped as "unassigned" on the leaderboard.

[sqlite]
# What an acknowledged event survives. "normal": the process being killed or crashing (WAL,
# no fsync per commit; the fastest). "full": also a power cut or an operating-system crash
# (one fsync per commit, shared by concurrent writers).
synchronous = "normal"

[postgres]
# Used when --db / LOOPWISE_DB is a postgres:// URL. Each node opens at most this many
# connections (keep nodes x max_connections below the server's max_connections).
max_connections = 16
# Seconds a request waits for a connection; while the database is away, writes then answer
# 503 with Retry-After and /readyz reports unready.
connect_timeout_seconds = 5

[mirror]
# Where bare mirrors of the [repositories] below are kept. Default: mirrors/ beside the database.
# directory = "/var/lib/loopwise/mirrors"
# Seconds between periodic fetches of every mirror (0: only when a push arrives, and at start).
fetch_interval_seconds = 300
# Longest one git fetch may take, in seconds.
fetch_timeout_seconds = 600

# Repositories to mirror, keyed as webhooks name them (GitHub owner/name, GitLab project path).
# With a mirror, reports use the repository's exact commit graph; without one, only the commit
# chains of push payloads (parents known only within each push). The server fetches when a push
# for the repository arrives and every fetch_interval_seconds. Credentials in a URL are never
# logged; clone_url_env names an environment variable holding the URL instead.
# [repositories."acme/checkout-api"]
# clone_url = "https://github.com/acme/checkout-api.git"
# clone_url_env = "CHECKOUT_API_CLONE_URL"
"#;

/// Reads and checks the config file.
pub fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("--config {}: cannot read: {e}", path.display())))?;
    let config: FileConfig = toml::from_str(&text).map_err(|e| {
        bad_input(format!(
            "--config {}: {}",
            path.display(),
            one_line(&e.to_string())
        ))
    })?;
    if let Some(version) = config.version
        && version != CONFIG_VERSION
    {
        return Err(bad_input(format!(
            "--config {}: version {version} is not supported; this loopwise reads version {CONFIG_VERSION}",
            path.display()
        )));
    }
    Ok(config)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The environment a setting comes from, for tests and for the real process.
pub trait Environment {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }
}

impl Environment for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A whole number from 1 to 10,000 (connections, seconds).
fn positive(name: &str, text: &str) -> anyhow::Result<u32> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(bad_input(format!(
            "{name}={text:?} is not a whole number from 1 to 10000"
        ))),
    }
}

fn boolean(name: &str, text: &str) -> anyhow::Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(bad_input(format!(
            "{name}={other:?} is not a boolean (true or false)"
        ))),
    }
}

/// The resolved server settings.
#[derive(Debug)]
pub struct ServeSettings {
    pub listen: String,
    pub db: Option<String>,
    pub store: crate::store::StoreOptions,
    pub server: ServerConfig,
}

/// Layers flags over the environment over the file over the defaults.
pub fn resolve(
    listen_flag: Option<&str>,
    db_flag: Option<&str>,
    file: FileConfig,
    environment: &dyn Environment,
) -> anyhow::Result<ServeSettings> {
    let env = |key: &str| environment.get(&format!("LOOPWISE_{key}"));
    let listen = listen_flag
        .map(str::to_string)
        .or_else(|| env("LISTEN"))
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let db = db_flag
        .map(str::to_string)
        .or_else(|| env("DB"))
        .or(file.db);
    let body_limit_bytes = match env("BODY_LIMIT_BYTES") {
        Some(text) => text.trim().parse().map_err(|_| {
            bad_input(format!(
                "LOOPWISE_BODY_LIMIT_BYTES={text:?} is not a number of bytes"
            ))
        })?,
        None => file
            .body_limit_bytes
            .unwrap_or(ServerConfig::default().body_limit_bytes),
    };
    let incident_labels = env("WEBHOOKS_INCIDENT_LABELS")
        .map(|text| list(&text))
        .or(file.webhooks.incident_labels)
        .unwrap_or_else(|| vec!["incident".to_string()]);
    let deployment_workflows = env("WEBHOOKS_DEPLOYMENT_WORKFLOWS")
        .map(|text| list(&text))
        .or(file.webhooks.deployment_workflows)
        .unwrap_or_default();
    let releases_are_deployments = match env("WEBHOOKS_RELEASES_ARE_DEPLOYMENTS") {
        Some(text) => boolean("LOOPWISE_WEBHOOKS_RELEASES_ARE_DEPLOYMENTS", &text)?,
        None => file.webhooks.releases_are_deployments.unwrap_or(false),
    };
    let default_environment = env("WEBHOOKS_DEFAULT_ENVIRONMENT")
        .or(file.webhooks.default_environment)
        .unwrap_or_else(|| "production".to_string());
    let webhooks = WebhookSettings {
        incident_labels,
        releases_are_deployments,
        services: file
            .services
            .iter()
            .filter_map(|(repository, entry)| match entry {
                NameOrTable::Name(service) => Some((repository.clone(), service.clone())),
                NameOrTable::Table(_) => None,
            })
            .collect(),
        default_environment,
        ..WebhookSettings::default()
    }
    .with_deployment_workflows(&deployment_workflows)
    .map_err(|e| bad_input(format!("webhooks.deployment_workflows: {e}")))?;
    let public_reads = match env("PUBLIC_READS") {
        Some(text) => boolean("LOOPWISE_PUBLIC_READS", &text)?,
        None => file.public_reads.unwrap_or(false),
    };
    let mut mirrors = resolve_mirrors(db.as_deref(), file.mirror, file.repositories, environment)?;
    let organisation = organisation(
        file.teams,
        &file.services,
        file.environments,
        file.incidents,
        environment,
    )?;
    // A mirrored monorepo answers its services' path questions as it imports.
    for settings in organisation.services.values() {
        if let (Some(repository), false) = (&settings.repository, settings.paths.is_empty()) {
            mirrors
                .service_paths
                .entry(repository.trim().to_string())
                .or_default()
                .push(settings.paths.clone());
        }
    }
    let server = ServerConfig {
        github_webhook_secret: env("GITHUB_WEBHOOK_SECRET")
            .or(file.github_webhook_secret)
            .map(Secret::new),
        gitlab_webhook_token: env("GITLAB_WEBHOOK_TOKEN")
            .or(file.gitlab_webhook_token)
            .map(Secret::new),
        webhooks,
        body_limit_bytes,
        public_reads,
        organisation,
        mirrors,
    };
    let sqlite_synchronous = match env("SQLITE_SYNCHRONOUS") {
        Some(text) => text
            .parse()
            .map_err(|e| bad_input(format!("LOOPWISE_SQLITE_SYNCHRONOUS: {e}")))?,
        None => match file.sqlite.synchronous {
            Some(text) => text
                .parse()
                .map_err(|e| bad_input(format!("sqlite.synchronous: {e}")))?,
            None => loopwise_store_sqlite::Synchronous::default(),
        },
    };
    let defaults = loopwise_store_postgres::PoolOptions::default();
    let max_connections = match env("POSTGRES_MAX_CONNECTIONS") {
        Some(text) => positive("LOOPWISE_POSTGRES_MAX_CONNECTIONS", &text)?,
        None => file
            .postgres
            .max_connections
            .map_or(Ok(defaults.max_connections), |n| {
                positive("postgres.max_connections", &n.to_string())
            })?,
    };
    let connect_timeout = match env("POSTGRES_CONNECT_TIMEOUT_SECONDS") {
        Some(text) => positive("LOOPWISE_POSTGRES_CONNECT_TIMEOUT_SECONDS", &text)?,
        None => file
            .postgres
            .connect_timeout_seconds
            .map_or(Ok(defaults.connect_timeout.as_secs() as u32), |n| {
                positive("postgres.connect_timeout_seconds", &n.to_string())
            })?,
    };
    Ok(ServeSettings {
        listen,
        db,
        store: crate::store::StoreOptions {
            sqlite_synchronous,
            postgres: loopwise_store_postgres::PoolOptions {
                max_connections,
                connect_timeout: Duration::from_secs(u64::from(connect_timeout)),
            },
        },
        server,
    })
}

fn seconds(
    environment: &dyn Environment,
    variable: &str,
    file: Option<u64>,
    default: u64,
) -> anyhow::Result<u64> {
    match environment.get(variable) {
        Some(text) => text.trim().parse().map_err(|_| {
            bad_input(format!(
                "{variable}={text:?} is not a whole number of seconds"
            ))
        }),
        None => Ok(file.unwrap_or(default)),
    }
}

/// The mirrors of `[repositories]`, with their directory and timings. Errors name the key; a
/// clone URL is shown only redacted.
fn resolve_mirrors(
    db: Option<&str>,
    file: FileMirror,
    repositories: BTreeMap<String, FileRepository>,
    environment: &dyn Environment,
) -> anyhow::Result<MirrorSettings> {
    let defaults = MirrorSettings::default();
    let interval = seconds(
        environment,
        "LOOPWISE_MIRROR_FETCH_INTERVAL_SECONDS",
        file.fetch_interval_seconds,
        defaults.fetch_interval.map_or(0, |d| d.as_secs()),
    )?;
    let timeout = seconds(
        environment,
        "LOOPWISE_MIRROR_FETCH_TIMEOUT_SECONDS",
        file.fetch_timeout_seconds,
        defaults.fetch_timeout.as_secs(),
    )?;
    if timeout == 0 {
        return Err(bad_input("mirror.fetch_timeout_seconds must be at least 1"));
    }
    let mut settings = MirrorSettings {
        mirrors: Vec::new(),
        fetch_interval: (interval > 0).then(|| Duration::from_secs(interval)),
        fetch_timeout: Duration::from_secs(timeout),
        service_paths: BTreeMap::new(),
    };
    if repositories.is_empty() {
        return Ok(settings);
    }
    let directory = match environment
        .get("LOOPWISE_MIRROR_DIRECTORY")
        .or(file.directory)
    {
        Some(directory) => PathBuf::from(directory),
        None => {
            // A PostgreSQL database has no directory of its own here: each node keeps its
            // mirrors in its data directory.
            let database = match db {
                Some(db) if !crate::store::is_shared(Some(db)) => {
                    loopwise_store_sqlite::path_from_url(db)
                }
                _ => crate::store::default_database()?,
            };
            database
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join("mirrors")
        }
    };
    for (key, repository) in repositories {
        let field = format!("repositories.{key:?}");
        let url = match (repository.clone_url, repository.clone_url_env) {
            (Some(_), Some(_)) => {
                return Err(bad_input(format!(
                    "{field}: give clone_url or clone_url_env, not both"
                )));
            }
            (Some(url), None) => url,
            (None, Some(variable)) => environment.get(&variable).ok_or_else(|| {
                bad_input(format!(
                    "{field}.clone_url_env: the environment variable {variable} is not set"
                ))
            })?,
            (None, None) => {
                return Err(bad_input(format!("{field}: clone_url is missing")));
            }
        };
        let url = CloneUrl::new(url).map_err(|e| bad_input(format!("{field}.clone_url: {e}")))?;
        let mirror =
            Mirror::new(&directory, &key, url).map_err(|e| bad_input(format!("{field}: {e}")))?;
        settings.mirrors.push(mirror);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_file_parses_and_gives_the_defaults() {
        let file: FileConfig = toml::from_str(DEFAULT_FILE).unwrap();
        let settings = resolve(None, None, file, &environment(&[])).unwrap();
        assert_eq!(settings.listen, DEFAULT_LISTEN);
        assert_eq!(settings.db, None);
        assert_eq!(settings.server.body_limit_bytes, 16 * 1024 * 1024);
        assert_eq!(settings.server.webhooks.incident_labels, vec!["incident"]);
        assert!(settings.server.github_webhook_secret.is_none());
        assert!(settings.server.mirrors.mirrors.is_empty());
        assert_eq!(
            settings.server.mirrors.fetch_interval,
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            settings.server.mirrors.fetch_timeout,
            Duration::from_secs(600)
        );
    }

    #[test]
    fn flag_beats_environment_beats_file() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:1\"\ndb = \"file.db\"\ngithub_webhook_secret = \"from-file\"\n[webhooks]\nincident_labels = [\"sev\"]\n[services]\n\"acme/api\" = \"checkout\"\n",
        )
        .unwrap();
        let env = environment(&[
            ("LOOPWISE_LISTEN", "127.0.0.1:2"),
            ("LOOPWISE_DB", "env.db"),
            ("LOOPWISE_WEBHOOKS_INCIDENT_LABELS", "incident, outage"),
            ("LOOPWISE_WEBHOOKS_RELEASES_ARE_DEPLOYMENTS", "yes"),
        ]);
        let settings = resolve(Some("127.0.0.1:3"), None, file, &env).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:3");
        assert_eq!(settings.db.as_deref(), Some("env.db"));
        assert_eq!(
            settings
                .server
                .github_webhook_secret
                .as_ref()
                .map(|s| s.expose()),
            Some("from-file")
        );
        assert_eq!(
            settings.server.webhooks.incident_labels,
            vec!["incident", "outage"]
        );
        assert!(settings.server.webhooks.releases_are_deployments);
        assert_eq!(settings.server.webhooks.service_for("acme/api"), "checkout");
    }

    #[test]
    fn repositories_with_clone_urls_become_mirrors() {
        let file: FileConfig = toml::from_str(
            "[mirror]\nfetch_interval_seconds = 0\n[repositories.\"acme/api\"]\nclone_url = \"https://ada:s3cret@github.com/acme/api.git\"\n[repositories.\"group/sub/web\"]\nclone_url_env = \"WEB_URL\"\n",
        )
        .unwrap();
        let env = environment(&[
            ("WEB_URL", "file:///srv/git/web.git"),
            ("LOOPWISE_MIRROR_FETCH_TIMEOUT_SECONDS", "30"),
        ]);
        let settings = resolve(None, Some("/var/lib/lw/loopwise.db"), file, &env).unwrap();
        let mirrors = &settings.server.mirrors;
        assert_eq!(mirrors.fetch_interval, None, "0 turns periodic fetches off");
        assert_eq!(mirrors.fetch_timeout, Duration::from_secs(30));
        let paths: Vec<_> = mirrors
            .mirrors
            .iter()
            .map(|m| m.path().to_path_buf())
            .collect();
        assert_eq!(
            paths,
            vec![
                PathBuf::from("/var/lib/lw/mirrors/acme/api.git"),
                PathBuf::from("/var/lib/lw/mirrors/group/sub/web.git"),
            ],
            "beside the database by default"
        );
        assert_eq!(mirrors.mirrors[1].url().expose(), "file:///srv/git/web.git");
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "the token never shows"
        );

        let bad = |text: &str, env: &[(&str, &str)]| {
            let file: FileConfig = toml::from_str(text).unwrap();
            resolve(None, Some("x.db"), file, &environment(env))
                .unwrap_err()
                .to_string()
        };
        let error = bad(
            "[repositories.\"acme/api\"]\nclone_url = \"gopher://u:s3cret@h/x\"\n",
            &[],
        );
        assert!(
            error.contains("acme/api") && !error.contains("s3cret"),
            "{error}"
        );
        let error = bad(
            "[repositories.\"../etc\"]\nclone_url = \"file:///x\"\n",
            &[],
        );
        assert!(error.contains("../etc"), "{error}");
        let error = bad(
            "[repositories.\"acme/api\"]\nclone_url_env = \"NOPE\"\n",
            &[],
        );
        assert!(error.contains("NOPE"), "{error}");
        let error = bad("[repositories.\"acme/api\"]\n", &[]);
        assert!(error.contains("clone_url is missing"), "{error}");
        let error = bad("", &[("LOOPWISE_MIRROR_FETCH_INTERVAL_SECONDS", "soon")]);
        assert!(
            error.contains("LOOPWISE_MIRROR_FETCH_INTERVAL_SECONDS"),
            "{error}"
        );
        assert!(
            toml::from_str::<FileConfig>("[repositories.\"a/b\"]\nclone_ur = \"x\"\n").is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn teams_own_services_in_both_forms() {
        let file: FileConfig = toml::from_str(
            "[teams]\nlegacy = \"ops\"\n[teams.payments]\ntribe = \"commerce\"\nservices = [\"checkout\", \"billing\"]\n\
             [teams.storefront]\ntribe = \"commerce\"\nservices = [\"web\"]\n",
        )
        .unwrap();
        let settings = resolve(None, None, file, &environment(&[])).unwrap();
        let ownership = &settings.server.organisation.ownership;
        let teams = ownership.teams();
        assert_eq!(teams.len(), 4);
        assert_eq!(teams["checkout"], "payments");
        assert_eq!(teams["billing"], "payments");
        assert_eq!(teams["web"], "storefront");
        assert_eq!(teams["legacy"], "ops");
        let tribes = ownership.tribes();
        assert_eq!(tribes.len(), 2, "ops has no tribe");
        assert_eq!(tribes["payments"], "commerce");
        assert_eq!(tribes["storefront"], "commerce");
        // The short form and a table agreeing on a service is fine.
        let agreeing: FileConfig = toml::from_str(
            "[teams]\ncheckout = \"payments\"\n[teams.payments]\nservices = [\"checkout\"]\n",
        )
        .unwrap();
        assert!(resolve(None, None, agreeing, &environment(&[])).is_ok());
    }

    #[test]
    fn bad_ownership_is_named() {
        let twice: FileConfig = toml::from_str(
            "[teams]\ncheckout = \"growth\"\n[teams.payments]\nservices = [\"checkout\"]\n",
        )
        .unwrap();
        let error = resolve(None, None, twice, &environment(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"checkout\"")
                && error.contains("\"growth\"")
                && error.contains("\"payments\""),
            "{error}"
        );
        let error = toml::from_str::<FileConfig>("[teams.payments]\ntrib = \"commerce\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `trib`"), "{error}");
        let error = toml::from_str::<FileConfig>("[teams]\ncheckout = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("a team name"), "{error}");
        let empty: FileConfig =
            toml::from_str("[teams.payments]\ntribe = \" \"\nservices = [\"a\"]\n").unwrap();
        let error = resolve(None, None, empty, &environment(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("tribe of team \"payments\" is empty"),
            "{error}"
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let error = toml::from_str::<FileConfig>("listn = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `listn`"), "{error}");
        let env = environment(&[("LOOPWISE_WEBHOOKS_RELEASES_ARE_DEPLOYMENTS", "maybe")]);
        let error = resolve(None, None, FileConfig::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("LOOPWISE_WEBHOOKS_RELEASES_ARE_DEPLOYMENTS"),
            "{error}"
        );
        let env = environment(&[("LOOPWISE_WEBHOOKS_DEPLOYMENT_WORKFLOWS", "deploy[")]);
        let error = resolve(None, None, FileConfig::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains("deployment_workflows"), "{error}");
    }

    /// The engine's settings of a config text, or the error's text.
    fn organisation_of(text: &str, env: &[(&str, &str)]) -> Result<Organisation, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        resolve(None, None, file, &environment(env))
            .map(|settings| settings.server.organisation)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn service_sections_feed_the_engine() {
        let organisation = organisation_of(
            "[services]\n\"acme/web\" = \"web\"\n\
             [services.api]\nrepository = \"acme/mono\"\npaths = [\"./services/api/\", \"libs\", \"libs\"]\n\
             deploy_tags = \"api-v*\"\nhotfix_tags = \"api-hotfix-*\"\nhotfix_subject = \"^hotfix\"\n\
             [environments]\nproduction = [\"prod-eu\", \"prod-us\"]\n[incidents]\nlink_window_hours = 24\n",
            &[],
        )
        .unwrap();
        let api = organisation.service("api");
        assert_eq!(api.repository.as_deref(), Some("acme/mono"));
        assert_eq!(
            api.paths,
            ["libs", "services/api"],
            "normalised, sorted, once"
        );
        assert_eq!(api.deploy_tags.as_ref().unwrap().as_str(), "api-v*");
        assert!(api.hotfix.tags.as_ref().unwrap().is_match("api-hotfix-3"));
        assert!(api.hotfix.subject.as_ref().unwrap().is_match("hotfix: x"));
        assert_eq!(
            organisation.service("web").repository.as_deref(),
            Some("acme/web"),
            "the webhook form names the service's repository too"
        );
        assert!(organisation.production.is_production("prod-us"));
        assert!(!organisation.production.is_production("production"));
        assert_eq!(organisation.incident_link_window_seconds, 24 * 3_600);
        // The environment wins over the file.
        let organisation = organisation_of(
            "[incidents]\nlink_window_hours = 24\n",
            &[
                ("LOOPWISE_INCIDENTS_LINK_WINDOW_HOURS", "6"),
                ("LOOPWISE_ENVIRONMENTS_PRODUCTION", "live"),
            ],
        )
        .unwrap();
        assert_eq!(organisation.incident_link_window_seconds, 6 * 3_600);
        assert!(organisation.production.is_production("live"));
        // Defaults.
        let organisation = organisation_of("", &[]).unwrap();
        assert_eq!(organisation.incident_link_window_seconds, 72 * 3_600);
        assert!(organisation.production.is_production("prod"));
    }

    #[test]
    fn bad_service_sections_are_named() {
        for (text, expected) in [
            ("[services.api]\npath = [\"x\"]\n", "unknown field `path`"),
            (
                "[services.api]\nhotfix_tags = \"[a\"\n",
                "services.api.hotfix_tags",
            ),
            (
                "[services.api]\nhotfix_subject = \"(\"\n",
                "services.api.hotfix_subject",
            ),
            (
                "[services.api]\npaths = [\"../etc\"]\n",
                "services.api.paths",
            ),
            (
                "[services]\n\"acme/a\" = \"api\"\n\"acme/b\" = \"api\"\n",
                "fed by both",
            ),
            (
                "[services]\n\"acme/a\" = \"api\"\n[services.api]\nrepository = \"acme/b\"\n",
                "services.api.repository",
            ),
            (
                "[environments]\nproduction = []\n",
                "environments.production",
            ),
            ("[environments]\nprod = [\"x\"]\n", "unknown field `prod`"),
            (
                "[incidents]\nlink_window_hours = 0\n",
                "incidents.link_window_hours",
            ),
            (
                "[teams]\napi = \"a\"\n[teams.b]\nservices = [\"api\"]\n",
                "owned by both",
            ),
        ] {
            let error = organisation_of(text, &[]).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn sqlite_synchronous_layers_like_every_setting() {
        use loopwise_store_sqlite::Synchronous;
        let default = resolve(None, None, FileConfig::default(), &environment(&[])).unwrap();
        assert_eq!(default.store.sqlite_synchronous, Synchronous::Normal);
        let file = || toml::from_str::<FileConfig>("[sqlite]\nsynchronous = \"full\"\n").unwrap();
        let from_file = resolve(None, None, file(), &environment(&[])).unwrap();
        assert_eq!(from_file.store.sqlite_synchronous, Synchronous::Full);
        let env = environment(&[("LOOPWISE_SQLITE_SYNCHRONOUS", "normal")]);
        assert_eq!(
            resolve(None, None, file(), &env)
                .unwrap()
                .store
                .sqlite_synchronous,
            Synchronous::Normal,
            "the environment wins over the file"
        );
        let env = environment(&[("LOOPWISE_SQLITE_SYNCHRONOUS", "off")]);
        let error = resolve(None, None, FileConfig::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("LOOPWISE_SQLITE_SYNCHRONOUS") && error.contains("off"),
            "{error}"
        );
        let bad = toml::from_str::<FileConfig>("[sqlite]\nsynchronous = \"extra\"\n").unwrap();
        let error = resolve(None, None, bad, &environment(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("sqlite.synchronous"), "{error}");
    }

    #[test]
    fn postgres_pool_settings_layer_and_are_checked() {
        let default = resolve(None, None, FileConfig::default(), &environment(&[])).unwrap();
        assert_eq!(default.store.postgres.max_connections, 16);
        assert_eq!(
            default.store.postgres.connect_timeout,
            Duration::from_secs(5)
        );
        let file = || {
            toml::from_str::<FileConfig>(
                "[postgres]\nmax_connections = 40\nconnect_timeout_seconds = 2\n",
            )
            .unwrap()
        };
        let from_file = resolve(None, None, file(), &environment(&[])).unwrap();
        assert_eq!(from_file.store.postgres.max_connections, 40);
        assert_eq!(
            from_file.store.postgres.connect_timeout,
            Duration::from_secs(2)
        );
        let env = environment(&[("LOOPWISE_POSTGRES_MAX_CONNECTIONS", "8")]);
        let layered = resolve(None, None, file(), &env).unwrap();
        assert_eq!(
            layered.store.postgres.max_connections, 8,
            "the environment wins"
        );
        let env = environment(&[("LOOPWISE_POSTGRES_MAX_CONNECTIONS", "0")]);
        let error = resolve(None, None, FileConfig::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("LOOPWISE_POSTGRES_MAX_CONNECTIONS"),
            "{error}"
        );
        let bad =
            toml::from_str::<FileConfig>("[postgres]\nconnect_timeout_seconds = 0\n").unwrap();
        let error = resolve(None, None, bad, &environment(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("postgres.connect_timeout_seconds"),
            "{error}"
        );
        assert!(toml::from_str::<FileConfig>("[postgres]\npool = 3\n").is_err());
    }
}
