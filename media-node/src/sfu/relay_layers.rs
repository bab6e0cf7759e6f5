//! Simulcast over a link: a link's m-line for a simulcast video track declares the publisher's
//! rids, and each layer the other node may want crosses as a stream of its own, through a
//! forwarder of its own (sequence numbers, timestamps and VP8 picture ids per stream). The
//! other node then receives the track as it receives a simulcast publisher's, and chooses a
//! layer per subscriber from its estimate and preferences; keyframe requests and NACKs name
//! the layer's stream, so they reach the publisher's layer. Which layers cross follows the
//! other side's demand (`relay_demand`): the layers up to the most any of its subscribers
//! wants, none when nobody there watches.

use str0m::media::{Rid, Simulcast, SimulcastLayer};

use super::forwarder::{Forwarder, KeyframeCodec, Layer};
use super::quality::Quality;

/// Simulcast layers a track may declare (browsers send at most three).
pub const MAX_LAYERS: usize = 4;

/// One layer of a track sent over a link.
#[derive(Debug, Clone)]
pub struct RelayLayer {
    pub rid: Rid,
    pub fwd: Forwarder,
}

/// The layers of one track sent over a link, in the publisher's order.
#[derive(Debug, Clone)]
pub struct RelayLayers(Vec<RelayLayer>);

impl RelayLayers {
    /// Every layer of `rids` (at most [`MAX_LAYERS`]), each starting at a sequence number
    /// `first_seq` gives; all of them sent until the other side's demand says otherwise.
    pub fn new(rids: &[Rid], codec: KeyframeCodec, clock_rate: u32, mut first_seq: impl FnMut() -> u16) -> Self {
        let layers = rids
            .iter()
            .take(MAX_LAYERS)
            .map(|rid| {
                let mut fwd = Forwarder::new(codec, clock_rate, first_seq());
                fwd.set_target(Some(Some(*rid)));
                RelayLayer { rid: *rid, fwd }
            })
            .collect();
        RelayLayers(layers)
    }

    /// The send layers the link's m-line declares.
    pub fn simulcast(&self) -> Simulcast {
        let mut s = Simulcast::new();
        for l in &self.0 {
            s.add_send_layer(SimulcastLayer::new(&l.rid));
        }
        s
    }

    pub fn iter(&self) -> impl Iterator<Item = &RelayLayer> {
        self.0.iter()
    }

    /// The forwarder of `layer`'s stream, if the link carries that layer.
    pub fn get_mut(&mut self, layer: Layer) -> Option<&mut RelayLayer> {
        let rid = layer?;
        self.0.iter_mut().find(|l| l.rid == rid)
    }

    /// Sends the layers `quality` allows of `by_bitrate` (the publisher's rids, lowest bitrate
    /// first; a layer not measured yet is sent, as it may be the lowest), pauses the others.
    /// A layer that starts waits for a keyframe ([`Self::waiting`]).
    pub fn allow(&mut self, by_bitrate: &[String], quality: Quality) {
        for l in &mut self.0 {
            let index = by_bitrate.iter().position(|r| **r == *l.rid);
            let allowed = quality != Quality::Off && index.is_none_or(|i| i <= quality.max_index());
            l.fwd.set_target(allowed.then_some(Some(l.rid)));
        }
    }

    /// Layers waiting for a keyframe to start.
    pub fn waiting(&self) -> impl Iterator<Item = Rid> + '_ {
        self.0.iter().filter(|l| l.fwd.waiting()).map(|l| l.rid)
    }

    /// Layers being sent now, or waiting for their first keyframe.
    pub fn targets(&self) -> impl Iterator<Item = Rid> + '_ {
        self.0.iter().filter(|l| l.fwd.target().is_some()).map(|l| l.rid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> RelayLayers {
        let rids: Vec<Rid> = ["q", "h", "f"].into_iter().map(Rid::from).collect();
        let mut seq = 100;
        RelayLayers::new(&rids, KeyframeCodec::Vp8, 90_000, || {
            seq += 1;
            seq
        })
    }

    fn names(rids: impl IntoIterator<Item = Rid>) -> Vec<String> {
        rids.into_iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn every_layer_crosses_until_the_demand_caps_it() {
        let mut l = layers();
        assert_eq!(names(l.targets()), ["q", "h", "f"]);
        assert_eq!(l.simulcast().send.len(), 3);
        assert_eq!(names(l.waiting()), ["q", "h", "f"], "each starts at a keyframe");
        let by_bitrate: Vec<String> = ["q", "h", "f"].map(String::from).to_vec();
        l.allow(&by_bitrate, Quality::Low);
        assert_eq!(names(l.targets()), ["q"]);
        l.allow(&by_bitrate, Quality::Medium);
        assert_eq!(names(l.targets()), ["q", "h"]);
        l.allow(&by_bitrate, Quality::Off);
        assert_eq!(names(l.targets()), Vec::<String>::new());
        assert_eq!(names(l.waiting()), Vec::<String>::new(), "paused layers wait for nothing");
        l.allow(&by_bitrate, Quality::High);
        assert_eq!(names(l.targets()), ["q", "h", "f"]);
    }

    #[test]
    fn a_layer_not_measured_yet_crosses_whatever_the_cap() {
        let mut l = layers();
        // Only "f" measured so far: it is the lowest known, and the others are unknown.
        l.allow(&["f".to_owned()], Quality::Low);
        assert_eq!(names(l.targets()), ["q", "h", "f"]);
        l.allow(&["q".into(), "f".into()], Quality::Low);
        assert_eq!(names(l.targets()), ["q", "h"]);
        assert!(l.get_mut(None).is_none() && l.get_mut(Some(Rid::from("x"))).is_none());
        assert!(l.get_mut(Some(Rid::from("h"))).is_some());
    }
}
