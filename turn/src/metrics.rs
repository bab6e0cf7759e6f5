//! `/health` and `/metrics` (OpenMetrics text, through `prometheus-client`) for the TURN node,
//! served from a snapshot the relay loop publishes once a second.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::server::Stats;
use crate::stream_limits::StreamStats;

/// What the relay loop publishes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub allocations: u64,
    pub permissions: u64,
    pub channels: u64,
    pub capacity: u64,
    /// The node takes no new allocations (it is stopping).
    pub draining: bool,
    pub stats: Stats,
    pub streams: StreamStats,
}

impl Snapshot {
    /// The OpenMetrics text exposition: gauges for what is live now, counters (`_total`) for
    /// what happened since the start.
    pub fn encode(&self) -> String {
        let (s, t) = (&self.stats, &self.streams);
        let mut registry = Registry::with_prefix("origo_turn");
        let gauges = [
            ("allocations", "Live allocations", self.allocations),
            ("permissions", "Live permissions", self.permissions),
            ("channels", "Live channel bindings", self.channels),
            ("allocation_capacity", "Allocations this node accepts", self.capacity),
            ("draining", "1 while the node is stopping: new allocations are refused", u64::from(self.draining)),
            ("tcp_connections", "Open TCP and TLS connections", t.open),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value));
        }
        let counters = [
            ("allocations_created", "Allocations created", s.allocations_created),
            ("relayed_packets_to_peers", "Packets relayed from clients to peers", s.packets_to_peers),
            ("relayed_bytes_to_peers", "Bytes relayed from clients to peers", s.bytes_to_peers),
            ("relayed_packets_to_clients", "Packets relayed from peers to clients", s.packets_to_clients),
            ("relayed_bytes_to_clients", "Bytes relayed from peers to clients", s.bytes_to_clients),
            ("auth_failures", "Requests with wrong or expired credentials", s.auth_failures),
            ("unauthenticated_dropped", "Unauthenticated requests dropped by the rate limit", s.unauth_dropped),
            ("binding_dropped", "Binding requests dropped by the per-source rate limit", s.binding_dropped),
            ("quota_refused", "Allocations refused because the identity is at its quota (486)", s.quota_refused),
            ("drain_refused", "Allocations refused because the node is draining (508)", s.drain_refused),
            ("denied_peers", "Peer addresses refused by the peer policy", s.denied_peers),
            (
                "denied_own_addresses",
                "Peers refused or packets dropped for being this server's own address",
                s.denied_own_addresses,
            ),
            ("dropped_no_permission", "Packets dropped for lack of a permission", s.dropped_no_permission),
            ("dropped_over_bandwidth", "Packets dropped by the bandwidth cap", s.dropped_over_bandwidth),
            ("dropped_over_bandwidth_bytes", "Bytes dropped by the bandwidth cap", s.dropped_over_bandwidth_bytes),
            ("malformed", "Messages that were not valid STUN/TURN", s.malformed),
            ("tcp_accepted", "TCP and TLS connections accepted", t.accepted),
            (
                "tcp_refused_total_cap",
                "TCP and TLS connections refused at the server's connection cap",
                t.refused_total,
            ),
            ("tcp_refused_per_ip_cap", "TCP and TLS connections refused at the per-source cap", t.refused_per_source),
            (
                "tcp_closed_idle",
                "TCP and TLS connections closed without a complete message in the idle timeout",
                t.closed_idle,
            ),
            (
                "tcp_closed_incomplete",
                "TCP and TLS connections closed with a message incomplete past the frame timeout",
                t.closed_incomplete,
            ),
        ];
        // (The `_total` suffix of a counter's samples is added by the encoder.)
        for (name, help, value) in counters {
            registry.register(name, help, ConstCounter::new(value));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
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
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_keeps_its_name_and_kind() {
        let snapshot = Snapshot {
            allocations: 2,
            capacity: 10,
            stats: Stats { auth_failures: 3, ..Stats::default() },
            ..Snapshot::default()
        };
        let text = snapshot.encode();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let names: Vec<&str> = samples.iter().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(
            names,
            [
                "origo_turn_allocations",
                "origo_turn_permissions",
                "origo_turn_channels",
                "origo_turn_allocation_capacity",
                "origo_turn_draining",
                "origo_turn_tcp_connections",
                "origo_turn_allocations_created_total",
                "origo_turn_relayed_packets_to_peers_total",
                "origo_turn_relayed_bytes_to_peers_total",
                "origo_turn_relayed_packets_to_clients_total",
                "origo_turn_relayed_bytes_to_clients_total",
                "origo_turn_auth_failures_total",
                "origo_turn_unauthenticated_dropped_total",
                "origo_turn_binding_dropped_total",
                "origo_turn_quota_refused_total",
                "origo_turn_drain_refused_total",
                "origo_turn_denied_peers_total",
                "origo_turn_denied_own_addresses_total",
                "origo_turn_dropped_no_permission_total",
                "origo_turn_dropped_over_bandwidth_total",
                "origo_turn_dropped_over_bandwidth_bytes_total",
                "origo_turn_malformed_total",
                "origo_turn_tcp_accepted_total",
                "origo_turn_tcp_refused_total_cap_total",
                "origo_turn_tcp_refused_per_ip_cap_total",
                "origo_turn_tcp_closed_idle_total",
                "origo_turn_tcp_closed_incomplete_total",
            ]
        );
        assert!(samples.contains(&"origo_turn_allocations 2"), "{text}");
        assert!(samples.contains(&"origo_turn_auth_failures_total 3"), "{text}");
        assert!(text.contains("# TYPE origo_turn_allocations gauge\n"), "{text}");
        assert!(text.contains("# TYPE origo_turn_auth_failures counter\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
