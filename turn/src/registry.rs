//! Heartbeats to the edge's node registry: region, ICE URLs, capacity and load, every few
//! seconds, so coordinators can hand this node's address to participants nearby.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use origo_shared::node::{NodeAddresses, NodeHeartbeat, NodeKind};

use crate::metrics::Snapshot;

pub const INTERVAL: Duration = Duration::from_secs(5);

/// What to announce.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub registry: String,
    pub token: Option<String>,
    pub node_id: String,
    pub region: String,
    pub ice_urls: Vec<String>,
}

impl Announcement {
    pub fn heartbeat(&self, snapshot: &Snapshot) -> NodeHeartbeat {
        NodeHeartbeat {
            id: self.node_id.clone(),
            region: self.region.clone(),
            kind: NodeKind::Turn,
            addresses: NodeAddresses { control_url: None, udp: vec![], ice_urls: self.ice_urls.clone() },
            capacity: snapshot.capacity.min(u64::from(u32::MAX)) as u32,
            load: snapshot.allocations.min(u64::from(u32::MAX)) as u32,
            draining: false,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }
    }
}

/// Sends a heartbeat every [`INTERVAL`] until the process ends. Failures are logged (once per
/// change of state) and retried; the relay keeps serving either way.
pub async fn run(a: Announcement, snapshot: Arc<Mutex<Snapshot>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let url = format!("{}/v1/nodes/heartbeat", a.registry.trim_end_matches('/'));
    let mut healthy: Option<bool> = None;
    loop {
        let hb = snapshot.lock().map(|s| a.heartbeat(&s)).ok();
        if let Some(hb) = hb {
            let mut req = client.post(&url).json(&hb);
            if let Some(t) = &a.token {
                req = req.bearer_auth(t);
            }
            let ok = match req.send().await {
                Ok(res) if res.status().is_success() => true,
                Ok(res) => {
                    if healthy != Some(false) {
                        tracing::warn!(status = res.status().as_u16(), %url, "registry refused the heartbeat");
                    }
                    false
                }
                Err(e) => {
                    if healthy != Some(false) {
                        tracing::warn!(%url, "registry unreachable: {e}");
                    }
                    false
                }
            };
            if ok && healthy != Some(true) {
                tracing::info!(%url, "registered with the edge");
            }
            healthy = Some(ok);
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
