//! Subscriptions: which published tracks a session receives (one send track each, with its
//! own forwarder and quality preference), found by track id, and each published track's list
//! of subscribers kept in step with them.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use str0m::media::{MediaKind, Mid, Pt};

use super::error::SfuError;
use super::forwarder::{Forwarder, Layer};
use super::publication::{keyframe_codec, track_id};
use super::quality::Quality;
use super::randomness::first_sequence_number;
use super::relay_layers::RelayLayers;
use super::{SessionId, Sfu};

/// One published track sent to one subscriber.
pub(super) struct TrackOut {
    /// (publisher session, publisher mid)
    pub source: (SessionId, Mid),
    /// The send m-line, once added to an offer.
    pub mid: Option<Mid>,
    /// The client answered the offer with this m-line.
    pub open: bool,
    pub quality: Quality,
    pub fwd: Forwarder,
    /// Publisher payload type → ours.
    pub pt: Option<(Pt, Pt)>,
    /// Over a link, a simulcast track's layers, each a stream of its own (`fwd` is unused).
    pub layers: Option<RelayLayers>,
}

impl TrackOut {
    /// The layers this subscription sends or waits for: each of a link's simulcast layers it
    /// carries, or the one its forwarder aims at.
    pub fn wanted_layers(&self) -> Vec<Layer> {
        match &self.layers {
            Some(l) => l.targets().map(Some).collect(),
            None => self.fwd.target().into_iter().collect(),
        }
    }

    /// The layers flowing now (as [`Self::wanted_layers`]).
    pub fn flowing_layers(&self) -> Vec<Layer> {
        match &self.layers {
            Some(l) => l.iter().filter_map(|l| l.fwd.current()).collect(),
            None => self.fwd.current().into_iter().collect(),
        }
    }
}

impl Sfu {
    /// A subscription to `source`, not negotiated yet; `link`: the subscriber is a link to
    /// another node, which gets each simulcast layer of a video track as a stream of its own.
    pub(super) fn new_track_out(&mut self, source: (SessionId, Mid), link: bool) -> TrackOut {
        let (kind, params, rids) = self
            .sessions
            .get(&source.0)
            .and_then(|s| s.tracks_in.get(&source.1))
            .map(|t| (t.kind, t.codec.map(|c| c.1), t.rids.clone()))
            .unwrap_or((MediaKind::Video, None, Vec::new()));
        let clock = if kind == MediaKind::Audio { 48_000 } else { 90_000 };
        let codec = keyframe_codec(kind, params.as_ref());
        let first_seq = first_sequence_number(&mut *self.rng);
        let layers = (link && kind == MediaKind::Video && rids.len() > 1)
            .then(|| RelayLayers::new(&rids, codec, clock, || first_sequence_number(&mut *self.rng)));
        TrackOut {
            source,
            mid: None,
            open: false,
            quality: Quality::High,
            fwd: Forwarder::new(codec, clock, first_seq),
            pt: None,
            layers,
        }
    }

    /// `(publisher, mid)` of a track id (`identity:mid`) in the session's room.
    pub(super) fn track_by_name(&self, id: SessionId, track: &str) -> Option<(SessionId, Mid)> {
        let room = &self.sessions.get(&id)?.room;
        self.sessions.iter().filter(|(_, s)| &s.room == room).find_map(|(sid, s)| {
            s.tracks_in
                .iter()
                .find(|(mid, t)| track_id(t.owner_or(&s.identity), **mid) == track)
                .map(|(mid, _)| (*sid, *mid))
        })
    }

    /// Adds subscriptions to `tracks` of the session's room (`"all"`: every track now and
    /// later), not negotiated yet.
    pub(super) fn add_subscriptions(&mut self, id: SessionId, tracks: &[String]) -> Result<(), SfuError> {
        let s = self.sessions.get(&id).ok_or(SfuError::NoSession)?;
        if !s.may_subscribe {
            return Err(SfuError::NotAllowed("subscribe"));
        }
        if s.pending.is_some() {
            return Err(SfuError::OfferPending);
        }
        let room = s.room.clone();
        // A link to another node carries this node's own tracks only (see `relay`).
        let link = s.is_relay();
        let all = tracks.iter().any(|t| t == "all");
        let wanted: HashSet<&str> = tracks.iter().map(String::as_str).collect();
        let sources: Vec<(SessionId, Mid)> = self
            .sessions
            .iter()
            .filter(|(sid, s)| **sid != id && s.room == room && !(link && s.is_relay()))
            .flat_map(|(sid, s)| {
                s.tracks_in
                    .iter()
                    .filter(|(mid, t)| all || wanted.contains(track_id(t.owner_or(&s.identity), **mid).as_str()))
                    .map(move |(mid, _)| (*sid, *mid))
            })
            .collect();
        let mut new = Vec::new();
        for src in sources {
            let known = self.sessions.get(&id).is_some_and(|s| s.tracks_out.iter().any(|t| t.source == src));
            if !known {
                new.push(self.new_track_out(src, link));
            }
        }
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        if all {
            s.subscribe_all = true;
        }
        s.tracks_out.extend(new);
        Ok(())
    }

    /// Drops the session's subscriptions to `tracks` (`"all"`: every one, and no more
    /// automatic ones); returns the send m-lines to stop.
    pub(super) fn remove_subscriptions(&mut self, id: SessionId, tracks: &[String]) -> Result<Vec<Mid>, SfuError> {
        let names: HashMap<(SessionId, Mid), String> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| {
                s.tracks_in.iter().map(move |(mid, t)| ((*sid, *mid), track_id(t.owner_or(&s.identity), *mid)))
            })
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
        Ok(stop)
    }

    /// Every subscription to a closed session's tracks ends; subscribers' m-lines go quiet
    /// until they renegotiate.
    pub(super) fn drop_subscriptions_to(&mut self, publisher: SessionId) {
        for other in self.sessions.values_mut() {
            other.tracks_out.retain(|t| t.source.0 != publisher);
        }
    }

    /// A track was published: every session of the room subscribed to `"all"` gets it, offered
    /// over its data channel.
    pub(super) fn subscribe_all_to(&mut self, from: SessionId, mid: Mid, now: Instant) {
        let Some((room, relayed)) = self.sessions.get(&from).map(|s| (s.room.clone(), s.is_relay())) else { return };
        let subscribers: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(sid, s)| **sid != from && s.room == room && s.subscribe_all && s.may_subscribe)
            .filter(|(_, s)| !(relayed && s.is_relay()))
            .map(|(sid, _)| *sid)
            .collect();
        for sub in subscribers {
            let Some((known, link)) =
                self.sessions.get(&sub).map(|s| (s.tracks_out.iter().any(|t| t.source == (from, mid)), s.is_relay()))
            else {
                continue;
            };
            if !known {
                let t = self.new_track_out((from, mid), link);
                if let Some(s) = self.sessions.get_mut(&sub) {
                    s.tracks_out.push(t);
                }
            }
            self.offer_over_channel(sub, now);
        }
    }

    /// Rebuilds every published track's subscriber list from the open send tracks.
    pub(super) fn reindex(&mut self) {
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
}
