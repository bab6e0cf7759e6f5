//! The server's own addresses, refused as peers: relaying to one of its listeners would let a
//! client talk to the server as if from the relay (allocations made "from" a relay address,
//! loops between allocations), and relaying to another allocation's relay socket turns one
//! allocation into a free path into another. Matched by address and port, so a peer on the
//! same IP at another port (a media node beside the server, a loopback test peer) stays
//! allowed where the peer policy allows the IP.

use std::net::{IpAddr, SocketAddr};

/// The listeners and relay IPs of this server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddresses {
    /// IPs that reach this host: the listening and relay IPs, the external IP, and loopback
    /// when something listens on an unspecified address.
    ips: Vec<IpAddr>,
    /// Ports the server listens on (UDP, TCP, TLS, metrics), on every IP in `ips`.
    ports: Vec<u16>,
}

impl OwnAddresses {
    /// From the bound listeners (any transport), the relay IP and the external IP.
    pub fn new(listeners: &[SocketAddr], relay_ip: Option<IpAddr>, external_ip: Option<IpAddr>) -> Self {
        let mut own = OwnAddresses::default();
        let ips = listeners.iter().map(SocketAddr::ip).chain(relay_ip).chain(external_ip);
        for ip in ips {
            if ip.is_unspecified() {
                // An unspecified address answers on every local IP; the ones known here are
                // loopback and those configured.
                own.add_ip(IpAddr::from([127, 0, 0, 1]));
                own.add_ip(std::net::Ipv6Addr::LOCALHOST.into());
            } else {
                own.add_ip(canonical(ip));
            }
        }
        for l in listeners {
            if !own.ports.contains(&l.port()) {
                own.ports.push(l.port());
            }
        }
        own
    }

    fn add_ip(&mut self, ip: IpAddr) {
        if !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// True when `ip` reaches this host.
    pub fn is_own_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.ips.contains(&ip)
            || (ip.is_loopback() && self.ips.iter().any(|o| o.is_loopback() && o.is_ipv4() == ip.is_ipv4()))
    }

    /// True when `peer` is one of the server's listeners.
    pub fn is_listener(&self, peer: SocketAddr) -> bool {
        self.ports.contains(&peer.port()) && self.is_own_ip(peer.ip())
    }
}

/// IPv4-mapped IPv6 as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listeners_match_by_address_and_port() {
        let own = OwnAddresses::new(
            &[sa("127.0.0.1:3478"), sa("127.0.0.1:5349")],
            None,
            Some("203.0.113.7".parse().unwrap()),
        );
        assert!(own.is_listener(sa("127.0.0.1:3478")));
        assert!(own.is_listener(sa("127.0.0.1:5349")));
        assert!(own.is_listener(sa("127.1.2.3:3478")), "all of 127/8 is this host");
        assert!(own.is_listener(sa("[::ffff:127.0.0.1]:3478")));
        assert!(own.is_listener(sa("203.0.113.7:3478")), "the external IP");
        assert!(!own.is_listener(sa("127.0.0.1:3479")), "another port on the same IP");
        assert!(!own.is_listener(sa("198.51.100.1:3478")), "the same port elsewhere");
        assert!(!own.is_listener(sa("[::1]:3478")), "IPv6 loopback is not listened on");
    }

    #[test]
    fn an_unspecified_listener_stands_for_loopback_and_the_configured_ips() {
        let own = OwnAddresses::new(&[sa("0.0.0.0:3478")], Some("192.0.2.5".parse().unwrap()), None);
        assert!(own.is_listener(sa("127.0.0.1:3478")));
        assert!(own.is_listener(sa("[::1]:3478")));
        assert!(own.is_listener(sa("192.0.2.5:3478")));
        assert!(own.is_own_ip("192.0.2.5".parse().unwrap()));
        assert!(!own.is_listener(sa("198.51.100.1:3478")));
    }
}
