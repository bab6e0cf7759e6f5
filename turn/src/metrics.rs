//! `/health` and `/metrics` (Prometheus text format) for the TURN node, served from a snapshot
//! the relay loop publishes once a second.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::server::Stats;

/// What the relay loop publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub allocations: u64,
    pub permissions: u64,
    pub channels: u64,
    pub capacity: u64,
    pub stats: Stats,
}

impl Snapshot {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP origo_turn_{name} {help}\n# TYPE origo_turn_{name} {kind}\norigo_turn_{name} {value}"
            );
        };
        metric("allocations", "gauge", "Live allocations", self.allocations);
        metric("permissions", "gauge", "Live permissions", self.permissions);
        metric("channels", "gauge", "Live channel bindings", self.channels);
        metric("allocation_capacity", "gauge", "Allocations this node accepts", self.capacity);
        metric("allocations_created_total", "counter", "Allocations created", s.allocations_created);
        metric(
            "relayed_packets_to_peers_total",
            "counter",
            "Packets relayed from clients to peers",
            s.packets_to_peers,
        );
        metric("relayed_bytes_to_peers_total", "counter", "Bytes relayed from clients to peers", s.bytes_to_peers);
        metric(
            "relayed_packets_to_clients_total",
            "counter",
            "Packets relayed from peers to clients",
            s.packets_to_clients,
        );
        metric("relayed_bytes_to_clients_total", "counter", "Bytes relayed from peers to clients", s.bytes_to_clients);
        metric("auth_failures_total", "counter", "Requests with wrong or expired credentials", s.auth_failures);
        metric(
            "unauthenticated_dropped_total",
            "counter",
            "Unauthenticated requests dropped by the rate limit",
            s.unauth_dropped,
        );
        metric("denied_peers_total", "counter", "Peer addresses refused by the peer policy", s.denied_peers);
        metric(
            "dropped_no_permission_total",
            "counter",
            "Packets dropped for lack of a permission",
            s.dropped_no_permission,
        );
        metric(
            "dropped_over_bandwidth_total",
            "counter",
            "Packets dropped by the bandwidth cap",
            s.dropped_over_bandwidth,
        );
        metric("malformed_total", "counter", "Messages that were not valid STUN/TURN", s.malformed);
        out
    }
}

/// Serves `/health` and `/metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, snapshot: Arc<Mutex<Snapshot>>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new().route("/health", get(health)).route("/metrics", get(metrics)).with_state(snapshot);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(local)
}

async fn health(State(s): State<Arc<Mutex<Snapshot>>>) -> impl IntoResponse {
    let allocations = s.lock().map(|s| s.allocations).unwrap_or(0);
    axum::Json(serde_json::json!({ "status": "ok", "service": "origo-turn", "allocations": allocations }))
}

async fn metrics(State(s): State<Arc<Mutex<Snapshot>>>) -> impl IntoResponse {
    let body = s.lock().map(|s| s.encode()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
