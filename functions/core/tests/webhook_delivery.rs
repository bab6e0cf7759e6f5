//! The webhook dispatcher over the in-memory platform: what it takes from the room outboxes,
//! in which order it sends, how it retries, disables, recovers and filters.

mod support;

use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::retry_schedule::{DISABLE_AFTER_MS, RETRY_DELAYS_MS};
use origo_functions::store::{index, keys};
use origo_functions::webhook_delivery::{DispatchCommand, deliver_due, handle};
use serde_json::{Value, json};
use support::*;

/// An owner's organisation with one endpoint for `events` (none: the default): (token, org, webhook id).
fn partner(p: &TestPlatform, events: Option<&[&str]>) -> (String, String, String) {
    let (t, org, _) = owner(p, "ada@acme.test");
    let mut body = json!({"url": "https://hooks.partner.test/origo"});
    if let Some(e) = events {
        body["events"] = json!(e);
    }
    let hook = ok_json(call(p, Method::POST, "/v1/webhooks", Some(&t), Some(body)), StatusCode::CREATED);
    (t, org, hook["id"].as_str().unwrap().to_owned())
}

/// Writes `n` events to `room`'s outbox as its coordinator does, from sequence number `from`.
fn outbox(p: &TestPlatform, org: &str, room: &str, from: u64, n: u64, event: &str) {
    for seq in from..from + n {
        let id = format!("{seq:020}");
        let body = json!({"type": event, "timestamp": p.now_ms.get() / 1000, "seq": seq, "data": {"n": seq}});
        p.kv.borrow_mut().insert(keys::webhook_outbox(org, room, &id), serde_json::to_vec(&body).unwrap());
        block_on(index::add(p, &keys::outbox_index(org, room), &id, seq)).unwrap();
    }
}

/// A fresh access token of the owner (time moves on in these tests).
fn fresh(p: &TestPlatform) -> String {
    login(p, "ada@acme.test", "correct horse battery")["access_token"].as_str().unwrap().to_owned()
}

fn intake(p: &TestPlatform, org: &str, rooms: &[&str]) {
    let rooms = rooms.iter().map(|r| r.to_string()).collect();
    block_on(handle(p, org, &DispatchCommand::Intake { rooms })).unwrap();
}

/// The bodies the receiver got, in order.
fn received(p: &TestPlatform) -> Vec<Value> {
    p.webhooks.borrow().iter().map(|r| serde_json::from_slice(r.body()).unwrap()).collect()
}

fn seqs(p: &TestPlatform, room: &str) -> Vec<u64> {
    received(p).iter().filter(|b| b["room"] == room).map(|b| b["seq"].as_u64().unwrap()).collect()
}

#[test]
fn events_leave_the_outbox_once_taken_and_go_out_in_room_order() {
    let p = TestPlatform::new();
    let (_, org, _) = partner(&p, None);
    outbox(&p, &org, "r1", 10, 3, "participant.joined");
    outbox(&p, &org, "r2", 5, 2, "participant.joined");
    intake(&p, &org, &["r1", "r2"]);
    assert!(!p.dump().contains("webhook_outbox:"), "taken-in events leave the outbox");
    // Taking the same rooms in again finds nothing new.
    intake(&p, &org, &["r1", "r2"]);
    let report = block_on(deliver_due(&p, &org, 10)).unwrap();
    assert_eq!((report.delivered, report.pending), (5, 0));
    assert_eq!(seqs(&p, "r1"), [10, 11, 12]);
    assert_eq!(seqs(&p, "r2"), [5, 6]);
    let first = &received(&p)[0];
    assert_eq!((first["version"].as_u64(), first["org"].as_str()), (Some(1), Some(org.as_str())));
    // The id is the same whoever computes it, and the header carries it.
    let sent = p.webhooks.borrow();
    assert_eq!(sent[0].headers()["webhook-id"].to_str().unwrap(), first["id"].as_str().unwrap());
}

#[test]
fn a_failing_message_holds_its_room_back_only_until_it_is_parked() {
    let p = TestPlatform::new();
    let (_, org, _) = partner(&p, None);
    outbox(&p, &org, "r1", 1, 3, "chat.message");
    outbox(&p, &org, "r1", 1, 0, "chat.message");
    *p.hooks_answer.borrow_mut() = (0, None);
    // chat.message is opt-in: the default endpoint gets none of it.
    intake(&p, &org, &["r1"]);
    assert_eq!(block_on(deliver_due(&p, &org, 10)).unwrap().pending, 0);

    // Sequence numbers as a coordinator makes them: from the event's time × 1000.
    let base = p.now_ms.get() * 1000;
    outbox(&p, &org, "r1", base + 4, 3, "participant.joined");
    intake(&p, &org, &["r1"]);
    let r = block_on(deliver_due(&p, &org, 10)).unwrap();
    assert_eq!((r.retried, r.pending), (1, 3), "only the head was tried: {r:?}");
    // Retried on the schedule, still holding the others back…
    p.advance_secs(6);
    let r = block_on(deliver_due(&p, &org, 10)).unwrap();
    assert_eq!(r.retried, 1, "{r:?}");
    // …for 30 s after its event at most: then the next goes.
    p.advance_secs(10);
    assert_eq!(block_on(deliver_due(&p, &org, 10)).unwrap().retried, 0);
    p.advance_secs(15);
    let r = block_on(deliver_due(&p, &org, 10)).unwrap();
    assert!(r.retried >= 1, "{r:?}");
    // The receiver is back: everything it missed arrives, in order.
    *p.hooks_answer.borrow_mut() = (204, None);
    p.advance_secs(400);
    for _ in 0..5 {
        block_on(deliver_due(&p, &org, 10)).unwrap();
    }
    let delivered: Vec<u64> = {
        let mut seen = std::collections::BTreeSet::new();
        received(&p)
            .iter()
            .filter(|b| seen.insert(b["id"].as_str().unwrap().to_owned()))
            .map(|b| b["seq"].as_u64().unwrap())
            .collect()
    };
    let mut sorted = delivered.clone();
    sorted.sort();
    assert_eq!(sorted, [base + 4, base + 5, base + 6]);
}

#[test]
fn retries_follow_the_schedule_then_fail_and_can_be_recovered() {
    let p = TestPlatform::new();
    let (_, org, hook) = partner(&p, None);
    *p.hooks_answer.borrow_mut() = (500, None);
    outbox(&p, &org, "r1", 1, 1, "room.started");
    intake(&p, &org, &["r1"]);
    block_on(deliver_due(&p, &org, 1)).unwrap();
    for delay in RETRY_DELAYS_MS {
        // Not before the (jittered, ±10 %) delay.
        p.now_ms.set(p.now_ms.get() + delay * 85 / 100);
        assert_eq!(
            block_on(deliver_due(&p, &org, 1)).unwrap().retried + block_on(deliver_due(&p, &org, 1)).unwrap().failed,
            0
        );
        p.now_ms.set(p.now_ms.get() + delay * 30 / 100);
        let r = block_on(deliver_due(&p, &org, 1)).unwrap();
        assert_eq!(r.retried + r.failed, 1, "{r:?}");
    }
    assert_eq!(p.webhooks.borrow().len(), 8, "the first attempt and seven retries");
    let t = fresh(&p);
    let log = ok_json(
        call(&p, Method::GET, &format!("/v1/webhooks/{hook}/deliveries?status=failed"), Some(&t), None),
        StatusCode::OK,
    );
    let entry = &log["deliveries"][0];
    assert_eq!((entry["status"].as_str(), entry["attempts"].as_u64()), (Some("failed"), Some(8)), "{log:#}");
    assert_eq!(entry["last_attempt"]["status"], 500);
    // Recovery sends every failed message since a time again, with the same id.
    *p.hooks_answer.borrow_mut() = (204, None);
    let since = json!({"since_ms": 0});
    let res = ok_json(
        call(&p, Method::POST, &format!("/v1/webhooks/{hook}/recover"), Some(&t), Some(since)),
        StatusCode::ACCEPTED,
    );
    assert_eq!(res["queued"], 1);
    assert_eq!(block_on(deliver_due(&p, &org, 1)).unwrap().delivered, 1);
    let ids: Vec<String> =
        p.webhooks.borrow().iter().map(|r| r.headers()["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

#[test]
fn overload_answers_wait_for_retry_after() {
    let p = TestPlatform::new();
    let (_, org, _) = partner(&p, None);
    *p.hooks_answer.borrow_mut() = (503, Some("120".into()));
    outbox(&p, &org, "r1", 1, 1, "room.started");
    intake(&p, &org, &["r1"]);
    let r = block_on(deliver_due(&p, &org, 1)).unwrap();
    assert_eq!(r.next_due_ms, Some(p.now_ms.get() + 120_000));
}

#[test]
fn gone_disables_the_endpoint_and_tells_the_other_endpoints_and_the_admins() {
    let p = TestPlatform::new();
    let (t, org, hook) = partner(&p, Some(&["room.started"]));
    let other = ok_json(
        call(
            &p,
            Method::POST,
            "/v1/webhooks",
            Some(&t),
            Some(json!({"url": "https://hooks.partner.test/other", "events": ["endpoint.disabled"]})),
        ),
        StatusCode::CREATED,
    );
    *p.hooks_answer.borrow_mut() = (410, None);
    outbox(&p, &org, "r1", 1, 2, "room.started");
    intake(&p, &org, &["r1"]);
    let r = block_on(deliver_due(&p, &org, 1)).unwrap();
    assert_eq!(r.disabled, std::slice::from_ref(&hook));
    let h = ok_json(call(&p, Method::GET, &format!("/v1/webhooks/{hook}"), Some(&t), None), StatusCode::OK);
    assert!(h["health"]["disabled"]["reason"].as_str().unwrap().contains("410"), "{h:#}");
    assert!(p.last_mail_to("ada@acme.test").unwrap()["subject"].as_str().unwrap().contains("disabled"));
    // The other endpoint hears of it; nothing more goes to the disabled one.
    *p.hooks_answer.borrow_mut() = (204, None);
    block_on(deliver_due(&p, &org, 4)).unwrap();
    let last = received(&p).pop().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["data"]["endpoint"].as_str()),
        (Some("endpoint.disabled"), Some(hook.as_str()))
    );
    assert_eq!(p.webhooks.borrow().last().unwrap().uri().path(), "/other");
    let _ = other;
    outbox(&p, &org, "r1", 3, 1, "room.started");
    intake(&p, &org, &["r1"]);
    assert_eq!(block_on(deliver_due(&p, &org, 4)).unwrap().delivered, 0);
    // Enabled again, it gets new events.
    let res = call(&p, Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(&t), Some(json!({"enabled": true})));
    assert_eq!(ok_json(res, StatusCode::OK)["health"].get("disabled"), None);
    outbox(&p, &org, "r1", 4, 1, "room.started");
    intake(&p, &org, &["r1"]);
    assert_eq!(block_on(deliver_due(&p, &org, 4)).unwrap().delivered, 1);
}

#[test]
fn five_days_of_failures_disable_an_endpoint() {
    let p = TestPlatform::new();
    let (_, org, hook) = partner(&p, None);
    *p.hooks_answer.borrow_mut() = (0, None);
    let mut seq = 1;
    let start = p.now_ms.get();
    while p.now_ms.get() < start + DISABLE_AFTER_MS + 3_600_000 {
        outbox(&p, &org, "r1", seq, 1, "participant.joined");
        seq += 1;
        intake(&p, &org, &["r1"]);
        block_on(deliver_due(&p, &org, 8)).unwrap();
        p.advance_secs(3 * 3600);
    }
    let t = fresh(&p);
    let h = ok_json(call(&p, Method::GET, &format!("/v1/webhooks/{hook}"), Some(&t), None), StatusCode::OK);
    assert!(h["health"]["disabled"]["reason"].as_str().unwrap().contains("5 days"), "{h:#}");
}

#[test]
fn the_api_refuses_bad_input_and_other_organisations() {
    let p = TestPlatform::new();
    let (t, _, hook) = partner(&p, None);
    let bad = [
        (Method::GET, format!("/v1/webhooks/{hook}/deliveries?limit=0"), None),
        (Method::GET, format!("/v1/webhooks/{hook}/deliveries?status=lost"), None),
        (Method::PATCH, format!("/v1/webhooks/{hook}"), Some(json!({"events": ["nope"]}))),
        (Method::PATCH, format!("/v1/webhooks/{hook}"), Some(json!({"enabled": false}))),
        (Method::POST, format!("/v1/webhooks/{hook}/rotate-secret"), Some(json!({"previous_valid_secs": 99_999_999}))),
    ];
    for (m, path, body) in bad {
        assert_error(&call(&p, m, &path, Some(&t), body), 400, "bad_request");
    }
    let res = call(&p, Method::POST, &format!("/v1/webhooks/{hook}/recover"), Some(&t), Some(json!({"since": 1})));
    assert_error(&res, 400, "invalid_json");
    let missing = format!("/v1/webhooks/{hook}/deliveries/msg_000000000000000000000000");
    assert_error(&call(&p, Method::GET, &missing, Some(&t), None), 404, "not_found");
    assert_error(
        &call(&p, Method::GET, &format!("/v1/webhooks/{hook}/deliveries/nope"), Some(&t), None),
        404,
        "not_found",
    );
    let (t2, _, _) = owner(&p, "eve@evil.test");
    assert_error(&call(&p, Method::GET, &format!("/v1/webhooks/{hook}/deliveries"), Some(&t2), None), 404, "not_found");
    // A rotation returns the new secret once; both sign for a day.
    let r =
        ok_json(call(&p, Method::POST, &format!("/v1/webhooks/{hook}/rotate-secret"), Some(&t), None), StatusCode::OK);
    assert!(r["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(r["previous_secret_until_ms"].as_u64(), Some(p.now_ms.get() + 86_400_000));
}

#[test]
fn passing_a_threshold_of_the_plan_is_told_once() {
    let mut p = TestPlatform::new();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"small","guest_plan":"small","plans":[
            {"id":"small","name":"Small","monthly_fee":"0","limits":{"participant_minutes":10}}]}"#,
    );
    let (t, org, _) = partner(&p, Some(&["usage.threshold"]));
    register_node(&p, "media-1", "media", "eu-west", 0);
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    // Nine minutes used: 90 % of the plan.
    let usage = origo_functions::store::usage::Usage {
        participant_seconds: 540,
        participant_ms: 540_000,
        ..Default::default()
    };
    let month = origo_shared::usage::month_of(p.now_ms.get());
    p.kv.borrow_mut().insert(format!("usage:{org}:{month}:room:standup"), serde_json::to_vec(&usage).unwrap());
    block_on(index::add(&p, &format!("usage_index:{org}:{month}"), "room:standup", 0)).unwrap();
    for _ in 0..3 {
        let res = call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), Some(json!({})));
        assert_eq!(res.status(), StatusCode::OK, "{}", json_of(&res));
    }
    block_on(deliver_due(&p, &org, 4)).unwrap();
    let got = received(&p);
    assert_eq!(got.len(), 1, "told once: {got:#?}");
    assert_eq!((got[0]["type"].as_str(), got[0]["data"]["percent"].as_u64()), (Some("usage.threshold"), Some(80)));
    assert_eq!(
        (got[0]["data"]["quota"].as_str(), got[0]["data"]["plan"].as_str()),
        (Some("participant_minutes"), Some("small"))
    );
}
