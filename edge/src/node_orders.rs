//! Carries a room coordinator's orders to media nodes ([`NodeOrder`]): the removed
//! participant's sessions closed, an admin's mute enforced. The node is found in the registry
//! (its `control_url`) and called with the node secret, after the room's state is durable. Best
//! effort with one retry: a node that cannot be reached has lost the participant's media anyway,
//! and the room's decision (the ban, the mute) stands for its next session there.

use std::time::Duration;

use origo_functions::coordinator::NodeOrder;
use origo_shared::RoomKey;

use crate::kv::KvBackend;

/// How long one call to a node may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The client and credential for orders to media nodes.
#[derive(Clone)]
pub struct NodeOrders {
    client: reqwest::Client,
    secret: Option<String>,
}

impl NodeOrders {
    /// Orders authenticated with `node_secret` (the nodes' `--node-secret`); without one,
    /// orders are logged and dropped.
    pub fn new(node_secret: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        NodeOrders { client, secret: node_secret.filter(|s| !s.is_empty()) }
    }

    /// Sends `order` for the room `key` in the background; the registry is in `store` of `kv`.
    pub fn send(&self, kv: &KvBackend, store: &'static str, key: &RoomKey, order: NodeOrder) {
        let (this, kv, key) = (self.clone(), kv.clone(), key.clone());
        tokio::spawn(async move { this.deliver(&kv, store, &key, &order).await });
    }

    async fn deliver(&self, kv: &KvBackend, store: &str, key: &RoomKey, order: &NodeOrder) {
        let Some(secret) = &self.secret else {
            tracing::warn!(node = order.node_id(), "no node_secret: cannot order the media node");
            return;
        };
        let node = crate::node_probe::descriptor(kv, store, order.node_id()).await;
        let Some(base) = node.and_then(|n| n.addresses.control_url) else {
            tracing::info!(node = order.node_id(), "the media node is not registered; order dropped");
            return;
        };
        let url = format!("{}{}", base.trim_end_matches('/'), order.path(&key.org, &key.room));
        let method = reqwest::Method::from_bytes(order.method().as_bytes()).unwrap_or(reqwest::Method::POST);
        for attempt in 0..2 {
            let sent = self.client.request(method.clone(), &url).bearer_auth(secret).json(&order.body()).send().await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(node = order.node_id(), org = %key.org, room = %key.room, status = r.status().as_u16(), "media node order applied");
                    return;
                }
                Ok(r) if r.status().is_client_error() => {
                    tracing::warn!(
                        node = order.node_id(),
                        status = r.status().as_u16(),
                        "the media node refused an order"
                    );
                    return;
                }
                Ok(r) => tracing::warn!(
                    node = order.node_id(),
                    status = r.status().as_u16(),
                    attempt,
                    "media node order failed"
                ),
                Err(e) => tracing::warn!(node = order.node_id(), attempt, "cannot reach the media node: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
