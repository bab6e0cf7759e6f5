//! `kill -9` in the middle of a burst of writes: every write `origo` acknowledged (2xx) is
//! there after a restart. Once per backend: the embedded store, and Redis with
//! `appendonly yes` / `appendfsync always`, where the Redis server is killed with SIGKILL too
//! and started again from its AOF.
//!
//! The writes are the two kinds a deployment acknowledges: rooms created by the room function
//! (a key-value write from a component) and chat messages posted over HTTP (the room
//! coordinator's batched commit behind its output gate).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Origo, Redis, start_dev};
use serde_json::{Value, json};

/// Clients writing at once.
const CLIENTS: usize = 8;
/// Writes the burst would make if nothing stopped it.
const WRITES: usize = 200;
/// `origo` is killed once this many writes were acknowledged.
const KILL_AFTER: usize = WRITES / 2;
/// The room the messages of the burst go to.
const ROOM: &str = "burst";

fn start_in(dir: &std::path::Path, extra: &[&str]) -> Origo {
    // The burst creates more rooms than a plan allows by default.
    let plans = r#"plans={"currency":"USD","default_plan":"burst","guest_plan":"burst","plans":[{"id":"burst","name":"Burst","monthly_fee":"0"}]}"#;
    let mut args = vec!["--turn-listen", "off", "--media-listen", "off", "--var", plans];
    args.extend_from_slice(extra);
    start_dev(dir, &args)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut req = http.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// Signs up, signs in and creates an organisation with the room the messages go to: the
/// owner's access token.
async fn owner(base: &str) -> String {
    let http = reqwest::Client::new();
    let creds = json!({"email": "ada@acme.test", "password": "correct horse battery"});
    let res = http.post(format!("{base}/v1/auth/signup")).json(&creds).send().await.unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let res = http.post(format!("{base}/v1/auth/login")).json(&creds).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let post = reqwest::Method::POST;
    let (s, org) = call(&http, base, post.clone(), "/v1/orgs", &token, Some(json!({"name": "Acme"}))).await.unwrap();
    assert_eq!(s, 201, "{org}");
    let (s, room) = call(&http, base, post, "/v1/rooms", &token, Some(json!({"name": ROOM}))).await.unwrap();
    assert_eq!(s, 201, "{room}");
    token
}

/// What the server acknowledged during the burst.
#[derive(Default)]
struct Acknowledged {
    rooms: Vec<String>,
    /// Message id → text.
    messages: HashMap<String, String>,
    /// Answers other than 2xx (before the kill, there should be none).
    refused: Vec<(u16, Value)>,
}

/// Write `i` of the burst: even ones create room `r-{i}`, odd ones post message `m-{i}`.
async fn write(http: &reqwest::Client, base: &str, token: &str, i: usize, acked: &Mutex<Acknowledged>) -> bool {
    let post = reqwest::Method::POST;
    let outcome = if i.is_multiple_of(2) {
        let name = format!("r-{i}");
        call(http, base, post, "/v1/rooms", token, Some(json!({"name": name}))).await.map(|(s, v)| (s, v, Some(name)))
    } else {
        let path = format!("/v1/rooms/{ROOM}/messages");
        call(http, base, post, &path, token, Some(json!({"text": format!("m-{i}")}))).await.map(|(s, v)| (s, v, None))
    };
    let Ok((status, body, room)) = outcome else { return false };
    let mut acked = acked.lock().unwrap();
    match (status, room) {
        (200..=299, Some(name)) => acked.rooms.push(name),
        (200..=299, None) => {
            let id = body["id"].as_str().unwrap_or_else(|| panic!("a posted message has an id: {body}"));
            acked.messages.insert(id.to_owned(), body["text"].as_str().unwrap().to_owned());
        }
        _ => {
            acked.refused.push((status, body));
            return false;
        }
    }
    true
}

/// Fires the burst from [`CLIENTS`] concurrent clients, calls `kill` once [`KILL_AFTER`]
/// writes were acknowledged, and returns what was acknowledged.
async fn burst_then_kill(base: &str, token: &str, kill: impl FnOnce()) -> Acknowledged {
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (acked, next, done, base, token) =
            (acked.clone(), next.clone(), done.clone(), base.to_owned(), token.to_owned());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= WRITES || !write(&http, &base, &token, i, &acked).await {
                    return;
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "the burst stalled: {} writes acknowledged", done.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    kill();
    for c in clients {
        c.await.unwrap();
    }
    Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap()
}

/// Every acknowledged room and message, read back through the API of a restarted `origo`.
async fn assert_all_readable(base: &str, token: &str, acked: &Acknowledged) {
    let http = reqwest::Client::new();
    for name in &acked.rooms {
        let (s, room) =
            call(&http, base, reqwest::Method::GET, &format!("/v1/rooms/{name}"), token, None).await.unwrap();
        assert_eq!(s, 200, "acknowledged room {name} is gone after the crash: {room}");
    }
    let mut stored: HashMap<String, String> = HashMap::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/rooms/{ROOM}/messages?limit=200&after={after}");
        let (s, page) = call(&http, base, reqwest::Method::GET, &path, token, None).await.unwrap();
        assert_eq!(s, 200, "{page}");
        for m in page["messages"].as_array().unwrap() {
            stored.insert(m["id"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => after = c.to_owned(),
            None => break,
        }
    }
    for (id, text) in &acked.messages {
        assert_eq!(stored.get(id), Some(text), "acknowledged message {id} ({text}) is gone after the crash");
    }
}

/// The burst against `origo` with `extra` flags, killed with SIGKILL (then `after_kill`), and
/// the check on a restarted `origo` with the same data directory and flags.
fn acknowledged_writes_survive_kill_9(extra: &[&str], after_kill: impl FnOnce()) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut o = start_in(dir.path(), extra);
    let base = o.base.clone();
    let rt = rt();
    let token = rt.block_on(owner(&base));
    let acked = rt.block_on(burst_then_kill(&base, &token, || {
        o.child.kill().unwrap();
        o.child.wait().unwrap();
    }));
    let total = acked.rooms.len() + acked.messages.len();
    assert!(acked.refused.is_empty(), "writes refused before the kill: {:?}", acked.refused);
    assert!(total >= KILL_AFTER, "{total} writes acknowledged");
    assert!(total < WRITES, "the kill came after the burst ({total} of {WRITES} acknowledged)");
    assert!(!acked.rooms.is_empty() && !acked.messages.is_empty());
    drop(o);
    after_kill();

    let o = start_in(dir.path(), extra);
    rt.block_on(assert_all_readable(&o.base, &token, &acked));
    eprintln!(
        "{} rooms and {} messages acknowledged before the kill, all read back; {:.1} s",
        acked.rooms.len(),
        acked.messages.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn embedded_store_keeps_every_acknowledged_write_through_kill_9() {
    acknowledged_writes_survive_kill_9(&[], || {});
}

#[test]
fn redis_with_appendfsync_always_keeps_every_acknowledged_write_through_kill_9_of_both() {
    let mut redis = Redis::start_with(&["--save", "", "--appendonly", "yes", "--appendfsync", "always"]);
    let url = redis.url.clone();
    acknowledged_writes_survive_kill_9(&["--redis", &url], || {
        // Redis dies too, before it could write anything more, and comes back from its AOF.
        redis.kill_and_restart();
        assert!(redis.dir().join("appendonlydir").exists(), "the AOF is where Redis keeps it");
    });
}
