//! The SFU core, sans-IO: participants are str0m `Rtc`s in ICE-lite mode behind one shared UDP
//! address. Datagrams in, datagrams and events out; the caller owns the socket and the clock.
//!
//! * **Routing is O(1)**: a datagram finds its session by source address; a new address is
//!   only accepted from a STUN binding request whose USERNAME names a session's ufrag (then
//!   `Rtc::accepts` checks its MESSAGE-INTEGRITY), and the address is remembered.
//! * **Forwarding** is frame-level: media a publisher sends is written to every subscriber's
//!   send track for it (str0m repacketises, answers NACKs from its send buffer, keeps RTX).
//! * **Keyframes**: a subscriber's PLI/FIR and a gap in a publisher's stream ask the publisher
//!   for a keyframe, at most once per [`KEYFRAME_INTERVAL`] per source track.
//! * **Subscriptions** are renegotiated by the SFU: subscribing adds a send-only m-line and
//!   produces an offer the client answers (HTTP `PATCH`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};

/// The active speaker changes at most this often (hysteresis).
pub const SPEAKER_HOLD: Duration = Duration::from_millis(700);
/// Quieter than this (dBov) is not speaking.
pub const SPEAKING_LEVEL: f32 = -50.0;

/// Keyframe requests to one source track are at most this frequent.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

pub type SessionId = u64;

/// A room: (organisation, name).
pub type RoomKey = (String, String);

/// A track a participant publishes: `{identity}:{mid}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TrackInfo {
    pub id: String,
    pub participant: String,
    pub kind: &'static str,
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
    #[error("this session may not {0}")]
    NotAllowed(&'static str),
    #[error("an offer is already waiting for its answer")]
    OfferPending,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub unroutable: u64,
    pub frames_forwarded: u64,
    pub keyframe_requests: u64,
    pub speaker_changes: u64,
}

struct TrackIn {
    kind: MediaKind,
    last_keyframe_request: Option<Instant>,
}

struct TrackOut {
    /// (publisher session, publisher mid)
    source: (SessionId, Mid),
    mid: Option<Mid>,
    open: bool,
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
    pending: Option<SdpPendingOffer>,
    subscribe_all: bool,
    connected: bool,
    /// The client's data channel: the SFU pushes offers for new tracks over it (JSON
    /// `{"type":"offer","sdp":…}`) and takes answers (and client offers) from it.
    channel: Option<ChannelId>,
}

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
    Media(SessionId, Box<MediaData>),
    TrackOpened(SessionId, Mid),
    Keyframe { source: (SessionId, Mid), kind: KeyframeRequestKind },
    Signal(SessionId, Vec<u8>),
}

/// The SFU.
pub struct Sfu {
    local: SocketAddr,
    next_id: SessionId,
    sessions: HashMap<SessionId, Session>,
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
    deadlines: HashMap<SessionId, Instant>,
    speakers: HashMap<RoomKey, Speakers>,
    pub counters: Counters,
    out: Vec<Transmit>,
}

fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut b = vec![0u8; n];
    let _ = getrandom03::fill(&mut b);
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

fn kind_name(k: MediaKind) -> &'static str {
    if k == MediaKind::Audio { "audio" } else { "video" }
}

impl Sfu {
    /// An SFU whose sessions are reached at `local` (the UDP socket's public address).
    pub fn new(local: SocketAddr) -> Self {
        Sfu {
            local,
            next_id: 1,
            sessions: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            deadlines: HashMap::new(),
            speakers: HashMap::new(),
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
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Datagrams to send, taken.
    pub fn drain_transmits(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.out)
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
            .set_local_ice_credentials(IceCreds { ufrag: ufrag.clone(), pass: random_token(24) })
            .build(now);
        let candidate = Candidate::host(self.local, "udp").map_err(|e| SfuError::BadSdp(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let id = self.next_id;
        self.next_id += 1;
        // A participant replacing its own session (reconnect) closes the old one.
        let old: Vec<SessionId> =
            self.sessions.iter().filter(|(_, s)| s.room == room && s.identity == identity).map(|(id, _)| *id).collect();
        for o in old {
            self.remove_session(o);
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
                pending: None,
                subscribe_all: false,
                connected: false,
                channel: None,
            },
        );
        self.drain(id, now);
        Ok((id, answer))
    }

    /// Closes a session and every subscription to its tracks.
    pub fn remove_session(&mut self, id: SessionId) {
        let Some(mut s) = self.sessions.remove(&id) else { return };
        s.rtc.disconnect();
        self.by_ufrag.remove(&s.ufrag);
        self.by_addr.retain(|_, v| *v != id);
        self.deadlines.remove(&id);
        if let Some(sp) = self.speakers.get_mut(&s.room) {
            sp.level.remove(&id);
            if sp.current == Some(id) {
                sp.current = None;
            }
        }
        // Subscribers stop receiving; their m-lines go quiet until they renegotiate.
        for other in self.sessions.values_mut() {
            other.tracks_out.retain(|t| t.source.0 != id);
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
        let Some(s) = self.sessions.get_mut(&id) else { return Err(SfuError::NoSession) };
        if all {
            s.subscribe_all = true;
        }
        for source in sources {
            if !s.tracks_out.iter().any(|t| t.source == source) {
                s.tracks_out.push(TrackOut { source, mid: None, open: false });
            }
        }
        let offer = self.negotiate(id);
        tracing::debug!(session = id, tracks = ?self.sessions[&id].tracks_out.iter().map(|t| (t.source.0, t.source.1.to_string(), t.mid.map(|m| m.to_string()))).collect::<Vec<_>>(), "subscribed");
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
        let stop: Vec<Mid> = s
            .tracks_out
            .iter()
            .filter(|t| all || names.get(&t.source).is_some_and(|n| tracks.contains(n)))
            .filter_map(|t| t.mid)
            .collect();
        s.tracks_out.retain(|t| !(all || names.get(&t.source).is_some_and(|n| tracks.contains(n))));
        if stop.is_empty() {
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
        self.drain(id, now);
        Ok(offer)
    }

    /// The client's answer to the SFU's last offer.
    pub fn accept_answer(&mut self, id: SessionId, answer: SdpAnswer, now: Instant) -> Result<(), SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let pending = s.pending.take().ok_or(SfuError::NoPendingOffer)?;
        s.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        for t in s.tracks_out.iter_mut().filter(|t| t.mid.is_some()) {
            t.open = true;
        }
        tracing::debug!(session = id, tracks = ?s.tracks_out.iter().map(|t| (t.source.0, t.source.1.to_string(), t.mid.map(|m| m.to_string()))).collect::<Vec<_>>(), "answer accepted");
        self.drain(id, now);
        // Ask the publishers for keyframes so the new subscriber can start decoding at once.
        let sources: Vec<(SessionId, Mid)> =
            self.sessions[&id].tracks_out.iter().filter(|t| t.open).map(|t| t.source).collect();
        for source in sources {
            self.request_keyframe(source, KeyframeRequestKind::Pli, now);
        }
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
            t.mid = Some(api.add_media(*kind, Direction::SendOnly, Some(stream.clone()), None, None));
            added = true;
        }
        if !added {
            return None;
        }
        let (offer, pending) = api.apply()?;
        s.pending = Some(pending);
        Some(offer)
    }

    fn request_keyframe(&mut self, source: (SessionId, Mid), kind: KeyframeRequestKind, now: Instant) {
        let Some(s) = self.sessions.get_mut(&source.0) else { return };
        let Some(track) = s.tracks_in.get_mut(&source.1) else { return };
        if track.kind != MediaKind::Video
            || track.last_keyframe_request.is_some_and(|at| now.duration_since(at) < KEYFRAME_INTERVAL)
        {
            return;
        }
        let Some(mut writer) = s.rtc.writer(source.1) else { return };
        let kind = if writer.is_request_keyframe_possible(kind) { kind } else { KeyframeRequestKind::Fir };
        if writer.is_request_keyframe_possible(kind) && writer.request_keyframe(None, kind).is_ok() {
            track.last_keyframe_request = Some(now);
            self.counters.keyframe_requests += 1;
        }
        self.drain(source.0, now);
    }

    /// Feeds one received datagram.
    pub fn handle_datagram(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8], now: Instant) {
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
            self.remove_session(id);
            return;
        }
        self.by_addr.entry(source).or_insert(id);
        self.drain(id, now);
    }

    /// Advances every session's clock; returns when to call again.
    pub fn handle_timeout(&mut self, now: Instant) -> Instant {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(s) = self.sessions.get_mut(&id)
                && s.rtc.handle_input(Input::Timeout(now)).is_err()
            {
                self.remove_session(id);
                continue;
            }
            self.drain(id, now);
        }
        self.next_deadline(now)
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        self.deadlines.values().copied().fold(now + Duration::from_millis(100), Instant::min)
    }

    /// Polls one session until it has nothing more, then applies what it produced to others.
    fn drain(&mut self, id: SessionId, now: Instant) {
        let mut work = Vec::new();
        let mut dead = false;
        if let Some(s) = self.sessions.get_mut(&id) {
            loop {
                match s.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        self.deadlines.insert(id, t);
                        break;
                    }
                    Ok(Output::Transmit(t)) => {
                        self.counters.datagrams_out += 1;
                        self.counters.bytes_out += t.contents.len() as u64;
                        self.out.push(Transmit { destination: t.destination, contents: t.contents.into() });
                    }
                    Ok(Output::Event(e)) => match e {
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            dead = true;
                        }
                        Event::Connected => s.connected = true,
                        Event::MediaAdded(m) => {
                            let receives = matches!(m.direction, Direction::RecvOnly | Direction::SendRecv);
                            if receives && s.may_publish && !s.tracks_out.iter().any(|t| t.mid == Some(m.mid)) {
                                s.tracks_in.insert(m.mid, TrackIn { kind: m.kind, last_keyframe_request: None });
                                work.push(Propagated::TrackOpened(id, m.mid));
                            }
                        }
                        Event::MediaData(data) if s.tracks_in.contains_key(&data.mid) => {
                            if !data.contiguous {
                                work.push(Propagated::Keyframe {
                                    source: (id, data.mid),
                                    kind: KeyframeRequestKind::Fir,
                                });
                            }
                            work.push(Propagated::Media(id, Box::new(data)));
                        }
                        Event::ChannelOpen(cid, _) => {
                            s.channel = Some(cid);
                            work.push(Propagated::Signal(id, Vec::new()));
                        }
                        Event::ChannelData(d) if d.data.len() <= 64 * 1024 => {
                            work.push(Propagated::Signal(id, d.data));
                        }
                        Event::KeyframeRequest(req) => {
                            if let Some(t) = s.tracks_out.iter().find(|t| t.mid == Some(req.mid)) {
                                work.push(Propagated::Keyframe { source: t.source, kind: req.kind });
                            }
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
            self.remove_session(id);
            return;
        }
        for w in work {
            match w {
                Propagated::Media(from, data) => {
                    if let Some(level) = data.ext_vals.audio_level {
                        self.audio_level(from, f32::from(level), data.ext_vals.voice_activity, now);
                    }
                    self.forward(from, &data, now);
                }
                Propagated::TrackOpened(from, mid) => {
                    let room = self.sessions[&from].room.clone();
                    let subscribers: Vec<SessionId> = self
                        .sessions
                        .iter()
                        .filter(|(sid, s)| **sid != from && s.room == room && s.subscribe_all && s.may_subscribe)
                        .map(|(sid, _)| *sid)
                        .collect();
                    for sub in subscribers {
                        if let Some(s) = self.sessions.get_mut(&sub)
                            && !s.tracks_out.iter().any(|t| t.source == (from, mid))
                        {
                            s.tracks_out.push(TrackOut { source: (from, mid), mid: None, open: false });
                        }
                        self.offer_over_channel(sub, now);
                    }
                }
                Propagated::Keyframe { source, kind } => self.request_keyframe(source, kind, now),
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
        sp.level.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(2));
        let loudest = sp
            .level
            .iter()
            .filter(|(_, (l, _))| *l > SPEAKING_LEVEL)
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(id, _)| *id);
        let held = sp.changed_at.is_some_and(|at| now.duration_since(at) < SPEAKER_HOLD);
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

    /// A message on a client's data channel: an answer to the SFU's offer, or a client offer.
    /// (An empty message is the channel opening: offer what is waiting.)
    fn signal(&mut self, id: SessionId, data: &[u8], now: Instant) {
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
        } else {
            tracing::debug!(session = id, "unknown data channel message");
        }
    }

    /// Writes a publisher's frame to every subscriber's open send track for it.
    fn forward(&mut self, from: SessionId, data: &MediaData, now: Instant) {
        let targets: Vec<(SessionId, Mid)> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| {
                s.tracks_out
                    .iter()
                    .filter(|t| t.open && t.source == (from, data.mid))
                    .filter_map(move |t| t.mid.map(|m| (*sid, m)))
            })
            .collect();
        for (sub, mid) in targets {
            let Some(s) = self.sessions.get_mut(&sub) else { continue };
            if !s.connected {
                continue;
            }
            let (alive, has_media) = (s.rtc.is_alive(), s.rtc.media(mid).is_some());
            let Some(writer) = s.rtc.writer(mid) else {
                tracing::trace!(session = sub, %mid, alive, has_media, "no writer");
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                tracing::trace!(session = sub, %mid, "no matching payload type");
                continue;
            };
            match writer.write(pt, data.network_time, data.time, data.data.clone()) {
                Ok(()) => self.counters.frames_forwarded += 1,
                Err(e) => tracing::debug!(session = sub, %mid, "write failed: {e}"),
            }
            self.drain(sub, now);
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
