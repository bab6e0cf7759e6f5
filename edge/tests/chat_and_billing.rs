//! Chat changes and billing on a real `origo dev`: a message edited, reacted to and deleted
//! over HTTP goes through the room's coordinator (the command crosses the host's stub) and the
//! history keeps the tombstone; the operator token `origo dev` made assigns a plan; a quota
//! refuses a join with a 402 naming it, lifted by a larger plan; statements in JSON and CSV;
//! and, in real time, billed participant time equals the time spent in the room.

mod common;

use common::room_ws::{close_code, connect, join, send};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A tiny default plan (no participant-minutes at all) and a larger one.
const PLANS: &str = r#"plans={"currency":"USD","default_plan":"tiny","guest_plan":"links","plans":[
    {"id":"tiny","name":"Tiny","monthly_fee":"0","limits":{"participant_minutes":0}},
    {"id":"pro","name":"Pro","monthly_fee":"15","prices":{"participant_minute":"0.002"}},
    {"id":"links","name":"Meeting links","monthly_fee":"0","limits":{"meeting_minutes":240}}]}"#;

/// An account that owns organisation "Acme" with room "standup": its access token and the org's id.
async fn owner_with_room(o: &Origo) -> (String, String) {
    let creds = json!({"email": "ada@acme.test", "password": "correct horse battery"});
    let (s, body) = call(o, Method::POST, "/v1/auth/signup", None, Some(creds.clone())).await;
    assert_eq!(s, 202, "{body}");
    let (_, session) = call(o, Method::POST, "/v1/auth/login", None, Some(creds)).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (s, org) = call(o, Method::POST, "/v1/orgs", Some(&token), Some(json!({"name": "Acme"}))).await;
    assert_eq!(s, 201, "{org}");
    let (s, room) = call(o, Method::POST, "/v1/rooms", Some(&token), Some(json!({"name": "standup"}))).await;
    assert_eq!(s, 201, "{room}");
    (token, org["id"].as_str().unwrap().to_owned())
}

fn micros(v: &Value) -> u64 {
    origo_functions::money::Money::parse(v.as_str().unwrap()).unwrap().0
}

#[test]
fn chat_changes_and_plans_work_end_to_end_on_origo() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_dev(dir.path(), &["--turn-listen", "off", "--var", PLANS]);
    rt().block_on(async {
        // The operator's token is in the data directory, and only its digest in the variables.
        let operator = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_owned();
        assert!(operator.starts_with("oop_") && operator.len() > 40);
        assert!(!o.log().contains(&operator), "the token is never logged");
        let op = Some(operator.as_str());
        let (s, plans) = call(&o, Method::GET, "/v1/operator/plans", op, None).await;
        assert_eq!((s, plans["default_plan"].as_str()), (200, Some("tiny")), "{plans}");

        let (token, org) = owner_with_room(&o).await;
        let t = Some(token.as_str());

        // Chat: post, reply, edit, react, delete; the history keeps the tombstone.
        let messages = "/v1/rooms/standup/messages";
        let (s, first) = call(&o, Method::POST, messages, t, Some(json!({"text": "draft @someone"}))).await;
        assert_eq!(s, 201, "{first}");
        let id = first["id"].as_str().unwrap().to_owned();
        let (s, reply) = call(&o, Method::POST, messages, t, Some(json!({"text": "noted", "reply_to": id}))).await;
        assert_eq!((s, reply["reply_to"].as_str()), (201, Some(id.as_str())), "{reply}");
        let one = format!("{messages}/{id}");
        let (s, edited) = call(&o, Method::PATCH, &one, t, Some(json!({"text": "final"}))).await;
        assert_eq!((s, edited["text"].as_str()), (200, Some("final")), "{edited}");
        assert!(edited["edited_at_ms"].is_u64());
        let (s, reacted) = call(&o, Method::PUT, &format!("{one}/reactions/%F0%9F%8E%89"), t, None).await;
        assert_eq!((s, reacted["reactions"]["🎉"].as_array().map(Vec::len)), (200, Some(1)), "{reacted}");
        let (s, long) = call(&o, Method::PATCH, &one, t, Some(json!({"text": "x".repeat(4001)}))).await;
        assert_eq!((s, long["error"]["code"].as_str()), (400, Some("bad_request")), "{long}");
        assert!(long["error"]["message"].as_str().unwrap().contains("at most 4000 characters"), "{long}");
        let (s, gone) = call(&o, Method::DELETE, &one, t, None).await;
        assert_eq!((s, gone["text"].as_str()), (200, Some("")), "{gone}");
        let (s, history) = call(&o, Method::GET, &format!("{messages}?before=end"), t, None).await;
        assert_eq!(s, 200, "{history}");
        let texts: Vec<&str> =
            history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["", "noted"]);
        assert!(history["messages"][0]["deleted_at_ms"].is_u64());

        // The tiny plan has no minutes: a join is a 402 that says which quota and what to do.
        let (s, refused) = call(&o, Method::POST, "/v1/rooms/standup/join", t, None).await;
        assert_eq!(s, 402, "{refused}");
        let limit = &refused["error"]["limit"];
        assert_eq!(
            (limit["name"].as_str(), limit["plan"].as_str()),
            (Some("participant_minutes"), Some("tiny")),
            "{refused}"
        );
        assert!(limit["action"].as_str().unwrap().contains("larger plan"));
        // An owner cannot change the plan; the operator can, and then the join goes through.
        let (s, _) =
            call(&o, Method::PUT, &format!("/v1/operator/orgs/{org}/plan"), t, Some(json!({"plan": "pro"}))).await;
        assert_eq!(s, 401);
        let (s, plan) =
            call(&o, Method::PUT, &format!("/v1/operator/orgs/{org}/plan"), op, Some(json!({"plan": "pro"}))).await;
        assert_eq!((s, plan["id"].as_str()), (200, Some("pro")), "{plan}");
        let (s, joined) = call(&o, Method::POST, "/v1/rooms/standup/join", t, None).await;
        assert_eq!(s, 200, "{joined}");

        // The month's statement: lines that add up, in JSON and CSV.
        let month = origo_shared::usage::month_of(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
        );
        let (s, st) = call(&o, Method::GET, &format!("/v1/billing/statements/{month}"), t, None).await;
        assert_eq!((s, st["plan"]["id"].as_str()), (200, Some("pro")), "{st}");
        let lines = st["lines"].as_array().unwrap();
        assert_eq!(lines.iter().map(|l| micros(&l["amount"])).sum::<u64>(), micros(&st["total"]));
        assert_eq!(micros(&st["total"]), 15_000_000, "the fee; nobody has spent time in a meeting");
        let csv = request(&o, Method::GET, &format!("/v1/billing/statements/{month}.csv"), t, None).await;
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().await.unwrap();
        assert!(text.lines().last().unwrap().contains(",total,Total,"), "{text}");
        assert!(text.lines().last().unwrap().ends_with("15.000000,USD"), "{text}");
    });
    o.terminate();
}

#[test]
fn billed_participant_time_equals_the_real_time_spent_in_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_dev(dir.path(), &["--turn-listen", "off"]);
    rt().block_on(async {
        let (token, _) = owner_with_room(&o).await;
        let t = Some(token.as_str());
        let (s, joined) = call(&o, Method::POST, "/v1/rooms/standup/join", t, None).await;
        assert_eq!(s, 200, "{joined}");
        let ws_url = joined["coordinator_url"].as_str().unwrap().to_owned();
        let participant = joined["participant_token"].as_str().unwrap().to_owned();

        // In the room for 3.5 s of wall time, from before the socket opens to after it closed.
        let started = std::time::Instant::now();
        let mut ws = connect(&ws_url, &participant).await;
        join(&mut ws, None).await;
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        send(&mut ws, json!({"type": "leave"})).await;
        assert_eq!(close_code(&mut ws).await, Some(1000));
        let spent = started.elapsed().as_millis() as u64;

        let (s, usage) = call(&o, Method::GET, "/v1/billing/usage", t, None).await;
        assert_eq!(s, 200, "{usage}");
        let billed = usage["usage"]["participant_ms"].as_u64().unwrap();
        assert!(billed <= spent && spent - billed <= 1_000, "billed {billed} ms for {spent} ms in the room: {usage}");
        let days = usage["usage"]["daily"].as_object().unwrap();
        assert_eq!(days.values().map(|d| d["participant_ms"].as_u64().unwrap()).sum::<u64>(), billed);
    });
    o.terminate();
}
