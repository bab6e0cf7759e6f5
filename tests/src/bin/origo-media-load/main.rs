//! A media load generator for SFUs: str0m clients (no decoding) publish synthetic VP8 frames at a
//! fixed rate and bitrate through an Origo media node; subscribers count what arrives.
//!
//! `--publishers P --subscribers S`: every subscriber subscribes to every publisher (1→N with
//! P=1, N×N with S=0 and `--mesh`). With `--subscriber-base` the subscribers are on a second
//! node, linked to the publishers' (a cascaded room). Prints one JSON object: frames sent,
//! frames expected and received by subscribers, loss, each received frame's one-way latency
//! (percentiles), and the run's duration. The nodes' own counters and CPU are read by the
//! benchmark script.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use origo_shared::token::{Claims, Grants, TokenKind};
use origo_tests::latency::Latencies;
use serde_json::json;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

mod cascade;
mod janus;
mod stamp;

/// The clock every frame's send time is written against (one process, one clock).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The SFU under load.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Target {
    /// An Origo media node (`--base` is its control API, e.g. http://127.0.0.1:7880).
    Origo,
    /// Janus's VideoRoom plugin (`--base` is its HTTP API, e.g. http://127.0.0.1:8088/janus).
    Janus,
}

#[derive(Parser, Debug)]
struct Args {
    /// The SFU's API: an Origo media node's control API or Janus's HTTP API.
    #[arg(long)]
    base: String,
    #[arg(long, value_enum, default_value_t = Target::Origo)]
    target: Target,
    /// Janus's Admin API (`http://127.0.0.1:7088/admin`): Janus's own RTP counters are read
    /// from it at the end of the run.
    #[arg(long)]
    janus_admin: Option<String>,
    #[arg(long, default_value = "janusoverlord")]
    janus_admin_secret: String,
    /// The loopback address the clients use (Janus's ICE pairs only with a non-`lo` address,
    /// so its bench runs them on 127.0.0.2 in a network namespace).
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: std::net::IpAddr,
    /// The node id tokens are issued for.
    #[arg(long, default_value = "media-1")]
    node_id: String,
    /// A second Origo node's control API for the subscribers: the publishers' node (`--base`)
    /// is linked to it first, as a room's coordinator would order (needs `--node-secret`).
    #[arg(long)]
    subscriber_base: Option<String>,
    /// The second node's id.
    #[arg(long, default_value = "media-2")]
    subscriber_node_id: String,
    /// The nodes' shared secret (`ORIGO_NODE_SECRET` of both), to order the link.
    #[arg(long)]
    node_secret: Option<String>,
    /// The deployment's token signing keys (to mint participant tokens; Origo only).
    #[arg(long, default_value = "")]
    token_signing_keys: String,
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Every publisher also subscribes to every other publisher (N×N).
    #[arg(long)]
    mesh: bool,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    #[arg(long, default_value_t = 600)]
    kbps: u32,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
}

struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
}

fn token(keys: &str, node: &str, identity: &str, publish: bool) -> anyhow::Result<String> {
    let config =
        origo_shared::token::TokenConfig::from_variables(|n| (n == "token_signing_keys").then(|| keys.to_owned()))
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut grants = Grants::participant(cascade::ROOM);
    grants.publish = publish;
    let claims = Claims::new("origo", "origo", identity, now, 3600)
        .with_kind(TokenKind::Participant)
        .with_org(cascade::ORG)
        .with_node(node)
        .with_grants(grants);
    config.issue(&claims).map_err(|e| anyhow::anyhow!("{}", e.message))
}

struct Peer {
    rtc: Rtc,
    send_mid: Option<str0m::media::Mid>,
    connected: bool,
    socket: UdpSocket,
    local: SocketAddr,
    /// The Origo session's URL, or the Janus handle.
    session: String,
    token: String,
    /// The SFU asked for a keyframe (a subscriber joined, or a layer switch).
    keyframe_wanted: bool,
}

impl Peer {
    /// A peer whose session (Origo session id or Janus handle) is set up, not yet connected.
    fn new(
        rtc: Rtc,
        socket: UdpSocket,
        local: SocketAddr,
        send_mid: Option<str0m::media::Mid>,
        session: String,
        token: String,
    ) -> Self {
        Peer { rtc, send_mid, connected: false, socket, local, session, token, keyframe_wanted: false }
    }
}

/// A session on the Origo node at `base` (named `node`).
async fn open(
    args: &Args,
    http: &reqwest::Client,
    (base, node): (&str, &str),
    identity: &str,
    publish: bool,
) -> anyhow::Result<Peer> {
    let (mut rtc, socket, local) = client(args.client_ip).await?;
    let mut api = rtc.sdp_api();
    let send_mid = publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    api.add_channel("control".into());
    let (offer, pending) = api.apply().ok_or_else(|| anyhow::anyhow!("no offer"))?;
    let token = token(&args.token_signing_keys, node, identity, publish)?;
    let res: serde_json::Value = http
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "offer": offer }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let answer: SdpAnswer = serde_json::from_value(res["answer"].clone())?;
    rtc.sdp_api().accept_answer(pending, answer)?;
    let session = format!("{base}/v1/sessions/{}", res["session_id"].as_str().unwrap_or_default());
    Ok(Peer::new(rtc, socket, local, send_mid, session, token))
}

/// Sends what the peer has to send; returns its next timeout and the media frames it received
/// (each with its one-way latency when it carries a send time), or `None` when the peer failed.
async fn flush(p: &mut Peer) -> Option<(Instant, Vec<Option<Duration>>)> {
    let mut frames = Vec::new();
    loop {
        match p.rtc.poll_output() {
            Ok(Output::Timeout(t)) => return Some((t, frames)),
            Ok(Output::Transmit(t)) => {
                let _ = p.socket.send_to(&t.contents, t.destination).await;
            }
            Ok(Output::Event(Event::Connected)) => p.connected = true,
            Ok(Output::Event(Event::MediaData(d))) => frames.push(stamp::age(&d.data, *EPOCH, Instant::now())),
            Ok(Output::Event(Event::KeyframeRequest(_))) => p.keyframe_wanted = true,
            Ok(Output::Event(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Waits up to `wait` for a datagram (fed to the peer) or lets its clock advance.
async fn receive_or_tick(p: &mut Peer, buf: &mut [u8], wait: Duration) {
    tokio::select! {
        r = p.socket.recv_from(buf) => {
            if let Ok((len, source)) = r
                && let Ok(receive) = Receive::new(Protocol::Udp, source, p.local, &buf[..len])
            {
                let _ = p.rtc.handle_input(Input::Receive(Instant::now(), receive));
            }
        }
        () = tokio::time::sleep(wait) => {
            let _ = p.rtc.handle_input(Input::Timeout(Instant::now()));
        }
    }
}

/// Drives one peer until `until`; publishers write a frame every 1/fps. Returns the one-way
/// latencies of the frames it received while counting.
async fn drive(
    mut p: Peer,
    publish: bool,
    args: Arc<Args>,
    totals: Arc<Totals>,
    start_at: Instant,
    until: Instant,
) -> Latencies {
    let mut latencies = Latencies::default();
    let mut buf = vec![0u8; 2000];
    let frame_bytes = (args.kbps as usize * 1000 / 8 / args.fps as usize).max(100);
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.fps));
    let mut next_frame = start_at;
    let mut n: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= until {
            return latencies;
        }
        let Some((timeout, frames)) = flush(&mut p).await else { return latencies };
        if now >= start_at {
            totals.received.fetch_add(frames.len() as u64, Ordering::Relaxed);
            for age in frames.into_iter().flatten() {
                latencies.record(age);
            }
        }
        if publish && p.connected && now >= next_frame {
            next_frame += interval;
            if let Some(mid) = p.send_mid
                && let Some(w) = p.rtc.writer(mid)
            {
                let vp8 = w.payload_params().find(|x| x.spec().codec == Codec::Vp8).map(|x| x.pt());
                let Some(pt) = vp8 else { continue };
                // A keyframe every two seconds, and when the SFU asks (encoders do the same).
                let key = n.is_multiple_of(60) || std::mem::take(&mut p.keyframe_wanted);
                let mut data =
                    vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
                data.resize(frame_bytes, (n % 251) as u8);
                stamp::write(&mut data, *EPOCH, now);
                let time = MediaTime::from_90khz(n * 90_000 / u64::from(args.fps));
                if w.write(pt, now, time, data).is_ok() && now >= start_at {
                    totals.sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            continue;
        }
        let wake = if publish && p.connected { timeout.min(next_frame) } else { timeout };
        let wait = wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
        receive_or_tick(&mut p, &mut buf, wait).await;
    }
}

/// Subscribes `p` to everything published in the room (one renegotiation).
async fn subscribe_all(http: &reqwest::Client, p: &mut Peer) -> anyhow::Result<()> {
    let url = &p.session;
    let res: serde_json::Value = http
        .patch(url)
        .bearer_auth(&p.token)
        .json(&serde_json::json!({ "subscribe": ["all"] }))
        .send()
        .await?
        .json()
        .await?;
    if let Some(offer) = res.get("offer") {
        let offer: SdpOffer = serde_json::from_value(offer.clone())?;
        let answer = p.rtc.sdp_api().accept_offer(offer)?;
        http.patch(url)
            .bearer_auth(&p.token)
            .json(&serde_json::json!({ "answer": answer }))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

/// Runs a peer's I/O for `d` (to get connected) before the measured run starts.
async fn warm(p: &mut Peer, d: Duration) {
    let until = Instant::now() + d;
    let mut buf = vec![0u8; 2000];
    while Instant::now() < until {
        let Some((timeout, _)) = flush(p).await else { return };
        let wait = timeout.saturating_duration_since(Instant::now()).min(Duration::from_millis(20));
        receive_or_tick(p, &mut buf, wait).await;
    }
}

/// Drives every peer until the end of the run (publishers write frames); returns the frames
/// published and received while counting (it starts 2 s in, once the last peers connect), and
/// the received frames' one-way latencies.
async fn run(args: &Arc<Args>, pubs: Vec<Peer>, subs: Vec<Peer>) -> (u64, u64, Latencies) {
    let totals = Arc::new(Totals { sent: AtomicU64::new(0), received: AtomicU64::new(0) });
    let start_at = Instant::now() + Duration::from_secs(2);
    let until = start_at + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for (p, publish) in pubs.into_iter().map(|p| (p, true)).chain(subs.into_iter().map(|s| (s, false))) {
        tasks.push(tokio::spawn(drive(p, publish, args.clone(), totals.clone(), start_at, until)));
    }
    let mut latencies = Latencies::default();
    for t in tasks {
        if let Ok(l) = t.await {
            latencies.merge(l);
        }
    }
    (totals.sent.load(Ordering::Relaxed), totals.received.load(Ordering::Relaxed), latencies)
}

/// Prints the run's one JSON line; `server` is the SFU's own (packets in, packets out).
fn report(
    args: &Args,
    target: &str,
    (sent, received, mut latencies): (u64, u64, Latencies),
    server: Option<(u64, u64)>,
) {
    let receivers_per_frame = args.subscribers as u64 + if args.mesh { args.publishers as u64 - 1 } else { 0 };
    let expected = sent * receivers_per_frame;
    let mut out = json!({
        "target": target,
        "publishers": args.publishers, "subscribers": args.subscribers, "mesh": args.mesh,
        "frames_sent": sent, "frames_expected": expected, "frames_received": received,
        "loss": if expected > 0 { 1.0 - received as f64 / expected as f64 } else { 0.0 },
        "duration_s": args.duration,
        "cascaded": args.subscriber_base.is_some(),
        "latency_ms": {
            "samples": latencies.len(),
            "p50": latencies.quantile_ms(0.5), "p90": latencies.quantile_ms(0.9),
            "p99": latencies.quantile_ms(0.99), "max": latencies.quantile_ms(1.0),
        },
    });
    if let Some((packets_in, packets_out)) = server {
        out["server_packets_in"] = json!(packets_in);
        out["server_packets_out"] = json!(packets_out);
    }
    println!("{out}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let http = reqwest::Client::new();
    if args.target == Target::Janus {
        return main_janus(args, http).await;
    }
    let home = (args.base.as_str(), args.node_id.as_str());
    let mut pubs = Vec::new();
    for i in 0..args.publishers {
        pubs.push(open(&args, &http, home, &format!("pub-{i}"), true).await?);
    }
    for p in &mut pubs {
        warm(p, Duration::from_millis(300)).await;
    }
    let away = match &args.subscriber_base {
        Some(to) => {
            let secret =
                args.node_secret.as_deref().ok_or_else(|| anyhow::anyhow!("--subscriber-base needs --node-secret"))?;
            cascade::link(&http, secret, &args.base, to, &args.subscriber_node_id, args.publishers).await?;
            (to.as_str(), args.subscriber_node_id.as_str())
        }
        None => home,
    };
    let mut subs = Vec::new();
    for i in 0..args.subscribers {
        let mut s = open(&args, &http, away, &format!("sub-{i}"), false).await?;
        warm(&mut s, Duration::from_millis(50)).await;
        subscribe_all(&http, &mut s).await?;
        subs.push(s);
    }
    if args.mesh {
        for p in &mut pubs {
            subscribe_all(&http, p).await?;
        }
    }
    let measured = run(&args, pubs, subs).await;
    report(&args, "origo", measured, None);
    Ok(())
}

/// A str0m client on a fresh loopback UDP socket: full ICE (not lite), one host candidate.
/// (`open` can use it too.)
async fn client(ip: std::net::IpAddr) -> anyhow::Result<(Rtc, UdpSocket, SocketAddr)> {
    anyhow::ensure!(ip.is_loopback(), "--client-ip must be a loopback address");
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let local = socket.local_addr()?;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    Ok((rtc, socket, local))
}

/// How long one Janus request may take to produce its event.
const JANUS_WAIT: Duration = Duration::from_secs(10);

/// Publishes one video track through Janus; returns the peer, its handle and its feed id.
async fn janus_publisher(
    args: &Args,
    j: &janus::Session,
    room: u64,
    identity: &str,
) -> anyhow::Result<(Peer, u64, u64)> {
    let (mut rtc, socket, local) = client(args.client_ip).await?;
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    // No data channel: the VideoRoom would accept one, but it is not part of the workload.
    let (offer, pending) = api.apply().ok_or_else(|| anyhow::anyhow!("no offer"))?;
    let mut h = j.attach().await?;
    j.message(&h, json!({ "request": "join", "ptype": "publisher", "room": room, "display": identity }), None).await?;
    let joined = h.wait(JANUS_WAIT, |e| e["plugindata"]["data"]["videoroom"] == "joined").await?;
    let feed = joined["plugindata"]["data"]["id"].as_u64().ok_or_else(|| anyhow::anyhow!("no feed id"))?;
    // SdpOffer serialises as {"type":"offer","sdp":"..."}: exactly Janus's `jsep`.
    j.message(&h, json!({ "request": "publish" }), Some(serde_json::to_value(&offer)?)).await?;
    let ev = h.wait(JANUS_WAIT, |e| e.get("jsep").is_some()).await?;
    janus::loopback_only(ev["jsep"]["sdp"].as_str().unwrap_or_default())?;
    let answer: SdpAnswer = serde_json::from_value(ev["jsep"].clone())?;
    rtc.sdp_api().accept_answer(pending, answer)?;
    Ok((Peer::new(rtc, socket, local, Some(mid), h.id.to_string(), String::new()), h.id, feed))
}

/// Subscribes one peer to `feeds` (one PeerConnection, one m-line per feed): Janus offers,
/// str0m answers. Returns the peer and its handle.
async fn janus_subscriber(args: &Args, j: &janus::Session, room: u64, feeds: &[u64]) -> anyhow::Result<(Peer, u64)> {
    let (mut rtc, socket, local) = client(args.client_ip).await?;
    let mut h = j.attach().await?;
    let streams: Vec<serde_json::Value> = feeds.iter().map(|f| json!({ "feed": f })).collect();
    j.message(&h, json!({ "request": "join", "ptype": "subscriber", "room": room, "streams": streams }), None).await?;
    // `attached`, with Janus's offer (Janus is the ICE controlling side and offers actpass;
    // str0m answers passive, so Janus is the DTLS client, as it is for publishers).
    let ev = h.wait(JANUS_WAIT, |e| e.get("jsep").is_some()).await?;
    janus::loopback_only(ev["jsep"]["sdp"].as_str().unwrap_or_default())?;
    let offer: SdpOffer = serde_json::from_value(ev["jsep"].clone())?;
    let answer = rtc.sdp_api().accept_offer(offer)?;
    j.message(&h, json!({ "request": "start" }), Some(serde_json::to_value(&answer)?)).await?;
    h.wait(JANUS_WAIT, |e| e["plugindata"]["data"]["started"] == "ok").await?;
    Ok((Peer::new(rtc, socket, local, None, h.id.to_string(), String::new()), h.id))
}

/// Runs a peer's I/O until it is connected (ICE + DTLS), at most `max`.
async fn connect(p: &mut Peer, max: Duration) -> bool {
    let until = Instant::now() + max;
    let mut buf = vec![0u8; 2000];
    while !p.connected && Instant::now() < until {
        let Some((timeout, _)) = flush(p).await else { return false };
        let wait = timeout.saturating_duration_since(Instant::now()).min(Duration::from_millis(20));
        receive_or_tick(p, &mut buf, wait).await;
    }
    p.connected
}

async fn main_janus(args: Arc<Args>, http: reqwest::Client) -> anyhow::Result<()> {
    let j = janus::Session::create(&http, &args.base).await?;
    let ctl = j.attach().await?;
    let room = 1_000_000 + u64::from(std::process::id());
    j.message(
        &ctl,
        json!({
            "request": "create", "room": room, "is_private": true, "description": "origo-media-load",
            // The room's cap on concurrent publishers (3 when missing); subscribers are unlimited.
            "publishers": args.publishers.max(1),
            // REMB cap sent to publishers (str0m ignores it); no periodic FIR/PLI.
            "bitrate": u64::from(args.kbps) * 2000, "fir_freq": 0,
            "videocodec": "vp8", "audiocodec": "opus", "record": false,
        }),
        None,
    )
    .await?;
    let mut handles = vec![ctl.id];
    let mut pubs = Vec::new();
    let mut feeds = Vec::new();
    for i in 0..args.publishers {
        let (mut p, h, feed) = janus_publisher(&args, &j, room, &format!("pub-{i}")).await?;
        // A feed can be subscribed to once its publisher is up (webrtcup).
        if !connect(&mut p, Duration::from_secs(5)).await {
            anyhow::bail!("publisher {i} did not connect to Janus");
        }
        pubs.push(p);
        feeds.push(feed);
        handles.push(h);
    }
    let mut subs = Vec::new();
    for _ in 0..args.subscribers {
        let (mut s, h) = janus_subscriber(&args, &j, room, &feeds).await?;
        warm(&mut s, Duration::from_millis(50)).await;
        subs.push(s);
        handles.push(h);
    }
    if args.mesh {
        for me in &feeds {
            let others: Vec<u64> = feeds.iter().copied().filter(|f| f != me).collect();
            if others.is_empty() {
                continue;
            }
            let (mut s, h) = janus_subscriber(&args, &j, room, &others).await?;
            warm(&mut s, Duration::from_millis(50)).await;
            subs.push(s);
            handles.push(h);
        }
    }
    let measured = run(&args, pubs, subs).await;
    // Janus's own counters, read while the handles still exist (they count the whole run, set-up
    // included, like the node's `origo_media_datagrams_out_total` in tests/bench/media; RTP only).
    let server = match &args.janus_admin {
        Some(admin) => Some(janus::rtp_packets(&http, admin, &args.janus_admin_secret, j.id, &handles).await?),
        None => None,
    };
    let _ = j.message(&ctl, json!({ "request": "destroy", "room": room }), None).await;
    j.destroy().await;
    report(&args, "janus", measured, server);
    Ok(())
}
