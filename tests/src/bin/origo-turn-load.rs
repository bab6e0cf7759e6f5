//! TURN allocation load: creates allocations as fast as the server grants them, each from its
//! own UDP socket (its own 5-tuple), with TURN REST credentials. Works against any TURN server
//! that accepts the REST scheme (origo-turn, coturn with --use-auth-secret).
//!
//! A nonce from a 401/438 is reused for the next allocations while the server accepts it;
//! servers that bind nonces to the 5-tuple cost one more round trip per allocation.
//! Prints one JSON object.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::attribute::*;
use origo_turn::credentials::long_term_key;
use origo_turn::message::{Class, Message, MessageBuilder, method};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

#[derive(Parser, Debug)]
struct Args {
    /// TURN server UDP address.
    server: SocketAddr,
    #[arg(long)]
    secret: String,
    #[arg(long, default_value = "origo")]
    realm: String,
    /// Allocations to create.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Allocations in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// After the run, keep the sockets open until stdin closes (to measure live allocations).
    #[arg(long)]
    hold: bool,
    /// Relay mode: instead of counting allocations, each of `--concurrency` clients binds a
    /// channel to an echo peer inside this tool and sends ChannelData of `--size` bytes as
    /// fast as its window allows for `--seconds`; reports packets echoed back per second.
    #[arg(long)]
    relay: bool,
    #[arg(long, default_value_t = 172)]
    size: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Packets each relay client keeps in flight.
    #[arg(long, default_value_t = 16)]
    window: usize,
}

struct Shared {
    args: Args,
    username: String,
    key: Vec<u8>,
    nonce: Mutex<String>,
    next: AtomicUsize,
    ok: AtomicUsize,
    failed: AtomicUsize,
    round_trips: AtomicU64,
}

async fn exchange(sock: &UdpSocket, req: &[u8], rtts: &AtomicU64) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    for attempt in 0..4u32 {
        rtts.fetch_add(1, Ordering::Relaxed);
        sock.send(req).await.ok()?;
        let wait = Duration::from_millis(250 << attempt);
        if let Ok(Ok(n)) = tokio::time::timeout(wait, sock.recv(&mut buf)).await {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

fn allocate_request(s: &Shared, tid: [u8; 12], nonce: &str) -> Vec<u8> {
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, tid);
    b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    if !nonce.is_empty() {
        b.add(USERNAME, s.username.as_bytes()).add(REALM, s.args.realm.as_bytes()).add(NONCE, nonce.as_bytes());
        b.add_integrity(&s.key);
    }
    b.add_fingerprint();
    b.finish()
}

/// One allocation on a fresh socket; returns the socket (to hold) and the nonce that worked.
async fn one(s: &Shared, i: usize) -> Option<(UdpSocket, String)> {
    let bind = if s.args.server.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(s.args.server).await.ok()?;
    let mut tid = [0u8; 12];
    tid[..8].copy_from_slice(&(i as u64).to_be_bytes());
    for round in 0..3u8 {
        tid[11] = round;
        let nonce = s.nonce.lock().await.clone();
        let res = exchange(&sock, &allocate_request(s, tid, &nonce), &s.round_trips).await?;
        let m = Message::parse(&res).ok()?;
        match m.class {
            Class::Success => return Some((sock, nonce)),
            Class::Error => {
                let code = m.get(ERROR_CODE).and_then(decode_error_code).map(|(c, _)| c);
                match (code, m.get_str(NONCE)) {
                    (Some(401 | 438), Some(n)) => *s.nonce.lock().await = n.to_owned(),
                    _ => {
                        eprintln!("allocation {i} refused: {code:?}");
                        return None;
                    }
                }
            }
            _ => return None,
        }
    }
    None
}

/// A channel-bound relay client: returns (sent, received) over the run.
async fn relay_client(s: Arc<Shared>, i: usize, peer: SocketAddr, until: Instant) -> Option<(u64, u64)> {
    // Some servers bind nonces to the 5-tuple: use the one this socket's allocation used.
    let (sock, nonce) = one(&s, i).await?;
    let mut tid = [9u8; 12];
    tid[..8].copy_from_slice(&(i as u64).to_be_bytes());
    let mut b = MessageBuilder::new(method::CHANNEL_BIND, Class::Request, tid);
    b.add(CHANNEL_NUMBER, &[0x40, 0x01, 0, 0])
        .add_xor_address(XOR_PEER_ADDRESS, peer)
        .add(USERNAME, s.username.as_bytes())
        .add(REALM, s.args.realm.as_bytes())
        .add(NONCE, nonce.as_bytes())
        .add_integrity(&s.key);
    b.add_fingerprint();
    let res = exchange(&sock, &b.finish(), &s.round_trips).await?;
    if Message::parse(&res).ok()?.class != Class::Success {
        eprintln!("client {i}: channel bind refused");
        return None;
    }
    let mut frame = Vec::with_capacity(4 + s.args.size);
    origo_turn::channel_data::write(&mut frame, 0x4001, &vec![0x5a; s.args.size], false);
    let (mut sent, mut recv) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    // Keep `window` packets in flight; a packet not back within 50 ms counts as lost.
    for _ in 0..s.args.window {
        if sock.send(&frame).await.is_ok() {
            sent += 1;
        }
    }
    while Instant::now() < until {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(50), sock.recv(&mut buf)).await {
            recv += 1;
        }
        if sock.send(&frame).await.is_ok() {
            sent += 1;
        }
    }
    // Collect what is still in flight.
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), sock.recv(&mut buf)).await {
        recv += 1;
    }
    Some((sent, recv))
}

async fn relay_run(shared: Arc<Shared>) -> anyhow::Result<()> {
    // The echo peer: sends every datagram back where it came from (the relay address).
    let echo = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let peer = echo.local_addr()?;
    let e = echo.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = e.recv_from(&mut buf).await {
            let _ = e.send_to(&buf[..n], from).await;
        }
    });
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(shared.args.seconds);
    let mut tasks = Vec::new();
    for i in 0..shared.args.concurrency.max(1) {
        tasks.push(tokio::spawn(relay_client(shared.clone(), i, peer, until)));
    }
    let (mut sent, mut recv, mut clients) = (0u64, 0u64, 0usize);
    for t in tasks {
        if let Some((s, r)) = t.await? {
            sent += s;
            recv += r;
            clients += 1;
        }
    }
    let secs = shared.args.seconds;
    println!(
        "{}",
        serde_json::json!({
            "server": shared.args.server.to_string(),
            "clients": clients,
            "sent": sent,
            "received": recv,
            "loss_pct": if sent > 0 { 100.0 * (sent.saturating_sub(recv)) as f64 / sent as f64 } else { 100.0 },
            "received_per_sec": recv as f64 / secs,
            "relayed_per_sec": 2.0 * recv as f64 / secs,
        })
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secrets = TurnSecrets::new([args.secret.as_bytes()]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let creds = secrets.issue("load", now, 3600).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = long_term_key(&creds.username, &args.realm, &creds.password);
    let shared = Arc::new(Shared {
        username: creds.username,
        key,
        nonce: Mutex::new(String::new()),
        next: AtomicUsize::new(0),
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        round_trips: AtomicU64::new(0),
        args,
    });
    if shared.args.relay {
        return relay_run(shared).await;
    }
    let held = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..shared.args.concurrency.max(1) {
        let (s, held) = (shared.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = s.next.fetch_add(1, Ordering::Relaxed);
                if i >= s.args.count {
                    break;
                }
                match one(&s, i).await {
                    Some((sock, _)) => {
                        s.ok.fetch_add(1, Ordering::Relaxed);
                        // Keep every socket for the whole run: a closed socket's port may be
                        // reused for a later allocation, which the server rightly refuses (437).
                        held.lock().await.push(sock);
                    }
                    None => {
                        s.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let ok = shared.ok.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "server": shared.args.server.to_string(),
            "allocations": ok,
            "failed": shared.failed.load(Ordering::Relaxed),
            "seconds": secs,
            "allocations_per_sec": ok as f64 / secs,
            "round_trips_per_allocation": shared.round_trips.load(Ordering::Relaxed) as f64 / ok.max(1) as f64,
        })
    );
    if shared.args.hold {
        // Block until stdin closes; the sockets (and so the allocations' clients) stay alive.
        let _ = tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
        drop(held);
    }
    Ok(())
}
