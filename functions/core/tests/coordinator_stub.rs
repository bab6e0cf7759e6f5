//! Functions reach a room's coordinator through `Platform::coordinator_send`: a message
//! posted over HTTP and a deleted room go through the room's one owner, which stores them
//! with the same storage decisions every coordinator host uses.

mod support;

use http::{Method, StatusCode};
use origo_functions::coordinator::{RoomCommand, storage};
use origo_shared::RoomKey;
use serde_json::json;
use support::*;

#[test]
fn a_message_posted_over_http_goes_through_the_room_coordinator() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let posted = ok_json(
        call(&p, Method::POST, "/v1/rooms/standup/messages", Some(&t), Some(json!({"text": "hello room"}))),
        StatusCode::CREATED,
    );
    let commands = p.commands.borrow().clone();
    let key = RoomKey::new(org.clone(), "standup");
    assert!(
        matches!(&commands[..], [(k, RoomCommand::PostMessage { text, .. })] if *k == key && text == "hello room"),
        "{commands:?}"
    );
    // The coordinator numbered it and kept it in its state and in the history.
    assert!(posted["id"].as_str().unwrap().ends_with("-0000000001"), "{posted}");
    let snapshot = p.kv.borrow().get(&storage::snapshot_key(&key)).cloned().unwrap();
    let state = storage::decode_snapshot(&snapshot).unwrap();
    assert_eq!(state.chat.back().map(|m| m.text.as_str()), Some("hello room"));
    let history = ok_json(call(&p, Method::GET, "/v1/rooms/standup/messages", Some(&t), None), StatusCode::OK);
    assert_eq!(history["messages"][0], posted);
    // And a partner subscribed to chat.message gets it from the outbox.
    assert!(p.kv.borrow().keys().any(|k| k.starts_with(&format!("webhook_outbox:{org}:"))));
}

#[test]
fn deleting_a_room_closes_it_at_its_coordinator() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    call(&p, Method::POST, "/v1/rooms/standup/messages", Some(&t), Some(json!({"text": "bye"})));
    let key = RoomKey::new(org, "standup");
    assert!(p.kv.borrow().contains_key(&storage::snapshot_key(&key)));
    assert_eq!(call(&p, Method::DELETE, "/v1/rooms/standup", Some(&t), None).status(), StatusCode::NO_CONTENT);
    let last = p.commands.borrow().last().cloned();
    assert!(matches!(last, Some((k, RoomCommand::Close { .. })) if k == key));
    // The finished room's state is gone with it.
    assert!(!p.kv.borrow().contains_key(&storage::snapshot_key(&key)));
}

#[test]
fn removing_a_participant_over_http_kicks_them_at_the_coordinator() {
    use origo_functions::coordinator::{Event, HeldSeat, Joiner, RoomState, Settings};
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    // Bob is in the room (connected to its coordinator).
    let key = RoomKey::new(org.clone(), "standup");
    let mut state = RoomState::new(&org, "standup", 60_000, Settings::default());
    let bob = Joiner {
        identity: "bob+1@acme.test".into(),
        name: "Bob".into(),
        metadata: None,
        admin: false,
        publish_data: true,
        hidden: false,
        media: None,
        seat: Some("seat1".into()),
    };
    let now = p.now_ms.get();
    state.held.insert(bob.identity.clone(), HeldSeat { seat: "seat1".into(), until_ms: now + 60_000, media: None });
    let fx = state.apply(Event::Connect { conn: 1, who: bob, last_seq: None }, now);
    for (k, v) in storage::commit(&mut state, &fx, now, || 1).unwrap().writes {
        p.kv.borrow_mut().insert(k, v.unwrap());
    }

    let path = "/v1/rooms/standup/participants/bob+1%40acme.test";
    assert_eq!(call(&p, Method::DELETE, path, Some(&t), None).status(), StatusCode::NO_CONTENT);
    let last = p.commands.borrow().last().cloned();
    assert!(matches!(last, Some((k, RoomCommand::Kick { identity, .. })) if k == key && identity == "bob+1@acme.test"));
    let snapshot = p.kv.borrow().get(&storage::snapshot_key(&key)).cloned().unwrap();
    assert!(storage::decode_snapshot(&snapshot).unwrap().members.is_empty(), "bob and his seat are gone");

    // Refusals: a bad identity, another method, a guest without room_admin, an unknown room.
    assert_error(&call(&p, Method::DELETE, "/v1/rooms/standup/participants/a%20b", Some(&t), None), 400, "bad_request");
    let res = call(&p, Method::GET, path, Some(&t), None);
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "DELETE");
    let guest = ok_json(call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "G"}))), StatusCode::OK);
    let g = guest["access_token"].as_str().unwrap();
    assert_error(&call(&p, Method::DELETE, path, Some(g), None), 403, "forbidden");
    assert_error(&call(&p, Method::DELETE, "/v1/rooms/nowhere/participants/bob", Some(&t), None), 404, "not_found");
}

/// The longest identity a partner can mint is one an admin can mute and kick, over the room
/// socket and over HTTP: one limit everywhere.
#[test]
fn the_longest_mintable_identity_can_be_muted_and_kicked() {
    use origo_functions::coordinator::{Event, HeldSeat, Joiner, RoomState, Settings};
    use origo_shared::identity::MAX_IDENTITY_BYTES;
    use origo_shared::signal::{ClientMessage, TrackInfo, TrackKind};
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let key_secret = api_key(&p, &t, "backend");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let longest = "z".repeat(MAX_IDENTITY_BYTES);
    let mint = |identity: &str| {
        call(
            &p,
            Method::POST,
            "/v1/tokens",
            Some(&key_secret),
            Some(json!({"identity": identity, "grants": {"room": "standup", "join": true}})),
        )
    };
    let minted = ok_json(mint(&longest), StatusCode::CREATED);
    assert!(minted["token"].is_string());
    assert_error(&mint(&format!("{longest}z")), 400, "bad_request");

    let key = RoomKey::new(org.clone(), "standup");
    let mut state = RoomState::new(&org, "standup", 60_000, Settings::default());
    let who = |identity: &str, admin: bool| Joiner {
        identity: identity.into(),
        name: identity.chars().take(8).collect(),
        metadata: None,
        admin,
        publish_data: true,
        hidden: false,
        media: None,
        seat: Some("seat1".into()),
    };
    let now = p.now_ms.get();
    let seat = |state: &mut RoomState, identity: &str| {
        state.held.insert(identity.into(), HeldSeat { seat: "seat1".into(), until_ms: now + 60_000, media: None });
    };
    seat(&mut state, "admin");
    seat(&mut state, &longest);
    state.apply(Event::Connect { conn: 1, who: who("admin", true), last_seq: None }, now);
    state.apply(Event::Connect { conn: 2, who: who(&longest, false), last_seq: None }, now);
    let track = TrackInfo { id: "mic".into(), kind: TrackKind::Audio, muted: false, simulcast: false };
    state.apply(Event::Client { conn: 2, msg: ClientMessage::TrackPublished { track } }, now);
    // The admin's frames name the identity: both parse, and both take effect.
    let mute = ClientMessage::parse(&json!({"type": "mute", "participant_id": longest, "kind": "audio"}).to_string())
        .expect("a mute naming the longest identity");
    state.apply(Event::Client { conn: 1, msg: mute }, now + 1);
    assert!(state.members[&longest].info.tracks[0].muted);
    let too_long = json!({"type": "kick", "participant_id": format!("{longest}z")}).to_string();
    assert_eq!(ClientMessage::parse(&too_long).unwrap_err().code(), "bad_id");
    let kick = ClientMessage::parse(&json!({"type": "kick", "participant_id": longest}).to_string())
        .expect("a kick naming the longest identity");
    state.apply(Event::Client { conn: 1, msg: kick }, now + 2);
    assert!(!state.members.contains_key(&longest));

    // Over HTTP, through the room's coordinator (a new meeting: the kick above banned them).
    let mut state = RoomState::new(&org, "standup", 60_000, Settings::default());
    seat(&mut state, &longest);
    let fx = state.apply(Event::Connect { conn: 3, who: who(&longest, false), last_seq: None }, now + 3);
    assert!(state.members.contains_key(&longest));
    for (k, v) in storage::commit(&mut state, &fx, now + 3, || 1).unwrap().writes {
        match v {
            Some(v) => p.kv.borrow_mut().insert(k, v),
            None => p.kv.borrow_mut().remove(&k),
        };
    }
    let path = format!("/v1/rooms/standup/participants/{longest}");
    assert_eq!(call(&p, Method::DELETE, &path, Some(&t), None).status(), StatusCode::NO_CONTENT);
    let snapshot = p.kv.borrow().get(&storage::snapshot_key(&key)).cloned().unwrap();
    assert!(!storage::decode_snapshot(&snapshot).unwrap().members.contains_key(&longest));
}
