//! Records have lifetimes, on a controlled clock: guests make meeting links, chat and leave
//! over simulated weeks while an organisation's meetings chat too, the sweep runs as the
//! hosts' timers run it, and the store's record count stays flat once the retention windows
//! have passed (100 simulated days). Meeting links have no organisation-wide limit.

mod support;

use http::{Method, StatusCode};
use origo_functions::coordinator::{Event, Joiner};
use origo_shared::RoomKey;
use origo_shared::signal::ClientMessage;
use serde_json::{Value, json};
use support::*;

const DAY_SECS: u64 = 86_400;

fn sweep(p: &TestPlatform) -> Value {
    ok_json(call(p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK)
}

/// One participant joins `room` of `org` (already admitted by the join function), sends
/// `messages` chat messages and leaves, an hour of the clock later.
fn meeting(p: &TestPlatform, org: &str, room: &str, who: &str, messages: usize) {
    let key = RoomKey::new(org, room);
    let joiner = Joiner {
        identity: who.into(),
        name: who.into(),
        metadata: None,
        admin: false,
        publish_data: true,
        hidden: false,
        media: None,
        seat: p.held_seat(&key, who),
    };
    assert!(joiner.seat.is_some(), "join held a seat for {who}");
    p.apply_room(&key, Event::Connect { conn: 1, who: joiner, last_seq: None }).unwrap();
    for i in 0..messages {
        let msg = ClientMessage::Chat { text: format!("message {i}"), client_id: None, reply_to: None };
        p.apply_room(&key, Event::Client { conn: 1, msg }).unwrap();
    }
    p.advance_secs(3600);
    p.apply_room(&key, Event::Client { conn: 1, msg: ClientMessage::Leave }).unwrap();
    // The empty room finishes after its empty timeout (5 minutes).
    p.advance_secs(301);
    let fx = p.apply_room(&key, Event::Alarm).unwrap();
    assert!(fx.contains(&origo_functions::coordinator::Effect::Finished), "{fx:?}");
}

fn join_link(p: &TestPlatform, room: &str) -> Value {
    let t = guest(p, "Guest");
    let res = call(p, Method::POST, &format!("/v1/rooms/{room}/join"), Some(&t), None);
    ok_json(res, StatusCode::OK)
}

#[test]
fn the_store_stays_flat_over_weeks_of_guests_and_chat() {
    let p = TestPlatform::new();
    let (owner_token, org, _) = owner(&p, "ada@acme.test");
    ok_json(
        call(&p, Method::POST, "/v1/rooms", Some(&owner_token), Some(json!({"name": "standup"}))),
        StatusCode::CREATED,
    );
    // The organisation's backend mints its participants' tokens with an API key.
    let key = api_key(&p, &owner_token, "backend");
    let mut counts = Vec::new();
    for day in 0..100u64 {
        register_node(&p, "m1", "media", "eu-west", 0);
        // Ten new meeting links a day, each used once.
        for n in 0..10 {
            let room = format!("link-{day}-{n}");
            let joined = join_link(&p, &room);
            meeting(&p, "public", &room, joined["identity"].as_str().unwrap(), 3);
            register_node(&p, "m1", "media", "eu-west", 0);
        }
        // The organisation's daily standup, with chat.
        let grants = json!({"identity": "ada", "grants": {"room": "standup", "join": true, "publish_data": true}});
        let token = ok_json(call(&p, Method::POST, "/v1/tokens", Some(&key), Some(grants)), StatusCode::CREATED);
        let res = call(&p, Method::POST, "/v1/rooms/standup/join", token["token"].as_str(), None);
        let joined = ok_json(res, StatusCode::OK);
        meeting(&p, &org, "standup", joined["identity"].as_str().unwrap(), 5);
        // A stranger starts OIDC-less sign-ins and fails logins for made-up emails.
        let _ = call(
            &p,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": format!("nobody-{day}@example.test"), "password": "wrong password 1"})),
        );
        // The rest of the day passes; the hosts' timers sweep along.
        let spent = 11 * (3600 + 301);
        p.advance_secs(DAY_SECS - spent);
        for _ in 0..2 {
            sweep(&p);
        }
        counts.push(p.kv.borrow().len());
    }
    eprintln!("records in the store, day by day: {counts:?}");
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for k in p.kv.borrow().keys() {
        *kinds.entry(k.split(':').next().unwrap().to_owned()).or_default() += 1;
    }
    eprintln!("by kind on the last day: {kinds:?}");
    // Past the longest windows that apply here — chat retention (30 days), and the standup's
    // outbox of undelivered webhook events reaching its cap of 256 (about 70 days at its
    // rate) — the count is flat: each day adds as much as expires.
    let (day90, day99) = (counts[89], counts[99]);
    assert!(day99 <= day90 + day90 / 100, "records keep growing: {counts:?}");
    assert!(counts[99] < counts[29] * 2, "{counts:?}");
    // The standup's history holds the last 30 days of its chat, not all 49.
    let history =
        ok_json(call(&p, Method::GET, "/v1/rooms/standup/messages?limit=200", Some(&key), None), StatusCode::OK);
    let kept = history["messages"].as_array().unwrap().len();
    assert!((5 * 29..=5 * 31).contains(&kept), "{kept} messages kept");
    // No meeting link of the first weeks is left.
    assert!(!p.kv.borrow().contains_key("room:public:link-0-0"));
    assert!(!p.kv.borrow().keys().any(|k| k.starts_with("chat:public:link-0-")));
}

#[test]
fn the_11th_100th_and_1000th_meeting_link_join_with_the_defaults() {
    let p = TestPlatform::new();
    register_node(&p, "m1", "media", "eu-west", 0);
    for n in 1..=1000 {
        // The node's heartbeat, as it keeps sending; one stranger's pace under the per-address limits (30 guest sign-ins a minute).
        p.advance_secs(3);
        register_node(&p, "m1", "media", "eu-west", 0);
        let t = guest(&p, "Guest");
        let res = call(&p, Method::POST, &format!("/v1/rooms/link-{n}/join"), Some(&t), None);
        if [11, 100, 1000].contains(&n) || res.status() != StatusCode::OK {
            ok_json(res, StatusCode::OK);
        }
    }
}

#[test]
fn a_meeting_link_room_is_full_at_its_own_limit_only() {
    let mut p = TestPlatform::new();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"free","guest_plan":"links","plans":[
            {"id":"free","name":"Free","monthly_fee":"0"},
            {"id":"links","name":"Links","monthly_fee":"0","limits":{"participants_per_room":3}}]}"#,
    );
    register_node(&p, "m1", "media", "eu-west", 0);
    for _ in 0..3 {
        join_link(&p, "busy");
    }
    let t = guest(&p, "Late");
    assert_error(&call(&p, Method::POST, "/v1/rooms/busy/join", Some(&t), None), 403, "limit_exceeded");
    // Another link is unaffected.
    join_link(&p, "quiet");
}

#[test]
fn expired_sign_in_records_are_swept_and_live_ones_kept() {
    let p = TestPlatform::new();
    let (_, _, _) = owner(&p, "ada@acme.test");
    let _ = call(
        &p,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "nobody@example.test", "password": "wrong password 1"})),
    );
    let rates = |p: &TestPlatform| p.kv.borrow().keys().filter(|k| k.starts_with("rate:")).count();
    // The address's attempts this minute and its failures for that account this quarter hour
    // (and the owner's sign-up and sign-in before).
    let counted = rates(&p);
    assert!(counted >= 2, "{counted}");
    p.advance_secs(600);
    sweep(&p);
    assert!(rates(&p) < counted, "a minute's counters go once their window has passed");
    p.advance_secs(8000);
    let report = sweep(&p);
    assert_eq!(rates(&p), 0, "{report}");
    // Refresh tokens of the owner's session expire too (30 days by default).
    let refresh = |p: &TestPlatform| p.kv.borrow().keys().filter(|k| k.starts_with("refresh:")).count();
    assert!(refresh(&p) > 0);
    for _ in 0..40 {
        p.advance_secs(DAY_SECS);
        sweep(&p);
    }
    assert_eq!(refresh(&p), 0);
}

#[test]
fn a_sign_up_nobody_confirms_is_forgotten_with_its_verification() {
    let p = TestPlatform::new();
    let body = json!({"email": "maybe@example.test", "password": "correct horse battery"});
    ok_json(call(&p, Method::POST, "/v1/auth/signup", None, Some(body.clone())), StatusCode::ACCEPTED);
    let accounts = |p: &TestPlatform| p.kv.borrow().keys().filter(|k| k.starts_with("account")).count();
    assert_eq!(accounts(&p), 2, "the account and its email index");
    p.advance_secs(DAY_SECS + 600);
    sweep(&p);
    assert_eq!(accounts(&p), 0);
    // The address can sign up again, and this time gets a link.
    ok_json(call(&p, Method::POST, "/v1/auth/signup", None, Some(body)), StatusCode::ACCEPTED);
    assert!(p.last_mail_to("maybe@example.test").unwrap().to_string().contains("Confirm"));
    // A confirmed account stays.
    let token = verification_token(&p, "maybe@example.test");
    ok_json(call(&p, Method::POST, "/v1/auth/verify", None, Some(json!({ "token": token }))), StatusCode::OK);
    p.advance_secs(2 * DAY_SECS);
    sweep(&p);
    assert_eq!(accounts(&p), 2);
}

#[test]
fn a_deleted_room_takes_its_chat_and_coordinator_state_along() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "retro"}))), StatusCode::CREATED);
    for i in 0..3 {
        let post = json!({"text": format!("note {i}")});
        ok_json(call(&p, Method::POST, "/v1/rooms/retro/messages", Some(&t), Some(post)), StatusCode::CREATED);
    }
    let of_room = |p: &TestPlatform| {
        p.kv.borrow().keys().filter(|k| k.contains(&format!("{org}:retro"))).cloned().collect::<Vec<_>>()
    };
    assert!(of_room(&p).len() >= 5, "{:?}", of_room(&p));
    assert_eq!(call(&p, Method::DELETE, "/v1/rooms/retro", Some(&t), None).status(), StatusCode::NO_CONTENT);
    assert_eq!(of_room(&p), Vec::<String>::new());
}
