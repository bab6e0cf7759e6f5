//! Two SFU cores serving one room, linked (cascading), without sockets or a real clock: the
//! cores and str0m clients exchange datagrams through memory. A track published on one node
//! reaches subscribers on the other over one link, once whatever their number; each node sends
//! only its own participants' tracks, so nothing comes back; keyframe requests cross the hop; a
//! track nobody on the other node watches is not sent over the link; a simulcast track crosses
//! with its layers, each subscriber on the other node getting the one it wants.

#[path = "support/vp8_layer.rs"]
mod vp8_layer;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use origo_media_node::sfu::{Quality, RoomKey, SeededRandom, SessionId, Sfu};
use str0m::change::SdpPendingOffer;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use vp8_layer::write_vp8_layer;

const NODE_A: &str = "10.0.0.1:5000";
const NODE_B: &str = "10.0.0.2:5000";
/// The socket node A opens its link from (a link has one of its own on the opening side).
const LINK_A: &str = "10.0.0.1:6000";

fn room() -> RoomKey {
    RoomKey::new("org", "cascade")
}

struct Participant {
    addr: SocketAddr,
    /// Which node it is on: 0 (A) or 1 (B).
    node: usize,
    rtc: Rtc,
    session: SessionId,
    send_mid: Option<Mid>,
    connected: bool,
    frames: usize,
    /// The size of each frame it decoded.
    frame_sizes: Vec<usize>,
    keyframe_requests: usize,
    /// Layers a keyframe was asked for since it last sent one (a simulcast publisher).
    keyframe_wanted: HashSet<Option<Rid>>,
}

/// The two nodes and their participants, and what crossed between the nodes.
struct World {
    nodes: [Sfu; 2],
    addrs: [SocketAddr; 2],
    people: Vec<Participant>,
    /// Datagrams from node A to node B and back.
    between: [usize; 2],
    clock: Instant,
}

impl World {
    fn new() -> World {
        let addrs: [SocketAddr; 2] = [NODE_A.parse().unwrap(), NODE_B.parse().unwrap()];
        let nodes = [
            Sfu::new(addrs[0]).with_randomness(SeededRandom::new(1)),
            Sfu::new(addrs[1]).with_randomness(SeededRandom::new(2)),
        ];
        World { nodes, addrs, people: Vec::new(), between: [0, 0], clock: Instant::now() }
    }

    /// A participant on `node`: publishing video, or a data channel only.
    fn join(&mut self, node: usize, port: u16, identity: &str, publish: bool) -> usize {
        self.join_with(node, port, identity, publish, &[])
    }

    /// A participant on `node`; a publisher sends simulcast `rids` (writing its RTP itself)
    /// when they are given.
    fn join_with(&mut self, node: usize, port: u16, identity: &str, publish: bool, rids: &[&str]) -> usize {
        let addr: SocketAddr = format!("192.0.2.{}:{port}", node + 1).parse().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(!rids.is_empty()).build(self.clock);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let simulcast = (!rids.is_empty()).then(|| {
            let mut s = Simulcast::new();
            for r in rids {
                s.add_send_layer(SimulcastLayer::new(r));
            }
            s
        });
        let send_mid = publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast));
        api.add_channel("control".into());
        let (offer, pending): (_, SdpPendingOffer) = api.apply().unwrap();
        let (session, answer) =
            self.nodes[node].create_session(room(), identity.into(), publish, true, offer, self.clock).unwrap();
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.people.push(Participant {
            addr,
            node,
            rtc,
            session,
            send_mid,
            connected: false,
            frames: 0,
            frame_sizes: Vec::new(),
            keyframe_requests: 0,
            keyframe_wanted: HashSet::new(),
        });
        self.people.len() - 1
    }

    /// Node A opens a link to node B for the room; B answers.
    fn link(&mut self) -> (SessionId, SessionId) {
        let now = self.clock;
        let (on_a, offer) = self.nodes[0].open_relay(room(), "node-b", LINK_A.parse().unwrap(), now).unwrap();
        let (on_b, answer) = self.nodes[1].accept_relay(room(), "node-a", offer, now).unwrap();
        self.nodes[0].relay_answered(on_a, answer, self.addrs[1], now).unwrap();
        (on_a, on_b)
    }

    /// The node listening at `addr` (its shard's socket or A's link socket).
    fn node_at(&self, addr: SocketAddr) -> Option<usize> {
        if addr == LINK_A.parse::<SocketAddr>().unwrap() {
            return Some(0);
        }
        self.addrs.iter().position(|a| *a == addr)
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let now = self.clock;
        if let Some(n) = self.node_at(to) {
            if let Some(m) = self.node_at(from) {
                self.between[m] += 1;
            }
            self.nodes[n].handle_datagram(from, to, data, now);
        } else if let Some(p) = self.people.iter_mut().find(|p| p.addr == to) {
            let r = Receive::new(Protocol::Udp, from, to, data).unwrap();
            p.rtc.handle_input(Input::Receive(now, r)).unwrap();
        }
    }

    /// Moves every datagram and advances every clock until nothing is left to do.
    fn pump(&mut self) {
        let now = self.clock;
        for _ in 0..60 {
            let mut moved = Vec::new();
            for p in &mut self.people {
                p.rtc.handle_input(Input::Timeout(now)).unwrap();
                loop {
                    match p.rtc.poll_output().unwrap() {
                        Output::Timeout(_) => break,
                        Output::Transmit(t) => moved.push((p.addr, t.destination, t.contents.to_vec())),
                        Output::Event(Event::Connected) => p.connected = true,
                        Output::Event(Event::MediaData(d)) => {
                            p.frames += 1;
                            p.frame_sizes.push(d.data.len());
                        }
                        Output::Event(Event::KeyframeRequest(r)) => {
                            p.keyframe_requests += 1;
                            p.keyframe_wanted.insert(r.rid);
                        }
                        Output::Event(_) => {}
                    }
                }
            }
            for n in 0..2 {
                self.nodes[n].handle_timeout(now);
                for t in self.nodes[n].drain_transmits() {
                    moved.push((t.source, t.destination, t.contents));
                }
            }
            if moved.is_empty() {
                break;
            }
            for (from, to, data) in moved {
                self.deliver(from, to, &data);
            }
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 2 {
            self.clock += Duration::from_millis(2);
            self.pump();
        }
    }

    /// A participant subscribes to everything its node has of the room.
    fn subscribe_all(&mut self, who: usize) {
        let now = self.clock;
        let (node, session) = (self.people[who].node, self.people[who].session);
        let offer = self.nodes[node].subscribe(session, &["all".into()], now).unwrap().expect("an offer");
        let answer = self.people[who].rtc.sdp_api().accept_offer(offer).unwrap();
        self.nodes[node].accept_answer(session, answer, now).unwrap();
    }

    /// One fake VP8 frame from a publisher (a keyframe every 10th).
    fn frame(&mut self, who: usize, n: u32) {
        let now = self.clock;
        let p = &mut self.people[who];
        let w = p.rtc.writer(p.send_mid.unwrap()).unwrap();
        let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
        let key = n.is_multiple_of(10);
        let mut data = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        data.extend(std::iter::repeat_n(n as u8, 600));
        w.write(pt, now, MediaTime::from_90khz(u64::from(n) * 3000), data).unwrap();
    }

    /// One fake VP8 frame of a simulcast layer ([`write_vp8_layer`]); a keyframe first and
    /// whenever one was asked for that layer.
    fn layer_frame(&mut self, who: usize, rid: &str, n: u32, size: usize) {
        let now = self.clock;
        let p = &mut self.people[who];
        let key = n == 0 || p.keyframe_wanted.remove(&Some(rid.into()));
        write_vp8_layer(&mut p.rtc, p.send_mid.unwrap(), rid, n, size, key, now);
    }

    /// The id of `who`'s track as `node` lists it.
    fn track_of(&self, node: usize, who: &str) -> origo_media_node::sfu::TrackInfo {
        self.nodes[node].tracks(&room()).into_iter().find(|t| t.participant == who).expect("the track")
    }

    fn participants(&self, node: usize) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for t in self.nodes[node].tracks(&room()) {
            *out.entry(t.participant).or_default() += 1;
        }
        out
    }
}

#[test]
fn a_track_on_one_node_reaches_subscribers_on_the_other_over_one_copy() {
    let mut w = World::new();
    let alice = w.join(0, 6001, "alice", true);
    let bob = w.join(1, 6002, "bob", false);
    let carol = w.join(1, 6003, "carol", false);
    let (on_a, on_b) = w.link();
    w.run(600);
    assert!(w.people.iter().all(|p| p.connected), "the participants are connected");
    assert_eq!(w.nodes[0].relays(&room()), vec![(on_a, "node-b".to_owned())]);
    assert_eq!(w.nodes[1].relays(&room()), vec![(on_b, "node-a".to_owned())]);
    // Node B lists alice's track under her name, not the link's.
    assert_eq!(w.participants(1), HashMap::from([("alice".to_owned(), 1)]));
    w.subscribe_all(bob);
    w.subscribe_all(carol);
    w.run(200);
    let (in_a, out_a) = (w.nodes[0].counters.packets_in, w.nodes[0].counters.packets_forwarded);
    let out_b = w.nodes[1].counters.packets_forwarded;
    for n in 0..60 {
        w.frame(alice, n);
        w.run(30);
    }
    assert!(w.people[bob].frames >= 50, "bob decoded {} frames of 60", w.people[bob].frames);
    assert!(w.people[carol].frames >= 50, "carol decoded {} frames of 60", w.people[carol].frames);
    // Node A sent each of alice's packets once (to the link), node B twice (bob and carol).
    let sent_by_alice = w.nodes[0].counters.packets_in - in_a;
    let over_link = w.nodes[0].counters.packets_forwarded - out_a;
    let to_people = w.nodes[1].counters.packets_forwarded - out_b;
    assert!(sent_by_alice >= 60, "{sent_by_alice} packets from alice");
    assert_eq!(over_link, sent_by_alice, "one copy per packet over the link");
    assert!(
        to_people >= 2 * over_link - 4 && to_people <= 2 * over_link,
        "{to_people} forwarded on B for {over_link} relayed"
    );
}

#[test]
fn each_node_relays_its_own_tracks_and_nothing_comes_back() {
    let mut w = World::new();
    let alice = w.join(0, 6001, "alice", true);
    let dave = w.join(1, 6002, "dave", true);
    let erin = w.join(0, 6003, "erin", false);
    let bob = w.join(1, 6004, "bob", false);
    w.link();
    w.run(800);
    // Both nodes see both tracks, each once: a relayed track is not sent back over the link.
    let both = HashMap::from([("alice".to_owned(), 1), ("dave".to_owned(), 1)]);
    assert_eq!(w.participants(0), both);
    assert_eq!(w.participants(1), both);
    w.subscribe_all(erin);
    w.subscribe_all(bob);
    w.run(200);
    for n in 0..40 {
        w.frame(alice, n);
        w.frame(dave, n);
        w.run(30);
    }
    // erin (on A) gets dave's frames from B; bob (on B) gets alice's from A.
    assert!(w.people[erin].frames >= 60, "erin decoded {} of 80 frames", w.people[erin].frames);
    assert!(w.people[bob].frames >= 60, "bob decoded {} of 80 frames", w.people[bob].frames);
    assert!(w.between[0] > 0 && w.between[1] > 0, "media crossed both ways: {:?}", w.between);
}

#[test]
fn a_subscribers_keyframe_request_crosses_the_link_to_the_publisher() {
    let mut w = World::new();
    let alice = w.join(0, 6001, "alice", true);
    let bob = w.join(1, 6002, "bob", false);
    w.link();
    w.run(600);
    for n in 0..10 {
        w.frame(alice, n);
        w.run(30);
    }
    // Past the keyframe request throttle, a new subscriber on B needs a keyframe: node B asks
    // the link, node A asks alice.
    w.run(3000);
    let before = w.people[alice].keyframe_requests;
    w.subscribe_all(bob);
    for n in 10..50 {
        w.frame(alice, n);
        w.run(30);
    }
    assert!(w.people[alice].keyframe_requests > before, "alice was asked for a keyframe for bob");
    assert!(w.people[bob].frames > 0, "bob decodes");
}

#[test]
fn a_track_nobody_on_the_other_node_watches_stays_home() {
    let mut w = World::new();
    let alice = w.join(0, 6001, "alice", true);
    let bob = w.join(1, 6002, "bob", false);
    let (on_a, _) = w.link();
    w.run(600);
    // Nobody on B subscribes: node B says so, and A sends nothing of alice's over the link.
    let held = |w: &World| w.nodes[0].relay_states(&room()).iter().find(|l| l.session == on_a).map(|l| l.tracks_held);
    assert_eq!(held(&w), Some(1), "{:?}", w.nodes[0].relay_states(&room()));
    let out_a = w.nodes[0].counters.packets_forwarded;
    for n in 0..20 {
        w.frame(alice, n);
        w.run(30);
    }
    assert_eq!(w.nodes[0].counters.packets_forwarded, out_a, "nothing crossed for a track nobody watches");

    // Bob subscribes: the track crosses again (from a keyframe) and bob decodes it.
    w.subscribe_all(bob);
    w.run(100);
    assert_eq!(held(&w), Some(0));
    for n in 20..60 {
        w.frame(alice, n);
        w.run(30);
    }
    assert!(w.people[bob].frames >= 30, "bob decoded {} of 40 frames", w.people[bob].frames);

    // Bob turns it off: it stays home again.
    let track = w.nodes[1].tracks(&room()).into_iter().find(|t| t.participant == "alice").unwrap().id;
    let now = w.clock;
    w.nodes[1].set_quality(w.people[bob].session, &track, Quality::Off, now).unwrap();
    w.run(100);
    assert_eq!(held(&w), Some(1));
    let out_a = w.nodes[0].counters.packets_forwarded;
    for n in 60..80 {
        w.frame(alice, n);
        w.run(30);
    }
    assert_eq!(w.nodes[0].counters.packets_forwarded, out_a, "nothing crossed once bob turned it off");
}

#[test]
fn a_link_is_nobodys_usage_and_no_participant_of_the_room_cap() {
    let mut w = World::new();
    let _alice = w.join(0, 6001, "alice", true);
    let (_, on_b) = w.link();
    w.run(600);
    let usage: u64 = w.nodes[1].take_usage(w.clock).iter().map(|(_, ms)| ms).sum();
    assert_eq!(usage, 0, "node B has no participant, only the link");
    assert_eq!(w.nodes[1].owner(on_b).map(|(_, who)| who.to_owned()), Some("relay:node-a".to_owned()));
}

#[test]
fn a_simulcast_track_crosses_with_its_layers_and_each_subscriber_there_gets_its_own() {
    let mut w = World::new();
    let alice = w.join_with(0, 6001, "alice", true, &["l", "h"]);
    let bob = w.join(1, 6002, "bob", false);
    let carol = w.join(1, 6003, "carol", false);
    let (on_a, _) = w.link();
    w.run(600);
    w.subscribe_all(bob);
    w.subscribe_all(carol);
    let on_b = w.track_of(1, "alice").id;
    let now = w.clock;
    w.nodes[1].set_quality(w.people[carol].session, &on_b, Quality::Low, now).unwrap();
    w.run(100);
    let frames = |w: &mut World, from: u32, to: u32| {
        for n in from..to {
            w.layer_frame(alice, "l", n, 300);
            w.layer_frame(alice, "h", n, 2000);
            w.run(30);
        }
    };
    frames(&mut w, 0, 60);
    // Node B receives both layers over the link, as from a simulcast publisher of its own.
    assert_eq!(w.track_of(1, "alice").layers, ["l", "h"]);
    let on_a_track = w.track_of(0, "alice").id;
    assert_eq!(w.nodes[0].forwarded_layer(on_a, &on_a_track).as_deref(), Some("l,h"));
    let link = |w: &World| w.nodes[0].relay_states(&room()).into_iter().find(|l| l.session == on_a).unwrap();
    assert_eq!(link(&w).streams_out, 2);
    // Each subscriber on B gets the layer it wants: bob the high one, carol the low one.
    assert_eq!(w.nodes[1].forwarded_layer(w.people[bob].session, &on_b).as_deref(), Some("h"));
    assert_eq!(w.nodes[1].forwarded_layer(w.people[carol].session, &on_b).as_deref(), Some("l"));
    // (Each starts on the first layer B sees, whichever it is, as from a publisher of B's own,
    // and moves to its own once the layers' bitrates are measured.) From then on every frame
    // each gets is its layer's.
    let big = |p: &Participant| p.frame_sizes.iter().filter(|s| **s > 1500).count();
    assert!(big(&w.people[bob]) > 0, "bob is on the high layer: {:?}", w.people[bob].frame_sizes);
    let (bob_before, carol_before) = (w.people[bob].frames, w.people[carol].frames);
    frames(&mut w, 60, 90);
    let new = |p: &Participant, from: usize| p.frame_sizes[from..].to_vec();
    let (bob_new, carol_new) = (new(&w.people[bob], bob_before), new(&w.people[carol], carol_before));
    assert!(bob_new.len() >= 20 && bob_new.iter().all(|s| *s > 1500), "bob's frames: {bob_new:?}");
    assert!(carol_new.len() >= 20 && carol_new.iter().all(|s| *s < 1500), "carol's frames: {carol_new:?}");

    // Both on B want the low layer now: node A stops sending the high one over the link.
    let now = w.clock;
    w.nodes[1].set_quality(w.people[bob].session, &on_b, Quality::Low, now).unwrap();
    frames(&mut w, 90, 110);
    assert_eq!(w.nodes[0].forwarded_layer(on_a, &on_a_track).as_deref(), Some("l"));
    assert_eq!(link(&w).streams_out, 1);
    let out_a = w.nodes[0].counters.packets_forwarded;
    frames(&mut w, 110, 130);
    assert_eq!(
        w.nodes[0].counters.packets_forwarded - out_a,
        20,
        "one packet per low frame crossed, none of the high ones"
    );
    let bob_frames = w.people[bob].frames;
    frames(&mut w, 130, 150);
    assert!(w.people[bob].frames >= bob_frames + 15, "bob decodes the low layer");

    // Bob wants it all again: the high layer crosses again, from a keyframe, and reaches him.
    let now = w.clock;
    w.nodes[1].set_quality(w.people[bob].session, &on_b, Quality::High, now).unwrap();
    let before = big(&w.people[bob]);
    // (B measures the high layer again and asks for its keyframe before bob switches.)
    frames(&mut w, 150, 270);
    assert_eq!(w.nodes[0].forwarded_layer(on_a, &on_a_track).as_deref(), Some("l,h"));
    assert!(big(&w.people[bob]) >= before + 30, "bob decodes the high layer again");
}
