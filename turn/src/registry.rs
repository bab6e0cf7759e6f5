//! Heartbeats to the edge's node registry: region, ICE URLs, capacity and load, every few
//! seconds, so coordinators can hand this node's address to participants nearby.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use origo_shared::node::{NodeAddresses, NodeHeartbeat, NodeKind};

use crate::metrics::Snapshot;

pub use origo_registry_agent::INTERVAL;

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
            draining: snapshot.draining,
            leaving: false,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }
    }
}

/// Sends a heartbeat every [`INTERVAL`], and at once when `wake` is notified (the node starts
/// draining), until the process ends (see `origo_registry_agent`).
pub async fn run(a: Announcement, snapshot: Arc<Mutex<Snapshot>>, wake: Arc<Notify>) {
    let (registry, token) = (a.registry.clone(), a.token.clone());
    origo_registry_agent::run_woken(registry, token, move || snapshot.lock().map(|s| a.heartbeat(&s)).ok(), wake).await;
}
