//! A room coordinator's check of a media node its participants lost their media from
//! ([`Effect::ProbeNode`](origo_functions::coordinator::Effect)): the node's `/health`, with a
//! deadline of [`PROBE_DEADLINE_MS`]. A node that refuses the connection (known at once) or
//! answers anything but 2xx is down ([`ProbeOutcome::Down`]), and the room has the registry
//! told so ([`NodeDescriptor::unreachable_since_ms`]) until the node's next heartbeat; one that
//! does not answer in time is [`ProbeOutcome::NoAnswer`] (gone or only slow: the room decides).

use std::sync::Arc;
use std::time::Duration;

use origo_functions::coordinator::NodeView;
use origo_functions::coordinator::node_health::{PROBE_DEADLINE_MS, ProbeOutcome};
use origo_functions::store::{index::Index, keys};
use origo_shared::node::{NodeDescriptor, SelectorConfig};

use crate::kv::KvBackend;

/// How long the node has to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(PROBE_DEADLINE_MS);

/// Whether the node `node_id` (as the registry in `store` of `kv` names it) answers now. A
/// node without a registry entry or control URL is down.
pub async fn probe(client: &reqwest::Client, kv: &KvBackend, store: &str, node_id: &str) -> ProbeOutcome {
    let Some(base) = descriptor(kv, store, node_id).await.and_then(|n| n.addresses.control_url) else {
        return ProbeOutcome::Down;
    };
    let url = format!("{}/health", base.trim_end_matches('/'));
    match client.get(&url).timeout(PROBE_TIMEOUT).send().await {
        Ok(r) if r.status().is_success() => ProbeOutcome::Answered,
        Ok(r) => {
            tracing::warn!(node = node_id, status = r.status().as_u16(), "media node probe: unhealthy answer");
            ProbeOutcome::Down
        }
        Err(e) if e.is_timeout() => {
            tracing::warn!(node = node_id, "media node probe: no answer within {PROBE_DEADLINE_MS} ms");
            ProbeOutcome::NoAnswer
        }
        Err(e) => {
            // reqwest's own message hides the cause (a refused connection, say): show the chain.
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            tracing::warn!(node = node_id, "media node probe: {why}");
            ProbeOutcome::Down
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

#[cfg(test)]
mod tests {
    use super::*;
    use origo_shared::node::{NodeAddresses, NodeKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const STORE: &str = crate::kv::DEFAULT_STORE;

    async fn register(kv: &KvBackend, id: &str, control_url: Option<String>) {
        let node = NodeDescriptor {
            id: id.into(),
            region: "eu-west".into(),
            kind: NodeKind::Media,
            addresses: NodeAddresses { control_url, ..Default::default() },
            capacity: 10,
            load: 0,
            draining: false,
            leaving: false,
            last_heartbeat_ms: 0,
            version: None,
            unreachable_since_ms: None,
        };
        kv.set(STORE, &keys::node(id), &serde_json::to_vec(&node).unwrap()).await.unwrap();
    }

    /// A loopback server answering every request with `status` (or never, with `None`).
    async fn server(status: Option<u16>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                match status {
                    Some(code) => {
                        // Read the request first: closing on unread bytes would reset it.
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf).await;
                        let reply = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        let _ = s.write_all(reply.as_bytes()).await;
                    }
                    // Accepted, never answered: a host whose node hangs (or a far, slow one).
                    None => held.push(s),
                }
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_refusal_or_an_error_is_down_and_silence_is_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let kv = KvBackend::open_embedded(&dir.path().join("kv.redb")).unwrap();
        let client = reqwest::Client::new();
        register(&kv, "up", Some(server(Some(200)).await)).await;
        register(&kv, "sick", Some(server(Some(503)).await)).await;
        register(&kv, "hung", Some(server(None).await)).await;
        // A port nobody listens on: the connection is refused at once.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        register(&kv, "dead", Some(format!("http://{closed}"))).await;
        register(&kv, "no-url", None).await;
        assert_eq!(probe(&client, &kv, STORE, "up").await, ProbeOutcome::Answered);
        assert_eq!(probe(&client, &kv, STORE, "sick").await, ProbeOutcome::Down);
        let started = std::time::Instant::now();
        assert_eq!(probe(&client, &kv, STORE, "dead").await, ProbeOutcome::Down);
        assert!(started.elapsed() < PROBE_TIMEOUT / 2, "a refusal is known at once");
        assert_eq!(probe(&client, &kv, STORE, "no-url").await, ProbeOutcome::Down);
        assert_eq!(probe(&client, &kv, STORE, "unregistered").await, ProbeOutcome::Down);
        let started = std::time::Instant::now();
        assert_eq!(probe(&client, &kv, STORE, "hung").await, ProbeOutcome::NoAnswer);
        assert!(started.elapsed() >= PROBE_TIMEOUT, "it waited the whole deadline");
    }
}
