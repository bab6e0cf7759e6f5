//! Fan-out: a publisher's RTP packet goes to every subscriber of its track without being
//! depacketised (str0m's RTP mode), rewritten per subscriber by its [`Forwarder`] (sequence
//! numbers, timestamps, VP8 picture ids). str0m keeps each subscriber's send buffer and answers
//! its NACKs (RTX), and NACKs publishers for what they lost. Packets are queued in the
//! subscribers' sessions; `Sfu::flush` polls each of those once per receive batch. A muted
//! participant's packets of the muted kind are dropped here, before any subscriber sees them.

use std::time::Instant;

use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};

use super::forwarder::{Forwarder, Incoming};
use super::publication::keyframe_codec;
use super::quality::Quality;
use super::randomness::first_sequence_number;
use super::relay_demand;
use super::{SessionId, Sfu};

impl Sfu {
    /// Sends a publisher's RTP packet to every subscriber of its track, rewritten for each.
    pub(super) fn fan_out(&mut self, from: SessionId, p: &RtpPacket, now: Instant) {
        self.counters.packets_in += 1;
        let Some(s) = self.sessions.get_mut(&from) else { return };
        let ssrc = p.header.ssrc;
        let (mid, layer) = match s.ssrcs.get(&ssrc) {
            Some(x) => *x,
            None => {
                let mut api = s.rtc.direct_api();
                let Some(rx) = api.stream_rx(&ssrc) else { return };
                let x = (rx.mid(), rx.rid());
                s.ssrcs.insert(ssrc, x);
                x
            }
        };
        let relayed = s.is_relay();
        let Some(track) = s.tracks_in.get_mut(&mid) else { return };
        if s.muted.blocks(track.kind) {
            // A moderator muted this participant: nothing of this kind goes out.
            self.counters.packets_muted += 1;
            return;
        }
        let pt = p.header.payload_type;
        let params = match track.codec {
            Some((known, params)) if known == pt => params,
            _ => {
                let Some(params) = s.rtc.codec_config().find(|c| c.pt() == pt).copied() else { return };
                track.codec = Some((pt, params));
                params
            }
        };
        track.measure(layer, (p.payload.len() + p.header.header_len) as u64, now);
        if p.payload.is_empty() {
            return; // padding
        }
        let kind = track.kind;
        let subscribers = std::mem::take(&mut track.subscribers);
        let generation = self.index_generation;
        if kind == MediaKind::Audio
            && !relayed
            && let Some(level) = p.header.ext_vals.audio_level
        {
            self.audio_level(from, f32::from(level), p.header.ext_vals.voice_activity, now);
        }
        let codec = keyframe_codec(kind, Some(&params));
        let incoming =
            Incoming { layer, seq: *p.seq_no, timestamp: p.header.timestamp, arrival: now, payload: &p.payload };
        let ext = ExtensionValues {
            audio_level: p.header.ext_vals.audio_level,
            voice_activity: p.header.ext_vals.voice_activity,
            video_orientation: p.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let mut starting = Vec::new();
        for &sub in &subscribers {
            let Some(s) = self.sessions.get_mut(&sub) else { continue };
            if !s.connected {
                continue;
            }
            let Some(t) = s.tracks_out.iter_mut().find(|t| t.open && t.source == (from, mid)) else { continue };
            let Some(mid_out) = t.mid else { continue };
            let pt_out = match t.pt {
                Some((a, b)) if a == pt => b,
                _ => {
                    let Some(ours) = s.rtc.codec_config().match_params(params).map(|c| c.pt()) else { continue };
                    t.pt = Some((pt, ours));
                    ours
                }
            };
            // Over a link, each simulcast layer has a stream and a forwarder of its own.
            let (fwd, rid_out) = match t.layers.as_mut() {
                Some(layers) => match layers.get_mut(layer) {
                    Some(l) => (&mut l.fwd, Some(l.rid)),
                    None => continue,
                },
                None => (&mut t.fwd, None),
            };
            if fwd.codec() != codec && fwd.current().is_none() {
                // The publisher's codec is known now: start over with it, same target.
                let wanted = relay_demand::link_quality(s.relay.as_ref(), t.mid, t.quality);
                let target = match rid_out {
                    Some(rid) => fwd.target().map(|_| Some(rid)),
                    None => fwd.target().or((wanted != Quality::Off).then_some(layer)),
                };
                let first_seq = first_sequence_number(&mut *self.rng);
                *fwd = Forwarder::new(codec, params.spec().clock_rate.get(), first_seq);
                if fwd.set_target(target)
                    && let Some(target) = target
                {
                    starting.push(target);
                }
            }
            let Some(out) = fwd.forward(&incoming) else { continue };
            if out.switched {
                self.counters.layer_switches += 1;
            }
            let mut write = RtpWrite::new(pt_out, out.seq.into(), out.timestamp, p.timestamp, p.payload.clone())
                .marker(p.header.marker)
                .ext_vals(ext.clone())
                .nackable(kind == MediaKind::Video);
            if let Some(patch) = out.patch {
                write = write.vp8_patch(patch);
            }
            let mut api = s.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid_out, rid_out) else { continue };
            tx.write_rtp(write);
            self.counters.packets_forwarded += 1;
            if !s.written {
                s.written = true;
                self.written.push(sub);
            }
        }
        // Put the subscriber list back unless it was rebuilt meanwhile (a session went away).
        if self.index_generation == generation
            && let Some(t) = self.sessions.get_mut(&from).and_then(|s| s.tracks_in.get_mut(&mid))
        {
            t.subscribers = subscribers;
        }
        for layer in starting {
            self.request_keyframe((from, mid), layer, KeyframeRequestKind::Pli, now);
        }
    }
}
