//! The node registry's records: each media or TURN node's last heartbeat (`node:{id}` → its
//! descriptor with the time it was received). Entries long past stale are removed when read.

use origo_shared::ApiError;
use origo_shared::node::NodeDescriptor;

use super::{keys, record};
use crate::platform::Platform;
use crate::variables::selector_config;

/// Entries older than this many stale periods are removed when read.
const FORGET_AFTER_STALE_PERIODS: u64 = 20;

pub async fn put(p: &impl Platform, node: &NodeDescriptor) -> Result<(), ApiError> {
    record::put(p, &keys::node(&node.id), node).await
}

/// Every registered node, by id (stale ones included: the selector skips them).
pub async fn all(p: &impl Platform) -> Result<Vec<NodeDescriptor>, ApiError> {
    let forget_after = selector_config(p).stale_after_ms * FORGET_AFTER_STALE_PERIODS;
    let now = p.now_ms();
    let mut out = Vec::new();
    for k in record::keys(p, keys::NODE_PREFIX).await? {
        if let Some(n) = record::get::<NodeDescriptor>(p, &k).await? {
            if now.saturating_sub(n.last_heartbeat_ms) > forget_after {
                record::delete(p, &k).await?;
            } else {
                out.push(n);
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
