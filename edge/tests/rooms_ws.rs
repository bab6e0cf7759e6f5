//! Room coordinators over real WebSockets against the `origo` binary: many clients, ordering,
//! no duplicates, presence across reconnects, slow clients, bad input, restarts, and two
//! processes sharing Redis with the owner killed mid-room.

mod common;

use std::time::Duration;

use common::room_ws::{Ws, close_code, connect, join, next, send, until};
use common::{Origo, Redis, rt, start_dev_env};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn start_in(dir: &std::path::Path, extra: &[&str], envs: &[(&str, &str)]) -> Origo {
    // These tests register the media nodes they need themselves.
    let mut args = vec!["--turn-listen", "off", "--media-listen", "off"];
    args.extend_from_slice(extra);
    start_dev_env(dir, &args, envs)
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

fn node_secret(dir: &std::path::Path) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("dev-variables.json")).unwrap()).unwrap();
    v["node_secret"].as_str().unwrap().to_owned()
}

async fn register_node(o: &Origo, secret: &str) {
    let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 1000, "load": 0,
                    "addresses": {"control_url": "http://127.0.0.1:7880"}});
    let (s, b) = post(o, "/v1/nodes/heartbeat", Some(secret), hb).await;
    assert_eq!(s, 200, "{b}");
}

/// A guest joins `room` through the API: returns the participant token.
async fn participant(o: &Origo, room: &str, name: &str) -> String {
    let (s, g) = post(o, "/v1/auth/guest", None, json!({"name": name})).await;
    assert_eq!(s, 200, "{g}");
    let (s, j) = post(o, &format!("/v1/rooms/{room}/join"), g["access_token"].as_str(), json!({})).await;
    assert_eq!(s, 200, "{j}");
    j["participant_token"].as_str().unwrap().to_owned()
}

async fn open(o: &Origo, room: &str, token: &str) -> Ws {
    connect(&format!("{}/v1/rooms/{room}/ws", o.base.replacen("http://", "ws://", 1)), token).await
}

async fn joined(o: &Origo, room: &str, token: &str, last_seq: Option<u64>) -> (Ws, Value) {
    let mut ws = open(o, room, token).await;
    let j = join(&mut ws, last_seq).await;
    (ws, j)
}

/// Two `origo` processes on one Redis. Both must sign and verify with the same keys: they
/// share one dev secrets file.
fn two_processes(redis: &Redis, d1: &std::path::Path, d2: &std::path::Path) -> (Origo, Origo) {
    let p1 = start_in(d1, &["--redis", &redis.url], &[]);
    std::fs::copy(d1.join("dev-variables.json"), d2.join("dev-variables.json")).unwrap();
    let p2 = start_in(d2, &["--redis", &redis.url], &[]);
    (p1, p2)
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        v["participants"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn many_clients_see_every_message_once_in_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_in(dir.path(), &[], &[]);
    rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        const N: usize = 12;
        const PER: usize = 8;
        let mut clients = Vec::new();
        for i in 0..N {
            let t = participant(&o, "busy", &format!("p{i:02}")).await;
            let (ws, j) = joined(&o, "busy", &t, None).await;
            assert_eq!(j["participants"].as_array().unwrap().len(), i, "everyone before me is listed");
            clients.push(ws);
        }
        // Everyone sends; everyone reads until all N*PER messages arrived.
        let mut readers = Vec::new();
        for (i, mut ws) in clients.into_iter().enumerate() {
            readers.push(tokio::spawn(async move {
                for k in 0..PER {
                    send(
                        &mut ws,
                        json!({"type": "chat", "text": format!("{i}-{k}"), "client_id": format!("c{i}-{k}")}),
                    )
                    .await;
                }
                let mut seqs = Vec::new();
                let mut echoes = 0;
                while seqs.len() < N * PER {
                    let v = until(&mut ws, |v| v["type"] == "chat").await;
                    if v.get("client_id").is_some() {
                        echoes += 1;
                    }
                    seqs.push((
                        v["message"]["seq"].as_u64().unwrap(),
                        v["message"]["text"].as_str().unwrap().to_owned(),
                    ));
                }
                (seqs, echoes)
            }));
        }
        let mut orders = Vec::new();
        for r in readers {
            let (seqs, echoes) = r.await.unwrap();
            assert_eq!(echoes, PER, "each sender sees its own messages exactly once");
            let mut sorted = seqs.clone();
            sorted.sort();
            assert_eq!(seqs, sorted, "delivered in sequence order");
            sorted.dedup();
            assert_eq!(sorted.len(), N * PER, "no duplicates, nothing missing");
            orders.push(seqs);
        }
        assert!(orders.windows(2).all(|w| w[0] == w[1]), "every client saw the same order");
        // The HTTP history has them too (the coordinator stores chat for the chat function).
        let t = participant(&o, "busy", "reader").await;
        let hist: Value = reqwest::Client::new()
            .get(o.url("/v1/rooms/busy/messages?limit=200"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(hist["messages"].as_array().unwrap().len(), N * PER, "{hist}");
    });
}

#[test]
fn presence_survives_a_reconnect_and_a_lost_client_leaves_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_in(dir.path(), &["--room-grace-ms", "1500", "--room-sweep-ms", "500"], &[]);
    rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        let (ta, tb) = (participant(&o, "r1", "Ada").await, participant(&o, "r1", "Bo").await);
        let (mut a, _) = joined(&o, "r1", &ta, None).await;
        let (b, jb) = joined(&o, "r1", &tb, None).await;
        until(&mut a, |v| v["type"] == "participant_joined").await;
        let seen = jb["seq"].as_u64().unwrap();
        drop(b); // the connection drops without a leave
        send(&mut a, json!({"type": "chat", "text": "while you were away"})).await;
        until(&mut a, |v| v["type"] == "chat").await;
        // Bo comes back in time: nobody is told anything, and Bo gets what was missed.
        let (mut b, jb) = joined(&o, "r1", &tb, Some(seen)).await;
        assert_eq!(names(&jb), ["Ada"]);
        assert_eq!(jb["chat"][0]["text"], "while you were away");
        assert_eq!(jb["chat"].as_array().unwrap().len(), 1);
        send(&mut b, json!({"type": "raise_hand", "raised": true})).await;
        let upd = until(&mut a, |v| v["type"] != "pong").await;
        assert_eq!(upd["type"], "participant_updated", "no leave/join in between: {upd}");
        assert_eq!(upd["participant"]["hand_raised"], true);
        // Now Bo vanishes for good: after the grace period Ada sees a leave.
        drop(b);
        for _ in 0..4 {
            send(&mut a, json!({"type": "ping", "nonce": 1})).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let left = until(&mut a, |v| v["type"] == "participant_left").await;
        assert_eq!(left["reason"], "disconnected");
    });
}

#[test]
fn a_slow_client_is_dropped_without_stalling_the_room() {
    let dir = tempfile::tempdir().unwrap();
    // The flood is one sender's: lift its frame budget, which is not what this checks.
    let o = start_in(dir.path(), &["--room-chat-burst", "100000", "--room-chat-per-sec", "100000"], &[]);
    rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        let (ta, tb, tc) = (
            participant(&o, "r2", "Ada").await,
            participant(&o, "r2", "Bo").await,
            participant(&o, "r2", "Slow").await,
        );
        let (a, _) = joined(&o, "r2", &ta, None).await;
        let (mut b, _) = joined(&o, "r2", &tb, None).await;
        let (mut slow, _) = joined(&o, "r2", &tc, None).await; // never reads from here on
        let text = "x".repeat(3500);
        const FLOOD: usize = 3000;
        let sender = tokio::spawn(async move {
            // Ada reads her echoes as a live client does, so only the slow one falls behind.
            let (mut sink, mut stream) = a.split();
            let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            for i in 0..FLOOD {
                let frame = json!({"type": "chat", "text": text, "client_id": format!("{i}")}).to_string();
                sink.send(Message::Text(frame.into())).await.unwrap();
            }
            (sink, drain)
        });
        // Bo keeps up and receives everything.
        let mut got = 0;
        while got < FLOOD {
            let v = next(&mut b, Duration::from_secs(30)).await.expect("Bo keeps receiving");
            if v["type"] == "chat" {
                got += 1;
            }
        }
        let _a = sender.await.unwrap();
        assert_eq!(close_code(&mut slow).await, Some(4009), "the slow client is closed with 4009");
        assert!(o.log().contains("client too slow"));
    });
}

#[test]
fn refusals_and_bad_frames() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_in(dir.path(), &[], &[]);
    rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        let ws_url = |room: &str, token: &str| {
            format!("{}/v1/rooms/{room}/ws?access_token={token}", o.base.replacen("http://", "ws://", 1))
        };
        let refused = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
            Ok(_) => 101,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(refused(tokio_tungstenite::connect_async(ws_url("r3", "garbage").as_str()).await.map(|_| ())), 401);
        let (_, g) = post(&o, "/v1/auth/guest", None, json!({"name": "G"})).await;
        // A guest token is not a participant token of the room: join first.
        let t_other = participant(&o, "other", "Eve").await;
        assert_eq!(refused(tokio_tungstenite::connect_async(ws_url("r3", &t_other).as_str()).await.map(|_| ())), 403);
        assert_eq!(
            refused(
                tokio_tungstenite::connect_async(ws_url("Bad!", g["access_token"].as_str().unwrap()).as_str())
                    .await
                    .map(|_| ())
            ),
            404
        );
        let no_token = format!("{}/v1/rooms/r3/ws", o.base.replacen("http://", "ws://", 1));
        assert_eq!(refused(tokio_tungstenite::connect_async(no_token.as_str()).await.map(|_| ())), 401);

        let t = participant(&o, "r3", "Ada").await;
        // The first frame must be join.
        let mut ws = open(&o, "r3", &t).await;
        send(&mut ws, json!({"type": "chat", "text": "hi"})).await;
        assert_eq!(until(&mut ws, |_| true).await["code"], "not_joined");
        assert_eq!(close_code(&mut ws).await, Some(1008));
        // After join: garbage frames get an error and the connection stays usable.
        let (mut ws, _) = joined(&o, "r3", &t, None).await;
        ws.send(Message::Text("{not json".into())).await.unwrap();
        assert_eq!(until(&mut ws, |_| true).await["type"], "error");
        send(&mut ws, json!({"type": "chat", "text": ""})).await;
        assert_eq!(until(&mut ws, |_| true).await["type"], "error");
        send(&mut ws, json!({"type": "kick", "participant_id": "x"})).await;
        assert_eq!(until(&mut ws, |_| true).await["code"], "forbidden");
        send(&mut ws, json!({"type": "chat", "text": "still here", "client_id": "k"})).await;
        assert_eq!(until(&mut ws, |v| v["type"] == "chat").await["client_id"], "k");
        // An oversized frame closes the connection; the server keeps serving.
        let _ = ws.send(Message::Text("x".repeat(100_000).into())).await;
        let _ = close_code(&mut ws).await;
        let (_ws, _) = joined(&o, "r3", &t, None).await;
    });
}

#[test]
fn rooms_and_their_alarms_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--room-grace-ms", "3000", "--room-sweep-ms", "500"];
    let o = start_in(dir.path(), &args, &[]);
    let (ta, tb) = rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        let (ta, tb) = (participant(&o, "r4", "Ada").await, participant(&o, "r4", "Bo").await);
        let (mut a, _) = joined(&o, "r4", &ta, None).await;
        let (_b, _) = joined(&o, "r4", &tb, None).await;
        send(&mut a, json!({"type": "chat", "text": "before the restart", "client_id": "k"})).await;
        until(&mut a, |v| v["type"] == "chat").await; // acknowledged
        (ta, tb)
    });
    assert!(o.terminate().success());
    let o = start_in(dir.path(), &args, &[]);
    rt().block_on(async {
        register_node(&o, &node_secret(dir.path())).await;
        // Ada comes back: the room remembers Bo (within the grace period) and the chat.
        let (mut a, ja) = joined(&o, "r4", &ta, None).await;
        assert_eq!(names(&ja), ["Bo"]);
        assert_eq!(ja["chat"][0]["text"], "before the restart");
        // Bo never returns: the alarm set after the restart removes him.
        let waiting = tokio::spawn(async move {
            let left = until(&mut a, |v| v["type"] == "participant_left").await;
            (a, left)
        });
        let (_a, left) = waiting.await.unwrap();
        assert_eq!(left["participant_id"].as_str().map(|s| s.starts_with("guest-")), Some(true));
        let _ = tb;
    });
}

#[test]
fn two_processes_share_rooms_through_redis_and_survive_the_owner_dying() {
    let redis = Redis::start();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (p1, p2) = two_processes(&redis, d1.path(), d2.path());
    let secret = node_secret(d1.path());
    let (ta, tb) = rt().block_on(async {
        register_node(&p1, &secret).await;
        let (ta, tb) = (participant(&p1, "shared", "Ada").await, participant(&p2, "shared", "Bo").await);
        // Ada reaches the room through p1 (its owner), Bo through p2 (forwarded).
        let (mut a, _) = joined(&p1, "shared", &ta, None).await;
        let (mut b, jb) = joined(&p2, "shared", &tb, None).await;
        assert_eq!(names(&jb), ["Ada"]);
        until(&mut a, |v| v["type"] == "participant_joined").await;
        send(&mut b, json!({"type": "chat", "text": "from p2", "client_id": "b1"})).await;
        assert_eq!(until(&mut b, |v| v["type"] == "chat").await["client_id"], "b1");
        assert_eq!(until(&mut a, |v| v["type"] == "chat").await["message"]["text"], "from p2");
        send(&mut a, json!({"type": "chat", "text": "acknowledged before the crash", "client_id": "a1"})).await;
        assert_eq!(until(&mut a, |v| v["type"] == "chat").await["client_id"], "a1");
        (ta, tb)
    });
    // The owner dies without a chance to clean up.
    let mut p1 = p1;
    p1.child.kill().unwrap();
    p1.child.wait().unwrap();
    rt().block_on(async {
        // Within the lease lifetime p2 takes the room over and rebuilds it from Redis.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let (mut a, ja) = loop {
            let mut ws = open(&p2, "shared", &ta).await;
            send(&mut ws, json!({"type": "join", "protocol": 1})).await;
            match next(&mut ws, Duration::from_secs(5)).await {
                Some(v) if v["type"] == "joined" => break (ws, v),
                _ => {
                    assert!(std::time::Instant::now() < deadline, "p2 never took the room over");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        };
        let texts: Vec<&str> = ja["chat"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["from p2", "acknowledged before the crash"], "nothing acknowledged is lost");
        assert_eq!(names(&ja), ["Bo"]);
        let (mut b, jb) = joined(&p2, "shared", &tb, None).await;
        assert_eq!(names(&jb), ["Ada"]);
        send(&mut b, json!({"type": "chat", "text": "after", "client_id": "b2"})).await;
        assert_eq!(until(&mut a, |v| v["type"] == "chat").await["message"]["text"], "after");
    });
    assert!(p2.log().contains("room rehydrated"));
}

#[test]
fn participants_on_a_stale_node_are_told_to_reconnect_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_in(dir.path(), &["--var", "node_stale_after_ms=1500"], &[]);
    rt().block_on(async {
        let secret = node_secret(dir.path());
        let beat = |id: &'static str, region: &'static str| {
            let (o, secret) = (&o, secret.clone());
            async move {
                let hb = json!({"id": id, "region": region, "kind": "media", "capacity": 100, "load": 0,
                                "addresses": {"control_url": format!("http://{id}.test:7880")}});
                let (s, b) = post(o, "/v1/nodes/heartbeat", Some(&secret), hb).await;
                assert_eq!(s, 200, "{b}");
            }
        };
        beat("media-eu", "eu-west").await;
        let t = participant(&o, "moving", "Ada").await;
        let (mut ws, j) = joined(&o, "moving", &t, None).await;
        assert_eq!(j["media"]["node_id"], "media-eu");
        // media-eu stops heart-beating; media-us keeps going.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let moved = loop {
            beat("media-us", "us-east").await;
            send(&mut ws, json!({"type": "ping", "nonce": 1})).await;
            if let Some(v) = next(&mut ws, Duration::from_millis(500)).await
                && v["type"] == "reconnect_to_node"
            {
                break v;
            }
            assert!(std::time::Instant::now() < deadline, "no reconnect instruction");
        };
        assert_eq!(moved["media"]["node_id"], "media-us");
        assert_eq!(moved["media"]["session_url"], "http://media-us.test:7880/v1/sessions");
    });
}

#[test]
fn a_message_posted_over_http_reaches_the_room_in_process_and_through_the_owner() {
    let redis = Redis::start();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (p1, p2) = two_processes(&redis, d1.path(), d2.path());
    let secret = node_secret(d1.path());
    rt().block_on(async {
        register_node(&p1, &secret).await;
        // Ada is in the room through p1, which owns it.
        let ta = participant(&p1, "town-hall", "Ada").await;
        let (mut a, _) = joined(&p1, "town-hall", &ta, None).await;
        let (s, g) = post(&p1, "/v1/auth/guest", None, json!({"name": "Bo"})).await;
        assert_eq!(s, 200, "{g}");
        let bo = g["access_token"].as_str().unwrap().to_owned();
        // Posted to the owner's chat function: the coordinator stub is an in-process call.
        let (s, m) = post(&p1, "/v1/rooms/town-hall/messages", Some(&bo), json!({"text": "over http"})).await;
        assert_eq!(s, 201, "{m}");
        let chat = until(&mut a, |v| v["type"] == "chat").await;
        assert_eq!(chat["message"]["text"], "over http");
        assert_eq!(chat["message"]["from_name"], "Bo");
        assert_eq!(
            m["id"].as_str().unwrap().rsplit('-').next(),
            Some(format!("{:010}", chat["message"]["seq"].as_u64().unwrap()).as_str())
        );
        // Posted to the other process: its coordinator host forwards the command to the owner.
        let (s, m) = post(&p2, "/v1/rooms/town-hall/messages", Some(&bo), json!({"text": "via p2"})).await;
        assert_eq!(s, 201, "{m}");
        assert_eq!(until(&mut a, |v| v["type"] == "chat").await["message"]["text"], "via p2");
        // The history has both, once each.
        let res =
            reqwest::Client::new().get(p2.url("/v1/rooms/town-hall/messages")).bearer_auth(&bo).send().await.unwrap();
        let history: Value = res.json().await.unwrap();
        let texts: Vec<&str> =
            history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["over http", "via p2"]);
        // The internal route is not reachable from the network without the node secret.
        let res = reqwest::Client::new()
            .post(p1.url("/internal/v1/rooms/x/town-hall/commands"))
            .json(&json!({"type": "close", "reason": "forged"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404);
        assert!(next(&mut a, Duration::from_millis(300)).await.is_none_or(|v| v["type"] != "kick"));
    });
}
