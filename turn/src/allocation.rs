//! One TURN allocation: its relayed address, lifetime, permissions, channel bindings and
//! bandwidth budget (RFC 8656 §§5, 9, 12).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::relay_usage::Relayed;
use crate::token_bucket::TokenBucket;

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Stream transports pad ChannelData to four bytes.
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// The client side of an allocation: client address, server address, transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
}

/// Which way relayed bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToPeer,
    ToClient,
}

/// The bandwidth cap of an allocation: a token bucket of bytes per direction (as coturn's
/// `max-bps`), each with a second's worth of burst.
#[derive(Debug, Clone)]
pub struct Bandwidth {
    to_peer: TokenBucket,
    to_client: TokenBucket,
}

impl Bandwidth {
    pub fn new(bits_per_sec: u64, now: Instant) -> Self {
        let bytes_per_sec = (bits_per_sec / 8).max(1) as f64;
        let bucket = TokenBucket::new(bytes_per_sec, bytes_per_sec, now);
        Bandwidth { to_peer: bucket.clone(), to_client: bucket }
    }

    /// Takes `n` bytes from the budget of `dir`; false when the allocation is over its cap.
    pub fn take(&mut self, dir: Direction, n: usize, now: Instant) -> bool {
        let bucket = match dir {
            Direction::ToPeer => &mut self.to_peer,
            Direction::ToClient => &mut self.to_client,
        };
        bucket.take(n as f64, now)
    }
}

/// A live allocation.
#[derive(Debug)]
pub struct Allocation {
    pub tuple: FiveTuple,
    pub username: String,
    /// The user part of `username`: quotas count per identity, whatever credential it used.
    pub identity: String,
    /// The organisation `username` names (`<expiry>:<org>:<identity>`), billed for what this
    /// allocation relays; `None` for plain `<expiry>:<user>` credentials, which are not billed.
    pub org: Option<String>,
    /// What this allocation relayed since the core last gathered it.
    pub relayed: Relayed,
    /// The long-term key the allocation was authenticated with; responses are signed with it.
    pub key: Vec<u8>,
    /// The socket address the relay socket is bound to.
    pub relay: SocketAddr,
    /// What clients are told the relayed address is (the external IP when behind NAT).
    pub relay_public: SocketAddr,
    pub expires_at: Instant,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, (SocketAddr, Instant)>,
    peer_channels: HashMap<SocketAddr, u16>,
    pub bandwidth: Option<Bandwidth>,
    /// The transaction id and encoded success response of the Allocate request, so a
    /// retransmitted Allocate gets the same answer.
    pub allocate_tid: [u8; 12],
    pub allocate_response: Vec<u8>,
}

/// Why a relayed packet is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoPermission,
    OverBandwidth,
}

/// Why a channel cannot be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBindError {
    /// The channel is bound to another peer, or the peer to another channel.
    Conflict,
}

impl Allocation {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tuple: FiveTuple,
        username: String,
        identity: String,
        key: Vec<u8>,
        relay: SocketAddr,
        relay_public: SocketAddr,
        expires_at: Instant,
        bandwidth: Option<Bandwidth>,
        allocate_tid: [u8; 12],
    ) -> Self {
        let org = origo_shared::turn_credentials::org_of(&username).map(str::to_owned);
        Allocation {
            tuple,
            username,
            identity,
            org,
            relayed: Relayed::default(),
            key,
            relay,
            relay_public,
            expires_at,
            permissions: HashMap::new(),
            channels: HashMap::new(),
            peer_channels: HashMap::new(),
            bandwidth,
            allocate_tid,
            allocate_response: Vec::new(),
        }
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }

    /// Installs or refreshes the permission for `ip`.
    pub fn permit(&mut self, ip: IpAddr, now: Instant, lifetime: Duration) {
        self.permissions.insert(ip, now + lifetime);
    }

    /// True while a permission for `ip` is live.
    pub fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip).is_some_and(|exp| now < *exp)
    }

    /// Whether `n` bytes to or from `peer` may pass now: a live permission, then the bandwidth cap.
    pub fn admit(&mut self, peer: IpAddr, dir: Direction, n: usize, now: Instant) -> Result<(), Refusal> {
        if !self.permits(peer, now) {
            return Err(Refusal::NoPermission);
        }
        if let Some(bw) = self.bandwidth.as_mut()
            && !bw.take(dir, n, now)
        {
            return Err(Refusal::OverBandwidth);
        }
        Ok(())
    }

    /// Binds (or refreshes) `channel` to `peer`.
    pub fn bind_channel(
        &mut self,
        channel: u16,
        peer: SocketAddr,
        now: Instant,
        lifetime: Duration,
    ) -> Result<(), ChannelBindError> {
        let live = |exp: &Instant| now < *exp;
        if let Some((bound, exp)) = self.channels.get(&channel)
            && live(exp)
            && *bound != peer
        {
            return Err(ChannelBindError::Conflict);
        }
        if let Some(other) = self.peer_channels.get(&peer)
            && *other != channel
            && self.channels.get(other).is_some_and(|(_, e)| live(e))
        {
            return Err(ChannelBindError::Conflict);
        }
        if let Some((old_peer, _)) = self.channels.insert(channel, (peer, now + lifetime))
            && old_peer != peer
        {
            self.peer_channels.remove(&old_peer);
        }
        self.peer_channels.insert(peer, channel);
        Ok(())
    }

    /// The peer bound to `channel`, while the binding is live.
    pub fn channel_peer(&self, channel: u16, now: Instant) -> Option<SocketAddr> {
        self.channels.get(&channel).filter(|(_, exp)| now < *exp).map(|(p, _)| *p)
    }

    /// The channel bound to `peer`, while the binding is live.
    pub fn peer_channel(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let ch = *self.peer_channels.get(&peer)?;
        self.channel_peer(ch, now).filter(|p| *p == peer).map(|_| ch)
    }

    /// Drops expired permissions and channels; returns how many of each were removed.
    pub fn sweep(&mut self, now: Instant) -> (usize, usize) {
        let before = (self.permissions.len(), self.channels.len());
        self.permissions.retain(|_, exp| now < *exp);
        self.channels.retain(|_, (_, exp)| now < *exp);
        let channels = &self.channels;
        self.peer_channels.retain(|_, ch| channels.contains_key(ch));
        (before.0 - self.permissions.len(), before.1 - self.channels.len())
    }

    pub fn permission_count(&self) -> usize {
        self.permissions.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(now: Instant) -> Allocation {
        let tuple = FiveTuple {
            client: "192.0.2.10:5000".parse().unwrap(),
            server: "192.0.2.1:3478".parse().unwrap(),
            transport: Transport::Udp,
        };
        let relay = "192.0.2.1:50000".parse().unwrap();
        Allocation::new(
            tuple,
            "1:u".into(),
            "u".into(),
            vec![],
            relay,
            relay,
            now + Duration::from_secs(600),
            None,
            [0; 12],
        )
    }

    #[test]
    fn permissions_expire() {
        let t0 = Instant::now();
        let mut a = alloc(t0);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(!a.permits(ip, t0));
        a.permit(ip, t0, Duration::from_secs(300));
        assert!(a.permits(ip, t0 + Duration::from_secs(299)));
        assert!(!a.permits(ip, t0 + Duration::from_secs(300)));
        assert_eq!(a.sweep(t0 + Duration::from_secs(301)), (1, 0));
    }

    #[test]
    fn channel_rules() {
        let t0 = Instant::now();
        let mut a = alloc(t0);
        let p1: SocketAddr = "198.51.100.1:1000".parse().unwrap();
        let p2: SocketAddr = "198.51.100.2:1000".parse().unwrap();
        let life = Duration::from_secs(600);
        assert_eq!(a.bind_channel(0x4000, p1, t0, life), Ok(()));
        assert_eq!(a.bind_channel(0x4000, p1, t0, life), Ok(()), "refresh");
        assert_eq!(a.bind_channel(0x4000, p2, t0, life), Err(ChannelBindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, p1, t0, life), Err(ChannelBindError::Conflict));
        assert_eq!(a.channel_peer(0x4000, t0), Some(p1));
        assert_eq!(a.peer_channel(p1, t0), Some(0x4000));
        // After expiry the channel can go to another peer.
        let later = t0 + life;
        assert_eq!(a.channel_peer(0x4000, later), None);
        assert_eq!(a.bind_channel(0x4000, p2, later, life), Ok(()));
        assert_eq!(a.peer_channel(p1, later), None);
        assert_eq!(a.peer_channel(p2, later), Some(0x4000));
    }

    #[test]
    fn bandwidth_bucket() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(8_000, t0); // 1000 bytes/s each way
        assert!(b.take(Direction::ToPeer, 1000, t0));
        assert!(!b.take(Direction::ToPeer, 1, t0));
        assert!(b.take(Direction::ToClient, 1000, t0), "the other direction has its own budget");
        assert!(b.take(Direction::ToPeer, 500, t0 + Duration::from_millis(500)));
        assert!(!b.take(Direction::ToPeer, 100, t0 + Duration::from_millis(500)));
    }
}
