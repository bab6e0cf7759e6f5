//! One owner per room, always: two `origo` processes on one Redis; the room's owner is stopped
//! (`SIGSTOP`) past its lease, the other takes the room over and serves it, and when the first
//! wakes (`SIGCONT`) none of its writes land — the room's state, chat history and usage are the
//! new owner's alone — and it gives the room up, closing its old sockets with 1012. And an
//! owner keeps its room through a Redis hiccup shorter than the lease.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::room_ws::{Ws, close_code, connect, join, send, until};
use common::{Origo, Redis, rt, start_dev};
use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ROOM: &str = "takeover";

/// The organisation the room is in (a billed one: meeting links of the guest organisation
/// are not billed), made by the test.
static ORG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn org() -> &'static str {
    ORG.get().expect("the organisation is made first")
}

fn start_in(dir: &std::path::Path, redis: &Redis) -> Origo {
    let args = [
        "--turn-listen",
        "off",
        "--media-listen",
        "off",
        "--redis",
        &redis.url,
        // A sweep (which bills usage) every second, so a stale owner has usage to write.
        "--room-sweep-ms",
        "1000",
        "--var",
        "node_stale_after_ms=600000",
    ];
    start_dev(dir, &args)
}

async fn post(o: &Origo, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(o.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn signal(o: &Origo, sig: &str) {
    let status = Command::new("kill").args([sig, &o.child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {sig}");
}

async fn open(o: &Origo, token: &str) -> Ws {
    connect(&format!("{}/v1/rooms/{ROOM}/ws", o.base.replacen("http://", "ws://", 1)), token).await
}

/// Sends a chat message and waits for the owner's acknowledgement (the echo with its client id).
async fn chat(ws: &mut Ws, text: &str, client_id: &str) {
    send(ws, json!({"type": "chat", "text": text, "client_id": client_id})).await;
    let echo = until(ws, |v| v["type"] == "chat" && v["client_id"] == client_id).await;
    assert_eq!(echo["message"]["text"], text);
}

async fn lease(r: &mut redis::aio::MultiplexedConnection) -> Option<String> {
    r.get(format!("origo:lease:{}:{ROOM}", org())).await.unwrap()
}

/// Every record of the deployment: the room's state, chat, seats, usage and webhook outbox,
/// and everything else (nothing else changes while they are compared).
async fn records(r: &mut redis::aio::MultiplexedConnection) -> Vec<(String, Vec<u8>)> {
    let mut keys: Vec<String> = r.keys("origo:kv:*").await.unwrap();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let v: Vec<u8> = r.get(&k).await.unwrap();
        out.push((k, v));
    }
    out
}

/// Participant milliseconds the room's coordinators billed, over every month's record.
async fn room_usage_ms(r: &mut redis::aio::MultiplexedConnection) -> u64 {
    let keys: Vec<String> = r.keys(format!("origo:kv:default:usage:{}:*:room:{ROOM}", org())).await.unwrap();
    let mut total = 0;
    for k in keys {
        let v: Vec<u8> = r.get(&k).await.unwrap();
        total += serde_json::from_slice::<Value>(&v).unwrap()["participant_ms"].as_u64().unwrap();
    }
    total
}

#[test]
fn a_stalled_owner_writes_nothing_after_the_room_moves() {
    let test_started = Instant::now();
    let redis = Redis::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_in(da.path(), &redis);
    // Both sign and verify with the same keys: they share one dev secrets file.
    std::fs::copy(da.path().join("dev-variables.json"), db.path().join("dev-variables.json")).unwrap();
    let b = start_in(db.path(), &redis);
    let secrets: Value = serde_json::from_slice(&std::fs::read(da.path().join("dev-variables.json")).unwrap()).unwrap();
    let node_secret = secrets["node_secret"].as_str().unwrap().to_owned();
    let scenario_started = Instant::now();

    rt().block_on(async {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut r = client.get_multiplexed_async_connection().await.unwrap();
        let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 1000, "load": 0,
                        "addresses": {"control_url": "http://127.0.0.1:7880"}});
        let (s, body) = post(&a, "/v1/nodes/heartbeat", Some(&node_secret), hb).await;
        assert_eq!(s, 200, "{body}");
        // Ada owns an organisation (`origo dev` activates accounts at once) with the room.
        let account = json!({"email": "ada@acme.test", "password": "correct horse battery"});
        let (s, body) = post(&a, "/v1/auth/signup", None, account.clone()).await;
        assert!(s == 201 || s == 202, "{s} {body}");
        let (s, session) = post(&a, "/v1/auth/login", None, account).await;
        assert_eq!(s, 200, "{session}");
        let access = session["access_token"].as_str().unwrap().to_owned();
        let (s, made) = post(&a, "/v1/orgs", Some(&access), json!({"name": "Acme"})).await;
        assert_eq!(s, 201, "{made}");
        ORG.set(made["id"].as_str().unwrap().to_owned()).unwrap();
        let (s, room) = post(&a, "/v1/rooms", Some(&access), json!({"name": ROOM})).await;
        assert_eq!(s, 201, "{room}");
        let (s, j) = post(&a, &format!("/v1/rooms/{ROOM}/join"), Some(&access), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let token = j["participant_token"].as_str().unwrap().to_owned();

        // Ada is in the room through A, which owns it.
        let mut on_a = open(&a, &token).await;
        join(&mut on_a, None).await;
        let joined_at = Instant::now();
        chat(&mut on_a, "before the stall", "a1").await;
        assert!(lease(&mut r).await.expect("the room's lease").ends_with(&format!(" {}", a.base)), "A owns the room");

        // A stops dead. What Ada sends it now waits in its socket buffer.
        signal(&a, "-STOP");
        let stopped_at = Instant::now();
        send(&mut on_a, json!({"type": "chat", "text": "sent to the stalled owner", "client_id": "a2"})).await;
        // A cannot renew: its lease runs out within the TTL.
        while lease(&mut r).await.is_some() {
            assert!(stopped_at.elapsed() < Duration::from_secs(8), "A's lease outlived its TTL");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Ada reconnects through B, which takes the room over from what A committed.
        let mut on_b = open(&b, &token).await;
        let rejoined = join(&mut on_b, None).await;
        let tail: Vec<&str> =
            rejoined["chat"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert_eq!(tail, ["before the stall"], "{rejoined}");
        assert!(lease(&mut r).await.expect("B's lease").ends_with(&format!(" {}", b.base)), "B owns the room");
        chat(&mut on_b, "acknowledged by B", "b1").await;
        chat(&mut on_b, "also acknowledged by B", "b2").await;
        // Ada leaves: B bills her whole stay, the stall included (she kept her place).
        let left_at = Instant::now();
        send(&mut on_b, json!({"type": "leave"})).await;
        assert_eq!(close_code(&mut on_b).await, Some(1000));
        let stay_ms = (left_at - joined_at).as_millis() as u64;
        let billed = room_usage_ms(&mut r).await;
        assert!(billed.abs_diff(stay_ms) < 1_000, "billed {billed} ms for a stay of {stay_ms} ms");
        let before = records(&mut r).await;
        let state: Value = serde_json::from_slice(
            &before.iter().find(|(k, _)| k == &format!("origo:kv:default:coord:{}:{ROOM}", org())).unwrap().1,
        )
        .unwrap();
        assert_eq!(state["members"], json!({}), "B's state: Ada has left");

        // A wakes after the room moved. It gives the room up: Ada's old socket is told to
        // reconnect, and nothing A still had to do — her queued message, its sweep billing her
        // for the time it was stopped, its copy of the room's state — lands.
        signal(&a, "-CONT");
        assert_eq!(close_code(&mut on_a).await, Some(1012), "A closes its socket for a reconnect");
        // Time for anything A might still write (its sweeps run every second).
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let after = records(&mut r).await;
        let changed: Vec<&str> = before
            .iter()
            .chain(&after)
            .filter(|kv| !before.contains(kv) || !after.contains(kv))
            .map(|(k, _)| k.as_str())
            // The organisation's webhook dispatcher takes the room's events in meanwhile (it
            // deletes them from the outbox once its own records hold them): not the room's writes.
            .filter(|k| !k.contains(":webhook_outbox:") || after.iter().any(|(a, _)| a == k))
            .filter(|k| !k.contains(":webhook_"))
            .collect();
        assert!(changed.is_empty(), "records written after the takeover: {changed:?}");
        assert_eq!(room_usage_ms(&mut r).await, billed, "usage counted once");
        assert!(lease(&mut r).await.expect("B's lease").ends_with(&format!(" {}", b.base)), "B still owns the room");
        assert!(a.log().contains("gave the room up"), "{}", a.log());

        // A forwards what reaches it to B — but not what was already forwarded twice.
        let ws_url = format!("{}/v1/rooms/{ROOM}/ws?access_token={token}", a.base.replacen("http://", "ws://", 1));
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut().insert("x-origo-hops", "2".parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), 503);
                let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["error"]["code"], "unavailable", "{body}");
            }
            Ok(_) => panic!("a socket forwarded twice was forwarded again"),
            Err(e) => panic!("{e}"),
        }
        let res = reqwest::Client::new()
            .post(a.url(&format!("/internal/v1/rooms/{}/{ROOM}/commands", org())))
            .bearer_auth(&node_secret)
            .header("x-origo-hops", "2")
            .json(&json!({"type": "post_message", "from": "ops", "from_name": "Ops", "text": "forwarded too far"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(a.log().contains("forwarded too many times"));

        // The history is what B acknowledged, once each, and nothing A was sent while stopped.
        let res = reqwest::Client::new()
            .get(b.url(&format!("/v1/rooms/{ROOM}/messages")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let history: Value = res.json().await.unwrap();
        let texts: Vec<&str> =
            history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["before the stall", "acknowledged by B", "also acknowledged by B"]);

        // A still serves, and a socket that reaches it now is forwarded to B.
        let res = reqwest::get(a.url("/health")).await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        // Ada left, so her old token holds no seat any more: it is closed with 4004, and a new
        // join gives her one.
        let mut stale = open(&a, &token).await;
        send(&mut stale, json!({"type": "join", "protocol": 1})).await;
        assert_eq!(close_code(&mut stale).await, Some(4004), "a token whose seat is gone");
        let (s, j) = post(&a, &format!("/v1/rooms/{ROOM}/join"), Some(&access), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let token = j["participant_token"].as_str().unwrap().to_owned();
        let mut via_a = open(&a, &token).await;
        let j = join(&mut via_a, None).await;
        assert_eq!(j["chat"].as_array().unwrap().len(), 3, "{j}");
    });
    assert!(b.log().contains("room rehydrated"));
    eprintln!(
        "room_takeover: scenario {:.1} s, with start-up {:.1} s",
        scenario_started.elapsed().as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_redis_hiccup_shorter_than_the_lease_is_retried_without_closing_the_room() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let a = start_in(dir.path(), &redis);
    let secrets: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("dev-variables.json")).unwrap()).unwrap();
    rt().block_on(async {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut r = client.get_multiplexed_async_connection().await.unwrap();
        let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 1000, "load": 0,
                        "addresses": {"control_url": "http://127.0.0.1:7880"}});
        let (s, body) = post(&a, "/v1/nodes/heartbeat", secrets["node_secret"].as_str(), hb).await;
        assert_eq!(s, 200, "{body}");
        let (_, g) = post(&a, "/v1/auth/guest", None, json!({"name": "Ada"})).await;
        let access = g["access_token"].as_str().unwrap().to_owned();
        let (s, j) = post(&a, &format!("/v1/rooms/{ROOM}/join"), Some(&access), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let mut ws = open(&a, j["participant_token"].as_str().unwrap()).await;
        join(&mut ws, None).await;
        chat(&mut ws, "before the hiccup", "h1").await;

        // Redis answers nobody for 1.5 s: the commit and the renewal time out and are retried.
        let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(1_500).arg("ALL").query_async(&mut r).await.unwrap();
        let paused = Instant::now();
        chat(&mut ws, "during the hiccup", "h2").await;
        assert!(paused.elapsed() > Duration::from_millis(1_000), "acknowledged only once durable");
        chat(&mut ws, "after the hiccup", "h3").await;
        assert!(a.log().contains("retrying while its lease lasts"), "{}", a.log());
        assert!(!a.log().contains("gave the room up"));

        let res = reqwest::Client::new()
            .get(a.url(&format!("/v1/rooms/{ROOM}/messages")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        let history: Value = res.json().await.unwrap();
        let texts: Vec<&str> =
            history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["before the hiccup", "during the hiccup", "after the hiccup"]);
    });
}
