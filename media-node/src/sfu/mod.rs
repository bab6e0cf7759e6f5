//! The SFU core, sans-IO: participants are str0m `Rtc`s in ICE-lite mode behind one shared UDP
//! address. Datagrams in, datagrams and events out; the caller owns the socket and the clock
//! (every entry point takes `now`) and the randomness ([`Randomness`]).
//!
//! This file holds [`Sfu`] and one entry point per kind of input: a datagram
//! ([`Sfu::receive`] / [`Sfu::flush`], or [`Sfu::handle_datagram`]), a timeout
//! ([`Sfu::handle_timeout`]) and each control command (create and remove a session,
//! subscribe, unsubscribe, answer, offer, quality, take usage). What they set in motion lives
//! in a file per concept:
//!
//! * `routing`: which session a datagram belongs to, O(1), by address or STUN ufrag.
//! * `session`: one participant's state around its `Rtc`; `rtc_output`: polling it (its
//!   datagrams, timeout and events).
//! * `publication` / `subscription`: tracks published, and who receives which.
//! * `negotiation`: SDP offers and answers, subscriptions renegotiated by the SFU.
//! * `fan_out`: a publisher's RTP to every subscriber, rewritten by a [`forwarder`].
//! * `bandwidth_allocation`: the simulcast layer each subscriber gets (estimate, preference,
//!   loss), a pure function.
//! * `keyframe_request`: PLI/FIR requests to publishers, throttled per layer.
//! * `dynacast`: telling publishers which layers are watched (`track_layers`).
//! * `active_speaker`: the active speaker of each room.
//! * `data_channel`: signalling over the client's data channel.
//! * `session_setup`: a session's `Rtc` built and its offer answered before it enters the SFU
//!   (off the shard's task); `limits`: what sessions may hold; `media_sections`: the m-lines
//!   of a client offer, counted against them; `connect_timeout`: sessions that must connect
//!   by a deadline.
//! * `moderation`: bans and mutes a room's moderators imposed; `standby`: a participant's
//!   second transport, through another TURN server, ready to take over its session.
//! * `relay`: links to other media nodes serving the room (cascading); `relay_peer`: what
//!   makes a session a link; `relay_demand`: what each side asks the other to send;
//!   `relay_layers`: a simulcast track's layers, each its own stream over a link.
//! * `timers`, `participant_time`, `counters`, `randomness`, `quality`, `error`.

mod active_speaker;
mod bandwidth_allocation;
mod connect_timeout;
mod counters;
mod data_channel;
mod dynacast;
mod error;
mod fan_out;
pub mod forwarder;
mod keyframe_request;
mod limits;
mod media_sections;
mod moderation;
mod negotiation;
mod participant_time;
mod publication;
mod quality;
mod randomness;
mod relay;
mod relay_demand;
mod relay_layers;
mod relay_peer;
mod routing;
mod rtc_output;
mod session;
mod session_setup;
mod standby;
mod subscription;
mod timers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::Input;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};

pub use active_speaker::{SPEAKER_HOLD, SPEAKING_LEVEL};
pub use bandwidth_allocation::{ALLOCATE_INTERVAL, INITIAL_ESTIMATE_BPS};
pub use counters::Counters;
pub use error::SfuError;
pub use keyframe_request::KEYFRAME_INTERVAL;
pub use limits::Limits;
pub use moderation::{MAX_BANS, MAX_MUTES, Mute};
pub use publication::TrackInfo;
pub use quality::Quality;
pub use randomness::{OsRandom, Randomness, SeededRandom};
pub use relay::{RELAY_IDLE, RelayState};
pub use relay_peer::MAX_RELAYED_TRACKS;
pub use routing::stun_ufrag;
pub use session_setup::{PreparedSession, prepare_session};

use active_speaker::Speakers;
use connect_timeout::ConnectDeadlines;
use moderation::Moderation;
use participant_time::ParticipantTime;
use publication::{kind_name, layer_name, track_id};
use routing::Routes;
use session::Session;
use timers::Timers;

pub type SessionId = u64;

/// A room: (organisation, name).
pub use origo_shared::RoomKey;

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit {
    /// The local address to send it from: the shard's, or a link's own socket (see `relay`).
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// A session to open: who asks and what its token lets it do.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub room: RoomKey,
    pub identity: String,
    pub may_publish: bool,
    pub may_subscribe: bool,
    /// The room's session cap from the token (`None`: [`Limits::room_sessions`]).
    pub room_sessions: Option<u32>,
    /// A standby transport for the participant's session (see `standby`), not a session of
    /// its own until it takes over.
    pub standby: bool,
}

/// The SFU.
pub struct Sfu {
    local: SocketAddr,
    next_id: SessionId,
    id_step: SessionId,
    rng: Box<dyn Randomness>,
    sessions: HashMap<SessionId, Session>,
    routes: Routes,
    timers: Timers,
    speakers: HashMap<RoomKey, Speakers>,
    next_allocation: Option<Instant>,
    /// Sessions with packets written and not yet polled.
    written: Vec<SessionId>,
    /// Bumped by every [`Sfu::reindex`].
    index_generation: u64,
    /// Taken by [`Sfu::take_usage`].
    usage: ParticipantTime,
    limits: Limits,
    connect_deadlines: ConnectDeadlines,
    moderation: Moderation,
    pub counters: Counters,
    out: Vec<Transmit>,
}

impl Sfu {
    /// An SFU whose sessions are reached at `local` (the UDP socket's public address).
    pub fn new(local: SocketAddr) -> Self {
        Self::with_ids(local, 1, 1)
    }

    /// An SFU numbering its sessions `first`, `first + step`, … (shards of one node use
    /// disjoint numbers, so a session id names its shard). Randomness from the OS.
    pub fn with_ids(local: SocketAddr, first: SessionId, step: SessionId) -> Self {
        Sfu {
            local,
            next_id: first.max(1),
            id_step: step.max(1),
            rng: Box::new(OsRandom),
            sessions: HashMap::new(),
            routes: Routes::default(),
            timers: Timers::default(),
            speakers: HashMap::new(),
            next_allocation: None,
            written: Vec::new(),
            index_generation: 0,
            usage: ParticipantTime::default(),
            limits: Limits::default(),
            connect_deadlines: ConnectDeadlines::default(),
            moderation: Moderation::default(),
            counters: Counters::default(),
            out: Vec::new(),
        }
    }

    /// The same SFU with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same SFU drawing its random numbers from `rng` (tests: a [`SeededRandom`]).
    pub fn with_randomness(mut self, rng: impl Randomness + 'static) -> Self {
        self.rng = Box::new(rng);
        self
    }

    // ---- A datagram ----

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
        let Some(id) = self.routes.lookup(source, destination, data) else {
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
        self.routes.learn(source, destination, id);
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

    // ---- A timeout ----

    /// Advances the clock of every session whose timeout is due (and the periodic layer
    /// allocation); returns when to call again.
    pub fn handle_timeout(&mut self, now: Instant) -> Instant {
        for id in self.timers.due(now) {
            if let Some(s) = self.sessions.get_mut(&id)
                && s.rtc.handle_input(Input::Timeout(now)).is_err()
            {
                self.remove_session(id, now);
                continue;
            }
            self.drain(id, now);
        }
        for id in self.connect_deadlines.due(now) {
            if self.sessions.get(&id).is_some_and(|s| !s.connected) {
                tracing::info!(session = id, "session closed: it did not connect in time");
                self.counters.sessions_reaped += 1;
                self.remove_session(id, now);
            }
        }
        if self.next_allocation.is_none_or(|at| now >= at) {
            self.next_allocation = Some(now + ALLOCATE_INTERVAL);
            let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
            for id in ids {
                self.allocate(id, now);
            }
            self.dynacast(now);
            self.close_idle_relays(now);
        }
        self.flush(now);
        self.poll_timeout(now)
    }

    /// When [`Sfu::handle_timeout`] should be called next.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let mut cap = self.next_allocation.unwrap_or(now + ALLOCATE_INTERVAL).min(now + Duration::from_millis(100));
        if let Some(t) = self.connect_deadlines.first() {
            cap = cap.min(t);
        }
        self.timers.first().map_or(cap, |t| t.min(cap))
    }

    // ---- Control commands ----

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
        let new = NewSession { room, identity, may_publish, may_subscribe, room_sessions: None, standby: false };
        self.open_session(new, offer, now)
    }

    /// The SFU's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Opens a session from the client's offer: [`prepare_session`] then [`Sfu::admit`].
    pub fn open_session(
        &mut self,
        new: NewSession,
        offer: SdpOffer,
        now: Instant,
    ) -> Result<(SessionId, SdpAnswer), SfuError> {
        let prepared = prepare_session(self.local, &self.limits, offer, &mut *self.rng, now)?;
        self.admit(new, prepared, now)
    }

    /// Lets a prepared session in, within the room's rules: not for an identity banned from
    /// the room, not past the room's session cap. A participant holds one session per room: a
    /// new one (a reconnect) replaces the old, and its standby; a new standby replaces only an
    /// older standby (see `standby`). The session must connect within
    /// [`Limits::connect_timeout`].
    pub fn admit(
        &mut self,
        new: NewSession,
        prepared: PreparedSession,
        now: Instant,
    ) -> Result<(SessionId, SdpAnswer), SfuError> {
        let NewSession { room, identity, may_publish, may_subscribe, room_sessions, standby } = new;
        let PreparedSession { local, rtc, ufrag, answer } = prepared;
        if local != self.local {
            return Err(SfuError::BadSdp("the session was prepared for another shard".into()));
        }
        if self.moderation.is_banned(&room, &identity, now) {
            return Err(SfuError::Banned);
        }
        let cap = room_sessions.unwrap_or(self.limits.room_sessions);
        let others = self
            .sessions
            .values()
            .filter(|s| s.room == room && s.identity != identity && !s.is_relay() && s.standby.is_none())
            .count();
        if others >= cap as usize {
            return Err(SfuError::RoomFull(cap));
        }
        let id = self.next_id;
        self.next_id += self.id_step;
        // A participant replacing its own session (reconnect) closes the old one.
        let old: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.room == room && s.identity == identity && !s.is_relay() && (!standby || s.standby.is_some())
            })
            .map(|(id, _)| *id)
            .collect();
        for o in old {
            self.remove_session(o, now);
        }
        self.routes.add_ufrag(ufrag.clone(), id);
        let mut session = match standby {
            true => {
                let mut s = Session::new(room, identity, false, false, rtc, ufrag);
                s.standby = Some(standby::Standby { may_publish, may_subscribe });
                s
            }
            false => Session::new(room, identity, may_publish, may_subscribe, rtc, ufrag),
        };
        session.muted = self.moderation.mute_of(&session.room, &session.identity);
        self.sessions.insert(id, session);
        self.connect_deadlines.push(id, now + self.limits.connect_timeout);
        self.drain(id, now);
        Ok((id, answer))
    }

    /// Closes every session of `identity` in `room` and, until `ban_until`, refuses it new
    /// ones there; returns how many were closed.
    pub fn close_participant(
        &mut self,
        room: &RoomKey,
        identity: &str,
        ban_until: Option<Instant>,
        now: Instant,
    ) -> usize {
        if let Some(until) = ban_until {
            self.moderation.ban(room, identity, until, now);
        }
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| &s.room == room && s.identity == identity)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.remove_session(*id, now);
        }
        self.counters.sessions_kicked += ids.len() as u64;
        ids.len()
    }

    /// Mutes or unmutes `identity`'s audio and video in `room` (`None`: unchanged), for its
    /// sessions now and those it opens later; returns what is muted now and how many sessions
    /// it holds. Unmuted video asks for a keyframe, so receivers see a picture at once.
    pub fn set_mute(
        &mut self,
        room: &RoomKey,
        identity: &str,
        audio: Option<bool>,
        video: Option<bool>,
        now: Instant,
    ) -> Result<(Mute, usize), SfuError> {
        let mute = self.moderation.set_mute(room, identity, audio, video).map_err(|_| SfuError::ModerationFull)?;
        let mut keyframes = Vec::new();
        let mut sessions = 0;
        for (id, s) in self.sessions.iter_mut().filter(|(_, s)| &s.room == room && s.identity == identity) {
            sessions += 1;
            let unmuted_video = s.muted.video && !mute.video;
            s.muted = mute;
            if unmuted_video {
                for (mid, t) in s.tracks_in.iter().filter(|(_, t)| t.kind == MediaKind::Video) {
                    keyframes.extend(t.layers.iter().map(|l| ((*id, *mid), l.layer)));
                }
            }
        }
        for (source, layer) in keyframes {
            self.forget_keyframe_request(source, layer);
            self.request_keyframe(source, layer, KeyframeRequestKind::Pli, now);
        }
        Ok((mute, sessions))
    }

    /// Closes a session and every subscription to its tracks.
    pub fn remove_session(&mut self, id: SessionId, now: Instant) {
        let Some(mut s) = self.sessions.remove(&id) else { return };
        s.rtc.disconnect();
        if let Some(at) = s.accounted_at {
            self.usage.add(&s.room, at, now);
        }
        self.routes.forget(id, &s.ufrag);
        self.timers.remove(id);
        self.forget_speaker(&s.room, id);
        self.drop_subscriptions_to(id);
        self.reindex();
    }

    /// Subscribes to `tracks` (ids from [`Sfu::tracks`]; `"all"` for every track now and later)
    /// and returns the offer the client must answer, if anything changed.
    pub fn subscribe(&mut self, id: SessionId, tracks: &[String], now: Instant) -> Result<Option<SdpOffer>, SfuError> {
        self.in_use(id)?;
        self.add_subscriptions(id, tracks)?;
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
        self.in_use(id)?;
        let stopped = self.remove_subscriptions(id, tracks)?;
        if stopped.is_empty() {
            self.reindex();
            return Ok(None);
        }
        let offer = self.stop_media(id, &stopped);
        self.reindex();
        self.drain(id, now);
        self.dynacast(now);
        Ok(offer)
    }

    /// The client's answer to the SFU's last offer.
    pub fn accept_answer(&mut self, id: SessionId, answer: SdpAnswer, now: Instant) -> Result<(), SfuError> {
        self.apply_answer(id, answer)?;
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
        self.in_use(id)?;
        let s = self.sessions.get(&id).ok_or(SfuError::NoSession)?;
        if s.is_relay() {
            let counted = media_sections::count(&offer.to_sdp_string());
            if counted.mids > MAX_RELAYED_TRACKS + s.tracks_out.len() + 1 {
                return Err(SfuError::TooManyTracks(format!("a link's offer has {} m-lines", counted.mids)));
            }
        } else {
            session_setup::check_offer(&self.limits, &offer, s.tracks_out.len())?;
        }
        let answer = self.answer_offer(id, offer)?;
        self.drain(id, now);
        Ok(answer)
    }

    /// Caps (or pauses, with [`Quality::Off`]) what the session receives of a video track.
    pub fn set_quality(&mut self, id: SessionId, track: &str, quality: Quality, now: Instant) -> Result<(), SfuError> {
        self.in_use(id)?;
        let source = self.track_by_name(id, track).ok_or(SfuError::NoTrack)?;
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let t = s.tracks_out.iter_mut().find(|t| t.source == source).ok_or(SfuError::NoTrack)?;
        let raised = quality.raises(t.quality);
        t.quality = quality;
        if raised {
            s.reset_estimate(bandwidth_allocation::restarted_estimate(s.estimate.map(|b| b.as_u64())));
        }
        self.allocate(id, now);
        self.dynacast(now);
        Ok(())
    }

    /// Participant-milliseconds per room since the last call (sessions still open are counted
    /// up to `now`).
    pub fn take_usage(&mut self, now: Instant) -> Vec<(RoomKey, u64)> {
        for s in self.sessions.values_mut() {
            if let Some(at) = s.accounted_at {
                self.usage.add(&s.room, at, now);
                s.accounted_at = Some(now);
            }
        }
        self.usage.take()
    }

    // ---- Output and state ----

    /// Datagrams to send, taken.
    pub fn drain_transmits(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.out)
    }

    /// The address sessions reach this SFU at (its shard's candidate).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Participants' sessions open. Links to other nodes are not counted: there is at most one
    /// per room and peer node, and a node that is full of participants must still take the
    /// links of the rooms it serves.
    pub fn session_count(&self) -> usize {
        self.sessions.values().filter(|s| !s.is_relay()).count()
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
                    id: track_id(t.owner_or(&s.identity), *mid),
                    participant: t.owner_or(&s.identity).to_owned(),
                    kind: kind_name(t.kind),
                    layers: t.layer_names(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The layer a subscriber is being sent of a track (`""` without simulcast), if any; for a
    /// link, the layers it carries, comma-separated.
    pub fn forwarded_layer(&self, id: SessionId, track: &str) -> Option<String> {
        let source = self.track_by_name(id, track)?;
        let t = self.sessions.get(&id)?.tracks_out.iter().find(|t| t.source == source)?;
        let flowing: Vec<String> = t.flowing_layers().iter().map(layer_name).collect();
        (!flowing.is_empty()).then(|| flowing.join(","))
    }

    /// The room's active speaker, if anyone is speaking.
    pub fn active_speaker(&self, room: &RoomKey) -> Option<&str> {
        let id = self.speakers.get(room)?.current()?;
        self.sessions.get(&id).map(|s| s.identity.as_str())
    }
}
