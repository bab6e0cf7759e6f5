//! Hostile input to the media node's own parsing: datagrams from anywhere (routing, STUN
//! USERNAME extraction, str0m's demultiplexing) and RTP payloads through the per-subscriber
//! forwarder (VP8 descriptors, H.264 NAL headers, picture-id rewriting). Nothing may panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use origo_media_node::sfu::forwarder::{Forwarder, Incoming, KeyframeCodec};
use origo_media_node::sfu::{SeededRandom, Sfu, stun_ufrag};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

/// An SFU with one real session (so STUN with a known ufrag reaches str0m).
fn sfu() -> &'static Mutex<(Sfu, Instant)> {
    static SFU: OnceLock<Mutex<(Sfu, Instant)>> = OnceLock::new();
    SFU.get_or_init(|| {
        let now = Instant::now();
        let mut sfu = Sfu::new("127.0.0.1:5000".parse().unwrap()).with_randomness(SeededRandom::new(1));
        let mut client = Rtc::builder().build(now);
        client.add_local_candidate(Candidate::host("127.0.0.1:6000".parse().unwrap(), "udp").unwrap());
        let mut api = client.sdp_api();
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, _) = api.apply().unwrap();
        sfu.create_session(origo_media_node::sfu::RoomKey::new("org", "room"), "alice".into(), true, true, offer, now).unwrap();
        Mutex::new((sfu, now))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let _ = stun_ufrag(rest);
            let mut guard = sfu().lock().unwrap();
            let (sfu, clock) = &mut *guard;
            *clock += Duration::from_millis(1);
            let from: SocketAddr = format!("127.0.0.1:{}", 6000 + u16::from(selector % 4)).parse().unwrap();
            sfu.handle_datagram(from, "127.0.0.1:5000".parse().unwrap(), rest, *clock);
            sfu.handle_timeout(*clock);
            let _ = sfu.drain_transmits();
        }
        _ => {
            let codec = [KeyframeCodec::Vp8, KeyframeCodec::H264, KeyframeCodec::Audio, KeyframeCodec::Opaque]
                [usize::from(selector >> 4) % 4];
            let mut f = Forwarder::new(codec, 90_000, u16::from(selector));
            f.set_target(Some(None));
            let t0 = Instant::now();
            for (i, chunk) in rest.chunks(64).enumerate() {
                let layer = if chunk.first().is_some_and(|b| b & 1 == 1) { Some("h".into()) } else { None };
                if i % 7 == 3 {
                    f.set_target(Some(layer));
                }
                let p = Incoming {
                    layer,
                    seq: u64::from(chunk.first().copied().unwrap_or(0)) + i as u64 * 3,
                    timestamp: (i as u32).wrapping_mul(3000),
                    arrival: t0 + Duration::from_millis(i as u64),
                    payload: chunk,
                };
                let _ = f.forward(&p);
            }
        }
    }
});
