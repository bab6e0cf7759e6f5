//! The SFU core without sockets or a real clock: str0m clients in-process exchange datagrams
//! with the core through memory, on a controlled clock.

#[path = "support/vp8_layer.rs"]
mod vp8_layer;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use origo_media_node::sfu::{Limits, Mute, NewSession, Quality, RoomKey, SeededRandom, SessionId, Sfu, SfuError};
use str0m::change::SdpPendingOffer;
use str0m::format::CodecExtra;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use vp8_layer::write_vp8_layer;

const SFU: &str = "127.0.0.1:5000";

/// An SFU with a fixed seed: the ICE credentials and sequence numbers it picks repeat.
fn sfu() -> Sfu {
    Sfu::new(SFU.parse().unwrap()).with_randomness(SeededRandom::new(7))
}

struct Client {
    addr: SocketAddr,
    rtc: Rtc,
    connected: bool,
    frames: usize,
    session: SessionId,
    send_mid: Option<Mid>,
    messages: Vec<String>,
    /// VP8 picture ids of the frames received, in order.
    picture_ids: Vec<u64>,
    /// Simulcast layers the SFU asked a keyframe of.
    keyframe_wanted: HashSet<Option<Rid>>,
    /// A bottleneck towards this client: (bytes per second, bucket, last refill).
    link: Option<(f64, f64, Instant)>,
    /// Drop every n-th datagram towards this client (and count them).
    drop_every: Option<(usize, usize)>,
}

fn room() -> RoomKey {
    RoomKey::new("org", "room")
}

/// A client Rtc with one send-only video track (publisher) or a data channel only (subscriber).
fn client(sfu: &mut Sfu, port: u16, identity: &str, publish: bool, now: Instant) -> Client {
    client_of(sfu, port, identity, publish.then_some(MediaKind::Video), now)
}

fn client_of(sfu: &mut Sfu, port: u16, identity: &str, kind: Option<MediaKind>, now: Instant) -> Client {
    client_with(sfu, port, identity, kind, &[], now)
}

/// A client; a publisher sends simulcast when `rids` are given.
fn client_with(
    sfu: &mut Sfu,
    port: u16,
    identity: &str,
    kind: Option<MediaKind>,
    rids: &[&str],
    now: Instant,
) -> Client {
    let publish = kind.is_some();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A simulcast publisher writes RTP itself (VP8 descriptors with picture ids).
    let mut rtc = Rtc::builder().set_rtp_mode(!rids.is_empty()).build(now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let simulcast = (!rids.is_empty()).then(|| {
        let mut s = Simulcast::new();
        for r in rids {
            s.add_send_layer(SimulcastLayer::new(r));
        }
        s
    });
    let send_mid = kind.map(|k| api.add_media(k, Direction::SendOnly, None, None, simulcast));
    api.add_channel("control".into());
    let (offer, pending): (_, SdpPendingOffer) = api.apply().unwrap();
    let (session, answer) = sfu.create_session(room(), identity.into(), publish, true, offer, now).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    Client {
        addr,
        rtc,
        connected: false,
        frames: 0,
        session,
        send_mid,
        messages: Vec::new(),
        picture_ids: Vec::new(),
        keyframe_wanted: HashSet::new(),
        link: None,
        drop_every: None,
    }
}

/// Moves datagrams both ways and advances every clock until nothing is left to do.
fn pump(sfu: &mut Sfu, clients: &mut [Client], now: Instant) {
    let sfu_addr: SocketAddr = SFU.parse().unwrap();
    for _ in 0..50 {
        let mut moved = false;
        for c in clients.iter_mut() {
            c.rtc.handle_input(Input::Timeout(now)).unwrap();
            loop {
                match c.rtc.poll_output().unwrap() {
                    Output::Timeout(_) => break,
                    Output::Transmit(t) => {
                        sfu.handle_datagram(c.addr, t.destination, &t.contents, now);
                        moved = true;
                    }
                    Output::Event(Event::Connected) => c.connected = true,
                    Output::Event(Event::MediaData(d)) => {
                        c.frames += 1;
                        if let CodecExtra::Vp8(x) = d.codec_extra
                            && let Some(pid) = x.picture_id
                        {
                            c.picture_ids.push(pid);
                        }
                    }
                    Output::Event(Event::KeyframeRequest(r)) => {
                        c.keyframe_wanted.insert(r.rid);
                    }
                    Output::Event(Event::ChannelData(d)) => {
                        c.messages.push(String::from_utf8_lossy(&d.data).into_owned())
                    }
                    Output::Event(_) => {}
                }
            }
        }
        sfu.handle_timeout(now);
        let by_addr: HashMap<SocketAddr, usize> = clients.iter().enumerate().map(|(i, c)| (c.addr, i)).collect();
        for t in sfu.drain_transmits() {
            let Some(&i) = by_addr.get(&t.destination) else { continue };
            if let Some((n, seen)) = clients[i].drop_every.as_mut() {
                *seen += 1;
                if (*seen).is_multiple_of(*n) {
                    continue;
                }
            }
            if let Some((rate, bucket, at)) = clients[i].link.as_mut() {
                // Token bucket (10 kB deep): what exceeds the rate is dropped.
                *bucket = (*bucket + now.saturating_duration_since(*at).as_secs_f64() * *rate).min(10_000.0);
                *at = now;
                if *bucket < t.contents.len() as f64 {
                    continue;
                }
                *bucket -= t.contents.len() as f64;
            }
            let receive = Receive::new(Protocol::Udp, sfu_addr, t.destination, &t.contents).unwrap();
            clients[i].rtc.handle_input(Input::Receive(now, receive)).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// The client subscribes to everything in the room (one offer from the SFU, answered).
fn subscribe_all(sfu: &mut Sfu, c: &mut Client, now: Instant) {
    let offer = sfu.subscribe(c.session, &["all".into()], now).unwrap().expect("an offer");
    let answer = c.rtc.sdp_api().accept_offer(offer).unwrap();
    sfu.accept_answer(c.session, answer, now).unwrap();
}

fn run(sfu: &mut Sfu, clients: &mut [Client], clock: &mut Instant, ms: u64) {
    for _ in 0..ms / 2 {
        *clock += Duration::from_millis(2);
        pump(sfu, clients, *clock);
    }
}

/// One fake VP8 frame (a keyframe every 10th).
fn write_frame(c: &mut Client, n: u32, now: Instant) {
    let mid = c.send_mid.unwrap();
    let w = c.rtc.writer(mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    let key = n.is_multiple_of(10);
    // VP8 payload header: keyframe bit clear = keyframe; then a start code for keyframes.
    let mut data = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    data.extend(std::iter::repeat_n(n as u8, 600));
    w.write(pt, now, MediaTime::from_90khz(u64::from(n) * 3000), data).unwrap();
}

#[test]
fn a_subscriber_receives_a_publishers_frames_until_it_unsubscribes() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client(&mut sfu, 6001, "alice", true, clock);
    let subscriber = client(&mut sfu, 6002, "bob", false, clock);
    let mut clients = vec![publisher, subscriber];
    run(&mut sfu, &mut clients, &mut clock, 500);
    assert!(clients.iter().all(|c| c.connected), "ICE + DTLS up through the core");
    assert_eq!(sfu.tracks(&room()).len(), 1);

    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);

    for n in 0..60 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    let received = clients[1].frames;
    assert!(received >= 50, "frames forwarded: {received}");
    assert!(sfu.counters.packets_forwarded >= 50);

    let offer = sfu.unsubscribe(clients[1].session, &["all".into()], clock).unwrap().expect("an offer");
    let answer = clients[1].rtc.sdp_api().accept_offer(offer).unwrap();
    sfu.accept_answer(clients[1].session, answer, clock).unwrap();
    run(&mut sfu, &mut clients, &mut clock, 100);
    let before = clients[1].frames;
    for n in 60..90 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    assert_eq!(clients[1].frames, before, "nothing after unsubscribing");
}

#[test]
fn datagrams_from_unknown_addresses_are_refused_without_touching_sessions() {
    let clock = Instant::now();
    let mut sfu = sfu();
    let _c = client(&mut sfu, 6003, "alice", true, clock);
    let stranger: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let dest: SocketAddr = SFU.parse().unwrap();
    // Not STUN, STUN with an unknown ufrag, RTP-looking junk, empty.
    let mut stun = vec![0u8, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    for d in [vec![1u8, 2, 3], stun, vec![0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1], vec![]] {
        sfu.handle_datagram(stranger, dest, &d, clock);
    }
    assert_eq!(sfu.counters.unroutable, 4);
    assert_eq!(sfu.session_count(), 1);
}

#[test]
fn a_second_session_of_the_same_identity_replaces_the_first() {
    let clock = Instant::now();
    let mut sfu = sfu();
    let first = client(&mut sfu, 6004, "alice", true, clock);
    let second = client(&mut sfu, 6005, "alice", true, clock);
    assert_eq!(sfu.session_count(), 1);
    assert!(sfu.owner(first.session).is_none());
    assert!(sfu.owner(second.session).is_some());
}

/// One 20 ms Opus packet at `level` dBov.
fn speak(c: &mut Client, n: u64, level: i8, now: Instant) {
    let mid = c.send_mid.unwrap();
    let w = c.rtc.writer(mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Opus).unwrap().pt();
    w.audio_level(level, level > -50)
        .write(pt, now, MediaTime::new(n * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ), vec![0xfc; 80])
        .unwrap();
}

#[test]
fn the_loudest_publisher_becomes_the_active_speaker_with_hysteresis() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let ada = client_of(&mut sfu, 6101, "ada", Some(MediaKind::Audio), clock);
    let bo = client_of(&mut sfu, 6102, "bo", Some(MediaKind::Audio), clock);
    let watcher = client(&mut sfu, 6103, "cy", false, clock);
    let mut clients = vec![ada, bo, watcher];
    run(&mut sfu, &mut clients, &mut clock, 500);
    assert!(clients.iter().all(|c| c.connected));
    assert_eq!(sfu.active_speaker(&room()), None);
    // Bo talks, Ada is quiet.
    for n in 0..40 {
        speak(&mut clients[0], n, -70, clock);
        speak(&mut clients[1], n, -20, clock);
        run(&mut sfu, &mut clients, &mut clock, 20);
    }
    assert_eq!(sfu.active_speaker(&room()), Some("bo"));
    let told: Vec<&String> = clients[2].messages.iter().filter(|m| m.contains("active_speaker")).collect();
    assert_eq!(told.len(), 1, "{:?}", clients[2].messages);
    assert!(told[0].contains("\"bo\""));
    // Ada interrupts briefly (shorter than the hold), then takes over.
    for n in 40..43 {
        speak(&mut clients[0], n, -10, clock);
        speak(&mut clients[1], n, -20, clock);
        run(&mut sfu, &mut clients, &mut clock, 20);
    }
    for n in 43..120 {
        speak(&mut clients[0], n, -10, clock);
        speak(&mut clients[1], n, -80, clock);
        run(&mut sfu, &mut clients, &mut clock, 20);
    }
    assert_eq!(sfu.active_speaker(&room()), Some("ada"));
    let told = clients[2].messages.iter().filter(|m| m.contains("active_speaker")).count();
    assert_eq!(told, 2, "one change each way, no flapping: {:?}", clients[2].messages);
    assert_eq!(sfu.counters.speaker_changes, 2);
}

/// One fake VP8 frame of a simulcast layer ([`write_vp8_layer`]); a keyframe when the SFU
/// asked for one (or the first).
fn write_layer(c: &mut Client, rid: &str, n: u32, size: usize, now: Instant) {
    let key = n == 0 || c.keyframe_wanted.remove(&Some(rid.into()));
    write_vp8_layer(&mut c.rtc, c.send_mid.unwrap(), rid, n, size, key, now);
}

/// Picture ids go up by one per frame, across layer switches too. (The old layer's frame in
/// progress when the switch happens is cut: a gap of one, followed by the keyframe.)
fn picture_ids_continue(ids: &[u64]) -> bool {
    ids.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == w[0] + 2)
        && ids.windows(2).filter(|w| w[1] != w[0] + 1).count() <= 2
}

#[test]
fn simulcast_layers_follow_quality_with_seamless_picture_ids_and_dynacast() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client_with(&mut sfu, 6201, "alice", Some(MediaKind::Video), &["l", "h"], clock);
    let subscriber = client(&mut sfu, 6202, "bob", false, clock);
    let mut clients = vec![publisher, subscriber];
    run(&mut sfu, &mut clients, &mut clock, 500);
    assert!(clients.iter().all(|c| c.connected));
    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);

    // ~40 kbit/s and ~400 kbit/s layers; the 1 Mbit/s starting estimate fits the high one.
    let mut n = 0;
    let mut send = |clients: &mut Vec<Client>, sfu: &mut Sfu, clock: &mut Instant, frames: u32| {
        for _ in 0..frames {
            write_layer(&mut clients[0], "l", n, 160, *clock);
            write_layer(&mut clients[0], "h", n, 1600, *clock);
            n += 1;
            run(sfu, clients, clock, 30);
        }
    };
    send(&mut clients, &mut sfu, &mut clock, 80);
    let track = sfu.tracks(&room())[0].clone();
    assert_eq!(track.layers, vec!["l", "h"]);
    let bob = clients[1].session;
    assert_eq!(sfu.forwarded_layer(bob, &track.id).as_deref(), Some("h"));
    assert!(clients[1].frames >= 40, "frames: {}", clients[1].frames);

    // A small tile: the low layer, switched to on its keyframe, picture ids continuing.
    let before = clients[1].frames;
    sfu.set_quality(bob, &track.id, Quality::Low, clock).unwrap();
    send(&mut clients, &mut sfu, &mut clock, 40);
    assert_eq!(sfu.forwarded_layer(bob, &track.id).as_deref(), Some("l"));
    assert!(clients[1].frames >= before + 30, "frames kept coming: {} → {}", before, clients[1].frames);
    assert!(picture_ids_continue(&clients[1].picture_ids), "picture ids: {:?}", clients[1].picture_ids);
    assert!(sfu.counters.layer_switches >= 2, "start + switch: {}", sfu.counters.layer_switches);
    // Dynacast: the publisher hears that only the low layer is watched.
    let last = clients[0].messages.iter().rev().find(|m| m.contains("track_layers")).expect("dynacast").clone();
    assert!(last.contains("\"layers\":[\"l\"]") && last.contains("\"paused\":false"), "{last}");

    // Off: nothing more arrives and the publisher may pause the track.
    sfu.set_quality(bob, &track.id, Quality::Off, clock).unwrap();
    // (Padding probes may still complete frames already sent; give them time.)
    send(&mut clients, &mut sfu, &mut clock, 40);
    let before = (clients[1].frames, sfu.counters.packets_forwarded);
    send(&mut clients, &mut sfu, &mut clock, 20);
    assert_eq!((clients[1].frames, sfu.counters.packets_forwarded), before, "nothing forwarded while off");
    let last = clients[0].messages.iter().rev().find(|m| m.contains("track_layers")).unwrap();
    assert!(last.contains("\"paused\":true"), "{last}");
}

#[test]
fn a_congested_subscriber_is_moved_to_the_layer_its_link_carries() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client_with(&mut sfu, 6301, "alice", Some(MediaKind::Video), &["l", "h"], clock);
    let fast = client(&mut sfu, 6302, "bob", false, clock);
    let slow = client(&mut sfu, 6303, "cy", false, clock);
    let mut clients = vec![publisher, fast, slow];
    run(&mut sfu, &mut clients, &mut clock, 500);
    for i in [1, 2] {
        subscribe_all(&mut sfu, &mut clients[i], clock);
    }
    run(&mut sfu, &mut clients, &mut clock, 100);
    // Cy's link carries 150 kbit/s: less than the ~400 kbit/s high layer.
    clients[2].link = Some((150_000.0 / 8.0, 10_000.0, clock));
    for n in 0..200 {
        write_layer(&mut clients[0], "l", n, 160, clock);
        write_layer(&mut clients[0], "h", n, 1600, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    let track = sfu.tracks(&room())[0].id.clone();
    assert_eq!(sfu.forwarded_layer(clients[1].session, &track).as_deref(), Some("h"), "the fast link keeps the best");
    assert_eq!(sfu.forwarded_layer(clients[2].session, &track).as_deref(), Some("l"), "the slow link steps down");
    // What Cy receives after stepping down decodes as one continuous picture sequence.
    let tail = &clients[2].picture_ids[clients[2].picture_ids.len() - 30..];
    assert!(picture_ids_continue(tail), "{tail:?}");
}

#[test]
fn media_without_simulcast_above_the_starting_estimate_is_not_queued_behind_the_pacer() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client(&mut sfu, 6401, "alice", true, clock);
    let subscriber = client(&mut sfu, 6402, "bob", false, clock);
    let mut clients = vec![publisher, subscriber];
    run(&mut sfu, &mut clients, &mut clock, 500);
    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);
    // ~3 Mbit/s of video with nothing lower to switch to: three times the starting estimate.
    for n in 0..90u32 {
        let mid = clients[0].send_mid.unwrap();
        let w = clients[0].rtc.writer(mid).unwrap();
        let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
        let mut data =
            vec![if n % 30 == 0 { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        data.resize(12_500, n as u8);
        w.write(pt, clock, MediaTime::from_90khz(u64::from(n) * 3000), data).unwrap();
        run(&mut sfu, &mut clients, &mut clock, 32);
    }
    // Three seconds sent; at the starting estimate's pace barely a third would be through.
    assert!(clients[1].frames >= 80, "frames delivered: {}", clients[1].frames);
    assert!(sfu.bandwidth_estimates().iter().any(|b| *b > 3_000_000), "{:?}", sfu.bandwidth_estimates());
}

#[test]
fn packets_lost_on_the_way_to_a_subscriber_are_resent_from_the_send_buffer() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client(&mut sfu, 6501, "alice", true, clock);
    let subscriber = client(&mut sfu, 6502, "bob", false, clock);
    let mut clients = vec![publisher, subscriber];
    run(&mut sfu, &mut clients, &mut clock, 500);
    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);
    // One datagram in 8 towards Bob is lost (media, retransmissions and control alike).
    clients[1].drop_every = Some((8, 0));
    for n in 0..90 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 33);
    }
    run(&mut sfu, &mut clients, &mut clock, 1500);
    // Frames are only emitted whole: every one arrived, the lost packets resent on NACK.
    assert!(clients[1].frames >= 88, "frames: {}", clients[1].frames);
    assert!(sfu.counters.nacks_received > 0, "{:?}", sfu.counters);
}

/// An offer with `video` send-only video m-lines and a data channel.
fn offer_with(video: usize, now: Instant) -> str0m::change::SdpOffer {
    let mut rtc = Rtc::builder().build(now);
    let mut api = rtc.sdp_api();
    for _ in 0..video {
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    }
    api.add_channel("control".into());
    api.apply().unwrap().0
}

fn open(
    sfu: &mut Sfu,
    identity: &str,
    room_sessions: Option<u32>,
    offer: str0m::change::SdpOffer,
    now: Instant,
) -> Result<SessionId, SfuError> {
    let new = NewSession {
        room: room(),
        identity: identity.into(),
        may_publish: true,
        may_subscribe: true,
        room_sessions,
        standby: false,
    };
    sfu.open_session(new, offer, now).map(|(id, _)| id)
}

#[test]
fn sessions_that_never_connect_are_closed_after_the_timeout() {
    let mut clock = Instant::now();
    let limits = Limits { connect_timeout: Duration::from_secs(2), ..Limits::default() };
    let mut sfu = sfu().with_limits(limits);
    let ghost = open(&mut sfu, "ghost", None, offer_with(1, clock), clock).unwrap();
    let mut clients = vec![client(&mut sfu, 6201, "alice", true, clock)];
    run(&mut sfu, &mut clients, &mut clock, 500);
    assert!(clients[0].connected);
    assert_eq!(sfu.session_count(), 2, "still waiting for the ghost");
    run(&mut sfu, &mut clients, &mut clock, 1600);
    assert!(sfu.owner(ghost).is_none(), "the session that never connected is gone");
    assert!(sfu.owner(clients[0].session).is_some(), "the connected one stays");
    assert_eq!(sfu.counters.sessions_reaped, 1);
    run(&mut sfu, &mut clients, &mut clock, 2000);
    assert_eq!(sfu.session_count(), 1);
    assert_eq!(sfu.counters.sessions_reaped, 1);
}

#[test]
fn a_room_holds_at_most_its_cap_and_a_reconnect_still_fits() {
    let clock = Instant::now();
    let limits = Limits { room_sessions: 2, ..Limits::default() };
    let mut sfu = sfu().with_limits(limits);
    open(&mut sfu, "a", None, offer_with(1, clock), clock).unwrap();
    open(&mut sfu, "b", None, offer_with(1, clock), clock).unwrap();
    assert!(matches!(open(&mut sfu, "c", None, offer_with(1, clock), clock), Err(SfuError::RoomFull(2))));
    // The same identity again replaces its session: it fits.
    open(&mut sfu, "b", None, offer_with(1, clock), clock).unwrap();
    assert_eq!(sfu.session_count(), 2);
    // The token's cap wins over the node's default.
    open(&mut sfu, "c", Some(3), offer_with(1, clock), clock).unwrap();
    assert!(matches!(open(&mut sfu, "d", Some(3), offer_with(1, clock), clock), Err(SfuError::RoomFull(3))));
    // Other rooms are not affected.
    let other = NewSession {
        room: RoomKey::new("org", "other"),
        identity: "d".into(),
        may_publish: true,
        may_subscribe: true,
        room_sessions: None,
        standby: false,
    };
    assert!(sfu.open_session(other, offer_with(1, clock), clock).is_ok());
}

#[test]
fn offers_with_too_many_tracks_or_m_lines_are_refused() {
    let clock = Instant::now();
    let limits = Limits { max_published_tracks: 2, max_offer_mids: 4, ..Limits::default() };
    let mut sfu = sfu().with_limits(limits);
    match open(&mut sfu, "a", None, offer_with(3, clock), clock) {
        Err(SfuError::TooManyTracks(m)) => assert!(m.contains("at most 2"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(open(&mut sfu, "a", None, offer_with(2, clock), clock).is_ok());
    // Receive-only m-lines are no tracks, but count as m-lines.
    let mut rtc = Rtc::builder().build(clock);
    let mut api = rtc.sdp_api();
    for _ in 0..5 {
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    match open(&mut sfu, "b", None, api.apply().unwrap().0, clock) {
        Err(SfuError::TooManyTracks(m)) => assert!(m.contains("5 m-lines"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sfu.session_count(), 1);
}

#[test]
fn a_closed_participant_is_gone_banned_until_the_time_and_others_stay() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let mut clients = vec![client(&mut sfu, 6301, "eve", true, clock), client(&mut sfu, 6302, "bob", true, clock)];
    run(&mut sfu, &mut clients, &mut clock, 500);
    let ban_until = clock + Duration::from_secs(60);
    assert_eq!(sfu.close_participant(&room(), "eve", Some(ban_until), clock), 1);
    assert!(sfu.owner(clients[0].session).is_none());
    assert!(sfu.owner(clients[1].session).is_some(), "bob stays");
    assert_eq!(sfu.tracks(&room()).iter().filter(|t| t.participant == "eve").count(), 0);
    assert!(matches!(open(&mut sfu, "eve", None, offer_with(1, clock), clock), Err(SfuError::Banned)));
    assert!(open(&mut sfu, "carol", None, offer_with(1, clock), clock).is_ok());
    let other_room = NewSession {
        room: RoomKey::new("org", "other"),
        identity: "eve".into(),
        may_publish: true,
        may_subscribe: true,
        room_sessions: None,
        standby: false,
    };
    assert!(sfu.open_session(other_room, offer_with(1, clock), clock).is_ok(), "only this room");
    assert!(open(&mut sfu, "eve", None, offer_with(1, ban_until), ban_until).is_ok(), "the ban ends");
    // Without a ban, a close only closes.
    assert_eq!(sfu.close_participant(&room(), "carol", None, clock), 1);
    assert!(open(&mut sfu, "carol", None, offer_with(1, clock), clock).is_ok());
    assert_eq!(sfu.counters.sessions_kicked, 2);
}

#[test]
fn a_muted_publisher_reaches_nobody_until_unmuted_even_after_reconnecting() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let mut clients = vec![client(&mut sfu, 6401, "alice", true, clock), client(&mut sfu, 6402, "bob", false, clock)];
    run(&mut sfu, &mut clients, &mut clock, 500);
    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);
    let mut n = 0;
    let mut frames = |sfu: &mut Sfu, clients: &mut Vec<Client>, clock: &mut Instant, count: u32| {
        for _ in 0..count {
            write_frame(&mut clients[0], n, *clock);
            n += 1;
            run(sfu, clients, clock, 30);
        }
    };
    frames(&mut sfu, &mut clients, &mut clock, 20);
    assert!(clients[1].frames >= 15, "flowing: {}", clients[1].frames);

    let (mute, sessions) = sfu.set_mute(&room(), "alice", None, Some(true), clock).unwrap();
    assert_eq!((mute, sessions), (Mute { audio: false, video: true }, 1));
    let before = clients[1].frames;
    frames(&mut sfu, &mut clients, &mut clock, 30);
    assert_eq!(clients[1].frames, before, "nothing of a muted video");
    assert!(sfu.counters.packets_muted >= 30);
    // Audio mute state is separate; unmuting audio changes nothing for video.
    assert_eq!(sfu.set_mute(&room(), "alice", Some(false), None, clock).unwrap().0, mute);

    let (mute, _) = sfu.set_mute(&room(), "alice", None, Some(false), clock).unwrap();
    assert_eq!(mute, Mute::default());
    frames(&mut sfu, &mut clients, &mut clock, 30);
    assert!(clients[1].frames >= before + 20, "flowing again: {} after {before}", clients[1].frames);

    // A mute holds for sessions the identity opens later.
    sfu.set_mute(&room(), "alice", None, Some(true), clock).unwrap();
    clients.remove(0);
    let again = client(&mut sfu, 6403, "alice", true, clock);
    clients.insert(0, again);
    run(&mut sfu, &mut clients, &mut clock, 500);
    let before = clients[1].frames;
    let muted = sfu.counters.packets_muted;
    frames(&mut sfu, &mut clients, &mut clock, 20);
    assert_eq!(clients[1].frames, before, "the new session is muted too");
    assert!(sfu.counters.packets_muted > muted);
}

/// Alice publishing, bob subscribed to her and connected.
fn alice_to_bob() -> (Sfu, Vec<Client>, Instant) {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let publisher = client(&mut sfu, 6001, "alice", true, clock);
    let subscriber = client(&mut sfu, 6002, "bob", false, clock);
    let mut clients = vec![publisher, subscriber];
    run(&mut sfu, &mut clients, &mut clock, 500);
    subscribe_all(&mut sfu, &mut clients[1], clock);
    run(&mut sfu, &mut clients, &mut clock, 100);
    (sfu, clients, clock)
}

#[test]
fn a_subscriber_that_restarts_ice_from_another_address_keeps_its_session_and_media() {
    let (mut sfu, mut clients, mut clock) = alice_to_bob();
    for n in 0..20 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    assert!(clients[1].frames >= 15, "before: {}", clients[1].frames);

    // Bob's path went away (its TURN server died): it restarts ICE from a new address, as
    // through another TURN server, with an offer over the control API. Same session, same
    // DTLS, same tracks.
    let bob = &mut clients[1];
    bob.addr = "127.0.0.1:6102".parse().unwrap();
    let mut api = bob.rtc.sdp_api();
    api.ice_restart(false);
    let (offer, pending) = api.apply().expect("an ICE restart offer");
    let answer = sfu.accept_offer(bob.session, offer, clock).unwrap();
    // (str0m drops the old local candidates once the answer is in.)
    bob.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    bob.rtc.add_local_candidate(Candidate::host(bob.addr, "udp").unwrap());
    let before = bob.frames;
    for n in 20..60 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    assert!(clients[1].frames - before >= 30, "after the restart: {} of 40 frames", clients[1].frames - before);
    assert_eq!(sfu.tracks(&room()).len(), 1, "the session stayed");
}

#[test]
fn a_publisher_whose_stream_comes_back_after_a_pause_is_asked_for_a_keyframe_at_once() {
    let (mut sfu, mut clients, mut clock) = alice_to_bob();
    for n in 1..30 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    // Nothing from alice for 3 s (her path went away), then her frames again: no keyframe
    // among them, and bob never asks. The node asks her for one as soon as the stream is back.
    run(&mut sfu, &mut clients, &mut clock, 3000);
    clients[0].keyframe_wanted.clear();
    for n in 31..34 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 30);
    }
    assert!(!clients[0].keyframe_wanted.is_empty(), "a keyframe asked for after the pause");
}

/// A client with a data channel only, opened as a standby for `identity`'s session.
fn standby_client(sfu: &mut Sfu, port: u16, identity: &str, now: Instant) -> Client {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut rtc = Rtc::builder().build(now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_channel("control".into());
    let (offer, pending) = api.apply().unwrap();
    let new = NewSession {
        room: room(),
        identity: identity.into(),
        may_publish: true,
        may_subscribe: true,
        room_sessions: None,
        standby: true,
    };
    let (session, answer) = sfu.open_session(new, offer, now).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    Client {
        addr,
        rtc,
        connected: false,
        frames: 0,
        session,
        send_mid: None,
        messages: Vec::new(),
        picture_ids: Vec::new(),
        keyframe_wanted: HashSet::new(),
        link: None,
        drop_every: None,
    }
}

/// Answers the last offer the SFU pushed over the client's data channel.
fn answer_channel_offer(sfu: &mut Sfu, c: &mut Client, now: Instant) {
    let json = c.messages.iter().rev().find(|m| m.contains("\"offer\"")).expect("an offer over the channel").clone();
    c.messages.clear();
    let offer: str0m::change::SdpOffer = serde_json::from_str(&json).unwrap();
    let answer = c.rtc.sdp_api().accept_offer(offer).unwrap();
    sfu.accept_answer(c.session, answer, now).unwrap();
}

fn usage_ms(sfu: &mut Sfu, now: Instant) -> u64 {
    sfu.take_usage(now).iter().map(|(_, ms)| ms).sum()
}

#[test]
fn a_standby_carries_nothing_until_it_takes_over_then_replaces_the_session_it_stood_by_for() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let mut clients = vec![client(&mut sfu, 6401, "alice", true, clock), client(&mut sfu, 6402, "bob", false, clock)];
    run(&mut sfu, &mut clients, &mut clock, 500);
    subscribe_all(&mut sfu, &mut clients[1], clock);
    let primary = clients[0].session;

    // Alice's standby connects beside her session; it replaces nothing and counts no time.
    clients.push(standby_client(&mut sfu, 6403, "alice", clock));
    run(&mut sfu, &mut clients, &mut clock, 500);
    assert!(clients[2].connected, "the standby's transport is up");
    assert!(sfu.owner(primary).is_some(), "the session it stands by for stays");
    assert_eq!((sfu.session_count(), sfu.standby_count()), (3, 1));
    let standby = clients[2].session;
    assert!(matches!(sfu.subscribe(standby, &["all".into()], clock), Err(SfuError::Standby)));
    let mut other = Rtc::builder().build(clock);
    let mut api = other.sdp_api();
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    assert!(matches!(sfu.accept_offer(standby, api.apply().unwrap().0, clock), Err(SfuError::Standby)));
    assert!(matches!(sfu.set_quality(standby, "alice:0", Quality::Low, clock), Err(SfuError::Standby)));
    usage_ms(&mut sfu, clock);
    for n in 0..30 {
        write_frame(&mut clients[0], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 34);
    }
    assert!(clients[1].frames >= 25, "bob receives alice's session: {}", clients[1].frames);
    assert_eq!(clients[2].frames, 0, "the standby receives nothing");
    let counted = usage_ms(&mut sfu, clock);
    assert!((1900..=2100).contains(&counted), "alice and bob, not the standby: {counted} ms");

    // The standby takes over: alice's old session closes and her tracks go with it.
    sfu.take_over(standby, clock).unwrap();
    usage_ms(&mut sfu, clock);
    let since = clock;
    assert!(sfu.owner(primary).is_none(), "the old session is closed");
    assert_eq!((sfu.session_count(), sfu.standby_count()), (2, 0));
    assert!(sfu.tracks(&room()).iter().all(|t| t.participant != "alice"));
    assert_eq!(sfu.counters.standby_takeovers, 1);
    sfu.take_over(standby, clock).unwrap(); // a session in use: nothing changes
    assert_eq!(sfu.counters.standby_takeovers, 1);
    clients.remove(0);
    run(&mut sfu, &mut clients, &mut clock, 100);

    // Over the transport that was already up, alice publishes again and bob receives it.
    let mut api = clients[1].rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let answer = sfu.accept_offer(standby, offer, clock).unwrap();
    clients[1].rtc.sdp_api().accept_answer(pending, answer).unwrap();
    clients[1].send_mid = Some(mid);
    run(&mut sfu, &mut clients, &mut clock, 100);
    write_frame(&mut clients[1], 0, clock);
    run(&mut sfu, &mut clients, &mut clock, 100);
    answer_channel_offer(&mut sfu, &mut clients[0], clock);
    let before = clients[0].frames;
    for n in 0..30 {
        write_frame(&mut clients[1], n, clock);
        run(&mut sfu, &mut clients, &mut clock, 34);
    }
    assert!(clients[0].frames - before >= 25, "bob receives alice's new session: {}", clients[0].frames - before);
    let counted = usage_ms(&mut sfu, clock);
    let both = 2 * clock.duration_since(since).as_millis() as u64;
    assert!(counted.abs_diff(both) <= 10, "bob and alice's session now: {counted} ms of {both}");
}

#[test]
fn a_newer_standby_replaces_an_older_one_and_a_new_session_replaces_both() {
    let mut clock = Instant::now();
    let mut sfu = sfu();
    let mut clients = vec![client(&mut sfu, 6411, "alice", true, clock)];
    let first = standby_client(&mut sfu, 6412, "alice", clock).session;
    let second = standby_client(&mut sfu, 6413, "alice", clock).session;
    assert!(sfu.owner(first).is_none(), "one standby per participant");
    assert!(sfu.owner(second).is_some() && sfu.owner(clients[0].session).is_some());
    // A standby is not a participant against the room's cap.
    let limits = Limits { room_sessions: 2, ..Limits::default() };
    let mut capped = Sfu::new(SFU.parse().unwrap()).with_limits(limits);
    let _a = client(&mut capped, 6421, "alice", true, clock);
    let _s = standby_client(&mut capped, 6422, "alice", clock);
    assert!(open(&mut capped, "bob", None, offer_with(1, clock), clock).is_ok());
    assert!(matches!(open(&mut capped, "carol", None, offer_with(1, clock), clock), Err(SfuError::RoomFull(2))));
    // A reconnect that is not a standby replaces the session and the standby.
    clients.push(client(&mut sfu, 6414, "alice", true, clock));
    run(&mut sfu, &mut clients, &mut clock, 200);
    assert!(sfu.owner(second).is_none() && sfu.owner(clients[0].session).is_none());
    assert_eq!((sfu.session_count(), sfu.standby_count()), (1, 0));
}
