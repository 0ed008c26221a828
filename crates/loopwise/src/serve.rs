//! `loopwise serve`: the HTTP server on one port, until SIGINT or SIGTERM; in-flight requests
//! finish before it exits.

use crate::cli::ServeArgs;
use crate::config::{self, ProcessEnvironment};
use crate::errors::bad_input;
use crate::store;
use anyhow::Context;
use loopwise_server::AppState;
use std::sync::Arc;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    run_announcing(args, |_| {})
}

/// [`run`], calling `listening` with the bound address once the server accepts connections
/// (`loopwise demo` prints where to open the dashboard).
pub fn run_announcing(
    args: ServeArgs,
    listening: impl FnOnce(std::net::SocketAddr) + Send + 'static,
) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => config::read_file(path)?,
        None => config::FileConfig::default(),
    };
    let settings = config::resolve(
        args.listen.as_deref(),
        args.db.as_deref(),
        file,
        &ProcessEnvironment,
    )?;
    let address: std::net::SocketAddr = settings.listen.parse().map_err(|e| {
        bad_input(format!(
            "--listen {:?} is not an address like 127.0.0.1:7878: {e}",
            settings.listen
        ))
    })?;
    let store: Arc<dyn loopwise_store::Store> =
        Arc::from(store::open_with(settings.db.as_deref(), &settings.store)?);
    for mirror in &settings.server.mirrors.mirrors {
        tracing::info!(
            repository = mirror.key(),
            url = %mirror.url(),
            path = %mirror.path().display(),
            "mirroring repository"
        );
    }
    // Kept here so that the store is dropped after the runtime: PostgreSQL's client owns a
    // runtime of its own, which must not be dropped inside an async context.
    let keep_store = Arc::clone(&store);
    let state = AppState::new(store, settings.server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let served = runtime.block_on(async move {
        // Signal handlers go in before the address is announced: a SIGTERM sent as soon as
        // the server says it listens must stop it gracefully, not kill it.
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| listen_error(address, &e))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        tracing::info!(address = %bound, "loopwise serving");
        // The bound address on stderr, so scripts that ask for port 0 learn the real port.
        eprintln!("loopwise listening on http://{bound}");
        listening(bound);
        loopwise_server::serve(listener, state, shutdown)
            .await
            .context("serving HTTP")?;
        tracing::info!("loopwise stopped");
        Ok::<_, anyhow::Error>(())
    });
    // Blocking work still running then (a report cache warm-up, a request whose client left)
    // holds no acknowledged write: do not wait long for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(keep_store);
    served
}

/// Resolves on the first SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}

/// Why the server cannot listen. A busy or forbidden port is the machine's state, not bad
/// input (exit status 1), and the message says how to choose another; an address this machine
/// does not have is bad input (2).
fn listen_error(address: std::net::SocketAddr, error: &std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {address}: the port is already in use (another loopwise or \
             another program); choose another with --listen, e.g. --listen 127.0.0.1:7879, or \
             --listen 127.0.0.1:0 for any free port"
        ),
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot listen on {address}: permission denied (ports below 1024 need privileges); \
             choose another with --listen, e.g. --listen 127.0.0.1:7878"
        ),
        _ => bad_input(format!("cannot listen on {address} (--listen): {error}")),
    }
}
