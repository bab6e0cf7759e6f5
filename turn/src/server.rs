//! The TURN server core, free of I/O: datagrams and framed messages in, datagrams and relay
//! instructions out. The shell owns sockets and clocks and feeds this with `Instant`s and Unix
//! seconds.
//!
//! Hot paths (ChannelData from clients, data from peers) return routing decisions without
//! allocating; STUN requests return [`Output`]s.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use origo_shared::turn_credentials::{TurnSecrets, parse_username};

use crate::allocation::{Allocation, Bandwidth, Direction, FiveTuple, Refusal};
use crate::attribute::{self as attr, KNOWN_REQUIRED};
use crate::channel_data::{self, CHANNEL_MAX, CHANNEL_MIN};
use crate::credentials;
use crate::message::{Class, Integrity, Message, MessageBuilder, method};
use crate::nonce::{NonceError, NonceKey};
use crate::own_addresses::OwnAddresses;
use crate::peer_policy::PeerPolicy;
use crate::relay_usage::{RelayUsage, Relayed};
use crate::source_limiter::SourceLimiter;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub realm: String,
    pub software: String,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    pub permission_lifetime: Duration,
    pub channel_lifetime: Duration,
    /// Allocations one identity (the user part of `<expiry>:<user>`) may hold at once, over
    /// all its credentials.
    pub user_quota: usize,
    /// Allocations the server holds at once.
    pub total_quota: usize,
    /// Bandwidth cap per allocation and direction, bits per second.
    pub max_bps: Option<u64>,
    /// The address advertised as the relayed IP (when the relay IP is behind NAT).
    pub external_ip: Option<IpAddr>,
    /// Which relayed address families can be offered.
    pub ipv4_relay: bool,
    pub ipv6_relay: bool,
    /// Unauthenticated answers (Binding, 401/438, errors before authentication) per source
    /// per second, and the burst.
    pub unauth_rate: f64,
    pub unauth_burst: f64,
    /// Sources the unauthenticated rate limit remembers at most.
    pub unauth_sources: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            realm: "origo".into(),
            software: concat!("origo-turn/", env!("CARGO_PKG_VERSION")).into(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            user_quota: 32,
            total_quota: 100_000,
            max_bps: None,
            external_ip: None,
            ipv4_relay: true,
            ipv6_relay: false,
            unauth_rate: 100.0,
            unauth_burst: 200.0,
            unauth_sources: 65_536,
        }
    }
}

/// The current time, as the core needs it: monotonic for lifetimes, wall-clock for nonces
/// and credential expiry.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub unix: u64,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `data` to the client over `tuple`.
    ToClient { tuple: FiveTuple, data: Vec<u8> },
    /// Send `data` from the relay socket `relay` to `peer`.
    ToPeer { relay: SocketAddr, peer: SocketAddr, data: Vec<u8> },
    /// Bind a relay socket for the allocation being created on `tuple`, then call
    /// [`TurnServer::relay_bound`]. With `reserve`, bind an even port and keep the next port
    /// reserved under that token; with `token`, use the socket reserved under it.
    BindRelay { tuple: FiveTuple, ipv6: bool, even_port: bool, reserve: Option<[u8; 8]>, token: Option<[u8; 8]> },
    /// Close the relay socket bound to `relay`.
    ReleaseRelay { relay: SocketAddr },
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub allocations_created: u64,
    pub packets_to_peers: u64,
    pub bytes_to_peers: u64,
    pub packets_to_clients: u64,
    pub bytes_to_clients: u64,
    pub auth_failures: u64,
    pub unauth_dropped: u64,
    pub binding_dropped: u64,
    pub quota_refused: u64,
    /// Allocations refused because the node is draining (508).
    pub drain_refused: u64,
    pub denied_peers: u64,
    pub denied_own_addresses: u64,
    pub dropped_no_permission: u64,
    pub dropped_over_bandwidth: u64,
    pub dropped_over_bandwidth_bytes: u64,
    pub malformed: u64,
}

impl Stats {
    fn refused(&mut self, r: Refusal, bytes: usize) {
        match r {
            Refusal::NoPermission => self.dropped_no_permission += 1,
            Refusal::OverBandwidth => {
                self.dropped_over_bandwidth += 1;
                self.dropped_over_bandwidth_bytes += bytes as u64;
            }
        }
    }
}

struct Pending {
    reserve: Option<[u8; 8]>,
    username: String,
    identity: String,
    key: Vec<u8>,
    tid: [u8; 12],
    lifetime: Duration,
    sha256: bool,
}

/// How a request was authenticated.
struct Authed {
    username: String,
    identity: String,
    key: Vec<u8>,
    sha256: bool,
}

/// The TURN server state machine.
pub struct TurnServer {
    config: Config,
    secrets: TurnSecrets,
    nonces: NonceKey,
    policy: PeerPolicy,
    allocations: HashMap<FiveTuple, Allocation>,
    by_relay: HashMap<SocketAddr, FiveTuple>,
    /// Ports of the live relay sockets (all on the one relay IP).
    relay_ports: HashSet<u16>,
    own: OwnAddresses,
    /// Live allocations per identity.
    per_identity: HashMap<String, usize>,
    pending: HashMap<FiveTuple, Pending>,
    unauth: SourceLimiter,
    indication_counter: u64,
    token_key: [u8; 32],
    token_counter: u64,
    /// What allocations gone since the last [`TurnServer::take_relayed`] relayed, per
    /// organisation (live allocations keep their own count until then).
    relayed: RelayUsage,
    /// Once set (the node is stopping), new allocations are refused; live ones go on.
    draining: bool,
    pub stats: Stats,
}

impl TurnServer {
    pub fn new(config: Config, secrets: TurnSecrets, nonce_key: [u8; 32], policy: PeerPolicy) -> Self {
        let unauth = SourceLimiter::new(config.unauth_rate, config.unauth_burst, config.unauth_sources);
        TurnServer {
            config,
            secrets,
            nonces: NonceKey::new(nonce_key),
            policy,
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            relay_ports: HashSet::new(),
            own: OwnAddresses::default(),
            per_identity: HashMap::new(),
            pending: HashMap::new(),
            unauth,
            indication_counter: 0,
            token_key: nonce_key,
            token_counter: 0,
            relayed: RelayUsage::default(),
            draining: false,
            stats: Stats::default(),
        }
    }

    /// From now on, Allocate answers 508 (Insufficient Capacity) so the client uses another
    /// TURN server; allocations already made are refreshed and relay as before.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's own listeners and relay IP, refused as peers once known.
    pub fn set_own_addresses(&mut self, own: OwnAddresses) {
        self.own = own;
    }

    /// Live allocations held by `identity`.
    pub fn identity_allocations(&self, identity: &str) -> usize {
        self.per_identity.get(identity).copied().unwrap_or(0)
    }

    /// Sources the unauthenticated rate limit remembers now.
    pub fn rate_limited_sources(&self) -> usize {
        self.unauth.len()
    }

    /// True when `peer` is the relay socket of a live allocation on this server.
    fn is_own_relay(&self, peer: SocketAddr) -> bool {
        self.relay_ports.contains(&peer.port()) && self.own.is_own_ip(peer.ip())
    }

    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Live permissions and channel bindings over all allocations.
    pub fn permission_and_channel_counts(&self) -> (usize, usize) {
        self.allocations.values().fold((0, 0), |(p, c), a| (p + a.permission_count(), c + a.channel_count()))
    }

    /// The allocation on `tuple`, if any.
    pub fn allocation(&self, tuple: &FiveTuple) -> Option<&Allocation> {
        self.allocations.get(tuple)
    }

    // ---- hot paths -------------------------------------------------------------------

    /// ChannelData from a client: where to send which bytes of it, or `None` to drop.
    pub fn client_channel_data(
        &mut self,
        now: Instant,
        tuple: &FiveTuple,
        bytes: &[u8],
    ) -> Option<(SocketAddr, SocketAddr, Range<usize>)> {
        let (channel, data) = channel_data::parse(bytes)?;
        let alloc = self.allocations.get_mut(tuple)?;
        let peer = alloc.channel_peer(channel, now)?;
        // The peer was checked at ChannelBind; its port may have become a relay port since.
        if self.relay_ports.contains(&peer.port()) && self.own.is_own_ip(peer.ip()) {
            self.stats.denied_own_addresses += 1;
            return None;
        }
        if let Err(r) = alloc.admit(peer.ip(), Direction::ToPeer, data.len(), now) {
            self.stats.refused(r, data.len());
            return None;
        }
        alloc.relayed.count(data.len(), bytes.len());
        self.stats.packets_to_peers += 1;
        self.stats.bytes_to_peers += data.len() as u64;
        Some((alloc.relay, peer, 4..4 + data.len()))
    }

    /// Data from `peer` arriving on the relay socket `relay`: writes what to send to the client
    /// into `buf` and returns the client's tuple, or `None` to drop.
    pub fn peer_data(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<FiveTuple> {
        let tuple = *self.by_relay.get(&relay)?;
        if self.is_own_relay(peer) {
            self.stats.denied_own_addresses += 1;
            return None;
        }
        let alloc = self.allocations.get_mut(&tuple)?;
        if alloc.is_expired(now) {
            return None;
        }
        if let Err(r) = alloc.admit(peer.ip(), Direction::ToClient, payload.len(), now) {
            self.stats.refused(r, payload.len());
            return None;
        }
        if let Some(channel) = alloc.peer_channel(peer, now) {
            channel_data::write(buf, channel, payload, tuple.transport.is_stream());
        } else {
            self.indication_counter += 1;
            let mut tid = [0u8; 12];
            tid[4..].copy_from_slice(&self.indication_counter.to_be_bytes());
            let mut b = MessageBuilder::new(method::DATA, Class::Indication, tid);
            b.add_xor_address(attr::XOR_PEER_ADDRESS, peer).add(attr::DATA, payload);
            *buf = b.finish();
        }
        alloc.relayed.count(payload.len(), buf.len());
        self.stats.packets_to_clients += 1;
        self.stats.bytes_to_clients += payload.len() as u64;
        Some(tuple)
    }

    // ---- STUN ------------------------------------------------------------------------

    /// A STUN message from a client.
    pub fn client_stun(&mut self, now: Now, tuple: FiveTuple, bytes: &[u8], out: &mut Vec<Output>) {
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if msg.fingerprint_ok() == Some(false) {
            self.stats.malformed += 1;
            return;
        }
        match msg.class {
            Class::Indication if msg.method == method::SEND => {
                self.send_indication(now.instant, &tuple, &msg, bytes.len(), out)
            }
            Class::Request => self.request(now, tuple, &msg, out),
            // Responses and other indications are not for a server.
            _ => {}
        }
    }

    fn request(&mut self, now: Now, tuple: FiveTuple, msg: &Message<'_>, out: &mut Vec<Output>) {
        if msg.method == method::BINDING {
            if !self.unauth.allow(tuple.client.ip(), now.instant) {
                self.stats.binding_dropped += 1;
                return;
            }
            let mut b = MessageBuilder::new(method::BINDING, Class::Success, msg.transaction_id);
            b.add_xor_address(attr::XOR_MAPPED_ADDRESS, tuple.client)
                .add(attr::SOFTWARE, self.config.software.as_bytes());
            return self.reply(tuple, b, None, out);
        }
        let unknown = msg.unknown_required(KNOWN_REQUIRED);
        if !unknown.is_empty() {
            if !self.unauth.allow(tuple.client.ip(), now.instant) {
                self.stats.unauth_dropped += 1;
                return;
            }
            tracing::debug!(client = %tuple.client, unknown = ?unknown, "unknown comprehension-required attributes");
            let mut b = self.error(msg, 420);
            let list: Vec<u8> = unknown.iter().flat_map(|t| t.to_be_bytes()).collect();
            b.add(attr::UNKNOWN_ATTRIBUTES, &list);
            return self.reply(tuple, b, None, out);
        }
        if ![method::ALLOCATE, method::REFRESH, method::CREATE_PERMISSION, method::CHANNEL_BIND].contains(&msg.method) {
            if !self.unauth.allow(tuple.client.ip(), now.instant) {
                self.stats.unauth_dropped += 1;
                return;
            }
            return self.reply(tuple, self.error(msg, 400), None, out);
        }
        let authed = match self.authenticate(now, &tuple, msg) {
            Ok(a) => a,
            Err(Some(b)) => return self.reply(tuple, b, None, out),
            Err(None) => return,
        };
        match msg.method {
            method::ALLOCATE => self.allocate(tuple, msg, authed, out),
            method::REFRESH => self.refresh(now, tuple, msg, authed, out),
            method::CREATE_PERMISSION => self.create_permission(now, tuple, msg, authed, out),
            method::CHANNEL_BIND => self.channel_bind(now, tuple, msg, authed, out),
            _ => {}
        }
    }

    /// `Err(Some(response))` to answer, `Err(None)` to drop silently (rate limit).
    fn authenticate(
        &mut self,
        now: Now,
        tuple: &FiveTuple,
        msg: &Message<'_>,
    ) -> Result<Authed, Option<MessageBuilder>> {
        let ip = tuple.client.ip();
        if !msg.has_integrity() {
            return Err(self.challenge(now, ip, msg, 401));
        }
        let (Some(username), Some(realm), Some(nonce)) =
            (msg.get_str(attr::USERNAME), msg.get_str(attr::REALM), msg.get_str(attr::NONCE))
        else {
            return Err(Some(self.error(msg, 400)));
        };
        if realm != self.config.realm {
            self.stats.auth_failures += 1;
            return Err(self.challenge(now, ip, msg, 401));
        }
        match self.nonces.check(nonce, ip, now.unix) {
            Ok(()) => {}
            Err(NonceError::Stale) => return Err(self.challenge(now, ip, msg, 438)),
            Err(NonceError::Invalid) => {
                self.stats.auth_failures += 1;
                return Err(self.challenge(now, ip, msg, 401));
            }
        }
        let keys = match credentials::candidate_keys(&self.secrets, &self.config.realm, username, now.unix) {
            Ok(k) => k,
            Err(_) => {
                self.stats.auth_failures += 1;
                return Err(self.challenge(now, ip, msg, 401));
            }
        };
        // Check every candidate so timing does not reveal which secret matched.
        let mut found = None;
        for k in keys {
            if msg.check_integrity(&k) == Integrity::Valid && found.is_none() {
                found = Some(k);
            }
        }
        match found {
            Some(key) => {
                // The key matched, so the username parses.
                let identity = parse_username(username).map(|(_, user)| user).unwrap_or(username);
                Ok(Authed {
                    username: username.to_owned(),
                    identity: identity.to_owned(),
                    key,
                    sha256: msg.uses_sha256(),
                })
            }
            None => {
                self.stats.auth_failures += 1;
                Err(self.challenge(now, ip, msg, 401))
            }
        }
    }

    /// A 401/438 with REALM and a fresh NONCE, unless `ip` is over its rate of such answers.
    fn challenge(&mut self, now: Now, ip: IpAddr, msg: &Message<'_>, code: u16) -> Option<MessageBuilder> {
        if !self.unauth.allow(ip, now.instant) {
            self.stats.unauth_dropped += 1;
            return None;
        }
        let mut b = self.error(msg, code);
        b.add(attr::REALM, self.config.realm.as_bytes()).add(attr::NONCE, self.nonces.issue(ip, now.unix).as_bytes());
        Some(b)
    }

    fn error(&self, msg: &Message<'_>, code: u16) -> MessageBuilder {
        let mut b = MessageBuilder::new(msg.method, Class::Error, msg.transaction_id);
        b.add_error(code, attr::reason(code)).add(attr::SOFTWARE, self.config.software.as_bytes());
        b
    }

    fn success(&self, msg: &Message<'_>) -> MessageBuilder {
        let mut b = MessageBuilder::new(msg.method, Class::Success, msg.transaction_id);
        b.add(attr::SOFTWARE, self.config.software.as_bytes());
        b
    }

    /// Signs (when authenticated), adds FINGERPRINT and queues the response.
    fn reply(&self, tuple: FiveTuple, mut b: MessageBuilder, auth: Option<(&[u8], bool)>, out: &mut Vec<Output>) {
        if let Some((key, sha256)) = auth {
            if sha256 {
                b.add_integrity_sha256(key);
            } else {
                b.add_integrity(key);
            }
        }
        b.add_fingerprint();
        out.push(Output::ToClient { tuple, data: b.finish() });
    }

    fn signed_error(&self, tuple: FiveTuple, msg: &Message<'_>, code: u16, a: &Authed, out: &mut Vec<Output>) {
        self.reply(tuple, self.error(msg, code), Some((&a.key, a.sha256)), out);
    }

    fn lifetime(&self, requested: Option<u32>, at_least_default: bool) -> Duration {
        match requested {
            None => self.config.default_lifetime,
            Some(secs) => {
                let d = Duration::from_secs(u64::from(secs)).min(self.config.max_lifetime);
                if at_least_default { d.max(self.config.default_lifetime) } else { d }
            }
        }
    }

    fn allocate(&mut self, tuple: FiveTuple, msg: &Message<'_>, a: Authed, out: &mut Vec<Output>) {
        if let Some(existing) = self.allocations.get(&tuple) {
            if existing.allocate_tid == msg.transaction_id {
                // A retransmission: the same answer again.
                out.push(Output::ToClient { tuple, data: existing.allocate_response.clone() });
            } else {
                self.signed_error(tuple, msg, 437, &a, out);
            }
            return;
        }
        if self.pending.contains_key(&tuple) {
            return;
        }
        if self.draining {
            self.stats.drain_refused += 1;
            return self.signed_error(tuple, msg, 508, &a, out);
        }
        match msg.get(attr::REQUESTED_TRANSPORT) {
            None => return self.signed_error(tuple, msg, 400, &a, out),
            Some(v) if v.len() != 4 => return self.signed_error(tuple, msg, 400, &a, out),
            Some(v) if v[0] != 17 => return self.signed_error(tuple, msg, 442, &a, out),
            Some(_) => {}
        }
        let ipv6 = match msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            None | Some([attr::FAMILY_IPV4, 0, 0, 0]) if self.config.ipv4_relay => false,
            Some([attr::FAMILY_IPV6, 0, 0, 0]) if self.config.ipv6_relay => true,
            _ => return self.signed_error(tuple, msg, 440, &a, out),
        };
        let (even_port, reserve_next) = match msg.get(attr::EVEN_PORT) {
            None => (false, false),
            Some([flags, ..]) => (true, flags & 0x80 != 0),
            Some([]) => return self.signed_error(tuple, msg, 400, &a, out),
        };
        let token = match msg.get(attr::RESERVATION_TOKEN) {
            None => None,
            // A token cannot be combined with EVEN-PORT or an address family (RFC 8656 §7.2).
            Some(_) if even_port || msg.get(attr::REQUESTED_ADDRESS_FAMILY).is_some() => {
                return self.signed_error(tuple, msg, 400, &a, out);
            }
            Some(v) => match <[u8; 8]>::try_from(v) {
                Ok(t) => Some(t),
                Err(_) => return self.signed_error(tuple, msg, 400, &a, out),
            },
        };
        let held =
            self.identity_allocations(&a.identity) + self.pending.values().filter(|p| p.identity == a.identity).count();
        if held >= self.config.user_quota {
            self.stats.quota_refused += 1;
            tracing::debug!(client = %tuple.client, held, "allocation quota of the identity reached");
            return self.signed_error(tuple, msg, 486, &a, out);
        }
        if self.allocations.len() + self.pending.len() >= self.config.total_quota {
            return self.signed_error(tuple, msg, 508, &a, out);
        }
        let lifetime = self.lifetime(msg.get_u32(attr::LIFETIME), true);
        let reserve = reserve_next.then(|| self.new_token());
        self.pending.insert(
            tuple,
            Pending {
                reserve,
                username: a.username,
                identity: a.identity,
                key: a.key,
                tid: msg.transaction_id,
                lifetime,
                sha256: a.sha256,
            },
        );
        out.push(Output::BindRelay { tuple, ipv6, even_port, reserve, token });
    }

    /// An unguessable reservation token.
    fn new_token(&mut self) -> [u8; 8] {
        use hmac::{Hmac, Mac};
        self.token_counter += 1;
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&self.token_key).unwrap_or_else(|_| unreachable!("HMAC key"));
        mac.update(b"reservation-token");
        mac.update(&self.token_counter.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut t = [0u8; 8];
        t.copy_from_slice(&full[..8]);
        t
    }

    /// The shell bound (or failed to bind) the relay socket for the allocation on `tuple`.
    pub fn relay_bound(&mut self, now: Now, tuple: FiveTuple, result: Result<SocketAddr, ()>, out: &mut Vec<Output>) {
        let Some(p) = self.pending.remove(&tuple) else {
            if let Ok(relay) = result {
                out.push(Output::ReleaseRelay { relay });
            }
            return;
        };
        let relay = match result {
            Ok(r) => r,
            Err(()) => {
                let mut b = MessageBuilder::new(method::ALLOCATE, Class::Error, p.tid);
                b.add_error(508, attr::reason(508)).add(attr::SOFTWARE, self.config.software.as_bytes());
                return self.reply(tuple, b, Some((&p.key, p.sha256)), out);
            }
        };
        let relay_public = SocketAddr::new(self.config.external_ip.unwrap_or(relay.ip()), relay.port());
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Success, p.tid);
        b.add_xor_address(attr::XOR_RELAYED_ADDRESS, relay_public)
            .add_u32(attr::LIFETIME, p.lifetime.as_secs() as u32)
            .add_xor_address(attr::XOR_MAPPED_ADDRESS, tuple.client)
            .add(attr::SOFTWARE, self.config.software.as_bytes());
        if let Some(t) = p.reserve {
            b.add(attr::RESERVATION_TOKEN, &t);
        }
        if p.sha256 {
            b.add_integrity_sha256(&p.key);
        } else {
            b.add_integrity(&p.key);
        }
        let response = b.add_fingerprint().finish();
        let bandwidth = self.config.max_bps.map(|bps| Bandwidth::new(bps, now.instant));
        let expires_at = now.instant + p.lifetime;
        let mut alloc =
            Allocation::new(tuple, p.username, p.identity, p.key, relay, relay_public, expires_at, bandwidth, p.tid);
        alloc.allocate_response = response.clone();
        *self.per_identity.entry(alloc.identity.clone()).or_insert(0) += 1;
        self.by_relay.insert(relay, tuple);
        self.relay_ports.insert(relay.port());
        self.allocations.insert(tuple, alloc);
        self.stats.allocations_created += 1;
        out.push(Output::ToClient { tuple, data: response });
    }

    /// The allocation for a request, or the error to answer (437 none, 441 other user).
    fn owned_allocation(&self, tuple: &FiveTuple, a: &Authed) -> Result<(), u16> {
        match self.allocations.get(tuple) {
            None => Err(437),
            Some(al) if al.username != a.username => Err(441),
            Some(_) => Ok(()),
        }
    }

    fn refresh(&mut self, now: Now, tuple: FiveTuple, msg: &Message<'_>, a: Authed, out: &mut Vec<Output>) {
        if let Err(code) = self.owned_allocation(&tuple, &a) {
            return self.signed_error(tuple, msg, code, &a, out);
        }
        let requested = msg.get_u32(attr::LIFETIME);
        let mut b = self.success(msg);
        if requested == Some(0) {
            self.remove(&tuple, out);
            b.add_u32(attr::LIFETIME, 0);
        } else {
            let lifetime = self.lifetime(requested, false);
            if let Some(al) = self.allocations.get_mut(&tuple) {
                al.expires_at = now.instant + lifetime;
            }
            b.add_u32(attr::LIFETIME, lifetime.as_secs() as u32);
        }
        self.reply(tuple, b, Some((&a.key, a.sha256)), out);
    }

    /// Checks a peer address for this allocation: family, then policy.
    fn check_peer(&mut self, tuple: &FiveTuple, peer: SocketAddr) -> Result<(), u16> {
        let relay_v6 = self.allocations.get(tuple).is_some_and(|al| al.relay.is_ipv6());
        if peer.is_ipv6() != relay_v6 {
            return Err(443);
        }
        if let Err(reason) = self.policy.check(peer.ip()) {
            self.stats.denied_peers += 1;
            tracing::debug!(peer = %peer.ip(), reason = reason.as_str(), "peer address denied");
            return Err(403);
        }
        if self.own.is_listener(peer) || self.is_own_relay(peer) {
            self.stats.denied_own_addresses += 1;
            tracing::debug!(%peer, "peer is one of this server's own addresses");
            return Err(403);
        }
        Ok(())
    }

    fn create_permission(&mut self, now: Now, tuple: FiveTuple, msg: &Message<'_>, a: Authed, out: &mut Vec<Output>) {
        if let Err(code) = self.owned_allocation(&tuple, &a) {
            return self.signed_error(tuple, msg, code, &a, out);
        }
        let peers = msg.get_all_xor_addresses(attr::XOR_PEER_ADDRESS);
        if peers.is_empty() || peers.iter().any(Option::is_none) {
            return self.signed_error(tuple, msg, 400, &a, out);
        }
        let peers: Vec<SocketAddr> = peers.into_iter().flatten().collect();
        for p in &peers {
            if let Err(code) = self.check_peer(&tuple, *p) {
                return self.signed_error(tuple, msg, code, &a, out);
            }
        }
        let life = self.config.permission_lifetime;
        if let Some(al) = self.allocations.get_mut(&tuple) {
            for p in &peers {
                al.permit(p.ip(), now.instant, life);
            }
        }
        self.reply(tuple, self.success(msg), Some((&a.key, a.sha256)), out);
    }

    fn channel_bind(&mut self, now: Now, tuple: FiveTuple, msg: &Message<'_>, a: Authed, out: &mut Vec<Output>) {
        if let Err(code) = self.owned_allocation(&tuple, &a) {
            return self.signed_error(tuple, msg, code, &a, out);
        }
        let channel = match msg.get(attr::CHANNEL_NUMBER) {
            Some(v) if v.len() == 4 => u16::from_be_bytes([v[0], v[1]]),
            _ => {
                tracing::debug!(client = %tuple.client, "ChannelBind without a valid CHANNEL-NUMBER");
                return self.signed_error(tuple, msg, 400, &a, out);
            }
        };
        if !(CHANNEL_MIN..=CHANNEL_MAX).contains(&channel) {
            tracing::debug!(client = %tuple.client, channel, "ChannelBind outside 0x4000..=0x7FFF");
            return self.signed_error(tuple, msg, 400, &a, out);
        }
        let Some(peer) = msg.get_xor_address(attr::XOR_PEER_ADDRESS) else {
            return self.signed_error(tuple, msg, 400, &a, out);
        };
        if let Err(code) = self.check_peer(&tuple, peer) {
            return self.signed_error(tuple, msg, code, &a, out);
        }
        let (chan_life, perm_life) = (self.config.channel_lifetime, self.config.permission_lifetime);
        let Some(al) = self.allocations.get_mut(&tuple) else { return };
        if al.bind_channel(channel, peer, now.instant, chan_life).is_err() {
            tracing::debug!(client = %tuple.client, channel, %peer, "ChannelBind conflicts with an existing binding");
            return self.signed_error(tuple, msg, 400, &a, out);
        }
        al.permit(peer.ip(), now.instant, perm_life);
        self.reply(tuple, self.success(msg), Some((&a.key, a.sha256)), out);
    }

    /// A Send indication of `len` bytes from a client.
    fn send_indication(
        &mut self,
        now: Instant,
        tuple: &FiveTuple,
        msg: &Message<'_>,
        len: usize,
        out: &mut Vec<Output>,
    ) {
        let (Some(peer), Some(data)) = (msg.get_xor_address(attr::XOR_PEER_ADDRESS), msg.get(attr::DATA)) else {
            return;
        };
        if self.own.is_listener(peer) || self.is_own_relay(peer) {
            self.stats.denied_own_addresses += 1;
            return;
        }
        let Some(al) = self.allocations.get_mut(tuple) else { return };
        if let Err(r) = al.admit(peer.ip(), Direction::ToPeer, data.len(), now) {
            self.stats.refused(r, data.len());
            return;
        }
        al.relayed.count(data.len(), len);
        self.stats.packets_to_peers += 1;
        self.stats.bytes_to_peers += data.len() as u64;
        out.push(Output::ToPeer { relay: al.relay, peer, data: data.to_vec() });
    }

    // ---- lifetimes -----------------------------------------------------------------------

    fn remove(&mut self, tuple: &FiveTuple, out: &mut Vec<Output>) {
        if let Some(al) = self.allocations.remove(tuple) {
            if let Some(org) = &al.org {
                self.relayed.add(org, al.relayed);
            }
            self.by_relay.remove(&al.relay);
            self.relay_ports.remove(&al.relay.port());
            if let Some(n) = self.per_identity.get_mut(&al.identity) {
                *n -= 1;
                if *n == 0 {
                    self.per_identity.remove(&al.identity);
                }
            }
            out.push(Output::ReleaseRelay { relay: al.relay });
        }
    }

    /// The client's connection closed (TCP/TLS): its allocation goes with it.
    pub fn client_gone(&mut self, tuple: &FiveTuple, out: &mut Vec<Output>) {
        self.pending.remove(tuple);
        self.remove(tuple, out);
    }

    /// What was relayed per organisation since the last call (allocations whose credentials
    /// name an organisation; plain `<expiry>:<user>` ones are not billed), sorted by
    /// organisation. The shell calls it about once a second and dates it by its clock.
    pub fn take_relayed(&mut self) -> Vec<(String, Relayed)> {
        for al in self.allocations.values_mut() {
            let r = std::mem::take(&mut al.relayed);
            if let Some(org) = &al.org {
                self.relayed.add(org, r);
            }
        }
        self.relayed.take()
    }

    /// Expires allocations, permissions and channels; call about once a second.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Output>) {
        let expired: Vec<FiveTuple> =
            self.allocations.iter().filter(|(_, a)| a.is_expired(now)).map(|(t, _)| *t).collect();
        for t in expired {
            self.remove(&t, out);
        }
        for a in self.allocations.values_mut() {
            a.sweep(now);
        }
        self.unauth.sweep(now);
    }
}
