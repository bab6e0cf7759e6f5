//! Prometheus `GET /metrics` on a listener of its own (`--metrics-listen ADDR`), never beside
//! the public API: what the function host counts is for the operator's scraper, on an address
//! the operator chooses (loopback or a private interface). Off unless asked for.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use origo_shared::ApiError;
use tokio::net::TcpListener;

use crate::http_error::HttpError;
use crate::metrics::Metrics;

/// `--metrics-listen`: `off`, or the address to serve `/metrics` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

impl FromStr for MetricsListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(MetricsListen(None));
        }
        s.parse::<SocketAddr>()
            .map(|a| MetricsListen(Some(a)))
            .map_err(|e| format!("{s:?} is neither `off` nor an address such as 127.0.0.1:9080: {e}"))
    }
}

/// The bound metrics listener, served by [`MetricsListener::serve`].
pub struct MetricsListener {
    listener: TcpListener,
    metrics: Arc<Metrics>,
}

impl MetricsListener {
    /// Binds `addr` for the metrics of `metrics`.
    pub async fn bind(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot serve metrics on {addr}: {e}; choose another address with --metrics-listen ADDR (ORIGO_METRICS_LISTEN), or off"
            )
        })?;
        Ok(MetricsListener { listener, metrics })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `/metrics` (anything else: 404 with the JSON error body) until the task is dropped.
    pub async fn serve(self) -> std::io::Result<()> {
        let router = Router::new().route("/metrics", get(metrics)).fallback(not_found).with_state(self.metrics);
        axum::serve(self.listener, router).await
    }
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.encode())
}

async fn not_found(uri: Uri) -> HttpError {
    tracing::debug!(path = uri.path(), "metrics listener: no such route");
    ApiError::not_found(format!("the metrics listener serves only /metrics, not {}", uri.path())).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_or_an_address() {
        assert_eq!("off".parse::<MetricsListen>().unwrap(), MetricsListen(None));
        assert_eq!("OFF".parse::<MetricsListen>().unwrap(), MetricsListen(None));
        assert_eq!(
            "127.0.0.1:9080".parse::<MetricsListen>().unwrap(),
            MetricsListen(Some("127.0.0.1:9080".parse().unwrap()))
        );
        for bad in ["", "9080", "localhost:9080", "on"] {
            assert!(bad.parse::<MetricsListen>().is_err(), "{bad}");
        }
    }
}
