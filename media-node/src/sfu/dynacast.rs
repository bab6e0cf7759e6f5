//! Dynacast: each publisher is told over its data channel which layers of each video track
//! somebody receives or waits for (`{"type":"track_layers","track","paused","layers"}`), so it
//! can stop encoding the others; a track nobody receives is paused. Sent only on a change.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use str0m::media::{MediaKind, Mid};

use super::publication::{layer_name, track_id};
use super::{SessionId, Sfu};

/// What a publisher is told of one track: (paused, the simulcast layers watched).
pub(super) type Announced = (bool, Vec<String>);

/// The announcement for the layer names subscribers receive or wait for (`""`: a track
/// without simulcast).
pub(super) fn announcement(watched: BTreeSet<String>) -> Announced {
    let paused = watched.is_empty();
    (paused, watched.into_iter().filter(|l| !l.is_empty()).collect())
}

/// The data-channel message announcing `state` for `track`.
pub(super) fn message(track: &str, state: &Announced) -> String {
    serde_json::json!({
        "type": "track_layers",
        "track": track,
        "paused": state.0,
        "layers": state.1,
    })
    .to_string()
}

impl Sfu {
    /// Tells publishers which layers of their video tracks somebody receives (or waits for);
    /// a track nobody receives is paused. Sent only when it changes.
    pub(super) fn dynacast(&mut self, now: Instant) {
        let mut wanted: HashMap<(SessionId, Mid), BTreeSet<String>> = HashMap::new();
        for s in self.sessions.values() {
            for t in s.tracks_out.iter().filter(|t| t.open) {
                let e = wanted.entry(t.source).or_default();
                for l in t.wanted_layers().into_iter().chain(t.flowing_layers()) {
                    e.insert(layer_name(&l));
                }
            }
        }
        let mut messages = Vec::new();
        // A link's incoming tracks are not its to encode: it hears the relay demand instead.
        for (sid, s) in self.sessions.iter_mut().filter(|(_, s)| !s.is_relay()) {
            for (mid, t) in s.tracks_in.iter_mut().filter(|(_, t)| t.kind == MediaKind::Video) {
                let state = announcement(wanted.remove(&(*sid, *mid)).unwrap_or_default());
                if t.announced.as_ref() == Some(&state) {
                    continue;
                }
                messages.push((*sid, message(&track_id(&s.identity, *mid), &state)));
                t.announced = Some(state);
            }
        }
        for (sid, msg) in messages {
            self.counters.dynacast_updates += 1;
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.send_message(msg.as_bytes());
            }
            self.drain(sid, now);
        }
        self.send_relay_demands(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(layers: &[&str]) -> BTreeSet<String> {
        layers.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn nobody_watching_pauses_and_layers_are_listed_by_name() {
        assert_eq!(announcement(watched(&[])), (true, vec![]));
        assert_eq!(announcement(watched(&[""])), (false, vec![]), "a track without simulcast plays");
        assert_eq!(announcement(watched(&["l", "h"])), (false, vec!["h".into(), "l".into()]));
        let m: serde_json::Value = serde_json::from_str(&message("alice:0", &(false, vec!["l".into()]))).unwrap();
        assert_eq!(
            m,
            serde_json::json!({"type": "track_layers", "track": "alice:0", "paused": false, "layers": ["l"]})
        );
    }
}
