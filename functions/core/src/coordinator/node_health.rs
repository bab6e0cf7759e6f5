//! What the room knows of its media nodes' health between registry heartbeats: a participant
//! whose media stopped reports it (`media_lost`), the room asks its host to check the node at
//! once ([`Effect::ProbeNode`](super::Effect::ProbeNode)), and what the probe finds decides
//! who moves ([`ProbeOutcome`]):
//!
//! * a node that is down (it refused the connection or answered an error) is unreachable for
//!   [`UNREACHABLE_FOR_MS`]: nobody is placed there, and everyone on it moves;
//! * a node that did not answer in time may be gone (its host or network) or only slow (a node
//!   across the world on a loaded host): that is ambiguous, so only the participants who lost
//!   their media move — at once, and so does anyone on it who reports within
//!   [`SUSPECT_FOR_MS`] — while those whose media flows stay. The registry's heartbeats settle
//!   it for the others.
//!
//! Heartbeats arrive every few seconds and a node is stale only after several are missed, so
//! they alone notice a dead node in seconds; a probe on a report notices it in the time of
//! one call. A probe is only asked for on a report from a participant on that node, at most
//! once per [`PROBE_INTERVAL_MS`] per node, so reports cannot make the room call a node in a
//! loop, and nothing runs while nobody reports (a hibernating Durable Object stays asleep).

use std::collections::{BTreeMap, BTreeSet};

use origo_shared::signal::MediaAssignment;
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
/// After a probe of a node got no answer in time, a participant on it who reports lost media
/// moves at once for this long (no new probe), and nobody new is placed there.
pub const SUSPECT_FOR_MS: u64 = 10_000;
/// Nodes the room remembers (a room uses a handful).
const MAX_NODES: usize = 32;
/// Reports remembered per probe in flight.
const MAX_REPORTERS: usize = 256;

/// What a probe of a node found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// It answered 2xx.
    Answered,
    /// It refused the connection, answered something other than 2xx, or has no registry
    /// entry or control URL: its process is gone or broken.
    Down,
    /// No answer within [`PROBE_DEADLINE_MS`]: its host or network may be gone, or it is slow.
    NoAnswer,
}

/// What the room does with a participant's report that its media from a node stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Ask the host to probe the node.
    Probe,
    /// A probe is in flight (or the node answered lately, or is already avoided): the report
    /// is remembered until the probe's answer.
    Wait,
    /// A probe of the node got no answer in time lately: the reporter moves here now.
    Move(MediaAssignment),
}

/// A probe the room asked for and has no answer to yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    asked_at_ms: u64,
    /// The identities on the node that reported lost media since.
    reporters: BTreeSet<String>,
}

/// A node whose probe got no answer in time: until when, and where its reporters go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Suspect {
    until_ms: u64,
    to: MediaAssignment,
}

/// Probes asked for and nodes found unreachable, by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// When the last probe of each node was asked for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    probed_at_ms: BTreeMap<String, u64>,
    /// Until when each node found unreachable is avoided.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unreachable_until_ms: BTreeMap<String, u64>,
    /// Probes without an answer yet, and who reported meanwhile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pending: BTreeMap<String, Pending>,
    /// Nodes whose last probe got no answer in time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    suspect: BTreeMap<String, Suspect>,
}

impl NodeHealth {
    /// True when nothing is remembered (kept out of the stored state).
    pub fn is_empty(&self) -> bool {
        self.probed_at_ms.is_empty()
            && self.unreachable_until_ms.is_empty()
            && self.pending.is_empty()
            && self.suspect.is_empty()
    }

    /// What to do with `identity`'s report at `now` that its media from `node` stopped.
    pub fn report(&mut self, node: &str, identity: &str, now: u64) -> Report {
        self.forget_old(now);
        if self.is_unreachable(node, now) {
            return Report::Wait;
        }
        if let Some(s) = self.suspect.get(node) {
            return Report::Move(s.to.clone());
        }
        if let Some(p) = self.pending.get_mut(node) {
            if p.reporters.len() < MAX_REPORTERS {
                p.reporters.insert(identity.to_owned());
            }
            return Report::Wait;
        }
        if self.pending.len() >= MAX_NODES || !self.should_probe(node, now) {
            return Report::Wait;
        }
        let reporters = BTreeSet::from([identity.to_owned()]);
        self.pending.insert(node.to_owned(), Pending { asked_at_ms: now, reporters });
        Report::Probe
    }

    /// The probe of `node` found `outcome` at `now`; `to` is where its participants would go.
    /// Returns who reported lost media meanwhile (for a node that did not answer in time,
    /// they are the ones who move).
    pub fn probed(&mut self, node: &str, outcome: ProbeOutcome, to: Option<&MediaAssignment>, now: u64) -> Vec<String> {
        let reporters = self.pending.remove(node).map(|p| p.reporters.into_iter().collect()).unwrap_or_default();
        match outcome {
            ProbeOutcome::Answered => {
                self.suspect.remove(node);
            }
            ProbeOutcome::Down => self.mark_unreachable(node, now),
            ProbeOutcome::NoAnswer => {
                if let Some(to) = to
                    && (self.suspect.len() < MAX_NODES || self.suspect.contains_key(node))
                {
                    self.suspect.insert(node.to_owned(), Suspect { until_ms: now + SUSPECT_FOR_MS, to: to.clone() });
                }
            }
        }
        reporters
    }

    /// Whether a report about `node` at `now` calls for a probe; records it when it does.
    fn should_probe(&mut self, node: &str, now: u64) -> bool {
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

    /// True while `node` is avoided: nobody moves or is placed there.
    pub fn is_unreachable(&self, node: &str, now: u64) -> bool {
        self.unreachable_until_ms.get(node).is_some_and(|until| now < *until)
    }

    /// True while nobody new is placed on `node`: it is unreachable, or its last probe got no
    /// answer in time.
    pub fn is_avoided(&self, node: &str, now: u64) -> bool {
        self.is_unreachable(node, now) || self.suspect.get(node).is_some_and(|s| now < s.until_ms)
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
        // A host answers every probe; one it never answered (the host restarted) is let go.
        self.pending.retain(|_, p| now < p.asked_at_ms + 2 * PROBE_INTERVAL_MS);
        self.suspect.retain(|_, s| now < s.until_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(node: &str) -> MediaAssignment {
        MediaAssignment {
            node_id: node.into(),
            region: "eu-west".into(),
            session_url: format!("http://{node}/v1/sessions"),
        }
    }

    #[test]
    fn one_probe_per_interval_and_none_while_unreachable() {
        let mut h = NodeHealth::default();
        assert_eq!(h.report("a", "ada", 1_000), Report::Probe);
        assert_eq!(h.report("a", "bo", 1_500), Report::Wait, "a probe of a is in flight");
        assert_eq!(h.report("b", "cy", 1_500), Report::Probe);
        assert_eq!(h.probed("a", ProbeOutcome::Answered, Some(&to("c")), 1_600), ["ada", "bo"]);
        assert_eq!(h.report("a", "ada", 1_700), Report::Wait, "a answered lately");
        assert!(!h.is_avoided("a", 1_700));
        assert_eq!(h.report("a", "ada", 1_000 + PROBE_INTERVAL_MS), Report::Probe);
        h.probed("a", ProbeOutcome::Down, Some(&to("c")), 4_000);
        assert!(h.is_unreachable("a", 4_000 + UNREACHABLE_FOR_MS - 1));
        assert_eq!(h.report("a", "ada", 10_000), Report::Wait);
        assert!(!h.is_unreachable("a", 4_000 + UNREACHABLE_FOR_MS));
        assert_eq!(h.report("a", "ada", 4_000 + UNREACHABLE_FOR_MS), Report::Probe);
    }

    #[test]
    fn no_answer_in_time_moves_the_reporters_only() {
        let mut h = NodeHealth::default();
        assert_eq!(h.report("a", "ada", 0), Report::Probe);
        assert_eq!(h.report("a", "bo", 100), Report::Wait);
        assert_eq!(h.probed("a", ProbeOutcome::NoAnswer, Some(&to("b")), 1_600), ["ada", "bo"]);
        assert!(h.is_avoided("a", 1_700) && !h.is_unreachable("a", 1_700), "a slow node is not unreachable");
        assert_eq!(h.report("a", "cy", 2_000), Report::Move(to("b")), "a later reporter moves at once");
        assert!(!h.is_avoided("a", 1_600 + SUSPECT_FOR_MS));
        assert_eq!(h.report("a", "cy", 1_600 + SUSPECT_FOR_MS), Report::Probe);
        // Nowhere to go: nobody is told to move, and the next report probes again.
        let mut h = NodeHealth::default();
        h.report("a", "ada", 0);
        h.probed("a", ProbeOutcome::NoAnswer, None, 1_600);
        assert!(!h.is_avoided("a", 1_700));
        assert_eq!(h.report("a", "ada", PROBE_INTERVAL_MS), Report::Probe);
    }

    #[test]
    fn a_probe_never_answered_is_let_go() {
        let mut h = NodeHealth::default();
        assert_eq!(h.report("a", "ada", 0), Report::Probe);
        assert_eq!(h.report("a", "ada", 2 * PROBE_INTERVAL_MS - 1), Report::Wait);
        assert_eq!(h.report("a", "ada", 2 * PROBE_INTERVAL_MS), Report::Probe);
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
            let _ = h.report(&format!("n{i}"), "ada", 0);
        }
        for i in 0..1_000 {
            let _ = h.report("n0", &format!("p{i}"), 1);
        }
        for i in 0..100 {
            h.mark_unreachable(&format!("u{i}"), 0);
        }
        assert_eq!((h.probed_at_ms.len(), h.unreachable_until_ms.len()), (MAX_NODES, MAX_NODES));
        assert_eq!((h.pending.len(), h.pending["n0"].reporters.len()), (MAX_NODES, MAX_REPORTERS));
        for i in 0..100 {
            h.probed(&format!("s{i}"), ProbeOutcome::NoAnswer, Some(&to("b")), 2);
        }
        assert_eq!(h.suspect.len(), MAX_NODES);
        assert_eq!(h.report("late", "ada", 2 * PROBE_INTERVAL_MS), Report::Probe);
    }
}
