//! `POST /v1/nodes/usage` as media and TURN nodes send it: each report counts once per record
//! by the node's journal epoch and report number, a node that lost its state directory (a new
//! epoch, numbered from 1 again) is counted, relayed bytes land in the TURN node's record on
//! their day, and billing adds them up.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

const MONTH: &str = "2027-01";

fn usage(p: &TestPlatform, t: &str) -> Value {
    ok_json(call(p, Method::GET, &format!("/v1/billing/usage?month={MONTH}"), Some(t), None), StatusCode::OK)["usage"]
        .clone()
}

fn post(p: &TestPlatform, report: Value) {
    ok_json(call(p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(report)), StatusCode::OK);
}

fn relay_report(org: &str, epoch: &str, seq: u64, bytes: u64, framing: u64, day: u32) -> Value {
    json!({"node": "turn-1", "epoch": epoch, "seq": seq, "entries": [],
           "relayed": [{"org": org, "month": MONTH, "day": day, "relayed_bytes": bytes, "framing_bytes": framing}]})
}

#[test]
fn relayed_bytes_count_once_per_epoch_and_seq_and_a_new_epoch_counts_from_one() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let relayed = |p: &TestPlatform| {
        let u = usage(p, &t);
        (u["relayed_bytes"].as_u64().unwrap(), u["relay_framing_bytes"].as_u64().unwrap())
    };
    post(&p, relay_report(&org, "aaaaaaaaaaaaaaaa", 1, 1000, 40, 3));
    assert_eq!(relayed(&p), (1000, 40));
    // Replayed (the answer was lost): nothing changes.
    post(&p, relay_report(&org, "aaaaaaaaaaaaaaaa", 1, 1000, 40, 3));
    assert_eq!(relayed(&p), (1000, 40));
    post(&p, relay_report(&org, "aaaaaaaaaaaaaaaa", 2, 500, 20, 4));
    assert_eq!(relayed(&p), (1500, 60));
    // An older report arriving late was taken already.
    post(&p, relay_report(&org, "aaaaaaaaaaaaaaaa", 1, 1000, 40, 3));
    assert_eq!(relayed(&p), (1500, 60));
    // The node lost its state directory: a new journal, seq 1 again, counts — once.
    post(&p, relay_report(&org, "bbbbbbbbbbbbbbbb", 1, 7, 1, 4));
    post(&p, relay_report(&org, "bbbbbbbbbbbbbbbb", 1, 7, 1, 4));
    assert_eq!(relayed(&p), (1507, 61));
    // The old journal back from a backup resends what was taken: not counted again.
    post(&p, relay_report(&org, "aaaaaaaaaaaaaaaa", 2, 500, 20, 4));
    assert_eq!(relayed(&p), (1507, 61));

    let u = usage(&p, &t);
    assert_eq!(u["daily"]["03"]["relayed_bytes"], 1000, "{u}");
    assert_eq!(u["daily"]["04"]["relayed_bytes"], 507, "{u}");
    // The record is the TURN node's own.
    assert!(p.dump().contains(&format!("usage:{org}:{MONTH}:turn:turn-1")), "the TURN node's record is kept");
}

#[test]
fn a_report_naming_one_record_on_several_days_counts_every_day_and_day_zero_is_today() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let r = json!({"node": "turn-1", "epoch": "cccccccccccccccc", "seq": 1, "entries": [], "relayed": [
        {"org": org, "month": MONTH, "day": 14, "relayed_bytes": 100, "framing_bytes": 4},
        {"org": org, "month": MONTH, "day": 15, "relayed_bytes": 200, "framing_bytes": 8},
        {"org": org, "month": MONTH, "relayed_bytes": 1, "framing_bytes": 0},
        {"org": "public", "month": MONTH, "day": 15, "relayed_bytes": 5000, "framing_bytes": 100},
    ]});
    post(&p, r.clone());
    post(&p, r);
    let u = usage(&p, &t);
    assert_eq!((u["relayed_bytes"].as_u64(), u["relay_framing_bytes"].as_u64()), (Some(301), Some(12)), "{u}");
    assert_eq!(u["daily"]["14"]["relayed_bytes"], 100);
    // T0 is 2027-01-15 (UTC): the entry without a day is counted today.
    assert_eq!(u["daily"]["15"]["relayed_bytes"], 201);
    assert!(!p.dump().contains(&format!("usage:public:{MONTH}:turn:")), "the guest organisation is not billed");
}

#[test]
fn media_reports_count_once_per_epoch_and_seq_and_survive_a_lost_state_directory() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let media = |p: &TestPlatform| usage(p, &t)["media_participant_ms"].as_u64().unwrap();
    // A node from before epochs: numbering under the empty epoch.
    let old = |seq: u64, ms: u64| {
        json!({"node": "media-1", "seq": seq,
               "entries": [{"org": org, "room": "standup", "month": MONTH, "participant_ms": ms}]})
    };
    let new = |epoch: &str, seq: u64, ms: u64, day: u32| {
        json!({"node": "media-1", "epoch": epoch, "seq": seq,
               "entries": [{"org": org, "room": "standup", "month": MONTH, "day": day, "participant_ms": ms}]})
    };
    post(&p, old(41, 1000));
    post(&p, old(41, 1000));
    assert_eq!(media(&p), 1000);
    // Upgraded, the journal kept: it goes on numbering.
    post(&p, old(42, 10));
    assert_eq!(media(&p), 1010);
    // Its state directory was lost: a fresh journal (new epoch) starts at 1 and is counted.
    post(&p, new("dddddddddddddddd", 1, 500, 2));
    post(&p, new("dddddddddddddddd", 1, 500, 2));
    post(&p, new("dddddddddddddddd", 2, 5, 2));
    assert_eq!(media(&p), 1515);
    assert_eq!(usage(&p, &t)["daily"]["02"]["media_participant_ms"], 505);
    // A duplicated report within one epoch counts once.
    post(&p, new("dddddddddddddddd", 2, 5, 2));
    assert_eq!(media(&p), 1515);
}

#[test]
fn hostile_relay_reports_are_refused_whole() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let good = relay_report(&org, "eeeeeeeeeeeeeeee", 1, 10, 1, 3);
    let spoil: Vec<fn(&mut Value)> = vec![
        |r| r["relayed"][0]["day"] = json!(32),
        |r| r["relayed"][0]["month"] = json!("2027-00"),
        |r| r["relayed"][0]["org"] = json!("a:b"),
        |r| r["relayed"][0]["relayed_bytes"] = json!(2_000_000_000_000_000u64),
        |r| r["epoch"] = json!("../../etc"),
        |r| r["epoch"] = json!("e".repeat(65)),
        |r| r["node"] = json!("Not A Node"),
    ];
    for s in spoil {
        let mut bad = good.clone();
        s(&mut bad);
        assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(bad)), 400, "bad_request");
    }
    let mut unknown = good.clone();
    unknown["relayed"][0]["extra"] = json!(1);
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(unknown)), 400, "invalid_json");
    let mut negative = good.clone();
    negative["relayed"][0]["framing_bytes"] = json!(-1);
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(negative)), 400, "invalid_json");
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some("wrong"), Some(good)), 401, "unauthorized");
    assert_eq!(usage(&p, &t)["relayed_bytes"], 0);
}
