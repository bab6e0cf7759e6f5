//! The media node with an independent WebRTC stack (aiortc, PyPI) as publisher and subscriber:
//! media flows through the SFU and is decoded on the other side; unsubscribing stops it;
//! malformed SDP, forged tokens and garbage UDP leave the node serving everyone else; two nodes
//! linked for a room (cascading) carry each other's publishers to their subscribers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use origo_shared::token::{Claims, Grants, KeySet, TokenKey, TokenKind};
use serde_json::Value;

const SEED: &str = "0909090909090909090909090909090909090909090909090909090909090909";

struct Node {
    child: Child,
    base: String,
    udp: String,
    /// Where the node journals usage (removed with the node).
    _state: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The aiortc peers are CPU-hungry: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start() -> Node {
    start_as("media-t", None)
}

/// A node named `node_id`, taking control calls with `node_secret`.
fn start_as(node_id: &str, node_secret: Option<&str>) -> Node {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_origo-media-node"));
    if let Some(secret) = node_secret {
        cmd.env("ORIGO_NODE_SECRET", secret);
    }
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--node-id", node_id])
        // Three shards: the tests' rooms land on different ones.
        .args(["--shards", "3"])
        .args(["--state-dir", state.path().to_str().unwrap()])
        .args(["--token-signing-keys", &format!("k1:{SEED}")])
        .env("ORIGO_LOG", "warn,sctp_proto=off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "origo-media-node listening on http://127.0.0.1:PORT (udp 127.0.0.1:PORT)"
    let rest = line.trim().strip_prefix("origo-media-node listening on ").unwrap_or_else(|| panic!("{line}"));
    let (base, udp) = rest.split_once(" (udp ").unwrap();
    Node { child, base: base.to_owned(), udp: udp.trim_end_matches(')').to_owned(), _state: state }
}

fn keys() -> KeySet {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&SEED[2 * i..2 * i + 2], 16).unwrap();
    }
    KeySet::new().with_key(TokenKey::ed25519_from_seed("k1", seed).unwrap())
}

fn token(identity: &str, room: &str, node: &str, publish: bool) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut grants = Grants::participant(room);
    grants.publish = publish;
    let claims = Claims::new("origo", "origo", identity, now, 600)
        .with_kind(TokenKind::Participant)
        .with_org("org_test")
        .with_node(node)
        .with_grants(grants);
    keys().issue(&claims).unwrap()
}

fn python() -> String {
    std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn peer(mode: &str, base: &str, token: &str, seconds: f64) -> Child {
    peer_expecting(mode, base, token, seconds, 1)
}

fn peer_expecting(mode: &str, base: &str, token: &str, seconds: f64, publishers: usize) -> Child {
    let script = format!("{}/tests/aiortc_peer.py", std::env::var("CARGO_MANIFEST_DIR").unwrap());
    Command::new(python())
        .args([script.as_str(), mode, base, token, &seconds.to_string()])
        .env("EXPECT_PUBLISHERS", publishers.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with aiortc (tests/run installs it)")
}

fn result(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "peer failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn aiortc_publishers_reach_aiortc_subscribers_and_frames_decode() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = start();
    let pubs: Vec<Child> = ["alice", "bob"]
        .iter()
        .map(|who| peer("publish", &node.base, &token(who, "r1", "media-t", true), 9.0))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let subs: Vec<Child> = ["s1", "s2", "s3"]
        .iter()
        .map(|who| peer_expecting("subscribe", &node.base, &token(who, "r1", "media-t", false), 6.0, 2))
        .collect();
    for s in subs {
        let r = result(s);
        assert_eq!(r["tracks"].as_array().unwrap().len(), 4, "two publishers, audio + video each: {r}");
        let streams = r["per_stream"].as_array().unwrap();
        assert_eq!(streams.len(), 4, "four inbound streams: {r}");
        assert!(streams.iter().all(|s| s[1].as_u64().unwrap() > 20), "every stream flows: {r}");
        assert!(r["frames"]["video"].as_u64().unwrap() > 40, "video frames decoded: {r}");
        assert!(r["frames"]["audio"].as_u64().unwrap() > 100, "audio frames decoded: {r}");
    }
    for p in pubs {
        let r = result(p);
        assert_eq!(r["state"], "connected", "{r}");
    }
    let metrics = reqwest_get(&format!("{}/metrics", node.base));
    assert!(metrics.contains("origo_media_packets_forwarded_total"), "{metrics}");
    let health: Value = serde_json::from_str(&reqwest_get(&format!("{}/health", node.base))).unwrap();
    assert_eq!(health["shards"], 3, "{health}");
    let _ = node.udp;
}

fn reqwest_get(url: &str) -> String {
    let out = Command::new("curl").args(["-s", url]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn unsubscribing_stops_the_media() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = start();
    let publisher = peer("publish", &node.base, &token("alice", "r2", "media-t", true), 9.0);
    std::thread::sleep(Duration::from_millis(1500));
    let r = result(peer("unsubscribe", &node.base, &token("s1", "r2", "media-t", false), 6.0));
    let before = &r["frames_before_unsubscribe"];
    assert!(before["video"].as_u64().unwrap() > 10 && before["audio"].as_u64().unwrap() > 20, "{r}");
    let after = &r["frames_after_unsubscribe"];
    assert_eq!(after["video"], 0, "no video after unsubscribing: {r}");
    assert_eq!(after["audio"], 0, "no audio after unsubscribing: {r}");
    result(publisher);
}

fn post(url: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/stdout",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data-binary",
        body,
        url,
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn bad_sdp_forged_tokens_and_garbage_udp_leave_the_node_serving() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = start();
    let url = format!("{}/v1/sessions", node.base);
    let good = token("alice", "r3", "media-t", true);
    // Malformed SDP and bodies: 400 with the JSON error body.
    for body in
        ["{\"offer\": {\"type\": \"offer\", \"sdp\": \"v=0\\r\\nnot sdp\"}}", "{\"offer\": 5}", "not json", "{}"]
    {
        let (code, b) = post(&url, Some(&good), body);
        assert_eq!(code, 400, "{body}: {b}");
        assert!(b.contains("\"error\""), "{b}");
    }
    // Forged, wrong-node, missing tokens.
    let forged = {
        let keys = KeySet::new().with_key(TokenKey::ed25519_from_seed("k1", [1u8; 32]).unwrap());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let c = Claims::new("origo", "origo", "eve", now, 600)
            .with_org("org_test")
            .with_node("media-t")
            .with_grants(Grants::participant("r3"));
        keys.issue(&c).unwrap()
    };
    assert_eq!(post(&url, Some(&forged), "{}").0, 401);
    assert_eq!(post(&url, Some(&token("eve", "r3", "media-other", true)), "{}").0, 403);
    assert_eq!(post(&url, None, "{}").0, 401);
    // Browsers on the edge's origin may call the API: the preflight is answered, no token needed.
    let out = Command::new("curl")
        .args(["-s", "-i", "-X", "OPTIONS", &url, "-H", "Origin: http://127.0.0.1:8080"])
        .args(["-H", "Access-Control-Request-Method: POST", "-H", "Access-Control-Request-Headers: authorization"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 204"), "{head}");
    assert!(head.contains("access-control-allow-origin: *") && head.contains("authorization"), "{head}");
    // A flood of garbage datagrams, STUN-looking ones included.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut stun = vec![0u8, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    for i in 0..20_000u32 {
        let junk: Vec<u8> = match i % 3 {
            0 => i.to_le_bytes().repeat(50),
            1 => stun.clone(),
            _ => vec![0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9],
        };
        let _ = sock.send_to(&junk, &node.udp);
    }
    // Still serving: a real publisher and subscriber work.
    let publisher = peer("publish", &node.base, &good, 8.0);
    std::thread::sleep(Duration::from_millis(1500));
    let r = result(peer("subscribe", &node.base, &token("s1", "r3", "media-t", false), 5.0));
    assert!(r["frames"]["video"].as_u64().unwrap() > 20, "{r}");
    result(publisher);
    let metrics = reqwest_get(&format!("{}/metrics", node.base));
    let unroutable: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("origo_media_unroutable_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // The kernel may drop part of a flood; what arrived was counted and refused.
    assert!(unroutable >= 5_000, "garbage counted, not crashed: {unroutable}");
}

#[test]
fn a_subscriber_to_all_gets_new_publishers_offered_over_its_data_channel() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let node = start();
    let subscriber = peer("auto", &node.base, &token("s1", "r4", "media-t", false), 8.0);
    std::thread::sleep(Duration::from_millis(2000));
    let publisher = peer("publish", &node.base, &token("alice", "r4", "media-t", true), 6.0);
    let r = result(subscriber);
    assert!(r["offers_over_channel"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["frames"]["video"].as_u64().unwrap() > 20, "{r}");
    assert!(r["frames"]["audio"].as_u64().unwrap() > 50, "{r}");
    result(publisher);
}

/// `GET url` with a bearer token: (status, JSON body).
fn get_json(url: &str, token: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "-H", &format!("authorization: Bearer {token}"), url])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn two_linked_nodes_carry_each_others_publishers_to_their_subscribers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const SECRET: &str = "node-secret-for-links";
    let (a, b) = (start_as("media-a", Some(SECRET)), start_as("media-b", Some(SECRET)));
    let links = format!("{}/v1/rooms/org_test/r5/links", a.base);
    let order = format!(r#"{{"peer_node":"media-b","peer_control_url":"{}"}}"#, b.base);

    // Only the coordinators' secret opens links, to another node, at an http(s) URL that answers.
    assert_eq!(post(&links, None, &order).0, 401);
    assert_eq!(post(&links, Some("wrong"), &order).0, 401);
    let (code, body) = post(&links, Some(SECRET), &order.replace("media-b", "media-a"));
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(&links, Some(SECRET), r#"{"peer_node":"media-b","peer_control_url":"file:///etc"}"#);
    assert_eq!(code, 400, "{body}");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, body) =
        post(&links, Some(SECRET), &format!(r#"{{"peer_node":"media-b","peer_control_url":"http://{dead}"}}"#));
    assert_eq!(code, 502, "an unreachable peer: {body}");
    assert!(body.contains("\"bad_gateway\""), "{body}");
    let (code, listed) = get_json(&links, SECRET);
    assert_eq!((code, &listed["links"]), (200, &serde_json::json!([])), "the failed link was removed");
    // Another node's offer needs the secret too.
    let relays = format!("{}/v1/rooms/org_test/r5/relays", b.base);
    assert_eq!(post(&relays, Some("wrong"), "{}").0, 401);

    // A publisher on each node, then the link.
    let pubs = [
        peer("publish", &a.base, &token("alice", "r5", "media-a", true), 12.0),
        peer("publish", &b.base, &token("bob", "r5", "media-b", true), 12.0),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = post(&links, Some(SECRET), &order);
    assert_eq!(code, 201, "{body}");
    let (code, body) = post(&links, Some(SECRET), &order);
    assert_eq!(code, 200, "a second order keeps the open link: {body}");
    assert!(body.contains("\"opened\":false"), "{body}");

    // Both sides connect, each sending its own publisher's two tracks once.
    let b_links = format!("{}/v1/rooms/org_test/r5/links", b.base);
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    let (on_a, on_b) = loop {
        let (on_a, on_b) = (get_json(&links, SECRET).1, get_json(&b_links, SECRET).1);
        let ready = |v: &Value| {
            v["links"].as_array().is_some_and(|l| {
                l.len() == 1 && l[0]["connected"] == true && l[0]["tracks_in"] == 2 && l[0]["tracks_out"] == 2
            })
        };
        if (ready(&on_a) && ready(&on_b)) || std::time::Instant::now() > deadline {
            break (on_a, on_b);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(on_a["links"][0]["peer_node"], "media-b", "{on_a}");
    assert_eq!(on_a["links"][0]["opener"], true, "{on_a}");
    assert_eq!(on_b["links"][0]["peer_node"], "media-a", "{on_b}");
    for (node, v) in [("a", &on_a), ("b", &on_b)] {
        let l = &v["links"][0];
        assert!(l["connected"] == true && l["tracks_in"] == 2 && l["tracks_out"] == 2, "link on {node}: {v}");
    }

    // Subscribers on each node see and hear both publishers, the remote one under its own name.
    let subs = [
        peer_expecting("subscribe", &a.base, &token("sa", "r5", "media-a", false), 6.0, 2),
        peer_expecting("subscribe", &b.base, &token("sb", "r5", "media-b", false), 6.0, 2),
    ];
    for s in subs {
        let r = result(s);
        let owners: std::collections::BTreeSet<&str> =
            r["tracks"].as_array().unwrap().iter().filter_map(|t| t.as_str()?.split(':').next()).collect();
        assert_eq!(owners, ["alice", "bob"].into(), "{r}");
        let streams = r["per_stream"].as_array().unwrap();
        assert_eq!(streams.len(), 4, "four inbound streams: {r}");
        assert!(streams.iter().all(|s| s[1].as_u64().unwrap() > 20), "every stream flows: {r}");
        assert!(r["frames"]["video"].as_u64().unwrap() > 40, "video frames decoded: {r}");
    }
    for p in pubs {
        result(p);
    }
}
