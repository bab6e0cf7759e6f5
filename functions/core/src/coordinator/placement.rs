//! Which media node a participant is seated on, and where the participants of a node the
//! room lost go: the decisions are the room's, made from the candidates `join` found and the
//! node registry the host hands it.

use origo_shared::node::{NodeDescriptor, NodeKind, NodeRequest, NodeSelector, Origin, SelectorConfig};
use origo_shared::signal::MediaAssignment;

use super::RoomState;

/// The node registry as the host read it, with the deployment's selector settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub nodes: Vec<NodeDescriptor>,
    pub selector: SelectorConfig,
}

/// The media assignment for a registered node (`None` for a node without a control URL).
pub fn assignment(n: &NodeDescriptor) -> Option<MediaAssignment> {
    let control = n.addresses.control_url.as_ref()?;
    Some(MediaAssignment {
        node_id: n.id.clone(),
        region: n.region.clone(),
        session_url: format!("{}/v1/sessions", control.trim_end_matches('/')),
    })
}

/// A node the room's participants use that is stale, leaving (a draining node past its
/// deadline), unreachable or gone from the registry, and the node to move them to: the best
/// the selector ranks for the lost node's region. `None` when every node in use is healthy,
/// or when there is nowhere to go. A node that is only draining keeps its calls.
pub(super) fn lost_node(state: &RoomState, view: &NodeView, now_ms: u64) -> Option<(String, MediaAssignment)> {
    let stale_after = view.selector.stale_after_ms;
    let mut used: Vec<&str> = state.members.values().filter_map(|m| m.info.node_id.as_deref()).collect();
    used.sort_unstable();
    used.dedup();
    let lost = used.into_iter().find(|id| match view.nodes.iter().find(|n| n.id == *id) {
        Some(n) => {
            n.leaving
                || n.unreachable_since_ms.is_some()
                || n.is_stale(now_ms, stale_after)
                || state.health.is_unreachable(id, now_ms)
        }
        None => true,
    })?;
    let replacement = replacement(state, view, lost, now_ms)?;
    Some((lost.to_owned(), replacement))
}

/// Where the participants of `lost` go: the best node the selector ranks for the lost node's
/// region, other than it and the nodes the room avoids (found unreachable, or slow to answer).
pub(super) fn replacement(state: &RoomState, view: &NodeView, lost: &str, now_ms: u64) -> Option<MediaAssignment> {
    let selector = NodeSelector::new(Default::default(), view.selector.clone());
    let region = view.nodes.iter().find(|n| n.id == lost).map(|n| n.region.clone());
    let origin = region.map(|id| Origin::Region { id }).unwrap_or(Origin::Unknown);
    let req = NodeRequest { kind: NodeKind::Media, origin, room_node: None };
    selector
        .rank(&view.nodes, &req, now_ms)
        .into_iter()
        .filter(|n| n.id != lost && !state.health.is_avoided(&n.id, now_ms))
        .find_map(assignment)
}

/// The node for a participant about to join, from the nodes `join` found able to take them
/// (`candidates`, best first for that participant, so its nearest first): the best one the
/// room does not avoid, but a node the room already uses in that candidate's region
/// when there is one (a room keeps to one node per region; nodes in different regions are
/// linked). `None` when there is none (the join keeps its own choice).
pub(super) fn seat_node(
    state: &RoomState,
    candidates: &[MediaAssignment],
    in_use: &[MediaAssignment],
    now_ms: u64,
) -> Option<MediaAssignment> {
    let mut usable = candidates.iter().filter(|c| !state.health.is_avoided(&c.node_id, now_ms));
    let best = usable.clone().next()?;
    let used = |c: &&MediaAssignment| in_use.iter().any(|u| u.node_id == c.node_id);
    Some(usable.find(|c| c.region == best.region && used(c)).unwrap_or(best).clone())
}
