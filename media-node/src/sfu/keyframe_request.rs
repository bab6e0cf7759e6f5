//! Keyframe requests to publishers. A subscriber's PLI/FIR, every layer switch and every new
//! receiver ask the publisher for a keyframe of one source layer, at most once per
//! [`KEYFRAME_INTERVAL`] per layer (a new receiver that needs one now may skip the wait).

use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaKind, Mid};

use super::forwarder::Layer;
use super::{SessionId, Sfu};

/// Keyframe requests to one source layer are at most this frequent.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Whether a layer last asked for a keyframe at `last` may be asked again at `now`.
pub(super) fn may_request(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_INTERVAL)
}

impl Sfu {
    /// Lets the next keyframe request for this layer through the throttle.
    pub(super) fn forget_keyframe_request(&mut self, source: (SessionId, Mid), layer: Layer) {
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
    pub(super) fn request_keyframe(
        &mut self,
        source: (SessionId, Mid),
        layer: Layer,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(s) = self.sessions.get_mut(&source.0) else { return };
        let Some(track) = s.tracks_in.get_mut(&source.1) else { return };
        if track.kind != MediaKind::Video {
            return;
        }
        let Some(l) = track.layers.iter_mut().find(|l| l.layer == layer) else { return };
        if !may_request(l.last_keyframe_request, now) {
            return;
        }
        let mut api = s.rtc.direct_api();
        let Some(rx) = api.stream_rx_by_mid(source.1, layer) else { return };
        rx.request_keyframe(kind);
        l.last_keyframe_request = Some(now);
        self.counters.keyframe_requests += 1;
        self.drain(source.0, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_interval_per_layer() {
        let t0 = Instant::now();
        assert!(may_request(None, t0));
        assert!(!may_request(Some(t0), t0));
        assert!(!may_request(Some(t0), t0 + KEYFRAME_INTERVAL - Duration::from_millis(1)));
        assert!(may_request(Some(t0), t0 + KEYFRAME_INTERVAL));
        assert!(!may_request(Some(t0 + KEYFRAME_INTERVAL), t0), "a clock read out of order waits");
    }
}
