//! The TURN core driven like a client would, with a controlled clock: no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::allocation::{FiveTuple, Transport};
use origo_turn::attribute::*;
use origo_turn::channel_data;
use origo_turn::credentials::long_term_key;
use origo_turn::message::{Class, Integrity, Message, MessageBuilder, method};
use origo_turn::own_addresses::OwnAddresses;
use origo_turn::peer_policy::PeerPolicy;
use origo_turn::relay_usage::Relayed;
use origo_turn::server::{Config, Now, Output, TurnServer};

const UNIX: u64 = 1_800_000_000;
const SECRET: &str = "north-star";
const RELAY: &str = "192.0.2.1:50000";
const PUBLIC_PEER: &str = "8.8.8.8:9000";

struct Harness {
    server: TurnServer,
    t0: Instant,
    elapsed: Duration,
    tuple: FiveTuple,
    username: String,
    password: String,
    nonce: String,
    tid: u8,
}

impl Harness {
    fn new(config: Config) -> Self {
        Self::with_org(config, None)
    }

    /// A client whose credentials name `org` (`<expiry>:<org>:alice`), as a join's do.
    fn with_org(config: Config, org: Option<&str>) -> Self {
        let secrets = TurnSecrets::new([SECRET]);
        let creds = match org {
            Some(org) => secrets.issue_in(org, "alice", UNIX, 86_400).unwrap(),
            None => secrets.issue("alice", UNIX, 86_400).unwrap(),
        };
        Harness {
            server: TurnServer::new(config, secrets, [5; 32], PeerPolicy::new()),
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            tuple: tuple("198.51.100.10:40000"),
            username: creds.username,
            password: creds.password,
            nonce: String::new(),
            tid: 0,
        }
    }

    fn now(&self) -> Now {
        Now { instant: self.t0 + self.elapsed, unix: UNIX + self.elapsed.as_secs() }
    }

    fn advance(&mut self, secs: u64) {
        self.elapsed += Duration::from_secs(secs);
    }

    fn key(&self) -> Vec<u8> {
        long_term_key(&self.username, "origo", &self.password)
    }

    fn next_tid(&mut self) -> [u8; 12] {
        self.tid += 1;
        [self.tid; 12]
    }

    /// A request with long-term auth; `build` adds the method's attributes.
    fn request(&mut self, m: u16, build: impl FnOnce(&mut MessageBuilder)) -> Vec<u8> {
        let tid = self.next_tid();
        let mut b = MessageBuilder::new(m, Class::Request, tid);
        build(&mut b);
        b.add(USERNAME, self.username.as_bytes()).add(REALM, b"origo").add(NONCE, self.nonce.as_bytes());
        b.add_integrity(&self.key());
        b.add_fingerprint();
        b.finish()
    }

    fn send(&mut self, bytes: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        let (now, tuple) = (self.now(), self.tuple);
        self.server.client_stun(now, tuple, bytes, &mut out);
        out
    }

    /// Sends and returns the single response to the client.
    fn exchange(&mut self, bytes: &[u8]) -> Vec<u8> {
        let out = self.send(bytes);
        match out.as_slice() {
            [Output::ToClient { data, .. }] => data.clone(),
            other => panic!("expected one response, got {other:?}"),
        }
    }

    /// Gets a nonce through the 401 challenge.
    fn get_nonce(&mut self) {
        let tid = self.next_tid();
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, tid);
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        let res = self.exchange(&b.finish());
        let m = Message::parse(&res).unwrap();
        assert_eq!(error_code(&m), 401);
        assert_eq!(m.get_str(REALM), Some("origo"));
        self.nonce = m.get_str(NONCE).unwrap().to_owned();
    }

    /// Allocates, binding the relay at `relay`; returns the success response.
    fn allocate(&mut self, relay: &str) -> Vec<u8> {
        self.get_nonce();
        let req = self.request(method::ALLOCATE, |b| {
            b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        });
        let out = self.send(&req);
        assert_eq!(
            out,
            vec![Output::BindRelay { tuple: self.tuple, ipv6: false, even_port: false, reserve: None, token: None }]
        );
        let mut out = Vec::new();
        let (now, tuple) = (self.now(), self.tuple);
        self.server.relay_bound(now, tuple, Ok(relay.parse().unwrap()), &mut out);
        match out.as_slice() {
            [Output::ToClient { data, .. }] => data.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn permission(&mut self, peer: &str) -> Vec<u8> {
        let peer: SocketAddr = peer.parse().unwrap();
        let req = self.request(method::CREATE_PERMISSION, |b| {
            b.add_xor_address(XOR_PEER_ADDRESS, peer);
        });
        self.exchange(&req)
    }

    fn channel_bind(&mut self, channel: u16, peer: &str) -> Vec<u8> {
        let peer: SocketAddr = peer.parse().unwrap();
        let req = self.request(method::CHANNEL_BIND, |b| {
            b.add(CHANNEL_NUMBER, &[(channel >> 8) as u8, channel as u8, 0, 0]).add_xor_address(XOR_PEER_ADDRESS, peer);
        });
        self.exchange(&req)
    }
}

fn tuple(client: &str) -> FiveTuple {
    FiveTuple { client: client.parse().unwrap(), server: "192.0.2.1:3478".parse().unwrap(), transport: Transport::Udp }
}

fn error_code(m: &Message<'_>) -> u16 {
    assert_eq!(m.class, Class::Error, "expected an error response");
    decode_error_code(m.get(ERROR_CODE).unwrap()).unwrap().0
}

fn code_of(bytes: &[u8]) -> Option<u16> {
    let m = Message::parse(bytes).unwrap();
    (m.class == Class::Error).then(|| error_code(&m))
}

#[test]
fn binding_reports_the_reflexive_address() {
    let mut h = Harness::new(Config::default());
    let req = MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).finish();
    let res = h.exchange(&req);
    let m = Message::parse(&res).unwrap();
    assert_eq!((m.method, m.class), (method::BINDING, Class::Success));
    assert_eq!(m.get_xor_address(XOR_MAPPED_ADDRESS), Some(h.tuple.client));
    assert_eq!(m.fingerprint_ok(), Some(true));
}

#[test]
fn allocate_with_rest_credentials() {
    let mut h = Harness::new(Config::default());
    let res = h.allocate(RELAY);
    let m = Message::parse(&res).unwrap();
    assert_eq!((m.method, m.class), (method::ALLOCATE, Class::Success));
    assert_eq!(m.get_xor_address(XOR_RELAYED_ADDRESS), Some(RELAY.parse().unwrap()));
    assert_eq!(m.get_xor_address(XOR_MAPPED_ADDRESS), Some(h.tuple.client));
    assert_eq!(m.get_u32(LIFETIME), Some(600));
    assert_eq!(m.check_integrity(&h.key()), Integrity::Valid, "responses are signed with the user's key");
    assert_eq!(h.server.allocation_count(), 1);
    // A retransmission gets the same answer; a new Allocate on the same 5-tuple is a mismatch.
    let tid = h.tid;
    h.tid -= 1;
    let again = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(h.tid, tid);
    assert_eq!(h.exchange(&again), res);
    let fresh = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&fresh)), Some(437));
}

#[test]
fn authentication_refusals() {
    let mut h = Harness::new(Config::default());
    h.get_nonce();
    // Wrong password.
    h.password = "not-it".into();
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(401));
    assert_eq!(h.server.stats.auth_failures, 1);
    // Expired REST username (expiry is checked at every authentication).
    let secrets = TurnSecrets::new([SECRET]);
    let old = secrets.issue("alice", UNIX - 7200, 60).unwrap();
    h.username = old.username;
    h.password = old.password;
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(401));
    // A nonce from another client is not accepted; a stale one gets 438 with a new nonce.
    let mut h = Harness::new(Config::default());
    h.get_nonce();
    h.tuple = tuple("198.51.100.99:40000");
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(401));
    let mut h = Harness::new(Config::default());
    h.get_nonce();
    h.advance(601);
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    let res = h.exchange(&req);
    let m = Message::parse(&res).unwrap();
    assert_eq!(error_code(&m), 438);
    assert!(m.get_str(NONCE).is_some_and(|n| n != h.nonce));
    // Missing USERNAME/REALM/NONCE with integrity: 400.
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [42; 12]);
    b.add_u32(REQUESTED_TRANSPORT, 17 << 24).add_integrity(&h.key());
    assert_eq!(code_of(&h.exchange(&b.finish())), Some(400));
}

#[test]
fn unauthenticated_answers_are_rate_limited() {
    let mut h = Harness::new(Config { unauth_rate: 10.0, unauth_burst: 20.0, ..Config::default() });
    let mut answered = 0;
    for i in 0..50u8 {
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [i; 12]);
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        if !h.send(&b.finish()).is_empty() {
            answered += 1;
        }
    }
    assert_eq!(answered, 20, "the burst, then silence");
    h.advance(1);
    let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [99; 12]);
    b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    let req = b.finish();
    assert_eq!(h.send(&req).len(), 1, "refilled after a second");
    // Another client is not affected.
    h.tuple = tuple("198.51.100.11:1");
    assert_eq!(h.send(&req).len(), 1);
}

#[test]
fn allocate_request_checks() {
    let mut h = Harness::new(Config::default());
    h.get_nonce();
    let missing = h.request(method::ALLOCATE, |_| {});
    assert_eq!(code_of(&h.exchange(&missing)), Some(400));
    let tcp = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 6 << 24);
    });
    assert_eq!(code_of(&h.exchange(&tcp)), Some(442));
    let v6 = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24).add(REQUESTED_ADDRESS_FAMILY, &[2, 0, 0, 0]);
    });
    assert_eq!(code_of(&h.exchange(&v6)), Some(440));
    // DONT-FRAGMENT cannot be honoured: 420 naming it.
    let df = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24).add(DONT_FRAGMENT, &[]);
    });
    let res = h.exchange(&df);
    let m = Message::parse(&res).unwrap();
    assert_eq!(error_code(&m), 420);
    assert_eq!(m.get(UNKNOWN_ATTRIBUTES), Some(&DONT_FRAGMENT.to_be_bytes()[..]));
}

#[test]
fn quotas() {
    let config = Config { user_quota: 2, total_quota: 3, ..Config::default() };
    let mut h = Harness::new(config);
    for (i, client) in ["198.51.100.1:1", "198.51.100.1:2"].iter().enumerate() {
        h.tuple = tuple(client);
        h.allocate(&format!("192.0.2.1:{}", 50000 + i));
    }
    h.tuple = tuple("198.51.100.1:3");
    h.get_nonce();
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(486), "per-user quota");
    // Another user fills the server.
    let secrets = TurnSecrets::new([SECRET]);
    let bob = secrets.issue("bob", UNIX, 3600).unwrap();
    h.username = bob.username;
    h.password = bob.password;
    h.allocate("192.0.2.1:50010");
    h.tuple = tuple("198.51.100.1:4");
    h.get_nonce();
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(508), "total quota");
}

#[test]
fn a_draining_server_refuses_new_allocations_and_keeps_the_ones_it_has() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    h.server.start_draining();
    assert!(h.server.is_draining());
    // A new client is sent elsewhere with 508 (Insufficient Capacity)...
    let first = (h.tuple, h.nonce.clone());
    h.tuple = tuple("198.51.100.9:9");
    h.get_nonce();
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(508));
    assert_eq!(h.server.stats.drain_refused, 1);
    // ... while the allocation already made refreshes and relays as before.
    (h.tuple, h.nonce) = first;
    let req = h.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 600);
    });
    assert_eq!(code_of(&h.exchange(&req)), None, "the refresh succeeds");
    assert_eq!(code_of(&h.permission(PUBLIC_PEER)), None, "a permission is granted");
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn the_quota_counts_every_credential_of_one_identity() {
    let mut h = Harness::new(Config { user_quota: 2, ..Config::default() });
    let secrets = TurnSecrets::new([SECRET]);
    // Each join mints a fresh credential for the same identity (another expiry, another password).
    for (i, ttl) in [600u64, 601].into_iter().enumerate() {
        let c = secrets.issue("mallory", UNIX, ttl).unwrap();
        (h.username, h.password) = (c.username, c.password);
        h.tuple = tuple(&format!("198.51.100.20:{}", 1000 + i));
        h.allocate(&format!("192.0.2.1:{}", 50100 + i));
    }
    assert_eq!(h.server.identity_allocations("mallory"), 2);
    let third = secrets.issue("mallory", UNIX, 602).unwrap();
    (h.username, h.password) = (third.username, third.password);
    h.tuple = tuple("198.51.100.21:1000");
    h.get_nonce();
    let req = h.request(method::ALLOCATE, |b| {
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(486), "a third credential of the same identity");
    assert_eq!(h.server.stats.quota_refused, 1);
    // Deleting one of the two frees a place for any credential of the identity.
    let mut out = Vec::new();
    h.server.client_gone(&tuple("198.51.100.20:1000"), &mut out);
    assert_eq!(h.server.identity_allocations("mallory"), 1);
    h.allocate("192.0.2.1:50102");
    assert_eq!(h.server.identity_allocations("mallory"), 2);
}

#[test]
fn binding_answers_are_rate_limited_per_source() {
    let mut h = Harness::new(Config { unauth_rate: 1.0, unauth_burst: 5.0, ..Config::default() });
    let answered = (0..100u8)
        .filter(|i| !h.send(&MessageBuilder::new(method::BINDING, Class::Request, [*i; 12]).finish()).is_empty())
        .count();
    assert_eq!(answered, 5, "the burst, then silence");
    assert_eq!(h.server.stats.binding_dropped, 95);
    h.tuple = tuple("198.51.100.77:5000");
    assert_eq!(h.send(&MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).finish()).len(), 1);
    // A flood from spoofed sources is remembered only up to the table's bound.
    for i in 0..200_000u32 {
        h.tuple = FiveTuple { client: SocketAddr::from((i.to_be_bytes(), 9)), ..h.tuple };
        h.send(&MessageBuilder::new(method::BINDING, Class::Request, [2; 12]).finish());
    }
    assert!(h.server.rate_limited_sources() <= Config::default().unauth_sources);
}

#[test]
fn own_listeners_and_relay_ports_are_refused_as_peers() {
    let mut h = Harness::new(Config::default());
    h.server.set_own_addresses(OwnAddresses::new(
        &["8.8.4.4:3478".parse().unwrap()],
        Some("8.8.4.4".parse().unwrap()),
        None,
    ));
    h.allocate("8.8.4.4:50000");
    assert_eq!(code_of(&h.permission("8.8.4.4:3478")), Some(403), "the listener");
    assert_eq!(code_of(&h.permission("8.8.4.4:50000")), Some(403), "its own relay");
    assert_eq!(code_of(&h.channel_bind(0x4000, "8.8.4.4:3478")), Some(403));
    assert_eq!(code_of(&h.permission("8.8.4.4:9000")), None, "another port on the server's IP");
    assert_eq!(code_of(&h.permission(PUBLIC_PEER)), None);
    // A channel bound before its peer's port became a relay port carries nothing to it.
    assert_eq!(code_of(&h.channel_bind(0x4001, "8.8.4.4:50001")), None);
    let other = h.tuple;
    h.tuple = tuple("198.51.100.30:1");
    h.allocate("8.8.4.4:50001");
    let mut frame = Vec::new();
    channel_data::write(&mut frame, 0x4001, &[7u8; 10], false);
    let now = h.now().instant;
    assert!(h.server.client_channel_data(now, &other, &frame).is_none());
    // Nor do Send indications, and packets from an own relay are dropped.
    h.tuple = other;
    let mut b = MessageBuilder::new(method::SEND, Class::Indication, [3; 12]);
    b.add_xor_address(XOR_PEER_ADDRESS, "8.8.4.4:50001".parse().unwrap()).add(DATA, b"x");
    assert!(h.send(&b.finish()).is_empty());
    let mut buf = Vec::new();
    let relay = "8.8.4.4:50000".parse().unwrap();
    assert!(h.server.peer_data(now, relay, "8.8.4.4:50001".parse().unwrap(), b"x", &mut buf).is_none());
    assert!(h.server.peer_data(now, relay, "8.8.4.4:9000".parse().unwrap(), b"x", &mut buf).is_some());
    assert_eq!(h.server.stats.denied_own_addresses, 6);
}

#[test]
fn permissions_send_and_data() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    let peer: SocketAddr = PUBLIC_PEER.parse().unwrap();
    // No permission yet: a Send indication is dropped, and so is peer data.
    let mut send = MessageBuilder::new(method::SEND, Class::Indication, [7; 12]);
    send.add_xor_address(XOR_PEER_ADDRESS, peer).add(DATA, b"ping");
    let send = send.finish();
    assert!(h.send(&send).is_empty());
    let mut buf = Vec::new();
    let now = h.now().instant;
    assert_eq!(h.server.peer_data(now, RELAY.parse().unwrap(), peer, b"pong", &mut buf), None);

    assert_eq!(code_of(&h.permission(PUBLIC_PEER)), None);
    assert_eq!(
        h.send(&send),
        vec![Output::ToPeer {
            relay: RELAY.parse().unwrap(),
            peer,
            data: b"pong"[..0].iter().chain(b"ping").copied().collect()
        }]
    );
    let now = h.now().instant;
    let to = h.server.peer_data(now, RELAY.parse().unwrap(), peer, b"pong", &mut buf).unwrap();
    assert_eq!(to, h.tuple);
    let m = Message::parse(&buf).unwrap();
    assert_eq!((m.method, m.class), (method::DATA, Class::Indication));
    assert_eq!(m.get(DATA), Some(&b"pong"[..]));
    assert_eq!(m.get_xor_address(XOR_PEER_ADDRESS), Some(peer));
    // Permissions last 300 s.
    h.advance(301);
    let now = h.now().instant;
    assert_eq!(h.server.peer_data(now, RELAY.parse().unwrap(), peer, b"late", &mut buf), None);
}

#[test]
fn denied_peers_get_403() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    for peer in ["127.0.0.1:9", "10.0.0.1:9", "169.254.169.254:80", "100.64.0.1:9", "224.0.0.1:9", "0.0.0.0:9"] {
        assert_eq!(code_of(&h.permission(peer)), Some(403), "{peer}");
        assert_eq!(code_of(&h.channel_bind(0x4000, peer)), Some(403), "{peer}");
    }
    assert_eq!(code_of(&h.permission("[2001:4860::1]:9")), Some(443), "family mismatch");
    assert_eq!(h.server.stats.denied_peers, 12);
}

#[test]
fn channels_carry_data_both_ways() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    assert_eq!(code_of(&h.channel_bind(0x3FFF, PUBLIC_PEER)), Some(400), "below the channel range");
    assert_eq!(code_of(&h.channel_bind(0x8000, PUBLIC_PEER)), Some(400), "above the channel range");
    assert_eq!(code_of(&h.channel_bind(0x4001, PUBLIC_PEER)), None);
    assert_eq!(code_of(&h.channel_bind(0x4002, PUBLIC_PEER)), Some(400), "peer already on another channel");
    assert_eq!(code_of(&h.channel_bind(0x4001, "1.1.1.1:53")), Some(400), "channel already taken");

    let mut frame = Vec::new();
    channel_data::write(&mut frame, 0x4001, b"media", false);
    let now = h.now().instant;
    let tuple = h.tuple;
    let (relay, peer, range) = h.server.client_channel_data(now, &tuple, &frame).unwrap();
    assert_eq!((relay, peer, &frame[range]), (RELAY.parse().unwrap(), PUBLIC_PEER.parse().unwrap(), &b"media"[..]));
    // An unbound channel is dropped.
    channel_data::write(&mut frame, 0x4003, b"media", false);
    assert!(h.server.client_channel_data(now, &tuple, &frame).is_none());

    let mut buf = Vec::new();
    h.server.peer_data(now, RELAY.parse().unwrap(), PUBLIC_PEER.parse().unwrap(), b"back", &mut buf).unwrap();
    assert_eq!(channel_data::parse(&buf), Some((0x4001, &b"back"[..])));
    assert_eq!(h.server.stats.packets_to_peers, 1);
    assert_eq!(h.server.stats.packets_to_clients, 1);
}

#[test]
fn refresh_and_lifetimes() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    // Asking for more than the maximum gets the maximum.
    let req = h.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 99_999);
    });
    let res = h.exchange(&req);
    assert_eq!(Message::parse(&res).unwrap().get_u32(LIFETIME), Some(3600));
    // Not refreshed: it expires.
    h.advance(3599);
    let mut out = Vec::new();
    h.server.expire(h.now().instant, &mut out);
    assert!(out.is_empty());
    h.advance(1);
    h.server.expire(h.now().instant, &mut out);
    assert_eq!(out, vec![Output::ReleaseRelay { relay: RELAY.parse().unwrap() }]);
    assert_eq!(h.server.allocation_count(), 0);
    // Refresh without an allocation: 437.
    h.get_nonce();
    let req = h.request(method::REFRESH, |_| {});
    assert_eq!(code_of(&h.exchange(&req)), Some(437));
}

#[test]
fn refresh_to_zero_deletes_and_other_users_are_refused() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    let secrets = TurnSecrets::new([SECRET]);
    let (user, pass) = (h.username.clone(), h.password.clone());
    let mallory = secrets.issue("mallory", UNIX, 3600).unwrap();
    h.username = mallory.username;
    h.password = mallory.password;
    let req = h.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 0);
    });
    assert_eq!(code_of(&h.exchange(&req)), Some(441));
    h.username = user;
    h.password = pass;
    let req = h.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 0);
    });
    let out = h.send(&req);
    assert!(out.contains(&Output::ReleaseRelay { relay: RELAY.parse().unwrap() }));
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn garbage_is_dropped_without_answer() {
    let mut h = Harness::new(Config::default());
    for junk in [&b""[..], b"\x00\x01", &[0u8; 20], &[0xffu8; 64]] {
        assert!(h.send(junk).is_empty());
    }
    assert!(h.server.stats.malformed >= 3);
    let now = h.now().instant;
    let tuple = h.tuple;
    assert!(h.server.client_channel_data(now, &tuple, &[0x40, 0, 0, 200]).is_none());
}

#[test]
fn bandwidth_cap_drops_what_exceeds_it() {
    let mut h = Harness::new(Config { max_bps: Some(8_000), ..Config::default() }); // 1000 bytes/s each way
    h.allocate(RELAY);
    assert_eq!(code_of(&h.channel_bind(0x4001, PUBLIC_PEER)), None);
    let mut frame = Vec::new();
    channel_data::write(&mut frame, 0x4001, &[7u8; 600], false);
    let tuple = h.tuple;
    let now = h.now().instant;
    assert!(h.server.client_channel_data(now, &tuple, &frame).is_some());
    assert!(h.server.client_channel_data(now, &tuple, &frame).is_none(), "over the cap");
    // The other direction has a budget of its own.
    let mut buf = Vec::new();
    let (relay, peer) = (RELAY.parse().unwrap(), PUBLIC_PEER.parse().unwrap());
    assert!(h.server.peer_data(now, relay, peer, &[1u8; 600], &mut buf).is_some());
    assert!(h.server.peer_data(now, relay, peer, &[1u8; 500], &mut buf).is_none(), "over the cap");
    assert_eq!(h.server.stats.dropped_over_bandwidth, 2);
    assert_eq!(h.server.stats.dropped_over_bandwidth_bytes, 600 + 500);
    // A second later the budget is back.
    h.advance(1);
    let now = h.now().instant;
    assert!(h.server.client_channel_data(now, &tuple, &frame).is_some());
}

#[test]
fn relayed_payload_is_counted_per_organisation_with_the_framing_apart() {
    let mut h = Harness::with_org(Config::default(), Some("acme"));
    h.allocate(RELAY);
    let relay: SocketAddr = RELAY.parse().unwrap();
    let (channel_peer, other_peer): (SocketAddr, SocketAddr) =
        (PUBLIC_PEER.parse().unwrap(), "1.1.1.1:53".parse().unwrap());
    assert_eq!(code_of(&h.channel_bind(0x4001, PUBLIC_PEER)), None);
    let now = h.now().instant;
    let tuple = h.tuple;
    // Dropped for lack of a permission: not relayed, not counted.
    let mut buf = Vec::new();
    assert!(h.server.peer_data(now, relay, other_peer, b"nope", &mut buf).is_none());

    // ChannelData both ways: a 4-byte header each.
    let mut frame = Vec::new();
    channel_data::write(&mut frame, 0x4001, b"media", false);
    h.server.client_channel_data(now, &tuple, &frame).unwrap();
    h.server.peer_data(now, relay, channel_peer, b"back", &mut buf).unwrap();
    assert_eq!(buf.len(), 8);
    // A Send indication out, a Data indication back: STUN header and attributes.
    assert_eq!(code_of(&h.permission("1.1.1.1:53")), None);
    let mut send = MessageBuilder::new(method::SEND, Class::Indication, [7; 12]);
    send.add_xor_address(XOR_PEER_ADDRESS, other_peer).add(DATA, b"ping");
    let send = send.finish();
    assert_eq!(h.send(&send).len(), 1);
    let now = h.now().instant;
    h.server.peer_data(now, relay, other_peer, b"pong!", &mut buf).unwrap();
    let data_indication = buf.len();

    let payload = 5 + 4 + 4 + 5;
    let framing = 4 + 4 + (send.len() - 4) + (data_indication - 5);
    assert_eq!(h.server.take_relayed(), vec![("acme".to_owned(), Relayed { payload, framing: framing as u64 })]);
    assert!(h.server.take_relayed().is_empty(), "taken once");

    // What an allocation relayed before it went is still counted.
    h.server.client_channel_data(now, &tuple, &frame).unwrap();
    let bye = h.request(method::REFRESH, |b| {
        b.add_u32(LIFETIME, 0);
    });
    assert!(matches!(h.send(&bye).as_slice(), [Output::ReleaseRelay { .. }, Output::ToClient { .. }]));
    assert!(h.server.allocation(&tuple).is_none());
    assert_eq!(h.server.take_relayed(), vec![("acme".to_owned(), Relayed { payload: 5, framing: 4 })]);
}

#[test]
fn credentials_without_an_organisation_are_relayed_but_not_billed() {
    let mut h = Harness::new(Config::default());
    h.allocate(RELAY);
    assert_eq!(code_of(&h.channel_bind(0x4001, PUBLIC_PEER)), None);
    let mut frame = Vec::new();
    channel_data::write(&mut frame, 0x4001, b"media", false);
    let (now, tuple) = (h.now().instant, h.tuple);
    assert!(h.server.client_channel_data(now, &tuple, &frame).is_some());
    assert!(h.server.take_relayed().is_empty());
}
