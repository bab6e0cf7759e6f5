//! Plans, the operator API, metering, quotas and statements, on a controlled clock: the
//! operator (not an organisation's admin) chooses a plan; billed participant time equals the
//! time spent in the room; over a quota a join is a 402 naming the limit, the plan and what
//! to do; a meeting that uses up the month is warned, then ended after the grace; a
//! statement's total is the sum of its lines.

mod support;

use http::{Method, StatusCode};
use origo_functions::coordinator::{Effect, Event, Joiner, RoomCommand, close};
use origo_functions::secret_digest::secret_digest;
use origo_shared::RoomKey;
use origo_shared::signal::{ClientMessage, ServerMessage};
use serde_json::{Value, json};
use support::*;

const OPERATOR: &str = "operator-token-for-tests";

fn platform() -> TestPlatform {
    let mut p = TestPlatform::new();
    p.set("operator_secret_sha256", &secret_digest(OPERATOR));
    p
}

fn operator(p: &TestPlatform, method: Method, path: &str, body: Option<Value>) -> http::Response<bytes::Bytes> {
    call(p, method, path, Some(OPERATOR), body)
}

fn assign(p: &TestPlatform, org: &str, plan: &str) {
    let res = operator(p, Method::PUT, &format!("/v1/operator/orgs/{org}/plan"), Some(json!({ "plan": plan })));
    assert_eq!(ok_json(res, StatusCode::OK)["id"], plan);
}

/// Joins `room` as the org's owner and connects to its coordinator; returns the room's key.
fn enter(p: &TestPlatform, token: &str, org: &str, room: &str, who: &str, conn: u64) -> RoomKey {
    ok_json(call(p, Method::POST, &format!("/v1/rooms/{room}/join"), Some(token), None), StatusCode::OK);
    let key = RoomKey::new(org, room);
    let joiner = Joiner {
        identity: who.into(),
        name: who.into(),
        metadata: None,
        admin: true,
        publish_data: true,
        hidden: false,
        media: None,
        seat: p.held_seat(&key, who),
    };
    assert!(joiner.seat.is_some(), "the join held a seat");
    p.apply_room(&key, Event::Connect { conn, who: joiner, last_seq: None }).unwrap();
    key
}

/// Moves the clock on by `ms` with the participant on `conn` alive and the room's alarm run,
/// as its host would. (A presence message, not a ping, keeps it alive here: this platform
/// keeps the room only in the records a commit writes, and a ping writes none.)
fn pass(p: &TestPlatform, key: &RoomKey, conn: u64, ms: u64) -> Vec<Effect> {
    p.now_ms.set(p.now_ms.get() + ms);
    let alive = ClientMessage::Presence { state: origo_shared::signal::PresenceState::Active };
    p.apply_room(key, Event::Client { conn, msg: alive }).unwrap();
    p.apply_room(key, Event::Alarm).unwrap()
}

fn usage(p: &TestPlatform, token: &str) -> Value {
    ok_json(call(p, Method::GET, "/v1/billing/usage", Some(token), None), StatusCode::OK)
}

#[test]
fn only_the_operator_assigns_plans_and_earlier_months_keep_theirs() {
    let p = platform();
    let (t, org, _) = owner(&p, "ada@acme.test");
    // The operator's token is the only way in; an owner's token is not one.
    assert_error(&call(&p, Method::GET, "/v1/operator/plans", None, None), 401, "unauthorized");
    assert_error(&call(&p, Method::GET, "/v1/operator/plans", Some(&t), None), 401, "unauthorized");
    assert_error(&call(&p, Method::GET, "/v1/operator/plans", Some("wrong"), None), 401, "unauthorized");
    let path = format!("/v1/operator/orgs/{org}/plan");
    assert_error(&call(&p, Method::PUT, &path, Some(&t), Some(json!({"plan": "enterprise"}))), 401, "unauthorized");
    assert_error(
        &call(&p, Method::PUT, "/v1/billing/plan", Some(&t), Some(json!({"plan": "enterprise"}))),
        405,
        "method_not_allowed",
    );

    let plans = ok_json(operator(&p, Method::GET, "/v1/operator/plans", None), StatusCode::OK);
    let ids: Vec<&str> = plans["plans"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "pro", "enterprise", "guest"]);
    assert_eq!(ok_json(call(&p, Method::GET, "/v1/billing/plan", Some(&t), None), StatusCode::OK)["id"], "free");

    let december = p.now_ms.get();
    assign(&p, &org, "pro");
    let shown = ok_json(call(&p, Method::GET, "/v1/billing/plan", Some(&t), None), StatusCode::OK);
    assert_eq!((shown["id"].as_str(), shown["assigned_since_ms"].as_u64()), (Some("pro"), Some(december)));
    let bad = operator(&p, Method::PUT, &path, Some(json!({"plan": "platinum"})));
    assert!(assert_error(&bad, 400, "bad_request").contains("free, pro, enterprise, guest"));
    assert_error(&operator(&p, Method::GET, "/v1/operator/orgs/nobody/plan", None), 404, "not_found");
    assert_error(&operator(&p, Method::DELETE, &path, None), 405, "method_not_allowed");

    // Next month on enterprise: December's statement still bills pro.
    let month = origo_shared::usage::month_of(december);
    let (_, end) = origo_functions::statement::month_bounds(&month).unwrap();
    p.now_ms.set(end + 1_000);
    let t = login(&p, "ada@acme.test", "correct horse battery")["access_token"].as_str().unwrap().to_owned();
    assign(&p, &org, "enterprise");
    let st = ok_json(call(&p, Method::GET, &format!("/v1/billing/statements/{month}"), Some(&t), None), StatusCode::OK);
    assert_eq!((st["plan"]["id"].as_str(), st["final"].as_bool()), (Some("pro"), Some(true)));
    let now = ok_json(call(&p, Method::GET, "/v1/billing/plan", Some(&t), None), StatusCode::OK);
    assert_eq!(now["id"], "enterprise");

    // Without a configured digest there is no operator API.
    let mut closed = TestPlatform::new();
    closed.set("operator_secret_sha256", "");
    assert_error(&call(&closed, Method::GET, "/v1/operator/plans", Some(OPERATOR), None), 503, "unavailable");
}

#[test]
fn billed_participant_time_equals_the_time_spent_in_the_room() {
    let p = platform();
    register_node(&p, "m1", "media", "eu-west", 0);
    let (t, org, id) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let key = enter(&p, &t, &org, "standup", &id, 1);
    // 95.5 s in the room, across sweeps (every 15 s) and a leave.
    for _ in 0..6 {
        pass(&p, &key, 1, 15_000);
    }
    p.now_ms.set(p.now_ms.get() + 5_500);
    p.apply_room(&key, Event::Client { conn: 1, msg: ClientMessage::Leave }).unwrap();
    let u = usage(&p, &t);
    let billed = u["usage"]["participant_ms"].as_u64().unwrap();
    assert!(billed.abs_diff(95_500) <= 1_000, "billed {billed} ms for 95.5 s");
    let today = origo_functions::store::usage::day_key(p.now_ms.get());
    assert_eq!(u["usage"]["daily"][&today]["participant_ms"].as_u64(), Some(billed), "the day's share is the month's");
}

#[test]
fn over_a_quota_a_join_is_a_402_that_names_the_limit_the_plan_and_what_to_do() {
    let mut p = platform();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"tiny","guest_plan":"tiny","plans":[
            {"id":"tiny","name":"Tiny","monthly_fee":"0","limits":{"participant_minutes":1,"concurrent_rooms":1}},
            {"id":"big","name":"Big","monthly_fee":"10"}]}"#,
    );
    register_node(&p, "m1", "media", "eu-west", 0);
    let (t, org, id) = owner(&p, "ada@acme.test");
    for room in ["one", "two"] {
        ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": room}))), StatusCode::CREATED);
    }
    let key = enter(&p, &t, &org, "one", &id, 1);
    // One meeting at once: the second is refused while the first runs.
    let second = call(&p, Method::POST, "/v1/rooms/two/join", Some(&t), None);
    assert_error(&second, 402, "payment_required");
    let body = json_of(&second);
    assert_eq!(body["error"]["limit"]["name"], "concurrent_rooms");
    assert_eq!(
        (body["error"]["limit"]["allowed"].as_u64(), body["error"]["limit"]["used"].as_u64()),
        (Some(1), Some(1))
    );

    // A minute later the month's one minute is used up.
    for _ in 0..5 {
        pass(&p, &key, 1, 15_000);
    }
    register_node(&p, "m1", "media", "eu-west", 0);
    let again = call(&p, Method::POST, "/v1/rooms/one/join", Some(&t), None);
    let message = assert_error(&again, 402, "payment_required");
    let limit = json_of(&again)["error"]["limit"].clone();
    assert_eq!(
        (limit["name"].as_str(), limit["plan"].as_str(), limit["allowed"].as_u64()),
        (Some("participant_minutes"), Some("tiny"), Some(1))
    );
    assert!(limit["action"].as_str().unwrap().contains("operator"), "{limit}");
    assert!(message.contains("Tiny plan"), "{message}");

    // On a larger plan the same join goes through.
    assign(&p, &org, "big");
    ok_json(call(&p, Method::POST, "/v1/rooms/one/join", Some(&t), None), StatusCode::OK);
}

#[test]
fn a_meeting_that_uses_up_the_month_is_warned_then_ended_after_the_grace() {
    let mut p = platform();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"tiny","guest_plan":"tiny","usage_grace_secs":60,"plans":[
            {"id":"tiny","name":"Tiny","monthly_fee":"0","limits":{"participant_minutes":2}}]}"#,
    );
    register_node(&p, "m1", "media", "eu-west", 0);
    let (t, org, id) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let key = enter(&p, &t, &org, "standup", &id, 1);
    let warned = |fx: &[Effect]| {
        fx.iter().find_map(|e| match e {
            Effect::Broadcast { msg: ServerMessage::UsageLimit { disconnect_at_ms, message, plan, .. }, .. } => {
                Some((*disconnect_at_ms, message.clone(), plan.clone()))
            }
            _ => None,
        })
    };
    let mut warning = None;
    for _ in 0..12 {
        let fx = pass(&p, &key, 1, 15_000);
        if let Some(w) = warned(&fx) {
            warning = Some((p.now_ms.get(), w));
            break;
        }
    }
    let (at, (end, message, plan)) = warning.expect("a warning once two minutes are billed");
    assert_eq!(end, at + 60_000);
    assert_eq!(plan.as_deref(), Some("tiny"));
    assert!(message.contains("ends in 1 minute;"), "{message}");
    // The meeting goes on until the grace ends, then everyone is disconnected.
    let mut fx = Vec::new();
    while p.now_ms.get() + 15_000 < end {
        fx = pass(&p, &key, 1, 15_000);
        assert!(!fx.iter().any(|e| matches!(e, Effect::Close { .. })), "not before the end");
    }
    while !fx.iter().any(|e| matches!(e, Effect::Close { .. })) && p.now_ms.get() < end + 15_000 {
        fx = pass(&p, &key, 1, (end - p.now_ms.get()).max(1));
    }
    assert!(p.now_ms.get() >= end);
    assert!(fx.iter().any(|e| matches!(e, Effect::Close { code, .. } if *code == close::USAGE_LIMIT)), "{fx:?}");
    // And the next join is a 402.
    register_node(&p, "m1", "media", "eu-west", 0);
    assert_error(&call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), None), 402, "payment_required");
    // A command is unaffected.
    p.apply_room(&key, Event::Command(RoomCommand::Close { reason: "done".into() })).unwrap();
}

#[test]
fn a_statement_is_line_items_whose_amounts_add_up_to_its_total_in_json_and_csv() {
    let p = platform();
    register_node(&p, "m1", "media", "eu-west", 0);
    let (t, org, id) = owner(&p, "ada@acme.test");
    assign(&p, &org, "pro");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let key = enter(&p, &t, &org, "standup", &id, 1);
    for _ in 0..48 {
        pass(&p, &key, 1, 15_000);
    }
    p.now_ms.set(p.now_ms.get() + 345);
    p.apply_room(&key, Event::Client { conn: 1, msg: ClientMessage::Leave }).unwrap();
    let month = origo_shared::usage::month_of(p.now_ms.get());
    let path = format!("/v1/billing/statements/{month}");
    let st = ok_json(call(&p, Method::GET, &path, Some(&t), None), StatusCode::OK);
    assert_eq!(
        (st["currency"].as_str(), st["plan"]["id"].as_str(), st["final"].as_bool()),
        (Some("USD"), Some("pro"), Some(false))
    );
    let micros = |v: &Value| -> u64 {
        let s = v.as_str().unwrap();
        origo_functions::money::Money::parse(s).unwrap().0
    };
    let lines = st["lines"].as_array().unwrap();
    let items: Vec<&str> = lines.iter().map(|l| l["item"].as_str().unwrap()).collect();
    assert_eq!(items, ["monthly_fee", "participant_minutes", "media_minutes", "turn_gigabytes"]);
    assert_eq!(lines.iter().map(|l| micros(&l["amount"])).sum::<u64>(), micros(&st["total"]));
    assert_eq!(lines[1]["quantity"], "12.005");
    assert_eq!(micros(&lines[1]["amount"]), 24_012, "12.00575 minutes at 0.002");
    assert_eq!(micros(&st["total"]), 15_024_012);
    assert_eq!(st["daily"].as_array().unwrap().len(), 1);

    let csv = call(&p, Method::GET, &format!("{path}.csv"), Some(&t), None);
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = String::from_utf8(csv.body().to_vec()).unwrap();
    let rows: Vec<Vec<String>> = text.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    assert_eq!(rows[0][..3], ["org", "month", "item"]);
    let total_row = rows.last().unwrap();
    assert_eq!(total_row[2], "total");
    assert_eq!(micros(&json!(total_row[7])), micros(&st["total"]));
    // The operator reads the same statement; other months and bad ones are 404s.
    let theirs = ok_json(
        operator(&p, Method::GET, &format!("/v1/operator/orgs/{org}/statements/{month}"), None),
        StatusCode::OK,
    );
    assert_eq!(theirs["total"], st["total"]);
    assert_error(&call(&p, Method::GET, "/v1/billing/statements/2999-01", Some(&t), None), 404, "not_found");
    assert_error(&call(&p, Method::GET, "/v1/billing/statements/nope", Some(&t), None), 404, "not_found");
    let m = member(&p, &t, &org, "bo@acme.test", "member");
    assert_error(&call(&p, Method::GET, &path, Some(&m), None), 403, "forbidden");
}

#[test]
fn owners_and_admins_hear_at_80_and_100_percent_of_the_months_minutes() {
    let mut p = platform();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"tiny","guest_plan":"tiny","plans":[
            {"id":"tiny","name":"Tiny","monthly_fee":"0","limits":{"participant_minutes":10}}]}"#,
    );
    register_node(&p, "m1", "media", "eu-west", 0);
    let (t, org, id) = owner(&p, "ada@acme.test");
    ok_json(
        call(
            &p,
            Method::PUT,
            "/v1/me/notification-preferences",
            Some(&t),
            Some(json!({"channels": {"usage_threshold": ["email"]}})),
        ),
        StatusCode::OK,
    );
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    let key = enter(&p, &t, &org, "standup", &id, 1);
    let mails = p.mail.borrow().len();
    for _ in 0..32 {
        pass(&p, &key, 1, 15_000);
    }
    p.apply_room(&key, Event::Client { conn: 1, msg: ClientMessage::Leave }).unwrap();
    register_node(&p, "m1", "media", "eu-west", 0);
    // The next join checks the thresholds: 80 % is passed, once.
    ok_json(call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), None), StatusCode::OK);
    ok_json(call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), None), StatusCode::OK);
    let new: Vec<Value> = p.mail.borrow()[mails..].to_vec();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0]["subject"].as_str().unwrap().contains("80 % used"), "{}", new[0]);
    assert!(new[0]["text"].as_str().unwrap().contains("8 of the 10 participant-minutes"), "{}", new[0]);
}
