//! A room spanning media nodes: every participant is placed on its own nearest node
//! ([`super::placement::seat_node`]), so a room may be served by several, and each pair of
//! them is linked (cascading: each node forwards the tracks published on it to the other
//! once, whatever the number of subscribers there). The room orders the links; the node with
//! the smaller id opens each. Orders are repeated at every sweep (an open link is kept, a lost
//! one is opened again), and a node stops serving the room when its last participant there
//! leaves (it closes its links on its own once nobody of the room is on it).

use origo_shared::signal::MediaAssignment;

use super::{NodeOrder, RoomState};

/// The control API a session URL belongs to (`…/v1/sessions` → `…`).
pub fn control_url(media: &MediaAssignment) -> String {
    let url = media.session_url.trim_end_matches('/');
    url.strip_suffix("/v1/sessions").unwrap_or(url).to_owned()
}

/// The nodes serving the room: its participants' and those of the seats held for joins still
/// on their way (they are about to open sessions there), each once, by id.
pub(super) fn nodes_in_use(state: &RoomState, now_ms: u64) -> Vec<MediaAssignment> {
    let members = state.members.values().filter_map(|m| m.media.as_ref());
    let held = state.held.values().filter(|h| h.until_ms > now_ms).filter_map(|h| h.media.as_ref());
    let mut nodes: Vec<MediaAssignment> = members.chain(held).cloned().collect();
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    nodes.dedup_by(|a, b| a.node_id == b.node_id);
    nodes
}

/// The link orders for every pair of `nodes`, each given to the node with the smaller id.
pub(super) fn link_orders(nodes: &[MediaAssignment]) -> Vec<NodeOrder> {
    let mut orders = Vec::new();
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            let (opener, peer) = if a.node_id < b.node_id { (a, b) } else { (b, a) };
            orders.push(NodeOrder::Link {
                node_id: opener.node_id.clone(),
                peer_node: peer.node_id.clone(),
                peer_control_url: control_url(peer),
            });
        }
    }
    orders
}

/// The link orders involving `node` among the room's nodes.
pub(super) fn links_of(nodes: &[MediaAssignment], node: &str) -> Vec<NodeOrder> {
    link_orders(nodes)
        .into_iter()
        .filter(|o| match o {
            NodeOrder::Link { node_id, peer_node, .. } => node_id == node || peer_node == node,
            _ => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> MediaAssignment {
        MediaAssignment {
            node_id: id.into(),
            region: "r".into(),
            session_url: format!("http://{id}.example:7880/v1/sessions"),
        }
    }

    #[test]
    fn every_pair_is_linked_once_by_the_smaller_id() {
        let nodes = [node("m-a"), node("m-b"), node("m-c")];
        let orders = link_orders(&nodes);
        assert_eq!(orders.len(), 3);
        assert_eq!(
            orders[0],
            NodeOrder::Link {
                node_id: "m-a".into(),
                peer_node: "m-b".into(),
                peer_control_url: "http://m-b.example:7880".into()
            }
        );
        assert!(orders.iter().all(|o| matches!(o, NodeOrder::Link { node_id, peer_node, .. } if node_id < peer_node)));
        assert_eq!(links_of(&nodes, "m-c").len(), 2);
        assert!(link_orders(&nodes[..1]).is_empty(), "one node needs no link");
    }
}
