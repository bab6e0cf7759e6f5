//! What one subscriber receives of one published track, packet by packet (pure, no I/O).
//!
//! The SFU forwards RTP packets without depacketising them. Each subscriber's outgoing stream
//! is a single, continuous RTP stream even though it may be fed from different simulcast
//! layers over time, so every packet is rewritten:
//!
//! * **sequence numbers** continue from the last one sent (no gap, no repeat, across switches);
//! * **RTP timestamps** continue with the wall-clock time elapsed since the last packet;
//! * **VP8 picture ids and TL0PICIDX** continue, so the decoder sees one picture sequence
//!   (without this a switch looks like a huge jump or a rewind and the decoder stalls).
//!
//! A switch happens only where the decoder can start: at the first packet of a keyframe of
//! the target layer. Until that keyframe arrives the current layer keeps flowing, and the
//! caller is told to ask the publisher for one.

use std::time::Instant;

use str0m::media::Rid;
use str0m::rtp::{Vp8Descriptor, Vp8Patch, Vp8PatchError};

/// A simulcast layer of a track: its RTP stream id, `None` for a track without simulcast.
pub type Layer = Option<Rid>;

/// How a codec's keyframes are recognised (layer switches wait for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeCodec {
    /// Audio: every packet is a starting point.
    Audio,
    Vp8,
    H264,
    /// A video codec whose keyframes this node does not parse: the layer chosen first stays.
    Opaque,
}

impl KeyframeCodec {
    /// Whether `payload` is the first packet of a keyframe.
    pub fn starts_keyframe(self, payload: &[u8]) -> bool {
        match self {
            KeyframeCodec::Audio => true,
            KeyframeCodec::Vp8 => Vp8Descriptor::parse(payload).is_ok_and(|d| d.starts_keyframe(payload)),
            KeyframeCodec::H264 => h264_starts_keyframe(payload),
            KeyframeCodec::Opaque => false,
        }
    }
}

/// An IDR slice or SPS at the start of an H.264 payload (single NAL, STAP-A or FU-A start).
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else { return false };
    match first & 0x1f {
        5 | 7 => true,
        // STAP-A: [header][size(2)][nal]...
        24 => {
            let mut i = 1;
            while i + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[i], payload[i + 1]]));
                if matches!(payload[i + 2] & 0x1f, 5 | 7) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        // FU-A: start bit and an IDR fragment.
        28 => payload.get(1).is_some_and(|h| h & 0x80 != 0 && h & 0x1f == 5),
        _ => false,
    }
}

/// One received packet, as the forwarder needs it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub layer: Layer,
    /// Extended sequence number (no wrap).
    pub seq: u64,
    pub timestamp: u32,
    pub arrival: Instant,
    pub payload: &'a [u8],
}

/// The rewritten header fields of a packet to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing {
    pub seq: u64,
    pub timestamp: u32,
    /// Picture id / TL0PICIDX rewrite for VP8 payloads.
    pub patch: Option<Vp8Patch>,
    /// This packet starts the stream or switches layers.
    pub switched: bool,
}

/// One subscriber's view of one track.
#[derive(Debug, Clone)]
pub struct Forwarder {
    codec: KeyframeCodec,
    clock_rate: u32,
    target: Option<Layer>,
    current: Option<Layer>,
    /// The first sequence number of the current layer since the switch; older ones are dropped.
    switch_seq: u64,
    seq_offset: u64,
    last_seq: u64,
    ts_offset: u32,
    last_ts: u32,
    last_arrival: Option<Instant>,
    pid_offset: u16,
    last_pid: Option<u16>,
    tl0_offset: u8,
    last_tl0: Option<u8>,
    /// Layer switches made (including the start).
    pub switches: u64,
}

impl Forwarder {
    /// A forwarder whose first outgoing sequence number is `first_seq` (below 2^15 so the
    /// receiver needs no rollover signalling).
    pub fn new(codec: KeyframeCodec, clock_rate: u32, first_seq: u16) -> Self {
        Forwarder {
            codec,
            clock_rate: clock_rate.max(1),
            target: None,
            current: None,
            switch_seq: 0,
            seq_offset: 0,
            last_seq: u64::from(first_seq & 0x7fff).wrapping_sub(1),
            ts_offset: 0,
            last_ts: 0,
            last_arrival: None,
            pid_offset: 0,
            last_pid: None,
            tl0_offset: 0,
            last_tl0: None,
            switches: 0,
        }
    }

    pub fn codec(&self) -> KeyframeCodec {
        self.codec
    }

    /// The layer being forwarded, once started.
    pub fn current(&self) -> Option<Layer> {
        self.current
    }

    /// The layer wanted.
    pub fn target(&self) -> Option<Layer> {
        self.target
    }

    /// Whether a switch to the target is waiting for a keyframe.
    pub fn waiting(&self) -> bool {
        self.target.is_some() && self.target != self.current
    }

    /// Chooses the layer to forward (`None`: nothing, the subscriber is paused). Returns true
    /// when the caller should ask the publisher for a keyframe of that layer.
    pub fn set_target(&mut self, target: Option<Layer>) -> bool {
        if self.target == target {
            return false;
        }
        // A codec whose keyframes can't be recognised keeps the layer it started on.
        if self.codec == KeyframeCodec::Opaque && self.current.is_some() && target.is_some() {
            return false;
        }
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
        self.waiting()
    }

    /// The packet to send for `p`, if this subscriber gets it.
    pub fn forward(&mut self, p: &Incoming) -> Option<Outgoing> {
        let target = self.target?;
        let mut switched = false;
        if self.current != Some(p.layer) {
            let may_start = p.layer == target
                && (self.codec.starts_keyframe(p.payload)
                    || (self.codec == KeyframeCodec::Opaque && self.current.is_none()));
            if !may_start {
                return None;
            }
            self.switch_to(p);
            switched = true;
        } else if p.seq < self.switch_seq {
            // From before the switch (reordered): its numbers belong to the old mapping.
            return None;
        }
        let seq = p.seq.wrapping_add(self.seq_offset);
        let timestamp = p.timestamp.wrapping_add(self.ts_offset);
        let patch = self.vp8_patch(p.payload);
        if seq > self.last_seq || self.last_arrival.is_none() {
            self.last_seq = seq;
            self.last_ts = timestamp;
            self.last_arrival = Some(p.arrival);
        }
        Some(Outgoing { seq, timestamp, patch, switched })
    }

    fn switch_to(&mut self, p: &Incoming) {
        let next_seq = self.last_seq.wrapping_add(1);
        self.seq_offset = next_seq.wrapping_sub(p.seq);
        self.ts_offset = match self.last_arrival {
            // Continue the timeline by the time that passed (at least one tick).
            Some(at) => {
                let elapsed = p.arrival.saturating_duration_since(at).as_secs_f64();
                let ticks = ((elapsed * f64::from(self.clock_rate)) as u32).max(1);
                self.last_ts.wrapping_add(ticks).wrapping_sub(p.timestamp)
            }
            None => 0,
        };
        if self.codec == KeyframeCodec::Vp8
            && let Ok(d) = Vp8Descriptor::parse(p.payload)
        {
            if let (Some(last), Some(pid)) = (self.last_pid, d.picture_id()) {
                self.pid_offset = last.wrapping_add(1).wrapping_sub(pid) & 0x7fff;
            }
            if let (Some(last), Some(tl0)) = (self.last_tl0, d.tl0_pic_idx()) {
                self.tl0_offset = last.wrapping_add(1).wrapping_sub(tl0);
            }
        }
        self.current = Some(p.layer);
        self.switch_seq = p.seq;
        self.switches += 1;
    }

    fn vp8_patch(&mut self, payload: &[u8]) -> Option<Vp8Patch> {
        if self.codec != KeyframeCodec::Vp8 {
            return None;
        }
        let d = Vp8Descriptor::parse(payload).ok()?;
        let mut builder = d.patch();
        let mut changed = false;
        if let Some(pid) = d.picture_id() {
            let out = pid.wrapping_add(self.pid_offset) & 0x7fff;
            self.last_pid = Some(out);
            if out != pid {
                builder = builder.picture_id(out);
                changed = true;
            }
        }
        if let Some(tl0) = d.tl0_pic_idx() {
            let out = tl0.wrapping_add(self.tl0_offset);
            self.last_tl0 = Some(out);
            if out != tl0 {
                builder = builder.tl0_pic_idx(out);
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        match builder.build() {
            Ok(patch) => Some(patch),
            // A 7-bit picture id: keep the low bits.
            Err(Vp8PatchError::PictureIdTooLarge) => {
                let mut b = d.patch();
                if let Some(pid) = self.last_pid {
                    b = b.picture_id(pid & 0x7f);
                }
                if let Some(tl0) = self.last_tl0 {
                    b = b.tl0_pic_idx(tl0);
                }
                b.build().ok()
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A VP8 payload with a 15-bit picture id and TL0PICIDX; `key` marks a keyframe start.
    fn vp8(pid: u16, tl0: u8, start: bool, key: bool) -> Vec<u8> {
        let first = 0x80 | if start { 0x10 } else { 0 };
        vec![first, 0xC0 | 0x20, 0x80 | (pid >> 8) as u8, pid as u8, tl0, 0x00, if key { 0x10 } else { 0x11 }, 1, 2, 3]
    }

    fn packet<'a>(layer: &str, seq: u64, ts: u32, at: Instant, payload: &'a [u8]) -> Incoming<'a> {
        Incoming { layer: Some(layer.into()), seq, timestamp: ts, arrival: at, payload }
    }

    fn patched(payload: &[u8], out: &Outgoing) -> Vec<u8> {
        // The patch is applied inside str0m when the packet is serialised; its Debug form
        // shows what it writes (len, offsets[4], bytes[4]).
        let mut p = payload.to_vec();
        if let Some(patch) = out.patch {
            let debug = format!("{patch:?}");
            let s = debug.split_once('{').map_or("", |x| x.1);
            let nums: Vec<u32> =
                s.split(|c: char| !c.is_ascii_digit()).filter(|x| !x.is_empty()).map(|x| x.parse().unwrap()).collect();
            let len = nums[0] as usize;
            for i in 0..len {
                p[nums[1 + i] as usize] = nums[5 + i] as u8;
            }
        }
        p
    }

    fn pid_of(p: &[u8]) -> u16 {
        Vp8Descriptor::parse(p).unwrap().picture_id().unwrap()
    }

    #[test]
    fn starts_at_a_keyframe_then_switches_seamlessly() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(KeyframeCodec::Vp8, 90_000, 1000);
        assert!(f.set_target(Some(Some("l".into()))), "a keyframe is needed to start");
        // Delta frames are not a starting point.
        assert!(f.forward(&packet("l", 50, 9000, t0, &vp8(300, 7, true, false))).is_none());
        let k = vp8(301, 8, true, true);
        let a = f.forward(&packet("l", 51, 12000, t0, &k)).unwrap();
        assert_eq!(a.seq, 1000);
        assert!(a.switched);
        let b = f.forward(&packet("l", 52, 15000, t0 + Duration::from_millis(33), &vp8(302, 8, true, false))).unwrap();
        assert_eq!(b.seq, 1001);
        assert_eq!(b.timestamp.wrapping_sub(a.timestamp), 3000);
        // Packets of the other layer are not forwarded.
        assert!(f.forward(&packet("h", 900, 77_000, t0, &vp8(9000, 100, true, false))).is_none());

        // Switch up: the current layer flows until the target's keyframe.
        assert!(f.set_target(Some(Some("h".into()))));
        assert!(f.waiting());
        let c = f.forward(&packet("l", 53, 18000, t0 + Duration::from_millis(66), &vp8(303, 8, true, false))).unwrap();
        assert_eq!(c.seq, 1002);
        assert!(
            f.forward(&packet("h", 901, 80_000, t0 + Duration::from_millis(70), &vp8(9001, 100, true, false)))
                .is_none()
        );
        let hk = vp8(9002, 101, true, true);
        let d = f.forward(&packet("h", 902, 83_000, t0 + Duration::from_millis(99), &hk)).unwrap();
        assert!(d.switched);
        assert!(!f.waiting());
        assert_eq!(d.seq, 1003, "sequence continues");
        let dt = d.timestamp.wrapping_sub(c.timestamp);
        assert!((2900..=3100).contains(&dt), "timestamp continues by elapsed time: {dt}");
        assert_eq!(pid_of(&patched(&hk, &d)), 304, "picture id continues");
        // The old layer is now dropped, and reordered pre-switch packets of the new one too.
        assert!(f.forward(&packet("l", 54, 21000, t0, &vp8(304, 8, true, false))).is_none());
        assert!(f.forward(&packet("h", 901, 80_000, t0, &vp8(9001, 100, true, false))).is_none());
        let e_payload = vp8(9003, 101, true, false);
        let e = f.forward(&packet("h", 903, 86_000, t0 + Duration::from_millis(132), &e_payload)).unwrap();
        assert_eq!(e.seq, 1004);
        assert_eq!(pid_of(&patched(&e_payload, &e)), 305);
        assert_eq!(f.switches, 2);
    }

    #[test]
    fn a_lost_packet_keeps_its_gap_and_a_late_one_its_place() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(KeyframeCodec::Audio, 48_000, 10);
        f.set_target(Some(None));
        let p = [0u8; 4];
        let inc = |seq| Incoming { layer: None, seq, timestamp: seq as u32 * 960, arrival: t0, payload: &p };
        assert_eq!(f.forward(&inc(100)).unwrap().seq, 10);
        assert_eq!(f.forward(&inc(102)).unwrap().seq, 12, "a gap the receiver can NACK");
        assert_eq!(f.forward(&inc(101)).unwrap().seq, 11, "a late packet fills it");
        assert_eq!(f.forward(&inc(103)).unwrap().seq, 13);
    }

    #[test]
    fn pausing_stops_and_resuming_waits_for_a_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(KeyframeCodec::Vp8, 90_000, 1);
        f.set_target(Some(None));
        let k = vp8(10, 1, true, true);
        let inc = |seq, p: &'static [u8]| Incoming {
            layer: None,
            seq,
            timestamp: seq as u32 * 3000,
            arrival: t0,
            payload: p,
        };
        let key: &'static [u8] = Box::leak(k.into_boxed_slice());
        let delta: &'static [u8] = Box::leak(vp8(11, 1, true, false).into_boxed_slice());
        assert!(f.forward(&inc(1, key)).is_some());
        assert!(!f.set_target(None), "pausing needs no keyframe");
        assert!(f.forward(&inc(2, delta)).is_none());
        assert!(f.set_target(Some(None)), "resuming does");
        assert!(f.forward(&inc(3, delta)).is_none());
        let out = f.forward(&inc(4, key)).unwrap();
        assert_eq!(out.seq, 2, "no gap for what was never sent");
    }

    #[test]
    fn h264_keyframes_are_recognised() {
        assert!(h264_starts_keyframe(&[0x65, 1, 2]));
        assert!(h264_starts_keyframe(&[0x78, 0, 2, 0x67, 1, 0, 1, 0x68]));
        assert!(h264_starts_keyframe(&[0x7c, 0x85, 1]));
        assert!(!h264_starts_keyframe(&[0x7c, 0x05, 1]), "not the first fragment");
        assert!(!h264_starts_keyframe(&[0x41, 1]));
        assert!(!h264_starts_keyframe(&[]));
        assert!(!h264_starts_keyframe(&[0x78, 0xff]));
    }
}
