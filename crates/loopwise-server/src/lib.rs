//! loopwise's HTTP server: the events API, the GitHub and GitLab webhooks, and health checks,
//! over the same store and core as the command line.
//!
//! Handlers are thin: they authenticate, hand bodies to the ingest parsers, and call the store
//! on a blocking thread. Wire shapes (JSON in and out) live only in this crate; every error goes
//! through [`error::AppError`]. The server reads no environment and no files: the binary builds
//! a [`ServerConfig`] and hands it over.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod metrics;
pub mod mirrors;
pub mod openapi;
pub mod reads;
pub mod report;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, post};
use error::AppError;
use loopwise_ingest::webhooks::WebhookSettings;
use loopwise_store::Store;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the server needs to know, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub github_webhook_secret: Option<Secret>,
    pub gitlab_webhook_token: Option<Secret>,
    pub webhooks: WebhookSettings,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Reads (reports) need no token.
    pub public_reads: bool,
    /// Ownership, service repositories and paths, hotfix patterns, production environments and
    /// the incident-linking window: what the report engine needs besides the store.
    pub organisation: loopwise_engine::Organisation,
    /// Repositories kept as bare mirrors, for the exact commit graph.
    pub mirrors: mirrors::MirrorSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            github_webhook_secret: None,
            gitlab_webhook_token: None,
            webhooks: WebhookSettings::default(),
            body_limit_bytes: 16 * 1024 * 1024,
            public_reads: false,
            organisation: loopwise_engine::Organisation::default(),
            mirrors: mirrors::MirrorSettings::default(),
        }
    }
}

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ServerConfig>,
    /// The server's own request counters and latencies.
    pub requests: Arc<metrics::RequestMetrics>,
    /// Repository mirrors; their workers run while [`serve`] does.
    pub mirrors: Arc<mirrors::Mirrors>,
    /// The report engine: every figure the API and the pages show, and the derived facts it
    /// keeps while the data's write versions hold.
    pub engine: Arc<loopwise_engine::Engine>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let mirrors = Arc::new(mirrors::Mirrors::new(&config.mirrors));
        // Chains derived again after a write are kept in the store from a thread of its own:
        // the report that derived them does not wait for that write.
        let engine = Arc::new(
            loopwise_engine::Engine::new(config.organisation.clone())
                .keeping_in_background(Arc::clone(&store)),
        );
        Self {
            store,
            config: Arc::new(config),
            requests: Arc::default(),
            mirrors,
            engine,
        }
    }
}

/// The whole HTTP interface.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/events", post(events::post_events))
        .route("/api/v1/report", get(report::get_report))
        .route("/api/v1/metrics/{metric}", get(reads::get_series))
        .route("/api/v1/leaderboard", get(reads::get_leaderboard))
        .route("/api/v1/openapi.json", get(openapi::get_openapi))
        .route("/metrics", get(metrics::get_metrics))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// The repository mirrors are fetched meanwhile; they stop (a running git is killed) with it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mirrors = Arc::clone(&state.mirrors);
    let workers = mirrors.start(Arc::clone(&state.store));
    let warming = state.clone();
    let engine = Arc::clone(&state.engine);
    // Detached: requests are served meanwhile, and a stop does not wait for it.
    drop(tokio::task::spawn_blocking(move || {
        metrics::warm_report_cache(&warming)
    }));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    mirrors.stop();
    for worker in workers {
        // An import in progress finishes its transaction; git itself is killed at once.
        let _ = worker.await;
    }
    // What the engine derived last is kept, so the next start need not derive it again.
    let _ = tokio::task::spawn_blocking(move || engine.flush_kept()).await;
    served
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = openapi::Status)))]
pub async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = openapi::Status),
        (status = 503, description = "The database is unavailable", body = error::ErrorBody),
    ))]
pub async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.ping())
        .await
        .map_err(AppError::internal)??;
    Ok(axum::Json(serde_json::json!({"status": "ready"})))
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}

/// The wall clock in Unix seconds: the server's one reading of "now" (the core reads none).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A body that could not be read: too large, or cut off.
pub(crate) fn body_rejection(rejection: BytesRejection) -> AppError {
    let status = rejection.status();
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            status,
            "too_large",
            "the request body is larger than the server accepts",
        )
    } else {
        AppError::bad_request(
            "unreadable_body",
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
        )
    }
}
