//! A media load generator for SFUs: str0m clients (no decoding) publish synthetic VP8 frames at a
//! fixed rate and bitrate through an Origo media node; subscribers count what arrives.
//!
//! `--publishers P --subscribers S`: every subscriber subscribes to every publisher (1→N with
//! P=1, N×N with S=0 and `--mesh`), in each of `--rooms` rooms; `--audio` adds an Opus-sized
//! audio track to every publisher. With `--subscriber-base` the subscribers are on a second
//! node, linked to the publishers' (a cascaded room). Prints one JSON object: frames sent,
//! frames expected and received by subscribers, loss, each received frame's one-way latency
//! (percentiles), the same for audio, and the run's duration. The nodes' own counters and CPU
//! are read by the benchmark script.
//!
//! Each room's peers are driven from the moment the room is set up, so a run of many rooms
//! keeps the first ones alive while the last are joining; counting starts 2 s after the last
//! room is up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use origo_shared::token::{Claims, Grants, TokenKind};
use origo_tests::counting_start::counting_start;
use origo_tests::latency::Latencies;
use serde_json::json;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

mod cascade;
mod client_address;
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
    /// The address the clients use: a loopback address (Janus's ICE pairs only with a non-`lo`
    /// address, so its bench runs them on 127.0.0.2 in a network namespace), or an address of a
    /// network namespace without a default route (the simulated regions).
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
    /// Rooms of `--publishers` and `--subscribers` each (Origo only).
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// The rooms' names: this, or `{prefix}-{i}` with several rooms.
    #[arg(long, default_value = cascade::ROOM)]
    room_prefix: String,
    /// Publishers also send audio: an Opus-sized packet (80 bytes) every 20 ms (Origo only).
    #[arg(long)]
    audio: bool,
    /// Start counting at this moment (Unix milliseconds), agreed with other generators of the
    /// run; at the latest 2 s after every room is up.
    #[arg(long)]
    start_at: Option<u64>,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    #[arg(long, default_value_t = 600)]
    kbps: u32,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
}

/// Frames sent and received while counting, video and audio.
#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
    audio_sent: AtomicU64,
    audio_received: AtomicU64,
}

/// How long peers keep receiving after the counted time.
const DRAIN: Duration = Duration::from_secs(1);

/// When counting starts (set once every room is up) and how long it lasts. A frame counts when
/// it was sent within it (received frames by the send time they carry).
#[derive(Clone)]
struct Window {
    start: Arc<OnceLock<Instant>>,
    duration: Duration,
}

impl Window {
    /// A window whose start is set later ([`Window::open_at`]).
    fn pending(duration: Duration) -> Self {
        Window { start: Arc::new(OnceLock::new()), duration }
    }

    fn open_at(&self, at: Instant) {
        let _ = self.start.set(at);
    }

    /// Whether frames at `now` are counted.
    fn counting(&self, now: Instant) -> bool {
        self.start.get().is_some_and(|s| now >= *s && now < *s + self.duration)
    }

    /// Whether the run is over at `now`: the counted time and a drain for the frames sent in it
    /// that are still on their way.
    fn over(&self, now: Instant) -> bool {
        self.start.get().is_some_and(|s| now >= *s + self.duration + DRAIN)
    }
}

/// The name of room `i` of the run.
fn room_name(args: &Args, i: usize) -> String {
    if args.rooms <= 1 { args.room_prefix.clone() } else { format!("{}-{i}", args.room_prefix) }
}

fn token(keys: &str, node: &str, room: &str, identity: &str, publish: bool) -> anyhow::Result<String> {
    let config =
        origo_shared::token::TokenConfig::from_variables(|n| (n == "token_signing_keys").then(|| keys.to_owned()))
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut grants = Grants::participant(room);
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
    /// The audio track a publisher sends with `--audio`.
    audio_mid: Option<str0m::media::Mid>,
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
        let audio_mid = None;
        Peer { rtc, send_mid, audio_mid, connected: false, socket, local, session, token, keyframe_wanted: false }
    }
}

/// A session in `room` on the Origo node at `base` (named `node`).
async fn open(
    args: &Args,
    http: &reqwest::Client,
    (base, node): (&str, &str),
    room: &str,
    identity: &str,
    publish: bool,
) -> anyhow::Result<Peer> {
    let (mut rtc, socket, local) = client(args.client_ip).await?;
    let mut api = rtc.sdp_api();
    let send_mid = publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    let audio_mid =
        (publish && args.audio).then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    api.add_channel("control".into());
    let (offer, pending) = api.apply().ok_or_else(|| anyhow::anyhow!("no offer"))?;
    let token = token(&args.token_signing_keys, node, room, identity, publish)?;
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
    let mut peer = Peer::new(rtc, socket, local, send_mid, session, token);
    peer.audio_mid = audio_mid;
    Ok(peer)
}

/// A frame a peer received: audio or video, and its one-way latency when it carries a send time.
struct Received {
    audio: bool,
    age: Option<Duration>,
}

/// Sends what the peer has to send; returns its next timeout and the media frames it received,
/// or `None` when the peer failed.
async fn flush(p: &mut Peer) -> Option<(Instant, Vec<Received>)> {
    let mut frames = Vec::new();
    loop {
        match p.rtc.poll_output() {
            Ok(Output::Timeout(t)) => return Some((t, frames)),
            Ok(Output::Transmit(t)) => {
                let _ = p.socket.send_to(&t.contents, t.destination).await;
            }
            Ok(Output::Event(Event::Connected)) => p.connected = true,
            Ok(Output::Event(Event::MediaData(d))) => frames.push(Received {
                audio: d.params.spec().codec == Codec::Opus,
                age: stamp::age(&d.data, *EPOCH, Instant::now()),
            }),
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

/// Drives one peer until the window closes; publishers write a video frame every 1/fps (and an
/// audio frame every 20 ms with `--audio`). Returns the one-way latencies of the video and the
/// audio frames it received while counting.
async fn drive(mut p: Peer, publish: bool, args: Arc<Args>, totals: Arc<Totals>, window: Window) -> [Latencies; 2] {
    let mut latencies = [Latencies::default(), Latencies::default()];
    let mut buf = vec![0u8; 2000];
    let frame_bytes = (args.kbps as usize * 1000 / 8 / args.fps as usize).max(100);
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.fps));
    let mut next_frame = Instant::now();
    let mut next_audio = next_frame;
    let mut n: u64 = 0;
    let mut audio_n: u64 = 0;
    loop {
        let now = Instant::now();
        if window.over(now) {
            return latencies;
        }
        let Some((timeout, frames)) = flush(&mut p).await else { return latencies };
        for f in frames {
            let Some(age) = f.age else { continue };
            if !now.checked_sub(age).is_some_and(|sent| window.counting(sent)) {
                continue;
            }
            let (count, l) = if f.audio {
                (&totals.audio_received, &mut latencies[1])
            } else {
                (&totals.received, &mut latencies[0])
            };
            count.fetch_add(1, Ordering::Relaxed);
            l.record(age);
        }
        if publish && p.connected && p.audio_mid.is_some() && now >= next_audio {
            next_audio += AUDIO_INTERVAL;
            if write_audio(&mut p, audio_n, now) && window.counting(now) {
                totals.audio_sent.fetch_add(1, Ordering::Relaxed);
            }
            audio_n += 1;
            continue;
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
                if w.write(pt, now, time, data).is_ok() && window.counting(now) {
                    totals.sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            continue;
        }
        let mut wake = timeout;
        if publish && p.connected {
            wake = wake.min(next_frame);
            if p.audio_mid.is_some() {
                wake = wake.min(next_audio);
            }
        }
        let wait = wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
        receive_or_tick(&mut p, &mut buf, wait).await;
    }
}

/// How often a publisher with `--audio` sends an audio frame (Opus's usual 20 ms).
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// Writes audio frame `n` (80 bytes, about 32 kbit/s, stamped); false when it could not.
fn write_audio(p: &mut Peer, n: u64, now: Instant) -> bool {
    let Some(mid) = p.audio_mid else { return false };
    let Some(w) = p.rtc.writer(mid) else { return false };
    let Some(pt) = w.payload_params().find(|x| x.spec().codec == Codec::Opus).map(|x| x.pt()) else { return false };
    let mut data = vec![(n % 251) as u8; 80];
    stamp::write(&mut data, *EPOCH, now);
    w.write(pt, now, MediaTime::new(n * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ), data).is_ok()
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

/// What a run measured: frames sent and received while counting (video, then audio), and the
/// received frames' one-way latencies (video, audio).
struct Measured {
    totals: Arc<Totals>,
    latencies: [Latencies; 2],
    /// How long after `--start-at` counting started (the set-up took longer).
    late_ms: u64,
}

/// Drives every peer until the end of the run (publishers write frames), counting from 2 s
/// from now (once the last peers connect).
async fn run(args: &Arc<Args>, pubs: Vec<Peer>, subs: Vec<Peer>) -> Measured {
    let totals = Arc::new(Totals::default());
    let window = Window::pending(Duration::from_secs_f64(args.duration));
    let mut tasks = Vec::new();
    for (p, publish) in pubs.into_iter().map(|p| (p, true)).chain(subs.into_iter().map(|s| (s, false))) {
        tasks.push(tokio::spawn(drive(p, publish, args.clone(), totals.clone(), window.clone())));
    }
    window.open_at(Instant::now() + Duration::from_secs(2));
    collect(totals, tasks).await
}

/// Waits for the peers' drivers and merges their latencies.
async fn collect(totals: Arc<Totals>, tasks: Vec<tokio::task::JoinHandle<[Latencies; 2]>>) -> Measured {
    let mut latencies = [Latencies::default(), Latencies::default()];
    for t in tasks {
        if let Ok([video, audio]) = t.await {
            latencies[0].merge(video);
            latencies[1].merge(audio);
        }
    }
    Measured { totals, latencies, late_ms: 0 }
}

/// Prints the run's one JSON line; `server` is the SFU's own (packets in, packets out).
fn report(args: &Args, target: &str, mut m: Measured, server: Option<(u64, u64)>) {
    let receivers_per_frame = args.subscribers as u64 + if args.mesh { args.publishers as u64 - 1 } else { 0 };
    let loss = |sent: u64, received: u64| {
        let expected = sent * receivers_per_frame;
        if expected > 0 { 1.0 - received as f64 / expected as f64 } else { 0.0 }
    };
    let t = &m.totals;
    let (sent, received) = (t.sent.load(Ordering::Relaxed), t.received.load(Ordering::Relaxed));
    let (audio_sent, audio_received) = (t.audio_sent.load(Ordering::Relaxed), t.audio_received.load(Ordering::Relaxed));
    let percentiles = |l: &mut Latencies| {
        json!({
            "samples": l.len(),
            "p50": l.quantile_ms(0.5), "p90": l.quantile_ms(0.9),
            "p99": l.quantile_ms(0.99), "max": l.quantile_ms(1.0),
        })
    };
    let mut out = json!({
        "target": target,
        "rooms": args.rooms,
        "publishers": args.publishers, "subscribers": args.subscribers, "mesh": args.mesh,
        "frames_sent": sent, "frames_expected": sent * receivers_per_frame, "frames_received": received,
        "loss": loss(sent, received),
        "duration_s": args.duration,
        "cascaded": args.subscriber_base.is_some(),
        "latency_ms": percentiles(&mut m.latencies[0]),
        "late_ms": m.late_ms,
    });
    if args.audio {
        out["audio"] = json!({
            "frames_sent": audio_sent, "frames_expected": audio_sent * receivers_per_frame,
            "frames_received": audio_received, "loss": loss(audio_sent, audio_received),
            "latency_ms": percentiles(&mut m.latencies[1]),
        });
    }
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
        anyhow::ensure!(args.rooms == 1 && !args.audio, "--rooms and --audio are for Origo");
        return main_janus(args, http).await;
    }
    anyhow::ensure!(args.rooms >= 1, "--rooms must be at least 1");
    anyhow::ensure!(args.rooms == 1 || args.subscriber_base.is_none(), "a cascaded run has one room");
    let totals = Arc::new(Totals::default());
    let window = Window::pending(Duration::from_secs_f64(args.duration));
    let mut tasks = Vec::new();
    for r in 0..args.rooms {
        let room = room_name(&args, r);
        for (p, publish) in set_up_room(&args, &http, &room, r).await? {
            tasks.push(tokio::spawn(drive(p, publish, args.clone(), totals.clone(), window.clone())));
        }
    }
    let (start, late_ms) = counting_start(args.start_at, Duration::from_secs(2));
    window.open_at(start);
    let mut measured = collect(totals, tasks).await;
    measured.late_ms = late_ms;
    report(&args, "origo", measured, None);
    Ok(())
}

/// Room `r`'s peers, connected and subscribed: its publishers (true) and subscribers (false).
async fn set_up_room(
    args: &Arc<Args>,
    http: &reqwest::Client,
    room: &str,
    r: usize,
) -> anyhow::Result<Vec<(Peer, bool)>> {
    let home = (args.base.as_str(), args.node_id.as_str());
    let mut pubs = Vec::new();
    for i in 0..args.publishers {
        pubs.push(open(args, http, home, room, &format!("pub-{r}-{i}"), true).await?);
    }
    for p in &mut pubs {
        warm(p, Duration::from_millis(300)).await;
    }
    let away = match &args.subscriber_base {
        Some(to) => {
            let secret =
                args.node_secret.as_deref().ok_or_else(|| anyhow::anyhow!("--subscriber-base needs --node-secret"))?;
            cascade::link(http, secret, &args.base, to, &args.subscriber_node_id, room, args.publishers).await?;
            (to.as_str(), args.subscriber_node_id.as_str())
        }
        None => home,
    };
    let mut subs = Vec::new();
    for i in 0..args.subscribers {
        let mut s = open(args, http, away, room, &format!("sub-{r}-{i}"), false).await?;
        warm(&mut s, Duration::from_millis(50)).await;
        subscribe_all(http, &mut s).await?;
        subs.push(s);
    }
    if args.mesh {
        for p in &mut pubs {
            subscribe_all(http, p).await?;
        }
    }
    Ok(pubs.into_iter().map(|p| (p, true)).chain(subs.into_iter().map(|s| (s, false))).collect())
}

/// A str0m client on a fresh UDP socket of `ip` (see [`client_address::confined`]): full ICE
/// (not lite), one host candidate.
async fn client(ip: std::net::IpAddr) -> anyhow::Result<(Rtc, UdpSocket, SocketAddr)> {
    client_address::confined(ip)?;
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
