//! Chat over HTTP and through the room's coordinator: replies, edits and deletions by the
//! sender or a room admin (a tombstone stays), reactions, mentions that reach people who are
//! away, size limits, and history paged in both directions.

mod support;

use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::coordinator::{Event, RoomState, storage};
use origo_functions::webhook_delivery::{DispatchCommand, handle as dispatch};
use origo_shared::RoomKey;
use origo_shared::signal::{ClientMessage, ServerMessage};
use serde_json::{Value, json};
use support::*;

const MESSAGES: &str = "/v1/rooms/standup/messages";

fn post(p: &TestPlatform, token: &str, body: Value) -> Value {
    ok_json(call(p, Method::POST, MESSAGES, Some(token), Some(body)), StatusCode::CREATED)
}

fn one(id: &str) -> String {
    format!("{MESSAGES}/{id}")
}

fn texts(page: &Value) -> Vec<String> {
    page["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_sender_edits_and_deletes_and_others_may_not_and_a_tombstone_stays() {
    let p = TestPlatform::new();
    let (owner, _, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&owner), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let (ann, bob) = (room_guest(&p, &owner, "ann"), room_guest(&p, &owner, "bob"));
    let first = post(&p, &ann, json!({"text": "first draft"}));
    let id = first["id"].as_str().unwrap();
    // A reply names the message it answers; one to a message that is not there is a 404.
    let reply = post(&p, &bob, json!({"text": "agreed", "reply_to": id}));
    assert_eq!(reply["reply_to"], id);
    let missing = "0000000000000001-0000000099";
    assert_error(
        &call(&p, Method::POST, MESSAGES, Some(&bob), Some(json!({"text": "?", "reply_to": missing}))),
        404,
        "not_found",
    );

    // Only the sender edits (a guest is no room admin).
    let edit = |token: &str, text: &str| call(&p, Method::PATCH, &one(id), Some(token), Some(json!({"text": text})));
    assert_error(&edit(&bob, "hijacked"), 403, "forbidden");
    let edited = ok_json(edit(&ann, "final text"), StatusCode::OK);
    assert_eq!(
        (edited["text"].as_str(), edited["edited_by"].as_str()),
        (Some("final text"), Some(edited["from"].as_str().unwrap()))
    );
    assert!(edited["edited_at_ms"].as_u64().is_some());
    assert_error(&edit(&ann, " "), 400, "bad_request");
    let long = "x".repeat(origo_shared::chat::MAX_CHAT_CHARS + 1);
    let too_long = assert_error(&edit(&ann, &long), 400, "bad_request");
    assert!(too_long.contains("4000"), "{too_long}");
    assert_error(&call(&p, Method::POST, MESSAGES, Some(&ann), Some(json!({"text": long}))), 400, "bad_request");

    // The room's recent chat (what a joining participant receives) has the edit too.
    let key = RoomKey::new(first_org(&p), "standup");
    let state = snapshot(&p, &key);
    assert_eq!(state.chat.iter().find(|m| m.id == id).map(|m| m.text.as_str()), Some("final text"));

    // Deleting: not by another guest; by the room's owner (an admin) it is a tombstone.
    assert_error(&call(&p, Method::DELETE, &one(id), Some(&bob), None), 403, "forbidden");
    let gone = ok_json(call(&p, Method::DELETE, &one(id), Some(&owner), None), StatusCode::OK);
    assert_eq!((gone["text"].as_str(), gone["deleted_at_ms"].is_u64()), (Some(""), true));
    assert!(gone["deleted_by"].as_str().is_some_and(|by| by != gone["from"].as_str().unwrap()));
    assert_error(&edit(&ann, "back"), 409, "conflict");
    let history = ok_json(call(&p, Method::GET, MESSAGES, Some(&bob), None), StatusCode::OK);
    assert_eq!(texts(&history), ["", "agreed"], "the tombstone keeps its place");
    assert_eq!(history["messages"][1]["reply_to"], id);
    assert_error(&call(&p, Method::GET, &one(missing), Some(&bob), None), 404, "not_found");
    assert_error(&call(&p, Method::GET, &one("nope"), Some(&bob), None), 404, "not_found");
    assert_error(&call(&p, Method::POST, &one(id), Some(&bob), None), 405, "method_not_allowed");
}

#[test]
fn reactions_are_per_person_and_encoded_in_the_path() {
    let p = TestPlatform::new();
    let (owner, _, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&owner), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let (ann, bob) = (room_guest(&p, &owner, "ann"), room_guest(&p, &owner, "bob"));
    let m = post(&p, &ann, json!({"text": "ship it?"}));
    let thumbs = format!("{}/reactions/%F0%9F%91%8D", one(m["id"].as_str().unwrap()));
    let r = ok_json(call(&p, Method::PUT, &thumbs, Some(&bob), None), StatusCode::OK);
    assert_eq!(r["reactions"]["👍"].as_array().unwrap().len(), 1);
    let r = ok_json(call(&p, Method::PUT, &thumbs, Some(&bob), None), StatusCode::OK);
    assert_eq!(r["reactions"]["👍"].as_array().unwrap().len(), 1, "twice is once");
    let r = ok_json(call(&p, Method::PUT, &thumbs, Some(&ann), None), StatusCode::OK);
    assert_eq!(r["reactions"]["👍"].as_array().unwrap().len(), 2);
    let r = ok_json(call(&p, Method::DELETE, &thumbs, Some(&bob), None), StatusCode::OK);
    assert_eq!(r["reactions"]["👍"].as_array().unwrap().len(), 1);
    let bad = format!("{}/reactions/a%20b", one(m["id"].as_str().unwrap()));
    assert_error(&call(&p, Method::PUT, &bad, Some(&bob), None), 400, "bad_request");
    let bad = format!("{}/reactions/%FF", one(m["id"].as_str().unwrap()));
    assert_error(&call(&p, Method::PUT, &bad, Some(&bob), None), 400, "bad_request");
    assert_error(&call(&p, Method::POST, &thumbs, Some(&bob), None), 405, "method_not_allowed");
}

#[test]
fn a_message_older_than_the_rooms_recent_chat_is_changed_in_its_record() {
    let p = TestPlatform::new();
    let (owner, org, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&owner), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let first = post(&p, &owner, json!({"text": "m0"}));
    for i in 1..=110 {
        // One a second stays under the posting rate.
        p.now_ms.set(p.now_ms.get() + 1_000);
        post(&p, &owner, json!({"text": format!("m{i}")}));
    }
    let id = first["id"].as_str().unwrap();
    let state = snapshot(&p, &RoomKey::new(org.clone(), "standup"));
    assert!(state.chat.iter().all(|m| m.id != id), "m0 is no longer in the recent chat");
    let edited =
        ok_json(call(&p, Method::PATCH, &one(id), Some(&owner), Some(json!({"text": "m0, fixed"}))), StatusCode::OK);
    assert_eq!(edited["text"], "m0, fixed");
    let stored = ok_json(call(&p, Method::GET, &one(id), Some(&owner), None), StatusCode::OK);
    assert_eq!(
        (stored["text"].as_str(), stored["changed_seq"].as_u64()),
        (Some("m0, fixed"), edited["changed_seq"].as_u64())
    );
    assert!(stored["changed_seq"].as_u64().unwrap() > 111);
}

#[test]
fn history_pages_both_ways_from_either_end() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), None), StatusCode::OK);
    for i in 0..7 {
        p.now_ms.set(p.now_ms.get() + 1);
        post(&p, &t, json!({"text": format!("m{i}")}));
    }
    let page = |q: &str| ok_json(call(&p, Method::GET, &format!("{MESSAGES}?{q}"), Some(&t), None), StatusCode::OK);
    let newest = page("limit=3&before=end");
    assert_eq!(texts(&newest), ["m4", "m5", "m6"]);
    assert!(newest["next_cursor"].is_null(), "nothing newer");
    let older = page(&format!("limit=3&before={}", newest["prev_cursor"].as_str().unwrap()));
    assert_eq!(texts(&older), ["m1", "m2", "m3"]);
    let oldest = page(&format!("limit=3&before={}", older["prev_cursor"].as_str().unwrap()));
    assert_eq!(texts(&oldest), ["m0"]);
    assert!(oldest["prev_cursor"].is_null(), "nothing older");
    // And forwards again from the older page.
    let again = page(&format!("limit=3&after={}", older["next_cursor"].as_str().unwrap()));
    assert_eq!(texts(&again), ["m4", "m5", "m6"]);
    assert!(again["next_cursor"].is_null());
    assert!(again["prev_cursor"].is_string());
    for bad in ["before=x", "after=1-2", "after=0000000000000001-0000000001&before=end"] {
        assert_error(&call(&p, Method::GET, &format!("{MESSAGES}?{bad}"), Some(&t), None), 400, "bad_request");
    }
}

#[test]
fn over_the_room_socket_changes_reach_everyone_and_a_reconnect_gets_them_again() {
    use origo_functions::coordinator::{HeldSeat, Joiner, Settings};
    let mut r = RoomState::new("o1", "standup", 60_000, Settings::default());
    let joiner = |id: &str, admin: bool| Joiner {
        identity: id.into(),
        name: id.to_uppercase(),
        metadata: None,
        admin,
        publish_data: true,
        hidden: false,
        media: None,
        seat: Some(format!("s{id}")),
    };
    for (conn, id, admin) in [(1, "ann", false), (2, "bob", false), (3, "mod", true)] {
        r.held.insert(id.into(), HeldSeat { seat: format!("s{id}"), until_ms: 60_000, media: None });
        r.apply(Event::Connect { conn, who: joiner(id, admin), last_seq: None }, 1);
    }
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::Chat { text: "hi @bob".into(), client_id: None, reply_to: None } },
        2,
    );
    let id = r.chat.back().unwrap().id.clone();
    assert_eq!(r.chat.back().unwrap().mentions, ["bob"]);
    assert!(fx.iter().any(|e| matches!(e, origo_functions::coordinator::Effect::Webhook { data, .. } if data["mentioned_absent"] == json!([]))), "bob is here");

    let changed = |fx: &[origo_functions::coordinator::Effect]| {
        fx.iter()
            .filter_map(|e| match e {
                origo_functions::coordinator::Effect::Broadcast {
                    msg: ServerMessage::ChatChanged { by, message, .. },
                    ..
                } => Some((by.clone(), message.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let errors = |fx: &[origo_functions::coordinator::Effect]| {
        fx.iter()
            .filter_map(|e| match e {
                origo_functions::coordinator::Effect::Send { msg: ServerMessage::Error { code, .. }, .. } => {
                    Some(code.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Bob may not edit Ann's message; he reacts; the admin deletes it.
    let fx = r.apply(
        Event::Client { conn: 2, msg: ClientMessage::EditChat { message_id: id.clone(), text: "mine now".into() } },
        3,
    );
    assert_eq!(errors(&fx), ["forbidden"]);
    let fx = r.apply(
        Event::Client {
            conn: 2,
            msg: ClientMessage::React { message_id: id.clone(), reaction: "🎉".into(), added: true },
        },
        4,
    );
    let [(by, Some(m))]: [_; 1] = changed(&fx).try_into().unwrap() else { panic!("one change with the message") };
    assert_eq!((by.as_str(), m.reactions["🎉"].clone()), ("bob", vec!["bob".to_owned()]));
    let fx = r.apply(
        Event::Client {
            conn: 2,
            msg: ClientMessage::React { message_id: id.clone(), reaction: "🎉".into(), added: true },
        },
        5,
    );
    assert!(changed(&fx).is_empty(), "a reaction given twice is no event");
    let seen = r.seq;
    let fx = r.apply(Event::Client { conn: 3, msg: ClientMessage::DeleteChat { message_id: id.clone() } }, 6);
    let [(by, Some(m))]: [_; 1] = changed(&fx).try_into().unwrap() else { panic!("one change") };
    assert!(by == "mod" && m.is_deleted() && m.reactions.is_empty());
    let fx = r.apply(
        Event::Client { conn: 1, msg: ClientMessage::EditChat { message_id: id.clone(), text: "undo".into() } },
        7,
    );
    assert_eq!(errors(&fx), ["message_deleted"]);
    let unknown = origo_shared::chat::message_id(1, 999);
    let fx = r.apply(Event::Client { conn: 1, msg: ClientMessage::DeleteChat { message_id: unknown } }, 7);
    assert_eq!(errors(&fx), ["unknown_message"]);

    // Bob drops and comes back having seen up to before the deletion: the tombstone is replayed.
    r.apply(Event::Disconnect { conn: 2 }, 8);
    r.held.insert("bob".into(), HeldSeat { seat: "sbob".into(), until_ms: 60_000, media: None });
    let fx = r.apply(Event::Connect { conn: 4, who: joiner("bob", false), last_seq: Some(seen) }, 9);
    let replayed = fx.iter().find_map(|e| match e {
        origo_functions::coordinator::Effect::Send { msg: ServerMessage::Joined { chat, .. }, .. } => {
            Some(chat.clone())
        }
        _ => None,
    });
    assert!(replayed.is_some_and(|c| c.len() == 1 && c[0].is_deleted()), "the changed message comes again");
}

#[test]
fn a_mentioned_member_who_is_away_is_notified_once() {
    let mut p = TestPlatform::new();
    p.set("public_url", "https://meet.acme.test");
    let (owner, org, _) = owner(&p, "ada@acme.test");
    let bob_token = member(&p, &owner, &org, "bob@acme.test", "member");
    let bob_id = login(&p, "bob@acme.test", "correct horse battery")["account"]["id"].as_str().unwrap().to_owned();
    ok_json(
        call(
            &p,
            Method::PUT,
            "/v1/me/notification-preferences",
            Some(&bob_token),
            Some(json!({"channels": {"mention": ["email"]}})),
        ),
        StatusCode::OK,
    );
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&owner), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let mails = p.mail.borrow().len();
    post(&p, &owner, json!({"text": format!("@{bob_id} can you look? and @nobody")}));
    block_on(dispatch(&p, &org, &DispatchCommand::Intake { rooms: vec!["standup".into()] })).unwrap();
    let new: Vec<Value> = p.mail.borrow()[mails..].to_vec();
    assert_eq!(new.len(), 1, "only bob, a member, once: {new:?}");
    assert!(new[0]["subject"].as_str().unwrap().contains("mentioned you in standup"), "{}", new[0]);
    assert!(new[0]["text"].as_str().unwrap().contains("can you look?"));
    // Taking the outbox in again sends nothing more.
    block_on(dispatch(&p, &org, &DispatchCommand::Intake { rooms: vec!["standup".into()] })).unwrap();
    assert_eq!(p.mail.borrow().len(), mails + 1);
}

/// A participant token of room `standup` for a guest named `name`, minted by the org's owner.
fn room_guest(p: &TestPlatform, owner: &str, name: &str) -> String {
    let key = api_key(p, owner, &format!("key-{name}"));
    let minted = ok_json(
        call(
            p,
            Method::POST,
            "/v1/tokens",
            Some(&key),
            Some(json!({"identity": name, "grants": {"room": "standup", "join": true, "publish_data": true}})),
        ),
        StatusCode::CREATED,
    );
    minted["token"].as_str().unwrap().to_owned()
}

fn first_org(p: &TestPlatform) -> String {
    let kv = p.kv.borrow();
    let key = kv.keys().find(|k| k.starts_with("coord:")).cloned().unwrap();
    storage::decode_snapshot(&kv[&key]).unwrap().org
}

fn snapshot(p: &TestPlatform, key: &RoomKey) -> RoomState {
    storage::decode_snapshot(&p.kv.borrow()[&storage::snapshot_key(key)]).unwrap()
}
