//! Peer-address policy: which peers a TURN allocation may relay to.
//!
//! A TURN server (RFC 8656) relays datagrams from its clients to arbitrary
//! peer addresses named in `XOR-PEER-ADDRESS`. Left unrestricted, it becomes
//! an open proxy into the networks the server itself can reach: loopback
//! services, RFC 1918 back ends, the cloud metadata endpoint and so on.
//! RFC 8656 §21 (Security Considerations; see the firewall and insider-attack
//! discussions in §21.2 and §21.3) lets a server refuse such peers; the
//! caller answers CreatePermission / ChannelBind with 403 (Forbidden) and
//! silently drops Send indications and ChannelData for refused peers.
//!
//! [`PeerPolicy::check`] decides in this order:
//!
//! 1. **Operator denials** ([`PeerPolicy::deny_network`]) win over everything.
//!    They are matched against the address itself and against every IPv4
//!    address embedded in it, and are reported as [`DenyReason::Configured`].
//! 2. **Embedded IPv4 addresses** (IPv4-mapped, IPv4-compatible,
//!    IPv4-translated, NAT64 `64:ff9b::/96`, 6to4, both Teredo addresses) are
//!    unwrapped and judged by the IPv4 rules, so the reason reported is the
//!    embedded address's reason. An embedded address is let through only if
//!    the IPv4 rule that denies it is overridden (an allowed IPv4 network, or
//!    loopback with [`PeerPolicy::allow_loopback`]).
//! 3. **The address's own rule** (the special-purpose ranges of RFC 6890 and
//!    its successors in the IANA registries), unless overridden by an allowed
//!    network covering the address or by `allow_loopback`.
//!
//! An allowed network only lifts the rule for the addresses it covers:
//! allowing `2002::/16` does not make `2002:a00:1::` (6to4 for `10.0.0.1`)
//! acceptable; allow `10.0.0.0/8` (or a part of it) for that.
//!
//! The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) is denied as a
//! whole with [`DenyReason::Nat64Local`]: operators may carve it up with any
//! RFC 6052 prefix length, so the position of the embedded IPv4 address is
//! not knowable here. Operators running such a translator towards the public
//! IPv4 Internet can allow the prefix (or a part of it) explicitly.

use std::net::IpAddr;

pub use origo_shared::destination_policy::{DenyReason, IpNet, classify};
use origo_shared::destination_policy::{classify_ipv4, embedded_ipv4, own_rule};

/// The peer policy: deny the special-purpose ranges; optionally allow
/// loopback (tests only) and extra allowed/denied networks.
///
/// `PeerPolicy::default()` is the same as [`PeerPolicy::new`].
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    allow_loopback: bool,
    allowed: Vec<IpNet>,
    denied: Vec<IpNet>,
}

impl PeerPolicy {
    /// The default: every special-purpose range denied, no overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows loopback peers (`127.0.0.0/8`, `::1` and their embedded forms
    /// such as `::ffff:127.0.0.1`). For tests and benchmarks only.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Allows a network even though a default rule denies it (operator
    /// override), e.g. a private range the operator really relays to.
    ///
    /// An IPv4 network also covers the same addresses reached through IPv6
    /// embedded forms (`::ffff:10.1.2.3`, `2002:a01:203::`, ...).
    pub fn allow_network(mut self, net: IpNet) -> Self {
        self.allowed.push(net);
        self
    }

    /// Denies a network in addition to the defaults. Wins over every allow.
    ///
    /// An IPv4 network also matches IPv6 addresses embedding one of its
    /// addresses.
    pub fn deny_network(mut self, net: IpNet) -> Self {
        self.denied.push(net);
        self
    }

    /// `Ok(())` when `ip` may be a peer, else the reason it may not.
    ///
    /// Explicit [`deny_network`](Self::deny_network) wins over everything;
    /// then [`allow_network`](Self::allow_network) (and
    /// [`allow_loopback`](Self::allow_loopback)); then the default rules.
    pub fn check(&self, ip: IpAddr) -> Result<(), DenyReason> {
        let embedded = embedded_ipv4(ip);

        let operator_denied =
            self.denied_by_operator(ip) || embedded.iter().flatten().any(|&v4| self.denied_by_operator(IpAddr::V4(v4)));
        if operator_denied {
            return Err(DenyReason::Configured);
        }

        for &v4 in embedded.iter().flatten() {
            if let Some(reason) = classify_ipv4(v4)
                && !self.overrides(IpAddr::V4(v4), reason)
            {
                return Err(reason);
            }
        }

        if let Some(reason) = own_rule(ip)
            && !self.overrides(ip, reason)
        {
            return Err(reason);
        }
        Ok(())
    }

    /// Whether an operator-denied network contains `ip`.
    fn denied_by_operator(&self, ip: IpAddr) -> bool {
        self.denied.iter().any(|net| net.contains(ip))
    }

    /// Whether the default rule denying `ip` for `reason` is lifted.
    fn overrides(&self, ip: IpAddr, reason: DenyReason) -> bool {
        (self.allow_loopback && reason == DenyReason::Loopback) || self.allowed.iter().any(|net| net.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("bad test address {s:?}: {e}"))
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("bad test network {s:?}: {e}"))
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or_else(|e| panic!("bad test address {s:?}: {e}"))
    }

    fn mapped(a: Ipv4Addr) -> IpAddr {
        IpAddr::V6(a.to_ipv6_mapped())
    }

    fn compatible(a: Ipv4Addr) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(a))))
    }

    fn translated(a: Ipv4Addr) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from((0xffffu128 << 48) | u128::from(u32::from(a))))
    }

    fn nat64(a: Ipv4Addr) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(u32::from(a))))
    }

    fn six_to_four_of(a: Ipv4Addr) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from((0x2002u128 << 112) | (u128::from(u32::from(a)) << 80) | 1))
    }

    fn teredo_of(server: Ipv4Addr, client: Ipv4Addr) -> IpAddr {
        let bits = (0x2001_0000u128 << 96)
            | (u128::from(u32::from(server)) << 64)
            | (0x8000u128 << 48) // flags: cone
            | (0x63bfu128 << 32) // obfuscated port 40000
            | u128::from(!u32::from(client));
        IpAddr::V6(Ipv6Addr::from(bits))
    }

    const PUBLIC_V4: &str = "65.54.227.120";

    fn all_forms(a: Ipv4Addr) -> Vec<IpAddr> {
        vec![
            mapped(a),
            compatible(a),
            translated(a),
            nat64(a),
            six_to_four_of(a),
            teredo_of(v4(PUBLIC_V4), a),
            teredo_of(a, v4(PUBLIC_V4)),
        ]
    }

    #[test]
    fn allow_loopback_allows_loopback_only() {
        let policy = PeerPolicy::new().allow_loopback(true);
        for addr in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
        }
        for form in all_forms(v4("127.0.0.1")) {
            assert_eq!(policy.check(form), Ok(()), "{form}");
        }
        assert_eq!(policy.check(ip("10.0.0.1")), Err(DenyReason::Private));
        assert_eq!(policy.check(ip("::ffff:10.0.0.1")), Err(DenyReason::Private));
        assert_eq!(policy.check(ip("169.254.169.254")), Err(DenyReason::CloudMetadata));
        assert_eq!(policy.check(ip("fe80::1")), Err(DenyReason::LinkLocal));
        assert_eq!(policy.check(ip("::")), Err(DenyReason::Unspecified));
        assert_eq!(policy.check(ip("0.0.0.0")), Err(DenyReason::Unspecified));
        // Teredo with a loopback server but a private client stays denied.
        let mixed = teredo_of(v4("127.0.0.1"), v4("10.0.0.1"));
        assert_eq!(policy.check(mixed), Err(DenyReason::Private));

        let off = policy.allow_loopback(false);
        assert_eq!(off.check(ip("127.0.0.1")), Err(DenyReason::Loopback));
        assert_eq!(off.check(ip("::1")), Err(DenyReason::Loopback));
    }

    #[test]
    fn allow_network_overrides_default_rule() {
        let policy = PeerPolicy::new()
            .allow_network(net("10.1.0.0/16"))
            .allow_network(net("fd00::/8"))
            .allow_network(net("169.254.169.254"));
        assert_eq!(policy.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("64:ff9b::a01:203")), Ok(()));
        assert_eq!(policy.check(ip("2002:a01:203::")), Ok(()));
        assert_eq!(policy.check(ip("10.2.0.1")), Err(DenyReason::Private));
        assert_eq!(policy.check(ip("fd00::1")), Ok(()));
        assert_eq!(policy.check(ip("fd00:ec2::254")), Ok(()));
        assert_eq!(policy.check(ip("fc00::1")), Err(DenyReason::Private));
        assert_eq!(policy.check(ip("169.254.169.254")), Ok(()));
        assert_eq!(policy.check(ip("169.254.170.2")), Err(DenyReason::CloudMetadata));
        assert_eq!(policy.check(ip("127.0.0.1")), Err(DenyReason::Loopback));
        // Public addresses are unaffected.
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn allowing_an_embedding_prefix_does_not_allow_its_embedded_targets() {
        let policy = PeerPolicy::new().allow_network(net("2002::/16")).allow_network(net("64:ff9b:1::/48"));
        assert_eq!(policy.check(ip("2002:a00:1::")), Err(DenyReason::Private));
        assert_eq!(policy.check(ip("2002:808:808::")), Ok(()));
        assert_eq!(policy.check(ip("64:ff9b:1::808:808")), Ok(()));
    }

    #[test]
    fn deny_network_wins() {
        let policy = PeerPolicy::new()
            .allow_loopback(true)
            .allow_network(net("10.0.0.0/8"))
            .deny_network(net("10.0.0.0/24"))
            .deny_network(net("8.8.8.0/24"))
            .deny_network(net("127.0.0.0/8"))
            .deny_network(net("2606:4700::/32"));
        assert_eq!(policy.check(ip("10.0.0.1")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("10.0.1.1")), Ok(()));
        assert_eq!(policy.check(ip("8.8.8.8")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("8.8.4.4")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:8.8.8.8")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("64:ff9b::808:808")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("2002:808:808::1")), Err(DenyReason::Configured));
        assert_eq!(policy.check(teredo_of(v4(PUBLIC_V4), v4("8.8.8.8"))), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("127.0.0.1")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("::1")), Ok(()));
        assert_eq!(policy.check(ip("2606:4700:4700::1111")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("2a00:1450:4001::1")), Ok(()));
        // An operator denial is reported as such even for default-denied space.
        let policy = PeerPolicy::new().deny_network(net("192.168.0.0/16"));
        assert_eq!(policy.check(ip("192.168.1.1")), Err(DenyReason::Configured));
        assert_eq!(policy.check(ip("10.0.0.1")), Err(DenyReason::Private));
    }

    #[test]
    fn default_policy_matches_classify() {
        let policy = PeerPolicy::default();
        let mut addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "8.8.8.8",
            "10.0.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "2001:db8::1",
            "64:ff9b:1::1",
            "2606:4700:4700::1111",
        ]
        .iter()
        .map(|s| ip(s))
        .collect();
        for a in ["127.0.0.1", "10.0.0.1", "8.8.8.8", "100.64.0.1"] {
            addrs.extend(all_forms(v4(a)));
        }
        for a in addrs {
            assert_eq!(policy.check(a).err(), classify(a), "{a}");
        }
    }
}
