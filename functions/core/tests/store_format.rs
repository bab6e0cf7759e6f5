//! A store written by the release before format 2 (no index records, no lifetimes, seats as
//! records, collections found by scanning keys) is read by this one: the sweep's one-time
//! upgrade builds the indexes, and everything the old release acknowledged is there.

mod support;

use http::{Method, StatusCode};
use origo_functions::coordinator::storage;
use serde_json::json;
use support::*;

/// A coordinator snapshot exactly as format 1 wrote it.
const V1_SNAPSHOT: &str = r#"{"org":"o1","room":"standup","seq":4,"members":{},"chat":[{"seq":3,"from":"ada","from_name":"Ada","text":"hello","sent_at_ms":1800000000000}],"media":null,"started_at_ms":1800000000000,"empty_since_ms":1800000005000,"empty_timeout_ms":300000,"alarm_at_ms":1800000305000,"next_sweep_ms":null,"finished":false,"settings":{"disconnect_grace_ms":15000,"stale_after_ms":45000,"sweep_ms":15000,"seat_ttl_ms":120000,"chat_tail":100}}"#;

/// A room record as format 1 wrote it.
const V1_ROOM: &str = r#"{"name":"standup","org":"o1","max_participants":100,"empty_timeout_secs":300,"created_at_ms":1800000000000,"created_by":"acct_1","updated_at_ms":1800000000000}"#;

#[test]
fn format_1_records_decode() {
    let state = storage::decode_snapshot(V1_SNAPSHOT.as_bytes()).unwrap();
    assert_eq!((state.v, state.chat.len(), state.held.len()), (1, 1, 0));
    assert!(state.terms.bill_usage, "old meetings are billed as before");
    let room: origo_functions::store::room::Room = serde_json::from_str(V1_ROOM).unwrap();
    assert_eq!((room.name.as_str(), room.expires_at_ms), ("standup", None));
}

/// Turns what this release wrote into what format 1 would have: the index records go, the
/// old index keys and records come back.
fn as_format_1(p: &TestPlatform) {
    let mut kv = p.kv.borrow_mut();
    let keys: Vec<String> = kv.keys().cloned().collect();
    for k in keys {
        let kind = k.split(':').next().unwrap().to_owned();
        let rest: Vec<String> = k.split(':').skip(1).map(str::to_owned).collect();
        match kind.as_str() {
            "rooms" | "members" | "account_orgs" | "api_keys" | "webhooks" | "nodes" | "chat_index" | "usage_index"
            | "live_rooms" | "expiry" | "sweep_cursor" | "store_format" => {
                kv.remove(&k);
            }
            "member" => {
                kv.insert(format!("account_org:{}:{}", rest[1], rest[0]), b"owner".to_vec());
            }
            "apikey" => {
                let v: serde_json::Value = serde_json::from_slice(&kv[&k]).unwrap();
                kv.insert(format!("org_apikey:{}:{}", v["org"].as_str().unwrap(), rest[0]), b"1".to_vec());
            }
            _ => {}
        }
    }
}

#[test]
fn a_format_1_store_is_upgraded_once_and_nothing_is_lost() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let key = api_key(&p, &t, "backend");
    for name in ["retro", "standup"] {
        ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": name}))), StatusCode::CREATED);
    }
    let hook = json!({"url": "https://hooks.partner.test/in", "events": ["room.started"]});
    ok_json(call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(hook)), StatusCode::CREATED);
    register_node(&p, "m1", "media", "eu-west", 0);
    let post = json!({"text": "before the upgrade"});
    ok_json(call(&p, Method::POST, "/v1/rooms/standup/messages", Some(&key), Some(post)), StatusCode::CREATED);
    let listed = |p: &TestPlatform, path: &str, field: &str| -> usize {
        ok_json(call(p, Method::GET, path, Some(&t), None), StatusCode::OK)[field].as_array().unwrap().len()
    };
    let before = (
        listed(&p, "/v1/rooms", "rooms"),
        listed(&p, "/v1/api-keys", "api_keys"),
        listed(&p, "/v1/rooms/standup/messages", "messages"),
    );
    assert_eq!(before, (2, 1, 1));

    as_format_1(&p);
    {
        let mut kv = p.kv.borrow_mut();
        // What format 1 kept besides: a seat record, an undated outbox event, an old-style
        // usage record of a month.
        kv.insert(format!("seat:{org}:standup:ada"), br#"{"expires_at_ms":1}"#.to_vec());
        kv.insert(format!("webhook_outbox:{org}:0001800000000000-00000001"), b"{}".to_vec());
        kv.insert(
            format!("usage:{org}:2026-11:room:standup"),
            br#"{"participant_seconds":60,"rooms_created":0}"#.to_vec(),
        );
    }
    // Without its indexes the old store does not even find the owner's organisation.
    assert_error(&call(&p, Method::GET, "/v1/rooms", Some(&t), None), 400, "bad_request");

    let report = ok_json(call(&p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK);
    assert!(report["migration"]["indexes"].as_u64().unwrap() >= 5, "{report}");
    let after = (
        listed(&p, "/v1/rooms", "rooms"),
        listed(&p, "/v1/api-keys", "api_keys"),
        listed(&p, "/v1/rooms/standup/messages", "messages"),
    );
    assert_eq!(after, before);
    assert_eq!(listed(&p, "/v1/webhooks", "webhooks"), 1);
    let kv = p.kv.borrow();
    assert!(
        !kv.keys().any(|k| k.starts_with("seat:") || k.starts_with("org_apikey:") || k.starts_with("account_org:"))
    );
    assert!(kv.contains_key(&format!("usage_index:{org}:2026-11")));
    drop(kv);
    // Once only.
    let again = ok_json(call(&p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK);
    assert!(again["migration"].is_null(), "{again}");
    // The organisation's member list and the owner's organisations came back too.
    let orgs = ok_json(call(&p, Method::GET, "/v1/orgs", Some(&t), None), StatusCode::OK);
    assert!(orgs.to_string().contains(&org), "{orgs}");
}
