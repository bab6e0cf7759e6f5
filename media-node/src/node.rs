//! The media node's shell: one task owns the SFU and the UDP socket (datagrams, timers and
//! control commands are handled in one place, so the core needs no locks); an axum control API
//! talks to it over a channel; a registry agent heartbeats the node's load to the edge.
// Handlers short-circuit with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, patch, post};
use origo_shared::node::{NodeAddresses, NodeHeartbeat, NodeKind};
use origo_shared::{ApiError, ErrorCode};
use serde::Deserialize;
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::auth::{AuthError, Participant, Verifier};
use crate::sfu::{Counters, Quality, RoomKey, SessionId, Sfu, SfuError, TrackInfo};
use crate::usage::Journal;
use origo_shared::usage::UsageEntry;

/// What `/metrics` reports.
struct Stats {
    sessions: usize,
    tracks: usize,
    paused_tracks: usize,
    estimates: Vec<u64>,
    counters: Counters,
}

/// How the node runs.
pub struct NodeConfig {
    pub node_id: String,
    pub region: String,
    /// HTTP control API address.
    pub listen: SocketAddr,
    /// UDP media address (bound; also the ICE candidate unless `public_udp` is set). Shard
    /// `i` uses the port plus `i` (all ephemeral with port 0).
    pub udp: SocketAddr,
    pub public_udp: Option<SocketAddr>,
    /// Independent SFU shards (each its own socket and task, rooms spread over them by
    /// name); 0: one per core.
    pub shards: usize,
    /// The control API's URL as clients reach it (default `http://` + the bound address).
    pub advertise_url: Option<String>,
    pub capacity: u32,
    /// The edge to heartbeat to, and the node secret.
    pub registry: Option<(String, String)>,
    pub verifier: Arc<Verifier>,
    /// Where usage waits until the registry takes it (memory only when `None`).
    pub usage_journal: Option<std::path::PathBuf>,
}

/// A running node.
pub struct Running {
    pub control: SocketAddr,
    /// The first shard's UDP address (`udp_all`: every shard's).
    pub udp: SocketAddr,
    pub udp_all: Vec<SocketAddr>,
    pub control_url: String,
    flush: mpsc::Sender<oneshot::Sender<()>>,
}

impl Running {
    /// Journals the usage so far and tries once to report it (for a graceful stop).
    pub async fn flush_usage(&self) {
        let (tx, rx) = oneshot::channel();
        if self.flush.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        }
    }
}

/// How often usage is journaled and reported.
const USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

enum Cmd {
    Create { p: Participant, offer: SdpOffer, reply: oneshot::Sender<Result<(SessionId, SdpAnswer), SfuError>> },
    Subscribe { id: SessionId, tracks: Vec<String>, reply: oneshot::Sender<Result<Option<SdpOffer>, SfuError>> },
    Unsubscribe { id: SessionId, tracks: Vec<String>, reply: oneshot::Sender<Result<Option<SdpOffer>, SfuError>> },
    Answer { id: SessionId, answer: SdpAnswer, reply: oneshot::Sender<Result<(), SfuError>> },
    Offer { id: SessionId, offer: SdpOffer, reply: oneshot::Sender<Result<SdpAnswer, SfuError>> },
    Quality { id: SessionId, track: String, quality: Quality, reply: oneshot::Sender<Result<(), SfuError>> },
    Remove { id: SessionId },
    Owner { id: SessionId, reply: oneshot::Sender<Option<(RoomKey, String)>> },
    Tracks { room: RoomKey, reply: oneshot::Sender<Vec<TrackInfo>> },
    Stats { reply: oneshot::Sender<Stats> },
    TakeUsage { reply: oneshot::Sender<Vec<(RoomKey, u64)>> },
}

struct Api {
    /// One command channel per shard.
    shards: Vec<mpsc::Sender<Cmd>>,
    verifier: Arc<Verifier>,
    node_id: String,
    /// Sessions open per shard.
    sessions: Arc<Vec<AtomicUsize>>,
}

impl Api {
    /// The shard a command goes to: a room's (sessions of a room share a shard, so media
    /// flows between them inside one SFU) or a session's (its id names its shard).
    fn shard(&self, cmd: &Cmd) -> usize {
        let n = self.shards.len();
        match cmd {
            Cmd::Create { p, .. } => room_shard(&p.org, &p.room, n),
            Cmd::Tracks { room, .. } => room_shard(&room.0, &room.1, n),
            Cmd::Subscribe { id, .. }
            | Cmd::Unsubscribe { id, .. }
            | Cmd::Answer { id, .. }
            | Cmd::Offer { id, .. }
            | Cmd::Quality { id, .. }
            | Cmd::Remove { id }
            | Cmd::Owner { id, .. } => (id.saturating_sub(1) % n as u64) as usize,
            Cmd::Stats { .. } | Cmd::TakeUsage { .. } => 0,
        }
    }

    fn session_count(&self) -> usize {
        self.sessions.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// FNV-1a of the room's key, modulo the shard count.
fn room_shard(org: &str, room: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in org.bytes().chain([0]).chain(room.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// Binds, starts the SFU task, the control API and the registry agent.
pub async fn start(config: NodeConfig) -> anyhow::Result<Running> {
    let n = match config.shards {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
    .min(64);
    let offset = |a: SocketAddr, i: usize| -> anyhow::Result<SocketAddr> {
        if a.port() == 0 {
            return Ok(a);
        }
        let port = u16::try_from(usize::from(a.port()) + i).map_err(|_| anyhow::anyhow!("UDP ports run past 65535"))?;
        Ok(SocketAddr::new(a.ip(), port))
    };
    let mut sockets = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..n {
        let socket = UdpSocket::bind(offset(config.udp, i)?).await?;
        let bound = socket.local_addr()?;
        candidates.push(match config.public_udp {
            Some(p) => offset(p, i)?,
            None => bound,
        });
        sockets.push(socket);
    }
    let udp_all: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let udp = udp_all[0];
    let listener = TcpListener::bind(config.listen).await?;
    let control = listener.local_addr()?;
    let control_url = config.advertise_url.clone().unwrap_or_else(|| format!("http://{control}"));
    let sessions = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
    let journal = Journal::open(config.usage_journal.as_deref())?;
    if !journal.pending.is_empty() {
        tracing::info!(reports = journal.pending.len(), "usage from before the restart will be reported");
    }
    let mut shards = Vec::new();
    for (i, (socket, candidate)) in sockets.into_iter().zip(candidates.iter()).enumerate() {
        let (cmds, rx) = mpsc::channel(256);
        let sfu = Sfu::with_ids(*candidate, i as u64 + 1, n as u64);
        tokio::spawn(sfu_loop(sfu, socket, rx, sessions.clone(), i));
        shards.push(cmds);
    }
    let (flush, flushes) = mpsc::channel(4);
    tokio::spawn(report_usage(shards.clone(), config.node_id.clone(), config.registry.clone(), journal, flushes));

    let api = Arc::new(Api {
        shards,
        verifier: config.verifier.clone(),
        node_id: config.node_id.clone(),
        sessions: sessions.clone(),
    });
    let router = Router::new()
        .route("/v1/sessions", post(create))
        .route("/v1/sessions/{id}", patch(update).delete(remove))
        .route("/v1/sessions/{id}/tracks", get(tracks))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(cors))
        .with_state(api);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("media control API stopped: {e}");
        }
    });

    if let Some((registry, secret)) = config.registry {
        let (id, region, url, capacity) =
            (config.node_id.clone(), config.region.clone(), control_url.clone(), config.capacity);
        tokio::spawn(origo_registry_agent::run(registry, Some(secret), move || {
            Some(NodeHeartbeat {
                id: id.clone(),
                region: region.clone(),
                kind: NodeKind::Media,
                addresses: NodeAddresses {
                    control_url: Some(url.clone()),
                    udp: candidates.iter().map(ToString::to_string).collect(),
                    ice_urls: vec![],
                },
                capacity,
                load: sessions.iter().map(|s| s.load(Ordering::Relaxed)).sum::<usize>() as u32,
                draining: false,
                version: Some(env!("CARGO_PKG_VERSION").into()),
            })
        }));
    }
    tracing::info!(%control, udp = ?udp_all, node = %config.node_id, "media node ready");
    Ok(Running { control, udp, udp_all, control_url, flush })
}

async fn sfu_loop(
    mut sfu: Sfu,
    socket: UdpSocket,
    mut rx: mpsc::Receiver<Cmd>,
    sessions: Arc<Vec<AtomicUsize>>,
    shard: usize,
) {
    let Ok(local) = socket.local_addr() else {
        tracing::error!("the media socket has no local address; stopping");
        return;
    };
    let mut bufs = crate::udp::RecvBuffers::default();
    let mut deadline = Instant::now();
    loop {
        tokio::select! {
            r = crate::udp::recv_batch(&socket, &mut bufs) => match r {
                Ok(n) => {
                    let now = Instant::now();
                    for i in 0..n {
                        if let Some(source) = bufs.sources[i] {
                            sfu.receive(source, local, bufs.datagram(i), now);
                        }
                    }
                }
                Err(e) => tracing::debug!("udp receive: {e}"),
            },
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let now = Instant::now();
                match cmd {
                    Cmd::Create { p, offer, reply } => {
                        let r = sfu.create_session((p.org, p.room), p.identity, p.may_publish, p.may_subscribe, offer, now);
                        let _ = reply.send(r);
                    }
                    Cmd::Subscribe { id, tracks, reply } => { let _ = reply.send(sfu.subscribe(id, &tracks, now)); }
                    Cmd::Unsubscribe { id, tracks, reply } => { let _ = reply.send(sfu.unsubscribe(id, &tracks, now)); }
                    Cmd::Answer { id, answer, reply } => { let _ = reply.send(sfu.accept_answer(id, answer, now)); }
                    Cmd::Offer { id, offer, reply } => { let _ = reply.send(sfu.accept_offer(id, offer, now)); }
                    Cmd::Remove { id } => sfu.remove_session(id, now),
                    Cmd::Owner { id, reply } => { let _ = reply.send(sfu.owner(id).map(|(r, i)| (r.clone(), i.to_owned()))); }
                    Cmd::Tracks { room, reply } => { let _ = reply.send(sfu.tracks(&room)); }
                    Cmd::Quality { id, track, quality, reply } => { let _ = reply.send(sfu.set_quality(id, &track, quality, now)); }
                    Cmd::TakeUsage { reply } => { let _ = reply.send(sfu.take_usage(now)); }
                    Cmd::Stats { reply } => {
                        let _ = reply.send(Stats {
                            sessions: sfu.session_count(),
                            tracks: sfu.track_count(),
                            paused_tracks: sfu.paused_track_count(),
                            estimates: sfu.bandwidth_estimates(),
                            counters: sfu.counters,
                        });
                    }
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
        let now = Instant::now();
        // Poll the sessions packets were queued to in this round (once each), then timers.
        sfu.flush(now);
        if now >= sfu.poll_timeout(now) {
            sfu.handle_timeout(now);
        }
        deadline = sfu.poll_timeout(now);
        let transmits = sfu.drain_transmits();
        crate::udp::send_all(&socket, &transmits).await;
        sessions[shard].store(sfu.session_count(), Ordering::Relaxed);
    }
}

/// Takes the SFU's usage every [`USAGE_INTERVAL`] (and on a flush), journals it, and sends the
/// journal's reports in order to `{edge}/v1/nodes/usage` until one is refused.
async fn report_usage(
    shards: Vec<mpsc::Sender<Cmd>>,
    node_id: String,
    registry: Option<(String, String)>,
    mut journal: Journal,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().unwrap_or_default();
    let mut tick = tokio::time::interval(USAGE_INTERVAL);
    loop {
        let done = tokio::select! {
            _ = tick.tick() => None,
            f = flushes.recv() => Some(f),
        };
        let mut taken = Vec::new();
        for shard in &shards {
            let (tx, rx) = oneshot::channel();
            if shard.send(Cmd::TakeUsage { reply: tx }).await.is_err() {
                return;
            }
            taken.extend(rx.await.unwrap_or_default());
        }
        let month = origo_shared::usage::month_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        );
        let entries: Vec<UsageEntry> = taken
            .into_iter()
            .map(|((org, room), ms)| UsageEntry { org, room, month: month.clone(), participant_ms: ms })
            .collect();
        if let Err(e) = journal.record(&node_id, entries) {
            tracing::error!("cannot write the usage journal: {e}");
        }
        if let Some((edge, secret)) = &registry {
            let url = format!("{}/v1/nodes/usage", edge.trim_end_matches('/'));
            for report in journal.pending.clone() {
                match http.post(&url).bearer_auth(secret).json(&report).send().await {
                    Ok(r) if r.status().is_success() => {
                        if let Err(e) = journal.acknowledge(report.seq) {
                            tracing::error!("cannot write the usage journal: {e}");
                        }
                    }
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), seq = report.seq, "usage report refused; kept for later");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(seq = report.seq, "usage report not delivered: {e}; kept for later");
                        break;
                    }
                }
            }
        }
        match done {
            Some(Some(ack)) => {
                let _ = ack.send(());
            }
            Some(None) => return,
            None => {}
        }
    }
}

/// Browsers call the control API from the web client's origin (the edge): any origin may, since
/// every call carries its bearer token (no cookies). Preflights are answered here.
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, Method};
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PATCH, DELETE"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    res
}

fn error(status: u16, code: ErrorCode, msg: impl Into<String>) -> Response {
    let e = ApiError::new(code, msg);
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "application/json")],
        e.to_json(),
    )
        .into_response()
}

fn sfu_error(e: SfuError) -> Response {
    match e {
        SfuError::BadSdp(m) => error(400, ErrorCode::BadRequest, m),
        SfuError::NoSession => error(404, ErrorCode::NotFound, "no such session"),
        SfuError::NoTrack => error(404, ErrorCode::NotFound, "no such track in this session's room"),
        SfuError::NotAllowed(what) => error(403, ErrorCode::Forbidden, format!("this token may not {what}")),
        e @ (SfuError::OfferPending | SfuError::NoPendingOffer) => error(409, ErrorCode::Conflict, e.to_string()),
    }
}

async fn authorize(api: &Api, headers: &HeaderMap) -> Result<Participant, Response> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| error(401, ErrorCode::Unauthorized, "missing Authorization: Bearer <participant token>"))?;
    api.verifier.participant(raw).await.map_err(|e| {
        tracing::info!("session refused: {e}");
        match e {
            AuthError::Unauthorized(m) => error(401, ErrorCode::Unauthorized, m),
            AuthError::Forbidden(m) => error(403, ErrorCode::Forbidden, m),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    offer: SdpOffer,
}

async fn call<T>(api: &Api, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let cmd = make(tx);
    let shard = &api.shards[api.shard(&cmd)];
    shard.send(cmd).await.map_err(|_| error(503, ErrorCode::Unavailable, "the media node is stopping"))?;
    rx.await.map_err(|_| error(503, ErrorCode::Unavailable, "the media node is stopping"))
}

/// Every shard's statistics, added up.
async fn stats(api: &Api) -> Result<Stats, Response> {
    let mut total =
        Stats { sessions: 0, tracks: 0, paused_tracks: 0, estimates: Vec::new(), counters: Counters::default() };
    for shard in &api.shards {
        let (tx, rx) = oneshot::channel();
        shard.send(Cmd::Stats { reply: tx }).await.map_err(|_| error(503, ErrorCode::Unavailable, "stopping"))?;
        let st = rx.await.map_err(|_| error(503, ErrorCode::Unavailable, "stopping"))?;
        total.sessions += st.sessions;
        total.tracks += st.tracks;
        total.paused_tracks += st.paused_tracks;
        total.estimates.extend(st.estimates);
        total.counters += st.counters;
    }
    Ok(total)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    if body.len() > 64 * 1024 {
        return Err(error(413, ErrorCode::PayloadTooLarge, "bodies are limited to 64 KiB"));
    }
    serde_json::from_slice(body).map_err(|e| {
        tracing::info!("bad session body: {e}");
        error(
            400,
            ErrorCode::InvalidJson,
            format!("invalid body: {}", e.to_string().chars().take(160).collect::<String>()),
        )
    })
}

async fn create(State(api): State<Arc<Api>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let p = match authorize(&api, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body: CreateBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match call(&api, |reply| Cmd::Create { p, offer: body.offer, reply }).await {
        Ok(Ok((id, answer))) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "session_id": id.to_string(), "answer": answer, "node_id": api.node_id })),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::info!("session refused: {e}");
            sfu_error(e)
        }
        Err(r) => r,
    }
}

/// The session, if the caller owns it.
async fn owned(api: &Api, headers: &HeaderMap, id: &str) -> Result<(SessionId, Participant), Response> {
    let p = authorize(api, headers).await?;
    let id: SessionId = id.parse().map_err(|_| error(404, ErrorCode::NotFound, "no such session"))?;
    match call(api, |reply| Cmd::Owner { id, reply }).await? {
        Some(((org, room), identity)) if org == p.org && room == p.room && identity == p.identity => Ok((id, p)),
        _ => Err(error(404, ErrorCode::NotFound, "no such session")),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    subscribe: Option<Vec<String>>,
    #[serde(default)]
    unsubscribe: Option<Vec<String>>,
    #[serde(default)]
    answer: Option<SdpAnswer>,
    #[serde(default)]
    offer: Option<SdpOffer>,
    /// Track id → the most of it wanted (`off`, `low`, `medium`, `high`).
    #[serde(default)]
    quality: Option<std::collections::BTreeMap<String, Quality>>,
}

async fn update(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (id, _) = match owned(&api, &headers, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body: PatchBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut out = serde_json::Map::new();
    if let Some(answer) = body.answer {
        match call(&api, |reply| Cmd::Answer { id, answer, reply }).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return sfu_error(e),
            Err(r) => return r,
        }
    }
    if let Some(offer) = body.offer {
        match call(&api, |reply| Cmd::Offer { id, offer, reply }).await {
            Ok(Ok(answer)) => {
                out.insert("answer".into(), serde_json::to_value(answer).unwrap_or_default());
            }
            Ok(Err(e)) => return sfu_error(e),
            Err(r) => return r,
        }
    }
    for (track, quality) in body.quality.unwrap_or_default() {
        if track.len() > 200 {
            return error(400, ErrorCode::BadRequest, "too long a track id");
        }
        match call(&api, |reply| Cmd::Quality { id, track, quality, reply }).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return sfu_error(e),
            Err(r) => return r,
        }
    }
    for (tracks, subscribe) in [(body.unsubscribe, false), (body.subscribe, true)] {
        let Some(tracks) = tracks else { continue };
        if tracks.len() > 256 || tracks.iter().any(|t| t.len() > 200) {
            return error(400, ErrorCode::BadRequest, "too many or too long track ids");
        }
        let r = if subscribe {
            call(&api, |reply| Cmd::Subscribe { id, tracks, reply }).await
        } else {
            call(&api, |reply| Cmd::Unsubscribe { id, tracks, reply }).await
        };
        match r {
            Ok(Ok(Some(offer))) => {
                out.insert("offer".into(), serde_json::to_value(offer).unwrap_or_default());
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return sfu_error(e),
            Err(r) => return r,
        }
    }
    Json(serde_json::Value::Object(out)).into_response()
}

async fn remove(State(api): State<Arc<Api>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    match owned(&api, &headers, &id).await {
        Ok((id, _)) => {
            let cmd = Cmd::Remove { id };
            let _ = api.shards[api.shard(&cmd)].send(cmd).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

async fn tracks(State(api): State<Arc<Api>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (_, p) = match owned(&api, &headers, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match call(&api, |reply| Cmd::Tracks { room: (p.org, p.room), reply }).await {
        Ok(t) => Json(serde_json::json!({ "tracks": t })).into_response(),
        Err(r) => r,
    }
}

async fn health(State(api): State<Arc<Api>>) -> Response {
    Json(serde_json::json!({ "status": "ok", "service": "origo-media-node", "node_id": api.node_id,
        "sessions": api.session_count(), "shards": api.shards.len() }))
    .into_response()
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let st = match stats(&api).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    let c = st.counters;
    let mut text = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, v: u64| {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{} {v}\n",
            if kind == "counter" { "_total" } else { "" }
        ));
    };
    metric("origo_media_sessions", "WebRTC sessions open.", "gauge", st.sessions as u64);
    metric("origo_media_tracks", "Tracks published.", "gauge", st.tracks as u64);
    metric("origo_media_paused_tracks", "Video tracks nobody receives (paused).", "gauge", st.paused_tracks as u64);
    metric("origo_media_datagrams_in", "UDP datagrams received.", "counter", c.datagrams_in);
    metric("origo_media_bytes_in", "UDP bytes received.", "counter", c.bytes_in);
    metric("origo_media_datagrams_out", "UDP datagrams sent.", "counter", c.datagrams_out);
    metric("origo_media_bytes_out", "UDP bytes sent.", "counter", c.bytes_out);
    metric("origo_media_unroutable", "Datagrams that matched no session.", "counter", c.unroutable);
    metric("origo_media_packets_in", "RTP packets received from publishers.", "counter", c.packets_in);
    metric("origo_media_packets_forwarded", "RTP packets sent to subscribers.", "counter", c.packets_forwarded);
    metric("origo_media_nacks", "NACKs received from subscribers.", "counter", c.nacks_received);
    metric(
        "origo_media_plis",
        "Keyframe requests (PLI/FIR) received from subscribers.",
        "counter",
        c.keyframe_requests_received,
    );
    metric("origo_media_keyframe_requests", "Keyframe requests sent to publishers.", "counter", c.keyframe_requests);
    metric("origo_media_layer_switches", "Simulcast layer switches (and stream starts).", "counter", c.layer_switches);
    metric(
        "origo_media_dynacast_updates",
        "Layer/pause announcements sent to publishers.",
        "counter",
        c.dynacast_updates,
    );
    metric("origo_media_speaker_changes", "Active-speaker changes announced.", "counter", c.speaker_changes);
    metric("origo_media_bwe_subscribers", "Sessions with a bandwidth estimate.", "gauge", st.estimates.len() as u64);
    metric(
        "origo_media_bwe_min_bps",
        "Lowest subscriber bandwidth estimate (bit/s).",
        "gauge",
        st.estimates.iter().copied().min().unwrap_or(0),
    );
    metric(
        "origo_media_bwe_sum_bps",
        "Sum of subscriber bandwidth estimates (bit/s).",
        "gauge",
        st.estimates.iter().sum(),
    );
    text.push_str("# EOF\n");
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
