//! The node's limits and the room coordinators' control calls, against the real binary on
//! loopback: a full node answers 503 and its heartbeat makes the edge's selector skip it; a
//! room holds its cap; an identity holds one session per room (and a standby beside it, which
//! carries nothing until it takes over and replaces it); sessions that never connect are
//! reaped; offers with too many tracks are refused; a closed participant's session is gone and
//! its token refused; a muted aiortc publisher's audio stops reaching an aiortc subscriber and
//! comes back when unmuted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use origo_shared::node::{NodeHeartbeat, NodeKind, NodeRequest, NodeSelector, Origin};
use origo_shared::token::{Claims, Grants, KeySet, TokenKey, TokenKind};
use serde_json::{Value, json};
use str0m::Rtc;
use str0m::media::{Direction, MediaKind};

const SEED: &str = "0909090909090909090909090909090909090909090909090909090909090909";
const SECRET: &str = "node-secret-for-tests";

struct Node {
    child: Child,
    base: String,
    _state: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Node {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_origo-media-node"))
        .args(["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--node-id", "media-t", "--shards", "2"])
        .args(["--state-dir", state.path().to_str().unwrap()])
        .args(["--token-signing-keys", &format!("k1:{SEED}"), "--node-secret", SECRET])
        .args(extra)
        .env("ORIGO_LOG", "warn,sctp_proto=off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let rest = line.trim().strip_prefix("origo-media-node listening on ").unwrap_or_else(|| panic!("{line}"));
    let base = rest.split_once(" (udp ").unwrap().0.to_owned();
    Node { child, base, _state: state }
}

fn keys() -> KeySet {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&SEED[2 * i..2 * i + 2], 16).unwrap();
    }
    KeySet::new().with_key(TokenKey::ed25519_from_seed("k1", seed).unwrap())
}

fn claims(identity: &str, room: &str, publish: bool) -> Claims {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut grants = Grants::participant(room);
    grants.publish = publish;
    Claims::new("origo", "origo", identity, now, 600)
        .with_kind(TokenKind::Participant)
        .with_org("org_test")
        .with_node("media-t")
        .with_grants(grants)
}

fn token(identity: &str, room: &str) -> String {
    keys().issue(&claims(identity, room, true)).unwrap()
}

struct Answer {
    status: u16,
    headers: String,
    body: Value,
}

/// `method url` with an optional bearer token and JSON body, through curl.
fn http(method: &str, url: &str, bearer: Option<&str>, body: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "-X", method, url, "-H", "Expect:", "-H", "content-type: application/json"]);
    if let Some(t) = bearer {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{out}"));
    let body =
        if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap_or_else(|_| panic!("{out}")) };
    Answer { status, headers: head.to_lowercase(), body }
}

/// A client offer publishing `video` video tracks (with a data channel).
fn offer(video: usize) -> String {
    let mut rtc = Rtc::builder().build(Instant::now());
    let mut api = rtc.sdp_api();
    for _ in 0..video {
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    }
    api.add_channel("control".into());
    let (offer, _) = api.apply().unwrap();
    json!({ "offer": offer }).to_string()
}

fn create(node: &Node, token: &str, video: usize) -> Answer {
    http("POST", &format!("{}/v1/sessions", node.base), Some(token), Some(&offer(video)))
}

fn health_sessions(node: &Node) -> u64 {
    http("GET", &format!("{}/health", node.base), None, None).body["sessions"].as_u64().unwrap()
}

fn metric(node: &Node, name: &str) -> u64 {
    let out = Command::new("curl").args(["-s", &format!("{}/metrics", node.base)]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Polls `f` every 100 ms for up to `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A stand-in for the edge's registry on loopback: it answers every request 200 `{}` and keeps
/// the heartbeats it was sent.
fn registry() -> (String, Arc<Mutex<Vec<NodeHeartbeat>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let beats = Arc::new(Mutex::new(Vec::new()));
    let kept = beats.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if request.contains("/v1/nodes/heartbeat")
                        && let Ok(hb) = serde_json::from_slice::<NodeHeartbeat>(&body)
                    {
                        kept.lock().unwrap().push(hb);
                    }
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
                }
            });
        }
    });
    (url, beats)
}

#[test]
fn a_full_node_answers_503_and_its_heartbeat_makes_the_edge_skip_it() {
    let (edge, beats) = registry();
    let node = start(&["--capacity", "2", "--edge-url", &edge]);
    assert_eq!(create(&node, &token("a", "r1"), 1).status, 201);
    assert_eq!(create(&node, &token("b", "r2"), 1).status, 201);
    let full = create(&node, &token("c", "r3"), 1);
    assert_eq!(full.status, 503, "{}", full.body);
    assert_eq!(full.body["error"]["code"], "unavailable", "{}", full.body);
    assert!(full.headers.contains("\r\nretry-after: "), "{}", full.headers);
    assert_eq!(health_sessions(&node), 2, "nothing opened for the refused one");

    // The heartbeat says the node is full, and the edge's selector then places nobody there.
    let said_full = eventually(10, || beats.lock().unwrap().iter().any(|hb| hb.load >= hb.capacity));
    assert!(said_full, "{:?}", beats.lock().unwrap());
    let last = beats.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.capacity, last.load), (2, 2));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut spare = last.clone();
    spare.id = "media-spare".into();
    spare.load = 0;
    let nodes = vec![last.into_descriptor(now), spare.into_descriptor(now)];
    let selector = NodeSelector::default();
    let wanted = NodeRequest { kind: NodeKind::Media, origin: Origin::Unknown, room_node: Some("media-t") };
    assert_eq!(selector.select(&nodes, &wanted, now).unwrap().id, "media-spare", "the full node is skipped");
    assert!(selector.select(&nodes[..1], &wanted, now).is_none(), "nobody, rather than the full node");
}

#[test]
fn sessions_that_never_connect_are_reaped_and_their_place_freed() {
    let node = start(&["--capacity", "1", "--connect-timeout-ms", "1500"]);
    let first = create(&node, &token("ghost", "r1"), 1);
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(create(&node, &token("other", "r2"), 1).status, 503, "full");
    // Nobody connects: the session is closed after the timeout.
    assert!(eventually(10, || health_sessions(&node) == 0), "reaped");
    assert_eq!(metric(&node, "origo_media_sessions_reaped_total"), 1);
    let id = first.body["session_id"].as_str().unwrap();
    let gone = http("GET", &format!("{}/v1/sessions/{id}/tracks", node.base), Some(&token("ghost", "r1")), None);
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert_eq!(create(&node, &token("other", "r2"), 1).status, 201, "its place is free again");
}

#[test]
fn a_room_holds_its_cap_and_an_identity_one_session() {
    let node = start(&["--room-sessions", "2"]);
    // The same identity twice: the second (a reconnect) replaces the first.
    let first = create(&node, &token("alice", "r1"), 1);
    let again = create(&node, &token("alice", "r1"), 1);
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(health_sessions(&node), 1, "one session per identity and room");
    let id = first.body["session_id"].as_str().unwrap();
    let old = http("DELETE", &format!("{}/v1/sessions/{id}", node.base), Some(&token("alice", "r1")), None);
    assert_eq!(old.status, 404, "the first is gone: {}", old.body);
    // The room's cap from the flag…
    assert_eq!(create(&node, &token("bob", "r1"), 1).status, 201);
    let over = create(&node, &token("carol", "r1"), 1);
    assert_eq!(over.status, 403, "{}", over.body);
    assert_eq!(over.body["error"]["code"], "limit_exceeded", "{}", over.body);
    assert!(over.body["error"]["message"].as_str().unwrap().contains("full"), "{}", over.body);
    // … or from the token's `room_sessions` claim.
    let roomy = keys().issue(&claims("carol", "r1", true).with_room_sessions(3)).unwrap();
    assert_eq!(create(&node, &roomy, 1).status, 201);
    let tight = keys().issue(&claims("dave", "r2", true).with_room_sessions(1)).unwrap();
    assert_eq!(create(&node, &tight, 1).status, 201);
    let tight = keys().issue(&claims("erin", "r2", true).with_room_sessions(1)).unwrap();
    assert_eq!(create(&node, &tight, 1).status, 403);
}

#[test]
fn a_standby_stands_beside_the_session_refuses_media_until_it_takes_over_then_replaces_it() {
    let node = start(&[]);
    let alice = token("alice", "r1");
    let session = create(&node, &alice, 1);
    assert_eq!(session.status, 201, "{}", session.body);
    let mut body: Value = serde_json::from_str(&offer(0)).unwrap();
    body["standby"] = json!(true);
    let standby = http("POST", &format!("{}/v1/sessions", node.base), Some(&alice), Some(&body.to_string()));
    assert_eq!(standby.status, 201, "{}", standby.body);
    assert_eq!(health_sessions(&node), 2, "the standby replaced nothing");
    assert_eq!(metric(&node, "origo_media_standby_sessions"), 1);
    let url = |a: &Answer| format!("{}/v1/sessions/{}", node.base, a.body["session_id"].as_str().unwrap());
    for refused in [json!({ "subscribe": ["all"] }), json!({ "quality": { "bob:0": "low" } })] {
        let r = http("PATCH", &url(&standby), Some(&alice), Some(&refused.to_string()));
        assert_eq!(r.status, 409, "{refused}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "conflict", "{}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("take_over"), "{}", r.body);
    }
    // Someone else's token cannot take it over.
    let bob = http("PATCH", &url(&standby), Some(&token("bob", "r1")), Some(r#"{"take_over":true}"#));
    assert_eq!(bob.status, 404, "{}", bob.body);
    let taken = http("PATCH", &url(&standby), Some(&alice), Some(r#"{"take_over":true,"subscribe":["all"]}"#));
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(health_sessions(&node), 1, "the session it stood by for is closed");
    assert_eq!(metric(&node, "origo_media_standby_sessions"), 0);
    assert_eq!(metric(&node, "origo_media_standby_takeovers_total"), 1);
    let old = http("DELETE", &url(&session), Some(&alice), None);
    assert_eq!(old.status, 404, "{}", old.body);
}

#[test]
fn one_participant_opening_sessions_in_a_loop_is_answered_429() {
    let node = start(&["--session-creates-per-minute", "6"]);
    let t = token("mallory", "r1");
    // A burst of 10 (reconnects, restarts), then the rate: the loop is refused.
    let answers: Vec<Answer> = (0..12).map(|_| create(&node, &t, 1)).collect();
    assert!(answers[..10].iter().all(|a| a.status == 201), "the burst is served");
    let refused = &answers[11];
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    assert!(refused.headers.contains("retry-after:"), "{}", refused.headers);
    // Another participant of the room is not affected.
    assert_eq!(create(&node, &token("ada", "r1"), 1).status, 201);
}

#[test]
fn offers_with_too_many_tracks_are_refused() {
    let node = start(&["--max-tracks", "3", "--max-mids", "6"]);
    let over = create(&node, &token("alice", "r1"), 4);
    assert_eq!(over.status, 400, "{}", over.body);
    assert_eq!(over.body["error"]["code"], "bad_request");
    assert!(over.body["error"]["message"].as_str().unwrap().contains("at most 3"), "{}", over.body);
    let mids = create(&node, &token("alice", "r1"), 7);
    assert!(mids.body["error"]["message"].as_str().unwrap().contains("m-lines"), "{}", mids.body);
    assert_eq!(health_sessions(&node), 0);
    assert_eq!(create(&node, &token("alice", "r1"), 3).status, 201);
}

fn control(node: &Node, method: &str, path: &str, secret: Option<&str>, body: &str) -> Answer {
    http(method, &format!("{}/v1/rooms/org_test/{path}", node.base), secret, Some(body))
}

#[test]
fn control_calls_need_the_node_secret_and_unknown_routes_are_json_404() {
    let node = start(&[]);
    for secret in [None, Some("wrong"), Some("node-secret-for-test")] {
        for (method, path) in [("POST", "r1/participants/eve/close"), ("PUT", "r1/participants/eve/mute")] {
            let a = control(&node, method, path, secret, "{}");
            assert_eq!(a.status, 401, "{method} {path} {secret:?}: {}", a.body);
            assert_eq!(a.body["error"]["code"], "unauthorized");
        }
    }
    let bad = control(&node, "POST", "r1/participants/eve/close", Some(SECRET), "{\"ban_until_ms\": \"soon\"}");
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (400, Some("invalid_json")), "{}", bad.body);
    let unknown = control(&node, "PUT", "r1/participants/eve/mute", Some(SECRET), "{\"audio\": true, \"x\": 1}");
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let long = format!("r1/participants/{}/close", "e".repeat(200));
    assert_eq!(control(&node, "POST", &long, Some(SECRET), "{}").status, 400);
    let none = http("GET", &format!("{}/v1/nowhere", node.base), None, None);
    assert_eq!((none.status, none.body["error"]["code"].as_str()), (404, Some("not_found")), "{}", none.body);
    let wrong_method = control(&node, "GET", "r1/participants/eve/close", Some(SECRET), "{}");
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    assert_eq!(wrong_method.body["error"]["code"], "method_not_allowed");
    // No node secret configured: nobody may.
    let open = start_without_secret();
    let a = http("POST", &format!("{}/v1/rooms/org_test/r1/participants/eve/close", open.base), Some(""), Some("{}"));
    assert_eq!(a.status, 401, "{}", a.body);
}

fn start_without_secret() -> Node {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_origo-media-node"))
        .args(["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--node-id", "media-t", "--shards", "1"])
        .args(["--state-dir", state.path().to_str().unwrap(), "--token-signing-keys", &format!("k1:{SEED}")])
        .env("ORIGO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let rest = line.trim().strip_prefix("origo-media-node listening on ").unwrap_or_else(|| panic!("{line}"));
    Node { child, base: rest.split_once(" (udp ").unwrap().0.to_owned(), _state: state }
}

#[test]
fn a_closed_participant_is_gone_and_its_token_refused_while_others_stay() {
    let node = start(&[]);
    let (eve, bob) = (token("eve", "r1"), token("bob", "r1"));
    let eve_session = create(&node, &eve, 1);
    let bob_session = create(&node, &bob, 1);
    let elsewhere = create(&node, &token("eve", "r2"), 1);
    assert_eq!((eve_session.status, bob_session.status, elsewhere.status), (201, 201, 201));
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
    let body = json!({ "ban_until_ms": until, "reason": "kicked by the host" }).to_string();
    let closed = control(&node, "POST", "r1/participants/eve/close", Some(SECRET), &body);
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body, json!({ "closed": 1, "ban_until_ms": until }));
    let id = eve_session.body["session_id"].as_str().unwrap();
    assert_eq!(http("GET", &format!("{}/v1/sessions/{id}/tracks", node.base), Some(&eve), None).status, 404);
    // The same, still valid token is refused in that room.
    let refused = create(&node, &eve, 1);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "forbidden");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("removed from the room"), "{}", refused.body);
    // Bob, and Eve's session in another room, are untouched.
    let bob_id = bob_session.body["session_id"].as_str().unwrap();
    assert_eq!(http("GET", &format!("{}/v1/sessions/{bob_id}/tracks", node.base), Some(&bob), None).status, 200);
    let other = elsewhere.body["session_id"].as_str().unwrap();
    let other = http("GET", &format!("{}/v1/sessions/{other}/tracks", node.base), Some(&token("eve", "r2")), None);
    assert_eq!(other.status, 200);
    assert_eq!(create(&node, &token("carol", "r1"), 1).status, 201, "others may still join");
    // A close without a ban closes, nothing more.
    let plain = control(&node, "POST", "r1/participants/carol/close", Some(SECRET), "{\"ban_until_ms\": null}");
    assert_eq!(plain.body, json!({ "closed": 1, "ban_until_ms": null }));
    assert_eq!(create(&node, &token("carol", "r1"), 1).status, 201);
    assert_eq!(metric(&node, "origo_media_sessions_kicked_total"), 2);
}

fn python() -> String {
    std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn peer(mode: &str, base: &str, token: &str, seconds: f64) -> Child {
    let script = format!("{}/tests/aiortc_peer.py", std::env::var("CARGO_MANIFEST_DIR").unwrap());
    Command::new(python())
        .args([script.as_str(), mode, base, token, &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with aiortc (tests/run installs it)")
}

/// Frames (audio, video) a watching subscriber decoded so far, kept up to date from its output.
fn watch(child: &mut Child) -> Arc<Mutex<(u64, u64)>> {
    let frames = Arc::new(Mutex::new((0, 0)));
    let kept = frames.clone();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let f = &v["frames"];
                *kept.lock().unwrap() = (f["audio"].as_u64().unwrap_or(0), f["video"].as_u64().unwrap_or(0));
            }
        }
    });
    frames
}

#[test]
fn a_muted_publishers_audio_stops_reaching_a_subscriber_until_unmuted() {
    let node = start(&[]);
    let mut publisher = peer("publish", &node.base, &token("alice", "r1"), 14.0);
    std::thread::sleep(Duration::from_millis(1500));
    let mut subscriber = peer("watch", &node.base, &keys().issue(&claims("bob", "r1", false)).unwrap(), 11.0);
    let frames = watch(&mut subscriber);
    let now = || *frames.lock().unwrap();
    assert!(eventually(8, || now().0 > 20 && now().1 > 5), "media flows: {:?}", now());

    let muted = control(&node, "PUT", "r1/participants/alice/mute", Some(SECRET), "{\"audio\": true, \"video\": null}");
    assert_eq!(muted.status, 200, "{}", muted.body);
    assert_eq!(muted.body, json!({ "audio": true, "video": false, "sessions": 1 }));
    // What was on its way has arrived after a second; then no audio at all, video still.
    std::thread::sleep(Duration::from_millis(1000));
    let (audio, video) = now();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(now().0, audio, "no audio while muted");
    assert!(now().1 > video, "video still flows: {:?} after {video}", now());
    assert!(metric(&node, "origo_media_packets_muted_total") > 20);

    let unmuted = control(&node, "PUT", "r1/participants/alice/mute", Some(SECRET), "{\"audio\": false}");
    assert_eq!(unmuted.body, json!({ "audio": false, "video": false, "sessions": 1 }));
    assert!(eventually(5, || now().0 > audio + 20), "audio is back: {:?} after {audio}", now());
    let _ = subscriber.wait();
    let _ = publisher.wait();
}

#[test]
fn sigterm_drains_then_leaves_then_exits() {
    let (edge, beats) = registry();
    let mut node = start(&["--edge-url", &edge, "--drain-secs", "2", "--connect-timeout-ms", "60000"]);
    let open = create(&node, &token("a", "r1"), 1);
    assert_eq!(open.status, 201, "{}", open.body);
    assert!(eventually(10, || !beats.lock().unwrap().is_empty()), "heartbeats");
    let pid = node.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // Draining at once: the heartbeat says so, new sessions are refused, the open one stays.
    assert!(eventually(5, || beats.lock().unwrap().iter().any(|hb| hb.draining && !hb.leaving)), "draining heartbeat");
    let refused = create(&node, &token("b", "r2"), 1);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("stopping"), "{}", refused.body);
    assert_eq!(health_sessions(&node), 1, "the call goes on");
    assert!(node.child.try_wait().unwrap().is_none(), "still running while draining");
    // After the deadline it asks for its participants to be moved ...
    assert!(eventually(10, || beats.lock().unwrap().iter().any(|hb| hb.draining && hb.leaving)), "leaving heartbeat");
    // ... and exits once they have gone.
    let id = open.body["session_id"].as_str().unwrap();
    let closed = http("DELETE", &format!("{}/v1/sessions/{id}", node.base), Some(&token("a", "r1")), None);
    assert!(closed.status < 300, "{} {}", closed.status, closed.body);
    let exited = eventually(10, || node.child.try_wait().unwrap().is_some());
    assert!(exited, "the node exits once its sessions are gone");
    assert!(node.child.wait().unwrap().success());
}
