//! A room coordinator's check of a media node its participants lost their media from
//! ([`Effect::ProbeNode`](origo_functions::coordinator::Effect)): the node's `/health`, with a
//! deadline of [`PROBE_DEADLINE_MS`] (a node that refuses the connection is known at once). A node that refuses the connection, times out or answers
//! anything but 2xx is unreachable, and the registry is told so
//! ([`NodeDescriptor::unreachable_since_ms`]) until the node's next heartbeat.

use std::sync::Arc;
use std::time::Duration;

use origo_functions::coordinator::NodeView;
use origo_functions::coordinator::node_health::PROBE_DEADLINE_MS;
use origo_functions::store::{index::Index, keys};
use origo_shared::node::{NodeDescriptor, SelectorConfig};

use crate::kv::KvBackend;

/// How long the node has to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(PROBE_DEADLINE_MS);

/// Whether the node `node_id` (as the registry in `store` of `kv` names it) answers now. A
/// node without a registry entry or control URL does not.
pub async fn reachable(client: &reqwest::Client, kv: &KvBackend, store: &str, node_id: &str) -> bool {
    let Some(base) = descriptor(kv, store, node_id).await.and_then(|n| n.addresses.control_url) else {
        return false;
    };
    let url = format!("{}/health", base.trim_end_matches('/'));
    match client.get(&url).timeout(PROBE_TIMEOUT).send().await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(node = node_id, status = r.status().as_u16(), "media node probe: unhealthy answer");
            false
        }
        Err(e) => {
            tracing::warn!(node = node_id, "media node probe: no answer: {e}");
            false
        }
    }
}

/// Marks `node_id` unreachable in the registry as of `now_ms` (its next heartbeat replaces
/// the entry).
pub async fn mark_unreachable(kv: &KvBackend, store: &str, node_id: &str, now_ms: u64) {
    let Some(mut node) = descriptor(kv, store, node_id).await else { return };
    if node.unreachable_since_ms.is_some() {
        return;
    }
    node.unreachable_since_ms = Some(now_ms);
    match serde_json::to_vec(&node) {
        Ok(bytes) => {
            if let Err(e) = kv.set(store, &keys::node(node_id), &bytes).await {
                tracing::warn!(node = node_id, "cannot mark the node unreachable: {e}");
            } else {
                tracing::info!(node = node_id, "media node marked unreachable");
            }
        }
        Err(e) => tracing::warn!(node = node_id, "cannot encode the node: {e}"),
    }
}

/// The node registry as stored now: the index, then one read per node.
pub async fn view(kv: &KvBackend, store: &str, selector: &SelectorConfig) -> Arc<NodeView> {
    let mut nodes = Vec::new();
    if let Ok(listed) = kv.get(store, keys::NODE_INDEX).await {
        for id in Index::decode(listed.as_deref()).entries.keys() {
            if let Some(n) = descriptor(kv, store, id).await {
                nodes.push(n);
            }
        }
    }
    Arc::new(NodeView { nodes, selector: selector.clone() })
}

/// The registry's entry for `node_id` (`None` when it has none or it cannot be read).
pub async fn descriptor(kv: &KvBackend, store: &str, node_id: &str) -> Option<NodeDescriptor> {
    match kv.get(store, &keys::node(node_id)).await {
        Ok(Some(b)) => serde_json::from_slice(&b).ok(),
        _ => None,
    }
}
