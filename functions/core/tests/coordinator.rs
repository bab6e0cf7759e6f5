//! The room coordinator's state machine, without sockets or clocks: table-driven cases and
//! properties over random event sequences.

use std::collections::{BTreeMap, BTreeSet};

use origo_functions::coordinator::{
    ConnId, Effect, Event, HeldSeat, Joiner, MeetingTerms, NodeOrder, RoomCommand, RoomCommandOutcome, RoomState,
    Settings, close,
};
use origo_shared::signal::{ClientMessage, LeaveReason, MediaAssignment, ServerMessage, TrackInfo, TrackKind};
use proptest::prelude::*;

fn media(node: &str) -> MediaAssignment {
    MediaAssignment {
        node_id: node.into(),
        region: "eu-west".into(),
        session_url: format!("http://{node}/v1/sessions"),
    }
}

fn joiner(id: &str) -> Joiner {
    Joiner {
        identity: id.into(),
        name: id.to_uppercase(),
        metadata: None,
        admin: false,
        publish_data: true,
        hidden: false,
        media: Some(media("m1")),
        seat: Some(format!("seat{id}")),
    }
}

fn room() -> RoomState {
    RoomState::new("org_1", "standup", 60_000, Settings::default())
}

fn sends_to(fx: &[Effect], conn: ConnId) -> Vec<ServerMessage> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { conn: c, msg } if *c == conn => Some(msg.clone()),
            Effect::Broadcast { msg, except } if *except != Some(conn) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

/// Connects `who` on `conn`, with the seat a join held for it.
fn connect(r: &mut RoomState, conn: ConnId, who: Joiner, now: u64) -> Vec<Effect> {
    seat(r, &who, now);
    r.apply(Event::Connect { conn, who, last_seq: None }, now)
}

/// Holds `who`'s seat as a join would (the meeting's terms unchanged).
fn seat(r: &mut RoomState, who: &Joiner, now: u64) {
    let seat = who.seat.clone().unwrap();
    r.held.insert(who.identity.clone(), HeldSeat { seat, until_ms: now + 120_000, media: None });
}

fn reserve(r: &mut RoomState, who: &str, limit: u32, now: u64) -> RoomCommandOutcome {
    let command = RoomCommand::Reserve {
        identity: who.into(),
        seat: format!("seat{who}"),
        until_ms: now + 120_000,
        limit,
        terms: MeetingTerms::default(),
        candidates: Vec::new(),
    };
    let fx = r.apply(Event::Command(command.clone()), now);
    RoomCommandOutcome::of(&command, &fx)
}

#[test]
fn seats_are_participants_and_held_seats_under_the_limit() {
    let mut r = room();
    assert_eq!(reserve(&mut r, "ada", 2, 0), RoomCommandOutcome::Reserved { media: None });
    assert_eq!(reserve(&mut r, "bo", 2, 0), RoomCommandOutcome::Reserved { media: None });
    assert_eq!(reserve(&mut r, "cy", 2, 0), RoomCommandOutcome::Full { limit: 2 });
    // The same identity again takes no second seat, connected or not.
    assert_eq!(reserve(&mut r, "ada", 2, 10), RoomCommandOutcome::Reserved { media: None });
    connect(&mut r, 1, joiner("ada"), 20);
    assert!(!r.held.contains_key("ada"), "connecting turns the held seat into a participant");
    assert_eq!(reserve(&mut r, "ada", 2, 30), RoomCommandOutcome::Reserved { media: None });
    assert_eq!(reserve(&mut r, "cy", 2, 30), RoomCommandOutcome::Full { limit: 2 });
    // bo never connects: the seat is free once its hold ends.
    assert_eq!(reserve(&mut r, "cy", 2, 120_001), RoomCommandOutcome::Reserved { media: None });
}

#[test]
fn an_empty_room_with_a_held_seat_waits_for_it_then_finishes() {
    let mut r = RoomState::new("org_1", "standup", 0, Settings::default());
    assert_eq!(reserve(&mut r, "ada", 5, 1_000), RoomCommandOutcome::Reserved { media: None });
    assert_eq!(r.alarm_at_ms, Some(121_000), "the room wakes when the hold ends");
    r.apply(Event::Alarm, 60_000);
    assert!(!r.finished, "a seat is held: the join is on its way");
    let fx = r.apply(Event::Alarm, 121_000);
    assert!(r.finished && fx.contains(&Effect::Finished), "{fx:?}");
}

#[test]
fn a_meeting_ends_at_its_time_limit() {
    let mut r = room();
    let terms = MeetingTerms { max_duration_ms: Some(600_000), ..MeetingTerms::default() };
    let command = RoomCommand::Reserve {
        identity: "ada".into(),
        seat: "seatada".into(),
        until_ms: 120_000,
        limit: 10,
        terms,
        candidates: Vec::new(),
    };
    r.apply(Event::Command(command.clone()), 0);
    connect(&mut r, 1, joiner("ada"), 1_000);
    assert!(r.alarm_at_ms.is_some_and(|at| at <= 601_000));
    let mut now = 1_000;
    while !r.finished && now < 700_000 {
        now = r.alarm_at_ms.unwrap();
        r.apply(Event::Client { conn: 1, msg: ClientMessage::Ping { nonce: 1 } }, now);
        let fx = r.apply(Event::Alarm, now);
        if r.finished {
            assert!(fx.contains(&Effect::Close {
                conn: 1,
                code: close::ROOM_CLOSED,
                reason: "the meeting reached its time limit".into()
            }));
        }
    }
    assert_eq!(now, 601_000, "the meeting ended at its limit");
    assert_eq!(
        RoomCommandOutcome::of(&command, &r.apply(Event::Command(command.clone()), now)),
        RoomCommandOutcome::Applied
    );
}

#[test]
fn join_announces_and_answers_with_the_room() {
    let mut r = room();
    let fx = connect(&mut r, 1, joiner("ada"), 1000);
    assert!(fx.iter().any(|e| matches!(e, Effect::Webhook { event: origo_shared::WebhookEvent::RoomStarted, .. })));
    let joined = sends_to(&fx, 1);
    let Some(ServerMessage::Joined { participants, you, media: m, .. }) = joined.last() else { panic!("{joined:?}") };
    assert!(participants.is_empty());
    assert_eq!(you.id, "ada");
    assert_eq!(m.as_ref().unwrap().node_id, "m1");
    // The persist comes with the event, and the first alarm is the sweep.
    assert!(fx.contains(&Effect::Persist));
    assert!(fx.contains(&Effect::SetAlarm(Some(1000 + 15_000))));

    let fx = connect(&mut r, 2, joiner("bo"), 2000);
    assert!(
        matches!(&sends_to(&fx, 1)[..], [ServerMessage::ParticipantJoined { participant, .. }] if participant.id == "bo")
    );
    let Some(ServerMessage::Joined { participants, .. }) = sends_to(&fx, 2).into_iter().last() else { panic!() };
    assert_eq!(participants.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["ada"]);
}

#[test]
fn chat_is_echoed_once_to_the_sender_with_its_client_id_and_stored() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let fx = r.apply(
        Event::Client {
            conn: 1,
            msg: ClientMessage::Chat { text: "hi".into(), client_id: Some("c1".into()), reply_to: None },
        },
        5,
    );
    let to_ada = sends_to(&fx, 1);
    assert_eq!(to_ada.len(), 1);
    assert!(
        matches!(&to_ada[0], ServerMessage::Chat { client_id: Some(c), message } if c == "c1" && message.text == "hi")
    );
    let to_bo = sends_to(&fx, 2);
    assert!(matches!(&to_bo[..], [ServerMessage::Chat { client_id: None, .. }]));
    assert!(fx.iter().any(|e| matches!(e, Effect::StoreChat(m) if m.text == "hi")));
    let persist = fx.iter().position(|e| *e == Effect::Persist).unwrap();
    let first_send = fx.iter().position(|e| matches!(e, Effect::Send { .. } | Effect::Broadcast { .. })).unwrap();
    assert!(persist < first_send, "the state is durable before anyone sees the message");
    // Without publish_data: refused.
    let mut quiet = joiner("cy");
    quiet.publish_data = false;
    connect(&mut r, 3, quiet, 6);
    let fx = r.apply(
        Event::Client { conn: 3, msg: ClientMessage::Chat { text: "x".into(), client_id: None, reply_to: None } },
        7,
    );
    assert!(matches!(&sends_to(&fx, 3)[..], [ServerMessage::Error { code, .. }] if code == "forbidden"));
    assert!(sends_to(&fx, 1).is_empty());
}

#[test]
fn reconnect_within_grace_is_silent_and_replays_missed_chat() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    r.apply(
        Event::Client { conn: 2, msg: ClientMessage::Chat { text: "one".into(), client_id: None, reply_to: None } },
        1,
    );
    let seen = r.seq;
    let fx = r.apply(Event::Disconnect { conn: 2 }, 2);
    assert!(sends_to(&fx, 1).is_empty(), "a drop is not announced at once");
    assert_eq!(r.alarm_at_ms, Some(15_000), "the sweep comes first; the grace deadline is 15 002");
    r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Chat { text: "two".into(), client_id: None, reply_to: None } },
        3,
    );
    let fx = r.apply(Event::Connect { conn: 3, who: joiner("bo"), last_seq: Some(seen) }, 4);
    assert!(sends_to(&fx, 1).is_empty(), "coming back in time is silent");
    let Some(ServerMessage::Joined { chat, .. }) = sends_to(&fx, 3).into_iter().last() else { panic!() };
    assert_eq!(chat.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["two"]);
}

#[test]
fn a_drop_past_the_grace_period_is_a_leave() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    r.apply(Event::Disconnect { conn: 2 }, 1000);
    r.apply(Event::Client { conn: 1, msg: ClientMessage::Ping { nonce: 1 } }, 14_000);
    let fx = r.apply(Event::Alarm, 1000 + 15_000);
    assert!(
        matches!(&sends_to(&fx, 1)[..], [ServerMessage::ParticipantLeft { participant_id, reason: LeaveReason::Disconnected, .. }] if participant_id == "bo")
    );
    assert!(!r.members.contains_key("bo"), "the seat goes with the participant");
    assert!(fx.contains(&Effect::Usage { identity: "bo".into(), ms: 16_000 }));
}

#[test]
fn a_silent_connection_is_dropped_after_stale_after() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    for t in (10_000..=40_000).step_by(10_000) {
        r.apply(Event::Client { conn: 1, msg: ClientMessage::Ping { nonce: t } }, t);
    }
    let fx = r.apply(Event::Alarm, 45_000);
    assert!(fx.contains(&Effect::Close { conn: 2, code: close::STALE, reason: "no message for too long".into() }));
    assert!(r.members.contains_key("ada") && !r.members.contains_key("bo"));
}

#[test]
fn a_second_connection_replaces_the_first_without_leave_or_join() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let fx = connect(&mut r, 3, joiner("bo"), 10);
    assert!(fx.contains(&Effect::Close { conn: 2, code: close::REPLACED, reason: "connected again elsewhere".into() }));
    assert!(sends_to(&fx, 1).is_empty());
    assert_eq!(r.identity_of(3), Some("bo"));
    // The old connection closing later changes nothing.
    let fx = r.apply(Event::Disconnect { conn: 2 }, 11);
    assert!(!fx.contains(&Effect::Persist));
    assert!(r.members["bo"].conn == Some(3));
}

#[test]
fn admins_mute_and_kick_others_may_not() {
    let mut r = room();
    let mut admin = joiner("ada");
    admin.admin = true;
    connect(&mut r, 1, admin, 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let track = TrackInfo { id: "t1".into(), kind: TrackKind::Audio, muted: false, simulcast: false };
    r.apply(Event::Client { conn: 2, msg: ClientMessage::TrackPublished { track } }, 1);
    let fx = r.apply(
        Event::Client { conn: 2, msg: ClientMessage::Mute { participant_id: "ada".into(), kind: TrackKind::Audio } },
        2,
    );
    assert!(matches!(&sends_to(&fx, 2)[..], [ServerMessage::Error { code, .. }] if code == "forbidden"));
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Mute { participant_id: "bo".into(), kind: TrackKind::Audio } },
        3,
    );
    assert!(
        matches!(&sends_to(&fx, 2)[..], [ServerMessage::Mute { participant_id, by, .. }] if participant_id == "bo" && by == "ada")
    );
    assert!(r.members["bo"].info.tracks[0].muted);
    let fx =
        r.apply(Event::Client { conn: 2, msg: ClientMessage::Kick { participant_id: "ada".into(), reason: None } }, 4);
    assert!(matches!(&sends_to(&fx, 2)[..], [ServerMessage::Error { code, .. }] if code == "forbidden"));
    let fx = r.apply(
        Event::Client {
            conn: 1,
            msg: ClientMessage::Kick { participant_id: "bo".into(), reason: Some("spam".into()) },
        },
        5,
    );
    assert!(matches!(&sends_to(&fx, 2)[..], [ServerMessage::Kick { .. }]));
    assert!(fx.contains(&Effect::Close { conn: 2, code: close::KICKED, reason: "spam".into() }));
    assert!(matches!(&sends_to(&fx, 1)[..], [ServerMessage::ParticipantLeft { reason: LeaveReason::Kicked, .. }]));
}

#[test]
fn close_reasons_fit_the_websocket_limit_even_when_multi_byte() {
    let mut r = room();
    let mut admin = joiner("ada");
    admin.admin = true;
    connect(&mut r, 1, admin, 0);
    connect(&mut r, 2, joiner("bo"), 0);
    connect(&mut r, 3, joiner("cy"), 0);
    // An admin's kick reason comes from the network: 200 characters of 3 bytes each.
    let long = "€".repeat(200);
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Kick { participant_id: "bo".into(), reason: Some(long.clone()) } },
        1,
    );
    let reason = fx
        .iter()
        .find_map(|e| match e {
            Effect::Close { conn: 2, code, reason } if *code == close::KICKED => Some(reason.clone()),
            _ => None,
        })
        .expect("bo's socket closed");
    assert_eq!(reason, "€".repeat(41), "123 bytes of whole characters");
    // A room closed by a command with a long reason closes sockets with one that fits.
    let fx = r.apply(Event::Command(RoomCommand::Close { reason: format!("a{}", "🎉".repeat(64)) }), 2);
    let closes: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Close { code, reason, .. } if *code == close::ROOM_CLOSED => Some(reason),
            _ => None,
        })
        .collect();
    assert!(!closes.is_empty());
    for reason in closes {
        assert_eq!(reason, &format!("a{}", "🎉".repeat(30)), "1 + 30 × 4 = 121 bytes");
    }
}

#[test]
fn hidden_participants_are_never_announced() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    let mut bot = joiner("recorder");
    bot.hidden = true;
    let fx = connect(&mut r, 2, bot, 1);
    assert!(sends_to(&fx, 1).is_empty());
    let fx = r.apply(Event::Client { conn: 2, msg: ClientMessage::Leave }, 2);
    assert!(sends_to(&fx, 1).is_empty());
    assert_eq!(r.visible().len(), 1);
}

#[test]
fn a_lost_node_moves_its_participants() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    let fx = r.apply(Event::NodeLost { node_id: "m1".into(), replacement: Some(media("m2")) }, 1);
    assert!(matches!(&sends_to(&fx, 1)[..], [ServerMessage::ReconnectToNode { media, .. }] if media.node_id == "m2"));
    assert_eq!(r.members["ada"].info.node_id.as_deref(), Some("m2"));
    assert_eq!(r.media.as_ref().unwrap().node_id, "m2");
    let fx = r.apply(Event::NodeLost { node_id: "m9".into(), replacement: Some(media("m3")) }, 2);
    assert!(sends_to(&fx, 1).is_empty());
}

#[test]
fn an_empty_room_finishes_after_its_timeout_and_refuses_joins() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    let fx = r.apply(Event::Client { conn: 1, msg: ClientMessage::Leave }, 1000);
    assert!(fx.contains(&Effect::SetAlarm(Some(61_000))));
    let fx = r.apply(Event::Alarm, 61_000);
    assert!(fx.contains(&Effect::Finished));
    assert!(fx.iter().any(|e| matches!(e, Effect::Webhook { event: origo_shared::WebhookEvent::RoomFinished, .. })));
    let fx = connect(&mut r, 2, joiner("bo"), 62_000);
    assert!(matches!(&fx[..], [Effect::Close { code: close::ROOM_CLOSED, .. }]));
}

#[test]
fn rehydration_disconnects_everyone_with_a_grace_period() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    let json = serde_json::to_string(&r).unwrap();
    let loaded: RoomState = serde_json::from_str(&json).unwrap();
    let (mut r, fx) = loaded.rehydrated(5000);
    assert!(fx.contains(&Effect::Persist));
    assert_eq!(r.alarm_at_ms, Some(15_000));
    // Not back in time: gone at the deadline.
    let mut late = r.clone();
    late.apply(Event::Alarm, 15_000);
    assert!(late.members.contains_key("ada"), "still within the grace period at the sweep");
    late.apply(Event::Alarm, 20_000);
    assert!(!late.members.contains_key("ada"));
    assert_eq!(r.members["ada"].conn, None);
    let fx = connect(&mut r, 7, joiner("ada"), 6000);
    assert!(matches!(sends_to(&fx, 7).last(), Some(ServerMessage::Joined { .. })));
}

#[test]
fn resuming_after_hibernation_keeps_the_live_connections() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let loaded: RoomState = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    // Only ada's socket survived.
    let (mut r, fx) = loaded.resumed(&[1], 5000);
    assert!(fx.contains(&Effect::Persist));
    assert_eq!(r.members["ada"].conn, Some(1));
    assert_eq!(r.members["bo"].conn, None);
    assert_eq!(r.members["bo"].disconnected_at_ms, Some(5000));
    // ada's connection still works; bo leaves at the grace deadline.
    let fx = r.apply(Event::Client { conn: 1, msg: ClientMessage::Ping { nonce: 3 } }, 6000);
    assert!(matches!(&sends_to(&fx, 1)[..], [ServerMessage::Pong { nonce: 3, .. }]), "{fx:?}");
    r.apply(Event::Alarm, 20_001);
    assert!(r.members.contains_key("ada") && !r.members.contains_key("bo"));
}

#[test]
fn messages_before_join_are_refused() {
    let mut r = room();
    let fx = r.apply(Event::Client { conn: 9, msg: ClientMessage::Ping { nonce: 1 } }, 0);
    assert!(matches!(&sends_to(&fx, 9)[..], [ServerMessage::Error { code, .. }] if code == "not_joined"));
}

// --- properties --------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Connect(usize),
    Chat(usize),
    Drop(usize),
    Leave(usize),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Connect),
        (0..3usize).prop_map(Op::Chat),
        (0..3usize).prop_map(Op::Drop),
        (0..3usize).prop_map(Op::Leave),
        (1..40_000u64).prop_map(Op::Wait),
    ]
}

const OBSERVER: ConnId = 1_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn presence_echo_and_usage_stay_consistent(ops in proptest::collection::vec(op(), 1..80)) {
        let ids = ["a", "b", "c"];
        let mut r = room();
        let mut now = 0u64;
        let mut next_conn: ConnId = 1;
        let mut conn_of: BTreeMap<usize, ConnId> = BTreeMap::new();
        // The observer stays connected and answers pings by chatting nothing: it pings.
        let mut view: BTreeSet<String> = BTreeSet::new();
        let mut billed: BTreeMap<String, u64> = BTreeMap::new();
        let mut present_since: BTreeMap<String, u64> = BTreeMap::new();
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();

        let mut run = |r: &mut RoomState, ev: Event, now: u64, view: &mut BTreeSet<String>| -> Vec<Effect> {
            let before: BTreeSet<String> = r.members.keys().cloned().collect();
            let fx = r.apply(ev, now);
            let after: BTreeSet<String> = r.members.keys().cloned().collect();
            for id in after.difference(&before) { present_since.insert(id.clone(), now); }
            for id in before.difference(&after) {
                let since = present_since.remove(id).unwrap();
                *expected.entry(id.clone()).or_default() += now - since;
            }
            for e in &fx {
                if let Effect::Usage { identity, ms } = e { *billed.entry(identity.clone()).or_default() += ms; }
            }
            for msg in sends_to(&fx, OBSERVER) {
                match msg {
                    ServerMessage::Joined { participants, .. } => { *view = participants.into_iter().map(|p| p.id).collect(); }
                    ServerMessage::ParticipantJoined { participant, .. } => {
                        assert!(view.insert(participant.id.clone()), "joined twice: {}", participant.id);
                    }
                    ServerMessage::ParticipantLeft { participant_id, .. } => {
                        assert!(view.remove(&participant_id), "left without having joined: {participant_id}");
                    }
                    _ => {}
                }
            }
            fx
        };

        seat(&mut r, &joiner("observer"), now);
        run(&mut r, Event::Connect { conn: OBSERVER, who: joiner("observer"), last_seq: None }, now, &mut view);
        for op in ops {
            match op {
                Op::Connect(i) => {
                    next_conn += 1;
                    conn_of.insert(i, next_conn);
                    seat(&mut r, &joiner(ids[i]), now);
                    run(&mut r, Event::Connect { conn: next_conn, who: joiner(ids[i]), last_seq: None }, now, &mut view);
                }
                Op::Chat(i) => {
                    if let Some(&c) = conn_of.get(&i) {
                        let fx = run(&mut r, Event::Client { conn: c, msg: ClientMessage::Chat { text: "m".into(), client_id: Some(format!("k{now}")), reply_to: None } }, now, &mut view);
                        if r.identity_of(c).is_some() {
                            let echoes = sends_to(&fx, c).iter().filter(|m| matches!(m, ServerMessage::Chat { .. })).count();
                            prop_assert_eq!(echoes, 1, "the sender sees its message exactly once");
                        }
                    }
                }
                Op::Drop(i) => {
                    if let Some(c) = conn_of.remove(&i) {
                        run(&mut r, Event::Disconnect { conn: c }, now, &mut view);
                    }
                }
                Op::Leave(i) => {
                    if let Some(&c) = conn_of.get(&i) {
                        run(&mut r, Event::Client { conn: c, msg: ClientMessage::Leave }, now, &mut view);
                        conn_of.remove(&i);
                    }
                }
                Op::Wait(ms) => {
                    let until = now + ms;
                    // Connected clients (and the observer) keep pinging; alarms fire on time.
                    while let Some(at) = r.alarm_at_ms.filter(|at| *at <= until) {
                        now = at.max(now);
                        let conns: Vec<ConnId> = r.connections().collect();
                        for c in conns { run(&mut r, Event::Client { conn: c, msg: ClientMessage::Ping { nonce: now } }, now, &mut view); }
                        run(&mut r, Event::Alarm, now, &mut view);
                    }
                    now = until;
                }
            }
            let visible: BTreeSet<String> = r.visible().into_iter().map(|p| p.id).filter(|id| id != "observer").collect();
            prop_assert_eq!(&view, &visible, "the observer's view matches the room");
        }
        // Bill up to the end: run to the next sweep.
        now = r.next_sweep_ms.unwrap_or(now + 1).max(now + 1);
        let conns: Vec<ConnId> = r.connections().collect();
        for c in conns { run(&mut r, Event::Client { conn: c, msg: ClientMessage::Ping { nonce: now } }, now, &mut view); }
        run(&mut r, Event::Alarm, now, &mut view);
        for (id, since) in present_since.clone() { *expected.entry(id).or_default() += now - since; }
        expected.retain(|_, ms| *ms > 0);
        prop_assert_eq!(billed, expected, "usage adds up to time present");
    }
}

// --- abuse ---------------------------------------------------------------------------------

fn closes(fx: &[Effect]) -> Vec<(ConnId, u16)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Close { conn, code, .. } => Some((*conn, *code)),
            _ => None,
        })
        .collect()
}

#[test]
fn only_a_seat_a_join_holds_opens_the_room() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    // Sockets without a held seat — a token never used to join, a forged seat — are closed and
    // change nothing: no participant, no announcement, no seat taken.
    for conn in 10..110 {
        let mut stray = joiner(&format!("stray{conn}"));
        if conn % 2 == 0 {
            stray.seat = Some("guessed".into());
        }
        let fx = r.apply(Event::Connect { conn, who: stray, last_seq: None }, 1);
        assert_eq!(closes(&fx), vec![(conn, close::NO_SEAT)]);
        assert!(sends_to(&fx, 1).is_empty());
    }
    assert_eq!(r.members.len(), 1);
    assert_eq!(
        reserve(&mut r, "bo", 2, 2),
        RoomCommandOutcome::Reserved { media: None },
        "stray sockets hold no seats"
    );
    // The seat is bound to the token join issued: another seat id for bo is refused.
    let mut other = joiner("bo");
    other.seat = Some("seatsomeoneelse".into());
    let fx = r.apply(Event::Connect { conn: 200, who: other, last_seq: None }, 3);
    assert_eq!(closes(&fx), vec![(200, close::NO_SEAT)]);
    let fx = r.apply(Event::Connect { conn: 201, who: joiner("bo"), last_seq: None }, 3);
    assert!(closes(&fx).is_empty());
    assert_eq!(r.identity_of(201), Some("bo"));
    // A held seat lapses: a token whose seat was never used is refused after seat_ttl.
    assert_eq!(reserve(&mut r, "cy", 3, 4), RoomCommandOutcome::Reserved { media: None });
    let fx = r.apply(Event::Connect { conn: 202, who: joiner("cy"), last_seq: None }, 4 + 120_000);
    assert_eq!(closes(&fx), vec![(202, close::NO_SEAT)]);
}

#[test]
fn a_removed_participant_stays_out_and_its_node_is_told() {
    let mut r = room();
    let mut admin = joiner("ada");
    admin.admin = true;
    connect(&mut r, 1, admin, 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let kick = ClientMessage::Kick { participant_id: "bo".into(), reason: None };
    let fx = r.apply(Event::Client { conn: 1, msg: kick }, 10);
    let ban_until = 10 + MeetingTerms::default().kick_ban_ms;
    assert!(fx.contains(&Effect::Node(NodeOrder::Close {
        node_id: "m1".into(),
        identity: "bo".into(),
        ban_until_ms: Some(ban_until),
        reason: "removed by an admin".into(),
    })));
    // Its token comes back at once: refused, and its joins are refused while the ban lasts.
    let fx = r.apply(Event::Connect { conn: 3, who: joiner("bo"), last_seq: None }, 20);
    assert_eq!(closes(&fx), vec![(3, close::KICKED)]);
    assert_eq!(reserve(&mut r, "bo", 10, 30), RoomCommandOutcome::Banned { until_ms: ban_until });
    // A seat inserted by hand does not get past the ban either.
    connect(&mut r, 4, joiner("bo"), 40);
    assert!(r.identity_of(4).is_none());
    assert_eq!(reserve(&mut r, "bo", 10, ban_until), RoomCommandOutcome::Reserved { media: None }, "the ban ends");
    // Removing someone not in the room (over the API) bans them too.
    r.apply(Event::Command(RoomCommand::Kick { identity: "zed".into(), reason: None }), 50);
    assert!(matches!(reserve(&mut r, "zed", 10, 60), RoomCommandOutcome::Banned { .. }));
}

#[test]
fn an_admins_mute_holds_until_unmuting_is_allowed_and_the_node_enforces_it() {
    let mut r = room();
    let mut admin = joiner("ada");
    admin.admin = true;
    connect(&mut r, 1, admin, 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let track = TrackInfo { id: "mic".into(), kind: TrackKind::Audio, muted: false, simulcast: false };
    r.apply(Event::Client { conn: 2, msg: ClientMessage::TrackPublished { track } }, 1);
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Mute { participant_id: "bo".into(), kind: TrackKind::Audio } },
        2,
    );
    let muted = NodeOrder::Mute { node_id: "m1".into(), identity: "bo".into(), audio: Some(true), video: Some(false) };
    assert!(fx.contains(&Effect::Node(muted.clone())));
    let unmute = ClientMessage::SetMuted { track_id: "mic".into(), muted: false };
    let fx = r.apply(Event::Client { conn: 2, msg: unmute.clone() }, 3);
    assert!(matches!(&sends_to(&fx, 2)[..], [ServerMessage::Error { code, .. }] if code == "muted_by_admin"));
    assert!(r.members["bo"].info.tracks[0].muted);
    // Reconnecting (on another node) does not lift it: that node is told too.
    let mut moved = joiner("bo");
    moved.media = Some(media("m2"));
    let fx = connect(&mut r, 3, moved, 4);
    assert!(fx.contains(&Effect::Node(NodeOrder::Mute {
        node_id: "m2".into(),
        identity: "bo".into(),
        audio: Some(true),
        video: Some(false)
    })));
    // Only an admin lifts it.
    let allow = ClientMessage::AllowUnmute { participant_id: "bo".into(), kind: TrackKind::Audio };
    let fx = r.apply(Event::Client { conn: 3, msg: allow.clone() }, 5);
    assert!(matches!(&sends_to(&fx, 3)[..], [ServerMessage::Error { code, .. }] if code == "forbidden"));
    let fx = r.apply(Event::Client { conn: 1, msg: allow }, 6);
    assert!(
        matches!(&sends_to(&fx, 3)[..], [ServerMessage::UnmuteAllowed { participant_id, .. }] if participant_id == "bo")
    );
    assert!(fx.contains(&Effect::Node(NodeOrder::Mute {
        node_id: "m2".into(),
        identity: "bo".into(),
        audio: Some(false),
        video: Some(false)
    })));
    let fx = r.apply(Event::Client { conn: 3, msg: unmute }, 7);
    assert!(matches!(&sends_to(&fx, 1)[..], [ServerMessage::ParticipantUpdated { .. }]));
    assert!(!r.members["bo"].info.tracks[0].muted);
}

#[test]
fn nothing_a_hidden_participant_does_reaches_the_others() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    let mut bot = joiner("recorder");
    bot.hidden = true;
    connect(&mut r, 2, bot, 1);
    let track = TrackInfo { id: "t".into(), kind: TrackKind::Video, muted: false, simulcast: false };
    for msg in [
        ClientMessage::RaiseHand { raised: true },
        ClientMessage::Presence { state: origo_shared::signal::PresenceState::Away },
        ClientMessage::TrackPublished { track },
        ClientMessage::SetMuted { track_id: "t".into(), muted: true },
        ClientMessage::TrackUnpublished { track_id: "t".into() },
        ClientMessage::Chat { text: "hello".into(), client_id: None, reply_to: None },
    ] {
        let fx = r.apply(Event::Client { conn: 2, msg: msg.clone() }, 2);
        assert!(sends_to(&fx, 1).is_empty(), "{msg:?} revealed the hidden participant");
        assert!(!fx.iter().any(|e| matches!(e, Effect::StoreChat(_))), "{msg:?}");
    }
}

#[test]
fn a_chat_flood_from_one_socket_is_cut_to_its_budget_then_closed() {
    let mut r = room();
    connect(&mut r, 1, joiner("ada"), 0);
    connect(&mut r, 2, joiner("bo"), 0);
    let limits = r.settings.frames;
    let (mut delivered, mut warnings, mut closed) = (0, 0, false);
    for i in 0..500 {
        let msg = ClientMessage::Chat { text: format!("spam {i}"), client_id: None, reply_to: None };
        let fx = r.apply(Event::Client { conn: 2, msg }, 1);
        delivered += sends_to(&fx, 1).iter().filter(|m| matches!(m, ServerMessage::Chat { .. })).count();
        warnings += sends_to(&fx, 2)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Error { code, .. } if code == "rate_limited"))
            .count();
        if closes(&fx).contains(&(2, close::TOO_MANY_MESSAGES)) {
            closed = true;
            break;
        }
    }
    assert_eq!(delivered, limits.chat_burst as usize, "only the burst reaches the others");
    assert_eq!(warnings, 1, "one error frame, not one per refused frame");
    assert!(closed, "sustained abuse closes the socket");
    // The others' budgets are their own.
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Chat { text: "hi".into(), client_id: None, reply_to: None } },
        2,
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::StoreChat(_))));
    // Reopening the socket does not buy a fresh burst: the budget is the participant's.
    r.apply(Event::Disconnect { conn: 2 }, 3);
    connect(&mut r, 3, joiner("bo"), 3);
    let fx = r.apply(
        Event::Client { conn: 3, msg: ClientMessage::Chat { text: "again".into(), client_id: None, reply_to: None } },
        3,
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::StoreChat(_))), "no burst after a reconnect");
}
