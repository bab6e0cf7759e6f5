//! The node registry's records: each media or TURN node's last heartbeat (`node:{id}` → its
//! descriptor with the time it was received), listed in the registry's index (`nodes`). Every
//! heartbeat checks that its node is listed, so a listing lost to a race comes back within a
//! heartbeat. Entries long past stale are removed when read.

use origo_shared::ApiError;
use origo_shared::node::NodeDescriptor;

use super::{index, keys, record};
use crate::platform::Platform;
use crate::variables::selector_config;

/// Entries older than this many stale periods are removed when read.
const FORGET_AFTER_STALE_PERIODS: u64 = 20;

/// Keeps a heartbeat, listing the node when it is not.
pub async fn put(p: &impl Platform, node: &NodeDescriptor) -> Result<(), ApiError> {
    if !index::load(p, keys::NODE_INDEX).await?.contains(&node.id) {
        index::add(p, keys::NODE_INDEX, &node.id, node.last_heartbeat_ms).await?;
    }
    record::put(p, &keys::node(&node.id), node).await
}

/// Every registered node, by id (stale ones included: the selector skips them).
pub async fn all(p: &impl Platform) -> Result<Vec<NodeDescriptor>, ApiError> {
    let forget_after = selector_config(p).stale_after_ms * FORGET_AFTER_STALE_PERIODS;
    let now = p.now_ms();
    let listed = index::load(p, keys::NODE_INDEX).await?;
    let mut out = Vec::new();
    let mut gone = Vec::new();
    for id in listed.entries.keys() {
        match record::get::<NodeDescriptor>(p, &keys::node(id)).await? {
            Some(n) if now.saturating_sub(n.last_heartbeat_ms) <= forget_after => out.push(n),
            Some(_) => {
                record::delete(p, &keys::node(id)).await?;
                gone.push(id.clone());
            }
            None => gone.push(id.clone()),
        }
    }
    index::remove_all(p, keys::NODE_INDEX, &gone).await?;
    Ok(out)
}
