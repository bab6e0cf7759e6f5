//! `origo-turn` against real clients: coturn's `turnutils_uclient`, `turnutils_peer` and
//! `turnutils_stunclient` over UDP, TCP and TLS; our own codec as a client for the peer policy
//! (every denied range, IPv4 and IPv6 with embedded forms); metrics; registry heartbeats.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::attribute::*;
use origo_turn::credentials::long_term_key;
use origo_turn::message::{Class, Message, MessageBuilder, method};

const SECRET: &str = "north-star";

struct Turn {
    child: Child,
    udp: SocketAddr,
    tls: Option<SocketAddr>,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/fixtures")
}

fn start_turn(listen: &str, extra: &[&str]) -> Turn {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_origo-turn"));
    cmd.args(["--listen", listen, "--auth-secret", SECRET, "--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .env_remove("ORIGO_TURN_AUTH_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn origo-turn");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line == "origo-turn ready";
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(Duration::from_secs(30)).expect("origo-turn started");
    let find =
        |kind: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("origo-turn {kind} "))).map(str::to_owned);
    Turn {
        child,
        udp: find("udp").expect("udp address").parse().unwrap(),
        tls: find("tls").map(|a| a.parse().unwrap()),
        metrics: find("metrics").expect("metrics address"),
        _dir: dir,
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `turnutils_peer` echoing on 127.0.0.1.
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer() -> Peer {
    let port = free_udp_port();
    let child = Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnutils_peer is installed (Debian coturn; tests/run installs it)");
    std::thread::sleep(Duration::from_millis(200));
    Peer { child, port }
}

/// Runs `turnutils_uclient` and returns (sent, received, lost %) from its summary.
fn uclient(args: &[&str]) -> (u64, u64, f64, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg("turnutils_uclient")
        .args(args)
        .output()
        .expect("turnutils_uclient is installed (Debian coturn; tests/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let num_after = |key: &str| -> Option<f64> {
        let line = text.lines().rev().find(|l| l.contains(key))?;
        let rest = &line[line.find(key)? + key.len()..];
        rest.trim_start_matches(['=', ' ']).split(|c: char| !(c.is_ascii_digit() || c == '.')).next()?.parse().ok()
    };
    let sent = num_after("tot_send_msgs").unwrap_or(0.0) as u64;
    let recv = num_after("tot_recv_msgs").unwrap_or(0.0) as u64;
    let lost = text
        .lines()
        .find_map(|l| l.split("Total lost packets").nth(1))
        .and_then(|r| r.split('(').nth(1))
        .and_then(|r| r.split('%').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(100.0);
    (sent, recv, lost, text)
}

fn assert_clean_run(label: &str, (sent, recv, lost, text): (u64, u64, f64, String)) {
    assert!(sent > 0, "{label}: nothing sent\n{text}");
    assert_eq!(sent, recv, "{label}: sent {sent}, received {recv}\n{text}");
    assert_eq!(lost, 0.0, "{label}: loss {lost}%\n{text}");
}

#[test]
fn coturn_client_relays_through_a_peer_over_udp_tcp_and_tls() {
    let cert = fixtures().join("localhost-cert.pem");
    let key = fixtures().join("localhost-key.pem");
    let turn = start_turn(
        "127.0.0.1:0",
        &[
            "--allow-loopback-peers",
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
            cert.to_str().unwrap(),
            "--pkey",
            key.to_str().unwrap(),
        ],
    );
    let peer = start_peer();
    let port = turn.udp.port().to_string();
    let peer_port = peer.port.to_string();
    let base = ["-W", SECRET, "-u", "alice", "-n", "40", "-m", "2", "-l", "120", "-z", "5"];
    let with = |extra: &[&str], p: &str| -> Vec<String> {
        let mut v: Vec<String> = base.iter().chain(extra).map(|s| s.to_string()).collect();
        v.extend(["-p".to_string(), p.to_string(), "127.0.0.1".to_string()]);
        v
    };
    let run = |args: Vec<String>| uclient(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_clean_run("udp", run(with(&["-e", "127.0.0.1", "-r", &peer_port], &port)));
    assert_clean_run("udp send indications", run(with(&["-s", "-e", "127.0.0.1", "-r", &peer_port], &port)));
    assert_clean_run("tcp", run(with(&["-t", "-e", "127.0.0.1", "-r", &peer_port], &port)));
    let tls_port = turn.tls.unwrap().port().to_string();
    assert_clean_run("tls", run(with(&["-t", "-S", "-e", "127.0.0.1", "-r", &peer_port], &tls_port)));
}

#[test]
fn coturn_client_to_client_is_refused_and_stun_answers() {
    let turn = start_turn("127.0.0.1:0", &["--allow-loopback-peers"]);
    let port = turn.udp.port().to_string();
    // Client to client through one server means relaying into the server's own relay ports.
    let args =
        ["-y", "-W", SECRET, "-u", "bob", "-n", "40", "-m", "3", "-l", "200", "-z", "5", "-p", &port, "127.0.0.1"];
    let (_, recv, _, text) = uclient(&args);
    assert_eq!(recv, 0, "{text}");
    assert!(text.contains("403"), "{text}");

    let out = Command::new("turnutils_stunclient").args(["-p", &port, "127.0.0.1"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
}

#[test]
fn wrong_secrets_are_refused_and_counted() {
    let turn = start_turn("127.0.0.1:0", &["--allow-loopback-peers"]);
    let peer = start_peer();
    let (port, peer_port) = (turn.udp.port().to_string(), peer.port.to_string());
    let (sent, recv, _, text) = uclient(&[
        "-W",
        "not-the-secret",
        "-u",
        "eve",
        "-n",
        "5",
        "-e",
        "127.0.0.1",
        "-r",
        &peer_port,
        "-p",
        &port,
        "127.0.0.1",
    ]);
    assert_eq!(recv, 0, "nothing may be relayed with a wrong secret (sent {sent})\n{text}");
    std::thread::sleep(Duration::from_millis(1200));
    let metrics = http_get(&turn.metrics, "/metrics");
    let failures = metric(&metrics, "origo_turn_auth_failures_total");
    assert!(failures >= 1.0, "{metrics}");
}

/// A minimal client on our own codec.
struct Client {
    sock: UdpSocket,
    server: SocketAddr,
    username: String,
    key: Vec<u8>,
    nonce: String,
    tid: u8,
}

impl Client {
    fn new(server: SocketAddr) -> Client {
        let bind = if server.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
        let sock = UdpSocket::bind(bind).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let creds = TurnSecrets::new([SECRET]).issue("policy-test", now_unix(), 600).unwrap();
        let key = long_term_key(&creds.username, "origo", &creds.password);
        Client { sock, server, username: creds.username, key, nonce: String::new(), tid: 0 }
    }

    fn roundtrip(&mut self, req: &[u8]) -> Vec<u8> {
        self.sock.send_to(req, self.server).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("an answer");
        buf[..n].to_vec()
    }

    fn request(&mut self, m: u16, build: impl FnOnce(&mut MessageBuilder)) -> Vec<u8> {
        self.tid += 1;
        let mut b = MessageBuilder::new(m, Class::Request, [self.tid; 12]);
        build(&mut b);
        if !self.nonce.is_empty() {
            b.add(USERNAME, self.username.as_bytes()).add(REALM, b"origo").add(NONCE, self.nonce.as_bytes());
            b.add_integrity(&self.key);
        }
        let req = b.add_fingerprint().finish();
        self.roundtrip(&req)
    }

    fn allocate(&mut self) -> SocketAddr {
        let family = if self.server.is_ipv6() { FAMILY_IPV6 } else { FAMILY_IPV4 };
        let res = self.request(method::ALLOCATE, |b| {
            b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        });
        self.nonce = Message::parse(&res).unwrap().get_str(NONCE).unwrap().to_owned();
        let res = self.request(method::ALLOCATE, |b| {
            b.add_u32(REQUESTED_TRANSPORT, 17 << 24).add(REQUESTED_ADDRESS_FAMILY, &[family, 0, 0, 0]);
        });
        let m = Message::parse(&res).unwrap();
        assert_eq!(m.class, Class::Success, "{:?}", m.get(ERROR_CODE).and_then(decode_error_code));
        m.get_xor_address(XOR_RELAYED_ADDRESS).unwrap()
    }

    /// The error code of a CreatePermission for `peer`, or None on success.
    fn permission(&mut self, peer: SocketAddr) -> Option<u16> {
        let res = self.request(method::CREATE_PERMISSION, |b| {
            b.add_xor_address(XOR_PEER_ADDRESS, peer);
        });
        let m = Message::parse(&res).unwrap();
        m.get(ERROR_CODE).and_then(decode_error_code).map(|(c, _)| c)
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn denied_peer_ranges_over_ipv4() {
    let turn = start_turn("127.0.0.1:0", &[]);
    let mut c = Client::new(turn.udp);
    c.allocate();
    let denied = [
        "0.1.2.3",
        "127.0.0.1",
        "127.255.255.254",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.1",
        "198.18.0.1",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
    ];
    for ip in denied {
        assert_eq!(c.permission(format!("{ip}:9").parse().unwrap()), Some(403), "{ip} must be denied");
    }
    for ip in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1"] {
        assert_eq!(c.permission(format!("{ip}:9").parse().unwrap()), None, "{ip} must be allowed");
    }
    let metrics = {
        std::thread::sleep(Duration::from_millis(1200));
        http_get(&turn.metrics, "/metrics")
    };
    assert_eq!(metric(&metrics, "origo_turn_denied_peers_total"), denied.len() as f64, "{metrics}");
    assert_eq!(metric(&metrics, "origo_turn_allocations"), 1.0);
}

#[test]
fn denied_peer_ranges_over_ipv6_including_embedded_ipv4() {
    let turn = start_turn("[::1]:0", &[]);
    let mut c = Client::new(turn.udp);
    let relay = c.allocate();
    assert!(relay.is_ipv6());
    let denied = [
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "fec0::1",
        "100::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::10.0.0.1",
        "64:ff9b::a00:1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1",
        "2002:a00:1::1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    ];
    for ip in denied {
        let peer = SocketAddr::new(ip.parse().unwrap(), 9);
        assert_eq!(c.permission(peer), Some(403), "{ip} must be denied");
    }
    for ip in ["2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
        let peer = SocketAddr::new(ip.parse().unwrap(), 9);
        assert_eq!(c.permission(peer), None, "{ip} must be allowed");
    }
}

#[test]
fn loopback_peers_only_with_the_test_flag() {
    let strict = start_turn("127.0.0.1:0", &[]);
    let mut c = Client::new(strict.udp);
    c.allocate();
    assert_eq!(c.permission("127.0.0.1:9".parse().unwrap()), Some(403));
    let lenient = start_turn("127.0.0.1:0", &["--allow-loopback-peers"]);
    let mut c = Client::new(lenient.udp);
    c.allocate();
    assert_eq!(c.permission("127.0.0.1:9".parse().unwrap()), None);
    assert_eq!(c.permission("10.0.0.1:9".parse().unwrap()), Some(403), "only loopback is opened");
}

#[test]
fn heartbeats_reach_the_registry() {
    let registry = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", registry.local_addr().unwrap());
    let _turn = start_turn(
        "127.0.0.1:0",
        &["--registry", &url, "--node-token", "node-secret", "--node-id", "turn-test-1", "--region", "eu-west"],
    );
    registry.set_nonblocking(false).unwrap();
    let (mut conn, _) = registry.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&req).contains("\r\n\r\n") || !req.ends_with(b"}") {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
    let text = String::from_utf8_lossy(&req);
    assert!(text.starts_with("POST /v1/nodes/heartbeat "), "{text}");
    assert!(text.to_ascii_lowercase().contains("authorization: bearer node-secret"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let hb: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(hb["id"], "turn-test-1");
    assert_eq!(hb["kind"], "turn");
    assert_eq!(hb["region"], "eu-west");
    assert!(hb["addresses"]["ice_urls"][0].as_str().unwrap().starts_with("turn:127.0.0.1:"), "{hb}");
    assert!(hb["capacity"].as_u64().unwrap() > 0, "the first heartbeat says what the node can take: {hb}");
    let parsed: origo_shared::node::NodeHeartbeat = serde_json::from_value(hb).unwrap();
    assert_eq!(parsed.validate(&origo_shared::region::RegionCatalog::default()), Ok(()));
}

#[test]
fn sigterm_drains_refusing_new_allocations_then_exits_when_the_last_one_ends() {
    let mut turn = start_turn("127.0.0.1:0", &["--drain-secs", "60"]);
    let mut running = Client::new(turn.udp);
    running.allocate();
    let pid = turn.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let draining = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        metric(&http_get(&turn.metrics, "/metrics"), "origo_turn_draining") == 1.0
    });
    assert!(draining, "the node says it is draining");
    // A new client is refused with 508 (Insufficient Capacity) ...
    let mut late = Client::new(turn.udp);
    let res = late.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    late.nonce = Message::parse(&res).unwrap().get_str(NONCE).unwrap().to_owned();
    let res = late.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    let code = Message::parse(&res).unwrap().get(ERROR_CODE).and_then(decode_error_code).map(|(c, _)| c);
    assert_eq!(code, Some(508));
    // ... the running allocation goes on ...
    let res = running.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 600);
    });
    assert_eq!(Message::parse(&res).unwrap().class, Class::Success);
    assert!(turn.child.try_wait().unwrap().is_none(), "still running while an allocation lives");
    // (The metrics are a snapshot the relay loop publishes every second.)
    let counted = (0..30).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        metric(&http_get(&turn.metrics, "/metrics"), "origo_turn_drain_refused_total") == 1.0
    });
    assert!(counted, "the refusal is counted");
    // ... and once it ends the node exits, cleanly.
    let res = running.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 0);
    });
    assert_eq!(Message::parse(&res).unwrap().class, Class::Success);
    let exited = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        turn.child.try_wait().unwrap()
    });
    assert!(exited.is_some_and(|s| s.success()), "the node exits once its last allocation has ended: {exited:?}");
}

fn http_get(base: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
