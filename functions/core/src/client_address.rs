//! The address a request comes from, for per-address limits: the peer the host saw
//! (`spin-client-addr`) or — only when that peer is one of `trusted_proxies` — the address the
//! proxies name: the nearest one in `Forwarded: for=` (RFC 7239) or `X-Forwarded-For` that is
//! not itself a trusted proxy. Headers from anyone else are ignored, so a client cannot choose
//! the address it is counted under.

use std::net::IpAddr;

use crate::Request;
use crate::platform::Platform;
use crate::variables::var;

/// True when `ip` is inside `cidr` (`a.b.c.d/n`, `x::/n`, or a bare address).
pub fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The peer the host saw.
pub fn peer(req: &Request) -> Option<IpAddr> {
    let raw = req.headers().get("spin-client-addr")?.to_str().ok()?;
    match raw.parse::<std::net::SocketAddr>() {
        Ok(sa) => Some(sa.ip()),
        Err(_) => raw.parse::<IpAddr>().ok(),
    }
}

/// True when `ip` is one of the deployment's `trusted_proxies`.
pub fn is_trusted_proxy(p: &impl Platform, ip: IpAddr) -> bool {
    var(p, "trusted_proxies").is_some_and(|t| listed(&t, ip))
}

/// One `for=` value of `Forwarded` or an `X-Forwarded-For` entry as an address (quotes,
/// brackets and ports removed); `None` for `unknown` and obfuscated identifiers.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    // `a.b.c.d:port`
    v.rsplit_once(':').and_then(|(host, _)| host.parse::<IpAddr>().ok()).filter(IpAddr::is_ipv4)
}

/// The chain of addresses the proxies report, nearest last.
fn forwarded_chain(headers: &http::HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<String> =
        headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|h| h.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v)).flatten()
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|h| h.split(','))
        .filter_map(parse_node)
        .collect()
}

/// The client behind `peer`: `peer` itself unless `trusted(peer)`, else the nearest address the
/// proxies name in `headers` that is not itself trusted. The host uses it too (fair shares of
/// the instance pool per client).
pub fn resolve(peer: IpAddr, headers: &http::HeaderMap, trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    if !trusted(peer) {
        return peer;
    }
    // Walk from the nearest hop outwards, past the deployment's own proxies.
    let mut client = peer;
    for ip in forwarded_chain(headers).iter().rev() {
        client = *ip;
        if !trusted(*ip) {
            break;
        }
    }
    client
}

/// True when `ip` is in the comma-separated list of addresses and CIDRs `list`.
pub fn listed(list: &str, ip: IpAddr) -> bool {
    list.split(',').filter(|c| !c.trim().is_empty()).any(|c| in_cidr(ip, c))
}

/// The client's address, as described above; `None` when the host gave no peer.
pub fn client_address(req: &Request, p: &impl Platform) -> Option<IpAddr> {
    let peer = peer(req)?;
    Some(resolve(peer, req.headers(), |ip| is_trusted_proxy(p, ip)))
}

/// The key a per-address limit counts under: the address, or for IPv6 its /64 (one
/// customer's network; a host picks any address inside it).
pub fn limit_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}
