//! A stranger attacks a real `origo dev` (its own media node and TURN server, loopback only)
//! while an ordinary three-person meeting goes on in the same deployment: sockets that never
//! joined, a chat flood, sign-up, sign-in, guest and join floods, a removed participant coming
//! back. Each attack gets its documented refusal, and the meeting keeps chatting throughout.
//! (TURN and media-node attacks — slowloris, allocation floods, sessions that never connect —
//! are in `turn/tests/abuse.rs` and `media-node/tests/limits_and_moderation.rs`, against their
//! real binaries.)

mod common;

use std::time::{Duration, Instant};

use common::room_ws::{Ws, close_code, connect, join, next, send, until};
use common::{Origo, request, rt, start_dev};
use serde_json::{Value, json};

fn start(dir: &std::path::Path, extra: &[&str]) -> Origo {
    start_dev(dir, extra)
}

async fn call(
    o: &Origo,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<u64>) {
    let res = request(o, method, path, token, body).await;
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

fn post(o: &Origo, path: &str, token: Option<&str>, body: Value) -> impl Future<Output = (u16, Value, Option<u64>)> {
    call(o, reqwest::Method::POST, path, token, Some(body))
}

async fn guest(o: &Origo, name: &str) -> String {
    let (s, g, _) = post(o, "/v1/auth/guest", None, json!({"name": name})).await;
    assert_eq!(s, 200, "{g}");
    g["access_token"].as_str().unwrap().to_owned()
}

/// Joins `room` with `token` until the in-process media node has registered.
async fn join_room(o: &Origo, room: &str, token: &str) -> Value {
    let started = Instant::now();
    loop {
        let (s, j, _) = post(o, &format!("/v1/rooms/{room}/join"), Some(token), json!({})).await;
        if s == 200 {
            return j;
        }
        assert!(s == 503 && started.elapsed() < Duration::from_secs(30), "{s} {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ws_url(o: &Origo, room: &str) -> String {
    format!("{}/v1/rooms/{room}/ws", o.base.replacen("http://", "ws://", 1))
}

/// The ordinary meeting: three guests in `room`, joined and connected.
async fn meeting(o: &Origo, room: &str) -> Vec<Ws> {
    let mut people = Vec::new();
    for name in ["Ada", "Bo", "Cy"] {
        let t = guest(o, name).await;
        let j = join_room(o, room, &t).await;
        let mut ws = connect(&ws_url(o, room), j["participant_token"].as_str().unwrap()).await;
        join(&mut ws, None).await;
        people.push(ws);
    }
    people
}

/// Ada says `text`; Bo and Cy both hear it within a second or two.
async fn still_chatting(people: &mut [Ws], text: &str) {
    send(&mut people[0], json!({"type": "chat", "text": text})).await;
    for ws in &mut people[1..] {
        let got = until(ws, |v| v["type"] == "chat" && v["message"]["text"] == text).await;
        assert_eq!(got["message"]["from_name"], "Ada");
    }
}

/// The HTTP status a WebSocket upgrade is refused with, if it is.
async fn refused_upgrade(url: &str, token: &str) -> Option<u16> {
    match tokio_tungstenite::connect_async(format!("{url}?access_token={token}")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Some(res.status().as_u16()),
        Ok(_) => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn sockets_that_never_joined_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // A hundred strangers' guest tokens from one test address: lift the guest limit, which is
    // not what this checks.
    let o = start(dir.path(), &["--var", "rate_guest_per_minute=1000"]);
    rt().block_on(async {
        let mut people = meeting(&o, "standup").await;
        // 100 guest tokens that never called join, at the meeting's room and at rooms nobody
        // opened: refused at the upgrade, so no coordinator starts and no seat is taken.
        for i in 0..100 {
            let t = guest(&o, &format!("stray{i}")).await.to_owned();
            let room = if i % 2 == 0 { "standup".to_owned() } else { format!("nobody-{i}") };
            assert_eq!(refused_upgrade(&ws_url(&o, &room), &t).await, Some(403), "stray socket {i}");
            if i % 25 == 0 {
                still_chatting(&mut people, &format!("during the socket flood {i}")).await;
            }
        }
        assert!(!o.log().contains("room rehydrated"), "no coordinator was started for a refused socket");
        // A join's token opens only its own room.
        let t = guest(&o, "Dee").await;
        let j = join_room(&o, "standup", &t).await;
        let seat_token = j["participant_token"].as_str().unwrap().to_owned();
        assert_eq!(refused_upgrade(&ws_url(&o, "elsewhere"), &seat_token).await, Some(403));
        still_chatting(&mut people, "after the socket flood").await;
    });
}

#[test]
fn a_chat_flood_from_one_socket_is_cut_and_closed_while_the_meeting_chats() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &[]);
    rt().block_on(async {
        let mut people = meeting(&o, "standup").await;
        let t = guest(&o, "Flood").await;
        let j = join_room(&o, "standup", &t).await;
        let mut flood = connect(&ws_url(&o, "standup"), j["participant_token"].as_str().unwrap()).await;
        join(&mut flood, None).await;
        // Drain what the meeting sees of the newcomer.
        for ws in people.iter_mut() {
            until(ws, |v| v["type"] == "participant_joined").await;
        }
        for i in 0..500 {
            send(&mut flood, json!({"type": "chat", "text": format!("spam {i}")})).await;
        }
        // The flooder is told once, then closed for sustained abuse.
        let warned = until(&mut flood, |v| v["type"] == "error").await;
        assert_eq!(warned["code"], "rate_limited", "{warned}");
        assert_eq!(close_code(&mut flood).await, Some(4029));
        // The others received at most the budget's burst (and what refilled meanwhile).
        let mut spam = 0;
        while let Some(v) = next(&mut people[1], Duration::from_millis(500)).await {
            if v["type"] == "chat" && v["message"]["from_name"] == "Flood" {
                spam += 1;
            }
        }
        assert!((20..=30).contains(&spam), "Bo received {spam} of the 500 flood messages");
        still_chatting(&mut people, "after the chat flood").await;
    });
}

#[test]
fn sign_up_sign_in_guest_and_join_floods_are_answered_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &[]);
    rt().block_on(async {
        let mut people = meeting(&o, "standup").await;
        let limited = |what: &str, s: u16, e: &Value, retry: Option<u64>| {
            assert_eq!(s, 429, "{what}: {e}");
            assert_eq!(e["error"]["code"], "rate_limited", "{what}: {e}");
            assert!(retry.is_some_and(|r| r >= 1), "{what}: Retry-After");
        };
        // Sign-ups: refused from the 11th in the hour, before any hashing.
        let mut last = (0, Value::Null, None);
        for i in 0..11 {
            last = post(
                &o,
                "/v1/auth/signup",
                None,
                json!({"email": format!("x{i}@example.test"), "password": "correct horse battery"}),
            )
            .await;
        }
        limited("sign-up", last.0, &last.1, last.2);
        // Wrong passwords against someone's account: this address is locked out of it.
        for _ in 0..5 {
            let (s, _, _) =
                post(&o, "/v1/auth/login", None, json!({"email": "x0@example.test", "password": "wrong password!"}))
                    .await;
            assert_eq!(s, 401);
        }
        let (s, e, r) =
            post(&o, "/v1/auth/login", None, json!({"email": "x0@example.test", "password": "correct horse battery"}))
                .await;
        limited("sign-in", s, &e, r);
        still_chatting(&mut people, "after the sign-up and sign-in floods").await;
        // Guest sign-ins: three were made for the meeting; 30 a minute from one address.
        let mut answered = Vec::new();
        for i in 0..40 {
            answered.push(post(&o, "/v1/auth/guest", None, json!({"name": format!("g{i}")})).await);
        }
        let refused = answered.iter().filter(|(s, _, _)| *s == 429).count();
        assert!(refused >= 10, "{refused} of 40 guest sign-ins refused");
        let (s, e, r) = answered.last().unwrap().clone();
        limited("guest sign-in", s, &e, r);
        // Joins: one token joins at most 20 times a minute.
        let token = answered.iter().find(|(s, _, _)| *s == 200).unwrap().1["access_token"].as_str().unwrap().to_owned();
        let mut last = (0, Value::Null, None);
        for _ in 0..21 {
            last = post(&o, "/v1/rooms/flood/join", Some(&token), json!({})).await;
        }
        limited("join", last.0, &last.1, last.2);
        still_chatting(&mut people, "after the guest and join floods").await;
    });
}

#[test]
fn a_removed_participant_stays_out_and_its_media_node_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let o = start(dir.path(), &[]);
    rt().block_on(async {
        use reqwest::Method;
        // An organisation's owner and a partner-minted participant in its room.
        let creds = json!({"email": "ops@acme.test", "password": "correct horse battery"});
        let (s, _, _) = post(&o, "/v1/auth/signup", None, creds.clone()).await;
        assert_eq!(s, 202);
        let (_, session, _) = post(&o, "/v1/auth/login", None, creds).await;
        let owner = session["access_token"].as_str().unwrap().to_owned();
        let (s, org, _) = post(&o, "/v1/orgs", Some(&owner), json!({"name": "Acme"})).await;
        assert_eq!(s, 201, "{org}");
        let (s, _, _) = post(&o, "/v1/rooms", Some(&owner), json!({"name": "board"})).await;
        assert_eq!(s, 201);
        let (_, key, _) = post(&o, "/v1/api-keys", Some(&owner), json!({"name": "backend"})).await;
        let grants = json!({"room": "board", "join": true, "publish": true, "subscribe": true, "publish_data": true});
        let (s, minted, _) =
            post(&o, "/v1/tokens", key["secret"].as_str(), json!({"identity": "eve", "name": "Eve", "grants": grants}))
                .await;
        assert_eq!(s, 201, "{minted}");
        let eve = minted["token"].as_str().unwrap().to_owned();

        let admin = join_room(&o, "board", &owner).await;
        let mut host = connect(&ws_url(&o, "board"), admin["participant_token"].as_str().unwrap()).await;
        join(&mut host, None).await;
        let joined = join_room(&o, "board", &eve).await;
        let eve_seat = joined["participant_token"].as_str().unwrap().to_owned();
        let mut on_eve = connect(&ws_url(&o, "board"), &eve_seat).await;
        join(&mut on_eve, None).await;

        send(&mut host, json!({"type": "kick", "participant_id": "eve", "reason": "spam"})).await;
        assert_eq!(close_code(&mut on_eve).await, Some(4003));
        // The same token at once: closed again; a new join: refused while the ban lasts.
        let mut again = connect(&ws_url(&o, "board"), &eve_seat).await;
        send(&mut again, json!({"type": "join", "protocol": 1})).await;
        assert_eq!(close_code(&mut again).await, Some(4003));
        let (s, e, _) = post(&o, "/v1/rooms/board/join", Some(&eve), json!({})).await;
        assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
        // The media node was told to close her sessions and refuse new ones.
        let started = Instant::now();
        while !o.log().contains("media node order applied") {
            assert!(started.elapsed() < Duration::from_secs(10), "{}", o.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Removing over the API bans as well, and the host's meeting goes on.
        let (s, _, _) = call(&o, Method::DELETE, "/v1/rooms/board/participants/mallory", Some(&owner), None).await;
        assert_eq!(s, 204);
        send(&mut host, json!({"type": "chat", "text": "carry on", "client_id": "c1"})).await;
        until(&mut host, |v| v["type"] == "chat" && v["client_id"] == "c1").await;
    });
}
