//! Polling a session's `Rtc` after every input: the datagrams it sends, when it wants to be
//! woken, and its events — media, connection state, new tracks, data-channel messages,
//! keyframe requests, bandwidth estimates and stats — with the work they cause in other
//! sessions applied once the session is drained.

use std::time::Instant;

use str0m::bwe::BweKind;
use str0m::media::{Direction, KeyframeRequestKind, Mid};
use str0m::rtp::RtpPacket;
use str0m::{Event, IceConnectionState, Output};

use super::forwarder::Layer;
use super::publication::TrackIn;
use super::relay_layers::MAX_LAYERS;
use super::relay_peer::MAX_RELAYED_TRACKS;
use super::{SessionId, Sfu, Transmit};

/// Data-channel messages larger than this are ignored.
const MAX_CHANNEL_MESSAGE: usize = 64 * 1024;

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

impl Sfu {
    /// Polls one session until it has nothing more, then applies what it produced to others.
    pub(super) fn drain(&mut self, id: SessionId, now: Instant) {
        let mut work = Vec::new();
        let mut dead = false;
        let mut deadline = None;
        let max_tracks = self.limits.max_published_tracks;
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
                        self.out.push(Transmit {
                            source: t.source,
                            destination: t.destination,
                            contents: t.contents.into(),
                        });
                    }
                    Ok(Output::Event(e)) => match e {
                        Event::RtpPacket(p) => work.push(Propagated::Rtp(id, Box::new(p))),
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            dead = true;
                        }
                        Event::Connected => {
                            s.connected = true;
                            // A link is not a participant: its time is nobody's usage; a
                            // standby's counts once it takes over.
                            if !s.is_relay() && s.standby.is_none() {
                                s.accounted_at.get_or_insert(now);
                            }
                            // Subscriptions answered before the transport was up: their
                            // keyframes were asked for too early; ask again now.
                            for t in s.tracks_out.iter().filter(|t| t.open) {
                                for layer in t.wanted_layers() {
                                    work.push(Propagated::Keyframe {
                                        source: t.source,
                                        layer: Some(layer),
                                        kind: KeyframeRequestKind::Pli,
                                        fresh: true,
                                    });
                                }
                            }
                        }
                        // A publisher's stream is back after a pause (its path changed, say an
                        // ICE restart through another TURN server): its subscribers' decoders
                        // lost their references, so a keyframe is asked for now rather than when
                        // each of them notices.
                        Event::StreamPaused(p)
                            if !p.paused && s.tracks_in.get(&p.mid).is_some_and(|t| !t.subscribers.is_empty()) =>
                        {
                            work.push(Propagated::Keyframe {
                                source: (id, p.mid),
                                layer: Some(p.rid),
                                kind: KeyframeRequestKind::Pli,
                                fresh: true,
                            });
                        }
                        Event::MediaAdded(m) => {
                            let receives = matches!(m.direction, Direction::RecvOnly | Direction::SendRecv);
                            // A link's track is its owner's on the other node, named beforehand.
                            let owner = s.relay.as_ref().map(|r| r.origins.get(&m.mid).cloned());
                            let has_space = match owner {
                                Some(_) => s.tracks_in.len() < MAX_RELAYED_TRACKS,
                                None => s.tracks_in.len() < max_tracks,
                            };
                            if receives
                                && has_space
                                && s.may_publish
                                && !matches!(owner, Some(None))
                                && !s.tracks_out.iter().any(|t| t.mid == Some(m.mid))
                            {
                                let mut track = TrackIn::new(m.kind);
                                track.owner = owner.flatten();
                                if let Some(sim) = &m.simulcast {
                                    track.rids = sim.recv.iter().take(MAX_LAYERS).map(|l| l.rid).collect();
                                }
                                s.tracks_in.insert(m.mid, track);
                                work.push(Propagated::TrackOpened(id, m.mid));
                            }
                        }
                        Event::ChannelOpen(cid, _) => {
                            s.channel = Some(cid);
                            work.push(Propagated::Signal(id, Vec::new()));
                        }
                        Event::ChannelData(d) if d.data.len() <= MAX_CHANNEL_MESSAGE => {
                            work.push(Propagated::Signal(id, d.data));
                        }
                        Event::KeyframeRequest(req) => {
                            self.counters.keyframe_requests_received += 1;
                            if let Some(t) = s.tracks_out.iter().find(|t| t.mid == Some(req.mid)) {
                                // Over a link, each layer is a stream of its own: the request names it.
                                let layer = match &t.layers {
                                    Some(_) => req.rid.map(Some),
                                    None => t.fwd.current().or(t.fwd.target()),
                                };
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
            self.timers.set(id, t);
        }
        for w in work {
            match w {
                Propagated::Rtp(from, p) => self.fan_out(from, &p, now),
                Propagated::TrackOpened(from, mid) => self.subscribe_all_to(from, mid, now),
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
}
