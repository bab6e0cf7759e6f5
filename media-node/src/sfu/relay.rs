//! Links between media nodes (cascading): a room served by several nodes has one link per pair
//! of them, a WebRTC session between the two SFUs. The node that opens it is a full-ICE,
//! controlling agent offering a data channel ([`Sfu::open_relay`]); the other answers it as it
//! answers participants, ICE-lite ([`Sfu::accept_relay`]). DTLS-SRTP protects what crosses:
//! media between regions goes over public networks.
//!
//! Over a link each side sends the tracks its own participants publish, one copy per track
//! whatever the number of subscribers on the other side, and never a track it receives from
//! another node: with every pair of a room's nodes linked, each track reaches each other node
//! once. The link is a session of the room on both sides, subscribed to the room's local
//! tracks; it publishes, on each side, the tracks the other side sends. Both sides negotiate
//! their send m-lines over the data channel as the SFU does with participants; when both offer
//! at once, the opener gives way. Before each offer a side names whose track each new m-line
//! carries (`{"type":"relay_origins","tracks":{mid: identity}}`), so subscribers see the
//! publisher's identity, not the link's. Keyframe requests and NACKs cross the hop as they do
//! between a participant and the SFU: str0m answers NACKs from each side's send buffer, and a
//! subscriber's picture loss indication becomes one on the link, then one to the publisher.
//! A simulcast track crosses as one stream per layer (`relay_layers`), so the other node
//! chooses a layer per subscriber as it does for its own publishers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::IceCreds;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;

use super::error::SfuError;
use super::media_sections;
use super::quality::Quality;
use super::randomness;
use super::relay_demand;
use super::relay_peer::{MAX_RELAYED_TRACKS, Relay};
use super::session::{self, Session};
use super::session_setup::prepare_session;
use super::{RoomKey, SessionId, Sfu};

/// A link whose room has nobody on this node is closed after this long.
pub const RELAY_IDLE: Duration = Duration::from_secs(20);

/// A link as [`Sfu::relay_states`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RelayState {
    /// The link's session on this node.
    pub session: SessionId,
    /// The node at the other end.
    pub peer_node: String,
    /// This node opened it.
    pub opener: bool,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Tracks the other node sends over it.
    pub tracks_in: usize,
    /// Tracks this node sends over it.
    pub tracks_out: usize,
    /// Of those, the ones held back because nobody on the other node watches them.
    pub tracks_held: usize,
    /// Streams flowing over it now: one per track, or one per simulcast layer carried.
    pub streams_out: usize,
}

/// `{"type":"relay_origins","tracks":{mid: identity}}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct OriginsMessage {
    r#type: String,
    tracks: HashMap<String, String>,
}

const ORIGINS: &str = "relay_origins";

impl Sfu {
    /// Opens a link to `peer_node` for `room` from `local`: the offer to hand to that node (its
    /// [`Sfu::accept_relay`]), whose answer comes back through [`Sfu::relay_answered`].
    ///
    /// `local` is the address of a socket the caller bound for this link alone (its datagrams
    /// are fed in with it as their destination, and those it sends have it as their source):
    /// the other node knows each of its links by the address their datagrams come from, and two
    /// rooms linked between the same shards would otherwise share one.
    pub fn open_relay(
        &mut self,
        room: RoomKey,
        peer_node: &str,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(SessionId, SdpOffer), SfuError> {
        let ufrag = randomness::token(&mut *self.rng, 12);
        let creds = IceCreds { ufrag: ufrag.clone(), pass: randomness::token(&mut *self.rng, 24) };
        let mut rtc = session::relay_rtc(local, creds, now)?;
        let mut api = rtc.sdp_api();
        api.add_channel("origo-relay".into());
        let (offer, pending) = api.apply().ok_or_else(|| SfuError::BadSdp("nothing to offer".into()))?;
        let id = self.insert_relay(room, peer_node, Some(local), rtc, ufrag, now);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.pending = Some(pending);
        }
        Ok((id, offer))
    }

    /// Answers another node's link offer for `room` (ICE-lite, like a participant's). A link
    /// that node opened before for the room is closed: it opens a new one when it lost the old.
    pub fn accept_relay(
        &mut self,
        room: RoomKey,
        peer_node: &str,
        offer: SdpOffer,
        now: Instant,
    ) -> Result<(SessionId, SdpAnswer), SfuError> {
        let counted = media_sections::count(&offer.to_sdp_string());
        if counted.mids > MAX_RELAYED_TRACKS + 1 {
            return Err(SfuError::TooManyTracks(format!("a link's offer has {} m-lines", counted.mids)));
        }
        let prepared = prepare_session(self.local, &self.limits, offer, &mut *self.rng, now)?;
        let old: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.room == room && s.relay.as_ref().is_some_and(|r| !r.opener && r.peer_node == peer_node))
            .map(|(id, _)| *id)
            .collect();
        for o in old {
            self.remove_session(o, now);
        }
        let id = self.insert_relay(room, peer_node, None, prepared.rtc, prepared.ufrag, now);
        self.drain(id, now);
        Ok((id, prepared.answer))
    }

    /// The other node's answer to [`Sfu::open_relay`]; `peer` is the address its media comes
    /// from (its shard's UDP address), so its datagrams find the link.
    pub fn relay_answered(
        &mut self,
        id: SessionId,
        answer: SdpAnswer,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), SfuError> {
        let local = match self.sessions.get(&id).and_then(|s| s.relay.as_ref()) {
            Some(r) if r.opener => r.local,
            _ => return Err(SfuError::NoSession),
        };
        self.apply_answer(id, answer)?;
        self.routes.learn(peer, local, id);
        self.drain(id, now);
        Ok(())
    }

    /// The links of `room` and the nodes they go to.
    pub fn relays(&self, room: &RoomKey) -> Vec<(SessionId, String)> {
        let mut out: Vec<(SessionId, String)> =
            self.relay_states(room).into_iter().map(|l| (l.session, l.peer_node)).collect();
        out.sort();
        out
    }

    /// The links of `room`, with their state.
    pub fn relay_states(&self, room: &RoomKey) -> Vec<RelayState> {
        let mut out: Vec<RelayState> = self
            .sessions
            .iter()
            .filter(|(_, s)| &s.room == room)
            .filter_map(|(id, s)| {
                let r = s.relay.as_ref()?;
                Some(RelayState {
                    session: *id,
                    peer_node: r.peer_node.clone(),
                    opener: r.opener,
                    connected: s.connected,
                    tracks_in: s.tracks_in.len(),
                    tracks_out: s.tracks_out.iter().filter(|t| t.open).count(),
                    tracks_held: s
                        .tracks_out
                        .iter()
                        .filter(|t| t.open && relay_demand::link_quality(Some(r), t.mid, t.quality) == Quality::Off)
                        .count(),
                    streams_out: s.tracks_out.iter().filter(|t| t.open).map(|t| t.flowing_layers().len()).sum(),
                })
            })
            .collect();
        out.sort_by_key(|l| l.session);
        out
    }

    /// The link this node opened to `peer_node` for `room`, if one is open or connecting.
    pub fn opened_relay(&self, room: &RoomKey, peer_node: &str) -> Option<SessionId> {
        self.relay_states(room).into_iter().find(|l| l.opener && l.peer_node == peer_node).map(|l| l.session)
    }

    /// The local addresses of the links this node opened (each has a socket of its own).
    pub fn relay_sockets(&self) -> Vec<SocketAddr> {
        self.sessions.values().filter_map(|s| s.relay.as_ref()).filter(|r| r.opener).map(|r| r.local).collect()
    }

    /// Closes the links of rooms that have had no participant on this node for [`RELAY_IDLE`]:
    /// nothing published here is left to send, nobody here is left to receive.
    pub(super) fn close_idle_relays(&mut self, now: Instant) {
        let mut in_use: Vec<&RoomKey> = self.sessions.values().filter(|s| !s.is_relay()).map(|s| &s.room).collect();
        in_use.sort_unstable();
        in_use.dedup();
        let in_use: std::collections::HashSet<RoomKey> = in_use.into_iter().cloned().collect();
        let mut idle = Vec::new();
        for (id, s) in &mut self.sessions {
            let busy = in_use.contains(&s.room);
            let Some(r) = s.relay.as_mut() else { continue };
            if busy {
                r.idle_since = None;
            } else if now.duration_since(*r.idle_since.get_or_insert(now)) >= RELAY_IDLE {
                idle.push(*id);
            }
        }
        for id in idle {
            tracing::info!(session = id, "link closed: its room has nobody on this node");
            self.remove_session(id, now);
        }
    }

    fn insert_relay(
        &mut self,
        room: RoomKey,
        peer_node: &str,
        opened_from: Option<SocketAddr>,
        rtc: str0m::Rtc,
        ufrag: String,
        now: Instant,
    ) -> SessionId {
        let id = self.next_id;
        self.next_id += self.id_step;
        self.routes.add_ufrag(ufrag.clone(), id);
        let mut s = Session::new(room, format!("relay:{peer_node}"), true, true, rtc, ufrag);
        s.relay = Some(Relay {
            peer_node: peer_node.to_owned(),
            opener: opened_from.is_some(),
            local: opened_from.unwrap_or(self.local),
            origins: HashMap::new(),
            idle_since: None,
            demand_in: None,
            demand_out: None,
        });
        s.subscribe_all = true;
        self.sessions.insert(id, s);
        self.connect_deadlines.push(id, now + self.limits.connect_timeout);
        // The room's local tracks, negotiated once the data channel is open.
        let _ = self.add_subscriptions(id, &["all".to_owned()]);
        id
    }

    /// Before a link's offer: names the publisher of each send m-line the offer adds.
    pub(super) fn send_origins(&mut self, id: SessionId) {
        let owners: HashMap<(SessionId, Mid), String> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| {
                s.tracks_in.iter().map(move |(mid, t)| ((*sid, *mid), t.owner_or(&s.identity).to_owned()))
            })
            .collect();
        let Some(s) = self.sessions.get_mut(&id) else { return };
        if s.relay.is_none() {
            return;
        }
        let tracks: HashMap<String, String> = s
            .tracks_out
            .iter()
            .filter(|t| !t.open)
            .filter_map(|t| Some((t.mid?.to_string(), owners.get(&t.source)?.clone())))
            .collect();
        if tracks.is_empty() {
            return;
        }
        if let Ok(json) = serde_json::to_vec(&OriginsMessage { r#type: ORIGINS.into(), tracks }) {
            s.send_message(&json);
        }
    }

    /// A link's `relay_origins` message, if `data` is one (true); kept within
    /// [`MAX_RELAYED_TRACKS`] and for identities a token could carry.
    pub(super) fn take_origins(&mut self, id: SessionId, data: &[u8]) -> bool {
        let Some(relay) = self.sessions.get_mut(&id).and_then(|s| s.relay.as_mut()) else { return false };
        let Ok(m) = serde_json::from_slice::<OriginsMessage>(data) else { return false };
        if m.r#type != ORIGINS {
            return false;
        }
        for (mid, identity) in m.tracks {
            if relay.origins.len() >= MAX_RELAYED_TRACKS && !relay.origins.contains_key(&Mid::from(mid.as_str())) {
                tracing::debug!(session = id, "a link named more tracks than it may carry");
                break;
            }
            if mid.len() <= 16 && origo_shared::identity::fits(&identity) {
                relay.origins.insert(Mid::from(mid.as_str()), identity);
            }
        }
        true
    }
}
