//! What a link carries: each node tells the other, over the link's data channel, which of the
//! tracks arriving over the link its own participants subscribe to, and the most of each any
//! of them wants (`{"type":"relay_demand","tracks":{mid: quality}}`, sent when it changes). The
//! sending side forwards those, capped at that quality, and pauses the rest: a track nobody on
//! the far node watches stays home, and the publisher's dynacast counts the link like any
//! subscriber. Until a node has heard the other's demand, a link carries everything.

use std::time::Instant;

use str0m::media::Mid;

use super::quality::Quality;
use super::relay_peer::{Demand, MAX_RELAYED_TRACKS, Relay};
use super::{SessionId, Sfu};

#[derive(serde::Serialize, serde::Deserialize)]
struct DemandMessage {
    r#type: String,
    tracks: Demand,
}

const DEMAND: &str = "relay_demand";

/// The demand of subscriptions `(link mid, quality)`: per mid the highest quality wanted; a mid
/// only subscribed to with [`Quality::Off`] is absent.
pub(super) fn demand(subscriptions: impl IntoIterator<Item = (Mid, Quality)>) -> Demand {
    let mut out = Demand::new();
    for (mid, quality) in subscriptions.into_iter().filter(|(_, q)| *q != Quality::Off) {
        let e = out.entry(mid.to_string()).or_insert(quality);
        *e = (*e).max(quality);
    }
    out
}

/// What a track sent on m-line `mid` may be: over a link, the other side's demand for that
/// m-line (nothing when it is not asked for); otherwise, or before any demand arrived, the
/// subscription's own preference `own`.
pub(super) fn link_quality(relay: Option<&Relay>, mid: Option<Mid>, own: Quality) -> Quality {
    match relay.and_then(|r| r.demand_in.as_ref()) {
        Some(d) => mid.and_then(|m| d.get(&m.to_string()).copied()).unwrap_or(Quality::Off),
        None => own,
    }
}

impl Sfu {
    /// Tells each link's other side what this node's participants subscribe to of the tracks it
    /// sends, when that changed since the last time.
    pub(super) fn send_relay_demands(&mut self, now: Instant) {
        let links: Vec<SessionId> = self.sessions.iter().filter(|(_, s)| s.is_relay()).map(|(id, _)| *id).collect();
        for link in links {
            let Some(room) = self.sessions.get(&link).map(|s| s.room.clone()) else { continue };
            let wanted = demand(
                self.sessions
                    .values()
                    .filter(|s| s.room == room && !s.is_relay())
                    .flat_map(|s| s.tracks_out.iter())
                    .filter(|t| t.source.0 == link)
                    .map(|t| (t.source.1, t.quality)),
            );
            let Some(s) = self.sessions.get_mut(&link) else { continue };
            if s.channel.is_none() {
                continue;
            }
            let Some(relay) = s.relay.as_mut() else { continue };
            if relay.demand_out.as_ref() == Some(&wanted) {
                continue;
            }
            let Ok(json) = serde_json::to_vec(&DemandMessage { r#type: DEMAND.into(), tracks: wanted.clone() }) else {
                continue;
            };
            relay.demand_out = Some(wanted);
            s.send_message(&json);
            self.drain(link, now);
        }
    }

    /// A link's `relay_demand` message, if `data` is one (true): what it carries from now on.
    pub(super) fn take_demand(&mut self, id: SessionId, data: &[u8], now: Instant) -> bool {
        let Some(relay) = self.sessions.get_mut(&id).and_then(|s| s.relay.as_mut()) else { return false };
        let Ok(m) = serde_json::from_slice::<DemandMessage>(data) else { return false };
        if m.r#type != DEMAND {
            return false;
        }
        let tracks: Demand = m.tracks.into_iter().filter(|(mid, _)| mid.len() <= 16).take(MAX_RELAYED_TRACKS).collect();
        if relay.demand_in.as_ref() != Some(&tracks) {
            relay.demand_in = Some(tracks);
            self.allocate(id, now);
            self.dynacast(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_anyone_wants_of_each_track_and_nothing_of_what_is_off() {
        let (a, b, c) = (Mid::from("1"), Mid::from("2"), Mid::from("3"));
        let d = demand([
            (a, Quality::Low),
            (a, Quality::High),
            (b, Quality::Off),
            (c, Quality::Medium),
            (a, Quality::Medium),
        ]);
        assert_eq!(d, Demand::from([("1".into(), Quality::High), ("3".into(), Quality::Medium)]));
        assert!(demand([]).is_empty());
    }
}
