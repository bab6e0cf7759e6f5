//! Which destination addresses Origo refuses to reach: the special-purpose ranges of RFC 6890
//! and its successors in the IANA registries, and every IPv6 form that embeds such an IPv4
//! address.
//!
//! One classification serves every outbound path: the TURN server's peer policy (RFC 8656
//! §21 lets a server refuse peers, so a relay is no proxy into the networks the server can
//! reach) and the guard of outbound HTTP (webhooks, the OIDC issuer, email and other
//! providers), so a request chosen by a customer or a configuration cannot reach loopback
//! services, RFC 1918 back ends or the cloud metadata endpoint.
//!
//! [`classify`] judges an address in this order:
//!
//! 1. **Embedded IPv4 addresses** (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64
//!    `64:ff9b::/96`, 6to4, both Teredo addresses, [`embedded_ipv4`]) are unwrapped and
//!    judged by the IPv4 rules ([`classify_ipv4`]), so the reason reported is the embedded
//!    address's reason.
//! 2. **The address's own rule** ([`own_rule`]).
//!
//! The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) is denied as a whole with
//! [`DenyReason::Nat64Local`]: operators may carve it up with any RFC 6052 prefix length, so
//! the position of the embedded IPv4 address is not knowable here.
//!
//! Everything here is pure: no resolution, no socket. Callers that reach names resolve them
//! and judge every address they got.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why an address is refused as a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// "This network" `0.0.0.0/8` (RFC 1122 §3.2.1.3) or the IPv6 unspecified
    /// address `::` (RFC 4291 §2.5.2).
    Unspecified,
    /// `127.0.0.0/8` (RFC 1122 §3.2.1.3) or `::1` (RFC 4291 §2.5.3).
    Loopback,
    /// RFC 1918 private IPv4, IPv6 unique-local `fc00::/7` (RFC 4193) and the
    /// deprecated IPv6 site-local `fec0::/10` (RFC 3879).
    Private,
    /// `169.254.0.0/16` (RFC 3927) or `fe80::/10` (RFC 4291 §2.5.6).
    LinkLocal,
    /// A cloud instance-metadata endpoint: `169.254.169.254`, the ECS task
    /// metadata endpoint `169.254.170.2`, or AWS's IPv6 `fd00:ec2::254`.
    CloudMetadata,
    /// Carrier-grade NAT shared address space `100.64.0.0/10` (RFC 6598).
    Cgnat,
    /// IPv4 multicast `224.0.0.0/4` (RFC 5771) or IPv6 `ff00::/8`
    /// (RFC 4291 §2.7).
    Multicast,
    /// The limited broadcast address `255.255.255.255` (RFC 919, RFC 8190).
    Broadcast,
    /// Other special-purpose space: `240.0.0.0/4` (RFC 1112), IETF protocol
    /// assignments `192.0.0.0/24` (RFC 6890), benchmarking `198.18.0.0/15`
    /// (RFC 2544) and `2001:2::/48` (RFC 5180), discard-only `100::/64`
    /// (RFC 6666).
    Reserved,
    /// Documentation ranges: `192.0.2.0/24`, `198.51.100.0/24`,
    /// `203.0.113.0/24` (RFC 5737), `2001:db8::/32` (RFC 3849) and
    /// `3fff::/20` (RFC 9637).
    Documentation,
    /// The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215).
    Nat64Local,
    /// Denied by a deployment's own list of networks (an operator's deny setting, such as
    /// `origo-turn --deny-peer`); [`classify`] never answers it.
    Configured,
}

impl DenyReason {
    /// The snake_case name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::Unspecified => "unspecified",
            DenyReason::Loopback => "loopback",
            DenyReason::Private => "private",
            DenyReason::LinkLocal => "link_local",
            DenyReason::CloudMetadata => "cloud_metadata",
            DenyReason::Cgnat => "cgnat",
            DenyReason::Multicast => "multicast",
            DenyReason::Broadcast => "broadcast",
            DenyReason::Reserved => "reserved",
            DenyReason::Documentation => "documentation",
            DenyReason::Nat64Local => "nat64_local",
            DenyReason::Configured => "configured",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IP network in CIDR notation.
///
/// `addr` is kept as given (host bits are not cleared); [`IpNet::contains`]
/// compares only the first `prefix` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Any address inside the network.
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl IpNet {
    /// A network, or `None` if `prefix` is too long for the address family.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this network. The families must match: an IPv4
    /// network does not contain an IPv6 address (callers unwrap embedded
    /// forms first). A prefix longer than the family allows (only possible
    /// by building the struct directly) is treated as a host route.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => v4_in(ip, net, self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => v6_in(ip, net, self.prefix),
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// Parses `"10.0.0.0/8"` or `"fd00::/8"`; a bare address means a /32
    /// (IPv4) or /128 (IPv6) network. Surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr_text.parse().map_err(|_| format!("invalid network {s:?}: bad address {addr_text:?}"))?;
        let prefix = match prefix_text {
            None => match addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
            Some(text) => {
                // u8::from_str would also accept "+8"; insist on plain digits.
                let plain = !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit());
                if !plain {
                    return Err(format!("invalid network {s:?}: bad prefix length {text:?}"));
                }
                text.parse::<u8>().map_err(|_| format!("invalid network {s:?}: bad prefix length {text:?}"))?
            }
        };
        IpNet::new(addr, prefix).ok_or_else(|| format!("invalid network {s:?}: prefix length {prefix} too long"))
    }
}

/// Classifies an address: `Some(reason)` when it is in a denied range, itself or through an
/// IPv4 address it embeds.
pub fn classify(ip: IpAddr) -> Option<DenyReason> {
    embedded_ipv4(ip).into_iter().flatten().find_map(classify_ipv4).or_else(|| own_rule(ip))
}

// ---------------------------------------------------------------------------
// Default rules
// ---------------------------------------------------------------------------

/// IPv4 special-purpose ranges (RFC 6890 and the IANA IPv4 Special-Purpose
/// Address Registry). The first match wins, so more specific entries come
/// before the ranges that contain them.
const IPV4_RULES: &[(Ipv4Addr, u8, DenyReason)] = &[
    // Instance-metadata services inside link-local space: EC2/GCE/Azure/...
    // IMDS and the ECS task metadata endpoint.
    (Ipv4Addr::new(169, 254, 169, 254), 32, DenyReason::CloudMetadata),
    (Ipv4Addr::new(169, 254, 170, 2), 32, DenyReason::CloudMetadata),
    // "This network" (RFC 1122 §3.2.1.3).
    (Ipv4Addr::new(0, 0, 0, 0), 8, DenyReason::Unspecified),
    // Loopback (RFC 1122 §3.2.1.3).
    (Ipv4Addr::new(127, 0, 0, 0), 8, DenyReason::Loopback),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(10, 0, 0, 0), 8, DenyReason::Private),
    (Ipv4Addr::new(172, 16, 0, 0), 12, DenyReason::Private),
    (Ipv4Addr::new(192, 168, 0, 0), 16, DenyReason::Private),
    // Link-local (RFC 3927).
    (Ipv4Addr::new(169, 254, 0, 0), 16, DenyReason::LinkLocal),
    // Shared address space for carrier-grade NAT (RFC 6598).
    (Ipv4Addr::new(100, 64, 0, 0), 10, DenyReason::Cgnat),
    // Multicast (RFC 5771).
    (Ipv4Addr::new(224, 0, 0, 0), 4, DenyReason::Multicast),
    // Limited broadcast (RFC 919, RFC 8190); before 240.0.0.0/4.
    (Ipv4Addr::new(255, 255, 255, 255), 32, DenyReason::Broadcast),
    // Reserved for future use (RFC 1112 §4).
    (Ipv4Addr::new(240, 0, 0, 0), 4, DenyReason::Reserved),
    // IETF protocol assignments (RFC 6890 §2.2.2).
    (Ipv4Addr::new(192, 0, 0, 0), 24, DenyReason::Reserved),
    // Benchmarking (RFC 2544).
    (Ipv4Addr::new(198, 18, 0, 0), 15, DenyReason::Reserved),
    // Documentation TEST-NET-1/2/3 (RFC 5737).
    (Ipv4Addr::new(192, 0, 2, 0), 24, DenyReason::Documentation),
    (Ipv4Addr::new(198, 51, 100, 0), 24, DenyReason::Documentation),
    (Ipv4Addr::new(203, 0, 113, 0), 24, DenyReason::Documentation),
];

/// IPv6 special-purpose ranges (RFC 6890 and the IANA IPv6 Special-Purpose
/// Address Registry) that are judged on the IPv6 address itself. Ranges that
/// embed an IPv4 address are handled by [`embedded_ipv4`]. First match wins.
const IPV6_RULES: &[(Ipv6Addr, u8, DenyReason)] = &[
    // Unspecified and loopback (RFC 4291 §2.5.2, §2.5.3).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, DenyReason::Unspecified),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, DenyReason::Loopback),
    // AWS instance-metadata service over IPv6, inside fc00::/7.
    (Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254), 128, DenyReason::CloudMetadata),
    // Unique-local (RFC 4193).
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, DenyReason::Private),
    // Site-local, deprecated by RFC 3879; still private in practice.
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, DenyReason::Private),
    // Link-local unicast (RFC 4291 §2.5.6).
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, DenyReason::LinkLocal),
    // Multicast (RFC 4291 §2.7).
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, DenyReason::Multicast),
    // Documentation (RFC 3849, RFC 9637).
    (Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0), 32, DenyReason::Documentation),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, DenyReason::Documentation),
    // Discard-only (RFC 6666).
    (Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64, DenyReason::Reserved),
    // Benchmarking (RFC 5180).
    (Ipv6Addr::new(0x2001, 0x0002, 0, 0, 0, 0, 0, 0), 48, DenyReason::Reserved),
    // Local-use NAT64 prefix (RFC 8215); the embedding layout is site-specific.
    (Ipv6Addr::new(0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0), 48, DenyReason::Nat64Local),
];

/// The default IPv4 rule for `ip`, if one denies it.
pub fn classify_ipv4(ip: Ipv4Addr) -> Option<DenyReason> {
    IPV4_RULES.iter().find(|&&(net, prefix, _)| v4_in(ip, net, prefix)).map(|&(_, _, reason)| reason)
}

/// The default IPv6 rule for `ip` itself (embedded IPv4 not considered).
fn classify_v6(ip: Ipv6Addr) -> Option<DenyReason> {
    IPV6_RULES.iter().find(|&&(net, prefix, _)| v6_in(ip, net, prefix)).map(|&(_, _, reason)| reason)
}

/// The default rule for the address itself, without unwrapping embedded IPv4 addresses.
pub fn own_rule(ip: IpAddr) -> Option<DenyReason> {
    match ip {
        IpAddr::V4(v4) => classify_ipv4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

// ---------------------------------------------------------------------------
// IPv4 addresses embedded in IPv6 addresses
// ---------------------------------------------------------------------------

/// The IPv4 addresses an IPv6 address leads to (none for an IPv4 address).
/// At most two: Teredo carries both a client and a server address. The
/// embedding forms are disjoint, so at most one of them applies.
pub fn embedded_ipv4(ip: IpAddr) -> [Option<Ipv4Addr>; 2] {
    let IpAddr::V6(v6) = ip else {
        return [None, None];
    };
    let single = ipv4_mapped(v6)
        .or_else(|| ipv4_compatible(v6))
        .or_else(|| ipv4_translated(v6))
        .or_else(|| nat64_well_known(v6))
        .or_else(|| six_to_four(v6));
    if let Some(v4) = single {
        return [Some(v4), None];
    }
    match teredo(v6) {
        Some((client, server)) => [Some(client), Some(server)],
        None => [None, None],
    }
}

/// IPv4 address from four consecutive octets of an IPv6 address.
fn v4_at(octets: &[u8; 16], start: usize) -> Ipv4Addr {
    Ipv4Addr::new(octets[start], octets[start + 1], octets[start + 2], octets[start + 3])
}

/// IPv4-mapped `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
fn ipv4_mapped(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    ip.to_ipv4_mapped()
}

/// IPv4-compatible `::a.b.c.d` (RFC 4291 §2.5.5.1, deprecated): `::/96`
/// except the unspecified `::` and loopback `::1` addresses.
fn ipv4_compatible(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let bits = u128::from(ip);
    (o[..12].iter().all(|&b| b == 0) && bits > 1).then(|| v4_at(&o, 12))
}

/// IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765 §2.1, SIIT).
fn ipv4_translated(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    (s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0).then(|| v4_at(&ip.octets(), 12))
}

/// NAT64 well-known prefix `64:ff9b::/96` (RFC 6052 §2.1): the IPv4 address
/// is the last 32 bits. RFC 6052 §3.1 forbids using this prefix for
/// non-global IPv4 addresses, so a denied embedded address is an attack.
fn nat64_well_known(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    (s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0]).then(|| v4_at(&ip.octets(), 12))
}

/// 6to4 `2002:V4ADDR::/48` (RFC 3056 §2): the IPv4 address is bits 16..47.
fn six_to_four(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    (ip.segments()[0] == 0x2002).then(|| v4_at(&ip.octets(), 2))
}

/// Teredo `2001:0::/32` (RFC 4380 §4): returns `(client, server)`. The
/// server IPv4 address is bits 32..63; the client's mapped IPv4 address is
/// the last 32 bits, obfuscated by XOR with `0xffffffff`.
fn teredo(ip: Ipv6Addr) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let s = ip.segments();
    if s[0] != 0x2001 || s[1] != 0 {
        return None;
    }
    let o = ip.octets();
    let server = v4_at(&o, 4);
    let client = Ipv4Addr::from(!u32::from(v4_at(&o, 12)));
    Some((client, server))
}

// ---------------------------------------------------------------------------
// Prefix matching
// ---------------------------------------------------------------------------

/// Whether the first `prefix` bits of `ip` and `net` agree (prefix clamped
/// to 32).
fn v4_in(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let prefix = u32::from(prefix.min(32));
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Whether the first `prefix` bits of `ip` and `net` agree (prefix clamped
/// to 128).
fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, prefix: u8) -> bool {
    let prefix = u32::from(prefix.min(128));
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == u128::from(net) & mask
}
#[cfg(test)]
mod tests {
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

    #[track_caller]
    fn assert_denied(addr: &str, reason: DenyReason) {
        assert_eq!(classify(ip(addr)), Some(reason), "classify({addr})");
    }

    #[track_caller]
    fn assert_allowed(addr: &str) {
        assert_eq!(classify(ip(addr)), None, "classify({addr})");
    }

    // Builders for the embedded forms of an IPv4 address.

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

    const ALL_REASONS: [DenyReason; 12] = [
        DenyReason::Unspecified,
        DenyReason::Loopback,
        DenyReason::Private,
        DenyReason::LinkLocal,
        DenyReason::CloudMetadata,
        DenyReason::Cgnat,
        DenyReason::Multicast,
        DenyReason::Broadcast,
        DenyReason::Reserved,
        DenyReason::Documentation,
        DenyReason::Nat64Local,
        DenyReason::Configured,
    ];

    #[test]
    fn reason_names() {
        let names: Vec<&str> = ALL_REASONS.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "unspecified",
                "loopback",
                "private",
                "link_local",
                "cloud_metadata",
                "cgnat",
                "multicast",
                "broadcast",
                "reserved",
                "documentation",
                "nat64_local",
                "configured",
            ]
        );
        for r in ALL_REASONS {
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    #[test]
    fn ipv4_ranges_denied() {
        use DenyReason::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("0.255.255.255", Unspecified),
            ("127.0.0.1", Loopback),
            ("127.0.0.0", Loopback),
            ("127.255.255.255", Loopback),
            ("10.0.0.0", Private),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.0", Private),
            ("172.20.1.1", Private),
            ("172.31.255.255", Private),
            ("192.168.0.0", Private),
            ("192.168.1.1", Private),
            ("192.168.255.255", Private),
            ("169.254.0.0", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.253", LinkLocal),
            ("169.254.169.255", LinkLocal),
            ("169.254.170.1", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("169.254.169.254", CloudMetadata),
            ("169.254.170.2", CloudMetadata),
            ("100.64.0.0", Cgnat),
            ("100.100.100.200", Cgnat),
            ("100.127.255.255", Cgnat),
            ("224.0.0.0", Multicast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.0", Reserved),
            ("240.0.0.1", Reserved),
            ("250.1.2.3", Reserved),
            ("255.255.255.254", Reserved),
            ("192.0.0.0", Reserved),
            ("192.0.0.8", Reserved),
            ("192.0.0.255", Reserved),
            ("198.18.0.0", Reserved),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("192.0.2.0", Documentation),
            ("192.0.2.1", Documentation),
            ("192.0.2.255", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.200", Documentation),
        ];
        for (addr, reason) in cases {
            assert_denied(addr, reason);
        }
    }

    #[test]
    fn ipv4_range_edges_allowed() {
        for addr in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "223.255.255.255",
            "192.0.1.255",
            "192.0.3.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
        ] {
            assert_allowed(addr);
        }
    }

    #[test]
    fn ipv4_cidr_edges_with_reasons() {
        assert_allowed("172.15.255.255");
        assert_denied("172.16.0.0", DenyReason::Private);
        assert_denied("172.31.255.255", DenyReason::Private);
        assert_allowed("172.32.0.0");

        assert_allowed("100.63.255.255");
        assert_denied("100.64.0.0", DenyReason::Cgnat);
        assert_denied("100.127.255.255", DenyReason::Cgnat);
        assert_allowed("100.128.0.0");
    }

    #[test]
    fn ipv6_ranges_denied() {
        use DenyReason::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::", Private),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private),
            ("fd00:ec2::253", Private),
            ("fd00:ec2::254", CloudMetadata),
            ("fec0::1", Private),
            ("feff:ffff::1", Private),
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
            ("ff00::", Multicast),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast),
            ("2001:db8::", Documentation),
            ("2001:db8::1", Documentation),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
            ("3fff::1", Documentation),
            ("3fff:fff:ffff::1", Documentation),
            ("100::", Reserved),
            ("100::1", Reserved),
            ("100::ffff:ffff:ffff:ffff", Reserved),
            ("2001:2::1", Reserved),
            ("64:ff9b:1::", Nat64Local),
            ("64:ff9b:1::1", Nat64Local),
            ("64:ff9b:1::808:808", Nat64Local),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Nat64Local),
        ];
        for (addr, reason) in cases {
            assert_denied(addr, reason);
        }
    }

    #[test]
    fn ipv6_range_edges_allowed() {
        for addr in [
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::1",
            "3ffe:ffff::1",
            "3fff:1000::1",
            "100:0:0:1::1",
            "2001:3::1",
            "64:ff9b:2::1",
        ] {
            assert_allowed(addr);
        }
    }

    #[test]
    fn public_addresses_allowed() {
        for addr in
            ["8.8.8.8", "1.1.1.1", "65.54.227.120", "2606:4700:4700::1111", "2a00:1450:4001::1", "2001:4860:4860::8888"]
        {
            assert_allowed(addr);
        }
    }

    #[test]
    fn embedded_forms_denied_with_embedded_reason() {
        let cases = [
            ("127.0.0.1", DenyReason::Loopback),
            ("10.0.0.1", DenyReason::Private),
            ("169.254.169.254", DenyReason::CloudMetadata),
            ("169.254.170.2", DenyReason::CloudMetadata),
            ("192.168.1.1", DenyReason::Private),
            ("100.64.0.1", DenyReason::Cgnat),
            ("0.0.0.0", DenyReason::Unspecified),
            ("255.255.255.255", DenyReason::Broadcast),
            ("192.0.2.1", DenyReason::Documentation),
        ];
        for (addr, reason) in cases {
            for form in all_forms(v4(addr)) {
                assert_eq!(classify(form), Some(reason), "classify({form}) for {addr}");
            }
        }
    }

    #[test]
    fn embedded_forms_written_out() {
        use DenyReason::*;
        let cases = [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", CloudMetadata),
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("::169.254.169.254", CloudMetadata),
            ("::ffff:0:127.0.0.1", Loopback),
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::a00:1", Private),
            ("64:ff9b::a9fe:a9fe", CloudMetadata),
            ("2002:7f00:1::", Loopback),
            ("2002:7f00:1::1", Loopback),
            ("2002:a00:1::", Private),
            ("2002:a9fe:a9fe::1", CloudMetadata),
            // Teredo, client 127.0.0.1 (obfuscated 80ff:fffe), public server.
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", Loopback),
            // Teredo, client 10.0.0.1 (obfuscated f5ff:fffe).
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", Private),
            // Teredo, client 169.254.169.254 (obfuscated 5601:5601).
            ("2001:0:4136:e378:8000:63bf:5601:5601", CloudMetadata),
            // Teredo, server 10.0.0.1, client 8.8.8.8 (obfuscated f7f7:f7f7).
            ("2001:0:a00:1:8000:63bf:f7f7:f7f7", Private),
            // RFC 4380 style example: client 192.0.2.45 is documentation space.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Documentation),
        ];
        for (addr, reason) in cases {
            assert_denied(addr, reason);
        }
    }

    #[test]
    fn public_embedded_forms_allowed() {
        for addr in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert_allowed(addr);
        }
        for form in all_forms(v4("8.8.8.8")) {
            assert_eq!(classify(form), None, "classify({form})");
        }
    }

    #[test]
    fn unspecified_and_loopback_are_not_ipv4_compatible() {
        // `::` and `::1` are judged as IPv6, not as 0.0.0.0 / 0.0.0.1.
        assert_eq!(ipv4_compatible(Ipv6Addr::UNSPECIFIED), None);
        assert_eq!(ipv4_compatible(Ipv6Addr::LOCALHOST), None);
        assert_eq!(ipv4_compatible(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2)), Some(Ipv4Addr::new(0, 0, 0, 2)));
        assert_denied("::2", DenyReason::Unspecified);
    }

    #[test]
    fn teredo_unwrapping() {
        let addr = Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, 0x3fff, 0xfdd2);
        assert_eq!(teredo(addr), Some((Ipv4Addr::new(192, 0, 2, 45), Ipv4Addr::new(65, 54, 227, 120))));
        // 2001:db8::/32 and 2001:2::/48 are not Teredo.
        assert_eq!(teredo(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), None);
        assert_eq!(teredo(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1)), None);
    }

    #[test]
    fn six_to_four_unwrapping() {
        let addr = Ipv6Addr::new(0x2002, 0x0a00, 0x0001, 0x1234, 0, 0, 0, 1);
        assert_eq!(six_to_four(addr), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(six_to_four(Ipv6Addr::new(0x2003, 0x0a00, 1, 0, 0, 0, 0, 1)), None);
    }

    #[test]
    fn ipnet_parse() {
        assert_eq!(net("10.0.0.0/8"), IpNet { addr: ip("10.0.0.0"), prefix: 8 });
        assert_eq!(net("fd00::/8"), IpNet { addr: ip("fd00::"), prefix: 8 });
        assert_eq!(net("192.168.1.1"), IpNet { addr: ip("192.168.1.1"), prefix: 32 });
        assert_eq!(net("::1"), IpNet { addr: ip("::1"), prefix: 128 });
        assert_eq!(net("0.0.0.0/0"), IpNet { addr: ip("0.0.0.0"), prefix: 0 });
        assert_eq!(net("::/128"), IpNet { addr: ip("::"), prefix: 128 });
        assert_eq!(net(" 10.0.0.0/32 "), IpNet { addr: ip("10.0.0.0"), prefix: 32 });
        assert_eq!(net("10.0.0.0/08").prefix, 8);

        for bad in [
            "10.0.0.0/33",
            "x/8",
            "::/129",
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/8/9",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/ 8",
            "10.0.0.0/256",
            "10.0.0.0/0008",
            "10.0.0/8",
            "fe80::1%eth0/64",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn ipnet_new() {
        assert!(IpNet::new(ip("10.0.0.0"), 32).is_some());
        assert!(IpNet::new(ip("10.0.0.0"), 33).is_none());
        assert!(IpNet::new(ip("::"), 128).is_some());
        assert!(IpNet::new(ip("::"), 129).is_none());
        assert_eq!(IpNet::new(ip("10.0.0.0"), 8), Some(IpNet { addr: ip("10.0.0.0"), prefix: 8 }));
    }

    #[test]
    fn ipnet_contains() {
        let ten = net("10.0.0.0/8");
        assert!(ten.contains(ip("10.0.0.0")));
        assert!(ten.contains(ip("10.255.255.255")));
        assert!(!ten.contains(ip("11.0.0.0")));
        assert!(!ten.contains(ip("9.255.255.255")));
        // Families must match.
        assert!(!ten.contains(ip("::ffff:10.0.0.1")));
        assert!(!net("::/0").contains(ip("10.0.0.1")));

        let all_v4 = net("0.0.0.0/0");
        assert!(all_v4.contains(ip("255.255.255.255")));
        assert!(all_v4.contains(ip("0.0.0.0")));
        assert!(!all_v4.contains(ip("::1")));
        assert!(net("::/0").contains(ip("2606:4700:4700::1111")));

        let host = net("192.0.2.7");
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));

        let ula = net("fd00::/8");
        assert!(ula.contains(ip("fdff::1")));
        assert!(!ula.contains(ip("fc00::1")));
        assert!(!ula.contains(ip("fe00::")));

        let v6_host = net("2001:db8::1");
        assert!(v6_host.contains(ip("2001:db8::1")));
        assert!(!v6_host.contains(ip("2001:db8::2")));

        // Host bits in the network address are ignored.
        let sloppy = net("10.1.2.3/8");
        assert!(sloppy.contains(ip("10.9.9.9")));
        assert!(!sloppy.contains(ip("11.1.2.3")));

        // Odd prefix lengths.
        let cgnat = net("100.64.0.0/10");
        assert!(cgnat.contains(ip("100.127.255.255")));
        assert!(!cgnat.contains(ip("100.128.0.0")));
        let ula7 = net("fc00::/7");
        assert!(ula7.contains(ip("fdff::")));
        assert!(!ula7.contains(ip("fe00::")));

        // Overlong prefixes built by hand behave as host routes, not panics.
        let overlong = IpNet { addr: ip("10.0.0.1"), prefix: 200 };
        assert!(overlong.contains(ip("10.0.0.1")));
        assert!(!overlong.contains(ip("10.0.0.2")));
        let overlong6 = IpNet { addr: ip("::1"), prefix: 200 };
        assert!(overlong6.contains(ip("::1")));
        assert!(!overlong6.contains(ip("::2")));
    }

    #[test]
    fn ipnet_display_round_trips() {
        for s in ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32", "::/0"] {
            let parsed = net(s);
            assert_eq!(parsed.to_string(), s);
            assert_eq!(net(&parsed.to_string()), parsed);
        }
    }
}
