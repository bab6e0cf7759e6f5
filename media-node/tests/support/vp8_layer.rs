//! Test support shared by the SFU core's tests: a simulcast publisher's VP8 frame as RTP.

use std::time::Instant;

use str0m::Rtc;
use str0m::media::Mid;

/// Writes frame `n` of simulcast layer `rid` on `mid` as RTP: `size` bytes in packets of at
/// most 1000, each with a VP8 descriptor carrying the layer's own picture id (numbered
/// differently per layer, as encoders do: layer `h` from 20000, the others from 300); a
/// keyframe when `key`.
pub fn write_vp8_layer(rtc: &mut Rtc, mid: Mid, rid: &str, n: u32, size: usize, key: bool, now: Instant) {
    let pt = rtc.codec_config().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    let pid = (if rid == "h" { 20_000 } else { 300 } + n as u16) & 0x7fff;
    let mut frame = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    frame.resize(size, n as u8);
    let chunks: Vec<&[u8]> = frame.chunks(1000).collect();
    let base = u64::from(n) * 10 + if rid == "h" { 5000 } else { 0 };
    for (i, chunk) in chunks.iter().enumerate() {
        let start = if i == 0 { 0x10 } else { 0 };
        let mut payload = vec![0x80 | start, 0x80, 0x80 | (pid >> 8) as u8, pid as u8];
        payload.extend_from_slice(chunk);
        let write = str0m::rtp::RtpWrite::new(pt, (base + i as u64).into(), n * 3000, now, payload)
            .marker(i == chunks.len() - 1)
            .nackable(true);
        rtc.direct_api().stream_tx_by_mid(mid, Some(rid.into())).expect("a send stream per layer").write_rtp(write);
    }
}
