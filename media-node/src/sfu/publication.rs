//! Published tracks: what a publisher sends (its codec, its simulcast layers and their measured
//! bitrates), who receives it, and how tracks are named and listed to clients.

use std::time::{Duration, Instant};

use str0m::format::{Codec, PayloadParams};
use str0m::media::{MediaKind, Mid, Pt, Rid};

use super::SessionId;
use super::bandwidth_allocation::{ALLOCATE_INTERVAL, LayerRates};
use super::forwarder::{KeyframeCodec, Layer};

/// A layer that sent nothing for this long is not offered to subscribers.
const LAYER_IDLE: Duration = Duration::from_secs(2);

/// A track a participant publishes: `{identity}:{mid}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
pub struct TrackInfo {
    pub id: String,
    pub participant: String,
    /// `audio` or `video`.
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Simulcast layers being received (rids), lowest bitrate first; empty without simulcast.
    pub layers: Vec<String>,
}

/// One simulcast layer (or the only stream) of a published track.
pub(super) struct LayerIn {
    pub layer: Layer,
    window_bytes: u64,
    window_start: Instant,
    /// Bits per second over the last full window; `None` until one was measured.
    pub bps: Option<u64>,
    pub last_packet: Instant,
    pub last_keyframe_request: Option<Instant>,
}

pub(super) struct TrackIn {
    pub kind: MediaKind,
    /// The payload type last seen and its parameters.
    pub codec: Option<(Pt, PayloadParams)>,
    pub layers: Vec<LayerIn>,
    /// Sessions with an open send track for this one (kept by `Sfu::reindex`).
    pub subscribers: Vec<SessionId>,
    /// Dynacast: what the publisher was last told (paused, layers watched).
    pub announced: Option<(bool, Vec<String>)>,
    /// On a link from another node: the participant who publishes it there.
    pub owner: Option<String>,
    /// The simulcast rids its m-line declares (empty without simulcast).
    pub rids: Vec<Rid>,
}

impl TrackIn {
    pub fn new(kind: MediaKind) -> Self {
        TrackIn {
            kind,
            codec: None,
            layers: Vec::new(),
            subscribers: Vec::new(),
            announced: None,
            owner: None,
            rids: Vec::new(),
        }
    }

    /// Whose track this is: its owner on another node, or `session_identity` (the publisher's
    /// own session here).
    pub fn owner_or<'a>(&'a self, session_identity: &'a str) -> &'a str {
        self.owner.as_deref().unwrap_or(session_identity)
    }

    /// Simulcast rids, lowest bitrate first (empty without simulcast).
    pub fn layer_names(&self) -> Vec<String> {
        let mut layers: Vec<(u64, String)> =
            self.layers.iter().filter_map(|l| l.layer.map(|r| (l.bps.unwrap_or(0), r.to_string()))).collect();
        layers.sort();
        layers.into_iter().map(|l| l.1).collect()
    }

    /// Layers sending now with their measured bitrates (unmeasured ones only if none is).
    pub fn active_layers(&self, now: Instant) -> LayerRates {
        let live: Vec<&LayerIn> =
            self.layers.iter().filter(|l| now.saturating_duration_since(l.last_packet) < LAYER_IDLE).collect();
        let measured: Vec<(Layer, u64)> = live.iter().filter_map(|l| l.bps.map(|b| (l.layer, b))).collect();
        if measured.is_empty() { live.first().map(|l| vec![(l.layer, 0)]).unwrap_or_default() } else { measured }
    }

    /// Counts a packet of `layer` (`bytes` long) towards the layer's bitrate, measured over
    /// windows of one allocation interval.
    pub fn measure(&mut self, layer: Layer, bytes: u64, now: Instant) {
        let index = match self.layers.iter().position(|l| l.layer == layer) {
            Some(i) => i,
            None => {
                self.layers.push(LayerIn {
                    layer,
                    window_bytes: 0,
                    window_start: now,
                    bps: None,
                    last_packet: now,
                    last_keyframe_request: None,
                });
                self.layers.len() - 1
            }
        };
        let l = &mut self.layers[index];
        l.last_packet = now;
        l.window_bytes += bytes;
        let elapsed = now.saturating_duration_since(l.window_start);
        if elapsed >= ALLOCATE_INTERVAL {
            l.bps = Some((l.window_bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64);
            l.window_bytes = 0;
            l.window_start = now;
        }
    }
}

/// A track's id as clients see it.
pub(super) fn track_id(identity: &str, mid: Mid) -> String {
    format!("{identity}:{mid}")
}

pub(super) fn kind_name(k: MediaKind) -> &'static str {
    if k == MediaKind::Audio { "audio" } else { "video" }
}

/// How keyframes of what a track carries are recognised.
pub(super) fn keyframe_codec(kind: MediaKind, params: Option<&PayloadParams>) -> KeyframeCodec {
    if kind == MediaKind::Audio {
        return KeyframeCodec::Audio;
    }
    match params.map(|p| p.spec().codec) {
        Some(Codec::Vp8) => KeyframeCodec::Vp8,
        Some(Codec::H264) => KeyframeCodec::H264,
        _ => KeyframeCodec::Opaque,
    }
}

/// A layer's rid (`""` without simulcast).
pub(super) fn layer_name(l: &Layer) -> String {
    l.map(|r| r.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_measured_per_window_and_listed_by_bitrate() {
        let t0 = Instant::now();
        let mut t = TrackIn::new(MediaKind::Video);
        let (low, high): (Layer, Layer) = (Some("l".into()), Some("h".into()));
        assert_eq!(t.active_layers(t0), vec![], "nothing sent yet");
        t.measure(high, 1000, t0);
        t.measure(low, 100, t0);
        assert_eq!(t.active_layers(t0), vec![(high, 0)], "unmeasured: the first layer seen");
        let end = t0 + ALLOCATE_INTERVAL;
        t.measure(high, 1000, end);
        t.measure(low, 100, end);
        // 2000 bytes in 0.5 s = 32 kbit/s; 200 bytes = 3.2 kbit/s.
        assert_eq!(t.active_layers(end), vec![(high, 32_000), (low, 3_200)]);
        assert_eq!(t.layer_names(), vec!["l", "h"]);
        let later = end + LAYER_IDLE;
        t.measure(low, 100, later);
        // (100 bytes over the 2 s since the last window: 400 bit/s.)
        assert_eq!(t.active_layers(later), vec![(low, 400)], "an idle layer is not offered");
    }
}
