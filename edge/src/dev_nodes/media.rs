//! The in-process media node of `origo dev`: the SFU on a loopback UDP port, its control API on
//! a loopback HTTP port, verifying participant tokens with the application's own signing keys
//! and heart-beating to this edge with the node secret — so `join` works on one machine.

use std::collections::HashMap;
use std::net::SocketAddr;

use origo_media_node::auth::{KeySource, Verifier, keys_from_variables};
use origo_media_node::node::{NodeConfig, Running, start as start_node};

/// The in-process node's id in the registry.
pub const DEV_NODE_ID: &str = "dev-media-1";

/// Starts the node; `edge` is this server's base URL (for heartbeats).
pub async fn start(
    listen: SocketAddr,
    variables: &HashMap<String, String>,
    edge: String,
    data_dir: &std::path::Path,
) -> anyhow::Result<Running> {
    let keys = keys_from_variables(|n| variables.get(n).cloned())?;
    let issuer = variables.get("token_issuer").cloned().filter(|v| !v.is_empty()).unwrap_or_else(|| "origo".into());
    let verifier = Verifier::new(DEV_NODE_ID.into(), issuer, KeySource::Fixed(keys));
    let registry = variables.get("node_secret").map(|s| (edge, s.clone()));
    start_node(NodeConfig {
        node_id: DEV_NODE_ID.into(),
        region: "eu-west".into(),
        listen,
        udp: SocketAddr::new(listen.ip(), 0),
        public_udp: None,
        // One shard: a development machine's rooms are small.
        shards: 1,
        advertise_url: None,
        capacity: 200,
        limits: Default::default(),
        node_secret: variables.get("node_secret").cloned(),
        registry,
        verifier,
        usage_journal: Some(data_dir.join("media/usage-journal.json")),
        // Plain HTTP on loopback: pages on localhost may call it even when served over https.
        tls: None,
    })
    .await
}
