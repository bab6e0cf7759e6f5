//! The HTTP server: binds, routes, and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use origo_shared::ApiError;
use serde_json::json;
use tokio::net::TcpListener;

use crate::http_error::HttpError;

/// What the handlers share.
#[derive(Debug)]
struct AppState {
    mode: &'static str,
    started: Instant,
    data_dir: PathBuf,
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Prepares the data directory and binds `listen`.
    pub async fn bind(
        mode: &'static str,
        listen: SocketAddr,
        data_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&data_dir)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let state = Arc::new(AppState {
            mode,
            started: Instant::now(),
            data_dir,
        });
        Ok(Server {
            listener,
            router: router(state),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    mode: &'static str,
    listen: SocketAddr,
    data_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = Server::bind(mode, listen, data_dir).await?;
    server.run(shutdown).await?;
    Ok(())
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let data_dir_ok = tokio::fs::metadata(&state.data_dir)
        .await
        .map(|m| m.is_dir())
        .unwrap_or(false);
    Json(json!({
        "status": if data_dir_ok { "ok" } else { "degraded" },
        "service": "origo",
        "mode": state.mode,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "checks": { "data_dir": data_dir_ok },
    }))
}

async fn not_found(method: Method, uri: Uri) -> HttpError {
    tracing::debug!(%method, path = uri.path(), "no route");
    ApiError::not_found(format!("no route for {method} {}", uri.path())).into()
}

async fn method_not_allowed(method: Method, uri: Uri) -> HttpError {
    tracing::debug!(%method, path = uri.path(), "method not allowed");
    ApiError::method_not_allowed(format!("{method} is not allowed on {}", uri.path())).into()
}
