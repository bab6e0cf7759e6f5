//! `origo-turn` under abuse, the real binary on loopback: allocation floods from one identity
//! with many credentials, relaying far over the bandwidth cap, slowloris and connection floods
//! over TCP, Binding floods, and relaying into the server's own listeners and relay sockets.
//! Each test asserts the documented refusal and that an ordinary client is still served.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::attribute::*;
use origo_turn::credentials::long_term_key;
use origo_turn::message::{Class, Message, MessageBuilder, method};

const SECRET: &str = "north-star";

struct Turn {
    child: Child,
    /// UDP and TCP (the same port).
    addr: SocketAddr,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_turn(extra: &[&str]) -> Turn {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_origo-turn"))
        .args(["--listen", "127.0.0.1:0", "--auth-secret", SECRET, "--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .env_remove("ORIGO_TURN_AUTH_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn origo-turn");
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
        |kind: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("origo-turn {kind} "))).unwrap().to_owned();
    Turn { child, addr: find("udp").parse().unwrap(), metrics: find("metrics"), _dir: dir }
}

impl Turn {
    /// A counter or gauge from `/metrics`, once the relay loop has published a snapshot that
    /// satisfies `ready` (it publishes once a second).
    fn metric_when(&self, name: &str, ready: impl Fn(f64) -> bool) -> f64 {
        let mut value = 0.0;
        for _ in 0..50 {
            value = metric(&http_get(&self.metrics, "/metrics"), name);
            if ready(value) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        value
    }

    fn metrics_port(&self) -> u16 {
        self.metrics.rsplit(':').next().unwrap().parse().unwrap()
    }
}

fn http_get(base: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
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

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn binding_request(tid: u8) -> Vec<u8> {
    MessageBuilder::new(method::BINDING, Class::Request, [tid; 12]).add_fingerprint().finish()
}

/// A TURN client over UDP on our own codec, with REST credentials for `user`.
struct Client {
    sock: UdpSocket,
    server: SocketAddr,
    username: String,
    key: Vec<u8>,
    nonce: String,
    tid: u8,
}

impl Client {
    /// `ttl` varies the credential: each join mints one with its own expiry.
    fn new(server: SocketAddr, user: &str, ttl: u64) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let creds = TurnSecrets::new([SECRET]).issue(user, now_unix(), ttl).unwrap();
        let key = long_term_key(&creds.username, "origo", &creds.password);
        Client { sock, server, username: creds.username, key, nonce: String::new(), tid: 0 }
    }

    fn request(&mut self, m: u16, build: impl FnOnce(&mut MessageBuilder)) -> Vec<u8> {
        self.tid += 1;
        let mut b = MessageBuilder::new(m, Class::Request, [self.tid; 12]);
        build(&mut b);
        if !self.nonce.is_empty() {
            b.add(USERNAME, self.username.as_bytes()).add(REALM, b"origo").add(NONCE, self.nonce.as_bytes());
            b.add_integrity(&self.key);
        }
        self.sock.send_to(&b.add_fingerprint().finish(), self.server).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("an answer");
        buf[..n].to_vec()
    }

    /// The relayed address, or the error code.
    fn allocate(&mut self) -> Result<SocketAddr, u16> {
        if self.nonce.is_empty() {
            let res = self.request(method::ALLOCATE, |b| {
                b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
            });
            self.nonce = Message::parse(&res).unwrap().get_str(NONCE).unwrap().to_owned();
        }
        let res = self.request(method::ALLOCATE, |b| {
            b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        });
        let m = Message::parse(&res).unwrap();
        match m.get(ERROR_CODE).and_then(decode_error_code) {
            Some((code, _)) => Err(code),
            None => Ok(m.get_xor_address(XOR_RELAYED_ADDRESS).unwrap()),
        }
    }

    fn error_of(res: &[u8]) -> Option<u16> {
        Message::parse(res).unwrap().get(ERROR_CODE).and_then(decode_error_code).map(|(c, _)| c)
    }

    fn permission(&mut self, peer: SocketAddr) -> Option<u16> {
        let res = self.request(method::CREATE_PERMISSION, |b| {
            b.add_xor_address(XOR_PEER_ADDRESS, peer);
        });
        Self::error_of(&res)
    }

    fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Option<u16> {
        let res = self.request(method::CHANNEL_BIND, |b| {
            b.add(CHANNEL_NUMBER, &[(channel >> 8) as u8, channel as u8, 0, 0]).add_xor_address(XOR_PEER_ADDRESS, peer);
        });
        Self::error_of(&res)
    }

    fn release(&mut self) {
        let res = self.request(method::REFRESH, |b| {
            b.add_u32(LIFETIME, 0);
        });
        assert_eq!(Self::error_of(&res), None);
    }

    fn send_indication(&self, peer: SocketAddr, data: &[u8]) {
        let mut b = MessageBuilder::new(method::SEND, Class::Indication, [9; 12]);
        b.add_xor_address(XOR_PEER_ADDRESS, peer).add(DATA, data);
        self.sock.send_to(&b.finish(), self.server).unwrap();
    }

    /// True when a datagram reaches the client within `wait`.
    fn hears_anything(&self, wait: Duration) -> bool {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 2048];
        let heard = self.sock.recv_from(&mut buf).is_ok();
        self.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        heard
    }
}

#[test]
fn one_identity_shares_one_quota_across_its_credentials() {
    let turn = start_turn(&["--user-quota", "2"]);
    // Three joins of one identity: three credentials, three clients.
    let mut first = Client::new(turn.addr, "mallory", 600);
    let mut second = Client::new(turn.addr, "mallory", 601);
    let mut third = Client::new(turn.addr, "mallory", 602);
    assert_ne!(first.username, second.username, "every join mints another credential");
    assert!(first.allocate().is_ok());
    assert!(second.allocate().is_ok());
    assert_eq!(third.allocate(), Err(486), "Allocation Quota Reached for the identity");
    // Another identity is not affected.
    assert!(Client::new(turn.addr, "trent", 600).allocate().is_ok());
    // Releasing one allocation frees a place for any credential of the identity.
    first.release();
    assert!(third.allocate().is_ok());
    assert_eq!(turn.metric_when("origo_turn_quota_refused_total", |v| v >= 1.0), 1.0);
}

/// A UDP peer on loopback counting what reaches it until it has been quiet for a second.
struct CountingPeer {
    addr: SocketAddr,
    received: Arc<Mutex<(usize, Option<Instant>)>>,
    done: std::thread::JoinHandle<()>,
}

fn counting_peer() -> CountingPeer {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let received = Arc::new(Mutex::new((0usize, None)));
    let r = received.clone();
    let done = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let mut g = r.lock().unwrap();
            g.0 += n;
            g.1 = Some(Instant::now());
            sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        }
    });
    CountingPeer { addr, received, done }
}

#[test]
fn the_bandwidth_cap_bounds_what_one_allocation_relays() {
    // 400 kbit/s = 50 000 bytes a second each way, with a second's worth of burst.
    let (rate, burst) = (50_000.0, 50_000.0);
    let turn = start_turn(&["--allow-loopback-peers", "--max-bps", "400000"]);
    let peer = counting_peer();
    let mut c = Client::new(turn.addr, "alice", 600);
    c.allocate().unwrap();
    assert_eq!(c.permission(peer.addr), None);
    let payload = [0x5au8; 1000];
    let start = Instant::now();
    let sent = 1500 * payload.len();
    for _ in 0..1500 {
        c.send_indication(peer.addr, &payload);
    }
    peer.done.join().unwrap();
    let (received, last) = *peer.received.lock().unwrap();
    let Some(last) = last else { panic!("nothing relayed\n{}", http_get(&turn.metrics, "/metrics")) };
    let span = last.duration_since(start).as_secs_f64();
    // Nothing can pass faster than the bucket refills; allow half as much again.
    let bound = 1.5 * (burst + rate * span);
    println!("relayed {received} of {sent} bytes in {span:.2} s (bound {bound:.0})");
    assert!(received >= payload.len(), "the cap still lets traffic through");
    assert!(
        (received as f64) <= bound,
        "relayed {received} of {sent} bytes in {span:.2} s, over the cap's bound of {bound:.0}"
    );
    assert!(turn.metric_when("origo_turn_dropped_over_bandwidth_total", |v| v > 0.0) > 0.0);
    assert!(turn.metric_when("origo_turn_dropped_over_bandwidth_bytes_total", |v| v > 0.0) > 0.0);
}

/// True when the server closes `s` within 20 s (end of stream or a reset); false if it stays open.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return true,
            Err(_) => return false,
        }
    }
}

/// A Binding over `s`, answered within 5 s.
fn tcp_binding(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if s.write_all(&binding_request(1)).is_err() {
        return false;
    }
    let mut buf = [0u8; 20];
    if s.read_exact(&mut buf).is_err() {
        return false;
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).is_ok() && u16::from_be_bytes([buf[0], buf[1]]) == 0x0101
}

#[test]
fn slowloris_and_silent_tcp_connections_are_closed_after_the_timeouts() {
    let turn = start_turn(&["--tcp-idle-timeout", "3", "--tcp-frame-timeout", "1"]);
    // A client dribbling a Binding request one byte every 300 ms (28 bytes: over 8 s).
    let mut slow = TcpStream::connect(turn.addr).unwrap();
    let mut writer = slow.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = stop.clone();
    let dribble = std::thread::spawn(move || {
        let mut b = MessageBuilder::new(method::BINDING, Class::Request, [7; 12]);
        b.add(SOFTWARE, b"slowloris");
        for byte in b.finish() {
            if stop_writer.load(Ordering::Relaxed) || writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    // A client that connects and says nothing.
    let mut silent = TcpStream::connect(turn.addr).unwrap();
    // An ordinary client is answered meanwhile.
    let mut ordinary = TcpStream::connect(turn.addr).unwrap();
    assert!(tcp_binding(&mut ordinary));

    assert!(closed_by_server(&mut slow), "the slowloris connection stays open");
    stop.store(true, Ordering::Relaxed);
    dribble.join().unwrap();
    assert!(closed_by_server(&mut silent), "the silent connection stays open");
    assert!(turn.metric_when("origo_turn_tcp_closed_incomplete_total", |v| v >= 1.0) >= 1.0);
    assert!(turn.metric_when("origo_turn_tcp_closed_idle_total", |v| v >= 2.0) >= 2.0, "silent and ordinary");
    // New connections are still served.
    assert!(tcp_binding(&mut TcpStream::connect(turn.addr).unwrap()));
}

/// A TCP connection to `server` from the source address `from`.
fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(from, 0)).unwrap();
        let s = sock.connect(server).await.unwrap().into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s
    })
}

#[test]
fn tcp_connections_per_source_are_capped() {
    let turn = start_turn(&["--max-tcp-connections-per-ip", "2"]);
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(turn.addr).unwrap()).collect();
    for s in &mut held {
        assert!(tcp_binding(s), "connections within the cap are served");
    }
    let mut extra = TcpStream::connect(turn.addr).unwrap();
    assert!(closed_by_server(&mut extra), "the third connection from one source is refused");
    assert!(!tcp_binding(&mut extra));
    // Another source is served.
    let mut other = connect_from("127.0.0.2".parse().unwrap(), turn.addr);
    assert!(tcp_binding(&mut other));
    assert_eq!(turn.metric_when("origo_turn_tcp_refused_per_ip_cap_total", |v| v >= 1.0), 1.0);
    // Closing one frees its place.
    drop(held.pop());
    let served = (0..50).any(|_| {
        let ok = tcp_binding(&mut TcpStream::connect(turn.addr).unwrap());
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(served, "a place freed by a closed connection is taken again");
}

/// Binding requests sent from `sock`, and how many answers came back.
fn binding_flood(sock: &UdpSocket, server: SocketAddr, n: u8) -> usize {
    for i in 0..n {
        sock.send_to(&binding_request(i), server).unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut buf = [0u8; 512];
    let mut answers = 0;
    while sock.recv_from(&mut buf).is_ok() {
        answers += 1;
    }
    answers
}

#[test]
fn a_binding_flood_from_one_source_leaves_other_sources_answered() {
    let (rate, burst) = (2.0, 10.0);
    let turn = start_turn(&["--unauth-rate", "2", "--unauth-burst", "10"]);
    let flooder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let answered = binding_flood(&flooder, turn.addr, 250);
    let span = start.elapsed().as_secs_f64();
    let bound = burst + rate * span;
    println!("{answered} of 250 Binding requests answered in {span:.2} s (bound {bound:.0})");
    assert!(answered >= 1, "the first requests are answered");
    assert!(answered as f64 <= bound, "{answered} of 250 answered in {span:.2} s, over {bound:.0}");
    // Another source (another loopback address) still gets its answer, from coturn's client too.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    assert_eq!(binding_flood(&other, turn.addr, 1), 1);
    let out = Command::new("turnutils_stunclient")
        .args(["-L", "127.0.0.3", "-p", &turn.addr.port().to_string(), "127.0.0.1"])
        .output()
        .expect("turnutils_stunclient is installed (Debian coturn)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("UDP reflexive addr: 127.0.0.3:"), "{text}");
    let dropped = turn.metric_when("origo_turn_binding_dropped_total", |v| v >= 200.0);
    assert!(dropped >= (250 - answered) as f64, "{dropped} dropped");
}

#[test]
fn the_servers_own_listeners_and_relay_ports_are_refused_as_peers() {
    let turn = start_turn(&["--allow-loopback-peers"]);
    let peer = counting_peer();
    let mut a = Client::new(turn.addr, "alice", 600);
    let mut b = Client::new(turn.addr, "bob", 600);
    let relay_a = a.allocate().unwrap();
    let relay_b = b.allocate().unwrap();
    let metrics_listener = SocketAddr::new(turn.addr.ip(), turn.metrics_port());
    for own in [turn.addr, relay_a, relay_b, metrics_listener] {
        assert_eq!(a.permission(own), Some(403), "{own} is the server's own");
    }
    assert_eq!(a.channel_bind(0x4000, turn.addr), Some(403));
    assert_eq!(a.channel_bind(0x4001, relay_b), Some(403));
    // Another loopback port is an ordinary peer while loopback peers are allowed.
    assert_eq!(a.permission(peer.addr), None);
    assert_eq!(a.channel_bind(0x4002, peer.addr), None);
    // The permissions are for the IP; Send indications to own ports are still dropped: a
    // Binding sent to the listener from the relay is not answered, and B, which permits the
    // loopback IP too, hears nothing from A's relay.
    assert_eq!(b.permission(peer.addr), None);
    a.send_indication(turn.addr, &binding_request(3));
    a.send_indication(relay_b, b"into another allocation");
    assert!(!a.hears_anything(Duration::from_millis(800)), "the listener answered through the relay");
    assert!(!b.hears_anything(Duration::from_millis(200)), "one allocation relayed into another");
    a.send_indication(peer.addr, b"to the peer");
    peer.done.join().unwrap();
    assert_eq!(peer.received.lock().unwrap().0, b"to the peer".len());
    let denied = turn.metric_when("origo_turn_denied_own_addresses_total", |v| v >= 8.0);
    assert_eq!(denied, 8.0);
}
