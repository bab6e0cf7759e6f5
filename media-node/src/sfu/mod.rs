//! The SFU core, sans-IO: participants are str0m `Rtc`s in ICE-lite mode behind one shared UDP
//! address. Datagrams in, datagrams and events out; the caller owns the socket and the clock.
//!
//! * **Routing is O(1)**: a datagram finds its session by source address; a new address is
//!   only accepted from a STUN binding request whose USERNAME names a session's ufrag (then
//!   `Rtc::accepts` checks its MESSAGE-INTEGRITY), and the address is remembered.
//! * **Forwarding is RTP-level** (str0m's RTP mode): a publisher's packets go to each
//!   subscriber of the track without depacketising, rewritten per subscriber by a
//!   [`Forwarder`] (sequence numbers, timestamps, VP8 picture ids); str0m keeps each
//!   subscriber's send buffer and answers its NACKs (RTX), and NACKs publishers for losses.
//! * **Simulcast**: each subscriber gets one layer of each video track, the best that fits
//!   its share of the bandwidth estimate (TWCC, per subscriber) and its quality preference;
//!   a switch asks the publisher for a keyframe of the new layer and happens on it.
//! * **Keyframes**: a subscriber's PLI/FIR and every layer switch ask the publisher, at most
//!   once per [`KEYFRAME_INTERVAL`] per source layer.
//! * **Dynacast**: a publisher is told over its data channel which layers of each track
//!   somebody watches (`{"type":"track_layers",…}`), so it can stop encoding the others, and a
//!   track nobody watches is paused.
//! * **Subscriptions** are renegotiated by the SFU: subscribing adds a send-only m-line and
//!   produces an offer the client answers (HTTP `PATCH`, or the data channel).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};

use crate::forward::{Forwarder, Incoming, KeyframeCodec, Layer, choose_layer};

/// The active speaker changes at most this often (hysteresis).
pub const SPEAKER_HOLD: Duration = Duration::from_millis(700);
/// Quieter than this (dBov) is not speaking.
pub const SPEAKING_LEVEL: f32 = -50.0;

/// Keyframe requests to one source layer are at most this frequent.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// The bandwidth estimate a subscriber starts with, before TWCC feedback.
pub const INITIAL_ESTIMATE_BPS: u64 = 1_000_000;
/// What an audio track is assumed to need when sharing out a subscriber's bandwidth.
const AUDIO_BPS: u64 = 64_000;
/// Layers are re-chosen, and dynacast re-announced, this often.
pub const ALLOCATE_INTERVAL: Duration = Duration::from_millis(500);
/// A layer that sent nothing for this long is not offered to subscribers.
const LAYER_IDLE: Duration = Duration::from_secs(2);

pub type SessionId = u64;

/// Layers sending now and their bitrates.
type LayerRates = Vec<(Layer, u64)>;

/// A room: (organisation, name).
pub type RoomKey = (String, String);

/// A track a participant publishes: `{identity}:{mid}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TrackInfo {
    pub id: String,
    pub participant: String,
    pub kind: &'static str,
    /// Simulcast layers being received (rids), lowest bitrate first; empty without simulcast.
    pub layers: Vec<String>,
}

/// The most a subscriber wants of a video track (a small tile needs no full-HD layer);
/// `Off` pauses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Off,
    Low,
    Medium,
    #[default]
    High,
}

impl Quality {
    fn max_index(self) -> usize {
        match self {
            Quality::Off | Quality::Low => 0,
            Quality::Medium => 1,
            Quality::High => usize::MAX,
        }
    }
}

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// What may go wrong with a session request.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("the SDP was refused: {0}")]
    BadSdp(String),
    #[error("no such session")]
    NoSession,
    #[error("no such track")]
    NoTrack,
    #[error("this session may not {0}")]
    NotAllowed(&'static str),
    #[error("an offer is already waiting for its answer")]
    OfferPending,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub unroutable: u64,
    pub packets_in: u64,
    pub packets_forwarded: u64,
    pub keyframe_requests: u64,
    pub layer_switches: u64,
    pub speaker_changes: u64,
    /// NACKs and PLI/FIRs subscribers sent us.
    pub nacks_received: u64,
    pub keyframe_requests_received: u64,
    pub dynacast_updates: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        let Counters {
            datagrams_in,
            bytes_in,
            datagrams_out,
            bytes_out,
            unroutable,
            packets_in,
            packets_forwarded,
            keyframe_requests,
            layer_switches,
            speaker_changes,
            nacks_received,
            keyframe_requests_received,
            dynacast_updates,
        } = o;
        self.datagrams_in += datagrams_in;
        self.bytes_in += bytes_in;
        self.datagrams_out += datagrams_out;
        self.bytes_out += bytes_out;
        self.unroutable += unroutable;
        self.packets_in += packets_in;
        self.packets_forwarded += packets_forwarded;
        self.keyframe_requests += keyframe_requests;
        self.layer_switches += layer_switches;
        self.speaker_changes += speaker_changes;
        self.nacks_received += nacks_received;
        self.keyframe_requests_received += keyframe_requests_received;
        self.dynacast_updates += dynacast_updates;
    }
}

/// One simulcast layer (or the only stream) of a published track.
struct LayerIn {
    layer: Layer,
    window_bytes: u64,
    window_start: Instant,
    /// Bits per second over the last full window; `None` until one was measured.
    bps: Option<u64>,
    last_packet: Instant,
    last_keyframe_request: Option<Instant>,
}

struct TrackIn {
    kind: MediaKind,
    /// The payload type last seen and its parameters.
    codec: Option<(Pt, PayloadParams)>,
    layers: Vec<LayerIn>,
    /// Sessions with an open send track for this one (kept by [`Sfu::reindex`]).
    subscribers: Vec<SessionId>,
    /// Dynacast: what the publisher was last told (paused, layers watched).
    announced: Option<(bool, Vec<String>)>,
}

impl TrackIn {
    /// Simulcast rids, lowest bitrate first (empty without simulcast).
    fn layer_names(&self) -> Vec<String> {
        let mut layers: Vec<(u64, String)> =
            self.layers.iter().filter_map(|l| l.layer.map(|r| (l.bps.unwrap_or(0), r.to_string()))).collect();
        layers.sort();
        layers.into_iter().map(|l| l.1).collect()
    }

    /// Layers sending now with their measured bitrates (unmeasured ones only if none is).
    fn active_layers(&self, now: Instant) -> LayerRates {
        let live: Vec<&LayerIn> =
            self.layers.iter().filter(|l| now.saturating_duration_since(l.last_packet) < LAYER_IDLE).collect();
        let measured: Vec<(Layer, u64)> = live.iter().filter_map(|l| l.bps.map(|b| (l.layer, b))).collect();
        if measured.is_empty() { live.first().map(|l| vec![(l.layer, 0)]).unwrap_or_default() } else { measured }
    }
}

struct TrackOut {
    /// (publisher session, publisher mid)
    source: (SessionId, Mid),
    mid: Option<Mid>,
    open: bool,
    quality: Quality,
    fwd: Forwarder,
    /// Publisher payload type → ours.
    pt: Option<(Pt, Pt)>,
}

struct Session {
    room: RoomKey,
    identity: String,
    may_publish: bool,
    may_subscribe: bool,
    rtc: Rtc,
    ufrag: String,
    tracks_in: HashMap<Mid, TrackIn>,
    tracks_out: Vec<TrackOut>,
    /// Incoming SSRC → (mid, layer), learnt from str0m's receive streams.
    ssrcs: HashMap<Ssrc, (Mid, Layer)>,
    pending: Option<SdpPendingOffer>,
    subscribe_all: bool,
    connected: bool,
    /// The client's data channel: the SFU pushes offers for new tracks over it (JSON
    /// `{"type":"offer","sdp":…}`) and takes answers (and client offers) from it.
    channel: Option<ChannelId>,
    /// The latest egress bandwidth estimate (TWCC).
    estimate: Option<Bitrate>,
    /// Loss towards the client (receiver reports), smoothed.
    loss: f32,
    /// After loss forced a step down: no stepping up past `cap` until `until`; the hold
    /// doubles each time it happens again soon after.
    hold: Option<LossHold>,
    /// When the estimate was last raised to what non-adaptable media needs.
    raised_at: Option<Instant>,
    /// Packets were written since the session was last polled (it is in `Sfu::written`).
    written: bool,
    /// Cumulative NACKs received per send mid, from str0m's stats.
    nacks: HashMap<Mid, u64>,
    /// Usage is counted from when media connects; up to here it is accounted for.
    accounted_at: Option<Instant>,
}

/// A subscriber's budget held down after heavy loss.
#[derive(Debug, Clone, Copy)]
struct LossHold {
    until: Instant,
    cap: u64,
    backoff: Duration,
}

/// Loss above this (fraction of packets) means the subscriber gets more than its link carries.
const LOSS_STEP_DOWN: f32 = 0.10;
/// The first hold after a loss step-down; it doubles up to [`LOSS_HOLD_MAX`].
const LOSS_HOLD: Duration = Duration::from_secs(4);
const LOSS_HOLD_MAX: Duration = Duration::from_secs(64);
/// The estimate is raised to what non-adaptable media needs at most this often.
const RAISE_INTERVAL: Duration = Duration::from_secs(2);

/// Who is speaking in a room: smoothed audio levels (from the RFC 6464 header extension the
/// publishers send) and the current active speaker.
#[derive(Default)]
struct Speakers {
    level: HashMap<SessionId, (f32, Instant)>,
    current: Option<SessionId>,
    changed_at: Option<Instant>,
}

/// Work found while draining one session that touches others.
enum Propagated {
    Rtp(SessionId, Box<RtpPacket>),
    TrackOpened(SessionId, Mid),
    /// `fresh`: a new receiver needs it now, even if one was asked for moments ago.
    Keyframe {
        source: (SessionId, Mid),
        layer: Option<Layer>,
        kind: KeyframeRequestKind,
        fresh: bool,
    },
    Signal(SessionId, Vec<u8>),
}

/// The SFU.
pub struct Sfu {
    local: SocketAddr,
    next_id: SessionId,
    id_step: SessionId,
    sessions: HashMap<SessionId, Session>,
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    /// Each session's next timeout, and the same ordered by time.
    deadlines: HashMap<SessionId, Instant>,
    timers: BTreeSet<(Instant, SessionId)>,
    speakers: HashMap<RoomKey, Speakers>,
    next_allocation: Option<Instant>,
    /// Sessions with packets written and not yet polled.
    written: Vec<SessionId>,
    /// Bumped by every [`Sfu::reindex`].
    index_generation: u64,
    /// Participant-milliseconds per room not yet taken by [`Sfu::take_usage`].
    usage: HashMap<RoomKey, u64>,
    pub counters: Counters,
    out: Vec<Transmit>,
}

fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut b = vec![0u8; n];
    let _ = getrandom03::fill(&mut b);
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom03::fill(&mut b);
    u16::from_le_bytes(b)
}

fn kind_name(k: MediaKind) -> &'static str {
    if k == MediaKind::Audio { "audio" } else { "video" }
}

fn keyframe_codec(kind: MediaKind, params: Option<&PayloadParams>) -> KeyframeCodec {
    if kind == MediaKind::Audio {
        return KeyframeCodec::Audio;
    }
    match params.map(|p| p.spec().codec) {
        Some(Codec::Vp8) => KeyframeCodec::Vp8,
        Some(Codec::H264) => KeyframeCodec::H264,
        _ => KeyframeCodec::Opaque,
    }
}

fn layer_name(l: &Layer) -> String {
    l.map(|r| r.to_string()).unwrap_or_default()
}

impl Sfu {
    /// An SFU whose sessions are reached at `local` (the UDP socket's public address).
    pub fn new(local: SocketAddr) -> Self {
        Self::with_ids(local, 1, 1)
    }

    /// An SFU numbering its sessions `first`, `first + step`, … (shards of one node use
    /// disjoint numbers, so a session id names its shard).
    pub fn with_ids(local: SocketAddr, first: SessionId, step: SessionId) -> Self {
        Sfu {
            local,
            next_id: first.max(1),
            id_step: step.max(1),
            sessions: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            deadlines: HashMap::new(),
            timers: BTreeSet::new(),
            speakers: HashMap::new(),
            next_allocation: None,
            written: Vec::new(),
            index_generation: 0,
            usage: HashMap::new(),
            counters: Counters::default(),
            out: Vec::new(),
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn track_count(&self) -> usize {
        self.sessions.values().map(|s| s.tracks_in.len()).sum()
    }

    /// Video tracks nobody watches (paused by dynacast).
    pub fn paused_track_count(&self) -> usize {
        self.sessions
            .values()
            .flat_map(|s| s.tracks_in.values())
            .filter(|t| t.kind == MediaKind::Video && t.subscribers.is_empty())
            .count()
    }

    /// Subscribers' egress bandwidth estimates (bits per second), for `/metrics`.
    pub fn bandwidth_estimates(&self) -> Vec<u64> {
        self.sessions.values().filter_map(|s| s.estimate.map(|b| b.as_u64())).collect()
    }

    /// The identity and room of a session.
    pub fn owner(&self, id: SessionId) -> Option<(&RoomKey, &str)> {
        self.sessions.get(&id).map(|s| (&s.room, s.identity.as_str()))
    }

    /// Tracks published in `room` (by connected sessions).
    pub fn tracks(&self, room: &RoomKey) -> Vec<TrackInfo> {
        let mut out: Vec<TrackInfo> = self
            .sessions
            .values()
            .filter(|s| &s.room == room)
            .flat_map(|s| {
                s.tracks_in.iter().map(move |(mid, t)| TrackInfo {
                    id: format!("{}:{mid}", s.identity),
                    participant: s.identity.clone(),
                    kind: kind_name(t.kind),
                    layers: t.layer_names(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The layer a subscriber is being sent of a track (`""` without simulcast), if any.
    pub fn forwarded_layer(&self, id: SessionId, track: &str) -> Option<String> {
        let source = self.track_by_name(id, track)?;
        let t = self.sessions.get(&id)?.tracks_out.iter().find(|t| t.source == source)?;
        t.fwd.current().map(|l| layer_name(&l))
    }

    /// Datagrams to send, taken.
    pub fn drain_transmits(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.out)
    }

    /// Participant-milliseconds per room since the last call (sessions still open are counted
    /// up to `now`).
    pub fn take_usage(&mut self, now: Instant) -> Vec<(RoomKey, u64)> {
        for s in self.sessions.values_mut() {
            if let Some(at) = s.accounted_at {
                let ms = now.saturating_duration_since(at).as_millis() as u64;
                *self.usage.entry(s.room.clone()).or_default() += ms;
                s.accounted_at = Some(now);
            }
        }
        let mut out: Vec<(RoomKey, u64)> = self.usage.drain().filter(|(_, ms)| *ms > 0).collect();
        out.sort();
        out
    }

    /// Opens a session from the client's offer; returns its id and the answer.
    pub fn create_session(
        &mut self,
        room: RoomKey,
        identity: String,
        may_publish: bool,
        may_subscribe: bool,
        offer: SdpOffer,
        now: Instant,
    ) -> Result<(SessionId, SdpAnswer), SfuError> {
        let ufrag = random_token(12);
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE_BPS)))
            .set_stats_interval(Some(Duration::from_secs(1)))
            .set_local_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: random_token(24) })
            .build(now);
        let candidate = Candidate::host(self.local, "udp").map_err(|e| SfuError::BadSdp(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let id = self.next_id;
        self.next_id += self.id_step;
        // A participant replacing its own session (reconnect) closes the old one.
        let old: Vec<SessionId> =
            self.sessions.iter().filter(|(_, s)| s.room == room && s.identity == identity).map(|(id, _)| *id).collect();
        for o in old {
            self.remove_session(o, now);
        }
        self.by_ufrag.insert(ufrag.clone(), id);
        self.sessions.insert(
            id,
            Session {
                room,
                identity,
                may_publish,
                may_subscribe,
                rtc,
                ufrag,
                tracks_in: HashMap::new(),
                tracks_out: Vec::new(),
                ssrcs: HashMap::new(),
                pending: None,
                subscribe_all: false,
                connected: false,
                channel: None,
                estimate: None,
                loss: 0.0,
                hold: None,
                raised_at: None,
                written: false,
                nacks: HashMap::new(),
                accounted_at: None,
            },
        );
        self.drain(id, now);
        Ok((id, answer))
    }

    /// Closes a session and every subscription to its tracks.
    pub fn remove_session(&mut self, id: SessionId, now: Instant) {
        let Some(mut s) = self.sessions.remove(&id) else { return };
        s.rtc.disconnect();
        if let Some(at) = s.accounted_at {
            *self.usage.entry(s.room.clone()).or_default() += now.saturating_duration_since(at).as_millis() as u64;
        }
        self.by_ufrag.remove(&s.ufrag);
        self.by_addr.retain(|_, v| *v != id);
        if let Some(t) = self.deadlines.remove(&id) {
            self.timers.remove(&(t, id));
        }
        if let Some(sp) = self.speakers.get_mut(&s.room) {
            sp.level.remove(&id);
            if sp.current == Some(id) {
                sp.current = None;
            }
        }
        if self.sessions.values().all(|o| o.room != s.room) {
            self.speakers.remove(&s.room);
        }
        // Subscribers stop receiving; their m-lines go quiet until they renegotiate.
        for other in self.sessions.values_mut() {
            other.tracks_out.retain(|t| t.source.0 != id);
        }
        self.reindex();
    }

    /// Rebuilds every published track's subscriber list from the open send tracks.
    fn reindex(&mut self) {
        self.index_generation += 1;
        let mut subs: HashMap<(SessionId, Mid), Vec<SessionId>> = HashMap::new();
        for (sid, s) in &self.sessions {
            for t in s.tracks_out.iter().filter(|t| t.open && t.mid.is_some()) {
                subs.entry(t.source).or_default().push(*sid);
            }
        }
        for (sid, s) in self.sessions.iter_mut() {
            for (mid, t) in s.tracks_in.iter_mut() {
                t.subscribers = subs.remove(&(*sid, *mid)).unwrap_or_default();
            }
        }
    }

    /// `(publisher, mid)` of a track id (`identity:mid`) in the session's room.
    fn track_by_name(&self, id: SessionId, track: &str) -> Option<(SessionId, Mid)> {
        let room = &self.sessions.get(&id)?.room;
        self.sessions.iter().filter(|(_, s)| &s.room == room).find_map(|(sid, s)| {
            s.tracks_in.keys().find(|mid| format!("{}:{mid}", s.identity) == track).map(|mid| (*sid, *mid))
        })
    }

    fn new_track_out(&self, source: (SessionId, Mid)) -> TrackOut {
        let (kind, params) = self
            .sessions
            .get(&source.0)
            .and_then(|s| s.tracks_in.get(&source.1))
            .map(|t| (t.kind, t.codec.map(|c| c.1)))
            .unwrap_or((MediaKind::Video, None));
        let clock = if kind == MediaKind::Audio { 48_000 } else { 90_000 };
        TrackOut {
            source,
            mid: None,
            open: false,
            quality: Quality::High,
            fwd: Forwarder::new(keyframe_codec(kind, params.as_ref()), clock, random_u16() % 16_384 + 1),
            pt: None,
        }
    }

    /// Subscribes to `tracks` (ids from [`Sfu::tracks`]; `"all"` for every track now and later)
    /// and returns the offer the client must answer, if anything changed.
    pub fn subscribe(&mut self, id: SessionId, tracks: &[String], now: Instant) -> Result<Option<SdpOffer>, SfuError> {
        let room = self.sessions.get(&id).ok_or(SfuError::NoSession)?.room.clone();
        if !self.sessions[&id].may_subscribe {
            return Err(SfuError::NotAllowed("subscribe"));
        }
        if self.sessions[&id].pending.is_some() {
            return Err(SfuError::OfferPending);
        }
        let all = tracks.iter().any(|t| t == "all");
        let wanted: HashSet<&str> = tracks.iter().map(String::as_str).collect();
        let sources: Vec<(SessionId, Mid)> = self
            .sessions
            .iter()
            .filter(|(sid, s)| **sid != id && s.room == room)
            .flat_map(|(sid, s)| {
                s.tracks_in
                    .keys()
                    .filter(|mid| all || wanted.contains(format!("{}:{mid}", s.identity).as_str()))
                    .map(move |mid| (*sid, *mid))
            })
            .collect();
        let new: Vec<TrackOut> = sources
            .into_iter()
            .filter(|src| !self.sessions[&id].tracks_out.iter().any(|t| t.source == *src))
            .map(|src| self.new_track_out(src))
            .collect();
        let Some(s) = self.sessions.get_mut(&id) else { return Err(SfuError::NoSession) };
        if all {
            s.subscribe_all = true;
        }
        s.tracks_out.extend(new);
        let offer = self.negotiate(id);
        self.drain(id, now);
        Ok(offer)
    }

    /// Stops sending `tracks` to the session; returns the offer to answer.
    pub fn unsubscribe(
        &mut self,
        id: SessionId,
        tracks: &[String],
        now: Instant,
    ) -> Result<Option<SdpOffer>, SfuError> {
        let names: HashMap<(SessionId, Mid), String> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| s.tracks_in.keys().map(move |mid| ((*sid, *mid), format!("{}:{mid}", s.identity))))
            .collect();
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        if s.pending.is_some() {
            return Err(SfuError::OfferPending);
        }
        let all = tracks.iter().any(|t| t == "all");
        if all {
            s.subscribe_all = false;
        }
        let matches = |t: &TrackOut| all || names.get(&t.source).is_some_and(|n| tracks.contains(n));
        let stop: Vec<Mid> = s.tracks_out.iter().filter(|t| matches(t)).filter_map(|t| t.mid).collect();
        s.tracks_out.retain(|t| !matches(t));
        if stop.is_empty() {
            self.reindex();
            return Ok(None);
        }
        let mut api = s.rtc.sdp_api();
        for mid in stop {
            api.stop_media(mid);
        }
        let offer = api.apply().map(|(offer, pending)| {
            s.pending = Some(pending);
            offer
        });
        self.reindex();
        self.drain(id, now);
        self.dynacast(now);
        Ok(offer)
    }

    /// Caps (or pauses, with [`Quality::Off`]) what the session receives of a video track.
    pub fn set_quality(&mut self, id: SessionId, track: &str, quality: Quality, now: Instant) -> Result<(), SfuError> {
        let source = self.track_by_name(id, track).ok_or(SfuError::NoTrack)?;
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let t = s.tracks_out.iter_mut().find(|t| t.source == source).ok_or(SfuError::NoTrack)?;
        let raised =
            quality.max_index() > t.quality.max_index() || t.quality == Quality::Off && quality != Quality::Off;
        t.quality = quality;
        if raised {
            // The estimate followed the lower rate down; restart it at least at the starting
            // estimate so the better layer is tried (it comes down again if it doesn't fit).
            let restart = s.estimate.map_or(INITIAL_ESTIMATE_BPS, |b| b.as_u64().max(INITIAL_ESTIMATE_BPS));
            s.rtc.bwe().reset(Bitrate::bps(restart));
            s.estimate = Some(Bitrate::bps(restart));
        }
        self.allocate(id, now);
        self.dynacast(now);
        Ok(())
    }

    /// The client's answer to the SFU's last offer.
    pub fn accept_answer(&mut self, id: SessionId, answer: SdpAnswer, now: Instant) -> Result<(), SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let pending = s.pending.take().ok_or(SfuError::NoPendingOffer)?;
        s.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        for t in s.tracks_out.iter_mut().filter(|t| t.mid.is_some()) {
            t.open = true;
        }
        self.reindex();
        self.drain(id, now);
        // Choose layers at once (this asks the publishers for keyframes) so the new
        // subscriber starts decoding without waiting for the next periodic allocation.
        self.allocate(id, now);
        self.dynacast(now);
        Ok(())
    }

    /// A client-initiated renegotiation (it added or removed tracks).
    pub fn accept_offer(&mut self, id: SessionId, offer: SdpOffer, now: Instant) -> Result<SdpAnswer, SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        // A pending SFU offer is superseded; its tracks are offered again later.
        s.pending = None;
        for t in s.tracks_out.iter_mut().filter(|t| !t.open) {
            t.mid = None;
        }
        let answer = s.rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        self.drain(id, now);
        Ok(answer)
    }

    /// Adds send-only m-lines for subscriptions not yet negotiated; the offer, if any.
    fn negotiate(&mut self, id: SessionId) -> Option<SdpOffer> {
        let kinds: HashMap<(SessionId, Mid), (MediaKind, String)> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| s.tracks_in.iter().map(move |(mid, t)| ((*sid, *mid), (t.kind, s.identity.clone()))))
            .collect();
        let s = self.sessions.get_mut(&id)?;
        if s.pending.is_some() {
            return None;
        }
        let mut api = s.rtc.sdp_api();
        let mut added = false;
        for t in s.tracks_out.iter_mut().filter(|t| t.mid.is_none()) {
            let Some((kind, stream)) = kinds.get(&t.source) else { continue };
            // msid: the publisher's identity as the stream and `{identity}:{mid}/{session}` as
            // the track, so a client knows whose camera, microphone or screen it receives (the
            // session keeps names unique when a publisher reconnects).
            let track = format!("{stream}:{}/{}", t.source.1, t.source.0);
            t.mid = Some(api.add_media(*kind, Direction::SendOnly, Some(stream.clone()), Some(track), None));
            added = true;
        }
        if !added {
            return None;
        }
        let (offer, pending) = api.apply()?;
        s.pending = Some(pending);
        Some(offer)
    }

    /// Lets the next keyframe request for this layer through the throttle.
    fn forget_keyframe_request(&mut self, source: (SessionId, Mid), layer: Layer) {
        if let Some(l) = self
            .sessions
            .get_mut(&source.0)
            .and_then(|s| s.tracks_in.get_mut(&source.1))
            .and_then(|t| t.layers.iter_mut().find(|l| l.layer == layer))
        {
            l.last_keyframe_request = None;
        }
    }

    /// Asks a publisher for a keyframe of one layer (throttled per layer).
    fn request_keyframe(&mut self, source: (SessionId, Mid), layer: Layer, kind: KeyframeRequestKind, now: Instant) {
        let Some(s) = self.sessions.get_mut(&source.0) else { return };
        let Some(track) = s.tracks_in.get_mut(&source.1) else { return };
        if track.kind != MediaKind::Video {
            return;
        }
        let Some(l) = track.layers.iter_mut().find(|l| l.layer == layer) else { return };
        if l.last_keyframe_request.is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_INTERVAL) {
            return;
        }
        let mut api = s.rtc.direct_api();
        let Some(rx) = api.stream_rx_by_mid(source.1, layer) else { return };
        rx.request_keyframe(kind);
        l.last_keyframe_request = Some(now);
        self.counters.keyframe_requests += 1;
        self.drain(source.0, now);
    }

    /// Chooses the layer of every video track the session receives: its bandwidth estimate,
    /// less what audio needs, shared equally, each capped by the subscriber's preference.
    /// Tells str0m's BWE what it would take to get everything at the best quality wanted, so
    /// it probes for it.
    fn allocate(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get(&id) else { return };
        let mut budget = s.estimate.map(|b| b.as_u64()).unwrap_or(INITIAL_ESTIMATE_BPS);
        let mut plan: Vec<(usize, MediaKind, LayerRates)> = Vec::new();
        let mut sending = 0;
        for (i, t) in s.tracks_out.iter().enumerate().filter(|(_, t)| t.open) {
            let Some(src) = self.sessions.get(&t.source.0).and_then(|p| p.tracks_in.get(&t.source.1)) else { continue };
            let layers = src.active_layers(now);
            if let Some(current) = t.fwd.current() {
                sending += layers.iter().find(|l| l.0 == current).map_or(0, |l| l.1);
            }
            plan.push((i, src.kind, layers));
        }
        // The estimate can lag behind a lossy link: heavy loss means what is sent now does not
        // fit, so the budget drops below it and stays there for a while (longer each time).
        let mut hold = s.hold.filter(|h| now < h.until + h.backoff * 4);
        if s.loss > LOSS_STEP_DOWN && sending > 0 && hold.is_none_or(|h| now >= h.until || h.cap > sending) {
            let cap = (sending as f32 * (1.0 - s.loss)) as u64;
            let backoff = hold.map_or(LOSS_HOLD, |h| (h.backoff * 2).min(LOSS_HOLD_MAX));
            hold = Some(LossHold { until: now + backoff, cap, backoff });
        }
        if let Some(h) = hold
            && now < h.until
        {
            budget = budget.min(h.cap);
        }
        let audio = plan.iter().filter(|p| p.1 == MediaKind::Audio).count() as u64;
        let video = plan.iter().filter(|p| p.1 == MediaKind::Video).count() as u64;
        let share = budget.saturating_sub(audio * AUDIO_BPS) / video.max(1);
        let mut desired = audio * AUDIO_BPS;
        let mut minimum = 0;
        // What cannot be sent lower (audio, the lowest layer of each video track): the pacer
        // must not hold it back.
        let mut required = 0;
        let mut keyframes = Vec::new();
        let Some(s) = self.sessions.get_mut(&id) else { return };
        s.hold = hold;
        for (i, kind, layers) in plan {
            let t = &mut s.tracks_out[i];
            let bps_of = |l: Option<Layer>| l.and_then(|l| layers.iter().find(|x| x.0 == l)).map_or(0, |x| x.1);
            let target = if kind == MediaKind::Audio {
                required += layers.first().map_or(0, |l| l.1);
                Some(layers.first().and_then(|l| l.0))
            } else if t.quality == Quality::Off {
                t.fwd.set_target(None);
                continue;
            } else {
                let best = bps_of(choose_layer(&layers, u64::MAX, t.quality.max_index()));
                let chosen = choose_layer(&layers, share, t.quality.max_index());
                // Keep the estimate at the next layer up (padding fills the gap) so it can be
                // taken as soon as it fits, and probe for the best.
                let next = layers.iter().map(|l| l.1).filter(|b| *b > bps_of(chosen) && *b <= best).min();
                minimum += next.unwrap_or(bps_of(chosen));
                desired += best;
                // Only the lowest layer is beyond adapting.
                required += bps_of(choose_layer(&layers, 0, 0));
                // Nothing sending yet: decided when a layer shows up.
                chosen
            };
            if let Some(layer) = target
                && t.fwd.set_target(Some(layer))
            {
                keyframes.push((t.source, layer));
            } else if let Some(layer) = t.fwd.target()
                && t.fwd.waiting()
            {
                // Still waiting for the keyframe: ask again (throttled).
                keyframes.push((t.source, layer));
            }
        }
        let held = s.hold.is_some_and(|h| now < h.until);
        if held {
            // A lossy link: no padding towards better layers, no probing.
            minimum = 0;
            desired = sending;
        }
        if desired > 0 {
            s.rtc.bwe().set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired.max(minimum)));
        }
        // str0m paces at the estimate. When what must be sent (a track without simulcast has
        // nothing lower) exceeds an estimate that only lags — a clean link, just joined — the
        // pacer would queue it for seconds; raise the estimate to it instead. Loss brings it
        // down again (and holds the budget).
        let clean = s.loss < LOSS_STEP_DOWN / 5.0 && s.hold.is_none_or(|h| now >= h.until);
        let estimate = s.estimate.map_or(INITIAL_ESTIMATE_BPS, |b| b.as_u64());
        if clean
            && required > estimate
            && s.raised_at.is_none_or(|at| now.saturating_duration_since(at) >= RAISE_INTERVAL)
        {
            let raised = required + required / 4;
            s.rtc.bwe().reset(Bitrate::bps(raised));
            s.estimate = Some(Bitrate::bps(raised));
            s.raised_at = Some(now);
        }
        self.drain(id, now);
        for (source, layer) in keyframes {
            self.request_keyframe(source, layer, KeyframeRequestKind::Pli, now);
        }
    }

    /// Tells publishers which layers of their video tracks somebody receives (or waits for);
    /// a track nobody receives is paused. Sent only when it changes.
    fn dynacast(&mut self, now: Instant) {
        let mut wanted: HashMap<(SessionId, Mid), BTreeSet<String>> = HashMap::new();
        for s in self.sessions.values() {
            for t in s.tracks_out.iter().filter(|t| t.open) {
                let e = wanted.entry(t.source).or_default();
                for l in [t.fwd.target(), t.fwd.current()].into_iter().flatten() {
                    e.insert(layer_name(&l));
                }
            }
        }
        let mut messages = Vec::new();
        for (sid, s) in self.sessions.iter_mut() {
            for (mid, t) in s.tracks_in.iter_mut().filter(|(_, t)| t.kind == MediaKind::Video) {
                let layers: Vec<String> = wanted.remove(&(*sid, *mid)).unwrap_or_default().into_iter().collect();
                let state = (layers.is_empty(), layers.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>());
                if t.announced.as_ref() == Some(&state) {
                    continue;
                }
                let msg = serde_json::json!({
                    "type": "track_layers",
                    "track": format!("{}:{mid}", s.identity),
                    "paused": state.0,
                    "layers": state.1,
                });
                t.announced = Some(state);
                messages.push((*sid, msg.to_string()));
            }
        }
        for (sid, msg) in messages {
            self.counters.dynacast_updates += 1;
            if let Some(s) = self.sessions.get_mut(&sid)
                && let Some(cid) = s.channel
                && let Some(mut ch) = s.rtc.channel(cid)
            {
                let _ = ch.write(false, msg.as_bytes());
            }
            self.drain(sid, now);
        }
    }

    /// Feeds one received datagram.
    pub fn handle_datagram(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8], now: Instant) {
        self.receive(source, destination, data, now);
        self.flush(now);
    }

    /// Feeds one datagram of a batch: packets forwarded to subscribers are queued in their
    /// sessions, and [`Sfu::flush`] (after the batch) polls each of those sessions once rather
    /// than once per packet.
    pub fn receive(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8], now: Instant) {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += data.len() as u64;
        let id = match self.by_addr.get(&source) {
            Some(id) => Some(*id),
            None => stun_ufrag(data).and_then(|u| self.by_ufrag.get(&u).copied()),
        };
        let Some(id) = id else {
            self.counters.unroutable += 1;
            return;
        };
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            self.counters.unroutable += 1;
            return;
        };
        let input = Input::Receive(now, receive);
        let Some(s) = self.sessions.get_mut(&id) else { return };
        if !s.rtc.accepts(&input) {
            self.counters.unroutable += 1;
            return;
        }
        if s.rtc.handle_input(input).is_err() {
            self.remove_session(id, now);
            return;
        }
        self.by_addr.entry(source).or_insert(id);
        self.drain(id, now);
    }

    /// Polls every session written to since the last flush (see [`Sfu::receive`]).
    pub fn flush(&mut self, now: Instant) {
        while !self.written.is_empty() {
            for id in std::mem::take(&mut self.written) {
                // (Already polled since, if the flag is down.)
                if self.sessions.get(&id).is_some_and(|s| s.written) {
                    self.drain(id, now);
                }
            }
        }
    }

    /// Advances the clock of every session whose timeout is due (and the periodic layer
    /// allocation); returns when to call again.
    pub fn handle_timeout(&mut self, now: Instant) -> Instant {
        let due: Vec<SessionId> = self.timers.range(..=(now, SessionId::MAX)).map(|(_, id)| *id).collect();
        for id in due {
            if let Some(s) = self.sessions.get_mut(&id)
                && s.rtc.handle_input(Input::Timeout(now)).is_err()
            {
                self.remove_session(id, now);
                continue;
            }
            self.drain(id, now);
        }
        if self.next_allocation.is_none_or(|at| now >= at) {
            self.next_allocation = Some(now + ALLOCATE_INTERVAL);
            let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
            for id in ids {
                self.allocate(id, now);
            }
            self.dynacast(now);
        }
        self.flush(now);
        self.poll_timeout(now)
    }

    /// When [`Sfu::handle_timeout`] should be called next.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let cap = self.next_allocation.unwrap_or(now + ALLOCATE_INTERVAL).min(now + Duration::from_millis(100));
        self.timers.first().map_or(cap, |(t, _)| (*t).min(cap))
    }

    fn set_deadline(&mut self, id: SessionId, t: Instant) {
        if let Some(old) = self.deadlines.insert(id, t) {
            if old == t {
                return;
            }
            self.timers.remove(&(old, id));
        }
        self.timers.insert((t, id));
    }

    /// Polls one session until it has nothing more, then applies what it produced to others.
    fn drain(&mut self, id: SessionId, now: Instant) {
        let mut work = Vec::new();
        let mut dead = false;
        let mut deadline = None;
        if let Some(s) = self.sessions.get_mut(&id) {
            s.written = false;
            loop {
                match s.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        deadline = Some(t);
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        self.counters.datagrams_out += 1;
                        self.counters.bytes_out += t.contents.len() as u64;
                        self.out.push(Transmit { destination: t.destination, contents: t.contents.into() });
                    }
                    Ok(Output::Event(e)) => match e {
                        Event::RtpPacket(p) => work.push(Propagated::Rtp(id, Box::new(p))),
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            dead = true;
                        }
                        Event::Connected => {
                            s.connected = true;
                            s.accounted_at.get_or_insert(now);
                            // Subscriptions answered before the transport was up: their
                            // keyframes were asked for too early; ask again now.
                            for t in s.tracks_out.iter().filter(|t| t.open) {
                                if let Some(layer) = t.fwd.target() {
                                    work.push(Propagated::Keyframe {
                                        source: t.source,
                                        layer: Some(layer),
                                        kind: KeyframeRequestKind::Pli,
                                        fresh: true,
                                    });
                                }
                            }
                        }
                        Event::MediaAdded(m) => {
                            let receives = matches!(m.direction, Direction::RecvOnly | Direction::SendRecv);
                            if receives && s.may_publish && !s.tracks_out.iter().any(|t| t.mid == Some(m.mid)) {
                                s.tracks_in.insert(
                                    m.mid,
                                    TrackIn {
                                        kind: m.kind,
                                        codec: None,
                                        layers: Vec::new(),
                                        subscribers: Vec::new(),
                                        announced: None,
                                    },
                                );
                                work.push(Propagated::TrackOpened(id, m.mid));
                            }
                        }
                        Event::ChannelOpen(cid, _) => {
                            s.channel = Some(cid);
                            work.push(Propagated::Signal(id, Vec::new()));
                        }
                        Event::ChannelData(d) if d.data.len() <= 64 * 1024 => {
                            work.push(Propagated::Signal(id, d.data));
                        }
                        Event::KeyframeRequest(req) => {
                            self.counters.keyframe_requests_received += 1;
                            if let Some(t) = s.tracks_out.iter().find(|t| t.mid == Some(req.mid)) {
                                let layer = t.fwd.current().or(t.fwd.target());
                                work.push(Propagated::Keyframe {
                                    source: t.source,
                                    layer,
                                    kind: req.kind,
                                    fresh: false,
                                });
                            }
                        }
                        Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                            s.estimate = Some(estimate);
                        }
                        Event::PeerStats(st) => {
                            if let Some(loss) = st.egress_loss_fraction {
                                s.loss = s.loss * 0.5 + loss.clamp(0.0, 1.0) * 0.5;
                            }
                        }
                        Event::MediaEgressStats(st) => {
                            let seen = s.nacks.entry(st.mid).or_default();
                            self.counters.nacks_received += st.nacks.saturating_sub(*seen);
                            *seen = st.nacks.max(*seen);
                        }
                        _ => {}
                    },
                    Err(e) => {
                        tracing::debug!(session = id, "session failed: {e}");
                        dead = true;
                        break;
                    }
                }
            }
        }
        if dead || self.sessions.get(&id).is_some_and(|s| !s.rtc.is_alive()) {
            self.remove_session(id, now);
            return;
        }
        if let Some(t) = deadline {
            self.set_deadline(id, t);
        }
        for w in work {
            match w {
                Propagated::Rtp(from, p) => self.forward(from, &p, now),
                Propagated::TrackOpened(from, mid) => {
                    let room = self.sessions[&from].room.clone();
                    let subscribers: Vec<SessionId> = self
                        .sessions
                        .iter()
                        .filter(|(sid, s)| **sid != from && s.room == room && s.subscribe_all && s.may_subscribe)
                        .map(|(sid, _)| *sid)
                        .collect();
                    for sub in subscribers {
                        if !self.sessions[&sub].tracks_out.iter().any(|t| t.source == (from, mid)) {
                            let t = self.new_track_out((from, mid));
                            if let Some(s) = self.sessions.get_mut(&sub) {
                                s.tracks_out.push(t);
                            }
                        }
                        self.offer_over_channel(sub, now);
                    }
                }
                Propagated::Keyframe { source, layer, kind, fresh } => {
                    if let Some(layer) = layer {
                        if fresh {
                            self.forget_keyframe_request(source, layer);
                        }
                        self.request_keyframe(source, layer, kind, now);
                    }
                }
                Propagated::Signal(sid, data) => self.signal(sid, &data, now),
            }
        }
    }

    /// Tracks the loudest publisher of the room; on a change (held for [`SPEAKER_HOLD`]) tells
    /// every session of the room over its data channel: `{"type":"active_speaker","participant"}`.
    fn audio_level(&mut self, from: SessionId, level: f32, voice: Option<bool>, now: Instant) {
        let Some(room) = self.sessions.get(&from).map(|s| s.room.clone()) else { return };
        let sp = self.speakers.entry(room.clone()).or_default();
        let level = if voice == Some(false) { -127.0 } else { level };
        let smoothed = match sp.level.get(&from) {
            Some((old, _)) => old * 0.7 + level * 0.3,
            None => level,
        };
        sp.level.insert(from, (smoothed, now));
        // Forget publishers that stopped sending audio.
        sp.level.retain(|_, (_, at)| now.saturating_duration_since(*at) < Duration::from_secs(2));
        let loudest = sp
            .level
            .iter()
            .filter(|(_, (l, _))| *l > SPEAKING_LEVEL)
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(id, _)| *id);
        let held = sp.changed_at.is_some_and(|at| now.saturating_duration_since(at) < SPEAKER_HOLD);
        let Some(loudest) = loudest else { return };
        if sp.current == Some(loudest) || held {
            return;
        }
        sp.current = Some(loudest);
        sp.changed_at = Some(now);
        self.counters.speaker_changes += 1;
        let Some(identity) = self.sessions.get(&loudest).map(|s| s.identity.clone()) else { return };
        let msg = serde_json::json!({ "type": "active_speaker", "participant": identity }).to_string();
        let members: Vec<SessionId> = self.sessions.iter().filter(|(_, s)| s.room == room).map(|(id, _)| *id).collect();
        for id in members {
            if let Some(s) = self.sessions.get_mut(&id)
                && let Some(cid) = s.channel
                && let Some(mut ch) = s.rtc.channel(cid)
            {
                let _ = ch.write(false, msg.as_bytes());
            }
            self.drain(id, now);
        }
    }

    /// The room's active speaker, if anyone is speaking.
    pub fn active_speaker(&self, room: &RoomKey) -> Option<&str> {
        let id = self.speakers.get(room)?.current?;
        self.sessions.get(&id).map(|s| s.identity.as_str())
    }

    /// Pushes an offer for subscriptions not negotiated yet over the client's data channel.
    fn offer_over_channel(&mut self, id: SessionId, now: Instant) {
        let ready = self.sessions.get(&id).is_some_and(|s| s.channel.is_some() && s.pending.is_none());
        if !ready {
            return;
        }
        let Some(offer) = self.negotiate(id) else { return };
        let Ok(json) = serde_json::to_string(&offer) else { return };
        if let Some(s) = self.sessions.get_mut(&id)
            && let Some(cid) = s.channel
            && let Some(mut ch) = s.rtc.channel(cid)
        {
            let _ = ch.write(false, json.as_bytes());
        }
        self.drain(id, now);
    }

    /// A message on a client's data channel: an answer to the SFU's offer, a client offer, or
    /// a quality preference `{"type":"quality","track":…,"quality":"low"}`.
    /// (An empty message is the channel opening: offer what is waiting.)
    fn signal(&mut self, id: SessionId, data: &[u8], now: Instant) {
        #[derive(serde::Deserialize)]
        struct QualityMsg {
            r#type: String,
            track: String,
            quality: Quality,
        }
        if data.is_empty() {
            self.offer_over_channel(id, now);
            return;
        }
        if let Ok(answer) = serde_json::from_slice::<SdpAnswer>(data) {
            if let Err(e) = self.accept_answer(id, answer, now) {
                tracing::debug!(session = id, "answer over the data channel refused: {e}");
            }
            self.offer_over_channel(id, now);
        } else if let Ok(offer) = serde_json::from_slice::<SdpOffer>(data) {
            match self.accept_offer(id, offer, now) {
                Ok(answer) => {
                    if let Ok(json) = serde_json::to_string(&answer)
                        && let Some(s) = self.sessions.get_mut(&id)
                        && let Some(cid) = s.channel
                        && let Some(mut ch) = s.rtc.channel(cid)
                    {
                        let _ = ch.write(false, json.as_bytes());
                    }
                    self.drain(id, now);
                }
                Err(e) => tracing::debug!(session = id, "offer over the data channel refused: {e}"),
            }
        } else if let Ok(q) = serde_json::from_slice::<QualityMsg>(data)
            && q.r#type == "quality"
        {
            if let Err(e) = self.set_quality(id, &q.track, q.quality, now) {
                tracing::debug!(session = id, "quality change refused: {e}");
            }
        } else {
            tracing::debug!(session = id, "unknown data channel message");
        }
    }

    /// Sends a publisher's RTP packet to every subscriber of its track, rewritten for each.
    fn forward(&mut self, from: SessionId, p: &RtpPacket, now: Instant) {
        self.counters.packets_in += 1;
        let Some(s) = self.sessions.get_mut(&from) else { return };
        let ssrc = p.header.ssrc;
        let (mid, layer) = match s.ssrcs.get(&ssrc) {
            Some(x) => *x,
            None => {
                let mut api = s.rtc.direct_api();
                let Some(rx) = api.stream_rx(&ssrc) else { return };
                let x = (rx.mid(), rx.rid());
                s.ssrcs.insert(ssrc, x);
                x
            }
        };
        let Some(track) = s.tracks_in.get_mut(&mid) else { return };
        let pt = p.header.payload_type;
        let params = match track.codec {
            Some((known, params)) if known == pt => params,
            _ => {
                let Some(params) = s.rtc.codec_config().find(|c| c.pt() == pt).copied() else { return };
                track.codec = Some((pt, params));
                params
            }
        };
        // Layer bitrates, measured over windows of one allocation interval.
        let layer_index = match track.layers.iter().position(|l| l.layer == layer) {
            Some(i) => i,
            None => {
                track.layers.push(LayerIn {
                    layer,
                    window_bytes: 0,
                    window_start: now,
                    bps: None,
                    last_packet: now,
                    last_keyframe_request: None,
                });
                track.layers.len() - 1
            }
        };
        let l = &mut track.layers[layer_index];
        l.last_packet = now;
        l.window_bytes += (p.payload.len() + p.header.header_len) as u64;
        let elapsed = now.saturating_duration_since(l.window_start);
        if elapsed >= ALLOCATE_INTERVAL {
            l.bps = Some((l.window_bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64);
            l.window_bytes = 0;
            l.window_start = now;
        }
        if p.payload.is_empty() {
            return; // padding
        }
        let kind = track.kind;
        let subscribers = std::mem::take(&mut track.subscribers);
        let generation = self.index_generation;
        if kind == MediaKind::Audio
            && let Some(level) = p.header.ext_vals.audio_level
        {
            self.audio_level(from, f32::from(level), p.header.ext_vals.voice_activity, now);
        }
        let codec = keyframe_codec(kind, Some(&params));
        let incoming =
            Incoming { layer, seq: *p.seq_no, timestamp: p.header.timestamp, arrival: now, payload: &p.payload };
        let ext = ExtensionValues {
            audio_level: p.header.ext_vals.audio_level,
            voice_activity: p.header.ext_vals.voice_activity,
            video_orientation: p.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let mut starting = Vec::new();
        for &sub in &subscribers {
            let Some(s) = self.sessions.get_mut(&sub) else { continue };
            if !s.connected {
                continue;
            }
            let Some(t) = s.tracks_out.iter_mut().find(|t| t.open && t.source == (from, mid)) else { continue };
            let Some(mid_out) = t.mid else { continue };
            let pt_out = match t.pt {
                Some((a, b)) if a == pt => b,
                _ => {
                    let Some(ours) = s.rtc.codec_config().match_params(params).map(|c| c.pt()) else { continue };
                    t.pt = Some((pt, ours));
                    ours
                }
            };
            if t.fwd.codec() != codec && t.fwd.current().is_none() {
                // The publisher's codec is known now: start over with it, same target.
                let target = t.fwd.target().or((t.quality != Quality::Off).then_some(layer));
                t.fwd = Forwarder::new(codec, params.spec().clock_rate.get(), random_u16() % 16_384 + 1);
                if t.fwd.set_target(target) {
                    starting.push(sub);
                }
            }
            let Some(out) = t.fwd.forward(&incoming) else { continue };
            if out.switched {
                self.counters.layer_switches += 1;
            }
            let mut write = RtpWrite::new(pt_out, out.seq.into(), out.timestamp, p.timestamp, p.payload.clone())
                .marker(p.header.marker)
                .ext_vals(ext.clone())
                .nackable(kind == MediaKind::Video);
            if let Some(patch) = out.patch {
                write = write.vp8_patch(patch);
            }
            let mut api = s.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid_out, None) else { continue };
            tx.write_rtp(write);
            self.counters.packets_forwarded += 1;
            if !s.written {
                s.written = true;
                self.written.push(sub);
            }
        }
        // Put the subscriber list back unless it was rebuilt meanwhile (a session went away).
        if self.index_generation == generation
            && let Some(t) = self.sessions.get_mut(&from).and_then(|s| s.tracks_in.get_mut(&mid))
        {
            t.subscribers = subscribers;
        }
        for sub in starting {
            if let Some(layer) = self
                .sessions
                .get(&sub)
                .and_then(|s| s.tracks_out.iter().find(|t| t.source == (from, mid)).and_then(|t| t.fwd.target()))
            {
                self.request_keyframe((from, mid), layer, KeyframeRequestKind::Pli, now);
            }
        }
    }
}

/// The SFU-side ufrag of a STUN binding request (`USERNAME` = `server:client`).
pub fn stun_ufrag(data: &[u8]) -> Option<String> {
    // STUN: first two bits zero, magic cookie at 4..8, at least a header.
    if data.len() < 20 || data[0] >= 2 || data[4..8] != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let msg = str0m::ice::StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    msg.split_username().map(|(server, _client)| server.to_owned())
}
