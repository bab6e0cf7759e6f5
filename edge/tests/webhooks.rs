//! Partners receive every event of a real call, on a real `origo dev` (its own media node and
//! TURN server, loopback only), at a receiver written with the stock `standardwebhooks`
//! library from PyPI (`webhook_receiver.py`), which verifies every delivery's signature. A
//! receiver that is down for a while gets everything once it is back, in order per room, and a
//! `kill -9` of `origo` in the middle loses no event (a repeat carries the same `webhook-id`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::room_ws::{connect, join, send, until};
use common::{Origo, call, free_port, repo_root, rt, start_dev};
use serde_json::{Value, json};

/// The Python receiver, on `port` (0: any), and the lines it prints.
struct Receiver {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<Value>,
}

impl Receiver {
    fn start(port: u16, secret_file: &std::path::Path) -> Receiver {
        let python = std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = repo_root().join("edge/tests/webhook_receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(secret_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = out.next().expect("the receiver's first line").unwrap();
        let port = first.strip_prefix("listening ").expect("listening PORT").parse().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Receiver { child, port, lines }
    }

    /// Lines until `done` says the collection is complete, or panics after `wait`.
    fn collect(&self, wait: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => got.push(v),
                Err(_) => panic!("the receiver got only {got:#?}"),
            }
        }
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs up and in, creates an organisation and a room that ends a second after it empties:
/// the owner's access token.
async fn owner(o: &Origo, room: &str) -> String {
    use reqwest::Method;
    let creds = json!({"email": "ada@acme.test", "password": "correct horse battery"});
    let (s, body) = call(o, Method::POST, "/v1/auth/signup", None, Some(creds.clone())).await;
    assert_eq!(s, 202, "{body}");
    let (s, session) = call(o, Method::POST, "/v1/auth/login", None, Some(creds)).await;
    assert_eq!(s, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (s, org) = call(o, Method::POST, "/v1/orgs", Some(&token), Some(json!({"name": "Acme"}))).await;
    assert_eq!(s, 201, "{org}");
    let (s, r) =
        call(o, Method::POST, "/v1/rooms", Some(&token), Some(json!({"name": room, "empty_timeout_secs": 1}))).await;
    assert_eq!(s, 201, "{r}");
    token
}

/// Registers an endpoint for every event (chat included) and writes its secret where the
/// receiver reads it: the webhook's id.
async fn register(o: &Origo, token: &str, port: u16, secret_file: &std::path::Path) -> String {
    let events = [
        "room.started",
        "room.finished",
        "participant.joined",
        "participant.left",
        "track.published",
        "track.unpublished",
        "chat.message",
    ];
    let body =
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": events, "description": "test receiver"});
    let (s, hook) = call(o, reqwest::Method::POST, "/v1/webhooks", Some(token), Some(body)).await;
    assert_eq!(s, 201, "{hook}");
    std::fs::write(secret_file, hook["secret"].as_str().unwrap()).unwrap();
    hook["id"].as_str().unwrap().to_owned()
}

/// A call: the owner joins `room`, publishes a track, chats `chats` times, unpublishes and
/// leaves.
async fn a_call(o: &Origo, token: &str, room: &str, chats: usize) {
    let started = Instant::now();
    let joined = loop {
        let (s, j) =
            call(o, reqwest::Method::POST, &format!("/v1/rooms/{room}/join"), Some(token), Some(json!({}))).await;
        if s == 200 {
            break j;
        }
        assert!(s == 503 && started.elapsed() < Duration::from_secs(30), "{s} {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let url = format!("{}/v1/rooms/{room}/ws", o.base.replacen("http://", "ws://", 1));
    let mut ws = connect(&url, joined["participant_token"].as_str().unwrap()).await;
    join(&mut ws, None).await;
    send(&mut ws, json!({"type": "track_published", "track": {"id": "cam", "kind": "video"}})).await;
    until(&mut ws, |v| v["type"] == "track_published").await;
    for i in 0..chats {
        send(&mut ws, json!({"type": "chat", "text": format!("hello {i}")})).await;
        until(&mut ws, |v| v["type"] == "chat" && v["message"]["text"] == format!("hello {i}")).await;
    }
    send(&mut ws, json!({"type": "track_unpublished", "track_id": "cam"})).await;
    until(&mut ws, |v| v["type"] == "track_unpublished").await;
    send(&mut ws, json!({"type": "leave"})).await;
}

/// The event types of a call with `chats` messages, in order.
fn call_events(chats: usize) -> Vec<String> {
    let mut v = vec!["room.started", "participant.joined", "track.published"];
    v.extend(std::iter::repeat_n("chat.message", chats));
    v.extend(["track.unpublished", "participant.left", "room.finished"]);
    v.into_iter().map(str::to_owned).collect()
}

/// The first delivery of each message id, in the order received.
fn firsts(got: &[Value]) -> Vec<&Value> {
    let mut seen = std::collections::HashSet::new();
    got.iter().filter(|v| v.get("id").is_some() && seen.insert(v["id"].as_str().unwrap().to_owned())).collect()
}

#[test]
fn a_partners_standardwebhooks_receiver_verifies_every_event_of_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let receiver = Receiver::start(0, &secret_file);
    let o = start_dev(dir.path(), &[]);
    rt().block_on(async {
        let token = owner(&o, "standup").await;
        let hook = register(&o, &token, receiver.port, &secret_file).await;
        a_call(&o, &token, "standup", 2).await;
        let expected = call_events(2);
        let got = receiver.collect(Duration::from_secs(60), |got| firsts(got).len() >= expected.len());
        assert!(got.iter().all(|v| v.get("bad").is_none()), "every delivery verifies: {got:#?}");
        let types: Vec<&str> = firsts(&got).iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(types, expected, "{got:#?}");
        let seqs: Vec<u64> = firsts(&got).iter().map(|v| v["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in the room's order: {seqs:?}");
        assert!(firsts(&got).iter().all(|v| v["room"] == "standup"));

        // The partner's log shows each message delivered, with its attempt (the last answer can
        // reach the dispatcher's record a moment after the receiver printed it).
        let deadline = Instant::now() + Duration::from_secs(10);
        let log = loop {
            let (s, log) =
                call(&o, reqwest::Method::GET, &format!("/v1/webhooks/{hook}/deliveries"), Some(&token), None).await;
            assert_eq!(s, 200, "{log}");
            let done = log["deliveries"].as_array().unwrap().iter().all(|e| e["status"] == "delivered");
            if done || Instant::now() > deadline {
                break log;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let entries = log["deliveries"].as_array().unwrap();
        assert_eq!(entries.len(), expected.len(), "{log:#}");
        assert!(entries.iter().all(|e| e["status"] == "delivered" && e["last_attempt"]["status"] == 204), "{log:#}");
        let first = entries.last().unwrap()["message_id"].as_str().unwrap().to_owned();
        let (s, one) =
            call(&o, reqwest::Method::GET, &format!("/v1/webhooks/{hook}/deliveries/{first}"), Some(&token), None)
                .await;
        assert_eq!((s, one["payload"]["type"].as_str()), (200, Some("room.started")), "{one:#}");

        // A redelivery is the same message again: same id, verified again.
        let path = format!("/v1/webhooks/{hook}/deliveries/{first}/redeliver");
        let (s, r) = call(&o, reqwest::Method::POST, &path, Some(&token), None).await;
        assert_eq!(s, 202, "{r}");
        let again = receiver.collect(Duration::from_secs(20), |g| !g.is_empty());
        assert_eq!(again[0]["id"].as_str(), Some(first.as_str()));
        assert_eq!(again[0]["type"], "room.started");

        // After a rotation both secrets sign, so receivers can move to the new one.
        let (s, rotated) =
            call(&o, reqwest::Method::POST, &format!("/v1/webhooks/{hook}/rotate-secret"), Some(&token), None).await;
        assert_eq!(s, 200, "{rotated}");
        std::fs::write(&secret_file, rotated["secret"].as_str().unwrap()).unwrap();
        let (s, _) = call(&o, reqwest::Method::POST, &path, Some(&token), None).await;
        assert_eq!(s, 202);
        let rotated_delivery = receiver.collect(Duration::from_secs(20), |g| !g.is_empty());
        assert!(rotated_delivery[0].get("bad").is_none(), "{rotated_delivery:?}");
        assert_eq!(rotated_delivery[0]["signatures"], 2);
    });
}

#[test]
fn a_receiver_that_was_down_gets_every_event_in_order_and_a_kill_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    let port = free_port();
    let mut o = start_dev(dir.path(), &[]);
    let token = rt().block_on(async {
        let token = owner(&o, "standup").await;
        register(&o, &token, port, &secret_file).await;
        // The receiver is down for the whole call.
        a_call(&o, &token, "standup", 5).await;
        token
    });
    // Let the first attempts fail, then kill -9 while deliveries are pending.
    std::thread::sleep(Duration::from_secs(3));
    o.child.kill().unwrap();
    o.child.wait().unwrap();
    let receiver = Receiver::start(port, &secret_file);
    let o = start_dev(dir.path(), &[]);
    let expected = call_events(5);
    let got = receiver.collect(Duration::from_secs(90), |got| firsts(got).len() >= expected.len());
    assert!(got.iter().all(|v| v.get("bad").is_none()), "{got:#?}");
    let types: Vec<&str> = firsts(&got).iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, expected, "every event, in the room's order: {got:#?}");
    rt().block_on(async {
        let (s, hooks) = call(&o, reqwest::Method::GET, "/v1/webhooks", Some(&token), None).await;
        assert_eq!(s, 200);
        let hook = hooks["webhooks"][0]["id"].as_str().unwrap();
        let (s, log) =
            call(&o, reqwest::Method::GET, &format!("/v1/webhooks/{hook}/deliveries"), Some(&token), None).await;
        assert_eq!(s, 200);
        // The first attempts failed: no answer, before the receiver came up.
        let first = log["deliveries"].as_array().unwrap().last().unwrap();
        let (s, one) = call(
            &o,
            reqwest::Method::GET,
            &format!("/v1/webhooks/{hook}/deliveries/{}", first["message_id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let attempts = one["attempts"].as_array().unwrap();
        assert!(attempts.len() >= 2, "{one:#}");
        assert!(attempts[0]["status"].is_null() && attempts[0]["error"].is_string(), "{one:#}");
        assert_eq!(attempts.last().unwrap()["status"], 204);
    });
}
