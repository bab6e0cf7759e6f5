//! What makes a session a link to another media node rather than a participant (see `relay`):
//! the node at the other end, which side opened it, and whose track each of the other side's
//! send m-lines carries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::Mid;

use super::quality::Quality;

/// Tracks one link may carry towards this node (every publisher of the room on the other).
pub const MAX_RELAYED_TRACKS: usize = 256;

/// What one side of a link asks the other to send: per m-line of the link (as both sides name
/// it), the most any of its subscribers wants (see `relay_demand`).
pub(super) type Demand = std::collections::BTreeMap<String, Quality>;

#[derive(Debug)]
pub(super) struct Relay {
    /// The node at the other end.
    pub peer_node: String,
    /// This side opened the link (and gives way when both offer at once).
    pub opener: bool,
    /// The local address of the link: its own socket's on the side that opened it, the
    /// shard's on the other.
    pub local: SocketAddr,
    /// Whose track each of the other side's send m-lines carries.
    pub origins: HashMap<Mid, String>,
    /// Since when the room has had no participant on this node.
    pub idle_since: Option<Instant>,
    /// What the other side last asked this one to send (`None`: not asked yet, everything).
    pub demand_in: Option<Demand>,
    /// What this side last asked the other to send.
    pub demand_out: Option<Demand>,
}
