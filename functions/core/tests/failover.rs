//! Media node failover and placement in the room coordinator's state machine: a participant
//! reports lost media, the room asks for a probe, a node that does not answer is avoided and
//! everyone on it moves; each join is placed on its nearest region's node (the room's node
//! there when it has one), and the room's nodes are linked.

use std::sync::Arc;

use origo_functions::coordinator::node_health::{ProbeOutcome, SUSPECT_FOR_MS};
use origo_functions::coordinator::{
    Effect, Event, HeldSeat, Joiner, MeetingTerms, NodeOrder, NodeView, RoomCommand, RoomCommandOutcome, RoomState,
    Settings,
};
use origo_shared::node::{NodeAddresses, NodeDescriptor, NodeKind, SelectorConfig};
use origo_shared::signal::{ClientMessage, MediaAssignment, ServerMessage};

const T0: u64 = 1_000_000;

fn media(node: &str) -> MediaAssignment {
    MediaAssignment {
        node_id: node.into(),
        region: "eu-west".into(),
        session_url: format!("http://{node}.test/v1/sessions"),
    }
}

fn node(id: &str, region: &str) -> NodeDescriptor {
    NodeDescriptor {
        id: id.into(),
        region: region.into(),
        kind: NodeKind::Media,
        addresses: NodeAddresses { control_url: Some(format!("http://{id}.test")), ..Default::default() },
        capacity: 100,
        load: 0,
        draining: false,
        leaving: false,
        last_heartbeat_ms: T0,
        version: None,
        unreachable_since_ms: None,
    }
}

fn view(nodes: Vec<NodeDescriptor>) -> Option<Arc<NodeView>> {
    Some(Arc::new(NodeView { nodes, selector: SelectorConfig::default() }))
}

fn joiner(id: &str, on: &str) -> Joiner {
    Joiner {
        identity: id.into(),
        name: id.into(),
        metadata: None,
        admin: false,
        publish_data: true,
        hidden: false,
        media: Some(media(on)),
        seat: Some(format!("seat{id}")),
    }
}

/// A room with `who` connected, each on its node: (identity, node), connections 1, 2, …
fn room_with(who: &[(&str, &str)]) -> RoomState {
    let mut r = RoomState::new("org_1", "standup", 60_000, Settings::default());
    for (i, (id, on)) in who.iter().enumerate() {
        let j = joiner(id, on);
        r.held
            .insert(j.identity.clone(), HeldSeat { seat: j.seat.clone().unwrap(), until_ms: T0 + 60_000, media: None });
        r.apply(Event::Connect { conn: i as u64 + 1, who: j, last_seq: None }, T0);
    }
    r
}

fn lost(r: &mut RoomState, conn: u64, node: &str, now: u64) -> Vec<Effect> {
    r.apply(Event::Client { conn, msg: ClientMessage::MediaLost { node_id: node.into() } }, now)
}

fn probes(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::ProbeNode { node_id } => Some(node_id.clone()),
            _ => None,
        })
        .collect()
}

/// Who was told to move, and where: (connection, node).
fn moves(fx: &[Effect]) -> Vec<(u64, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { conn, msg: ServerMessage::ReconnectToNode { media, .. } } => {
                Some((*conn, media.node_id.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_report_asks_for_one_probe_of_the_reporters_node() {
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1")]);
    assert_eq!(probes(&lost(&mut r, 1, "m1", T0 + 10)), ["m1"]);
    // The second report, and a report about a node the reporter is not on, ask for nothing.
    assert!(probes(&lost(&mut r, 2, "m1", T0 + 20)).is_empty());
    assert!(probes(&lost(&mut r, 1, "m9", T0 + 30)).is_empty());
    // A node that answered is probed again only after the interval.
    let fx = r.apply(
        Event::NodeProbed {
            node_id: "m1".into(),
            outcome: ProbeOutcome::Answered,
            view: view(vec![node("m1", "eu-west")]),
        },
        T0 + 40,
    );
    assert!(moves(&fx).is_empty() && !fx.iter().any(|e| matches!(e, Effect::NodeUnreachable { .. })));
    assert!(probes(&lost(&mut r, 2, "m1", T0 + 1_000)).is_empty());
    assert_eq!(probes(&lost(&mut r, 2, "m1", T0 + 10 + 2_000)), ["m1"]);
}

#[test]
fn an_unreachable_node_is_left_at_once_for_the_nearest_other_node() {
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1"), ("cy", "m3")]);
    lost(&mut r, 1, "m1", T0 + 10);
    // The registry still lists m1 as fresh (its heartbeats have not gone stale yet).
    let nodes = vec![node("m1", "eu-west"), node("m2", "eu-west"), node("m3", "ap-northeast")];
    let fx = r.apply(
        Event::NodeProbed { node_id: "m1".into(), outcome: ProbeOutcome::Down, view: view(nodes.clone()) },
        T0 + 300,
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::NodeUnreachable { node_id } if node_id == "m1")));
    assert!(fx.iter().any(|e| matches!(e, Effect::Persist)));
    assert_eq!(
        moves(&fx),
        [(1, "m2".to_owned()), (2, "m2".to_owned())],
        "only those on m1 move, to its region's other node"
    );
    assert_eq!(r.members["ada"].info.node_id.as_deref(), Some("m2"));
    assert_eq!(r.members["cy"].info.node_id.as_deref(), Some("m3"));
    // The registry's next pass does not send anyone back to m1 while the room avoids it.
    assert!(moves(&r.apply(Event::Nodes(view(nodes).unwrap()), T0 + 3_000)).is_empty());
    // A join offered m1 first is placed on the room's node instead.
    let outcome = reserve(&mut r, "dee", vec![media("m1"), media("m2")], T0 + 4_000);
    assert_eq!(outcome, RoomCommandOutcome::Reserved { media: Some(media("m2")) });
}

#[test]
fn a_node_slow_to_answer_moves_only_those_who_lost_their_media() {
    // A probe that times out cannot tell a node whose host went away from a slow one far
    // away: those whose media stopped move, the others stay.
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1"), ("cy", "m1")]);
    let nodes = vec![node("m1", "eu-west"), node("m2", "eu-west")];
    assert_eq!(probes(&lost(&mut r, 1, "m1", T0)), ["m1"]);
    assert!(moves(&lost(&mut r, 2, "m1", T0 + 200)).is_empty(), "bo waits for the probe's answer");
    let fx = r.apply(
        Event::NodeProbed { node_id: "m1".into(), outcome: ProbeOutcome::NoAnswer, view: view(nodes.clone()) },
        T0 + 1_500,
    );
    assert_eq!(moves(&fx), [(1, "m2".to_owned()), (2, "m2".to_owned())]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::NodeUnreachable { .. })), "the registry is not told");
    assert!(fx.iter().any(|e| matches!(e, Effect::Persist)));
    assert_eq!(r.members["cy"].info.node_id.as_deref(), Some("m1"), "cy's media flows: it stays");
    // The registry's next pass leaves cy where it is.
    assert!(moves(&r.apply(Event::Nodes(view(nodes.clone()).unwrap()), T0 + 3_000)).is_empty());
    // A join is not placed on the node that did not answer, while it is suspect.
    let outcome = reserve(&mut r, "dee", vec![media("m1"), media("m2")], T0 + 3_100);
    assert_eq!(outcome, RoomCommandOutcome::Reserved { media: Some(media("m2")) });
    // cy's media stops too: it moves at once, without another probe.
    let fx = lost(&mut r, 3, "m1", T0 + 4_000);
    assert!(probes(&fx).is_empty());
    assert_eq!(moves(&fx), [(3, "m2".to_owned())]);
    // Past the suspicion, a report probes again.
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1")]);
    lost(&mut r, 1, "m1", T0);
    r.apply(Event::NodeProbed { node_id: "m1".into(), outcome: ProbeOutcome::NoAnswer, view: view(nodes) }, T0 + 1_500);
    assert_eq!(probes(&lost(&mut r, 2, "m1", T0 + 1_500 + SUSPECT_FOR_MS)), ["m1"]);
}

#[test]
fn a_node_marked_unreachable_in_the_registry_moves_its_participants() {
    let mut r = room_with(&[("ada", "m1")]);
    let mut gone = node("m1", "eu-west");
    gone.unreachable_since_ms = Some(T0);
    let fx = r.apply(Event::Nodes(view(vec![gone, node("m2", "eu-west")]).unwrap()), T0 + 100);
    assert_eq!(moves(&fx), [(1, "m2".to_owned())]);
}

#[test]
fn nowhere_to_go_keeps_the_participants_where_they_are() {
    let mut r = room_with(&[("ada", "m1")]);
    lost(&mut r, 1, "m1", T0);
    let fx = r.apply(
        Event::NodeProbed {
            node_id: "m1".into(),
            outcome: ProbeOutcome::Down,
            view: view(vec![node("m1", "eu-west")]),
        },
        T0 + 1,
    );
    assert!(moves(&fx).is_empty());
    assert_eq!(r.members["ada"].info.node_id.as_deref(), Some("m1"));
}

fn reserve(r: &mut RoomState, who: &str, candidates: Vec<MediaAssignment>, now: u64) -> RoomCommandOutcome {
    let command = RoomCommand::Reserve {
        identity: who.into(),
        seat: format!("seat{who}"),
        until_ms: now + 60_000,
        limit: 50,
        terms: MeetingTerms::default(),
        candidates,
    };
    let fx = r.apply(Event::Command(command.clone()), now);
    RoomCommandOutcome::of(&command, &fx)
}

fn media_in(node: &str, region: &str) -> MediaAssignment {
    MediaAssignment { region: region.into(), ..media(node) }
}

/// The link orders among the effects: (opener, peer, peer's control URL).
fn links(fx: &[Effect]) -> Vec<(String, String, String)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Node(NodeOrder::Link { node_id, peer_node, peer_control_url }) => {
                Some((node_id.clone(), peer_node.clone(), peer_control_url.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_join_goes_to_its_nearest_region_and_to_the_rooms_node_there() {
    let mut r = RoomState::new("org_1", "standup", 60_000, Settings::default());
    // The first join chooses: the best candidate for that participant.
    assert_eq!(
        reserve(&mut r, "ada", vec![media("m3"), media("m1")], T0),
        RoomCommandOutcome::Reserved { media: Some(media("m3")) }
    );
    // A later one nearer to m1, in the same region, goes to the room's node there.
    assert_eq!(
        reserve(&mut r, "bo", vec![media("m1"), media("m3")], T0 + 1),
        RoomCommandOutcome::Reserved { media: Some(media("m3")) }
    );
    // One in another region goes to its own region's node, which is linked to the room's.
    let command = RoomCommand::Reserve {
        identity: "dee".into(),
        seat: "seatdee".into(),
        until_ms: T0 + 60_000,
        limit: 50,
        terms: MeetingTerms::default(),
        candidates: vec![media_in("m7", "us-east"), media("m3")],
    };
    let fx = r.apply(Event::Command(command.clone()), T0 + 2);
    assert_eq!(
        RoomCommandOutcome::of(&command, &fx),
        RoomCommandOutcome::Reserved { media: Some(media_in("m7", "us-east")) }
    );
    assert_eq!(links(&fx), [("m3".to_owned(), "m7".to_owned(), "http://m7.test".to_owned())]);
    assert!(moves(&fx).is_empty(), "nobody moves");
    // A second one there needs no new link.
    let command = RoomCommand::Reserve {
        identity: "eve".into(),
        seat: "seateve".into(),
        until_ms: T0 + 60_000,
        limit: 50,
        terms: MeetingTerms::default(),
        candidates: vec![media_in("m8", "us-east"), media_in("m7", "us-east")],
    };
    let fx = r.apply(Event::Command(command.clone()), T0 + 3);
    assert_eq!(
        RoomCommandOutcome::of(&command, &fx),
        RoomCommandOutcome::Reserved { media: Some(media_in("m7", "us-east")) }
    );
    assert!(links(&fx).is_empty());
    // No candidates (an older caller): the join keeps its own choice.
    assert_eq!(reserve(&mut r, "cy", vec![], T0 + 4), RoomCommandOutcome::Reserved { media: None });
}

#[test]
fn a_full_node_spills_the_next_join_to_another_linked_to_it_and_nobody_moves() {
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1")]);
    // m1 is full or draining: join did not offer it.
    let outcome = reserve(&mut r, "cy", vec![media("m2")], T0 + 5);
    assert_eq!(outcome, RoomCommandOutcome::Reserved { media: Some(media("m2")) });
    assert_eq!(r.media.as_ref().map(|m| m.node_id.as_str()), Some("m1"), "the room keeps its node");
    assert_eq!(r.held["cy"].media, Some(media("m2")));
    let command = RoomCommand::Reserve {
        identity: "dan".into(),
        seat: "seatdan".into(),
        until_ms: T0 + 60_000,
        limit: 50,
        terms: MeetingTerms::default(),
        candidates: vec![media("m3")],
    };
    let fx = r.apply(Event::Command(command), T0 + 6);
    assert!(moves(&fx).is_empty(), "nobody stays behind or moves: {fx:?}");
    let mut got = links(&fx);
    got.sort();
    assert_eq!(
        got,
        [
            ("m1".to_owned(), "m3".to_owned(), "http://m3.test".to_owned()),
            ("m2".to_owned(), "m3".to_owned(), "http://m3.test".to_owned())
        ],
        "the new node is linked to every node the room uses"
    );
}

#[test]
fn each_sweep_orders_the_links_again_while_the_room_spans_nodes() {
    let mut r = room_with(&[("ada", "m1"), ("bo", "m2")]);
    let sweep = r.settings.sweep_ms;
    let fx = r.apply(Event::Alarm, T0 + sweep);
    assert_eq!(links(&fx), [("m1".to_owned(), "m2".to_owned(), "http://m2.test".to_owned())]);
    // Once bo has left, one node serves the room: no link.
    r.apply(Event::Disconnect { conn: 2 }, T0 + sweep + 1);
    let fx = r.apply(Event::Alarm, T0 + 3 * sweep + r.settings.disconnect_grace_ms);
    assert!(!r.members.contains_key("bo"));
    assert!(links(&fx).is_empty(), "{fx:?}");
}

#[test]
fn bad_reports_are_refused() {
    let frame = r#"{"type":"media_lost","node_id":"../../etc"}"#;
    assert!(ClientMessage::parse(frame).is_err());
    let frame = r#"{"type":"media_lost","node_id":"m1"}"#;
    assert_eq!(ClientMessage::parse(frame).unwrap(), ClientMessage::MediaLost { node_id: "m1".into() });
}

#[test]
fn reservations_refuse_too_many_or_bad_candidates() {
    let mut many = RoomCommand::Reserve {
        identity: "ada".into(),
        seat: "seatada".into(),
        until_ms: 1,
        limit: 5,
        terms: MeetingTerms::default(),
        candidates: (0..33).map(|i| media(&format!("m{i}"))).collect(),
    };
    assert!(many.validate().is_err());
    if let RoomCommand::Reserve { candidates, .. } = &mut many {
        candidates.truncate(2);
        candidates[1].node_id = "bad id".into();
    }
    assert!(many.validate().is_err());
}

#[test]
fn a_draining_node_keeps_its_calls_until_it_leaves() {
    let mut r = room_with(&[("ada", "m1"), ("bo", "m1")]);
    let mut draining = node("m1", "eu-west");
    draining.draining = true;
    let fx = r.apply(Event::Nodes(view(vec![draining.clone(), node("m2", "eu-west")]).unwrap()), T0 + 100);
    assert!(moves(&fx).is_empty(), "the call goes on while the node drains");
    draining.leaving = true;
    let fx = r.apply(Event::Nodes(view(vec![draining, node("m2", "eu-west")]).unwrap()), T0 + 200);
    assert_eq!(moves(&fx), [(1, "m2".to_owned()), (2, "m2".to_owned())], "moved once the node leaves");
}

#[test]
fn a_node_found_unreachable_before_and_back_since_is_a_place_to_go() {
    let mut r = room_with(&[("ada", "m1")]);
    lost(&mut r, 1, "m1", T0);
    let fx = r.apply(
        Event::NodeProbed {
            node_id: "m1".into(),
            outcome: ProbeOutcome::Down,
            view: view(vec![node("m1", "eu-west"), node("m2", "eu-west")]),
        },
        T0 + 10,
    );
    assert_eq!(moves(&fx), [(1, "m2".to_owned())]);
    // m1 restarts and heartbeats; then m2 dies. The room goes back to m1 at once, without
    // waiting for the registry's next pass to forgive it.
    let mut back = node("m1", "eu-west");
    back.last_heartbeat_ms = T0 + 5_000;
    lost(&mut r, 1, "m2", T0 + 6_000);
    let fx = r.apply(
        Event::NodeProbed {
            node_id: "m2".into(),
            outcome: ProbeOutcome::Down,
            view: view(vec![back, node("m2", "eu-west")]),
        },
        T0 + 6_010,
    );
    assert_eq!(moves(&fx), [(1, "m1".to_owned())]);
}
