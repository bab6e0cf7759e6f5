//! What the room knows of its media nodes' health between registry heartbeats: a participant
//! whose media stopped reports it (`media_lost`), the room asks its host to check the node at
//! once ([`Effect::ProbeNode`](super::Effect::ProbeNode)), and a node that does not answer is
//! unreachable for [`UNREACHABLE_FOR_MS`]: nobody is placed there, and everyone on it moves.
//!
//! Heartbeats arrive every few seconds and a node is stale only after several are missed, so
//! they alone notice a dead node in seconds; a probe on a report notices it in the time of
//! one call. A probe is only asked for on a report from a participant on that node, at most
//! once per [`PROBE_INTERVAL_MS`] per node, so reports cannot make the room call a node in a
//! loop, and nothing runs while nobody reports (a hibernating Durable Object stays asleep).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How long a host's probe of a node waits for its answer. A probe usually opens a new
/// connection, so it costs two round trips (the TCP handshake, then the request), and a node
/// across the world is 300 ms away: half a second would find healthy far nodes unreachable
/// and move everyone on them. A node whose process died refuses the connection at once, so
/// this only bounds the wait for one whose host or network went away.
pub const PROBE_DEADLINE_MS: u64 = 1_500;
/// At most one probe of a node per this long (an answer that it is there holds this long).
pub const PROBE_INTERVAL_MS: u64 = 2_000;
/// A node found unreachable is not used by the room for this long, whatever the registry
/// says (its heartbeats may not have gone stale yet).
pub const UNREACHABLE_FOR_MS: u64 = 60_000;
/// Nodes the room remembers (a room uses a handful).
const MAX_NODES: usize = 32;

/// Probes asked for and nodes found unreachable, by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// When the last probe of each node was asked for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    probed_at_ms: BTreeMap<String, u64>,
    /// Until when each node found unreachable is avoided.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unreachable_until_ms: BTreeMap<String, u64>,
}

impl NodeHealth {
    /// True when nothing is remembered (kept out of the stored state).
    pub fn is_empty(&self) -> bool {
        self.probed_at_ms.is_empty() && self.unreachable_until_ms.is_empty()
    }

    /// Whether a report about `node` at `now` calls for a probe; records it when it does.
    pub fn should_probe(&mut self, node: &str, now: u64) -> bool {
        self.forget_old(now);
        if self.is_unreachable(node, now) {
            return false;
        }
        if self.probed_at_ms.get(node).is_some_and(|at| now < at + PROBE_INTERVAL_MS) {
            return false;
        }
        if self.probed_at_ms.len() >= MAX_NODES && !self.probed_at_ms.contains_key(node) {
            return false;
        }
        self.probed_at_ms.insert(node.to_owned(), now);
        true
    }

    /// The probe found `node` unreachable at `now`.
    pub fn mark_unreachable(&mut self, node: &str, now: u64) {
        self.forget_old(now);
        if self.unreachable_until_ms.len() < MAX_NODES || self.unreachable_until_ms.contains_key(node) {
            self.unreachable_until_ms.insert(node.to_owned(), now + UNREACHABLE_FOR_MS);
        }
    }

    /// True while `node` is avoided.
    pub fn is_unreachable(&self, node: &str, now: u64) -> bool {
        self.unreachable_until_ms.get(node).is_some_and(|until| now < *until)
    }

    /// Forgets the marks of nodes that heartbeat again after they were found unreachable
    /// (restarted, or back from a partition): the room may use them again.
    pub fn forget_revived(&mut self, nodes: &[origo_shared::node::NodeDescriptor]) {
        self.unreachable_until_ms.retain(|id, until| {
            let marked_at = until.saturating_sub(UNREACHABLE_FOR_MS);
            !nodes.iter().any(|n| n.id == *id && n.unreachable_since_ms.is_none() && n.last_heartbeat_ms > marked_at)
        });
    }

    fn forget_old(&mut self, now: u64) {
        self.probed_at_ms.retain(|_, at| now < *at + PROBE_INTERVAL_MS);
        self.unreachable_until_ms.retain(|_, until| now < *until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_per_interval_and_none_while_unreachable() {
        let mut h = NodeHealth::default();
        assert!(h.should_probe("a", 1_000));
        assert!(!h.should_probe("a", 1_500));
        assert!(h.should_probe("b", 1_500));
        assert!(h.should_probe("a", 1_000 + PROBE_INTERVAL_MS));
        h.mark_unreachable("a", 4_000);
        assert!(h.is_unreachable("a", 4_000 + UNREACHABLE_FOR_MS - 1));
        assert!(!h.should_probe("a", 10_000));
        assert!(!h.is_unreachable("a", 4_000 + UNREACHABLE_FOR_MS));
        assert!(h.should_probe("a", 4_000 + UNREACHABLE_FOR_MS));
    }

    #[test]
    fn a_node_that_heartbeats_again_is_forgiven() {
        let mut n = origo_shared::node::NodeDescriptor {
            id: "a".into(),
            region: "eu-west".into(),
            kind: origo_shared::node::NodeKind::Media,
            addresses: Default::default(),
            capacity: 1,
            load: 0,
            draining: false,
            leaving: false,
            last_heartbeat_ms: 3_000,
            version: None,
            unreachable_since_ms: None,
        };
        let mut h = NodeHealth::default();
        h.mark_unreachable("a", 4_000);
        h.forget_revived(std::slice::from_ref(&n));
        assert!(h.is_unreachable("a", 5_000), "a heartbeat from before the mark changes nothing");
        n.last_heartbeat_ms = 4_500;
        n.unreachable_since_ms = Some(4_100);
        h.forget_revived(std::slice::from_ref(&n));
        assert!(h.is_unreachable("a", 5_000), "nor does the registry's own mark");
        n.unreachable_since_ms = None;
        h.forget_revived(std::slice::from_ref(&n));
        assert!(!h.is_unreachable("a", 5_000));
    }

    #[test]
    fn bounded() {
        let mut h = NodeHealth::default();
        for i in 0..100 {
            let _ = h.should_probe(&format!("n{i}"), 0);
            h.mark_unreachable(&format!("n{i}"), 0);
        }
        assert_eq!((h.probed_at_ms.len(), h.unreachable_until_ms.len()), (MAX_NODES, MAX_NODES));
        assert!(h.should_probe("late", PROBE_INTERVAL_MS));
    }
}
