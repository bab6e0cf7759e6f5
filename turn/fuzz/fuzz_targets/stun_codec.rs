//! Any bytes a client can send: the STUN codec, ChannelData parsing, and the TURN core itself
//! must neither panic nor hang on them.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::allocation::{FiveTuple, Transport};
use origo_turn::attribute::*;
use origo_turn::channel_data;
use origo_turn::message::Message;
use origo_turn::peer_policy::PeerPolicy;
use origo_turn::server::{Config, Now, TurnServer};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let _ = m.fingerprint_ok();
        let _ = m.check_integrity(b"key");
        let _ = m.uses_sha256();
        for typ in [XOR_PEER_ADDRESS, XOR_MAPPED_ADDRESS, XOR_RELAYED_ADDRESS] {
            let _ = m.get_xor_address(typ);
            let _ = m.get_all_xor_addresses(typ);
        }
        let _ = m.get(ERROR_CODE).map(decode_error_code);
        let _ = m.get_str(USERNAME);
        let _ = m.get_u32(LIFETIME);
        let _ = m.unknown_required(KNOWN_REQUIRED);
    }
    let _ = channel_data::parse(data);
    let _ = channel_data::stream_frame_len(data);

    let mut server = TurnServer::new(Config::default(), TurnSecrets::new(["s"]), [1; 32], PeerPolicy::new());
    let tuple = FiveTuple {
        client: "198.51.100.1:5000".parse().unwrap(),
        server: "192.0.2.1:3478".parse().unwrap(),
        transport: Transport::Udp,
    };
    let now = Now { instant: Instant::now(), unix: 1_800_000_000 };
    let mut out = Vec::new();
    server.client_stun(now, tuple, data, &mut out);
    let _ = server.client_channel_data(now.instant, &tuple, data);
    let mut buf = Vec::new();
    let _ = server.peer_data(now.instant, "192.0.2.1:50000".parse().unwrap(), tuple.client, data, &mut buf);
});
